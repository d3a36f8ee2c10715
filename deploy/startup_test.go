package deploy_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	awsv1 "github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/cognitosync"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/sinks/jsonl"
)

// nonroot is the image's user (distroless "nonroot").
const nonroot = 65532

// asNonroot returns how to run a process as an unprivileged user, and a
// working directory that user cannot write to, as in the image with a
// read-only root file system. As root (here and in CI) that is uid 65532
// in a root-owned directory; as an unprivileged user it is that user in a
// directory without write permission.
func asNonroot(t *testing.T) (attr *syscall.SysProcAttr, readOnlyDir string, writable func() string) {
	t.Helper()
	base, err := os.MkdirTemp("", "cognitosync-startup-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	ro := filepath.Join(base, "workdir")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	n := 0
	writable = func() string {
		n++
		d := filepath.Join(base, fmt.Sprintf("data%d", n))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if attr != nil {
			if err := os.Chown(d, nonroot, nonroot); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	if os.Geteuid() == 0 {
		attr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nonroot, Gid: nonroot}}
	} else if err := os.Chmod(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(ro, 0o755) })
	return attr, ro, writable
}

// childEnv is the environment of a binary under test: none of the test's
// own SYNCD_, COGNITOSYNC_ or AWS_ variables, HOME in the read-only
// directory (the AWS SDK reads ~/.aws there), and then vars in order.
func childEnv(home string, vars ...map[string]string) []string {
	env := synctest.ChildEnv([]string{"SYNCD_", "COGNITOSYNC_", "AWS_", "HOME="}, "HOME="+home, "AWS_EC2_METADATA_DISABLED=true")
	for _, m := range vars {
		for k, v := range m {
			env = append(env, k+"="+v)
		}
	}
	return env
}

var syncdListening = regexp.MustCompile(`syncd listening.*"endpoint":"(http://[^"]+)"`)

