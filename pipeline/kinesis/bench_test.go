package kinesis_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	wk "github.com/cognitosync/cognitosync/pipeline/kinesis"
)

// Benchmarks against kinesalite, each with its baseline in the same run:
// the bare aws-sdk-go-v2 loop doing the same Kinesis work without the
// adapter. Compare records/s (aims: publisher ≥ 0.8 of bare PutRecords,
// subscriber ≥ 0.9 of bare GetRecords):
//
//	go test -run '^$' -bench . -count 5 ./pipeline/kinesis/

const (
	benchBatch   = 500 // records per PutRecords / Publish
	benchPayload = 200 // bytes, about a Cognito stream record
	benchRecords = 10000
)

func BenchmarkPublish(b *testing.B) {
	ep := kinesaliteEndpoint(b)
	client := newClient(ep)
	topic := streamName("bench-pub")
	createStream(b, client, topic, 1)
	payload := bytes.Repeat([]byte("p"), benchPayload)

	b.Run("bare_PutRecords", func(b *testing.B) {
		// What the adapter does at the least: one request per 500 records,
		// each record with its own key and data buffer.
		for b.Loop() {
			in := &kinesis.PutRecordsInput{StreamName: aws.String(topic), Records: make([]types.PutRecordsRequestEntry, benchBatch)}
			for i := range in.Records {
				in.Records[i] = types.PutRecordsRequestEntry{Data: bytes.Clone(payload), PartitionKey: aws.String(watermill.NewUUID())}
			}
			out, err := client.PutRecords(context.Background(), in)
			if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
				b.Fatal(err)
			}
		}
		reportRecords(b, benchBatch)
	})
	b.Run("Publisher", func(b *testing.B) {
		pub, err := wk.NewPublisher(wk.PublisherConfig{Client: client}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer pub.Close()
		for b.Loop() {
			msgs := make([]*message.Message, benchBatch)
			for i := range msgs {
				msgs[i] = message.NewMessage(watermill.NewUUID(), payload)
			}
			if err := pub.Publish(topic, msgs...); err != nil {
				b.Fatal(err)
			}
		}
		reportRecords(b, benchBatch)
	})
}

func reportRecords(b *testing.B, perOp int) {
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "records/s")
}

var benchFill struct {
	once   sync.Once
	stream string
}

// BenchmarkSubscribe reads the same 10,000-record, one-shard stream from
// TRIM_HORIZON per iteration.
func BenchmarkSubscribe(b *testing.B) {
	ep := kinesaliteEndpoint(b)
	client := newClient(ep)
	benchFill.once.Do(func() {
		benchFill.stream = streamName("bench-sub")
		ctx := context.Background()
		if _, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(benchFill.stream), ShardCount: aws.Int32(1)}); err != nil {
			b.Fatal(err)
		}
		waitActive(b, client, benchFill.stream)
		pub, _ := wk.NewPublisher(wk.PublisherConfig{Client: client}, nil)
		payload := bytes.Repeat([]byte("p"), benchPayload)
		for range benchRecords / benchBatch {
			msgs := make([]*message.Message, benchBatch)
			for i := range msgs {
				msgs[i] = message.NewMessage(watermill.NewUUID(), payload)
			}
			if err := pub.Publish(benchFill.stream, msgs...); err != nil {
				b.Fatal(err)
			}
		}
	})
	stream := benchFill.stream

	b.Run("bare_GetRecords", func(b *testing.B) {
		ctx := context.Background()
		for b.Loop() {
			shards, err := client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
			if err != nil {
				b.Fatal(err)
			}
			it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream),
				ShardId: shards.Shards[0].ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
			if err != nil {
				b.Fatal(err)
			}
			iter, n := it.ShardIterator, 0
			for n < benchRecords {
				out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(wk.MaxGetRecordsLimit)})
				if err != nil {
					b.Fatal(err)
				}
				n += len(out.Records)
				iter = out.NextShardIterator
			}
		}
		reportRecords(b, benchRecords)
	})
	b.Run("Subscriber", func(b *testing.B) {
		for b.Loop() {
			sub, err := wk.NewSubscriber(wk.SubscriberConfig{Client: client,
				// kinesalite has no per-shard limits and the bare loop no pacing;
				// PollInterval stays at its default (1s): once caught up the
				// subscriber polls, the bare loop stops.
				MinGetRecordsInterval: time.Microsecond, MaxReadBytesPerSecond: 1 << 40}, nil)
			if err != nil {
				b.Fatal(err)
			}
			msgs, err := sub.Subscribe(context.Background(), stream)
			if err != nil {
				b.Fatal(err)
			}
			for range benchRecords {
				m := <-msgs
				m.Ack()
			}
			sub.Close()
		}
		reportRecords(b, benchRecords)
	})
}
