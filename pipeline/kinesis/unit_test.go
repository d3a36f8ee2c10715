package kinesis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	wk "github.com/cognitosync/cognitosync/pipeline/kinesis"
	"github.com/cognitosync/cognitosync/pipeline/stream"
)

// fakeKinesis is a function-field double for the publisher's limits tests:
// the stream exists; PutRecords is whatever the test says.
type fakeKinesis struct {
	wk.KinesisAPI
	put func(in *kinesis.PutRecordsInput) (*kinesis.PutRecordsOutput, error)
}

func (f *fakeKinesis) DescribeStreamSummary(context.Context, *kinesis.DescribeStreamSummaryInput, ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error) {
	return &kinesis.DescribeStreamSummaryOutput{StreamDescriptionSummary: &types.StreamDescriptionSummary{StreamStatus: types.StreamStatusActive}}, nil
}

func (f *fakeKinesis) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	return f.put(in)
}

func okOutput(n int) *kinesis.PutRecordsOutput {
	out := &kinesis.PutRecordsOutput{FailedRecordCount: aws.Int32(0)}
	for i := range n {
		out.Records = append(out.Records, types.PutRecordsResultEntry{SequenceNumber: aws.String(fmt.Sprint(i)), ShardId: aws.String("s")})
	}
	return out
}

func msgs(n, size int, key func(i int) string) []*message.Message {
	var out []*message.Message
	for i := range n {
		m := message.NewMessage(watermill.NewUUID(), bytes.Repeat([]byte("x"), size))
		if key != nil {
			m.Metadata.Set(stream.MetadataPartitionKey, key(i))
		}
		out = append(out, m)
	}
	return out
}

func TestPublisher_BatchLimits(t *testing.T) {
	tests := []struct {
		name      string
		msgs      []*message.Message
		unordered bool
		wantReqs  []int // entries per request
	}{
		{"CountLimit", msgs(1201, 10, nil), false, []int{500, 500, 201}},
		{"SizeLimit", msgs(12, 900<<10, nil), false, []int{5, 5, 2}}, // 5×~900 KiB fit in 5 MiB
		{"OneKeyOrdered", msgs(3, 10, func(int) string { return "k" }), false, []int{1, 1, 1}},
		{"OneKeyUnordered", msgs(3, 10, func(int) string { return "k" }), true, []int{3}},
		{"TwoKeysOrdered", msgs(6, 10, func(i int) string { return fmt.Sprint(i % 2) }), false, []int{2, 2, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []int
			fake := &fakeKinesis{put: func(in *kinesis.PutRecordsInput) (*kinesis.PutRecordsOutput, error) {
				size := 0
				for _, r := range in.Records {
					size += len(r.Data) + len(aws.ToString(r.PartitionKey))
				}
				if len(in.Records) > wk.MaxRecordsPerRequest || size > wk.MaxRequestSize {
					t.Errorf("request of %d records, %d bytes exceeds the limits", len(in.Records), size)
				}
				mu.Lock()
				got = append(got, len(in.Records))
				mu.Unlock()
				return okOutput(len(in.Records)), nil
			}}
			pub, err := wk.NewPublisher(wk.PublisherConfig{Client: fake, Unordered: tc.unordered}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := pub.Publish("s", tc.msgs...); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.wantReqs) {
				t.Errorf("requests %v, want %v", got, tc.wantReqs)
			}
		})
	}
}

func TestPublisher_RecordTooLarge(t *testing.T) {
	fake := &fakeKinesis{put: func(in *kinesis.PutRecordsInput) (*kinesis.PutRecordsOutput, error) {
		t.Error("nothing may be sent")
		return okOutput(len(in.Records)), nil
	}}
	pub, _ := wk.NewPublisher(wk.PublisherConfig{Client: fake, Marshaler: wk.RawMarshaler{}}, nil)
	err := pub.Publish("s", append(msgs(1, 10, nil), msgs(1, wk.MaxRecordSize, nil)...)...)
	if !errors.Is(err, wk.ErrRecordTooLarge) {
		t.Fatalf("err = %v, want ErrRecordTooLarge", err)
	}
	err = pub.Publish("s", msgs(1, 1, func(int) string { return strings.Repeat("k", 257) })...)
	if !errors.Is(err, wk.ErrInvalidPartitionKey) {
		t.Fatalf("err = %v, want ErrInvalidPartitionKey", err)
	}
}

