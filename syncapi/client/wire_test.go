package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/client"
	"github.com/cognitosync/cognitosync/syncapi/httpapi"
)

// wireCase is one operation as the strict wire checker expects it (spec A.3,
// A.7, A.8) and the canned AWS-format answer it gives.
type wireCase struct {
	op       string
	call     func(context.Context, *client.Client) (any, error)
	method   string
	rawPath  string            // exactly as sent (RequestURI before '?')
	rawQuery string            // exactly as sent
	header   map[string]string // extra request headers
	body     string            // expected JSON body; "" means no body (GET/DELETE)
	resp     string            // canned response body
	want     any               // decoded output
}

var (
	ts1 = syncapi.TimeFromMillis(1412974057151) // 1.412974057151E9
	ts2 = syncapi.TimeFromMillis(1424801824343)
	ts3 = syncapi.TimeFromMillis(1424801820500)

	dsPath  = "/identitypools/" + poolEsc + "/identities/" + identityEsc + "/datasets/settings"
	subPath = "/identitypools/" + poolEsc + "/identities/" + identityEsc + "/datasets/settings/subscriptions/device%2F1%20a"

	datasetJSON = `{"CreationDate":1.412974057151E9,"DataStorage":16,"DatasetName":"settings","IdentityId":"` + identity +
		`","LastModifiedBy":"123456789012","LastModifiedDate":1.412974057151E9,"NumRecords":8}`
	dataset = syncapi.Dataset{IdentityID: identity, DatasetName: "settings", CreationDate: ts1, LastModifiedDate: ts1,
		LastModifiedBy: "123456789012", DataStorage: 16, NumRecords: 8}

	pushSync = &syncapi.PushSync{ApplicationArns: []string{"arn:aws:sns:us-east-1:123456789012:app/GCM/MyApp"},
		RoleArn: "arn:aws:iam::123456789012:role/CognitoPush"}
	streams = &syncapi.CognitoStreams{StreamName: "sync-stream", RoleArn: "arn:aws:iam::123456789012:role/CognitoStreams",
		StreamingStatus: syncapi.StreamingEnabled}
	configJSON = `{"IdentityPoolId":"` + pool + `","PushSync":{"ApplicationArns":["arn:aws:sns:us-east-1:123456789012:app/GCM/MyApp"],"RoleArn":"arn:aws:iam::123456789012:role/CognitoPush"},` +
		`"CognitoStreams":{"StreamName":"sync-stream","RoleArn":"arn:aws:iam::123456789012:role/CognitoStreams","StreamingStatus":"ENABLED"}}`

	// The spec's ListRecords example (C.4) in AWS's exponent timestamp form,
	// with a tombstone (oldKey) and the nulls AWS examples show.
	listRecordsJSON = `{"Records":[
	  {"Key":"highScore","Value":"120","SyncCount":7,"LastModifiedDate":1.424801824343E9,"LastModifiedBy":"` + identity + `","DeviceLastModifiedDate":1424801820.5},
	  {"Key":"oldKey","SyncCount":7,"LastModifiedDate":1.412974057151E9,"LastModifiedBy":"` + identity + `","DeviceLastModifiedDate":1.4248018205E9}],
	  "Count":2,"DatasetSyncCount":7,"LastModifiedBy":"` + identity + `","MergedDatasetNames":null,"NextToken":null,
	  "DatasetExists":true,"DatasetDeletedAfterRequestedSyncCount":false,"SyncSessionToken":"eyJwIjoi"}`
	records = []syncapi.Record{
		{Key: "highScore", Value: aws.String("120"), SyncCount: 7, LastModifiedDate: ts2, LastModifiedBy: identity, DeviceLastModifiedDate: ts3},
		{Key: "oldKey", SyncCount: 7, LastModifiedDate: ts1, LastModifiedBy: identity, DeviceLastModifiedDate: ts3},
	}
)

