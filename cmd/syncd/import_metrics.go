package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cognitosync/cognitosync/internal/metricnames"
	"github.com/cognitosync/cognitosync/syncapi/importer"
)

// importMetrics serves the import's progress on /metrics while it runs
// (--metrics-listen): the numbers of the terminal's progress line, for a
// scraper when the import runs as a job without a terminal.
type importMetrics struct {
	last atomic.Pointer[importer.Progress]
	srv  *http.Server
	done chan struct{}
}

func serveImportMetrics(addr, pool string, log *slog.Logger) (*importMetrics, error) {
	m := &importMetrics{done: make(chan struct{})}
	m.last.Store(&importer.Progress{})
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"pool": pool}
	opts := func(name string) prometheus.Opts {
		c, _ := metricnames.LookupMetric(name)
		return prometheus.Opts{Name: name, Help: c.Help, ConstLabels: labels}
	}
	gauge := func(name string, v func(*importer.Progress) int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts(name)), func() float64 { return float64(v(m.last.Load())) })
	}
	reg.MustRegister(
		gauge(metricnames.MetricImportIdentities, func(p *importer.Progress) int64 { return p.Identities }),
		gauge(metricnames.MetricImportDatasets, func(p *importer.Progress) int64 { return p.Datasets }),
		gauge(metricnames.MetricImportRecords, func(p *importer.Progress) int64 { return p.Records }),
		gauge(metricnames.MetricImportBytes, func(p *importer.Progress) int64 { return p.Bytes }),
		gauge(metricnames.MetricImportSourceBytes, func(p *importer.Progress) int64 { return p.TotalBytes }),
		gauge(metricnames.MetricImportDone, func(p *importer.Progress) int64 {
			if p.Done {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts(metricnames.MetricImportThrottled)),
			func() float64 { return float64(m.last.Load().Throttled) }),
	)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("import metrics listener stopped", "err", err)
		}
	}()
	log.Info("serving the import's metrics", "addr", "http://"+ln.Addr().String()+"/metrics")
	return m, nil
}

// observe keeps p as what /metrics shows.
func (m *importMetrics) observe(p importer.Progress) { m.last.Store(&p) }

// Close stops the listener, letting a scrape in progress finish.
func (m *importMetrics) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m.srv.Shutdown(ctx)
	<-m.done
}
