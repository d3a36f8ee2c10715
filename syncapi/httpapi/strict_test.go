package httpapi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cognitosync/cognitosync/syncapi"
)

// TestDecode_Strict: member names are matched as AWS matches them (exactly;
// a differently spelt member is unknown and ignored), and duplicate members
// and invalid UTF-8 are SerializationException, on both wires. encoding/json
// matched case-insensitively, took the last duplicate and replaced invalid
// UTF-8 with U+FFFD (issue: JSON hostile input).
func TestDecode_Strict(t *testing.T) {
	const update = "/identitypools/p/identities/i/datasets/d"
	type want struct {
		status int
		code   string
		check  func(t *testing.T, in any)
	}
	ok := func(check func(t *testing.T, in any)) want { return want{status: 200, check: check} }
	serialization := want{status: 400, code: "SerializationException"}
	patches := func(t *testing.T, in any) []syncapi.RecordPatch {
		t.Helper()
		return in.(syncapi.UpdateRecordsInput).RecordPatches
	}
	cases := []struct {
		name, target, body string
		want               want
	}{
		{name: "member names are case-sensitive: a lower-case one is unknown", body: `{"SyncSessionToken":"s","recordPatches":[{"Op":"replace","Key":"k","Value":"v","SyncCount":0}]}`,
			want: ok(func(t *testing.T, in any) {
				if ps := patches(t, in); len(ps) != 0 {
					t.Errorf("recordPatches decoded as RecordPatches: %+v", ps)
				}
			})},
		{name: "nested member names are case-sensitive", body: `{"SyncSessionToken":"s","RecordPatches":[{"op":"remove","Op":"replace","Key":"k","value":"x","Value":"v","SyncCount":0}]}`,
			want: ok(func(t *testing.T, in any) {
				ps := patches(t, in)
				if len(ps) != 1 || ps[0].Op != syncapi.OpReplace || ps[0].Value == nil || *ps[0].Value != "v" {
					t.Errorf("patches = %+v", ps)
				}
			})},
		{name: "duplicate top-level member", body: `{"SyncSessionToken":"a","SyncSessionToken":"b"}`, want: serialization},
		{name: "duplicate member in a patch", body: `{"SyncSessionToken":"s","RecordPatches":[{"Op":"replace","Key":"a","Key":"b","SyncCount":0}]}`, want: serialization},
		{name: "duplicate unknown member", body: `{"SyncSessionToken":"s","X":1,"X":2}`, want: serialization},
		{name: "same name spelt with an escape is a duplicate", body: `{"SyncSessionToken":"a","SyncSession\u0054oken":"b"}`, want: serialization},
		{name: "invalid UTF-8 in a value", body: "{\"SyncSessionToken\":\"s\",\"RecordPatches\":[{\"Op\":\"replace\",\"Key\":\"k\",\"Value\":\"\xff\xfe\",\"SyncCount\":0}]}", want: serialization},
		{name: "invalid UTF-8 in a member name", body: "{\"SyncSessionToken\":\"s\",\"\xc3\":1}", want: serialization},
		{name: "truncated UTF-8 sequence", body: "{\"SyncSessionToken\":\"s\xe2\x82\"}", want: serialization},
		{name: "escaped lone surrogate", body: `{"SyncSessionToken":"s","RecordPatches":[{"Op":"replace","Key":"k","Value":"\ud800","SyncCount":0}]}`, want: serialization},
		{name: "escaped surrogate pair is fine", body: `{"SyncSessionToken":"s","RecordPatches":[{"Op":"replace","Key":"k","Value":"\ud83d\ude00 é","SyncCount":0}]}`,
			want: ok(func(t *testing.T, in any) {
				if ps := patches(t, in); len(ps) != 1 || *ps[0].Value != "😀 é" {
					t.Errorf("patches = %+v", ps)
				}
			})},
		{name: "unknown members ignored", body: `{"SyncSessionToken":"s","Extra":{"Nested":[1,"two",null]},"DeviceId":"d"}`,
			want: ok(func(t *testing.T, in any) {
				if u := in.(syncapi.UpdateRecordsInput); u.DeviceID != "d" || u.SyncSessionToken != "s" {
					t.Errorf("input = %+v", u)
				}
			})},

		{name: "identity: lower-case member unknown", target: "GetId", body: `{"identityPoolId":"us-east-1:p"}`,
			want: ok(func(t *testing.T, in any) {
				if g := in.(syncapi.GetIDInput); g.IdentityPoolID != "" {
					t.Errorf("identityPoolId decoded as IdentityPoolId: %+v", g)
				}
			})},
		{name: "identity: duplicate member", target: "GetId", body: `{"IdentityPoolId":"us-east-1:a","IdentityPoolId":"us-east-1:b"}`, want: serialization},
		{name: "identity: duplicate map key", target: "GetId", body: `{"IdentityPoolId":"us-east-1:p","Logins":{"a":"1","a":"2"}}`, want: serialization},
		{name: "identity: invalid UTF-8", target: "GetCredentialsForIdentity", body: "{\"IdentityId\":\"us-east-1:\xa0\"}", want: serialization},
		{name: "identity: invalid UTF-8 in a signed call", target: "CreateIdentityPool", body: "{\"IdentityPoolName\":\"n\xff\",\"AllowUnauthenticatedIdentities\":true}", want: serialization},
		{name: "identity: duplicate in a signed call", target: "CreateIdentityPool", body: `{"IdentityPoolName":"n","AllowUnauthenticatedIdentities":true,"IdentityPoolTags":{"k":"1","k":"2"}}`, want: serialization},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			var got any
			called := 0
			s.sync.UpdateRecordsFn = func(_ context.Context, in syncapi.UpdateRecordsInput) (syncapi.UpdateRecordsOutput, error) {
				got, called = in, called+1
				return syncapi.UpdateRecordsOutput{}, nil
			}
			s.identity.GetIDFn = func(_ context.Context, in syncapi.GetIDInput) (syncapi.GetIDOutput, error) {
				got, called = in, called+1
				return syncapi.GetIDOutput{}, nil
			}
			s.identity.GetCredentialsForIdentityFn = func(_ context.Context, in syncapi.GetCredentialsForIdentityInput) (syncapi.GetCredentialsForIdentityOutput, error) {
				got, called = in, called+1
				return syncapi.GetCredentialsForIdentityOutput{}, nil
			}
			s.identity.CreateIdentityPoolFn = func(_ context.Context, in syncapi.IdentityPool) (syncapi.IdentityPool, error) {
				got, called = in, called+1
				return in, nil
			}
			url, ct, hdr := s.URL+update, "application/json", map[string]string(nil)
			if tc.target != "" {
				url, ct = s.URL+"/", "application/x-amz-json-1.1"
				hdr = map[string]string{"X-Amz-Target": "AWSCognitoIdentityService." + tc.target, "Content-Type": ct}
			}
			r := doRaw(t, "POST", url, tc.body, hdr)
			if tc.want.code != "" {
				msg := requireRawError(t, r, tc.want.status, tc.want.code, ct)
				if called != 0 {
					t.Errorf("operation called with a refused body: %+v", got)
				}
				if strings.Contains(msg, "json:") || strings.Contains(msg, "Go ") {
					t.Errorf("message names Go internals: %q", msg)
				}
				return
			}
			if r.status != tc.want.status || called != 1 {
				t.Fatalf("status %d (operation called %d times): %s", r.status, called, r.body)
			}
			tc.want.check(t, got)
		})
	}
}