func wireCases() []wireCase {
	return []wireCase{
		{
			op: "BulkPublish",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.BulkPublish(ctx, syncapi.PoolInput{IdentityPoolID: pool})
			},
			method: "POST", rawPath: "/identitypools/" + poolEsc + "/bulkpublish", body: `{}`,
			resp: `{"IdentityPoolId":"` + pool + `"}`,
			want: syncapi.BulkPublishOutput{IdentityPoolID: pool},
		},
		{
			op: "DeleteDataset",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.DeleteDataset(ctx, syncapi.DatasetInput{IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings.us-east-1:abc"})
			},
			method: "DELETE", rawPath: "/identitypools/" + poolEsc + "/identities/" + identityEsc + "/datasets/settings.us-east-1%3Aabc",
			resp: `{"Dataset":` + datasetJSON + `}`,
			want: syncapi.DatasetOutput{Dataset: dataset},
		},
		{
			op: "DescribeDataset",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.DescribeDataset(ctx, syncapi.DatasetInput{IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings"})
			},
			method: "GET", rawPath: dsPath,
			resp: `{"Dataset":` + datasetJSON + `}`,
			want: syncapi.DatasetOutput{Dataset: dataset},
		},
		{
			op: "DescribeIdentityPoolUsage",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.DescribeIdentityPoolUsage(ctx, syncapi.PoolInput{IdentityPoolID: pool})
			},
			method: "GET", rawPath: "/identitypools/" + poolEsc,
			resp: `{"IdentityPoolUsage":{"DataStorage":0,"IdentityPoolId":"` + pool + `","LastModifiedDate":null,"SyncSessionsCount":null}}`,
			want: syncapi.DescribeIdentityPoolUsageOutput{IdentityPoolUsage: syncapi.IdentityPoolUsage{IdentityPoolID: pool}},
		},
		{
			op: "DescribeIdentityUsage",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.DescribeIdentityUsage(ctx, syncapi.IdentityInput{IdentityPoolID: pool, IdentityID: identity})
			},
			method: "GET", rawPath: "/identitypools/" + poolEsc + "/identities/" + identityEsc,
			resp: `{"IdentityUsage":{"DataStorage":16,"DatasetCount":1,"IdentityId":"` + identity + `","IdentityPoolId":"` + pool + `","LastModifiedDate":1.412974057151E9}}`,
			want: syncapi.DescribeIdentityUsageOutput{IdentityUsage: syncapi.IdentityUsage{IdentityID: identity, IdentityPoolID: pool,
				LastModifiedDate: ts1, DatasetCount: 1, DataStorage: 16}},
		},
		{
			op: "GetBulkPublishDetails",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.GetBulkPublishDetails(ctx, syncapi.PoolInput{IdentityPoolID: pool})
			},
			method: "POST", rawPath: "/identitypools/" + poolEsc + "/getBulkPublishDetails", body: `{}`,
			resp: `{"IdentityPoolId":"` + pool + `","BulkPublishStartTime":1424801824.343,"BulkPublishCompleteTime":1.412974057151E9,"BulkPublishStatus":"FAILED","FailureMessage":"stream gone"}`,
			want: syncapi.GetBulkPublishDetailsOutput{IdentityPoolID: pool, BulkPublishStartTime: ts2, BulkPublishCompleteTime: ts1,
				BulkPublishStatus: syncapi.BulkFailed, FailureMessage: "stream gone"},
		},
		{
			op: "GetCognitoEvents",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.GetCognitoEvents(ctx, syncapi.PoolInput{IdentityPoolID: pool})
			},
			method: "GET", rawPath: "/identitypools/" + poolEsc + "/events",
			resp: `{"Events":{"SyncTrigger":"arn:aws:lambda:us-east-1:123456789012:function:validate"}}`,
			want: syncapi.CognitoEventsOutput{Events: map[string]string{"SyncTrigger": "arn:aws:lambda:us-east-1:123456789012:function:validate"}},
		},
		{
			op: "GetIdentityPoolConfiguration",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.GetIdentityPoolConfiguration(ctx, syncapi.PoolInput{IdentityPoolID: pool})
			},
			method: "GET", rawPath: "/identitypools/" + poolEsc + "/configuration",
			resp: configJSON,
			want: syncapi.PoolConfiguration{IdentityPoolID: pool, PushSync: pushSync, CognitoStreams: streams},
		},
		{
			op: "ListDatasets",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.ListDatasets(ctx, syncapi.ListDatasetsInput{IdentityPoolID: pool, IdentityID: identity, MaxResults: aws.Int32(64)})
			},
			method: "GET", rawPath: "/identitypools/" + poolEsc + "/identities/" + identityEsc + "/datasets",
			rawQuery: "maxResults=64",
			resp:     `{"Count":1,"Datasets":[` + datasetJSON + `],"NextToken":null}`,
			want:     syncapi.ListDatasetsOutput{Datasets: []syncapi.Dataset{dataset}, Count: 1},
		},
		{
			op: "ListIdentityPoolUsage",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.ListIdentityPoolUsage(ctx, syncapi.ListIdentityPoolUsageInput{NextToken: "dXMt+ZWFz/dC0x==", MaxResults: aws.Int32(2)})
			},
			method: "GET", rawPath: "/identitypools",
			rawQuery: "maxResults=2&nextToken=dXMt%2BZWFz%2FdC0x%3D%3D",
			resp: `{"Count":1,"IdentityPoolUsages":[{"DataStorage":0,"IdentityPoolId":"` + pool + `","LastModifiedDate":1.412974057151E9,"SyncSessionsCount":3}],` +
				`"MaxResults":2,"NextToken":"dXMtZWFzdC0xOjBj"}`,
			want: syncapi.ListIdentityPoolUsageOutput{IdentityPoolUsages: []syncapi.IdentityPoolUsage{
				{IdentityPoolID: pool, SyncSessionsCount: 3, LastModifiedDate: ts1}}, MaxResults: 2, Count: 1, NextToken: "dXMtZWFzdC0xOjBj"},
		},
		{
			op: "ListRecords",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.ListRecords(ctx, syncapi.ListRecordsInput{IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings",
					LastSyncCount: aws.Int64(5), MaxResults: aws.Int32(1024), NextToken: "a b", SyncSessionToken: "eyJ+/="})
			},
			method: "GET", rawPath: dsPath + "/records",
			rawQuery: "lastSyncCount=5&maxResults=1024&nextToken=a%20b&syncSessionToken=eyJ%2B%2F%3D",
			resp:     listRecordsJSON,
			want: syncapi.ListRecordsOutput{Records: records, Count: 2, DatasetSyncCount: 7, LastModifiedBy: identity,
				DatasetExists: true, SyncSessionToken: "eyJwIjoi"},
		},
		{
			op: "ListRecords/zero-lastSyncCount",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.ListRecords(ctx, syncapi.ListRecordsInput{IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings",
					LastSyncCount: aws.Int64(0)})
			},
			method: "GET", rawPath: dsPath + "/records", rawQuery: "lastSyncCount=0",
			resp: `{"Records":[],"Count":0,"DatasetSyncCount":0,"DatasetExists":false,"DatasetDeletedAfterRequestedSyncCount":false,"SyncSessionToken":"t"}`,
			want: syncapi.ListRecordsOutput{Records: []syncapi.Record{}, SyncSessionToken: "t"},
		},
		{
			op: "RegisterDevice",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.RegisterDevice(ctx, syncapi.RegisterDeviceInput{IdentityPoolID: pool, IdentityID: identity, Platform: "GCM", Token: "push-token"})
			},
			method: "POST", rawPath: "/identitypools/" + poolEsc + "/identity/" + identityEsc + "/device",
			body: `{"Platform":"GCM","Token":"push-token"}`,
			resp: `{"DeviceId":"5cd28fbe-dd83-47ab-9f83-19093a5fb014"}`,
			want: syncapi.RegisterDeviceOutput{DeviceID: "5cd28fbe-dd83-47ab-9f83-19093a5fb014"},
		},
		{
			op: "SetCognitoEvents",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return nil, c.SetCognitoEvents(ctx, syncapi.SetCognitoEventsInput{IdentityPoolID: pool,
					Events: map[string]string{"SyncTrigger": "arn:aws:lambda:us-east-1:123456789012:function:validate"}})
			},
			method: "POST", rawPath: "/identitypools/" + poolEsc + "/events",
			body: `{"Events":{"SyncTrigger":"arn:aws:lambda:us-east-1:123456789012:function:validate"}}`,
			resp: ``, // no output shape: empty body (spec A.4)
		},
		{
			op: "SetIdentityPoolConfiguration",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return c.SetIdentityPoolConfiguration(ctx, syncapi.PoolConfiguration{IdentityPoolID: pool, PushSync: pushSync, CognitoStreams: streams})
			},
			method: "POST", rawPath: "/identitypools/" + poolEsc + "/configuration",
			body: `{"PushSync":{"ApplicationArns":["arn:aws:sns:us-east-1:123456789012:app/GCM/MyApp"],"RoleArn":"arn:aws:iam::123456789012:role/CognitoPush"},` +
				`"CognitoStreams":{"StreamName":"sync-stream","RoleArn":"arn:aws:iam::123456789012:role/CognitoStreams","StreamingStatus":"ENABLED"}}`,
			resp: configJSON,
			want: syncapi.PoolConfiguration{IdentityPoolID: pool, PushSync: pushSync, CognitoStreams: streams},
		},
		{
			op: "SubscribeToDataset",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return nil, c.SubscribeToDataset(ctx, syncapi.SubscriptionInput{IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings", DeviceID: "device/1 a"})
			},
			method: "POST", rawPath: subPath, body: `{}`, resp: `{}`,
		},
		{
			op: "UnsubscribeFromDataset",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				return nil, c.UnsubscribeFromDataset(ctx, syncapi.SubscriptionInput{IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings", DeviceID: "device/1 a"})
			},
			method: "DELETE", rawPath: subPath, resp: `{}`,
		},
		{
			op: "UpdateRecords",
			call: func(ctx context.Context, c *client.Client) (any, error) {
				dev := syncapi.NewTime(ts3.Time)
				return c.UpdateRecords(ctx, syncapi.UpdateRecordsInput{IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings",
					ClientContext: "eyJjbGllbnQiOnt9fQ==", DeviceID: "5cd28fbe-dd83-47ab-9f83-19093a5fb014", SyncSessionToken: "eyJwIjoi",
					RecordPatches: []syncapi.RecordPatch{
						{Op: syncapi.OpReplace, Key: "highScore", Value: aws.String("120"), SyncCount: 5, DeviceLastModifiedDate: &dev},
						{Op: syncapi.OpRemove, Key: "oldKey", SyncCount: 3},
					}})
			},
			method: "POST", rawPath: dsPath,
			header: map[string]string{"X-Amz-Client-Context": "eyJjbGllbnQiOnt9fQ=="},
			body: `{"SyncSessionToken":"eyJwIjoi","DeviceId":"5cd28fbe-dd83-47ab-9f83-19093a5fb014",
			 "RecordPatches":[{"Op":"replace","Key":"highScore","Value":"120","SyncCount":5,"DeviceLastModifiedDate":1424801820.5},
			                  {"Op":"remove","Key":"oldKey","SyncCount":3}]}`,
			resp: `{"Records":[{"Key":"highScore","Value":"120","SyncCount":6,"LastModifiedDate":1.424801824343E9,"LastModifiedBy":"` + identity +
				`","DeviceLastModifiedDate":1424801820.5}]}`,
			want: syncapi.UpdateRecordsOutput{Records: []syncapi.Record{
				{Key: "highScore", Value: aws.String("120"), SyncCount: 6, LastModifiedDate: ts2, LastModifiedBy: identity, DeviceLastModifiedDate: ts3}}},
		},
	}
}

