// Package sinktest is one conformance suite for every sink: Run checks that
// replays, out-of-order batches, tombstones, dataset deletions and
// concurrent writers end in the state ARCHITECTURE.md guarantees 4 and 7
// promise (each record at its highest SyncCount, as if every change was
// seen exactly once; no record a dataset deletion removed stays live).
package sinktest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/pipeline"
)

// RecordID names a record: a change's key without its SyncCount. A dataset
// deletion's RecordID has an empty Key.
type RecordID struct{ IdentityPoolID, IdentityID, DatasetName, Key string }

// Of returns the record a change belongs to.
func Of(c pipeline.Change) RecordID {
	return RecordID{c.IdentityPoolID, c.IdentityID, c.DatasetName, c.Key}
}

// State is the latest change of every record, and the latest deletion of
// every deleted dataset (under an empty Key).
type State map[RecordID]pipeline.Change

// Fold applies changes in any order, keeping each record's highest SyncCount
// and each dataset's highest deletion, and then drops the records a
// deletion covers (pipeline.Change.Covers): the state every sink must
// converge to.
func Fold(changes ...[]pipeline.Change) State {
	s := State{}
	for _, batch := range changes {
		for _, c := range batch {
			if cur, ok := s[Of(c)]; !ok || c.SyncCount > cur.SyncCount {
				s[Of(c)] = c
			}
		}
	}
	for id, c := range s {
		if d, ok := s[RecordID{id.IdentityPoolID, id.IdentityID, id.DatasetName, ""}]; ok && d.Covers(c) {
			delete(s, id)
		}
	}
	return s
}

// Mirror keeps what a mirror must agree on: the live records (not removed,
// not covered by a deletion) and the dataset deletions. Sinks differ in how
// they keep what is gone (a tombstone row, a line per change), so deletion
// cases compare Mirror views.
func Mirror(s State) State {
	out := State{}
	for id, c := range s {
		if c.DatasetDeleted {
			out[id] = c
			continue
		}
		if d, ok := s[RecordID{id.IdentityPoolID, id.IdentityID, id.DatasetName, ""}]; c.Op == pipeline.OpRemove || ok && d.Covers(c) {
			continue
		}
		out[id] = c
	}
	return out
}

// Harness builds a fresh sink and a way to read what its destination now
// holds, folded to the latest change per record.
type Harness struct {
	New func(t *testing.T) (pipeline.Sink, func(t *testing.T) State)
	// TimeResolution is the precision the destination keeps times at
	// (PostgreSQL: a microsecond); 0: exact.
	TimeResolution time.Duration
}

// truncate rounds the times of want down to the destination's resolution.
func (h Harness) truncate(want State) State {
	if h.TimeResolution <= 0 {
		return want
	}
	out := State{}
	for id, c := range want {
		c.LastModified = c.LastModified.Truncate(h.TimeResolution)
		c.DeviceLastModified = c.DeviceLastModified.Truncate(h.TimeResolution)
		out[id] = c
	}
	return out
}

// T0 is the time of the first generated change.
var T0 = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)

// Put returns a replace of key in dataset "settings" of identity id at
// SyncCount n.
func Put(id, key, value string, n int64) pipeline.Change {
	return pipeline.Change{
		IdentityPoolID: "us-east-1:00000000-0000-4000-8000-000000000001", IdentityID: id,
		DatasetName: "settings", Key: key, Value: &value, Op: pipeline.OpReplace, SyncCount: n,
		LastModified: T0.Add(time.Duration(n) * time.Second), DeviceLastModified: T0.Add(time.Duration(n)*time.Second - time.Millisecond),
		DatasetSyncCount: n,
	}
}

// Remove returns a remove (a tombstone) of key at SyncCount n.
func Remove(id, key string, n int64) pipeline.Change {
	c := Put(id, key, "", n)
	c.Value, c.Op = nil, pipeline.OpRemove
	return c
}

// DeleteDataset returns the deletion of identity id's dataset "settings" at
// sync count n.
func DeleteDataset(id string, n int64) pipeline.Change {
	return pipeline.DatasetDeletion(Put(id, "", "", n).IdentityPoolID, id, "settings", n, T0.Add(time.Duration(n)*time.Second))
}

