package main_test

// Helpers for the black-box tests in process_test.go: they build the real
// syncd binary once and run it as separate OS processes, talking to it only
// through its flags, its stderr log and the official AWS SDK clients.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	awsv1 "github.com/aws/aws-sdk-go/aws"
	credv1 "github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/synctest"
)

const (
	devKeyID  = "AKIDPROCESSTEST"
	devSecret = "process-test-developer-secret"
	// startTimeout bounds start-up (migrations included) of one syncd.
	startTimeout = 30 * time.Second
)

// syncdBin is the syncd binary built by TestMain.
var syncdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "syncd-process-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	syncdBin = filepath.Join(dir, "syncd")
	args := []string{"build", "-o", syncdBin}
	if raceBuild {
		args = append(args, "-race")
	}
	// go test puts $GOROOT/bin first on PATH, so this is the go tool that
	// built the test binary.
	build := exec.Command("go", append(args, "github.com/cognitosync/cognitosync/cmd/syncd")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build syncd: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// childEnv is the test's environment without SYNCD_* and AWS_* variables, so
// that a developer's shell cannot change what the flags under test say.
func childEnv(extra ...string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "SYNCD_") || strings.HasPrefix(kv, "AWS_")
	})
	return append(env, extra...)
}

// listening matches syncd's start-up line in text or JSON log format.
var listening = regexp.MustCompile(`syncd listening"?.*?"?addr"?[=:]"?([^\s"]+)"?.*"?endpoint"?[=:]"?(http://[^\s"]+)`)

// logBuffer collects a process's output and reports its listening line.
type logBuffer struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	scanned  int
	addr     string
	endpoint string
	ready    chan struct{} // closed when the listening line is seen
}

func newLogBuffer() *logBuffer { return &logBuffer{ready: make(chan struct{})} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for l.addr == "" {
		rest := l.buf.Bytes()[l.scanned:]
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		if m := listening.FindSubmatch(rest[:i]); m != nil {
			l.addr, l.endpoint = string(m[1]), string(m[2])
			close(l.ready)
		}
		l.scanned += i + 1
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// proc is a running syncd process.
type proc struct {
	t        testing.TB
	cmd      *exec.Cmd
	log      *logBuffer
	Addr     string // host:port of the API listener
	Endpoint string // http://host:port
	done     chan struct{}
	err      error // from Wait, valid after done is closed
}

// startSyncd starts the syncd binary on a free loopback port with the
// developer key devKeyID:devSecret and args (--data t.TempDir() unless args
// name --data or --store), waits for its listening line and for /healthz to
// answer 200, and kills it when the test ends.
func startSyncd(t testing.TB, args ...string) *proc {
	t.Helper()
	p := launchSyncd(t, args...)
	p.awaitReady(t)
	return p
}

// launchSyncd is startSyncd without waiting: call awaitReady before using
// the process.
func launchSyncd(t testing.TB, args ...string) *proc {
	t.Helper()
	full := []string{"--listen", "127.0.0.1:0", "--developer-key", devKeyID + ":" + devSecret, "--region", synctest.Region}
	if !slices.ContainsFunc(args, func(a string) bool {
		return strings.HasPrefix(a, "--data") || strings.HasPrefix(a, "--store")
	}) {
		full = append(full, "--data", t.TempDir())
	}
	return launch(t, nil, append(full, args...)...)
}

// awaitReady waits for the listening line and for /healthz to answer 200.
func (p *proc) awaitReady(t testing.TB) {
	t.Helper()
	args := p.cmd.Args[1:]
	select {
	case <-p.log.ready:
	case <-p.done:
		t.Fatalf("syncd %v exited before listening: %v\n%s", args, p.err, p.log)
	case <-time.After(startTimeout):
		t.Fatalf("syncd %v did not log its listening line within %v:\n%s", args, startTimeout, p.log)
	}
	p.Addr, p.Endpoint = p.log.addr, p.log.endpoint
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(p.Endpoint + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("syncd /healthz never answered 200 (last: %v %v):\n%s", res, err, p.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// launch starts the binary with args and extra environment; the process is
// killed when the test ends, and a data race or panic it reported fails the
// test.
func launch(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, log: newLogBuffer(), done: make(chan struct{})}
	p.cmd = exec.Command(syncdBin, args...)
	p.cmd.Env = childEnv(env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		out := p.log.String()
		if strings.Contains(out, "DATA RACE") || strings.Contains(out, "panic:") {
			t.Errorf("syncd %v reported a data race or panic:\n%s", args, out)
		} else if t.Failed() {
			t.Logf("syncd %v output:\n%s", args, tail(out, 4000))
		}
	})
	return p
}

// kill sends SIGKILL (if the process still runs) and waits for it to exit.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Errorf("kill syncd: %v", err)
	}
	<-p.done
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitExit waits up to d for the process to exit and returns its exit code.
func (p *proc) waitExit(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("syncd still running %v later:\n%s", d, tail(p.log.String(), 4000))
		return -1
	}
}

// waitLog waits up to d for the process to log a line containing s.
func (p *proc) waitLog(t testing.TB, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.log.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("syncd did not log %q within %v:\n%s", s, d, tail(p.log.String(), 4000))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// newIdentity gets an identity in pool and its credentials from the syncd at
// endpoint the way SDK credential providers do: anonymous GetId, then
// GetCredentialsForIdentity, with aws-sdk-go-v2.
func newIdentity(t testing.TB, endpoint, pool string) synctest.Identity {
	t.Helper()
	ctx := context.Background()
	ci := synctest.IdentityClient(endpoint, aws.AnonymousCredentials{})
	id, err := ci.GetId(ctx, &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(pool)})
	if err != nil {
		t.Fatalf("GetId: %v", err)
	}
	out, err := ci.GetCredentialsForIdentity(ctx, &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId})
	if err != nil {
		t.Fatalf("GetCredentialsForIdentity: %v", err)
	}
	c := out.Credentials
	return synctest.Identity{PoolID: pool, ID: *out.IdentityId, Creds: aws.Credentials{
		AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretKey, SessionToken: *c.SessionToken,
		CanExpire: true, Expires: *c.Expiration,
	}}
}

