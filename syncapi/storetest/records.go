package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

func testUpdateCreate(t *testing.T, s syncapi.Store) {
	k := newDataset(t, s, "settings")
	dev := T0.Add(-time.Minute)
	res := update(t, s, k, T0,
		syncapi.Change{Key: "b", Value: str("héllo"), Expect: i64(0), DeviceLastModified: dev},
		put("a", "", 0), // empty values are legal
		syncapi.Change{Key: "lambda-added", Value: str("x")}, // no Expect: not checked
	)
	if !res.Created || !res.Dataset.Exists || res.Dataset.SyncCount != 1 {
		t.Fatalf("first write: %+v", res)
	}
	wantKeys := []string{"b", "a", "lambda-added"}
	if len(res.Records) != len(wantKeys) {
		t.Fatalf("Records = %+v", res.Records)
	}
	for i, r := range res.Records {
		if r.Key != wantKeys[i] || r.SyncCount != 1 || r.LastModifiedBy != "writer" || !r.LastModifiedDate.Equal(T0) {
			t.Errorf("record %d = %+v", i, r)
		}
	}
	if !res.Records[0].DeviceLastModifiedDate.Equal(dev) || !res.Records[1].DeviceLastModifiedDate.Equal(T0) {
		t.Errorf("DeviceLastModifiedDate: %v, %v", res.Records[0].DeviceLastModifiedDate, res.Records[1].DeviceLastModifiedDate)
	}
	d := res.Dataset
	wantStorage := int64(len("b") + len("héllo") + len("a") + len("lambda-added") + len("x"))
	if d.NumRecords != 3 || d.DataStorage != wantStorage || !d.CreationDate.Equal(T0) || !d.LastModifiedDate.Equal(T0) ||
		d.LastModifiedBy != "writer" || d.IdentityID != k.IdentityID || d.DatasetName != k.Name {
		t.Fatalf("dataset after create: %+v (want storage %d)", d, wantStorage)
	}
	if got := dataset(t, s, k); got.SyncCount != 1 || got.NumRecords != 3 || got.DataStorage != wantStorage {
		t.Fatalf("GetDataset: %+v", got)
	}

	// A second request increments the count by exactly one, whatever the
	// number of changes; CreationDate stays.
	t1 := T0.Add(time.Second)
	res = update(t, s, k, t1, put("a", "1", 1), put("c", "2", 0))
	if res.Created || res.Dataset.SyncCount != 2 || !res.Dataset.CreationDate.Equal(T0) || !res.Dataset.LastModifiedDate.Equal(t1) {
		t.Fatalf("second write: %+v", res.Dataset)
	}
	got := records(t, s, k, 0)
	if len(got) != 4 || got["a"].SyncCount != 2 || val(got["a"].Value) != "1" || got["b"].SyncCount != 1 || val(got["b"].Value) != "héllo" {
		t.Fatalf("records: %+v", got)
	}
	if !got["b"].DeviceLastModifiedDate.Equal(dev) || !got["a"].LastModifiedDate.Equal(t1) {
		t.Fatalf("stored dates: %+v", got)
	}
}

