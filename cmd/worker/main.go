// Command worker streams Cognito Sync changes to sinks. See --help.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/cognitosync/cognitosync/internal/awsenv"
	"github.com/cognitosync/cognitosync/internal/buildinfo"
	"github.com/cognitosync/cognitosync/internal/cliconfig"
	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/pipeline/checkpoint"
	"github.com/cognitosync/cognitosync/pipeline/stream"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// run dispatches the subcommands and runs the worker until ctx ends.
// Guidance and progress for the person at the terminal go to stdout; logs
// (and poisoned messages with --poison-file stderr) go to stderr.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "healthcheck":
			return healthcheck(ctx, args[1:], getenv, stdout)
		case "put":
			return put(ctx, args[1:], getenv, stdout, stderr)
		case "version":
			fmt.Fprintln(stdout, buildinfo.Version())
			return nil
		}
	}
	c, fs, err := parseConfig("worker", args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q\n%s", fs.Args(), usageLine)
	}
	if err := c.Validate(); err != nil {
		return err
	}
	return runWorker(ctx, c, getenv, stdout, stderr)
}

func runWorker(ctx context.Context, c Config, getenv func(string) string, stdout, stderr io.Writer) error {
	stderr = &lockedWriter{w: stderr} // logs and poisoned messages share it line by line
	log := cliconfig.NewLogger(c.LogLevel, c.LogFormat, stderr)
	// Watermill's router reports every handler start and stop at INFO;
	// that is debugging detail for an operator.
	wlog := watermill.NewSlogLoggerWithLevelMapping(log.With("component", "router"),
		map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	sinks, err := buildSinks(ctx, c, reg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := closeSinks(sinks); err != nil {
			log.Error("close sinks", "err", err)
		}
	}()
	poison, err := newPoison(c, stderr)
	if err != nil {
		return err
	}
	defer poison.Close()

	// The stream side: embedded (in-process service and stream) or remote.
	var (
		emb        *embedded
		subscriber func(pipeline.Route) (message.Subscriber, error)
		api        syncapi.SyncAPI
		sm         *streamMetrics
		decodeHTTP = &http.Client{Timeout: time.Minute}
	)
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(c.Region))
	if err != nil {
		return fmt.Errorf("aws configuration: %w", err)
	}
	switch c.Mode {
	case modeEmbedded:
		if emb, err = startEmbedded(ctx, c, cfg, reg, log); err != nil {
			return err
		}
		defer emb.close()
		subscriber = emb.subscriber(c)
		api = emb.api()
	case modeRemote:
		if c.KinesisEndpoint != "" && c.SyncEndpoint == "" {
			log.Info("Kinesis at --kinesis-endpoint, Cognito Sync on AWS")
		}
		if c.KinesisEndpoint != "" {
			cfg.Credentials = awsenv.WithPlaceholder(cfg.Credentials, "worker") // local emulators accept any key
		}
		api = client.NewFromConfig(cfg, func(o *client.Options) {
			if c.SyncEndpoint != "" {
				o.BaseEndpoint = aws.String(c.SyncEndpoint)
			}
		})
		db, err := openCheckpointDB(ctx, c)
		if err != nil {
			return err
		}
		defer db.Close()
		cps, err := checkpoint.New(ctx, checkpoint.Config{DB: db})
		if err != nil {
			return err
		}
		sm = newStreamMetrics(c.Stream)
		reg.MustRegister(sm)
		subscriber = kinesisSubscribers(c, cfg, cps, sm, wlog)
	}

	router, err := pipeline.NewRouter(pipeline.RouterConfig{
		Topic: c.Stream, Routes: c.routes(), Sinks: sinks, Subscriber: subscriber, Poison: poison,
		Decoder:  pipeline.StreamRecordDecoder(decodeHTTP),
		Backoff:  pipeline.Backoff{Initial: c.RetryInitial, Max: c.RetryMax},
		ShardKey: stream.MetadataShardID, CloseTimeout: c.ShutdownTimeout, Registerer: reg,
		BatchSize: c.BatchSize, BatchLinger: routerLinger(c.BatchLinger),
	}, wlog)
	if err != nil {
		return err
	}
	if sm != nil {
		sm.router = router
	}
	bulk, err := pipeline.NewBulkPublisher(pipeline.BulkConfig{Client: api, Registerer: reg})
	if err != nil {
		return err
	}

	var routerDone atomic.Bool
	mln, err := net.Listen("tcp", c.MetricsListen)
	if err != nil {
		return fmt.Errorf("listen for metrics (--metrics-listen): %w", err)
	}
	ops := &http.Server{Handler: opsMux(reg, router, &routerDone), ReadHeaderTimeout: 10 * time.Second}
	log.Info("worker starting", "mode", c.Mode, "stream", c.Stream, "metrics", "http://"+mln.Addr().String()+"/metrics",
		"routes", len(c.routes()), "sinks", strings.Join(sinkNames(sinks), ","), "version", buildinfo.Version())

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serve(ops, mln) })
	if emb != nil {
		// The sync API, its forwarder and bulk runner; it shuts its HTTP
		// server down gracefully when gctx ends.
		g.Go(func() error { return emb.srv.Run(gctx) })
		printEmbedded(stdout, c, emb)
	}
	g.Go(func() error {
		defer routerDone.Store(true)
		err := router.Run(gctx)
		if err == nil && gctx.Err() == nil {
			return errors.New("router stopped: every route's subscription ended")
		}
		return err
	})
	g.Go(func() error {
		select {
		case <-router.Running():
		case <-gctx.Done():
			return nil
		}
		return startJobs(gctx, c, emb, bulk, reg, stdout, log)
	})
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down", "timeout", c.ShutdownTimeout)
		var errs []error
		if err := router.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close router: %w", err))
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), c.ShutdownTimeout)
		defer cancel()
		if err := ops.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown: %w", err))
		}
		return errors.Join(errs...)
	})
	err = g.Wait()
	log.Info("stopped")
	return err
}

