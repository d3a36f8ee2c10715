package httpapi_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/syncapi"
)

const (
	poolID   = "us-east-1:0c1ba052-e098-41fa-a76e-eaa2c125f861"
	idID     = "us-east-1:9643cc0e-90bd-4e20-b701-00ba6ef396a6"
	dsName   = "settings"
	deviceID = "5cd28fbe-dd83-47ab-9f83-19093a5fb014"
)

// newSDK returns the official aws-sdk-go v1 Cognito Sync client for url. It
// signs with static credentials and never retries, so error tests see the
// first answer.
func newSDK(t testing.TB, url string) *cognitosync.CognitoSync {
	t.Helper()
	sess, err := session.NewSession(&aws.Config{
		Endpoint:    aws.String(url),
		Region:      aws.String("us-east-1"),
		DisableSSL:  aws.Bool(true),
		Credentials: credentials.NewStaticCredentials("AKIDTEST", "secret", ""),
		MaxRetries:  aws.Int(0),
	})
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return cognitosync.New(sess)
}

// recorder captures the single input an operation received and the caller
// found in its context.
type recorder struct {
	mu     sync.Mutex
	in     any
	caller syncapi.Caller
	calls  int
}

func record[I, O any](r *recorder, out O) func(context.Context, I) (O, error) {
	return func(ctx context.Context, in I) (O, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.in, r.calls = in, r.calls+1
		r.caller, _ = syncapi.CallerFrom(ctx)
		return out, nil
	}
}

func recordErr[I any](r *recorder) func(context.Context, I) error {
	return func(ctx context.Context, in I) error {
		_, err := record[I, struct{}](r, struct{}{})(ctx, in)
		return err
	}
}

var (
	t0    = ts(1424801824343) // 2015-02-24T18:17:04.343Z
	t1    = ts(1424801830000)
	t2    = ts(1424801820500)
	value = "120"
	ds    = syncapi.Dataset{IdentityID: idID, DatasetName: dsName, CreationDate: t1, LastModifiedDate: t0,
		LastModifiedBy: "123456789012", DataStorage: 42, NumRecords: 3}
)

func checkDataset(t *testing.T, got *cognitosync.Dataset) {
	t.Helper()
	if got == nil {
		t.Fatal("Dataset is nil")
	}
	if aws.StringValue(got.IdentityId) != idID || aws.StringValue(got.DatasetName) != dsName ||
		!msEqual(aws.TimeValue(got.CreationDate), t1) || !msEqual(aws.TimeValue(got.LastModifiedDate), t0) ||
		aws.StringValue(got.LastModifiedBy) != "123456789012" || aws.Int64Value(got.DataStorage) != 42 ||
		aws.Int64Value(got.NumRecords) != 3 {
		t.Errorf("Dataset = %v", got)
	}
}

type syncCase struct {
	name    string
	install func(f *fakeSync, r *recorder)
	call    func(c *cognitosync.CognitoSync) (any, error)
	wantIn  any
	check   func(t *testing.T, out any)
}

