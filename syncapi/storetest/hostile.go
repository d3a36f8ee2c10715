package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

// hostileTests hold the limits and the agreements that must hold whatever a
// client sends: removals cannot grow a dataset past its limits, every store
// refuses the same strings, writes below a deleted pool never land. Run
// includes them.
var hostileTests = []struct {
	name string
	fn   func(t *testing.T, s syncapi.Store)
}{
	{"UpdateRecords_RemovalsOfUnknownKeysStoreNothing", testPhantomRemovals},
	{"UpdateRecords_TombstonesBounded", testTombstonesBounded},
	{"UpdateRecords_ExpectAfterPurge", testExpectAfterPurge},
	{"Text_RefusedAlike", testTextRefused},
	{"Text_EdgesRoundTrip", testTextRoundTrip},
	{"UpdateRecords_LimitEdges", testLimitEdges},
	{"ListRecords_ByteBudget", testByteBudget},
	{"Writes_CheckThePool", testWritesCheckPool},
	{"Collector", testCollector},
}

// HostileLimits are small limits the hostile tests flood against.
var HostileLimits = syncapi.Limits{MaxDatasets: 20, MaxRecords: 8, MaxDatasetBytes: 400}

// ListAll returns every record of k (all pages of the store's own paging).
func ListAll(t testing.TB, s syncapi.Store, k syncapi.DatasetKey) syncapi.RecordPage {
	t.Helper()
	p, err := s.ListRecords(ctx(t), k, syncapi.RecordQuery{})
	if err != nil {
		t.Fatalf("ListRecords: %v", err)
	}
	return p
}

// tombstones counts the tombstones of a page and the bytes of their keys.
func tombstones(p syncapi.RecordPage) (n, keyBytes int64) {
	for _, r := range p.Records {
		if r.Value == nil {
			n++
			keyBytes += int64(len(r.Key))
		}
	}
	return n, keyBytes
}

// The reported attack: ten UpdateRecords of 700 removals each, of keys that
// never existed, made 70,000 tombstones. Such removals store nothing.
func testPhantomRemovals(t *testing.T, s syncapi.Store) {
	k := newDataset(t, s, "ds")
	for round := range 10 {
		changes := make([]syncapi.Change, 700)
		for i := range changes {
			changes[i] = del(fmt.Sprintf("ghost-%d-%04d-%s", round, i, strings.Repeat("x", 100)), 0)
		}
		res, err := s.UpdateRecords(ctx(t), syncapi.UpdateRequest{Key: k, Changes: changes, By: "w", Now: T0, Limits: HostileLimits})
		wantNoErr(t, err)
		for _, r := range res.Records {
			if r.Value != nil || r.SyncCount != 0 {
				t.Fatalf("round %d: removal of an unknown key answered %+v, want no value at SyncCount 0", round, r)
			}
		}
		if res.Dataset.SyncCount != int64(round+1) {
			t.Fatalf("round %d: DatasetSyncCount %d, want %d (one per update)", round, res.Dataset.SyncCount, round+1)
		}
	}
	d := dataset(t, s, k)
	p := ListAll(t, s, k)
	if d.NumRecords != 0 || d.DataStorage != 0 || len(p.Records) != 0 {
		t.Fatalf("after 7,000 removals of unknown keys: dataset %+v, %d records stored", d, len(p.Records))
	}
}

