package outbox

import (
	"context"
	"errors"
	"fmt"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/syncapi"
)

// ForwarderLease is the name of the lease a publishing Forwarder holds.
const ForwarderLease = "outbox-forwarder"

// Store is what the Forwarder needs of a store.
type Store interface {
	syncapi.Outbox
	syncapi.Leases
}

// ForwarderConfig configures a Forwarder.
type ForwarderConfig struct {
	Store     Store             // required
	Publisher message.Publisher // required; topic = the pool's StreamName
	// Offload stores records too large for MaxRecordBytes. nil: such an
	// entry stays in the outbox (logged, retried) until one is configured.
	Offload Offloader
	// MaxRecordBytes is the largest stream record (data + partition key)
	// sent inline. 0: DefaultMaxRecordBytes (Kinesis); < 0: no limit.
	MaxRecordBytes int
	Owner          string        // this process, for the lease; required
	Batch          int           // entries per round; 0: 500
	Poll           time.Duration // idle wait between rounds; 0: 100 ms
	LeaseTTL       time.Duration // 0: 15 s; renewed every round
	Registerer     prometheus.Registerer
	Log            *slog.Logger
	Now            func() time.Time
}

func (c *ForwarderConfig) setDefaults() {
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.Batch <= 0 {
		c.Batch = 500
	}
	if c.Poll <= 0 {
		c.Poll = 100 * time.Millisecond
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 15 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports missing required fields.
func (c ForwarderConfig) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("forwarder: Store is required"))
	}
	if c.Publisher == nil {
		errs = append(errs, errors.New("forwarder: Publisher is required"))
	}
	if c.Owner == "" {
		errs = append(errs, errors.New("forwarder: Owner is required"))
	}
	return errors.Join(errs...)
}

// Forwarder publishes outbox entries (see the package doc). Run it once per
// process; several processes on one store take turns through a lease.
type Forwarder struct {
	c    ForwarderConfig
	enc  encoder
	wake chan struct{}

	published prometheus.Counter
	depth     prometheus.Gauge
	age       prometheus.Gauge

	mu      sync.Mutex // serialises rounds (Run and Flush)
	leaseOK bool
}

// NewForwarder returns a Forwarder; metrics go to c.Registerer when set.
func NewForwarder(c ForwarderConfig) (*Forwarder, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.setDefaults()
	f := &Forwarder{
		c: c, enc: encoder{offload: c.Offload, maxBytes: c.MaxRecordBytes}, wake: make(chan struct{}, 1),
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: metricnames.MetricOutboxPublished,
			Help: "Outbox entries published to the stream and deleted."}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{Name: metricnames.MetricOutboxDepth,
			Help: "Outbox rows not yet published to the stream."}),
		age: prometheus.NewGauge(prometheus.GaugeOpts{Name: metricnames.MetricOutboxOldestAge,
			Help: "Age of the oldest unpublished outbox row."}),
	}
	if c.Registerer != nil {
		for _, m := range []prometheus.Collector{f.published, f.depth, f.age} {
			if err := c.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("forwarder: register metrics: %w", err)
			}
		}
	}
	return f, nil
}

// Notify makes a waiting Run start its next round now (call after a
// commit to cut latency); it never blocks.
func (f *Forwarder) Notify() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Run publishes until ctx ends, then gives up its lease. Errors of a round
// are logged and retried after Poll; Run returns nil when ctx ends.
func (f *Forwarder) Run(ctx context.Context) error {
	defer func() {
		if err := f.c.Store.ReleaseLease(context.WithoutCancel(ctx), ForwarderLease, f.c.Owner); err != nil {
			f.c.Log.Warn("release outbox lease", "err", err)
		}
	}()
	for {
		n, err := f.round(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			f.c.Log.Warn("outbox forwarder", "err", err)
		}
		if err == nil && n == f.c.Batch {
			continue // more waiting
		}
		select {
		case <-ctx.Done():
			return nil
		case <-f.wake:
		case <-time.After(f.c.Poll):
		}
	}
}

// Flush publishes every pending entry (rounds until one publishes nothing
// new) and reports the first error. For tests and shutdown.
func (f *Forwarder) Flush(ctx context.Context) error {
	for {
		n, err := f.round(ctx)
		if err != nil || n < f.c.Batch {
			return err
		}
	}
}

// round publishes up to Batch entries; n is the number read.
func (f *Forwarder) round(ctx context.Context) (n int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ok, err := f.c.Store.AcquireLease(ctx, ForwarderLease, f.c.Owner, f.c.Now(), f.c.LeaseTTL, "")
	if err != nil {
		return 0, err
	}
	if ok != f.leaseOK {
		f.c.Log.Info("outbox forwarder lease", "held", ok)
		f.leaseOK = ok
	}
	if !ok {
		return 0, nil // another process publishes
	}
	defer f.stats(ctx)
	es, err := f.c.Store.PendingOutbox(ctx, f.c.Batch)
	if err != nil || len(es) == 0 {
		return 0, err
	}

	// Build the messages in id order, grouped by topic. An entry that
	// cannot be encoded blocks its identity for this round, so the
	// identity's later entries wait behind it (order per identity).
	type group struct {
		msgs []*message.Message
		ids  []int64
	}
	var topics []string
	groups := map[string]*group{}
	blocked := map[string]bool{}
	var errs []error
	var ack []int64
	for _, e := range es {
		if e.Stream == "" {
			f.c.Log.Error("outbox entry without a stream name; dropped", "id", e.ID, "dataset", e.Key.String())
			ack = append(ack, e.ID)
			continue
		}
		if blocked[e.Key.IdentityID] {
			continue
		}
		m, err := f.enc.message(ctx, entryRecord(e), objectKey(e.Key, e.SyncCount, fmt.Sprintf("u%d", e.ID)))
		if err != nil {
			blocked[e.Key.IdentityID] = true
			errs = append(errs, fmt.Errorf("outbox entry %d: %w", e.ID, err))
			continue
		}
		g := groups[e.Stream]
		if g == nil {
			g = &group{}
			groups[e.Stream] = g
			topics = append(topics, e.Stream)
		}
		g.msgs = append(g.msgs, m)
		g.ids = append(g.ids, e.ID)
	}
	// One Publish per topic: the Kinesis publisher batches PutRecords and
	// keeps each partition key's order. A failed Publish may have written
	// some messages; they are published again next round (duplicates are
	// allowed, loss is not).
	for _, topic := range topics {
		g := groups[topic]
		if err := f.c.Publisher.Publish(topic, g.msgs...); err != nil {
			errs = append(errs, fmt.Errorf("publish %d entries to %s: %w", len(g.msgs), topic, err))
			continue
		}
		ack = append(ack, g.ids...)
	}
	if len(ack) > 0 {
		if err := f.c.Store.AckOutbox(context.WithoutCancel(ctx), ack); err != nil {
			errs = append(errs, err)
		} else {
			f.published.Add(float64(len(ack)))
		}
	}
	return len(es), errors.Join(errs...)
}

func (f *Forwarder) stats(ctx context.Context) {
	n, oldest, err := f.c.Store.OutboxStats(ctx)
	if err != nil {
		return
	}
	f.depth.Set(float64(n))
	if oldest.IsZero() {
		f.age.Set(0)
	} else {
		f.age.Set(f.c.Now().Sub(oldest).Seconds())
	}
}

// objectKey names the S3 object of a large payload.
func objectKey(k syncapi.DatasetKey, syncCount int64, unique string) string {
	return fmt.Sprintf("%s/%s/%s/%d-%s.json", k.PoolID, k.IdentityID, k.Name, syncCount, unique)
}
