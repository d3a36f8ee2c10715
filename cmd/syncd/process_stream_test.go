package main_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	awsv1 "github.com/aws/aws-sdk-go/aws"
	credv1 "github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/pipeline/streamrecord"
)

// kinesisEndpoint returns SYNC_TEST_KINESIS_ENDPOINT or skips (fails under CI=true).
func kinesisEndpoint(t testing.TB) string {
	return synctest.ServiceURL(t, "SYNC_TEST_KINESIS_ENDPOINT")
}

// newStream creates an active one-shard stream on endpoint.
func newStream(t testing.TB, endpoint string) (string, *kinesis.Client) {
	t.Helper()
	return newShardedStream(t, endpoint, 1)
}

// readStream returns every record of the stream's single shard.
func readStream(t testing.TB, kc *kinesis.Client, stream string) []types.Record {
	t.Helper()
	ctx := context.Background()
	sh, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	var out []types.Record
	for _, s := range sh.Shards {
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: s.ShardId,
			ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			r, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r.Records...)
			if len(r.Records) == 0 {
				break
			}
			iter = r.NextShardIterator
		}
	}
	return out
}

const streamPool = "us-east-1:5e5e5e5e-0000-4000-8000-000000000001"

func devSync(t testing.TB, endpoint string) *cognitosync.CognitoSync {
	return syncClient(t, endpoint, credv1.NewStaticCredentials(devKeyID, devSecret, ""))
}

// enableStream turns pool's Cognito stream on, to stream.
func enableStream(t testing.TB, c *cognitosync.CognitoSync, pool, stream string) {
	t.Helper()
	if _, err := c.SetIdentityPoolConfiguration(&cognitosync.SetIdentityPoolConfigurationInput{
		IdentityPoolId: awsv1.String(pool),
		CognitoStreams: &cognitosync.CognitoStreams{StreamName: awsv1.String(stream), RoleArn: awsv1.String("arn:aws:iam::000000000000:role/r"),
			StreamingStatus: awsv1.String("ENABLED")},
	}); err != nil {
		t.Fatal(err)
	}
}

// TestStream_Kinesalite: every UpdateRecords through an official SDK is one
// record on the stream, field by field as spec D.2; then a BulkPublish ends
// SUCCEEDED with every dataset on the stream.
func TestStream_Kinesalite(t *testing.T) {
	endpoint := kinesisEndpoint(t)
	stream, kc := newStream(t, endpoint)
	p := startSyncd(t, "--kinesis-endpoint", endpoint, "--pool", streamPool)
	c := devSync(t, p.Endpoint)
	enableStream(t, c, streamPool, stream)
	id := "us-east-1:5e5e5e5e-0000-4000-8000-0000000000aa"
	const updates = 5
	for i := range updates {
		tok := token(t, c, streamPool, id, "settings")
		patches := []*cognitosync.RecordPatch{replace("score", fmt.Sprint(i), int64(i))}
		switch i {
		case 0:
			patches = append(patches, replace("gone", "soon", 0))
		case updates - 1: // the removal of a key that exists is streamed
			patches = append(patches, &cognitosync.RecordPatch{Op: awsv1.String("remove"), Key: awsv1.String("gone"), SyncCount: awsv1.Int64(1)})
		}
		if _, err := c.UpdateRecords(updateInput(streamPool, id, "settings", tok, patches...)); err != nil {
			t.Fatal(err)
		}
	}
	var recs []types.Record
	deadline := time.Now().Add(20 * time.Second)
	for len(recs) < updates && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		recs = readStream(t, kc, stream)
	}
	if len(recs) != updates {
		t.Fatalf("%d stream records, want %d", len(recs), updates)
	}
	for i, kr := range recs {
		r, err := streamrecord.Decode(kr.Data)
		if err != nil {
			t.Fatal(err)
		}
		n := int64(i + 1)
		if *kr.PartitionKey != id || r.IdentityPoolID != streamPool || r.IdentityID != id || r.DatasetName != "settings" ||
			r.Operation != "replace" || r.PayloadType != "Inline" || r.SyncCount != n || r.LastModifiedDate.IsZero() ||
			r.Records[0].Key != "score" || *r.Records[0].Value != fmt.Sprint(i) || r.Records[0].SyncCount != n || r.Records[0].Op != "replace" ||
			r.Records[0].DeviceLastModifiedDate.IsZero() {
			t.Errorf("record %d: %s", i, kr.Data)
		}
		if i == updates-1 && (len(r.Records) != 2 || r.Records[1].Op != "remove" || r.Records[1].Value != nil) {
			t.Errorf("mixed record: %s", kr.Data)
		}
	}

	// Bulk publish: more datasets, then every dataset on the stream.
	for d := range 9 {
		tok := token(t, c, streamPool, id, fmt.Sprintf("ds%d", d))
		if _, err := c.UpdateRecords(updateInput(streamPool, id, fmt.Sprintf("ds%d", d), tok, replace("k", "v", 0))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.BulkPublish(&cognitosync.BulkPublishInput{IdentityPoolId: awsv1.String(streamPool)}); err != nil {
		t.Fatal(err)
	}
	var st string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		d, err := c.GetBulkPublishDetails(&cognitosync.GetBulkPublishDetailsInput{IdentityPoolId: awsv1.String(streamPool)})
		if err != nil {
			t.Fatal(err)
		}
		if st = *d.BulkPublishStatus; st != "IN_PROGRESS" {
			if st != "SUCCEEDED" || d.BulkPublishCompleteTime == nil {
				t.Fatalf("bulk publish: %v", d)
			}
			break
		}
	}
	if _, err := c.BulkPublish(&cognitosync.BulkPublishInput{IdentityPoolId: awsv1.String(streamPool)}); err == nil {
		t.Error("second BulkPublish within 24 h accepted")
	}
	// The live updates and the bulk records may interleave on the stream:
	// every dataset appears once more than its live updates.
	want := updates + 9 + 10
	var all []types.Record
	for deadline := time.Now().Add(20 * time.Second); len(all) < want && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		all = readStream(t, kc, stream)
	}
	per := map[string]int{}
	for _, kr := range all {
		r, _ := streamrecord.Decode(kr.Data)
		per[r.DatasetName]++
	}
	if len(all) != want || per["settings"] != updates+1 || per["ds0"] != 2 || len(per) != 10 {
		t.Errorf("stream holds %d records %v, want %d", len(all), per, want)
	}
}

