package push_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/push"
)

// fakeSNS speaks SNS' query protocol (form-encoded Action requests, XML
// answers and errors) for CreatePlatformEndpoint and Publish.
type fakeSNS struct {
	mu        sync.Mutex
	endpoints map[string]string // endpoint ARN -> app|token
	disabled  map[string]bool   // tokens whose endpoint is disabled
	published []map[string]string
	bad       []string
}

func (f *fakeSNS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := r.ParseForm(); err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
		!strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") || r.Form.Get("Version") != "2010-03-31" {
		f.bad = append(f.bad, fmt.Sprintf("%v %s", r.Header, r.Form))
	}
	w.Header().Set("Content-Type", "text/xml")
	switch r.Form.Get("Action") {
	case "CreatePlatformEndpoint":
		app, token := r.Form.Get("PlatformApplicationArn"), r.Form.Get("Token")
		platform := strings.Split(app, "/")[1]
		arn := "arn:aws:sns:us-east-1:123456789012:endpoint/" + platform + "/syncd-test/" + token
		f.endpoints[arn] = app + "|" + token
		fmt.Fprintf(w, `<CreatePlatformEndpointResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><CreatePlatformEndpointResult><EndpointArn>%s</EndpointArn></CreatePlatformEndpointResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></CreatePlatformEndpointResponse>`, arn)
	case "Publish":
		target := r.Form.Get("TargetArn")
		at, ok := f.endpoints[target]
		switch {
		case !ok:
			snsError(w, 404, "NotFound", "Endpoint does not exist")
			return
		case f.disabled[strings.SplitN(at, "|", 2)[1]]:
			snsError(w, 400, "EndpointDisabled", "Endpoint is disabled")
			return
		}
		f.published = append(f.published, map[string]string{"TargetArn": target, "Message": r.Form.Get("Message"),
			"MessageStructure": r.Form.Get("MessageStructure")})
		fmt.Fprint(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m1</MessageId></PublishResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></PublishResponse>`)
	default:
		snsError(w, 400, "InvalidAction", "unknown action")
	}
}

func snsError(w http.ResponseWriter, status int, code, msg string) {
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>r3</RequestId></ErrorResponse>`, code, msg)
}

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
	f := &fakeSNS{endpoints: map[string]string{}, disabled: map[string]bool{"disabled-token": true}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	w := newWorld(t)
	d := dispatcher(t, w.st, push.NewSNS(snsClient(srv.URL)), "a", later)

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
		if e.DeviceID == gcm && e.Endpoint != "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/syncd-test/gcm-token" {
			t.Errorf("the endpoint RegisterDevice created is not kept: %+v", e)
		}
	}
	if err := d.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bad) > 0 {
		t.Errorf("requests off the SNS wire: %v", f.bad)
	}
	if len(f.published) != 2 {
		t.Fatalf("published %+v, want the GCM and APNS devices'", f.published)
	}
	byTarget := map[string]map[string]string{}
	for _, p := range f.published {
		byTarget[p["TargetArn"]] = p
	}
	for platform, token := range map[string]string{"GCM": "gcm-token", "APNS": "apns-token"} {
		p := byTarget["arn:aws:sns:us-east-1:123456789012:endpoint/"+platform+"/syncd-test/"+token]
		if p == nil || p["MessageStructure"] != "json" {
			t.Errorf("%s: %+v", platform, p)
			continue
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(p["Message"]), &m); err != nil {
			t.Fatalf("Message %s: %v", p["Message"], err)
		}
		want, _ := push.Message(platform, w.key, count)
		if m[platform] != string(want) || m["default"] == "" {
			t.Errorf("%s message %s, want %s under %q", platform, p["Message"], want, platform)
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
	f := &fakeSNS{endpoints: map[string]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	w := newWorld(t)
	w.device(t, "ADM", "adm-token")
	if _, err := w.s.UpdatePool(t.Context(), w.key.PoolID, func(p *syncapi.Pool) error {
		p.PushSync.ApplicationArns = synctest.PushApplicationArns[:1]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	w.write(t, "")
	if err := dispatcher(t, w.st, push.NewSNS(snsClient(srv.URL)), "a", later).Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if w.depth(t) != 0 || len(f.published) != 0 {
		t.Errorf("depth %d, published %v", w.depth(t), f.published)
	}
}
