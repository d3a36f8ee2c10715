package push_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/push"
)

func snsClient(url string) *sns.Client {
	return sns.New(sns.Options{Region: synctest.Region, BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: synctest.StaticV2("AKIDSNS", "sns-secret", "")})
}

// TestSNS_EndpointsPublishAndDisabled: the official SNS client against a
// server speaking SNS' query protocol. RegisterDevice creates the platform
// endpoint of the pool's application for the device's platform and keeps
// it; a device without one gets it before its first notification; Publish
// sends MessageStructure json with the framed payload under the platform's
// key; EndpointDisabled unregisters the device.
func TestSNS_EndpointsPublishAndDisabled(t *testing.T) {
	f := synctest.NewSNS(t)
	f.Disable("disabled-token")
	w := newWorld(t)
	d := dispatcher(t, w.st, push.NewSNS(snsClient(f.URL)), "a", later)

	gcm := w.device(t, "GCM", "gcm-token")
	pool, err := w.s.GetPool(t.Context(), w.key.PoolID)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.RegisterDevice(t.Context(), pool, w.key.IdentityID, gcm, "GCM", "gcm-token"); err != nil {
		t.Fatal(err)
	}
	apns := w.device(t, "APNS", "apns-token") // registered before: no endpoint yet
	disabled := w.device(t, "APNS_SANDBOX", "disabled-token")
	count := w.write(t, "")
	es, err := w.st.DuePush(t.Context(), later(), later(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.DeviceID == gcm && e.Endpoint != f.EndpointArn("GCM", "gcm-token") {
			t.Errorf("the endpoint RegisterDevice created is not kept: %+v", e)
		}
	}
	if err := d.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if bad := f.Bad(); len(bad) > 0 {
		t.Errorf("requests off the SNS wire: %v", bad)
	}
	published := f.Published()
	if len(published) != 2 {
		t.Fatalf("published %+v, want the GCM and APNS devices'", published)
	}
	byTarget := map[string]synctest.SNSPublish{}
	for _, p := range published {
		byTarget[p.TargetArn] = p
	}
	for platform, token := range map[string]string{"GCM": "gcm-token", "APNS": "apns-token"} {
		p, ok := byTarget[f.EndpointArn(platform, token)]
		if !ok || p.MessageStructure != "json" {
			t.Errorf("%s: %+v", platform, p)
			continue
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(p.Message), &m); err != nil {
			t.Fatalf("Message %s: %v", p.Message, err)
		}
		want, _ := push.Message(platform, w.key, count)
		if m[platform] != string(want) || m["default"] == "" {
			t.Errorf("%s message %s, want %s under %q", platform, p.Message, want, platform)
		}
	}
	if w.exists(t, disabled) || !w.exists(t, apns) {
		t.Error("EndpointDisabled unregisters that device only")
	}
	if w.depth(t) != 0 {
		t.Error("the queue is not empty")
	}
}

// TestSNS_PlatformWithoutApplication: an entry for a platform the pool has
// no application for is dropped, not retried forever.
func TestSNS_PlatformWithoutApplication(t *testing.T) {
	f := synctest.NewSNS(t)
	w := newWorld(t)
	w.device(t, "ADM", "adm-token")
	if _, err := w.s.UpdatePool(t.Context(), w.key.PoolID, func(p *syncapi.Pool) error {
		p.PushSync.ApplicationArns = synctest.PushApplicationArns[:1]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	w.write(t, "")
	if err := dispatcher(t, w.st, push.NewSNS(snsClient(f.URL)), "a", later).Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if w.depth(t) != 0 || len(f.Published()) != 0 {
		t.Errorf("depth %d, published %v", w.depth(t), f.Published())
	}
}