// TestStream_SIGKILLLosesNothing: syncd is SIGKILLed during a write load
// with streaming on; after a restart every acknowledged update is on the
// stream (duplicates are allowed and reported).
func TestStream_SIGKILLLosesNothing(t *testing.T) {
	endpoint := kinesisEndpoint(t)
	stream, kc := newStream(t, endpoint)
	dir := t.TempDir()
	p := startSyncd(t, "--kinesis-endpoint", endpoint, "--pool", streamPool, "--data", dir)
	c := devSync(t, p.Endpoint)
	enableStream(t, c, streamPool, stream)

	type ack struct {
		id    string
		count int64
	}
	var mu sync.Mutex
	var acked []ack
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("us-east-1:5e5e5e5e-0000-4000-8000-%012d", w)
			tok := ""
			for n := int64(0); !stop.Load(); n++ {
				if tok == "" {
					out, err := c.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: awsv1.String(streamPool), IdentityId: awsv1.String(id), DatasetName: awsv1.String("d")})
					if err != nil {
						return
					}
					tok = *out.SyncSessionToken
				}
				out, err := c.UpdateRecords(updateInput(streamPool, id, "d", tok, replace("k", fmt.Sprint(n), n)))
				if err != nil {
					return // killed
				}
				mu.Lock()
				acked = append(acked, ack{id, *out.Records[0].SyncCount})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	p.kill()
	stop.Store(true)
	wg.Wait()
	startSyncd(t, "--kinesis-endpoint", endpoint, "--data", dir)

	seen := map[ack]int{}
	var total int
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		seen, total = map[ack]int{}, 0
		for _, kr := range readStream(t, kc, stream) {
			r, err := streamrecord.Decode(kr.Data)
			if err != nil {
				t.Fatal(err)
			}
			seen[ack{r.IdentityID, r.SyncCount}]++
			total++
		}
		missing := 0
		for _, a := range acked {
			if seen[a] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
	}
	missing, dups := 0, 0
	for _, a := range acked {
		if seen[a] == 0 {
			missing++
		}
	}
	for _, n := range seen {
		dups += n - 1
	}
	t.Logf("acknowledged %d updates; stream holds %d records (%d distinct), %d duplicates, %d missing", len(acked), total, len(seen), dups, missing)
	if len(acked) == 0 || missing > 0 {
		t.Fatalf("%d of %d acknowledged updates missing from the stream", missing, len(acked))
	}
}
