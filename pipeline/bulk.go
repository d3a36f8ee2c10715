package pipeline

import (
	"context"
	"errors"
	"fmt"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"github.com/cognitosync/cognitosync/internal/promreg"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/internal/retry"
	"github.com/cognitosync/cognitosync/syncapi"
)

// BulkEvent is what a BulkProgress report is about.
type BulkEvent string

// Bulk publish progress events.
const (
	BulkStarted        BulkEvent = "started"         // BulkPublish accepted a new job
	BulkAlreadyRunning BulkEvent = "already_running" // DuplicateRequestException: a job is in progress; we watch it
	BulkAlreadyDone    BulkEvent = "already_done"    // AlreadyStreamedException: a job succeeded less than 24 h ago
	BulkPolled         BulkEvent = "polled"          // GetBulkPublishDetails answered, job still in progress
	BulkSucceeded      BulkEvent = "succeeded"       // final: SUCCEEDED
	BulkFailed         BulkEvent = "failed"          // final: FAILED
)

// BulkProgress is one report of RunBulkPublish.
type BulkProgress struct {
	Pool    string
	Event   BulkEvent
	Details syncapi.GetBulkPublishDetailsOutput // the last GetBulkPublishDetails answer (zero before the first)
	Elapsed time.Duration                       // since RunBulkPublish started
	Polls   int                                 // GetBulkPublishDetails calls so far
}

// ErrBulkPublishFailed is returned (wrapped, with the FailureMessage) when the
// job ends FAILED: part of the pool's data did not reach the stream.
var ErrBulkPublishFailed = errors.New("bulk publish failed")

