package sqlstore_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
	"github.com/cognitosync/cognitosync/syncapi/storetest"
)

// sqliteURL returns the URL of a fresh SQLite database.
func sqliteURL(t testing.TB) string {
	return filepath.Join(t.TempDir(), "syncd.db")
}

// postgresURL returns the URL of a fresh schema of the test database
// (dropped at cleanup), or skips when SYNC_TEST_POSTGRES_URL is unset
// (fails under CI=true).
func postgresURL(t testing.TB) string {
	t.Helper()
	return synctest.PostgresURL(t)
}

func open(t testing.TB, u string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), sqlstore.Config{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var dialects = []struct {
	name string
	url  func(testing.TB) string
}{
	{"sqlite", sqliteURL},
	{"postgres", postgresURL},
}

func TestStore(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) syncapi.Store { return open(t, d.url(t)) })
		})
	}
}

// Two DBs on one database behave as two syncd processes.
func TestUpdateRecords_TwoProcessesRace(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			u := d.url(t)
			a, b := open(t, u), open(t, u)
			storetest.Race(t, 32, 10, a, b)
		})
	}
}

// Concurrent first starts must agree on the schema.
func TestOpen_ConcurrentMigrations(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			u := d.url(t)
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					db, err := sqlstore.Open(t.Context(), sqlstore.Config{URL: u})
					if err != nil {
						t.Error(err)
						return
					}
					db.Close()
				})
			}
			wg.Wait()
		})
	}
}

// TestMigrations_WrittenOnce: a migration that is the same for both
// dialects lives once, in shared/, not as two copies.
func TestMigrations_WrittenOnce(t *testing.T) {
	fsys := sqlstore.Migrations()
	entries, err := fs.ReadDir(fsys, "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		a, _ := fs.ReadFile(fsys, "sqlite/"+e.Name())
		b, err := fs.ReadFile(fsys, "postgres/"+e.Name())
		if err == nil && bytes.Equal(a, b) {
			t.Errorf("sqlite/%s and postgres/%s are identical: move it to shared/", e.Name(), e.Name())
		}
	}
}

// A write is visible to a new process at once: it was committed.
func TestUpdateRecords_Durable(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			u := d.url(t)
			db := open(t, u)
			k := syncapi.DatasetKey{PoolID: "us-east-1:0", IdentityID: "us-east-1:1", Name: "d"}
			createPool(t, db, k.PoolID)
			v := "v"
			if _, err := db.UpdateRecords(t.Context(), syncapi.UpdateRequest{Key: k, Changes: []syncapi.Change{{Key: "a", Value: &v}}, Now: time.Now()}); err != nil {
				t.Fatal(err)
			}
			db.Close()
			db2 := open(t, u)
			ds, err := db2.GetDataset(t.Context(), k)
			if err != nil || !ds.Exists || ds.SyncCount != 1 {
				t.Fatalf("after reopen: %+v, %v", ds, err)
			}
		})
	}
}

// createPool creates an identity pool: writes below a pool need it.
func createPool(t testing.TB, db *sqlstore.DB, id string) {
	t.Helper()
	if err := db.CreatePool(context.Background(), syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: id, IdentityPoolName: "p"}}); err != nil {
		t.Fatal(err)
	}
}

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT ? , ?", "SELECT $1 , $2"},
		{"SELECT '?', \"a?\", ? -- why?\n, ?", "SELECT '?', \"a?\", $1 -- why?\n, $2"},
		{"x = ANY(?::text[])", "x = ANY($1::text[])"},
	}
	for _, tc := range tests {
		if got := sqldb.Postgres.Rebind(tc.in); got != tc.want {
			t.Errorf("Rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := sqldb.SQLite.Rebind(tc.in); got != tc.in {
			t.Errorf("SQLite Rebind changed %q", tc.in)
		}
	}
}

// BenchmarkUpdateRecordsParallel measures durable UpdateRecords per second
// with about 64 concurrent callers, each on its own dataset.
func BenchmarkUpdateRecordsParallel(b *testing.B) {
	for _, d := range dialects {
		b.Run(d.name, func(b *testing.B) {
			db := open(b, d.url(b))
			createPool(b, db, "us-east-1:bench")
			var n atomic.Int64
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0))) // p×GOMAXPROCS goroutines
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				g := n.Add(1)
				k := syncapi.DatasetKey{PoolID: "us-east-1:bench", IdentityID: fmt.Sprintf("us-east-1:%d", g), Name: "d"}
				var count int64
				for pb.Next() {
					v := fmt.Sprintf("value-%d", count)
					_, err := db.UpdateRecords(context.Background(), syncapi.UpdateRequest{
						Key: k, Changes: []syncapi.Change{{Key: fmt.Sprintf("k%d", count%16), Value: &v}}, By: "bench", Now: time.Now(),
					})
					if err != nil {
						b.Error(err)
						return
					}
					count++
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
		})
	}
}
