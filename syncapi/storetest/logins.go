package storetest

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

// loginTests exercise syncapi.LoginStore; every store the suite runs
// implements it.
var loginTests = []struct {
	name string
	fn   func(t *testing.T, s syncapi.Store)
}{
	{"Logins_LinkFindDescribe", testLinkFind},
	{"Logins_ListIdentitiesAndLogins", testListIdentities},
	{"Logins_RefuseAndMergeConflicts", testLinkConflicts},
	{"Logins_Merge", testMerge},
	{"Logins_MergeRace", testMergeRace},
	{"Logins_LinkRace", testLinkRace},
	{"Logins_UnlinkDelete", testUnlinkDelete},
	{"Logins_SigningKeys", testSigningKeys},
	{"Logins_PoolRoles", testPoolRoles},
}

func logins(t testing.TB, s syncapi.Store) syncapi.LoginStore {
	t.Helper()
	ls, ok := s.(syncapi.LoginStore)
	if !ok {
		t.Fatalf("%T does not implement syncapi.LoginStore", s)
	}
	return ls
}

func link(t testing.TB, ls syncapi.LoginStore, r syncapi.LinkRequest) syncapi.LinkResult {
	t.Helper()
	if r.Now.IsZero() {
		r.Now = T0
	}
	res, err := ls.Link(ctx(t), r)
	if err != nil {
		t.Fatalf("Link %+v: %v", r, err)
	}
	return res
}

func testLinkFind(t *testing.T, s syncapi.Store) {
	ls := logins(t, s)
	pool, guest := newPool(t, s)
	dev := syncapi.Login{Provider: "login.example", Subject: "alice"}
	if _, err := ls.FindLogin(ctx(t), pool, dev); !errors.Is(err, syncapi.ErrNotFound) {
		t.Fatalf("FindLogin of an unlinked login: %v, want ErrNotFound", err)
	}
	// A new login creates NewID.
	fresh := identityID()
	res := link(t, ls, syncapi.LinkRequest{PoolID: pool, NewID: fresh, Logins: []syncapi.Login{dev}})
	if res.IdentityID != fresh || !res.Created || len(res.Merged) != 0 {
		t.Fatalf("first link = %+v, want created %s", res, fresh)
	}
	// The same login always maps to the same identity.
	again := link(t, ls, syncapi.LinkRequest{PoolID: pool, NewID: identityID(), Logins: []syncapi.Login{dev}})
	if again.IdentityID != fresh || again.Created {
		t.Fatalf("second link = %+v, want %s", again, fresh)
	}
	if got, err := ls.FindLogin(ctx(t), pool, dev); err != nil || got != fresh {
		t.Fatalf("FindLogin = %q, %v; want %s", got, err, fresh)
	}
	// Another pool does not see it.
	other, _ := newPool(t, s)
	if _, err := ls.FindLogin(ctx(t), other, dev); !errors.Is(err, syncapi.ErrNotFound) {
		t.Fatalf("FindLogin in another pool: %v, want ErrNotFound", err)
	}
	// A guest that logs in keeps its id.
	g := syncapi.Login{Provider: "accounts.google.com", Subject: "g-1"}
	res = link(t, ls, syncapi.LinkRequest{PoolID: pool, IdentityID: guest, Logins: []syncapi.Login{g}, Now: T0.Add(time.Minute)})
	if res.IdentityID != guest || res.Created {
		t.Fatalf("guest login = %+v, want %s", res, guest)
	}
	info, err := ls.DescribeIdentity(ctx(t), guest)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(info.Logins, []syncapi.Login{g}) || info.PoolID != pool || info.Disabled || !info.Modified.Equal(T0.Add(time.Minute)) || !info.Created.Equal(T0) {
		t.Errorf("DescribeIdentity = %+v", info)
	}
	if _, err := ls.DescribeIdentity(ctx(t), identityID()); !errors.Is(err, syncapi.ErrNotFound) {
		t.Errorf("DescribeIdentity of an unknown identity: %v, want ErrNotFound", err)
	}
	// Linking to a missing identity.
	_, err = ls.Link(ctx(t), syncapi.LinkRequest{PoolID: pool, IdentityID: identityID(), Logins: []syncapi.Login{{Provider: "x", Subject: "y"}}, Now: T0})
	if !errors.Is(err, syncapi.ErrNotFound) {
		t.Errorf("Link to a missing identity: %v, want ErrNotFound", err)
	}
	// MaxLogins bounds one identity's logins, and a refused link changes nothing.
	_, err = ls.Link(ctx(t), syncapi.LinkRequest{PoolID: pool, IdentityID: guest, MaxLogins: 1,
		Logins: []syncapi.Login{{Provider: "x", Subject: "y"}}, Now: T0})
	if !errors.Is(err, syncapi.ErrLimitExceeded) {
		t.Errorf("Link past MaxLogins: %v, want ErrLimitExceeded", err)
	}
	if _, err := ls.FindLogin(ctx(t), pool, syncapi.Login{Provider: "x", Subject: "y"}); !errors.Is(err, syncapi.ErrNotFound) {
		t.Errorf("a refused link was stored: %v", err)
	}
}

