package bench_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"golang.org/x/sync/errgroup"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/client"
)

const (
	// clients is the number of concurrent clients of every benchmark (the
	// issue's figure), each with its own identity, so no two ever write the
	// same dataset and UpdateRecords never conflicts.
	clients = 64
	// listSize is the number of records ListRecords returns, all of them
	// (lastSyncCount 0, maxResults 1024, as the Android SDK syncs).
	listSize    = 20
	datasetName = "bench"
	counterKey  = "counter"
	// valueSize is the size of every record value written.
	valueSize = 64
	// baselineInline is how many requests measure the baseline when its
	// sub-benchmark did not run (filtered out by -bench).
	baselineInline = 40 * clients
)

func listKey(i int) string   { return fmt.Sprintf("key%02d", i) }
func listValue(i int) string { return pad(fmt.Sprintf("value-%02d-", i)) }

// pad fills s with '.' up to valueSize bytes.
func pad(s string) string { return s + strings.Repeat(".", max(0, valueSize-len(s))) }

// backend is one store the benchmarks run on.
type backend struct {
	name    string
	open    func(testing.TB) syncapi.Store
	durable bool // what was written can be read back
}

// backends run in this order: the baseline first, so that the others can
// report their ratio to it.
var backends = []backend{
	{"baseline", func(testing.TB) syncapi.Store { return newNullStore() }, false},
	{"sqlite", synctest.SQLite, true},
	{"postgres", synctest.Postgres, true},
}

// workload is one benchmarked operation.
type workload struct {
	name string
	// seed prepares a client's dataset before measuring.
	seed func(ctx context.Context, w *worker) error
	// do sends one request and checks its response.
	do func(ctx context.Context, w *worker) error
	// check verifies, after measuring, what a durable store holds.
	check func(ctx context.Context, w *worker) error
}

var (
	updateRecords = workload{name: "UpdateRecords", seed: seedUpdate, do: doUpdate, check: checkUpdate}
	listRecords   = workload{name: "ListRecords", seed: seedList, do: doList, check: checkList}
)

// baselineRate holds each workload's baseline req/s, measured earlier in the
// same run, for the other backends' ratio.
var (
	baselineMu   sync.Mutex
	baselineRate = map[string]float64{}
)

// BenchmarkUpdateRecords measures durable single-record writes by 64
// concurrent clients, each on its own dataset.
func BenchmarkUpdateRecords(b *testing.B) { runBackends(b, updateRecords) }

// BenchmarkListRecords measures full reads (lastSyncCount 0) of a dataset of
// 20 records by 64 concurrent clients.
func BenchmarkListRecords(b *testing.B) { runBackends(b, listRecords) }

// runBackends runs wl on every backend as sub-benchmarks. A backend's stack
// is built once, on the sub-benchmark's first call, and lives until b ends:
// the testing package calls a sub-benchmark several times with growing b.N
// and runs its cleanups after each call.
func runBackends(b *testing.B, wl workload) {
	envs := map[string]*env{}
	setup := func(sb *testing.B, be backend) *env {
		if e := envs[be.name]; e != nil {
			return e
		}
		e := newEnv(outliving{TB: sb, owner: b}, be, wl, clients)
		envs[be.name] = e
		return e
	}
	for _, be := range backends {
		b.Run(be.name, func(sb *testing.B) {
			e := setup(sb, be)
			var base float64
			if be.name != "baseline" {
				base = baseline(sb, wl, func() *env { return setup(sb, backends[0]) })
			}
			res := measure(sb, e, sb.N)
			sb.ReportMetric(res.rate(), "req/s")
			sb.ReportMetric(ms(res.percentile(0.50)), "p50-ms")
			sb.ReportMetric(ms(res.percentile(0.99)), "p99-ms")
			if res.cpu > 0 {
				sb.ReportMetric(res.cpuPerReq(), "cpu-us/req")
			}
			if be.name == "baseline" {
				baselineMu.Lock()
				baselineRate[wl.name] = res.rate()
				baselineMu.Unlock()
			} else {
				sb.ReportMetric(res.rate()/base, "ratio")
			}
		})
	}
}

