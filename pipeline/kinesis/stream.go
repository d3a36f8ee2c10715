package kinesis

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/cognitosync/cognitosync/internal/retry"
)

// streams remembers which streams are known to exist and be usable, so
// that Publish does not describe the stream on every call.
type streams struct {
	client KinesisAPI
	shards int32 // >0: create missing streams with this many shards
	known  sync.Map
}

// ensure makes sure the stream exists and is ACTIVE or UPDATING (both take
// reads and writes), creating it when configured to.
func (s *streams) ensure(ctx context.Context, name string) error {
	if _, ok := s.known.Load(name); ok {
		return nil
	}
	created := false
	for attempt := 0; ; attempt++ {
		out, err := s.client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		switch {
		case err == nil:
			switch out.StreamDescriptionSummary.StreamStatus {
			case types.StreamStatusActive, types.StreamStatusUpdating:
				s.known.Store(name, true)
				return nil
			case types.StreamStatusDeleting:
				return fmt.Errorf("stream %s is being deleted", name)
			}
		case errorCode(err) == "ResourceNotFoundException" && s.shards > 0 && !created:
			_, cerr := s.client.CreateStream(ctx, &kinesis.CreateStreamInput{
				StreamName: aws.String(name), ShardCount: aws.Int32(s.shards)})
			if cerr != nil && errorCode(cerr) != "ResourceInUseException" { // another process created it
				return fmt.Errorf("create stream %s: %w", name, cerr)
			}
			created = true
			continue
		case errorCode(err) == "ResourceNotFoundException" && !created:
			return fmt.Errorf("stream %s: %w", name, err)
		case !isRetryable(err) && errorCode(err) != "ResourceNotFoundException":
			return fmt.Errorf("describe stream %s: %w", name, err)
		}
		// CREATING, or a transient error: wait. Creation takes seconds on AWS.
		if attempt > 600 {
			return fmt.Errorf("stream %s did not become active", name)
		}
		if retry.Sleep(ctx, min(time.Duration(attempt+1)*50*time.Millisecond, time.Second)) != nil {
			return ctx.Err()
		}
	}
}
