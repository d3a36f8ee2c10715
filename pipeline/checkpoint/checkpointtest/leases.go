package checkpointtest

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/pipeline/stream"
)

// Clock is the fake clock RunLeases drives; stores read it through Now.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// RunLeases checks LeaseStore semantics. newStore returns an empty store
// whose clock is now.
func RunLeases(t *testing.T, newStore func(t *testing.T, now func() time.Time) stream.LeaseStore) {
	ctx := context.Background()
	const s1 = "shardId-000000000000"
	const s2 = "shardId-000000000001"
	const ttl = 10 * time.Second
	setup := func(t *testing.T) (stream.LeaseStore, *Clock) {
		c := &Clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
		return newStore(t, c.Now), c
	}
	acquire := func(t *testing.T, st stream.LeaseStore, group, stream, shard, owner string, want bool) {
		t.Helper()
		got, err := st.AcquireLease(ctx, group, stream, shard, owner, ttl)
		must(t, err)
		if got != want {
			t.Fatalf("AcquireLease(%s, %s, %s, %s) = %v, want %v", group, stream, shard, owner, got, want)
		}
	}
	renew := func(t *testing.T, st stream.LeaseStore, shard, owner string, want bool) {
		t.Helper()
		got, err := st.RenewLease(ctx, "g", "s", shard, owner, ttl)
		must(t, err)
		if got != want {
			t.Fatalf("RenewLease(%s, %s) = %v, want %v", shard, owner, got, want)
		}
	}
	leases := func(t *testing.T, st stream.LeaseStore, group, stream string, want ...stream.Lease) {
		t.Helper()
		got, err := st.Leases(ctx, group, stream)
		must(t, err)
		for i := range got {
			got[i].Expires = got[i].Expires.UTC()
		}
		if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("Leases(%s, %s) = %+v, want %+v", group, stream, got, want)
		}
	}
	owners := func(t *testing.T, st stream.LeaseStore, want ...string) {
		t.Helper()
		got, err := st.Owners(ctx, "g", "s")
		must(t, err)
		if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("Owners = %q, want %q", got, want)
		}
	}

	t.Run("Empty", func(t *testing.T) {
		st, _ := setup(t)
		leases(t, st, "g", "s")
		owners(t, st)
	})

	t.Run("OneOwnerAtATime", func(t *testing.T) {
		st, c := setup(t)
		t0 := c.Now()
		acquire(t, st, "g", "s", s1, "a", true)
		acquire(t, st, "g", "s", s1, "b", false)
		acquire(t, st, "g", "s", s1, "a", true) // again: a renewal
		acquire(t, st, "g", "s", s2, "b", true)
		renew(t, st, s1, "b", false)
		c.advance(time.Second)
		renew(t, st, s1, "a", true)
		leases(t, st, "g", "s",
			stream.Lease{ShardID: s1, Owner: "a", Expires: t0.Add(time.Second + ttl), Live: true},
			stream.Lease{ShardID: s2, Owner: "b", Expires: t0.Add(ttl), Live: true})
	})

	t.Run("TakeOverAfterExpiry", func(t *testing.T) {
		st, c := setup(t)
		t0 := c.Now()
		acquire(t, st, "g", "s", s1, "a", true)
		c.advance(ttl - time.Millisecond)
		acquire(t, st, "g", "s", s1, "b", false)
		c.advance(time.Millisecond) // expires_at reached: expired
		leases(t, st, "g", "s", stream.Lease{ShardID: s1, Owner: "a", Expires: t0.Add(ttl), Live: false})
		acquire(t, st, "g", "s", s1, "b", true)
		renew(t, st, s1, "a", false)
		must(t, st.ReleaseLease(ctx, "g", "s", s1, "a")) // not a's: no effect
		leases(t, st, "g", "s", stream.Lease{ShardID: s1, Owner: "b", Expires: t0.Add(2 * ttl), Live: true})
	})

	t.Run("ExpiredOwnLeaseRenews", func(t *testing.T) {
		st, c := setup(t)
		acquire(t, st, "g", "s", s1, "a", true)
		c.advance(2 * ttl)
		renew(t, st, s1, "a", true) // nobody took it
		acquire(t, st, "g", "s", s1, "b", false)
	})

	t.Run("Release", func(t *testing.T) {
		st, _ := setup(t)
		acquire(t, st, "g", "s", s1, "a", true)
		must(t, st.ReleaseLease(ctx, "g", "s", s1, "a"))
		leases(t, st, "g", "s")
		renew(t, st, s1, "a", false)
		acquire(t, st, "g", "s", s1, "b", true) // at once, no expiry wait
	})

	t.Run("Namespaces", func(t *testing.T) {
		st, c := setup(t)
		acquire(t, st, "g", "s", s1, "a", true)
		acquire(t, st, "g2", "s", s1, "b", true)
		acquire(t, st, "g", "s2", s1, "b", true)
		leases(t, st, "g2", "s", stream.Lease{ShardID: s1, Owner: "b", Expires: c.Now().Add(ttl), Live: true})
		owners(t, st, "a")
	})

	t.Run("Owners", func(t *testing.T) {
		st, c := setup(t)
		acquire(t, st, "g", "s", s1, "a", true)
		must(t, st.Heartbeat(ctx, "g", "s", "c", 2*ttl))
		must(t, st.Heartbeat(ctx, "g", "s", "a", ttl))
		must(t, st.Heartbeat(ctx, "g2", "s", "x", ttl))
		owners(t, st, "a", "c")
		c.advance(ttl)
		owners(t, st, "c") // a's lease and heartbeat expired
		must(t, st.Heartbeat(ctx, "g", "s", "c", 0))
		owners(t, st)
		must(t, st.Heartbeat(ctx, "g", "s", "c", ttl))
		owners(t, st, "c")
	})

	t.Run("ConcurrentTakeOver", func(t *testing.T) {
		st, c := setup(t)
		acquire(t, st, "g", "s", s1, "dead", true)
		c.advance(ttl)
		var wg sync.WaitGroup
		var won atomic.Int32
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := st.AcquireLease(ctx, "g", "s", s1, string(rune('a'+w)), ttl)
				if err != nil {
					t.Error(err)
				}
				if ok {
					won.Add(1)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("%d owners took the expired lease, want 1", won.Load())
		}
	})
}
