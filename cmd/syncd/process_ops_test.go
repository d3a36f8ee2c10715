package main_test

import (
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awsv1 "github.com/aws/aws-sdk-go/aws"
	credv1 "github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/synctest"
)

// awsCatcher is a loopback HTTP server that counts every request: point
// the AWS endpoints and the instance-metadata address at it to prove that
// nothing calls them.
func awsCatcher(t *testing.T) (url string, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		t.Logf("AWS call: %s %s %s", r.Method, r.URL, r.Header.Get("X-Amz-Target"))
		http.Error(w, "no AWS here", http.StatusForbidden)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), hits
}

// TestBareSyncd_NeverCallsAWS: without --stream kinesis or a Kinesis
// endpoint syncd does not stream, so a change of a streaming pool waits in
// the outbox and neither Kinesis nor the instance-metadata address is ever
// called (every AWS endpoint points at a counter).
func TestBareSyncd_NeverCallsAWS(t *testing.T) {
	catcher, hits := awsCatcher(t)
	p := startSyncdEnv(t, []string{
		"AWS_ENDPOINT_URL=" + catcher, "AWS_EC2_METADATA_SERVICE_ENDPOINT=" + catcher, "AWS_EC2_METADATA_DISABLED=false",
	}, "--pool", streamPool)
	p.waitLog(t, "streaming off", time.Second)
	dev := devSync(t, p.Endpoint)
	enableStream(t, dev, streamPool, "cognito-sync-stream")
	idn := newIdentity(t, p.Endpoint, streamPool)
	c := syncClient(t, p.Endpoint, idn.V1())
	tok := token(t, c, streamPool, idn.ID, "settings")
	if _, err := c.UpdateRecords(updateInput(streamPool, idn.ID, "settings", tok, replace("theme", "dark", 0))); err != nil {
		t.Fatal(err)
	}
	// The change is kept for a syncd that streams; give a wrongly started
	// forwarder time to try (it polls well within this).
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if d := synctest.Metric(p.Endpoint+"/metrics", "cognitosync_outbox_depth"); d > 0 {
			t.Fatalf("outbox depth metric %v: a forwarder runs without a stream", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("a bare syncd made %d calls to AWS endpoints", n)
	}
}

// startSyncdEnv is startSyncd with env added.
func startSyncdEnv(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	p := launchSyncdEnv(t, env, args...)
	p.awaitReady(t)
	return p
}

// TestGeneratedKey_OnStdoutNotInLogs: without --developer-key syncd prints
// the generated secret once on stdout, as guidance, and never logs it.
func TestGeneratedKey_OnStdoutNotInLogs(t *testing.T) {
	var stdout, stderr synctest.LogBuffer // written by exec's goroutines while the test reads
	cmd := exec.Command(syncdBin, "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--log-format", "json", "--log-level", "debug")
	cmd.Env = synctest.ChildEnv([]string{"SYNCD_", "AWS_"})
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(startTimeout)
	for !strings.Contains(stderr.String(), "syncd listening") {
		if time.Now().After(deadline) {
			t.Fatalf("syncd did not start:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	var secret string
	for _, l := range strings.Split(stdout.String(), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "AWS_SECRET_ACCESS_KEY="); ok {
			secret = v
		}
	}
	if len(secret) < 20 {
		t.Fatalf("no generated secret on stdout:\n%s", stdout.String())
	}
	if strings.Contains(stderr.String(), secret) {
		t.Errorf("the generated secret is in the logs:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "printed on stdout") {
		t.Errorf("the log does not say where the key is:\n%s", stderr.String())
	}
}

// TestListFlags_ReplaceTheirVariables: --pool and --developer-key replace
// SYNCD_POOLS and SYNCD_DEVELOPER_KEYS rather than adding to them.
func TestListFlags_ReplaceTheirVariables(t *testing.T) {
	envPool, flagPool := synctest.PoolID(), synctest.PoolID()
	p := startSyncdEnv(t, []string{"SYNCD_POOLS=" + envPool, "SYNCD_DEVELOPER_KEYS=AKIDFROMENV:env-secret"}, "--pool", flagPool)
	p.waitLog(t, "identity pool created", time.Second)
	if out := p.log.String(); strings.Contains(out, envPool) || !strings.Contains(out, flagPool) {
		t.Errorf("--pool %s did not replace SYNCD_POOLS=%s:\n%s", flagPool, envPool, out)
	}
	// The flag's key works, the variable's does not.
	list := func(id, secret string) error {
		c := syncClient(t, p.Endpoint, credv1.NewStaticCredentials(id, secret, ""))
		_, err := c.ListIdentityPoolUsage(&cognitosync.ListIdentityPoolUsageInput{MaxResults: awsv1.Int64(10)})
		return err
	}
	if err := list(devKeyID, devSecret); err != nil {
		t.Errorf("the --developer-key key: %v", err)
	}
	if err := list("AKIDFROMENV", "env-secret"); err == nil {
		t.Error("the SYNCD_DEVELOPER_KEYS key still works next to --developer-key")
	}
}

// TestFlagError_OneUsageLine: a mistyped flag prints the error and a usage
// line, not the whole help.
func TestFlagError_OneUsageLine(t *testing.T) {
	code, out := runToExit(t, nil, "--no-such-flag")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code == 0 || len(lines) > 3 || !strings.Contains(out, "Usage: syncd") || !strings.Contains(out, "--help") {
		t.Errorf("syncd --no-such-flag exited %d with %d lines, want an error and one usage line:\n%s", code, len(lines), out)
	}
}
