// Package stream is the stream port of the pipeline: what every stream
// adapter (pipeline/kinesis for Kinesis, pipeline/streamlog for the
// embedded mode's SQL log) shares, so that none of them, nor the stores
// behind them, depends on another adapter.
//
//   - CheckpointStore keeps a consumer group's position per (stream,
//     shard); LeaseStore lets the subscribers of a group share a stream's
//     shards. Memory implementations are here; pipeline/checkpoint keeps
//     both in PostgreSQL or SQLite, and checkpointtest is the conformance
//     suite every implementation passes.
//   - The Metadata* keys are set by every Subscriber on every message, so
//     the router and the sinks read shard, sequence number and partition
//     key alike from either stream.
//   - Shard is the one delivery loop the adapters' subscribers run per
//     shard: adapters only read records (Batch) and decide which shards to
//     read; the contract below is the Shard's.
//
// # The ack and checkpoint contract
//
// A subscription reads a stream's shards in parallel and each shard in
// order. For one shard:
//
//  1. A message is sent on the subscription's channel with a context that
//     is cancelled once the message is settled or the subscription ends.
//  2. Messages are sent in shard order. At most MaxInFlight messages (and
//     MaxInFlightBytes of payload, one message always fits) are sent and not
//     yet settled; with the default of 1 the next message is sent only
//     after this one is Acked, so a consumer sees each shard (and so each
//     partition key) in order one at a time. With a larger window a
//     consumer (the pipeline's router) takes several messages in order,
//     writes them as one batch and acknowledges them together.
//  3. A Nacked message is sent again, as a copy with the same UUID,
//     metadata and payload, after NackResendSleep; with a window, after the
//     messages already sent (so a consumer that Nacks sees that message
//     out of order; the router never does, except when it closes).
//  4. An Ack counts when it happened before the subscription ended, even
//     if the end raced with it; a message not Acked by then is delivered
//     again by the group's next subscription (at least once, never lost).
//  5. The checkpoint is the sequence number below which (inclusive) every
//     record is acknowledged. It is saved at most CheckpointInterval after
//     the Ack (or after every Ack), when a closed shard's last record is
//     acknowledged (then as Finished, so its children may be read), and
//     when the shard's loop stops (the subscription's context ends, Close,
//     a lost lease), retried for up to SaveTimeout: Close flushes.
//     Checkpoints never move backwards (the CheckpointStore contract), so
//     two subscribers of one group cannot rewind each other.
//  6. With leases, a shard whose lease is lost or handed over stops before
//     sending its next message; the ones already sent are settled first,
//     and the checkpoint saved before the lease is released.
//
// Position tracking allows acknowledgements in any order: the checkpoint
// advances over the longest acknowledged run from the start, never past an
// outstanding record.
package stream
