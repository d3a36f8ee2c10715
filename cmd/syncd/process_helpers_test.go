package main_test

// Helpers for the black-box tests in process_test.go: they build the real
// syncd binary once and run it as separate OS processes, talking to it only
// through its flags, its stderr log and the official AWS SDK clients.

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	awsv1 "github.com/aws/aws-sdk-go/aws"
	credv1 "github.com/aws/aws-sdk-go/aws/credentials"
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

// extraDirs are removed by TestMain after the tests (other binaries built
// on demand).
var extraDirs []string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "syncd-process-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if syncdBin, err = synctest.Build(dir, "github.com/cognitosync/cognitosync/cmd/syncd", raceBuild); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	for _, d := range extraDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// listening matches syncd's start-up line in text or JSON log format.
var listening = regexp.MustCompile(`syncd listening"?.*?"?addr"?[=:]"?([^\s"]+)"?.*"?endpoint"?[=:]"?(http://[^\s"]+)`)

// proc is a running syncd process.
type proc struct {
	*synctest.Proc
	cmd      *exec.Cmd
	log      *synctest.LogBuffer
	Addr     string // host:port of the API listener
	Endpoint string // http://host:port
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
	return launchSyncdEnv(t, nil, args...)
}

// launchSyncdEnv is launchSyncd with env added to the process's
// environment.
func launchSyncdEnv(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	full := []string{"--listen", "127.0.0.1:0", "--developer-key", devKeyID + ":" + devSecret, "--region", synctest.Region}
	if !slices.ContainsFunc(args, func(a string) bool {
		return strings.HasPrefix(a, "--data") || strings.HasPrefix(a, "--store")
	}) {
		full = append(full, "--data", t.TempDir())
	}
	return launch(t, env, append(full, args...)...)
}

// awaitReady waits for the listening line and for /healthz to answer 200.
func (p *proc) awaitReady(t testing.TB) {
	t.Helper()
	m := p.AwaitReady(t, startTimeout)
	p.Addr, p.Endpoint = m[1], m[2]
	p.AwaitHTTP200(t, p.Endpoint+"/healthz", 10*time.Second)
}

// launch starts the binary with args and extra environment, without SYNCD_*
// and AWS_* variables from the test's own environment so that a developer's
// shell cannot change what the flags under test say.
func launch(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	sp := synctest.Launch(t, synctest.ProcConfig{
		Bin: syncdBin, Args: args, Ready: listening,
		Env: synctest.ChildEnv([]string{"SYNCD_", "AWS_"}, env...),
	})
	return &proc{Proc: sp, cmd: sp.Cmd, log: sp.Log}
}

func (p *proc) kill()        { p.Kill() }
func (p *proc) exited() bool { return p.Exited() }

// waitExit waits up to d for the process to exit and returns its exit code.
func (p *proc) waitExit(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-p.Done():
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

func tail(s string, n int) string { return synctest.Tail(s, n) }

// newIdentity gets an identity the way SDK credential providers do.
func newIdentity(t testing.TB, endpoint, pool string) synctest.Identity {
	t.Helper()
	return synctest.NewIdentityAt(t, endpoint, pool)
}

// syncClient is aws-sdk-go v1's Cognito Sync client for endpoint, without
// retries, with its own connection pool.
func syncClient(t testing.TB, endpoint string, creds *credv1.Credentials) *cognitosync.CognitoSync {
	t.Helper()
	return synctest.SyncV1(t, endpoint, creds)
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
