package push_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v4"

	"github.com/cognitosync/cognitosync/syncapi/push"
)

// fakeFCM is Google's OAuth token endpoint (the JWT bearer grant a service
// account uses) and the FCM HTTP v1 send endpoint, on one loopback server.
type fakeFCM struct {
	key     *rsa.PublicKey
	mu      sync.Mutex
	url     string
	tokens  int                  // access tokens issued
	sent    []map[string]any     // message objects accepted
	answers map[string][2]string // token -> status, body
	bad     []string
}

const fcmEmail = "push@demo-project.iam.gserviceaccount.com"

func (f *fakeFCM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case "/token":
		r.ParseForm()
		claims := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(r.Form.Get("assertion"), claims, func(tok *jwt.Token) (any, error) {
			if tok.Method != jwt.SigningMethodRS256 || tok.Header["kid"] != "key-1" {
				return nil, fmt.Errorf("alg %v kid %v", tok.Header["alg"], tok.Header["kid"])
			}
			return f.key, nil
		})
		if err != nil || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" ||
			claims["iss"] != fcmEmail || claims["scope"] != push.FCMScope || claims["aud"] != f.url+"/token" {
			f.bad = append(f.bad, fmt.Sprintf("token request %v: %v", claims, err))
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		f.tokens++
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"ya29.test-%d","token_type":"Bearer","expires_in":3600}`, f.tokens)
	case "/v1/projects/demo-project/messages:send":
		if r.Header.Get("Authorization") != fmt.Sprintf("Bearer ya29.test-%d", f.tokens) {
			f.bad = append(f.bad, "send with "+r.Header.Get("Authorization"))
			http.Error(w, `{"error":{"code":401,"status":"UNAUTHENTICATED"}}`, http.StatusUnauthorized)
			return
		}
		var body struct {
			Message map[string]any `json:"message"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			f.bad = append(f.bad, "body "+string(b))
		}
		token, _ := body.Message["token"].(string)
		if a, ok := f.answers[token]; ok {
			w.Header().Set("Content-Type", "application/json")
			var status int
			fmt.Sscan(a[0], &status)
			w.WriteHeader(status)
			io.WriteString(w, a[1])
			return
		}
		f.sent = append(f.sent, body.Message)
		fmt.Fprint(w, `{"name":"projects/demo-project/messages/0:1"}`)
	default:
		http.NotFound(w, r)
	}
}

// serviceAccount returns a service account JSON key whose token_uri is
// url/token, and its public key.
func serviceAccount(t *testing.T, url string) ([]byte, *rsa.PublicKey) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "demo-project", "private_key_id": "key-1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": fcmEmail, "client_id": "1", "token_uri": url + "/token",
	})
	return b, &k.PublicKey
}

// TestFCM_OAuthSendAndUnregistered: the FCM v1 notifier exchanges the
// service account's signed JWT for an access token (once for many sends),
// sends spec F.4's keys as a data message, and UNREGISTERED / NOT_FOUND
// unregister the device; INVALID_ARGUMENT drops the notification.
func TestFCM_OAuthSendAndUnregistered(t *testing.T) {
	f := &fakeFCM{answers: map[string][2]string{
		"gone":    {"404", `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}`},
		"invalid": {"400", `{"error":{"code":400,"message":"The registration token is not a valid FCM registration token","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}`},
	}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	sa, pub := serviceAccount(t, srv.URL)
	f.key = pub
	fcm, err := push.NewFCM(t.Context(), push.FCMConfig{Credentials: sa, Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	d := dispatcher(t, w.st, push.Direct(fcm, nil), "a", later)
	ok1 := w.device(t, "GCM", "token-1")
	ok2 := w.device(t, "GCM", "token-2")
	gone := w.device(t, "GCM", "gone")
	invalid := w.device(t, "GCM", "invalid")
	ios := w.device(t, "APNS", "no-apns-key") // direct without an APNs key: dropped
	count := w.write(t, "")
	if err := d.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bad) > 0 {
		t.Errorf("requests off the wire: %v", f.bad)
	}
	if f.tokens != 1 {
		t.Errorf("%d token exchanges for one burst, want 1", f.tokens)
	}
	if len(f.sent) != 2 {
		t.Fatalf("sent %+v", f.sent)
	}
	for _, m := range f.sent {
		data, _ := json.Marshal(m["data"])
		want, _ := json.Marshal(push.Data(w.key, count))
		if string(data) != string(want) || (m["token"] != "token-1" && m["token"] != "token-2") {
			t.Errorf("message %v, want data %s", m, want)
		}
	}
	if w.exists(t, gone) || !w.exists(t, invalid) || !w.exists(t, ok1) || !w.exists(t, ok2) || !w.exists(t, ios) {
		t.Error("only the UNREGISTERED token's device is unregistered")
	}
	if w.depth(t) != 0 {
		t.Errorf("depth %d", w.depth(t))
	}
}

func TestFCM_BadCredentials(t *testing.T) {
	for _, c := range []string{`{}`, `not json`, `{"type":"authorized_user","client_id":"x","client_secret":"y","refresh_token":"z"}`} {
		if _, err := push.NewFCM(t.Context(), push.FCMConfig{Credentials: []byte(c)}); err == nil || !strings.Contains(err.Error(), "FCM credentials") {
			t.Errorf("%s: %v", c, err)
		}
	}
}

// fakeAPNs is APNs' provider API: HTTP/2 over TLS, token authentication.
type fakeAPNs struct {
	key  *ecdsa.PublicKey
	mu   sync.Mutex
	sent []string // token + " " + payload
	bad  []string
}

func (f *fakeAPNs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	token, _ := strings.CutPrefix(r.URL.Path, "/3/device/")
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "bearer ")
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(bearer, claims, func(tok *jwt.Token) (any, error) {
		if tok.Method != jwt.SigningMethodES256 || tok.Header["kid"] != "KEY123" {
			return nil, fmt.Errorf("alg %v kid %v", tok.Header["alg"], tok.Header["kid"])
		}
		return f.key, nil
	})
	if r.ProtoMajor != 2 || r.Method != http.MethodPost || err != nil || claims["iss"] != "TEAM123" ||
		r.Header.Get("apns-topic") != "com.example.app" || r.Header.Get("apns-push-type") != "background" ||
		r.Header.Get("apns-priority") != "5" {
		f.bad = append(f.bad, fmt.Sprintf("%s %s %v claims %v: %v", r.Proto, r.URL.Path, r.Header, claims, err))
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"reason":"InvalidProviderToken"}`)
		return
	}
	switch token {
	case "gone":
		w.WriteHeader(http.StatusGone)
		io.WriteString(w, `{"reason":"Unregistered","timestamp":1700000000000}`)
		return
	case "bad":
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"reason":"BadDeviceToken"}`)
		return
	case "toolarge":
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		io.WriteString(w, `{"reason":"PayloadTooLarge"}`)
		return
	}
	b, _ := io.ReadAll(r.Body)
	f.sent = append(f.sent, token+" "+string(b))
	w.Header().Set("apns-id", "0E4A1F2E-0000-0000-0000-000000000000")
}

