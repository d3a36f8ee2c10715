package stream_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cognitosync/cognitosync/internal/retry"
	"github.com/cognitosync/cognitosync/pipeline/stream"
)

// run is one Shard.Run under test: its channels, store and result.
type run struct {
	out     chan *message.Message
	batches chan stream.Batch
	cps     stream.CheckpointStore
	cancel  context.CancelFunc
	done    chan bool
}

// startShard runs a Shard of group "g", stream "s", shard "sh" with c (Out
// and Checkpoints filled in when unset) until the test ends.
func startShard(t *testing.T, c stream.ShardConfig) *run {
	t.Helper()
	r := &run{out: make(chan *message.Message), batches: make(chan stream.Batch, 1), done: make(chan bool, 1)}
	c.Out = r.out
	if c.Checkpoints == nil {
		c.Checkpoints = stream.NewMemoryCheckpointStore()
	}
	r.cps = c.Checkpoints
	c.Group, c.Stream, c.ShardID = "g", "s", "sh"
	if c.NackResendSleep == 0 {
		c.NackResendSleep = time.Millisecond
	}
	sh, err := stream.NewShard(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		r.done <- sh.Run(ctx, func(ctx context.Context, out chan<- stream.Batch) {
			defer close(out)
			for {
				select {
				case b, ok := <-r.batches:
					if !ok {
						return
					}
					select {
					case out <- b:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		r.wait(t)
	})
	return r
}

// wait returns Run's result, failing after 10 s.
func (r *run) wait(t *testing.T) bool {
	t.Helper()
	select {
	case fin, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return fin
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s")
		return false
	}
}

// recv returns the next message sent, failing after 10 s.
func (r *run) recv(t *testing.T) *message.Message {
	t.Helper()
	select {
	case m := <-r.out:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10 s")
		return nil
	}
}

// none checks that nothing is sent within d.
func (r *run) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-r.out:
		t.Fatalf("unexpected message %s", m.Payload)
	case <-time.After(d):
	}
}

func (r *run) checkpoint(t *testing.T) stream.Checkpoint {
	t.Helper()
	cps, err := r.cps.Checkpoints(context.Background(), "g", "s")
	if err != nil {
		t.Fatal(err)
	}
	return cps["sh"]
}

// waitCheckpoint polls the store until the shard's checkpoint is want.
func (r *run) waitCheckpoint(t *testing.T, want stream.Checkpoint) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); r.checkpoint(t) != want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint %+v, want %+v", r.checkpoint(t), want)
		}
	}
}

// records returns records with sequence numbers from..to, payload "m<seq>".
func records(from, to int) []stream.Record {
	var out []stream.Record
	for i := from; i <= to; i++ {
		m := message.NewMessage(fmt.Sprintf("id-%d", i), []byte(fmt.Sprintf("m%d", i)))
		m.Metadata.Set(stream.MetadataSequenceNumber, fmt.Sprint(i))
		out = append(out, stream.Record{Seq: fmt.Sprint(i), Msg: m})
	}
	return out
}

// TestShard_InOrderOneAtATime: a shard's next message is sent only after
// the previous one is Acked; the message's context ends once it is settled;
// the position is saved when Run returns.
func TestShard_InOrderOneAtATime(t *testing.T) {
	r := startShard(t, stream.ShardConfig{CheckpointInterval: time.Hour})
	r.batches <- stream.Batch{Records: records(1, 3)}
	for i := 1; i <= 3; i++ {
		m := r.recv(t)
		if string(m.Payload) != fmt.Sprintf("m%d", i) {
			t.Fatalf("got %s, want m%d", m.Payload, i)
		}
		r.none(t, 20*time.Millisecond)
		m.Ack()
		select {
		case <-m.Context().Done():
		case <-time.After(10 * time.Second):
			t.Fatal("message context not cancelled after Ack")
		}
	}
	if cp := r.checkpoint(t); cp.SequenceNumber != "" {
		t.Fatalf("saved %+v before the interval or the end", cp)
	}
	r.cancel()
	if r.wait(t) {
		t.Fatal("Run reported a finished shard")
	}
	if cp := r.checkpoint(t); cp != (stream.Checkpoint{SequenceNumber: "3"}) {
		t.Fatalf("checkpoint after stop %+v, want 3", cp)
	}
}