// A partial failure resends only the failed entries; throttled calls are
// retried; a validation error is not.
func TestPublisher_RetriesOnlyFailedEntries(t *testing.T) {
	var calls [][]string
	fake := &fakeKinesis{put: func(in *kinesis.PutRecordsInput) (*kinesis.PutRecordsOutput, error) {
		var keys []string
		for _, r := range in.Records {
			keys = append(keys, aws.ToString(r.PartitionKey))
		}
		calls = append(calls, keys)
		switch len(calls) {
		case 1:
			return nil, &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
		case 2:
			out := okOutput(len(in.Records))
			out.FailedRecordCount = aws.Int32(2)
			for _, i := range []int{1, 3} {
				out.Records[i] = types.PutRecordsResultEntry{ErrorCode: aws.String("ProvisionedThroughputExceededException")}
			}
			return out, nil
		}
		return okOutput(len(in.Records)), nil
	}}
	pub, _ := wk.NewPublisher(wk.PublisherConfig{Client: fake, Backoff: wk.Backoff{Initial: time.Millisecond}}, nil)
	if err := pub.Publish("s", msgs(5, 1, func(i int) string { return fmt.Sprint(i) })...); err != nil {
		t.Fatal(err)
	}
	want := "[[0 1 2 3 4] [0 1 2 3 4] [1 3]]"
	if fmt.Sprint(calls) != want {
		t.Errorf("calls %v, want %v", calls, want)
	}

	calls = nil
	bad := &fakeKinesis{put: func(*kinesis.PutRecordsInput) (*kinesis.PutRecordsOutput, error) {
		calls = append(calls, nil)
		return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "no"}
	}}
	pub, _ = wk.NewPublisher(wk.PublisherConfig{Client: bad}, nil)
	if err := pub.Publish("s", msgs(1, 1, nil)...); err == nil || len(calls) != 1 {
		t.Errorf("err = %v after %d calls; want an error after 1 call", err, len(calls))
	}
	pub.Close()
	pub.Close()
	if err := pub.Publish("s", msgs(1, 1, nil)...); !errors.Is(err, wk.ErrClosed) {
		t.Errorf("Publish after Close: %v", err)
	}
}

func TestMarshaler_RoundTripAndRaw(t *testing.T) {
	m := message.NewMessage("id-1", []byte(`{"a":1}`))
	m.Metadata.Set("k", "v")
	data, err := wk.DefaultMarshaler{}.Marshal("t", m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wk.DefaultMarshaler{}.Unmarshal("shard-1", types.Record{Data: data, SequenceNumber: aws.String("7")})
	if err != nil || got.UUID != "id-1" || string(got.Payload) != `{"a":1}` || got.Metadata.Get("k") != "v" {
		t.Fatalf("round trip: %v %+v", err, got)
	}
	// A record someone else wrote (a Cognito stream record) is read raw.
	raw, _ := wk.DefaultMarshaler{}.Unmarshal("shard-1", types.Record{Data: []byte(`{"identityPoolId":"x"}`), SequenceNumber: aws.String("7")})
	if raw.UUID != "shard-1/7" || string(raw.Payload) != `{"identityPoolId":"x"}` {
		t.Fatalf("raw: %+v", raw)
	}
	// A truncated envelope too.
	cut, _ := wk.DefaultMarshaler{}.Unmarshal("shard-1", types.Record{Data: data[:6], SequenceNumber: aws.String("8")})
	if cut.UUID != "shard-1/8" {
		t.Fatalf("truncated: %+v", cut)
	}
}

func TestConfig_Validate(t *testing.T) {
	if _, err := wk.NewPublisher(wk.PublisherConfig{}, nil); err == nil {
		t.Error("publisher without Client accepted")
	}
	if _, err := wk.NewSubscriber(wk.SubscriberConfig{GetRecordsLimit: 20000}, nil); err == nil || !strings.Contains(err.Error(), "Client") || !strings.Contains(err.Error(), "GetRecordsLimit") {
		t.Errorf("subscriber errors not joined: %v", err)
	}
	_, err := wk.NewSubscriber(wk.SubscriberConfig{Client: &fakeKinesis{}, Leases: stream.NewMemoryLeaseStore(),
		LeaseTTL: time.Second, RenewInterval: time.Second}, nil)
	if err == nil || !strings.Contains(err.Error(), "RenewInterval") {
		t.Errorf("RenewInterval not below LeaseTTL accepted: %v", err)
	}
	if _, err := wk.NewSubscriber(wk.SubscriberConfig{Client: &fakeKinesis{}, Leases: stream.NewMemoryLeaseStore()}, nil); err != nil {
		t.Errorf("lease defaults: %v", err)
	}
}