// TestAPNs_HTTP2TokenAuthAndDeadTokens: the APNs notifier (sideshow/apns2)
// against an HTTP/2 TLS server whose certificate chains to a test CA:
// an ES256 provider token, a background push with the framed payload;
// 410 and BadDeviceToken unregister the device, PayloadTooLarge drops the
// notification only.
func TestAPNs_HTTP2TokenAuthAndDeadTokens(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	p8 := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	f := &fakeAPNs{key: &k.PublicKey}
	srv := httptest.NewUnstartedServer(f)
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted client's handshake failure below
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	apns, err := push.NewAPNs(push.APNsConfig{Key: p8, KeyID: "KEY123", TeamID: "TEAM123", Topic: "com.example.app",
		Endpoint: srv.URL, RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	d := dispatcher(t, w.st, push.Direct(nil, apns), "a", later)
	prod := w.device(t, "APNS", "prod-token")
	sandbox := w.device(t, "APNS_SANDBOX", "sandbox-token")
	gone := w.device(t, "APNS", "gone")
	bad := w.device(t, "APNS_SANDBOX", "bad")
	large := w.device(t, "APNS", "toolarge")
	count := w.write(t, "")
	if err := d.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bad) > 0 {
		t.Errorf("requests off the APNs wire: %v", f.bad)
	}
	want, _ := push.Message("APNS", w.key, count)
	if len(f.sent) != 2 || !contains(f.sent, "prod-token "+string(want)) || !contains(f.sent, "sandbox-token "+string(want)) {
		t.Errorf("sent %q, want both live tokens with %s", f.sent, want)
	}
	if w.exists(t, gone) || w.exists(t, bad) || !w.exists(t, prod) || !w.exists(t, sandbox) || !w.exists(t, large) {
		t.Error("410 and BadDeviceToken unregister their devices, nothing else does")
	}
	if w.depth(t) != 0 {
		t.Errorf("depth %d", w.depth(t))
	}
	// An untrusted certificate is an error to retry, never a delivery.
	untrusted, err := push.NewAPNs(push.APNsConfig{Key: p8, KeyID: "KEY123", TeamID: "TEAM123", Topic: "com.example.app",
		Endpoint: srv.URL, RootCAs: x509.NewCertPool()})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Unlock()
	err = untrusted.Send(t.Context(), push.Notification{PushEntry: syncapiEntry("APNS", "prod-token"), Message: want})
	f.mu.Lock()
	if err == nil || strings.Contains(err.Error(), "dead") {
		t.Errorf("send to an untrusted server: %v", err)
	}
}

func TestAPNs_BadConfig(t *testing.T) {
	_, err := push.NewAPNs(push.APNsConfig{Key: []byte("not a key")})
	for _, want := range []string{"want a .p8 ECDSA key", "key id is required", "team id is required", "topic (bundle id) is required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestAPNs_SandboxDevicesGoToTheSandbox: without --apns-endpoint, APNS
// devices go to Apple's production host and APNS_SANDBOX devices (debug
// builds) to the sandbox host.
func TestAPNs_SandboxDevicesGoToTheSandbox(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	n, err := push.NewAPNs(push.APNsConfig{Key: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		KeyID: "K", TeamID: "T", Topic: "com.example.app"})
	if err != nil {
		t.Fatal(err)
	}
	if prod, sandbox := push.APNsHosts(n); prod != "https://api.push.apple.com" || sandbox != "https://api.sandbox.push.apple.com" {
		t.Errorf("hosts %s, %s", prod, sandbox)
	}
}
