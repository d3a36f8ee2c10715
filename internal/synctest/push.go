package synctest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	awsv1 "github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/sinks/webhook"
	"github.com/cognitosync/cognitosync/syncapi/push"
)

// PushApplicationArns are SNS platform application ARNs of every platform
// (spec F.1), for SetIdentityPoolConfiguration's PushSync.
var PushApplicationArns = []string{
	"arn:aws:sns:us-east-1:123456789012:app/GCM/syncd-test",
	"arn:aws:sns:us-east-1:123456789012:app/APNS/syncd-test",
	"arn:aws:sns:us-east-1:123456789012:app/APNS_SANDBOX/syncd-test",
	"arn:aws:sns:us-east-1:123456789012:app/ADM/syncd-test",
}

// EnablePush turns push sync on for pool through the developer client.
func EnablePush(t testing.TB, dev *cognitosync.CognitoSync, pool string) {
	t.Helper()
	if _, err := dev.SetIdentityPoolConfiguration(&cognitosync.SetIdentityPoolConfigurationInput{
		IdentityPoolId: awsv1.String(pool),
		PushSync: &cognitosync.PushSync{ApplicationArns: awsv1.StringSlice(PushApplicationArns),
			RoleArn: awsv1.String("arn:aws:iam::123456789012:role/push")},
	}); err != nil {
		t.Fatalf("SetIdentityPoolConfiguration: %v", err)
	}
}

// PushReceiver is a webhook backend endpoint (--push-via webhook) that
// records every notification, checking its signature when Secret is set.
type PushReceiver struct {
	URL    string
	Secret []byte

	mu     sync.Mutex
	bodies []push.WebhookBody
	status map[string]int // token -> status to answer (default 200)
	bad    []string       // requests that broke the contract
}

// NewPushReceiver starts a receiver until the test ends.
func NewPushReceiver(t testing.TB, secret string) *PushReceiver {
	r := &PushReceiver{status: map[string]int{}}
	if secret != "" {
		r.Secret = []byte(secret)
	}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *PushReceiver) serve(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		r.bad = append(r.bad, req.Method+" "+req.Header.Get("Content-Type"))
	}
	if r.Secret != nil {
		ts := req.Header.Get(webhook.HeaderTimestamp)
		if req.Header.Get(webhook.HeaderSignature) != "sha256="+webhook.Sign(r.Secret, ts, b) {
			r.bad = append(r.bad, "bad signature: "+string(b))
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
	}
	var body push.WebhookBody
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		r.bad = append(r.bad, "bad body: "+err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if s := r.status[body.Token]; s != 0 && s != http.StatusOK {
		http.Error(w, "refused", s)
		return
	}
	r.bodies = append(r.bodies, body)
}

// Answer makes the receiver answer status to notifications for token.
func (r *PushReceiver) Answer(token string, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status[token] = status
}

// Bodies returns the notifications accepted so far, in arrival order.
func (r *PushReceiver) Bodies() []push.WebhookBody {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]push.WebhookBody(nil), r.bodies...)
}

// Bad returns the requests that broke the contract (method, content type,
// signature, body).
func (r *PushReceiver) Bad() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bad...)
}

// WaitFor waits up to d for cond over the accepted notifications.
func (r *PushReceiver) WaitFor(t testing.TB, d time.Duration, what string, cond func([]push.WebhookBody) bool) []push.WebhookBody {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		bs := r.Bodies()
		if cond(bs) {
			return bs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; received %+v", d, what, bs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WantPushMessage checks a webhook notification against spec F.4: the
// platform-framed message, the sync count a string inside it and a number
// beside it.
func WantPushMessage(t testing.TB, b push.WebhookBody) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b.Message, &m); err != nil {
		t.Fatalf("message %s: %v", b.Message, err)
	}
	var data map[string]any
	if err := json.Unmarshal(m["data"], &data); err != nil {
		t.Fatalf("message %s: data: %v", b.Message, err)
	}
	want := map[string]any{"source": "cognito-sync", "identityPoolId": b.IdentityPoolID, "identityId": b.IdentityID,
		"datasetName": b.DatasetName, "syncCount": strings.TrimSpace(string(mustJSON(b.SyncCount)))}
	if len(data) != len(want) {
		t.Errorf("message data %v, want %v", data, want)
	}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("message data[%q] = %#v, want %#v (in %s)", k, data[k], v, b.Message)
		}
	}
	switch b.Platform {
	case push.PlatformGCM, push.PlatformADM:
		if len(m) != 1 {
			t.Errorf("%s message %s: want only data", b.Platform, b.Message)
		}
	case push.PlatformAPNS, push.PlatformAPNSSandbox:
		if string(m["aps"]) != `{"content-available":1}` || len(m) != 2 {
			t.Errorf("%s message %s: want aps.content-available 1 and data", b.Platform, b.Message)
		}
	default:
		t.Errorf("platform %q", b.Platform)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
