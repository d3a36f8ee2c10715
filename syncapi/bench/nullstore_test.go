package bench_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

// nullStore is the baseline: a syncapi.Store that keeps only what set-up and
// authentication need (pools, identities, credentials, secrets) in memory
// and stores no records. UpdateRecords answers as a store would, with every
// change written at its expected SyncCount + 1, and ListRecords answers the
// same fixed page for every dataset. So the baseline runs the very HTTP,
// SigV4, JSON and Service code the SQL stores do, minus the storage. Any
// other method panics on the nil embedded Store: the benchmarks must not
// reach it.
type nullStore struct {
	syncapi.Store // nil

	mu      sync.RWMutex
	pools   map[string]syncapi.Pool
	ids     map[string]syncapi.Identity
	creds   map[string]syncapi.Credential
	secrets map[string][]byte
}

var _ syncapi.Store = (*nullStore)(nil)

func newNullStore() *nullStore {
	return &nullStore{
		pools: map[string]syncapi.Pool{}, ids: map[string]syncapi.Identity{},
		creds: map[string]syncapi.Credential{}, secrets: map[string][]byte{},
	}
}

// fixedPage is what nullStore.ListRecords returns: listSize records written
// by one UpdateRecords, exactly what seedList writes to the SQL stores.
var fixedPage = func() []syncapi.Record {
	recs := make([]syncapi.Record, listSize)
	at := syncapi.NewTime(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	for i := range recs {
		v := listValue(i)
		recs[i] = syncapi.Record{
			Key: listKey(i), Value: &v, SyncCount: 1, LastModifiedDate: at,
			LastModifiedBy: "us-east-1:00000000-0000-4000-8000-000000000000", DeviceLastModifiedDate: at,
		}
	}
	return recs
}()

func (s *nullStore) CreatePool(_ context.Context, p syncapi.Pool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pools[p.ID()]; ok {
		return fmt.Errorf("pool %s: %w", p.ID(), syncapi.ErrConflict)
	}
	s.pools[p.ID()] = p
	return nil
}

func (s *nullStore) GetPool(_ context.Context, id string) (syncapi.Pool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.pools[id]
	if !ok {
		return p, fmt.Errorf("pool %s: %w", id, syncapi.ErrNotFound)
	}
	return p, nil
}

func (s *nullStore) CreateIdentity(_ context.Context, id syncapi.Identity) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[id.ID] = id
	return nil
}

func (s *nullStore) GetIdentity(_ context.Context, id string) (syncapi.Identity, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, ok := s.ids[id]
	if !ok {
		return i, fmt.Errorf("identity %s: %w", id, syncapi.ErrNotFound)
	}
	return i, nil
}

func (s *nullStore) PutCredential(_ context.Context, c syncapi.Credential) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds[c.AccessKeyID] = c
	return nil
}

func (s *nullStore) LookupCredential(_ context.Context, id string) (syncapi.Credential, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.creds[id]
	if !ok {
		return c, fmt.Errorf("credential %s: %w", id, syncapi.ErrNotFound)
	}
	return c, nil
}

func (s *nullStore) Secret(_ context.Context, name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.secrets[name]
	if !ok {
		k = make([]byte, 32)
		rand.Read(k)
		s.secrets[name] = k
	}
	return k, nil
}

func (s *nullStore) AddSyncSessions(context.Context, string, int64) error { return nil }

// UpdateRecords writes nothing and returns the records a store would have
// written, each at its expected SyncCount + 1.
func (s *nullStore) UpdateRecords(_ context.Context, r syncapi.UpdateRequest) (syncapi.UpdateResult, error) {
	recs := make([]syncapi.Record, len(r.Changes))
	var n int64
	for i, c := range r.Changes {
		if c.Expect != nil {
			n = max(n, *c.Expect+1)
		}
		dev := c.DeviceLastModified
		if dev.IsZero() {
			dev = r.Now
		}
		recs[i] = syncapi.Record{
			Key: c.Key, Value: c.Value, LastModifiedDate: syncapi.NewTime(r.Now),
			LastModifiedBy: r.By, DeviceLastModifiedDate: syncapi.NewTime(dev),
		}
	}
	for i := range recs {
		recs[i].SyncCount = n
	}
	return syncapi.UpdateResult{Records: recs, Dataset: syncapi.DatasetState{
		Dataset: syncapi.Dataset{IdentityID: r.Key.IdentityID, DatasetName: r.Key.Name}, Exists: true, SyncCount: n,
	}}, nil
}

// ListRecords returns fixedPage (records after q.After, up to q.Limit) for
// any dataset, as an existing dataset at sync count 1.
func (s *nullStore) ListRecords(_ context.Context, k syncapi.DatasetKey, q syncapi.RecordQuery) (syncapi.RecordPage, error) {
	page := syncapi.RecordPage{Dataset: syncapi.DatasetState{
		Dataset: syncapi.Dataset{IdentityID: k.IdentityID, DatasetName: k.Name, LastModifiedBy: k.IdentityID},
		Exists:  true, SyncCount: 1,
	}}
	if q.After < 1 && q.Cursor == nil {
		page.Records = fixedPage
		if q.Limit > 0 && len(page.Records) > q.Limit {
			page.Records, page.More = page.Records[:q.Limit], true
		}
	}
	return page, nil
}

func (s *nullStore) Close() error { return nil }
