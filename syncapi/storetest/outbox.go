package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

// outboxTests are the Cognito Streams outbox, lease and bulk-source tests;
// Run includes them. Each skips when the store lacks the
// capability.
var outboxTests = []struct {
	name string
	fn   func(t *testing.T, s syncapi.Store)
}{
	{"Outbox_OnlyWhenStreaming", testOutboxStreaming},
	{"Outbox_RejectedUpdateWritesNothing", testOutboxRejected},
	{"Outbox_ManyInOrder", testOutboxOrder},
	{"Leases", testLeases},
	{"BulkDatasets", testBulkDatasets},
}

func outbox(t *testing.T, s syncapi.Store) syncapi.Outbox {
	t.Helper()
	o, ok := s.(syncapi.Outbox)
	if !ok {
		t.Skipf("%T does not implement syncapi.Outbox", s)
	}
	return o
}

func setStreaming(t testing.TB, s syncapi.Store, pool, stream, status string) {
	t.Helper()
	_, err := s.UpdatePool(ctx(t), pool, func(p *syncapi.Pool) error {
		p.CognitoStreams = &syncapi.CognitoStreams{StreamName: stream, RoleArn: "arn:aws:iam::123456789012:role/r", StreamingStatus: status}
		return nil
	})
	wantNoErr(t, err)
}

func pending(t testing.TB, o syncapi.Outbox) []syncapi.OutboxEntry {
	t.Helper()
	es, err := o.PendingOutbox(ctx(t), 0)
	wantNoErr(t, err)
	return es
}

func testOutboxStreaming(t *testing.T, s syncapi.Store) {
	o := outbox(t, s)
	k := newDataset(t, s, "settings")
	update(t, s, k, T0, put("a", "1", 0), put("b", "1", 0)) // no stream configured
	setStreaming(t, s, k.PoolID, "events", syncapi.StreamingDisabled)
	update(t, s, k, T0, put("a", "2", 1))
	if es := pending(t, o); len(es) != 0 {
		t.Fatalf("outbox without streaming: %+v", es)
	}

	setStreaming(t, s, k.PoolID, "events", syncapi.StreamingEnabled)
	t1, dev := T0.Add(time.Second), T0.Add(-time.Minute)
	// A removal of a key that never existed stores nothing, so it is not
	// streamed either; an update of nothing but such removals writes no entry.
	update(t, s, k, t1, syncapi.Change{Key: "a", Value: str("3"), Expect: i64(2), DeviceLastModified: dev}, del("b", 1), del("never", 0))
	update(t, s, k, t1, del("never", 0), del("nor-this", 0)) // 4
	k2 := syncapi.DatasetKey{PoolID: k.PoolID, IdentityID: k.IdentityID, Name: "created"}
	update(t, s, k2, t1, put("x", "y", 0)) // a dataset created by the write
	if _, err := s.DeleteDataset(ctx(t), k2); err != nil {
		t.Fatal(err)
	}
	es := pending(t, o)
	if len(es) != 3 {
		t.Fatalf("outbox: %+v", es)
	}
	e := es[0]
	if e.Key != k || e.Stream != "events" || e.Deleted || e.SyncCount != 3 || !e.Modified.Equal(t1) || len(e.Records) != 2 || e.Created.IsZero() {
		t.Errorf("entry 0: %+v", e)
	}
	if r := e.Records[0]; r.Key != "a" || r.Value == nil || *r.Value != "3" || r.SyncCount != 3 ||
		!r.LastModifiedDate.Equal(t1) || !r.DeviceLastModifiedDate.Equal(dev) {
		t.Errorf("record 0: %+v", r)
	}
	if r := e.Records[1]; r.Key != "b" || r.Value != nil || r.SyncCount != 3 || !r.DeviceLastModifiedDate.Equal(t1) {
		t.Errorf("record 1: %+v", r)
	}
	if e := es[1]; e.Key != k2 || e.SyncCount != 1 || len(e.Records) != 1 || e.Deleted {
		t.Errorf("entry 1: %+v", e)
	}
	if e := es[2]; e.Key != k2 || !e.Deleted || e.SyncCount != 1 || len(e.Records) != 0 {
		t.Errorf("entry 2 (deletion): %+v", e)
	}
	if !(es[0].ID < es[1].ID && es[1].ID < es[2].ID) {
		t.Errorf("ids not increasing: %d %d %d", es[0].ID, es[1].ID, es[2].ID)
	}
	n, oldest, err := o.OutboxStats(ctx(t))
	wantNoErr(t, err)
	if n != 3 || !oldest.Equal(es[0].Created) {
		t.Errorf("OutboxStats = %d, %v; want 3, %v", n, oldest, es[0].Created)
	}

	wantNoErr(t, o.AckOutbox(ctx(t), []int64{es[0].ID, es[2].ID, es[2].ID + 1000}))
	if got := pending(t, o); len(got) != 1 || got[0].ID != es[1].ID {
		t.Fatalf("after ack: %+v", got)
	}
	wantNoErr(t, o.AckOutbox(ctx(t), nil))

	setStreaming(t, s, k.PoolID, "events", syncapi.StreamingDisabled)
	update(t, s, k, t1, put("a", "4", 3))
	if got := pending(t, o); len(got) != 1 {
		t.Fatalf("disabled again: %+v", got)
	}
}

