package main_test

// Helpers for the end-to-end tests in e2e_test.go and the benchmarks in
// bench_test.go: they build the real syncd and worker binaries once and run
// them as separate OS processes against kinesalite and PostgreSQL, talking
// to them only through flags, logs, /metrics and the official AWS SDKs.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	awsv1 "github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	credv1 "github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/service/cognitosync"
	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/sinks/changejson"
)

const (
	devKeyID     = "AKIDWORKERE2E"
	devSecret    = "worker-e2e-developer-secret"
	startTimeout = 60 * time.Second
)

// The binaries built by TestMain (with -race when the tests run with it).
var syncdBin, workerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "worker-e2e-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, b := range []struct {
		dst *string
		pkg string
	}{{&syncdBin, "github.com/cognitosync/cognitosync/cmd/syncd"}, {&workerBin, "github.com/cognitosync/cognitosync/cmd/worker"}} {
		if *b.dst, err = synctest.Build(dir, b.pkg, raceBuild); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireServices returns SYNC_TEST_KINESIS_ENDPOINT and checks that
// SYNC_TEST_POSTGRES_URL is set; it skips (fails under CI=true) otherwise.
func requireServices(t testing.TB) string {
	t.Helper()
	synctest.ServiceURL(t, "SYNC_TEST_POSTGRES_URL")
	return synctest.ServiceURL(t, "SYNC_TEST_KINESIS_ENDPOINT")
}

func kinesisClient(endpoint string) *kinesis.Client { return synctest.KinesisClient(endpoint) }

// newStream creates a stream with shards shards and waits until it is active.
func newStream(t testing.TB, kc *kinesis.Client, shards int32) string {
	t.Helper()
	return synctest.NewStream(t, kc, shards)
}

// stack is syncd on a fresh PostgreSQL schema streaming the pool to a fresh
// kinesalite stream, plus fresh schemas for the worker's checkpoints and its
// PostgreSQL sink.
type stack struct {
	kinesisEndpoint string
	kc              *kinesis.Client
	stream          string
	shards          int32
	pool            string
	syncd           *synctest.Proc
	syncEndpoint    string
	checkpointURL   string
	sinkURL         string
}

var syncdListening = regexp.MustCompile(`syncd listening"?.*?"?addr"?[=:]"?([^\s"]+)"?.*"?endpoint"?[=:]"?(http://[^\s"]+)`)

func newStack(t testing.TB, shards int32, syncdArgs ...string) *stack {
	t.Helper()
	s := &stack{kinesisEndpoint: requireServices(t), shards: shards, pool: synctest.PoolID()}
	s.kc = kinesisClient(s.kinesisEndpoint)
	s.stream = newStream(t, s.kc, shards)
	s.checkpointURL, s.sinkURL = synctest.PostgresURL(t), synctest.PostgresURL(t)
	s.syncd = synctest.Launch(t, synctest.ProcConfig{
		Bin: syncdBin, Env: synctest.ChildEnv([]string{"SYNCD_", "AWS_"}), Ready: syncdListening,
		Args: append([]string{"--listen", "127.0.0.1:0", "--developer-key", devKeyID + ":" + devSecret, "--region", synctest.Region,
			"--store", synctest.PostgresURL(t), "--kinesis-endpoint", s.kinesisEndpoint, "--pool", s.pool}, syncdArgs...),
	})
	s.syncEndpoint = s.syncd.AwaitReady(t, startTimeout)[2]
	s.syncd.AwaitHTTP200(t, s.syncEndpoint+"/healthz", 10*time.Second)
	if _, err := s.dev(t).SetIdentityPoolConfiguration(&cognitosync.SetIdentityPoolConfigurationInput{
		IdentityPoolId: awsv1.String(s.pool),
		CognitoStreams: &cognitosync.CognitoStreams{StreamName: awsv1.String(s.stream),
			RoleArn: awsv1.String("arn:aws:iam::000000000000:role/r"), StreamingStatus: awsv1.String("ENABLED")},
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *stack) dev(t testing.TB) *cognitosync.CognitoSync {
	return syncClient(t, s.syncEndpoint, credv1.NewStaticCredentials(devKeyID, devSecret, ""))
}

// syncClient is aws-sdk-go v1's Cognito Sync client for endpoint, without
// retries, with its own connection pool.
func syncClient(t testing.TB, endpoint string, creds *credv1.Credentials) *cognitosync.CognitoSync {
	t.Helper()
	return synctest.SyncV1(t, endpoint, creds)
}

// workerConfig is the YAML of --config.
func workerConfig(t testing.TB, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// worker is a running worker process.
type worker struct {
	*synctest.Proc
	metrics string // http://host:port of /metrics, /readyz
}

var workerStarting = regexp.MustCompile(`worker starting.*metrics"?[=:]"?(http://[^\s"/]+)/metrics`)

// startWorker starts the worker in remote mode against the stack with the
// config file, data directory and consumer group, and waits for /readyz.
func (s *stack) startWorker(t testing.TB, config, data, group string, extra ...string) *worker {
	t.Helper()
	return startWorker(t, append([]string{"--sync-endpoint", s.syncEndpoint, "--kinesis-endpoint", s.kinesisEndpoint,
		"--stream", s.stream, "--database-url", s.checkpointURL, "--config", config, "--data", data,
		"--consumer-group", group}, extra...)...)
}

func startWorker(t testing.TB, args ...string) *worker {
	t.Helper()
	p := synctest.Launch(t, synctest.ProcConfig{
		Bin: workerBin, Ready: workerStarting,
		// The developer key signs the worker's Cognito Sync calls to syncd;
		// kinesalite accepts any key.
		Env: synctest.ChildEnv([]string{"COGNITOSYNC_", "AWS_"}, "AWS_ACCESS_KEY_ID="+devKeyID, "AWS_SECRET_ACCESS_KEY="+devSecret),
		Args: append([]string{"--mode", "remote", "--metrics-listen", "127.0.0.1:0", "--retry-initial", "100ms",
			"--retry-max", "2s", "--shutdown-timeout", "5s"}, args...),
	})
	w := &worker{Proc: p, metrics: p.AwaitReady(t, startTimeout)[1]}
	p.AwaitHTTP200(t, w.metrics+"/readyz", startTimeout)
	return w
}

// metric sums the samples of a metric whose label set contains every one of
// labels (`name="value"`); -1 when the worker does not answer.
func (w *worker) metric(name string, labels ...string) float64 {
	return synctest.Metric(w.metrics+"/metrics", name, labels...)
}

// recKey addresses one record.
type recKey struct{ identity, dataset, key string }

// recState is a record's state: a nil value is a tombstone.
type recState struct {
	value     *string
	syncCount int64
}

func (r recState) String() string {
	if r.value == nil {
		return fmt.Sprintf("deleted@%d", r.syncCount)
	}
	return fmt.Sprintf("%q@%d", *r.value, r.syncCount)
}

// changeKey is a change's idempotency key, as the sinks use it.
type changeKey struct {
	recKey
	syncCount int64
}

// load writes random record changes (replace and remove) to several
// identities and datasets through aws-sdk-go v1's Cognito Sync client with
// the identities' own credentials, concurrently, and remembers every change
// syncd acknowledged.
type load struct {
	pool     string
	pairs    []*pair
	done     atomic.Int64 // UpdateRecords calls acknowledged
	mu       sync.Mutex
	acked    map[changeKey]recState
	errCount atomic.Int64
}

// pair is one identity's dataset; one writer at a time (mu), so syncd
// never answers a conflict.
type pair struct {
	mu       sync.Mutex
	c        *cognitosync.CognitoSync
	identity string
	dataset  string
	token    string
	state    map[string]recState // the writer's view
}

func newLoad(t testing.TB, s *stack, identities, datasets int) *load {
	t.Helper()
	l := &load{pool: s.pool, acked: map[changeKey]recState{}}
	for range identities {
		id := newIdentity(t, s.syncEndpoint, s.pool)
		c := syncClient(t, s.syncEndpoint, credv1.NewStaticCredentials(id.Creds.AccessKeyID, id.Creds.SecretAccessKey, id.Creds.SessionToken))
		for d := range datasets {
			l.pairs = append(l.pairs, &pair{c: c, identity: id.ID, dataset: fmt.Sprintf("ds-%d", d), state: map[string]recState{}})
		}
	}
	return l
}

// newIdentity gets an identity the way SDK credential providers do.
func newIdentity(t testing.TB, endpoint, pool string) synctest.Identity {
	t.Helper()
	return synctest.NewIdentityAt(t, endpoint, pool)
}

const loadKeys = 8

// run makes updates UpdateRecords calls from concurrency goroutines, each
// with 1 to 3 patches on random keys of a random pair.
func (l *load) run(t testing.TB, updates, concurrency int) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for next.Add(1) <= int64(updates) {
				if l.errCount.Load() > 20 {
					return
				}
				p := l.pairs[rand.N(len(l.pairs))]
				if err := l.update(p); err != nil {
					t.Errorf("update %s/%s: %v", p.identity, p.dataset, err)
					l.errCount.Add(1)
				}
			}
		})
	}
	wg.Wait()
}