// TestWire_AllOperations runs every operation against a strict wire checker:
// method, raw escaped path, raw query, headers, body and a SigV4 signature
// re-verified with aws-sdk-go v1's signer; the answer is canned AWS JSON.
func TestWire_AllOperations(t *testing.T) {
	cases := wireCases()
	seen := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.op, func(t *testing.T) {
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls++
				body := readBody(t, r)
				checkWire(t, tc, r, body)
				writeJSON(w, http.StatusOK, tc.resp)
			}))
			defer srv.Close()
			// NewFromConfig, as applications build SDK clients.
			c := client.NewFromConfig(aws.Config{
				Region:       region,
				BaseEndpoint: aws.String(srv.URL),
				Credentials:  staticCreds,
				HTTPClient:   srv.Client(),
			})
			got, err := tc.call(context.Background(), c)
			if err != nil {
				t.Fatalf("%s: %v", tc.op, err)
			}
			if calls != 1 {
				t.Fatalf("server saw %d requests, want 1", calls)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("output\n got %+v\nwant %+v", got, tc.want)
			}
		})
		seen[opName(tc.op)] = true
	}
	for _, op := range httpapi.Operations {
		if !seen[op.Name] {
			t.Errorf("operation %s has no wire case", op.Name)
		}
	}
}

