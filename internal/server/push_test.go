package server_test

import (
	"errors"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsv1 "github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/retry"
	"github.com/cognitosync/cognitosync/internal/server"
	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/push"
)

// pushUser is one identity of a push-enabled pool, with its client.
type pushUser struct {
	pool, id string
	c        *cognitosync.CognitoSync
}

// pushSetup starts a server that pushes through a webhook receiver, with
// one pool whose push sync is configured and one identity.
func pushSetup(t *testing.T, coalesce time.Duration) (*server.Server, *synctest.PushReceiver, pushUser) {
	t.Helper()
	rcv := synctest.NewPushReceiver(t, "push-secret")
	c := config(t)
	c.Pools = []string{synctest.PoolID()}
	c.Push = server.Push{Via: server.PushViaWebhook, Webhook: rcv.URL, WebhookSecret: "push-secret", Coalesce: coalesce}
	srv := start(t, c)
	synctest.EnablePush(t, dev(t, srv), c.Pools[0])
	idn := synctest.NewIdentityAt(t, srv.Endpoint(), c.Pools[0])
	return srv, rcv, pushUser{c.Pools[0], idn.ID, synctest.SyncV1(t, srv.Endpoint(), idn.V1())}
}

func (u pushUser) register(t *testing.T, platform, token string) string {
	t.Helper()
	out, err := u.c.RegisterDevice(&cognitosync.RegisterDeviceInput{IdentityPoolId: awsv1.String(u.pool),
		IdentityId: awsv1.String(u.id), Platform: awsv1.String(platform), Token: awsv1.String(token)})
	if err != nil {
		t.Fatalf("RegisterDevice %s: %v", platform, err)
	}
	return awsv1.StringValue(out.DeviceId)
}

func (u pushUser) subscribe(t *testing.T, dataset, device string) {
	t.Helper()
	if _, err := u.c.SubscribeToDataset(&cognitosync.SubscribeToDatasetInput{IdentityPoolId: awsv1.String(u.pool),
		IdentityId: awsv1.String(u.id), DatasetName: awsv1.String(dataset), DeviceId: awsv1.String(device)}); err != nil {
		t.Fatalf("SubscribeToDataset: %v", err)
	}
}

// write puts key=value from device (a ListRecords for the session token and
// the key's count first) and returns the dataset's sync count after it.
func (u pushUser) write(t *testing.T, dataset, device, key, value string) int64 {
	t.Helper()
	ls, err := u.c.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: awsv1.String(u.pool),
		IdentityId: awsv1.String(u.id), DatasetName: awsv1.String(dataset)})
	if err != nil {
		t.Fatal(err)
	}
	var count int64
	for _, r := range ls.Records {
		if awsv1.StringValue(r.Key) == key {
			count = awsv1.Int64Value(r.SyncCount)
		}
	}
	in := &cognitosync.UpdateRecordsInput{IdentityPoolId: awsv1.String(u.pool), IdentityId: awsv1.String(u.id),
		DatasetName: awsv1.String(dataset), SyncSessionToken: ls.SyncSessionToken,
		RecordPatches: []*cognitosync.RecordPatch{{Op: awsv1.String("replace"), Key: awsv1.String(key), Value: awsv1.String(value),
			SyncCount: awsv1.Int64(count)}}}
	if device != "" {
		in.DeviceId = awsv1.String(device)
	}
	out, err := u.c.UpdateRecords(in)
	if err != nil {
		t.Fatalf("UpdateRecords: %v", err)
	}
	return awsv1.Int64Value(out.Records[0].SyncCount)
}

// drained waits until the store's push queue is empty: every notification
// was delivered or given up.
func drained(t *testing.T, srv *server.Server) {
	t.Helper()
	q := srv.Store().(syncapi.PushQueue)
	waitFor(t, "an empty push queue", func() bool {
		n, _, err := q.PushStats(t.Context())
		return err == nil && n == 0
	})
}

