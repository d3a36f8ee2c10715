package httpapi

import (
	"errors"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the request counter and latency histogram; a nil *metrics
// records nothing.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// durationBuckets span 0.5 ms (an in-memory read) to 5 s (a slow Lambda
// SyncTrigger, spec E).
var durationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricnames.MetricRequests,
		Help: "Cognito Sync and Cognito Identity API requests by operation and AWS error code (OK on success).",
	}, []string{"operation", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    metricnames.MetricRequestDuration,
		Help:    "Cognito Sync and Cognito Identity API request latency by operation.",
		Buckets: durationBuckets,
	}, []string{"operation"})
	var err error
	if requests, err = register(reg, requests); err != nil {
		return nil, err
	}
	if duration, err = register(reg, duration); err != nil {
		return nil, err
	}
	return &metrics{requests: requests, duration: duration}, nil
}

// register registers c, or returns the identical collector already
// registered (several handlers may share one registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

func (m *metrics) observe(op, code string, d time.Duration) {
	if m == nil {
		return
	}
	if code == "" { // unreachable: every path writes a response
		code = CodeInternal
	}
	m.requests.WithLabelValues(op, code).Inc()
	m.duration.WithLabelValues(op).Observe(d.Seconds())
}