func testConflicts(t *testing.T, s syncapi.Store) {
	k := newDataset(t, s, "ds")
	update(t, s, k, T0, put("a", "1", 0), put("b", "1", 0)) // 1
	update(t, s, k, T0, put("a", "2", 1))                   // 2
	update(t, s, k, T0, del("b", 1))                        // 3: b is a tombstone at 3
	tests := []struct {
		name    string
		changes []syncapi.Change
		want    syncapi.ConflictError
	}{
		{"stale", []syncapi.Change{put("a", "x", 1)}, syncapi.ConflictError{Key: "a", Current: 2, Sent: 1}},
		{"ahead of the server", []syncapi.Change{put("a", "x", 5)}, syncapi.ConflictError{Key: "a", Current: 2, Sent: 5}},
		{"same value, stale count", []syncapi.Change{put("a", "2", 1)}, syncapi.ConflictError{Key: "a", Current: 2, Sent: 1}},
		{"new key with a count", []syncapi.Change{put("new", "x", 3)}, syncapi.ConflictError{Key: "new", Current: 0, Sent: 3}},
		{"tombstone", []syncapi.Change{put("b", "x", 1)}, syncapi.ConflictError{Key: "b", Current: 3, Sent: 1}},
		{"second change conflicts, first is not applied", []syncapi.Change{put("c", "x", 0), put("a", "x", 1)},
			syncapi.ConflictError{Key: "a", Current: 2, Sent: 1}},
		{"first offending change in order", []syncapi.Change{put("new", "x", 0), del("b", 2), put("a", "x", 0)},
			syncapi.ConflictError{Key: "b", Current: 3, Sent: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tryUpdate(t, s, k, syncapi.DefaultLimits, tc.changes...)
			var ce *syncapi.ConflictError
			if !errors.As(err, &ce) || *ce != tc.want {
				t.Fatalf("err = %v, want %v", err, &tc.want)
			}
			wantErr(t, err, syncapi.ErrConflict)
			if !strings.Contains(err.Error(), fmt.Sprintf("Current SyncCount for: %s is: %d not: %d", tc.want.Key, tc.want.Current, tc.want.Sent)) {
				t.Fatalf("message %q", err)
			}
			d := dataset(t, s, k)
			got := records(t, s, k, 0)
			if d.SyncCount != 3 || d.NumRecords != 1 || len(got) != 2 || val(got["a"].Value) != "2" {
				t.Fatalf("conflict applied something: %+v %+v", d, got)
			}
		})
	}
	// A conflict creates nothing either.
	fresh := syncapi.DatasetKey{PoolID: k.PoolID, IdentityID: k.IdentityID, Name: "fresh"}
	var ce *syncapi.ConflictError
	if err := tryUpdate(t, s, fresh, syncapi.DefaultLimits, put("a", "x", 1)); !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	if d := dataset(t, s, fresh); d.Exists || d.SyncCount != 0 {
		t.Fatalf("conflicting first write created %+v", d)
	}
	ds, err := s.ListDatasets(ctx(t), k.PoolID, k.IdentityID, "", 0)
	wantNoErr(t, err)
	if len(ds) != 1 {
		t.Fatalf("ListDatasets = %+v", ds)
	}
}

func testTombstones(t *testing.T, s syncapi.Store) {
	k := newDataset(t, s, "ds")
	update(t, s, k, T0, put("a", "12", 0), put("b", "3", 0)) // 1
	res := update(t, s, k, T0, del("a", 1), del("never", 0)) // 2: remove, and remove of a key that never existed
	// The removal of a key without a row stores nothing and reports the
	// key's count on the server, 0 (syncapi.Change).
	if res.Records[0].Value != nil || res.Records[0].SyncCount != 2 || res.Records[1].Value != nil || res.Records[1].SyncCount != 0 {
		t.Fatalf("tombstones returned: %+v", res.Records)
	}
	if res.Dataset.NumRecords != 1 || res.Dataset.DataStorage != 2 || res.Dataset.SyncCount != 2 {
		t.Fatalf("tombstones counted: %+v", res.Dataset)
	}
	got := records(t, s, k, 1)
	if len(got) != 1 || got["a"].Value != nil || got["a"].SyncCount != 2 {
		t.Fatalf("ListRecords after 1: %+v", got)
	}
	// Removing a tombstone again keeps it a tombstone with a new count.
	update(t, s, k, T0, del("a", 2)) // 3
	// Resurrect with the tombstone's count.
	res = update(t, s, k, T0, put("a", "back", 3)) // 4
	if res.Records[0].SyncCount != 4 || res.Dataset.NumRecords != 2 || res.Dataset.DataStorage != int64(len("a")+len("back")+len("b")+len("3")) {
		t.Fatalf("resurrected: %+v", res)
	}
	if got := records(t, s, k, 0); val(got["a"].Value) != "back" || len(got) != 2 {
		t.Fatalf("records: %+v", got)
	}
	// The key that never existed still expects 0.
	res = update(t, s, k, T0, put("never", "now", 0)) // 5
	if res.Records[0].SyncCount != 5 {
		t.Fatalf("first write of a key removed before it existed: %+v", res.Records)
	}
	// An update of nothing but such removals stores nothing, yet counts:
	// clients (iOS) expect the dataset's count to move by one per update.
	res = update(t, s, k, T0, del("ghost", 0)) // 6
	if res.Dataset.SyncCount != 6 || res.Records[0].SyncCount != 0 || len(records(t, s, k, 5)) != 0 {
		t.Fatalf("removal of a key that never existed: %+v", res)
	}
}

