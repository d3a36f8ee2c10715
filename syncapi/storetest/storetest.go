// Package storetest is the conformance suite of syncapi.Store: one test
// body that every implementation runs (spec C.2–C.11 and the Store doc
// comments).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

// Run runs the whole suite. newStore returns a fresh, empty store; Run
// closes it through t.Cleanup when newStore did not arrange that already.
func Run(t *testing.T, newStore func(t *testing.T) syncapi.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s syncapi.Store)
	}{
		{"Pools", testPools},
		{"DeletePoolCascades", testDeletePoolCascades},
		{"Identities", testIdentities},
		{"Credentials", testCredentials},
		{"UpdateRecords_CreateAndIncrement", testUpdateCreate},
		{"UpdateRecords_StaleSyncCount", testConflicts},
		{"UpdateRecords_Tombstones", testTombstones},
		{"UpdateRecords_ZeroChanges", testZeroChanges},
		{"UpdateRecords_RepeatedKey", testRepeatedKey},
		{"UpdateRecords_Limits", testLimits},
		{"DeleteDataset_CounterSurvives", testDeleteRecreate},
		{"ListRecords_Pagination", testPagination},
		{"ListDatasets", testListDatasets},
		{"Usage", testUsage},
		{"Devices", testDevices},
		{"Subscriptions", testSubscriptions},
		{"Bulk", testBulk},
		{"Secret", testSecret},
		{"UpdateRecords_Race", func(t *testing.T, s syncapi.Store) { Race(t, 32, 20, s) }},
	}
	tests = append(tests, outboxTests...)  // outbox.go
	tests = append(tests, hostileTests...) // hostile.go
	tests = append(tests, loginTests...)   // logins.go
	tests = append(tests, pushTests...)    // push.go
	tests = append(tests, importTests...)  // importer.go
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

var seq atomic.Int64

// poolID returns a fresh, valid identity pool id.
func poolID() string {
	return fmt.Sprintf("us-east-1:%08x-0000-0000-0000-%012x", time.Now().Unix()&0xffffffff, seq.Add(1))
}

// identityID returns a fresh, valid identity id.
func identityID() string {
	return fmt.Sprintf("us-east-1:%012x-1111-1111-1111-%012x", time.Now().UnixNano()&0xffffffffffff, seq.Add(1))
}

// T0 is the clock of the suite: times are multiples of a millisecond, as
// the wire keeps them.
var T0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func ctx(t testing.TB) context.Context { return t.Context() }

// newPool creates a pool with one identity and returns the identity's key of
// dataset name.
func newPool(t testing.TB, s syncapi.Store) (pool, identity string) {
	t.Helper()
	pool, identity = poolID(), identityID()
	if err := s.CreatePool(ctx(t), syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: pool, IdentityPoolName: "p"}, Created: T0}); err != nil {
		t.Fatalf("CreatePool: %v", err)
	}
	if err := s.CreateIdentity(ctx(t), syncapi.Identity{PoolID: pool, ID: identity, Created: T0}); err != nil {
		t.Fatalf("CreateIdentity: %v", err)
	}
	return pool, identity
}

func newDataset(t testing.TB, s syncapi.Store, name string) syncapi.DatasetKey {
	t.Helper()
	p, i := newPool(t, s)
	return syncapi.DatasetKey{PoolID: p, IdentityID: i, Name: name}
}

func str(s string) *string { return &s }
func i64(n int64) *int64   { return &n }

// put is a replace change.
func put(key, value string, expect int64) syncapi.Change {
	return syncapi.Change{Key: key, Value: str(value), Expect: i64(expect)}
}

// del is a remove change.
func del(key string, expect int64) syncapi.Change {
	return syncapi.Change{Key: key, Expect: i64(expect)}
}

func update(t testing.TB, s syncapi.Store, k syncapi.DatasetKey, now time.Time, changes ...syncapi.Change) syncapi.UpdateResult {
	t.Helper()
	res, err := s.UpdateRecords(ctx(t), syncapi.UpdateRequest{Key: k, Changes: changes, By: "writer", Now: now, Limits: syncapi.DefaultLimits})
	if err != nil {
		t.Fatalf("UpdateRecords %v: %v", changes, err)
	}
	return res
}

func tryUpdate(t testing.TB, s syncapi.Store, k syncapi.DatasetKey, lim syncapi.Limits, changes ...syncapi.Change) error {
	t.Helper()
	_, err := s.UpdateRecords(ctx(t), syncapi.UpdateRequest{Key: k, Changes: changes, By: "writer", Now: T0, Limits: lim})
	return err
}

func dataset(t testing.TB, s syncapi.Store, k syncapi.DatasetKey) syncapi.DatasetState {
	t.Helper()
	d, err := s.GetDataset(ctx(t), k)
	if err != nil {
		t.Fatalf("GetDataset: %v", err)
	}
	return d
}

// records lists every record of k with SyncCount > after.
func records(t testing.TB, s syncapi.Store, k syncapi.DatasetKey, after int64) map[string]syncapi.Record {
	t.Helper()
	p, err := s.ListRecords(ctx(t), k, syncapi.RecordQuery{After: after})
	if err != nil {
		t.Fatalf("ListRecords: %v", err)
	}
	m := map[string]syncapi.Record{}
	for _, r := range p.Records {
		m[r.Key] = r
	}
	return m
}

func wantErr(t testing.TB, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("err = %v, want %v", err, kind)
	}
}

func wantNoErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func val(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func sameTime(a, b time.Time) bool { return a.Equal(b) }

func errorsIs(err, target error) bool { return errors.Is(err, target) }
