package storetest

import (
	"bytes"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

func testPools(t *testing.T, s syncapi.Store) {
	yes := true
	p := syncapi.Pool{
		Identity: syncapi.IdentityPool{
			IdentityPoolID: poolID(), IdentityPoolName: "games", AllowUnauthenticatedIdentities: true,
			AllowClassicFlow: &yes, SupportedLoginProviders: map[string]string{"graph.facebook.com": "123"},
		},
		PushSync:       &syncapi.PushSync{ApplicationArns: []string{"arn:aws:sns:us-east-1:123456789012:app/GCM/x"}, RoleArn: "arn:aws:iam::123456789012:role/r"},
		CognitoStreams: &syncapi.CognitoStreams{StreamName: "s", StreamingStatus: syncapi.StreamingEnabled},
		Events:         map[string]string{syncapi.EventSyncTrigger: "arn:aws:lambda:us-east-1:1:function:f"},
		Created:        T0.Add(123456789 * time.Nanosecond),
		Generation:     42,
	}
	wantNoErr(t, s.CreatePool(ctx(t), p))
	wantErr(t, s.CreatePool(ctx(t), p), syncapi.ErrConflict)

	got, err := s.GetPool(ctx(t), p.ID())
	wantNoErr(t, err)
	if !reflect.DeepEqual(got, p) || !got.Created.Equal(p.Created) {
		t.Fatalf("GetPool = %+v, want %+v", got, p)
	}
	_, err = s.GetPool(ctx(t), poolID())
	wantErr(t, err, syncapi.ErrNotFound)

	// A pool created without a generation gets a random one; deleted and
	// created again with the same id, another.
	q := syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: poolID(), IdentityPoolName: "q"}}
	wantNoErr(t, s.CreatePool(ctx(t), q))
	first, err := s.GetPool(ctx(t), q.ID())
	wantNoErr(t, err)
	wantNoErr(t, s.DeletePool(ctx(t), q.ID()))
	wantNoErr(t, s.CreatePool(ctx(t), q))
	second, err := s.GetPool(ctx(t), q.ID())
	wantNoErr(t, err)
	if first.Generation <= 0 || second.Generation <= 0 || first.Generation == second.Generation {
		t.Fatalf("generations of a pool created twice: %d, %d; want two different positive numbers", first.Generation, second.Generation)
	}
	wantNoErr(t, s.DeletePool(ctx(t), q.ID()))

	// ListPools: ordered by id, after, limit.
	ids := []string{p.ID()}
	for range 3 {
		id := poolID()
		ids = append(ids, id)
		wantNoErr(t, s.CreatePool(ctx(t), syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: id}}))
	}
	all, err := s.ListPools(ctx(t), "", 0)
	wantNoErr(t, err)
	if len(all) != 4 {
		t.Fatalf("ListPools: %d pools, want 4", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].ID() >= all[i].ID() {
			t.Fatalf("ListPools not ordered: %s, %s", all[i-1].ID(), all[i].ID())
		}
	}
	page, err := s.ListPools(ctx(t), all[0].ID(), 2)
	wantNoErr(t, err)
	if len(page) != 2 || page[0].ID() != all[1].ID() || page[1].ID() != all[2].ID() {
		t.Fatalf("ListPools(after, 2) = %v", page)
	}

	// UpdatePool: what fn leaves is stored; an error of fn stores nothing.
	up, err := s.UpdatePool(ctx(t), p.ID(), func(q *syncapi.Pool) error {
		q.PushSync = nil
		q.CognitoStreams.StreamingStatus = syncapi.StreamingDisabled
		q.Events = map[string]string{}
		return nil
	})
	wantNoErr(t, err)
	got, err = s.GetPool(ctx(t), p.ID())
	wantNoErr(t, err)
	if got.PushSync != nil || got.CognitoStreams.StreamingStatus != syncapi.StreamingDisabled || len(got.Events) != 0 || !reflect.DeepEqual(got.Identity, up.Identity) {
		t.Fatalf("after UpdatePool: %+v", got)
	}
	boom := syncapi.Errorf(syncapi.ErrConcurrentModify, "boom")
	_, err = s.UpdatePool(ctx(t), p.ID(), func(q *syncapi.Pool) error { q.Identity.IdentityPoolName = "changed"; return boom })
	wantErr(t, err, syncapi.ErrConcurrentModify)
	if got, _ := s.GetPool(ctx(t), p.ID()); got.Identity.IdentityPoolName != "games" {
		t.Fatalf("failed UpdatePool stored %q", got.Identity.IdentityPoolName)
	}
	_, err = s.UpdatePool(ctx(t), poolID(), func(*syncapi.Pool) error { return nil })
	wantErr(t, err, syncapi.ErrNotFound)

	// UpdatePool calls are serialised: concurrent increments all land.
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			_, err := s.UpdatePool(ctx(t), p.ID(), func(q *syncapi.Pool) error {
				q.Identity.IdentityPoolName += "+"
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got, _ := s.GetPool(ctx(t), p.ID()); got.Identity.IdentityPoolName != "games++++++++++" {
		t.Fatalf("concurrent UpdatePool: name %q", got.Identity.IdentityPoolName)
	}

	wantNoErr(t, s.DeletePool(ctx(t), p.ID()))
	_, err = s.GetPool(ctx(t), p.ID())
	wantErr(t, err, syncapi.ErrNotFound)
	wantErr(t, s.DeletePool(ctx(t), p.ID()), syncapi.ErrNotFound)
}

func testDeletePoolCascades(t *testing.T, s syncapi.Store) {
	k := newDataset(t, s, "ds")
	other := newDataset(t, s, "ds")
	update(t, s, k, T0, put("a", "1", 0))
	update(t, s, other, T0, put("a", "1", 0))
	wantNoErr(t, s.PutCredential(ctx(t), syncapi.Credential{AccessKeyID: "AK" + k.IdentityID, Secret: "x", Caller: syncapi.Caller{PoolID: k.PoolID, IdentityID: k.IdentityID}}))
	dev, err := s.RegisterDevice(ctx(t), k.PoolID, k.IdentityID, "GCM", "tok", "dev-1")
	wantNoErr(t, err)
	wantNoErr(t, s.Subscribe(ctx(t), k, dev))
	wantNoErr(t, s.StartBulk(ctx(t), k.PoolID, "me", T0, T0.Add(-24*time.Hour)))

	wantNoErr(t, s.DeletePool(ctx(t), k.PoolID))

	_, err = s.GetIdentity(ctx(t), k.IdentityID)
	wantErr(t, err, syncapi.ErrNotFound)
	_, err = s.LookupCredential(ctx(t), "AK"+k.IdentityID)
	wantErr(t, err, syncapi.ErrNotFound)
	if ok, err := s.DeviceExists(ctx(t), k.PoolID, k.IdentityID, dev); err != nil || ok {
		t.Fatalf("DeviceExists after DeletePool = %v, %v", ok, err)
	}
	if d := dataset(t, s, k); d.Exists || d.SyncCount != 0 {
		t.Fatalf("dataset after DeletePool: %+v", d)
	}
	if p, err := s.ListRecords(ctx(t), k, syncapi.RecordQuery{}); err != nil || len(p.Records) != 0 {
		t.Fatalf("ListRecords after DeletePool: %+v, %v", p, err)
	}
	_, err = s.GetBulk(ctx(t), k.PoolID)
	wantErr(t, err, syncapi.ErrNotFound)
	// Other pools are untouched.
	if d := dataset(t, s, other); !d.Exists || d.SyncCount != 1 {
		t.Fatalf("other pool's dataset: %+v", d)
	}
	// The pool id can be reused from scratch.
	wantNoErr(t, s.CreatePool(ctx(t), syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: k.PoolID}}))
	if u, err := s.PoolUsage(ctx(t), k.PoolID); err != nil || u.DataStorage != 0 {
		t.Fatalf("PoolUsage of re-created pool: %+v, %v", u, err)
	}
}

