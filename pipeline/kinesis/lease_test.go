package kinesis_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/pipeline/checkpoint"
	wk "github.com/cognitosync/cognitosync/pipeline/kinesis"
	"github.com/cognitosync/cognitosync/pipeline/stream"
)

// Short leases keep the test quick: a dead subscriber's shards move after
// about 2s, handovers within a few 250ms passes.
const (
	testLeaseTTL = 2 * time.Second
	testRenew    = 250 * time.Millisecond
)

// postgresStore returns a checkpoint.Store (checkpoints and leases) in a
// fresh schema of the test PostgreSQL.
func postgresStore(t *testing.T) *checkpoint.Store {
	t.Helper()
	url := endpoint(t, "SYNC_TEST_POSTGRES_URL")
	ctx := context.Background()
	admin, err := sqldb.Open(ctx, sqldb.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	schema := fmt.Sprintf("kinesis_lease_test_%d", time.Now().UnixNano())
	if _, err := admin.DB.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.DB.Exec("DROP SCHEMA " + schema + " CASCADE") })
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	h, err := sqldb.Open(ctx, sqldb.Config{URL: url + sep + "search_path=" + schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	st, err := checkpoint.New(ctx, checkpoint.Config{DB: h})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// mortalStores passes calls through to the shared stores until die; from
// then on, writes that a crashed process would not make (checkpoint
// flushes, lease renewals, releases, heartbeats) do nothing. Closing the
// Subscriber afterwards stops its delivery like a crash: its leases stay
// until they expire and its last acknowledgements are not checkpointed.
type mortalStores struct {
	*checkpoint.Store
	dead atomic.Bool
	// extended is when the last successful lease write (renewal or
	// acquisition) was sent, unix nanoseconds: the database stamps the
	// new expiry later than that, so no lease it extended expires before
	// extended + the TTL.
	extended atomic.Int64
}

func (m *mortalStores) extendedAt(start time.Time, ok bool, err error) {
	if ok && err == nil {
		m.extended.Store(max(m.extended.Load(), start.UnixNano()))
	}
}

func (m *mortalStores) die() { m.dead.Store(true) }

func (m *mortalStores) SaveCheckpoint(ctx context.Context, group, topic, shardID string, cp stream.Checkpoint) error {
	if m.dead.Load() {
		return nil
	}
	return m.Store.SaveCheckpoint(ctx, group, topic, shardID, cp)
}

func (m *mortalStores) AcquireLease(ctx context.Context, group, stream, shardID, owner string, ttl time.Duration) (bool, error) {
	if m.dead.Load() {
		return false, nil
	}
	start := time.Now()
	ok, err := m.Store.AcquireLease(ctx, group, stream, shardID, owner, ttl)
	m.extendedAt(start, ok, err)
	return ok, err
}

func (m *mortalStores) RenewLease(ctx context.Context, group, stream, shardID, owner string, ttl time.Duration) (bool, error) {
	if m.dead.Load() {
		return true, nil // the reader keeps going until Close; the row is not touched
	}
	start := time.Now()
	ok, err := m.Store.RenewLease(ctx, group, stream, shardID, owner, ttl)
	m.extendedAt(start, ok, err)
	return ok, err
}

func (m *mortalStores) ReleaseLease(ctx context.Context, group, stream, shardID, owner string) error {
	if m.dead.Load() {
		return nil
	}
	return m.Store.ReleaseLease(ctx, group, stream, shardID, owner)
}

func (m *mortalStores) Heartbeat(ctx context.Context, group, stream, owner string, ttl time.Duration) error {
	if m.dead.Load() {
		return nil
	}
	return m.Store.Heartbeat(ctx, group, stream, owner, ttl)
}

// delivery is one message handed to one subscriber.
type delivery struct {
	sub, shard string
	id         int
	at         time.Time
}

type deliveryLog struct {
	mu  sync.Mutex
	all []delivery
}

func (l *deliveryLog) add(d delivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, d)
}

func (l *deliveryLog) snapshot() []delivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]delivery(nil), l.all...)
}

