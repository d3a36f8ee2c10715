package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/pipeline/streamrecord"
)

const testPool = "us-east-1:00000000-0000-4000-8000-000000000001"

// memSink is an in-memory sink whose failures a test controls.
type memSink struct {
	name string
	mu   sync.Mutex
	// fail, when set, is called before every write; its error is returned.
	fail    func(attempt int) error
	calls   []time.Time
	batches [][]pipeline.Change
}

func (s *memSink) Name() string { return s.name }
func (s *memSink) Close() error { return nil }
func (s *memSink) Write(_ context.Context, batch []pipeline.Change) error {
	s.mu.Lock()
	s.calls = append(s.calls, time.Now())
	fail, attempt := s.fail, len(s.calls)-1
	s.mu.Unlock()
	if fail != nil {
		if err := fail(attempt); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, batch)
	return nil
}

func (s *memSink) setFail(f func(int) error) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

func (s *memSink) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, b := range s.batches {
		for _, c := range b {
			out = append(out, c.Key)
		}
	}
	return out
}

func (s *memSink) callTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.calls...)
}

type permanentErr struct{}

func (permanentErr) Error() string   { return "HTTP 400: bad batch" }
func (permanentErr) Permanent() bool { return true }

// memPoison is an in-memory PoisonSink.
type memPoison struct {
	mu  sync.Mutex
	got []pipeline.Poisoned
}

func (p *memPoison) Put(_ context.Context, m pipeline.Poisoned) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, m)
	return nil
}
func (p *memPoison) Close() error { return nil }
func (p *memPoison) all() []pipeline.Poisoned {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]pipeline.Poisoned(nil), p.got...)
}

// chanSub is a subscriber whose messages the test sends one by one, so it
// can watch Ack and Nack.
type chanSub struct {
	ch   chan *message.Message
	once sync.Once
}

func newChanSub() *chanSub { return &chanSub{ch: make(chan *message.Message)} }
func (s *chanSub) Subscribe(context.Context, string) (<-chan *message.Message, error) {
	return s.ch, nil
}
func (s *chanSub) Close() error { s.once.Do(func() { close(s.ch) }); return nil }

// record returns the D.2 payload of one synchronization replacing keys.
func record(t testing.TB, dataset string, syncCount int64, keys ...string) []byte {
	t.Helper()
	r := streamrecord.Record{IdentityPoolID: testPool, IdentityID: "us-east-1:ident", DatasetName: dataset,
		Operation: streamrecord.OpReplace, SyncCount: syncCount, LastModifiedDate: time.UnixMilli(1_700_000_000_000)}
	for _, k := range keys {
		v := "v-" + k
		r.Records = append(r.Records, streamrecord.SyncRecord{Key: k, Value: &v, SyncCount: syncCount, Op: streamrecord.OpReplace,
			LastModifiedDate: time.UnixMilli(1_700_000_000_000)})
	}
	b, err := streamrecord.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type harness struct {
	router *pipeline.Router
	reg    *prometheus.Registry
	poison *memPoison
	done   chan error
}

func startRouter(t *testing.T, c pipeline.RouterConfig) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry(), poison: &memPoison{}, done: make(chan error, 1)}
	c.Topic = "stream"
	c.Registerer = h.reg
	if c.Poison == nil {
		c.Poison = h.poison
	}
	if c.Backoff == (pipeline.Backoff{}) {
		c.Backoff = pipeline.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}
	}
	c.CloseTimeout = 5 * time.Second
	r, err := pipeline.NewRouter(c, watermill.NewSlogLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	h.router = r
	go func() { h.done <- r.Run(context.Background()) }()
	select {
	case <-r.Running():
	case <-time.After(5 * time.Second):
		t.Fatal("router did not start")
	}
	t.Cleanup(func() {
		r.Close()
		<-h.done
	})
	return h
}

