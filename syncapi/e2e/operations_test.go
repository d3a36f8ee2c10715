package e2e_test

import (
	"context"
	"testing"
	"time"

	awsv2 "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/synctest"
)

// TestAllOperations_SDKv1 calls each of the 17 Cognito Sync operations through
// aws-sdk-go v1's cognitosync client, with the credential class each one
// admits, against syncd on both stores.
func TestAllOperations_SDKv1(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(testing.TB) storeT) {
		srv := synctest.Start(t, synctest.Options{Store: newStore(t)})
		pool := synctest.PoolID()
		srv.CreatePool(t, pool)
		dev := srv.DevSyncV1(t)
		idn := srv.NewIdentity(t, pool)
		user := synctest.SyncV1(t, srv.URL, idn.V1())
		P, I := aws.String(pool), aws.String(idn.ID)

		// 14 SetIdentityPoolConfiguration, 8 GetIdentityPoolConfiguration
		appArn := "arn:aws:sns:us-east-1:123456789012:app/GCM/MyApp"
		setCfg := must[*cognitosync.SetIdentityPoolConfigurationOutput](t)(dev.SetIdentityPoolConfiguration(&cognitosync.SetIdentityPoolConfigurationInput{
			IdentityPoolId: P,
			PushSync:       &cognitosync.PushSync{ApplicationArns: []*string{aws.String(appArn)}, RoleArn: aws.String("arn:aws:iam::123456789012:role/CognitoPush")},
			CognitoStreams: &cognitosync.CognitoStreams{StreamName: aws.String("sync-stream"), RoleArn: aws.String("arn:aws:iam::123456789012:role/CognitoStreams"), StreamingStatus: aws.String("ENABLED")},
		}))
		if *setCfg.IdentityPoolId != pool || *setCfg.PushSync.ApplicationArns[0] != appArn || *setCfg.CognitoStreams.StreamingStatus != "ENABLED" {
			t.Fatalf("SetIdentityPoolConfiguration echoed %v", setCfg)
		}
		// Members left out keep their values (spec C.14).
		must[*cognitosync.SetIdentityPoolConfigurationOutput](t)(dev.SetIdentityPoolConfiguration(&cognitosync.SetIdentityPoolConfigurationInput{
			IdentityPoolId: P,
			CognitoStreams: &cognitosync.CognitoStreams{StreamName: aws.String("sync-stream-2"), StreamingStatus: aws.String("DISABLED")},
		}))
		cfg := must[*cognitosync.GetIdentityPoolConfigurationOutput](t)(dev.GetIdentityPoolConfiguration(&cognitosync.GetIdentityPoolConfigurationInput{IdentityPoolId: P}))
		if *cfg.PushSync.RoleArn != "arn:aws:iam::123456789012:role/CognitoPush" || *cfg.CognitoStreams.StreamName != "sync-stream-2" || *cfg.CognitoStreams.StreamingStatus != "DISABLED" {
			t.Fatalf("GetIdentityPoolConfiguration = %v", cfg)
		}

		// 13 SetCognitoEvents, 7 GetCognitoEvents
		lambdaArn := "arn:aws:lambda:us-east-1:123456789012:function:validate"
		must[*cognitosync.SetCognitoEventsOutput](t)(dev.SetCognitoEvents(&cognitosync.SetCognitoEventsInput{IdentityPoolId: P, Events: map[string]*string{"SyncTrigger": aws.String(lambdaArn)}}))
		ev := must[*cognitosync.GetCognitoEventsOutput](t)(dev.GetCognitoEvents(&cognitosync.GetCognitoEventsInput{IdentityPoolId: P}))
		if got := aws.StringValue(ev.Events["SyncTrigger"]); got != lambdaArn {
			t.Fatalf("GetCognitoEvents SyncTrigger = %q", got)
		}
		must[*cognitosync.SetCognitoEventsOutput](t)(dev.SetCognitoEvents(&cognitosync.SetCognitoEventsInput{IdentityPoolId: P, Events: map[string]*string{"SyncTrigger": aws.String("")}}))
		ev = must[*cognitosync.GetCognitoEventsOutput](t)(dev.GetCognitoEvents(&cognitosync.GetCognitoEventsInput{IdentityPoolId: P}))
		if len(ev.Events) != 0 {
			t.Fatalf("after removing the trigger, Events = %v", ev.Events)
		}

		// 11 ListRecords on a dataset that does not exist yet.
		lr := listAll(t, user, pool, idn.ID, "settings", 0)
		if aws.BoolValue(lr.DatasetExists) || aws.Int64Value(lr.DatasetSyncCount) != 0 || lr.Records == nil || len(lr.Records) != 0 || aws.StringValue(lr.SyncSessionToken) == "" {
			t.Fatalf("ListRecords of a new dataset = %v", lr)
		}

		// 17 UpdateRecords
		before := time.Now().Add(-time.Second)
		dlm := time.Unix(1424801820, 500e6)
		p1 := replace("highScore", "120", 0)
		p1.DeviceLastModifiedDate = aws.Time(dlm)
		up := must[*cognitosync.UpdateRecordsOutput](t)(update(user, pool, idn.ID, "settings", *lr.SyncSessionToken, p1, replace("level", "3", 0)))
		if len(up.Records) != 2 {
			t.Fatalf("UpdateRecords returned %d records", len(up.Records))
		}
		for _, r := range up.Records {
			if *r.SyncCount != 1 || *r.LastModifiedBy != idn.ID || r.LastModifiedDate.Before(before) {
				t.Fatalf("written record %v", r)
			}
		}
		if !up.Records[0].DeviceLastModifiedDate.Equal(dlm) {
			t.Fatalf("DeviceLastModifiedDate = %v, want %v", up.Records[0].DeviceLastModifiedDate, dlm)
		}
		up = must[*cognitosync.UpdateRecordsOutput](t)(update(user, pool, idn.ID, "settings", *lr.SyncSessionToken, remove("level", 1)))
		if up.Records[0].Value != nil || *up.Records[0].SyncCount != 2 {
			t.Fatalf("remove returned %v", up.Records[0])
		}
		lr = listAll(t, user, pool, idn.ID, "settings", 0)
		got := recordMap(lr.Records)
		if *lr.DatasetSyncCount != 2 || !*lr.DatasetExists || aws.StringValue(got["highScore"]) != "120" || len(lr.Records) != 2 {
			t.Fatalf("ListRecords after writes = %v", lr)
		}
		if v, ok := got["level"]; !ok || v != nil {
			t.Fatalf("tombstone for level: present %v value %v", ok, v)
		}
		delta := listAll(t, user, pool, idn.ID, "settings", 1)
		if len(delta.Records) != 1 || *delta.Records[0].Key != "level" {
			t.Fatalf("ListRecords lastSyncCount=1 = %v", delta.Records)
		}

		// 3 DescribeDataset, 9 ListDatasets, 5 DescribeIdentityUsage
		dd := must[*cognitosync.DescribeDatasetOutput](t)(user.DescribeDataset(&cognitosync.DescribeDatasetInput{IdentityPoolId: P, IdentityId: I, DatasetName: aws.String("settings")}))
		if *dd.Dataset.NumRecords != 1 || *dd.Dataset.DataStorage != int64(len("highScore")+len("120")) || *dd.Dataset.DatasetName != "settings" || dd.Dataset.CreationDate == nil {
			t.Fatalf("DescribeDataset = %v", dd.Dataset)
		}
		ld := must[*cognitosync.ListDatasetsOutput](t)(user.ListDatasets(&cognitosync.ListDatasetsInput{IdentityPoolId: P, IdentityId: I}))
		if *ld.Count != 1 || *ld.Datasets[0].DatasetName != "settings" {
			t.Fatalf("ListDatasets = %v", ld)
		}
		iu := must[*cognitosync.DescribeIdentityUsageOutput](t)(user.DescribeIdentityUsage(&cognitosync.DescribeIdentityUsageInput{IdentityPoolId: P, IdentityId: I}))
		if *iu.IdentityUsage.DatasetCount != 1 || *iu.IdentityUsage.DataStorage != 12 || *iu.IdentityUsage.IdentityPoolId != pool {
			t.Fatalf("DescribeIdentityUsage = %v", iu)
		}

		// 4 DescribeIdentityPoolUsage, 10 ListIdentityPoolUsage
		if err := srv.Service.FlushUsage(context.Background()); err != nil {
			t.Fatal(err)
		}
		pu := must[*cognitosync.DescribeIdentityPoolUsageOutput](t)(dev.DescribeIdentityPoolUsage(&cognitosync.DescribeIdentityPoolUsageInput{IdentityPoolId: P}))
		if *pu.IdentityPoolUsage.DataStorage != 12 || *pu.IdentityPoolUsage.SyncSessionsCount < 1 {
			t.Fatalf("DescribeIdentityPoolUsage = %v", pu)
		}
		lu := must[*cognitosync.ListIdentityPoolUsageOutput](t)(dev.ListIdentityPoolUsage(&cognitosync.ListIdentityPoolUsageInput{}))
		if *lu.Count != 1 || *lu.IdentityPoolUsages[0].IdentityPoolId != pool || *lu.MaxResults != 60 {
			t.Fatalf("ListIdentityPoolUsage = %v", lu)
		}

		// 12 RegisterDevice, 15 SubscribeToDataset, 16 UnsubscribeFromDataset
		reg := must[*cognitosync.RegisterDeviceOutput](t)(user.RegisterDevice(&cognitosync.RegisterDeviceInput{IdentityPoolId: P, IdentityId: I, Platform: aws.String("GCM"), Token: aws.String("push-token")}))
		again := must[*cognitosync.RegisterDeviceOutput](t)(user.RegisterDevice(&cognitosync.RegisterDeviceInput{IdentityPoolId: P, IdentityId: I, Platform: aws.String("GCM"), Token: aws.String("push-token")}))
		if *reg.DeviceId == "" || *again.DeviceId != *reg.DeviceId {
			t.Fatalf("RegisterDevice ids %q then %q", *reg.DeviceId, *again.DeviceId)
		}
		_, err := user.RegisterDevice(&cognitosync.RegisterDeviceInput{IdentityPoolId: P, IdentityId: I, Platform: aws.String("APNS"), Token: aws.String("t")})
		wantAWSError(t, err, "InvalidConfigurationException", 400) // no APNS application configured
		sub := &cognitosync.SubscribeToDatasetInput{IdentityPoolId: P, IdentityId: I, DatasetName: aws.String("settings"), DeviceId: reg.DeviceId}
		must[*cognitosync.SubscribeToDatasetOutput](t)(user.SubscribeToDataset(sub))
		unsub := &cognitosync.UnsubscribeFromDatasetInput{IdentityPoolId: P, IdentityId: I, DatasetName: aws.String("settings"), DeviceId: reg.DeviceId}
		must[*cognitosync.UnsubscribeFromDatasetOutput](t)(user.UnsubscribeFromDataset(unsub))
		_, err = user.UnsubscribeFromDataset(unsub)
		wantAWSError(t, err, "ResourceNotFoundException", 404)
		_, err = user.SubscribeToDataset(&cognitosync.SubscribeToDatasetInput{IdentityPoolId: P, IdentityId: I, DatasetName: aws.String("missing"), DeviceId: reg.DeviceId})
		wantAWSError(t, err, "ResourceNotFoundException", 404)

		// 1 BulkPublish, 6 GetBulkPublishDetails
		bd := must[*cognitosync.GetBulkPublishDetailsOutput](t)(dev.GetBulkPublishDetails(&cognitosync.GetBulkPublishDetailsInput{IdentityPoolId: P}))
		if *bd.BulkPublishStatus != "NOT_STARTED" || *bd.IdentityPoolId != pool {
			t.Fatalf("GetBulkPublishDetails before any = %v", bd)
		}
		_, err = dev.BulkPublish(&cognitosync.BulkPublishInput{IdentityPoolId: P})
		wantAWSError(t, err, "InvalidParameterException", 400) // streaming is DISABLED
		must[*cognitosync.SetIdentityPoolConfigurationOutput](t)(dev.SetIdentityPoolConfiguration(&cognitosync.SetIdentityPoolConfigurationInput{
			IdentityPoolId: P, CognitoStreams: &cognitosync.CognitoStreams{StreamName: aws.String("s"), StreamingStatus: aws.String("ENABLED")},
		}))
		bp := must[*cognitosync.BulkPublishOutput](t)(dev.BulkPublish(&cognitosync.BulkPublishInput{IdentityPoolId: P}))
		if *bp.IdentityPoolId != pool {
			t.Fatalf("BulkPublish = %v", bp)
		}
		bd = must[*cognitosync.GetBulkPublishDetailsOutput](t)(dev.GetBulkPublishDetails(&cognitosync.GetBulkPublishDetailsInput{IdentityPoolId: P}))
		if *bd.BulkPublishStatus != "FAILED" || aws.StringValue(bd.FailureMessage) == "" || bd.BulkPublishStartTime == nil || bd.BulkPublishCompleteTime == nil {
			t.Fatalf("GetBulkPublishDetails without a stream publisher = %v", bd)
		}

		// 2 DeleteDataset
		del := must[*cognitosync.DeleteDatasetOutput](t)(user.DeleteDataset(&cognitosync.DeleteDatasetInput{IdentityPoolId: P, IdentityId: I, DatasetName: aws.String("settings")}))
		if *del.Dataset.DatasetName != "settings" || *del.Dataset.NumRecords != 1 {
			t.Fatalf("DeleteDataset returned %v", del.Dataset)
		}
		_, err = user.DescribeDataset(&cognitosync.DescribeDatasetInput{IdentityPoolId: P, IdentityId: I, DatasetName: aws.String("settings")})
		wantAWSError(t, err, "ResourceNotFoundException", 404)
		_, err = user.DeleteDataset(&cognitosync.DeleteDatasetInput{IdentityPoolId: P, IdentityId: I, DatasetName: aws.String("settings")})
		wantAWSError(t, err, "ResourceNotFoundException", 404)
		lr = listAll(t, user, pool, idn.ID, "settings", 2)
		if *lr.DatasetExists || !*lr.DatasetDeletedAfterRequestedSyncCount || len(lr.Records) != 0 {
			t.Fatalf("ListRecords after delete = %v", lr)
		}
		// Re-creation continues the counter (spec C.2, C.8).
		up = must[*cognitosync.UpdateRecordsOutput](t)(update(user, pool, idn.ID, "settings", *lr.SyncSessionToken, replace("highScore", "1", 0)))
		if *up.Records[0].SyncCount != 3 {
			t.Fatalf("re-created dataset wrote SyncCount %d, want 3", *up.Records[0].SyncCount)
		}
		lr = listAll(t, user, pool, idn.ID, "settings", 2)
		if !*lr.DatasetExists || !*lr.DatasetDeletedAfterRequestedSyncCount || len(lr.Records) != 1 {
			t.Fatalf("ListRecords of a re-created dataset from before the deletion = %v", lr)
		}
	})
}

