package kinesis_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/cognitosync/cognitosync/internal/synctest"
)

// endpoint returns the service address in env, skipping the test when it is
// unset, or failing it under CI=true (CI never passes by skipping).
func endpoint(tb testing.TB, env string) string {
	tb.Helper()
	return synctest.ServiceURL(tb, env)
}

func kinesaliteEndpoint(tb testing.TB) string { return endpoint(tb, "SYNC_TEST_KINESIS_ENDPOINT") }

func newClient(ep string, opts ...func(*kinesis.Options)) *kinesis.Client {
	o := kinesis.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(ep),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
	for _, f := range opts {
		f(&o)
	}
	return kinesis.New(o)
}

var streamSeq atomic.Int64

func streamName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), streamSeq.Add(1))
}

// createStream creates a stream and waits until it is ACTIVE.
func createStream(tb testing.TB, c *kinesis.Client, name string, shards int32) {
	tb.Helper()
	ctx := context.Background()
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		tb.Fatal(err)
	}
	waitActive(tb, c, name)
	tb.Cleanup(func() { c.DeleteStream(context.Background(), &kinesis.DeleteStreamInput{StreamName: aws.String(name)}) })
}

func waitActive(tb testing.TB, c *kinesis.Client, name string) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("stream %s not active: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
