// Package kinesis is a Watermill Publisher and Subscriber for Amazon Kinesis
// Data Streams and Kinesis-compatible endpoints (kinesalite, kinesis-mock),
// built on aws-sdk-go-v2: one of the stream adapters of the pipeline, beside
// pipeline/streamlog, both on the port in pipeline/stream.
//
// A Watermill topic is a stream name. The Publisher writes messages with
// PutRecords, batched within the API limits, retrying only the failed
// entries of a partial failure; a message's partition key is its
// stream.MetadataPartitionKey metadata (the message UUID when absent). The
// Subscriber reads every shard of a stream in order (shards in parallel)
// and delivers each through a stream.Shard, so it keeps the ack and
// checkpoint contract of pipeline/stream: one message per shard at a time,
// checkpoints after Ack into a stream.CheckpointStore, redelivery after
// Nack. It follows resharding: a child shard is read only after its
// parents are finished and checkpointed, so records of one partition key
// stay in order across SplitShard and MergeShards. Consumer groups are
// checkpoint namespaces.
//
// With SubscriberConfig.Leases the subscribers of a group share the
// shards: a shard is read only by the owner of its lease in a
// stream.LeaseStore (pipeline/checkpoint keeps them in PostgreSQL or
// SQLite), a dead owner's shards are taken over once its leases expire, the
// live owners balance to ceil(shards/owners) each, and a lease is released
// only after its shard's reader has settled its in-flight message and saved
// its checkpoint, so the next owner continues where the last one stopped.
// Without leases, two live subscribers of one group both read every shard
// (at-least-once with duplicates, never loss).
package kinesis
