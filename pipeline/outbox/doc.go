// Package outbox moves committed Cognito Sync changes to a Cognito stream
// (spec D): the publishing side of the stream, run by syncd (and by the
// worker's embedded mode).
//
//   - Forwarder polls the store's transactional outbox (syncapi.Outbox),
//     encodes each entry as a Cognito stream record (pipeline/streamrecord),
//     publishes it through any Watermill message.Publisher (pipeline/kinesis
//     for Kinesis, pipeline/streamlog in the embedded mode) to the topic
//     named by the pool's StreamName with partition key identityId, and
//     deletes the entries only after the publisher acknowledged them: at
//     least once, in order per identity. One forwarder per store publishes
//     at a time (a lease).
//   - S3Offloader stores records too large for one Kinesis record in S3 and
//     returns a pre-signed GET URL (payloadType S3Url), as AWS does.
//   - BulkRunner runs BulkPublish jobs (spec D.3): every live dataset of the
//     pool, page by page, with its progress kept in a lease so that a job whose
//     process died is resumed by another (or the restarted) process.
package outbox