func testIdentities(t *testing.T, s syncapi.Store) {
	pool, _ := newPool(t, s)
	id := syncapi.Identity{PoolID: pool, ID: identityID(), Disabled: true, Created: T0.Add(time.Nanosecond)}
	wantNoErr(t, s.CreateIdentity(ctx(t), id))
	wantErr(t, s.CreateIdentity(ctx(t), id), syncapi.ErrConflict)
	got, err := s.GetIdentity(ctx(t), id.ID)
	wantNoErr(t, err)
	if got.PoolID != id.PoolID || got.ID != id.ID || !got.Disabled || !got.Created.Equal(id.Created) {
		t.Fatalf("GetIdentity = %+v, want %+v", got, id)
	}
	_, err = s.GetIdentity(ctx(t), identityID())
	wantErr(t, err, syncapi.ErrNotFound)
	wantErr(t, s.CreateIdentity(ctx(t), syncapi.Identity{PoolID: poolID(), ID: identityID()}), syncapi.ErrNotFound)
}

func testCredentials(t *testing.T, s syncapi.Store) {
	pool, identity := newPool(t, s)
	c := syncapi.Credential{
		AccessKeyID: "ASIA" + identity, Secret: "secret", SessionToken: "token", Expires: T0.Add(time.Hour + 7),
		Caller: syncapi.Caller{AccessKeyID: "ASIA" + identity, PoolID: pool, IdentityID: identity},
	}
	wantNoErr(t, s.PutCredential(ctx(t), c))
	got, err := s.LookupCredential(ctx(t), c.AccessKeyID)
	wantNoErr(t, err)
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("LookupCredential = %+v, want %+v", got, c)
	}
	dev := syncapi.Credential{AccessKeyID: "AKIADEV", Secret: "s2", Caller: syncapi.Caller{AccessKeyID: "AKIADEV", Developer: true, AccountID: "123456789012"}}
	wantNoErr(t, s.PutCredential(ctx(t), dev))
	dev.Secret = "rotated"
	wantNoErr(t, s.PutCredential(ctx(t), dev))
	got, err = s.LookupCredential(ctx(t), "AKIADEV")
	wantNoErr(t, err)
	if !reflect.DeepEqual(got, dev) || !got.Expires.IsZero() {
		t.Fatalf("LookupCredential = %+v, want %+v", got, dev)
	}
	_, err = s.LookupCredential(ctx(t), "AKIAUNKNOWN")
	wantErr(t, err, syncapi.ErrNotFound)
}