// TestPush_WebhookNotifiesOtherDevices is the path an app sees: devices
// registered as GCM and APNS subscribe to a dataset, another device of the
// same identity writes, and the webhook receives exactly one notification
// per subscribed device, none for the writer, with spec F.4's payload.
func TestPush_WebhookNotifiesOtherDevices(t *testing.T) {
	srv, rcv, u := pushSetup(t, 100*time.Millisecond)
	gcm := u.register(t, "GCM", "gcm-token")
	apns := u.register(t, "APNS", "apns-token")
	writer := u.register(t, "GCM", "writer-token")
	if again := u.register(t, "GCM", "gcm-token"); again != gcm {
		t.Errorf("the same token registered again got %s, want %s (spec F.2)", again, gcm)
	}
	u.write(t, "settings", writer, "theme", "light") // creates the dataset; nobody subscribed yet
	for _, d := range []string{gcm, apns, writer} {
		u.subscribe(t, "settings", d)
	}
	count := u.write(t, "settings", writer, "theme", "dark")

	bs := rcv.WaitFor(t, 20*time.Second, "two notifications", func(bs []push.WebhookBody) bool { return len(bs) >= 2 })
	drained(t, srv)
	bs = rcv.Bodies()
	if len(bs) != 2 {
		t.Fatalf("want one notification per other device, got %+v", bs)
	}
	got := map[string]push.WebhookBody{}
	for _, b := range bs {
		got[b.DeviceID] = b
		synctest.WantPushMessage(t, b)
	}
	for id, want := range map[string]struct{ platform, token string }{gcm: {"GCM", "gcm-token"}, apns: {"APNS", "apns-token"}} {
		b, ok := got[id]
		if !ok {
			t.Errorf("no notification for %s device %s: %+v", want.platform, id, bs)
			continue
		}
		if b.Platform != want.platform || b.Token != want.token || b.IdentityPoolID != u.pool || b.IdentityID != u.id ||
			b.DatasetName != "settings" || b.SyncCount != count {
			t.Errorf("notification %+v, want %s %s count %d", b, want.platform, want.token, count)
		}
	}
	if _, ok := got[writer]; ok {
		t.Errorf("the writer was notified of its own change: %+v", got[writer])
	}
	if bad := rcv.Bad(); len(bad) > 0 {
		t.Errorf("requests that broke the webhook contract: %v", bad)
	}
	m := synctest.Metric(srv.Endpoint()+"/metrics", metricnames.MetricPushNotifications, `backend="webhook"`, `platform="GCM"`, `outcome="ok"`)
	if m != 1 {
		t.Errorf("%s{webhook,GCM,ok} = %v, want 1", metricnames.MetricPushNotifications, m)
	}

	// A developer write (no device) notifies all three.
	dctx := srv.AsDeveloper(t.Context())
	ls, err := srv.Service().ListRecords(dctx, syncapi.ListRecordsInput{IdentityPoolID: u.pool, IdentityID: u.id, DatasetName: "settings"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Service().UpdateRecords(dctx, syncapi.UpdateRecordsInput{IdentityPoolID: u.pool, IdentityID: u.id,
		DatasetName: "settings", SyncSessionToken: ls.SyncSessionToken,
		RecordPatches: []syncapi.RecordPatch{{Op: syncapi.OpReplace, Key: "k", Value: awsv1.String("v")}}}); err != nil {
		t.Fatal(err)
	}
	srv.Notify()
	rcv.WaitFor(t, 20*time.Second, "three more", func(bs []push.WebhookBody) bool { return len(bs) >= 5 })
}

// TestPush_BurstCoalesces: five writes within the window reach each other
// device once, with the last sync count.
func TestPush_BurstCoalesces(t *testing.T) {
	srv, rcv, u := pushSetup(t, 2*time.Second)
	other := u.register(t, "APNS_SANDBOX", "sandbox-token")
	writer := u.register(t, "GCM", "writer-token")
	u.write(t, "settings", writer, "n", "0")
	u.subscribe(t, "settings", other)
	u.subscribe(t, "settings", writer)
	var last int64
	for i := range 5 {
		last = u.write(t, "settings", writer, "n", string(rune('1'+i)))
	}
	rcv.WaitFor(t, 20*time.Second, "a notification", func(bs []push.WebhookBody) bool { return len(bs) >= 1 })
	drained(t, srv)
	bs := rcv.Bodies()
	if len(bs) != 1 || bs[0].DeviceID != other || bs[0].SyncCount != last {
		t.Fatalf("want one notification with sync count %d for %s, got %+v", last, other, bs)
	}
	synctest.WantPushMessage(t, bs[0])
}

// TestPush_DeadTokenUnregisters: a webhook answering 410 Gone for a token
// unregisters its device and subscriptions; the other device still gets
// its notification, and later ones.
func TestPush_DeadTokenUnregisters(t *testing.T) {
	srv, rcv, u := pushSetup(t, 50*time.Millisecond)
	dead := u.register(t, "GCM", "dead-token")
	alive := u.register(t, "APNS", "alive-token")
	u.write(t, "settings", "", "a", "1")
	u.subscribe(t, "settings", dead)
	u.subscribe(t, "settings", alive)
	rcv.Answer("dead-token", http.StatusGone)
	u.write(t, "settings", "", "a", "2")
	rcv.WaitFor(t, 20*time.Second, "the live device's notification", func(bs []push.WebhookBody) bool { return len(bs) == 1 })
	drained(t, srv)
	_, err := u.c.UnsubscribeFromDataset(&cognitosync.UnsubscribeFromDatasetInput{IdentityPoolId: awsv1.String(u.pool),
		IdentityId: awsv1.String(u.id), DatasetName: awsv1.String("settings"), DeviceId: awsv1.String(dead)})
	var ae awserr.Error
	if !errorsAs(err, &ae) || ae.Code() != "ResourceNotFoundException" {
		t.Fatalf("Unsubscribe of the unregistered device: %v, want ResourceNotFoundException", err)
	}
	u.write(t, "settings", "", "a", "3")
	rcv.WaitFor(t, 20*time.Second, "the next notification", func(bs []push.WebhookBody) bool { return len(bs) == 2 })
	drained(t, srv)
	for _, b := range rcv.Bodies() {
		if b.DeviceID != alive {
			t.Errorf("notified %+v", b)
		}
	}
	if m := synctest.Metric(srv.Endpoint()+"/metrics", metricnames.MetricPushNotifications, `backend="webhook"`, `platform="GCM"`, `outcome="dead_token"`); m != 1 {
		t.Errorf("dead_token outcomes = %v, want 1", m)
	}
}

// TestPush_RetriesUntilDelivered: a webhook that fails with 503 gets the
// notification again, with backoff, until it accepts it.
func TestPush_RetriesUntilDelivered(t *testing.T) {
	rcv := synctest.NewPushReceiver(t, "")
	c := config(t)
	c.Pools = []string{synctest.PoolID()}
	c.Push = server.Push{Via: server.PushViaWebhook, Webhook: rcv.URL, Coalesce: 10 * time.Millisecond,
		Backoff: retryFast}
	srv := start(t, c)
	synctest.EnablePush(t, dev(t, srv), c.Pools[0])
	idn := synctest.NewIdentityAt(t, srv.Endpoint(), c.Pools[0])
	u := pushUser{c.Pools[0], idn.ID, synctest.SyncV1(t, srv.Endpoint(), idn.V1())}
	d := u.register(t, "ADM", "adm-token")
	u.write(t, "settings", "", "a", "1")
	u.subscribe(t, "settings", d)
	rcv.Answer("adm-token", http.StatusServiceUnavailable)
	count := u.write(t, "settings", "", "a", "2")
	url := srv.Endpoint() + "/metrics"
	waitFor(t, "two failed attempts", func() bool {
		return synctest.Metric(url, metricnames.MetricPushNotifications, `backend="webhook"`, `platform="ADM"`, `outcome="error"`) >= 2
	})
	rcv.Answer("adm-token", http.StatusOK)
	bs := rcv.WaitFor(t, 20*time.Second, "the delivery", func(bs []push.WebhookBody) bool { return len(bs) == 1 })
	if bs[0].SyncCount != count || bs[0].Platform != "ADM" {
		t.Errorf("delivered %+v", bs[0])
	}
	synctest.WantPushMessage(t, bs[0])
}

// TestPush_RegisterAndSubscribeErrors pins spec F.2/F.3's errors.
func TestPush_RegisterAndSubscribeErrors(t *testing.T) {
	srv, _, u := pushSetup(t, time.Second)
	code := func(err error) string {
		var ae awserr.Error
		if errorsAs(err, &ae) {
			return ae.Code()
		}
		return ""
	}
	d := u.register(t, "GCM", "t")
	_, err := u.c.SubscribeToDataset(&cognitosync.SubscribeToDatasetInput{IdentityPoolId: awsv1.String(u.pool),
		IdentityId: awsv1.String(u.id), DatasetName: awsv1.String("missing"), DeviceId: awsv1.String(d)})
	if code(err) != "ResourceNotFoundException" {
		t.Errorf("subscribe to a dataset that does not exist: %v", err)
	}
	u.write(t, "settings", "", "a", "1")
	_, err = u.c.SubscribeToDataset(&cognitosync.SubscribeToDatasetInput{IdentityPoolId: awsv1.String(u.pool),
		IdentityId: awsv1.String(u.id), DatasetName: awsv1.String("settings"), DeviceId: awsv1.String("not-a-device")})
	if code(err) != "ResourceNotFoundException" {
		t.Errorf("subscribe an unknown device: %v", err)
	}
	// A pool whose PushSync lacks the platform, and a pool without push sync.
	d2 := dev(t, srv)
	if _, err := d2.SetIdentityPoolConfiguration(&cognitosync.SetIdentityPoolConfigurationInput{IdentityPoolId: awsv1.String(u.pool),
		PushSync: &cognitosync.PushSync{ApplicationArns: awsv1.StringSlice(synctest.PushApplicationArns[:1]),
			RoleArn: awsv1.String("arn:aws:iam::123456789012:role/push")}}); err != nil {
		t.Fatal(err)
	}
	_, err = u.c.RegisterDevice(&cognitosync.RegisterDeviceInput{IdentityPoolId: awsv1.String(u.pool),
		IdentityId: awsv1.String(u.id), Platform: awsv1.String("APNS"), Token: awsv1.String("x")})
	if code(err) != "InvalidConfigurationException" {
		t.Errorf("register for a platform without an application: %v", err)
	}
	other := synctest.PoolID()
	if _, err := srv.Service().CreateIdentityPool(srv.AsDeveloper(t.Context()), syncapi.IdentityPool{IdentityPoolName: "p",
		AllowUnauthenticatedIdentities: true, IdentityPoolTags: map[string]string{syncapi.PoolIDTag: other}}); err != nil {
		t.Fatal(err)
	}
	idn := synctest.NewIdentityAt(t, srv.Endpoint(), other)
	c2 := synctest.SyncV1(t, srv.Endpoint(), idn.V1())
	_, err = c2.RegisterDevice(&cognitosync.RegisterDeviceInput{IdentityPoolId: awsv1.String(other),
		IdentityId: awsv1.String(idn.ID), Platform: awsv1.String("GCM"), Token: awsv1.String("x")})
	if code(err) != "InvalidConfigurationException" {
		t.Errorf("register in a pool without push sync: %v", err)
	}
}

// TestNew_BadPushConfiguration: a backend that cannot work is a start-up
// error that says what is missing.
func TestNew_BadPushConfiguration(t *testing.T) {
	for _, tc := range []struct {
		p    server.Push
		want string
	}{
		{server.Push{Via: "carrier-pigeon"}, "Push.Via must be sns, direct, webhook or none"},
		{server.Push{Via: server.PushViaWebhook}, "push via webhook needs Push.Webhook"},
		{server.Push{Via: server.PushViaWebhook, Webhook: "ftp://x"}, "want an http:// or https:// URL"},
		{server.Push{Via: server.PushViaDirect}, "push via direct needs FCM credentials, an APNs key or both"},
		{server.Push{Via: server.PushViaDirect, FCMCredentials: "/nonexistent/sa.json"}, "read the FCM service account file"},
		{server.Push{Via: server.PushViaDirect, APNsKey: "/nonexistent/key.p8"}, "read the APNs key file"},
		{server.Push{Via: server.PushViaSNS}, "push via sns needs an AWS configuration"},
	} {
		c := config(t)
		c.Push = tc.p
		_, err := server.New(t.Context(), c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.p, err, tc.want)
		}
	}
}

// retryFast retries within milliseconds, for tests of retries.
var retryFast = retry.Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// TestPush_SteadyWritesStillNotify: writes that never pause for a whole
// window still notify the other device about once per window (a write
// brings the dispatcher's next round forward, never postpones it), never
// more often.
func TestPush_SteadyWritesStillNotify(t *testing.T) {
	const window = 300 * time.Millisecond
	srv, rcv, u := pushSetup(t, window)
	other := u.register(t, "GCM", "other")
	writer := u.register(t, "APNS", "writer")
	u.write(t, "settings", writer, "n", "0")
	u.subscribe(t, "settings", other)
	start := time.Now()
	deadline := start.Add(20 * time.Second)
	for i := 0; len(rcv.Bodies()) < 3; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("steady writes for 20 s got %d notifications", len(rcv.Bodies()))
		}
		u.write(t, "settings", writer, "n", string(rune('a'+i%26)))
	}
	elapsed := time.Since(start)
	drained(t, srv)
	bs := rcv.Bodies()
	if max := int(elapsed/window) + 2; len(bs) > max {
		t.Errorf("%d notifications in %v, more than one per %v window", len(bs), elapsed, window)
	}
	for i := 1; i < len(bs); i++ {
		if bs[i].SyncCount <= bs[i-1].SyncCount || bs[i].DeviceID != other {
			t.Errorf("notification %d: %+v after %+v", i, bs[i], bs[i-1])
		}
	}
}

