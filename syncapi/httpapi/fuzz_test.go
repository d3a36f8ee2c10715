package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cognitosync/cognitosync/syncapi"
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

// FuzzStrictJSON feeds arbitrary bodies to UpdateRecords (rest-json) and
// GetId (awsJson1.1) and checks the decoding rules AWS applies: a body with
// invalid UTF-8 or a member named twice in one object is never accepted
// (SerializationException), and a member spelt differently from the model
// (RecordPatches, IdentityPoolId) never fills it.
func FuzzStrictJSON(f *testing.F) {
	for _, s := range []string{
		`{"SyncSessionToken":"s","RecordPatches":[{"Op":"replace","Key":"k","Value":"v","SyncCount":0}]}`,
		`{"SyncSessionToken":"s","recordpatches":[{"Op":"replace","Key":"k","Value":"v","SyncCount":0}]}`,
		`{"SyncSessionToken":"a","SyncSessionToken":"b"}`,
		`{"SyncSessionToken":"a","SyncSession\u0054oken":"b"}`,
		`{"RecordPatches":[{"Key":"a","Key":"b"}]}`,
		"{\"SyncSessionToken\":\"\xff\"}",
		`{"SyncSessionToken":"\ud800"}`,
		`{"SyncSessionToken":"\ud83d\ude00"}`,
		`{"IdentityPoolId":"us-east-1:p","Logins":{"a":"1","a":"2"}}`,
		`{"identitypoolid":"us-east-1:p"}`,
		` {} `, `null`, `[]`, `{"X":{"Y":{"Z":[{},{"Z":1,"Z":2}]}}}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	var got any
	sync := &fakeSync{UpdateRecordsFn: func(_ context.Context, in syncapi.UpdateRecordsInput) (syncapi.UpdateRecordsOutput, error) {
		got = in
		return syncapi.UpdateRecordsOutput{}, nil
	}}
	identity := &fakeIdentity{GetIDFn: func(_ context.Context, in syncapi.GetIDInput) (syncapi.GetIDOutput, error) {
		got = in
		return syncapi.GetIDOutput{}, nil
	}}
	h, err := httpapi.NewHandler(httpapi.Config{Sync: sync, Identity: identity, Auth: &fakeAuth{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, identityWire bool) {
		got = nil
		uri, hdr, member := "/identitypools/p/identities/i/datasets/d", http.Header{"Content-Type": {"application/json"}}, "RecordPatches"
		if identityWire {
			uri, member = "/", "IdentityPoolId"
			hdr = http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amz-Target": {"AWSCognitoIdentityService.GetId"}}
		}
		u, _ := url.ParseRequestURI(uri)
		req := &http.Request{Method: "POST", URL: u, RequestURI: uri, Host: "example.com", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: hdr, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)

		strict := utf8.Valid(body) && !hasDuplicateNames(body)
		if !strict && w.Code != 400 {
			t.Fatalf("body %q (invalid UTF-8 or a duplicate member) answered %d %s", body, w.Code, w.Body)
		}
		if w.Code == 400 && got != nil {
			t.Fatalf("body %q refused, but the operation ran", body)
		}
		if w.Code != 200 {
			return
		}
		// Accepted: a member spelt differently from the model's name is
		// unknown, so only the exact spelling may fill it.
		if !hasExactMember(body, member) {
			switch in := got.(type) {
			case syncapi.UpdateRecordsInput:
				if len(in.RecordPatches) != 0 {
					t.Fatalf("body %q without an exact RecordPatches member decoded patches %+v", body, in.RecordPatches)
				}
			case syncapi.GetIDInput:
				if in.IdentityPoolID != "" {
					t.Fatalf("body %q without an exact IdentityPoolId member decoded %q", body, in.IdentityPoolID)
				}
			}
		}
	})
}

// hasDuplicateNames reports whether some JSON object in b (valid UTF-8) names
// a member twice, comparing names after unescaping; false for invalid JSON,
// which the handler refuses anyway.
func hasDuplicateNames(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		object bool
		names  map[string]bool
		name   bool // the next token in an object is a name
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.name {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].name = true // the object was a value
				}
				continue
			}
			name := tok.(string)
			if top.names[name] {
				return true
			}
			top.names[name] = true
			top.name = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, names: map[string]bool{}, name: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: the enclosing object expects a name next.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].name = true
		}
	}
}

// hasExactMember reports whether b is a JSON object with a top-level member
// spelt exactly name (after unescaping).
func hasExactMember(b []byte, name string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	_, ok := m[name]
	return ok
}
