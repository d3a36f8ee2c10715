package e2e_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
)

// TestValidation_BadInput: malformed requests get InvalidParameterException
// 400 with a message naming the problem, and change nothing.
func TestValidation_BadInput(t *testing.T) {
	srv := synctest.Start(t, synctest.Options{})
	pool := synctest.PoolID()
	srv.CreatePool(t, pool)
	idn := srv.NewIdentity(t, pool)
	c := synctest.SyncV1(t, srv.URL, idn.V1())
	lr := listAll(t, c, pool, idn.ID, "data", 0)
	tok := *lr.SyncSessionToken
	must[*cognitosync.UpdateRecordsOutput](t)(update(c, pool, idn.ID, "data", tok, replace("k", "v", 0)))
	snapshot := func() string {
		out := listAll(t, srv.DevSyncV1(t), pool, idn.ID, "data", 0)
		out.SyncSessionToken = nil
		return out.String()
	}
	before := snapshot()
	otherToken := *listAll(t, c, pool, idn.ID, "other", 0).SyncSessionToken

	cases := []struct {
		name    string
		call    func() error
		message string
	}{
		{"dataset name with a space", func() error {
			_, err := update(c, pool, idn.ID, "bad name", tok, replace("k", "x", 1))
			return err
		}, "DatasetName"},
		{"dataset name too long", func() error {
			_, err := c.DescribeDataset(&cognitosync.DescribeDatasetInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(idn.ID), DatasetName: aws.String(strings.Repeat("a", 129))})
			return err
		}, "DatasetName"},
		{"upper-case hex in an identity id", func() error {
			_, err := c.ListDatasets(&cognitosync.ListDatasetsInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(strings.ToUpper(idn.ID))})
			return err
		}, "IdentityId"},
		{"unknown op", func() error {
			_, err := update(c, pool, idn.ID, "data", tok, &cognitosync.RecordPatch{Op: aws.String("upsert"), Key: aws.String("k"), Value: aws.String("x"), SyncCount: aws.Int64(1)})
			return err
		}, "Op"},
		{"replace without value", func() error {
			_, err := update(c, pool, idn.ID, "data", tok, &cognitosync.RecordPatch{Op: aws.String("replace"), Key: aws.String("k"), SyncCount: aws.Int64(1)})
			return err
		}, "Value"},
		{"key too long", func() error {
			_, err := update(c, pool, idn.ID, "data", tok, replace(strings.Repeat("k", 1025), "x", 0))
			return err
		}, "Key"},
		{"duplicate key", func() error {
			_, err := update(c, pool, idn.ID, "data", tok, replace("k", "x", 1), remove("k", 1))
			return err
		}, "duplicate"},
		{"session token of another dataset", func() error {
			_, err := update(c, pool, idn.ID, "data", otherToken, replace("k", "x", 1))
			return err
		}, "SyncSessionToken not valid for these inputs"},
		{"forged session token", func() error {
			_, err := update(c, pool, idn.ID, "data", tok[:len(tok)-2]+"AA", replace("k", "x", 1))
			return err
		}, "SyncSessionToken not valid for these inputs"},
		{"lastSyncCount beyond the dataset", func() error {
			_, err := c.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(idn.ID), DatasetName: aws.String("data"), LastSyncCount: aws.Int64(99)})
			return err
		}, "No such SyncCount: 99 exists for this Dataset"},
		{"maxResults 0", func() error {
			_, err := c.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(idn.ID), DatasetName: aws.String("data"), MaxResults: aws.Int64(0)})
			return err
		}, "maxResults"},
		{"garbage nextToken", func() error {
			_, err := c.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(idn.ID), DatasetName: aws.String("data"), NextToken: aws.String("garbage")})
			return err
		}, "nextToken"},
		{"two events", func() error {
			_, err := srv.DevSyncV1(t).SetCognitoEvents(&cognitosync.SetCognitoEventsInput{IdentityPoolId: aws.String(pool), Events: map[string]*string{"SyncTrigger": aws.String("a"), "Other": aws.String("b")}})
			return err
		}, "Events"},
		{"bad stream status", func() error {
			_, err := srv.DevSyncV1(t).SetIdentityPoolConfiguration(&cognitosync.SetIdentityPoolConfigurationInput{IdentityPoolId: aws.String(pool), CognitoStreams: &cognitosync.CognitoStreams{StreamName: aws.String("s"), StreamingStatus: aws.String("ON")}})
			return err
		}, "StreamingStatus"},
		{"bad application ARN", func() error {
			_, err := srv.DevSyncV1(t).SetIdentityPoolConfiguration(&cognitosync.SetIdentityPoolConfigurationInput{IdentityPoolId: aws.String(pool), PushSync: &cognitosync.PushSync{ApplicationArns: []*string{aws.String("arn:aws:sns:us-east-1:1:topic")}}})
			return err
		}, "ApplicationArns"},
		{"unknown platform", func() error {
			_, err := c.RegisterDevice(&cognitosync.RegisterDeviceInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(idn.ID), Platform: aws.String("WNS"), Token: aws.String("t")})
			return err
		}, "Platform"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rf := wantAWSError(t, tc.call(), "InvalidParameterException", 400)
			if !strings.Contains(rf.Message(), tc.message) {
				t.Fatalf("message %q does not mention %q", rf.Message(), tc.message)
			}
		})
	}
	if after := snapshot(); after != before {
		t.Fatalf("rejected requests changed data:\n%s\n%s", before, after)
	}
	cfg := must[*cognitosync.GetIdentityPoolConfigurationOutput](t)(srv.DevSyncV1(t).GetIdentityPoolConfiguration(&cognitosync.GetIdentityPoolConfigurationInput{IdentityPoolId: aws.String(pool)}))
	if cfg.PushSync != nil || cfg.CognitoStreams != nil {
		t.Fatalf("rejected configuration was stored: %v", cfg)
	}
}

