package pipeline

import (
	"context"
	"errors"
	"fmt"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"github.com/cognitosync/cognitosync/internal/promreg"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/internal/retry"
)

// Backoff is a capped exponential backoff with jitter, the one of the
// whole tree: retry n waits a random duration in [d/2, d],
// d = min(Max, Initial·2ⁿ). Zero fields take the defaults of the config
// that holds it (the router's: 100 ms and 30 s).
type Backoff = retry.Backoff

// RouterConfig configures a Router.
type RouterConfig struct {
	// Topic is the stream every route reads (the Kinesis stream name, or the
	// embedded stream's topic). Required.
	Topic string
	// Routes are the route table. Required; names unique.
	Routes []Route
	// Sinks holds every sink a route names, by name. The Router does not
	// close them: their owner (main) does, after the Router stopped.
	Sinks map[string]Sink
	// Subscriber returns the subscriber of one route. It is called once per
	// route: each route is its own consumer, with its own position in the
	// stream (in Kinesis mode: its own consumer group, so its own
	// checkpoints), so a route whose sink is down stalls alone and the
	// others go on. Required.
	Subscriber func(Route) (message.Subscriber, error)
	// Poison keeps messages that cannot be decoded or that a sink refused
	// permanently. Required.
	Poison PoisonSink
	// Decoder turns a payload into changes. nil: StreamRecordDecoder(nil).
	Decoder Decoder
	// Backoff paces retries of a failing sink (forever: a sink that is
	// down stalls its route until it is back) and of Transient decode
	// errors.
	Backoff Backoff
	// DecodeAttempts bounds the attempts of a Transient decode error before
	// the message is poisoned. 0: 5.
	DecodeAttempts int
	// ShardKey is the metadata key naming the shard a message came from
	// (stream.MetadataShardID, which every stream adapter sets); Waiting
	// reports by it. "": all messages count as one shard "".
	ShardKey string
	// BatchSize is the number of changes a batch collects before it is
	// handed to the sinks. 0: 1000.
	BatchSize int
	// BatchLinger is how long a batch that is not full waits for more
	// messages after its first one; while the sinks still write the
	// previous batch, the next keeps collecting regardless. 0: 10 ms;
	// negative: hand a batch over as soon as the sinks are free.
	BatchLinger time.Duration
	// CloseTimeout bounds the drain when the router stops: the batch being
	// written and the one collected are written (a batch whose sink is
	// failing is given up at once, not retried) for up to CloseTimeout,
	// then the rest is left unacknowledged for the next run. 0: 30 s.
	CloseTimeout time.Duration
	// Registerer receives the router metrics; nil: none.
	Registerer prometheus.Registerer
	// Now is the clock of poison records; nil: time.Now.
	Now func() time.Time
}