func opName(s string) string {
	name, _, _ := strings.Cut(s, "/")
	return name
}
func checkWire(t *testing.T, tc wireCase, r *http.Request, body []byte) {
	t.Helper()
	if r.Method != tc.method {
		t.Errorf("method %s, want %s", r.Method, tc.method)
	}
	rawPath, rawQuery, _ := strings.Cut(r.RequestURI, "?")
	if rawPath != tc.rawPath {
		t.Errorf("raw path\n got %s\nwant %s", rawPath, tc.rawPath)
	}
	if rawQuery != tc.rawQuery {
		t.Errorf("raw query %q, want %q", rawQuery, tc.rawQuery)
	}
	for k, v := range tc.header {
		if got := r.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if tc.header == nil && r.Header.Get("X-Amz-Client-Context") != "" {
		t.Errorf("unexpected x-amz-Client-Context %q", r.Header.Get("X-Amz-Client-Context"))
	}
	if tc.body == "" {
		if len(body) != 0 || r.Header.Get("Content-Type") != "" {
			t.Errorf("%s sent body %q with Content-Type %q, want none", tc.method, body, r.Header.Get("Content-Type"))
		}
	} else {
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q, want application/json", ct)
		}
		if !jsonEqual(t, body, tc.body) {
			t.Errorf("body\n got %s\nwant %s", body, tc.body)
		}
		if r.ContentLength != int64(len(body)) {
			t.Errorf("Content-Length %d, body %d bytes", r.ContentLength, len(body))
		}
	}
	verifySigV4(t, r, body)
}