// Keys that come and go leave tombstones; at most MaxRecords of them, with
// at most MaxDatasetBytes of keys, stay: the oldest are purged.
func testTombstonesBounded(t *testing.T, s syncapi.Store) {
	lim := HostileLimits
	k := newDataset(t, s, "churn")
	for round := range 30 {
		puts := make([]syncapi.Change, lim.MaxRecords)
		for i := range puts {
			puts[i] = put(fmt.Sprintf("r%02d-k%d", round, i), "v", 0)
		}
		res, err := s.UpdateRecords(ctx(t), syncapi.UpdateRequest{Key: k, Changes: puts, By: "w", Now: T0, Limits: lim})
		wantNoErr(t, err)
		dels := make([]syncapi.Change, len(puts))
		for i, c := range puts {
			dels[i] = del(c.Key, res.Records[i].SyncCount)
		}
		_, err = s.UpdateRecords(ctx(t), syncapi.UpdateRequest{Key: k, Changes: dels, By: "w", Now: T0, Limits: lim})
		wantNoErr(t, err)
		p := ListAll(t, s, k)
		if n, b := tombstones(p); n > lim.MaxRecords || b > lim.MaxDatasetBytes || int64(len(p.Records)) > 2*lim.MaxRecords {
			t.Fatalf("round %d: %d records, %d tombstones with %d key bytes; want at most %d tombstones and %d bytes",
				round, len(p.Records), n, b, lim.MaxRecords, lim.MaxDatasetBytes)
		}
	}
	d := dataset(t, s, k)
	p := ListAll(t, s, k)
	if d.NumRecords != 0 || d.PurgedAt == 0 || d.SyncCount != 60 {
		t.Fatalf("after churn: %+v", d)
	}
	for _, r := range p.Records {
		if r.SyncCount <= d.PurgedAt {
			t.Fatalf("tombstone %+v survived at or below PurgedAt %d: not the oldest were purged", r, d.PurgedAt)
		}
	}

	// Long keys: the tombstones' key bytes are bounded too.
	k = newDataset(t, s, "long")
	for i := range 5 {
		key := fmt.Sprintf("%d-%s", i, strings.Repeat("k", 298)) // 300 bytes
		res, err := s.UpdateRecords(ctx(t), syncapi.UpdateRequest{Key: k, Changes: []syncapi.Change{put(key, "v", 0)}, By: "w", Now: T0, Limits: lim})
		wantNoErr(t, err)
		_, err = s.UpdateRecords(ctx(t), syncapi.UpdateRequest{Key: k, Changes: []syncapi.Change{del(key, res.Records[0].SyncCount)}, By: "w", Now: T0, Limits: lim})
		wantNoErr(t, err)
		if n, b := tombstones(ListAll(t, s, k)); n != 1 || b != 300 {
			t.Fatalf("after %d long keys: %d tombstones with %d key bytes, want 1 with 300 (400 allowed)", i+1, n, b)
		}
	}
}

// A key whose tombstone was purged has no row; a client that saw the
// tombstone re-sends its count (Android keeps a removed record's count), so
// any count up to PurgedAt is accepted for it, and 0 as for any unknown key.
func testExpectAfterPurge(t *testing.T, s syncapi.Store) {
	lim := syncapi.Limits{MaxDatasets: 20, MaxRecords: 2, MaxDatasetBytes: 1000}
	k := newDataset(t, s, "ds")
	try := func(changes ...syncapi.Change) (syncapi.UpdateResult, error) {
		return s.UpdateRecords(ctx(t), syncapi.UpdateRequest{Key: k, Changes: changes, By: "w", Now: T0, Limits: lim})
	}
	for i, key := range []string{"a", "b", "c"} { // a@2, b@4, c@6 tombstones: a is purged
		_, err := try(put(key, "v", 0))
		wantNoErr(t, err)
		_, err = try(del(key, int64(2*i+1)))
		wantNoErr(t, err)
	}
	if d := dataset(t, s, k); d.PurgedAt != 2 {
		t.Fatalf("PurgedAt = %d, want 2 (a's tombstone)", d.PurgedAt)
	}
	if _, ok := records(t, s, k, 0)["a"]; ok {
		t.Fatal("a's tombstone was not purged")
	}
	res, err := try(put("a", "again", 2)) // 7: the count the client last saw
	wantNoErr(t, err)
	if res.Records[0].SyncCount != 7 {
		t.Fatalf("re-written a: %+v", res.Records)
	}
	var ce *syncapi.ConflictError
	if _, err := try(put("never", "x", 3)); !errors.As(err, &ce) || ce.Current != 0 || ce.Sent != 3 {
		t.Fatalf("a count above PurgedAt for an unknown key: err = %v, want a conflict (current 0, sent 3)", err)
	}
	if _, err := try(put("b", "x", 3)); !errors.As(err, &ce) || ce.Current != 4 {
		t.Fatalf("b's tombstone is still there at 4: err = %v", err)
	}
}