func testZeroChanges(t *testing.T, s syncapi.Store) {
	k := newDataset(t, s, "ds")
	res, err := s.UpdateRecords(ctx(t), syncapi.UpdateRequest{Key: k, By: "w", Now: T0, Limits: syncapi.DefaultLimits})
	wantNoErr(t, err)
	if len(res.Records) != 0 || res.Dataset.Exists {
		t.Fatalf("zero changes: %+v", res)
	}
	if d := dataset(t, s, k); d.Exists || d.SyncCount != 0 {
		t.Fatalf("zero changes created %+v", d)
	}
	update(t, s, k, T0, put("a", "1", 0))
	if _, err := s.UpdateRecords(ctx(t), syncapi.UpdateRequest{Key: k, By: "w", Now: T0, Limits: syncapi.DefaultLimits}); err != nil {
		t.Fatal(err)
	}
	if d := dataset(t, s, k); d.SyncCount != 1 || d.NumRecords != 1 {
		t.Fatalf("zero changes changed %+v", d)
	}
}

// The service rejects repeated keys; the store must still stay consistent.
func testRepeatedKey(t *testing.T, s syncapi.Store) {
	k := newDataset(t, s, "ds")
	res := update(t, s, k, T0, put("a", "1", 0), put("a", "22", 0), del("b", 0), syncapi.Change{Key: "b", Value: str("3")})
	if len(res.Records) != 4 || res.Dataset.NumRecords != 2 || res.Dataset.DataStorage != int64(len("a22")+len("b3")) {
		t.Fatalf("repeated keys: %+v", res)
	}
	got := records(t, s, k, 0)
	if len(got) != 2 || val(got["a"].Value) != "22" || val(got["b"].Value) != "3" {
		t.Fatalf("records: %+v", got)
	}
}

