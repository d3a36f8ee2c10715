package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/cognitosync/cognitosync/internal/ratelimit"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/auth"
	"github.com/cognitosync/cognitosync/syncapi/httpapi"
)

// noCredentials is an auth.Authenticator store that knows no identity keys.
type noCredentials struct{}

func (noCredentials) LookupCredential(context.Context, string) (syncapi.Credential, error) {
	return syncapi.Credential{}, syncapi.ErrNotFound
}

// newAuthServer serves fakes behind the real SigV4 Authenticator with the
// developer key AKIDTEST:secret (devCreds).
func newAuthServer(t *testing.T, opts ...func(*httpapi.Config)) *server {
	t.Helper()
	a, err := auth.New(auth.Config{Developers: map[string]string{"AKIDTEST": "secret"}, Issued: noCredentials{}, Regions: []string{"us-east-1"}})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{sync: &fakeSync{}, identity: &fakeIdentity{}}
	c := httpapi.Config{Sync: s.sync, Identity: s.identity, Auth: a}
	for _, o := range opts {
		o(&c)
	}
	h, err := httpapi.NewHandler(c)
	if err != nil {
		t.Fatal(err)
	}
	s.Server = httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// sendHeadersOnly writes a request's line and headers, announcing a body of
// contentLength bytes, and never sends the body. It returns the response the
// server wrote without waiting for the body, and whether the server then
// closed the connection (rather than waiting to drain the body).
func sendHeadersOnly(t *testing.T, addr, method, path string, contentLength int, hdr map[string]string) (*http.Response, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", method, path, addr, contentLength)
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	// A generous bound: the server answers at once or (before the fix) only
	// once the body it waits for arrives, which is never.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%s %s: no response without the body: %v", method, path, err)
	}
	if _, err := io.ReadAll(res.Body); err != nil {
		t.Fatalf("read response body: %v", err)
	}
	res.Body.Close()
	_, err = br.ReadByte()
	return res, errors.Is(err, io.EOF)
}

// TestRefusedBeforeTheBody: whatever can be refused from the request line and
// headers is refused without reading a byte of the body, and the connection
// is closed rather than drained (issue: 40 stalled unsigned bodies pinned
// hundreds of MB, and held shutdown).
func TestRefusedBeforeTheBody(t *testing.T) {
	s := newAuthServer(t)
	s.sync.UpdateRecordsFn = func(context.Context, syncapi.UpdateRecordsInput) (syncapi.UpdateRecordsOutput, error) {
		t.Error("operation ran")
		return syncapi.UpdateRecordsOutput{}, nil
	}
	addr := s.Listener.Addr().String()
	const update = "/identitypools/us-east-1%3Ap/identities/us-east-1%3Ai/datasets/d"
	unknownKey := "AWS4-HMAC-SHA256 Credential=AKIDNOBODY/" + time.Now().UTC().Format("20060102") +
		"/us-east-1/cognito-sync/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
	cases := []struct {
		name, method, path string
		length             int
		hdr                map[string]string
		status             int
		code               string
	}{
		{"unsigned sync call", "POST", update, 8 << 20, nil, 403, "MissingAuthenticationTokenException"},
		{"small unsigned sync call", "POST", update, 100, nil, 403, "MissingAuthenticationTokenException"},
		{"unknown access key", "POST", update, 1000, map[string]string{"Authorization": unknownKey, "X-Amz-Date": time.Now().UTC().Format("20060102T150405Z")}, 403, "UnrecognizedClientException"},
		{"stale signature", "POST", update, 1000, map[string]string{
			"Authorization": strings.Replace(unknownKey, time.Now().UTC().Format("20060102"), "20200101", 1), "X-Amz-Date": "20200101T000000Z"}, 403, "InvalidSignatureException"},
		{"unknown route", "POST", "/identitypools/p/nothing", 1000, nil, 404, "UnknownOperationException"},
		{"unknown identity target", "POST", "/", 1000, map[string]string{"X-Amz-Target": "AWSCognitoIdentityService.Nothing"}, 400, "UnknownOperationException"},
		{"unsigned developer identity call", "POST", "/", 1000, map[string]string{"X-Amz-Target": "AWSCognitoIdentityService.CreateIdentityPool"}, 403, "MissingAuthenticationTokenException"},
		{"unsigned identity call over its cap", "POST", "/", 8 << 20, map[string]string{"X-Amz-Target": "AWSCognitoIdentityService.GetId"}, 413, "RequestEntityTooLargeException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, closed := sendHeadersOnly(t, addr, tc.method, tc.path, tc.length, tc.hdr)
			if res.StatusCode != tc.status || res.Header.Get("X-Amzn-Errortype") != tc.code {
				t.Errorf("got %d %s, want %d %s", res.StatusCode, res.Header.Get("X-Amzn-Errortype"), tc.status, tc.code)
			}
			if !closed {
				t.Error("the server kept the connection open to read the body")
			}
		})
	}
}