// Strings a store cannot keep the same way on every backend are refused,
// with *syncapi.ValidationError, before anything is written.
func testTextRefused(t *testing.T, s syncapi.Store) {
	k := newDataset(t, s, "ds")
	update(t, s, k, T0, put("a", "1", 0))
	wantValidation := func(t *testing.T, what string, err error) {
		t.Helper()
		var ve *syncapi.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("%s: err = %v, want *syncapi.ValidationError", what, err)
		}
	}
	bad := []struct {
		name   string
		change syncapi.Change
	}{
		{"NUL in a key", put("a\x00b", "v", 0)},
		{"NUL in a value", put("a", "v\x00", 1)},
		{"NUL alone", put("n", "\x00", 0)},
		{"invalid UTF-8 in a key", put("a\xff", "v", 0)},
		{"invalid UTF-8 in a value", put("a", "\xc3\x28", 1)},
		{"a surrogate half encoded (CESU-8)", put("\xed\xa0\x80", "v", 0)},
		{"an overlong encoding", put("a", "\xc0\xaf", 1)},
		{"NUL in a removed key", del("\x00", 0)},
		{"a key of 1024 characters and 4096 bytes", put(strings.Repeat("😀", 1024), "v", 0)},
		{"an empty key", put("", "v", 0)},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := tryUpdate(t, s, k, syncapi.DefaultLimits, put("fine", "v", 0), tc.change)
			wantValidation(t, "UpdateRecords", err)
			if d := dataset(t, s, k); d.SyncCount != 1 || len(records(t, s, k, 0)) != 1 {
				t.Fatalf("a refused update changed the dataset: %+v", d)
			}
			fresh := syncapi.DatasetKey{PoolID: k.PoolID, IdentityID: k.IdentityID, Name: "fresh-" + fmt.Sprint(len(tc.name))}
			wantValidation(t, "UpdateRecords creating a dataset", tryUpdate(t, s, fresh, syncapi.DefaultLimits, tc.change))
			if d := dataset(t, s, fresh); d.Exists || d.SyncCount != 0 {
				t.Fatalf("a refused update created %+v", d)
			}
		})
	}
	_, err := s.RegisterDevice(ctx(t), k.PoolID, k.IdentityID, "GCM", "tok\x00en", "dev")
	wantValidation(t, "RegisterDevice with NUL in the token", err)
	_, err = s.RegisterDevice(ctx(t), k.PoolID, k.IdentityID, "GCM", "tok\xffen", "dev")
	wantValidation(t, "RegisterDevice with invalid UTF-8 in the token", err)
	wantValidation(t, "Subscribe of a device id with NUL", s.Subscribe(ctx(t), k, "dev\x00"))
	_, err = s.ListRecords(ctx(t), k, syncapi.RecordQuery{Cursor: &syncapi.RecordCursor{SyncCount: 1, Key: "\x00"}})
	wantValidation(t, "ListRecords after a key with NUL", err)
	_, err = s.ListDatasets(ctx(t), k.PoolID, k.IdentityID, "\xfe", 0)
	wantValidation(t, "ListDatasets after invalid UTF-8", err)
	_, err = s.ListPools(ctx(t), "\x00", 1)
	wantValidation(t, "ListPools after NUL", err)
	_, err = s.GetPool(ctx(t), "us-east-1:\x00")
	wantValidation(t, "GetPool of an id with NUL", err)
	_, err = s.LookupCredential(ctx(t), "ASIA\x00\xff")
	wantErr(t, err, syncapi.ErrNotFound) // an access key no store could have issued
}

