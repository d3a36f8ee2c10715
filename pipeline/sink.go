// Package pipeline is the stream side of the project: what flows from the
// Cognito stream to the user's systems. This file holds the Sink port every
// sink in sinks/ implements; sinktype.go the contract by which a host
// (the worker) configures and builds them.
package pipeline

import (
	"context"
	"errors"
	"time"
)

// Op is a record change operation.
type Op string

// Record change operations, as the Cognito stream names them (spec D.2).
const (
	OpReplace Op = "replace"
	OpRemove  Op = "remove"
)

// Change is one record change taken from a Cognito stream record: one element
// of kinesisSyncRecords with the dataset it belongs to. A remove has a nil
// Value. Changes are idempotent on ID(): a sink that sees the same change
// twice (a replay after a crash, a reshard, or a bulk publish overlapping live
// updates) must end in the same state as if it had seen it once, and must
// never move a record back to an older SyncCount.
type Change struct {
	IdentityPoolID     string
	IdentityID         string
	DatasetName        string
	Key                string
	Value              *string
	Op                 Op
	SyncCount          int64     // the record's SyncCount after the change
	LastModified       time.Time // server time of the change
	DeviceLastModified time.Time
	DatasetSyncCount   int64 // the dataset's sync count after the change
	// DatasetDeleted marks a DeleteDataset of the source (a stream record
	// with operation remove and no records, spec D.2): Key is empty, Op is
	// OpRemove, DatasetSyncCount is the count the dataset had when it was
	// deleted and LastModified the time of the deletion. Only sinks that
	// implement DatasetDeletionSink get such changes.
	DatasetDeleted bool
}

// ChangeKey identifies a change for idempotency: (identityPoolId, identityId,
// datasetName, key, syncCount) (ARCHITECTURE.md guarantee 4).
type ChangeKey struct {
	IdentityPoolID, IdentityID, DatasetName, Key string
	SyncCount                                    int64
}

// ID returns the change's idempotency key.
func (c Change) ID() ChangeKey {
	return ChangeKey{c.IdentityPoolID, c.IdentityID, c.DatasetName, c.Key, c.SyncCount}
}

// Sink writes changes to a destination. Write returns nil only when every
// change of the batch is durably accepted; the pipeline checkpoints only
// after that, so on error the whole batch is delivered again (at least once).
// Implementations must be idempotent on ChangeKey and safe for concurrent use
// by one router; Close flushes and releases resources.
type Sink interface {
	Name() string
	Write(ctx context.Context, batch []Change) error
	Close() error
}

// DatasetDeletionSink is a Sink that also applies dataset deletions
// (Change.DatasetDeleted). The router hands deletions only to sinks that
// implement it; every other sink sees the record changes alone, as before.
type DatasetDeletionSink interface {
	Sink
	// AppliesDatasetDeletions reports whether the sink wants deletions.
	AppliesDatasetDeletions() bool
}

// acceptsDeletions reports whether s wants Change.DatasetDeleted changes.
func acceptsDeletions(s Sink) bool {
	d, ok := s.(DatasetDeletionSink)
	return ok && d.AppliesDatasetDeletions()
}

// withoutDeletions returns batch without its dataset deletions (batch
// itself when it has none).
func withoutDeletions(batch []Change) []Change {
	n := 0
	for _, c := range batch {
		if !c.DatasetDeleted {
			n++
		}
	}
	if n == len(batch) {
		return batch
	}
	out := make([]Change, 0, n)
	for _, c := range batch {
		if !c.DatasetDeleted {
			out = append(out, c)
		}
	}
	return out
}

// IsPermanent reports whether err, or an error it wraps, has a
// Permanent() bool method that returns true: the sink says delivering the
// same batch again cannot succeed (e.g. a webhook answered 400), so the
// router may poison the message instead of retrying it. Sinks declare it
// with a method rather than a shared sentinel so they need no common error
// type.
func IsPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}