func (c *RouterConfig) setDefaults() {
	if c.Decoder == nil {
		c.Decoder = StreamRecordDecoder(nil)
	}
	if c.DecodeAttempts <= 0 {
		c.DecodeAttempts = 5
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = 30 * time.Second
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	if c.BatchLinger == 0 {
		c.BatchLinger = 10 * time.Millisecond
	}
	c.Backoff = c.Backoff.WithDefaults(100*time.Millisecond, 30*time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports missing fields, an invalid route table and routes naming
// unknown sinks.
func (c RouterConfig) Validate() error {
	var errs []error
	if c.Topic == "" {
		errs = append(errs, errors.New("router: Topic is required"))
	}
	if err := (RouteTable{Routes: c.Routes}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("router: %w", err))
	}
	for _, r := range c.Routes {
		for _, s := range r.Sinks {
			if c.Sinks[s] == nil {
				errs = append(errs, fmt.Errorf("router: route %q names unknown sink %q", r.Name, s))
			}
		}
	}
	if c.Subscriber == nil {
		errs = append(errs, errors.New("router: Subscriber is required"))
	}
	if c.Poison == nil {
		errs = append(errs, errors.New("router: Poison is required"))
	}
	return errors.Join(errs...)
}

// Router delivers stream messages to routes and their sinks in batches,
// one consumer (and one subscription) per route.
//
// A route's decoder takes the subscription's messages in the order the
// subscriber sends them (each shard in order), decodes each and keeps the
// changes the route matches; its collector appends them to the current
// batch. The
// batch is handed to the route's writer when it holds BatchSize changes,
// or BatchLinger after its first message; while the writer is busy the next
// batch keeps collecting, so batches grow with the load. The writer writes
// a batch to each of the route's sinks in order, one Sink.Write per sink
// (one transaction, one fsync, one request), and acknowledges every message
// of the batch only when every sink accepted it: nothing is acknowledged
// before it is durable. A transient sink error retries the whole batch with
// Backoff, forever, skipping the sinks that already accepted it: the route
// (and only it) stalls and resumes without loss when the sink is back. A
// batch a sink refuses permanently is split in halves, down to single
// changes, so that the rest lands and only the poison change goes to the
// poison sink (with its message). Messages with no matching change are
// acknowledged at once; undecodable ones go to the poison sink with the
// reason. Per-key order holds: changes reach a sink in subscription order.
// Safe for concurrent use; Run once, Close once or more.
type Router struct {
	c       RouterConfig
	log     watermill.LoggerAdapter
	metrics *routerMetrics
	subs    []message.Subscriber // per route, in route order

	closing     context.Context // done once Close was called
	markClosing context.CancelFunc
	running     chan struct{}
	done        chan struct{}
	started     sync.Once
	runStarted  chan struct{}

	mu       sync.Mutex
	inflight map[routeShard]int
}

type routeShard struct{ route, shard string }

// NewRouter builds the router and the subscriber of each route. A nil
// logger logs nothing.
func NewRouter(c RouterConfig, log watermill.LoggerAdapter) (*Router, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = watermill.NopLogger{}
	}
	m, err := newRouterMetrics(c.Registerer)
	if err != nil {
		return nil, fmt.Errorf("router: metrics: %w", err)
	}
	r := &Router{c: c, log: log, metrics: m, inflight: map[routeShard]int{},
		running: make(chan struct{}), done: make(chan struct{}), runStarted: make(chan struct{})}
	r.closing, r.markClosing = context.WithCancel(context.Background())
	for _, rt := range c.Routes {
		sub, err := c.Subscriber(rt)
		if err != nil {
			return nil, fmt.Errorf("router: subscriber of route %q: %w", rt.Name, err)
		}
		r.subs = append(r.subs, sub)
		for _, s := range rt.Sinks { // series exist at 0 before the first message
			for _, o := range []string{OutcomeOK, OutcomeError, OutcomePoison} {
				m.messages(rt.Name, s, o)
			}
		}
	}
	return r, nil
}

// Run subscribes every route and delivers until ctx ends, Close is called,
// or every route's subscription ended (then it returns nil). Stopping, it
// drains (see CloseTimeout), ends the subscriptions (their subscribers save
// the acknowledged positions) and closes the subscribers.
func (r *Router) Run(ctx context.Context) error {
	first := false
	r.started.Do(func() { first = true; close(r.runStarted) })
	if !first {
		return errors.New("router: Run called twice")
	}
	defer close(r.done)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.closing, cancel)
	defer stop()
	// Subscriptions outlive runCtx: the drain still acknowledges.
	subCtx, endSubs := context.WithCancel(context.WithoutCancel(ctx))
	defer r.closeSubscribers()
	defer endSubs()

	ins := make([]<-chan *message.Message, len(r.c.Routes))
	for i, rt := range r.c.Routes {
		in, err := r.subs[i].Subscribe(subCtx, r.c.Topic)
		if err != nil {
			return fmt.Errorf("router: subscribe route %q: %w", rt.Name, err)
		}
		ins[i] = in
	}
	close(r.running)
	var wg sync.WaitGroup
	for i, rt := range r.c.Routes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runRoute(runCtx, rt, ins[i])
		}()
	}
	wg.Wait()
	return nil
}

func (r *Router) closeSubscribers() {
	var closed []message.Subscriber
	for _, s := range r.subs {
		if slices.Contains(closed, s) { // routes may share one
			continue
		}
		closed = append(closed, s)
		if err := s.Close(); err != nil {
			r.log.Error("router: close subscriber", err, nil)
		}
	}
}

// Running is closed once every route is subscribed.
func (r *Router) Running() chan struct{} { return r.running }

