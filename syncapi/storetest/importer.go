package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

// importTests check syncapi.Importer; Run includes them. Each skips when
// the store lacks the capability.
var importTests = []struct {
	name string
	fn   func(t *testing.T, s syncapi.Store)
}{
	{"Import_KeepsSourceCounts", testImportCounts},
	{"Import_IdempotentNeverBackwards", testImportIdempotent},
	{"Import_DatasetDeletion", testImportDeletion},
	{"Import_DevicesContinue", testImportContinue},
	{"Import_Refused", testImportRefused},
	{"Import_State", testImportState},
	{"Import_Race", testImportRace},
}

func importer(t *testing.T, s syncapi.Store) syncapi.Importer {
	t.Helper()
	im, ok := s.(syncapi.Importer)
	if !ok {
		t.Skipf("%T does not implement syncapi.Importer", s)
	}
	return im
}

// srcRec is a record as a source lists it.
func srcRec(key string, value *string, n int64, by string) syncapi.Record {
	return syncapi.Record{Key: key, Value: value, SyncCount: n, LastModifiedBy: by,
		LastModifiedDate:       syncapi.NewTime(T0.Add(time.Duration(n) * time.Minute)),
		DeviceLastModifiedDate: syncapi.NewTime(T0.Add(time.Duration(n)*time.Minute - time.Second))}
}

func doImport(t testing.TB, im syncapi.Importer, r syncapi.ImportRequest) syncapi.ImportResult {
	t.Helper()
	res, err := im.ImportRecords(ctx(t), r)
	if err != nil {
		t.Fatalf("ImportRecords: %v", err)
	}
	return res
}

// wantRecords fails unless the dataset holds exactly want (tombstones
// included), field by field.
func wantRecords(t testing.TB, s syncapi.Store, k syncapi.DatasetKey, want ...syncapi.Record) {
	t.Helper()
	got := records(t, s, k, 0)
	if len(got) != len(want) {
		t.Errorf("dataset holds %d records, want %d: %+v", len(got), len(want), got)
	}
	for _, w := range want {
		g, ok := got[w.Key]
		switch {
		case !ok:
			t.Errorf("record %q missing", w.Key)
		case val(g.Value) != val(w.Value) || (g.Value == nil) != (w.Value == nil) || g.SyncCount != w.SyncCount ||
			g.LastModifiedBy != w.LastModifiedBy || !sameTime(g.LastModifiedDate.Time, w.LastModifiedDate.Time) ||
			!sameTime(g.DeviceLastModifiedDate.Time, w.DeviceLastModifiedDate.Time):
			t.Errorf("record %q = {%s %d %s %v %v}, want {%s %d %s %v %v}", w.Key,
				val(g.Value), g.SyncCount, g.LastModifiedBy, g.LastModifiedDate, g.DeviceLastModifiedDate,
				val(w.Value), w.SyncCount, w.LastModifiedBy, w.LastModifiedDate, w.DeviceLastModifiedDate)
		}
	}
}

func newImportPool(t testing.TB, s syncapi.Store) string {
	t.Helper()
	pool := poolID()
	wantNoErr(t, s.CreatePool(ctx(t), syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: pool, IdentityPoolName: "p"}, Created: T0}))
	return pool
}

func testImportCounts(t *testing.T, s syncapi.Store) {
	im := importer(t, s)
	pool := newImportPool(t, s)
	k := syncapi.DatasetKey{PoolID: pool, IdentityID: identityID(), Name: "settings"}
	recs := []syncapi.Record{
		srcRec("a", str("1"), 5, k.IdentityID),
		srcRec("gone", nil, 6, k.IdentityID),
		srcRec("b", str("22"), 7, "arn:aws:iam::123456789012:root"),
	}
	created, modified := T0.Add(-time.Hour), T0.Add(9*time.Minute)
	res := doImport(t, im, syncapi.ImportRequest{Key: k, Records: recs, DatasetSyncCount: 9,
		CreationDate: created, LastModifiedDate: modified, LastModifiedBy: "dev", Authoritative: true})
	if res.Applied != 3 || res.Skipped != 0 {
		t.Fatalf("result %+v, want 3 applied", res)
	}
	// The identity was created in the pool.
	id, err := s.GetIdentity(ctx(t), k.IdentityID)
	wantNoErr(t, err)
	if id.PoolID != pool {
		t.Fatalf("identity in pool %q, want %q", id.PoolID, pool)
	}
	wantRecords(t, s, k, recs...)
	d := dataset(t, s, k)
	if !d.Exists || d.SyncCount != 9 || d.NumRecords != 2 || d.DataStorage != 5 || d.LastModifiedBy != "dev" ||
		!sameTime(d.CreationDate.Time, created) || !sameTime(d.LastModifiedDate.Time, modified) {
		t.Fatalf("dataset %+v", d)
	}
	ds, err := s.ListDatasets(ctx(t), pool, k.IdentityID, "", 0)
	wantNoErr(t, err)
	if len(ds) != 1 || ds[0].DatasetName != "settings" || ds[0].NumRecords != 2 {
		t.Fatalf("ListDatasets = %+v", ds)
	}
	// Incremental listing from a device's last sync count.
	if got := records(t, s, k, 5); len(got) != 2 || got["gone"].Value != nil || got["b"].SyncCount != 7 {
		t.Fatalf("records after 5: %+v", got)
	}
	u, err := s.IdentityUsage(ctx(t), pool, k.IdentityID)
	wantNoErr(t, err)
	if u.DatasetCount != 1 || u.DataStorage != 5 {
		t.Fatalf("usage %+v", u)
	}
}

