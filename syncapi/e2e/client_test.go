package e2e_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/client"
)

func newClient(endpoint string, creds aws.CredentialsProvider) *client.Client {
	return client.New(client.Options{Region: synctest.Region, BaseEndpoint: aws.String(endpoint), Credentials: creds})
}

// TestAllOperations_Client runs every operation through this project's Go
// client, with identity credentials from the client's Identity() (the
// aws-sdk-go-v2 Cognito Identity client), against syncd on both stores.
func TestAllOperations_Client(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(testing.TB) storeT) {
		ctx := context.Background()
		srv := synctest.Start(t, synctest.Options{Store: newStore(t)})
		dev := newClient(srv.URL, synctest.StaticV2(srv.DevKeyID, srv.DevSecret, ""))
		created, err := dev.Identity().CreateIdentityPool(ctx, &cognitoidentity.CreateIdentityPoolInput{
			IdentityPoolName: aws.String("client"), AllowUnauthenticatedIdentities: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		pool := *created.IdentityPoolId
		anon := newClient(srv.URL, aws.AnonymousCredentials{})
		gid, err := anon.Identity().GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: &pool})
		if err != nil {
			t.Fatal(err)
		}
		cr, err := anon.Identity().GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: gid.IdentityId})
		if err != nil {
			t.Fatal(err)
		}
		id := *gid.IdentityId
		user := newClient(srv.URL, synctest.StaticV2(*cr.Credentials.AccessKeyId, *cr.Credentials.SecretKey, *cr.Credentials.SessionToken))
		dctx := ctx // the client ignores the caller in ctx; signing decides

		cfg, err := dev.SetIdentityPoolConfiguration(dctx, syncapi.PoolConfiguration{IdentityPoolID: pool,
			PushSync:       &syncapi.PushSync{ApplicationArns: []string{"arn:aws:sns:us-east-1:123456789012:app/APNS/App"}},
			CognitoStreams: &syncapi.CognitoStreams{StreamName: "s", StreamingStatus: syncapi.StreamingEnabled}})
		if err != nil || cfg.CognitoStreams.StreamName != "s" {
			t.Fatalf("SetIdentityPoolConfiguration = %+v, %v", cfg, err)
		}
		if got, err := dev.GetIdentityPoolConfiguration(dctx, syncapi.PoolInput{IdentityPoolID: pool}); err != nil || got.PushSync.ApplicationArns[0] != cfg.PushSync.ApplicationArns[0] {
			t.Fatalf("GetIdentityPoolConfiguration = %+v, %v", got, err)
		}
		if err := dev.SetCognitoEvents(dctx, syncapi.SetCognitoEventsInput{IdentityPoolID: pool, Events: map[string]string{"SyncTrigger": "arn:aws:lambda:us-east-1:1:function:f"}}); err != nil {
			t.Fatal(err)
		}
		if ev, err := dev.GetCognitoEvents(dctx, syncapi.PoolInput{IdentityPoolID: pool}); err != nil || ev.Events["SyncTrigger"] == "" {
			t.Fatalf("GetCognitoEvents = %+v, %v", ev, err)
		}
		// Without an invoker a SyncTrigger refuses identity writes (fail
		// closed; trigger_test.go covers it), so remove it again.
		if err := dev.SetCognitoEvents(dctx, syncapi.SetCognitoEventsInput{IdentityPoolID: pool, Events: map[string]string{"SyncTrigger": ""}}); err != nil {
			t.Fatal(err)
		}

		ds := syncapi.DatasetInput{IdentityPoolID: pool, IdentityID: id, DatasetName: "profile"}
		lr, err := user.ListRecords(ctx, syncapi.ListRecordsInput{IdentityPoolID: pool, IdentityID: id, DatasetName: "profile"})
		if err != nil || lr.DatasetExists || lr.SyncSessionToken == "" {
			t.Fatalf("ListRecords = %+v, %v", lr, err)
		}
		v := "ann"
		patches := []syncapi.RecordPatch{{Op: syncapi.OpReplace, Key: "name", Value: &v}}
		for i := 0; i < 5; i++ {
			k := string(rune('a' + i))
			patches = append(patches, syncapi.RecordPatch{Op: syncapi.OpReplace, Key: k, Value: &k})
		}
		up, err := user.UpdateRecords(ctx, syncapi.UpdateRecordsInput{IdentityPoolID: pool, IdentityID: id, DatasetName: "profile",
			SyncSessionToken: lr.SyncSessionToken, RecordPatches: patches, ClientContext: "ignored"})
		if err != nil || len(up.Records) != 6 || up.Records[0].SyncCount != 1 {
			t.Fatalf("UpdateRecords = %+v, %v", up, err)
		}
		// A stale write is a typed conflict.
		_, err = user.UpdateRecords(ctx, syncapi.UpdateRecordsInput{IdentityPoolID: pool, IdentityID: id, DatasetName: "profile",
			SyncSessionToken: lr.SyncSessionToken, RecordPatches: []syncapi.RecordPatch{{Op: syncapi.OpRemove, Key: "name", SyncCount: 0}}})
		var apiErr *client.APIError
		if !errors.Is(err, syncapi.ErrConflict) || !errors.As(err, &apiErr) || apiErr.StatusCode != 409 || apiErr.Message != "Current SyncCount for: name is: 1 not: 0" {
			t.Fatalf("stale UpdateRecords: %v", err)
		}
		// Pages of 2 add up to the whole dataset.
		recs, last, err := user.ListRecordsAll(ctx, syncapi.ListRecordsInput{IdentityPoolID: pool, IdentityID: id, DatasetName: "profile", MaxResults: aws.Int32(2)})
		if err != nil || len(recs) != 6 || last.DatasetSyncCount != 1 {
			t.Fatalf("ListRecordsAll = %d records, %+v, %v", len(recs), last, err)
		}
		if d, err := user.DescribeDataset(ctx, ds); err != nil || d.Dataset.NumRecords != 6 {
			t.Fatalf("DescribeDataset = %+v, %v", d, err)
		}
		if l, err := user.ListDatasets(ctx, syncapi.ListDatasetsInput{IdentityPoolID: pool, IdentityID: id}); err != nil || l.Count != 1 {
			t.Fatalf("ListDatasets = %+v, %v", l, err)
		}
		if u, err := user.DescribeIdentityUsage(ctx, syncapi.IdentityInput{IdentityPoolID: pool, IdentityID: id}); err != nil || u.IdentityUsage.DatasetCount != 1 {
			t.Fatalf("DescribeIdentityUsage = %+v, %v", u, err)
		}
		if u, err := dev.DescribeIdentityPoolUsage(dctx, syncapi.PoolInput{IdentityPoolID: pool}); err != nil || u.IdentityPoolUsage.DataStorage == 0 {
			t.Fatalf("DescribeIdentityPoolUsage = %+v, %v", u, err)
		}
		if u, err := dev.ListIdentityPoolUsage(dctx, syncapi.ListIdentityPoolUsageInput{}); err != nil || u.Count != 1 {
			t.Fatalf("ListIdentityPoolUsage = %+v, %v", u, err)
		}
		reg, err := user.RegisterDevice(ctx, syncapi.RegisterDeviceInput{IdentityPoolID: pool, IdentityID: id, Platform: "APNS", Token: "t"})
		if err != nil || reg.DeviceID == "" {
			t.Fatalf("RegisterDevice = %+v, %v", reg, err)
		}
		sub := syncapi.SubscriptionInput{IdentityPoolID: pool, IdentityID: id, DatasetName: "profile", DeviceID: reg.DeviceID}
		if err := user.SubscribeToDataset(ctx, sub); err != nil {
			t.Fatal(err)
		}
		if err := user.UnsubscribeFromDataset(ctx, sub); err != nil {
			t.Fatal(err)
		}
		if _, err := dev.BulkPublish(dctx, syncapi.PoolInput{IdentityPoolID: pool}); err != nil {
			t.Fatal(err)
		}
		if d, err := dev.GetBulkPublishDetails(dctx, syncapi.PoolInput{IdentityPoolID: pool}); err != nil || d.BulkPublishStatus != syncapi.BulkFailed {
			t.Fatalf("GetBulkPublishDetails = %+v, %v", d, err)
		}
		if _, err := dev.BulkPublish(dctx, syncapi.PoolInput{IdentityPoolID: "bad id"}); !errors.As(err, &apiErr) || apiErr.Code != "InvalidParameterException" {
			t.Fatalf("BulkPublish with a malformed id: %v", err)
		}
		if _, err := user.DeleteDataset(ctx, ds); err != nil {
			t.Fatal(err)
		}
		if _, err := user.DescribeDataset(ctx, ds); !errors.Is(err, syncapi.ErrNotFound) {
			t.Fatalf("DescribeDataset after delete: %v", err)
		}
		if _, err := user.BulkPublish(ctx, syncapi.PoolInput{IdentityPoolID: pool}); !errors.Is(err, syncapi.ErrNotAuthorized) {
			t.Fatalf("BulkPublish with identity credentials: %v", err)
		}
	})
}
