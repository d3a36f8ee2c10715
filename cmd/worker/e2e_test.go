package main_test

// End-to-end tests of issue #4 ("Shown by"): the real syncd (PostgreSQL
// store, Cognito Streams to kinesalite) and the real worker (remote mode,
// checkpoints in PostgreSQL) as OS processes; random updates through the
// official SDK with identity credentials; the PostgreSQL sink must end equal
// to syncd's ListRecords (ARCHITECTURE.md guarantee 4: at least once,
// idempotent sinks, so effectively once).

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/pipeline/checkpoint"
	"github.com/cognitosync/cognitosync/pipeline/kinesis"
	"github.com/cognitosync/cognitosync/sinks/webhook"
)

// Sizes: ~2,000 UpdateRecords (1–3 changes each) per test keeps the file
// under about two minutes with -race on 2 cores.
const (
	e2eUpdates     = 2000
	e2eConcurrency = 8
	e2eIdentities  = 6
	e2eDatasets    = 3
	e2eShards      = 4
	convergeWithin = 90 * time.Second
)

// pgConfig is a worker config with one route "db" to a PostgreSQL sink at
// sinkURL and, with jsonlDir, also to a JSONL sink there (to count
// deliveries).
func pgConfig(sinkURL, jsonlDir string) string {
	if jsonlDir == "" {
		return fmt.Sprintf("sinks:\n  - {name: db, type: postgres, url: %q}\nroutes:\n  - {name: db, sinks: [db]}\n", sinkURL)
	}
	return fmt.Sprintf("sinks:\n  - {name: db, type: postgres, url: %q}\n  - {name: files, type: jsonl, dir: %q}\n"+
		"routes:\n  - {name: db, sinks: [db, files]}\n", sinkURL, jsonlDir)
}

// TestE2E_SinkEqualsSyncd: thousands of random replaces and removes on
// several identities and datasets, concurrently, end with the PostgreSQL
// sink equal to syncd's ListRecords: every live record with its value and
// SyncCount, every removed one as a tombstone.
func TestE2E_SinkEqualsSyncd(t *testing.T) {
	s := newStack(t, e2eShards)
	w := s.startWorker(t, workerConfig(t, pgConfig(s.sinkURL, "")), t.TempDir(), "e2e")
	l := newLoad(t, s, e2eIdentities, e2eDatasets)

	start := time.Now()
	l.run(t, e2eUpdates, e2eConcurrency)
	loaded := time.Since(start)
	streamed := awaitStream(t, s.kc, s.stream, int(l.done.Load()), convergeWithin).Sub(start)
	want := l.groundTruth(t, s)
	converged := awaitSink(t, s.sinkURL, s.pool, want, convergeWithin).Sub(start)
	if n, _ := diff(want, recordsOf(l.changes())); n != 0 {
		t.Errorf("syncd's ListRecords differs from what UpdateRecords acknowledged in %d records", n)
	}
	live := 0
	for _, r := range want {
		if r.value != nil {
			live++
		}
	}
	t.Logf("%d UpdateRecords (%d changes) in %v (%.0f/s); all on the stream %v after the start; %d records (%d live, %d tombstones) in the sink %v after the start; worker peak RSS %.1f MiB (race=%v)",
		l.done.Load(), len(l.changes()), loaded.Round(time.Millisecond), float64(l.done.Load())/loaded.Seconds(),
		streamed.Round(time.Millisecond), len(want), live, len(want)-live, converged.Round(time.Millisecond), peakRSS(t, w), raceBuild)
	if ok := w.metric("cognitosync_worker_messages_total", `outcome="ok"`); ok < float64(l.done.Load()) {
		t.Errorf("worker acknowledged %v messages, want ≥ %d", ok, l.done.Load())
	}
}

// recordsOf folds acknowledged changes into the state of each record (the
// highest SyncCount wins).
func recordsOf(changes map[changeKey]recState) map[recKey]recState {
	out := map[recKey]recState{}
	for k, v := range changes {
		if cur, ok := out[k.recKey]; !ok || v.syncCount > cur.syncCount {
			out[k.recKey] = v
		}
	}
	return out
}