// TestShard_NackResends: a Nacked message comes again (same UUID, payload
// and metadata, a new message) and nothing after it overtakes it.
func TestShard_NackResends(t *testing.T) {
	r := startShard(t, stream.ShardConfig{})
	r.batches <- stream.Batch{Records: records(1, 2)}
	first := r.recv(t)
	first.Nack()
	again := r.recv(t)
	if again == first || again.UUID != first.UUID || string(again.Payload) != string(first.Payload) ||
		again.Metadata.Get(stream.MetadataSequenceNumber) != "1" {
		t.Fatalf("redelivery %s %s %v; first %s %s", again.UUID, again.Payload, again.Metadata, first.UUID, first.Payload)
	}
	again.Nack()
	third := r.recv(t)
	if string(third.Payload) != "m1" {
		t.Fatalf("after two Nacks got %s, want m1", third.Payload)
	}
	third.Ack()
	if m := r.recv(t); string(m.Payload) != "m2" {
		t.Fatalf("got %s, want m2", m.Payload)
	}
}

// TestShard_AckBeforeStopCounts: an Ack given just before the context ends
// is checkpointed, whichever of the two the loop sees first.
func TestShard_AckBeforeStopCounts(t *testing.T) {
	r := startShard(t, stream.ShardConfig{CheckpointInterval: time.Hour})
	r.batches <- stream.Batch{Records: records(1, 2)}
	m := r.recv(t)
	m.Ack()
	r.cancel()
	r.wait(t)
	if cp := r.checkpoint(t); cp.SequenceNumber != "1" {
		t.Fatalf("checkpoint %+v, want 1", cp)
	}
}

// TestShard_CheckpointTiming: with an interval the position is saved while
// the shard idles; with a negative interval after every Ack.
func TestShard_CheckpointTiming(t *testing.T) {
	t.Run("Interval", func(t *testing.T) {
		r := startShard(t, stream.ShardConfig{CheckpointInterval: 10 * time.Millisecond})
		r.batches <- stream.Batch{Records: records(1, 1)}
		r.recv(t).Ack()
		r.waitCheckpoint(t, stream.Checkpoint{SequenceNumber: "1"})
	})
	t.Run("EveryAck", func(t *testing.T) {
		r := startShard(t, stream.ShardConfig{CheckpointInterval: -1})
		r.batches <- stream.Batch{Records: records(1, 2)}
		r.recv(t).Ack()
		r.waitCheckpoint(t, stream.Checkpoint{SequenceNumber: "1"})
		m := r.recv(t)
		if cp := r.checkpoint(t); cp.SequenceNumber != "1" {
			t.Fatalf("checkpoint %+v while 2 is outstanding", cp)
		}
		m.Ack()
		r.waitCheckpoint(t, stream.Checkpoint{SequenceNumber: "2"})
	})
}

// TestShard_EndSavesFinished: after the last record of a closed shard is
// acknowledged, Run saves a Finished checkpoint and reports it; records
// without a message (unreadable) are passed over and counted.
func TestShard_EndSavesFinished(t *testing.T) {
	r := startShard(t, stream.ShardConfig{CheckpointInterval: time.Hour, Start: "3"})
	recs := append(records(4, 4), stream.Record{Seq: "5"}) // 5 cannot be read
	r.batches <- stream.Batch{Records: recs, End: true}
	r.recv(t).Ack()
	if !r.wait(t) {
		t.Fatal("Run did not report the shard finished")
	}
	if cp := r.checkpoint(t); cp != (stream.Checkpoint{SequenceNumber: "5", Finished: true}) {
		t.Fatalf("checkpoint %+v, want 5 finished", cp)
	}

	// A closed shard with nothing left to read finishes at its start.
	r = startShard(t, stream.ShardConfig{Start: "9"})
	r.batches <- stream.Batch{End: true}
	if !r.wait(t) || r.checkpoint(t) != (stream.Checkpoint{SequenceNumber: "9", Finished: true}) {
		t.Fatalf("empty end: checkpoint %+v", r.checkpoint(t))
	}
}

// TestShard_ReaderGaveUp: when the adapter closes the batches channel Run
// returns, not finished, with the position saved.
func TestShard_ReaderGaveUp(t *testing.T) {
	r := startShard(t, stream.ShardConfig{CheckpointInterval: time.Hour})
	r.batches <- stream.Batch{Records: records(1, 1)}
	r.recv(t).Ack()
	close(r.batches)
	if r.wait(t) {
		t.Fatal("finished")
	}
	if cp := r.checkpoint(t); cp.SequenceNumber != "1" {
		t.Fatalf("checkpoint %+v, want 1", cp)
	}
}

