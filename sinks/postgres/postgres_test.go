package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/postgres"
	"github.com/cognitosync/cognitosync/sinks/sinktest"
)

var ctx = context.Background()

func newSink(t *testing.T, c postgres.Config) *postgres.Sink {
	t.Helper()
	s, err := postgres.New(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// state reads the records table back as changes.
func state(t *testing.T, db *sql.DB, table string) sinktest.State {
	t.Helper()
	rows, err := db.QueryContext(ctx, `SELECT identity_pool_id, identity_id, dataset_name, key, value, op, deleted,
		sync_count, last_modified, device_last_modified, dataset_sync_count FROM `+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := sinktest.State{}
	for rows.Next() {
		var c pipeline.Change
		var value sql.NullString
		var lm, dlm sql.NullTime
		var deleted bool
		if err := rows.Scan(&c.IdentityPoolID, &c.IdentityID, &c.DatasetName, &c.Key, &value, &c.Op, &deleted,
			&c.SyncCount, &lm, &dlm, &c.DatasetSyncCount); err != nil {
			t.Fatal(err)
		}
		if value.Valid {
			c.Value = &value.String
		}
		if deleted != (c.Op == pipeline.OpRemove) || (deleted && value.Valid) {
			t.Errorf("%s: deleted=%v op=%s value=%v: tombstone columns disagree", c.Key, deleted, c.Op, value)
		}
		c.LastModified, c.DeviceLastModified = lm.Time, dlm.Time
		out[sinktest.Of(c)] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// deletions reads the dataset deletions table back as deletion changes.
func deletions(t *testing.T, db *sql.DB, table string) sinktest.State {
	t.Helper()
	rows, err := db.QueryContext(ctx, `SELECT identity_pool_id, identity_id, dataset_name, sync_count, last_modified FROM `+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := sinktest.State{}
	for rows.Next() {
		var pool, id, ds string
		var sc int64
		var lm sql.NullTime
		if err := rows.Scan(&pool, &id, &ds, &sc, &lm); err != nil {
			t.Fatal(err)
		}
		c := pipeline.DatasetDeletion(pool, id, ds, sc, lm.Time)
		out[sinktest.Of(c)] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func count(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestConformance(t *testing.T) {
	sinktest.Run(t, sinktest.Harness{
		TimeResolution: time.Microsecond,
		New: func(t *testing.T) (pipeline.Sink, func(*testing.T) sinktest.State) {
			url := synctest.PostgresURL(t)
			s := newSink(t, postgres.Config{URL: url, ChangeLog: true})
			db := openDB(t, url)
			return s, func(t *testing.T) sinktest.State {
				st := state(t, db, s.Table("records"))
				for id, c := range deletions(t, db, s.Table("dataset_deletions")) {
					st[id] = c
				}
				return st
			}
		},
	})
}

func TestChangeLog(t *testing.T) {
	a := "us-east-1:a"
	history := []pipeline.Change{sinktest.Put(a, "k", "v1", 1), sinktest.Put(a, "k", "v2", 2), sinktest.Remove(a, "k", 3), sinktest.Put(a, "j", "x", 1)}
	tests := []struct {
		name      string
		changeLog bool
		batches   [][]pipeline.Change
		wantRows  int
	}{
		{"Off", false, [][]pipeline.Change{history}, 0},
		{"OneRowPerChange", true, [][]pipeline.Change{history}, 4},
		{"ReplaysAddNothing", true, [][]pipeline.Change{history, history[:2], history[1:], append(history, history...)}, 4},
		{"OutOfOrderStillLogged", true, [][]pipeline.Change{history[2:], history[:2]}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := synctest.PostgresURL(t)
			s := newSink(t, postgres.Config{URL: url, ChangeLog: tc.changeLog})
			for _, b := range tc.batches {
				if err := s.Write(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			db := openDB(t, url)
			if n := count(t, db, s.Table("changes")); n != tc.wantRows {
				t.Errorf("change log rows = %d, want %d", n, tc.wantRows)
			}
			sinktest.Equal(t, state(t, db, s.Table("records")), truncate(sinktest.Fold(history)))
		})
	}
}

func TestSchemaAndPrefix(t *testing.T) {
	url := synctest.PostgresURL(t)
	db := openDB(t, url)
	var schema string
	if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	sub := schema + "_sink"
	t.Cleanup(func() { db.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+sub+" CASCADE") })
	s := newSink(t, postgres.Config{URL: url, Schema: sub, TablePrefix: "app_"})
	if got, want := s.Table("records"), sub+".app_records"; got != want {
		t.Errorf("Table(records) = %q, want %q", got, want)
	}
	if err := s.Write(ctx, []pipeline.Change{sinktest.Put("us-east-1:a", "k", "v", 1)}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, sub+".app_records"); n != 1 {
		t.Errorf("rows in %s.app_records = %d, want 1", sub, n)
	}
	// A second sink with its own prefix in the same schema migrates its own tables.
	other := newSink(t, postgres.Config{URL: url, TablePrefix: "other_"})
	if n := count(t, db, other.Table("records")); n != 0 {
		t.Errorf("rows in other_records = %d, want 0", n)
	}
}

func TestNew_MigratesOnce(t *testing.T) {
	url := synctest.PostgresURL(t)
	s := newSink(t, postgres.Config{URL: url})
	if err := s.Write(ctx, []pipeline.Change{sinktest.Put("us-east-1:a", "k", "v", 1)}); err != nil {
		t.Fatal(err)
	}
	// A restart (and several processes starting at once) keeps the data.
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			s2, err := postgres.New(ctx, postgres.Config{URL: url})
			if err != nil {
				t.Error(err)
				return
			}
			s2.Close()
		})
	}
	wg.Wait()
	if n := count(t, openDB(t, url), s.Table("records")); n != 1 {
		t.Errorf("rows after restart = %d, want 1", n)
	}
}

// TestConcurrentProcesses runs two sinks (two worker processes) on the same
// tables, each replaying the whole history in a different order.
func TestConcurrentProcesses(t *testing.T) {
	url := synctest.PostgresURL(t)
	sinks := []*postgres.Sink{newSink(t, postgres.Config{URL: url, ChangeLog: true}), newSink(t, postgres.Config{URL: url, ChangeLog: true})}
	var history []pipeline.Change
	for i := range 50 {
		key := fmt.Sprintf("k%d", i%10)
		n := int64(i/10 + 1)
		if n == 3 {
			history = append(history, sinktest.Remove("us-east-1:p", key, n))
		} else {
			history = append(history, sinktest.Put("us-east-1:p", key, fmt.Sprint(i), n))
		}
	}
	var wg sync.WaitGroup
	for i, s := range sinks {
		wg.Go(func() {
			for j := range len(history) / 5 {
				k := j
				if i == 1 { // the other one goes backwards through history
					k = len(history)/5 - 1 - j
				}
				if err := s.Write(ctx, history[k*5:k*5+5]); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	db := openDB(t, url)
	sinktest.Equal(t, state(t, db, sinks[0].Table("records")), truncate(sinktest.Fold(history)))
	if n := count(t, db, sinks[0].Table("changes")); n != len(history) {
		t.Errorf("change log rows = %d, want %d", n, len(history))
	}
}

func TestWrite_CanceledContextAppliesNothing(t *testing.T) {
	url := synctest.PostgresURL(t)
	s := newSink(t, postgres.Config{URL: url})
	c, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Write(c, []pipeline.Change{sinktest.Put("us-east-1:a", "k", "v", 1)}); err == nil {
		t.Fatal("Write with a canceled context succeeded")
	}
	if n := count(t, openDB(t, url), s.Table("records")); n != 0 {
		t.Errorf("rows = %d, want 0", n)
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name string
		c    postgres.Config
		ok   bool
	}{
		{"URLRequired", postgres.Config{}, false},
		{"NotPostgres", postgres.Config{URL: "/tmp/x.db"}, false},
		{"BadSchema", postgres.Config{URL: "postgres://h/db", Schema: "a;drop"}, false},
		{"BadPrefix", postgres.Config{URL: "postgres://h/db", TablePrefix: "Upper"}, false},
		{"OK", postgres.Config{URL: "postgres://h/db", Schema: "sinks", TablePrefix: "app_"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func truncate(s sinktest.State) sinktest.State {
	for id, c := range s {
		c.LastModified = c.LastModified.Truncate(time.Microsecond)
		c.DeviceLastModified = c.DeviceLastModified.Truncate(time.Microsecond)
		s[id] = c
	}
	return s
}
