package httplimit

import (
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"github.com/cognitosync/cognitosync/internal/promreg"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons of cognitosync_http_requests_cut_total.
const (
	reasonShutdown   = "shutdown"    // still sending at shutdown
	reasonBodyBudget = "body_budget" // no body budget until the read deadline
)

// metrics are the Guard's gauges and counter; a nil *metrics records nothing.
type metrics struct {
	conns    prometheus.Gauge
	inflight prometheus.Gauge
	cut      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricnames.MetricHTTPConnections,
			Help: "Open client connections of the API listener.",
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricnames.MetricHTTPBodyBytesInFlight,
			Help: "Request body bytes read and held by requests in progress (bounded by --max-inflight-body-bytes).",
		}),
		cut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricnames.MetricHTTPRequestsCut,
			Help: "Requests or connections ended before their request was read: shutdown (still sending), body_budget (no body budget before the read deadline).",
		}, []string{"reason"}),
	}
	var err error
	if m.conns, err = promreg.Register(reg, m.conns); err != nil {
		return nil, err
	}
	if m.inflight, err = promreg.Register(reg, m.inflight); err != nil {
		return nil, err
	}
	if m.cut, err = promreg.Register(reg, m.cut); err != nil {
		return nil, err
	}
	// Every reason is exported from the start, at 0, so that a rate or an
	// alert over them has a series before the first cut.
	m.cut.WithLabelValues(reasonShutdown)
	m.cut.WithLabelValues(reasonBodyBudget)
	return m, nil
}

func (m *metrics) connOpened() {
	if m != nil {
		m.conns.Inc()
	}
}

func (m *metrics) connClosed() {
	if m != nil {
		m.conns.Dec()
	}
}

func (m *metrics) bodyBytes(n float64) {
	if m != nil && n != 0 {
		m.inflight.Add(n)
	}
}

func (m *metrics) cuts(reason string, n int) {
	if m != nil {
		m.cut.WithLabelValues(reason).Add(float64(n))
	}
}