// TestShard_StopSettlesInFlight: a lost lease (Stop) stops the shard before
// its next message, but the one already sent is waited for and its Ack
// checkpointed.
func TestShard_StopSettlesInFlight(t *testing.T) {
	stop := make(chan struct{})
	r := startShard(t, stream.ShardConfig{CheckpointInterval: time.Hour, Stop: stop})
	r.batches <- stream.Batch{Records: records(1, 2)}
	m := r.recv(t)
	close(stop)
	select {
	case <-r.done:
		t.Fatal("Run returned with a message in flight")
	case <-time.After(20 * time.Millisecond):
	}
	m.Ack()
	r.wait(t)
	select {
	case m := <-r.out:
		t.Fatalf("sent %s after Stop", m.Payload)
	default:
	}
	if cp := r.checkpoint(t); cp.SequenceNumber != "1" {
		t.Fatalf("checkpoint %+v, want 1", cp)
	}
}

// TestShard_LeaseDeadline: past the lease's local deadline nothing is sent,
// and a consumer that does not take a message is not waited for beyond it.
func TestShard_LeaseDeadline(t *testing.T) {
	t.Run("Past", func(t *testing.T) {
		r := startShard(t, stream.ShardConfig{ValidUntil: func() time.Time { return time.Now().Add(-time.Second) }})
		r.batches <- stream.Batch{Records: records(1, 1)}
		r.wait(t)
		select {
		case m := <-r.out:
			t.Fatalf("sent %s past the deadline", m.Payload)
		default:
		}
	})
	t.Run("LapsesWhileSending", func(t *testing.T) {
		until := time.Now().Add(50 * time.Millisecond)
		r := startShard(t, stream.ShardConfig{ValidUntil: func() time.Time { return until }})
		r.batches <- stream.Batch{Records: records(1, 1)}
		r.wait(t) // nobody reads r.out
		if time.Now().Before(until) {
			t.Fatal("Run returned before the deadline")
		}
		if cp := r.checkpoint(t); cp.SequenceNumber != "" {
			t.Fatalf("checkpoint %+v for a message never taken", cp)
		}
	})
}

// flakyStore fails the first n saves.
type flakyStore struct {
	*stream.MemoryCheckpointStore
	mu    sync.Mutex
	fails int
	calls int
}

func (f *flakyStore) SaveCheckpoint(ctx context.Context, group, topic, shardID string, cp stream.Checkpoint) error {
	f.mu.Lock()
	f.calls++
	fail := f.calls <= f.fails
	f.mu.Unlock()
	if fail {
		return errors.New("database is down")
	}
	return f.MemoryCheckpointStore.SaveCheckpoint(ctx, group, topic, shardID, cp)
}

// TestShard_FailedSavesRetried: a periodic save that fails is tried again
// at a later interval, and the save when Run returns is retried with
// backoff (after the context ended) until the store takes it.
func TestShard_FailedSavesRetried(t *testing.T) {
	t.Run("Periodic", func(t *testing.T) {
		st := &flakyStore{MemoryCheckpointStore: stream.NewMemoryCheckpointStore(), fails: 3}
		r := startShard(t, stream.ShardConfig{Checkpoints: st, CheckpointInterval: 5 * time.Millisecond})
		r.batches <- stream.Batch{Records: records(1, 1)}
		r.recv(t).Ack()
		r.waitCheckpoint(t, stream.Checkpoint{SequenceNumber: "1"})
	})
	t.Run("Final", func(t *testing.T) {
		st := &flakyStore{MemoryCheckpointStore: stream.NewMemoryCheckpointStore(), fails: 3}
		r := startShard(t, stream.ShardConfig{Checkpoints: st, CheckpointInterval: time.Hour,
			Backoff: retry.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}})
		r.batches <- stream.Batch{Records: records(1, 1)}
		r.recv(t).Ack()
		r.cancel()
		r.wait(t)
		if cp := r.checkpoint(t); cp.SequenceNumber != "1" || st.calls != 4 {
			t.Fatalf("checkpoint %+v after %d saves, want 1 after 4", cp, st.calls)
		}
	})
}

