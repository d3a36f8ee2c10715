package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/cognitosync/cognitosync/internal/metricnames"
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
		if mf.GetName() != metricnames.MetricWorkerMessages {
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
			t.Errorf("%s{route=main,sink=%s,outcome=%s} = %v, want %v", metricnames.MetricWorkerMessages, tc.sink, tc.outcome, got, tc.want)
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
	// the routes run side by side: the down sink's failure is counted
	// whenever its batch was tried
	waitFor(t, func() bool { return h.count(t, "slow", "slow", pipeline.OutcomeError) > 0 })
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

// bufSub is a subscriber with a buffered channel the test fills up front.
func bufSub(n int) *chanSub { return &chanSub{ch: make(chan *message.Message, n)} }

func push(t *testing.T, sub *chanSub, payloads ...[]byte) []*message.Message {
	t.Helper()
	var out []*message.Message
	for _, p := range payloads {
		m := message.NewMessage(watermill.NewUUID(), p)
		sub.ch <- m
		out = append(out, m)
	}
	return out
}

func waitAcked(t *testing.T, msgs ...*message.Message) {
	t.Helper()
	for _, m := range msgs {
		select {
		case <-m.Acked():
		case <-m.Nacked():
			t.Fatalf("message %s nacked", m.Payload)
		case <-time.After(10 * time.Second):
			t.Fatalf("message %s not acked", m.Payload)
		}
	}
}

// TestRouter_BatchesInOrder: messages waiting in the subscription are
// written as batches of BatchSize changes, one Write per batch, in
// subscription order, and acknowledged after it.
func TestRouter_BatchesInOrder(t *testing.T) {
	s := &memSink{name: "s"}
	sub := bufSub(10)
	var payloads [][]byte
	for i := range 10 {
		payloads = append(payloads, record(t, "settings", int64(i+1), fmt.Sprintf("k%d", i)))
	}
	msgs := push(t, sub, payloads...)
	c := oneRoute(sub, s)
	c.BatchSize, c.BatchLinger = 5, time.Hour
	h := startRouter(t, c)
	waitAcked(t, msgs...)
	if len(s.batches) != 2 || len(s.batches[0]) != 5 || len(s.batches[1]) != 5 {
		t.Fatalf("batches %v, want two of 5", s.batches)
	}
	if got := strings.Join(s.keys(), ","); got != "k0,k1,k2,k3,k4,k5,k6,k7,k8,k9" {
		t.Errorf("order %s", got)
	}
	if got := h.count(t, "main", "s", pipeline.OutcomeOK); got != 10 {
		t.Errorf("ok messages = %v, want 10", got)
	}
	if got := histogramCount(t, h, metricnames.MetricWorkerBatchChanges); got != 2 {
		t.Errorf("%s count = %v, want 2 batches", metricnames.MetricWorkerBatchChanges, got)
	}
	if got := histogramCount(t, h, metricnames.MetricWorkerBatchDuration); got != 2 {
		t.Errorf("%s count = %v, want 2 batches", metricnames.MetricWorkerBatchDuration, got)
	}
}

func histogramCount(t *testing.T, h *harness, name string) uint64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var n uint64
			for _, m := range mf.Metric {
				n += m.GetHistogram().GetSampleCount()
			}
			return n
		}
	}
	return 0
}

// TestRouter_PoisonChangeSplitOut: a sink that refuses any batch holding
// one bad change permanently gets the batch split until the bad change is
// alone: every other change lands, only the bad one is poisoned, and every
// message is acknowledged.
func TestRouter_PoisonChangeSplitOut(t *testing.T) {
	s := &memSink{name: "s"}
	s.fail = func(int) error { return nil }
	refuse := func(batch []pipeline.Change) error {
		for _, c := range batch {
			if c.Key == "bad" {
				return fmt.Errorf("webhook: %w", permanentErr{})
			}
		}
		return nil
	}
	w := &filterSink{memSink: s, refuse: refuse}
	sub := bufSub(8)
	var payloads [][]byte
	for i := range 8 {
		k := fmt.Sprintf("k%d", i)
		if i == 5 {
			k = "bad"
		}
		payloads = append(payloads, record(t, "settings", int64(i+1), k))
	}
	msgs := push(t, sub, payloads...)
	c := pipeline.RouterConfig{Sinks: map[string]pipeline.Sink{"s": w}, Subscriber: func(pipeline.Route) (message.Subscriber, error) { return sub, nil },
		Routes: []pipeline.Route{{Name: "main", Sinks: []string{"s"}}}, BatchSize: 8, BatchLinger: time.Hour}
	h := startRouter(t, c)
	waitAcked(t, msgs...)
	if got := strings.Join(s.keys(), ","); got != "k0,k1,k2,k3,k4,k6,k7" {
		t.Errorf("landed %s, want every change but the bad one, in order", got)
	}
	p := h.poison.all()
	if len(p) != 1 || len(p[0].Changes) != 1 || p[0].Changes[0].Key != "bad" || p[0].UUID != msgs[5].UUID {
		t.Fatalf("poisoned %+v, want the bad change with its message", p)
	}
	if h.count(t, "main", "s", pipeline.OutcomePoison) != 1 || h.count(t, "main", "s", pipeline.OutcomeOK) != 7 {
		t.Errorf("outcomes ok=%v poison=%v, want 7 and 1", h.count(t, "main", "s", pipeline.OutcomeOK), h.count(t, "main", "s", pipeline.OutcomePoison))
	}
}

// filterSink refuses the batches refuse returns an error for.
type filterSink struct {
	*memSink
	refuse func([]pipeline.Change) error
}

func (f *filterSink) Write(ctx context.Context, batch []pipeline.Change) error {
	if err := f.refuse(batch); err != nil {
		return err
	}
	return f.memSink.Write(ctx, batch)
}

// TestRouter_CloseDrainsInFlight: Close lets the batch being written
// finish and writes the batch collected meanwhile, then acknowledges both;
// nothing is left unacknowledged.
func TestRouter_CloseDrainsInFlight(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	s := &memSink{name: "s", fail: func(int) error {
		started <- struct{}{}
		<-release
		return nil
	}}
	sub := bufSub(4)
	c := oneRoute(sub, s)
	c.BatchSize, c.BatchLinger = 2, time.Hour
	h := startRouter(t, c)
	first := push(t, sub, record(t, "settings", 1, "a"), record(t, "settings", 2, "b"))
	<-started // the first batch is being written
	second := push(t, sub, record(t, "settings", 3, "c"))
	waitFor(t, func() bool { return h.router.Waiting("main", "") && len(sub.ch) == 0 })
	closed := make(chan error, 1)
	go func() { closed <- h.router.Close() }()
	close(release)
	waitAcked(t, append(first, second...)...)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.keys(), ","); got != "a,b,c" {
		t.Errorf("written %s, want a,b,c", got)
	}
}
