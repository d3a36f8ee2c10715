package streamlog_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/pipeline/checkpoint"
	"github.com/cognitosync/cognitosync/pipeline/stream"
	"github.com/cognitosync/cognitosync/pipeline/streamlog"
)

// logDB opens handles on one database: each call is a new connection, as
// after a restart.
type logDB func(t *testing.T) *sqldb.Handle

// forEachDialect runs body on a fresh SQLite file and, when
// SYNC_TEST_POSTGRES_URL is set, on a fresh PostgreSQL schema.
func forEachDialect(t *testing.T, body func(t *testing.T, open logDB)) {
	t.Run("SQLite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "worker.db")
		body(t, func(t *testing.T) *sqldb.Handle { return openHandle(t, path) })
	})
	t.Run("Postgres", func(t *testing.T) {
		url := synctest.PostgresURL(t)
		body(t, func(t *testing.T) *sqldb.Handle { return openHandle(t, url) })
	})
}

func openHandle(t *testing.T, url string) *sqldb.Handle {
	t.Helper()
	h, err := sqldb.Open(context.Background(), sqldb.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// newLog opens a Log and the SQL checkpoint store on h, as the
// worker does.
func newLog(t *testing.T, h *sqldb.Handle, c streamlog.Config) *streamlog.Log {
	t.Helper()
	cps, err := checkpoint.New(t.Context(), checkpoint.Config{DB: h})
	if err != nil {
		t.Fatal(err)
	}
	c.DB, c.Checkpoints = h, cps
	l, err := streamlog.New(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func subscribe(t *testing.T, l *streamlog.Log, ctx context.Context, group, topic string) (*streamlog.Subscriber, <-chan *message.Message) {
	t.Helper()
	s, err := l.NewSubscriber(streamlog.SubscriberConfig{ConsumerGroup: group, NackResendSleep: time.Millisecond,
		CheckpointInterval: 10 * time.Millisecond, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ch, err := s.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	return s, ch
}

// publish appends one message per payload, each with partition key key.
func publish(t *testing.T, l *streamlog.Log, topic, key string, payloads ...string) {
	t.Helper()
	var msgs []*message.Message
	for _, p := range payloads {
		m := message.NewMessage(p, []byte(p))
		m.Metadata.Set(stream.MetadataPartitionKey, key)
		msgs = append(msgs, m)
	}
	if err := l.Publish(topic, msgs...); err != nil {
		t.Fatal(err)
	}
}

func next(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10 s")
	}
	return nil
}

func nothing(t *testing.T, ch <-chan *message.Message, d time.Duration) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected message %s", m.Payload)
	case <-time.After(d):
	}
}

func logRows(t *testing.T, h *sqldb.Handle) int {
	t.Helper()
	var n int
	if err := h.Read.QueryRow("SELECT COUNT(*) FROM stream_log").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStreamLog_AckNackRedelivery(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open logDB) {
		l := newLog(t, open(t), streamlog.Config{})
		publish(t, l, "s", "id-1", "a", "b", "c")
		_, ch := subscribe(t, l, t.Context(), "g", "s")
		m := next(t, ch)
		if string(m.Payload) != "a" || m.UUID != "a" || m.Metadata.Get(stream.MetadataPartitionKey) != "id-1" ||
			m.Metadata.Get(stream.MetadataShardID) == "" || m.Metadata.Get(stream.MetadataSequenceNumber) != "1" {
			t.Fatalf("first = %s %v", m.Payload, m.Metadata)
		}
		nothing(t, ch, 50*time.Millisecond) // one message of a shard at a time
		m.Nack()
		if again := next(t, ch); string(again.Payload) != "a" {
			t.Fatalf("after nack: %s", again.Payload)
		} else {
			again.Ack()
		}
		for _, want := range []string{"b", "c"} {
			m := next(t, ch)
			if string(m.Payload) != want {
				t.Fatalf("got %s, want %s", m.Payload, want)
			}
			m.Ack()
		}
		publish(t, l, "s", "id-1", "d") // live: wakes the reader
		if m := next(t, ch); string(m.Payload) != "d" {
			t.Fatalf("live: %s", m.Payload)
		}
	})
}

// TestStreamLog_RestartResumesFromCheckpoint: records survive a restart
// (new handle, new Log), and a new subscription of the group starts
// after the last acknowledged record; the unacknowledged one comes again.
func TestStreamLog_RestartResumesFromCheckpoint(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open logDB) {
		h := open(t)
		l := newLog(t, h, streamlog.Config{})
		publish(t, l, "s", "id-1", "1", "2", "3", "4", "5")
		s, ch := subscribe(t, l, t.Context(), "g", "s")
		for _, want := range []string{"1", "2", "3"} {
			if m := next(t, ch); string(m.Payload) != want {
				t.Fatalf("got %s, want %s", m.Payload, want)
			} else {
				m.Ack()
			}
		}
		if m := next(t, ch); string(m.Payload) != "4" {
			t.Fatalf("got %s, want 4", m.Payload)
		} // never acked
		s.Close() // flushes
		if _, ok := <-ch; ok {
			t.Fatal("channel open after Close")
		}
		l.Close()
		h.Close()

		l = newLog(t, open(t), streamlog.Config{})
		_, ch = subscribe(t, l, t.Context(), "g", "s")
		for _, want := range []string{"4", "5"} {
			if m := next(t, ch); string(m.Payload) != want {
				t.Fatalf("after restart got %s, want %s", m.Payload, want)
			} else {
				m.Ack()
			}
		}
		nothing(t, ch, 100*time.Millisecond)
	})
}

