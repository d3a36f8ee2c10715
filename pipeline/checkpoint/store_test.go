package checkpoint_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/pipeline/checkpoint"
	"github.com/cognitosync/cognitosync/pipeline/checkpoint/checkpointtest"
	"github.com/cognitosync/cognitosync/pipeline/stream"
)

func TestStore_SQLite(t *testing.T) {
	checkpointtest.Run(t, func(t *testing.T) stream.CheckpointStore {
		return open(t, filepath.Join(t.TempDir(), "cp.db"), nil)
	})
}

func TestStore_Postgres(t *testing.T) {
	newURL := postgresSchemas(t)
	checkpointtest.Run(t, func(t *testing.T) stream.CheckpointStore {
		return open(t, newURL(t), nil)
	})
}

func TestLeases_SQLite(t *testing.T) {
	checkpointtest.RunLeases(t, func(t *testing.T, now func() time.Time) stream.LeaseStore {
		return open(t, filepath.Join(t.TempDir(), "cp.db"), now)
	})
	t.Run("DatabaseClock", func(t *testing.T) {
		testDatabaseClock(t, open(t, filepath.Join(t.TempDir(), "cp.db"), nil))
	})
}

func TestLeases_Postgres(t *testing.T) {
	newURL := postgresSchemas(t)
	checkpointtest.RunLeases(t, func(t *testing.T, now func() time.Time) stream.LeaseStore {
		return open(t, newURL(t), now)
	})
	t.Run("DatabaseClock", func(t *testing.T) {
		testDatabaseClock(t, open(t, newURL(t), nil))
	})
}

// testDatabaseClock checks expiry by the database's own clock (no LeaseNow).
func testDatabaseClock(t *testing.T, st *checkpoint.Store) {
	ctx := context.Background()
	const ttl = 300 * time.Millisecond
	acquire := func(owner string) bool {
		t.Helper()
		ok, err := st.AcquireLease(ctx, "g", "s", "shard", owner, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	before := time.Now()
	if !acquire("a") || acquire("b") {
		t.Fatal("a should hold the lease, b not")
	}
	ls, err := st.Leases(ctx, "g", "s")
	if err != nil || len(ls) != 1 || !ls[0].Live {
		t.Fatalf("Leases = %+v, %v", ls, err)
	}
	// Same host: the database's clock is ours, to within a second.
	if d := ls[0].Expires.Sub(before.Add(ttl)); d < -time.Second || d > time.Second {
		t.Errorf("lease expires %v, want about %v", ls[0].Expires, before.Add(ttl))
	}
	// Wait for the database's clock to pass the expiry, as another worker
	// would see it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ls, err := st.Leases(ctx, "g", "s")
		if err != nil || len(ls) != 1 {
			t.Fatalf("Leases = %+v, %v", ls, err)
		}
		if !ls[0].Live {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease still live 10s after a %v TTL: %+v", ttl, ls[0])
		}
	}
	if !acquire("b") {
		t.Fatal("b should take the expired lease")
	}
	if ok, err := st.RenewLease(ctx, "g", "s", "shard", "a", ttl); ok || err != nil {
		t.Fatalf("RenewLease by a = %v, %v; want false", ok, err)
	}
}

// postgresSchemas skips without PostgreSQL and returns a function giving
// each call an empty schema of its own, so that runs and packages stay apart.
func postgresSchemas(t *testing.T) func(t *testing.T) string {
	url := synctest.ServiceURL(t, "SYNC_TEST_POSTGRES_URL")
	schema := fmt.Sprintf("cp_test_%d", time.Now().UnixNano())
	admin, err := sqldb.Open(context.Background(), sqldb.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	n := 0
	return func(t *testing.T) string {
		n++
		s := fmt.Sprintf("%s_%d", schema, n)
		if _, err := admin.DB.Exec("CREATE SCHEMA " + s); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.DB.Exec("DROP SCHEMA " + s + " CASCADE") })
		return url + sep + "search_path=" + s
	}
}

func open(t *testing.T, url string, leaseNow func() time.Time) *checkpoint.Store {
	t.Helper()
	ctx := context.Background()
	h, err := sqldb.Open(ctx, sqldb.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	st, err := checkpoint.New(ctx, checkpoint.Config{DB: h, LeaseNow: leaseNow})
	if err != nil {
		t.Fatal(err)
	}
	return st
}