func testImportIdempotent(t *testing.T, s syncapi.Store) {
	im := importer(t, s)
	pool := newImportPool(t, s)
	k := syncapi.DatasetKey{PoolID: pool, IdentityID: identityID(), Name: "d"}
	v3 := srcRec("k", str("v3"), 3, "src")
	doImport(t, im, syncapi.ImportRequest{Key: k, Records: []syncapi.Record{v3}, DatasetSyncCount: 3, Authoritative: true})

	// The same again changes nothing; an older count is skipped.
	if res := doImport(t, im, syncapi.ImportRequest{Key: k, Records: []syncapi.Record{srcRec("k", str("v2"), 2, "src"), v3}, DatasetSyncCount: 3}); res.Applied != 0 || res.Skipped != 2 {
		t.Fatalf("replay: %+v, want 0 applied, 2 skipped", res)
	}
	wantRecords(t, s, k, v3)
	if d := dataset(t, s, k); d.SyncCount != 3 || d.NumRecords != 1 {
		t.Fatalf("dataset %+v", d)
	}

	// At the same count, a stream replay (not authoritative) keeps what
	// the source's API said; the API overwrites.
	guess := srcRec("k", str("v3"), 3, "guess")
	doImport(t, im, syncapi.ImportRequest{Key: k, Records: []syncapi.Record{guess}, DatasetSyncCount: 3})
	wantRecords(t, s, k, v3)
	doImport(t, im, syncapi.ImportRequest{Key: k, Records: []syncapi.Record{guess}, DatasetSyncCount: 3, Authoritative: true})
	wantRecords(t, s, k, guess)

	// A newer removal lands as a tombstone; the value never comes back.
	rm := srcRec("k", nil, 4, "src")
	doImport(t, im, syncapi.ImportRequest{Key: k, Records: []syncapi.Record{rm}, DatasetSyncCount: 4})
	doImport(t, im, syncapi.ImportRequest{Key: k, Records: []syncapi.Record{v3}, DatasetSyncCount: 3, Authoritative: true})
	wantRecords(t, s, k, rm)
	if d := dataset(t, s, k); !d.Exists || d.SyncCount != 4 || d.NumRecords != 0 || d.DataStorage != 0 {
		t.Fatalf("dataset after removal %+v", d)
	}
	// A DatasetSyncCount beyond every record (a removal of a key the
	// source never stored) still moves the dataset's count.
	doImport(t, im, syncapi.ImportRequest{Key: k, DatasetSyncCount: 6, LastModifiedDate: T0.Add(6 * time.Minute)})
	if d := dataset(t, s, k); d.SyncCount != 6 || !sameTime(d.LastModifiedDate.Time, T0.Add(6*time.Minute)) {
		t.Fatalf("dataset after count-only import %+v", d)
	}
}