// In returns c moved to dataset name.
func In(name string, c pipeline.Change) pipeline.Change {
	c.DatasetName = name
	return c
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()
	cases := []struct {
		name    string
		batches [][]pipeline.Change
	}{
		{"Single", [][]pipeline.Change{{Put("us-east-1:a", "k1", "v1", 1), Put("us-east-1:a", "k2", "v2", 1)}}},
		{"Replay", [][]pipeline.Change{
			{Put("us-east-1:a", "k", "v1", 1), Put("us-east-1:a", "k", "v2", 2)},
			{Put("us-east-1:a", "k", "v1", 1), Put("us-east-1:a", "k", "v2", 2)},
		}},
		{"OutOfOrderBatches", [][]pipeline.Change{
			{Put("us-east-1:a", "k", "new", 3)},
			{Put("us-east-1:a", "k", "old", 2)},
			{Put("us-east-1:a", "k", "older", 1)},
		}},
		{"NeverBackwardsWithinBatch", [][]pipeline.Change{
			{Put("us-east-1:a", "k", "v3", 3), Put("us-east-1:a", "k", "v1", 1), Put("us-east-1:a", "k", "v2", 2)},
		}},
		{"Tombstone", [][]pipeline.Change{
			{Put("us-east-1:a", "k", "v1", 1)},
			{Remove("us-east-1:a", "k", 2)},
		}},
		{"TombstoneThenStaleReplay", [][]pipeline.Change{
			{Put("us-east-1:a", "k", "v1", 1), Remove("us-east-1:a", "k", 2)},
			{Put("us-east-1:a", "k", "v1", 1)},
		}},
		{"RecreatedAfterTombstone", [][]pipeline.Change{
			{Remove("us-east-1:a", "k", 2)},
			{Put("us-east-1:a", "k", "back", 3)},
		}},
		{"KeysThatNeedEscaping", [][]pipeline.Change{
			{Put("us-east-1:a", `k"\`+"\n\u00e9,;", "v\u2028<>&", 1), Put("us-east-1:b", "k", "", 1)},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, state := h.New(t)
			for _, b := range tc.batches {
				if err := s.Write(ctx, b); err != nil {
					t.Fatalf("Write: %v", err)
				}
			}
			Equal(t, state(t), h.truncate(Fold(tc.batches...)))
		})
	}
	// Dataset deletions (spec D.2): every record of the dataset at or
	// below the deletion's count is gone, whatever order the changes
	// arrive in; records of a re-created dataset (higher counts) stay;
	// other datasets and identities are untouched.
	a, b := "us-east-1:a", "us-east-1:b"
	deletions := []struct {
		name    string
		batches [][]pipeline.Change
	}{
		{"DatasetDeletion", [][]pipeline.Change{
			{Put(a, "k1", "v1", 1), Put(a, "k2", "v2", 2), Remove(a, "k3", 2)},
			{DeleteDataset(a, 2)},
		}},
		{"DatasetDeletionInOneBatch", [][]pipeline.Change{
			{Put(a, "k1", "v1", 1), Put(a, "k2", "v2", 2), DeleteDataset(a, 2), Put(a, "k1", "v3", 3)},
		}},
		{"DatasetDeletionThenStaleReplay", [][]pipeline.Change{
			{Put(a, "k1", "v1", 1)},
			{DeleteDataset(a, 3)},
			// a replay, and a key the sink never saw (a bulk publish read
			// before the deletion): both stay deleted
			{Put(a, "k1", "v1", 1), Put(a, "k2", "v2", 3)},
		}},
		{"DatasetDeletionRecreated", [][]pipeline.Change{
			{Put(a, "k1", "v1", 1), Put(a, "k2", "v2", 2)},
			{DeleteDataset(a, 2)},
			{Put(a, "k2", "new", 3), Put(a, "k3", "v3", 4)},
		}},
		{"DatasetDeletionArrivesLate", [][]pipeline.Change{
			{Put(a, "k2", "new", 3)},
			{DeleteDataset(a, 2)},
			{Put(a, "k1", "v1", 1)},
		}},
		{"DatasetDeletionReplayedAndOlder", [][]pipeline.Change{
			{Put(a, "k1", "v1", 1), Put(a, "k2", "v2", 4), Put(a, "k3", "v3", 6)},
			{DeleteDataset(a, 5), DeleteDataset(a, 5)},
			{DeleteDataset(a, 2)},
			{DeleteDataset(a, 5)},
		}},
		{"DatasetDeletionLeavesOthers", [][]pipeline.Change{
			{Put(a, "k", "v", 1), Put(b, "k", "v", 1), In("other", Put(a, "k", "v", 1))},
			{DeleteDataset(a, 7)},
		}},
	}
	for _, tc := range deletions {
		t.Run(tc.name, func(t *testing.T) {
			s, state := h.New(t)
			for _, b := range tc.batches {
				if err := s.Write(ctx, b); err != nil {
					t.Fatalf("Write: %v", err)
				}
			}
			Equal(t, Mirror(state(t)), h.truncate(Mirror(Fold(tc.batches...))))
		})
	}
	t.Run("EmptyBatch", func(t *testing.T) {
		s, state := h.New(t)
		if err := s.Write(ctx, nil); err != nil {
			t.Fatalf("Write(nil): %v", err)
		}
		Equal(t, state(t), State{})
	})
	t.Run("ConcurrentWriters", func(t *testing.T) {
		s, state := h.New(t)
		// 4 writers deliver overlapping, shuffled slices of the same history
		// of 3 records, as two routers replaying a reshard might.
		var all []pipeline.Change
		for _, key := range []string{"a", "b", "c"} {
			for n := int64(1); n <= 20; n++ {
				if n%7 == 0 {
					all = append(all, Remove("us-east-1:c", key, n))
				} else {
					all = append(all, Put("us-east-1:c", key, fmt.Sprintf("%s%d", key, n), n))
				}
			}
		}
		// and one dataset deletion in the middle of the history
		all = append(all, DeleteDataset("us-east-1:c", 10))
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), 1))
				mine := append([]pipeline.Change(nil), all...)
				r.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
				for len(mine) > 0 {
					n := min(len(mine), 1+r.IntN(10))
					if err := s.Write(ctx, mine[:n]); err != nil {
						errs <- err
						return
					}
					mine = mine[n:]
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("Write: %v", err)
		}
		Equal(t, Mirror(state(t)), h.truncate(Mirror(Fold(all))))
	})
}

// Equal fails the test when got and want differ, listing the differences.
func Equal(t testing.TB, got, want State) {
	t.Helper()
	var diffs []string
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("missing %v (want %s)", id, show(w)))
		case !same(g, w):
			diffs = append(diffs, fmt.Sprintf("%v: got %s, want %s", id, show(g), show(w)))
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("unexpected %v: %s", id, show(g)))
		}
	}
	sort.Strings(diffs)
	for _, d := range diffs {
		t.Error(d)
	}
}

func same(a, b pipeline.Change) bool {
	if (a.Value == nil) != (b.Value == nil) || (a.Value != nil && *a.Value != *b.Value) {
		return false
	}
	a.Value, b.Value = nil, nil
	return a.IdentityPoolID == b.IdentityPoolID && a.IdentityID == b.IdentityID &&
		a.DatasetName == b.DatasetName && a.Key == b.Key && a.Op == b.Op &&
		a.SyncCount == b.SyncCount && a.DatasetSyncCount == b.DatasetSyncCount && a.DatasetDeleted == b.DatasetDeleted &&
		a.LastModified.Equal(b.LastModified) && a.DeviceLastModified.Equal(b.DeviceLastModified)
}

func show(c pipeline.Change) string {
	v := "<nil>"
	if c.Value != nil {
		v = fmt.Sprintf("%q", *c.Value)
	}
	op := string(c.Op)
	if c.DatasetDeleted {
		op = "delete-dataset"
	}
	return fmt.Sprintf("{%s %s sync=%d lm=%s dlm=%s ds=%d}", op, v, c.SyncCount,
		c.LastModified.Format(time.RFC3339Nano), c.DeviceLastModified.Format(time.RFC3339Nano), c.DatasetSyncCount)
}