// TestShard_WindowSendsAheadCheckpointsContiguous: with MaxInFlight 3 up to
// three messages are outstanding, in order; Acks in any order move the
// checkpoint only over the acknowledged run from the start.
func TestShard_WindowSendsAheadCheckpointsContiguous(t *testing.T) {
	r := startShard(t, stream.ShardConfig{CheckpointInterval: -1, MaxInFlight: 3})
	r.batches <- stream.Batch{Records: records(1, 6)}
	var ms []*message.Message
	for i := 1; i <= 3; i++ {
		m := r.recv(t)
		if string(m.Payload) != fmt.Sprintf("m%d", i) {
			t.Fatalf("got %s, want m%d", m.Payload, i)
		}
		ms = append(ms, m)
	}
	r.none(t, 20*time.Millisecond) // the window is full
	ms[1].Ack()
	ms[2].Ack()
	for i := 4; i <= 5; i++ {
		m := r.recv(t)
		if string(m.Payload) != fmt.Sprintf("m%d", i) {
			t.Fatalf("got %s, want m%d", m.Payload, i)
		}
		ms = append(ms, m)
	}
	if cp := r.checkpoint(t); cp.SequenceNumber != "" {
		t.Fatalf("checkpoint %+v while 1 is outstanding", cp)
	}
	ms[0].Ack()
	r.waitCheckpoint(t, stream.Checkpoint{SequenceNumber: "3"})
	ms[4].Ack()
	m6 := r.recv(t)
	if cp := r.checkpoint(t); cp.SequenceNumber != "3" {
		t.Fatalf("checkpoint %+v while 4 is outstanding", cp)
	}
	ms[3].Ack()
	m6.Ack()
	r.waitCheckpoint(t, stream.Checkpoint{SequenceNumber: "6"})
}

// TestShard_WindowBytes: MaxInFlightBytes holds the window back before
// MaxInFlight does.
func TestShard_WindowBytes(t *testing.T) {
	r := startShard(t, stream.ShardConfig{CheckpointInterval: time.Hour, MaxInFlight: 100, MaxInFlightBytes: 4})
	r.batches <- stream.Batch{Records: records(1, 5)} // payloads of 2 bytes
	a, b := r.recv(t), r.recv(t)
	r.none(t, 20*time.Millisecond)
	a.Ack()
	if m := r.recv(t); string(m.Payload) != "m3" {
		t.Fatalf("got %s, want m3", m.Payload)
	}
	b.Ack()
}

// TestShard_WindowNackResendsInItsSlot: a Nacked message of a window comes
// again; the checkpoint waits for it however many after it are acked.
func TestShard_WindowNackResendsInItsSlot(t *testing.T) {
	r := startShard(t, stream.ShardConfig{CheckpointInterval: -1, MaxInFlight: 2})
	r.batches <- stream.Batch{Records: records(1, 3)}
	first, second := r.recv(t), r.recv(t)
	first.Nack()
	second.Ack()
	got := map[string]*message.Message{}
	for range 2 {
		m := r.recv(t)
		got[string(m.Payload)] = m
	}
	if got["m1"] == nil || got["m3"] == nil || got["m1"].UUID != first.UUID {
		t.Fatalf("after a Nack got %v, want m1 again and m3", got)
	}
	got["m3"].Ack()
	if cp := r.checkpoint(t); cp.SequenceNumber != "" {
		t.Fatalf("checkpoint %+v while 1 is outstanding", cp)
	}
	got["m1"].Ack()
	r.waitCheckpoint(t, stream.Checkpoint{SequenceNumber: "3"})
}

// TestShard_WindowStopSettlesAll: a lost lease stops sending, and every
// outstanding message of the window is waited for.
func TestShard_WindowStopSettlesAll(t *testing.T) {
	stop := make(chan struct{})
	r := startShard(t, stream.ShardConfig{CheckpointInterval: time.Hour, Stop: stop, MaxInFlight: 2})
	r.batches <- stream.Batch{Records: records(1, 4)}
	a, b := r.recv(t), r.recv(t)
	close(stop)
	b.Ack()
	select {
	case <-r.done:
		t.Fatal("Run returned with a message in flight")
	case m := <-r.out:
		t.Fatalf("sent %s after Stop", m.Payload)
	case <-time.After(20 * time.Millisecond):
	}
	a.Ack()
	r.wait(t)
	if cp := r.checkpoint(t); cp.SequenceNumber != "2" {
		t.Fatalf("checkpoint %+v, want 2", cp)
	}
}

func TestShardConfig_Validate(t *testing.T) {
	_, err := stream.NewShard(stream.ShardConfig{})
	if err == nil || !strings.Contains(err.Error(), "Out") || !strings.Contains(err.Error(), "Checkpoints") {
		t.Fatalf("NewShard of an empty config: %v", err)
	}
}
