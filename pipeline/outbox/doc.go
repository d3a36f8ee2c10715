// Package outbox moves committed Cognito Sync changes to a Cognito stream
// (spec D).
//
//   - Forwarder polls the store's transactional outbox (syncapi.Outbox),
//     encodes each entry as a Cognito stream record (pipeline/streamrecord),
//     publishes it through any Watermill message.Publisher (pipeline/kinesis
//     for Kinesis, StreamLog in the embedded mode) to the topic named by the pool's
//     StreamName with partition key identityId, and deletes the entries only
//     after the publisher acknowledged them: at least once, in order per
//     identity. One forwarder per store publishes at a time (a lease).
//   - S3Offloader stores records too large for one Kinesis record in S3 and
//     returns a pre-signed GET URL (payloadType S3Url), as AWS does.
//   - BulkRunner runs BulkPublish jobs (spec D.3): every live dataset of the
//     pool, page by page, with its progress kept in a lease so that a job whose
//     process died is resumed by another (or the restarted) process.
//   - StreamLog is the durable in-process stream of the embedded mode: the
//     Forwarder appends to a sequence-numbered, sharded log table (Publish
//     returns once the append committed, so outbox rows go only after
//     that), and each consumer group reads it through a LogSubscriber from
//     its own kinesis.CheckpointStore checkpoints, so a group that stalls
//     (a route whose sink is down) holds back only itself. Retention drops
//     what every registered group has checkpointed, or what is older than
//     MaxAge.
//   - Embedded is an in-memory stream whose Publish returns only once every
//     subscriber acked: one slow subscriber stalls all. Kept for tests that
//     need a consumer to hold the publisher; the worker uses StreamLog.
package outbox
