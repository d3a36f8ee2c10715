package kinesis

// Metadata keys. The Publisher reads MetadataPartitionKey; the Subscriber
// sets all of them on every message it delivers.
const (
	// MetadataPartitionKey is the record's partition key. Records of one
	// partition key go to one shard and are delivered in the order written.
	MetadataPartitionKey = "partition_key"
	// MetadataShardID is the id of the shard the record was read from.
	MetadataShardID = "kinesis_shard_id"
	// MetadataSequenceNumber is the record's sequence number in its shard.
	MetadataSequenceNumber = "kinesis_sequence_number"
	// MetadataArrivalTime is when Kinesis accepted the record (RFC 3339, ms).
	MetadataArrivalTime = "kinesis_arrival_time"
	// MetadataMillisBehindLatest is the MillisBehindLatest of the GetRecords
	// response the record came in (decimal): how far the shard reader lags.
	MetadataMillisBehindLatest = "kinesis_millis_behind_latest"
)
