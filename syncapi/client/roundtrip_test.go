package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"

	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/client"
	"github.com/cognitosync/cognitosync/syncapi/httpapi"
)

// echoSync is a function-field syncapi.SyncAPI that records each input and
// answers an output derived from it. A non-nil err is returned instead.
type echoSync struct {
	mu  sync.Mutex
	got any
	err error
}

var _ syncapi.SyncAPI = (*echoSync)(nil)

func echo[I, O any](f *echoSync, in I, out func(I) O) (O, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = in
	if f.err != nil {
		var zero O
		return zero, f.err
	}
	return out(in), nil
}

func (f *echoSync) last() any { f.mu.Lock(); defer f.mu.Unlock(); return f.got }

func echoDataset(in syncapi.DatasetInput) syncapi.DatasetOutput {
	return syncapi.DatasetOutput{Dataset: syncapi.Dataset{IdentityID: in.IdentityID, DatasetName: in.DatasetName,
		CreationDate: ts1, LastModifiedDate: ts2, LastModifiedBy: in.IdentityPoolID, DataStorage: 3, NumRecords: 1}}
}

func (f *echoSync) BulkPublish(_ context.Context, in syncapi.PoolInput) (syncapi.BulkPublishOutput, error) {
	return echo(f, in, func(in syncapi.PoolInput) syncapi.BulkPublishOutput {
		return syncapi.BulkPublishOutput{IdentityPoolID: in.IdentityPoolID}
	})
}
func (f *echoSync) DeleteDataset(_ context.Context, in syncapi.DatasetInput) (syncapi.DatasetOutput, error) {
	return echo(f, in, echoDataset)
}
func (f *echoSync) DescribeDataset(_ context.Context, in syncapi.DatasetInput) (syncapi.DatasetOutput, error) {
	return echo(f, in, echoDataset)
}
func (f *echoSync) DescribeIdentityPoolUsage(_ context.Context, in syncapi.PoolInput) (syncapi.DescribeIdentityPoolUsageOutput, error) {
	return echo(f, in, func(in syncapi.PoolInput) syncapi.DescribeIdentityPoolUsageOutput {
		return syncapi.DescribeIdentityPoolUsageOutput{IdentityPoolUsage: syncapi.IdentityPoolUsage{IdentityPoolID: in.IdentityPoolID, SyncSessionsCount: 2, LastModifiedDate: ts1}}
	})
}
func (f *echoSync) DescribeIdentityUsage(_ context.Context, in syncapi.IdentityInput) (syncapi.DescribeIdentityUsageOutput, error) {
	return echo(f, in, func(in syncapi.IdentityInput) syncapi.DescribeIdentityUsageOutput {
		return syncapi.DescribeIdentityUsageOutput{IdentityUsage: syncapi.IdentityUsage{IdentityID: in.IdentityID, IdentityPoolID: in.IdentityPoolID, DatasetCount: 4}}
	})
}
func (f *echoSync) GetBulkPublishDetails(_ context.Context, in syncapi.PoolInput) (syncapi.GetBulkPublishDetailsOutput, error) {
	return echo(f, in, func(in syncapi.PoolInput) syncapi.GetBulkPublishDetailsOutput {
		return syncapi.GetBulkPublishDetailsOutput{IdentityPoolID: in.IdentityPoolID, BulkPublishStartTime: ts1, BulkPublishStatus: syncapi.BulkInProgress}
	})
}
func (f *echoSync) GetCognitoEvents(_ context.Context, in syncapi.PoolInput) (syncapi.CognitoEventsOutput, error) {
	return echo(f, in, func(in syncapi.PoolInput) syncapi.CognitoEventsOutput {
		return syncapi.CognitoEventsOutput{Events: map[string]string{syncapi.EventSyncTrigger: "fn-" + in.IdentityPoolID}}
	})
}
func (f *echoSync) GetIdentityPoolConfiguration(_ context.Context, in syncapi.PoolInput) (syncapi.PoolConfiguration, error) {
	return echo(f, in, func(in syncapi.PoolInput) syncapi.PoolConfiguration {
		return syncapi.PoolConfiguration{IdentityPoolID: in.IdentityPoolID, PushSync: pushSync, CognitoStreams: streams}
	})
}
func (f *echoSync) ListDatasets(_ context.Context, in syncapi.ListDatasetsInput) (syncapi.ListDatasetsOutput, error) {
	return echo(f, in, func(in syncapi.ListDatasetsInput) syncapi.ListDatasetsOutput {
		return syncapi.ListDatasetsOutput{Datasets: []syncapi.Dataset{{IdentityID: in.IdentityID, DatasetName: "after-" + in.NextToken}},
			Count: int(*in.MaxResults), NextToken: in.NextToken + "+1"}
	})
}
func (f *echoSync) ListIdentityPoolUsage(_ context.Context, in syncapi.ListIdentityPoolUsageInput) (syncapi.ListIdentityPoolUsageOutput, error) {
	return echo(f, in, func(in syncapi.ListIdentityPoolUsageInput) syncapi.ListIdentityPoolUsageOutput {
		return syncapi.ListIdentityPoolUsageOutput{IdentityPoolUsages: []syncapi.IdentityPoolUsage{{IdentityPoolID: in.NextToken}},
			MaxResults: int(*in.MaxResults), Count: 1}
	})
}
func (f *echoSync) ListRecords(_ context.Context, in syncapi.ListRecordsInput) (syncapi.ListRecordsOutput, error) {
	return echo(f, in, func(in syncapi.ListRecordsInput) syncapi.ListRecordsOutput {
		return syncapi.ListRecordsOutput{
			Records: []syncapi.Record{
				{Key: in.NextToken, Value: aws.String(in.SyncSessionToken), SyncCount: *in.LastSyncCount + 1, LastModifiedDate: ts2, LastModifiedBy: in.IdentityID},
				{Key: "tombstone", SyncCount: *in.LastSyncCount + 1, LastModifiedDate: ts1},
			},
			Count: 2, DatasetSyncCount: *in.LastSyncCount + 1, LastModifiedBy: in.IdentityID, MergedDatasetNames: []string{in.DatasetName + ".x"},
			DatasetExists: true, SyncSessionToken: in.SyncSessionToken,
		}
	})
}
func (f *echoSync) RegisterDevice(_ context.Context, in syncapi.RegisterDeviceInput) (syncapi.RegisterDeviceOutput, error) {
	return echo(f, in, func(in syncapi.RegisterDeviceInput) syncapi.RegisterDeviceOutput {
		return syncapi.RegisterDeviceOutput{DeviceID: in.Platform + "/" + in.Token}
	})
}
func (f *echoSync) SetCognitoEvents(_ context.Context, in syncapi.SetCognitoEventsInput) error {
	_, err := echo(f, in, func(syncapi.SetCognitoEventsInput) struct{} { return struct{}{} })
	return err
}
func (f *echoSync) SetIdentityPoolConfiguration(_ context.Context, in syncapi.PoolConfiguration) (syncapi.PoolConfiguration, error) {
	return echo(f, in, func(in syncapi.PoolConfiguration) syncapi.PoolConfiguration { return in })
}
func (f *echoSync) SubscribeToDataset(_ context.Context, in syncapi.SubscriptionInput) error {
	_, err := echo(f, in, func(syncapi.SubscriptionInput) struct{} { return struct{}{} })
	return err
}
func (f *echoSync) UnsubscribeFromDataset(_ context.Context, in syncapi.SubscriptionInput) error {
	_, err := echo(f, in, func(syncapi.SubscriptionInput) struct{} { return struct{}{} })
	return err
}
func (f *echoSync) UpdateRecords(_ context.Context, in syncapi.UpdateRecordsInput) (syncapi.UpdateRecordsOutput, error) {
	return echo(f, in, func(in syncapi.UpdateRecordsInput) syncapi.UpdateRecordsOutput {
		out := syncapi.UpdateRecordsOutput{Records: []syncapi.Record{}}
		for _, p := range in.RecordPatches {
			r := syncapi.Record{Key: p.Key, Value: p.Value, SyncCount: p.SyncCount + 1, LastModifiedDate: ts2, LastModifiedBy: in.DeviceID}
			if p.DeviceLastModifiedDate != nil {
				r.DeviceLastModifiedDate = *p.DeviceLastModifiedDate
			}
			out.Records = append(out.Records, r)
		}
		return out
	})
}

