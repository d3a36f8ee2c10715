package main

// The embedded mode runs syncd as internal/server assembles it, so it has
// every syncd flag that makes sense there: limits, TTLs, the SyncTrigger,
// and syncd's metrics in the worker's one registry. These tests run the
// worker in-process with those flags and check the effect through the
// official SDKs, as an app would see it.

import (
	"context"
	"errors"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	awsv1 "github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	credv1 "github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/service/cognitosync"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/sinks/jsonl"
)

const (
	embeddedKeyID  = "AKIDEMBEDDEDTEST"
	embeddedSecret = "embedded-test-secret"
)

// embeddedWorker is a worker running in-process in the embedded mode.
type embeddedWorker struct {
	dir      string // --data
	endpoint string // the sync API, http://--listen
	metrics  string // http://--metrics-listen
	stdout   *syncBuf
	stderr   *syncBuf
}

// startEmbeddedWorker runs the worker with args after the embedded-mode
// basics (--data, free --listen and --metrics-listen, a developer key)
// until the test ends, and waits until every route consumes (/readyz). The
// AWS chain gets static credentials, so a Lambda client never looks for
// more outside loopback.
func startEmbeddedWorker(t *testing.T, args ...string) *embeddedWorker {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", "embedded-test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "embedded-test")
	w := &embeddedWorker{dir: t.TempDir(), stdout: &syncBuf{}, stderr: &syncBuf{}}
	listen, metrics := synctest.FreeAddr(t), synctest.FreeAddr(t)
	w.endpoint, w.metrics = "http://"+listen, "http://"+metrics
	full := append([]string{"--mode", "embedded", "--data", w.dir, "--listen", listen, "--metrics-listen", metrics,
		"--developer-key", embeddedKeyID + ":" + embeddedSecret, "--shutdown-timeout", "5s"}, args...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = run(ctx, full, noenv, w.stdout, w.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
			if runErr != nil {
				t.Errorf("worker %v: %v\n%s", args, runErr, w.stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("worker %v did not stop within 30 s", args)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("worker %v exited at start-up: %v\n%s", args, runErr, w.stderr.String())
		default:
		}
		if res, err := http.Get(w.metrics + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return w
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %v not ready within 30 s\n%s", args, w.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *embeddedWorker) dev(t *testing.T) *cognitosync.CognitoSync {
	return synctest.SyncV1(t, w.endpoint, credv1.NewStaticCredentials(embeddedKeyID, embeddedSecret, ""))
}

// user returns an identity of pool and its aws-sdk-go v1 client.
func (w *embeddedWorker) user(t *testing.T, pool string) (synctest.Identity, *cognitosync.CognitoSync) {
	idn := synctest.NewIdentityAt(t, w.endpoint, pool)
	return idn, synctest.SyncV1(t, w.endpoint, idn.V1())
}

// putRecords sets each key to its value in the identity's dataset (the key's SyncCount 0:
// a new key) and returns the stored records.
func putRecords(c *cognitosync.CognitoSync, idn synctest.Identity, dataset string, kv ...string) ([]*cognitosync.Record, error) {
	ls, err := c.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: awsv1.String(idn.PoolID),
		IdentityId: awsv1.String(idn.ID), DatasetName: awsv1.String(dataset)})
	if err != nil {
		return nil, err
	}
	var patches []*cognitosync.RecordPatch
	for i := 0; i+1 < len(kv); i += 2 {
		patches = append(patches, &cognitosync.RecordPatch{Op: awsv1.String("replace"), Key: awsv1.String(kv[i]),
			Value: awsv1.String(kv[i+1]), SyncCount: awsv1.Int64(0)})
	}
	out, err := c.UpdateRecords(&cognitosync.UpdateRecordsInput{IdentityPoolId: awsv1.String(idn.PoolID),
		IdentityId: awsv1.String(idn.ID), DatasetName: awsv1.String(dataset), SyncSessionToken: ls.SyncSessionToken,
		RecordPatches: patches})
	if err != nil {
		return nil, err
	}
	return out.Records, nil
}

func wantLimitExceeded(t *testing.T, what string, err error) {
	t.Helper()
	var rf awserr.RequestFailure
	if !errors.As(err, &rf) || rf.Code() != "LimitExceededException" || rf.StatusCode() != 400 {
		t.Errorf("%s: want LimitExceededException (400), got %v", what, err)
	}
}

// TestEmbedded_LimitFlags: --max-datasets, --max-records and
// --max-dataset-bytes bound identity writes to the embedded service as
// they bound syncd's (each write below is within AWS's default limits).
func TestEmbedded_LimitFlags(t *testing.T) {
	pool := synctest.PoolID()
	w := startEmbeddedWorker(t, "--pool", pool, "--max-datasets", "1", "--max-records", "3", "--max-dataset-bytes", "40")
	idn, c := w.user(t, pool)
	if _, err := putRecords(c, idn, "a", "k1", "x", "k2", "y"); err != nil { // 2 records, 6 bytes
		t.Fatal(err)
	}
	_, err := putRecords(c, idn, "a", "k3", strings.Repeat("z", 40)) // 3 records, 48 bytes
	wantLimitExceeded(t, "--max-dataset-bytes 40", err)
	_, err = putRecords(c, idn, "a", "k3", "z", "k4", "w") // 4 records, 12 bytes
	wantLimitExceeded(t, "--max-records 3", err)
	_, err = putRecords(c, idn, "b", "k", "v") // a second dataset
	wantLimitExceeded(t, "--max-datasets 1", err)
	if _, err := putRecords(c, idn, "a", "k3", "z"); err != nil { // 3 records, 9 bytes
		t.Errorf("a write within the limits: %v", err)
	}
}

// TestEmbedded_TTLFlags: --credential-ttl sets the expiry of
// GetCredentialsForIdentity credentials and --session-ttl the lifetime of a
// SyncSessionToken (ListRecords hands the presented token back while it is
// valid, a new one once it expired).
func TestEmbedded_TTLFlags(t *testing.T) {
	pool := synctest.PoolID()
	w := startEmbeddedWorker(t, "--pool", pool, "--credential-ttl", "90s", "--session-ttl", "3s")

	ci := synctest.IdentityClient(w.endpoint, aws.AnonymousCredentials{})
	id, err := ci.GetId(t.Context(), &cognitoidentity.GetIdInput{IdentityPoolId: aws.String(pool)})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	cr, err := ci.GetCredentialsForIdentity(t.Context(), &cognitoidentity.GetCredentialsForIdentityInput{IdentityId: id.IdentityId})
	if err != nil {
		t.Fatal(err)
	}
	if ttl := cr.Credentials.Expiration.Sub(before); ttl < 80*time.Second || ttl > 100*time.Second {
		t.Errorf("credentials expire in %s, want about 90s (--credential-ttl)", ttl)
	}

	idn, c := w.user(t, pool)
	list := func(tok *string) string {
		t.Helper()
		out, err := c.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: awsv1.String(pool),
			IdentityId: awsv1.String(idn.ID), DatasetName: awsv1.String("settings"), SyncSessionToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		return awsv1.StringValue(out.SyncSessionToken)
	}
	tok := list(nil)
	if again := list(&tok); again != tok {
		t.Fatal("a fresh SyncSessionToken was not handed back")
	}
	deadline := time.Now().Add(30 * time.Second) // an hour with the default --session-ttl
	for list(&tok) == tok {
		if time.Now().After(deadline) {
			t.Fatal("the SyncSessionToken is still valid 30 s after --session-ttl 3s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lambdaRules lower-cases "email" in the SyncTrigger (cmd/lambda's rules).
const lambdaRules = `{"rules": [{"type": "transform", "keys": ["email"], "ops": ["trim", "lower"]}]}`

// startLambda runs the real cmd/lambda in the Lambda Runtime Interface
// Emulator and returns the worker flags that invoke it.
func startLambda(t *testing.T) (flags []string, start func()) {
	rie := synctest.BuildLambdaRIE(t.TempDir())
	rie.Require(t)
	addr := synctest.FreeAddr(t)
	return []string{"--lambda-endpoint", "http://" + addr, "--lambda-function-name", "function"},
		func() { rie.Start(t, addr, map[string]string{"SYNCTRIGGER_RULES": lambdaRules}) }
}

// setTrigger makes the pool's SyncTrigger a function ARN (the emulator
// serves it as "function").
func setTrigger(t *testing.T, dev *cognitosync.CognitoSync, pool string) {
	t.Helper()
	if _, err := dev.SetCognitoEvents(&cognitosync.SetCognitoEventsInput{IdentityPoolId: awsv1.String(pool),
		Events: map[string]*string{"SyncTrigger": awsv1.String("arn:aws:lambda:us-east-1:123456789012:function:lower")}}); err != nil {
		t.Fatal(err)
	}
}

// TestEmbedded_SyncTriggerFlags: with --lambda-endpoint and
// --lambda-function-name the embedded service runs a pool's SyncTrigger
// (the real cmd/lambda in the Lambda Runtime Interface Emulator); its
// output is what is stored and what reaches the sink.
func TestEmbedded_SyncTriggerFlags(t *testing.T) {
	lambda, startRIE := startLambda(t)
	pool := synctest.PoolID()
	w := startEmbeddedWorker(t, append(lambda, "--pool", pool)...)
	startRIE()
	setTrigger(t, w.dev(t), pool)
	idn, c := w.user(t, pool)
	recs, err := putRecords(c, idn, "profile", "email", "  Ada@Example.COM ")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || awsv1.StringValue(recs[0].Value) != "ada@example.com" {
		t.Fatalf("stored %v, want email=ada@example.com from the SyncTrigger", recs)
	}
	waitUntil(t, func() bool {
		cs, _ := jsonl.ReadAll(filepath.Join(w.dir, "out"))
		for _, ch := range cs {
			if ch.IdentityID == idn.ID && ch.Key == "email" && ch.Value != nil && *ch.Value == "ada@example.com" {
				return true
			}
		}
		return false
	}, w.stdout, w.stderr)
}

// TestEmbedded_MetricsMatchContract runs the demo (a bulk publish through
// the worker and syncd's job runner, the outbox, the JSONL sink) and an
// identity write through a SyncTrigger, then holds /metrics (on
// --metrics-listen, and the same registry on --listen) to the metric
// contract: every syncd and worker metric exactly once with the contract's
// labels, no Kinesis-only metric, nothing the contract does not list.
func TestEmbedded_MetricsMatchContract(t *testing.T) {
	lambda, startRIE := startLambda(t)
	w := startEmbeddedWorker(t, append(lambda, "--demo")...)
	startRIE()
	waitUntil(t, func() bool { return strings.Contains(w.stdout.String(), "worker put") }, w.stdout, w.stderr)
	setTrigger(t, w.dev(t), demoPool)
	idn, c := w.user(t, demoPool)
	if _, err := putRecords(c, idn, "profile", "email", "Ada@Example.COM"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool {
		return strings.Contains(string(synctest.ScrapeMetrics(t, w.metrics+"/metrics")), metricnames.MetricTriggerInvocations+"{")
	}, w.stdout, w.stderr)

	for _, url := range []string{w.metrics + "/metrics", w.endpoint + "/metrics"} {
		synctest.CheckMetrics(t, synctest.ScrapeMetrics(t, url), metricnames.ExporterSyncd, metricnames.ExporterWorker)
	}
}