func testListIdentities(t *testing.T, s syncapi.Store) {
	ls := logins(t, s)
	pool, first := newPool(t, s)
	want := []string{first}
	for i := 0; i < 4; i++ {
		id := identityID()
		link(t, ls, syncapi.LinkRequest{PoolID: pool, NewID: id, Logins: []syncapi.Login{{Provider: "dev", Subject: string(rune('a' + i))}}})
		want = append(want, id)
	}
	var got []string
	after := ""
	for {
		page, err := ls.ListIdentities(ctx(t), pool, after, 2, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, p := range page {
			got = append(got, p.ID)
			if p.ID != first && len(p.Logins) != 1 {
				t.Errorf("identity %s has logins %v", p.ID, p.Logins)
			}
		}
		after = page[len(page)-1].ID
	}
	if !reflect.DeepEqual(sorted(got), sorted(want)) || !reflect.DeepEqual(got, sorted(got)) {
		t.Errorf("ListIdentities = %v, want %v in order", got, sorted(want))
	}
	subs, err := ls.ListLogins(ctx(t), pool, "dev", "", "a", 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(subs, []syncapi.Login{{Provider: "dev", Subject: "b"}, {Provider: "dev", Subject: "c"}}) {
		t.Errorf("ListLogins after a = %v", subs)
	}
	owner, _ := ls.FindLogin(ctx(t), pool, syncapi.Login{Provider: "dev", Subject: "d"})
	subs, err = ls.ListLogins(ctx(t), pool, "dev", owner, "", 10)
	if err != nil || !reflect.DeepEqual(subs, []syncapi.Login{{Provider: "dev", Subject: "d"}}) {
		t.Errorf("ListLogins of %s = %v, %v", owner, subs, err)
	}
	// HideDisabled leaves out a merged identity.
	if _, err := ls.Merge(ctx(t), pool, first, owner, T0); err != nil {
		t.Fatal(err)
	}
	all, _ := ls.ListIdentities(ctx(t), pool, "", 60, false)
	shown, _ := ls.ListIdentities(ctx(t), pool, "", 60, true)
	if len(all) != 5 || len(shown) != 4 {
		t.Errorf("ListIdentities: %d identities, %d shown; want 5, 4", len(all), len(shown))
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func testLinkConflicts(t *testing.T, s syncapi.Store) {
	ls := logins(t, s)
	pool, a := newPool(t, s)
	b := identityID()
	if err := s.CreateIdentity(ctx(t), syncapi.Identity{PoolID: pool, ID: b, Created: T0}); err != nil {
		t.Fatal(err)
	}
	la := syncapi.Login{Provider: "dev", Subject: "ann"}
	link(t, ls, syncapi.LinkRequest{PoolID: pool, IdentityID: a, Logins: []syncapi.Login{la}})
	// The developer provider's rule: refuse.
	_, err := ls.Link(ctx(t), syncapi.LinkRequest{PoolID: pool, IdentityID: b, Logins: []syncapi.Login{la}, Now: T0})
	if !errors.Is(err, syncapi.ErrDeveloperUserRegistered) {
		t.Fatalf("Link of a login registered elsewhere: %v, want ErrDeveloperUserRegistered", err)
	}
	if info, _ := ls.DescribeIdentity(ctx(t), b); info.Disabled || len(info.Logins) != 0 {
		t.Fatalf("a refused link changed %s: %+v", b, info)
	}
	// Public providers: the request's identity merges into the owner.
	v := "from-b"
	update(t, s, syncapi.DatasetKey{PoolID: pool, IdentityID: b, Name: "game"}, T0, syncapi.Change{Key: "k", Value: &v})
	res := link(t, ls, syncapi.LinkRequest{PoolID: pool, IdentityID: b, Conflict: syncapi.MergeConflict,
		Logins: []syncapi.Login{la, {Provider: "accounts.google.com", Subject: "g"}}})
	if res.IdentityID != a || !reflect.DeepEqual(res.Merged, []string{b}) {
		t.Fatalf("merge link = %+v, want %s absorbing %s", res, a, b)
	}
	info, _ := ls.DescribeIdentity(ctx(t), a)
	if len(info.Logins) != 2 {
		t.Errorf("winner's logins = %v, want 2", info.Logins)
	}
	if lost, _ := ls.DescribeIdentity(ctx(t), b); !lost.Disabled || lost.MergedInto != a {
		t.Errorf("loser = %+v, want disabled, merged into %s", lost, a)
	}
	copyName := syncapi.MergedDatasetName("game", b)
	if got := records(t, s, syncapi.DatasetKey{PoolID: pool, IdentityID: a, Name: copyName}, 0); got["k"].Value == nil || *got["k"].Value != v {
		t.Errorf("merged copy holds %v", got)
	}
}

func testMerge(t *testing.T, s syncapi.Store) {
	ls := logins(t, s)
	pool, w := newPool(t, s)
	l := identityID()
	if err := s.CreateIdentity(ctx(t), syncapi.Identity{PoolID: pool, ID: l, Created: T0}); err != nil {
		t.Fatal(err)
	}
	link(t, ls, syncapi.LinkRequest{PoolID: pool, IdentityID: l, Logins: []syncapi.Login{{Provider: "dev", Subject: "l"}}})
	lim := syncapi.Limits{MaxDatasets: 2, MaxRecords: 10, MaxDatasetBytes: 1 << 20}
	for _, name := range []string{"a", "b"} {
		if err := tryUpdate(t, s, syncapi.DatasetKey{PoolID: pool, IdentityID: w, Name: name}, lim, put("x", "w", 0)); err != nil {
			t.Fatal(err)
		}
	}
	lk := syncapi.DatasetKey{PoolID: pool, IdentityID: l, Name: "a"}
	update(t, s, lk, T0, put("x", "1", 0), put("y", "2", 0))
	update(t, s, lk, T0, del("y", 1), put("z", "3", 0))
	gone := syncapi.DatasetKey{PoolID: pool, IdentityID: l, Name: "gone"}
	update(t, s, gone, T0, put("x", "1", 0))
	if _, err := s.DeleteDataset(ctx(t), gone); err != nil {
		t.Fatal(err)
	}
	long := syncapi.DatasetKey{PoolID: pool, IdentityID: l, Name: "L" + string(bytesOf('n', 120))}
	update(t, s, long, T0, put("x", "1", 0))

	res, err := ls.Merge(ctx(t), pool, w, l, T0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	wantCopies := []string{syncapi.MergedDatasetName(long.Name, l), syncapi.MergedDatasetName("a", l)}
	if !reflect.DeepEqual(sorted(res.Copies), sorted(wantCopies)) || res.Already {
		t.Fatalf("Merge = %+v, want copies %v", res, wantCopies)
	}
	if n := len(wantCopies[0]); n != 128 {
		t.Errorf("long copy name has %d characters, want 128", n)
	}
	// The copy: SyncCount 1, the live records only; reported on the root.
	ck := syncapi.DatasetKey{PoolID: pool, IdentityID: w, Name: syncapi.MergedDatasetName("a", l)}
	st := dataset(t, s, ck)
	if !st.Exists || st.SyncCount != 1 || st.NumRecords != 2 {
		t.Errorf("copy state = %+v, want SyncCount 1 with 2 records", st)
	}
	recs := records(t, s, ck, 0)
	if len(recs) != 2 || *recs["x"].Value != "1" || *recs["z"].Value != "3" || recs["x"].SyncCount != 1 {
		t.Errorf("copy records = %v", recs)
	}
	root := dataset(t, s, syncapi.DatasetKey{PoolID: pool, IdentityID: w, Name: "a"})
	if !reflect.DeepEqual(root.MergedNames, []string{ck.Name}) {
		t.Errorf("MergedNames of a = %v, want [%s]", root.MergedNames, ck.Name)
	}
	// The loser: disabled, its logins moved, its writes refused.
	if owner, _ := ls.FindLogin(ctx(t), pool, syncapi.Login{Provider: "dev", Subject: "l"}); owner != w {
		t.Errorf("login owner after merge = %s, want %s", owner, w)
	}
	_, err = s.UpdateRecords(ctx(t), syncapi.UpdateRequest{Key: lk, Changes: []syncapi.Change{put("q", "1", 0)}, Now: T0, RequireIdentity: true})
	if err == nil {
		t.Errorf("a write of the merged identity succeeded")
	}
	// Again: nothing changes.
	if res, err := ls.Merge(ctx(t), pool, w, l, T0.Add(2*time.Hour)); err != nil || !res.Already {
		t.Errorf("second Merge = %+v, %v; want Already", res, err)
	}
	if st := dataset(t, s, ck); st.SyncCount != 1 {
		t.Errorf("second merge changed the copy: %+v", st)
	}
	// Errors.
	if _, err := ls.Merge(ctx(t), pool, w, identityID(), T0); !errors.Is(err, syncapi.ErrNotFound) {
		t.Errorf("Merge of an unknown identity: %v, want ErrNotFound", err)
	}
	if _, err := ls.Merge(ctx(t), pool, l, w, T0); !errors.Is(err, syncapi.ErrConflict) {
		t.Errorf("Merge into a disabled identity: %v, want ErrConflict", err)
	}
	if _, err := ls.Merge(ctx(t), pool, w, w, T0); !errors.Is(err, syncapi.ErrConflict) {
		t.Errorf("Merge into itself: %v, want ErrConflict", err)
	}
}

func bytesOf(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}

// testMergeRace: replicas racing to merge one pair end with one result.
func testMergeRace(t *testing.T, s syncapi.Store) {
	ls := logins(t, s)
	pool, w := newPool(t, s)
	l := identityID()
	if err := s.CreateIdentity(ctx(t), syncapi.Identity{PoolID: pool, ID: l, Created: T0}); err != nil {
		t.Fatal(err)
	}
	update(t, s, syncapi.DatasetKey{PoolID: pool, IdentityID: l, Name: "d"}, T0, put("x", "1", 0))
	const n = 8
	var wg sync.WaitGroup
	results := make([]syncapi.MergeResult, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = ls.Merge(ctx(t), pool, w, l, T0)
		}()
	}
	wg.Wait()
	fresh := 0
	for i := range results {
		if errs[i] != nil {
			t.Fatalf("Merge %d: %v", i, errs[i])
		}
		if !results[i].Already {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("%d merges did the work, want 1", fresh)
	}
	if st := dataset(t, s, syncapi.DatasetKey{PoolID: pool, IdentityID: w, Name: syncapi.MergedDatasetName("d", l)}); st.SyncCount != 1 {
		t.Errorf("copy SyncCount = %d, want 1", st.SyncCount)
	}
}

// testLinkRace: concurrent first logins of one user create one identity.
func testLinkRace(t *testing.T, s syncapi.Store) {
	ls := logins(t, s)
	pool, _ := newPool(t, s)
	l := syncapi.Login{Provider: "dev", Subject: "racer"}
	const n = 8
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := ls.Link(ctx(t), syncapi.LinkRequest{PoolID: pool, NewID: identityID(), Logins: []syncapi.Login{l}, Now: T0})
			if err != nil {
				t.Errorf("Link: %v", err)
			}
			ids[i] = res.IdentityID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("racing links answered %v", ids)
		}
	}
	all, _ := ls.ListIdentities(ctx(t), pool, "", 60, false)
	if len(all) != 2 { // newPool's guest and the one user
		t.Errorf("%d identities after racing links, want 2", len(all))
	}
}

func testUnlinkDelete(t *testing.T, s syncapi.Store) {
	ls := logins(t, s)
	pool, id := newPool(t, s)
	l := syncapi.Login{Provider: "dev", Subject: "u"}
	link(t, ls, syncapi.LinkRequest{PoolID: pool, IdentityID: id, Logins: []syncapi.Login{l}})
	if err := ls.Unlink(ctx(t), pool, identityID(), l, T0); !errors.Is(err, syncapi.ErrNotFound) {
		t.Errorf("Unlink from another identity: %v, want ErrNotFound", err)
	}
	if err := ls.Unlink(ctx(t), pool, id, l, T0); err != nil {
		t.Fatal(err)
	}
	if _, err := ls.FindLogin(ctx(t), pool, l); !errors.Is(err, syncapi.ErrNotFound) {
		t.Errorf("login still linked after Unlink: %v", err)
	}
	link(t, ls, syncapi.LinkRequest{PoolID: pool, IdentityID: id, Logins: []syncapi.Login{l}})
	if err := ls.DeleteIdentity(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetIdentity(ctx(t), id); !errors.Is(err, syncapi.ErrNotFound) {
		t.Errorf("GetIdentity after DeleteIdentity: %v", err)
	}
	if _, err := ls.FindLogin(ctx(t), pool, l); !errors.Is(err, syncapi.ErrNotFound) {
		t.Errorf("login of a deleted identity: %v", err)
	}
	if err := ls.DeleteIdentity(ctx(t), id); !errors.Is(err, syncapi.ErrNotFound) {
		t.Errorf("second DeleteIdentity: %v, want ErrNotFound", err)
	}
	// DeletePool removes logins too.
	link(t, ls, syncapi.LinkRequest{PoolID: pool, NewID: identityID(), Logins: []syncapi.Login{l}})
	if err := s.DeletePool(ctx(t), pool); err != nil {
		t.Fatal(err)
	}
	if _, err := ls.FindLogin(ctx(t), pool, l); !errors.Is(err, syncapi.ErrNotFound) {
		t.Errorf("login survived DeletePool: %v", err)
	}
}

func testSigningKeys(t *testing.T, s syncapi.Store) {
	ls := logins(t, s)
	keys, err := ls.SigningKeys(ctx(t))
	if err != nil || len(keys) != 0 {
		t.Fatalf("SigningKeys of a new store = %v, %v", keys, err)
	}
	k1 := syncapi.SigningKey{ID: "k1", PEM: "pem1", Created: T0}
	if err := ls.AddSigningKey(ctx(t), k1, 2, true); err != nil {
		t.Fatal(err)
	}
	// A second first start keeps the first key.
	if err := ls.AddSigningKey(ctx(t), syncapi.SigningKey{ID: "k1b", PEM: "x", Created: T0.Add(time.Second)}, 2, true); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"k2", "k3"} {
		if err := ls.AddSigningKey(ctx(t), syncapi.SigningKey{ID: id, PEM: "pem", Created: T0.Add(time.Duration(i+1) * time.Minute)}, 2, false); err != nil {
			t.Fatal(err)
		}
	}
	keys, err = ls.SigningKeys(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	if !reflect.DeepEqual(ids, []string{"k3", "k2"}) {
		t.Errorf("SigningKeys after two rotations = %v, want [k3 k2]", ids)
	}
}

func testPoolRoles(t *testing.T, s syncapi.Store) {
	ls := logins(t, s)
	pool, _ := newPool(t, s)
	if r, err := ls.PoolRoles(ctx(t), pool); err != nil || r != nil {
		t.Fatalf("PoolRoles of a new pool = %q, %v", r, err)
	}
	if err := ls.SetPoolRoles(ctx(t), pool, []byte(`{"Roles":{"authenticated":"arn:aws:iam::1:role/a"}}`)); err != nil {
		t.Fatal(err)
	}
	if r, err := ls.PoolRoles(ctx(t), pool); err != nil || string(r) != `{"Roles":{"authenticated":"arn:aws:iam::1:role/a"}}` {
		t.Errorf("PoolRoles = %q, %v", r, err)
	}
	if _, err := ls.PoolRoles(ctx(t), poolID()); !errors.Is(err, syncapi.ErrNotFound) {
		t.Errorf("PoolRoles of a missing pool: %v", err)
	}
	if err := ls.SetPoolRoles(ctx(t), poolID(), []byte(`{}`)); !errors.Is(err, syncapi.ErrNotFound) {
		t.Errorf("SetPoolRoles of a missing pool: %v", err)
	}
}
