package main_test

// Black-box tests of Cognito Streams at volume (issue 3): a bulk publish of
// 10,000 datasets, and two syncd processes sharing one PostgreSQL store and
// one forwarder lease. Both run the real syncd binary against kinesalite and
// read the stream back with raw GetRecords.

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	awsv1 "github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/pipeline/streamrecord"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
)

// newShardedStream creates an active stream of shards shards on endpoint.
func newShardedStream(t testing.TB, endpoint string, shards int32) (string, *kinesis.Client) {
	t.Helper()
	kc := synctest.KinesisClient(endpoint)
	return synctest.NewStream(t, kc, shards), kc
}

// waitBulkSucceeded polls GetBulkPublishDetails until the job leaves
// IN_PROGRESS and fails the test unless it SUCCEEDED.
func waitBulkSucceeded(t testing.TB, c *cognitosync.CognitoSync, pool string, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out, err := c.GetBulkPublishDetails(&cognitosync.GetBulkPublishDetailsInput{IdentityPoolId: awsv1.String(pool)})
		if err != nil {
			t.Fatal(err)
		}
		if st := awsv1.StringValue(out.BulkPublishStatus); st != "IN_PROGRESS" {
			if st != "SUCCEEDED" || out.BulkPublishCompleteTime == nil {
				t.Fatalf("bulk publish: %v", out)
			}
			return
		}
	}
	t.Fatalf("bulk publish still IN_PROGRESS after %v", d)
}

const bulkPool = "us-east-1:b0b0b0b0-0000-4000-8000-000000000001"

// TestStream_BulkPublish10k: a bulk publish of 10,000 datasets through the
// official SDK ends SUCCEEDED with every dataset on the stream exactly as
// stored (spec D.3: one record per dataset, operation replace, all its live
// records with their sync counts, values and millisecond dates).
func TestStream_BulkPublish10k(t *testing.T) {
	endpoint := kinesisEndpoint(t)
	dir := t.TempDir()
	url := filepath.Join(dir, "syncd.db")
	stream, kc := newShardedStream(t, endpoint, 2)

	// Seeding 10,000 datasets through the API would take most of the test's
	// time, so the test opens the SQLite database syncd will use (--data
	// dir) with sqlstore.Open and calls Store.UpdateRecords directly (the
	// store call UpdateRecords requests end in) before syncd starts. SQLite
	// seeds 20,000 updates in about 3 s here, PostgreSQL in about 19 s.
	// Streaming is still off while seeding, so no outbox entries are
	// written: everything on the stream afterwards comes from the bulk
	// publish.
	const identities, perIdentity = 2000, 5
	const n = identities * perIdentity
	want := seedBulk(t, url, identities, perIdentity)

	p := startSyncd(t, "--kinesis-endpoint", endpoint, "--data", dir)
	c := devSync(t, p.Endpoint)
	enableStream(t, c, bulkPool, stream)
	start := time.Now()
	if _, err := c.BulkPublish(&cognitosync.BulkPublishInput{IdentityPoolId: awsv1.String(bulkPool)}); err != nil {
		t.Fatal(err)
	}
	waitBulkSucceeded(t, c, bulkPool, 90*time.Second)
	took := time.Since(start)
	t.Logf("bulk publish of %d datasets: SUCCEEDED in %v, %.0f records/s end to end (BulkPublish call to SUCCEEDED seen by polling)",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds())

	readStart := time.Now()
	recs := readStream(t, kc, stream)
	t.Logf("read %d stream records from 2 shards with GetRecords in %v", len(recs), time.Since(readStart).Round(time.Millisecond))
	seen := map[string]int{}
	bad := 0
	for _, kr := range recs {
		r, err := streamrecord.Decode(kr.Data)
		if err != nil {
			t.Fatal(err)
		}
		k := r.IdentityID + "/" + r.DatasetName
		seen[k]++
		exp, ok := want[k]
		if msg := diffBulk(r, exp, ok); msg != "" || aws.ToString(kr.PartitionKey) != r.IdentityID {
			if bad++; bad <= 5 {
				t.Errorf("stream record %s (partition key %s): %s\n%s", k, aws.ToString(kr.PartitionKey), msg, kr.Data)
			}
		}
	}
	dups := len(recs) - len(seen)
	t.Logf("%d stream records, %d datasets, %d duplicates, %d mismatched", len(recs), len(seen), dups, bad)
	if len(seen) != n {
		missing := 0
		for k := range want {
			if seen[k] == 0 {
				missing++
			}
		}
		t.Errorf("%d of %d datasets missing from the stream", missing, n)
	}
	if dups != 0 {
		t.Errorf("%d duplicate stream records in one uninterrupted bulk publish", dups)
	}
}