func testLimits(t *testing.T, s syncapi.Store) {
	lim := syncapi.Limits{MaxDatasets: 2, MaxRecords: 3, MaxDatasetBytes: 20}
	k := newDataset(t, s, "d1")
	key := func(name string) syncapi.DatasetKey {
		return syncapi.DatasetKey{PoolID: k.PoolID, IdentityID: k.IdentityID, Name: name}
	}
	wantNoErr(t, tryUpdate(t, s, key("d1"), lim, put("a", "1", 0)))
	wantNoErr(t, tryUpdate(t, s, key("d2"), lim, put("a", "1", 0)))

	t.Run("datasets", func(t *testing.T) {
		err := tryUpdate(t, s, key("d3"), lim, put("a", "1", 0))
		wantErr(t, err, syncapi.ErrLimitExceeded)
		if d := dataset(t, s, key("d3")); d.Exists {
			t.Fatal("d3 created beyond the limit")
		}
		// Writing to existing datasets is fine; other identities have their own allowance.
		wantNoErr(t, tryUpdate(t, s, key("d2"), lim, put("b", "1", 0)))
		other := syncapi.DatasetKey{PoolID: k.PoolID, IdentityID: identityID(), Name: "d3"}
		wantNoErr(t, tryUpdate(t, s, other, lim, put("a", "1", 0)))
		// Deleting one frees a slot.
		_, err = s.DeleteDataset(ctx(t), key("d2"))
		wantNoErr(t, err)
		wantNoErr(t, tryUpdate(t, s, key("d3"), lim, put("a", "1", 0)))
		wantErr(t, tryUpdate(t, s, key("d2"), lim, put("a", "1", 0)), syncapi.ErrLimitExceeded)
	})
	t.Run("records", func(t *testing.T) {
		k := key("d1")                                                            // holds a=1 at 1
		wantNoErr(t, tryUpdate(t, s, k, lim, put("b", "1", 0), put("c", "1", 0))) // 3 records, count 2
		err := tryUpdate(t, s, k, lim, put("a", "2", 1), put("d", "1", 0))
		wantErr(t, err, syncapi.ErrLimitExceeded)
		if d := dataset(t, s, k); d.SyncCount != 2 || d.NumRecords != 3 {
			t.Fatalf("limit applied something: %+v", d)
		}
		// Tombstones do not count: remove one, add another.
		wantNoErr(t, tryUpdate(t, s, k, lim, del("c", 2), put("d", "1", 0)))
		if d := dataset(t, s, k); d.NumRecords != 3 || d.SyncCount != 3 {
			t.Fatalf("after swap: %+v", d)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		k := key("d3")                                                              // a=1: 2 bytes
		wantNoErr(t, tryUpdate(t, s, k, lim, put("b", strings.Repeat("x", 17), 0))) // 2 + 18 = 20: at the limit
		err := tryUpdate(t, s, k, lim, put("a", "12", 1))                           // 21
		wantErr(t, err, syncapi.ErrLimitExceeded)
		if d := dataset(t, s, k); d.DataStorage != 20 || d.SyncCount != 2 {
			t.Fatalf("limit applied something: %+v", d)
		}
		// Multi-byte characters count in UTF-8 bytes.
		wantErr(t, tryUpdate(t, s, k, lim, put("b", strings.Repeat("é", 9), 2)), syncapi.ErrLimitExceeded) // 1+18 + 2 = 21
		wantNoErr(t, tryUpdate(t, s, k, lim, put("b", strings.Repeat("é", 8), 2)))
	})
}

func testDeleteRecreate(t *testing.T, s syncapi.Store) {
	k := newDataset(t, s, "ds")
	_, err := s.DeleteDataset(ctx(t), k)
	wantErr(t, err, syncapi.ErrNotFound)
	t1 := T0.Add(time.Second)
	update(t, s, k, T0, put("a", "1", 0))
	update(t, s, k, T0, put("b", "22", 0))
	update(t, s, k, t1, put("a", "3", 1))
	before, err := s.DeleteDataset(ctx(t), k)
	wantNoErr(t, err)
	if before.NumRecords != 2 || before.DataStorage != 5 || !before.CreationDate.Equal(T0) || !before.LastModifiedDate.Equal(t1) || before.DatasetName != "ds" {
		t.Fatalf("DeleteDataset returned %+v", before)
	}
	d := dataset(t, s, k)
	if d.Exists || d.SyncCount != 3 || d.DeletedAt != 3 || d.NumRecords != 0 {
		t.Fatalf("deleted dataset: %+v", d)
	}
	_, err = s.DeleteDataset(ctx(t), k)
	wantErr(t, err, syncapi.ErrNotFound)
	page, err := s.ListRecords(ctx(t), k, syncapi.RecordQuery{})
	wantNoErr(t, err)
	if page.Dataset.Exists || page.Dataset.SyncCount != 3 || page.Dataset.DeletedAt != 3 || len(page.Records) != 0 {
		t.Fatalf("ListRecords of deleted: %+v", page)
	}
	if ds, _ := s.ListDatasets(ctx(t), k.PoolID, k.IdentityID, "", 0); len(ds) != 0 {
		t.Fatalf("ListDatasets lists deleted: %+v", ds)
	}

	// Re-creation continues counting; old records are gone (expect 0 again).
	t2 := T0.Add(time.Hour)
	res := update(t, s, k, t2, put("a", "new", 0))
	if !res.Created || res.Dataset.SyncCount != 4 || res.Records[0].SyncCount != 4 || res.Dataset.DeletedAt != 3 ||
		!res.Dataset.CreationDate.Equal(t2) || res.Dataset.NumRecords != 1 || res.Dataset.DataStorage != 4 {
		t.Fatalf("re-created: %+v", res)
	}
	if got := records(t, s, k, 0); len(got) != 1 || got["a"].SyncCount != 4 {
		t.Fatalf("records after re-creation: %+v", got)
	}
	// A second deletion moves DeletedAt.
	update(t, s, k, t2, put("a", "x", 4))
	_, err = s.DeleteDataset(ctx(t), k)
	wantNoErr(t, err)
	if d := dataset(t, s, k); d.SyncCount != 5 || d.DeletedAt != 5 {
		t.Fatalf("second deletion: %+v", d)
	}
}

func testPagination(t *testing.T, s syncapi.Store) {
	k := newDataset(t, s, "ds")
	page, err := s.ListRecords(ctx(t), k, syncapi.RecordQuery{Limit: 10})
	wantNoErr(t, err)
	if page.Dataset.Exists || page.Dataset.SyncCount != 0 || len(page.Records) != 0 || page.More {
		t.Fatalf("missing dataset page: %+v", page)
	}
	update(t, s, k, T0, put("c", "1", 0), put("a", "1", 0), put("b", "1", 0)) // 1
	update(t, s, k, T0, put("e", "1", 0), put("d", "1", 0))                   // 2
	update(t, s, k, T0, put("a", "2", 1), del("c", 1))                        // 3
	order := []string{"b@1", "d@2", "e@2", "a@3", "c@3"}

	// Page through with limit 2; a write after the first page must not show
	// up in later pages of the snapshot.
	var got []string
	q := syncapi.RecordQuery{Limit: 2}
	for i := 0; ; i++ {
		p, err := s.ListRecords(ctx(t), k, q)
		wantNoErr(t, err)
		if !p.Dataset.Exists || p.Dataset.SyncCount != 3 && q.UpTo == 0 {
			t.Fatalf("page %d state: %+v", i, p.Dataset)
		}
		for _, r := range p.Records {
			got = append(got, fmt.Sprintf("%s@%d", r.Key, r.SyncCount))
		}
		if i == 0 {
			q.UpTo = p.Dataset.SyncCount
			update(t, s, k, T0, put("b", "2", 1), put("f", "1", 0)) // 4: beyond the snapshot
		}
		if !p.More {
			break
		}
		last := p.Records[len(p.Records)-1]
		q.Cursor = &syncapi.RecordCursor{SyncCount: last.SyncCount, Key: last.Key}
		if i > 10 {
			t.Fatal("no end of pages")
		}
	}
	// b was rewritten at 4 after the first page: it left the snapshot.
	if strings.Join(got, " ") != strings.Join(order, " ") {
		t.Fatalf("pages = %v, want %v", got, order)
	}

	tests := []struct {
		name string
		q    syncapi.RecordQuery
		want string
		more bool
	}{
		{"all", syncapi.RecordQuery{}, "d@2 e@2 a@3 c@3 b@4 f@4", false},
		{"after", syncapi.RecordQuery{After: 2}, "a@3 c@3 b@4 f@4", false},
		{"after, up to", syncapi.RecordQuery{After: 1, UpTo: 3}, "d@2 e@2 a@3 c@3", false},
		{"limit", syncapi.RecordQuery{After: 2, Limit: 3}, "a@3 c@3 b@4", true},
		{"exact limit", syncapi.RecordQuery{After: 2, Limit: 4}, "a@3 c@3 b@4 f@4", false},
		{"cursor inside a count", syncapi.RecordQuery{Cursor: &syncapi.RecordCursor{SyncCount: 3, Key: "a"}}, "c@3 b@4 f@4", false},
		{"cursor and after", syncapi.RecordQuery{After: 3, Cursor: &syncapi.RecordCursor{SyncCount: 2, Key: "d"}}, "b@4 f@4", false},
		{"nothing newer", syncapi.RecordQuery{After: 4}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.ListRecords(ctx(t), k, tc.q)
			wantNoErr(t, err)
			var got []string
			for _, r := range p.Records {
				got = append(got, fmt.Sprintf("%s@%d", r.Key, r.SyncCount))
			}
			if strings.Join(got, " ") != tc.want || p.More != tc.more || p.Dataset.SyncCount != 4 {
				t.Fatalf("got %v more=%v count=%d, want %q more=%v", got, p.More, p.Dataset.SyncCount, tc.want, tc.more)
			}
		})
	}
}