// baseline returns wl's baseline req/s of this run, measuring it now if the
// baseline sub-benchmark did not run.
func baseline(b *testing.B, wl workload, env func() *env) float64 {
	baselineMu.Lock()
	r, ok := baselineRate[wl.name]
	baselineMu.Unlock()
	if ok {
		return r
	}
	res := measure(b, env(), baselineInline)
	b.Logf("%s baseline measured inline: %.0f req/s", wl.name, res.rate())
	baselineMu.Lock()
	baselineRate[wl.name] = res.rate()
	baselineMu.Unlock()
	return res.rate()
}

// TestBenchSmoke runs every benchmark body for a few requests, with fewer
// clients, so that CI proves the benchmarks work. It asserts correctness
// only, never timing.
func TestBenchSmoke(t *testing.T) {
	for _, wl := range []workload{updateRecords, listRecords} {
		for _, be := range backends {
			t.Run(wl.name+"/"+be.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, be, wl, 8)
				for range 2 { // twice: state carries over between b.N rounds
					res := measure(t, e, 40)
					if len(res.lat) != 40 || res.rate() <= 0 || res.percentile(0.99) <= 0 {
						t.Fatalf("measure: %d latencies, %.0f req/s, p99 %v", len(res.lat), res.rate(), res.percentile(0.99))
					}
				}
			})
		}
	}
}

// outliving is the testing.TB a sub-benchmark builds its stack with: it
// fails and skips the sub-benchmark but registers cleanups and temporary
// directories on owner, so that the stack outlives one call of the
// sub-benchmark.
type outliving struct {
	testing.TB
	owner testing.TB
}

func (o outliving) Cleanup(f func()) { o.owner.Cleanup(f) }
func (o outliving) TempDir() string  { return o.owner.TempDir() }

// env is a running stack with its clients.
type env struct {
	wl      workload
	be      backend
	srv     *synctest.Server
	workers []*worker
}

// worker is one client: its own identity, credentials and dataset, and what
// it has written.
type worker struct {
	c                 *client.Client
	pool, id, dataset string
	session           string // SyncSessionToken for UpdateRecords
	count             int64  // SyncCount of counterKey
	value             string // last value written to counterKey
	lat               []time.Duration
}

func newEnv(tb testing.TB, be backend, wl workload, n int) *env {
	tb.Helper()
	srv := synctest.Start(tb, synctest.Options{Store: be.open(tb)})
	pool := synctest.PoolID()
	srv.CreatePool(tb, pool)
	// One keep-alive connection per client, as 64 devices would hold.
	tr := &http.Transport{MaxIdleConns: 2 * n, MaxIdleConnsPerHost: 2 * n, IdleConnTimeout: time.Minute}
	tb.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	idc := synctest.IdentityClient(srv.URL, aws.AnonymousCredentials{})

	e := &env{wl: wl, be: be, srv: srv, workers: make([]*worker, n)}
	ctx := context.Background()
	var g errgroup.Group
	g.SetLimit(16)
	for i := range e.workers {
		g.Go(func() error {
			w, err := newWorker(ctx, idc, hc, srv.URL, pool)
			if err != nil {
				return err
			}
			if err := wl.seed(ctx, w); err != nil {
				return fmt.Errorf("seed %s: %w", w.id, err)
			}
			e.workers[i] = w
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		tb.Fatalf("%s on %s: set up: %v", wl.name, be.name, err)
	}
	return e
}

// newWorker gets an identity and its credentials as an SDK credential
// provider does (GetId, GetCredentialsForIdentity).
func newWorker(ctx context.Context, idc *cognitoidentity.Client, hc *http.Client, endpoint, pool string) (*worker, error) {
	id, err := idc.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(pool)})
	if err != nil {
		return nil, fmt.Errorf("GetId: %w", err)
	}
	out, err := idc.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId})
	if err != nil {
		return nil, fmt.Errorf("GetCredentialsForIdentity: %w", err)
	}
	cr := out.Credentials
	c := client.New(client.Options{
		Region: synctest.Region, BaseEndpoint: aws.String(endpoint), HTTPClient: hc,
		Credentials: synctest.StaticV2(*cr.AccessKeyId, *cr.SecretKey, *cr.SessionToken),
		Retryer:     aws.NopRetryer{}, // a failure must fail the benchmark, not be retried
	})
	return &worker{c: c, pool: pool, id: *out.IdentityId, dataset: datasetName}, nil
}