// bulkWant is a seeded dataset as bulk publish must stream it.
type bulkWant struct {
	syncCount int64
	modified  time.Time
	records   []syncapi.Record // live records ordered by key
}

// seedBulk creates bulkPool (streaming off) in the store at url (a SQLite
// path or postgres:// URL) and writes
// identities*perIdentity datasets: each gets three records, then a second
// update removes one and replaces another, so that every dataset holds a
// tombstone bulk publish must leave out. It returns what each dataset's
// bulk record must hold, keyed identityId/datasetName, built from the
// records the store returned.
func seedBulk(t testing.TB, url string, identities, perIdentity int) map[string]bulkWant {
	t.Helper()
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, sqlstore.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreatePool(ctx, syncapi.Pool{Identity: syncapi.IdentityPool{IdentityPoolID: bulkPool, IdentityPoolName: "bulk",
		AllowUnauthenticatedIdentities: true}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	want := make(map[string]bulkWant, identities*perIdentity)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < identities && !t.Failed(); i = int(next.Add(1) - 1) {
				id := fmt.Sprintf("us-east-1:b0b0b0b0-0000-4000-8000-%012d", i)
				for d := range perIdentity {
					k := syncapi.DatasetKey{PoolID: bulkPool, IdentityID: id, Name: fmt.Sprintf("ds%d", d)}
					at := base.Add(time.Duration(i*perIdentity+d) * time.Second)
					v := func(s string) *string { return &s }
					first := syncapi.UpdateRequest{Key: k, By: "seed", Now: at, Changes: []syncapi.Change{
						{Key: "a", Value: v(fmt.Sprintf("a-%d-%d", i, d)), DeviceLastModified: at.Add(-1500 * time.Millisecond)},
						{Key: "b", Value: v("doomed")},
						{Key: "c", Value: v("old")},
					}}
					second := syncapi.UpdateRequest{Key: k, By: "seed", Now: at.Add(250 * time.Millisecond), Changes: []syncapi.Change{
						{Key: "b"}, // tombstone
						{Key: "c", Value: v(fmt.Sprintf("c-%d-%d \"quoted\" é", i, d)), DeviceLastModified: at.Add(-7 * time.Millisecond)},
					}}
					live := map[string]syncapi.Record{}
					var last syncapi.UpdateResult
					for _, req := range []syncapi.UpdateRequest{first, second} {
						res, err := s.UpdateRecords(ctx, req)
						if err != nil {
							t.Error(err)
							return
						}
						for _, r := range res.Records {
							live[r.Key] = r
						}
						last = res
					}
					w := bulkWant{syncCount: last.Dataset.SyncCount, modified: at.Add(250 * time.Millisecond)}
					for _, r := range live {
						if r.Value != nil {
							w.records = append(w.records, r)
						}
					}
					slices.SortFunc(w.records, func(a, b syncapi.Record) int { return strings.Compare(a.Key, b.Key) })
					mu.Lock()
					want[id+"/"+k.Name] = w
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("seeded %d datasets (%d updates) through sqlstore in %v", len(want), 2*len(want), time.Since(start).Round(time.Millisecond))
	return want
}

// diffBulk compares a bulk stream record with the stored dataset; "" when
// they match.
func diffBulk(r streamrecord.Record, w bulkWant, ok bool) string {
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	switch {
	case !ok:
		return "dataset was never seeded"
	case r.IdentityPoolID != bulkPool || r.Operation != streamrecord.OpReplace || r.PayloadType != streamrecord.PayloadInline:
		return "pool, operation or payload type"
	case r.SyncCount != w.syncCount:
		return fmt.Sprintf("syncCount %d, stored %d", r.SyncCount, w.syncCount)
	case ms(r.LastModifiedDate) != ms(w.modified):
		return fmt.Sprintf("lastModifiedDate %v, stored %v", r.LastModifiedDate, w.modified)
	case len(r.Records) != len(w.records):
		return fmt.Sprintf("%d records, %d live records stored", len(r.Records), len(w.records))
	}
	for i, g := range r.Records {
		s := w.records[i]
		if g.Key != s.Key || g.Value == nil || *g.Value != *s.Value || g.SyncCount != s.SyncCount || g.Op != streamrecord.OpReplace ||
			ms(g.LastModifiedDate) != ms(s.LastModifiedDate.Time) || ms(g.DeviceLastModifiedDate) != ms(s.DeviceLastModifiedDate.Time) {
			return fmt.Sprintf("record %d: %+v, stored %+v", i, g, s)
		}
	}
	return ""
}

// TestStream_TwoProcessesOneForwarder: two syncd processes on one
// PostgreSQL store both accept writes of a streaming pool; one holds the
// outbox forwarder lease and publishes. The holder is SIGKILLed during the
// load; the other takes the lease over once it expires (the default 15 s
// TTL) and every acknowledged update, from either process, ends up on the
// stream. Duplicates are allowed and counted.
func TestStream_TwoProcessesOneForwarder(t *testing.T) {
	endpoint := kinesisEndpoint(t)
	url := synctest.PostgresURL(t)
	stream, kc := newShardedStream(t, endpoint, 2)
	procs := []*proc{
		startSyncd(t, "--kinesis-endpoint", endpoint, "--pool", streamPool, "--store", url),
		startSyncd(t, "--kinesis-endpoint", endpoint, "--pool", streamPool, "--store", url),
	}
	clients := []*cognitosync.CognitoSync{devSync(t, procs[0].Endpoint), devSync(t, procs[1].Endpoint)}
	enableStream(t, clients[0], streamPool, stream)

	type ack struct {
		id    string
		count int64
	}
	var mu sync.Mutex
	var acked []ack
	perProc := [2]int{}
	stop := [2]atomic.Bool{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pi := w % 2
			c := clients[pi]
			id := fmt.Sprintf("us-east-1:7e7e7e7e-0000-4000-8000-%012d", w)
			tok := ""
			for n := int64(0); !stop[pi].Load(); n++ {
				if tok == "" {
					out, err := c.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: awsv1.String(streamPool), IdentityId: awsv1.String(id), DatasetName: awsv1.String("d")})
					if err != nil {
						return
					}
					tok = *out.SyncSessionToken
				}
				out, err := c.UpdateRecords(updateInput(streamPool, id, "d", tok, replace("k", fmt.Sprint(n), n)))
				if err != nil {
					return // its process was killed
				}
				mu.Lock()
				acked = append(acked, ack{id, *out.Records[0].SyncCount})
				perProc[pi]++
				mu.Unlock()
			}
		}()
	}

	// The forwarder that holds the lease logs it; the other logs nothing.
	holder := -1
	for deadline := time.Now().Add(10 * time.Second); holder < 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no syncd logged that it holds the outbox forwarder lease")
		}
		for i, p := range procs {
			if heldLease(p.log.String()) {
				holder = i
			}
		}
	}
	time.Sleep(2 * time.Second)
	if heldLease(procs[1-holder].log.String()) {
		t.Fatal("both processes logged that they hold the forwarder lease")
	}
	survivor := procs[1-holder]
	procs[holder].kill()
	killed := time.Now()
	stop[holder].Store(true)
	// The survivor keeps taking writes while nobody publishes; they wait
	// in the outbox until its forwarder gets the expired lease.
	time.Sleep(2 * time.Second)
	stop[1-holder].Store(true)
	wg.Wait()
	mu.Lock()
	t.Logf("acknowledged %d updates (%d by process %d, the lease holder, SIGKILLed after %d s; %d by the survivor)",
		len(acked), perProc[holder], holder, 2, perProc[1-holder])
	mu.Unlock()

	for deadline := time.Now().Add(30 * time.Second); !heldLease(survivor.log.String()); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the survivor did not take the forwarder lease over within 30 s of the kill:\n%s", tail(survivor.log.String(), 4000))
		}
	}
	t.Logf("survivor took the forwarder lease over %v after the kill", time.Since(killed).Round(100*time.Millisecond))

	seen := map[ack]int{}
	var total, missing int
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		seen, total, missing = map[ack]int{}, 0, 0
		for _, kr := range readStream(t, kc, stream) {
			r, err := streamrecord.Decode(kr.Data)
			if err != nil {
				t.Fatal(err)
			}
			seen[ack{r.IdentityID, r.SyncCount}]++
			total++
		}
		for _, a := range acked {
			if seen[a] == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
	}
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	t.Logf("stream holds %d records (%d distinct updates), %d duplicates, %d of %d acknowledged missing; all on the stream %v after the kill",
		total, len(seen), dups, missing, len(acked), time.Since(killed).Round(100*time.Millisecond))
	if perProc[0] == 0 || perProc[1] == 0 {
		t.Errorf("writes were not spread across both processes: %v", perProc)
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged updates missing from the stream", missing, len(acked))
	}
}

// heldLease reports whether a syncd log shows its forwarder holding the
// outbox lease (the forwarder logs changes of "held" only).
func heldLease(log string) bool {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "outbox forwarder lease") && strings.Contains(l, "held=true") {
			return true
		}
	}
	return false
}
