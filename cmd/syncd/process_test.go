package main_test

// Black-box tests of the real syncd binary, run as separate OS processes:
// crash safety under SIGKILL, two processes on one PostgreSQL, graceful
// SIGTERM, --help and flag validation, and --pool. Helpers are in
// process_helpers_test.go.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	awsv1 "github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/synctest"
)

// crashWriter is one writer of TestKill9_AcknowledgedWritesSurvive. Its n-th
// UpdateRecords (n = 1, 2, …) on its own dataset sets "counter" to n (the
// record's SyncCount n-1) and creates "k<n>" with val(n) in one call, so
// after n applied writes the dataset's SyncCount is n, "counter" is n, and
// every k1…kn is there with SyncCount equal to its n.
type crashWriter struct {
	w        int
	idn      synctest.Identity
	ds       string
	applied  int64 // writes known to be in the store (verified after a restart)
	acked    int64 // last n that got a 200
	inflight bool  // write acked+1 may have reached the server before it died
}

func (cw *crashWriter) val(n int64) string {
	return fmt.Sprintf("w%02d-n%06d-%s", cw.w, n, strings.Repeat("x", 32))
}

// run writes until the server stops answering. Any answer but 200 is an error.
func (cw *crashWriter) run(c *cognitosync.CognitoSync, tok string) error {
	cw.acked, cw.inflight = cw.applied, false
	for n := cw.applied + 1; ; n++ {
		out, err := c.UpdateRecords(updateInput(cw.idn.PoolID, cw.idn.ID, cw.ds, tok,
			replace("counter", strconv.FormatInt(n, 10), n-1), replace(fmt.Sprintf("k%06d", n), cw.val(n), 0)))
		var rf awserr.RequestFailure
		switch {
		case err == nil:
			if len(out.Records) != 2 || *out.Records[0].SyncCount != n || *out.Records[1].SyncCount != n {
				return fmt.Errorf("writer %d: write %d answered %v", cw.w, n, out.Records)
			}
			cw.acked = n
		case errors.As(err, &rf) && rf.StatusCode() > 0:
			return fmt.Errorf("writer %d: write %d: %w", cw.w, n, err)
		default:
			// The server is gone. A refused connection never reached it;
			// anything else may have been applied.
			cw.inflight = !errors.Is(err, syscall.ECONNREFUSED)
			return nil
		}
	}
}

// verify checks the writer's dataset on a restarted server: every
// acknowledged write is there, the one in flight is there completely or
// not at all, and the dataset's figures match its records.
func (cw *crashWriter) verify(c *cognitosync.CognitoSync) (inflightApplied bool, err error) {
	recs, out, err := listAll(c, cw.idn.PoolID, cw.idn.ID, cw.ds)
	if err != nil {
		return false, err
	}
	count := awsv1.Int64Value(out.DatasetSyncCount)
	if count != cw.acked && !(cw.inflight && count == cw.acked+1) {
		return false, fmt.Errorf("writer %d: dataset SyncCount %d after %d acknowledged writes (in flight: %t)", cw.w, count, cw.acked, cw.inflight)
	}
	want := map[string]struct {
		val   string
		count int64
	}{}
	if count > 0 {
		want["counter"] = struct {
			val   string
			count int64
		}{strconv.FormatInt(count, 10), count}
	}
	var storage int64
	for n := int64(1); n <= count; n++ {
		k, v := fmt.Sprintf("k%06d", n), cw.val(n)
		want[k] = struct {
			val   string
			count int64
		}{v, n}
		storage += int64(len(k) + len(v))
	}
	storage += int64(len("counter") + len(strconv.FormatInt(count, 10)))
	if len(recs) != len(want) {
		return false, fmt.Errorf("writer %d: %d records after %d writes, want %d", cw.w, len(recs), count, len(want))
	}
	for _, r := range recs {
		w, ok := want[*r.Key]
		if !ok || awsv1.StringValue(r.Value) != w.val || *r.SyncCount != w.count {
			return false, fmt.Errorf("writer %d: record %s=%q SyncCount %d, want %q SyncCount %d (dataset at %d)",
				cw.w, *r.Key, awsv1.StringValue(r.Value), *r.SyncCount, w.val, w.count, count)
		}
	}
	if count > 0 {
		dd, err := c.DescribeDataset(&cognitosync.DescribeDatasetInput{
			IdentityPoolId: awsv1.String(cw.idn.PoolID), IdentityId: awsv1.String(cw.idn.ID), DatasetName: awsv1.String(cw.ds),
		})
		if err != nil {
			return false, fmt.Errorf("writer %d: DescribeDataset: %w", cw.w, err)
		}
		if *dd.Dataset.NumRecords != int64(len(want)) || *dd.Dataset.DataStorage != storage {
			return false, fmt.Errorf("writer %d: dataset figures NumRecords %d DataStorage %d, want %d and %d",
				cw.w, *dd.Dataset.NumRecords, *dd.Dataset.DataStorage, len(want), storage)
		}
	}
	inflightApplied = count == cw.acked+1
	cw.applied, cw.acked = count, count
	return inflightApplied, nil
}

