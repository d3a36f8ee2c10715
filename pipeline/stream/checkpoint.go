package stream

import (
	"context"
	"strings"
	"sync"
)

// Checkpoint is a consumer group's position in one shard.
type Checkpoint struct {
	// SequenceNumber is the last record the group acknowledged (with every
	// record before it); "" when none yet. Reading resumes after it.
	SequenceNumber string
	// Finished means the shard is closed (resharded) and every record of
	// it was acknowledged: its children may be read.
	Finished bool
}

// CheckpointStore keeps checkpoints by (consumer group, stream, shard).
// Implementations are safe for concurrent use by several subscribers and
// processes.
type CheckpointStore interface {
	// Checkpoints returns the group's checkpoints in stream by shard id; an
	// empty map when there are none.
	Checkpoints(ctx context.Context, group, stream string) (map[string]Checkpoint, error)
	// SaveCheckpoint stores cp for the shard unless the stored checkpoint is
	// already as far (a Finished checkpoint, or a sequence number not
	// lower): checkpoints never move backwards, so two subscribers of one
	// group cannot rewind each other.
	SaveCheckpoint(ctx context.Context, group, stream, shardID string, cp Checkpoint) error
}

// Advances reports whether saving next over prev moves the checkpoint
// forward. Store implementations use it (or its SQL equivalent).
func Advances(prev, next Checkpoint) bool {
	if prev.Finished {
		return false
	}
	if next.Finished {
		return true
	}
	return CompareSequenceNumbers(next.SequenceNumber, prev.SequenceNumber) > 0
}

// CompareSequenceNumbers compares two sequence numbers numerically: decimal
// strings without sign, of any length (Kinesis' have up to 128 bits, too
// many for an int64; the stream log's are int64s written in decimal), so
// that one store keeps both adapters' checkpoints; "" is lowest. It returns
// -1, 0 or +1.
func CompareSequenceNumbers(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return strings.Compare(a, b)
}

// MemoryCheckpointStore is a CheckpointStore in memory: checkpoints live as
// long as the value, so share one value between the subscribers that should
// continue each other's work. The zero value is ready to use.
type MemoryCheckpointStore struct {
	mu  sync.Mutex
	cps map[memKey]Checkpoint
}

type memKey struct{ group, stream, shard string }

var _ CheckpointStore = (*MemoryCheckpointStore)(nil)

// NewMemoryCheckpointStore returns an empty store.
func NewMemoryCheckpointStore() *MemoryCheckpointStore { return &MemoryCheckpointStore{} }

// Checkpoints implements CheckpointStore.
func (m *MemoryCheckpointStore) Checkpoints(_ context.Context, group, stream string) (map[string]Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Checkpoint{}
	for k, cp := range m.cps {
		if k.group == group && k.stream == stream {
			out[k.shard] = cp
		}
	}
	return out, nil
}

// SaveCheckpoint implements CheckpointStore.
func (m *MemoryCheckpointStore) SaveCheckpoint(_ context.Context, group, stream, shardID string, cp Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cps == nil {
		m.cps = map[memKey]Checkpoint{}
	}
	k := memKey{group, stream, shardID}
	if prev, ok := m.cps[k]; ok && !Advances(prev, cp) {
		return nil
	}
	m.cps[k] = cp
	return nil
}