// Everything valid round-trips exactly, byte for byte, on every store:
// long multi-byte keys, control characters, quotes, a value of half a MiB.
func testTextRoundTrip(t *testing.T, s syncapi.Store) {
	k := newDataset(t, s, "ds")
	big := strings.Repeat("ü€😀", 40000) // 360,000 bytes, 120,000 characters
	vals := map[string]string{
		strings.Repeat("😀", 512):               "2048 bytes of key, 512 characters",
		strings.Repeat("é", 1024):              "1024 characters, 2048 bytes",
		strings.Repeat("x", 1024):              "1024 characters",
		"ctl\x01\x1f\x7f\t\n\r":                "controls \x01\x02\x7f",
		"quotes \"' \\ %_? ; -- /*":            "'); DROP TABLE records; --",
		"\u2028\u2029\ufeff\ufffd\U0010ffff":   "\U0010ffff",
		"empty":                                "",
		"big":                                  big,
		"b\u0301 (combining) and ﬁ (ligature)": "ﬁ",
	}
	var changes []syncapi.Change
	var storage int64
	for key, v := range vals {
		changes = append(changes, put(key, v, 0))
		storage += int64(len(key) + len(v))
	}
	lim := syncapi.Limits{MaxDatasets: 20, MaxRecords: 100, MaxDatasetBytes: 1 << 20}
	wantNoErr(t, tryUpdate(t, s, k, lim, changes...))
	got := records(t, s, k, 0)
	if len(got) != len(vals) {
		t.Fatalf("%d records stored, want %d", len(got), len(vals))
	}
	for key, v := range vals {
		if r, ok := got[key]; !ok || r.Value == nil || *r.Value != v {
			t.Errorf("key %q: stored %q (found %v), want %q", key, val(r.Value), ok, v)
		}
	}
	if d := dataset(t, s, k); d.DataStorage != storage || d.NumRecords != int64(len(vals)) {
		t.Fatalf("dataset %+v, want %d bytes in %d records", d, storage, len(vals))
	}
	// Keys sort by their bytes on every store (the order of ListRecords
	// within one SyncCount, and of cursors).
	p := ListAll(t, s, k)
	for i := 1; i < len(p.Records); i++ {
		if p.Records[i-1].Key >= p.Records[i].Key {
			t.Fatalf("keys out of byte order: %q before %q", p.Records[i-1].Key, p.Records[i].Key)
		}
	}
}

// Limits hold at their exact edges, in UTF-8 bytes.
func testLimitEdges(t *testing.T, s syncapi.Store) {
	lim := syncapi.Limits{MaxDatasets: 1, MaxRecords: 3, MaxDatasetBytes: 10}
	k := newDataset(t, s, "ds")
	wantNoErr(t, tryUpdate(t, s, k, lim, put("é", strings.Repeat("x", 8), 0))) // 2 + 8 = 10: at the limit
	wantErr(t, tryUpdate(t, s, k, lim, put("é", strings.Repeat("x", 9), 1)), syncapi.ErrLimitExceeded)
	wantErr(t, tryUpdate(t, s, k, lim, put("b", "", 0)), syncapi.ErrLimitExceeded)           // a key alone counts: 11
	wantNoErr(t, tryUpdate(t, s, k, lim, put("é", "", 1), put("b", "", 0), put("c", "", 0))) // 2+1+1, 3 records
	wantErr(t, tryUpdate(t, s, k, lim, put("d", "", 0)), syncapi.ErrLimitExceeded)           // a 4th record
	wantNoErr(t, tryUpdate(t, s, k, lim, del("c", 2), put("d", "", 0)))                      // a swap at the limit
	other := syncapi.DatasetKey{PoolID: k.PoolID, IdentityID: k.IdentityID, Name: "second"}
	wantErr(t, tryUpdate(t, s, other, lim, put("a", "", 0)), syncapi.ErrLimitExceeded) // a 2nd dataset
	if d := dataset(t, s, k); d.NumRecords != 3 || d.DataStorage != 4 || d.SyncCount != 3 {
		t.Fatalf("after the edges: %+v", d)
	}
}

// RecordQuery.MaxBytes ends a page before the record that would take it
// past the budget, at least one record per page, and tells the count of the
// first record left out.
func testByteBudget(t *testing.T, s syncapi.Store) {
	k := newDataset(t, s, "ds")
	v := strings.Repeat("v", 100)
	for i := range 10 { // k00@1 … k09@10, each 3+100+RecordOverhead bytes
		update(t, s, k, T0, put(fmt.Sprintf("k%02d", i), v, 0))
	}
	size := syncapi.RecordSize("k00", &v)
	tests := []struct {
		name     string
		q        syncapi.RecordQuery
		perPage  []int
		nextSync []int64
	}{
		{"three per page", syncapi.RecordQuery{MaxBytes: 3*size + size/2}, []int{3, 3, 3, 1}, []int64{4, 7, 10, 0}},
		{"budget below one record", syncapi.RecordQuery{MaxBytes: 1}, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, []int64{2, 3, 4, 5, 6, 7, 8, 9, 10, 0}},
		{"the limit first", syncapi.RecordQuery{Limit: 2, MaxBytes: 3 * size}, []int{2, 2, 2, 2, 2}, []int64{3, 5, 7, 9, 0}},
		{"exactly the budget", syncapi.RecordQuery{MaxBytes: 5 * size}, []int{5, 5}, []int64{6, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			var got []string
			for i := 0; ; i++ {
				p, err := s.ListRecords(ctx(t), k, q)
				wantNoErr(t, err)
				if i >= len(tc.perPage) || len(p.Records) != tc.perPage[i] || p.NextSyncCount != tc.nextSync[i] || p.More != (tc.nextSync[i] != 0) {
					t.Fatalf("page %d: %d records, more %v, next %d; want %v, %v", i, len(p.Records), p.More, p.NextSyncCount, tc.perPage, tc.nextSync)
				}
				for _, r := range p.Records {
					got = append(got, r.Key)
				}
				if !p.More {
					break
				}
				last := p.Records[len(p.Records)-1]
				q.Cursor = &syncapi.RecordCursor{SyncCount: last.SyncCount, Key: last.Key}
			}
			if len(got) != 10 || got[0] != "k00" || got[9] != "k09" {
				t.Fatalf("pages gave %v", got)
			}
		})
	}
}

