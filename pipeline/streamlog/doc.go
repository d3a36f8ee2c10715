// Package streamlog is the embedded mode's stream: a durable,
// sequence-numbered, sharded log in the worker's SQL database (SQLite or
// PostgreSQL through internal/sqldb), one of the stream adapters of the
// pipeline beside pipeline/kinesis, both on the port in pipeline/stream.
//
// Log is a Watermill Publisher: syncd's outbox Forwarder (pipeline/outbox)
// appends to it, and Publish returns once the append committed, so outbox
// rows are deleted only after that. Each consumer group reads it through a
// Subscriber from its own stream.CheckpointStore checkpoints and delivers
// each shard through a stream.Shard, with the ack and checkpoint contract
// of pipeline/stream; a group that stalls (a route whose sink is down)
// holds back only itself. Retention drops what every registered group has
// checkpointed, or what is older than MaxAge.
package streamlog
