package e2e_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/cognitoidentity"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
)

// TestV1Clients_StrictWire: aws-sdk-go v1's Cognito Identity and Cognito
// Sync clients, end to end through the real verifier and store, still pass
// the strict wire rules: exact member names decoded, X-Amz-Target signed on
// the developer calls, the unsigned calls within their body cap.
func TestV1Clients_StrictWire(t *testing.T) {
	s := synctest.Start(t, synctest.Options{})
	sess := func(creds *credentials.Credentials) *session.Session {
		return session.Must(session.NewSession(&aws.Config{
			Endpoint: aws.String(s.URL), Region: aws.String(synctest.Region), Credentials: creds,
			MaxRetries: aws.Int(0), HTTPClient: &http.Client{Timeout: 30 * time.Second},
		}))
	}
	dev := cognitoidentity.New(sess(credentials.NewStaticCredentials(s.DevKeyID, s.DevSecret, "")))
	pool := synctest.PoolID()
	created, err := dev.CreateIdentityPool(&cognitoidentity.CreateIdentityPoolInput{
		IdentityPoolName: aws.String("v1 pool"), AllowUnauthenticatedIdentities: aws.Bool(true),
		IdentityPoolTags: map[string]*string{syncapi.PoolIDTag: aws.String(pool)},
	})
	if err != nil {
		t.Fatalf("CreateIdentityPool: %v", err)
	}
	if aws.StringValue(created.IdentityPoolId) != pool || aws.StringValue(created.IdentityPoolName) != "v1 pool" {
		t.Fatalf("created %v", created)
	}
	desc, err := dev.DescribeIdentityPool(&cognitoidentity.DescribeIdentityPoolInput{IdentityPoolId: aws.String(pool)})
	if err != nil || !aws.BoolValue(desc.AllowUnauthenticatedIdentities) {
		t.Fatalf("DescribeIdentityPool: %v %v", desc, err)
	}

	anon := cognitoidentity.New(sess(credentials.AnonymousCredentials))
	id, err := anon.GetId(&cognitoidentity.GetIdInput{IdentityPoolId: aws.String(pool)})
	if err != nil {
		t.Fatalf("GetId: %v", err)
	}
	cr, err := anon.GetCredentialsForIdentity(&cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId})
	if err != nil {
		t.Fatalf("GetCredentialsForIdentity: %v", err)
	}
	c := cr.Credentials
	sync := cognitosync.New(sess(credentials.NewStaticCredentials(*c.AccessKeyId, *c.SecretKey, *c.SessionToken)))
	ds := "settings"
	tok := *listAll(t, sync, pool, *id.IdentityId, ds, 0).SyncSessionToken
	out, err := sync.UpdateRecords(&cognitosync.UpdateRecordsInput{
		IdentityPoolId: aws.String(pool), IdentityId: id.IdentityId, DatasetName: aws.String(ds),
		SyncSessionToken: aws.String(tok), DeviceId: aws.String("device-1"),
		RecordPatches: []*cognitosync.RecordPatch{{
			Op: aws.String("replace"), Key: aws.String("théme"), Value: aws.String("dark 🌙"), SyncCount: aws.Int64(0),
			DeviceLastModifiedDate: aws.Time(time.UnixMilli(1424801824343)),
		}},
	})
	if err != nil {
		t.Fatalf("UpdateRecords: %v", err)
	}
	if len(out.Records) != 1 || aws.StringValue(out.Records[0].Value) != "dark 🌙" ||
		aws.TimeValue(out.Records[0].DeviceLastModifiedDate).UnixMilli() != 1424801824343 {
		t.Fatalf("records %v", out.Records)
	}
	if got := recordMap(listAll(t, sync, pool, *id.IdentityId, ds, 0).Records); aws.StringValue(got["théme"]) != "dark 🌙" {
		t.Errorf("stored %v", got)
	}

	if _, err := dev.DeleteIdentityPool(&cognitoidentity.DeleteIdentityPoolInput{IdentityPoolId: aws.String(pool)}); err != nil {
		t.Fatalf("DeleteIdentityPool: %v", err)
	}
}
