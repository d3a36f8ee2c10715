package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/internal/retry"
	"github.com/cognitosync/cognitosync/syncapi"
)

// BulkStore is what the BulkRunner needs of a store.
type BulkStore interface {
	GetPool(ctx context.Context, id string) (syncapi.Pool, error)
	FinishBulk(ctx context.Context, poolID string, status, failure string, now time.Time) error
	syncapi.BulkSource
	syncapi.Leases
}

// BulkConfig configures a BulkRunner.
type BulkConfig struct {
	Store          BulkStore         // required
	Publisher      message.Publisher // required
	Offload        Offloader         // as ForwarderConfig.Offload; nil: an oversized dataset fails the job
	MaxRecordBytes int               // as ForwarderConfig.MaxRecordBytes
	Owner          string            // this process; required
	Page           int               // datasets per page (one Publish); 0: 500
	LeaseTTL       time.Duration     // 0: 30 s; renewed after every page
	Scan           time.Duration     // how often Run looks for orphaned jobs; 0: LeaseTTL
	Attempts       int               // Publish attempts per page before the job fails; 0: 5
	Registerer     prometheus.Registerer
	Log            *slog.Logger
	Now            func() time.Time
}

func (c *BulkConfig) setDefaults() {
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.Page <= 0 {
		c.Page = 500
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 30 * time.Second
	}
	if c.Scan <= 0 {
		c.Scan = c.LeaseTTL
	}
	if c.Attempts <= 0 {
		c.Attempts = 5
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports missing required fields.
func (c BulkConfig) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("bulk runner: Store is required"))
	}
	if c.Publisher == nil {
		errs = append(errs, errors.New("bulk runner: Publisher is required"))
	}
	if c.Owner == "" {
		errs = append(errs, errors.New("bulk runner: Owner is required"))
	}
	return errors.Join(errs...)
}

// BulkRunner runs bulk publish jobs (syncapi.BulkRunner, spec D.3).
//
// A job holds the lease "bulk/<pool>" while it runs and stores its cursor
// (the last dataset published) in the lease after every page. Run scans
// the store for IN_PROGRESS jobs whose lease has expired (their process
// died or was stopped) and resumes them from the cursor, so a job is never
// stuck IN_PROGRESS while some syncd runs, and only one process (the lease
// holder) publishes a job at a time. Resuming may publish a page twice:
// bulk publish does not promise uniqueness (spec D.3).
type BulkRunner struct {
	c   BulkConfig
	enc encoder

	ctx    context.Context // from Run; jobs started before Run use their own
	mu     sync.Mutex
	active map[string]bool
	wg     sync.WaitGroup

	records  *prometheus.CounterVec
	state    *prometheus.GaugeVec
	finished *prometheus.CounterVec
}

var _ syncapi.BulkRunner = (*BulkRunner)(nil)

// NewBulkRunner returns a BulkRunner; call Run to resume orphaned jobs. It
// registers metricnames.MetricBulkPublishRecords, MetricBulkPublishJobs and
// MetricBulkPublishJobState with c.Registerer when set.
func NewBulkRunner(c BulkConfig) (*BulkRunner, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.setDefaults()
	b := &BulkRunner{
		c: c, enc: encoder{offload: c.Offload, maxBytes: c.MaxRecordBytes}, active: map[string]bool{},
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricnames.MetricBulkPublishRecords,
			Help: "Stream records (one per dataset) written by this syncd's bulk publish jobs, by pool."}, []string{"pool"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: metricnames.MetricBulkPublishJobState,
			Help: "1 for the state of the pool's last bulk publish job this syncd ran (IN_PROGRESS, SUCCEEDED, FAILED), 0 for the others."}, []string{"pool", "state"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricnames.MetricBulkPublishJobs,
			Help: "Bulk publish jobs this syncd ran to the end, by outcome (succeeded, failed)."}, []string{"pool", "outcome"}),
	}
	if c.Registerer != nil {
		for _, m := range []prometheus.Collector{b.records, b.state, b.finished} {
			if err := c.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("bulk runner: register metrics: %w", err)
			}
		}
	}
	return b, nil
}

// pageBackoff paces the Publish attempts of one page.
var pageBackoff = retry.Backoff{Initial: 200 * time.Millisecond, Max: 2 * time.Second}

// errLostLease stops a job another process has taken over.
var errLostLease = errors.New("bulk publish: lease lost")

func leaseName(pool string) string { return "bulk/" + pool }

// cursor is the progress a job keeps in its lease.
type cursor struct {
	IdentityID string `json:"i"`
	Name       string `json:"n"`
	Published  int64  `json:"c"`
}

// RunBulk takes the job's lease and publishes the pool in the background.
func (b *BulkRunner) RunBulk(ctx context.Context, pool syncapi.Pool) error {
	ok, err := b.c.Store.AcquireLease(ctx, leaseName(pool.ID()), b.c.Owner, b.c.Now(), b.c.LeaseTTL, "{}")
	if err != nil {
		return fmt.Errorf("bulk publish %s: %w", pool.ID(), err)
	}
	if !ok {
		return nil // another process already runs it (it found the job first)
	}
	b.start(ctx, pool.ID(), cursor{})
	return nil
}

// start runs the job unless this process already does.
func (b *BulkRunner) start(ctx context.Context, pool string, cur cursor) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.active[pool] {
		return
	}
	if b.ctx != nil {
		ctx = b.ctx
	}
	b.active[pool] = true
	b.setState(pool, syncapi.BulkInProgress)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.job(ctx, pool, cur)
		b.mu.Lock()
		delete(b.active, pool)
		b.mu.Unlock()
	}()
}

