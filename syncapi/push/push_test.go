package push_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/push"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// later is a clock an hour ahead: every queued entry is past its window.
func later() time.Time { return time.Now().Add(time.Hour) }

// world is a store with one push-enabled pool, one identity and one
// dataset, "settings".
type world struct {
	st  push.Store
	s   syncapi.Store
	key syncapi.DatasetKey
}

func newWorld(t *testing.T) world {
	t.Helper()
	return newWorldOn(t, synctest.SQLite(t))
}

func newWorldOn(t *testing.T, s syncapi.Store) world {
	t.Helper()
	pool := synctest.PoolID()
	identity := synctest.Region + ":" + syncapi.NewUUID()
	if err := s.CreatePool(t.Context(), syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: pool, IdentityPoolName: "p"},
		PushSync: &syncapi.PushSync{ApplicationArns: synctest.PushApplicationArns, RoleArn: "arn:aws:iam::123456789012:role/push"}, Created: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateIdentity(t.Context(), syncapi.Identity{PoolID: pool, ID: identity, Created: t0}); err != nil {
		t.Fatal(err)
	}
	w := world{st: s.(push.Store), s: s, key: syncapi.DatasetKey{PoolID: pool, IdentityID: identity, Name: "settings"}}
	w.write(t, "")
	return w
}

// device registers and subscribes a device, returning its id.
func (w world) device(t *testing.T, platform, token string) string {
	t.Helper()
	id, err := w.s.RegisterDevice(t.Context(), w.key.PoolID, w.key.IdentityID, platform, token, syncapi.NewUUID())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.s.Subscribe(t.Context(), w.key, id); err != nil {
		t.Fatal(err)
	}
	return id
}

