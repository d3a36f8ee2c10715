package client_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	v1creds "github.com/aws/aws-sdk-go/aws/credentials"
	v1signer "github.com/aws/aws-sdk-go/aws/signer/v4"

	"github.com/cognitosync/cognitosync/syncapi/client"
)

const (
	region       = "us-east-1"
	accessKey    = "ASIAEXAMPLEKEY"
	secretKey    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	sessionToken = "FwoGZXIvYXdzEXAMPLE//token+with/odd=chars"

	pool     = "us-east-1:0c1ba052-e098-41fa-a76e-eaa2c125f861"
	identity = "us-east-1:9643cc0e-90bd-4e20-b701-00ba6ef396a6"
	// Escaped as the AWS SDKs send them (spec A.2).
	poolEsc     = "us-east-1%3A0c1ba052-e098-41fa-a76e-eaa2c125f861"
	identityEsc = "us-east-1%3A9643cc0e-90bd-4e20-b701-00ba6ef396a6"
)

// staticCreds are temporary-style credentials, so X-Amz-Security-Token is
// exercised.
var staticCreds = credentials.NewStaticCredentialsProvider(accessKey, secretKey, sessionToken)

// fastRetryer is the standard retryer without backoff delays.
func fastRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	})
}

// newClient returns a signing client for srv.
func newClient(tb testing.TB, srv *httptest.Server, optFns ...func(*client.Options)) *client.Client {
	tb.Helper()
	o := client.Options{
		Region:       region,
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  staticCreds,
		HTTPClient:   srv.Client(),
		Retryer:      fastRetryer(),
	}
	for _, fn := range optFns {
		fn(&o)
	}
	return client.New(o)
}

var authRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$`)

// verifySigV4 checks r's signature by re-signing it with aws-sdk-go v1's
// signer, an implementation independent of the client's (v2). It rebuilds
// the request from the raw RequestURI (spec A.2: the path exactly as
// received) with only the signed headers.
func verifySigV4(tb testing.TB, r *http.Request, body []byte) {
	tb.Helper()
	auth := r.Header.Get("Authorization")
	m := authRE.FindStringSubmatch(auth)
	if m == nil {
		tb.Fatalf("Authorization %q is not SigV4", auth)
	}
	akid, date, reg, svc, signed := m[1], m[2], m[3], m[4], strings.Split(m[5], ";")
	if akid != accessKey || reg != region || svc != "cognito-sync" {
		tb.Fatalf("credential scope %s/%s/%s/%s, want %s/…/%s/cognito-sync", akid, date, reg, svc, accessKey, region)
	}
	st, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		tb.Fatalf("X-Amz-Date: %v", err)
	}
	if st.Format("20060102") != date {
		tb.Fatalf("scope date %s != X-Amz-Date %s", date, r.Header.Get("X-Amz-Date"))
	}
	if d := time.Since(st); d < -5*time.Minute || d > 5*time.Minute {
		tb.Fatalf("signing time %v off by %v", st, d)
	}
	for _, want := range []string{"host", "x-amz-date", "x-amz-security-token"} {
		if !contains(signed, want) {
			tb.Fatalf("SignedHeaders %v lack %s", signed, want)
		}
	}
	if len(body) > 0 && !contains(signed, "content-type") {
		tb.Fatalf("SignedHeaders %v lack content-type", signed)
	}
	if r.Header.Get("X-Amz-Security-Token") != sessionToken {
		tb.Fatalf("X-Amz-Security-Token = %q", r.Header.Get("X-Amz-Security-Token"))
	}

	vreq, err := http.NewRequest(r.Method, "http://"+r.Host+r.RequestURI, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for _, h := range signed {
		switch h {
		case "host":
		case "content-length":
			vreq.Header.Set("Content-Length", itoa(r.ContentLength))
		default:
			vals := r.Header.Values(h)
			if len(vals) == 0 {
				tb.Fatalf("signed header %s missing from the request", h)
			}
			vreq.Header[http.CanonicalHeaderKey(h)] = vals
		}
	}
	signer := v1signer.NewSigner(v1creds.NewStaticCredentials(accessKey, secretKey, sessionToken))
	if _, err := signer.Sign(vreq, bytes.NewReader(body), "cognito-sync", region, st); err != nil {
		tb.Fatalf("v1 sign: %v", err)
	}
	if got := vreq.Header.Get("Authorization"); got != auth {
		tb.Fatalf("signature mismatch:\n client: %s\n v1:     %s", auth, got)
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

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// readBody reads r's body, failing the test on error.
func readBody(tb testing.TB, r *http.Request) []byte {
	tb.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		tb.Fatalf("read body: %v", err)
	}
	return b
}

// jsonEqual compares two JSON documents semantically.
func jsonEqual(tb testing.TB, got []byte, want string) bool {
	tb.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		tb.Errorf("body %q is not JSON: %v", got, err)
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		tb.Fatalf("want %q is not JSON: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

// writeJSON answers status with an AWS-style JSON body.
func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-RequestId", "6f1c0000-0000-4000-8000-000000000001")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
