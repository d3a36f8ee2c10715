package syncd_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/sinktest"
	"github.com/cognitosync/cognitosync/sinks/syncd"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
)

const pool = "us-east-1:00000000-0000-4000-8000-000000000001" // sinktest's pool

var dialects = []struct {
	name string
	url  func(testing.TB) string
}{
	{"sqlite", func(t testing.TB) string { return t.TempDir() }}, // a syncd --data directory
	{"postgres", synctest.PostgresURL},
}

// open opens the target store the way syncd does and creates the pool, as
// `syncd import` does before the stream's changes can land.
func open(t testing.TB, store string) *sqlstore.DB {
	t.Helper()
	url, err := syncd.StorePath(store)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(context.Background(), sqlstore.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreatePool(context.Background(), syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: pool, IdentityPoolName: "p"}}); err != nil {
		t.Fatal(err)
	}
	return db
}

func newSink(t testing.TB, store string) *syncd.Sink {
	t.Helper()
	s, err := syncd.New(context.Background(), syncd.Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// state reads every record of the pool from the store, through the store's
// own ListRecords, as changes: a record's DatasetSyncCount is its own
// SyncCount (syncd writes a record at the dataset count its write made).
func state(t *testing.T, store string, db syncapi.Store) sinktest.State {
	t.Helper()
	url, _ := syncd.StorePath(store)
	h, err := sqldb.Open(context.Background(), sqldb.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	rows, err := h.DB.Query(h.Dialect.Rebind(`SELECT identity_id, name, deleted_at, deleted_ms FROM datasets WHERE pool_id = ?`), pool)
	if err != nil {
		t.Fatal(err)
	}
	var keys []syncapi.DatasetKey
	out := sinktest.State{}
	for rows.Next() {
		k := syncapi.DatasetKey{PoolID: pool}
		var deletedAt, deletedMS int64
		if err := rows.Scan(&k.IdentityID, &k.Name, &deletedAt, &deletedMS); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		if deletedAt > 0 { // the dataset's latest deletion
			d := pipeline.DatasetDeletion(pool, k.IdentityID, k.Name, deletedAt, time.UnixMilli(deletedMS).UTC())
			out[sinktest.Of(d)] = d
		}
	}
	rows.Close()
	for _, k := range keys {
		p, err := db.ListRecords(t.Context(), k, syncapi.RecordQuery{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			c := pipeline.Change{IdentityPoolID: pool, IdentityID: k.IdentityID, DatasetName: k.Name, Key: r.Key, Value: r.Value,
				Op: pipeline.OpReplace, SyncCount: r.SyncCount, DatasetSyncCount: r.SyncCount,
				LastModified: r.LastModifiedDate.Time, DeviceLastModified: r.DeviceLastModifiedDate.Time}
			if r.Value == nil {
				c.Op = pipeline.OpRemove
			}
			out[sinktest.Of(c)] = c
		}
	}
	return out
}

func TestSink(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			sinktest.Run(t, sinktest.Harness{TimeResolution: time.Millisecond, New: func(t *testing.T) (pipeline.Sink, func(*testing.T) sinktest.State) {
				store := d.url(t)
				db := open(t, store)
				return newSink(t, store), func(t *testing.T) sinktest.State { return state(t, store, db) }
			}})
		})
	}
}

func deletion(id, dataset string, n int64) pipeline.Change {
	return pipeline.DatasetDeletion(pool, id, dataset, n, sinktest.T0)
}

// TestSink_DatasetDeletion: a deletion removes what came before it, in any
// order of arrival, and records written after it survive.
func TestSink_DatasetDeletion(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := t.Context()
			for _, order := range []string{"deletion-last", "deletion-first"} {
				t.Run(order, func(t *testing.T) {
					store := d.url(t)
					db := open(t, store)
					s := newSink(t, store)
					before := []pipeline.Change{sinktest.Put("us-east-1:a", "k1", "v", 1), sinktest.Put("us-east-1:a", "k2", "v", 2)}
					del := []pipeline.Change{deletion("us-east-1:a", "settings", 2)}
					after := []pipeline.Change{sinktest.Put("us-east-1:a", "k3", "new", 3)}
					batches := [][]pipeline.Change{before, del, after}
					if order == "deletion-first" {
						batches = [][]pipeline.Change{del, after, before}
					}
					for _, b := range batches {
						if err := s.Write(ctx, b); err != nil {
							t.Fatal(err)
						}
					}
					sinktest.Equal(t, state(t, store, db), ms(sinktest.Fold(batches...)))
					k := syncapi.DatasetKey{PoolID: pool, IdentityID: "us-east-1:a", Name: "settings"}
					st, err := db.GetDataset(ctx, k)
					if err != nil {
						t.Fatal(err)
					}
					if !st.Exists || st.SyncCount != 3 || st.DeletedAt != 2 || st.NumRecords != 1 {
						t.Fatalf("dataset %+v", st)
					}
					// Deleted and not re-created: gone.
					if err := s.Write(ctx, []pipeline.Change{sinktest.Put("us-east-1:b", "x", "1", 4), deletion("us-east-1:b", "settings", 4)}); err != nil {
						t.Fatal(err)
					}
					if st, _ := db.GetDataset(ctx, syncapi.DatasetKey{PoolID: pool, IdentityID: "us-east-1:b", Name: "settings"}); st.Exists || st.DeletedAt != 4 {
						t.Fatalf("deleted dataset %+v", st)
					}
				})
			}
		})
	}
}

// TestSink_UnknownPoolWaits: before the import created the pool a write
// waits (it ends, retryably, only with its context) and lands as soon as
// the pool exists; input no store keeps is permanent.
func TestSink_UnknownPoolWaits(t *testing.T) {
	store := filepath.Join(t.TempDir(), "target.db")
	s := newSink(t, store)
	c := sinktest.Put("us-east-1:a", "k", "v", 1)

	ctx, cancel := context.WithTimeout(t.Context(), 2*syncd.PoolPoll)
	defer cancel()
	err := s.Write(ctx, []pipeline.Change{c})
	if err == nil || pipeline.IsPermanent(err) || ctx.Err() == nil {
		t.Fatalf("unknown pool: err = %v, want a retryable error once the context ended", err)
	}

	done := make(chan error, 1)
	go func() { done <- s.Write(t.Context(), []pipeline.Change{c}) }()
	select {
	case err := <-done:
		t.Fatalf("the write did not wait for the pool: %v", err)
	case <-time.After(syncd.PoolPoll / 2):
	}
	db := open(t, store) // the import creates the pool
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * syncd.PoolPoll):
		t.Fatal("the write did not follow the pool's creation")
	}
	sinktest.Equal(t, state(t, store, db), ms(sinktest.Fold([]pipeline.Change{c})))

	bad := sinktest.Put("us-east-1:a", "k\xff", "v", 1)
	if err := s.Write(t.Context(), []pipeline.Change{bad}); !pipeline.IsPermanent(err) {
		t.Fatalf("invalid key: err = %v, want permanent", err)
	}
}

// ms truncates the times of want to the millisecond, the precision syncd
// keeps (as the wire does).
func ms(want sinktest.State) sinktest.State {
	out := sinktest.State{}
	for id, c := range want {
		c.LastModified, c.DeviceLastModified = c.LastModified.Truncate(time.Millisecond), c.DeviceLastModified.Truncate(time.Millisecond)
		out[id] = c
	}
	return out
}
