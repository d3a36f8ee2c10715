package sigv4_test

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/cognitosync/cognitosync/syncapi/sigv4"
)

const fuzzHost = "sync.example.com"

// serverRequest builds the *http.Request net/http would hand a handler for
// these wire parts (request line, Host, headers, Content-Length).
func serverRequest(method, path, query, auth, date, token string, body []byte) *http.Request {
	uri := path
	if query != "" {
		uri += "?" + query
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		u = &url.URL{Path: "/"}
	}
	h := http.Header{"Content-Type": {"application/json"}, "User-Agent": {"fuzz"}}
	if auth != "" {
		h["Authorization"] = []string{auth}
	}
	if date != "" {
		h["X-Amz-Date"] = []string{date}
	}
	if token != "" {
		h["X-Amz-Security-Token"] = []string{token}
	}
	if len(body) > 0 {
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	return &http.Request{Method: method, URL: u, RequestURI: uri, Host: fuzzHost, Header: h, ContentLength: int64(len(body))}
}

// signedParts signs a request with the given wire parts and returns its
// Authorization and X-Amz-Date.
func signedParts(tb testing.TB, sign signFunc, c cred, method, path, query string, body []byte) (auth, date string) {
	tb.Helper()
	spec := reqSpec{method: method, path: path, query: query, body: string(body), header: http.Header{"Content-Type": {"application/json"}}}
	req, b := spec.build(tb, "http://"+fuzzHost)
	sign(tb, req, b, c, service, region, now)
	return req.Header.Get("Authorization"), req.Header.Get("X-Amz-Date")
}

var allowedCodes = map[string]bool{
	sigv4.CodeMissingAuthenticationToken: true,
	sigv4.CodeIncompleteSignature:        true,
	sigv4.CodeUnrecognizedClient:         true,
	sigv4.CodeInvalidSignature:           true,
	sigv4.CodeExpiredToken:               true,
}

// FuzzVerify feeds arbitrary Authorization headers, X-Amz-Date values,
// paths, queries and bodies. Verify must not panic and must answer nil or an
// *Error with an AWS common code.
func FuzzVerify(f *testing.F) {
	v := newVerifier(f, fixedClock)
	type seed struct {
		sign                signFunc
		c                   cred
		method, path, query string
		body                string
	}
	for _, s := range []seed{
		{signV2, longTerm, "GET", records, listRecords.query, "{}"},
		{signV1, temp, "GET", records, listRecords.query, "{}"},
		{signV2, temp, "POST", updateRecords.path, "", updateRecords.body},
		{signV1, longTerm, "DELETE", deleteDataset.path, "", ""},
		{signV2, longTerm, "GET", "/identitypools/us-east-1:abc/identities", "a=%20b&a=c", ""},
	} {
		auth, date := signedParts(f, s.sign, s.c, s.method, s.path, s.query, []byte(s.body))
		// The seeds are valid requests: check they verify, so the fuzzer
		// starts from the accepting path.
		if _, err := v.Verify(serverRequest(s.method, s.path, s.query, auth, date, s.c.token, []byte(s.body)), []byte(s.body), service); err != nil {
			f.Fatalf("seed %s %s: %v", s.method, s.path, err)
		}
		f.Add(s.method, auth, date, s.c.token, s.path, s.query, []byte(s.body))
	}
	f.Add("GET", "", "", "", "/", "X-Amz-Signature=00&X-Amz-Credential=a", []byte(nil))
	f.Add("GET", "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=;, Signature=", "20240506T070809Z", "", "*", "", []byte("x"))

	f.Fuzz(func(t *testing.T, method, auth, date, token, path, query string, body []byte) {
		if method == "" {
			method = "GET"
		}
		r := serverRequest(method, path, query, auth, date, token, body)
		p, err := v.Verify(r, body, service)
		if err == nil {
			// Accepting is fine only for an input that really is signed;
			// the fuzzer cannot forge a signature, so this is a seed.
			if p == nil {
				t.Fatalf("nil principal on success")
			}
			return
		}
		var e *sigv4.Error
		if !errors.As(err, &e) || !allowedCodes[e.Code] {
			t.Fatalf("Verify = %#v, want nil or *Error with an allowed code", err)
		}
		if strings.TrimSpace(e.Message) == "" {
			t.Fatalf("empty message for %s", e.Code)
		}
	})
}

// BenchmarkVerify is a typical signed GET (ListRecords, identity credentials).
func BenchmarkVerify(b *testing.B) {
	v := newVerifier(b, fixedClock)
	body := []byte("{}")
	auth, date := signedParts(b, signV1, temp, "GET", records, listRecords.query, body)
	r := serverRequest("GET", records, listRecords.query, auth, date, temp.token, body)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r, body, service); err != nil {
			b.Fatal(err)
		}
	}
}