func (l *load) update(p *pair) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.token == "" {
		out, err := p.c.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: awsv1.String(l.pool),
			IdentityId: awsv1.String(p.identity), DatasetName: awsv1.String(p.dataset)})
		if err != nil {
			return err
		}
		p.token = *out.SyncSessionToken
	}
	var patches []*cognitosync.RecordPatch
	for _, k := range rand.Perm(loadKeys)[:1+rand.N(3)] {
		key := fmt.Sprintf("key-%d", k)
		cur := p.state[key]
		if cur.value != nil && rand.N(3) == 0 {
			patches = append(patches, &cognitosync.RecordPatch{Op: awsv1.String("remove"), Key: awsv1.String(key), SyncCount: awsv1.Int64(cur.syncCount)})
			continue
		}
		patches = append(patches, &cognitosync.RecordPatch{Op: awsv1.String("replace"), Key: awsv1.String(key),
			Value: awsv1.String(randValue()), SyncCount: awsv1.Int64(cur.syncCount)})
	}
	out, err := p.c.UpdateRecords(&cognitosync.UpdateRecordsInput{
		IdentityPoolId: awsv1.String(l.pool), IdentityId: awsv1.String(p.identity), DatasetName: awsv1.String(p.dataset),
		SyncSessionToken: awsv1.String(p.token), RecordPatches: patches,
	})
	if err != nil {
		var ae awserr.Error
		if errors.As(err, &ae) && ae.Code() == "ResourceConflictException" {
			return fmt.Errorf("conflict with one writer per dataset: %w", err)
		}
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range out.Records {
		st := recState{value: r.Value, syncCount: *r.SyncCount}
		p.state[*r.Key] = st
		l.acked[changeKey{recKey{p.identity, p.dataset, *r.Key}, st.syncCount}] = st
	}
	l.done.Add(1)
	return nil
}