// Run resumes orphaned jobs every Scan until ctx ends, then stops the jobs
// of this process (leaving their leases to expire at once, so another
// process resumes them) and waits for them.
func (b *BulkRunner) Run(ctx context.Context) error {
	b.mu.Lock()
	b.ctx = ctx
	b.mu.Unlock()
	defer b.wg.Wait()
	for {
		if err := b.scan(ctx); err != nil && ctx.Err() == nil {
			b.c.Log.Warn("bulk publish scan", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(b.c.Scan):
		}
	}
}

// scan resumes IN_PROGRESS jobs whose lease it can take.
func (b *BulkRunner) scan(ctx context.Context) error {
	jobs, err := b.c.Store.BulkInProgress(ctx)
	if err != nil {
		return err
	}
	for pool := range jobs {
		b.mu.Lock()
		running := b.active[pool]
		b.mu.Unlock()
		if running {
			continue
		}
		_, _, data, _, err := b.c.Store.LeaseData(ctx, leaseName(pool))
		if err != nil {
			return err
		}
		ok, err := b.c.Store.AcquireLease(ctx, leaseName(pool), b.c.Owner, b.c.Now(), b.c.LeaseTTL, data)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		var cur cursor
		if data != "" {
			_ = json.Unmarshal([]byte(data), &cur) // a bad cursor restarts from the beginning
		}
		b.c.Log.Info("resuming bulk publish", "identity_pool", pool, "after_identity", cur.IdentityID, "published", cur.Published)
		b.start(ctx, pool, cur)
	}
	return nil
}

func (b *BulkRunner) setState(pool, state string) {
	for _, s := range []string{syncapi.BulkInProgress, syncapi.BulkSucceeded, syncapi.BulkFailed} {
		v := 0.0
		if s == state {
			v = 1
		}
		b.state.WithLabelValues(pool, s).Set(v)
	}
}

// job publishes the pool from cur to the end and finishes it.
func (b *BulkRunner) job(ctx context.Context, pool string, cur cursor) {
	log := b.c.Log.With("identity_pool", pool)
	err := b.publish(ctx, pool, &cur)
	if errors.Is(err, errLostLease) {
		log.Warn("bulk publish: another process took the job over (this one stalled longer than the lease TTL)")
		return
	}
	if ctx.Err() != nil {
		// Stopped (shutdown): hand the job over at once, cursor kept.
		bg := context.WithoutCancel(ctx)
		data, _ := json.Marshal(cur)
		if _, lerr := b.c.Store.AcquireLease(bg, leaseName(pool), b.c.Owner, b.c.Now(), 0, string(data)); lerr != nil {
			log.Warn("bulk publish: hand over lease", "err", lerr)
		}
		log.Info("bulk publish stopped; it resumes on the next syncd", "published", cur.Published)
		return
	}
	status, failure, outcome := syncapi.BulkSucceeded, "", "succeeded"
	if err != nil {
		status, failure, outcome = syncapi.BulkFailed, err.Error(), "failed"
		log.Error("bulk publish failed", "err", err, "published", cur.Published)
	} else {
		log.Info("bulk publish succeeded", "published", cur.Published)
	}
	if ferr := b.c.Store.FinishBulk(ctx, pool, status, failure, b.c.Now().UTC()); ferr != nil {
		log.Error("bulk publish: finish", "err", ferr)
		return // lease expires; a scan retries
	}
	b.setState(pool, status)
	b.finished.WithLabelValues(pool, outcome).Inc()
	if err := b.c.Store.ReleaseLease(ctx, leaseName(pool), b.c.Owner); err != nil {
		log.Warn("bulk publish: release lease", "err", err)
	}
}

func (b *BulkRunner) publish(ctx context.Context, pool string, cur *cursor) error {
	p, err := b.c.Store.GetPool(ctx, pool)
	if err != nil {
		return fmt.Errorf("read identity pool: %w", err)
	}
	cs := p.CognitoStreams
	if cs == nil || cs.StreamingStatus != syncapi.StreamingEnabled || cs.StreamName == "" {
		return errors.New("Cognito Streams was disabled for the identity pool during the bulk publish")
	}
	for {
		after := syncapi.DatasetKey{PoolID: pool, IdentityID: cur.IdentityID, Name: cur.Name}
		page, err := b.c.Store.BulkDatasets(ctx, pool, after, b.c.Page)
		if err != nil {
			return fmt.Errorf("read datasets: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		msgs := make([]*message.Message, len(page))
		for i, d := range page {
			if msgs[i], err = b.enc.message(ctx, datasetRecord(d), objectKey(d.Key, d.SyncCount, "bulk")); err != nil {
				return fmt.Errorf("dataset %s of identity %s: %w", d.Key.Name, d.Key.IdentityID, err)
			}
		}
		backoff := pageBackoff.New()
		for attempt := 1; ; attempt++ {
			err = b.c.Publisher.Publish(cs.StreamName, msgs...)
			if err == nil || attempt == b.c.Attempts || retry.Sleep(ctx, backoff.NextBackOff()) != nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("publish to stream %s: %w", cs.StreamName, err)
		}
		last := page[len(page)-1].Key
		cur.IdentityID, cur.Name = last.IdentityID, last.Name
		cur.Published += int64(len(page))
		b.records.WithLabelValues(pool).Add(float64(len(page)))
		data, _ := json.Marshal(cur)
		ok, err := b.c.Store.AcquireLease(ctx, leaseName(pool), b.c.Owner, b.c.Now(), b.c.LeaseTTL, string(data))
		if err != nil {
			return fmt.Errorf("renew lease: %w", err)
		}
		if !ok {
			return errLostLease
		}
	}
}