// TestKill9_AcknowledgedWritesSurvive SIGKILLs syncd while 16 writers are
// mid-flight, restarts it on the same data, and checks that every write it
// acknowledged survived and the one in flight is all-or-nothing; 3 cycles,
// on SQLite and on PostgreSQL.
func TestKill9_AcknowledgedWritesSurvive(t *testing.T) {
	backends := []struct {
		name  string
		store func(t *testing.T) []string
	}{
		{"sqlite", func(t *testing.T) []string { return []string{"--data", t.TempDir()} }},
		{"postgres", func(t *testing.T) []string { return []string{"--store", synctest.PostgresURL(t)} }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			const writers, cycles = 16, 3
			pool := synctest.PoolID()
			args := append(b.store(t), "--pool", pool, "--max-records", "100000", "--max-dataset-bytes", "100000000")
			p := startSyncd(t, args...)
			ws := make([]*crashWriter, writers)
			for i := range ws {
				ws[i] = &crashWriter{w: i, idn: newIdentity(t, p.Endpoint, pool), ds: fmt.Sprintf("crash-%02d", i)}
			}
			for cycle := 1; cycle <= cycles; cycle++ {
				clients := make([]*cognitosync.CognitoSync, writers)
				tokens := make([]string, writers)
				for i, cw := range ws {
					clients[i] = syncClient(t, p.Endpoint, cw.idn.V1())
					tokens[i] = token(t, clients[i], pool, cw.idn.ID, cw.ds)
				}
				errs := make([]error, writers)
				var wg sync.WaitGroup
				for i, cw := range ws {
					wg.Go(func() { errs[i] = cw.run(clients[i], tokens[i]) })
				}
				time.Sleep(time.Duration(300+rand.IntN(500)) * time.Millisecond)
				p.kill()
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					t.Fatalf("cycle %d: %v", cycle, err)
				}

				p = startSyncd(t, args...)
				var acks, inflight, inflightApplied int64
				for _, cw := range ws {
					acks += cw.acked - cw.applied
					if cw.inflight {
						inflight++
					}
					applied, err := cw.verify(syncClient(t, p.Endpoint, cw.idn.V1()))
					if err != nil {
						t.Fatalf("cycle %d after restart: %v", cycle, err)
					}
					if applied {
						inflightApplied++
					}
				}
				if acks == 0 {
					t.Fatalf("cycle %d: no write was acknowledged before the kill", cycle)
				}
				t.Logf("cycle %d: %d writes acknowledged before SIGKILL, all present after restart; %d in flight, %d of them applied", cycle, acks, inflight, inflightApplied)
			}
		})
	}
}

