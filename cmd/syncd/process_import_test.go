package main_test

// Moving a live pool off a source Cognito Sync: two syncd processes (the
// source streaming to kinesalite, the target), `syncd import` between them
// and a worker with the syncd sink keeping the target current, all as
// separate OS processes talking over their real wires.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	awsv1 "github.com/aws/aws-sdk-go/aws"
	credv1 "github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/metricnames"
	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
)

var (
	workerOnce     sync.Once
	workerBinPath  string
	workerBuildErr error
)

// workerBin builds the worker binary once per test binary.
func workerBin(t testing.TB) string {
	t.Helper()
	workerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "syncd-import-worker")
		if err != nil {
			workerBuildErr = err
			return
		}
		extraDirs = append(extraDirs, dir)
		workerBinPath, workerBuildErr = synctest.Build(dir, "github.com/cognitosync/cognitosync/cmd/worker", raceBuild)
	})
	if workerBuildErr != nil {
		t.Fatal(workerBuildErr)
	}
	return workerBinPath
}

// move is a source syncd streaming to kinesalite and a target syncd.
type move struct {
	pool, stream     string
	kinesis          string
	src, dst         *proc
	srcData, dstData string
	// dstStore is the target's store flag and value: --data dstData, or
	// --store postgres://….
	dstFlag, dstStore string
}

// newMove starts the source (streaming pool to a new kinesalite stream)
// and the target, each on its own SQLite directory.
func newMove(t *testing.T) *move {
	t.Helper()
	return newMoveTo(t, "")
}

// newMoveTo is newMove with the target on PostgreSQL at pg when it is not
// "".
func newMoveTo(t *testing.T, pg string) *move {
	t.Helper()
	m := &move{pool: synctest.PoolID(), kinesis: kinesisEndpoint(t), srcData: t.TempDir(), dstData: t.TempDir()}
	m.dstFlag, m.dstStore = "--data", m.dstData
	if pg != "" {
		m.dstFlag, m.dstStore = "--store", pg
	}
	m.stream, _ = newStream(t, m.kinesis)
	unlimited := []string{"--get-id-rate", "0", "--get-id-rate-per-address", "0", "--get-credentials-rate", "0", "--get-credentials-rate-per-address", "0"}
	m.src = startSyncd(t, append([]string{"--data", m.srcData, "--kinesis-endpoint", m.kinesis, "--pool", m.pool}, unlimited...)...)
	enableStream(t, devSync(t, m.src.Endpoint), m.pool, m.stream)
	m.dst = startSyncd(t, append([]string{m.dstFlag, m.dstStore}, unlimited...)...)
	return m
}

var importDone = regexp.MustCompile(`import of \S+ from \S+ done`)