// Close stops the router: collecting stops, the batches in hand are written
// for up to CloseTimeout (a batch whose sink is failing is given up at once
// and its messages Nacked: they are delivered again after restart), and
// Close waits for Run to return. Idempotent.
func (r *Router) Close() error {
	r.markClosing()
	select {
	case <-r.runStarted:
	default:
		r.started.Do(func() { close(r.runStarted); close(r.done); r.closeSubscribers() })
	}
	select {
	case <-r.done:
		return nil
	case <-time.After(r.c.CloseTimeout + 5*time.Second):
		return fmt.Errorf("router: not stopped within %v", r.c.CloseTimeout)
	}
}

// Waiting reports whether a message of the route from the shard is being
// handled (delivered and not yet acknowledged): records wait behind it.
func (r *Router) Waiting(route, shard string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inflight[routeShard{route, shard}] > 0
}

func (r *Router) track(k routeShard, d int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight[k] += d
	if r.inflight[k] <= 0 {
		delete(r.inflight, k)
	}
}

func (r *Router) shardOf(rt Route, msg *message.Message) routeShard {
	k := routeShard{rt.Name, ""}
	if r.c.ShardKey != "" {
		k.shard = msg.Metadata.Get(r.c.ShardKey)
	}
	return k
}

// batch is what a route hands its sinks at once.
type batch struct {
	msgs    []*message.Message
	changes []Change
	from    []int // index in msgs of each change's message
	first   time.Time
}

// settle Acks (or Nacks) every message of b.
func (r *Router) settle(rt Route, b *batch, ack bool) {
	for _, m := range b.msgs {
		if ack {
			m.Ack()
		} else {
			m.Nack()
		}
		r.track(r.shardOf(rt, m), -1)
	}
}

// runRoute is one route's collector; its writer runs beside it. It
// returns when runCtx ends (after the drain) or the subscription closed.
func (r *Router) runRoute(runCtx context.Context, rt Route, in <-chan *message.Message) {
	// wctx bounds sink and poison writes: CloseTimeout after the stop.
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	drain := context.AfterFunc(runCtx, func() {
		t := time.AfterFunc(r.c.CloseTimeout, wcancel)
		context.AfterFunc(wctx, func() { t.Stop() })
	})
	defer drain()

	handoff := make(chan *batch)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for b := range handoff {
			r.write(runCtx, wctx, rt, b)
		}
	}()
	defer func() {
		close(handoff)
		<-writerDone
	}()

	// Decoding runs beside collecting (in subscription order), so that
	// decoding, collecting and writing use separate cores.
	decoded := make(chan decodedMsg, 64)
	go func() {
		defer close(decoded)
		for {
			var msg *message.Message
			var ok bool
			select {
			case msg, ok = <-in:
				if !ok {
					return
				}
			case <-runCtx.Done():
				return
			}
			changes, keep := r.accept(runCtx, wctx, rt, msg)
			if !keep {
				continue
			}
			// The collector reads decoded until it is closed, also while
			// it drains: a message taken is written, never dropped here.
			decoded <- decodedMsg{msg, changes}
		}
	}()

	var cur *batch
	var lingerT *time.Timer
	var lingered bool
	defer func() {
		if lingerT != nil {
			lingerT.Stop()
		}
	}()
	for {
		var out chan<- *batch
		full := cur != nil && len(cur.changes) >= r.c.BatchSize
		if cur != nil && (full || lingered || r.c.BatchLinger < 0) {
			out = handoff
		}
		recv := decoded
		if full {
			recv = nil
		}
		var linger <-chan time.Time
		if lingerT != nil && !lingered {
			linger = lingerT.C
		}
		select {
		case d, ok := <-recv:
			if !ok { // the subscription ended: hand over what is left
				if cur != nil {
					r.handOver(wctx, rt, handoff, cur)
				}
				return
			}
			if cur == nil {
				cur = &batch{first: time.Now()}
				lingered = false
				if r.c.BatchLinger > 0 {
					lingerT = time.NewTimer(r.c.BatchLinger)
				}
			}
			cur.add(d)
		case out <- cur:
			cur = nil
			if lingerT != nil {
				lingerT.Stop()
				lingerT = nil
			}
		case <-linger:
			lingered = true
		case <-runCtx.Done():
			// What was decoded is written in the drain too.
			for d := range decoded {
				if cur == nil {
					cur = &batch{first: time.Now()}
				}
				cur.add(d)
			}
			if cur != nil {
				r.handOver(wctx, rt, handoff, cur)
			}
			return
		}
	}
}