func syncCases() []syncCase {
	return []syncCase{
		{
			name: "BulkPublish",
			install: func(f *fakeSync, r *recorder) {
				f.BulkPublishFn = record[syncapi.PoolInput](r, syncapi.BulkPublishOutput{IdentityPoolID: poolID})
			},
			call: func(c *cognitosync.CognitoSync) (any, error) {
				return c.BulkPublish(&cognitosync.BulkPublishInput{IdentityPoolId: aws.String(poolID)})
			},
			wantIn: syncapi.PoolInput{IdentityPoolID: poolID},
			check: func(t *testing.T, out any) {
				if got := aws.StringValue(out.(*cognitosync.BulkPublishOutput).IdentityPoolId); got != poolID {
					t.Errorf("IdentityPoolId = %q", got)
				}
			},
		},
		{
			name: "DeleteDataset",
			install: func(f *fakeSync, r *recorder) {
				f.DeleteDatasetFn = record[syncapi.DatasetInput](r, syncapi.DatasetOutput{Dataset: ds})
			},
			call: func(c *cognitosync.CognitoSync) (any, error) {
				return c.DeleteDataset(&cognitosync.DeleteDatasetInput{IdentityPoolId: aws.String(poolID),
					IdentityId: aws.String(idID), DatasetName: aws.String(dsName)})
			},
			wantIn: syncapi.DatasetInput{IdentityPoolID: poolID, IdentityID: idID, DatasetName: dsName},
			check:  func(t *testing.T, out any) { checkDataset(t, out.(*cognitosync.DeleteDatasetOutput).Dataset) },
		},
		{
			name: "DescribeDataset",
			install: func(f *fakeSync, r *recorder) {
				f.DescribeDatasetFn = record[syncapi.DatasetInput](r, syncapi.DatasetOutput{Dataset: ds})
			},
			call: func(c *cognitosync.CognitoSync) (any, error) {
				return c.DescribeDataset(&cognitosync.DescribeDatasetInput{IdentityPoolId: aws.String(poolID),
					IdentityId: aws.String(idID), DatasetName: aws.String("my.data_set-1:x")})
			},
			wantIn: syncapi.DatasetInput{IdentityPoolID: poolID, IdentityID: idID, DatasetName: "my.data_set-1:x"},
			check:  func(t *testing.T, out any) { checkDataset(t, out.(*cognitosync.DescribeDatasetOutput).Dataset) },
		},
		{
			name: "DescribeIdentityPoolUsage",
			install: func(f *fakeSync, r *recorder) {
				f.DescribeIdentityPoolUsageFn = record[syncapi.PoolInput](r, syncapi.DescribeIdentityPoolUsageOutput{
					IdentityPoolUsage: syncapi.IdentityPoolUsage{IdentityPoolID: poolID, SyncSessionsCount: 9, DataStorage: 1000, LastModifiedDate: t0}})
			},
			call: func(c *cognitosync.CognitoSync) (any, error) {
				return c.DescribeIdentityPoolUsage(&cognitosync.DescribeIdentityPoolUsageInput{IdentityPoolId: aws.String(poolID)})
			},
			wantIn: syncapi.PoolInput{IdentityPoolID: poolID},
			check: func(t *testing.T, out any) {
				u := out.(*cognitosync.DescribeIdentityPoolUsageOutput).IdentityPoolUsage
				if aws.StringValue(u.IdentityPoolId) != poolID || aws.Int64Value(u.SyncSessionsCount) != 9 ||
					aws.Int64Value(u.DataStorage) != 1000 || !msEqual(aws.TimeValue(u.LastModifiedDate), t0) {
					t.Errorf("IdentityPoolUsage = %v", u)
				}
			},
		},
		{
			name: "DescribeIdentityUsage",
			install: func(f *fakeSync, r *recorder) {
				f.DescribeIdentityUsageFn = record[syncapi.IdentityInput](r, syncapi.DescribeIdentityUsageOutput{
					IdentityUsage: syncapi.IdentityUsage{IdentityID: idID, IdentityPoolID: poolID, LastModifiedDate: t0, DatasetCount: 2, DataStorage: 77}})
			},
			call: func(c *cognitosync.CognitoSync) (any, error) {
				return c.DescribeIdentityUsage(&cognitosync.DescribeIdentityUsageInput{IdentityPoolId: aws.String(poolID), IdentityId: aws.String(idID)})
			},
			wantIn: syncapi.IdentityInput{IdentityPoolID: poolID, IdentityID: idID},
			check: func(t *testing.T, out any) {
				u := out.(*cognitosync.DescribeIdentityUsageOutput).IdentityUsage
				if aws.StringValue(u.IdentityId) != idID || aws.StringValue(u.IdentityPoolId) != poolID ||
					aws.Int64Value(u.DatasetCount) != 2 || aws.Int64Value(u.DataStorage) != 77 ||
					!msEqual(aws.TimeValue(u.LastModifiedDate), t0) {
					t.Errorf("IdentityUsage = %v", u)
				}
			},
		},
		{
			name: "GetBulkPublishDetails",
			install: func(f *fakeSync, r *recorder) {
				f.GetBulkPublishDetailsFn = record[syncapi.PoolInput](r, syncapi.GetBulkPublishDetailsOutput{
					IdentityPoolID: poolID, BulkPublishStartTime: t1, BulkPublishCompleteTime: t0,
					BulkPublishStatus: syncapi.BulkFailed, FailureMessage: "stream gone"})
			},
			call: func(c *cognitosync.CognitoSync) (any, error) {
				return c.GetBulkPublishDetails(&cognitosync.GetBulkPublishDetailsInput{IdentityPoolId: aws.String(poolID)})
			},
			wantIn: syncapi.PoolInput{IdentityPoolID: poolID},
			check: func(t *testing.T, out any) {
				o := out.(*cognitosync.GetBulkPublishDetailsOutput)
				if aws.StringValue(o.IdentityPoolId) != poolID || aws.StringValue(o.BulkPublishStatus) != "FAILED" ||
					aws.StringValue(o.FailureMessage) != "stream gone" || !msEqual(aws.TimeValue(o.BulkPublishStartTime), t1) ||
					!msEqual(aws.TimeValue(o.BulkPublishCompleteTime), t0) {
					t.Errorf("output = %v", o)
				}
			},
		},
		{
			name: "GetCognitoEvents",
			install: func(f *fakeSync, r *recorder) {
				f.GetCognitoEventsFn = record[syncapi.PoolInput](r, syncapi.CognitoEventsOutput{
					Events: map[string]string{"SyncTrigger": "arn:aws:lambda:us-east-1:123456789012:function:validate"}})
			},
			call: func(c *cognitosync.CognitoSync) (any, error) {
				return c.GetCognitoEvents(&cognitosync.GetCognitoEventsInput{IdentityPoolId: aws.String(poolID)})
			},
			wantIn: syncapi.PoolInput{IdentityPoolID: poolID},
			check: func(t *testing.T, out any) {
				ev := out.(*cognitosync.GetCognitoEventsOutput).Events
				if len(ev) != 1 || aws.StringValue(ev["SyncTrigger"]) != "arn:aws:lambda:us-east-1:123456789012:function:validate" {
					t.Errorf("Events = %v", ev)
				}
			},
		},
		{
			name: "GetIdentityPoolConfiguration",
			install: func(f *fakeSync, r *recorder) {
				f.GetIdentityPoolConfigurationFn = record[syncapi.PoolInput](r, syncapi.PoolConfiguration{IdentityPoolID: poolID,
					PushSync:       &syncapi.PushSync{ApplicationArns: []string{"arn:aws:sns:us-east-1:123456789012:app/GCM/MyApp"}, RoleArn: "arn:aws:iam::123456789012:role/CognitoPush"},
					CognitoStreams: &syncapi.CognitoStreams{StreamName: "sync-stream", RoleArn: "arn:aws:iam::123456789012:role/CognitoStreams", StreamingStatus: "ENABLED"}})
			},
			call: func(c *cognitosync.CognitoSync) (any, error) {
				return c.GetIdentityPoolConfiguration(&cognitosync.GetIdentityPoolConfigurationInput{IdentityPoolId: aws.String(poolID)})
			},
			wantIn: syncapi.PoolInput{IdentityPoolID: poolID},
			check: func(t *testing.T, out any) {
				o := out.(*cognitosync.GetIdentityPoolConfigurationOutput)
				if aws.StringValue(o.IdentityPoolId) != poolID || o.PushSync == nil || o.CognitoStreams == nil ||
					len(o.PushSync.ApplicationArns) != 1 || aws.StringValue(o.PushSync.RoleArn) != "arn:aws:iam::123456789012:role/CognitoPush" ||
					aws.StringValue(o.CognitoStreams.StreamName) != "sync-stream" || aws.StringValue(o.CognitoStreams.StreamingStatus) != "ENABLED" {
					t.Errorf("output = %v", o)
				}
			},
		},
		{
			name: "ListDatasets",
			install: func(f *fakeSync, r *recorder) {
				f.ListDatasetsFn = record[syncapi.ListDatasetsInput](r, syncapi.ListDatasetsOutput{Datasets: []syncapi.Dataset{ds}, Count: 1, NextToken: "tok2"})
			},
			call: func(c *cognitosync.CognitoSync) (any, error) {
				return c.ListDatasets(&cognitosync.ListDatasetsInput{IdentityPoolId: aws.String(poolID), IdentityId: aws.String(idID),
					MaxResults: aws.Int64(2), NextToken: aws.String("tok 1/+=")})
			},
			wantIn: syncapi.ListDatasetsInput{IdentityPoolID: poolID, IdentityID: idID, NextToken: "tok 1/+=", MaxResults: ptr[int32](2)},
			check: func(t *testing.T, out any) {
				o := out.(*cognitosync.ListDatasetsOutput)
				if len(o.Datasets) != 1 || aws.Int64Value(o.Count) != 1 || aws.StringValue(o.NextToken) != "tok2" {
					t.Fatalf("output = %v", o)
				}
				checkDataset(t, o.Datasets[0])
			},
		},
		{
			name: "ListIdentityPoolUsage",
			install: func(f *fakeSync, r *recorder) {
				f.ListIdentityPoolUsageFn = record[syncapi.ListIdentityPoolUsageInput](r, syncapi.ListIdentityPoolUsageOutput{
					IdentityPoolUsages: []syncapi.IdentityPoolUsage{{IdentityPoolID: poolID, SyncSessionsCount: 1, DataStorage: 5, LastModifiedDate: t0}},
					MaxResults:         10, Count: 1})
			},
			call: func(c *cognitosync.CognitoSync) (any, error) {
				return c.ListIdentityPoolUsage(&cognitosync.ListIdentityPoolUsageInput{MaxResults: aws.Int64(10)})
			},
			wantIn: syncapi.ListIdentityPoolUsageInput{MaxResults: ptr[int32](10)},
			check: func(t *testing.T, out any) {
				o := out.(*cognitosync.ListIdentityPoolUsageOutput)
				if len(o.IdentityPoolUsages) != 1 || aws.Int64Value(o.Count) != 1 || aws.Int64Value(o.MaxResults) != 10 ||
					o.NextToken != nil || !msEqual(aws.TimeValue(o.IdentityPoolUsages[0].LastModifiedDate), t0) {
					t.Errorf("output = %v", o)
				}
			},
		},
		{
			name: "ListRecords",
			install: func(f *fakeSync, r *recorder) {
				f.ListRecordsFn = record[syncapi.ListRecordsInput](r, syncapi.ListRecordsOutput{
					Records: []syncapi.Record{
						{Key: "highScore", Value: &value, SyncCount: 6, LastModifiedDate: t0, LastModifiedBy: idID, DeviceLastModifiedDate: t2},
						{Key: "oldKey", SyncCount: 4, LastModifiedDate: t0, LastModifiedBy: idID},
					},
					Count: 2, DatasetSyncCount: 6, LastModifiedBy: idID, MergedDatasetNames: []string{"settings.merged"},
					DatasetExists: true, SyncSessionToken: "sst-1"})
			},
			call: func(c *cognitosync.CognitoSync) (any, error) {
				return c.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: aws.String(poolID), IdentityId: aws.String(idID),
					DatasetName: aws.String(dsName), LastSyncCount: aws.Int64(5), MaxResults: aws.Int64(1024),
					NextToken: aws.String("n&t"), SyncSessionToken: aws.String("sst-0")})
			},
			wantIn: syncapi.ListRecordsInput{IdentityPoolID: poolID, IdentityID: idID, DatasetName: dsName,
				LastSyncCount: ptr[int64](5), MaxResults: ptr[int32](1024), NextToken: "n&t", SyncSessionToken: "sst-0"},
			check: func(t *testing.T, out any) {
				o := out.(*cognitosync.ListRecordsOutput)
				if len(o.Records) != 2 || aws.Int64Value(o.Count) != 2 || aws.Int64Value(o.DatasetSyncCount) != 6 ||
					aws.StringValue(o.LastModifiedBy) != idID || len(o.MergedDatasetNames) != 1 ||
					!aws.BoolValue(o.DatasetExists) || o.DatasetDeletedAfterRequestedSyncCount == nil ||
					aws.BoolValue(o.DatasetDeletedAfterRequestedSyncCount) || aws.StringValue(o.SyncSessionToken) != "sst-1" ||
					o.NextToken != nil {
					t.Fatalf("output = %v", o)
				}
				live, tomb := o.Records[0], o.Records[1]
				if aws.StringValue(live.Value) != "120" || aws.Int64Value(live.SyncCount) != 6 ||
					!msEqual(aws.TimeValue(live.LastModifiedDate), t0) || !msEqual(aws.TimeValue(live.DeviceLastModifiedDate), t2) {
					t.Errorf("record = %v", live)
				}
				if tomb.Value != nil || aws.StringValue(tomb.Key) != "oldKey" || aws.Int64Value(tomb.SyncCount) != 4 {
					t.Errorf("tombstone = %v", tomb)
				}
			},
		},
		{
			name: "RegisterDevice",
			install: func(f *fakeSync, r *recorder) {
				f.RegisterDeviceFn = record[syncapi.RegisterDeviceInput](r, syncapi.RegisterDeviceOutput{DeviceID: deviceID})
			},
			call: func(c *cognitosync.CognitoSync) (any, error) {
				return c.RegisterDevice(&cognitosync.RegisterDeviceInput{IdentityPoolId: aws.String(poolID), IdentityId: aws.String(idID),
					Platform: aws.String("GCM"), Token: aws.String("push-token")})
			},
			wantIn: syncapi.RegisterDeviceInput{IdentityPoolID: poolID, IdentityID: idID, Platform: "GCM", Token: "push-token"},
			check: func(t *testing.T, out any) {
				if got := aws.StringValue(out.(*cognitosync.RegisterDeviceOutput).DeviceId); got != deviceID {
					t.Errorf("DeviceId = %q", got)
				}
			},
		},
		{
			name: "SetCognitoEvents",
			install: func(f *fakeSync, r *recorder) {
				f.SetCognitoEventsFn = recordErr[syncapi.SetCognitoEventsInput](r)
			},
			call: func(c *cognitosync.CognitoSync) (any, error) {
				return c.SetCognitoEvents(&cognitosync.SetCognitoEventsInput{IdentityPoolId: aws.String(poolID),
					Events: map[string]*string{"SyncTrigger": aws.String("arn:aws:lambda:us-east-1:123456789012:function:validate")}})
			},
			wantIn: syncapi.SetCognitoEventsInput{IdentityPoolID: poolID,
				Events: map[string]string{"SyncTrigger": "arn:aws:lambda:us-east-1:123456789012:function:validate"}},
			check: func(t *testing.T, out any) {},
		},
		{
			name: "SetIdentityPoolConfiguration",
			install: func(f *fakeSync, r *recorder) {
				f.SetIdentityPoolConfigurationFn = record[syncapi.PoolConfiguration](r, syncapi.PoolConfiguration{IdentityPoolID: poolID,
					CognitoStreams: &syncapi.CognitoStreams{StreamName: "s", RoleArn: "arn:aws:iam::123456789012:role/R", StreamingStatus: "DISABLED"}})
			},
			call: func(c *cognitosync.CognitoSync) (any, error) {
				return c.SetIdentityPoolConfiguration(&cognitosync.SetIdentityPoolConfigurationInput{IdentityPoolId: aws.String(poolID),
					PushSync:       &cognitosync.PushSync{ApplicationArns: aws.StringSlice([]string{"arn:a", "arn:b"}), RoleArn: aws.String("arn:aws:iam::123456789012:role/P")},
					CognitoStreams: &cognitosync.CognitoStreams{StreamName: aws.String("s"), RoleArn: aws.String("arn:aws:iam::123456789012:role/R"), StreamingStatus: aws.String("ENABLED")}})
			},
			wantIn: syncapi.PoolConfiguration{IdentityPoolID: poolID,
				PushSync:       &syncapi.PushSync{ApplicationArns: []string{"arn:a", "arn:b"}, RoleArn: "arn:aws:iam::123456789012:role/P"},
				CognitoStreams: &syncapi.CognitoStreams{StreamName: "s", RoleArn: "arn:aws:iam::123456789012:role/R", StreamingStatus: "ENABLED"}},
			check: func(t *testing.T, out any) {
				o := out.(*cognitosync.SetIdentityPoolConfigurationOutput)
				if aws.StringValue(o.IdentityPoolId) != poolID || o.PushSync != nil || o.CognitoStreams == nil ||
					aws.StringValue(o.CognitoStreams.StreamingStatus) != "DISABLED" {
					t.Errorf("output = %v", o)
				}
			},
		},
		{
			name: "SubscribeToDataset",
			install: func(f *fakeSync, r *recorder) {
				f.SubscribeToDatasetFn = recordErr[syncapi.SubscriptionInput](r)
			},
			call: func(c *cognitosync.CognitoSync) (any, error) {
				return c.SubscribeToDataset(&cognitosync.SubscribeToDatasetInput{IdentityPoolId: aws.String(poolID), IdentityId: aws.String(idID),
					DatasetName: aws.String(dsName), DeviceId: aws.String(deviceID)})
			},
			wantIn: syncapi.SubscriptionInput{IdentityPoolID: poolID, IdentityID: idID, DatasetName: dsName, DeviceID: deviceID},
			check:  func(t *testing.T, out any) {},
		},
		{
			name: "UnsubscribeFromDataset",
			install: func(f *fakeSync, r *recorder) {
				f.UnsubscribeFromDatasetFn = recordErr[syncapi.SubscriptionInput](r)
			},
			call: func(c *cognitosync.CognitoSync) (any, error) {
				return c.UnsubscribeFromDataset(&cognitosync.UnsubscribeFromDatasetInput{IdentityPoolId: aws.String(poolID), IdentityId: aws.String(idID),
					DatasetName: aws.String(dsName), DeviceId: aws.String(deviceID)})
			},
			wantIn: syncapi.SubscriptionInput{IdentityPoolID: poolID, IdentityID: idID, DatasetName: dsName, DeviceID: deviceID},
			check:  func(t *testing.T, out any) {},
		},
		{
			name: "UpdateRecords",
			install: func(f *fakeSync, r *recorder) {
				f.UpdateRecordsFn = record[syncapi.UpdateRecordsInput](r, syncapi.UpdateRecordsOutput{Records: []syncapi.Record{
					{Key: "highScore", Value: &value, SyncCount: 6, LastModifiedDate: t0, LastModifiedBy: idID, DeviceLastModifiedDate: t2},
					{Key: "oldKey", SyncCount: 4, LastModifiedDate: t0, LastModifiedBy: idID},
				}})
			},
			call: func(c *cognitosync.CognitoSync) (any, error) {
				return c.UpdateRecords(&cognitosync.UpdateRecordsInput{IdentityPoolId: aws.String(poolID), IdentityId: aws.String(idID),
					DatasetName: aws.String(dsName), DeviceId: aws.String(deviceID), SyncSessionToken: aws.String("sst-1"),
					ClientContext: aws.String("eyJjbGllbnQiOnt9fQ=="),
					RecordPatches: []*cognitosync.RecordPatch{
						{Op: aws.String("replace"), Key: aws.String("highScore"), Value: aws.String("120"), SyncCount: aws.Int64(5),
							DeviceLastModifiedDate: aws.Time(time.UnixMilli(1424801820500))},
						{Op: aws.String("remove"), Key: aws.String("oldKey"), SyncCount: aws.Int64(3)},
					}})
			},
			wantIn: syncapi.UpdateRecordsInput{IdentityPoolID: poolID, IdentityID: idID, DatasetName: dsName,
				ClientContext: "eyJjbGllbnQiOnt9fQ==", DeviceID: deviceID, SyncSessionToken: "sst-1",
				RecordPatches: []syncapi.RecordPatch{
					{Op: syncapi.OpReplace, Key: "highScore", Value: &value, SyncCount: 5, DeviceLastModifiedDate: &t2},
					{Op: syncapi.OpRemove, Key: "oldKey", SyncCount: 3},
				}},
			check: func(t *testing.T, out any) {
				rs := out.(*cognitosync.UpdateRecordsOutput).Records
				if len(rs) != 2 || aws.StringValue(rs[0].Value) != "120" || !msEqual(aws.TimeValue(rs[0].DeviceLastModifiedDate), t2) ||
					rs[1].Value != nil || aws.Int64Value(rs[1].SyncCount) != 4 {
					t.Errorf("Records = %v", rs)
				}
			},
		},
	}
}

// TestSyncOperations_SDK drives every Cognito Sync operation through the
// official aws-sdk-go v1 client and checks both directions of the wire.
func TestSyncOperations_SDK(t *testing.T) {
	cases := syncCases()
	if len(cases) != 17 {
		t.Fatalf("%d cases, want one per operation (17)", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			s.auth.Fn = requireSigV4(t)
			var rec recorder
			tc.install(s.sync, &rec)
			out, err := tc.call(newSDK(t, s.URL))
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if rec.calls != 1 {
				t.Fatalf("fake called %d times, want 1", rec.calls)
			}
			if !reflect.DeepEqual(rec.in, tc.wantIn) {
				t.Errorf("input\n got %#v\nwant %#v", rec.in, tc.wantIn)
			}
			if rec.caller != testCaller {
				t.Errorf("caller in context = %+v, want %+v", rec.caller, testCaller)
			}
			if got := s.auth.calls(); len(got) != 1 || got[0] != "cognito-sync" {
				t.Errorf("Authenticate services = %v, want [cognito-sync]", got)
			}
			tc.check(t, out)
		})
	}
}