// An unsigned call's body is read, but only up to MaxUnsignedBodyBytes, even
// when its length is not announced.
func TestUnsignedBodyCap(t *testing.T) {
	s := newServer(t, func(c *httpapi.Config) { c.MaxUnsignedBodyBytes = 1 << 10 })
	s.identity.GetIDFn = func(context.Context, syncapi.GetIDInput) (syncapi.GetIDOutput, error) {
		return syncapi.GetIDOutput{IdentityID: "us-east-1:i"}, nil
	}
	hdr := map[string]string{"X-Amz-Target": "AWSCognitoIdentityService.GetId", "Content-Type": "application/x-amz-json-1.1"}
	small := `{"IdentityPoolId":"us-east-1:p","Logins":{"x":"` + strings.Repeat("t", 900) + `"}}`
	if r := doRaw(t, "POST", s.URL+"/", small, hdr); r.status != 200 {
		t.Fatalf("body under the cap: %d %s", r.status, r.body)
	}
	big := `{"IdentityPoolId":"us-east-1:p","Logins":{"x":"` + strings.Repeat("t", 2000) + `"}}`
	requireRawError(t, doRaw(t, "POST", s.URL+"/", big, hdr), 413, "RequestEntityTooLargeException", "application/x-amz-json-1.1")

	// Chunked: no Content-Length to refuse early, so the cap applies while
	// reading.
	req, err := http.NewRequest("POST", s.URL+"/", io.MultiReader(strings.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Errorf("chunked body over the cap: %d", res.StatusCode)
	}
}

// TestIdentityTarget_MustBeSigned: X-Amz-Target names the operation, so a
// developer signature that does not cover it is refused (issue: a request
// whose signature does not cover X-Amz-Target ran as whatever it named).
// The official client signs it and passes.
func TestIdentityTarget_MustBeSigned(t *testing.T) {
	s := newAuthServer(t)
	deleted := 0
	s.identity.DeleteIdentityPoolFn = func(context.Context, syncapi.IdentityPoolIDInput) error {
		deleted++
		return nil
	}
	s.identity.DescribeIdentityPoolFn = func(_ context.Context, in syncapi.IdentityPoolIDInput) (syncapi.IdentityPool, error) {
		return fullPool, nil
	}
	ctx := context.Background()
	sdk := newIdentitySDK(s.URL, devCreds)
	if _, err := sdk.DescribeIdentityPool(ctx, &cognitoidentity.DescribeIdentityPoolInput{IdentityPoolId: aws.String(poolID)}); err != nil {
		t.Fatalf("official client: %v", err)
	}
	if _, err := sdk.DeleteIdentityPool(ctx, &cognitoidentity.DeleteIdentityPoolInput{IdentityPoolId: aws.String(poolID)}); err != nil || deleted != 1 {
		t.Fatalf("official client: %v (deleted %d)", err, deleted)
	}

	body := `{"IdentityPoolId":"` + poolID + `"}`
	req, err := http.NewRequest("POST", s.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	creds := aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, sha256Hex(body), "cognito-identity", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "AWSCognitoIdentityService.DeleteIdentityPool") // after signing
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	requireRawError(t, rawResponse{res.StatusCode, res.Header, b}, 400, "IncompleteSignatureException", "application/x-amz-json-1.1")
	if !bytes.Contains(b, []byte("'X-Amz-Target' must be a signed header.")) {
		t.Errorf("body = %s", b)
	}
	if deleted != 1 {
		t.Errorf("DeleteIdentityPool ran on an unsigned target")
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// withForwardedFor sets X-Forwarded-For on every request of an SDK client.
func withForwardedFor(addr string) func(*cognitoidentity.Options) {
	return func(o *cognitoidentity.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Build.Add(middleware.BuildMiddlewareFunc("ForwardedFor", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
				if r, ok := in.Request.(*smithyhttp.Request); ok {
					r.Header.Set("X-Forwarded-For", "203.0.113.9, "+addr)
				}
				return next.HandleBuild(ctx, in)
			}), middleware.After)
		})
	}
}

// TestAddressLimits_SDK: the unsigned calls are throttled per client address
// before their body is read, and the official client gets its typed
// TooManyRequestsException.
func TestAddressLimits_SDK(t *testing.T) {
	limit := func(t *testing.T) syncapi.RateLimiter {
		l, err := ratelimit.New(ratelimit.Config{Rate: 0.001, Burst: 2}) // two calls, then one per 1000 s
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	s := newServer(t, func(c *httpapi.Config) {
		c.AddressLimits = map[string]syncapi.RateLimiter{"GetId": limit(t), "GetCredentialsForIdentity": limit(t)}
		c.ClientAddressHeader = "X-Forwarded-For"
	})
	s.identity.GetIDFn = func(context.Context, syncapi.GetIDInput) (syncapi.GetIDOutput, error) {
		return syncapi.GetIDOutput{IdentityID: idID}, nil
	}
	s.identity.GetCredentialsForIdentityFn = func(context.Context, syncapi.GetCredentialsForIdentityInput) (syncapi.GetCredentialsForIdentityOutput, error) {
		return syncapi.GetCredentialsForIdentityOutput{IdentityID: idID, Credentials: syncapi.IdentityCredentials{AccessKeyID: "A", SecretKey: "S"}}, nil
	}
	ctx := context.Background()
	client := func(addr string) *cognitoidentity.Client {
		return cognitoidentity.New(cognitoidentity.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL),
			Credentials: aws.AnonymousCredentials{}, Retryer: aws.NopRetryer{}}, withForwardedFor(addr))
	}
	a, b := client("198.51.100.1"), client("198.51.100.2")
	getID := func(c *cognitoidentity.Client) error {
		_, err := c.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(poolID)})
		return err
	}
	getCreds := func(c *cognitoidentity.Client) error {
		_, err := c.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: aws.String(idID)})
		return err
	}
	for _, call := range []struct {
		name string
		f    func(*cognitoidentity.Client) error
	}{{"GetId", getID}, {"GetCredentialsForIdentity", getCreds}} {
		for i := range 2 {
			if err := call.f(a); err != nil {
				t.Fatalf("%s %d within the burst: %v", call.name, i, err)
			}
		}
		var tooMany *types.TooManyRequestsException
		if err := call.f(a); !errors.As(err, &tooMany) || tooMany.ErrorMessage() != "Rate exceeded" {
			t.Fatalf("%s past the burst: %v, want TooManyRequestsException", call.name, err)
		}
		if err := call.f(b); err != nil {
			t.Fatalf("%s from another address: %v", call.name, err)
		}
	}
}
