// Package gc collects, on a schedule, what syncd keeps but nobody can use:
// identity credentials long expired, and guest identities that never
// stored anything once they are old enough. Without it both grow with every
// GetId and GetCredentialsForIdentity ever answered.
package gc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/syncapi"
)

// Store is what the collector deletes from (sqlstore.DB implements it).
type Store interface {
	// DeleteExpiredCredentials deletes up to limit credentials that expired
	// before expiredBefore; it returns how many.
	DeleteExpiredCredentials(ctx context.Context, expiredBefore time.Time, limit int) (int64, error)
	// DeleteIdleIdentities deletes up to limit identities created before
	// createdBefore that never stored anything (no dataset, no device) and
	// hold no credentials unexpired at now; it returns how many.
	DeleteIdleIdentities(ctx context.Context, createdBefore, now time.Time, limit int) (int64, error)
}

// Config configures New.
type Config struct {
	Store Store // required
	// Leases, when set, makes one process of those sharing the store
	// collect at a time (the lease "gc").
	Leases syncapi.Leases
	// Interval is the time between two runs; 0: DefaultInterval.
	Interval time.Duration
	// CredentialGrace is how long an expired credential is kept: a client
	// that signs with it meanwhile is told ExpiredTokenException, on which
	// SDKs fetch new credentials; after it, UnrecognizedClientException.
	// 0: DefaultCredentialGrace.
	CredentialGrace time.Duration
	// IdentityTTL is the age at which a guest identity that never stored
	// anything is deleted; 0: identities are never collected. A device
	// that comes back with a collected identity gets ResourceNotFound from
	// GetCredentialsForIdentity and asks GetId for a new one; it had no
	// data to lose.
	IdentityTTL time.Duration
	// Batch is how many rows one statement deletes; 0: 1000.
	Batch      int
	Now        func() time.Time
	Log        *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics
}

// Defaults of Config.
const (
	DefaultInterval        = 5 * time.Minute
	DefaultCredentialGrace = time.Hour
)

func (c *Config) setDefaults() {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.CredentialGrace == 0 {
		c.CredentialGrace = DefaultCredentialGrace
	}
	if c.Batch == 0 {
		c.Batch = 1000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every missing or invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("gc: Store is required"))
	}
	if c.Interval < 0 || c.CredentialGrace < 0 || c.IdentityTTL < 0 || c.Batch < 0 {
		errs = append(errs, errors.New("gc: Interval, CredentialGrace, IdentityTTL and Batch must not be negative"))
	}
	return errors.Join(errs...)
}

// Metric names (internal/metricnames holds the contract) and the values
// of their labels.
const (
	metricDeleted = metricnames.MetricGCDeleted
	metricRuns    = metricnames.MetricGCRuns

	KindCredentials = "credentials"
	KindIdentities  = "identities"
)

// Collector deletes expired credentials and idle guest identities.
type Collector struct {
	c       Config
	owner   string
	deleted *prometheus.CounterVec
	runs    *prometheus.CounterVec
}

// New returns a Collector; call Run.
func New(c Config) (*Collector, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 8)
	rand.Read(b)
	g := &Collector{
		c:     c,
		owner: hex.EncodeToString(b),
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricDeleted, Help: "Rows the collector deleted, by kind (credentials, identities).",
		}, []string{"kind"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricRuns, Help: "Collector runs by outcome (ok, error).",
		}, []string{"outcome"}),
	}
	for _, k := range []string{KindCredentials, KindIdentities} {
		g.deleted.WithLabelValues(k)
	}
	if c.Registerer != nil {
		for _, m := range []prometheus.Collector{g.deleted, g.runs} {
			if err := c.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("gc: %w", err)
			}
		}
	}
	return g, nil
}

// Result is what one run deleted.
type Result struct {
	Credentials, Identities int64
}

// Run collects every Interval (the first time at once) until ctx ends. A
// failed run is logged and counted; the next one tries again.
func (g *Collector) Run(ctx context.Context) error {
	t := time.NewTicker(g.c.Interval)
	defer t.Stop()
	for {
		if mine, err := g.lease(ctx); err != nil {
			g.c.Log.Warn("gc: lease", "err", err)
		} else if mine {
			if _, err := g.RunOnce(ctx); err != nil && ctx.Err() == nil {
				g.c.Log.Warn("gc: run failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// lease takes the "gc" lease for one interval when Config.Leases is set.
func (g *Collector) lease(ctx context.Context) (bool, error) {
	if g.c.Leases == nil {
		return true, nil
	}
	return g.c.Leases.AcquireLease(ctx, "gc", g.owner, g.c.Now(), g.c.Interval, "")
}

// RunOnce deletes, batch after batch, every expired credential past
// CredentialGrace and, with IdentityTTL, every idle identity older than it.
func (g *Collector) RunOnce(ctx context.Context) (Result, error) {
	var res Result
	now := g.c.Now()
	err := g.drain(ctx, KindCredentials, &res.Credentials, func() (int64, error) {
		return g.c.Store.DeleteExpiredCredentials(ctx, now.Add(-g.c.CredentialGrace), g.c.Batch)
	})
	if err == nil && g.c.IdentityTTL > 0 {
		err = g.drain(ctx, KindIdentities, &res.Identities, func() (int64, error) {
			return g.c.Store.DeleteIdleIdentities(ctx, now.Add(-g.c.IdentityTTL), now, g.c.Batch)
		})
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	g.runs.WithLabelValues(outcome).Inc()
	if res.Credentials+res.Identities > 0 {
		g.c.Log.Info("gc: collected", "credentials", res.Credentials, "identities", res.Identities)
	}
	return res, err
}

// drain calls del until it deletes less than a batch.
func (g *Collector) drain(ctx context.Context, kind string, total *int64, del func() (int64, error)) error {
	for {
		n, err := del()
		*total += n
		g.deleted.WithLabelValues(kind).Add(float64(n))
		if err != nil {
			return fmt.Errorf("gc %s: %w", kind, err)
		}
		if n < int64(g.c.Batch) || ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
