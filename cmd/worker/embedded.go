package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/internal/server"
	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/pipeline/checkpoint"
	"github.com/cognitosync/cognitosync/pipeline/streamlog"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/client"
)

const (
	demoPool      = "us-east-1:0c1ba052-e098-41fa-a76e-eaa2c125f861"
	demoIdentity  = "us-east-1:00000000-0000-4000-8000-00000000d001"
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

// embedded is the in-process sync service of the embedded mode: syncd as
// internal/server assembles it (with every service flag: limits, TTLs,
// SyncTrigger, …), its outbox forwarder and bulk runner publishing to the
// in-process stream.
//
// The stream is a durable log (streamlog.Log) in the worker's checkpoint
// database (<data>/worker.db, or --database-url), next to the checkpoints:
// the forwarder deletes an outbox row once its record is appended, and each
// route reads the log as its own consumer group (<consumer-group>.<route>,
// as in Kinesis mode), so a route whose sink is down stalls alone and
// resumes from its checkpoints, also after a restart or kill -9.
type embedded struct {
	srv      *server.Server
	stream   *streamlog.Log
	streamDB *sqldb.Handle
	subs     []*streamlog.Subscriber
	stopTrim context.CancelFunc
	trimDone chan struct{}
	info     embeddedInfo
	// generatedKey: this run made the developer key (printed once).
	generatedKey bool
}

// startEmbedded builds the embedded service on reg, the process's one
// registry; awsCfg is the configuration of the SyncTrigger's Lambda client.
// Run e.srv, then call close.
func startEmbedded(ctx context.Context, c Config, awsCfg aws.Config, reg *prometheus.Registry, log *slog.Logger) (*embedded, error) {
	if err := ensureDataDir(c.DataDir); err != nil {
		return nil, err
	}
	e := &embedded{}
	ok := false
	defer func() {
		if !ok {
			if e.srv != nil {
				e.srv.Close()
			}
			if e.streamDB != nil {
				e.streamDB.Close()
			}
		}
	}()
	url := c.DatabaseURL
	if url == "" {
		url = filepath.Join(c.DataDir, "worker.db")
	}
	var err error
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

	// The developer key: --developer-key, else the one kept from an earlier
	// run, else a new one (kept for the next run and for `worker put`).
	saved := loadEmbeddedInfo(c.DataDir)
	sc := c.ServerConfig()
	if len(sc.DeveloperKeys) == 0 && saved.AccessKeyID != "" && saved.SecretAccessKey != "" {
		sc.DeveloperKeys = []server.DeveloperKey{{ID: saved.AccessKeyID, Secret: saved.SecretAccessKey}}
	}
	if len(sc.DeveloperKeys) == 0 {
		sc.DeveloperKeys = []server.DeveloperKey{server.NewDeveloperKey()}
		e.generatedKey = true
	}
	if len(sc.Pools) == 0 {
		sc.Pools = []string{demoPool}
	}
	sc.PoolName, sc.PoolStream = "worker", c.Stream
	sc.Listen, sc.DataDir = c.Listen, c.DataDir
	sc.AWS, sc.Registry, sc.ShutdownTimeout, sc.Log = &awsCfg, reg, c.ShutdownTimeout, log
	// The log takes records of any size: no S3 offload needed.
	sc.Stream = &server.Stream{Publisher: e.stream, MaxRecordBytes: -1}
	if e.srv, err = server.New(ctx, sc); err != nil {
		return nil, err
	}
	key := sc.DeveloperKeys[0]
	e.info = embeddedInfo{Endpoint: e.srv.Endpoint(), Region: c.Region, AccessKeyID: key.ID, SecretAccessKey: key.Secret,
		Pool: sc.Pools[0], Identity: demoIdentity}
	if err := saveEmbeddedInfo(c.DataDir, e.info); err != nil {
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
		// Appends of this process wake the readers at once; the idle poll
		// only finds records another process appended (a shared
		// --database-url), so it can be slow and keep an idle worker idle.
		s, err := e.stream.NewSubscriber(streamlog.SubscriberConfig{ConsumerGroup: c.ConsumerGroup + "." + r.Name,
			PollInterval: idlePoll, MaxInFlight: c.MaxInFlight, MaxInFlightBytes: c.MaxInFlightBytes})
		if err != nil {
			return nil, err
		}
		e.subs = append(e.subs, s)
		return s, nil
	}
}

// api is the in-process service as a syncapi.SyncAPI acting as the
// developer, for the bulk publisher.
func (e *embedded) api() syncapi.SyncAPI { return devAPI{e.srv.Service(), e.srv} }

// devAPI calls the service as the developer: BulkPublish and
// GetBulkPublishDetails are developer-only operations.
type devAPI struct {
	*syncapi.Service
	srv *server.Server
}

func (d devAPI) BulkPublish(ctx context.Context, in syncapi.PoolInput) (syncapi.BulkPublishOutput, error) {
	return d.Service.BulkPublish(d.srv.AsDeveloper(ctx), in)
}

func (d devAPI) GetBulkPublishDetails(ctx context.Context, in syncapi.PoolInput) (syncapi.GetBulkPublishDetailsOutput, error) {
	return d.Service.GetBulkPublishDetails(d.srv.AsDeveloper(ctx), in)
}

// close saves the routes' checkpoints and closes the databases; call it
// after the router and the forwarder stopped.
func (e *embedded) close() {
	for _, s := range e.subs {
		s.Close()
	}
	e.stopTrim()
	<-e.trimDone
	e.srv.Close() // after the forwarder and the bulk runner, which publish to the stream
	e.stream.Close()
	e.streamDB.Close()
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

// idlePoll is how often an idle reader of the embedded stream looks for
// records appended by another process.
const idlePoll = 5 * time.Second

// demoSeed is what writeDemo did: the records, datasets and identities it
// wrote, or, when the pool already held data, how many bytes.
type demoSeed struct {
	records, datasets, identities int
	existingBytes                 int64
}

// writeDemo writes the demo datasets through the in-process service, only
// into an empty pool: a second --demo keeps what the user changed.
func (e *embedded) writeDemo(ctx context.Context) (demoSeed, error) {
	api, ctx := e.api(), e.srv.AsDeveloper(ctx)
	u, err := api.DescribeIdentityPoolUsage(ctx, syncapi.PoolInput{IdentityPoolID: e.info.Pool})
	if err != nil {
		return demoSeed{}, fmt.Errorf("demo data: %w", err)
	}
	if u.IdentityPoolUsage.DataStorage > 0 {
		return demoSeed{existingBytes: u.IdentityPoolUsage.DataStorage}, nil
	}
	data := []struct{ identity, dataset, key, value string }{
		{demoIdentity, "settings", "theme", "dark"},
		{demoIdentity, "settings", "language", "en"},
		{demoIdentity, "scores", "level1", "1200"},
		{"us-east-1:00000000-0000-4000-8000-00000000d002", "settings", "theme", "light"},
		{"us-east-1:00000000-0000-4000-8000-00000000d002", "scores", "level1", "800"},
		{"us-east-1:00000000-0000-4000-8000-00000000d003", "profile", "nickname", "ada"},
	}
	datasets, identities := map[string]bool{}, map[string]bool{}
	for _, d := range data {
		if _, err := putRecord(ctx, api, e.info.Pool, d.identity, d.dataset, d.key, d.value); err != nil {
			return demoSeed{}, fmt.Errorf("demo data: %w", err)
		}
		datasets[d.identity+"/"+d.dataset], identities[d.identity] = true, true
	}
	return demoSeed{records: len(data), datasets: len(datasets), identities: len(identities)}, nil
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