// TestPush_SNSEndToEnd: with --push-via sns, RegisterDevice creates the
// device's platform endpoint of the pool's application for its platform
// (aws-sdk-go-v2's SNS client against a server speaking SNS' query
// protocol), and a change is published to the other devices' endpoints
// with MessageStructure json; a disabled endpoint unregisters its device.
func TestPush_SNSEndToEnd(t *testing.T) {
	f := synctest.NewSNS(t)
	c := config(t)
	c.Pools = []string{synctest.PoolID()}
	c.AWS = &aws.Config{Region: synctest.Region, Credentials: synctest.StaticV2("AKIDSNS", "sns-secret", "")}
	c.Push = server.Push{Via: server.PushViaSNS, SNSEndpoint: f.URL, Coalesce: 50 * time.Millisecond}
	srv := start(t, c)
	synctest.EnablePush(t, dev(t, srv), c.Pools[0])
	idn := synctest.NewIdentityAt(t, srv.Endpoint(), c.Pools[0])
	u := pushUser{c.Pools[0], idn.ID, synctest.SyncV1(t, srv.Endpoint(), idn.V1())}
	gcm := u.register(t, "GCM", "gcm-token")
	u.register(t, "APNS_SANDBOX", "sandbox-token")
	writer := u.register(t, "APNS", "writer-token")
	dead := u.register(t, "GCM", "dead-token")
	if got, want := f.Created(), []string{
		synctest.PushApplicationArns[0] + "|gcm-token", synctest.PushApplicationArns[2] + "|sandbox-token",
		synctest.PushApplicationArns[1] + "|writer-token", synctest.PushApplicationArns[0] + "|dead-token",
	}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("CreatePlatformEndpoint calls %v, want %v", got, want)
	}
	u.write(t, "settings", writer, "a", "1")
	for _, d := range []string{gcm, writer, dead} {
		u.subscribe(t, "settings", d)
	}
	f.Disable("dead-token")
	count := u.write(t, "settings", writer, "a", "2")
	drained(t, srv)
	ps := f.Published()
	if len(ps) != 1 || ps[0].TargetArn != f.EndpointArn("GCM", "gcm-token") || ps[0].MessageStructure != "json" {
		t.Fatalf("published %+v, want one to the GCM device", ps)
	}
	want, _ := push.Message("GCM", syncapi.DatasetKey{PoolID: u.pool, IdentityID: u.id, Name: "settings"}, count)
	if !strings.Contains(ps[0].Message, strconv.Quote(string(want))) {
		t.Errorf("message %s does not carry %s", ps[0].Message, want)
	}
	_, err := u.c.SubscribeToDataset(&cognitosync.SubscribeToDatasetInput{IdentityPoolId: awsv1.String(u.pool),
		IdentityId: awsv1.String(u.id), DatasetName: awsv1.String("settings"), DeviceId: awsv1.String(dead)})
	var ae awserr.Error
	if !errorsAs(err, &ae) || ae.Code() != "ResourceNotFoundException" {
		t.Errorf("the disabled endpoint's device is still registered: %v", err)
	}
	if bad := f.Bad(); len(bad) > 0 {
		t.Errorf("requests off the SNS wire: %v", bad)
	}
}