func (h *harness) count(t *testing.T, route, sink, outcome string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != pipeline.MetricWorkerMessages {
			continue
		}
		for _, m := range mf.Metric {
			if labels(m)["route"] == route && labels(m)["sink"] == sink && labels(m)["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.Label {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// send hands msg to the subscriber and waits for Ack (true) or Nack.
func send(t *testing.T, sub *chanSub, payload []byte) (*message.Message, bool) {
	t.Helper()
	msg := message.NewMessage(watermill.NewUUID(), payload)
	select {
	case sub.ch <- msg:
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not take the message")
	}
	select {
	case <-msg.Acked():
		return msg, true
	case <-msg.Nacked():
		return msg, false
	case <-time.After(10 * time.Second):
		t.Fatal("message neither acked nor nacked")
	}
	return msg, false
}

func oneRoute(sub message.Subscriber, sinks ...*memSink) pipeline.RouterConfig {
	c := pipeline.RouterConfig{Sinks: map[string]pipeline.Sink{}, Subscriber: func(pipeline.Route) (message.Subscriber, error) { return sub, nil }}
	r := pipeline.Route{Name: "main"}
	for _, s := range sinks {
		c.Sinks[s.name] = s
		r.Sinks = append(r.Sinks, s.name)
	}
	c.Routes = []pipeline.Route{r}
	return c
}

func TestRouter_AcksAfterAllSinksAccepted(t *testing.T) {
	a := &memSink{name: "a"}
	b := &memSink{name: "b"}
	release := make(chan struct{})
	b.fail = func(attempt int) error {
		if attempt < 2 {
			return errors.New("connection refused")
		}
		<-release // the third attempt succeeds once the test has looked
		return nil
	}
	sub := newChanSub()
	h := startRouter(t, oneRoute(sub, a, b))

	msg := message.NewMessage(watermill.NewUUID(), record(t, "settings", 3, "theme", "lang"))
	sub.ch <- msg
	deadline := time.After(5 * time.Second)
	for len(b.callTimes()) < 3 {
		select {
		case <-msg.Acked():
			t.Fatal("acked before sink b accepted")
		case <-deadline:
			t.Fatal("sink b not retried")
		case <-time.After(time.Millisecond):
		}
	}
	select {
	case <-msg.Acked():
		t.Fatal("acked before sink b accepted")
	default:
	}
	close(release)
	select {
	case <-msg.Acked():
	case <-msg.Nacked():
		t.Fatal("nacked")
	case <-time.After(5 * time.Second):
		t.Fatal("not acked")
	}
	if got := a.keys(); strings.Join(got, ",") != "theme,lang" {
		t.Errorf("sink a got %v, want one write (not repeated while b was retried)", got)
	}
	if got := b.keys(); strings.Join(got, ",") != "theme,lang" {
		t.Errorf("sink b got %v", got)
	}
	for _, tc := range []struct {
		sink, outcome string
		want          float64
	}{{"a", pipeline.OutcomeOK, 1}, {"b", pipeline.OutcomeOK, 1}, {"b", pipeline.OutcomeError, 2}, {"a", pipeline.OutcomeError, 0}, {"a", pipeline.OutcomePoison, 0}} {
		if got := h.count(t, "main", tc.sink, tc.outcome); got != tc.want {
			t.Errorf("%s{route=main,sink=%s,outcome=%s} = %v, want %v", pipeline.MetricWorkerMessages, tc.sink, tc.outcome, got, tc.want)
		}
	}
}

func TestRouter_RetryBacksOffExponentially(t *testing.T) {
	s := &memSink{name: "s", fail: func(attempt int) error {
		if attempt < 4 {
			return errors.New("timeout")
		}
		return nil
	}}
	sub := newChanSub()
	c := oneRoute(sub, s)
	c.Backoff = pipeline.Backoff{Initial: 20 * time.Millisecond, Max: 80 * time.Millisecond}
	startRouter(t, c)
	if _, ok := send(t, sub, record(t, "settings", 1, "k")); !ok {
		t.Fatal("nacked")
	}
	calls := s.callTimes()
	if len(calls) != 5 {
		t.Fatalf("%d calls, want 5", len(calls))
	}
	// Retry n waits in [d/2, d], d = min(80ms, 20ms·2ⁿ).
	for i, d := range []time.Duration{20, 40, 80, 80} {
		d *= time.Millisecond
		if gap := calls[i+1].Sub(calls[i]); gap < d/2 {
			t.Errorf("wait before retry %d = %v, want at least %v", i+1, gap, d/2)
		}
	}
}

func TestRouter_UndecodableGoesToPoisonWithReason(t *testing.T) {
	s := &memSink{name: "s"}
	sub := newChanSub()
	h := startRouter(t, oneRoute(sub, s))
	for _, payload := range []string{"not json", `{"identityPoolId":"","kinesisSyncRecords":[]}`} {
		msg, ok := send(t, sub, []byte(payload))
		if !ok {
			t.Fatalf("%q: nacked, want acked after poisoning", payload)
		}
		got := h.poison.all()
		last := got[len(got)-1]
		if last.UUID != msg.UUID || last.Payload != payload || last.Route != "main" || !strings.HasPrefix(last.Reason, "undecodable: ") {
			t.Errorf("poisoned = %+v", last)
		}
	}
	if len(s.keys()) != 0 {
		t.Error("sink written")
	}
	if got := h.count(t, "main", "s", pipeline.OutcomePoison); got != 2 {
		t.Errorf("poison count = %v, want 2", got)
	}
}

func TestRouter_PermanentSinkErrorPoisonsForThatSinkOnly(t *testing.T) {
	ok := &memSink{name: "ok"}
	bad := &memSink{name: "bad", fail: func(int) error { return fmt.Errorf("webhook: %w", permanentErr{}) }}
	sub := newChanSub()
	h := startRouter(t, oneRoute(sub, bad, ok))
	if _, acked := send(t, sub, record(t, "settings", 2, "k")); !acked {
		t.Fatal("nacked")
	}
	if len(bad.callTimes()) != 1 {
		t.Errorf("permanent error retried: %d calls", len(bad.callTimes()))
	}
	if strings.Join(ok.keys(), ",") != "k" {
		t.Errorf("healthy sink got %v", ok.keys())
	}
	p := h.poison.all()
	if len(p) != 1 || p[0].Sink != "bad" || !strings.Contains(p[0].Reason, "HTTP 400") || len(p[0].Changes) != 1 {
		t.Fatalf("poisoned = %+v", p)
	}
	if h.count(t, "main", "bad", pipeline.OutcomePoison) != 1 || h.count(t, "main", "ok", pipeline.OutcomeOK) != 1 {
		t.Error("metrics by outcome wrong")
	}
}

func TestRouter_FiltersByRoute(t *testing.T) {
	s := &memSink{name: "s"}
	sub := newChanSub()
	c := oneRoute(sub, s)
	c.Routes[0].Datasets = []string{"settings"}
	c.Routes[0].Keys = []string{"score.*"}
	startRouter(t, c)
	if _, ok := send(t, sub, record(t, "profile", 1, "score.a")); !ok {
		t.Fatal("nacked")
	}
	if _, ok := send(t, sub, record(t, "settings", 2, "theme", "score.a", "score.b")); !ok {
		t.Fatal("nacked")
	}
	if got := strings.Join(s.keys(), ","); got != "score.a,score.b" {
		t.Fatalf("sink got %s", got)
	}
}

func TestRouter_CloseWhileRetryingNacks(t *testing.T) {
	s := &memSink{name: "s", fail: func(int) error { return errors.New("down") }}
	sub := newChanSub()
	c := oneRoute(sub, s)
	c.Backoff = pipeline.Backoff{Initial: time.Hour, Max: time.Hour}
	h := startRouter(t, c)
	msg := message.NewMessage(watermill.NewUUID(), record(t, "settings", 1, "k"))
	sub.ch <- msg
	waitFor(t, func() bool { return len(s.callTimes()) > 0 })
	if !h.router.Waiting("main", "") {
		t.Error("Waiting = false while the message is stuck")
	}
	start := time.Now()
	if err := h.router.Close(); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("Close took %v", time.Since(start))
	}
	select {
	case <-msg.Nacked():
	case <-msg.Acked():
		t.Fatal("acked a message no sink accepted")
	case <-time.After(time.Second):
		t.Fatal("not nacked")
	}
}

// TestRouter_DownSinkStallsOnlyItsRoute runs two routes on watermill's
// gochannel pub/sub, each its own subscription: while route "slow"'s sink is
// down, route "fast" delivers everything; when the sink is back, "slow"
// catches up without loss.
func TestRouter_DownSinkStallsOnlyItsRoute(t *testing.T) {
	pubsub := gochannel.NewGoChannel(gochannel.Config{}, watermill.NopLogger{})
	fast := &memSink{name: "fast"}
	slow := &memSink{name: "slow", fail: func(int) error { return errors.New("connection refused") }}
	c := pipeline.RouterConfig{
		Sinks:      map[string]pipeline.Sink{"fast": fast, "slow": slow},
		Routes:     []pipeline.Route{{Name: "fast", Sinks: []string{"fast"}}, {Name: "slow", Sinks: []string{"slow"}}},
		Subscriber: func(pipeline.Route) (message.Subscriber, error) { return pubsub, nil },
	}
	h := startRouter(t, c)
	const n = 20
	want := map[string]bool{}
	for i := range n {
		k := fmt.Sprintf("k%02d", i)
		want[k] = true
		if err := pubsub.Publish("stream", message.NewMessage(watermill.NewUUID(), record(t, "settings", int64(i+1), k))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return len(fast.keys()) == n })
	if len(slow.keys()) != 0 {
		t.Fatal("down sink accepted writes")
	}
	if h.count(t, "slow", "slow", pipeline.OutcomeError) == 0 {
		t.Error("no error outcome counted for the down sink")
	}
	slow.setFail(nil) // the sink is back
	waitFor(t, func() bool { return len(slow.keys()) >= n })
	got := map[string]bool{}
	for _, k := range slow.keys() {
		got[k] = true
	}
	for k := range want {
		if !got[k] {
			t.Errorf("route slow lost %s", k)
		}
	}
	if h.count(t, "fast", "fast", pipeline.OutcomeOK) != n {
		t.Errorf("fast ok = %v", h.count(t, "fast", "fast", pipeline.OutcomeOK))
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRouterConfig_Validate(t *testing.T) {
	_, err := pipeline.NewRouter(pipeline.RouterConfig{
		Routes: []pipeline.Route{{Name: "r", Sinks: []string{"missing"}}},
	}, nil)
	for _, want := range []string{"Topic is required", `unknown sink "missing"`, "Subscriber is required", "Poison is required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
}

func TestPoisonFile(t *testing.T) {
	p, err := pipeline.NewPoisonFile(t.TempDir() + "/poison/poison.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Put(t.Context(), pipeline.Poisoned{Route: "r", Reason: "undecodable: x", Payload: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Put(t.Context(), pipeline.Poisoned{}); err == nil {
		t.Fatal("Put after Close succeeded")
	}
}

// deletionSink is a memSink that applies dataset deletions.
type deletionSink struct{ memSink }

func (*deletionSink) AppliesDatasetDeletions() bool { return true }

// TestRouter_DatasetDeletionOnlyToSinksThatApplyIt: a DeleteDataset stream
// record (remove, no records) reaches a DatasetDeletionSink as one change,
// with the dataset's count and time, whatever the route's key patterns; the
// other sinks never see it.
func TestRouter_DatasetDeletionOnlyToSinksThatApplyIt(t *testing.T) {
	plain := &memSink{name: "plain"}
	del := &deletionSink{memSink{name: "del"}}
	sub := newChanSub()
	c := oneRoute(sub, plain)
	c.Sinks["del"] = del
	c.Routes[0].Sinks = append(c.Routes[0].Sinks, "del")
	c.Routes[0].Keys = []string{"score.*"}
	startRouter(t, c)

	deleted, err := streamrecord.Encode(streamrecord.Record{IdentityPoolID: testPool, IdentityID: "us-east-1:ident", DatasetName: "settings",
		Operation: streamrecord.OpRemove, Records: []streamrecord.SyncRecord{}, SyncCount: 7, LastModifiedDate: time.UnixMilli(1_700_000_000_123)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][]byte{record(t, "settings", 6, "score.a", "theme"), deleted} {
		if _, ok := send(t, sub, p); !ok {
			t.Fatal("nacked")
		}
	}
	if got := strings.Join(plain.keys(), ","); got != "score.a" {
		t.Fatalf("plain sink got %q", got)
	}
	del.mu.Lock()
	defer del.mu.Unlock()
	if len(del.batches) != 2 || len(del.batches[1]) != 1 {
		t.Fatalf("deletion sink got %+v", del.batches)
	}
	d := del.batches[1][0]
	if !d.DatasetDeleted || d.Key != "" || d.Op != pipeline.OpRemove || d.DatasetSyncCount != 7 ||
		d.DatasetName != "settings" || !d.LastModified.Equal(time.UnixMilli(1_700_000_000_123)) {
		t.Fatalf("deletion change %+v", d)
	}
}
