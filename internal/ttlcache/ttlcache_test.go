package ttlcache_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/internal/ttlcache"
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

func newCache(size int, clk *clock) *ttlcache.Cache[string, int] {
	return ttlcache.New[string, int](ttlcache.Config{Size: size, TTL: time.Minute, Now: clk.now})
}

func TestCache_ExpiresAfterTTL(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	c := newCache(10, clk)
	c.Add("a", 1)
	clk.add(30 * time.Second)
	c.Add("b", 2)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Fatalf("Get(a) = %v, %v before its TTL", v, ok)
	}
	clk.add(30 * time.Second) // a is exactly TTL old: gone
	if _, ok := c.Get("a"); ok {
		t.Fatal("a outlived its TTL")
	}
	if v, ok := c.Get("b"); !ok || v != 2 {
		t.Fatalf("Get(b) = %v, %v", v, ok)
	}
	if n := c.Len(); n != 1 {
		t.Fatalf("Len = %d after the sweep, want 1", n)
	}
	clk.add(time.Hour)
	c.Get("anything") // a Get sweeps what expired
	if n := c.Len(); n != 0 {
		t.Fatalf("Len = %d past every TTL, want 0", n)
	}
}

func TestCache_SizeBound(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	c := newCache(3, clk)
	for i := range 100 {
		c.Add(fmt.Sprint(i), i)
		if n := c.Len(); n > 3 {
			t.Fatalf("Len = %d after %d adds, want at most 3", n, i+1)
		}
	}
	for _, k := range []string{"97", "98", "99"} {
		if _, ok := c.Get(k); !ok {
			t.Errorf("newest entry %s evicted", k)
		}
	}
	if _, ok := c.Get("96"); ok {
		t.Error("the oldest entries were not evicted")
	}
}

func TestCache_ReAddAndRemove(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	c := newCache(2, clk)
	c.Add("a", 1)
	c.Add("b", 2)
	clk.add(50 * time.Second)
	c.Add("a", 3) // renewed: now the newest, with a fresh TTL
	c.Add("c", 4) // evicts b, the oldest
	if _, ok := c.Get("b"); ok {
		t.Fatal("b survived eviction")
	}
	clk.add(30 * time.Second)
	if v, ok := c.Get("a"); !ok || v != 3 {
		t.Fatalf("re-added a = %v, %v", v, ok)
	}
	c.Remove("a")
	if _, ok := c.Get("a"); ok || c.Len() != 1 {
		t.Fatalf("Remove left a (Len %d)", c.Len())
	}
}

func TestCache_Concurrent(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	c := newCache(50, clk)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				k := fmt.Sprint(g*1000 + i%100)
				c.Add(k, i)
				c.Get(k)
				if i%97 == 0 {
					clk.add(time.Second)
				}
			}
		})
	}
	wg.Wait()
	if n := c.Len(); n > 50 {
		t.Fatalf("Len = %d, want at most 50", n)
	}
}

// A cache that emptied gives back the memory of its largest size.
func TestCache_ShrinksAfterABurst(t *testing.T) {
	clk := &clock{t: time.Unix(1000, 0)}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	c := ttlcache.New[int, [64]byte](ttlcache.Config{Size: 200_000, TTL: time.Minute, Now: clk.now})
	c.Add(-1, [64]byte{})
	before := heap()
	for i := range 100_000 {
		c.Add(i, [64]byte{})
	}
	full := heap()
	clk.add(time.Hour)
	c.Get(0) // sweeps everything
	after := heap()
	if c.Len() != 0 || after > before+(full-before)/10 {
		t.Fatalf("heap %d before, %d full, %d after expiry (Len %d): the map kept its size", before, full, after, c.Len())
	}
	runtime.KeepAlive(c)
}