// runImport runs `syncd import` from the source into the target's data
// directory with the developer key as the source's AWS credentials, and
// returns the process (waited for unless wait is false).
func (m *move) runImport(t *testing.T, wait bool, args ...string) *synctest.Proc {
	t.Helper()
	p := synctest.Launch(t, synctest.ProcConfig{
		Bin: syncdBin,
		Args: append([]string{"import", "--from", m.src.Endpoint, "--pool", m.pool, m.dstFlag, m.dstStore,
			"--rate", "0", "--log-level", "debug"}, args...),
		Env: synctest.ChildEnv([]string{"SYNCD_", "AWS_"}, "AWS_ACCESS_KEY_ID="+devKeyID, "AWS_SECRET_ACCESS_KEY="+devSecret,
			"AWS_EC2_METADATA_DISABLED=true"),
	})
	if !wait {
		return p
	}
	select {
	case <-p.Done():
	case <-time.After(3 * time.Minute):
		t.Fatalf("import still running:\n%s", tail(p.Log.String(), 4000))
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 || !importDone.MatchString(p.Log.String()) {
		t.Fatalf("import exited %d:\n%s", code, tail(p.Log.String(), 6000))
	}
	return p
}

// startWorker starts a worker that applies the source's stream to the
// target's store with the syncd sink, from the start of the stream.
func (m *move) startWorker(t *testing.T) *synctest.Proc {
	t.Helper()
	p := synctest.Launch(t, synctest.ProcConfig{
		Bin: workerBin(t), Ready: regexp.MustCompile(`worker starting.*metrics"?[=:]"?(http://[^\s"/]+)/metrics`),
		Env: synctest.ChildEnv([]string{"COGNITOSYNC_", "AWS_"}, "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_EC2_METADATA_DISABLED=true"),
		Args: []string{"--mode", "remote", "--stream", m.stream, "--kinesis-endpoint", m.kinesis, "--region", synctest.Region,
			"--start-at", "trim-horizon", "--data", t.TempDir(), "--metrics-listen", "127.0.0.1:0",
			"--sinks", "syncd", "--syncd-store", m.dstStore, "--retry-initial", "50ms", "--retry-max", "500ms", "--shutdown-timeout", "5s"},
	})
	metrics := p.AwaitReady(t, startTimeout)[1]
	p.AwaitHTTP200(t, metrics+"/readyz", startTimeout)
	return p
}

// dataset is what a client sees of one dataset through ListRecords.
type datasetView struct {
	count   int64
	records map[string]string // key -> "value|SyncCount|LastModifiedBy|LastModifiedDate|DeviceLastModifiedDate"
}

// snapshot lists every identity's datasets and records on endpoint with
// developer credentials: the state a device could see.
// Without withBy, LastModifiedBy is left out: the stream does not carry it,
// so what the sink alone applied shows the identity id until an import
// pass reads it from the source.
func snapshot(t testing.TB, endpoint, pool string, ids []string, withBy bool) (map[string]datasetView, error) {
	c := devSync(t, endpoint)
	out := map[string]datasetView{}
	for _, id := range ids {
		ds, err := c.ListDatasets(&cognitosync.ListDatasetsInput{IdentityPoolId: awsv1.String(pool), IdentityId: awsv1.String(id), MaxResults: awsv1.Int64(60)})
		if err != nil {
			return nil, err
		}
		for _, d := range ds.Datasets {
			recs, lr, err := listAll(c, pool, id, *d.DatasetName)
			if err != nil {
				return nil, err
			}
			v := datasetView{count: *lr.DatasetSyncCount, records: map[string]string{}}
			for _, r := range recs {
				val := "<removed>"
				if r.Value != nil {
					val = *r.Value
				}
				by := "-"
				if withBy {
					by = awsv1.StringValue(r.LastModifiedBy)
				}
				v.records[*r.Key] = fmt.Sprintf("%s|%d|%s|%d|%d", val, *r.SyncCount, by,
					r.LastModifiedDate.UnixMilli(), r.DeviceLastModifiedDate.UnixMilli())
			}
			out[id+"/"+*d.DatasetName] = v
		}
	}
	return out, nil
}

func diffViews(want, got map[string]datasetView) []string {
	var d []string
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			d = append(d, fmt.Sprintf("%s: missing in the target", k))
			continue
		case g.count != w.count:
			d = append(d, fmt.Sprintf("%s: DatasetSyncCount %d, want %d", k, g.count, w.count))
		}
		for key, wv := range w.records {
			if gv := g.records[key]; gv != wv {
				d = append(d, fmt.Sprintf("%s/%s: %q, want %q", k, key, gv, wv))
			}
		}
		for key, gv := range g.records {
			if _, ok := w.records[key]; !ok {
				d = append(d, fmt.Sprintf("%s/%s: %q only in the target", k, key, gv))
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("%s: only in the target", k))
		}
	}
	sort.Strings(d)
	return d
}

