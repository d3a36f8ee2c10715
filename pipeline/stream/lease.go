package stream

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Lease is one shard's lease in a consumer group: while it is live, only
// its owner reads the shard.
type Lease struct {
	ShardID string
	Owner   string
	// Expires is when the lease lapses, by the store's clock.
	Expires time.Time
	// Live reports Expires is still ahead by the store's clock at the time
	// of the Leases call; callers judge expiry by it, not by their own
	// clock, so that skew between workers does not matter.
	Live bool
}

// LeaseStore keeps shard leases by (consumer group, stream, shard) and the
// heartbeats of the owners competing for them. Every method judges expiry
// by one clock, the store's (the database server's, or an injected one), so
// workers' clocks may disagree; what a holder needs is only that its own
// elapsed time runs no slower than the store's (see pipeline/kinesis
// SubscriberConfig.LeaseTTL).
// Implementations are safe for concurrent use by several subscribers and
// processes.
type LeaseStore interface {
	// AcquireLease gives owner the shard's lease until ttl from now, in one
	// atomic step, if the lease is free, expired or already owner's; it
	// reports whether owner holds it afterwards.
	AcquireLease(ctx context.Context, group, stream, shardID, owner string, ttl time.Duration) (bool, error)
	// RenewLease extends owner's lease to ttl from now; false when owner no
	// longer holds it (released, or taken over after it expired).
	RenewLease(ctx context.Context, group, stream, shardID, owner string, ttl time.Duration) (bool, error)
	// ReleaseLease frees owner's lease so another owner can take it at once;
	// nothing when owner does not hold it.
	ReleaseLease(ctx context.Context, group, stream, shardID, owner string) error
	// Leases lists the group's leases in stream, live and expired, by shard
	// id.
	Leases(ctx context.Context, group, stream string) ([]Lease, error)
	// Heartbeat marks owner as competing for the stream's leases for ttl, so
	// that owners holding none count when the others balance; ttl <= 0
	// removes the mark (graceful shutdown).
	Heartbeat(ctx context.Context, group, stream, owner string, ttl time.Duration) error
	// Owners returns the live owners, sorted: those with an unexpired
	// heartbeat or an unexpired lease.
	Owners(ctx context.Context, group, stream string) ([]string, error)
}

// MemoryLeaseStore is a LeaseStore in memory, for subscribers of one
// process (tests, a single worker). The zero value is ready to use.
type MemoryLeaseStore struct {
	// Now is the store's clock. nil: time.Now.
	Now func() time.Time

	mu     sync.Mutex
	leases map[memKey]Lease
	owners map[memKey]time.Time // shard field holds the owner
}

var _ LeaseStore = (*MemoryLeaseStore)(nil)

// NewMemoryLeaseStore returns an empty store on the real clock.
func NewMemoryLeaseStore() *MemoryLeaseStore { return &MemoryLeaseStore{} }

func (m *MemoryLeaseStore) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// AcquireLease implements LeaseStore.
func (m *MemoryLeaseStore) AcquireLease(_ context.Context, group, stream, shardID, owner string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leases == nil {
		m.leases = map[memKey]Lease{}
	}
	now := m.now()
	k := memKey{group, stream, shardID}
	if l, ok := m.leases[k]; ok && l.Owner != owner && now.Before(l.Expires) {
		return false, nil
	}
	m.leases[k] = Lease{ShardID: shardID, Owner: owner, Expires: now.Add(ttl)}
	return true, nil
}

// RenewLease implements LeaseStore.
func (m *MemoryLeaseStore) RenewLease(_ context.Context, group, stream, shardID, owner string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey{group, stream, shardID}
	l, ok := m.leases[k]
	if !ok || l.Owner != owner {
		return false, nil
	}
	l.Expires = m.now().Add(ttl)
	m.leases[k] = l
	return true, nil
}

// ReleaseLease implements LeaseStore.
func (m *MemoryLeaseStore) ReleaseLease(_ context.Context, group, stream, shardID, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey{group, stream, shardID}
	if l, ok := m.leases[k]; ok && l.Owner == owner {
		delete(m.leases, k)
	}
	return nil
}

// Leases implements LeaseStore.
func (m *MemoryLeaseStore) Leases(_ context.Context, group, stream string) ([]Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var out []Lease
	for k, l := range m.leases {
		if k.group == group && k.stream == stream {
			l.Live = now.Before(l.Expires)
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ShardID < out[j].ShardID })
	return out, nil
}

// Heartbeat implements LeaseStore.
func (m *MemoryLeaseStore) Heartbeat(_ context.Context, group, stream, owner string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey{group, stream, owner}
	if ttl <= 0 {
		delete(m.owners, k)
		return nil
	}
	if m.owners == nil {
		m.owners = map[memKey]time.Time{}
	}
	m.owners[k] = m.now().Add(ttl)
	return nil
}

// Owners implements LeaseStore.
func (m *MemoryLeaseStore) Owners(_ context.Context, group, stream string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	set := map[string]bool{}
	for k, exp := range m.owners {
		if k.group == group && k.stream == stream && now.Before(exp) {
			set[k.shard] = true
		}
	}
	for k, l := range m.leases {
		if k.group == group && k.stream == stream && now.Before(l.Expires) {
			set[l.Owner] = true
		}
	}
	out := make([]string, 0, len(set))
	for o := range set {
		out = append(out, o)
	}
	sort.Strings(out)
	return out, nil
}