func testImportDeletion(t *testing.T, s syncapi.Store) {
	im := importer(t, s)
	pool := newImportPool(t, s)
	k := syncapi.DatasetKey{PoolID: pool, IdentityID: identityID(), Name: "d"}
	doImport(t, im, syncapi.ImportRequest{Key: k, DatasetSyncCount: 5, Records: []syncapi.Record{
		srcRec("a", str("1"), 2, "src"), srcRec("b", str("2"), 5, "src")}})
	st, err := im.ImportDatasetDeletion(ctx(t), k, 5, T0)
	wantNoErr(t, err)
	if st.Exists || st.DeletedAt != 5 || st.SyncCount != 5 {
		t.Fatalf("after deletion: %+v", st)
	}
	d := dataset(t, s, k)
	if d.Exists || d.DeletedAt != 5 || d.SyncCount != 5 {
		t.Fatalf("GetDataset after deletion: %+v", d)
	}
	if ds, err := s.ListDatasets(ctx(t), pool, k.IdentityID, "", 0); err != nil || len(ds) != 0 {
		t.Fatalf("ListDatasets after deletion = %+v, %v", ds, err)
	}
	// A stale replay of a deleted record does not revive the dataset; a
	// repeated or older deletion changes nothing.
	if res := doImport(t, im, syncapi.ImportRequest{Key: k, DatasetSyncCount: 5, Records: []syncapi.Record{srcRec("b", str("2"), 5, "src")}}); res.Applied != 0 {
		t.Fatalf("stale replay applied: %+v", res)
	}
	for _, n := range []int64{5, 3} {
		if st, err := im.ImportDatasetDeletion(ctx(t), k, n, T0); err != nil || st.Exists || st.DeletedAt != 5 {
			t.Fatalf("deletion at %d again: %+v, %v", n, st, err)
		}
	}
	if d := dataset(t, s, k); d.Exists {
		t.Fatalf("revived: %+v", d)
	}
	// The dataset re-created after the deletion continues its count.
	c := srcRec("c", str("3"), 6, "src")
	doImport(t, im, syncapi.ImportRequest{Key: k, DatasetSyncCount: 6, Records: []syncapi.Record{c}})
	wantRecords(t, s, k, c)
	if d := dataset(t, s, k); !d.Exists || d.SyncCount != 6 || d.DeletedAt != 5 || d.NumRecords != 1 {
		t.Fatalf("re-created: %+v", d)
	}
	// A deletion that arrives after later records keeps them: only records
	// up to its count go.
	k2 := syncapi.DatasetKey{PoolID: pool, IdentityID: k.IdentityID, Name: "e"}
	late := srcRec("late", str("x"), 8, "src")
	doImport(t, im, syncapi.ImportRequest{Key: k2, DatasetSyncCount: 8, Records: []syncapi.Record{srcRec("early", str("y"), 3, "src"), late}})
	st, err = im.ImportDatasetDeletion(ctx(t), k2, 4, T0)
	wantNoErr(t, err)
	if !st.Exists || st.DeletedAt != 4 || st.SyncCount != 8 || st.NumRecords != 1 {
		t.Fatalf("deletion below later records: %+v", st)
	}
	wantRecords(t, s, k2, late)
	// A deletion of a dataset the target never saw is remembered.
	k3 := syncapi.DatasetKey{PoolID: pool, IdentityID: k.IdentityID, Name: "never"}
	if st, err := im.ImportDatasetDeletion(ctx(t), k3, 7, T0); err != nil || st.Exists || st.DeletedAt != 7 {
		t.Fatalf("deletion of an unseen dataset: %+v, %v", st, err)
	}
	if res := doImport(t, im, syncapi.ImportRequest{Key: k3, DatasetSyncCount: 7, Records: []syncapi.Record{srcRec("z", str("1"), 7, "src")}}); res.Applied != 0 || dataset(t, s, k3).Exists {
		t.Fatalf("a record deleted before it arrived was applied: %+v", res)
	}
}

// testImportContinue: a device that synced with the source continues on the
// store after the import (spec C.5): its incremental listing returns only
// later changes, and its writes with the source's counts succeed.
func testImportContinue(t *testing.T, s syncapi.Store) {
	im := importer(t, s)
	pool := newImportPool(t, s)
	k := syncapi.DatasetKey{PoolID: pool, IdentityID: identityID(), Name: "game"}
	doImport(t, im, syncapi.ImportRequest{Key: k, DatasetSyncCount: 12, Authoritative: true, Records: []syncapi.Record{
		srcRec("score", str("10"), 11, k.IdentityID), srcRec("level", str("2"), 12, k.IdentityID)}})
	if got := records(t, s, k, 12); len(got) != 0 {
		t.Fatalf("a device at 12 gets %+v", got)
	}
	res := update(t, s, k, T0.Add(time.Hour), put("score", "20", 11))
	if res.Records[0].SyncCount != 13 || res.Dataset.SyncCount != 13 {
		t.Fatalf("write after import: %+v", res)
	}
	if got := records(t, s, k, 12); len(got) != 1 || val(got["score"].Value) != "20" {
		t.Fatalf("after 12: %+v", got)
	}
	err := tryUpdate(t, s, k, syncapi.DefaultLimits, put("level", "3", 11))
	wantErr(t, err, syncapi.ErrConflict)
	if d := dataset(t, s, k); d.NumRecords != 2 {
		t.Fatalf("dataset %+v", d)
	}
}