func testListDatasets(t *testing.T, s syncapi.Store) {
	k := newDataset(t, s, "x")
	names := []string{"b", "a.b", "c", "a", "Z"}
	for _, n := range names {
		update(t, s, syncapi.DatasetKey{PoolID: k.PoolID, IdentityID: k.IdentityID, Name: n}, T0, put("k", n, 0))
	}
	_, err := s.DeleteDataset(ctx(t), syncapi.DatasetKey{PoolID: k.PoolID, IdentityID: k.IdentityID, Name: "c"})
	wantNoErr(t, err)
	tests := []struct {
		after string
		limit int
		want  string
	}{
		{"", 0, "Z a a.b b"},
		{"a", 0, "a.b b"},
		{"", 2, "Z a"},
		{"b", 5, ""},
	}
	for _, tc := range tests {
		ds, err := s.ListDatasets(ctx(t), k.PoolID, k.IdentityID, tc.after, tc.limit)
		wantNoErr(t, err)
		var got []string
		for _, d := range ds {
			got = append(got, d.DatasetName)
			if d.IdentityID != k.IdentityID || d.NumRecords != 1 || d.DataStorage != int64(1+len(d.DatasetName)) || !d.CreationDate.Equal(T0) {
				t.Errorf("dataset %+v", d)
			}
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("ListDatasets(%q, %d) = %v, want %q", tc.after, tc.limit, got, tc.want)
		}
	}
	if ds, err := s.ListDatasets(ctx(t), k.PoolID, identityID(), "", 0); err != nil || len(ds) != 0 {
		t.Fatalf("unknown identity: %v, %v", ds, err)
	}
}