// decodedMsg is a message with the route's changes of it.
type decodedMsg struct {
	msg     *message.Message
	changes []Change
}

func (b *batch) add(d decodedMsg) {
	b.msgs = append(b.msgs, d.msg)
	for _, c := range d.changes {
		b.changes = append(b.changes, c)
		b.from = append(b.from, len(b.msgs)-1)
	}
}

// handOver gives b to the writer during the drain, or Nacks it when the
// drain's time is up first.
func (r *Router) handOver(wctx context.Context, rt Route, handoff chan<- *batch, b *batch) {
	select {
	case handoff <- b:
	case <-wctx.Done():
		r.settle(rt, b, false)
	}
}

// accept decodes msg. It returns the route's changes of it and true when
// they go into the batch; otherwise msg was already settled: Acked when no
// change matches or it went to the poison sink, Nacked when the router
// stopped first.
func (r *Router) accept(runCtx, wctx context.Context, rt Route, msg *message.Message) ([]Change, bool) {
	k := r.shardOf(rt, msg)
	r.track(k, 1)
	fields := watermill.LogFields{"route": rt.Name, "message_uuid": msg.UUID}
	changes, err := r.decode(runCtx, msg, fields)
	if runCtx.Err() != nil && err != nil {
		msg.Nack()
		r.track(k, -1)
		return nil, false
	}
	if err != nil {
		r.log.Error("undecodable message, moving it to the poison sink", err, fields)
		if perr := r.poison(wctx, Poisoned{Route: rt.Name, Reason: "undecodable: " + err.Error()}, msg, fields); perr != nil {
			msg.Nack()
			r.track(k, -1)
			return nil, false
		}
		for _, s := range rt.Sinks {
			r.metrics.messages(rt.Name, s, OutcomePoison).Inc()
		}
		msg.Ack()
		r.track(k, -1)
		return nil, false
	}
	matched := rt.Filter(changes)
	if len(matched) == 0 {
		r.log.Trace("no change of the message matches the route", fields)
		msg.Ack()
		r.track(k, -1)
		return nil, false
	}
	return matched, true
}

// decode runs the Decoder, retrying Transient errors.
func (r *Router) decode(ctx context.Context, msg *message.Message, fields watermill.LogFields) ([]Change, error) {
	backoff := r.c.Backoff.New()
	for attempt := 0; ; attempt++ {
		changes, err := r.c.Decoder(ctx, msg.Payload)
		if err == nil || !IsTransient(err) || attempt+1 >= r.c.DecodeAttempts || ctx.Err() != nil {
			return changes, err
		}
		r.log.Info("decoding failed, retrying", fields.Add(watermill.LogFields{"err": err, "attempt": attempt + 1}))
		if err := retry.Sleep(ctx, backoff.NextBackOff()); err != nil {
			return nil, err
		}
	}
}

// write writes b to every sink of the route and settles its messages:
// Acked once every sink accepted b (or refused a part permanently and the
// part went to the poison sink), Nacked when the router stopped first.
func (r *Router) write(runCtx, wctx context.Context, rt Route, b *batch) {
	fields := watermill.LogFields{"route": rt.Name, "batch_changes": len(b.changes), "batch_messages": len(b.msgs)}
	all := make([]int, len(b.changes))
	for i := range all {
		all[i] = i
	}
	for _, name := range rt.Sinks {
		poisoned := map[int]bool{}
		if !r.writeSink(runCtx, wctx, rt, name, b, all, poisoned, fields.Add(watermill.LogFields{"sink": name})) {
			r.settle(rt, b, false)
			return
		}
		r.metrics.messages(rt.Name, name, OutcomeOK).Add(float64(len(b.msgs) - len(poisoned)))
		r.metrics.messages(rt.Name, name, OutcomePoison).Add(float64(len(poisoned)))
	}
	r.metrics.batchSize.WithLabelValues(rt.Name).Observe(float64(len(b.changes)))
	r.metrics.batchLatency.WithLabelValues(rt.Name).Observe(time.Since(b.first).Seconds())
	r.settle(rt, b, true)
}