// TestTwoProcessesOnePostgres runs two syncd processes, started at the same
// time, on one fresh PostgreSQL schema: credentials issued by one work on the other, and 32 writers split
// over both racing on one record with the same SyncCount get exactly one 200
// per round and 409 ResourceConflictException for the rest.
func TestTwoProcessesOnePostgres(t *testing.T) {
	url := synctest.PostgresURL(t)
	pool := synctest.PoolID()
	// Started together: both migrate the empty schema and create the pool.
	p1 := launchSyncd(t, "--store", url, "--pool", pool)
	p2 := launchSyncd(t, "--store", url, "--pool", pool, "--log-format", "json")
	p1.awaitReady(t)
	p2.awaitReady(t)
	idn := newIdentity(t, p1.Endpoint, pool)
	clients := []*cognitosync.CognitoSync{syncClient(t, p1.Endpoint, idn.V1()), syncClient(t, p2.Endpoint, idn.V1())}

	const writers, rounds, ds = 32, 10, "race"
	tok := token(t, clients[1], pool, idn.ID, ds) // issued by p1, used on p2
	var last string
	for round := range int64(rounds) {
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			won  []string
			errs []error
		)
		for w := range writers {
			wg.Go(func() {
				val := fmt.Sprintf("r%d-w%d", round, w)
				out, err := clients[w%2].UpdateRecords(updateInput(pool, idn.ID, ds, tok, replace("k", val, round)))
				mu.Lock()
				defer mu.Unlock()
				var rf awserr.RequestFailure
				switch {
				case err == nil:
					if *out.Records[0].SyncCount != round+1 {
						errs = append(errs, fmt.Errorf("winner %s got SyncCount %d", val, *out.Records[0].SyncCount))
					}
					won = append(won, val)
				case errors.As(err, &rf) && rf.StatusCode() == http.StatusConflict && rf.Code() == "ResourceConflictException":
				default:
					errs = append(errs, fmt.Errorf("writer %d on process %d: %w", w, w%2+1, err))
				}
			})
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("round %d: %v", round, errors.Join(errs...))
		}
		if len(won) != 1 {
			t.Fatalf("round %d: %d winners %v, want exactly 1", round, len(won), won)
		}
		last = won[0]
	}
	for i, c := range clients {
		recs, out, err := listAll(c, pool, idn.ID, ds)
		if err != nil {
			t.Fatal(err)
		}
		if *out.DatasetSyncCount != rounds || len(recs) != 1 || *recs[0].Value != last || *recs[0].SyncCount != rounds {
			t.Errorf("process %d after %d rounds: SyncCount %d, records %v; want the last winner %s at %d", i+1, rounds, *out.DatasetSyncCount, recs, last, rounds)
		}
		dd, err := c.DescribeDataset(&cognitosync.DescribeDatasetInput{IdentityPoolId: awsv1.String(pool), IdentityId: awsv1.String(idn.ID), DatasetName: awsv1.String(ds)})
		if err != nil {
			t.Fatal(err)
		}
		if *dd.Dataset.NumRecords != 1 || *dd.Dataset.DataStorage != int64(len("k")+len(last)) {
			t.Errorf("process %d: dataset figures drifted: %v", i+1, dd.Dataset)
		}
	}
}