// deliveriesSince returns the number of deliveries per shard since t.
func (l *deliveryLog) deliveriesSince(t time.Time) map[string]int {
	out := map[string]int{}
	for _, d := range l.snapshot() {
		if !d.at.Before(t) {
			out[d.shard]++
		}
	}
	return out
}

// shardsSince returns, per subscriber, the shards it delivered since t.
func (l *deliveryLog) shardsSince(t time.Time) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, d := range l.snapshot() {
		if d.at.Before(t) {
			continue
		}
		if out[d.sub] == nil {
			out[d.sub] = map[string]bool{}
		}
		out[d.sub][d.shard] = true
	}
	return out
}

// TestSubscriber_Leases shares a 4-shard stream between subscribers of one
// consumer group through leases in PostgreSQL (issue #4) while messages are
// published all along: two subscribers split the shards; one dies and the
// other takes its shards after the lease TTL, continuing from its
// checkpoints; a third joins and gets a share; one closes gracefully and
// its shards move at once. At every stable point each shard is delivered by
// exactly one subscriber, and in the end every message was delivered.
func TestSubscriber_Leases(t *testing.T) {
	client := newClient(kinesaliteEndpoint(t))
	store := postgresStore(t)
	topic := streamName("leases")
	createStream(t, client, topic, 4)

	pub, err := wk.NewPublisher(wk.PublisherConfig{Client: client}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	log := &deliveryLog{}
	type member struct {
		sub    *wk.Subscriber
		stores *mortalStores
		done   chan struct{}
	}
	members := map[string]*member{}
	join := func(name string) *member {
		t.Helper()
		ms := &mortalStores{Store: store}
		sub, err := wk.NewSubscriber(wk.SubscriberConfig{
			Client: client, ConsumerGroup: "g", Checkpoints: ms,
			Leases: ms, Owner: name, LeaseTTL: testLeaseTTL, RenewInterval: testRenew,
			PollInterval: 20 * time.Millisecond, MinGetRecordsInterval: 5 * time.Millisecond,
			ShardSyncInterval: time.Second, CheckpointInterval: 100 * time.Millisecond,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := sub.Subscribe(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		m := &member{sub: sub, stores: ms, done: make(chan struct{})}
		go func() {
			defer close(m.done)
			for msg := range msgs {
				id, err := strconv.Atoi(string(msg.Payload))
				if err != nil {
					t.Errorf("payload %q", msg.Payload)
				}
				log.add(delivery{sub: name, shard: msg.Metadata.Get(stream.MetadataShardID), id: id, at: time.Now()})
				msg.Ack()
			}
		}()
		members[name] = m
		t.Cleanup(func() { sub.Close() })
		return m
	}

	// Publish all along, partition keys spread over the shards.
	var published atomic.Int64
	pubCtx, stopPub := context.WithCancel(context.Background())
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-pubCtx.Done():
				return
			case <-tick.C:
			}
			var batch []*message.Message
			for range 10 {
				id := published.Load() + int64(len(batch))
				batch = append(batch, message.NewMessage(fmt.Sprint(id), []byte(fmt.Sprint(id))))
			}
			if err := pub.Publish(topic, batch...); err != nil {
				t.Errorf("publish: %v", err)
				return
			}
			published.Add(int64(len(batch)))
		}
	}()
	defer func() { stopPub(); <-pubDone }()

	// waitHeld waits until the subscribers hold the given numbers of leases
	// and returns when that was first seen.
	waitHeld := func(what string, timeout time.Duration, want map[string]int) time.Time {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			ok := true
			got := map[string]int{}
			for name, n := range want {
				got[name] = members[name].sub.LeasesHeld()
				ok = ok && got[name] == n
			}
			if ok {
				return time.Now()
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: leases held %v, want %v after %v", what, got, want, timeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// exclusive checks that, over a window of a stable assignment, each
	// shard is delivered by exactly one subscriber and each subscriber
	// delivers as many shards as it holds leases.
	exclusive := func(what string, want map[string]int) {
		t.Helper()
		from := time.Now().Add(300 * time.Millisecond) // in-flight handovers settle
		// A window in which every shard carries enough messages that two
		// readers of one shard would both show (about 0.4 s of publishing;
		// longer when kinesalite stalls under -race).
		const perShard = 20
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			counts := log.deliveriesSince(from)
			enough := len(counts) == 4
			for _, n := range counts {
				enough = enough && n >= perShard
			}
			if enough {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: deliveries per shard since the window opened: %v, want %d each", what, counts, perShard)
			}
		}
		by := log.shardsSince(from)
		held := map[string]int{}
		for name := range want {
			held[name] = members[name].sub.LeasesHeld()
		}
		t.Logf("%s: window of %v, shards delivered %v, leases held %v", what, time.Since(from).Round(time.Millisecond), by, held)
		owner := map[string]string{}
		for name, shards := range by {
			if len(shards) != want[name] {
				t.Errorf("%s: %s delivered shards %v, want %d of them", what, name, keys(shards), want[name])
			}
			for sh := range shards {
				if prev, dup := owner[sh]; dup {
					t.Errorf("%s: shard %s delivered by both %s and %s in one window", what, sh, prev, name)
				}
				owner[sh] = name
			}
		}
		if len(owner) != 4 {
			t.Errorf("%s: shards delivered %v, want all 4", what, owner)
		}
	}

	a := join("a")
	join("b")
	waitHeld("a and b start", 15*time.Second, map[string]int{"a": 2, "b": 2})
	exclusive("a and b", map[string]int{"a": 2, "b": 2})

	// a dies: its leases stay until they expire, then b takes them over.
	a.stores.die()
	a.sub.Close()
	killed := time.Now()
	<-a.done
	took := waitHeld("b takes over", testLeaseTTL+10*time.Second, map[string]int{"b": 4}).Sub(killed)
	// Not before a's last lease write expired (the database's clock is
	// this host's).
	if expired := time.Unix(0, a.stores.extended.Load()).Add(testLeaseTTL); killed.Add(took).Before(expired) {
		t.Errorf("b took a's shards %v after its death, %v before a's leases expired", took, expired.Sub(killed.Add(took)))
	}
	t.Logf("takeover after death: %v", took)
	exclusive("b alone", map[string]int{"b": 4})

	// c joins: b hands over leases until both hold 2.
	join("c")
	waitHeld("c joins", 15*time.Second, map[string]int{"b": 2, "c": 2})
	exclusive("b and c", map[string]int{"b": 2, "c": 2})

	// b closes: its leases are released after its checkpoints, c takes
	// them without waiting for the TTL.
	members["b"].sub.Close()
	closed := time.Now()
	took = waitHeld("c takes over", 10*time.Second, map[string]int{"c": 4}).Sub(closed)
	if took >= testLeaseTTL {
		t.Errorf("c took b's released shards after %v, want well within the lease TTL %v", took, testLeaseTTL)
	}
	t.Logf("takeover after graceful close: %v", took)
	exclusive("c alone", map[string]int{"c": 4})

	// Everything published is delivered; duplicates only from a's death
	// (acknowledged, never checkpointed) or handovers.
	stopPub()
	<-pubDone
	total := int(published.Load())
	deadline := time.Now().Add(30 * time.Second)
	for {
		seen := map[int]int{}
		for _, d := range log.snapshot() {
			seen[d.id]++
		}
		missing := 0
		for id := range total {
			if seen[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			dups := 0
			for _, n := range seen {
				dups += n - 1
			}
			t.Logf("%d messages, %d duplicate deliveries", total, dups)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages never delivered", missing, total)
		}
		time.Sleep(100 * time.Millisecond)
	}
	members["c"].sub.Close()

	// Over the whole run a shard changes hands only at the handovers above:
	// two readers of one shard at once would alternate far more often.
	runs := map[string]int{}
	last := map[string]string{}
	for _, d := range log.snapshot() {
		if last[d.shard] != d.sub {
			runs[d.shard]++
			last[d.shard] = d.sub
		}
	}
	for sh, n := range runs {
		if n > 6 {
			t.Errorf("shard %s changed subscriber %d times", sh, n-1)
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
