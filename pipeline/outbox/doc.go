// Package outbox moves committed Cognito Sync changes to a Cognito stream
// (issue 3, spec D).
//
//   - Forwarder polls the store's transactional outbox (syncapi.Outbox),
//     encodes each entry as a Cognito stream record (pipeline/streamrecord),
//     publishes it through any Watermill message.Publisher (pipeline/kinesis
//     for Kinesis, Embedded in-process) to the topic named by the pool's
//     StreamName with partition key identityId, and deletes the entries only
//     after the publisher acknowledged them: at least once, in order per
//     identity. One forwarder per store publishes at a time (a lease).
//   - S3Offloader stores records too large for one Kinesis record in S3 and
//     returns a pre-signed GET URL (payloadType S3Url), as AWS does.
//   - BulkRunner runs BulkPublish jobs (spec D.3): every live dataset of the
//     pool, page by page, with its progress kept in a lease so that a job whose
//     process died is resumed by another (or the restarted) process.
//   - Embedded is an in-process stream: a Publisher and Subscriber whose
//     Publish returns only once a subscriber acked, so that, fed by the
//     Forwarder, the durable outbox holds every change until the in-process
//     consumer has handled it.
package outbox