// TestSIGTERM_GracefulShutdown holds three signed UpdateRecords requests
// open (headers and most of the body sent), sends SIGTERM, and checks that
// syncd stops accepting connections at once, still completes the three
// requests, exits 0, and that their writes are in the store afterwards.
func TestSIGTERM_GracefulShutdown(t *testing.T) {
	pool := synctest.PoolID()
	data := []string{"--data", t.TempDir(), "--pool", pool}
	p := startSyncd(t, append(data, "--shutdown-timeout", "20s")...)
	idn := newIdentity(t, p.Endpoint, pool)
	c := syncClient(t, p.Endpoint, idn.V1())

	const slow = 3
	conns := make([]net.Conn, slow)
	rests := make([][]byte, slow)
	for i := range slow {
		ds := fmt.Sprintf("slow-%d", i)
		raw := signedRequest(t, c, updateInput(pool, idn.ID, ds, token(t, c, pool, idn.ID, ds), replace("k", "v", 0)))
		conn, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		cut := len(raw) - 8 // headers and all but the end of the body
		if _, err := conn.Write(raw[:cut]); err != nil {
			t.Fatal(err)
		}
		conns[i], rests[i] = conn, raw[cut:]
	}
	time.Sleep(200 * time.Millisecond) // let the server read the headers

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, "shutting down", 5*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", p.Addr, time.Second)
		if err != nil {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("dial after SIGTERM: %v, want connection refused", err)
			}
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("syncd still accepts connections 5s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if p.exited() {
		t.Fatalf("syncd exited with %d requests in flight:\n%s", slow, p.log)
	}

	for i, conn := range conns {
		if _, err := conn.Write(rests[i]); err != nil {
			t.Fatalf("finish request %d: %v", i, err)
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"Records"`)) {
			t.Fatalf("in-flight request %d: %s %s (%v)", i, res.Status, body, err)
		}
	}
	if code := p.waitExit(t, 5*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0:\n%s", code, p.log)
	}
	if out := p.log.String(); !strings.Contains(out, "stopped") {
		t.Errorf("no \"stopped\" log line:\n%s", out)
	}

	p = startSyncd(t, data...)
	c = syncClient(t, p.Endpoint, idn.V1())
	for i := range slow {
		recs, _, err := listAll(c, pool, idn.ID, fmt.Sprintf("slow-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || *recs[0].Value != "v" || *recs[0].SyncCount != 1 {
			t.Errorf("write %d completed during shutdown is not in the store: %v", i, recs)
		}
	}
}

// signedRequest returns the bytes of UpdateRecords as aws-sdk-go v1 would
// send them, signed.
func signedRequest(t *testing.T, c *cognitosync.CognitoSync, in *cognitosync.UpdateRecordsInput) []byte {
	t.Helper()
	req, _ := c.UpdateRecordsRequest(in)
	if err := req.Sign(); err != nil {
		t.Fatal(err)
	}
	if _, err := req.Body.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	hr := req.HTTPRequest
	hr.Body, hr.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	var buf bytes.Buffer
	if err := hr.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// flags is every flag syncd has, with the environment variable --help must
// name for it.
var flags = map[string]string{
	"listen":               "SYNCD_LISTEN",
	"metrics-listen":       "SYNCD_METRICS_LISTEN",
	"data":                 "SYNCD_DATA",
	"store":                "SYNCD_STORE",
	"developer-key":        "SYNCD_DEVELOPER_KEYS",
	"account-id":           "SYNCD_ACCOUNT_ID",
	"region":               "SYNCD_REGION",
	"pool":                 "SYNCD_POOLS",
	"session-ttl":          "SYNCD_SESSION_TTL",
	"credential-ttl":       "SYNCD_CREDENTIAL_TTL",
	"max-datasets":         "SYNCD_MAX_DATASETS",
	"max-records":          "SYNCD_MAX_RECORDS",
	"max-dataset-bytes":    "SYNCD_MAX_DATASET_BYTES",
	"log-level":            "SYNCD_LOG_LEVEL",
	"log-format":           "SYNCD_LOG_FORMAT",
	"shutdown-timeout":     "SYNCD_SHUTDOWN_TIMEOUT",
	"lambda-endpoint":      "SYNCD_LAMBDA_ENDPOINT",
	"lambda-function-name": "SYNCD_LAMBDA_FUNCTION_NAME",
	"stream":               "SYNCD_STREAM",
	"kinesis-endpoint":     "SYNCD_KINESIS_ENDPOINT",
	"s3-bucket":            "SYNCD_S3_BUCKET",
	"s3-endpoint":          "SYNCD_S3_ENDPOINT",
	"pool-stream":          "SYNCD_POOL_STREAM",

	"max-connections":                  "SYNCD_MAX_CONNECTIONS",
	"read-header-timeout":              "SYNCD_READ_HEADER_TIMEOUT",
	"read-timeout":                     "SYNCD_READ_TIMEOUT",
	"write-timeout":                    "SYNCD_WRITE_TIMEOUT",
	"idle-timeout":                     "SYNCD_IDLE_TIMEOUT",
	"max-header-bytes":                 "SYNCD_MAX_HEADER_BYTES",
	"max-body-bytes":                   "SYNCD_MAX_BODY_BYTES",
	"max-unsigned-body-bytes":          "SYNCD_MAX_UNSIGNED_BODY_BYTES",
	"max-inflight-body-bytes":          "SYNCD_MAX_INFLIGHT_BODY_BYTES",
	"get-id-rate":                      "SYNCD_GET_ID_RATE",
	"get-id-rate-per-address":          "SYNCD_GET_ID_RATE_PER_ADDRESS",
	"get-credentials-rate":             "SYNCD_GET_CREDENTIALS_RATE",
	"get-credentials-rate-per-address": "SYNCD_GET_CREDENTIALS_RATE_PER_ADDRESS",
	"client-address-header":            "SYNCD_CLIENT_ADDRESS_HEADER",

	"gc-interval":           "SYNCD_GC_INTERVAL",
	"guest-identity-ttl":    "SYNCD_GUEST_IDENTITY_TTL",
	"credential-cache-size": "SYNCD_CREDENTIAL_CACHE_SIZE",
	"sqlite-max-bytes":      "SYNCD_SQLITE_MAX_BYTES",
}

// TestHelp checks that --help documents every flag with its environment
// variable and exits 0, and that bad values, from flags or the environment,
// exit non-zero with a message saying what to do.
func TestHelp(t *testing.T) {
	code, out := runToExit(t, nil, "--help")
	if code != 0 {
		t.Errorf("syncd --help exited %d, want 0:\n%s", code, out)
	}
	if code, short := runToExit(t, nil, "-h"); code != 0 || short != out {
		t.Errorf("syncd -h exited %d, want 0 and the --help text:\n%s", code, short)
	}
	for name, env := range flags {
		i := strings.Index(out, "  -"+name+" ")
		if i < 0 {
			i = strings.Index(out, "  -"+name+"\n")
		}
		if i < 0 {
			t.Errorf("syncd --help does not document -%s:\n%s", name, out)
			continue
		}
		doc := out[i+3:]
		if j := strings.Index(doc, "\n  -"); j >= 0 {
			doc = doc[:j]
		}
		if !strings.Contains(doc, "["+env) {
			t.Errorf("syncd --help: -%s does not name %s:\n%s", name, env, doc)
		}
	}

	bad := []struct {
		name string
		env  []string
		args []string
		want []string // all in the output
	}{
		{name: "mysql store", args: []string{"--store", "mysql://x"}, want: []string{"--store must be a postgres:// URL", "--data"}},
		{name: "xml log format", args: []string{"--log-format", "xml"}, want: []string{"--log-format must be text or json"}},
		{name: "xml log format from env", env: []string{"SYNCD_LOG_FORMAT=xml"}, want: []string{"--log-format must be text or json"}},
		{name: "mysql store from env", env: []string{"SYNCD_STORE=mysql://x"}, want: []string{"--store must be a postgres:// URL"}},
		{name: "bad duration", args: []string{"--shutdown-timeout", "soon"}, want: []string{"invalid value", "-shutdown-timeout", "Usage"}},
		{name: "zero records", args: []string{"--max-records", "0"}, want: []string{"must be positive"}},
		{name: "developer key without secret", args: []string{"--developer-key", "AKID"}, want: []string{"ACCESS_KEY_ID:SECRET"}},
		{name: "unknown flag", args: []string{"--no-such-flag"}, want: []string{"not defined", "Usage"}},
		{name: "positional argument", args: []string{"serve"}, want: []string{"unexpected arguments", "--help"}},
		{name: "empty region", args: []string{"--region", ""}, want: []string{"--region is required"}},
		{name: "unknown log level", args: []string{"--log-level", "loud"}, want: []string{"--log-level"}},
		{name: "bad duration from env", env: []string{"SYNCD_SESSION_TTL=forever"}, want: []string{"SYNCD_SESSION_TTL"}},
		{name: "no connections", args: []string{"--max-connections", "0"}, want: []string{"--max-connections must be positive"}},
		{name: "header timeout past read timeout", args: []string{"--read-header-timeout", "1m", "--read-timeout", "30s"},
			want: []string{"--read-header-timeout 1m0s is longer than --read-timeout 30s"}},
		{name: "in-flight budget below one body", args: []string{"--max-inflight-body-bytes", "1000"}, want: []string{"--max-inflight-body-bytes 1000 is below --max-body-bytes"}},
		{name: "negative rate", args: []string{"--get-id-rate", "-1"}, want: []string{"--get-id-rate must be a rate per second"}},
		{name: "bad rate from env", env: []string{"SYNCD_GET_CREDENTIALS_RATE=fast"}, want: []string{"SYNCD_GET_CREDENTIALS_RATE", "a number"}},
		{name: "zero gc interval", args: []string{"--gc-interval", "0"}, want: []string{"--gc-interval must be positive"}},
		{name: "negative guest identity ttl", env: []string{"SYNCD_GUEST_IDENTITY_TTL=-1h"}, want: []string{"--guest-identity-ttl must not be negative"}},
		{name: "zero credential cache", args: []string{"--credential-cache-size", "0"}, want: []string{"--credential-cache-size must be positive"}},
		{name: "tiny sqlite cap", args: []string{"--sqlite-max-bytes", "1000"}, want: []string{"--sqlite-max-bytes must be 0", "1048576"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			// --listen and --data keep a wrongly accepted configuration harmless.
			args := append([]string{"--listen", "127.0.0.1:0", "--data", t.TempDir()}, tc.args...)
			code, out := runToExit(t, tc.env, args...)
			if code == 0 {
				t.Fatalf("syncd %v (env %v) was accepted, want a non-zero exit:\n%s", tc.args, tc.env, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("syncd %v (env %v) exited %d without saying %q:\n%s", tc.args, tc.env, code, w, out)
				}
			}
		})
	}
}

// runToExit runs syncd and returns its exit code and output. A syncd that
// starts serving instead of exiting is stopped and reported as exit code 0.
func runToExit(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	p := launch(t, env, args...)
	select {
	case <-p.Done():
		return p.cmd.ProcessState.ExitCode(), p.log.String()
	case <-p.log.Ready():
		p.kill()
		return 0, p.log.String()
	case <-time.After(startTimeout):
		t.Fatalf("syncd %v neither exited nor listened:\n%s", args, p.log)
		return -1, ""
	}
}

// TestPoolFlagIdempotent starts syncd twice on the same data with the same
// --pool: the first start creates the pool, the second finds it and serves it.
func TestPoolFlagIdempotent(t *testing.T) {
	pool, other := synctest.PoolID(), synctest.PoolID()
	data := t.TempDir()
	p := startSyncd(t, "--data", data, "--pool", pool)
	p.waitLog(t, "identity pool created", time.Second)
	idn := newIdentity(t, p.Endpoint, pool)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.waitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("first syncd exited %d:\n%s", code, p.log)
	}

	p = startSyncd(t, "--data", data, "--pool", pool+","+other)
	out := p.log.String()
	if !strings.Contains(out, "identity pool exists") || !strings.Contains(out, pool) {
		t.Errorf("second start did not log that %s exists:\n%s", pool, out)
	}
	if strings.Count(out, "identity pool created") != 1 || !strings.Contains(out, other) {
		t.Errorf("second start should create only %s:\n%s", other, out)
	}
	// The pool and the identity issued before the restart still work.
	if got := newIdentity(t, p.Endpoint, pool); got.ID == idn.ID {
		t.Errorf("GetId returned the same identity %s twice", got.ID)
	}
	c := syncClient(t, p.Endpoint, idn.V1())
	if _, _, err := listAll(c, pool, idn.ID, "d"); err != nil {
		t.Errorf("identity from the first run: %v", err)
	}
}
