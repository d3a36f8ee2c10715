package push

import (
	"context"
	"errors"
	"fmt"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/internal/retry"
	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/syncapi"
)

// DispatcherLease is the name of the lease a sending Dispatcher holds.
const DispatcherLease = "push-dispatcher"

// Defaults of a zero Config.
const (
	DefaultCoalesce    = time.Second
	DefaultLeaseTTL    = 15 * time.Second
	DefaultMaxAttempts = 20
)

// Outcome label values of MetricPushNotifications beyond pipeline's ok,
// error and permanent.
const (
	OutcomeDeadToken = "dead_token" // the device was unregistered
	OutcomeGaveUp    = "gave_up"    // MaxAttempts failures; dropped
	OutcomeNoConfig  = "no_config"  // the pool is gone or has no push sync, or the device is gone; dropped
)

// Store is what the Dispatcher needs of a store.
type Store interface {
	syncapi.PushQueue
	syncapi.Leases
	GetPool(ctx context.Context, id string) (syncapi.Pool, error)
}

// Config configures a Dispatcher.
type Config struct {
	Store Store // required
	// Notifier sends; nil: nothing is sent (entries stay queued for a
	// process that has one) and only the queue metrics are kept.
	Notifier Notifier
	Owner    string // this process, for the lease; required
	// Coalesce is how long a device's notification waits for further
	// changes of the dataset, which it then carries instead; 0:
	// DefaultCoalesce.
	Coalesce time.Duration
	// LeaseTTL is how long a dead holder blocks the others; 0:
	// DefaultLeaseTTL. Renewed every round.
	LeaseTTL time.Duration
	// Poll is the idle wait between rounds; a Notify (a local write)
	// schedules a round one Coalesce later. 0: 1 s.
	Poll time.Duration
	// Batch is the most entries a round reads; 0: 200. Concurrency is the
	// most sent at once; 0: 8.
	Batch, Concurrency int
	// Backoff spaces the retries of one notification; zero fields: 1 s
	// doubling up to 5 min. MaxAttempts failures drop it; 0:
	// DefaultMaxAttempts.
	Backoff     retry.Backoff
	MaxAttempts int
	Registerer  prometheus.Registerer
	Log         *slog.Logger
	Now         func() time.Time
}

func (c *Config) setDefaults() {
	if c.Coalesce <= 0 {
		c.Coalesce = DefaultCoalesce
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.Batch <= 0 {
		c.Batch = 200
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	c.Backoff = c.Backoff.WithDefaults(time.Second, 5*time.Minute)
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports missing required fields.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("push: Store is required"))
	}
	if c.Owner == "" {
		errs = append(errs, errors.New("push: Owner is required"))
	}
	if c.Coalesce < 0 || c.LeaseTTL < 0 {
		errs = append(errs, errors.New("push: Coalesce and LeaseTTL must not be negative"))
	}
	return errors.Join(errs...)
}

// Dispatcher sends queued notifications (see the package doc). Run it once
// per process; several processes on one store take turns through a lease.
type Dispatcher struct {
	c    Config
	wake chan struct{}

	sent    *prometheus.CounterVec
	depth   prometheus.Gauge
	age     prometheus.Gauge
	latency prometheus.Histogram

	mu      sync.Mutex // serialises rounds (Run and Flush)
	leaseOK bool
}

// New returns a Dispatcher; metrics go to c.Registerer when set.
func New(c Config) (*Dispatcher, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.setDefaults()
	d := &Dispatcher{
		c: c, wake: make(chan struct{}, 1),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricnames.MetricPushNotifications,
			Help: "Push notifications by backend, platform and outcome (ok, error: retried, permanent, dead_token, gave_up, no_config)."},
			[]string{"backend", "platform", "outcome"}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{Name: metricnames.MetricPushQueueDepth,
			Help: "Push notifications queued, waiting for their coalescing window, a retry or a sender."}),
		age: prometheus.NewGauge(prometheus.GaugeOpts{Name: metricnames.MetricPushQueueOldestAge,
			Help: "Age of the oldest queued push notification."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: metricnames.MetricPushDeliveryDuration,
			Help:    "Seconds from the commit of a burst's first change to the push service accepting its notification.",
			Buckets: []float64{0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300, 1800}}),
	}
	// The usual series exist from the start, so that rate() and alerts
	// see a zero before the first notification.
	for _, p := range []string{PlatformAPNS, PlatformAPNSSandbox, PlatformGCM, PlatformADM} {
		for _, o := range []string{pipeline.OutcomeOK, pipeline.OutcomeError} {
			d.sent.WithLabelValues(d.backend(), p, o)
		}
	}
	if c.Registerer != nil {
		for _, m := range []prometheus.Collector{d.sent, d.depth, d.age, d.latency} {
			if err := c.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("push: register metrics: %w", err)
			}
		}
	}
	return d, nil
}