// BulkConfig configures a BulkPublisher.
type BulkConfig struct {
	// Client is the Cognito Sync API (syncapi/client against AWS or syncd,
	// or a *syncapi.Service in-process, with a developer caller in the
	// context). Required.
	Client syncapi.SyncAPI
	// Poll paces GetBulkPublishDetails: it starts at Poll.Initial and
	// backs off to Poll.Max while the job runs. Zero: 500 ms to 15 s.
	Poll Backoff
	// Registerer receives the bulk publish metrics; nil: none.
	Registerer prometheus.Registerer
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// BulkPublisher triggers BulkPublish and follows it to a final state. Safe for concurrent use (one job per pool at a time is the
// service's rule, not this type's).
type BulkPublisher struct {
	c        BulkConfig
	state    *prometheus.GaugeVec
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

var bulkStates = []string{syncapi.BulkNotStarted, syncapi.BulkInProgress, syncapi.BulkFailed, syncapi.BulkSucceeded}

// NewBulkPublisher registers the metrics metricnames.MetricBulkPublishState,
// metricnames.MetricBulkPublishes and metricnames.MetricBulkPublishDuration (reusing them when
// already registered).
func NewBulkPublisher(c BulkConfig) (*BulkPublisher, error) {
	if c.Client == nil {
		return nil, errors.New("bulk publish: Client is required")
	}
	if c.Poll.Initial <= 0 {
		c.Poll.Initial = 500 * time.Millisecond
	}
	if c.Poll.Max <= 0 {
		c.Poll.Max = 15 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	b := &BulkPublisher{
		c: c,
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metricnames.MetricBulkPublishState, Help: "1 for the pool's current bulk publish state (NOT_STARTED, IN_PROGRESS, FAILED, SUCCEEDED), 0 for the others.",
		}, []string{"pool", "state"}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricnames.MetricBulkPublishes, Help: "Bulk publishes this worker followed to a final state, by outcome (succeeded, failed).",
		}, []string{"pool", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: metricnames.MetricBulkPublishDuration, Help: "Seconds from BulkPublish to a final state.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 16), // 1 s … 9 h
		}, []string{"pool"}),
	}
	if c.Registerer != nil {
		var err error
		if b.state, err = promreg.Register(c.Registerer, b.state); err != nil {
			return nil, err
		}
		if b.total, err = promreg.Register(c.Registerer, b.total); err != nil {
			return nil, err
		}
		if b.duration, err = promreg.Register(c.Registerer, b.duration); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// RunBulkPublish is NewBulkPublisher(BulkConfig{Client: client}).Run without
// metrics.
func RunBulkPublish(ctx context.Context, client syncapi.SyncAPI, pool string, progress func(BulkProgress)) (syncapi.GetBulkPublishDetailsOutput, error) {
	b, err := NewBulkPublisher(BulkConfig{Client: client})
	if err != nil {
		return syncapi.GetBulkPublishDetailsOutput{}, err
	}
	return b.Run(ctx, pool, progress)
}

// Run calls BulkPublish for pool, then polls GetBulkPublishDetails with
// backoff until the job is SUCCEEDED or FAILED, calling progress (if not
// nil) after every step. A job already in progress (DuplicateRequestException)
// is reported and followed like our own; one that succeeded less than 24 h
// ago (AlreadyStreamedException) is reported with its details and returns
// nil: the data is on the stream already. It returns the final details, and
// an error wrapping ErrBulkPublishFailed for FAILED, the API error for any
// other refusal (e.g. streaming not enabled, unknown pool), or ctx's error.
// Transient GetBulkPublishDetails errors (throttling, 5xx after the client's
// own retries) are retried with the poll backoff.
func (b *BulkPublisher) Run(ctx context.Context, pool string, progress func(BulkProgress)) (syncapi.GetBulkPublishDetailsOutput, error) {
	start := b.c.Now()
	p := BulkProgress{Pool: pool}
	report := func(e BulkEvent) {
		p.Event, p.Elapsed = e, b.c.Now().Sub(start)
		if progress != nil {
			progress(p)
		}
	}
	_, err := b.c.Client.BulkPublish(ctx, syncapi.PoolInput{IdentityPoolID: pool})
	switch {
	case err == nil:
		report(BulkStarted)
	case errors.Is(err, syncapi.ErrDuplicateRequest):
		report(BulkAlreadyRunning)
	case errors.Is(err, syncapi.ErrAlreadyStreamed):
		d, derr := b.c.Client.GetBulkPublishDetails(ctx, syncapi.PoolInput{IdentityPoolID: pool})
		if derr == nil {
			p.Details = d
			b.setState(pool, d.BulkPublishStatus)
		} else {
			p.Details = syncapi.GetBulkPublishDetailsOutput{IdentityPoolID: pool, BulkPublishStatus: syncapi.BulkSucceeded}
		}
		report(BulkAlreadyDone)
		return p.Details, nil
	default:
		return syncapi.GetBulkPublishDetailsOutput{}, fmt.Errorf("bulk publish %s: %w", pool, err)
	}

	failures := 0
	poll := b.c.Poll.New()
	for {
		d, err := b.c.Client.GetBulkPublishDetails(ctx, syncapi.PoolInput{IdentityPoolID: pool})
		p.Polls++
		if err != nil {
			if ctx.Err() != nil {
				return p.Details, ctx.Err()
			}
			if !retryable(err) || failures >= 10 {
				return p.Details, fmt.Errorf("bulk publish %s: get details: %w", pool, err)
			}
			failures++
		} else {
			failures = 0
			p.Details = d
			b.setState(pool, d.BulkPublishStatus)
			switch d.BulkPublishStatus {
			case syncapi.BulkSucceeded, syncapi.BulkFailed:
				outcome, ev := "succeeded", BulkSucceeded
				if d.BulkPublishStatus == syncapi.BulkFailed {
					outcome, ev = "failed", BulkFailed
				}
				b.total.WithLabelValues(pool, outcome).Inc()
				dur := b.c.Now().Sub(start)
				if !d.BulkPublishStartTime.IsZero() && !d.BulkPublishCompleteTime.IsZero() {
					dur = d.BulkPublishCompleteTime.Sub(d.BulkPublishStartTime.Time)
				}
				b.duration.WithLabelValues(pool).Observe(max(dur, 0).Seconds())
				report(ev)
				if ev == BulkFailed {
					return d, fmt.Errorf("bulk publish %s: %w: %s", pool, ErrBulkPublishFailed, d.FailureMessage)
				}
				return d, nil
			}
			report(BulkPolled)
		}
		if retry.Sleep(ctx, poll.NextBackOff()) != nil {
			return p.Details, ctx.Err()
		}
	}
}

func (b *BulkPublisher) setState(pool, state string) {
	for _, s := range bulkStates {
		v := 0.0
		if s == state {
			v = 1
		}
		b.state.WithLabelValues(pool, s).Set(v)
	}
}

// retryable reports errors worth polling again: throttling, 5xx and
// transport errors. The client marks its API errors with RetryableError()
// bool; an in-process *syncapi.Service returns the domain sentinels.
func retryable(err error) bool {
	var r interface{ RetryableError() bool }
	if errors.As(err, &r) {
		return r.RetryableError()
	}
	if errors.Is(err, syncapi.ErrTooManyRequests) || errors.Is(err, syncapi.ErrInternal) {
		return true
	}
	var api interface{ ErrorCode() string }
	var domain *syncapi.Error
	var invalid *syncapi.ValidationError
	for _, s := range []error{syncapi.ErrNotFound, syncapi.ErrNotAuthorized, syncapi.ErrInvalidConfig} {
		if errors.Is(err, s) {
			return false
		}
	}
	return !errors.As(err, &api) && !errors.As(err, &domain) && !errors.As(err, &invalid)
}