// TestE2E_WorkerSIGKILLed: the worker is SIGKILLed at 5 random moments of
// the load and restarted with the same checkpoint database each time; the
// sink still ends equal to syncd. A JSONL sink on the same route counts the
// changes delivered more than once (replays after the kills).
func TestE2E_WorkerSIGKILLed(t *testing.T) {
	s := newStack(t, e2eShards)
	out := t.TempDir()
	cfg := workerConfig(t, pgConfig(s.sinkURL, out))
	data := t.TempDir()
	w := s.startWorker(t, cfg, data, "e2e")
	l := newLoad(t, s, e2eIdentities, e2eDatasets)

	// Kill at 5 random moments while the load runs and the worker works
	// through it: each worker lives 0.5 to 2.5 s, long enough to deliver
	// and checkpoint some records.
	loadDone := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(loadDone)
		l.run(t, e2eUpdates, e2eConcurrency)
	}()
	var kills []string
	var maxRSS float64
	for range 5 {
		time.Sleep(500*time.Millisecond + rand.N(2*time.Second))
		maxRSS = max(maxRSS, peakRSS(t, w))
		w.Kill()
		kills = append(kills, fmt.Sprintf("%v (%d updates made)", time.Since(start).Round(time.Millisecond), l.done.Load()))
		w = s.startWorker(t, cfg, data, "e2e")
	}
	<-loadDone
	want := l.groundTruth(t, s)
	converged := awaitSink(t, s.sinkURL, s.pool, want, convergeWithin).Sub(start)
	maxRSS = max(maxRSS, peakRSS(t, w))

	acked := l.changes()
	lines := jsonlLines(t, out)
	for k := range acked {
		if lines[k] == 0 {
			t.Errorf("change %v acknowledged by syncd never reached the JSONL sink", k)
			break
		}
	}
	total, dups := deliveries(lines)
	t.Logf("worker SIGKILLed at %s; %d changes, sink converged %v after the start; JSONL: %d lines, %d duplicates (%.1f%%); peak RSS %.1f MiB",
		strings.Join(kills, ", "), len(acked), converged.Round(time.Millisecond), total, dups, 100*float64(dups)/float64(max(total, 1)), maxRSS)
}

// leasesLanded reports whether pipeline/kinesis shares shards through
// leases and the worker's SQL checkpoint store provides them (the worker
// then uses them: cmd/worker/stream.go). Checked by reflection so that this
// file compiles with and without leases.
func leasesLanded() bool {
	_, field := reflect.TypeFor[kinesis.SubscriberConfig]().FieldByName("Leases")
	_, method := reflect.TypeFor[*checkpoint.Store]().MethodByName("AcquireLease")
	return field && method
}

// TestE2E_TwoWorkersOneKilled: two workers in one consumer group, one
// SIGKILLed during the load and not restarted; the sink still converges.
// Without shard leases in the worker both read every shard (every change is
// delivered twice while both run; the idempotent sink absorbs it); with
// leases, no shard is read by both at once.
func TestE2E_TwoWorkersOneKilled(t *testing.T) {
	s := newStack(t, e2eShards)
	leases := leasesLanded()
	outA, outB := t.TempDir(), t.TempDir()
	a := s.startWorker(t, workerConfig(t, pgConfig(s.sinkURL, outA)), t.TempDir(), "e2e")
	b := s.startWorker(t, workerConfig(t, pgConfig(s.sinkURL, outB)), t.TempDir(), "e2e")
	l := newLoad(t, s, e2eIdentities, e2eDatasets)
	if leases {
		// The first worker took every lease; wait until the group
		// balanced them, so that both read while the load runs.
		balanced := time.Now()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			ha, hb := a.metric("cognitosync_leases_held"), b.metric("cognitosync_leases_held")
			if ha > 0 && hb > 0 && ha+hb == float64(s.shards) {
				t.Logf("leases balanced %v+%v after %v", ha, hb, time.Since(balanced).Round(time.Millisecond))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("leases never balanced between the two workers: %v+%v", ha, hb)
			}
		}
	}

	// Sample the shards each worker reads while both run.
	var overlap atomic.Int64
	var samples []string
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(250 * time.Millisecond):
			}
			ha, hb := a.metric("cognitosync_leases_held"), b.metric("cognitosync_leases_held")
			if ha < 0 || hb < 0 {
				continue
			}
			if ha+hb > float64(s.shards) {
				overlap.Add(1)
			}
			if len(samples) < 40 {
				samples = append(samples, fmt.Sprintf("%v+%v", ha, hb))
			}
		}
	}()

	const kill = e2eUpdates * 2 / 5
	start := time.Now()
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		l.run(t, e2eUpdates, e2eConcurrency)
	}()
	for l.done.Load() < kill {
		time.Sleep(5 * time.Millisecond)
	}
	close(stopSampling)
	<-sampled
	rssB := peakRSS(t, b)
	b.Kill()
	killedAt := time.Since(start)
	<-loadDone
	want := l.groundTruth(t, s)
	converged := awaitSink(t, s.sinkURL, s.pool, want, convergeWithin).Sub(start)

	la, lb := jsonlLines(t, outA), jsonlLines(t, outB)
	both := 0
	for k := range lb {
		if la[k] > 0 {
			both++
		}
	}
	totalA, _ := deliveries(la)
	totalB, _ := deliveries(lb)
	_, dups := deliveries(jsonlLines(t, outA, outB))
	t.Logf("leases=%v; worker B SIGKILLed at %v; sink converged %v after the start; A delivered %d, B %d changes, %d by both (%d duplicates in all); leases held A+B while both ran: %s; peak RSS A %.1f MiB, B %.1f MiB",
		leases, killedAt.Round(time.Millisecond), converged.Round(time.Millisecond), totalA, totalB, both, dups,
		strings.Join(samples, " "), peakRSS(t, a), rssB)
	if leases && overlap.Load() > 0 {
		t.Errorf("with leases, the two workers together held more than %d shards in %d samples: %s", s.shards, overlap.Load(), strings.Join(samples, " "))
	}
	if !leases && totalB > 0 && both == 0 {
		t.Errorf("without leases both workers should read every shard, but no change reached both")
	}
}

