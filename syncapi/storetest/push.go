package storetest

import (
	"sort"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

// pushTests are the push queue tests (spec F.4); Run includes them. Each
// skips when the store lacks syncapi.PushQueue.
var pushTests = []struct {
	name string
	fn   func(t *testing.T, s syncapi.Store)
}{
	{"Push_WriterExcluded", testPushWriterExcluded},
	{"Push_Coalesce", testPushCoalesce},
	{"Push_RetryAndDrop", testPushRetry},
	{"Push_DeleteDataset", testPushDeleteDataset},
	{"Push_UnregisterDevice", testPushUnregister},
	{"Push_RejectedUpdateQueuesNothing", testPushRejected},
}

func pushQueue(t *testing.T, s syncapi.Store) syncapi.PushQueue {
	t.Helper()
	q, ok := s.(syncapi.PushQueue)
	if !ok {
		t.Skipf("%T does not implement syncapi.PushQueue", s)
	}
	return q
}

// far is a time after every entry the suite queues.
var far = time.Now().Add(24 * time.Hour)

// duePush returns the due entries of pool, ordered by device id.
func duePush(t testing.TB, q syncapi.PushQueue, pool string, now time.Time) []syncapi.PushEntry {
	t.Helper()
	es, err := q.DuePush(ctx(t), far, now, 0)
	wantNoErr(t, err)
	var out []syncapi.PushEntry
	for _, e := range es {
		if e.Key.PoolID == pool {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DeviceID < out[j].DeviceID })
	return out
}

// subscribed registers devices (platform:token each, ids dev-0, dev-1, …)
// and subscribes them to k, which must exist.
func subscribed(t testing.TB, s syncapi.Store, k syncapi.DatasetKey, devices ...[2]string) []string {
	t.Helper()
	var ids []string
	for i, d := range devices {
		id, err := s.RegisterDevice(ctx(t), k.PoolID, k.IdentityID, d[0], d[1], "dev-"+string(rune('0'+i)))
		wantNoErr(t, err)
		wantNoErr(t, s.Subscribe(ctx(t), k, id))
		ids = append(ids, id)
	}
	return ids
}

func updateFrom(t testing.TB, s syncapi.Store, k syncapi.DatasetKey, device string, changes ...syncapi.Change) syncapi.UpdateResult {
	t.Helper()
	res, err := s.UpdateRecords(ctx(t), syncapi.UpdateRequest{Key: k, Changes: changes, By: "writer", Now: T0, Limits: syncapi.DefaultLimits, Device: device})
	wantNoErr(t, err)
	return res
}

func testPushWriterExcluded(t *testing.T, s syncapi.Store) {
	q := pushQueue(t, s)
	k := newDataset(t, s, "settings")
	update(t, s, k, T0, put("a", "1", 0)) // 1: nobody subscribed yet
	ids := subscribed(t, s, k, [2]string{"GCM", "gcm-token"}, [2]string{"APNS", "apns-token"}, [2]string{"GCM", "writer-token"})
	other := syncapi.DatasetKey{PoolID: k.PoolID, IdentityID: k.IdentityID, Name: "other"}
	update(t, s, other, T0, put("x", "1", 0)) // nobody subscribed to it
	if es := duePush(t, q, k.PoolID, far); len(es) != 0 {
		t.Fatalf("queued before a change of the subscribed dataset: %+v", es)
	}
	updateFrom(t, s, k, ids[2], del("never", 0)) // changes nothing: no notification
	if es := duePush(t, q, k.PoolID, far); len(es) != 0 {
		t.Fatalf("queued for an update that changed nothing: %+v", es)
	}

	n := updateFrom(t, s, k, ids[2], put("a", "2", 1)).Dataset.SyncCount // written by dev-2
	es := duePush(t, q, k.PoolID, far)
	if len(es) != 2 {
		t.Fatalf("want dev-0 and dev-1, not the writer: %+v", es)
	}
	want := []struct{ id, platform, token string }{{ids[0], "GCM", "gcm-token"}, {ids[1], "APNS", "apns-token"}}
	for i, e := range es {
		if e.Key != k || e.DeviceID != want[i].id || e.Platform != want[i].platform || e.Token != want[i].token ||
			e.SyncCount != n || e.Attempts != 0 || e.Endpoint != "" || e.Created.IsZero() {
			t.Errorf("entry %d: %+v", i, e)
		}
	}
	// The endpoint kept with a device comes with its entries.
	wantNoErr(t, q.SetDeviceEndpoint(ctx(t), k.PoolID, k.IdentityID, ids[0], "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/1"))
	if es := duePush(t, q, k.PoolID, far); es[0].Endpoint != "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/1" {
		t.Errorf("endpoint: %+v", es[0])
	}
	// A developer write (no DeviceId) notifies every subscribed device.
	n = updateFrom(t, s, k, "", put("a", "3", n)).Dataset.SyncCount
	if es := duePush(t, q, k.PoolID, far); len(es) != 3 || es[2].DeviceID != ids[2] || es[2].SyncCount != n || es[0].SyncCount != n {
		t.Fatalf("without a writer device: %+v", es)
	}
	depth, oldest, err := q.PushStats(ctx(t))
	wantNoErr(t, err)
	if depth < 3 || oldest.IsZero() {
		t.Errorf("PushStats = %d, %v", depth, oldest)
	}
}

func testPushCoalesce(t *testing.T, s syncapi.Store) {
	q := pushQueue(t, s)
	k := newDataset(t, s, "settings")
	update(t, s, k, T0, put("a", "1", 0))
	subscribed(t, s, k, [2]string{"GCM", "t0"})
	update(t, s, k, T0, put("a", "2", 1))
	first := duePush(t, q, k.PoolID, far)
	update(t, s, k, T0, put("a", "3", 2))
	update(t, s, k, T0, put("b", "1", 0))
	es := duePush(t, q, k.PoolID, far)
	if len(es) != 1 || es[0].SyncCount != 4 || es[0].Version == first[0].Version || !es[0].Created.Equal(first[0].Created) {
		t.Fatalf("burst: %+v, first %+v", es, first)
	}
	// Sent with count 2, but changes came in since: the entry stays, its
	// window restarted.
	restart := first[0].Created.Add(time.Hour)
	wantNoErr(t, q.AckPush(ctx(t), first[0], restart))
	es = duePush(t, q, k.PoolID, far)
	if len(es) != 1 || es[0].SyncCount != 4 || !es[0].Created.Equal(restart) {
		t.Fatalf("after a stale ack: %+v", es)
	}
	if got, err := q.DuePush(ctx(t), restart.Add(-time.Nanosecond), far, 0); err != nil || containsPool(got, k.PoolID) {
		t.Fatalf("due before its restarted window: %+v, %v", got, err)
	}
	wantNoErr(t, q.AckPush(ctx(t), es[0], far))
	if es := duePush(t, q, k.PoolID, far); len(es) != 0 {
		t.Fatalf("after the ack: %+v", es)
	}
	update(t, s, k, T0, put("a", "4", 3)) // a new burst: a new entry
	if es := duePush(t, q, k.PoolID, far); len(es) != 1 || es[0].SyncCount != 5 {
		t.Fatalf("next burst: %+v", es)
	}
}

func containsPool(es []syncapi.PushEntry, pool string) bool {
	for _, e := range es {
		if e.Key.PoolID == pool {
			return true
		}
	}
	return false
}

func testPushRetry(t *testing.T, s syncapi.Store) {
	q := pushQueue(t, s)
	k := newDataset(t, s, "settings")
	update(t, s, k, T0, put("a", "1", 0))
	subscribed(t, s, k, [2]string{"GCM", "t0"}, [2]string{"ADM", "t1"})
	update(t, s, k, T0, put("a", "2", 1))
	es := duePush(t, q, k.PoolID, far)
	now := time.Now()
	wantNoErr(t, q.RetryPush(ctx(t), es[0], now.Add(time.Minute)))
	if got := duePush(t, q, k.PoolID, now); len(got) != 1 || got[0].DeviceID != es[1].DeviceID {
		t.Fatalf("a deferred entry is not due: %+v", got)
	}
	got := duePush(t, q, k.PoolID, now.Add(time.Minute))
	if len(got) != 2 || got[0].Attempts != 1 || got[1].Attempts != 0 {
		t.Fatalf("after its retry time: %+v", got)
	}
	wantNoErr(t, q.DropPush(ctx(t), got[0]))
	if got := duePush(t, q, k.PoolID, far); len(got) != 1 || got[0].DeviceID != es[1].DeviceID {
		t.Fatalf("after a drop: %+v", got)
	}
}

func testPushDeleteDataset(t *testing.T, s syncapi.Store) {
	q := pushQueue(t, s)
	k := newDataset(t, s, "settings")
	update(t, s, k, T0, put("a", "1", 0), put("b", "1", 0))
	ids := subscribed(t, s, k, [2]string{"GCM", "t0"}, [2]string{"APNS_SANDBOX", "t1"})
	_, err := s.DeleteDataset(ctx(t), k)
	wantNoErr(t, err)
	es := duePush(t, q, k.PoolID, far)
	if len(es) != 2 || es[0].DeviceID != ids[0] || es[1].DeviceID != ids[1] || es[0].SyncCount != 1 || es[1].Platform != "APNS_SANDBOX" {
		t.Fatalf("deletion: %+v", es)
	}
	// The subscriptions went with the dataset: a re-created dataset
	// notifies nobody.
	for _, e := range es {
		wantNoErr(t, q.AckPush(ctx(t), e, far))
	}
	update(t, s, k, T0, put("a", "1", 0))
	if es := duePush(t, q, k.PoolID, far); len(es) != 0 {
		t.Fatalf("after re-creation: %+v", es)
	}
}

func testPushUnregister(t *testing.T, s syncapi.Store) {
	q := pushQueue(t, s)
	k := newDataset(t, s, "settings")
	update(t, s, k, T0, put("a", "1", 0))
	ids := subscribed(t, s, k, [2]string{"GCM", "dead"}, [2]string{"GCM", "alive"})
	update(t, s, k, T0, put("a", "2", 1))
	wantNoErr(t, q.UnregisterDevice(ctx(t), k.PoolID, k.IdentityID, ids[0]))
	wantNoErr(t, q.UnregisterDevice(ctx(t), k.PoolID, k.IdentityID, "unknown")) // ignored
	if ok, err := s.DeviceExists(ctx(t), k.PoolID, k.IdentityID, ids[0]); err != nil || ok {
		t.Fatalf("DeviceExists after unregister = %v, %v", ok, err)
	}
	wantErr(t, s.Unsubscribe(ctx(t), k, ids[0]), syncapi.ErrNotFound)
	es := duePush(t, q, k.PoolID, far)
	if len(es) != 1 || es[0].DeviceID != ids[1] {
		t.Fatalf("after unregister: %+v", es)
	}
	update(t, s, k, T0, put("a", "3", 2))
	if es := duePush(t, q, k.PoolID, far); len(es) != 1 || es[0].DeviceID != ids[1] || es[0].SyncCount != 3 {
		t.Fatalf("the next change: %+v", es)
	}
	// The same token registers anew as a new device.
	id, err := s.RegisterDevice(ctx(t), k.PoolID, k.IdentityID, "GCM", "dead", "dev-new")
	wantNoErr(t, err)
	if id != "dev-new" {
		t.Errorf("re-registered token got %q, want a new id", id)
	}
}

func testPushRejected(t *testing.T, s syncapi.Store) {
	q := pushQueue(t, s)
	k := newDataset(t, s, "settings")
	update(t, s, k, T0, put("a", "1", 0))
	subscribed(t, s, k, [2]string{"GCM", "t0"})
	_, err := s.UpdateRecords(ctx(t), syncapi.UpdateRequest{Key: k, Changes: []syncapi.Change{put("a", "x", 0)}, By: "w", Now: T0})
	wantErr(t, err, syncapi.ErrConflict)
	if es := duePush(t, q, k.PoolID, far); len(es) != 0 {
		t.Fatalf("a rejected update queued: %+v", es)
	}
}
