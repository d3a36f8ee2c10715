package server_test

import (
	"context"
	"errors"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsv1 "github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	credv1 "github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/service/cognitosync"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/internal/server"
	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/trigger"
)

const triggerArn = "arn:aws:lambda:us-east-1:123456789012:function:stamp"

var devKey = server.DeveloperKey{ID: "AKIDSERVERTEST", Secret: "server-test-secret"}

// config is a valid Config on SQLite in a fresh directory.
func config(t *testing.T) server.Config {
	return server.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Region: synctest.Region,
		DeveloperKeys: []server.DeveloperKey{devKey}}
}

// start builds and runs the server until the test ends.
func start(t *testing.T, c server.Config) *server.Server {
	t.Helper()
	srv, err := server.New(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	synctest.Serve(t, srv)
	return srv
}

func dev(t *testing.T, srv *server.Server) *cognitosync.CognitoSync {
	return synctest.SyncV1(t, srv.Endpoint(), credv1.NewStaticCredentials(devKey.ID, devKey.Secret, ""))
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNew_ReportsEveryMissingSetting(t *testing.T) {
	_, err := server.New(t.Context(), server.Config{DeveloperKeys: []server.DeveloperKey{{ID: "a:b"}},
		Limits: syncapi.Limits{MaxRecords: -1}, LambdaEndpoint: "127.0.0.1:9000", Stream: &server.Stream{}})
	if err == nil {
		t.Fatal("New accepted an empty Config")
	}
	for _, want := range []string{"Listen is required", "one of Store, StoreURL and DataDir", "Region is required",
		`developer key "a:b"`, "Limits must not be negative", "LambdaEndpoint must be", "Stream.Publisher is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestNew_FailedStartReleasesEverything: a listen error after the store was
// opened closes the store again (the directory can be opened at once).
func TestNew_FailedStartReleasesEverything(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	c := config(t)
	c.Listen = busy.Addr().String()
	if _, err := server.New(t.Context(), c); err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Fatalf("New on a busy port: %v", err)
	}
	c.Listen = "127.0.0.1:0"
	srv, err := server.New(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestServer_MetricsMatchContract exercises every part the server
// assembles (the API, a SyncTrigger, the outbox forwarder and a bulk
// publish job on a Watermill stream) and holds its /metrics to the metric
// contract: every syncd metric exactly once, with the contract's labels,
// and nothing the contract does not list for syncd.
func TestServer_MetricsMatchContract(t *testing.T) {
	stream := gochannel.NewGoChannel(gochannel.Config{Persistent: true}, watermill.NopLogger{})
	t.Cleanup(func() { stream.Close() })
	var invoked atomic.Int64
	c := config(t)
	c.Stream = &server.Stream{Publisher: stream}
	c.Pools, c.PoolStream = []string{synctest.PoolID()}, "events"
	// The guest-call rate limits are on, as the commands' defaults have them.
	c.Clients.GetIDRate, c.Clients.GetIDRatePerAddress = server.DefaultGetIDRate, server.DefaultGetIDRatePerAddress
	c.Clients.GetCredentialsRate, c.Clients.GetCredentialsRatePerAddress = server.DefaultGetCredentialsRate, server.DefaultGetCredentialsRatePerAddress
	c.Trigger = trigger.InProcess{triggerArn: func(ctx context.Context, ev syncapi.TriggerEvent) (syncapi.TriggerEvent, error) {
		invoked.Add(1)
		return ev, nil
	}}
	srv := start(t, c)
	pool := c.Pools[0]
	msgs, err := stream.Subscribe(t.Context(), "events")
	if err != nil {
		t.Fatal(err)
	}

	d := dev(t, srv)
	if _, err := d.SetCognitoEvents(&cognitosync.SetCognitoEventsInput{IdentityPoolId: awsv1.String(pool),
		Events: map[string]*string{"SyncTrigger": awsv1.String(triggerArn)}}); err != nil {
		t.Fatal(err)
	}
	idn := synctest.NewIdentityAt(t, srv.Endpoint(), pool)
	user := synctest.SyncV1(t, srv.Endpoint(), idn.V1())
	ls, err := user.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: awsv1.String(pool),
		IdentityId: awsv1.String(idn.ID), DatasetName: awsv1.String("settings")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := user.UpdateRecords(&cognitosync.UpdateRecordsInput{IdentityPoolId: awsv1.String(pool),
		IdentityId: awsv1.String(idn.ID), DatasetName: awsv1.String("settings"), SyncSessionToken: ls.SyncSessionToken,
		RecordPatches: []*cognitosync.RecordPatch{{Op: awsv1.String("replace"), Key: awsv1.String("theme"),
			Value: awsv1.String("dark"), SyncCount: awsv1.Int64(0)}}}); err != nil {
		t.Fatal(err)
	}
	if invoked.Load() != 1 {
		t.Fatalf("SyncTrigger invoked %d times, want 1", invoked.Load())
	}
	select { // the forwarder publishes the change
	case m := <-msgs:
		m.Ack()
	case <-time.After(20 * time.Second):
		t.Fatal("the change did not reach the stream")
	}
	if _, err := d.BulkPublish(&cognitosync.BulkPublishInput{IdentityPoolId: awsv1.String(pool)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bulk publish job", func() bool {
		out, err := d.GetBulkPublishDetails(&cognitosync.GetBulkPublishDetailsInput{IdentityPoolId: awsv1.String(pool)})
		return err == nil && awsv1.StringValue(out.BulkPublishStatus) == syncapi.BulkSucceeded
	})
	waitFor(t, "the job's metrics", func() bool {
		return strings.Contains(string(synctest.ScrapeMetrics(t, srv.Endpoint()+"/metrics")), metricnames.MetricBulkPublishJobs+"{")
	})

	synctest.CheckMetrics(t, synctest.ScrapeMetrics(t, srv.Endpoint()+"/metrics"), metricnames.ExporterSyncd)
	synctest.CheckRegistry(t, srv.Registry(), metricnames.ExporterSyncd)
}

// TestServer_OneRegistry: the server registers into the registry it is
// given (the worker's, shared with its own metrics) and /metrics serves
// exactly that registry.
func TestServer_OneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	own := prometheus.NewCounter(prometheus.CounterOpts{Name: "caller_own_total", Help: "A metric of the caller."})
	reg.MustRegister(own)
	c := config(t)
	c.Registry = reg
	srv := start(t, c)
	if srv.Registry() != reg {
		t.Fatal("Registry() is not the registry given")
	}
	if _, err := dev(t, srv).ListIdentityPoolUsage(&cognitosync.ListIdentityPoolUsageInput{}); err != nil {
		t.Fatal(err)
	}
	body := string(synctest.ScrapeMetrics(t, srv.Endpoint()+"/metrics"))
	for _, want := range []string{"caller_own_total", metricnames.MetricRequests + `{code="OK",operation="ListIdentityPoolUsage"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "go_goroutines") {
		t.Error("the server added the Go collector to a registry it was given")
	}
}

// TestServer_PoolsAndPoolStream: the configured pools are created once
// (a second start on the same data finds them) and streaming is turned on
// with PoolStream.
func TestServer_PoolsAndPoolStream(t *testing.T) {
	c := config(t)
	c.Pools, c.PoolStream = []string{synctest.PoolID(), synctest.PoolID()}, "embedded-stream"
	for range 2 {
		srv, err := server.New(t.Context(), c)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range c.Pools {
			got, err := srv.Service().GetIdentityPoolConfiguration(srv.AsDeveloper(t.Context()), syncapi.PoolInput{IdentityPoolID: p})
			if err != nil {
				t.Fatal(err)
			}
			if cs := got.CognitoStreams; cs == nil || cs.StreamName != "embedded-stream" || cs.StreamingStatus != syncapi.StreamingEnabled {
				t.Errorf("pool %s streams %+v", p, got.CognitoStreams)
			}
		}
		if err := srv.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServer_CloseStopsRun: Close ends a running Run (which returns nil
// after its graceful shutdown), stops serving, is idempotent, and Run
// cannot start again.
func TestServer_CloseStopsRun(t *testing.T) {
	srv, err := server.New(t.Context(), config(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(context.Background()) }()
	waitFor(t, "/healthz", func() bool {
		res, err := http.Get(srv.Endpoint() + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run after Close: %v", err)
	}
	if _, err := net.Dial("tcp", srv.Addr()); err == nil {
		t.Error("still accepting connections after Close")
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := srv.Run(context.Background()); err == nil {
		t.Error("Run after Close succeeded")
	}
}

// TestServer_HealthzFollowsTheStore: /healthz (on --listen and on
// MetricsListen) answers 503 once the store stops committing writes. The store is
// the caller's here, so the server does not close it.
func TestServer_HealthzFollowsTheStore(t *testing.T) {
	st := synctest.Open(t, filepath.Join(t.TempDir(), "syncd.db"))
	c := config(t)
	c.Store, c.MetricsListen = st, "127.0.0.1:0"
	srv := start(t, c)
	status := func(url string) int {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, u := range []string{srv.Endpoint(), "http://" + srv.MetricsAddr()} {
		if got := status(u + "/healthz"); got != http.StatusOK {
			t.Fatalf("%s/healthz = %d", u, got)
		}
	}
	if err := st.(interface{ Close() error }).Close(); err != nil {
		t.Fatal(err)
	}
	// The store proves a write at most once per sqlstore.HealthProbeInterval,
	// so /healthz turns within that interval, not at once.
	for _, u := range []string{srv.Endpoint(), "http://" + srv.MetricsAddr()} {
		waitFor(t, u+"/healthz = 503 with the store closed", func() bool {
			return status(u+"/healthz") == http.StatusServiceUnavailable
		})
	}
	if err := srv.Check(t.Context()); err == nil || !strings.Contains(err.Error(), "store unavailable") {
		t.Errorf("Check = %v", err)
	}
}

// TestServer_UnreachableTrigger: a SyncTrigger whose Lambda endpoint does
// not answer fails the sync with InvalidLambdaFunctionOutputException whose
// message names the function but not the endpoint (the log has it), and is
// counted as outcome unreachable, not rejected.
func TestServer_UnreachableTrigger(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // nothing listens there now
	var logs synctest.LogBuffer
	c := config(t)
	c.Pools = []string{synctest.PoolID()}
	c.AWS = &aws.Config{Region: synctest.Region, Credentials: synctest.StaticV2("AKID", "secret", "")}
	c.LambdaEndpoint, c.LambdaFunctionName = "http://"+closed, "function"
	c.Log = slog.New(slog.NewTextHandler(&logs, nil))
	srv := start(t, c)
	pool := c.Pools[0]
	d := dev(t, srv)
	if _, err := d.SetCognitoEvents(&cognitosync.SetCognitoEventsInput{IdentityPoolId: awsv1.String(pool),
		Events: map[string]*string{"SyncTrigger": awsv1.String(triggerArn)}}); err != nil {
		t.Fatal(err)
	}
	idn := synctest.NewIdentityAt(t, srv.Endpoint(), pool)
	user := synctest.SyncV1(t, srv.Endpoint(), idn.V1())
	ls, err := user.ListRecords(&cognitosync.ListRecordsInput{IdentityPoolId: awsv1.String(pool),
		IdentityId: awsv1.String(idn.ID), DatasetName: awsv1.String("settings")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = user.UpdateRecords(&cognitosync.UpdateRecordsInput{IdentityPoolId: awsv1.String(pool),
		IdentityId: awsv1.String(idn.ID), DatasetName: awsv1.String("settings"), SyncSessionToken: ls.SyncSessionToken,
		RecordPatches: []*cognitosync.RecordPatch{{Op: awsv1.String("replace"), Key: awsv1.String("theme"),
			Value: awsv1.String("dark"), SyncCount: awsv1.Int64(0)}}})
	var ae awserr.Error
	if !errors.As(err, &ae) || ae.Code() != cognitosync.ErrCodeInvalidLambdaFunctionOutputException {
		t.Fatalf("UpdateRecords = %v, want InvalidLambdaFunctionOutputException", err)
	}
	if strings.Contains(ae.Message(), closed) || strings.Contains(ae.Message(), "127.0.0.1") || !strings.Contains(ae.Message(), triggerArn) {
		t.Errorf("client message %q: want the function, not the endpoint", ae.Message())
	}
	if !strings.Contains(logs.String(), closed) {
		t.Errorf("the log does not say which endpoint failed:\n%s", logs.String())
	}
	m := synctest.ScrapeMetrics(t, srv.Endpoint()+"/metrics")
	if !strings.Contains(string(m), `cognitosync_trigger_invocations_total{outcome="unreachable",pool="`+pool+`"} 1`) {
		t.Errorf("no unreachable outcome in\n%s", m)
	}
}