func (d *Dispatcher) backend() string {
	if d.c.Notifier == nil {
		return "none"
	}
	return d.c.Notifier.Backend()
}

// Notify tells a waiting Run that a change was committed here: it looks
// for due entries one Coalesce later. It never blocks.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// RegisterDevice creates and keeps the device's endpoint when the
// Notifier is a Registrar (SNS: CreatePlatformEndpoint at RegisterDevice);
// otherwise it does nothing. Fits syncapi.ServiceConfig.DeviceRegistered.
func (d *Dispatcher) RegisterDevice(ctx context.Context, p syncapi.Pool, identityID, deviceID, platform, token string) error {
	r, ok := d.c.Notifier.(Registrar)
	if !ok || syncapi.ApplicationArn(p, platform) == "" {
		return nil
	}
	ep, err := r.Endpoint(ctx, p, platform, token)
	if err != nil {
		return err
	}
	return d.c.Store.SetDeviceEndpoint(ctx, p.ID(), identityID, deviceID, ep)
}

// Run sends until ctx ends, then gives up its lease. Errors of a round are
// logged and retried after Poll; Run returns nil when ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	defer func() {
		if err := d.c.Store.ReleaseLease(context.WithoutCancel(ctx), DispatcherLease, d.c.Owner); err != nil {
			d.c.Log.Warn("release push lease", "err", err)
		}
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	next := time.Now() // when timer fires
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
			// Entries of the change just committed are due one window
			// from now (a bit later, so that they surely are). A wake only
			// brings the next round forward: steady writes must not keep
			// postponing it.
			wait := d.c.Coalesce + d.c.Coalesce/20 + time.Millisecond
			if at := time.Now().Add(wait); at.Before(next) {
				timer.Stop()
				timer.Reset(wait)
				next = at
			}
			continue
		case <-timer.C:
		}
		n, err := d.round(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			d.c.Log.Warn("push dispatcher", "err", err)
		}
		wait := d.c.Poll
		if err == nil && n == d.c.Batch {
			wait = 0 // more waiting
		}
		timer.Reset(wait)
		next = time.Now().Add(wait)
	}
}

// Flush sends every entry due now, round after round, and reports the
// first error. For tests and shutdown.
func (d *Dispatcher) Flush(ctx context.Context) error {
	for {
		n, err := d.round(ctx)
		if err != nil || n < d.c.Batch {
			return err
		}
	}
}

// round sends up to Batch due entries; n is the number read.
func (d *Dispatcher) round(ctx context.Context) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c.Notifier == nil {
		d.stats(ctx)
		return 0, nil
	}
	defer d.stats(ctx)
	// Read first: an idle round writes nothing (no lease renewal), so an
	// idle syncd stays idle. A holder that idles past LeaseTTL loses
	// nothing: whoever finds work next takes the lease.
	now := d.c.Now()
	es, err := d.c.Store.DuePush(ctx, now.Add(-d.c.Coalesce), now, d.c.Batch)
	if err != nil || len(es) == 0 {
		return 0, err
	}
	ok, err := d.c.Store.AcquireLease(ctx, DispatcherLease, d.c.Owner, now, d.c.LeaseTTL, "")
	if err != nil {
		return 0, err
	}
	taken := ok && !d.leaseOK
	if ok != d.leaseOK {
		d.c.Log.Info("push dispatcher lease", "held", ok)
		d.leaseOK = ok
	}
	if !ok {
		return 0, nil // another process sends
	}
	if taken {
		// Read again under the lease: a previous holder may have sent
		// some of es meanwhile.
		if es, err = d.c.Store.DuePush(ctx, now.Add(-d.c.Coalesce), now, d.c.Batch); err != nil || len(es) == 0 {
			return 0, err
		}
	}
	pools := map[string]*poolResult{}
	for _, e := range es {
		if pools[e.Key.PoolID] == nil {
			p, err := d.c.Store.GetPool(ctx, e.Key.PoolID)
			pools[e.Key.PoolID] = &poolResult{p, err}
		}
	}
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, d.c.Concurrency)
		emu  sync.Mutex
		errs []error
	)
	for _, e := range es {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := d.deliver(ctx, e, pools[e.Key.PoolID]); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		}()
	}
	wg.Wait()
	return len(es), errors.Join(errs...)
}