func randValue() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 8+rand.N(24))
	for i := range b {
		b[i] = alphabet[rand.N(len(alphabet))]
	}
	return string(b)
}

// changes returns every change syncd acknowledged.
func (l *load) changes() map[changeKey]recState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.acked)
}

// groundTruth is syncd's ListRecords of every pair, with developer
// credentials: every live record and every tombstone.
func (l *load) groundTruth(t testing.TB, s *stack) map[recKey]recState {
	t.Helper()
	c := s.dev(t)
	out := map[recKey]recState{}
	for _, p := range l.pairs {
		in := &cognitosync.ListRecordsInput{IdentityPoolId: awsv1.String(l.pool), IdentityId: awsv1.String(p.identity),
			DatasetName: awsv1.String(p.dataset), LastSyncCount: awsv1.Int64(0), MaxResults: awsv1.Int64(1024)}
		for {
			res, err := c.ListRecords(in)
			if err != nil {
				t.Fatalf("ListRecords %s/%s: %v", p.identity, p.dataset, err)
			}
			for _, r := range res.Records {
				out[recKey{p.identity, p.dataset, *r.Key}] = recState{value: r.Value, syncCount: *r.SyncCount}
			}
			if awsv1.StringValue(res.NextToken) == "" {
				break
			}
			in.NextToken = res.NextToken
		}
	}
	return out
}

