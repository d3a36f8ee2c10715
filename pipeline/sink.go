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

// Change is one change taken from a Cognito stream record: either one element
// of kinesisSyncRecords with the dataset it belongs to (a record change), or
// a dataset deletion (DatasetDeleted; see DatasetDeletion). A remove has a
// nil Value. Changes are idempotent on ID(): a sink that sees the same change
// twice (a replay after a crash, a reshard, or a bulk publish overlapping live
// updates) must end in the same state as if it had seen it once, and must
// never move a record back to an older SyncCount.
//
// A dataset deletion (spec D.2: operation remove, no kinesisSyncRecords, the
// dataset's syncCount) has an empty Key, Op OpRemove, a nil Value and
// SyncCount = DatasetSyncCount = the dataset's sync count when it was
// deleted. It removes every record of the dataset whose SyncCount is at or
// below that count, also records of it the sink sees only later (a replay,
// a bulk publish read before the deletion): they must stay removed. syncd
// keeps counting from the deleted dataset's count when the dataset is
// created again (spec C.2, C.8), so the records of a re-created dataset are
// above it and stay live. Record keys are never empty (spec B.1: 1 to 1024 characters), so a
// deletion's ID differs from every record change's.
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
	// DatasetDeleted marks a dataset deletion (see above).
	DatasetDeleted bool
}

// DatasetDeletion returns the change that deletes a dataset whose sync
// count was syncCount, at time modified.
func DatasetDeletion(pool, identity, dataset string, syncCount int64, modified time.Time) Change {
	return Change{IdentityPoolID: pool, IdentityID: identity, DatasetName: dataset, Op: OpRemove,
		SyncCount: syncCount, DatasetSyncCount: syncCount, LastModified: modified, DatasetDeleted: true}
}

// Covers reports whether c, a dataset deletion, removes r: r is a record
// change of the same dataset at or below the deletion's sync count. It is
// false when c is not a deletion or r is one.
func (c Change) Covers(r Change) bool {
	return c.DatasetDeleted && !r.DatasetDeleted && r.SyncCount <= c.SyncCount &&
		r.IdentityPoolID == c.IdentityPoolID && r.IdentityID == c.IdentityID && r.DatasetName == c.DatasetName
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
