package main

import (
	"fmt"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cognitosync/cognitosync/pipeline"
)

// delivery is what the worker's own metrics say it delivered so far:
// stream records (one per dataset change, or per dataset of a bulk
// publish) and the record changes in them, as the busiest sink saw them
// (every sink of a route gets each record; routes may filter).
type delivery struct {
	datasets, records float64
	at                time.Time
}

// deliveredSoFar reads the totals from the process's registry, the same
// numbers /metrics serves (internal/metricnames).
func deliveredSoFar(g prometheus.Gatherer) delivery {
	d := delivery{at: time.Now()}
	mfs, err := g.Gather()
	if err != nil {
		return d
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case metricnames.MetricWorkerMessages:
			// Per route and sink, the records it finished (ok or poison).
			per := map[string]float64{}
			for _, m := range mf.GetMetric() {
				l := labels(m)
				if l["outcome"] == pipeline.OutcomeOK || l["outcome"] == pipeline.OutcomePoison {
					per[l["route"]+"\x00"+l["sink"]] += m.GetCounter().GetValue()
				}
			}
			for _, v := range per {
				d.datasets = max(d.datasets, v)
			}
		case metricnames.MetricSinkChanges:
			for _, m := range mf.GetMetric() {
				d.records = max(d.records, m.GetCounter().GetValue())
			}
		}
	}
	return d
}

func labels(m *dto.Metric) map[string]string {
	out := make(map[string]string, len(m.GetLabel()))
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// since describes what was delivered between start and d, for progress
// lines: "5 datasets, 6 records (12 records/s)".
func (d delivery) since(start delivery) string {
	ds, rs := d.datasets-start.datasets, d.records-start.records
	secs := d.at.Sub(start.at).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = rs / secs
	}
	return fmt.Sprintf("%s, %s (%.0f records/s)", plural(ds, "dataset"), plural(rs, "record"), rate)
}

func plural(n float64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "y") {
		return fmt.Sprintf("%.0f %sies", n, strings.TrimSuffix(what, "y"))
	}
	return fmt.Sprintf("%.0f %ss", n, what)
}