// TestE2E_WebhookDownDoesNotStallPostgres: a second route to a webhook that
// answers 503 for its first seconds: the PostgreSQL route converges while
// the webhook still fails, and the webhook receiver (verifying every
// signature) ends with every change.
func TestE2E_WebhookDownDoesNotStallPostgres(t *testing.T) {
	s := newStack(t, e2eShards)
	const updates = e2eUpdates / 2
	downFor := 20 * time.Second
	if raceBuild {
		downFor = 30 * time.Second
	}
	secret := []byte("e2e-webhook-secret")

	var (
		mu        sync.Mutex
		start     time.Time
		recovered time.Time // first 200
		got       = map[changeKey]int{}
		requests  = map[string]int{} // by idempotency key
		refused   int
		badSig    int
	)
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		p, err := webhook.Verify(secret, r)
		mu.Lock()
		defer mu.Unlock()
		if errors.Is(err, webhook.ErrSignature) {
			badSig++
			http.Error(rw, "unauthorized", http.StatusUnauthorized)
			return
		}
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		if start.IsZero() || time.Since(start) < downFor {
			refused++
			http.Error(rw, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		if recovered.IsZero() {
			recovered = time.Now()
		}
		key := r.Header.Get(webhook.HeaderIdempotencyKey)
		if requests[key]++; requests[key] == 1 {
			for _, c := range p.Changes {
				got[changeKey{recKey{c.IdentityID, c.DatasetName, c.Key}, c.SyncCount}]++
			}
		}
	}))
	t.Cleanup(hook.Close)

	cfg := workerConfig(t, fmt.Sprintf(`sinks:
  - {name: db, type: postgres, url: %q}
  - {name: hook, type: webhook, url: %q, secret: %q}
routes:
  - {name: db, sinks: [db]}
  - {name: hook, sinks: [hook]}
`, s.sinkURL, hook.URL, secret))
	s.startWorker(t, cfg, t.TempDir(), "e2e")
	l := newLoad(t, s, e2eIdentities, e2eDatasets)

	mu.Lock()
	start = time.Now()
	mu.Unlock()
	l.run(t, updates, e2eConcurrency)
	loaded := time.Since(start)
	want := l.groundTruth(t, s)
	pgDone := awaitSink(t, s.sinkURL, s.pool, want, convergeWithin)

	acked := l.changes()
	deadline := time.Now().Add(downFor + convergeWithin)
	for {
		mu.Lock()
		missing := 0
		for k := range acked {
			if got[k] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook receiver lacks %d of %d changes", missing, len(acked))
		}
		time.Sleep(200 * time.Millisecond)
	}
	hookDone := time.Now()

	mu.Lock()
	defer mu.Unlock()
	extra := 0
	for k := range got {
		if _, ok := acked[k]; !ok {
			extra++
		}
	}
	repeats := 0
	for _, n := range requests {
		repeats += n - 1
	}
	t.Logf("%d updates (%d changes) in %v; PostgreSQL route converged at %v; webhook down until %v (%d requests refused), recovered at %v, complete at %v; %d requests, %d repeated by idempotency key",
		updates, len(acked), loaded.Round(time.Millisecond), pgDone.Sub(start).Round(time.Millisecond), downFor,
		refused, recovered.Sub(start).Round(time.Millisecond), hookDone.Sub(start).Round(time.Millisecond), len(requests), repeats)
	if badSig > 0 {
		t.Errorf("%d webhook requests had a bad signature", badSig)
	}
	if extra > 0 {
		t.Errorf("the webhook received %d changes syncd never acknowledged", extra)
	}
	if !pgDone.Before(recovered) {
		t.Errorf("the PostgreSQL route converged at %v, not before the webhook recovered at %v: the failing webhook route stalled it",
			pgDone.Sub(start), recovered.Sub(start))
	}
}