// syncClient is aws-sdk-go v1's Cognito Sync client for endpoint, without
// retries, with its own connection pool sized for many concurrent writers.
func syncClient(t testing.TB, endpoint string, creds *credv1.Credentials) *cognitosync.CognitoSync {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	sess, err := session.NewSession(&awsv1.Config{
		Endpoint: awsv1.String(endpoint), Region: awsv1.String(synctest.Region), Credentials: creds,
		DisableSSL: awsv1.Bool(true), MaxRetries: awsv1.Int(0),
		HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cognitosync.New(sess)
}

// listAll pages through ListRecords from sync count 0.
func listAll(c *cognitosync.CognitoSync, pool, id, ds string) (recs []*cognitosync.Record, out *cognitosync.ListRecordsOutput, err error) {
	in := &cognitosync.ListRecordsInput{
		IdentityPoolId: awsv1.String(pool), IdentityId: awsv1.String(id), DatasetName: awsv1.String(ds),
		LastSyncCount: awsv1.Int64(0), MaxResults: awsv1.Int64(1024),
	}
	for {
		out, err = c.ListRecords(in)
		if err != nil {
			return nil, nil, fmt.Errorf("ListRecords %s: %w", ds, err)
		}
		recs = append(recs, out.Records...)
		if awsv1.StringValue(out.NextToken) == "" {
			return recs, out, nil
		}
		in.NextToken = out.NextToken
	}
}

// token returns a SyncSessionToken for ds.
func token(t testing.TB, c *cognitosync.CognitoSync, pool, id, ds string) string {
	t.Helper()
	out, err := c.ListRecords(&cognitosync.ListRecordsInput{
		IdentityPoolId: awsv1.String(pool), IdentityId: awsv1.String(id), DatasetName: awsv1.String(ds),
		LastSyncCount: awsv1.Int64(0), MaxResults: awsv1.Int64(1),
	})
	if err != nil {
		t.Fatalf("ListRecords %s: %v", ds, err)
	}
	return *out.SyncSessionToken
}

func replace(key, value string, count int64) *cognitosync.RecordPatch {
	return &cognitosync.RecordPatch{Op: awsv1.String("replace"), Key: awsv1.String(key), Value: awsv1.String(value), SyncCount: awsv1.Int64(count)}
}

func updateInput(pool, id, ds, token string, patches ...*cognitosync.RecordPatch) *cognitosync.UpdateRecordsInput {
	return &cognitosync.UpdateRecordsInput{
		IdentityPoolId: awsv1.String(pool), IdentityId: awsv1.String(id), DatasetName: awsv1.String(ds),
		SyncSessionToken: awsv1.String(token), RecordPatches: patches,
	}
}