// Writes below a pool check, in their own transaction, that the pool (of
// the expected generation) and the identity exist: nothing lands below a
// deleted pool, or under credentials of a pool deleted and created again.
func testWritesCheckPool(t *testing.T, s syncapi.Store) {
	pool, identity := newPool(t, s)
	p, err := s.GetPool(ctx(t), pool)
	wantNoErr(t, err)
	gen := p.Generation
	k := syncapi.DatasetKey{PoolID: pool, IdentityID: identity, Name: "ds"}
	write := func(k syncapi.DatasetKey, gen int64, requireIdentity bool) error {
		_, err := s.UpdateRecords(ctx(t), syncapi.UpdateRequest{Key: k, Changes: []syncapi.Change{put("a", "1", 0)}, By: "w", Now: T0,
			Limits: syncapi.DefaultLimits, PoolGeneration: gen, RequireIdentity: requireIdentity})
		return err
	}
	absent := func(k syncapi.DatasetKey) {
		t.Helper()
		if d := dataset(t, s, k); d.Exists || d.SyncCount != 0 {
			t.Fatalf("a refused write created %+v", d)
		}
	}
	noPool := syncapi.DatasetKey{PoolID: poolID(), IdentityID: identity, Name: "ds"}
	wantErr(t, write(noPool, 0, false), syncapi.ErrNotFound)
	absent(noPool)
	wantErr(t, write(k, gen+1, true), syncapi.ErrRevoked)
	absent(k)
	noIdentity := syncapi.DatasetKey{PoolID: pool, IdentityID: identityID(), Name: "ds"}
	wantErr(t, write(noIdentity, gen, true), syncapi.ErrNotFound)
	absent(noIdentity)
	wantNoErr(t, write(noIdentity, 0, false)) // developer credentials may name any identity
	wantNoErr(t, write(k, gen, true))

	cred := func(id string, gen int64) syncapi.Credential {
		return syncapi.Credential{AccessKeyID: "ASIA" + id, Secret: "s", SessionToken: "t", Expires: T0.Add(time.Hour),
			Caller: syncapi.Caller{PoolID: pool, IdentityID: id, PoolGeneration: gen}}
	}
	wantErr(t, s.PutCredential(ctx(t), cred(identityID(), gen)), syncapi.ErrNotFound)
	wantErr(t, s.PutCredential(ctx(t), cred(identity, gen+1)), syncapi.ErrRevoked)
	wantNoErr(t, s.PutCredential(ctx(t), cred(identity, gen)))
	if c, err := s.LookupCredential(ctx(t), "ASIA"+identity); err != nil || c.Caller.PoolGeneration != gen {
		t.Fatalf("LookupCredential = %+v, %v; want the pool's generation %d", c, err, gen)
	}
	_, err = s.RegisterDevice(ctx(t), pool, identityID(), "GCM", "tok", "dev-x")
	wantErr(t, err, syncapi.ErrNotFound)
	wantErr(t, s.Subscribe(ctx(t), noIdentity, "dev-x"), syncapi.ErrNotFound)

	// Deleted and created again: nothing comes back, the old generation
	// writes nothing.
	wantNoErr(t, s.DeletePool(ctx(t), pool))
	wantErr(t, write(k, gen, true), syncapi.ErrNotFound)
	wantNoErr(t, s.CreatePool(ctx(t), syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: pool}}))
	wantErr(t, write(k, gen, false), syncapi.ErrRevoked)
	absent(k)
	absent(noIdentity)
	if ds, err := s.ListDatasets(ctx(t), pool, identity, "", 0); err != nil || len(ds) != 0 {
		t.Fatalf("datasets of the re-created pool: %v, %v", ds, err)
	}
}