// write changes the dataset from device and returns its sync count.
func (w world) write(t *testing.T, device string) int64 {
	t.Helper()
	v := syncapi.NewUUID()
	res, err := w.s.UpdateRecords(t.Context(), syncapi.UpdateRequest{Key: w.key, By: "w", Now: t0, Device: device,
		Changes: []syncapi.Change{{Key: "k", Value: &v}}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Dataset.SyncCount
}

func (w world) exists(t *testing.T, device string) bool {
	t.Helper()
	ok, err := w.s.DeviceExists(t.Context(), w.key.PoolID, w.key.IdentityID, device)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func (w world) depth(t *testing.T) int64 {
	t.Helper()
	n, _, err := w.st.PushStats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func dispatcher(t *testing.T, st push.Store, n push.Notifier, owner string, now func() time.Time) *push.Dispatcher {
	t.Helper()
	d, err := push.New(push.Config{Store: st, Notifier: n, Owner: owner, Now: now, LeaseTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestMessage_SpecF4 pins the payloads devices parse (spec F.4).
func TestMessage_SpecF4(t *testing.T) {
	k := syncapi.DatasetKey{PoolID: "us-east-1:p", IdentityID: "us-east-1:i", Name: "settings"}
	data := `"data":{"source":"cognito-sync","identityPoolId":"us-east-1:p","identityId":"us-east-1:i","datasetName":"settings","syncCount":"8"}`
	for platform, want := range map[string]string{
		"GCM": "{" + data + "}", "ADM": "{" + data + "}",
		"APNS": `{"aps":{"content-available":1},` + data + "}", "APNS_SANDBOX": `{"aps":{"content-available":1},` + data + "}",
	} {
		got, err := push.Message(platform, k, 8)
		if err != nil || string(got) != want {
			t.Errorf("%s: %s, %v\nwant %s", platform, got, err, want)
		}
	}
	if _, err := push.Message("WNS", k, 8); err == nil {
		t.Error("an unknown platform was framed")
	}
}

// recorder is a Notifier that records what it is given and answers from
// a table by token.
type recorder struct {
	mu     sync.Mutex
	got    []push.Notification
	answer map[string]error
}

func (r *recorder) Backend() string { return "webhook" }

func (r *recorder) Send(_ context.Context, n push.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.answer[n.Token]; err != nil {
		return err
	}
	r.got = append(r.got, n)
	return nil
}

func (r *recorder) sent() []push.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]push.Notification(nil), r.got...)
}

// TestDispatcher_OneLeaseHolderSends: two dispatchers on one store; only
// the lease holder sends, each entry once. When the holder stops (as if
// killed, its lease not released), the other takes over once the lease
// expires, and nothing sent is sent again.
func TestDispatcher_OneLeaseHolderSends(t *testing.T) {
	w := newWorld(t)
	a, b := &recorder{}, &recorder{}
	clock := synctest.NewClock(time.Now().Add(time.Hour))
	da := dispatcher(t, w.st, a, "a", clock.Now)
	db := dispatcher(t, w.st, b, "b", clock.Now)
	w.device(t, "GCM", "g1")
	w.device(t, "APNS", "a1")
	w.write(t, "")
	if err := da.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(a.sent()) != 2 || len(b.sent()) != 0 {
		t.Fatalf("a sent %d, b sent %d; want 2 and 0", len(a.sent()), len(b.sent()))
	}
	// a dies holding the lease; a change waits for b.
	count := w.write(t, "")
	if err := db.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(b.sent()) != 0 {
		t.Fatalf("b sent under a's unexpired lease: %+v", b.sent())
	}
	clock.Advance(2 * time.Minute)
	if err := db.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := b.sent()
	if len(got) != 2 || got[0].SyncCount != count || got[1].SyncCount != count || w.depth(t) != 0 {
		t.Fatalf("b after the lease expired: %+v, depth %d", got, w.depth(t))
	}
	if len(a.sent()) != 2 {
		t.Fatalf("a sent again: %+v", a.sent())
	}
}

// TestDispatcher_Outcomes: a dead token unregisters its device, a
// permanent failure drops the entry, a transient one is retried later and
// given up after MaxAttempts.
func TestDispatcher_Outcomes(t *testing.T) {
	w := newWorld(t)
	dead := w.device(t, "GCM", "dead")
	perm := w.device(t, "GCM", "perm")
	flaky := w.device(t, "GCM", "flaky")
	ok := w.device(t, "APNS_SANDBOX", "ok")
	r := &recorder{answer: map[string]error{
		"dead":  fmt.Errorf("gone: %w", push.ErrDeadToken),
		"perm":  push.Permanent(fmt.Errorf("refused")),
		"flaky": fmt.Errorf("503"),
	}}
	clock := synctest.NewClock(time.Now().Add(time.Hour))
	d, err := push.New(push.Config{Store: w.st, Notifier: r, Owner: "a", Now: clock.Now, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	w.write(t, "")
	if err := d.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if w.exists(t, dead) || !w.exists(t, perm) || !w.exists(t, flaky) || !w.exists(t, ok) {
		t.Fatal("only the dead token's device is unregistered")
	}
	if got := r.sent(); len(got) != 1 || got[0].DeviceID != ok {
		t.Fatalf("sent %+v", got)
	}
	if n := w.depth(t); n != 1 { // flaky's, waiting for its retry
		t.Fatalf("depth %d, want 1", n)
	}
	for range 2 {
		clock.Advance(10 * time.Minute) // past any backoff
		if err := d.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.depth(t); n != 0 {
		t.Fatalf("after MaxAttempts the entry is dropped; depth %d", n)
	}
	// The next change still reaches the device whose notification failed.
	delete(r.answer, "flaky")
	w.write(t, "")
	if err := d.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := r.sent(); len(got) != 3 || (got[1].DeviceID != flaky && got[2].DeviceID != flaky) {
		t.Fatalf("after recovery: %+v", got)
	}
}

// TestDispatcher_NoNotifier keeps entries queued and only reports them.
func TestDispatcher_NoNotifier(t *testing.T) {
	w := newWorld(t)
	w.device(t, "GCM", "g")
	w.write(t, "")
	d := dispatcher(t, w.st, nil, "a", later)
	if err := d.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := w.depth(t); n != 1 {
		t.Fatalf("depth %d, want 1", n)
	}
}

func syncapiEntry(platform, token string) syncapi.PushEntry {
	return syncapi.PushEntry{Key: syncapi.DatasetKey{PoolID: "p", IdentityID: "i", Name: "d"}, DeviceID: "x", Platform: platform, Token: token, SyncCount: 1}
}

// TestDispatcher_RacingWritersLoseNothing: writers race each other and a
// dispatcher that keeps flushing; each device's notifications carry
// strictly increasing counts, and the last one the final count (a change
// that lands between a send and its acknowledgement is not lost), on both
// stores.
func TestDispatcher_RacingWritersLoseNothing(t *testing.T) {
	for name, open := range synctest.Stores() {
		t.Run(name, func(t *testing.T) {
			w := newWorldOn(t, open(t))
			devices := []string{w.device(t, "GCM", "g"), w.device(t, "APNS", "a")}
			r := &recorder{}
			// The real clock, as the store's: an entry acknowledged while
			// a change came in restarts its window at Now.
			d, err := push.New(push.Config{Store: w.st, Notifier: r, Owner: "a", Coalesce: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			flushed := make(chan error, 1)
			go func() {
				for {
					select {
					case <-done:
						flushed <- nil
						return
					default:
					}
					if err := d.Flush(context.Background()); err != nil {
						flushed <- err
						return
					}
				}
			}()
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 10 {
						v := syncapi.NewUUID()
						if _, err := w.s.UpdateRecords(context.Background(), syncapi.UpdateRequest{Key: w.key, By: "w", Now: t0,
							Changes: []syncapi.Change{{Key: "k", Value: &v}}}); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(done)
			if err := <-flushed; err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for w.depth(t) != 0 { // the last window closes within a millisecond
				if err := d.Flush(t.Context()); err != nil {
					t.Fatal(err)
				}
				if time.Now().After(deadline) {
					t.Fatalf("queue not drained: depth %d", w.depth(t))
				}
			}
			st, err := w.s.GetDataset(t.Context(), w.key)
			if err != nil {
				t.Fatal(err)
			}
			last := map[string]int64{}
			for _, n := range r.sent() {
				if n.SyncCount <= last[n.DeviceID] {
					t.Errorf("device %s got count %d after %d", n.DeviceID, n.SyncCount, last[n.DeviceID])
				}
				last[n.DeviceID] = n.SyncCount
			}
			for _, id := range devices {
				if last[id] != st.SyncCount {
					t.Errorf("device %s last notified of %d, the dataset is at %d", id, last[id], st.SyncCount)
				}
			}
			if w.depth(t) != 0 {
				t.Errorf("depth %d", w.depth(t))
			}
		})
	}
}