type poolResult struct {
	p   syncapi.Pool
	err error
}

// deliver sends one entry and records the outcome in the queue; its error
// is the store's (the push service's failures are outcomes).
func (d *Dispatcher) deliver(ctx context.Context, e syncapi.PushEntry, pr *poolResult) error {
	backend := d.backend()
	count := func(outcome string) { d.sent.WithLabelValues(backend, e.Platform, outcome).Inc() }
	log := d.c.Log.With("identity_pool", e.Key.PoolID, "dataset", e.Key.Name, "device", e.DeviceID, "platform", e.Platform)
	store := context.WithoutCancel(ctx) // an outcome, once known, is recorded
	if errors.Is(pr.err, syncapi.ErrNotFound) || (pr.err == nil && pr.p.PushSync == nil) {
		count(OutcomeNoConfig)
		log.Info("push notification dropped: the pool is gone or has no push sync configuration")
		return d.c.Store.DropPush(store, e)
	}
	if pr.err != nil {
		return pr.err
	}
	if e.Platform == "" {
		count(OutcomeNoConfig)
		log.Info("push notification dropped: the device is no longer registered")
		return d.c.Store.DropPush(store, e)
	}
	msg, err := Message(e.Platform, e.Key, e.SyncCount)
	if err != nil {
		count(pipeline.OutcomePermanent)
		log.Error("push notification dropped", "err", err)
		return d.c.Store.DropPush(store, e)
	}
	n := Notification{PushEntry: e, Pool: pr.p, Message: msg}
	err = d.endpoint(ctx, &n)
	if err == nil {
		err = d.c.Notifier.Send(ctx, n)
	}
	var perm *PermanentError
	switch {
	case err == nil:
		count(pipeline.OutcomeOK)
		d.latency.Observe(d.c.Now().Sub(e.Created).Seconds())
		return d.c.Store.AckPush(store, e, d.c.Now())
	case errors.Is(err, ErrDeadToken):
		count(OutcomeDeadToken)
		log.Info("push token reported dead; device unregistered", "err", err)
		return d.c.Store.UnregisterDevice(store, e.Key.PoolID, e.Key.IdentityID, e.DeviceID)
	case errors.As(err, &perm):
		count(pipeline.OutcomePermanent)
		log.Error("push notification dropped: the push service refuses it", "err", err)
		return d.c.Store.DropPush(store, e)
	case ctx.Err() != nil:
		return nil // shutting down: the entry stays as it was
	}
	if errors.Is(err, ErrEndpointGone) {
		if serr := d.c.Store.SetDeviceEndpoint(store, e.Key.PoolID, e.Key.IdentityID, e.DeviceID, ""); serr != nil {
			return serr
		}
	}
	if e.Attempts+1 >= d.c.MaxAttempts {
		count(OutcomeGaveUp)
		log.Error("push notification dropped after its last attempt", "attempts", e.Attempts+1, "err", err)
		return d.c.Store.DropPush(store, e)
	}
	count(pipeline.OutcomeError)
	wait := d.c.Backoff.New()
	var delay time.Duration
	for range e.Attempts + 1 {
		delay = wait.NextBackOff()
	}
	log.Warn("push notification failed; retrying", "attempt", e.Attempts+1, "retry_in", delay, "err", err)
	return d.c.Store.RetryPush(store, e, d.c.Now().Add(delay))
}

// endpoint fills n.Endpoint for a Registrar that has none kept yet.
func (d *Dispatcher) endpoint(ctx context.Context, n *Notification) error {
	r, ok := d.c.Notifier.(Registrar)
	if !ok || n.Endpoint != "" {
		return nil
	}
	ep, err := r.Endpoint(ctx, n.Pool, n.Platform, n.Token)
	if err != nil {
		return err
	}
	n.Endpoint = ep
	return d.c.Store.SetDeviceEndpoint(context.WithoutCancel(ctx), n.Key.PoolID, n.Key.IdentityID, n.DeviceID, ep)
}

func (d *Dispatcher) stats(ctx context.Context) {
	n, oldest, err := d.c.Store.PushStats(ctx)
	if err != nil {
		return
	}
	d.depth.Set(float64(n))
	if oldest.IsZero() {
		d.age.Set(0)
	} else {
		d.age.Set(d.c.Now().Sub(oldest).Seconds())
	}
}
