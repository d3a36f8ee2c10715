package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/httpapi"
)

func TestUpdateRecords_StringTimestamp(t *testing.T) {
	s := newServer(t)
	s.sync.UpdateRecordsFn = func(context.Context, syncapi.UpdateRecordsInput) (syncapi.UpdateRecordsOutput, error) {
		t.Error("operation called with an undecodable body")
		return syncapi.UpdateRecordsOutput{}, nil
	}
	body := `{"SyncSessionToken":"s","RecordPatches":[{"Op":"replace","Key":"k","SyncCount":1,"DeviceLastModifiedDate":"2015-02-24T18:17:04Z"}]}`
	r := doRaw(t, "POST", s.URL+"/identitypools/p/identities/i/datasets/d", body, nil)
	msg := requireRawError(t, r, 400, "SerializationException", "application/json")
	if !strings.Contains(msg, "java.lang.String") {
		t.Errorf("message = %q", msg)
	}
}

// TestDecode_Bodies covers the request-body rules of spec A.3 that the SDK
// cannot produce.
func TestDecode_Bodies(t *testing.T) {
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
		check                    func(t *testing.T, in any)
	}{
		{name: "exponent and integer timestamps", method: "POST", path: "/identitypools/p/identities/i/datasets/d",
			body:   `{"SyncSessionToken":"s","Unknown":{"x":[1]},"RecordPatches":[{"Op":"replace","Key":"a","SyncCount":1,"DeviceLastModifiedDate":1.412974057151E9},{"Op":"remove","Key":"b","SyncCount":2,"DeviceLastModifiedDate":1412974057}]}`,
			status: 200, check: func(t *testing.T, in any) {
				ps := in.(syncapi.UpdateRecordsInput).RecordPatches
				if len(ps) != 2 || ps[0].DeviceLastModifiedDate.UnixMilli() != 1412974057151 || ps[1].DeviceLastModifiedDate.UnixMilli() != 1412974057000 {
					t.Errorf("patches = %+v", ps)
				}
			}},
		{name: "wrong member type", method: "POST", path: "/identitypools/p/identities/i/datasets/d",
			body: `{"SyncSessionToken":"s","RecordPatches":[{"Op":"replace","Key":"a","SyncCount":"1"}]}`, status: 400, code: "SerializationException"},
		{name: "syntax error", method: "POST", path: "/identitypools/p/identity/i/device", body: `{"Platform":`, status: 400, code: "SerializationException"},
		{name: "array body", method: "POST", path: "/identitypools/p/events", body: `[]`, status: 400, code: "SerializationException"},
		{name: "trailing garbage", method: "POST", path: "/identitypools/p/events", body: `{} {}`, status: 400, code: "SerializationException"},
		{name: "empty body on bodyless POST", method: "POST", path: "/identitypools/p/bulkpublish", body: ``, status: 200},
		{name: "garbage body on GET ignored", method: "GET", path: "/identitypools/p/identities/i/datasets/d/records", body: `not json`, status: 200},
		{name: "garbage body on DELETE ignored", method: "DELETE", path: "/identitypools/p/identities/i/datasets/d", body: `{`, status: 200},
		{name: "path label wins over body", method: "POST", path: "/identitypools/p/configuration",
			body: `{"IdentityPoolId":"other","PushSync":{"RoleArn":"r"}}`, status: 200, check: func(t *testing.T, in any) {
				if c := in.(syncapi.PoolConfiguration); c.IdentityPoolID != "p" || c.PushSync == nil || c.PushSync.RoleArn != "r" {
					t.Errorf("input = %+v", c)
				}
			}},
		{name: "literal colon", method: "GET", path: "/identitypools/us-east-1:abc/identities/us-east-1%3Adef/datasets/d/records?lastSyncCount=0",
			status: 200, check: func(t *testing.T, in any) {
				if r := in.(syncapi.ListRecordsInput); r.IdentityPoolID != "us-east-1:abc" || r.IdentityID != "us-east-1:def" || r.LastSyncCount == nil || *r.LastSyncCount != 0 {
					t.Errorf("input = %+v", r)
				}
			}},
		{name: "encoded slash stays in its label", method: "GET", path: "/identitypools/p/identities/i/datasets/a%2Fb/records",
			status: 200, check: func(t *testing.T, in any) {
				if r := in.(syncapi.ListRecordsInput); r.DatasetName != "a/b" {
					t.Errorf("DatasetName = %q", r.DatasetName)
				}
			}},
		{name: "bad lastSyncCount", method: "GET", path: "/identitypools/p/identities/i/datasets/d/records?lastSyncCount=abc", status: 400, code: "InvalidParameterException"},
		{name: "maxResults overflows int32", method: "GET", path: "/identitypools/p/identities/i/datasets?maxResults=3000000000", status: 400, code: "InvalidParameterException"},
		{name: "unknown path", method: "GET", path: "/identitypools/p/nothing", status: 404, code: "UnknownOperationException"},
		{name: "empty label", method: "GET", path: "/identitypools/p/identities//datasets", status: 404, code: "UnknownOperationException"},
		{name: "path outside the API", method: "GET", path: "/favicon.ico", status: 404, code: "UnknownOperationException"},
		{name: "case-sensitive literal", method: "POST", path: "/identitypools/p/getbulkpublishdetails", status: 404, code: "UnknownOperationException"},
		{name: "wrong method", method: "PUT", path: "/identitypools/p/identities/i/datasets/d", status: 405, code: "UnknownOperationException"},
		{name: "GET on identity endpoint", method: "GET", path: "/", status: 405, code: "UnknownOperationException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			var got any
			s.sync.UpdateRecordsFn = func(_ context.Context, in syncapi.UpdateRecordsInput) (syncapi.UpdateRecordsOutput, error) {
				got = in
				return syncapi.UpdateRecordsOutput{}, nil
			}
			s.sync.ListRecordsFn = func(_ context.Context, in syncapi.ListRecordsInput) (syncapi.ListRecordsOutput, error) {
				got = in
				return syncapi.ListRecordsOutput{}, nil
			}
			s.sync.SetIdentityPoolConfigurationFn = func(_ context.Context, in syncapi.PoolConfiguration) (syncapi.PoolConfiguration, error) {
				got = in
				return in, nil
			}
			r := doRaw(t, tc.method, s.URL+tc.path, tc.body, nil)
			if tc.code != "" {
				ct := "application/json"
				if tc.path == "/" {
					ct = "application/x-amz-json-1.1"
				}
				requireRawError(t, r, tc.status, tc.code, ct)
				return
			}
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			requireCommonHeaders(t, r, "application/json")
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

func TestWrongMethod_Allow(t *testing.T) {
	s := newServer(t)
	r := doRaw(t, "PUT", s.URL+"/identitypools/p/events", "", nil)
	requireRawError(t, r, 405, "UnknownOperationException", "application/json")
	if got := r.header.Get("Allow"); got != "GET, POST" {
		t.Errorf("Allow = %q", got)
	}
}

func TestBodyTooLarge(t *testing.T) {
	s := newServer(t, func(c *httpapi.Config) { c.MaxBodyBytes = 64 })
	body := `{"SyncSessionToken":"` + strings.Repeat("x", 100) + `"}`
	r := doRaw(t, "POST", s.URL+"/identitypools/p/identities/i/datasets/d", body, nil)
	requireRawError(t, r, 413, "RequestEntityTooLargeException", "application/json")
}

// TestAlwaysPresent checks that lists and maps clients dereference are sent
// as [] / {} even when the implementation returns nil (spec C.4, C.9), and
// that the empty-output operations answer {}.
func TestAlwaysPresent(t *testing.T) {
	cases := []struct{ method, path, want string }{
		{"GET", "/identitypools/p/identities/i/datasets/d/records", `"Records":[]`},
		{"POST", "/identitypools/p/identities/i/datasets/d", `"Records":[]`},
		{"GET", "/identitypools/p/identities/i/datasets", `"Datasets":[]`},
		{"GET", "/identitypools", `"IdentityPoolUsages":[]`},
		{"GET", "/identitypools/p/events", `"Events":{}`},
		{"POST", "/identitypools/p/events", `{}`},
		{"POST", "/identitypools/p/identities/i/datasets/d/subscriptions/dev", `{}`},
		{"DELETE", "/identitypools/p/identities/i/datasets/d/subscriptions/dev", `{}`},
	}
	s := newServer(t)
	for _, tc := range cases {
		r := doRaw(t, tc.method, s.URL+tc.path, "{}", nil)
		if r.status != 200 || !bytes.Contains(r.body, []byte(tc.want)) || !json.Valid(r.body) {
			t.Errorf("%s %s: %d %s, want %s", tc.method, tc.path, r.status, r.body, tc.want)
		}
	}
}

func TestErrorLog_Structured(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := newServer(t, func(c *httpapi.Config) { c.Log = log })
	s.sync.DescribeIdentityPoolUsageFn = func(context.Context, syncapi.PoolInput) (syncapi.DescribeIdentityPoolUsageOutput, error) {
		return syncapi.DescribeIdentityPoolUsageOutput{}, context.DeadlineExceeded
	}
	r := doRaw(t, "GET", s.URL+"/identitypools/pool-1", "", nil)
	requireRawError(t, r, 500, "InternalErrorException", "application/json")
	var sawError, sawAccess bool
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var e map[string]any
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		switch e["level"] {
		case "ERROR":
			sawError = e["operation"] == "DescribeIdentityPoolUsage" && e["request_id"] == r.header.Get("X-Amzn-Requestid") &&
				e["err"] == "context deadline exceeded"
		case "DEBUG":
			sawAccess = e["operation"] == "DescribeIdentityPoolUsage" && e["identity_pool"] == "pool-1" &&
				e["status"] == float64(500) && e["code"] == "InternalErrorException" && e["duration"] != nil
		}
	}
	if !sawError || !sawAccess {
		t.Errorf("error logged %v, access logged %v:\n%s", sawError, sawAccess, buf.String())
	}
}

func TestNewHandler_Validate(t *testing.T) {
	_, err := httpapi.NewHandler(httpapi.Config{MaxBodyBytes: -1})
	if err == nil {
		t.Fatal("NewHandler accepted an empty Config")
	}
	for _, want := range []string{"Sync", "Identity", "Auth", "MaxBodyBytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}
