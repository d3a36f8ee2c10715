package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/pipeline/outbox"
	"github.com/cognitosync/cognitosync/pipeline/stream"
	"github.com/cognitosync/cognitosync/pipeline/streamrecord"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func openStore(t testing.TB) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), sqlstore.Config{URL: filepath.Join(t.TempDir(), "s.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// streamingPool creates a pool streaming to stream.
func streamingPool(t testing.TB, s syncapi.Store, id, stream string) {
	t.Helper()
	if err := s.CreatePool(context.Background(), syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: id, IdentityPoolName: "p"},
		CognitoStreams: &syncapi.CognitoStreams{StreamName: stream, StreamingStatus: syncapi.StreamingEnabled}}); err != nil {
		t.Fatal(err)
	}
}

func write(t testing.TB, s syncapi.Store, k syncapi.DatasetKey, expect int64, key, value string) {
	t.Helper()
	v := value
	if _, err := s.UpdateRecords(context.Background(), syncapi.UpdateRequest{Key: k, By: "w", Now: t0,
		Changes: []syncapi.Change{{Key: key, Value: &v, Expect: &expect}}}); err != nil {
		t.Fatal(err)
	}
}

func pendingCount(t testing.TB, s syncapi.Outbox) int {
	t.Helper()
	es, err := s.PendingOutbox(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func newForwarder(t testing.TB, c outbox.ForwarderConfig) *outbox.Forwarder {
	t.Helper()
	if c.Owner == "" {
		c.Owner = "test"
	}
	f, err := outbox.NewForwarder(c)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// receive reads n messages from ch, acking them.
func receive(t testing.TB, ch <-chan *message.Message, n int) []*message.Message {
	t.Helper()
	var out []*message.Message
	for len(out) < n {
		select {
		case m := <-ch:
			m.Ack()
			out = append(out, m)
		case <-time.After(10 * time.Second):
			t.Fatalf("received %d of %d messages", len(out), n)
		}
	}
	return out
}

func TestForwarder_PublishesInOrderPerIdentity(t *testing.T) {
	s := openStore(t)
	pool := "us-east-1:00000000-0000-0000-0000-000000000001"
	streamingPool(t, s, pool, "events")
	gc := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 1000, BlockPublishUntilSubscriberAck: true}, nil)
	defer gc.Close()
	ch, err := gc.Subscribe(t.Context(), "events")
	if err != nil {
		t.Fatal(err)
	}
	const identities, writes = 3, 20
	for w := range writes {
		for i := range identities {
			k := syncapi.DatasetKey{PoolID: pool, IdentityID: fmt.Sprintf("us-east-1:id-%d", i), Name: "settings"}
			write(t, s, k, int64(w), "score", fmt.Sprint(w))
		}
	}
	f := newForwarder(t, outbox.ForwarderConfig{Store: s, Publisher: gc, Batch: 7})
	got := make(chan []*message.Message, 1)
	go func() { got <- receive(t, ch, identities*writes) }()
	if err := f.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	msgs := <-got
	last := map[string]int64{}
	for _, m := range msgs {
		r, err := streamrecord.Decode(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if m.Metadata.Get(stream.MetadataPartitionKey) != r.IdentityID {
			t.Errorf("partition key %q for %s", m.Metadata.Get(stream.MetadataPartitionKey), r.IdentityID)
		}
		if r.SyncCount != last[r.IdentityID]+1 || r.IdentityPoolID != pool || r.DatasetName != "settings" ||
			r.Operation != streamrecord.OpReplace || r.PayloadType != streamrecord.PayloadInline || len(r.Records) != 1 ||
			*r.Records[0].Value != fmt.Sprint(r.SyncCount-1) || !r.LastModifiedDate.Equal(t0) || !r.Records[0].DeviceLastModifiedDate.Equal(t0) {
			t.Fatalf("record after sync count %d: %+v", last[r.IdentityID], r)
		}
		last[r.IdentityID] = r.SyncCount
	}
	if n := pendingCount(t, s); n != 0 {
		t.Errorf("%d entries left", n)
	}
}

// publisherFunc is a message.Publisher fake.
type publisherFunc func(topic string, msgs ...*message.Message) error

func (f publisherFunc) Publish(topic string, msgs ...*message.Message) error {
	return f(topic, msgs...)
}
func (f publisherFunc) Close() error { return nil }

func TestForwarder_FailedPublishKeepsEntries(t *testing.T) {
	s := openStore(t)
	pool := "us-east-1:00000000-0000-0000-0000-000000000002"
	streamingPool(t, s, pool, "events")
	k := syncapi.DatasetKey{PoolID: pool, IdentityID: "us-east-1:a", Name: "d"}
	write(t, s, k, 0, "a", "1")
	write(t, s, k, 1, "a", "2")
	var fail atomic.Bool
	fail.Store(true)
	var got []int64
	pub := publisherFunc(func(topic string, msgs ...*message.Message) error {
		if fail.Load() {
			return errors.New("stream unavailable")
		}
		for _, m := range msgs {
			r, _ := streamrecord.Decode(m.Payload)
			got = append(got, r.SyncCount)
		}
		return nil
	})
	f := newForwarder(t, outbox.ForwarderConfig{Store: s, Publisher: pub})
	if err := f.Flush(t.Context()); err == nil {
		t.Fatal("no error from a failing publisher")
	}
	if n := pendingCount(t, s); n != 2 {
		t.Fatalf("%d entries after a failed publish, want 2", n)
	}
	fail.Store(false)
	if err := f.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[1 2]" || pendingCount(t, s) != 0 {
		t.Errorf("published %v", got)
	}
}

func TestForwarder_TooLargeWithoutS3Waits(t *testing.T) {
	s := openStore(t)
	pool := "us-east-1:00000000-0000-0000-0000-000000000003"
	streamingPool(t, s, pool, "events")
	big := syncapi.DatasetKey{PoolID: pool, IdentityID: "us-east-1:big", Name: "d"}
	small := syncapi.DatasetKey{PoolID: pool, IdentityID: "us-east-1:small", Name: "d"}
	write(t, s, big, 0, "a", strings.Repeat("x", 1000))
	write(t, s, big, 1, "a", "1") // waits behind the big one: order per identity
	write(t, s, small, 0, "a", "1")
	var n atomic.Int64
	pub := publisherFunc(func(topic string, msgs ...*message.Message) error { n.Add(int64(len(msgs))); return nil })
	f := newForwarder(t, outbox.ForwarderConfig{Store: s, Publisher: pub, MaxRecordBytes: 700})
	if err := f.Flush(t.Context()); !errors.Is(err, outbox.ErrTooLarge) {
		t.Fatalf("Flush: %v", err)
	}
	if n.Load() != 1 || pendingCount(t, s) != 2 {
		t.Errorf("published %d, pending %d; want 1, 2", n.Load(), pendingCount(t, s))
	}
}

func TestForwarder_S3Offload(t *testing.T) {
	backend := s3mem.New()
	fake := httptest.NewServer(gofakes3.New(backend).Server())
	defer fake.Close()
	sc := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(fake.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	if _, err := sc.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String("streams")}); err != nil {
		t.Fatal(err)
	}
	off, err := outbox.NewS3Offloader(outbox.S3Config{Client: sc, Bucket: "streams"})
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	pool := "us-east-1:00000000-0000-0000-0000-000000000004"
	streamingPool(t, s, pool, "events")
	k := syncapi.DatasetKey{PoolID: pool, IdentityID: "us-east-1:big", Name: "d"}
	value := strings.Repeat("v", 4096)
	write(t, s, k, 0, "a", value)
	write(t, s, k, 1, "a", "small")
	var msgs []*message.Message
	pub := publisherFunc(func(topic string, m ...*message.Message) error { msgs = append(msgs, m...); return nil })
	f := newForwarder(t, outbox.ForwarderConfig{Store: s, Publisher: pub, Offload: off, MaxRecordBytes: 1024})
	if err := f.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	if len(msgs[0].Payload) > 1024 {
		t.Errorf("offloaded record has %d bytes", len(msgs[0].Payload))
	}
	raw, _ := streamrecord.Decode(msgs[0].Payload)
	if raw.PayloadType != streamrecord.PayloadS3URL || raw.Records != nil || !strings.Contains(raw.RecordsURL, "X-Amz-Signature=") {
		t.Fatalf("large record: %s", msgs[0].Payload)
	}
	r, err := streamrecord.Decoder{Getter: http.DefaultClient}.Decode(t.Context(), msgs[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	if r.SyncCount != 1 || len(r.Records) != 1 || *r.Records[0].Value != value || r.Records[0].SyncCount != 1 {
		t.Errorf("fetched %+v", r)
	}
	if r2, _ := streamrecord.Decode(msgs[1].Payload); r2.PayloadType != streamrecord.PayloadInline || *r2.Records[0].Value != "small" {
		t.Errorf("small record: %s", msgs[1].Payload)
	}
}

func TestForwarder_OneLeaseHolder(t *testing.T) {
	s := openStore(t)
	pool := "us-east-1:00000000-0000-0000-0000-000000000005"
	streamingPool(t, s, pool, "events")
	write(t, s, syncapi.DatasetKey{PoolID: pool, IdentityID: "us-east-1:a", Name: "d"}, 0, "a", "1")
	var a, b atomic.Int64
	fa := newForwarder(t, outbox.ForwarderConfig{Store: s, Owner: "a", Publisher: publisherFunc(func(string, ...*message.Message) error { a.Add(1); return nil })})
	fb := newForwarder(t, outbox.ForwarderConfig{Store: s, Owner: "b", Publisher: publisherFunc(func(string, ...*message.Message) error { b.Add(1); return nil })})
	if err := fa.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	write(t, s, syncapi.DatasetKey{PoolID: pool, IdentityID: "us-east-1:a", Name: "d"}, 1, "a", "2")
	if err := fb.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if a.Load() != 1 || b.Load() != 0 || pendingCount(t, s) != 1 {
		t.Errorf("a published %d, b %d, pending %d; want 1, 0, 1", a.Load(), b.Load(), pendingCount(t, s))
	}
}

// TestForwarder_DeletesOnlyAfterPublishReturns: with a publisher that
// returns only once its consumer acked (Watermill's gochannel with
// BlockPublishUntilSubscriberAck), the entry stays in the outbox while the
// message is in flight and through a Nack and redelivery, and goes once the
// consumer acked.
func TestForwarder_DeletesOnlyAfterPublishReturns(t *testing.T) {
	s := openStore(t)
	pool := "us-east-1:00000000-0000-0000-0000-000000000006"
	streamingPool(t, s, pool, "events")
	k := syncapi.DatasetKey{PoolID: pool, IdentityID: "us-east-1:a", Name: "d"}
	write(t, s, k, 0, "a", "1")
	pubsub := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, nil)
	defer pubsub.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := pubsub.Subscribe(ctx, "events")
	if err != nil {
		t.Fatal(err)
	}
	f := newForwarder(t, outbox.ForwarderConfig{Store: s, Publisher: pubsub, MaxRecordBytes: -1})
	done := make(chan error, 1)
	go func() { done <- f.Flush(t.Context()) }()
	first := <-ch
	if pendingCount(t, s) != 1 {
		t.Fatal("entry deleted before the consumer acked")
	}
	first.Nack()
	again := <-ch // redelivered
	if string(again.Payload) != string(first.Payload) {
		t.Fatal("redelivery differs")
	}
	if pendingCount(t, s) != 1 {
		t.Fatal("entry deleted after a Nack")
	}
	again.Ack()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if pendingCount(t, s) != 0 {
		t.Fatal("entry kept after ack")
	}
}

// TestForwarder_DatasetDeletionKeepsSyncCount: DeleteDataset reaches the
// stream as operation remove without records and with the dataset's sync
// count (spec D.2), which the pipeline reads as one dataset deletion that
// covers every record the dataset had.
func TestForwarder_DatasetDeletionKeepsSyncCount(t *testing.T) {
	s := openStore(t)
	pool := "us-east-1:00000000-0000-0000-0000-000000000001"
	streamingPool(t, s, pool, "events")
	// Delivered in publish order, as Kinesis keeps it per identity
	// (gochannel otherwise hands each message over in its own goroutine).
	gc := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 10, BlockPublishUntilSubscriberAck: true}, nil)
	defer gc.Close()
	ch, err := gc.Subscribe(t.Context(), "events")
	if err != nil {
		t.Fatal(err)
	}
	k := syncapi.DatasetKey{PoolID: pool, IdentityID: "us-east-1:id", Name: "settings"}
	write(t, s, k, 0, "a", "1")
	write(t, s, k, 0, "b", "2")
	write(t, s, k, 2, "b", "3")
	if _, err := s.DeleteDataset(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	f := newForwarder(t, outbox.ForwarderConfig{Store: s, Publisher: gc})
	got := make(chan []*message.Message, 1)
	go func() { got <- receive(t, ch, 4) }()
	if err := f.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	msgs := <-got
	var changes []pipeline.Change
	for _, m := range msgs {
		cs, err := pipeline.StreamRecordDecoder(nil)(t.Context(), m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		changes = append(changes, cs...)
	}
	// in commit order per identity; found wherever it is, all the same
	var dels, recs []pipeline.Change
	for _, c := range changes {
		if c.DatasetDeleted {
			dels = append(dels, c)
		} else {
			recs = append(recs, c)
		}
	}
	if len(dels) != 1 || dels[0].SyncCount != 3 || dels[0].Key != "" || len(recs) != 3 {
		t.Fatalf("changes = %+v, want 3 record changes and the deletion of the dataset at sync count 3", changes)
	}
	if last := changes[len(changes)-1]; !last.DatasetDeleted {
		t.Errorf("the deletion is not the identity's last change: %+v", changes)
	}
	for _, c := range recs {
		if !dels[0].Covers(c) {
			t.Errorf("deletion at %d does not cover %+v", dels[0].SyncCount, c)
		}
	}
}
