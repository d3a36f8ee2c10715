package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestRegister_SharesTheFirstCollector: a second identical registration
// returns the first collector, so both users count into one series; a
// conflicting one (same name, other labels) is an error.
func TestRegister_SharesTheFirstCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "promreg_test_total", Help: "h"}
	a, err := Register(reg, prometheus.NewCounterVec(opts, []string{"x"}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Register(reg, prometheus.NewCounterVec(opts, []string{"x"}))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("the second registration did not return the first collector")
	}
	if _, err := Register(reg, prometheus.NewCounterVec(opts, []string{"y"})); err == nil {
		t.Fatal("a conflicting registration succeeded")
	}
}