func testImportRefused(t *testing.T, s syncapi.Store) {
	im := importer(t, s)
	k := syncapi.DatasetKey{PoolID: poolID(), IdentityID: identityID(), Name: "d"}
	_, err := im.ImportRecords(ctx(t), syncapi.ImportRequest{Key: k, Records: []syncapi.Record{srcRec("a", str("1"), 1, "x")}})
	wantErr(t, err, syncapi.ErrNotFound)
	_, err = im.ImportDatasetDeletion(ctx(t), k, 3, T0)
	wantErr(t, err, syncapi.ErrNotFound)

	pool, identity := newPool(t, s)
	other := newImportPool(t, s)
	_, err = im.ImportRecords(ctx(t), syncapi.ImportRequest{Key: syncapi.DatasetKey{PoolID: other, IdentityID: identity, Name: "d"},
		Records: []syncapi.Record{srcRec("a", str("1"), 1, "x")}})
	wantErr(t, err, syncapi.ErrConflict)

	k = syncapi.DatasetKey{PoolID: pool, IdentityID: identity, Name: "d"}
	for _, bad := range []syncapi.Record{srcRec("a\x00", str("1"), 1, "x"), srcRec("a", str("\xff"), 1, "x"), srcRec("a", str("1"), -1, "x")} {
		_, err = im.ImportRecords(ctx(t), syncapi.ImportRequest{Key: k, Records: []syncapi.Record{srcRec("ok", str("1"), 1, "x"), bad}})
		var ve *syncapi.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("record %+v: err = %v, want a ValidationError", bad, err)
		}
	}
	if d := dataset(t, s, k); d.Exists || d.SyncCount != 0 {
		t.Fatalf("a refused import changed the dataset: %+v", d)
	}
}

func testImportState(t *testing.T, s syncapi.Store) {
	im := importer(t, s)
	pool := newImportPool(t, s)
	if st, err := im.ImportState(ctx(t), pool); err != nil || st != "" {
		t.Fatalf("ImportState of a fresh pool = %q, %v", st, err)
	}
	wantNoErr(t, im.SetImportState(ctx(t), pool, `{"done":1}`))
	wantNoErr(t, im.SetImportState(ctx(t), pool, `{"done":2}`))
	if st, err := im.ImportState(ctx(t), pool); err != nil || st != `{"done":2}` {
		t.Fatalf("ImportState = %q, %v", st, err)
	}
	wantErr(t, im.SetImportState(ctx(t), poolID(), "x"), syncapi.ErrNotFound)
	wantNoErr(t, s.DeletePool(ctx(t), pool))
	wantNoErr(t, s.CreatePool(ctx(t), syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: pool, IdentityPoolName: "p"}}))
	if st, err := im.ImportState(ctx(t), pool); err != nil || st != "" {
		t.Fatalf("ImportState after DeletePool = %q, %v", st, err)
	}
}

// testImportRace: writers applying shuffled, overlapping slices of one
// history (import and stream overlapping, replays) end in its last state.
func testImportRace(t *testing.T, s syncapi.Store) {
	im := importer(t, s)
	pool := newImportPool(t, s)
	k := syncapi.DatasetKey{PoolID: pool, IdentityID: identityID(), Name: "d"}
	var all []syncapi.Record
	want := map[string]syncapi.Record{}
	for n := int64(1); n <= 40; n++ {
		key := fmt.Sprintf("k%d", n%5)
		var r syncapi.Record
		if n%7 == 0 {
			r = srcRec(key, nil, n, "src")
		} else {
			r = srcRec(key, str(fmt.Sprint(n)), n, "src")
		}
		all = append(all, r)
		want[key] = r
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), 7))
			mine := append([]syncapi.Record(nil), all...)
			rnd.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
			for len(mine) > 0 {
				n := min(len(mine), 1+rnd.IntN(6))
				var top int64
				for _, r := range mine[:n] {
					top = max(top, r.SyncCount)
				}
				if _, err := im.ImportRecords(ctx(t), syncapi.ImportRequest{Key: k, Records: mine[:n], DatasetSyncCount: top}); err != nil {
					errs <- err
					return
				}
				mine = mine[n:]
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var ws []syncapi.Record
	var live, bytes int64
	for _, r := range want {
		ws = append(ws, r)
		if r.Value != nil {
			live++
			bytes += int64(len(r.Key) + len(*r.Value))
		}
	}
	wantRecords(t, s, k, ws...)
	if d := dataset(t, s, k); d.SyncCount != 40 || d.NumRecords != live || d.DataStorage != bytes {
		t.Fatalf("dataset %+v, want count 40, %d records, %d bytes", d, live, bytes)
	}
}
