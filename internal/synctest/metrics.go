package synctest

import (
	"bytes"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ScrapeMetrics GETs url (a /metrics endpoint) and returns the body.
func ScrapeMetrics(tb testing.TB, url string) []byte {
	tb.Helper()
	res, err := http.Get(url)
	if err != nil {
		tb.Fatalf("scrape %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		tb.Fatalf("scrape %s: %s %v\n%s", url, res.Status, err, b)
	}
	return b
}

// CheckMetrics holds a Prometheus text exposition (a scrape of /metrics)
// to the metric contract (metricnames.Metrics) for a binary whose metrics the
// contract lists under exporters: it fails tb for every cognitosync_ family
// exposed more than once, not in the contract, listed for another exporter,
// of another type, or with series whose label names are not exactly the
// contract's, and for every contract metric of exporters that is not
// exposed. Exercise the binary first: a labelled metric has no series until
// something counts.
func CheckMetrics(tb testing.TB, exposition []byte, exporters ...string) {
	tb.Helper()
	typeLines := map[string]int{}
	for _, line := range strings.Split(string(exposition), "\n") {
		if f := strings.Fields(line); len(f) >= 4 && f[0] == "#" && f[1] == "TYPE" && strings.HasPrefix(f[2], "cognitosync_") {
			typeLines[f[2]]++
		}
	}
	for name, n := range typeLines {
		if n != 1 {
			tb.Errorf("%s is exposed %d times", name, n)
		}
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := p.TextToMetricFamilies(bytes.NewReader(exposition))
	if err != nil {
		tb.Fatalf("parse the exposition: %v", err)
	}
	var mfs []*dto.MetricFamily
	for _, mf := range byName {
		mfs = append(mfs, mf)
	}
	checkFamilies(tb, mfs, exporters)
}

// CheckRegistry is CheckMetrics on what g gathers.
func CheckRegistry(tb testing.TB, g prometheus.Gatherer, exporters ...string) {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatalf("gather: %v", err)
	}
	checkFamilies(tb, mfs, exporters)
}

func checkFamilies(tb testing.TB, mfs []*dto.MetricFamily, exporters []string) {
	tb.Helper()
	seen := map[string]bool{}
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "cognitosync_") {
			continue
		}
		seen[name] = true
		m, ok := metricnames.LookupMetric(name)
		if !ok || m.Name != name {
			tb.Errorf("%s is exported but not in the metric contract (internal/metricnames)", name)
			continue
		}
		if !slices.Contains(exporters, m.Exporter) {
			tb.Errorf("%s is exported, but the contract lists it for %s, not %v", name, m.Exporter, exporters)
		}
		if got := strings.ToLower(mf.GetType().String()); got != string(m.Type) {
			tb.Errorf("%s is a %s, the contract says %s", name, got, m.Type)
		}
		want := slices.Sorted(slices.Values(m.Labels))
		for _, series := range mf.GetMetric() {
			var got []string
			for _, lp := range series.GetLabel() {
				got = append(got, lp.GetName())
			}
			if slices.Sort(got); !slices.Equal(got, want) {
				tb.Errorf("%s has a series with labels %v, the contract says %v", name, got, want)
				break
			}
		}
	}
	for _, m := range metricnames.ExportedBy(exporters...) {
		if !seen[m.Name] {
			tb.Errorf("%s (contract: exported by %s) is not exported", m.Name, m.Exporter)
		}
	}
}
