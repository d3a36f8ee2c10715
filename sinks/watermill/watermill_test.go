package watermill_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/nats-io/nats.go"
	"go.yaml.in/yaml/v3"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/changejson"
	"github.com/cognitosync/cognitosync/sinks/sinktest"
	wmsink "github.com/cognitosync/cognitosync/sinks/watermill"
)

// jetStream is a topic of its own on the test broker.
type jetStream struct {
	url, topic string
	pub        *wmnats.Publisher
	js         nats.JetStreamContext
}

func newJetStream(t *testing.T) *jetStream {
	t.Helper()
	url := synctest.ServiceURL(t, "SYNC_TEST_NATS_URL")
	b := make([]byte, 6)
	rand.Read(b)
	j := &jetStream{url: url, topic: "cognitosync_sinktest_" + hex.EncodeToString(b)}
	// TrackMsgId sends the message UUID as Nats-Msg-Id: JetStream drops a
	// message whose ID it saw within the stream's duplicate window.
	pub, err := wmnats.NewPublisher(wmnats.PublisherConfig{
		URL:       url,
		JetStream: wmnats.JetStreamConfig{AutoProvision: true, TrackMsgId: true},
	}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	j.pub = pub
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	if j.js, err = nc.JetStream(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		j.js.DeleteStream(j.topic)
		nc.Close()
		pub.Close()
	})
	return j
}

