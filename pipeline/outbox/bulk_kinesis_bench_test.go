package outbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/pipeline/kinesis"
	"github.com/cognitosync/cognitosync/pipeline/outbox"
	"github.com/cognitosync/cognitosync/pipeline/stream"
	"github.com/cognitosync/cognitosync/syncapi"
)

// kinesaliteClient returns a client for SYNC_TEST_KINESIS_ENDPOINT, or
// skips (fails under CI=true).
func kinesaliteClient(tb testing.TB) *awskinesis.Client {
	tb.Helper()
	ep := synctest.ServiceURL(tb, "SYNC_TEST_KINESIS_ENDPOINT")
	return awskinesis.New(awskinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
}

// capture keeps the messages bulk publish produced (data and partition
// key), in publish order.
type capture struct {
	mu      sync.Mutex
	entries []types.PutRecordsRequestEntry
}

func (c *capture) Publish(_ string, msgs ...*message.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		c.entries = append(c.entries, types.PutRecordsRequestEntry{Data: m.Payload,
			PartitionKey: aws.String(m.Metadata.Get(stream.MetadataPartitionKey))})
	}
	return nil
}
func (c *capture) Close() error { return nil }

// BenchmarkBulkPublishKinesis measures bulk publish records/s from SQLite
// through pipeline/kinesis to kinesalite, with a same-run baseline: a bare
// aws-sdk-go-v2 loop of PutRecords (500 per request) of the very records
// bulk publish wrote (same data, same partition keys, same order), to the
// same stream. Each iteration times three things on the same stream:
//
//	bare:      PutRecords of the pre-encoded records
//	publisher: kinesis.Publisher.Publish of the same records, 500 per call
//	bulk:      a whole BulkRunner job (store paging + encoding + Publisher)
//
// and reports each as records/s and bulk/bare, publisher/bare as ratios.
// The seed has 10 datasets per identity (identityId is the partition key).
//
//	go test -run '^$' -bench BulkPublishKinesis -benchtime 3x ./pipeline/outbox/
func BenchmarkBulkPublishKinesis(b *testing.B) {
	kc := kinesaliteClient(b)
	ctx := context.Background()
	topic := synctest.NewStream(b, kc, 1)

	s := openStore(b)
	pool := "us-east-1:00000000-0000-0000-0000-000000000014"
	streamingPool(b, s, pool, topic)
	const n = 10000
	seed(b, s, pool, n)
	p, _ := s.GetPool(ctx, pool)
	bulk := func(r *outbox.BulkRunner) {
		if err := s.StartBulk(ctx, pool, "me", time.Now(), time.Now().Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
		if err := r.RunBulk(ctx, p); err != nil {
			b.Fatal(err)
		}
		if j := waitBulk(b, s, pool); j.Status != syncapi.BulkSucceeded {
			b.Fatal(j)
		}
	}

	// The records bulk publish writes, captured once.
	c := &capture{}
	cr, _ := outbox.NewBulkRunner(outbox.BulkConfig{Store: s, Publisher: c, Owner: "me"})
	bulk(cr)
	if len(c.entries) != n {
		b.Fatalf("captured %d records, want %d", len(c.entries), n)
	}

	// Unordered, as syncd wires its bulk publisher (cmd/syncd/stream.go).
	pub, err := kinesis.NewPublisher(kinesis.PublisherConfig{Client: kc, Marshaler: kinesis.RawMarshaler{}, Unordered: true}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	r, err := outbox.NewBulkRunner(outbox.BulkConfig{Store: s, Publisher: pub, Owner: "me"})
	if err != nil {
		b.Fatal(err)
	}

	var bare, publisher, runner time.Duration
	for b.Loop() {
		start := time.Now()
		for i := 0; i < n; i += 500 {
			out, err := kc.PutRecords(ctx, &awskinesis.PutRecordsInput{StreamName: aws.String(topic), Records: c.entries[i:min(i+500, n)]})
			if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
				b.Fatal(err, out)
			}
		}
		bare += time.Since(start)

		msgs := make([]*message.Message, n)
		for i, e := range c.entries {
			msgs[i] = message.NewMessage(fmt.Sprint(i), e.Data)
			msgs[i].Metadata.Set(stream.MetadataPartitionKey, *e.PartitionKey)
		}
		start = time.Now()
		for i := 0; i < n; i += 500 {
			if err := pub.Publish(topic, msgs[i:min(i+500, n)]...); err != nil {
				b.Fatal(err)
			}
		}
		publisher += time.Since(start)

		start = time.Now()
		bulk(r)
		runner += time.Since(start)
	}
	rate := func(d time.Duration) float64 { return float64(n*b.N) / d.Seconds() }
	b.ReportMetric(rate(runner), "records/s")
	b.ReportMetric(rate(publisher), "publisher_records/s")
	b.ReportMetric(rate(bare), "bare_records/s")
	b.ReportMetric(bare.Seconds()/runner.Seconds(), "bulk/bare")
	b.ReportMetric(bare.Seconds()/publisher.Seconds(), "publisher/bare")
}