func (w *worker) list(ctx context.Context) (syncapi.ListRecordsOutput, error) {
	return w.c.ListRecords(ctx, syncapi.ListRecordsInput{
		IdentityPoolID: w.pool, IdentityID: w.id, DatasetName: w.dataset,
		LastSyncCount: aws.Int64(0), MaxResults: aws.Int32(1024),
	})
}

// seedUpdate opens a sync session, as a client does before UpdateRecords.
func seedUpdate(ctx context.Context, w *worker) error {
	out, err := w.list(ctx)
	if err != nil {
		return err
	}
	w.session = out.SyncSessionToken
	return nil
}

// doUpdate writes counterKey at the SyncCount the worker last saw and
// checks that the store assigned the next one.
func doUpdate(ctx context.Context, w *worker) error {
	v := pad(fmt.Sprintf("%s#%d", w.id, w.count+1))
	now := syncapi.NewTime(time.Now())
	out, err := w.c.UpdateRecords(ctx, syncapi.UpdateRecordsInput{
		IdentityPoolID: w.pool, IdentityID: w.id, DatasetName: w.dataset, SyncSessionToken: w.session,
		RecordPatches: []syncapi.RecordPatch{{
			Op: syncapi.OpReplace, Key: counterKey, Value: &v, SyncCount: w.count, DeviceLastModifiedDate: &now,
		}},
	})
	if err != nil {
		return fmt.Errorf("UpdateRecords at SyncCount %d: %w", w.count, err)
	}
	if len(out.Records) != 1 {
		return fmt.Errorf("UpdateRecords: %d records, want 1", len(out.Records))
	}
	r := out.Records[0]
	if r.Key != counterKey || r.Value == nil || *r.Value != v || r.SyncCount != w.count+1 {
		return fmt.Errorf("UpdateRecords returned %s=%v at SyncCount %d, want %s=%q at %d",
			r.Key, r.Value, r.SyncCount, counterKey, v, w.count+1)
	}
	w.count, w.value = r.SyncCount, v
	return nil
}

// checkUpdate reads counterKey back.
func checkUpdate(ctx context.Context, w *worker) error {
	out, err := w.list(ctx)
	if err != nil {
		return err
	}
	if w.count == 0 {
		return nil // this worker wrote nothing yet
	}
	if len(out.Records) != 1 || out.DatasetSyncCount != w.count {
		return fmt.Errorf("dataset at SyncCount %d with %d records, want %d with 1", out.DatasetSyncCount, len(out.Records), w.count)
	}
	r := out.Records[0]
	if r.Key != counterKey || r.Value == nil || *r.Value != w.value || r.SyncCount != w.count {
		return fmt.Errorf("stored %s=%v at SyncCount %d, want %s=%q at %d", r.Key, r.Value, r.SyncCount, counterKey, w.value, w.count)
	}
	return nil
}

// seedList writes the listSize records in one UpdateRecords.
func seedList(ctx context.Context, w *worker) error {
	if err := seedUpdate(ctx, w); err != nil {
		return err
	}
	patches := make([]syncapi.RecordPatch, listSize)
	for i := range patches {
		v := listValue(i)
		patches[i] = syncapi.RecordPatch{Op: syncapi.OpReplace, Key: listKey(i), Value: &v}
	}
	_, err := w.c.UpdateRecords(ctx, syncapi.UpdateRecordsInput{
		IdentityPoolID: w.pool, IdentityID: w.id, DatasetName: w.dataset, SyncSessionToken: w.session,
		RecordPatches: patches,
	})
	return err
}

