package sigv4_test

import (
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/syncapi/sigv4"
)

// unreadBody fails the test when anything reads it.
type unreadBody struct{ tb testing.TB }

func (b unreadBody) Read([]byte) (int, error) {
	b.tb.Error("the body was read before the headers were verified")
	return 0, io.ErrUnexpectedEOF
}
func (unreadBody) Close() error { return nil }

// signed builds spec in-process, signs it with s at now+at, and swaps its
// body for one that must not be read.
func signed(t *testing.T, s signFunc, spec reqSpec, c cred, rgn string, at time.Duration) (*http.Request, []byte) {
	t.Helper()
	req, body := spec.build(t, "http://syncd.example.com")
	s(t, req, body, c, service, rgn, now.Add(at))
	req.Body = unreadBody{t}
	return req, body
}

func wantCode(t *testing.T, err error, code, msg string) {
	t.Helper()
	var e *sigv4.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("err = %v, want %s", err, code)
	}
	if msg != "" && e.Message != msg {
		t.Errorf("message = %q, want %q", e.Message, msg)
	}
}

// Everything the headers can prove is refused by VerifyHeaders, so a body is
// only ever read for a holder of a valid key (issue: unauthenticated memory
// pinning).
func TestVerifyHeaders_RefusesBeforeTheBody(t *testing.T) {
	v := newVerifier(t, fixedClock)
	cases := []struct {
		name   string
		cred   cred
		at     time.Duration
		region string
		code   string
	}{
		{name: "unknown key", cred: cred{"AKIDUNKNOWN", "x", ""}, code: sigv4.CodeUnrecognizedClient},
		{name: "expired temporary key", cred: expired, code: sigv4.CodeExpiredToken},
		{name: "temporary key without its token", cred: cred{temp.id, temp.secret, ""}, code: sigv4.CodeUnrecognizedClient},
		{name: "wrong session token", cred: cred{temp.id, temp.secret, "other"}, code: sigv4.CodeUnrecognizedClient},
		{name: "signed 20 minutes ago", cred: longTerm, at: -20 * time.Minute, code: sigv4.CodeInvalidSignature},
		{name: "signed 20 minutes ahead", cred: longTerm, at: 20 * time.Minute, code: sigv4.CodeInvalidSignature},
		{name: "region not served", cred: longTerm, region: "us-west-2", code: sigv4.CodeInvalidSignature},
	}
	for _, s := range signers {
		for _, tc := range cases {
			t.Run(s.name+"/"+tc.name, func(t *testing.T) {
				rgn := tc.region
				if rgn == "" {
					rgn = region
				}
				req, _ := signed(t, s.sign, updateRecords, tc.cred, rgn, tc.at)
				p, err := v.VerifyHeaders(req, service)
				if p != nil {
					t.Errorf("VerifyHeaders returned a Pending with %v", err)
				}
				wantCode(t, err, tc.code, "")
			})
		}
	}
}

// Without X-Amz-Content-Sha256 the signature covers the body's hash, so a
// valid key passes VerifyHeaders and VerifyPayload decides.
func TestVerifyHeaders_PayloadFinishes(t *testing.T) {
	v := newVerifier(t, fixedClock)
	for _, s := range signers {
		t.Run(s.name, func(t *testing.T) {
			req, body := signed(t, s.sign, updateRecords, temp, region, 0)
			p, err := v.VerifyHeaders(req, service)
			if err != nil {
				t.Fatalf("VerifyHeaders: %v", err)
			}
			got, err := p.VerifyPayload(sha256.Sum256(body))
			if err != nil || got != "identity" {
				t.Fatalf("VerifyPayload = %v, %v; want identity", got, err)
			}

			req, body = signed(t, s.sign, updateRecords, cred{temp.id, "wrong-secret", temp.token}, region, 0)
			if p, err = v.VerifyHeaders(req, service); err != nil {
				t.Fatalf("VerifyHeaders cannot tell a wrong secret without the body hash, got %v", err)
			}
			_, err = p.VerifyPayload(sha256.Sum256(body))
			wantCode(t, err, sigv4.CodeInvalidSignature, "")

			req, _ = signed(t, s.sign, updateRecords, temp, region, 0)
			if p, err = v.VerifyHeaders(req, service); err != nil {
				t.Fatal(err)
			}
			_, err = p.VerifyPayload(sha256.Sum256([]byte(`{"SyncSessionToken":"other"}`)))
			wantCode(t, err, sigv4.CodeInvalidSignature, "")
		})
	}
}

// With X-Amz-Content-Sha256 the signature is checked before the body, and the
// body must then hash to the declared value.
func TestVerifyHeaders_DeclaredPayloadHash(t *testing.T) {
	v := newVerifier(t, fixedClock)
	spec := updateRecords
	spec.header = http.Header{"Content-Type": {"application/json"}, "X-Amz-Content-Sha256": {sha256Hex([]byte(updateRecords.body))}}
	for _, s := range signers {
		t.Run(s.name, func(t *testing.T) {
			req, _ := signed(t, s.sign, spec, cred{longTerm.id, "wrong-secret", ""}, region, 0)
			_, err := v.VerifyHeaders(req, service)
			wantCode(t, err, sigv4.CodeInvalidSignature,
				"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")

			req, body := signed(t, s.sign, spec, longTerm, region, 0)
			p, err := v.VerifyHeaders(req, service)
			if err != nil {
				t.Fatalf("VerifyHeaders: %v", err)
			}
			_, err = p.VerifyPayload(sha256.Sum256([]byte("{}")))
			wantCode(t, err, sigv4.CodeInvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
			if got, err := p.VerifyPayload(sha256.Sum256(body)); err != nil || got != "developer" {
				t.Fatalf("VerifyPayload = %v, %v; want developer", got, err)
			}
		})
	}
}

// A header that selects the operation must be signed: otherwise a signature
// for DescribeIdentityPool could be replayed as DeleteIdentityPool.
func TestVerifyHeaders_MustSign(t *testing.T) {
	v := newVerifier(t, fixedClock)
	target := reqSpec{"POST", "/", "", `{"IdentityPoolId":"us-east-1:abc"}`, http.Header{
		"Content-Type": {"application/x-amz-json-1.1"}, "X-Amz-Target": {"AWSCognitoIdentityService.DescribeIdentityPool"},
	}}
	for _, s := range signers {
		t.Run(s.name, func(t *testing.T) {
			req, body := signed(t, s.sign, target, longTerm, region, 0)
			p, err := v.VerifyHeaders(req, service, "x-amz-target")
			if err != nil {
				t.Fatalf("SDK-signed target refused: %v", err)
			}
			if _, err := p.VerifyPayload(sha256.Sum256(body)); err != nil {
				t.Fatal(err)
			}

			unsignedTarget := target
			unsignedTarget.header = http.Header{"Content-Type": {"application/x-amz-json-1.1"}}
			req, _ = signed(t, s.sign, unsignedTarget, longTerm, region, 0)
			req.Header.Set("X-Amz-Target", "AWSCognitoIdentityService.DeleteIdentityPool")
			_, err = v.VerifyHeaders(req, service, "x-amz-target")
			wantCode(t, err, sigv4.CodeIncompleteSignature, "'X-Amz-Target' must be a signed header.")
		})
	}
}