func testDevices(t *testing.T, s syncapi.Store) {
	pool, identity := newPool(t, s)
	id, err := s.RegisterDevice(ctx(t), pool, identity, "GCM", "token-1", "dev-a")
	wantNoErr(t, err)
	if id != "dev-a" {
		t.Fatalf("RegisterDevice = %q, want dev-a", id)
	}
	tests := []struct {
		platform, token, newID, want string
	}{
		{"GCM", "token-1", "dev-b", "dev-a"}, // same (identity, platform, token): the existing id
		{"APNS", "token-1", "dev-c", "dev-c"},
		{"GCM", "token-2", "dev-d", "dev-d"},
	}
	for _, tc := range tests {
		got, err := s.RegisterDevice(ctx(t), pool, identity, tc.platform, tc.token, tc.newID)
		wantNoErr(t, err)
		if got != tc.want {
			t.Errorf("RegisterDevice(%s, %s, %s) = %q, want %q", tc.platform, tc.token, tc.newID, got, tc.want)
		}
	}
	// Concurrent registrations of one token agree.
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Go(func() {
			ids[i], _ = s.RegisterDevice(ctx(t), pool, identity, "ADM", "race", "dev-race-"+string(rune('a'+i)))
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || id == "" {
			t.Fatalf("concurrent RegisterDevice ids: %v", ids)
		}
	}
	for _, tc := range []struct {
		identity, device string
		want             bool
	}{
		{identity, "dev-a", true}, {identity, "dev-b", false}, {identityID(), "dev-a", false},
	} {
		got, err := s.DeviceExists(ctx(t), pool, tc.identity, tc.device)
		wantNoErr(t, err)
		if got != tc.want {
			t.Errorf("DeviceExists(%s, %s) = %v", tc.identity, tc.device, got)
		}
	}
}

func testSubscriptions(t *testing.T, s syncapi.Store) {
	k := newDataset(t, s, "ds")
	dev, err := s.RegisterDevice(ctx(t), k.PoolID, k.IdentityID, "GCM", "tok", "dev-1")
	wantNoErr(t, err)
	wantErr(t, s.Subscribe(ctx(t), k, dev), syncapi.ErrNotFound) // dataset does not exist yet
	update(t, s, k, T0, put("a", "1", 0))
	wantErr(t, s.Subscribe(ctx(t), k, "unknown-device"), syncapi.ErrNotFound)
	wantErr(t, s.Unsubscribe(ctx(t), k, dev), syncapi.ErrNotFound)
	wantNoErr(t, s.Subscribe(ctx(t), k, dev))
	wantNoErr(t, s.Subscribe(ctx(t), k, dev)) // idempotent
	wantNoErr(t, s.Unsubscribe(ctx(t), k, dev))
	wantErr(t, s.Unsubscribe(ctx(t), k, dev), syncapi.ErrNotFound)

	// DeleteDataset removes the dataset's subscriptions.
	wantNoErr(t, s.Subscribe(ctx(t), k, dev))
	_, err = s.DeleteDataset(ctx(t), k)
	wantNoErr(t, err)
	update(t, s, k, T0, put("a", "1", 0))
	wantErr(t, s.Unsubscribe(ctx(t), k, dev), syncapi.ErrNotFound)
}

func testBulk(t *testing.T, s syncapi.Store) {
	pool, _ := newPool(t, s)
	_, err := s.GetBulk(ctx(t), poolID())
	wantErr(t, err, syncapi.ErrNotFound)
	wantErr(t, s.StartBulk(ctx(t), poolID(), "w", T0, T0), syncapi.ErrNotFound)
	j, err := s.GetBulk(ctx(t), pool)
	wantNoErr(t, err)
	if j.Status != syncapi.BulkNotStarted {
		t.Fatalf("never started: %+v", j)
	}
	day := 24 * time.Hour
	t1, t2, t3, t4 := T0, T0.Add(time.Minute), T0.Add(time.Hour), T0.Add(2*time.Hour)

	steps := []struct {
		name    string
		do      func() error
		wantErr error
		want    syncapi.BulkJob
	}{
		{"start", func() error { return s.StartBulk(ctx(t), pool, "w1", t1, t1.Add(-day)) }, nil,
			syncapi.BulkJob{Status: syncapi.BulkInProgress, Started: t1, Owner: "w1"}},
		{"duplicate", func() error { return s.StartBulk(ctx(t), pool, "w2", t1, t1.Add(-day)) }, syncapi.ErrDuplicateRequest,
			syncapi.BulkJob{Status: syncapi.BulkInProgress, Started: t1, Owner: "w1"}},
		{"fail", func() error { return s.FinishBulk(ctx(t), pool, syncapi.BulkFailed, "stream gone", t2) }, nil,
			syncapi.BulkJob{Status: syncapi.BulkFailed, Started: t1, Completed: t2, FailureMessage: "stream gone", Owner: "w1"}},
		{"finish without job", func() error { return s.FinishBulk(ctx(t), pool, syncapi.BulkSucceeded, "", t2) }, syncapi.ErrConflict,
			syncapi.BulkJob{Status: syncapi.BulkFailed, Started: t1, Completed: t2, FailureMessage: "stream gone", Owner: "w1"}},
		{"failure does not start the window", func() error { return s.StartBulk(ctx(t), pool, "w2", t2, t2.Add(-day)) }, nil,
			syncapi.BulkJob{Status: syncapi.BulkInProgress, Started: t2, Owner: "w2"}},
		{"succeed", func() error { return s.FinishBulk(ctx(t), pool, syncapi.BulkSucceeded, "", t3) }, nil,
			syncapi.BulkJob{Status: syncapi.BulkSucceeded, Started: t2, Completed: t3, Owner: "w2"}},
		{"already streamed", func() error { return s.StartBulk(ctx(t), pool, "w3", t4, t4.Add(-day)) }, syncapi.ErrAlreadyStreamed,
			syncapi.BulkJob{Status: syncapi.BulkSucceeded, Started: t2, Completed: t3, Owner: "w2"}},
		{"after 24h", func() error { return s.StartBulk(ctx(t), pool, "w3", t3.Add(day), t3) }, nil,
			syncapi.BulkJob{Status: syncapi.BulkInProgress, Started: t3.Add(day), Owner: "w3"}},
	}
	for _, st := range steps {
		err := st.do()
		if st.wantErr == nil {
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		} else if !errorsIs(err, st.wantErr) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.wantErr)
		}
		got, err := s.GetBulk(ctx(t), pool)
		wantNoErr(t, err)
		if got.Status != st.want.Status || !got.Started.Equal(st.want.Started) || !got.Completed.Equal(st.want.Completed) ||
			got.FailureMessage != st.want.FailureMessage || got.Owner != st.want.Owner {
			t.Fatalf("%s: GetBulk = %+v, want %+v", st.name, got, st.want)
		}
	}
}

func testSecret(t *testing.T, s syncapi.Store) {
	a, err := s.Secret(ctx(t), "session")
	wantNoErr(t, err)
	if len(a) != 32 {
		t.Fatalf("secret has %d bytes", len(a))
	}
	b, err := s.Secret(ctx(t), "session")
	wantNoErr(t, err)
	c, err := s.Secret(ctx(t), "page")
	wantNoErr(t, err)
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Fatalf("secrets: %x %x %x", a, b, c)
	}
	var wg sync.WaitGroup
	got := make([][]byte, 16)
	for i := range got {
		wg.Go(func() { got[i], _ = s.Secret(ctx(t), "raced") })
	}
	wg.Wait()
	for _, g := range got {
		if len(g) != 32 || !bytes.Equal(g, got[0]) {
			t.Fatalf("concurrent Secret disagree: %x vs %x", g, got[0])
		}
	}
}
