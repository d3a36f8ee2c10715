package pipeline

import (
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"github.com/cognitosync/cognitosync/internal/promreg"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SinkMetrics records the outcome and latency of Sink.Write calls under the
// names of the metric contract (metricnames.MetricSinkWrites, metricnames.MetricSinkChanges,
// metricnames.MetricSinkWriteDuration, metricnames.MetricSinkLastSuccess). Sinks take a
// prometheus.Registerer in their Config and build one with NewSinkMetrics. A
// nil *SinkMetrics records nothing. Safe for concurrent use.
type SinkMetrics struct {
	writes      *prometheus.CounterVec
	changes     *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lastSuccess *prometheus.GaugeVec
}

// sinkDurationBuckets span 1 ms (an fsync'd local append) to 60 s (a webhook
// retrying through its whole budget).
var sinkDurationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// NewSinkMetrics registers the sink metrics with reg, or reuses them when
// another sink already registered them there (sinks share the worker's
// registry and tell themselves apart by the sink label). A nil reg returns a
// nil *SinkMetrics. It fails only when reg holds a different collector under
// one of the names.
func NewSinkMetrics(reg prometheus.Registerer) (*SinkMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &SinkMetrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricnames.MetricSinkWrites, Help: "Sink.Write calls by sink and outcome (ok, error, permanent).",
		}, []string{"sink", "outcome"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricnames.MetricSinkChanges, Help: "Changes accepted by a sink.",
		}, []string{"sink"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: metricnames.MetricSinkWriteDuration, Help: "Sink.Write latency by sink.", Buckets: sinkDurationBuckets,
		}, []string{"sink"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metricnames.MetricSinkLastSuccess, Help: "Unix time of the sink's last successful write.",
		}, []string{"sink"}),
	}
	var err error
	if m.writes, err = promreg.Register(reg, m.writes); err != nil {
		return nil, err
	}
	if m.changes, err = promreg.Register(reg, m.changes); err != nil {
		return nil, err
	}
	if m.duration, err = promreg.Register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.lastSuccess, err = promreg.Register(reg, m.lastSuccess); err != nil {
		return nil, err
	}
	return m, nil
}

// Observe records one Write of n changes by sink that started at start and
// returned err.
func (m *SinkMetrics) Observe(sink string, start time.Time, n int, err error) {
	if m == nil {
		return
	}
	now := time.Now()
	m.writes.WithLabelValues(sink, Outcome(err)).Inc()
	m.duration.WithLabelValues(sink).Observe(now.Sub(start).Seconds())
	if err == nil {
		m.changes.WithLabelValues(sink).Add(float64(n))
		m.lastSuccess.WithLabelValues(sink).Set(float64(now.UnixNano()) / 1e9)
	}
}

// Outcome is the outcome label of a Write that returned err: OutcomeOK for
// nil, OutcomePermanent when IsPermanent(err), OutcomeError otherwise.
func Outcome(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case IsPermanent(err):
		return OutcomePermanent
	}
	return OutcomeError
}

// Outcome label values.
const (
	OutcomeOK        = "ok"
	OutcomeError     = "error"     // retryable: the message is redelivered
	OutcomePermanent = "permanent" // the sink says retrying cannot help
	OutcomePoison    = "poison"    // the router gave up and moved the message aside
)