// echoIdentity is the identity side of the handler; only GetID answers.
type echoIdentity struct{ syncapi.IdentityAPI }

func (echoIdentity) GetID(_ context.Context, in syncapi.GetIDInput) (syncapi.GetIDOutput, error) {
	return syncapi.GetIDOutput{IdentityID: "us-east-1:00000000-0000-4000-8000-" + in.AccountID}, nil
}

// acceptAll authenticates every request, after checking the client's
// signature independently.
type acceptAll struct{ tb testing.TB }

// Unlike the real verifier it reads the body in the header step (and puts
// it back), since the v1 signer it checks against wants the body itself.
func (a acceptAll) Authenticate(r *http.Request, service string, _ ...string) (httpapi.VerifyPayload, error) {
	if service == httpapi.SyncSigningName {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			a.tb.Fatalf("read body: %v", err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		verifySigV4(a.tb, r, body)
	}
	return func([32]byte) (syncapi.Caller, error) {
		return syncapi.Caller{AccessKeyID: accessKey, Developer: true, AccountID: "123456789012"}, nil
	}, nil
}

// TestRoundTrip_RealHandler runs every operation of the client against
// httpapi.NewHandler with an echoing SyncAPI: what the client sends arrives
// as the same syncapi input, and what the service answers arrives as the same
// output.
func TestRoundTrip_RealHandler(t *testing.T) {
	fake := &echoSync{}
	h, err := httpapi.NewHandler(httpapi.Config{Sync: fake, Identity: echoIdentity{}, Auth: acceptAll{t}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := newClient(t, srv)
	ctx := context.Background()

	const odd = "a b+c/d=e:f" // survives path, query and body escaping
	dev := syncapi.NewTime(ts3.Time)
	patches := []syncapi.RecordPatch{
		{Op: syncapi.OpReplace, Key: "highScore", Value: aws.String("120"), SyncCount: 5, DeviceLastModifiedDate: &dev},
		{Op: syncapi.OpReplace, Key: "empty", Value: aws.String(""), SyncCount: 0},
		{Op: syncapi.OpRemove, Key: "oldKey", SyncCount: 3},
	}
	dsIn := syncapi.DatasetInput{IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings.us-east-1:abc"}
	subIn := syncapi.SubscriptionInput{IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings", DeviceID: odd}
	cfgIn := syncapi.PoolConfiguration{IdentityPoolID: pool, PushSync: pushSync, CognitoStreams: streams}
	lrIn := syncapi.ListRecordsInput{IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings",
		LastSyncCount: aws.Int64(5), MaxResults: aws.Int32(1024), NextToken: odd, SyncSessionToken: "tok" + odd}
	urIn := syncapi.UpdateRecordsInput{IdentityPoolID: pool, IdentityID: identity, DatasetName: "settings",
		ClientContext: "eyJjIjp7fX0=", DeviceID: "dev-1", RecordPatches: patches, SyncSessionToken: "tok"}

	cases := []struct {
		op     string
		call   func() (any, error)
		wantIn any
	}{
		{"BulkPublish", func() (any, error) { return c.BulkPublish(ctx, syncapi.PoolInput{IdentityPoolID: pool}) },
			syncapi.PoolInput{IdentityPoolID: pool}},
		{"DeleteDataset", func() (any, error) { return c.DeleteDataset(ctx, dsIn) }, dsIn},
		{"DescribeDataset", func() (any, error) { return c.DescribeDataset(ctx, dsIn) }, dsIn},
		{"DescribeIdentityPoolUsage", func() (any, error) {
			return c.DescribeIdentityPoolUsage(ctx, syncapi.PoolInput{IdentityPoolID: pool})
		}, syncapi.PoolInput{IdentityPoolID: pool}},
		{"DescribeIdentityUsage", func() (any, error) {
			return c.DescribeIdentityUsage(ctx, syncapi.IdentityInput{IdentityPoolID: pool, IdentityID: identity})
		}, syncapi.IdentityInput{IdentityPoolID: pool, IdentityID: identity}},
		{"GetBulkPublishDetails", func() (any, error) {
			return c.GetBulkPublishDetails(ctx, syncapi.PoolInput{IdentityPoolID: pool})
		}, syncapi.PoolInput{IdentityPoolID: pool}},
		{"GetCognitoEvents", func() (any, error) { return c.GetCognitoEvents(ctx, syncapi.PoolInput{IdentityPoolID: pool}) },
			syncapi.PoolInput{IdentityPoolID: pool}},
		{"GetIdentityPoolConfiguration", func() (any, error) {
			return c.GetIdentityPoolConfiguration(ctx, syncapi.PoolInput{IdentityPoolID: pool})
		}, syncapi.PoolInput{IdentityPoolID: pool}},
		{"ListDatasets", func() (any, error) {
			return c.ListDatasets(ctx, syncapi.ListDatasetsInput{IdentityPoolID: pool, IdentityID: identity, NextToken: odd, MaxResults: aws.Int32(64)})
		}, syncapi.ListDatasetsInput{IdentityPoolID: pool, IdentityID: identity, NextToken: odd, MaxResults: aws.Int32(64)}},
		{"ListIdentityPoolUsage", func() (any, error) {
			return c.ListIdentityPoolUsage(ctx, syncapi.ListIdentityPoolUsageInput{NextToken: odd, MaxResults: aws.Int32(2)})
		}, syncapi.ListIdentityPoolUsageInput{NextToken: odd, MaxResults: aws.Int32(2)}},
		{"ListRecords", func() (any, error) { return c.ListRecords(ctx, lrIn) }, lrIn},
		{"RegisterDevice", func() (any, error) {
			return c.RegisterDevice(ctx, syncapi.RegisterDeviceInput{IdentityPoolID: pool, IdentityID: identity, Platform: "GCM", Token: odd})
		}, syncapi.RegisterDeviceInput{IdentityPoolID: pool, IdentityID: identity, Platform: "GCM", Token: odd}},
		{"SetCognitoEvents", func() (any, error) {
			return nil, c.SetCognitoEvents(ctx, syncapi.SetCognitoEventsInput{IdentityPoolID: pool, Events: map[string]string{"SyncTrigger": "arn:fn"}})
		}, syncapi.SetCognitoEventsInput{IdentityPoolID: pool, Events: map[string]string{"SyncTrigger": "arn:fn"}}},
		{"SetIdentityPoolConfiguration", func() (any, error) { return c.SetIdentityPoolConfiguration(ctx, cfgIn) }, cfgIn},
		{"SubscribeToDataset", func() (any, error) { return nil, c.SubscribeToDataset(ctx, subIn) }, subIn},
		{"UnsubscribeFromDataset", func() (any, error) { return nil, c.UnsubscribeFromDataset(ctx, subIn) }, subIn},
		{"UpdateRecords", func() (any, error) { return c.UpdateRecords(ctx, urIn) }, urIn},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		seen[tc.op] = true
		t.Run(tc.op, func(t *testing.T) {
			got, err := tc.call()
			if err != nil {
				t.Fatalf("%s: %v", tc.op, err)
			}
			if in := fake.last(); !reflect.DeepEqual(in, tc.wantIn) {
				t.Errorf("service got\n %#v\nwant\n %#v", in, tc.wantIn)
			}
			if got == nil {
				return
			}
			// The output must be what the fake answered for that input.
			want := expectedEcho(t, tc.op, tc.wantIn)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("client got\n %#v\nwant\n %#v", got, want)
			}
		})
	}
	for _, op := range httpapi.Operations {
		if !seen[op.Name] {
			t.Errorf("operation %s has no round-trip case", op.Name)
		}
	}

	t.Run("error", func(t *testing.T) {
		fake.mu.Lock()
		fake.err = &syncapi.ConflictError{Key: "highScore", Current: 7, Sent: 5}
		fake.mu.Unlock()
		defer func() { fake.mu.Lock(); fake.err = nil; fake.mu.Unlock() }()
		_, err := c.UpdateRecords(ctx, urIn)
		var ae *client.APIError
		if !errors.Is(err, syncapi.ErrConflict) || !errors.As(err, &ae) ||
			ae.Code != "ResourceConflictException" || ae.StatusCode != 409 ||
			ae.Message != "Current SyncCount for: highScore is: 7 not: 5" {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("ListRecordsAll", func(t *testing.T) {
		// The echo answers NextToken "" (one page).
		all, last, err := c.ListRecordsAll(ctx, syncapi.ListRecordsInput{IdentityPoolID: pool, IdentityID: identity,
			DatasetName: "settings", LastSyncCount: aws.Int64(0)})
		if err != nil || len(all) != 2 || last.DatasetSyncCount != 1 {
			t.Fatalf("ListRecordsAll: %v %v %+v", err, all, last)
		}
	})

	t.Run("Identity/GetId", func(t *testing.T) {
		out, err := c.Identity().GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(pool), AccountId: aws.String("000000000042")})
		if err != nil {
			t.Fatalf("GetId: %v", err)
		}
		if got := aws.ToString(out.IdentityId); got != "us-east-1:00000000-0000-4000-8000-000000000042" {
			t.Errorf("IdentityId %q", got)
		}
		// NewFromConfig's identity client goes to the same BaseEndpoint.
		fc := client.NewFromConfig(aws.Config{Region: region, BaseEndpoint: aws.String(srv.URL), Credentials: staticCreds})
		out, err = fc.Identity().GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(pool), AccountId: aws.String("000000000043")})
		if err != nil || aws.ToString(out.IdentityId) != "us-east-1:00000000-0000-4000-8000-000000000043" {
			t.Fatalf("NewFromConfig GetId: %v %v", err, out)
		}
	})
}

// expectedEcho recomputes the echo output for in.
func expectedEcho(tb testing.TB, op string, in any) any {
	tb.Helper()
	shadow := &echoSync{}
	ctx := context.Background()
	var out any
	var err error
	switch op {
	case "BulkPublish":
		out, err = shadow.BulkPublish(ctx, in.(syncapi.PoolInput))
	case "DeleteDataset":
		out, err = shadow.DeleteDataset(ctx, in.(syncapi.DatasetInput))
	case "DescribeDataset":
		out, err = shadow.DescribeDataset(ctx, in.(syncapi.DatasetInput))
	case "DescribeIdentityPoolUsage":
		out, err = shadow.DescribeIdentityPoolUsage(ctx, in.(syncapi.PoolInput))
	case "DescribeIdentityUsage":
		out, err = shadow.DescribeIdentityUsage(ctx, in.(syncapi.IdentityInput))
	case "GetBulkPublishDetails":
		out, err = shadow.GetBulkPublishDetails(ctx, in.(syncapi.PoolInput))
	case "GetCognitoEvents":
		out, err = shadow.GetCognitoEvents(ctx, in.(syncapi.PoolInput))
	case "GetIdentityPoolConfiguration":
		out, err = shadow.GetIdentityPoolConfiguration(ctx, in.(syncapi.PoolInput))
	case "ListDatasets":
		out, err = shadow.ListDatasets(ctx, in.(syncapi.ListDatasetsInput))
	case "ListIdentityPoolUsage":
		out, err = shadow.ListIdentityPoolUsage(ctx, in.(syncapi.ListIdentityPoolUsageInput))
	case "ListRecords":
		out, err = shadow.ListRecords(ctx, in.(syncapi.ListRecordsInput))
	case "RegisterDevice":
		out, err = shadow.RegisterDevice(ctx, in.(syncapi.RegisterDeviceInput))
	case "SetIdentityPoolConfiguration":
		out, err = shadow.SetIdentityPoolConfiguration(ctx, in.(syncapi.PoolConfiguration))
	case "UpdateRecords":
		out, err = shadow.UpdateRecords(ctx, in.(syncapi.UpdateRecordsInput))
	default:
		tb.Fatalf("no echo for %s", op)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
