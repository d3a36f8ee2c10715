// Package checkpointtest is the conformance suite every
// stream.CheckpointStore passes (memory, SQLite, PostgreSQL).
package checkpointtest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/cognitosync/cognitosync/pipeline/stream"
)

// Run checks store semantics. newStore returns an empty store (or one whose
// groups and streams no other test uses).
func Run(t *testing.T, newStore func(t *testing.T) stream.CheckpointStore) {
	ctx := context.Background()
	cp := func(seq string, fin bool) stream.Checkpoint {
		return stream.Checkpoint{SequenceNumber: seq, Finished: fin}
	}
	const s1 = "shardId-000000000000"
	const s2 = "shardId-000000000001"

	t.Run("Empty", func(t *testing.T) {
		st := newStore(t)
		got, err := st.Checkpoints(ctx, "g", "stream")
		if err != nil || len(got) != 0 {
			t.Fatalf("Checkpoints = %v, %v; want empty", got, err)
		}
	})

	t.Run("Namespaces", func(t *testing.T) {
		st := newStore(t)
		must(t, st.SaveCheckpoint(ctx, "g1", "a", s1, cp("100", false)))
		must(t, st.SaveCheckpoint(ctx, "g1", "a", s2, cp("200", true)))
		must(t, st.SaveCheckpoint(ctx, "g2", "a", s1, cp("300", false)))
		must(t, st.SaveCheckpoint(ctx, "g1", "b", s1, cp("400", false)))
		want := map[string]stream.Checkpoint{s1: cp("100", false), s2: cp("200", true)}
		expect(t, st, "g1", "a", want)
		expect(t, st, "g2", "a", map[string]stream.Checkpoint{s1: cp("300", false)})
		expect(t, st, "g1", "b", map[string]stream.Checkpoint{s1: cp("400", false)})
	})

	t.Run("NeverBackwards", func(t *testing.T) {
		st := newStore(t)
		// Real sequence numbers are 56 digits; compare them numerically.
		lo := "49590338271490256608559692538361571095921575989136588898"
		hi := "49590338271490256608559692540925702759324208523137515618"
		steps := []struct {
			save stream.Checkpoint
			want stream.Checkpoint
		}{
			{cp("9", false), cp("9", false)},
			{cp("10", false), cp("10", false)}, // longer is higher
			{cp("9", false), cp("10", false)},  // not back
			{cp(hi, false), cp(hi, false)},
			{cp(lo, false), cp(hi, false)},
			{cp(hi, true), cp(hi, true)},
			{cp(hi+"0", false), cp(hi, true)}, // finished is final
		}
		for i, s := range steps {
			must(t, st.SaveCheckpoint(ctx, "g", "s", s1, s.save))
			got, err := st.Checkpoints(ctx, "g", "s")
			must(t, err)
			if got[s1] != s.want {
				t.Fatalf("step %d: after saving %+v got %+v, want %+v", i, s.save, got[s1], s.want)
			}
		}
	})

	t.Run("FinishedEmptyShard", func(t *testing.T) {
		st := newStore(t)
		must(t, st.SaveCheckpoint(ctx, "g", "s", s1, cp("", true)))
		expect(t, st, "g", "s", map[string]stream.Checkpoint{s1: cp("", true)})
	})

	t.Run("Concurrent", func(t *testing.T) {
		st := newStore(t)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 25 {
					if err := st.SaveCheckpoint(ctx, "g", "s", s1, cp(fmt.Sprint(1000+i*4+w), false)); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		expect(t, st, "g", "s", map[string]stream.Checkpoint{s1: cp("1099", false)})
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func expect(t *testing.T, st stream.CheckpointStore, group, stream string, want map[string]stream.Checkpoint) {
	t.Helper()
	got, err := st.Checkpoints(context.Background(), group, stream)
	must(t, err)
	if len(got) != len(want) {
		t.Fatalf("Checkpoints(%s, %s) = %v, want %v", group, stream, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("Checkpoints(%s, %s)[%s] = %+v, want %+v", group, stream, k, got[k], v)
		}
	}
}