// TestIdentitySubset_SDKv2 drives the Cognito Identity subset with
// aws-sdk-go-v2's cognitoidentity client.
func TestIdentitySubset_SDKv2(t *testing.T) {
	srv := synctest.Start(t, synctest.Options{})
	ctx := context.Background()
	ci := srv.IdentityV2()
	created, err := ci.CreateIdentityPool(ctx, &cognitoidentity.CreateIdentityPoolInput{
		IdentityPoolName: awsv2.String("app"), AllowUnauthenticatedIdentities: true,
		IdentityPoolTags: map[string]string{"team": "sync"},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := *created.IdentityPoolId
	if len(id) < 10 || id[:len(synctest.Region)+1] != synctest.Region+":" || created.IdentityPoolTags["team"] != "sync" {
		t.Fatalf("CreateIdentityPool = %+v", created)
	}
	// The migration path: keep the id apps already embed.
	kept := "eu-west-1:0c1ba052-e098-41fa-a76e-eaa2c125f861"
	k, err := ci.CreateIdentityPool(ctx, &cognitoidentity.CreateIdentityPoolInput{
		IdentityPoolName: awsv2.String("migrated"), AllowUnauthenticatedIdentities: true,
		IdentityPoolTags: map[string]string{"syncd:IdentityPoolId": kept},
	})
	if err != nil || *k.IdentityPoolId != kept {
		t.Fatalf("CreateIdentityPool with a kept id = %v, %v", k, err)
	}
	if _, ok := k.IdentityPoolTags["syncd:IdentityPoolId"]; ok {
		t.Fatal("the id tag must be consumed, not stored")
	}
	_, err = ci.CreateIdentityPool(ctx, &cognitoidentity.CreateIdentityPoolInput{
		IdentityPoolName: awsv2.String("again"), AllowUnauthenticatedIdentities: true,
		IdentityPoolTags: map[string]string{"syncd:IdentityPoolId": kept},
	})
	if err == nil {
		t.Fatal("creating a pool id twice must fail")
	}
	desc, err := ci.DescribeIdentityPool(ctx, &cognitoidentity.DescribeIdentityPoolInput{IdentityPoolId: &kept})
	if err != nil || *desc.IdentityPoolName != "migrated" {
		t.Fatalf("DescribeIdentityPool = %v, %v", desc, err)
	}
	list, err := ci.ListIdentityPools(ctx, &cognitoidentity.ListIdentityPoolsInput{MaxResults: awsv2.Int32(1)})
	if err != nil || len(list.IdentityPools) != 1 || list.NextToken == nil {
		t.Fatalf("ListIdentityPools page 1 = %v, %v", list, err)
	}
	list2, err := ci.ListIdentityPools(ctx, &cognitoidentity.ListIdentityPoolsInput{MaxResults: awsv2.Int32(1), NextToken: list.NextToken})
	if err != nil || len(list2.IdentityPools) != 1 || *list2.IdentityPools[0].IdentityPoolId == *list.IdentityPools[0].IdentityPoolId {
		t.Fatalf("ListIdentityPools page 2 = %v, %v", list2, err)
	}
	upd, err := ci.UpdateIdentityPool(ctx, &cognitoidentity.UpdateIdentityPoolInput{
		IdentityPoolId: &kept, IdentityPoolName: awsv2.String("renamed"), AllowUnauthenticatedIdentities: false,
	})
	if err != nil || *upd.IdentityPoolName != "renamed" || upd.AllowUnauthenticatedIdentities {
		t.Fatalf("UpdateIdentityPool = %v, %v", upd, err)
	}
	anon := synctest.IdentityClient(srv.URL, awsv2.AnonymousCredentials{})
	if _, err := anon.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: &kept}); err == nil {
		t.Fatal("GetId on a pool without unauthenticated identities must fail")
	}
	idn := srv.NewIdentity(t, id)
	if idn.Creds.Expires.Before(time.Now().Add(50*time.Minute)) || idn.Creds.SessionToken == "" {
		t.Fatalf("credentials %+v", idn.Creds)
	}
	if _, err := ci.DeleteIdentityPool(ctx, &cognitoidentity.DeleteIdentityPoolInput{IdentityPoolId: &kept}); err != nil {
		t.Fatal(err)
	}
	if _, err := ci.DescribeIdentityPool(ctx, &cognitoidentity.DescribeIdentityPoolInput{IdentityPoolId: &kept}); err == nil {
		t.Fatal("DescribeIdentityPool after delete must fail")
	}
	// Developer-only identity operations refuse identity credentials.
	user := synctest.IdentityClient(srv.URL, synctest.StaticV2(idn.Creds.AccessKeyID, idn.Creds.SecretAccessKey, idn.Creds.SessionToken))
	if _, err := user.ListIdentityPools(ctx, &cognitoidentity.ListIdentityPoolsInput{MaxResults: awsv2.Int32(5)}); err == nil {
		t.Fatal("ListIdentityPools with identity credentials must fail")
	}
}