// TestStartup_UnprivilegedReadOnlyWorkdir runs the built binaries as the
// image does, without a container runtime: as uid 65532 (the distroless
// nonroot user) in a working directory it cannot write, with the
// Dockerfile's ENV. Remote mode, configured as deploy/compose.yaml
// configures it (addresses replaced by this machine's PostgreSQL,
// kinesalite and free ports), writes no file at all and streams a change
// into the postgres sink; the embedded mode serves with --data on a
// writable directory. It also measures the idle CPU of syncd (streaming)
// and of the embedded worker.
func TestStartup_UnprivilegedReadOnlyWorkdir(t *testing.T) {
	b := binaries(t)
	kinesisURL := synctest.ServiceURL(t, "SYNC_TEST_KINESIS_ENDPOINT")
	storeURL, sinkURL := synctest.PostgresURL(t), synctest.PostgresURL(t)
	attr, ro, writable := asNonroot(t)
	image := dockerfileEnv(t)
	compose := readCompose(t)
	stream := synctest.NewStream(t, synctest.KinesisClient(kinesisURL), 1)
	pool := synctest.PoolID()
	launch := func(bin string, env []string, args ...string) *synctest.Proc {
		return synctest.Launch(t, synctest.ProcConfig{Bin: bin, Args: args, Env: env, Dir: ro, Attr: attr})
	}

	// syncd as compose.yaml runs it.
	se := compose.Services["syncd"].Environment
	syncd := launch(b.syncd, childEnv(ro, image, se, map[string]string{
		"SYNCD_STORE": storeURL, "SYNCD_KINESIS_ENDPOINT": kinesisURL, "SYNCD_POOLS": pool, "SYNCD_POOL_STREAM": stream,
		"SYNCD_LISTEN": "127.0.0.1:0", "SYNCD_METRICS_LISTEN": synctest.FreeAddr(t),
	}))
	endpoint := awaitLine(t, syncd, syncdListening, 30*time.Second)[1]
	syncd.AwaitHTTP200(t, endpoint+"/healthz", 10*time.Second)

	// The worker as compose.yaml runs it: remote mode, postgres sink.
	we := compose.Services["worker"].Environment
	workerMetrics := synctest.FreeAddr(t)
	remote := launch(b.worker, childEnv(ro, image, we, map[string]string{
		"COGNITOSYNC_SYNC_ENDPOINT": endpoint, "COGNITOSYNC_KINESIS_ENDPOINT": kinesisURL, "COGNITOSYNC_STREAM_NAME": stream,
		"COGNITOSYNC_IDENTITY_POOLS": pool, "COGNITOSYNC_DATABASE_URL": sinkURL, "COGNITOSYNC_METRICS_LISTEN": workerMetrics,
		"AWS_ACCESS_KEY_ID": we["AWS_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY": we["AWS_SECRET_ACCESS_KEY"],
	}))
	remote.AwaitHTTP200(t, "http://"+workerMetrics+"/readyz", 30*time.Second)

	// A change made through syncd reaches the postgres sink.
	idn := synctest.NewIdentityAt(t, endpoint, pool)
	user := synctest.SyncV1(t, endpoint, idn.V1())
	putV1(t, user, pool, idn.ID, "settings", "theme", "dark")
	waitFor(t, 30*time.Second, "the change in the postgres sink", func() bool {
		return sinkValue(t, sinkURL, pool, idn.ID, "settings", "theme") == "dark"
	}, syncd, remote)

	// Embedded mode: the worker with --data on a writable directory, and
	// syncd on SQLite there.
	data := writable()
	api, metrics := synctest.FreeAddr(t), synctest.FreeAddr(t)
	embedded := launch(b.worker, childEnv(ro, image, map[string]string{
		"COGNITOSYNC_DATA": data, "COGNITOSYNC_LISTEN": api, "COGNITOSYNC_METRICS_LISTEN": metrics,
	}))
	embedded.AwaitHTTP200(t, "http://"+metrics+"/readyz", 30*time.Second)
	embedded.AwaitHTTP200(t, "http://"+api+"/healthz", 10*time.Second)
	put := exec.Command(b.worker, "put", "--data", data, "settings", "theme", "blue")
	put.Env, put.Dir, put.SysProcAttr = childEnv(ro, image), ro, attr
	if out, err := put.CombinedOutput(); err != nil {
		t.Fatalf("worker put: %v\n%s", err, out)
	}
	waitFor(t, 20*time.Second, "the change in the embedded worker's JSONL output", func() bool {
		cs, _ := jsonl.ReadAll(filepath.Join(data, "out"))
		return len(cs) > 0 && cs[len(cs)-1].Value != nil && *cs[len(cs)-1].Value == "blue"
	}, embedded)
	sqlite := launch(b.syncd, childEnv(ro, image, map[string]string{"SYNCD_DATA": writable(), "SYNCD_LISTEN": "127.0.0.1:0"}))
	sqliteEndpoint := awaitLine(t, sqlite, regexp.MustCompile(`syncd listening.*endpoint=(http://\S+)`), 30*time.Second)[1]
	sqlite.AwaitHTTP200(t, sqliteEndpoint+"/healthz", 10*time.Second)

	// Idle CPU: the streaming syncd and the embedded worker, over 10 s.
	time.Sleep(2 * time.Second) // let start-up work (migrations, first rounds) settle
	idle := measureCPU(t, 10*time.Second, map[string]*synctest.Proc{
		"syncd (PostgreSQL, streaming to Kinesis)": syncd, "worker (embedded)": embedded,
		"worker (remote, reading Kinesis)": remote, "syncd (SQLite, no stream)": sqlite,
	})
	for name, pct := range idle {
		t.Logf("idle CPU of %s: %.2f%%", name, pct)
	}
	// Before the forwarder was woken by writes it polled every 100 ms: about
	// 1.2% of a core. Generous bounds, well below that.
	for _, name := range []string{"syncd (PostgreSQL, streaming to Kinesis)", "worker (embedded)", "syncd (SQLite, no stream)"} {
		if idle[name] > 0.5 {
			t.Errorf("idle CPU of %s is %.2f%% of a core, want at most 0.5%%", name, idle[name])
		}
	}

	// Nothing was written to the working directory or to the image's /data
	// default, and the remote worker made no data directory anywhere.
	if entries, _ := os.ReadDir(ro); len(entries) != 0 {
		t.Errorf("the read-only working directory got %v", entries)
	}
	for _, p := range []*synctest.Proc{syncd, remote, embedded, sqlite} {
		if p.Exited() {
			t.Errorf("%v exited:\n%s", p.Cmd.Args, synctest.Tail(p.Log.String(), 3000))
		}
		if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*synctest.Proc{syncd, remote, embedded, sqlite} {
		select {
		case <-p.Done():
			if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("%v exited %d on SIGTERM:\n%s", p.Cmd.Args, code, synctest.Tail(p.Log.String(), 3000))
			}
		case <-time.After(45 * time.Second):
			t.Errorf("%v did not stop on SIGTERM", p.Cmd.Args)
		}
	}
	if !strings.Contains(remote.Log.String(), `"sinks":"postgres"`) {
		t.Errorf("the remote worker does not run the postgres sink alone (COGNITOSYNC_SINKS=postgres):\n%s", synctest.Tail(remote.Log.String(), 3000))
	}
}

// awaitLine waits for a line matching re in the process's output.
func awaitLine(t *testing.T, p *synctest.Proc, re *regexp.Regexp, d time.Duration) []string {
	t.Helper()
	var m []string
	waitFor(t, d, "a line matching "+re.String(), func() bool {
		m = re.FindStringSubmatch(p.Log.String())
		return m != nil
	}, p)
	return m
}

// waitFor polls cond until d passes; on time-out it fails with the
// processes' output.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool, procs ...*synctest.Proc) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		for _, p := range procs {
			if p.Exited() {
				t.Fatalf("waiting for %s: %v exited:\n%s", what, p.Cmd.Args, synctest.Tail(p.Log.String(), 4000))
			}
		}
		if time.Now().After(deadline) {
			var out strings.Builder
			for _, p := range procs {
				fmt.Fprintf(&out, "%v:\n%s\n", p.Cmd.Args, synctest.Tail(p.Log.String(), 3000))
			}
			t.Fatalf("timed out after %v waiting for %s\n%s", d, what, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// measureCPU returns each process's CPU time (user and system, from
// /proc/PID/stat) over d, as a percentage of one core.
func measureCPU(t *testing.T, d time.Duration, procs map[string]*synctest.Proc) map[string]float64 {
	t.Helper()
	ticks := func(p *synctest.Proc) float64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Cmd.Process.Pid))
		if err != nil {
			t.Fatalf("read CPU time: %v", err)
		}
		// Fields after the command name in parentheses: utime is the 14th
		// field of the line, stime the 15th.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		u, _ := strconv.ParseFloat(f[11], 64)
		s, _ := strconv.ParseFloat(f[12], 64)
		return u + s
	}
	const clockTicks = 100 // USER_HZ on Linux
	start := map[string]float64{}
	for name, p := range procs {
		start[name] = ticks(p)
	}
	t0 := time.Now()
	time.Sleep(d)
	elapsed := time.Since(t0).Seconds()
	out := map[string]float64{}
	for name, p := range procs {
		out[name] = (ticks(p) - start[name]) / clockTicks / elapsed * 100
	}
	return out
}

