package pipeline

import (
	"context"
	"errors"
	"fmt"
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
	// CloseTimeout bounds how long Close waits for handlers. 0: 30 s.
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

// Router delivers stream messages to routes and their sinks through a
// Watermill message.Router, one handler (and one subscription) per route.
//
// For each message a route's handler decodes the payload, keeps the changes
// the route matches and writes them to each of the route's sinks in order.
// It acknowledges the message (so the subscriber may checkpoint it) only when
// every sink accepted the batch, or refused it permanently and the refusal
// went to the poison sink. A transient sink error is retried with Backoff,
// forever, skipping the sinks that already accepted: the message stays
// unacknowledged, the route (and only it) stalls, and it resumes without loss
// when the sink is back. Undecodable payloads go to the poison sink with the
// reason. Safe for concurrent use; Run once, Close once or more.
type Router struct {
	c       RouterConfig
	log     watermill.LoggerAdapter
	wm      *message.Router
	metrics *routerMetrics

	closing     context.Context // done once Close was called
	markClosing context.CancelFunc

	mu       sync.Mutex
	inflight map[routeShard]int
}

type routeShard struct{ route, shard string }

// NewRouter builds the Watermill router with one handler per route. A nil
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
	wm, err := message.NewRouter(message.RouterConfig{CloseTimeout: c.CloseTimeout}, log)
	if err != nil {
		return nil, err
	}
	r := &Router{c: c, log: log, wm: wm, metrics: m, inflight: map[routeShard]int{}}
	r.closing, r.markClosing = context.WithCancel(context.Background())
	for _, rt := range c.Routes {
		sub, err := c.Subscriber(rt)
		if err != nil {
			return nil, fmt.Errorf("router: subscriber of route %q: %w", rt.Name, err)
		}
		wm.AddConsumerHandler("route/"+rt.Name, c.Topic, sub, r.handler(rt))
		for _, s := range rt.Sinks { // series exist at 0 before the first message
			for _, o := range []string{OutcomeOK, OutcomeError, OutcomePoison} {
				m.messages(rt.Name, s, o)
			}
		}
	}
	return r, nil
}

// Run runs the handlers until ctx ends or Close; it closes the router when
// ctx ends.
func (r *Router) Run(ctx context.Context) error { return r.wm.Run(ctx) }

// Running is closed once every handler is subscribed.
func (r *Router) Running() chan struct{} { return r.wm.Running() }

// Close stops the handlers (a handler waiting to retry gives up and nacks:
// the message is redelivered after restart), closes the subscribers and
// waits up to CloseTimeout. Idempotent.
func (r *Router) Close() error {
	r.markClosing()
	return r.wm.Close()
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

// handler is the route's Watermill handler. It returns nil (ack) or an error
// (nack, redelivered) only when the router is closing.
func (r *Router) handler(rt Route) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		k := routeShard{rt.Name, ""}
		if r.c.ShardKey != "" {
			k.shard = msg.Metadata.Get(r.c.ShardKey)
		}
		r.track(k, 1)
		defer r.track(k, -1)

		ctx, cancel := context.WithCancel(msg.Context())
		defer cancel()
		stop := context.AfterFunc(r.closing, cancel)
		defer stop()

		fields := watermill.LogFields{"route": rt.Name, "message_uuid": msg.UUID}
		changes, err := r.decode(ctx, msg, fields)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			r.log.Error("undecodable message, moving it to the poison sink", err, fields)
			if err := r.poison(ctx, Poisoned{Route: rt.Name, Reason: "undecodable: " + err.Error()}, msg, fields); err != nil {
				return err
			}
			for _, s := range rt.Sinks {
				r.metrics.messages(rt.Name, s, OutcomePoison).Inc()
			}
			return nil
		}
		batch := rt.Filter(changes)
		if len(batch) == 0 {
			r.log.Trace("no change of the message matches the route", fields)
			return nil
		}
		return r.deliver(ctx, rt, batch, msg, fields)
	}
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
		if retry.Sleep(ctx, backoff.NextBackOff()) != nil {
			return nil, ctx.Err()
		}
	}
}

// deliver writes batch to every sink of the route until each accepted it or
// refused it permanently (then it is poisoned for that sink).
func (r *Router) deliver(ctx context.Context, rt Route, batch []Change, msg *message.Message, fields watermill.LogFields) error {
	pending := append([]string(nil), rt.Sinks...)
	backoff := r.c.Backoff.New()
	for attempt := 0; ; attempt++ {
		var left []string
		for _, name := range pending {
			sink, b := r.c.Sinks[name], batch
			if !acceptsDeletions(sink) {
				if b = withoutDeletions(batch); len(b) == 0 {
					continue // only deletions, which this sink does not apply
				}
			}
			err := sink.Write(ctx, b)
			switch {
			case err == nil:
				r.metrics.messages(rt.Name, name, OutcomeOK).Inc()
				continue
			case ctx.Err() != nil:
				return ctx.Err()
			case IsPermanent(err):
				sf := fields.Add(watermill.LogFields{"sink": name})
				r.log.Error("sink refused the batch permanently, moving it to the poison sink", err, sf)
				if perr := r.poison(ctx, Poisoned{Route: rt.Name, Sink: name, Reason: err.Error(), Changes: b}, msg, sf); perr != nil {
					return perr
				}
				r.metrics.messages(rt.Name, name, OutcomePoison).Inc()
				continue
			}
			r.metrics.messages(rt.Name, name, OutcomeError).Inc()
			r.log.Error("sink write failed, retrying; the route waits", err,
				fields.Add(watermill.LogFields{"sink": name, "attempt": attempt + 1}))
			left = append(left, name)
		}
		if len(left) == 0 {
			return nil
		}
		pending = left
		if retry.Sleep(ctx, backoff.NextBackOff()) != nil {
			return ctx.Err()
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
	msgs *prometheus.CounterVec
}

func newRouterMetrics(reg prometheus.Registerer) (*routerMetrics, error) {
	m := &routerMetrics{msgs: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricWorkerMessages,
		Help: "Stream messages handled by route, sink and outcome (ok: accepted; error: write failed, retried; poison: moved to the poison sink).",
	}, []string{"route", "sink", "outcome"})}
	if reg == nil {
		return m, nil
	}
	var err error
	m.msgs, err = register(reg, m.msgs)
	return m, err
}

func (m *routerMetrics) messages(route, sink, outcome string) prometheus.Counter {
	return m.msgs.WithLabelValues(route, sink, outcome)
}