// TestStreamLog_GroupsIndependent: a group that holds a message (a route
// whose sink is down) does not delay another group.
func TestStreamLog_GroupsIndependent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open logDB) {
		l := newLog(t, open(t), streamlog.Config{Shards: 1})
		_, stalled := subscribe(t, l, t.Context(), "worker.hook", "s")
		_, live := subscribe(t, l, t.Context(), "worker.files", "s")
		publish(t, l, "s", "id-1", "1")
		held := next(t, stalled)
		for i := 1; i <= 20; i++ {
			if i > 1 {
				publish(t, l, "s", "id-1", fmt.Sprint(i))
			}
			if m := next(t, live); string(m.Payload) != fmt.Sprint(i) {
				t.Fatalf("live group got %s, want %d", m.Payload, i)
			} else {
				m.Ack()
			}
		}
		nothing(t, stalled, 50*time.Millisecond)
		held.Nack() // the sink is still down
		for i := 1; i <= 20; i++ {
			if m := next(t, stalled); string(m.Payload) != fmt.Sprint(i) {
				t.Fatalf("recovered group got %s, want %d", m.Payload, i)
			} else {
				m.Ack()
			}
		}
	})
}

// TestStreamLog_OrderPerPartitionKey: with several shards read in
// parallel, each partition key's messages arrive in the order published
// and stay in one shard.
func TestStreamLog_OrderPerPartitionKey(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open logDB) {
		l := newLog(t, open(t), streamlog.Config{Shards: 4})
		const keys, per = 12, 15
		var wg sync.WaitGroup
		for k := range keys { // concurrent publishers, as forwarder and bulk runner
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per {
					m := message.NewMessage(fmt.Sprintf("id-%d/%d", k, i), []byte(fmt.Sprintf("id-%d/%d", k, i)))
					m.Metadata.Set(stream.MetadataPartitionKey, fmt.Sprintf("id-%d", k))
					if err := l.Publish("s", m); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		_, ch := subscribe(t, l, t.Context(), "g", "s")
		seen := map[string]int{}
		shardOf := map[string]string{}
		shards := map[string]bool{}
		var mu sync.Mutex
		for n := 0; n < keys*per; n++ {
			m := next(t, ch)
			wg.Add(1)
			go func() { // the router handles messages concurrently
				defer wg.Done()
				time.Sleep(time.Millisecond)
				mu.Lock()
				defer mu.Unlock()
				key, i, _ := strings.Cut(string(m.Payload), "/")
				if want := fmt.Sprint(seen[key]); i != want {
					t.Errorf("%s: got %s, want %s", key, i, want)
				}
				seen[key]++
				sh := m.Metadata.Get(stream.MetadataShardID)
				shards[sh] = true
				if prev, ok := shardOf[key]; ok && prev != sh {
					t.Errorf("%s in shards %s and %s", key, prev, sh)
				}
				shardOf[key] = sh
				m.Ack()
			}()
		}
		wg.Wait()
		if len(shards) < 2 {
			t.Errorf("all keys in %d shard(s); want parallel shards", len(shards))
		}
	})
}

// TestStreamLog_Retention: Trim deletes what every registered group has
// checkpointed, keeps the rest, never reuses a sequence number, and MaxAge
// deletes old records whoever has not read them.
func TestStreamLog_Retention(t *testing.T) {
	forEachDialect(t, func(t *testing.T, open logDB) {
		h := open(t)
		now := time.Now()
		var clock sync.Mutex
		l := newLog(t, h, streamlog.Config{Shards: 1, Now: func() time.Time { clock.Lock(); defer clock.Unlock(); return now }})
		ctx := t.Context()
		publish(t, l, "s", "id-1", "1", "2", "3", "4", "5")
		if n, err := l.Trim(ctx); err != nil || n != 0 || logRows(t, h) != 5 {
			t.Fatalf("no groups: Trim = %d, %v; rows %d", n, err, logRows(t, h))
		}
		sa, a := subscribe(t, l, ctx, "a", "s")
		sb, b := subscribe(t, l, ctx, "b", "s")
		for range 5 {
			next(t, a).Ack()
		}
		for range 2 {
			next(t, b).Ack()
		}
		held := next(t, b)
		sa.Close()
		sb.Close()
		held.Ack() // too late: not checkpointed
		if n, err := l.Trim(ctx); err != nil || n != 2 || logRows(t, h) != 3 {
			t.Fatalf("b at 2: Trim = %d, %v; rows %d", n, err, logRows(t, h))
		}
		// A forgotten group no longer holds records back.
		if err := l.ForgetGroup(ctx, "s", "b"); err != nil {
			t.Fatal(err)
		}
		if n, err := l.Trim(ctx); err != nil || n != 3 || logRows(t, h) != 0 {
			t.Fatalf("b forgotten: Trim = %d, %v; rows %d", n, err, logRows(t, h))
		}
		// Numbering goes on after the log emptied, so a checkpoint never
		// points past an unread record.
		publish(t, l, "s", "id-1", "6")
		_, a = subscribe(t, l, ctx, "a", "s")
		if m := next(t, a); string(m.Payload) != "6" || m.Metadata.Get(stream.MetadataSequenceNumber) != "6" {
			t.Fatalf("after trim: %s seq %s", m.Payload, m.Metadata.Get(stream.MetadataSequenceNumber))
		}
		// MaxAge (default 7 days) deletes unread records.
		clock.Lock()
		now = now.Add(8 * 24 * time.Hour)
		clock.Unlock()
		if n, err := l.Trim(ctx); err != nil || n != 1 || logRows(t, h) != 0 {
			t.Fatalf("max age: Trim = %d, %v; rows %d", n, err, logRows(t, h))
		}
	})
}