func sinkValue(t *testing.T, url, pool, identity, dataset, key string) string {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v sql.NullString
	err = db.QueryRowContext(context.Background(), `SELECT value FROM cognitosync_records
WHERE identity_pool_id = $1 AND identity_id = $2 AND dataset_name = $3 AND key = $4`, pool, identity, dataset, key).Scan(&v)
	if err != nil {
		return "" // not there yet (or the table not created yet)
	}
	return v.String
}

// putV1 sets key to value in an identity's dataset with aws-sdk-go v1's
// Cognito Sync client.
func putV1(t *testing.T, c *cognitosync.CognitoSync, pool, identity, dataset, key, value string) {
	t.Helper()
	ls, err := c.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: awsv1.String(pool),
		IdentityId: awsv1.String(identity), DatasetName: awsv1.String(dataset)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateRecords(&cognitosync.UpdateRecordsInput{IdentityPoolId: awsv1.String(pool),
		IdentityId: awsv1.String(identity), DatasetName: awsv1.String(dataset), SyncSessionToken: ls.SyncSessionToken,
		RecordPatches: []*cognitosync.RecordPatch{{Op: awsv1.String("replace"), Key: awsv1.String(key),
			Value: awsv1.String(value), SyncCount: awsv1.Int64(0)}}}); err != nil {
		t.Fatal(err)
	}
}