// stored is the number of messages the broker holds for the topic.
func (j *jetStream) stored(t *testing.T) int {
	t.Helper()
	info, err := j.js.StreamInfo(j.topic)
	if err == nats.ErrStreamNotFound {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return int(info.State.Msgs)
}

// read subscribes from the start of the stream through watermill and
// returns every stored message.
func (j *jetStream) read(t *testing.T) []*message.Message {
	t.Helper()
	n := j.stored(t)
	if n == 0 {
		return nil
	}
	sub, err := wmnats.NewSubscriber(wmnats.SubscriberConfig{
		URL:          j.url,
		CloseTimeout: time.Second,
		JetStream: wmnats.JetStreamConfig{AutoProvision: true,
			SubscribeOptions: []nats.SubOpt{nats.DeliverAll(), nats.AckExplicit()}},
	}, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := sub.Subscribe(ctx, j.topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []*message.Message
	for len(out) < n {
		select {
		case m := <-ch:
			m.Ack()
			out = append(out, m)
		case <-ctx.Done():
			t.Fatalf("read %d of %d messages", len(out), n)
		}
	}
	return out
}

func decodeAll(t *testing.T, msgs []*message.Message) []pipeline.Change {
	t.Helper()
	var out []pipeline.Change
	for _, m := range msgs {
		c, err := wmsink.Decode(m)
		if err != nil {
			t.Fatal(err)
		}
		if m.UUID != changejson.UUID(c.ID()) || m.Metadata.Get(wmsink.MetaIdempotencyKey) != changejson.IdempotencyKey(c.ID()) {
			t.Errorf("message %s: UUID/idempotency_key do not match its change %+v", m.UUID, c.ID())
		}
		out = append(out, c)
	}
	return out
}

func newSink(t *testing.T, c wmsink.Config) *wmsink.Sink {
	t.Helper()
	s, err := wmsink.New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance_NATSJetStream(t *testing.T) {
	sinktest.Run(t, sinktest.Harness{New: func(t *testing.T) (pipeline.Sink, func(*testing.T) sinktest.State) {
		j := newJetStream(t)
		s := newSink(t, wmsink.Config{Publisher: j.pub, Topic: j.topic})
		return s, func(t *testing.T) sinktest.State { return sinktest.Fold(decodeAll(t, j.read(t))) }
	}})
}

// TestWrite_JetStreamDropsReplays: the deterministic UUID lets the broker
// itself make replays effectively-once.
func TestWrite_JetStreamDropsReplays(t *testing.T) {
	j := newJetStream(t)
	s := newSink(t, wmsink.Config{Publisher: j.pub, Topic: j.topic})
	batch := []pipeline.Change{sinktest.Put("us-east-1:a", "k", "v1", 1), sinktest.Put("us-east-1:a", "k", "v2", 2), sinktest.Remove("us-east-1:a", "j", 5)}
	for range 3 {
		if err := s.Write(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	if n := j.stored(t); n != len(batch) {
		t.Errorf("stored messages = %d, want %d (replays dropped by Nats-Msg-Id)", n, len(batch))
	}
	got := decodeAll(t, j.read(t))
	for i := range got {
		if got[i].SyncCount != batch[i].SyncCount || got[i].Key != batch[i].Key {
			t.Errorf("message %d = %s@%d, want %s@%d (batch order)", i, got[i].Key, got[i].SyncCount, batch[i].Key, batch[i].SyncCount)
		}
	}
}

func TestNewMessage(t *testing.T) {
	c := sinktest.Put("us-east-1:a", "k\nwith newline", "v", 7)
	m, err := wmsink.NewMessage(c)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := wmsink.NewMessage(c)
	if m.UUID != again.UUID {
		t.Errorf("UUID differs between deliveries: %s, %s", m.UUID, again.UUID)
	}
	other := c
	other.SyncCount++
	if o, _ := wmsink.NewMessage(other); o.UUID == m.UUID {
		t.Error("changes with different SyncCounts share a UUID")
	}
	want := map[string]string{
		wmsink.MetaIdempotencyKey: changejson.IdempotencyKey(c.ID()),
		wmsink.MetaIdentityPoolID: c.IdentityPoolID,
		wmsink.MetaIdentityID:     "us-east-1:a",
		wmsink.MetaDatasetName:    "settings",
		wmsink.MetaOp:             "replace",
		wmsink.MetaSyncCount:      "7",
	}
	for k, v := range want {
		if got := m.Metadata.Get(k); got != v {
			t.Errorf("metadata %s = %q, want %q", k, got, v)
		}
	}
	for k, v := range m.Metadata {
		if strings.ContainsAny(v, "\r\n") {
			t.Errorf("metadata %s = %q holds a line break", k, v)
		}
	}
	back, err := wmsink.Decode(m)
	if err != nil {
		t.Fatal(err)
	}
	sinktest.Equal(t, sinktest.Fold([]pipeline.Change{back}), sinktest.Fold([]pipeline.Change{c}))
}

// TestWrite_TopicFunc routes changes per pool through the in-process
// gochannel pub/sub.
func TestWrite_TopicFunc(t *testing.T) {
	ps := gochannel.NewGoChannel(gochannel.Config{Persistent: true}, watermill.NopLogger{})
	s := newSink(t, wmsink.Config{Publisher: ps, ClosePublisher: true, TopicFunc: func(c pipeline.Change) string { return "changes." + c.IdentityID }})
	batch := []pipeline.Change{sinktest.Put("a", "k", "v", 1), sinktest.Put("b", "k", "v", 1), sinktest.Put("a", "k", "v", 2)}
	if err := s.Write(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	// gochannel hands stored messages to a new subscriber concurrently, so
	// only the set per topic is checked here (order: the JetStream test).
	for topic, want := range map[string]string{"changes.a": "1,2", "changes.b": "1"} {
		ch, err := ps.Subscribe(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for range strings.Count(want, ",") + 1 {
			select {
			case m := <-ch:
				m.Ack()
				got = append(got, m.Metadata.Get(wmsink.MetaSyncCount))
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: no message", topic)
			}
		}
		slices.Sort(got)
		if strings.Join(got, ",") != want {
			t.Errorf("%s: sync counts %v, want %s", topic, got, want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), batch); err == nil {
		t.Error("Write after closing the publisher succeeded")
	}
}

func TestConfig_Validate(t *testing.T) {
	ps := gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})
	defer ps.Close()
	tests := []struct {
		name string
		c    wmsink.Config
		ok   bool
	}{
		{"Empty", wmsink.Config{}, false},
		{"NoTopic", wmsink.Config{Publisher: ps}, false},
		{"Topic", wmsink.Config{Publisher: ps, Topic: "t"}, true},
		{"TopicFunc", wmsink.Config{Publisher: ps, TopicFunc: func(pipeline.Change) string { return "t" }}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestNATSSpec_Validate(t *testing.T) {
	no := false
	env := func(k string) string { return map[string]string{"NATS_URL": "nats://127.0.0.1:4222"}[k] }
	tests := []struct {
		name string
		s    wmsink.NATSSpec
		want string // "": valid
	}{
		{"Minimal", wmsink.NATSSpec{URL: "nats://h:4222", Topic: "cognitosync_changes"}, ""},
		{"URLFromEnv", wmsink.NATSSpec{URLEnv: "NATS_URL", Topic: "t"}, ""},
		{"URLEnvUnset", wmsink.NATSSpec{URLEnv: "NOPE", URL: "nats://h", Topic: "t"}, "url_env: the environment variable NOPE is empty"},
		{"NoURL", wmsink.NATSSpec{Topic: "t"}, "url is required"},
		{"NoTopic", wmsink.NATSSpec{URL: "nats://h"}, "topic is required"},
		{"DottedTopicNeedsOwnStream", wmsink.NATSSpec{URL: "nats://h", Topic: "sync.changes"}, "names the stream the sink creates"},
		{"DottedSubjectOfOperatorStream", wmsink.NATSSpec{URL: "nats://h", Topic: "sync.changes", AutoProvision: &no}, ""},
		{"Wildcard", wmsink.NATSSpec{URL: "nats://h", Topic: "sync.*", AutoProvision: &no}, "not a NATS subject"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate(pipeline.SinkDeps{Name: "bus", Getenv: env})
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestNATSSpec_Build: the spec the worker decodes from YAML builds a sink
// that passes the conformance suite against the real broker, on a stream it
// provisions itself, with the URL taken from the environment.
func TestNATSSpec_Build(t *testing.T) {
	url := synctest.ServiceURL(t, "SYNC_TEST_NATS_URL")
	var spec pipeline.SinkSpec
	spec, err := wmsink.NATSType.Decode(func(v any) error {
		return yaml.Unmarshal([]byte("{name: bus, type: nats, url_env: THE_NATS_URL, topic: placeholder}"), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	sinktest.Run(t, sinktest.Harness{New: func(t *testing.T) (pipeline.Sink, func(*testing.T) sinktest.State) {
		j := newJetStream(t)
		s := spec.(wmsink.NATSSpec)
		s.Topic = j.topic
		deps := pipeline.SinkDeps{Name: "bus", Getenv: func(k string) string { return map[string]string{"THE_NATS_URL": url}[k] }}
		if err := s.Validate(deps); err != nil {
			t.Fatal(err)
		}
		sink, err := s.Build(context.Background(), deps)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sink.Close() })
		if sink.Name() != "bus" {
			t.Errorf("Name() = %q, want bus", sink.Name())
		}
		return sink, func(t *testing.T) sinktest.State { return sinktest.Fold(decodeAll(t, j.read(t))) }
	}})
}

func TestNATSSpec_BuildUnreachable(t *testing.T) {
	_, err := wmsink.NATSSpec{URL: "nats://127.0.0.1:1", Topic: "t"}.Build(context.Background(), pipeline.SinkDeps{Name: "bus"})
	if err == nil || !strings.Contains(err.Error(), "nats sink") {
		t.Fatalf("Build against a closed port = %v, want a nats sink error", err)
	}
}