func testUsage(t *testing.T, s syncapi.Store) {
	k := newDataset(t, s, "a")
	id2 := identityID()
	wantNoErr(t, s.CreateIdentity(ctx(t), syncapi.Identity{PoolID: k.PoolID, ID: id2}))
	t1, t2 := T0.Add(time.Minute), T0.Add(time.Hour)
	update(t, s, k, T0, put("k", "vv", 0))                                                                        // 3
	update(t, s, syncapi.DatasetKey{PoolID: k.PoolID, IdentityID: k.IdentityID, Name: "b"}, t1, put("k", "v", 0)) // 2
	update(t, s, syncapi.DatasetKey{PoolID: k.PoolID, IdentityID: k.IdentityID, Name: "gone"}, t2, put("k", "v", 0))
	_, err := s.DeleteDataset(ctx(t), syncapi.DatasetKey{PoolID: k.PoolID, IdentityID: k.IdentityID, Name: "gone"})
	wantNoErr(t, err)
	update(t, s, syncapi.DatasetKey{PoolID: k.PoolID, IdentityID: id2, Name: "a"}, T0, put("key", "value", 0)) // 8

	u, err := s.IdentityUsage(ctx(t), k.PoolID, k.IdentityID)
	wantNoErr(t, err)
	if u.IdentityID != k.IdentityID || u.IdentityPoolID != k.PoolID || u.DatasetCount != 2 || u.DataStorage != 5 || !u.LastModifiedDate.Equal(t1) {
		t.Fatalf("IdentityUsage = %+v", u)
	}
	u, err = s.IdentityUsage(ctx(t), k.PoolID, identityID())
	wantNoErr(t, err)
	if u.DatasetCount != 0 || u.DataStorage != 0 || !u.LastModifiedDate.IsZero() {
		t.Fatalf("unknown identity usage = %+v", u)
	}

	wantNoErr(t, s.AddSyncSessions(ctx(t), k.PoolID, 2))
	wantNoErr(t, s.AddSyncSessions(ctx(t), k.PoolID, 1))
	wantErr(t, s.AddSyncSessions(ctx(t), poolID(), 1), syncapi.ErrNotFound)
	pu, err := s.PoolUsage(ctx(t), k.PoolID)
	wantNoErr(t, err)
	if pu.IdentityPoolID != k.PoolID || pu.DataStorage != 13 || pu.SyncSessionsCount != 3 || !pu.LastModifiedDate.Equal(t1) {
		t.Fatalf("PoolUsage = %+v", pu)
	}
	_, err = s.PoolUsage(ctx(t), poolID())
	wantErr(t, err, syncapi.ErrNotFound)
	other, _ := newPool(t, s)
	if pu, err := s.PoolUsage(ctx(t), other); err != nil || pu.DataStorage != 0 || pu.SyncSessionsCount != 0 || !pu.LastModifiedDate.IsZero() {
		t.Fatalf("empty pool usage = %+v, %v", pu, err)
	}
}

