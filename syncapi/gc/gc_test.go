package gc_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/gc"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
)

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

// fill creates, at the clock's time, n guest identities that only got
// credentials (as GetId and GetCredentialsForIdentity leave them) and one
// that stored a record.
func fill(t *testing.T, s syncapi.Store, clk *clock, pool string, n int) (keep string) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		id := fmt.Sprintf("us-east-1:00000000-0000-4000-8000-%012d", i)
		if err := s.CreateIdentity(ctx, syncapi.Identity{PoolID: pool, ID: id, Created: clk.now()}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutCredential(ctx, syncapi.Credential{AccessKeyID: fmt.Sprintf("ASIA%012d", i), Secret: "s", SessionToken: "t",
			Expires: clk.now().Add(time.Hour), Caller: syncapi.Caller{PoolID: pool, IdentityID: id}}); err != nil {
			t.Fatal(err)
		}
	}
	keep = "us-east-1:11111111-0000-4000-8000-000000000000"
	if err := s.CreateIdentity(ctx, syncapi.Identity{PoolID: pool, ID: keep, Created: clk.now()}); err != nil {
		t.Fatal(err)
	}
	v := "v"
	if _, err := s.UpdateRecords(ctx, syncapi.UpdateRequest{Key: syncapi.DatasetKey{PoolID: pool, IdentityID: keep, Name: "d"},
		Changes: []syncapi.Change{{Key: "k", Value: &v}}, Now: clk.now()}); err != nil {
		t.Fatal(err)
	}
	return keep
}

func TestCollector_DeletesWhatNobodyCanUse(t *testing.T) {
	for name, open := range synctest.Stores() {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			clk := &clock{t: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)}
			pool := synctest.PoolID()
			if err := s.CreatePool(context.Background(), syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: pool, IdentityPoolName: "p"}}); err != nil {
				t.Fatal(err)
			}
			keep := fill(t, s, clk, pool, 25)
			reg := prometheus.NewRegistry()
			g, err := gc.New(gc.Config{Store: s.(gc.Store), IdentityTTL: 24 * time.Hour, Batch: 10, Now: clk.now, Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			deleted := func(kind string) float64 {
				return testutil.ToFloat64(counterVec(t, reg, "cognitosync_gc_deleted_total", kind))
			}

			// Credentials valid, identities young: nothing to do.
			if res, err := g.RunOnce(context.Background()); err != nil || res != (gc.Result{}) {
				t.Fatalf("RunOnce at once = %+v, %v", res, err)
			}
			// Credentials expired, but not for an hour yet: SDKs that
			// present them get ExpiredTokenException and refresh.
			clk.add(90 * time.Minute)
			if res, err := g.RunOnce(context.Background()); err != nil || res != (gc.Result{}) {
				t.Fatalf("RunOnce 30 min after expiry = %+v, %v", res, err)
			}
			clk.add(time.Hour)
			res, err := g.RunOnce(context.Background())
			if err != nil || res.Credentials != 25 || res.Identities != 0 {
				t.Fatalf("RunOnce after the grace = %+v, %v; want 25 credentials in batches of 10", res, err)
			}
			clk.add(24 * time.Hour)
			res, err = g.RunOnce(context.Background())
			if err != nil || res.Credentials != 0 || res.Identities != 25 {
				t.Fatalf("RunOnce past the identity TTL = %+v, %v; want the 25 idle identities", res, err)
			}
			if _, err := s.GetIdentity(context.Background(), keep); err != nil {
				t.Fatalf("the identity that stored a record was collected: %v", err)
			}
			if _, err := s.LookupCredential(context.Background(), "ASIA000000000000"); !errors.Is(err, syncapi.ErrNotFound) {
				t.Fatalf("an expired credential survived: %v", err)
			}
			if deleted(gc.KindCredentials) != 25 || deleted(gc.KindIdentities) != 25 {
				t.Fatalf("metrics: %v credentials, %v identities", deleted(gc.KindCredentials), deleted(gc.KindIdentities))
			}
		})
	}
}

// Without IdentityTTL identities are never collected.
func TestCollector_IdentityTTLZeroKeepsIdentities(t *testing.T) {
	s := synctest.SQLite(t)
	clk := &clock{t: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)}
	pool := synctest.PoolID()
	if err := s.CreatePool(context.Background(), syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: pool, IdentityPoolName: "p"}}); err != nil {
		t.Fatal(err)
	}
	fill(t, s, clk, pool, 3)
	g, err := gc.New(gc.Config{Store: s.(gc.Store), Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	clk.add(365 * 24 * time.Hour)
	if res, err := g.RunOnce(context.Background()); err != nil || res.Identities != 0 || res.Credentials != 3 {
		t.Fatalf("RunOnce = %+v, %v", res, err)
	}
}

// Run collects at once, then every Interval, on one process of those that
// share the store (the lease); it stops with its context.
func TestCollector_RunTakesTheLease(t *testing.T) {
	s := synctest.SQLite(t)
	db := s.(*sqlstore.DB)
	clk := &clock{t: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)}
	pool := synctest.PoolID()
	if err := s.CreatePool(context.Background(), syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: pool, IdentityPoolName: "p"}}); err != nil {
		t.Fatal(err)
	}
	fill(t, s, clk, pool, 3)
	clk.add(3 * time.Hour) // the credentials are collectable
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, reg := range regs {
		g, err := gc.New(gc.Config{Store: db, Leases: db, Interval: time.Hour, Now: clk.now, Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := g.Run(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	runs := func() (n float64) {
		for _, reg := range regs {
			n += testutil.ToFloat64(counterVec(t, reg, "cognitosync_gc_runs_total", "ok"))
		}
		return n
	}
	for deadline := time.Now().Add(10 * time.Second); runs() < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no collector ran")
		}
	}
	cancel()
	wg.Wait()
	if n := runs(); n != 1 {
		t.Fatalf("%v runs within one interval, want 1 (the lease holder)", n)
	}
	if _, err := s.LookupCredential(context.Background(), "ASIA000000000000"); !errors.Is(err, syncapi.ErrNotFound) {
		t.Fatalf("credential after Run: %v", err)
	}
}

// The metric names are in the contract (internal/metricnames).
func TestCollector_MetricsInTheContract(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := gc.New(gc.Config{Store: synctest.SQLite(t).(gc.Store), Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) == 0 {
		t.Fatal("no metrics registered")
	}
	for _, mf := range mfs {
		m, ok := metricnames.LookupMetric(mf.GetName())
		if !ok || m.Exporter != "syncd" || string(m.Type) != map[string]string{"COUNTER": "counter"}[mf.GetType().String()] {
			t.Errorf("metric %s (%s) is not in the contract as a syncd counter: %+v", mf.GetName(), mf.GetType(), m)
		}
	}
}

func counterVec(t *testing.T, reg *prometheus.Registry, name, label string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					c.Add(m.GetCounter().GetValue())
				}
			}
		}
	}
	return c
}