// writeSink writes the changes idx of b to the sink until it accepts them,
// retrying transient errors with backoff and splitting a permanently
// refused set until the refused change is alone, which goes to the poison
// sink (its message's index into poisoned). It returns false when the
// router stopped first (a failing write is not retried during the drain).
func (r *Router) writeSink(runCtx, wctx context.Context, rt Route, name string, b *batch, idx []int, poisoned map[int]bool, fields watermill.LogFields) bool {
	changes := make([]Change, len(idx))
	msgs := map[int]bool{}
	for i, j := range idx {
		changes[i] = b.changes[j]
		msgs[b.from[j]] = true
	}
	backoff := r.c.Backoff.New()
	for attempt := 0; ; attempt++ {
		err := r.c.Sinks[name].Write(wctx, changes)
		switch {
		case err == nil:
			return true
		case wctx.Err() != nil:
			return false
		case IsPermanent(err) && len(idx) > 1:
			r.log.Info("sink refused a batch permanently, splitting it to find the change it refuses",
				fields.Add(watermill.LogFields{"err": err, "changes": len(idx)}))
			mid := len(idx) / 2
			return r.writeSink(runCtx, wctx, rt, name, b, idx[:mid], poisoned, fields) &&
				r.writeSink(runCtx, wctx, rt, name, b, idx[mid:], poisoned, fields)
		case IsPermanent(err):
			m := b.from[idx[0]]
			r.log.Error("sink refused a change permanently, moving it to the poison sink", err, fields)
			if perr := r.poison(wctx, Poisoned{Route: rt.Name, Sink: name, Reason: err.Error(), Changes: changes}, b.msgs[m], fields); perr != nil {
				return false
			}
			poisoned[m] = true
			return true
		}
		r.metrics.messages(rt.Name, name, OutcomeError).Add(float64(len(msgs)))
		r.log.Error("sink write failed, retrying; the route waits", err, fields.Add(watermill.LogFields{"attempt": attempt + 1}))
		if runCtx.Err() != nil || retry.Sleep(runCtx, backoff.NextBackOff()) != nil {
			return false
		}
	}
}

// poison stores p until it is durable, retrying with backoff; an error only
// when ctx ended first.
func (r *Router) poison(ctx context.Context, p Poisoned, msg *message.Message, fields watermill.LogFields) error {
	p.Time = r.c.Now().UTC()
	p.UUID = msg.UUID
	p.Payload = string(msg.Payload)
	if len(msg.Metadata) > 0 {
		p.Metadata = make(map[string]string, len(msg.Metadata))
		for k, v := range msg.Metadata {
			p.Metadata[k] = v
		}
	}
	backoff := r.c.Backoff.New()
	for {
		err := r.c.Poison.Put(ctx, p)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.log.Error("poison sink failed, retrying; the route waits", err, fields)
		if retry.Sleep(ctx, backoff.NextBackOff()) != nil {
			return ctx.Err()
		}
	}
}

// routerMetrics are the router's series of the metric contract.
type routerMetrics struct {
	msgs         *prometheus.CounterVec
	batchSize    *prometheus.HistogramVec
	batchLatency *prometheus.HistogramVec
}

func newRouterMetrics(reg prometheus.Registerer) (*routerMetrics, error) {
	m := &routerMetrics{
		msgs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricnames.MetricWorkerMessages,
			Help: "Stream messages handled by route, sink and outcome (ok: accepted; error: write failed, retried; poison: moved to the poison sink).",
		}, []string{"route", "sink", "outcome"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    metricnames.MetricWorkerBatchChanges,
			Help:    "Changes per batch a route wrote to its sinks.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9), // 1 … 65536
		}, []string{"route"}),
		batchLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    metricnames.MetricWorkerBatchDuration,
			Help:    "Seconds from a batch's first message to its acknowledgement (collecting, every sink's write, retries).",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.msgs, err = promreg.Register(reg, m.msgs); err != nil {
		return nil, err
	}
	if m.batchSize, err = promreg.Register(reg, m.batchSize); err != nil {
		return nil, err
	}
	if m.batchLatency, err = promreg.Register(reg, m.batchLatency); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *routerMetrics) messages(route, sink, outcome string) prometheus.Counter {
	return m.msgs.WithLabelValues(route, sink, outcome)
}
