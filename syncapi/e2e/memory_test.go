package e2e_test

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/internal/synctest"
)

// TestMemory_BoundedByConfigurationNotByIdentities syncs memIdentities
// guest identities once each (GetId, GetCredentialsForIdentity, ListRecords,
// UpdateRecords, as a device's first sync does) through one syncd stack,
// moves its clock past every cache TTL, and checks that the Go heap comes
// back near what it held before: nothing is kept per identity, token or
// dataset ever seen (issue 14 measured about 900 bytes per identity, never
// released). The clock is injected; nothing sleeps.
func TestMemory_BoundedByConfigurationNotByIdentities(t *testing.T) {
	clk := &fakeClock{t: time.Now().UTC()}
	srv := synctest.Start(t, synctest.Options{Now: clk.now})
	pool := synctest.PoolID()
	srv.CreatePool(t, pool)
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	defer tr.CloseIdleConnections()
	w := &synctest.WireClient{URL: srv.URL, Pool: pool, HTTP: &http.Client{Transport: tr, Timeout: 30 * time.Second}, Now: clk.now}
	ctx := context.Background()

	// Warm up (code paths, connection pools, statement caches), then let
	// every TTL pass and measure.
	if err := w.FirstSyncs(ctx, 1000, 16); err != nil {
		t.Fatal(err)
	}
	clk.add(2 * time.Hour)
	sweep(t, w, srv)
	before := liveHeap()

	if err := w.FirstSyncs(ctx, memIdentities, 16); err != nil {
		t.Fatal(err)
	}
	during := liveHeap()
	clk.add(2 * time.Hour)
	sweep(t, w, srv)
	after := liveHeap()

	growth := int64(after) - int64(before)
	t.Logf("Go heap: %.1f MiB before, %.1f MiB right after %d identities, %.1f MiB past the TTLs (%+d bytes, %.1f bytes per identity)",
		mib(before), mib(during), memIdentities, mib(after), growth, float64(growth)/memIdentities)
	// Allowed: 10 bytes per identity (none is kept; this is slack for the
	// allocator and the runtime) plus 512 KiB.
	if limit := int64(10*memIdentities + 512<<10); growth > limit {
		t.Fatalf("the heap grew by %d bytes over %d identities past every TTL (limit %d): something is kept per identity",
			growth, memIdentities, limit)
	}
}

// sweep makes each cache look at the clock: a developer request signed at
// the server's time (the signer cache), and a new identity's sync (the
// credential cache). Caches drop what expired on their next use.
func sweep(t *testing.T, w *synctest.WireClient, srv *synctest.Server) {
	t.Helper()
	ctx := context.Background()
	dev := synctest.WireCredentials{AccessKeyID: srv.DevKeyID, SecretKey: srv.DevSecret}
	if err := w.Signed(ctx, dev, "GET", "/identitypools/"+escapeLabel(w.Pool), nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.FirstSync(ctx); err != nil {
		t.Fatal(err)
	}
	w.HTTP.CloseIdleConnections()
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// liveHeap returns the heap in use after two full collections.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