// sinkState reads the PostgreSQL sink's records table of the pool.
func sinkState(ctx context.Context, url, pool string) (map[recKey]recState, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT identity_id, dataset_name, key, value, deleted, sync_count
FROM cognitosync_records WHERE identity_pool_id = $1`, pool)
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return map[recKey]recState{}, nil // not migrated yet
		}
		return nil, err
	}
	defer rows.Close()
	out := map[recKey]recState{}
	for rows.Next() {
		var k recKey
		var v sql.NullString
		var deleted bool
		var sc int64
		if err := rows.Scan(&k.identity, &k.dataset, &k.key, &v, &deleted, &sc); err != nil {
			return nil, err
		}
		st := recState{syncCount: sc}
		if !deleted {
			s := v.String
			st.value = &s
		}
		out[k] = st
	}
	return out, rows.Err()
}

// diff lists how got differs from want, at most 10 lines, and the count.
func diff(want, got map[recKey]recState) (int, string) {
	return diffRecords(want, got, func(k recKey, g recState) string { return fmt.Sprintf("%v: %v, not in syncd", k, g) })
}

// diffRecords lists how got differs from want, at most 10 lines, and the
// count: every record of want must be in got with its state, and a record
// only in got is a difference when extra describes it ("" when it is not).
func diffRecords(want, got map[recKey]recState, extra func(recKey, recState) string) (int, string) {
	var lines []string
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			lines = append(lines, fmt.Sprintf("%v: missing, want %v", k, w))
		case g.syncCount != w.syncCount || (g.value == nil) != (w.value == nil) || (g.value != nil && *g.value != *w.value):
			lines = append(lines, fmt.Sprintf("%v: %v, want %v", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			if l := extra(k, g); l != "" {
				lines = append(lines, l)
			}
		}
	}
	slices.Sort(lines)
	n := len(lines)
	return n, strings.Join(lines[:min(n, 10)], "\n")
}

// awaitSink waits up to d until the PostgreSQL sink equals want and returns
// when it did.
func awaitSink(t testing.TB, url, pool string, want map[recKey]recState, d time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got, err := sinkState(context.Background(), url, pool)
		if err != nil {
			t.Fatal(err)
		}
		n, lines := diff(want, got)
		if n == 0 {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the PostgreSQL sink did not converge within %v: %d of %d records differ from syncd, e.g.\n%s", d, n, len(want), lines)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// jsonlLines reads every complete line of the JSONL sink files in dirs and
// counts deliveries per change (a torn last line, never acknowledged, is
// skipped).
func jsonlLines(t testing.TB, dirs ...string) map[changeKey]int {
	t.Helper()
	out := map[changeKey]int{}
	for _, dir := range dirs {
		paths, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
				b = b[:i]
			} else {
				continue
			}
			for _, line := range bytes.Split(b, []byte{'\n'}) {
				var c changejson.Change
				if err := json.Unmarshal(line, &c); err != nil {
					t.Fatalf("%s: %v: %s", p, err, line)
				}
				out[changeKey{recKey{c.IdentityID, c.DatasetName, c.Key}, c.SyncCount}]++
			}
		}
	}
	return out
}

// deliveries sums counts: total lines and duplicates (lines past the first
// of each change).
func deliveries(m map[changeKey]int) (total, dups int) {
	for _, n := range m {
		total += n
		dups += n - 1
	}
	return total, dups
}

// peakRSS logs and returns a running worker's VmHWM in MiB (0 if unknown).
func peakRSS(t testing.TB, w *worker) float64 {
	b, err := w.PeakRSS()
	if err != nil {
		t.Logf("peak RSS: %v", err)
		return 0
	}
	return float64(b) / (1 << 20)
}

// streamRecords counts the records in every shard of the stream, reading
// from TRIM_HORIZON with bare GetRecords calls.
func streamRecords(ctx context.Context, kc *kinesis.Client, stream string) (int, error) {
	sh, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range sh.Shards {
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: s.ShardId,
			ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			return 0, err
		}
		for iter := it.ShardIterator; iter != nil; {
			r, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				return 0, err
			}
			n += len(r.Records)
			if len(r.Records) == 0 {
				break
			}
			iter = r.NextShardIterator
		}
	}
	return n, nil
}

// awaitStream waits up to d until the stream holds n records and returns
// when it did.
func awaitStream(t testing.TB, kc *kinesis.Client, stream string, n int, d time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got, err := streamRecords(context.Background(), kc, stream)
		if err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream holds %d records after %v, want %d", got, d, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
