// Package sinktest is one conformance suite for every sink: Run checks that
// replays, out-of-order batches, tombstones and concurrent writers end in the
// state ARCHITECTURE.md guarantee 4 promises (each record at its highest
// SyncCount, as if every change was seen exactly once).
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

// RecordID names a record: a change's key without its SyncCount.
type RecordID struct{ IdentityPoolID, IdentityID, DatasetName, Key string }

// Of returns the record a change belongs to.
func Of(c pipeline.Change) RecordID {
	return RecordID{c.IdentityPoolID, c.IdentityID, c.DatasetName, c.Key}
}

// State is the latest change of every record.
type State map[RecordID]pipeline.Change

// Fold applies changes in any order, keeping each record's highest SyncCount:
// the state every sink must converge to.
func Fold(changes ...[]pipeline.Change) State {
	s := State{}
	for _, batch := range changes {
		for _, c := range batch {
			if cur, ok := s[Of(c)]; !ok || c.SyncCount > cur.SyncCount {
				s[Of(c)] = c
			}
		}
	}
	return s
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
		Equal(t, state(t), h.truncate(Fold(all)))
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
		a.SyncCount == b.SyncCount && a.DatasetSyncCount == b.DatasetSyncCount &&
		a.LastModified.Equal(b.LastModified) && a.DeviceLastModified.Equal(b.DeviceLastModified)
}

func show(c pipeline.Change) string {
	v := "<nil>"
	if c.Value != nil {
		v = fmt.Sprintf("%q", *c.Value)
	}
	return fmt.Sprintf("{%s %s sync=%d lm=%s dlm=%s ds=%d}", c.Op, v, c.SyncCount,
		c.LastModified.Format(time.RFC3339Nano), c.DeviceLastModified.Format(time.RFC3339Nano), c.DatasetSyncCount)
}
