package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/pipeline/checkpoint"
	"github.com/cognitosync/cognitosync/pipeline/outbox"
	"github.com/cognitosync/cognitosync/pipeline/streamlog"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/auth"
	"github.com/cognitosync/cognitosync/syncapi/client"
	"github.com/cognitosync/cognitosync/syncapi/httpapi"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
)

const (
	demoPool      = "us-east-1:0c1ba052-e098-41fa-a76e-eaa2c125f861"
	demoIdentity  = "us-east-1:00000000-0000-4000-8000-00000000d001"
	embeddedAcct  = "000000000000"
	embeddedState = "embedded.json"
)

// embeddedInfo is kept in <data>/embedded.json so that `worker put` (and
// the user) can reach the embedded service of a running worker.
type embeddedInfo struct {
	Endpoint        string `json:"endpoint"`
	Region          string `json:"region"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	Pool            string `json:"pool"`
	Identity        string `json:"identity"`
}

// embedded is the in-process sync service stack of the embedded mode: the
// same wiring as cmd/syncd (sqlstore, syncapi.Service, auth, httpapi) plus
// the outbox forwarder and bulk runner publishing to the in-process stream.
//
// The stream is a durable log (streamlog.Log) in the worker's checkpoint
// database (<data>/worker.db, or --database-url), next to the checkpoints:
// the forwarder deletes an outbox row once its record is appended, and each
// route reads the log as its own consumer group (<consumer-group>.<route>,
// as in Kinesis mode), so a route whose sink is down stalls alone and
// resumes from its checkpoints, also after a restart or kill -9.
type embedded struct {
	store     *sqlstore.DB
	svc       *syncapi.Service
	stream    *streamlog.Log
	streamDB  *sqldb.Handle
	subs      []*streamlog.Subscriber
	stopTrim  context.CancelFunc
	trimDone  chan struct{}
	forwarder *outbox.Forwarder
	bulk      *outbox.BulkRunner
	server    *http.Server
	ln        net.Listener
	// bulkMetrics holds the BulkRunner's metrics; only
	// MetricBulkPublishRecords of it is exported (see bulkGatherer).
	bulkMetrics *prometheus.Registry
	info        embeddedInfo
	dev         context.Context // carries the developer caller
}

func startEmbedded(ctx context.Context, c Config, reg prometheus.Registerer, log *slog.Logger) (*embedded, error) {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	store, err := sqlstore.Open(ctx, sqlstore.Config{URL: filepath.Join(c.DataDir, "syncd.db"), Log: log})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	e := &embedded{store: store, bulkMetrics: prometheus.NewRegistry()}
	ok := false
	defer func() {
		if !ok {
			if e.streamDB != nil {
				e.streamDB.Close()
			}
			store.Close()
		}
	}()
	url := c.DatabaseURL
	if url == "" {
		url = filepath.Join(c.DataDir, "worker.db")
	}
	if e.streamDB, err = sqldb.Open(ctx, sqldb.Config{URL: url}); err != nil {
		return nil, fmt.Errorf("open checkpoint database: %w", err)
	}
	cps, err := checkpoint.New(ctx, checkpoint.Config{DB: e.streamDB})
	if err != nil {
		return nil, err
	}
	if e.stream, err = streamlog.New(ctx, streamlog.Config{DB: e.streamDB, Checkpoints: cps,
		Log: log.With("component", "stream")}); err != nil {
		return nil, err
	}
	owner := processOwner()
	if e.forwarder, err = outbox.NewForwarder(outbox.ForwarderConfig{Store: store, Publisher: e.stream, MaxRecordBytes: -1,
		Owner: owner, Registerer: reg, Log: log.With("component", "outbox")}); err != nil {
		return nil, err
	}
	// The runner also registers MetricBulkPublishState and
	// MetricBulkPublishes, which the worker's BulkPublisher exports in this
	// process: keep the runner's in a registry of their own.
	if e.bulk, err = outbox.NewBulkRunner(outbox.BulkConfig{Store: store, Publisher: e.stream, MaxRecordBytes: -1,
		Owner: owner, Registerer: e.bulkMetrics, Log: log.With("component", "bulk")}); err != nil {
		return nil, err
	}
	if e.svc, err = syncapi.NewService(syncapi.ServiceConfig{Owner: owner, Bulk: e.bulk, Store: store, Region: c.Region, Log: log}); err != nil {
		return nil, err
	}

	e.info = loadEmbeddedInfo(c.DataDir)
	if c.DeveloperKey != "" {
		e.info.AccessKeyID, e.info.SecretAccessKey, _ = strings.Cut(c.DeveloperKey, ":")
	}
	if e.info.AccessKeyID == "" {
		e.info.AccessKeyID, e.info.SecretAccessKey = "AKID"+strings.ToUpper(randHex(8)), randHex(20)
	}
	e.info.Region = c.Region
	e.info.Pool, e.info.Identity = demoPool, demoIdentity
	pools := c.Pools
	if len(pools) == 0 {
		pools = []string{demoPool}
	}
	e.info.Pool = pools[0]
	e.dev = syncapi.WithCaller(context.WithoutCancel(ctx), syncapi.Caller{Developer: true, AccountID: embeddedAcct, AccessKeyID: e.info.AccessKeyID})
	for _, p := range pools {
		if err := e.streamingPool(p, c.Stream); err != nil {
			return nil, err
		}
	}

	authn, err := auth.New(auth.Config{Developers: map[string]string{e.info.AccessKeyID: e.info.SecretAccessKey},
		AccountID: embeddedAcct, Issued: store, Regions: []string{c.Region}})
	if err != nil {
		return nil, err
	}
	api, err := httpapi.NewHandler(httpapi.Config{Sync: e.svc, Identity: e.svc, Auth: authn, Log: log, Registerer: reg})
	if err != nil {
		return nil, err
	}
	if e.ln, err = net.Listen("tcp", c.Listen); err != nil {
		return nil, fmt.Errorf("listen (--listen): %w", err)
	}
	e.server = &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	e.info.Endpoint = "http://" + e.ln.Addr().String()
	if err := saveEmbeddedInfo(c.DataDir, e.info); err != nil {
		e.ln.Close()
		return nil, err
	}
	ok = true
	// Retention: records every route has checkpointed are deleted.
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.stopTrim, e.trimDone = cancel, make(chan struct{})
	go func() {
		defer close(e.trimDone)
		e.stream.Run(tctx)
	}()
	return e, nil
}

// subscriber returns the router's subscriber of a route: the stream log
// read as consumer group <consumer-group>.<route>. Call it before run's
// goroutines start (NewRouter does); close closes the subscribers.
func (e *embedded) subscriber(c Config) func(pipeline.Route) (message.Subscriber, error) {
	return func(r pipeline.Route) (message.Subscriber, error) {
		s, err := e.stream.NewSubscriber(streamlog.SubscriberConfig{ConsumerGroup: c.ConsumerGroup + "." + r.Name})
		if err != nil {
			return nil, err
		}
		e.subs = append(e.subs, s)
		return s, nil
	}
}

// streamingPool creates pool if missing and turns its Cognito stream on.
func (e *embedded) streamingPool(pool, stream string) error {
	_, err := e.svc.CreateIdentityPool(e.dev, syncapi.IdentityPool{IdentityPoolName: "worker", AllowUnauthenticatedIdentities: true,
		IdentityPoolTags: map[string]string{syncapi.PoolIDTag: pool}})
	if err != nil && !errors.Is(err, syncapi.ErrConflict) {
		return fmt.Errorf("--pool %s: %w", pool, err)
	}
	_, err = e.svc.SetIdentityPoolConfiguration(e.dev, syncapi.PoolConfiguration{IdentityPoolID: pool,
		CognitoStreams: &syncapi.CognitoStreams{StreamName: stream, RoleArn: "arn:aws:iam::" + embeddedAcct + ":role/cognitosync-embedded",
			StreamingStatus: syncapi.StreamingEnabled}})
	if err != nil {
		return fmt.Errorf("enable streaming of %s: %w", pool, err)
	}
	return nil
}

// api is the in-process service as a syncapi.SyncAPI with the developer
// caller, for the bulk publisher.
func (e *embedded) api() syncapi.SyncAPI { return devAPI{e.svc, e.dev} }

type devAPI struct {
	*syncapi.Service
	dev context.Context
}

func (d devAPI) ctx(ctx context.Context) context.Context {
	caller, _ := syncapi.CallerFrom(d.dev)
	return syncapi.WithCaller(ctx, caller)
}

func (d devAPI) BulkPublish(ctx context.Context, in syncapi.PoolInput) (syncapi.BulkPublishOutput, error) {
	return d.Service.BulkPublish(d.ctx(ctx), in)
}

func (d devAPI) GetBulkPublishDetails(ctx context.Context, in syncapi.PoolInput) (syncapi.GetBulkPublishDetailsOutput, error) {
	return d.Service.GetBulkPublishDetails(d.ctx(ctx), in)
}

// close saves the routes' checkpoints and closes the databases; call it
// after the router and the forwarder stopped.
func (e *embedded) close() {
	for _, s := range e.subs {
		s.Close()
	}
	e.stopTrim()
	<-e.trimDone
	e.stream.Close()
	e.streamDB.Close()
	e.store.Close()
}

// clientFor returns the typed client of the embedded service over HTTP, as
// any SDK would reach it.
func clientFor(info embeddedInfo) *client.Client {
	return client.New(client.Options{Region: info.Region, BaseEndpoint: aws.String(info.Endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: info.AccessKeyID, SecretAccessKey: info.SecretAccessKey, Source: "worker embedded"}, nil
		})})
}

// putRecord sets key to value in an identity's dataset: ListRecords for the
// session token and the key's SyncCount, then UpdateRecords.
func putRecord(ctx context.Context, api syncapi.SyncAPI, pool, identity, dataset, key, value string) (syncapi.Record, error) {
	recs, ls, err := listAll(ctx, api, syncapi.ListRecordsInput{IdentityPoolID: pool, IdentityID: identity, DatasetName: dataset})
	if err != nil {
		return syncapi.Record{}, fmt.Errorf("list records: %w", err)
	}
	var sc int64
	for _, r := range recs {
		if r.Key == key {
			sc = r.SyncCount
		}
	}
	out, err := api.UpdateRecords(ctx, syncapi.UpdateRecordsInput{IdentityPoolID: pool, IdentityID: identity, DatasetName: dataset,
		SyncSessionToken: ls.SyncSessionToken, RecordPatches: []syncapi.RecordPatch{{Op: syncapi.OpReplace, Key: key, Value: &value, SyncCount: sc}}})
	if err != nil {
		return syncapi.Record{}, fmt.Errorf("update records: %w", err)
	}
	if len(out.Records) == 0 {
		return syncapi.Record{}, errors.New("update records: no record returned")
	}
	return out.Records[0], nil
}

func listAll(ctx context.Context, api syncapi.SyncAPI, in syncapi.ListRecordsInput) ([]syncapi.Record, syncapi.ListRecordsOutput, error) {
	var all []syncapi.Record
	for {
		out, err := api.ListRecords(ctx, in)
		if err != nil {
			return nil, out, err
		}
		all = append(all, out.Records...)
		if out.NextToken == "" {
			return all, out, nil
		}
		in.NextToken = out.NextToken
	}
}

// writeDemo writes the demo datasets through the in-process service.
func (e *embedded) writeDemo(ctx context.Context) (int, error) {
	api := devAPI{e.svc, e.dev}
	ctx = api.ctx(ctx)
	data := []struct{ identity, dataset, key, value string }{
		{demoIdentity, "settings", "theme", "dark"},
		{demoIdentity, "settings", "language", "en"},
		{demoIdentity, "scores", "level1", "1200"},
		{"us-east-1:00000000-0000-4000-8000-00000000d002", "settings", "theme", "light"},
		{"us-east-1:00000000-0000-4000-8000-00000000d002", "scores", "level1", "800"},
		{"us-east-1:00000000-0000-4000-8000-00000000d003", "profile", "nickname", "ada"},
	}
	for _, d := range data {
		if _, err := putRecord(ctx, api, e.info.Pool, d.identity, d.dataset, d.key, d.value); err != nil {
			return 0, fmt.Errorf("demo data: %w", err)
		}
	}
	return len(data), nil
}

// bulkGatherer exports only MetricBulkPublishRecords of the BulkRunner's
// registry.
type bulkGatherer struct{ g prometheus.Gatherer }

func (b bulkGatherer) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := b.g.Gather()
	var out []*dto.MetricFamily
	for _, mf := range mfs {
		if mf.GetName() == pipeline.MetricBulkPublishRecords {
			out = append(out, mf)
		}
	}
	return out, err
}

func loadEmbeddedInfo(dir string) embeddedInfo {
	var info embeddedInfo
	if b, err := os.ReadFile(filepath.Join(dir, embeddedState)); err == nil {
		_ = json.Unmarshal(b, &info) // a damaged file: start over
	}
	return info
}

func saveEmbeddedInfo(dir string, info embeddedInfo) error {
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, embeddedState), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save %s: %w", embeddedState, err)
	}
	return nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// processOwner names this process in leases and bulk jobs.
func processOwner() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", h, os.Getpid(), randHex(4))
}
