package sigv4_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	v1creds "github.com/aws/aws-sdk-go/aws/credentials"
	v1signer "github.com/aws/aws-sdk-go/aws/signer/v4"

	"github.com/cognitosync/cognitosync/syncapi/sigv4"
)

const (
	service = "cognito-sync"
	region  = "us-east-1"
)

// now is the verifier's clock in the table tests.
var now = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

type cred struct{ id, secret, token string }

var (
	longTerm = cred{"AKIDEXAMPLE", "long-term-secret", ""}
	temp     = cred{"ASIATEMPEXAMPLE", "temp-secret", "session-token-1"}
	expired  = cred{"ASIAOLDEXAMPLE", "old-secret", "session-token-0"}
)

var testKeys = sigv4.StaticCredentials{
	longTerm.id: {Secret: longTerm.secret, Principal: "developer"},
	temp.id:     {Secret: temp.secret, SessionToken: temp.token, Expires: now.Add(time.Hour), Principal: "identity"},
	expired.id:  {Secret: expired.secret, SessionToken: expired.token, Expires: now.Add(-time.Minute), Principal: "old"},
}

func newVerifier(tb testing.TB, clock func() time.Time) *sigv4.Verifier {
	tb.Helper()
	v, err := sigv4.NewVerifier(sigv4.Config{Credentials: testKeys, Regions: []string{region, "eu-west-1"}, Now: clock})
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func fixedClock() time.Time { return now }

// signFunc signs req (whose body is body) the way one SDK generation does.
type signFunc func(tb testing.TB, req *http.Request, body []byte, c cred, service, region string, at time.Time)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// signV2 is aws-sdk-go-v2's signer, as its service clients call it.
func signV2(tb testing.TB, req *http.Request, body []byte, c cred, svc, rgn string, at time.Time) {
	tb.Helper()
	creds := aws.Credentials{AccessKeyID: c.id, SecretAccessKey: c.secret, SessionToken: c.token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha256Hex(body), svc, rgn, at); err != nil {
		tb.Fatal(err)
	}
}

// signV1 is aws-sdk-go v1's signer, which its cognitosync client uses.
func signV1(tb testing.TB, req *http.Request, body []byte, c cred, svc, rgn string, at time.Time) {
	tb.Helper()
	var rs io.ReadSeeker
	if len(body) > 0 {
		rs = bytes.NewReader(body)
	}
	s := v1signer.NewSigner(v1creds.NewStaticCredentials(c.id, c.secret, c.token))
	if _, err := s.Sign(req, rs, svc, rgn, at); err != nil {
		tb.Fatal(err)
	}
}

var signers = []struct {
	name string
	sign signFunc
}{{"v2", signV2}, {"v1", signV1}}

type result struct {
	principal any
	err       error
}

// newServer serves Verify over real HTTP, so requests reach it the way
// net/http delivers them (Host moved to r.Host, RequestURI as sent). Each
// request's outcome is sent on the returned channel; the response is an
// AWS-style error, as httpapi writes it, so SDK clients can decode the code.
func newServer(tb testing.TB, v *sigv4.Verifier) (*httptest.Server, <-chan result) {
	tb.Helper()
	results := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			tb.Error(err)
			return
		}
		p, err := v.Verify(r, body, service)
		results <- result{p, err}
		var e *sigv4.Error
		if errors.As(err, &e) {
			w.Header().Set("X-Amzn-Errortype", e.Code)
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(map[string]string{"message": e.Message})
			return
		}
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "{}")
	}))
	tb.Cleanup(srv.Close)
	return srv, results
}

// roundTrip sends req and returns what Verify said about it.
func roundTrip(tb testing.TB, srv *httptest.Server, results <-chan result, req *http.Request) result {
	tb.Helper()
	resp, err := srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	select {
	case r := <-results:
		return r
	default:
		tb.Fatalf("handler did not run (status %d)", resp.StatusCode)
		return result{}
	}
}

func codeOf(err error) string {
	var e *sigv4.Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err != nil {
		return "non-*Error: " + err.Error()
	}
	return ""
}