func testOutboxRejected(t *testing.T, s syncapi.Store) {
	o := outbox(t, s)
	k := newDataset(t, s, "settings")
	setStreaming(t, s, k.PoolID, "events", syncapi.StreamingEnabled)
	update(t, s, k, T0, put("a", "1", 0))
	if err := tryUpdate(t, s, k, syncapi.DefaultLimits, put("a", "2", 0)); err == nil {
		t.Fatal("stale write accepted")
	}
	if err := tryUpdate(t, s, k, syncapi.Limits{MaxDatasets: 20, MaxRecords: 1, MaxDatasetBytes: 1 << 20}, put("b", "2", 0)); err == nil {
		t.Fatal("write over the limit accepted")
	}
	if es := pending(t, o); len(es) != 1 {
		t.Fatalf("outbox: %+v", es)
	}
}

// testOutboxOrder writes concurrently to several datasets and checks that
// every acknowledged write has exactly one entry and that each dataset's
// entries come in sync-count order.
func testOutboxOrder(t *testing.T, s syncapi.Store) {
	o := outbox(t, s)
	pool, identity := newPool(t, s)
	setStreaming(t, s, pool, "events", syncapi.StreamingEnabled)
	const datasets, writes = 4, 25
	errs := make(chan error, datasets)
	for d := range datasets {
		go func() {
			k := syncapi.DatasetKey{PoolID: pool, IdentityID: identity, Name: fmt.Sprintf("ds%d", d)}
			for i := range writes {
				if _, err := s.UpdateRecords(ctx(t), syncapi.UpdateRequest{Key: k, Changes: []syncapi.Change{put("k", fmt.Sprint(i), int64(i))},
					By: "w", Now: T0, Limits: syncapi.DefaultLimits}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range datasets {
		wantNoErr(t, <-errs)
	}
	es := pending(t, o)
	if len(es) != datasets*writes {
		t.Fatalf("%d entries, want %d", len(es), datasets*writes)
	}
	last := map[string]int64{}
	for _, e := range es {
		if e.SyncCount != last[e.Key.Name]+1 || *e.Records[0].Value != fmt.Sprint(e.SyncCount-1) {
			t.Fatalf("%s: entry with sync count %d after %d", e.Key.Name, e.SyncCount, last[e.Key.Name])
		}
		last[e.Key.Name] = e.SyncCount
	}
	page, err := o.PendingOutbox(ctx(t), 7)
	wantNoErr(t, err)
	if len(page) != 7 || page[0].ID != es[0].ID {
		t.Errorf("limit 7: %d entries", len(page))
	}
}

func testLeases(t *testing.T, s syncapi.Store) {
	l, ok := s.(syncapi.Leases)
	if !ok {
		t.Skipf("%T does not implement syncapi.Leases", s)
	}
	acquire := func(owner string, now time.Time, data string, want bool) {
		t.Helper()
		got, err := l.AcquireLease(ctx(t), "job", owner, now, 10*time.Second, data)
		wantNoErr(t, err)
		if got != want {
			t.Fatalf("AcquireLease(%s, %v) = %v, want %v", owner, now.Sub(T0), got, want)
		}
	}
	if _, _, _, found, err := l.LeaseData(ctx(t), "job"); err != nil || found {
		t.Fatalf("LeaseData of a new lease: %v %v", found, err)
	}
	acquire("a", T0, "p1", true)
	acquire("b", T0.Add(5*time.Second), "", false)
	acquire("a", T0.Add(5*time.Second), "p2", true) // renew until +15 s
	acquire("b", T0.Add(12*time.Second), "", false)
	owner, exp, data, found, err := l.LeaseData(ctx(t), "job")
	wantNoErr(t, err)
	if !found || owner != "a" || data != "p2" || !exp.Equal(T0.Add(15*time.Second)) {
		t.Fatalf("LeaseData = %s %v %q %v", owner, exp, data, found)
	}
	acquire("b", T0.Add(16*time.Second), "p2", true) // expired: taken over
	acquire("a", T0.Add(17*time.Second), "", false)
	wantNoErr(t, l.ReleaseLease(ctx(t), "job", "a")) // not the holder: no effect
	acquire("a", T0.Add(18*time.Second), "", false)
	wantNoErr(t, l.ReleaseLease(ctx(t), "job", "b"))
	acquire("a", T0.Add(18*time.Second), "", true)
}

func testBulkDatasets(t *testing.T, s syncapi.Store) {
	b, ok := s.(syncapi.BulkSource)
	if !ok {
		t.Skipf("%T does not implement syncapi.BulkSource", s)
	}
	pool, id1 := newPool(t, s)
	id2 := identityID()
	wantNoErr(t, s.CreateIdentity(ctx(t), syncapi.Identity{PoolID: pool, ID: id2, Created: T0}))
	other := newDataset(t, s, "other-pool")
	update(t, s, other, T0, put("x", "1", 0))

	want := map[syncapi.DatasetKey]int{}
	for _, id := range []string{id1, id2} {
		for d := range 3 {
			k := syncapi.DatasetKey{PoolID: pool, IdentityID: id, Name: fmt.Sprintf("ds%d", d)}
			update(t, s, k, T0, put("a", "1", 0), put("b", "2", 0), put("c", "3", 0))
			update(t, s, k, T0.Add(time.Second), del("b", 1))
			want[k] = 2
		}
	}
	gone := syncapi.DatasetKey{PoolID: pool, IdentityID: id1, Name: "ds1"}
	_, err := s.DeleteDataset(ctx(t), gone)
	wantNoErr(t, err)
	delete(want, gone)

	var got []syncapi.BulkDataset
	var after syncapi.DatasetKey
	for {
		page, err := b.BulkDatasets(ctx(t), pool, after, 2)
		wantNoErr(t, err)
		if len(page) == 0 {
			break
		}
		if len(page) > 2 {
			t.Fatalf("page of %d", len(page))
		}
		got = append(got, page...)
		after = page[len(page)-1].Key
	}
	if len(got) != len(want) {
		t.Fatalf("got %d datasets, want %d: %+v", len(got), len(want), got)
	}
	for i, d := range got {
		if i > 0 {
			p := got[i-1].Key
			if !(p.IdentityID < d.Key.IdentityID || (p.IdentityID == d.Key.IdentityID && p.Name < d.Key.Name)) {
				t.Errorf("not ordered: %v after %v", d.Key, p)
			}
		}
		if want[d.Key] != 2 || d.SyncCount != 2 || !d.Modified.Equal(T0.Add(time.Second)) || len(d.Records) != 2 ||
			d.Records[0].Key != "a" || d.Records[1].Key != "c" || *d.Records[1].Value != "3" || d.Records[1].SyncCount != 1 {
			t.Errorf("dataset %d: %+v", i, d)
		}
	}

	wantNoErr(t, s.StartBulk(ctx(t), pool, "w1", T0, T0.Add(-24*time.Hour)))
	jobs, err := b.BulkInProgress(ctx(t))
	wantNoErr(t, err)
	if j, ok := jobs[pool]; !ok || j.Owner != "w1" || !j.Started.Equal(T0) || len(jobs) != 1 {
		t.Errorf("BulkInProgress = %+v", jobs)
	}
}