// routerLinger maps --batch-linger to the router's: 0 there is a default,
// here no wait.
func routerLinger(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// openCheckpointDB opens the remote mode's checkpoint and lease database:
// --database-url, or SQLite in --data (created then, and only then).
func openCheckpointDB(ctx context.Context, c Config) (*sqldb.Handle, error) {
	url := c.DatabaseURL
	if url == "" {
		if err := ensureDataDir(c.DataDir); err != nil {
			return nil, err
		}
		url = filepath.Join(c.DataDir, "worker.db")
	}
	db, err := sqldb.Open(ctx, sqldb.Config{URL: url})
	if err != nil {
		return nil, fmt.Errorf("open checkpoint database: %w", err)
	}
	return db, nil
}

// ensureDataDir creates --data for something that keeps files there.
func ensureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory (--data %s): %w; point --data at a writable directory", dir, err)
	}
	return nil
}

// startJobs runs the demo and the bulk publishes once the router consumes:
// consumption starts at once, the overlap of bulk and live records is
// absorbed by the idempotent sinks. Progress goes to stdout when it is a
// terminal or in the demo, and then is not logged again (at debug only);
// otherwise each event is logged.
func startJobs(ctx context.Context, c Config, emb *embedded, bulk *pipeline.BulkPublisher, reg prometheus.Gatherer, stdout io.Writer, log *slog.Logger) error {
	pools := c.Pools
	if emb != nil && len(pools) == 0 {
		pools = []string{emb.info.Pool}
	}
	bulkPublish := c.BulkPublish
	if c.Demo && emb != nil {
		seeded, err := emb.writeDemo(ctx)
		if err != nil {
			return err
		}
		emb.srv.Notify() // the forwarder streams the in-process writes now
		if seeded.records > 0 {
			fmt.Fprintf(stdout, "demo: wrote %s in %s of %s in pool %s; bulk-publishing the pool\n",
				plural(float64(seeded.records), "record"), plural(float64(seeded.datasets), "dataset"),
				plural(float64(seeded.identities), "identity"), emb.info.Pool)
		} else {
			fmt.Fprintf(stdout, "demo: pool %s already holds data (%d bytes); keeping it, not writing demo data (remove %s to start over)\n",
				emb.info.Pool, seeded.existingBytes, c.DataDir)
		}
		bulkPublish = true
	}
	if !bulkPublish {
		return nil
	}
	show := isTerminal(stdout) || c.Demo
	level := slog.LevelInfo
	if show {
		level = slog.LevelDebug // on the terminal already
	}
	for _, pool := range pools {
		start := deliveredSoFar(reg)
		progress := func(p pipeline.BulkProgress) {
			st := p.Details.BulkPublishStatus
			switch {
			case st == "":
				st = "requested"
			case p.Event == pipeline.BulkAlreadyDone:
				st += " (a bulk publish done within the last 24 h; not run again)"
			case p.Event == pipeline.BulkAlreadyRunning:
				st += " (already running; following it)"
			}
			got := deliveredSoFar(reg).since(start)
			if show {
				fmt.Fprintf(stdout, "bulk publish %s: %s after %s; delivered so far: %s\n", p.Pool, st, p.Elapsed.Round(time.Millisecond), got)
			}
			log.Log(ctx, level, "bulk publish", "identity_pool", p.Pool, "event", string(p.Event), "status", p.Details.BulkPublishStatus,
				"elapsed", p.Elapsed.Round(time.Millisecond), "polls", p.Polls, "delivered", got, "failure", p.Details.FailureMessage)
		}
		if _, err := bulk.Run(ctx, pool, progress); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Not fatal: live consumption goes on; the metric and the
			// CognitosyncBulkPublishFailed alert report it.
			log.Error("bulk publish did not succeed", "identity_pool", pool, "err", err)
		}
	}
	if c.Demo && emb != nil {
		fmt.Fprintf(stdout, `
demo: the pool's records are in %s as JSON lines, one per change.
Make a live update from another terminal; it appears there within a second:

    go run ./cmd/worker put --data %s settings theme blue

or point any AWS SDK at %s (region %s, developer key %s, secret in %s).
Logs are on stderr at warn level (--log-level info shows more).
`, c.OutDir, c.DataDir, emb.info.Endpoint, emb.info.Region, emb.info.AccessKeyID, filepath.Join(c.DataDir, embeddedState))
	}
	return nil
}