// TestLimits: the quotas of spec B.2 (configured small here) answer
// LimitExceededException 400 and apply nothing.
func TestLimits(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(testing.TB) storeT) {
		srv := synctest.Start(t, synctest.Options{Store: newStore(t), Limits: syncapi.Limits{MaxDatasets: 2, MaxRecords: 3, MaxDatasetBytes: 20}})
		pool := synctest.PoolID()
		srv.CreatePool(t, pool)
		idn := srv.NewIdentity(t, pool)
		c := synctest.SyncV1(t, srv.URL, idn.V1())
		write := func(ds string, patches ...*cognitosync.RecordPatch) error {
			tok := *listAll(t, c, pool, idn.ID, ds, 0).SyncSessionToken
			_, err := update(c, pool, idn.ID, ds, tok, patches...)
			return err
		}
		for _, ds := range []string{"a", "b"} {
			if err := write(ds, replace("k", "v", 0)); err != nil {
				t.Fatal(err)
			}
		}
		wantAWSError(t, write("c", replace("k", "v", 0)), "LimitExceededException", 400)
		wantAWSError(t, write("a", replace("k1", "v", 0), replace("k2", "v", 0), replace("k3", "v", 0)), "LimitExceededException", 400)
		wantAWSError(t, write("a", replace("k", strings.Repeat("x", 20), 1)), "LimitExceededException", 400)
		// A tombstone frees its slot; then the record fits again.
		if err := write("a", remove("k", 1), replace("k1", "v", 0), replace("k2", "v", 0), replace("k3", "v", 0)); err != nil {
			t.Fatalf("within limits after a removal: %v", err)
		}
		lr := listAll(t, c, pool, idn.ID, "a", 0)
		ld := must[*cognitosync.ListDatasetsOutput](t)(c.ListDatasets(&cognitosync.ListDatasetsInput{IdentityPoolId: aws.String(pool), IdentityId: aws.String(idn.ID)}))
		if *lr.DatasetSyncCount != 2 || len(lr.Records) != 4 || *ld.Count != 2 {
			t.Fatalf("after refused writes: count %d, %d records, %d datasets", *lr.DatasetSyncCount, len(lr.Records), *ld.Count)
		}
	})
}
