package httpapi

import (
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"github.com/cognitosync/cognitosync/internal/promreg"
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
	if requests, err = promreg.Register(reg, requests); err != nil {
		return nil, err
	}
	if duration, err = promreg.Register(reg, duration); err != nil {
		return nil, err
	}
	return &metrics{requests: requests, duration: duration}, nil
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
