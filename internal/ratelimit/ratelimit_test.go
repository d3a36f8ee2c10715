package ratelimit_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/internal/ratelimit"
)

// clock is a settable clock for the buckets.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestAllow_BurstThenRate(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	reg := prometheus.NewRegistry()
	l, err := ratelimit.New(ratelimit.Config{Rate: 2, Now: clk.now, Operation: "GetId", Scope: "pool", Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 { // burst: twice the rate
		if !l.Allow("a") {
			t.Fatalf("call %d of the burst refused", i)
		}
	}
	if l.Allow("a") {
		t.Fatal("call past the burst allowed")
	}
	if !l.Allow("b") {
		t.Fatal("another key shares the bucket")
	}
	clk.add(500 * time.Millisecond) // one token at 2/s
	if !l.Allow("a") || l.Allow("a") {
		t.Fatal("after 0.5 s at 2/s exactly one more call is allowed")
	}
	if got := throttled(t, reg); got != 2 {
		t.Errorf("refusals counted %v, want 2", got)
	}
}

// throttled is the value of cognitosync_throttled_requests_total{operation="GetId",scope="pool"}.
func throttled(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "cognitosync_throttled_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["operation"] == "GetId" && labels["scope"] == "pool" {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatal("no cognitosync_throttled_requests_total{operation=\"GetId\",scope=\"pool\"}")
	return 0
}

// Memory is bounded by MaxKeys whatever the number of keys seen; a forgotten
// key starts with a full bucket.
func TestAllow_BoundedKeys(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l, err := ratelimit.New(ratelimit.Config{Rate: 1, Burst: 1, MaxKeys: 100, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if !l.Allow("first") || l.Allow("first") {
		t.Fatal("burst of 1")
	}
	for i := range 100_000 {
		l.Allow(fmt.Sprintf("key-%d", i))
	}
	if n := l.Len(); n > 100 {
		t.Fatalf("%d keys remembered, MaxKeys is 100", n)
	}
	if !l.Allow("first") {
		t.Error("a forgotten key must start with a full bucket")
	}
}

func TestAllow_Concurrent(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l, err := ratelimit.New(ratelimit.Config{Rate: 0.001, Burst: 10, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if l.Allow("same") {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 10 {
		t.Errorf("%d calls allowed concurrently, want the burst of 10", allowed)
	}
}

func TestNew_Validate(t *testing.T) {
	for _, c := range []ratelimit.Config{{Rate: 0}, {Rate: -1}, {Rate: 1, Burst: -1}, {Rate: 1, MaxKeys: -1}} {
		if _, err := ratelimit.New(c); err == nil || !strings.Contains(err.Error(), "ratelimit:") {
			t.Errorf("New(%+v) = %v, want an error", c, err)
		}
	}
}
