package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/cognitosync/cognitosync/syncapi/httpapi"
)

// FuzzHandler serves arbitrary requests with fakes that always succeed: the
// answer must be 2xx or 4xx with a JSON body, whatever the input.
func FuzzHandler(f *testing.F) {
	const p = "/identitypools/us-east-1%3Ap/identities/us-east-1%3Ai/datasets/d"
	seeds := []struct{ method, uri, target, body string }{
		{"POST", "/identitypools/us-east-1%3Ap/bulkpublish", "", `{}`},
		{"DELETE", p, "", `{}`},
		{"GET", p, "", `{}`},
		{"GET", "/identitypools/us-east-1%3Ap", "", ``},
		{"GET", "/identitypools/us-east-1%3Ap/identities/us-east-1%3Ai", "", ``},
		{"POST", "/identitypools/us-east-1%3Ap/getBulkPublishDetails", "", ``},
		{"GET", "/identitypools/us-east-1%3Ap/events", "", ``},
		{"GET", "/identitypools/us-east-1%3Ap/configuration", "", ``},
		{"GET", "/identitypools/us-east-1%3Ap/identities/us-east-1%3Ai/datasets?maxResults=2&nextToken=x", "", ``},
		{"GET", "/identitypools?maxResults=10", "", ``},
		{"GET", p + "/records?lastSyncCount=5&maxResults=1024&syncSessionToken=s&nextToken=n", "", ``},
		{"POST", "/identitypools/us-east-1%3Ap/identity/us-east-1%3Ai/device", "", `{"Platform":"GCM","Token":"t"}`},
		{"POST", "/identitypools/us-east-1%3Ap/events", "", `{"Events":{"SyncTrigger":"arn:aws:lambda:us-east-1:1:function:f"}}`},
		{"POST", "/identitypools/us-east-1%3Ap/configuration", "", `{"PushSync":{"ApplicationArns":["a"],"RoleArn":"r"},"CognitoStreams":{"StreamName":"s","RoleArn":"r","StreamingStatus":"ENABLED"}}`},
		{"POST", p + "/subscriptions/dev", "", ``},
		{"DELETE", p + "/subscriptions/dev", "", `{}`},
		{"POST", p, "", `{"SyncSessionToken":"s","DeviceId":"d","RecordPatches":[{"Op":"replace","Key":"k","Value":"v","SyncCount":5,"DeviceLastModifiedDate":1424801820.5},{"Op":"remove","Key":"o","SyncCount":3}]}`},
		{"POST", "/", "AWSCognitoIdentityService.CreateIdentityPool", `{"IdentityPoolName":"n","AllowUnauthenticatedIdentities":true,"IdentityPoolTags":{"syncd:IdentityPoolId":"us-east-1:p"}}`},
		{"POST", "/", "AWSCognitoIdentityService.DescribeIdentityPool", `{"IdentityPoolId":"us-east-1:p"}`},
		{"POST", "/", "AWSCognitoIdentityService.ListIdentityPools", `{"MaxResults":60}`},
		{"POST", "/", "AWSCognitoIdentityService.UpdateIdentityPool", `{"IdentityPoolId":"p","IdentityPoolName":"n","AllowUnauthenticatedIdentities":false}`},
		{"POST", "/", "AWSCognitoIdentityService.DeleteIdentityPool", `{"IdentityPoolId":"p"}`},
		{"POST", "/", "AWSCognitoIdentityService.GetId", `{"IdentityPoolId":"p","Logins":{"a":"b"}}`},
		{"POST", "/", "AWSCognitoIdentityService.GetCredentialsForIdentity", `{"IdentityId":"i"}`},
		{"PUT", "/identitypools/p/events", "", `{`},
		{"GET", "/x%zz", "", ``},
	}
	for _, s := range seeds {
		ct := "application/json"
		if s.uri == "/" {
			ct = "application/x-amz-json-1.1"
		}
		f.Add(s.method, s.uri, s.target, ct, "eyJ9", []byte(s.body))
	}
	h, err := httpapi.NewHandler(httpapi.Config{Sync: &fakeSync{}, Identity: &fakeIdentity{}, Auth: &fakeAuth{}, MaxBodyBytes: 1 << 12})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, uri, target, contentType, clientContext string, body []byte) {
		// Requests net/http itself would refuse never reach a handler.
		if method == "" || strings.ContainsFunc(method, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			return
		}
		u, err := url.ParseRequestURI(uri)
		if err != nil {
			return
		}
		req := &http.Request{
			Method: method, URL: u, RequestURI: uri, Host: "example.com",
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{
				"X-Amz-Target":         {target},
				"Content-Type":         {contentType},
				"X-Amz-Client-Context": {clientContext},
			},
			Body:          io.NopCloser(strings.NewReader(string(body))),
			ContentLength: int64(len(body)),
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code < 200 || w.Code >= 500 || (w.Code >= 300 && w.Code < 400) {
			t.Fatalf("%s %q target %q body %q: status %d %s", method, uri, target, body, w.Code, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %q: body is not JSON: %q", method, uri, w.Body)
		}
		if w.Header()["x-amzn-RequestId"] == nil || w.Header().Get("Date") == "" {
			t.Fatalf("%s %q: missing x-amzn-RequestId or Date: %v", method, uri, w.Header())
		}
		if w.Code >= 400 && w.Header()["x-amzn-ErrorType"] == nil {
			t.Fatalf("%s %q: error without x-amzn-ErrorType", method, uri)
		}
	})
}