// awaitEqual waits until the target shows every identity's datasets as the
// source does, SyncCounts and dates included.
func (m *move) awaitEqual(t *testing.T, ids []string, withBy bool, d time.Duration) {
	t.Helper()
	want, err := snapshot(t, m.src.Endpoint, m.pool, ids, withBy)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(d)
	for {
		got, err := snapshot(t, m.dst.Endpoint, m.pool, ids, withBy)
		var diffs []string
		if err == nil {
			if diffs = diffViews(want, got); len(diffs) == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			if len(diffs) > 20 {
				diffs = diffs[:20]
			}
			t.Fatalf("the target does not equal the source after %v (err %v):\n%s", d, err, strings.Join(diffs, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writer makes changes on the source as devices would: replaces, removes
// and dataset deletions, through the developer key.
type writer struct {
	c    *cognitosync.CognitoSync
	pool string
	rnd  *rand.Rand
	n    atomic.Int64 // changes made
	// deleted counts dataset deletions, removed record removals.
	deleted, removed atomic.Int64
}

func (w *writer) datasets(id string) []string { return []string{"settings", "game", "scratch"} }

// change makes one random change to identity id; errors are returned.
func (w *writer) change(id string) error {
	names := w.datasets(id)
	ds := names[w.rnd.IntN(len(names))]
	tok, err := w.c.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: awsv1.String(w.pool), IdentityId: awsv1.String(id),
		DatasetName: awsv1.String(ds), LastSyncCount: awsv1.Int64(0), MaxResults: awsv1.Int64(1024)})
	if err != nil {
		return err
	}
	counts := map[string]int64{}
	for _, r := range tok.Records {
		counts[*r.Key] = *r.SyncCount
	}
	w.n.Add(1)
	if ds == "scratch" && len(tok.Records) > 0 && w.rnd.IntN(3) == 0 {
		w.deleted.Add(1)
		_, err := w.c.DeleteDataset(&cognitosync.DeleteDatasetInput{IdentityPoolId: awsv1.String(w.pool), IdentityId: awsv1.String(id), DatasetName: awsv1.String(ds)})
		return err
	}
	var patches []*cognitosync.RecordPatch
	used := map[string]bool{}
	for i := 0; i < 1+w.rnd.IntN(3); i++ {
		key := fmt.Sprintf("k%d", w.rnd.IntN(6))
		if used[key] {
			continue
		}
		used[key] = true
		if n, ok := counts[key]; ok && w.rnd.IntN(4) == 0 {
			patches = append(patches, &cognitosync.RecordPatch{Op: awsv1.String("remove"), Key: awsv1.String(key), SyncCount: awsv1.Int64(n)})
			w.removed.Add(1)
		} else {
			patches = append(patches, replace(key, fmt.Sprintf("v%d", w.rnd.Int64()), counts[key]))
		}
	}
	_, err = w.c.UpdateRecords(updateInput(w.pool, id, ds, *tok.SyncSessionToken, patches...))
	return err
}

// seed creates n guest identities on the source, each with changes in every
// dataset (removes and deleted datasets among them).
func (m *move) seed(t *testing.T, w *writer, n, changes int) []string {
	t.Helper()
	ci := synctest.IdentityClient(m.src.Endpoint, aws.AnonymousCredentials{})
	var ids []string
	for range n {
		out, err := ci.GetId(context.Background(), &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(m.pool)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *out.IdentityId)
	}
	for _, id := range ids {
		for range changes {
			if err := w.change(id); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ids
}

// TestImport_MovePoolWhileLive: a pool of many identities, with removes and
// deleted datasets, moves from one syncd to another while changes keep
// coming: the worker's syncd sink applies the stream to the target from the
// start, `syncd import` copies the pool meanwhile, and once the writes stop
// the target equals the source for every identity and dataset, SyncCounts
// and dates included; a second import with --verify finds no difference,
// and developer users are found by their identifier.
func TestImport_MovePoolWhileLive(t *testing.T) {
	m := newMove(t)
	w := &writer{c: devSync(t, m.src.Endpoint), pool: m.pool, rnd: rand.New(rand.NewPCG(1, 2))}
	ids := m.seed(t, w, 24, 6)

	// A developer-authenticated user: the pool gets a developer provider
	// and the source links a user to a new identity.
	ci := synctest.IdentityClient(m.src.Endpoint, aws.NewCredentialsCache(staticCreds{}))
	if _, err := ci.UpdateIdentityPool(context.Background(), &cognitoidentity.UpdateIdentityPoolInput{IdentityPoolId: aws.String(m.pool),
		IdentityPoolName: aws.String("moving"), AllowUnauthenticatedIdentities: true, DeveloperProviderName: aws.String("login.example")}); err != nil {
		t.Fatal(err)
	}
	devID := linkDeveloperUser(t, m.srcData, m.pool, "login.example", "user-42")
	ids = append(ids, devID)
	if err := w.change(devID); err != nil {
		t.Fatal(err)
	}

	m.startWorker(t)
	stop := make(chan struct{})
	var live sync.WaitGroup
	live.Add(1)
	lw := &writer{c: devSync(t, m.src.Endpoint), pool: m.pool, rnd: rand.New(rand.NewPCG(3, 4))}
	go func() { // live changes while the import runs
		defer live.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := lw.change(ids[lw.rnd.IntN(len(ids))]); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	imp := m.runImport(t, true)
	close(stop)
	live.Wait()
	if lw.n.Load() == 0 || w.deleted.Load()+lw.deleted.Load() == 0 || w.removed.Load()+lw.removed.Load() == 0 {
		t.Fatalf("the source saw %d live changes, %d dataset deletions, %d removes: the test proves nothing",
			lw.n.Load(), w.deleted.Load()+lw.deleted.Load(), w.removed.Load()+lw.removed.Load())
	}
	t.Logf("%d changes before the import, %d during it (%d dataset deletions, %d removes)",
		w.n.Load(), lw.n.Load(), w.deleted.Load()+lw.deleted.Load(), w.removed.Load()+lw.removed.Load())
	// The stream brings every later change, with the source's counts and
	// dates; ...
	m.awaitEqual(t, ids, false, 60*time.Second)
	if out := imp.Log.String(); !strings.Contains(out, "developer user identifiers linked: 1") {
		t.Fatalf("import:\n%s", tail(out, 4000))
	}
	// ... and a last import pass (the runbook's, before the switch) also
	// brings LastModifiedBy, which the stream does not carry; --verify then
	// compares every dataset and finds no difference.
	out := m.runImport(t, true, "--verify").Log.String()
	if !strings.Contains(out, "verification: all") || !strings.Contains(out, "no differences") {
		t.Fatalf("verifying import:\n%s", tail(out, 4000))
	}
	m.awaitEqual(t, ids, true, 5*time.Second)

	// The developer user is found on the target by its identifier.
	ti := synctest.IdentityClient(m.dst.Endpoint, aws.NewCredentialsCache(staticCreds{}))
	lk, err := ti.LookupDeveloperIdentity(context.Background(), &cognitoidentity.LookupDeveloperIdentityInput{
		IdentityPoolId: aws.String(m.pool), DeveloperUserIdentifier: aws.String("user-42"), MaxResults: aws.Int32(10)})
	if err != nil || aws.ToString(lk.IdentityId) != devID {
		t.Fatalf("LookupDeveloperIdentity on the target = %v, %v; want %s", lk, err, devID)
	}
	// The pool's configuration came along.
	dp, err := ti.DescribeIdentityPool(context.Background(), &cognitoidentity.DescribeIdentityPoolInput{IdentityPoolId: aws.String(m.pool)})
	if err != nil || aws.ToString(dp.IdentityPoolName) != "moving" || aws.ToString(dp.DeveloperProviderName) != "login.example" || !dp.AllowUnauthenticatedIdentities {
		t.Fatalf("target pool = %+v, %v", dp, err)
	}
}

// staticCreds are the developer key as aws-sdk-go-v2 credentials.
type staticCreds struct{}

func (staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: devKeyID, SecretAccessKey: devSecret, Source: "test"}, nil
}

// linkDeveloperUser links a developer user to a new identity in the
// source's store, as GetOpenIdTokenForDeveloperIdentity does (the source
// process shares the SQLite database, in WAL mode).
func linkDeveloperUser(t *testing.T, data, pool, provider, user string) string {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), sqlstore.Config{URL: filepath.Join(data, "syncd.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Link(context.Background(), syncapi.LinkRequest{PoolID: pool, NewID: synctest.Region + ":" + syncapi.NewUUID(),
		Logins: []syncapi.Login{{Provider: provider, Subject: user}}, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return res.IdentityID
}

// importState reads the import's progress note from the target's SQLite
// database while the target serves ("" when none yet).
func importState(t *testing.T, data, pool string) string {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), sqlstore.Config{URL: filepath.Join(data, "syncd.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := db.ImportState(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

var identitiesDone = regexp.MustCompile(`"identities":(\d+)`)

// awaitSaved waits until the running import p has saved progress past
// atLeast identities, and returns the count saved.
func (m *move) awaitSaved(t *testing.T, p *synctest.Proc, atLeast int) int {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if s := identitiesDone.FindStringSubmatch(importState(t, m.dstData, m.pool)); s != nil {
			var n int
			fmt.Sscan(s[1], &n)
			if n > atLeast {
				return n
			}
		}
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("the import saved no progress past %d identities before it ended:\n%s", atLeast, tail(p.Log.String(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestImport_ResumeAfterCtrlCAndSIGKILL: an import stopped by Ctrl-C
// (SIGINT) and then one killed with SIGKILL each resume from the page they
// saved (the last run lists only the identity pages not finished), and the
// target ends equal to the source.
func TestImport_ResumeAfterCtrlCAndSIGKILL(t *testing.T) {
	m := newMove(t)
	w := &writer{c: devSync(t, m.src.Endpoint), pool: m.pool, rnd: rand.New(rand.NewPCG(5, 6))}
	ids := m.seed(t, w, 150, 1) // three pages of ListIdentities

	// Slow enough to be stopped between pages.
	p := m.runImport(t, false, "--rate", "60")
	m.awaitSaved(t, p, 0)
	if err := p.Cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("the import did not stop on SIGINT:\n%s", tail(p.Log.String(), 4000))
	}
	if code := p.Cmd.ProcessState.ExitCode(); code == 0 || !strings.Contains(p.Log.String(), "run the same command again to resume") {
		t.Fatalf("the interrupted import exited %d:\n%s", code, tail(p.Log.String(), 4000))
	}
	first := importState(t, m.dstData, m.pool)

	p = m.runImport(t, false, "--rate", "60")
	saved := m.awaitSaved(t, p, 60)
	p.Kill()
	if !strings.Contains(p.Log.String(), "resuming the import") {
		t.Fatalf("the run after Ctrl-C did not resume (saved %s):\n%s", first, tail(p.Log.String(), 4000))
	}
	state := importState(t, m.dstData, m.pool)
	if strings.Contains(state, `"done":true`) {
		t.Fatalf("the import finished before it was killed: %s", state)
	}

	listIdentities := func() float64 {
		return synctest.Metric(m.src.Endpoint+"/metrics", "cognitosync_requests_total", `operation="ListIdentities"`)
	}
	before := listIdentities()
	out := m.runImport(t, true).Log.String()
	if !strings.Contains(out, "resuming the import") || !strings.Contains(out, "(resumed)") || !strings.Contains(out, "copied: 150 identities") {
		t.Fatalf("the run after SIGKILL did not resume (saved %s):\n%s", state, tail(out, 4000))
	}
	if n, want := listIdentities()-before, float64((150-saved+59)/60); n != want {
		t.Fatalf("the resumed import listed %v pages of identities, want the %v it had not finished (saved %d)", n, want, saved)
	}
	m.awaitEqual(t, ids, true, 5*time.Second)
}

// TestImport_Metrics: with --metrics-listen, a running import serves its
// progress as the contract's cognitosync_import_* metrics, and they end at
// what the summary reports.
func TestImport_Metrics(t *testing.T) {
	m := newMove(t)
	w := &writer{c: devSync(t, m.src.Endpoint), pool: m.pool, rnd: rand.New(rand.NewPCG(7, 8))}
	m.seed(t, w, 120, 1) // two pages of ListIdentities
	addr := synctest.FreeAddr(t)
	url := "http://" + addr + "/metrics"
	p := m.runImport(t, false, "--rate", "60", "--metrics-listen", addr)
	deadline := time.Now().Add(2 * time.Minute)
	for synctest.Metric(url, metricnames.MetricImportRecords, `pool="`+m.pool+`"`) < 1 {
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("no import records on %s before the import ended:\n%s", url, tail(p.Log.String(), 4000))
		}
		time.Sleep(20 * time.Millisecond) // polling the condition
	}
	exposition := synctest.ScrapeMetrics(t, url)
	synctest.CheckMetrics(t, exposition, metricnames.ExporterImport)
	for _, name := range []string{metricnames.MetricImportIdentities, metricnames.MetricImportDatasets, metricnames.MetricImportBytes} {
		if !regexp.MustCompile(`(?m)^` + name + `\{pool="` + regexp.QuoteMeta(m.pool) + `"\} [1-9]`).Match(exposition) {
			t.Errorf("%s is not positive while records are copied:\n%s", name, exposition)
		}
	}
	select {
	case <-p.Done():
	case <-time.After(3 * time.Minute):
		t.Fatalf("import still running:\n%s", tail(p.Log.String(), 4000))
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(p.Log.String(), "copied: 120 identities") {
		t.Fatalf("import exited %d:\n%s", code, tail(p.Log.String(), 4000))
	}
	if v := synctest.Metric(url, metricnames.MetricImportRecords); v != -1 {
		t.Errorf("the metrics listener still answers after the import ended (%v)", v)
	}
}

// deviceSync is aws-sdk-go v1's Cognito Sync client with an identity's own
// credentials, as a device's SDK holds them.
func deviceSync(t testing.TB, endpoint string, c aws.Credentials) *cognitosync.CognitoSync {
	return syncClient(t, endpoint, credv1.NewStaticCredentials(c.AccessKeyID, c.SecretAccessKey, c.SessionToken))
}

// TestImport_DeviceSwitchesEndpoint: a device that synced with the source
// and holds a pending local change is pointed at the target after the move
// (aws-sdk-go v1, as the SDK's sync manager calls it): the target gives it
// guest credentials for the same identity id, its incremental ListRecords
// returns only what another device changed after its last sync, and its
// pending write succeeds without a conflict.
func TestImport_DeviceSwitchesEndpoint(t *testing.T) {
	m := newMove(t)
	m.startWorker(t)
	ctx := context.Background()
	id := synctest.NewIdentityAt(t, m.src.Endpoint, m.pool)
	dev := deviceSync(t, m.src.Endpoint, id.Creds)
	const ds = "settings"

	// The device syncs with the source: two records at SyncCount 1.
	tok := token(t, dev, m.pool, id.ID, ds)
	if _, err := dev.UpdateRecords(updateInput(m.pool, id.ID, ds, tok, replace("theme", "dark", 0), replace("level", "1", 0))); err != nil {
		t.Fatal(err)
	}
	_, lr, err := listAll(dev, m.pool, id.ID, ds)
	if err != nil {
		t.Fatal(err)
	}
	lastSync := *lr.DatasetSyncCount // the device's last sync count

	m.runImport(t, true)

	// Another device of the user changes "level" on the source after the
	// import; the stream brings it to the target.
	other := deviceSync(t, m.src.Endpoint, id.Creds)
	tok = token(t, other, m.pool, id.ID, ds)
	if _, err := other.UpdateRecords(updateInput(m.pool, id.ID, ds, tok, replace("level", "2", 1))); err != nil {
		t.Fatal(err)
	}

	// The first device, with "theme" changed locally (pending, based on
	// the record's SyncCount 1), is now pointed at the target: new guest
	// credentials for the same identity id come from there.
	creds, err := synctest.IdentityClient(m.dst.Endpoint, aws.AnonymousCredentials{}).GetCredentialsForIdentity(ctx,
		&cognitoidentity.GetCredentialsForIdentityInput{IdentityId: aws.String(id.ID)})
	if err != nil || aws.ToString(creds.IdentityId) != id.ID {
		t.Fatalf("GetCredentialsForIdentity on the target = %+v, %v", creds, err)
	}
	c := creds.Credentials
	moved := deviceSync(t, m.dst.Endpoint, aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretKey, SessionToken: *c.SessionToken})

	var inc *cognitosync.ListRecordsOutput
	deadline := time.Now().Add(30 * time.Second)
	for {
		inc, err = moved.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: awsv1.String(m.pool), IdentityId: awsv1.String(id.ID),
			DatasetName: awsv1.String(ds), LastSyncCount: awsv1.Int64(lastSync)})
		if err != nil {
			t.Fatal(err)
		}
		if *inc.DatasetSyncCount > lastSync || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(inc.Records) != 1 || *inc.Records[0].Key != "level" || *inc.Records[0].Value != "2" || *inc.Records[0].SyncCount != 2 ||
		*inc.DatasetSyncCount != 2 || *inc.DatasetDeletedAfterRequestedSyncCount {
		t.Fatalf("incremental ListRecords from %d on the target = %v", lastSync, inc)
	}
	up, err := moved.UpdateRecords(updateInput(m.pool, id.ID, ds, *inc.SyncSessionToken, replace("theme", "light", 1)))
	if err != nil {
		t.Fatalf("the pending change after the switch: %v", err)
	}
	if len(up.Records) != 1 || *up.Records[0].SyncCount != 3 {
		t.Fatalf("UpdateRecords on the target = %v", up)
	}
	recs, _, err := listAll(moved, m.pool, id.ID, ds)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range recs {
		got[*r.Key] = fmt.Sprintf("%s@%d", *r.Value, *r.SyncCount)
	}
	if got["theme"] != "light@3" || got["level"] != "2@2" || len(got) != 2 {
		t.Fatalf("the dataset on the target after the switch: %v", got)
	}
}

// TestImport_FlagsAndHelp: `syncd import --help` explains the subcommand,
// syncd's own help points to it, and bad flags get errors that say what to
// do, all at once, without touching a store.
func TestImport_FlagsAndHelp(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) (string, int) {
		cmd := exec.Command(syncdBin, args...)
		cmd.Env = synctest.ChildEnv([]string{"SYNCD_", "AWS_"}, "AWS_EC2_METADATA_DISABLED=true")
		cmd.Dir = dir
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	if out, code := run("import", "--help"); code != 0 || !strings.Contains(out, "Usage: syncd import --from URL --pool ID") ||
		!strings.Contains(out, "-verify") || !strings.Contains(out, "SYNCD_IMPORT_RATE") {
		t.Fatalf("syncd import --help: exit %d\n%s", code, out)
	}
	if out, code := run("--help"); code != 0 || !strings.Contains(out, "syncd import --from URL --pool ID") {
		t.Fatalf("syncd --help: exit %d\n%s", code, out)
	}
	out, code := run("import", "--rate", "-1", "--store", "mysql://x")
	if code == 0 {
		t.Fatalf("syncd import without --from and --pool succeeded:\n%s", out)
	}
	for _, want := range []string{"--from is required", "--pool is required", "--rate must not be negative", "--store must be a postgres:// URL"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if out, _ := run("import", "--from", "ftp://old", "--pool", "us-east-1:x"); !strings.Contains(out, `--from must be an http:// or https:// URL, got "ftp://old"`) {
		t.Errorf("bad --from:\n%s", out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused import wrote %v (the default --data is ./data)", entries)
	}
}

// TestImport_MoveToPostgres: the same move into a target on PostgreSQL
// (syncd --store, syncd import --store, the sink's --syncd-store
// postgres://…), with changes made before and after the import.
func TestImport_MoveToPostgres(t *testing.T) {
	m := newMoveTo(t, synctest.PostgresURL(t))
	w := &writer{c: devSync(t, m.src.Endpoint), pool: m.pool, rnd: rand.New(rand.NewPCG(7, 8))}
	ids := m.seed(t, w, 8, 5)
	m.startWorker(t)
	m.runImport(t, true)
	for _, id := range ids {
		if err := w.change(id); err != nil {
			t.Fatal(err)
		}
	}
	m.awaitEqual(t, ids, false, 60*time.Second)
	out := m.runImport(t, true, "--verify").Log.String()
	if !strings.Contains(out, "no differences") {
		t.Fatalf("verifying import:\n%s", tail(out, 4000))
	}
	m.awaitEqual(t, ids, true, 5*time.Second)
}
