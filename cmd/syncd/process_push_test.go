package main_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	awsv1 "github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/push"
)

// pushIdentity is an identity of a push-enabled pool on a running syncd,
// with devices registered and subscribed to dataset "settings".
type pushIdentity struct {
	pool, id string
	devices  map[string]string // device id -> token
}

// pushIdentityAt configures push sync on pool, gets an identity and
// registers one device per token (platform GCM for even, APNS for odd
// indexes), creating and subscribing the dataset; the writer's device is
// the first.
func pushIdentityAt(t *testing.T, endpoint, pool string, tokens ...string) (pushIdentity, synctest.Identity, []string) {
	t.Helper()
	synctest.EnablePush(t, devSync(t, endpoint), pool)
	idn := newIdentity(t, endpoint, pool)
	c := syncClient(t, endpoint, idn.V1())
	pi := pushIdentity{pool: pool, id: idn.ID, devices: map[string]string{}}
	var ids []string
	for i, tok := range tokens {
		platform := "GCM"
		if i%2 == 1 {
			platform = "APNS"
		}
		out, err := c.RegisterDevice(&cognitosync.RegisterDeviceInput{IdentityPoolId: awsv1.String(pool), IdentityId: awsv1.String(idn.ID),
			Platform: awsv1.String(platform), Token: awsv1.String(tok)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *out.DeviceId)
		pi.devices[*out.DeviceId] = tok
	}
	pushWrite(t, c, pool, idn.ID, ids[0], 0)
	for _, d := range ids {
		if _, err := c.SubscribeToDataset(&cognitosync.SubscribeToDatasetInput{IdentityPoolId: awsv1.String(pool), IdentityId: awsv1.String(idn.ID),
			DatasetName: awsv1.String("settings"), DeviceId: awsv1.String(d)}); err != nil {
			t.Fatal(err)
		}
	}
	return pi, idn, ids
}

// pushWrite writes key n from device, whose current count is count, and
// returns the new count.
func pushWrite(t *testing.T, c *cognitosync.CognitoSync, pool, id, device string, count int64) int64 {
	t.Helper()
	in := updateInput(pool, id, "settings", token(t, c, pool, id, "settings"), replace("n", fmt.Sprint(count), count))
	in.DeviceId = awsv1.String(device)
	out, err := c.UpdateRecords(in)
	if err != nil {
		t.Fatal(err)
	}
	return *out.Records[0].SyncCount
}

// TestProcess_PushSurvivesSIGKILL: a write acknowledged just before syncd is
// killed with SIGKILL (its notifications committed, not yet sent: the
// coalescing window is still open) reaches every other subscribed device
// once syncd runs again on the same data, and the writer is not notified.
func TestProcess_PushSurvivesSIGKILL(t *testing.T) {
	rcv := synctest.NewPushReceiver(t, "kill-secret")
	data := t.TempDir()
	pool := synctest.PoolID()
	args := []string{"--data", data, "--pool", pool, "--push-via", "webhook", "--push-webhook", rcv.URL,
		"--push-webhook-secret", "kill-secret", "--push-coalesce", "5s"}
	p := startSyncd(t, args...)
	pi, idn, ids := pushIdentityAt(t, p.Endpoint, pool, "writer", "apns-1", "gcm-2")
	c := syncClient(t, p.Endpoint, idn.V1())
	count := pushWrite(t, c, pool, pi.id, ids[0], 1)
	p.kill()
	if bs := rcv.Bodies(); len(bs) != 0 {
		t.Fatalf("sent before the window closed: %+v", bs)
	}

	p2 := startSyncd(t, args...)
	bs := rcv.WaitFor(t, 30*time.Second, "both notifications", func(bs []push.WebhookBody) bool { return len(bs) >= 2 })
	waitQueueEmpty(t, p2.Endpoint)
	bs = rcv.Bodies()
	if len(bs) != 2 {
		t.Fatalf("want one notification per other device, got %+v", bs)
	}
	seen := map[string]bool{}
	for _, b := range bs {
		if b.DeviceID == ids[0] || seen[b.DeviceID] || pi.devices[b.DeviceID] != b.Token || b.SyncCount != count {
			t.Errorf("notification %+v (writer %s, count %d)", b, ids[0], count)
		}
		seen[b.DeviceID] = true
		synctest.WantPushMessage(t, b)
	}
	if bad := rcv.Bad(); len(bad) > 0 {
		t.Errorf("requests off the webhook contract: %v", bad)
	}
}

// waitQueueEmpty waits for syncd's push queue gauge to read 0.
func waitQueueEmpty(t *testing.T, endpoint string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for synctest.Metric(endpoint+"/metrics", "cognitosync_push_queue_depth") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the push queue did not drain within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestProcess_PushTwoReplicasOneKilled: two syncd on one PostgreSQL store.
// The one holding the push lease is killed with SIGKILL; writes keep coming
// through the other, which takes the lease over and sends. Every burst
// reaches every other device, none twice, with the burst's last count.
func TestProcess_PushTwoReplicasOneKilled(t *testing.T) {
	rcv := synctest.NewPushReceiver(t, "")
	url := synctest.PostgresURL(t)
	pool := synctest.PoolID()
	args := []string{"--store", url, "--pool", pool, "--push-via", "webhook", "--push-webhook", rcv.URL,
		"--push-coalesce", "2s", "--push-lease-ttl", "3s"}
	a, b := startSyncd(t, args...), startSyncd(t, args...)
	pi, idn, ids := pushIdentityAt(t, b.Endpoint, pool, "writer", "apns-1", "gcm-2", "apns-3")
	ca, cb := syncClient(t, a.Endpoint, idn.V1()), syncClient(t, b.Endpoint, idn.V1())

	// Burst 1: writes through both replicas; one notification per other
	// device with the last count.
	count := pushWrite(t, ca, pool, pi.id, ids[0], 1)
	count = pushWrite(t, cb, pool, pi.id, ids[0], count)
	rcv.WaitFor(t, 30*time.Second, "burst 1", func(bs []push.WebhookBody) bool { return lastCounts(bs, count) == 3 })
	waitQueueEmpty(t, b.Endpoint)

	// Kill the lease holder; write through the other.
	owner, _, _, found, err := synctest.Open(t, url).(syncapi.Leases).LeaseData(t.Context(), push.DispatcherLease)
	if err != nil || !found {
		t.Fatalf("no push lease after burst 1: %v", err)
	}
	if strings.Contains(owner, fmt.Sprintf("/%d/", b.cmd.Process.Pid)) {
		a, b, ca, cb = b, a, cb, ca
	}
	if !strings.Contains(owner, fmt.Sprintf("/%d/", a.cmd.Process.Pid)) {
		t.Fatalf("lease owner %q is neither syncd", owner)
	}
	a.kill()
	count = pushWrite(t, cb, pool, pi.id, ids[0], count)
	count = pushWrite(t, cb, pool, pi.id, ids[0], count)
	rcv.WaitFor(t, 30*time.Second, "burst 2 after the kill", func(bs []push.WebhookBody) bool { return lastCounts(bs, count) == 3 })
	waitQueueEmpty(t, b.Endpoint)

	seen := map[string]bool{}
	for _, x := range rcv.Bodies() {
		k := fmt.Sprint(x.DeviceID, x.SyncCount)
		if x.DeviceID == ids[0] || seen[k] {
			t.Errorf("notification %+v sent twice or to the writer", x)
		}
		seen[k] = true
	}
	if n := len(rcv.Bodies()); n > 6 {
		t.Errorf("%d notifications for two bursts to three devices", n)
	}
}

// lastCounts counts the devices notified of count.
func lastCounts(bs []push.WebhookBody, count int64) int {
	devices := map[string]bool{}
	for _, b := range bs {
		if b.SyncCount == count {
			devices[b.DeviceID] = true
		}
	}
	return len(devices)
}

// TestProcess_PushBadBackendStopsStartUp: a push backend that cannot work
// stops syncd at start-up (exit 1) with an error naming what to fix.
func TestProcess_PushBadBackendStopsStartUp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--push-via", "webhook"}, "--push-via webhook needs --push-webhook URL"},
		{[]string{"--push-via", "direct", "--fcm-credentials", "/nonexistent/firebase.json"}, "read the FCM service account file"},
		{[]string{"--push-via", "direct", "--apns-key", "/nonexistent/AuthKey.p8", "--apns-key-id", "K", "--apns-team-id", "T", "--apns-topic", "com.example"}, "read the APNs key file"},
		{[]string{"--push-webhook", "http://127.0.0.1:1/"}, "--push-webhook is set but --push-via is sns"},
	} {
		code, out := runToExit(t, nil, append([]string{"--listen", "127.0.0.1:0", "--data", t.TempDir(), "--developer-key", devKeyID + ":" + devSecret}, tc.args...)...)
		if code != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("syncd %v: exit %d, want 1 and %q:\n%s", tc.args, code, tc.want, out)
		}
	}
}