// Race makes goroutines (spread over stores, which may be several handles
// on one database, as several processes) write the same record with the
// same expected SyncCount, round after round: exactly one must win each
// round, the others get *ConflictError naming the winner's count, and the
// final record and DatasetSyncCount must equal the winners' history.
func Race(t *testing.T, goroutines, rounds int, stores ...syncapi.Store) {
	t.Helper()
	k := newDataset(t, stores[0], "race")
	var winners []string
	for round := range rounds {
		expect := int64(round)
		start := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won []string
		for g := range goroutines {
			s := stores[g%len(stores)]
			wg.Go(func() {
				<-start
				v := fmt.Sprintf("g%d-r%d", g, round)
				res, err := s.UpdateRecords(ctx(t), syncapi.UpdateRequest{
					Key: k, Changes: []syncapi.Change{put("hot", v, expect)}, By: v, Now: T0, Limits: syncapi.DefaultLimits,
				})
				var ce *syncapi.ConflictError
				switch {
				case err == nil:
					if res.Records[0].SyncCount != expect+1 || res.Dataset.SyncCount != expect+1 {
						t.Errorf("round %d: winner got %+v", round, res)
					}
					mu.Lock()
					won = append(won, v)
					mu.Unlock()
				case errors.As(err, &ce):
					if ce.Key != "hot" || ce.Current != expect+1 || ce.Sent != expect {
						t.Errorf("round %d: conflict %+v", round, ce)
					}
				default:
					t.Errorf("round %d: %v", round, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if len(won) != 1 {
			t.Fatalf("round %d: %d winners %v, want 1", round, len(won), won)
		}
		winners = append(winners, won[0])
	}
	for _, s := range stores {
		d := dataset(t, s, k)
		got := records(t, s, k, 0)
		last := winners[len(winners)-1]
		if d.SyncCount != int64(rounds) || d.NumRecords != 1 || d.LastModifiedBy != last ||
			len(got) != 1 || val(got["hot"].Value) != last || got["hot"].SyncCount != int64(rounds) {
			t.Fatalf("after %d rounds: dataset %+v records %+v, want value %s", rounds, d, got, last)
		}
		// Every round's winner is visible in history order through the counts.
		p, err := s.ListRecords(ctx(t), k, syncapi.RecordQuery{After: int64(rounds - 1)})
		wantNoErr(t, err)
		if len(p.Records) != 1 || p.Records[0].LastModifiedBy != last {
			t.Fatalf("latest page %+v", p)
		}
	}
}
