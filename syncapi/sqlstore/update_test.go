package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
)

// PostgreSQL (pgUpdateRecords, pipelined) and SQLite (the group-commit
// writer) take different UpdateRecords paths: the same script of requests
// must give the same results, errors, dataset states and outbox entries on
// both.
func TestUpdateRecords_DialectsAgree(t *testing.T) {
	var transcripts [2][]string
	for i, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			transcripts[i] = updateScript(t, open(t, d.url(t)))
		})
	}
	if transcripts[1] == nil {
		return // PostgreSQL skipped
	}
	a, b := transcripts[0], transcripts[1]
	if testing.Verbose() {
		for _, l := range b {
			t.Log(l)
		}
	}
	for i := range max(len(a), len(b)) {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			t.Errorf("step %d:\nsqlite:   %s\npostgres: %s", i, x, y)
		}
	}
}

func updateScript(t *testing.T, db *sqlstore.DB) []string {
	ctx := context.Background()
	const pool = "us-east-1:00000000-0000-0000-0000-0000000000aa"
	if err := db.CreatePool(ctx, syncapi.Pool{
		Identity:       syncapi.IdentityPool{IdentityPoolID: pool, IdentityPoolName: "p"},
		CognitoStreams: &syncapi.CognitoStreams{StreamName: "s", StreamingStatus: syncapi.StreamingEnabled},
	}); err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	n := func(v int64) *int64 { return &v }
	now := time.UnixMilli(1_700_000_000_000).UTC()
	dev := time.UnixMilli(1_600_000_000_000).UTC()
	k := syncapi.DatasetKey{PoolID: pool, IdentityID: "us-east-1:i1", Name: "d"}
	lim := syncapi.Limits{MaxDatasets: 2, MaxRecords: 3, MaxDatasetBytes: 40}
	steps := []struct {
		key     syncapi.DatasetKey
		changes []syncapi.Change
	}{
		// Creation; a key repeated (the last change wins); a device time.
		{k, []syncapi.Change{
			{Key: "a", Value: str("1"), Expect: n(0)},
			{Key: "b", Value: str("x\"y\\z\n\u00e9\U0001F600"), DeviceLastModified: dev},
			{Key: "a", Value: str("22"), Expect: n(0)},
		}},
		// Conflicts: the first stale Expect in Changes order, after a
		// change without Expect and a correct one.
		{k, []syncapi.Change{{Key: "c", Value: str("v")}, {Key: "a", Value: str("3"), Expect: n(1)}, {Key: "b", Expect: n(7)}, {Key: "a", Expect: n(9)}}},
		{k, []syncapi.Change{{Key: "zz", Value: str("v"), Expect: n(4)}}},
		// Tombstones, a remove of a key that never existed, resurrection.
		{k, []syncapi.Change{{Key: "a", Expect: n(1)}, {Key: "never", Expect: n(0)}}},
		{k, []syncapi.Change{{Key: "a", Value: str("back"), Expect: n(2)}}},
		// Record and byte limits, counting tombstones out.
		{k, []syncapi.Change{{Key: "c", Value: str("1")}, {Key: "d", Value: str("2")}}},
		{k, []syncapi.Change{{Key: "c", Value: str("1234567890123456789012345")}}},
		{k, []syncapi.Change{{Key: "b"}, {Key: "c", Value: str("1")}, {Key: "a"}, {Key: "d", Value: str("2")}}},
		// Dataset limit, deletion and re-creation.
		{syncapi.DatasetKey{PoolID: pool, IdentityID: k.IdentityID, Name: "e"}, []syncapi.Change{{Key: "a", Value: str("1")}}},
		{syncapi.DatasetKey{PoolID: pool, IdentityID: k.IdentityID, Name: "f"}, []syncapi.Change{{Key: "a", Value: str("1")}}},
		{k, nil}, // delete
		{k, []syncapi.Change{{Key: "a", Value: str("1"), Expect: n(0)}}}, // counts on from 4
		{syncapi.DatasetKey{PoolID: pool, IdentityID: k.IdentityID, Name: "f"}, []syncapi.Change{{Key: "a", Value: str("1")}}},
		{k, []syncapi.Change{{Key: "a", Value: str("2"), Expect: n(5)}}},
	}
	var out []string
	for i, s := range steps {
		if s.changes == nil {
			_, err := db.DeleteDataset(ctx, s.key)
			out = append(out, fmt.Sprintf("%d delete: %v", i, err))
			continue
		}
		res, err := db.UpdateRecords(ctx, syncapi.UpdateRequest{Key: s.key, Changes: s.changes, By: "me", Now: now, Limits: lim})
		var ce *syncapi.ConflictError
		switch {
		case errors.As(err, &ce):
			out = append(out, fmt.Sprintf("%d conflict %+v", i, *ce))
		case errors.Is(err, syncapi.ErrLimitExceeded):
			out = append(out, fmt.Sprintf("%d limit %v", i, err))
		case err != nil:
			t.Fatalf("step %d: %v", i, err)
		default:
			out = append(out, fmt.Sprintf("%d ok created=%v %s", i, res.Created, recordsString(res.Records)))
			out = append(out, fmt.Sprintf("%d dataset %+v", i, res.Dataset))
			st, err := db.GetDataset(ctx, s.key)
			if err != nil {
				t.Fatal(err)
			}
			if st.MergedNames = nil; !reflect.DeepEqual(st, res.Dataset) {
				t.Errorf("step %d: GetDataset = %+v, UpdateRecords said %+v", i, st, res.Dataset)
			}
		}
		page, err := db.ListRecords(ctx, s.key, syncapi.RecordQuery{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d list %s", i, recordsString(page.Records)))
	}
	entries, err := db.PendingOutbox(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		m := e.Modified.UnixMilli()
		if e.Deleted {
			m = 0 // DeleteDataset's clock, not the request's
		}
		out = append(out, fmt.Sprintf("outbox %v %s %v %d %d %s", e.Key, e.Stream, e.Deleted, e.SyncCount, m, recordsString(e.Records)))
	}
	return out
}

func recordsString(rs []syncapi.Record) string {
	s := ""
	for _, r := range rs {
		v := "<nil>"
		if r.Value != nil {
			v = fmt.Sprintf("%q", *r.Value)
		}
		s += fmt.Sprintf("[%s=%s #%d %v %s %v] ", r.Key, v, r.SyncCount,
			r.LastModifiedDate, r.LastModifiedBy, r.DeviceLastModifiedDate)
	}
	return s
}

// A writer that waits for the dataset row lock must check its Expects
// against what the lock holder committed, not against the snapshot its
// locking statement started with (READ COMMITTED).
func TestUpdateRecords_PostgresWaitsForCommit(t *testing.T) {
	u := postgresURL(t)
	db := open(t, u)
	ctx := context.Background()
	k := syncapi.DatasetKey{PoolID: "us-east-1:p", IdentityID: "us-east-1:i", Name: "d"}
	createPool(t, db, k.PoolID)
	v := "v"
	zero := int64(0)
	if _, err := db.UpdateRecords(ctx, syncapi.UpdateRequest{Key: k, Changes: []syncapi.Change{{Key: "a", Value: &v, Expect: &zero}}, By: "me"}); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// The lock holder writes a (SyncCount 1 -> 2) as UpdateRecords would and
	// keeps its transaction open.
	holder, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	var holderPID int
	if err := holder.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&holderPID); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE datasets SET sync_count = 2 WHERE pool_id = $1 AND identity_id = $2 AND name = $3`,
		`UPDATE records SET sync_count = 2, value = 'w' WHERE key = 'a' AND dataset_id = (SELECT id FROM datasets WHERE pool_id = $1 AND identity_id = $2 AND name = $3)`,
	} {
		if _, err := holder.ExecContext(ctx, q, k.PoolID, k.IdentityID, k.Name); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		one := int64(1)
		_, err := db.UpdateRecords(ctx, syncapi.UpdateRequest{Key: k, Changes: []syncapi.Change{{Key: "a", Value: &v, Expect: &one}}, By: "me"})
		done <- err
	}()
	// Wait until UpdateRecords is blocked by the holder: then its locking
	// statement has taken its snapshot before the holder's commit.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var blocked int
		if err := raw.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", holderPID).Scan(&blocked); err != nil {
			t.Fatal(err)
		}
		if blocked > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("UpdateRecords did not wait for the lock: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("UpdateRecords never waited for the holder's lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := holder.Commit(); err != nil {
		t.Fatal(err)
	}
	err = <-done
	var ce *syncapi.ConflictError
	if !errors.As(err, &ce) || ce.Current != 2 || ce.Sent != 1 {
		t.Fatalf("UpdateRecords after the holder's commit = %v, want a conflict (current 2, sent 1)", err)
	}
}
