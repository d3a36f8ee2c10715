package kinesis

import (
	"errors"

	"github.com/aws/smithy-go"
)

var (
	// ErrClosed is returned by Publish and Subscribe after Close.
	ErrClosed = errors.New("kinesis: closed")
	// ErrRecordTooLarge is returned by Publish for a message whose record
	// (data plus partition key) exceeds MaxRecordSize; nothing of that
	// Publish call is written.
	ErrRecordTooLarge = errors.New("kinesis: record larger than 1 MiB")
	// ErrInvalidPartitionKey is returned by Publish for a partition key that
	// is empty or longer than 256 characters.
	ErrInvalidPartitionKey = errors.New("kinesis: partition key must have 1 to 256 characters")
)

// Kinesis API limits (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html,
// API_GetRecords.html, service-sizes-and-limits.html).
const (
	MaxRecordsPerRequest = 500     // PutRecords entries per request
	MaxRequestSize       = 5 << 20 // PutRecords request: data + partition keys
	MaxRecordSize        = 1 << 20 // one record: data + partition key
	MaxPartitionKeyLen   = 256     // unicode characters
	MaxGetRecordsLimit   = 10000   // GetRecords Limit
	shardReadCallsPerSec = 5       // GetRecords calls per shard per second
	shardReadBytesPerSec = 2 << 20 // bytes read per shard per second
)

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// isThrottle tells errors (or PutRecords entry ErrorCodes) that mean "slow
// down": they are retried after a backoff with jitter.
func isThrottleCode(code string) bool {
	switch code {
	case "ProvisionedThroughputExceededException", "LimitExceededException",
		"KMSThrottlingException", "ThrottlingException", "Throttling", "RequestLimitExceeded":
		return true
	}
	return false
}

// isRetryable tells whether a failed call may succeed if repeated: throttling,
// Kinesis' internal failures and transport errors (no API error code at all).
func isRetryable(err error) bool {
	code := errorCode(err)
	switch {
	case code == "":
		return true
	case isThrottleCode(code):
		return true
	case code == "InternalFailure", code == "InternalFailureException", code == "ServiceUnavailable",
		code == "ServiceUnavailableException", code == "InternalServerError":
		return true
	}
	return false
}