// TestProcess_PushWebhook is the app's path through the syncd binary with
// nothing but --push-via webhook --push-webhook URL: devices registered as
// GCM and APNS subscribe, another device of the identity writes, and the
// webhook receives exactly one notification per subscribed device, none for
// the writer, with spec F.4's payload.
func TestProcess_PushWebhook(t *testing.T) {
	rcv := synctest.NewPushReceiver(t, "")
	pool := synctest.PoolID()
	p := startSyncd(t, "--pool", pool, "--push-via", "webhook", "--push-webhook", rcv.URL)
	pi, idn, ids := pushIdentityAt(t, p.Endpoint, pool, "writer-gcm", "apns-token", "gcm-token")
	c := syncClient(t, p.Endpoint, idn.V1())
	count := pushWrite(t, c, pool, pi.id, ids[0], 1)
	rcv.WaitFor(t, 30*time.Second, "two notifications", func(bs []push.WebhookBody) bool { return len(bs) >= 2 })
	waitQueueEmpty(t, p.Endpoint)
	bs := rcv.Bodies()
	if len(bs) != 2 {
		t.Fatalf("want one notification per other device, got %+v", bs)
	}
	platforms := map[string]bool{}
	for _, b := range bs {
		if b.DeviceID == ids[0] || pi.devices[b.DeviceID] != b.Token || b.SyncCount != count || b.DatasetName != "settings" ||
			b.IdentityPoolID != pool || b.IdentityID != pi.id {
			t.Errorf("notification %+v (writer %s, count %d)", b, ids[0], count)
		}
		platforms[b.Platform] = true
		synctest.WantPushMessage(t, b)
	}
	if !platforms["GCM"] || !platforms["APNS"] {
		t.Errorf("platforms %v, want GCM and APNS", platforms)
	}
}
