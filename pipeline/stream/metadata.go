package stream

import "time"

// Metadata keys. Publishers read MetadataPartitionKey; every Subscriber
// sets MetadataPartitionKey, MetadataShardID, MetadataSequenceNumber and
// MetadataArrivalTime on each message it delivers (Kinesis also
// MetadataMillisBehindLatest). The values keep the names the Kinesis adapter
// first gave them, so that poison records and anything else that stored
// metadata read the same keys whichever stream the worker runs on.
const (
	// MetadataPartitionKey is the record's partition key. Records of one
	// partition key go to one shard and are delivered in the order written.
	MetadataPartitionKey = "partition_key"
	// MetadataShardID is the id of the shard the record was read from.
	MetadataShardID = "kinesis_shard_id"
	// MetadataSequenceNumber is the record's sequence number in its shard
	// (decimal; see CompareSequenceNumbers).
	MetadataSequenceNumber = "kinesis_sequence_number"
	// MetadataArrivalTime is when the stream accepted the record
	// (FormatArrivalTime).
	MetadataArrivalTime = "kinesis_arrival_time"
	// MetadataMillisBehindLatest is the MillisBehindLatest of the Kinesis
	// GetRecords response the record came in (decimal): how far the shard
	// reader lags.
	MetadataMillisBehindLatest = "kinesis_millis_behind_latest"
)

// FormatArrivalTime is the MetadataArrivalTime of t: RFC 3339 in UTC with
// milliseconds, the precision of Kinesis' ApproximateArrivalTimestamp.
func FormatArrivalTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