// printEmbedded tells the person at the terminal where the embedded
// service is. A developer key generated by this run is printed once, here;
// a kept one is only pointed to.
func printEmbedded(w io.Writer, c Config, e *embedded) {
	key := fmt.Sprintf("%s (secret in %s)", e.info.AccessKeyID, filepath.Join(c.DataDir, embeddedState))
	if e.generatedKey {
		key = fmt.Sprintf("%s:%s (new; kept in %s)", e.info.AccessKeyID, e.info.SecretAccessKey, filepath.Join(c.DataDir, embeddedState))
	}
	fmt.Fprintf(w, `embedded Cognito Sync at %s (region %s)
  developer key: %s
  pool %s streams to the in-process stream %q
  changes go to %s; poisoned messages to %s
`, e.info.Endpoint, e.info.Region, key, e.info.Pool, c.Stream, c.OutDir, c.PoisonFile)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func sinkNames(m map[string]pipeline.Sink) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	return out
}

func serve(s *http.Server, ln net.Listener) error {
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// opsMux serves /metrics, /healthz (the process works: the router has not
// stopped) and /readyz (every route is subscribed and consuming).
func opsMux(reg prometheus.Gatherer, router *pipeline.Router, done *atomic.Bool) http.Handler {
	m := http.NewServeMux()
	m.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if done.Load() {
			http.Error(w, "router stopped", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	m.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-router.Running():
		default:
			http.Error(w, "routes not subscribed yet", http.StatusServiceUnavailable)
			return
		}
		if done.Load() {
			http.Error(w, "router stopped", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return m
}

// healthcheck GETs /healthz on --metrics-listen (the container image has no
// shell or curl): exit 0 on 200, an error (exit 1) otherwise.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c, _, err := parseConfig("worker healthcheck", args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(c.MetricsListen)
	if err != nil {
		return fmt.Errorf("--metrics-listen %q: %w", c.MetricsListen, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("healthcheck: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// put writes one record through the embedded service of a running worker
// (found in <data>/embedded.json), over HTTP as any SDK would.
func put(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker put", flag.ContinueOnError)
	data := fs.String("data", func() string {
		if v := getenv("COGNITOSYNC_DATA"); v != "" {
			return v
		}
		return "./data"
	}(), "data directory of the running embedded worker [COGNITOSYNC_DATA]")
	identity := fs.String("identity", demoIdentity, "identity id to write as")
	pool := fs.String("pool", "", "identity pool id (default: the embedded worker's first pool)")
	const line = "Usage: worker put [--data DIR] [--identity ID] [--pool ID] DATASET KEY VALUE"
	u := cliconfig.Usage{Head: line + "\n\nWrites one record through the embedded Cognito Sync service of a running worker.\n\nFlags:\n", Line: line}
	if err := cliconfig.Parse(fs, args, u, stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 3 {
		return fmt.Errorf("put needs DATASET KEY VALUE\n%s", line)
	}
	info := loadEmbeddedInfo(*data)
	if info.Endpoint == "" {
		return fmt.Errorf("no embedded worker found in %s (start one with: go run ./cmd/worker --demo)", *data)
	}
	if *pool == "" {
		*pool = info.Pool
	}
	rec, err := putRecord(ctx, clientFor(info), *pool, *identity, fs.Arg(0), fs.Arg(1), fs.Arg(2))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "put %s/%s %s=%q (syncCount %d) via %s\n", *identity, fs.Arg(0), rec.Key, fs.Arg(2), rec.SyncCount, info.Endpoint)
	return nil
}
