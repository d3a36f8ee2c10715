package synctest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// KinesisClient is aws-sdk-go-v2's Kinesis client for a test endpoint
// (kinesalite or kinesis-local; they accept any key).
func KinesisClient(endpoint string) *kinesis.Client {
	return kinesis.New(kinesis.Options{Region: Region, BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
}

// NewStream creates a uniquely named stream of shards shards on kc and waits
// until it is ACTIVE.
func NewStream(t testing.TB, kc *kinesis.Client, shards int32) string {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("test-%d", time.Now().UnixNano())
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatal(err)
	}
	for {
		d, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if d.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return name
		}
		time.Sleep(50 * time.Millisecond)
	}
}
