package e2e_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/service/cognitosync"
)

// eachStore runs body once per backend (SQLite always; PostgreSQL when
// SYNC_TEST_POSTGRES_URL is set, and required under CI=true).
func eachStore(t *testing.T, body func(t *testing.T, newStore func(testing.TB) storeT)) {
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) { body(t, open) })
	}
}

// wantAWSError asserts err is an AWS error with the code and HTTP status.
func wantAWSError(t testing.TB, err error, code string, status int) awserr.RequestFailure {
	t.Helper()
	var rf awserr.RequestFailure
	if !errors.As(err, &rf) {
		t.Fatalf("want %s (%d), got %v", code, status, err)
	}
	if rf.Code() != code || rf.StatusCode() != status {
		t.Fatalf("want %s (%d), got %s (%d): %s", code, status, rf.Code(), rf.StatusCode(), rf.Message())
	}
	return rf
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// listAll is ListRecords from lastSyncCount, without maxResults (one page,
// as iOS calls it).
func listAll(t testing.TB, c *cognitosync.CognitoSync, pool, id, ds string, last int64) *cognitosync.ListRecordsOutput {
	t.Helper()
	out, err := c.ListRecords(&cognitosync.ListRecordsInput{
		IdentityPoolId: aws.String(pool), IdentityId: aws.String(id), DatasetName: aws.String(ds),
		LastSyncCount: aws.Int64(last),
	})
	if err != nil {
		t.Fatalf("ListRecords: %v", err)
	}
	return out
}

func replace(key, value string, count int64) *cognitosync.RecordPatch {
	return &cognitosync.RecordPatch{Op: aws.String("replace"), Key: aws.String(key), Value: aws.String(value), SyncCount: aws.Int64(count)}
}

func remove(key string, count int64) *cognitosync.RecordPatch {
	return &cognitosync.RecordPatch{Op: aws.String("remove"), Key: aws.String(key), SyncCount: aws.Int64(count)}
}

func update(c *cognitosync.CognitoSync, pool, id, ds, token string, patches ...*cognitosync.RecordPatch) (*cognitosync.UpdateRecordsOutput, error) {
	return c.UpdateRecords(&cognitosync.UpdateRecordsInput{
		IdentityPoolId: aws.String(pool), IdentityId: aws.String(id), DatasetName: aws.String(ds),
		SyncSessionToken: aws.String(token), RecordPatches: patches,
	})
}

// recordMap indexes records by key; tombstones map to nil.
func recordMap(recs []*cognitosync.Record) map[string]*string {
	m := map[string]*string{}
	for _, r := range recs {
		m[*r.Key] = r.Value
	}
	return m
}