// collector is what syncapi/gc needs of a store.
type collector interface {
	DeleteExpiredCredentials(ctx context.Context, expiredBefore time.Time, limit int) (int64, error)
	DeleteIdleIdentities(ctx context.Context, createdBefore, now time.Time, limit int) (int64, error)
}

// The collector deletes expired credentials and guest identities that never
// stored anything, never an identity with data, a device or live
// credentials, nor one that is too young or disabled.
func testCollector(t *testing.T, s syncapi.Store) {
	c, ok := s.(collector)
	if !ok {
		t.Skipf("%T has no collector", s)
	}
	now := T0.Add(48 * time.Hour)
	pool, first := newPool(t, s) // created at T0: an old empty identity too
	ids := map[string]string{"first": first}
	mk := func(name string, created time.Time, disabled bool) string {
		id := identityID()
		wantNoErr(t, s.CreateIdentity(ctx(t), syncapi.Identity{PoolID: pool, ID: id, Created: created, Disabled: disabled}))
		ids[name] = id
		return id
	}
	old := now.Add(-25 * time.Hour)
	mk("empty", old, false)
	mk("young", now.Add(-time.Hour), false)
	mk("disabled", old, true)
	update(t, s, syncapi.DatasetKey{PoolID: pool, IdentityID: mk("data", old, false), Name: "d"}, T0, put("a", "1", 0))
	deleted := syncapi.DatasetKey{PoolID: pool, IdentityID: mk("deleted-data", old, false), Name: "d"}
	update(t, s, deleted, T0, put("a", "1", 0))
	_, err := s.DeleteDataset(ctx(t), deleted)
	wantNoErr(t, err)
	_, err = s.RegisterDevice(ctx(t), pool, mk("device", old, false), "GCM", "tok", "dev")
	wantNoErr(t, err)
	credential := func(id string, expires time.Time) {
		wantNoErr(t, s.PutCredential(ctx(t), syncapi.Credential{AccessKeyID: "ASIA" + id, Secret: "s", SessionToken: "t", Expires: expires,
			Caller: syncapi.Caller{PoolID: pool, IdentityID: id}}))
	}
	credential(mk("live-credential", old, false), now.Add(time.Minute))
	credential(mk("expired-credential", old, false), now.Add(-time.Minute))
	credential(mk("long-expired", old, false), now.Add(-2*time.Hour))

	n, err := c.DeleteExpiredCredentials(ctx(t), now.Add(-time.Hour), 100)
	wantNoErr(t, err)
	if n != 1 {
		t.Fatalf("DeleteExpiredCredentials deleted %d, want 1", n)
	}
	if _, err := s.LookupCredential(ctx(t), "ASIA"+ids["long-expired"]); !errors.Is(err, syncapi.ErrNotFound) {
		t.Fatalf("a credential expired 2h ago survived: %v", err)
	}
	for _, name := range []string{"live-credential", "expired-credential"} {
		_, err := s.LookupCredential(ctx(t), "ASIA"+ids[name])
		wantNoErr(t, err)
	}

	// One per call with limit 1; then the rest.
	n, err = c.DeleteIdleIdentities(ctx(t), now.Add(-24*time.Hour), now, 1)
	wantNoErr(t, err)
	if n != 1 {
		t.Fatalf("DeleteIdleIdentities(limit 1) deleted %d", n)
	}
	n2, err := c.DeleteIdleIdentities(ctx(t), now.Add(-24*time.Hour), now, 100)
	wantNoErr(t, err)
	if n+n2 != 4 {
		t.Fatalf("DeleteIdleIdentities deleted %d, want 4 (first, empty, expired-credential, long-expired)", n+n2)
	}
	for name, id := range ids {
		_, err := s.GetIdentity(ctx(t), id)
		gone := errors.Is(err, syncapi.ErrNotFound)
		want := name == "first" || name == "empty" || name == "expired-credential" || name == "long-expired"
		if gone != want {
			t.Errorf("identity %s: deleted %v, want %v (%v)", name, gone, want, err)
		}
	}
}
