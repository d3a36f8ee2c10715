package pipeline_test

import (
	"context"
	"errors"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/pipeline/outbox"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/client"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
)

var fastPoll = pipeline.Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond}

type events struct {
	mu  sync.Mutex
	got []pipeline.BulkEvent
}

func (e *events) add(p pipeline.BulkProgress) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.got) == 0 || e.got[len(e.got)-1] != p.Event {
		e.got = append(e.got, p.Event) // polled repeats collapse
	}
}

func (e *events) list() []pipeline.BulkEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.got)
}

func gauge(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.Metric {
			l := labels(m)
			for k, v := range want {
				if l[k] != v {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return -1
}

// TestBulkPublish_FailsWithoutStreamPublisher runs against a real syncd on
// HTTP (internal/synctest) through the typed client: that stack has no stream
// publisher, so the job ends FAILED, which is reported with its message.
func TestBulkPublish_FailsWithoutStreamPublisher(t *testing.T) {
	srv := synctest.Start(t, synctest.Options{})
	pool := synctest.PoolID()
	srv.CreatePool(t, pool)
	cl := client.New(client.Options{Region: synctest.Region, BaseEndpoint: aws.String(srv.URL),
		Credentials: synctest.StaticV2(srv.DevKeyID, srv.DevSecret, "")})
	reg := prometheus.NewRegistry()
	b, err := pipeline.NewBulkPublisher(pipeline.BulkConfig{Client: cl, Poll: fastPoll, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}

	// Streaming not enabled: a refusal, returned as is.
	if _, err := b.Run(t.Context(), pool, nil); err == nil || errors.Is(err, pipeline.ErrBulkPublishFailed) {
		t.Fatalf("streaming disabled: err = %v", err)
	}

	enableStreaming(t, cl, pool)
	var ev events
	d, err := b.Run(t.Context(), pool, ev.add)
	if !errors.Is(err, pipeline.ErrBulkPublishFailed) || d.BulkPublishStatus != syncapi.BulkFailed || d.FailureMessage == "" {
		t.Fatalf("Run = %+v, %v; want FAILED with a message", d, err)
	}
	if got := ev.list(); !slices.Equal(got, []pipeline.BulkEvent{pipeline.BulkStarted, pipeline.BulkFailed}) {
		t.Errorf("events = %v", got)
	}
	if v := gauge(t, reg, metricnames.MetricBulkPublishState, map[string]string{"pool": pool, "state": syncapi.BulkFailed}); v != 1 {
		t.Errorf("state FAILED = %v", v)
	}
	if v := gauge(t, reg, metricnames.MetricBulkPublishState, map[string]string{"pool": pool, "state": syncapi.BulkInProgress}); v != 0 {
		t.Errorf("state IN_PROGRESS = %v", v)
	}
	if v := gauge(t, reg, metricnames.MetricBulkPublishes, map[string]string{"pool": pool, "outcome": "failed"}); v != 1 {
		t.Errorf("failed total = %v", v)
	}
	if v := gauge(t, reg, metricnames.MetricBulkPublishDuration, map[string]string{"pool": pool}); v != 1 {
		t.Errorf("duration observations = %v", v)
	}
	// A FAILED job does not start the 24 h window: a new one may start.
	if _, err := b.Run(t.Context(), pool, nil); !errors.Is(err, pipeline.ErrBulkPublishFailed) {
		t.Fatalf("second run: %v", err)
	}
}

func enableStreaming(t *testing.T, api syncapi.SyncAPI, pool string) {
	t.Helper()
	_, err := api.SetIdentityPoolConfiguration(t.Context(), syncapi.PoolConfiguration{IdentityPoolID: pool,
		CognitoStreams: &syncapi.CognitoStreams{StreamName: "stream", RoleArn: "arn:aws:iam::123456789012:role/streams", StreamingStatus: syncapi.StreamingEnabled}})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBulkPublish_SucceedsThenAlreadyStreamed runs the in-process service with
// pipeline/outbox's BulkRunner on Watermill's gochannel: the job succeeds once
// the consumer acked, a job already running is followed
// (DuplicateRequestException), and one done within 24 h is reported
// (AlreadyStreamedException), not an error.
func TestBulkPublish_SucceedsThenAlreadyStreamed(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	store, err := sqlstore.Open(ctx, sqlstore.Config{URL: filepath.Join(t.TempDir(), "syncd.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// Publish returns once the consumer acked, as syncd's bulk publisher
	// returns once Kinesis took the records.
	stream := gochannel.NewGoChannel(gochannel.Config{BlockPublishUntilSubscriberAck: true}, nil)
	defer stream.Close()
	bulk, err := outbox.NewBulkRunner(outbox.BulkConfig{Store: store, Publisher: stream, Owner: "test"})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := syncapi.NewService(syncapi.ServiceConfig{Store: store, Region: "us-east-1", Owner: "test", Bulk: bulk})
	if err != nil {
		t.Fatal(err)
	}
	dev := syncapi.WithCaller(ctx, syncapi.Caller{Developer: true, AccountID: "123456789012"})
	pool := synctest.PoolID()
	if _, err := svc.CreateIdentityPool(dev, syncapi.IdentityPool{IdentityPoolName: "p", AllowUnauthenticatedIdentities: true,
		IdentityPoolTags: map[string]string{syncapi.PoolIDTag: pool}}); err != nil {
		t.Fatal(err)
	}
	enableStreaming(t, callerAPI{svc, dev}, pool)
	ls, err := svc.ListRecords(dev, syncapi.ListRecordsInput{IdentityPoolID: pool, IdentityID: "us-east-1:00000000-0000-4000-8000-0000000000aa", DatasetName: "settings"})
	if err != nil {
		t.Fatal(err)
	}
	v := "dark"
	if _, err := svc.UpdateRecords(dev, syncapi.UpdateRecordsInput{IdentityPoolID: pool, IdentityID: "us-east-1:00000000-0000-4000-8000-0000000000aa",
		DatasetName: "settings", SyncSessionToken: ls.SyncSessionToken,
		RecordPatches: []syncapi.RecordPatch{{Op: syncapi.OpReplace, Key: "theme", Value: &v}}}); err != nil {
		t.Fatal(err)
	}

	// A consumer that holds the first record until released keeps the job
	// IN_PROGRESS.
	msgs, err := stream.Subscribe(ctx, "stream")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	go func() {
		for m := range msgs {
			<-release
			m.Ack()
		}
	}()

	reg := prometheus.NewRegistry()
	b, err := pipeline.NewBulkPublisher(pipeline.BulkConfig{Client: callerAPI{svc, dev}, Poll: fastPoll, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	var first, second events
	done := make(chan error, 1)
	go func() { _, err := b.Run(ctx, pool, first.add); done <- err }()
	waitFor(t, func() bool { return slices.Contains(first.list(), pipeline.BulkPolled) })
	if v := gauge(t, reg, metricnames.MetricBulkPublishState, map[string]string{"pool": pool, "state": syncapi.BulkInProgress}); v != 1 {
		t.Errorf("state IN_PROGRESS = %v while the job runs", v)
	}
	done2 := make(chan error, 1)
	go func() { _, err := b.Run(ctx, pool, second.add); done2 <- err }()
	waitFor(t, func() bool { return slices.Contains(second.list(), pipeline.BulkAlreadyRunning) })
	close(release)
	for _, d := range []chan error{done, done2} {
		if err := <-d; err != nil {
			t.Fatal(err)
		}
	}
	if got := first.list(); !slices.Equal(got, []pipeline.BulkEvent{pipeline.BulkStarted, pipeline.BulkPolled, pipeline.BulkSucceeded}) {
		t.Errorf("first run events = %v", got)
	}
	if got := second.list(); got[0] != pipeline.BulkAlreadyRunning || got[len(got)-1] != pipeline.BulkSucceeded {
		t.Errorf("second run events = %v", got)
	}

	var third events
	d, err := b.Run(ctx, pool, third.add)
	if err != nil || d.BulkPublishStatus != syncapi.BulkSucceeded || d.BulkPublishCompleteTime.IsZero() {
		t.Fatalf("within 24 h: %+v, %v; want the earlier SUCCEEDED job reported, no error", d, err)
	}
	if got := third.list(); !slices.Equal(got, []pipeline.BulkEvent{pipeline.BulkAlreadyDone}) {
		t.Errorf("third run events = %v", got)
	}
	if v := gauge(t, reg, metricnames.MetricBulkPublishes, map[string]string{"pool": pool, "outcome": "succeeded"}); v != 2 {
		t.Errorf("succeeded total = %v, want 2 (both runs followed the job to its end)", v)
	}
}

// callerAPI is the in-process service with a developer caller in every
// context, as syncd's wire layer would set it.
type callerAPI struct {
	*syncapi.Service
	dev context.Context
}

func (c callerAPI) BulkPublish(ctx context.Context, in syncapi.PoolInput) (syncapi.BulkPublishOutput, error) {
	return c.Service.BulkPublish(c.with(ctx), in)
}

func (c callerAPI) GetBulkPublishDetails(ctx context.Context, in syncapi.PoolInput) (syncapi.GetBulkPublishDetailsOutput, error) {
	return c.Service.GetBulkPublishDetails(c.with(ctx), in)
}

func (c callerAPI) SetIdentityPoolConfiguration(ctx context.Context, in syncapi.PoolConfiguration) (syncapi.PoolConfiguration, error) {
	return c.Service.SetIdentityPoolConfiguration(c.with(ctx), in)
}

func (c callerAPI) with(ctx context.Context) context.Context {
	caller, _ := syncapi.CallerFrom(c.dev)
	return syncapi.WithCaller(ctx, caller)
}
