package metricnames

import (
	"go/build"
	"testing"
)

// TestImportsOnlyStandardLibrary keeps the contract importable by every
// exporter: a package here that imported the pipeline (and so Watermill)
// would pull it into syncapi's libraries again.
func TestImportsOnlyStandardLibrary(t *testing.T) {
	p, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range p.Imports {
		std, err := build.Import(imp, "", build.FindOnly)
		if err != nil {
			t.Fatalf("%s: %v", imp, err)
		}
		if !std.Goroot {
			t.Errorf("metricnames imports %s, which is not in the standard library", imp)
		}
	}
}

// TestLookupMetric_HistogramSeries: the series Prometheus derives from a
// histogram resolve to it, and no other name does.
func TestLookupMetric_HistogramSeries(t *testing.T) {
	if m, ok := LookupMetric(MetricRequestDuration + "_bucket"); !ok || m.Name != MetricRequestDuration {
		t.Errorf("LookupMetric(%s_bucket) = %v, %v", MetricRequestDuration, m, ok)
	}
	if _, ok := LookupMetric(MetricRequests + "_bucket"); ok {
		t.Errorf("a counter's _bucket series resolved")
	}
	if _, ok := LookupMetric("cognitosync_not_a_metric"); ok {
		t.Errorf("an unknown name resolved")
	}
}