// doList reads the whole dataset and checks every record.
func doList(ctx context.Context, w *worker) error {
	out, err := w.list(ctx)
	if err != nil {
		return fmt.Errorf("ListRecords: %w", err)
	}
	if !out.DatasetExists || out.DatasetSyncCount != 1 || out.Count != listSize || len(out.Records) != listSize ||
		out.NextToken != "" || out.SyncSessionToken == "" {
		return fmt.Errorf("ListRecords: exists %v, SyncCount %d, Count %d, %d records, NextToken %q, session %q; want a dataset at 1 with %d records",
			out.DatasetExists, out.DatasetSyncCount, out.Count, len(out.Records), out.NextToken, out.SyncSessionToken, listSize)
	}
	for i, r := range out.Records {
		if r.Key != listKey(i) || r.Value == nil || *r.Value != listValue(i) || r.SyncCount != 1 {
			return fmt.Errorf("ListRecords: record %d is %s=%v at %d, want %s=%q at 1", i, r.Key, r.Value, r.SyncCount, listKey(i), listValue(i))
		}
	}
	return nil
}

func checkList(ctx context.Context, w *worker) error { return doList(ctx, w) }

// result is one measurement.
type result struct {
	elapsed time.Duration
	lat     []time.Duration // sorted
	cpu     time.Duration   // CPU time of this process (clients, server, SQLite); 0: unknown
}

func (r result) rate() float64 { return float64(len(r.lat)) / r.elapsed.Seconds() }

// percentile returns the nearest-rank percentile p (0 < p <= 1).
func (r result) percentile(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(r.lat)))) - 1
	return r.lat[max(0, i)]
}

// cpuPerReq is the process's CPU time per request in microseconds. Unlike
// req/s it does not depend on how much of the machine the benchmark got;
// the clients' share is included, PostgreSQL's server processes are not.
func (r result) cpuPerReq() float64 {
	return float64(r.cpu) / float64(time.Microsecond) / float64(max(1, len(r.lat)))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// measure sends n requests from all the env's workers at once, each worker
// taking the next request as soon as its previous one is answered. Every
// response is checked; a durable store is read back afterwards. On a
// *testing.B only the requests are timed.
func measure(tb testing.TB, e *env, n int) result {
	tb.Helper()
	ctx := context.Background()
	var (
		next    atomic.Int64
		stop    atomic.Bool
		errOnce sync.Once
		first   error
		wg      sync.WaitGroup
	)
	for _, w := range e.workers {
		w.lat = slices.Grow(w.lat[:0], n/len(e.workers)+1)
	}
	b, _ := tb.(*testing.B)
	if b != nil {
		b.ResetTimer()
	}
	cpu0, cpuOK := processCPU()
	start := time.Now()
	for _, w := range e.workers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && !stop.Load() {
				t0 := time.Now()
				err := e.wl.do(ctx, w)
				d := time.Since(t0)
				if err != nil {
					errOnce.Do(func() { first = fmt.Errorf("client %s: %w", w.id, err) })
					stop.Store(true)
					return
				}
				w.lat = append(w.lat, d)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, _ := processCPU()
	if b != nil {
		b.StopTimer()
	}
	if first != nil {
		tb.Fatalf("%s on %s: %v", e.wl.name, e.be.name, first)
	}
	if e.be.durable {
		var errs []error
		for _, w := range e.workers {
			if err := e.wl.check(ctx, w); err != nil {
				errs = append(errs, fmt.Errorf("read back %s: %w", w.id, err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			tb.Fatalf("%s on %s: %v", e.wl.name, e.be.name, err)
		}
	}
	res := result{elapsed: elapsed, lat: make([]time.Duration, 0, n)}
	if cpuOK {
		res.cpu = cpu1 - cpu0
	}
	for _, w := range e.workers {
		res.lat = append(res.lat, w.lat...)
	}
	slices.Sort(res.lat)
	return res
}
