package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cognitosync/cognitosync/internal/buildinfo"
	"github.com/cognitosync/cognitosync/internal/cliconfig"
	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/jsonl"
	"github.com/cognitosync/cognitosync/sinks/postgres"
	"github.com/cognitosync/cognitosync/sinks/syncd"
	"github.com/cognitosync/cognitosync/sinks/webhook"
)

// Modes (--mode).
const (
	modeAuto     = "auto"     // embedded unless --sync-endpoint, --kinesis-endpoint or --stream is set
	modeEmbedded = "embedded" // sync service, stream and sinks in this process
	modeRemote   = "remote"   // Cognito Sync (AWS or syncd) and Kinesis (AWS or compatible)
)

// Config is the worker's configuration, from flags with environment
// fallbacks and an optional YAML file for routes and sinks. It is the only
// place that reads flags, environment variables and that file.
type Config struct {
	// Service holds the flags of the sync service the embedded mode runs
	// (limits, TTLs, developer keys, SyncTrigger, …), shared with syncd;
	// its Region and Pools serve the remote mode too.
	cliconfig.Service
	Mode            string
	ConfigFile      string
	SyncEndpoint    string
	KinesisEndpoint string
	Stream          string
	BulkPublish     bool
	MetricsListen   string
	DataDir         string
	ConsumerGroup   string
	DatabaseURL     string
	StartAt         string
	Sinks           []string
	OutDir          string
	WebhookURL      string
	WebhookSecret   string
	SyncdStore      string
	PoisonFile      string
	RetryInitial    time.Duration
	RetryMax        time.Duration
	Listen          string
	Demo            bool
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	// Batches: changes per sink write, how long a batch waits for more,
	// and the window of un-acked messages per shard.
	BatchSize        int
	BatchLinger      time.Duration
	MaxInFlight      int
	MaxInFlightBytes int
	// KinesisPacing ("aws" or "off") paces GetRecords to Kinesis'
	// per-shard read quotas, or not.
	KinesisPacing string
	// KinesisGetRecordsLimit is the records asked per GetRecords.
	KinesisGetRecordsLimit int

	// From --config: nil when no file is given (one route "default" to
	// Sinks).
	File *FileConfig

	// getenv is the environment parseConfig read, for settings that name an
	// environment variable (a sink's secret_env).
	getenv func(string) string
}

// FileConfig is the YAML (or JSON) file of --config.
type FileConfig struct {
	Sinks  []SinkEntry      `yaml:"sinks"`
	Routes []pipeline.Route `yaml:"routes"`
}

// SinkEntry is one named sink of the file: its name, its type (a name in
// sinkTypes) and the settings that type defines.
type SinkEntry struct {
	pipeline.SinkHeader
	Spec pipeline.SinkSpec
}

// nodeOf keeps the YAML node it is decoded from.
type nodeOf struct{ n *yaml.Node }

func (c *nodeOf) UnmarshalYAML(n *yaml.Node) error {
	c.n = n
	return nil
}

// UnmarshalYAML looks the entry's type up in sinkTypes and lets the type
// decode the entry. It uses the unmarshal function (not a yaml.Node) so the
// file decoder's settings apply: unknown fields fail, with their line.
func (e *SinkEntry) UnmarshalYAML(unmarshal func(any) error) error {
	var c nodeOf
	if err := unmarshal(&c); err != nil {
		return err
	}
	n := c.n
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a sink is a mapping with name:, type: and the settings of its type", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "name":
			e.Name = n.Content[i+1].Value
		case "type":
			e.Type = n.Content[i+1].Value
		}
	}
	t, ok := sinkType(e.Type)
	if !ok {
		return fmt.Errorf("line %d: sink %q: type must be one of %s, got %q", n.Line, e.Name, sinkTypeNames(), e.Type)
	}
	spec, err := t.Decode(unmarshal)
	if err != nil {
		return err
	}
	e.Spec = spec
	return nil
}

const usageHead = `worker: streams every Cognito Sync change to your systems (version ` + "%s" + `).

It reads a pool's Cognito stream (Kinesis, or the in-process stream of the
embedded mode), routes each change by pool, identity, dataset, key and
operation, and writes it to sinks (JSON Lines files, PostgreSQL, webhooks, NATS
JetStream; see --config), checkpointing only what every sink of a route
accepted. With --bulk-publish it first asks Cognito Sync to publish every
existing dataset and follows the job.

With no endpoint and no --stream it runs the embedded default: the sync service
in-process (SQLite in --data, served to SDKs on --listen), the in-process
stream and a JSONL file sink in --data/out. Try: worker --demo

Usage:
  worker [flags]            run
  worker healthcheck        GET this worker's /healthz on --metrics-listen; exit 0 when healthy
  worker put [flags] DATASET KEY VALUE
                            write one record through the embedded sync service (see --demo)

Every flag can also be set by the environment variable shown in brackets; a
flag on the command line wins, and a list flag (--sinks, --pool,
--developer-key) replaces the variable's list and the default.

Files are written only under --data, and only what needs them: the embedded
mode's databases, SQLite checkpoints without --database-url, the jsonl sink
and a --poison-file. The remote mode with --database-url and no jsonl sink
writes nothing to disk. Listen addresses default to loopback; the container
image sets COGNITOSYNC_LISTEN=:8080 and COGNITOSYNC_METRICS_LISTEN=:9090.

Flags:
`

// usageLine follows a flag error.
const usageLine = "Usage: worker [flags] | worker healthcheck | worker put DATASET KEY VALUE; worker --help lists the flags"

// Poison outputs (--poison-file) that write JSON lines to stderr.
const (
	poisonStderr     = "stderr"
	poisonStderrDash = "-"
)

// parseConfig reads flags from args and the environment through getenv;
// --help and --version print to stdout and return flag.ErrHelp.
func parseConfig(name string, args []string, getenv func(string) string, stdout io.Writer) (Config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var c Config
	env := cliconfig.NewEnv(getenv)
	fs.StringVar(&c.Mode, "mode", env.String("COGNITOSYNC_MODE", modeAuto),
		"auto, embedded or remote; auto is embedded unless --sync-endpoint, --kinesis-endpoint or --stream is set [COGNITOSYNC_MODE]")
	fs.StringVar(&c.ConfigFile, "config", env.String("COGNITOSYNC_CONFIG", ""),
		"YAML (or JSON) file with sinks: and routes: (see README); without it one route \"default\" sends everything to --sinks [COGNITOSYNC_CONFIG]")
	fs.StringVar(&c.SyncEndpoint, "sync-endpoint", env.String("COGNITOSYNC_SYNC_ENDPOINT", ""),
		"Cognito Sync endpoint, e.g. http://127.0.0.1:8080 for syncd (default in remote mode: AWS, credentials from the standard AWS chain) [COGNITOSYNC_SYNC_ENDPOINT]")
	fs.StringVar(&c.KinesisEndpoint, "kinesis-endpoint", env.String("COGNITOSYNC_KINESIS_ENDPOINT", ""),
		"Kinesis-compatible endpoint, e.g. http://127.0.0.1:4567 (default in remote mode: AWS Kinesis) [COGNITOSYNC_KINESIS_ENDPOINT]")
	fs.StringVar(&c.Stream, "stream", env.String("COGNITOSYNC_STREAM_NAME", ""),
		"the pool's Cognito stream (Kinesis stream name); required in remote mode (embedded default: cognito-sync-stream) [COGNITOSYNC_STREAM_NAME]")
	c.Service.Define(fs, env, cliconfig.ServiceNames{
		Prefix:      "COGNITOSYNC_",
		Scope:       "embedded mode: ",
		RegionHelp:  "AWS region of Cognito Sync and Kinesis; in embedded mode the region SDKs sign for",
		PoolsEnv:    "COGNITOSYNC_IDENTITY_POOLS",
		PoolsHelp:   "identity pool id, repeatable: bulk-published with --bulk-publish; in embedded mode created with streaming on (default there: a demo pool)",
		KeysEnv:     "COGNITOSYNC_DEVELOPER_KEY",
		KeysDefault: "generated once, kept in <data>/embedded.json",
	})
	fs.BoolVar(&c.BulkPublish, "bulk-publish", env.Bool("COGNITOSYNC_BULK_PUBLISH"),
		"at start-up call BulkPublish for every --pool and follow it to SUCCEEDED/FAILED (consumption starts at once) [COGNITOSYNC_BULK_PUBLISH]")
	fs.StringVar(&c.MetricsListen, "metrics-listen", env.String("COGNITOSYNC_METRICS_LISTEN", "127.0.0.1:9090"),
		"address of /metrics, /healthz and /readyz [COGNITOSYNC_METRICS_LISTEN]")
	fs.StringVar(&c.DataDir, "data", env.String("COGNITOSYNC_DATA", "./data"),
		"directory of the embedded mode's databases, checkpoints without --database-url, JSONL output and the poison file;\ncreated only when one of them needs it (remote mode with --database-url and no jsonl sink writes no file) [COGNITOSYNC_DATA]")
	fs.StringVar(&c.ConsumerGroup, "consumer-group", env.String("COGNITOSYNC_CONSUMER_GROUP", "cognitosync-worker"),
		"checkpoint namespace; each route reads as <group>.<route>, so checkpoints are per route [COGNITOSYNC_CONSUMER_GROUP]")
	fs.StringVar(&c.DatabaseURL, "database-url", env.String("COGNITOSYNC_DATABASE_URL", ""),
		"postgres:// URL for checkpoints and shard leases (shared by workers), the embedded stream log, and the postgres sink (default: SQLite in --data) [COGNITOSYNC_DATABASE_URL]")
	fs.StringVar(&c.StartAt, "start-at", env.String("COGNITOSYNC_START_AT", "trim-horizon"),
		"where a route without checkpoint starts reading a shard: trim-horizon (all retained records) or latest [COGNITOSYNC_START_AT]")
	var sinks cliconfig.List
	cliconfig.ListVar(fs, &sinks, "sinks", env.String("COGNITOSYNC_SINKS", "jsonl"),
		"sinks of the default route (without --config): jsonl, postgres, webhook, syncd; comma-separated or repeated, replacing the default jsonl [COGNITOSYNC_SINKS]")
	fs.StringVar(&c.OutDir, "out", env.String("COGNITOSYNC_OUT", ""),
		"directory of the jsonl sink (default: <data>/out) [COGNITOSYNC_OUT]")
	fs.StringVar(&c.WebhookURL, "webhook-url", env.String("COGNITOSYNC_WEBHOOK_URL", ""),
		"URL of the webhook sink [COGNITOSYNC_WEBHOOK_URL]")
	fs.StringVar(&c.WebhookSecret, "webhook-secret", env.String("COGNITOSYNC_WEBHOOK_SECRET", ""),
		"HMAC-SHA256 key of the webhook sink [COGNITOSYNC_WEBHOOK_SECRET]")
	fs.StringVar(&c.SyncdStore, "syncd-store", env.String("COGNITOSYNC_SYNCD_STORE", ""),
		"store of the syncd sink, which keeps a syncd copy of the source pool current for a move off AWS: a postgres:// URL\n(syncd's --store) or syncd's --data directory (SQLite) [COGNITOSYNC_SYNCD_STORE]")
	fs.StringVar(&c.PoisonFile, "poison-file", env.String("COGNITOSYNC_POISON_FILE", ""),
		"where poisoned messages go, one JSON line each with its reason: a file, or stderr (also -) to log them\n(default: <data>/poison.jsonl in embedded mode, stderr in remote mode) [COGNITOSYNC_POISON_FILE]")
	fs.DurationVar(&c.RetryInitial, "retry-initial", env.Duration("COGNITOSYNC_RETRY_INITIAL", 200*time.Millisecond),
		"first wait before retrying a failing sink; doubles per retry [COGNITOSYNC_RETRY_INITIAL]")
	fs.DurationVar(&c.RetryMax, "retry-max", env.Duration("COGNITOSYNC_RETRY_MAX", 30*time.Second),
		"longest wait between retries of a failing sink (a down sink is retried until it is back) [COGNITOSYNC_RETRY_MAX]")
	fs.StringVar(&c.Listen, "listen", env.String("COGNITOSYNC_LISTEN", "127.0.0.1:8080"),
		"embedded mode: address the in-process Cognito Sync and Cognito Identity APIs (and syncd's /metrics and /healthz) are served on, for SDKs [COGNITOSYNC_LISTEN]")
	fs.BoolVar(&c.Demo, "demo", env.Bool("COGNITOSYNC_DEMO"),
		"embedded mode: write demo datasets, bulk-publish them and print how to make live updates [COGNITOSYNC_DEMO]")
	fs.StringVar(&c.LogLevel, "log-level", env.String("COGNITOSYNC_LOG_LEVEL", ""),
		"debug, info, warn or error (default: info; warn with --demo, whose progress is on stdout) [COGNITOSYNC_LOG_LEVEL]")
	fs.StringVar(&c.LogFormat, "log-format", env.String("COGNITOSYNC_LOG_FORMAT", "text"), "text or json [COGNITOSYNC_LOG_FORMAT]")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", env.Duration("COGNITOSYNC_SHUTDOWN_TIMEOUT", 30*time.Second),
		"how long to let in-flight messages (and in embedded mode API requests) finish on SIGTERM/SIGINT [COGNITOSYNC_SHUTDOWN_TIMEOUT]")
	fs.IntVar(&c.BatchSize, "batch-size", int(env.Int("COGNITOSYNC_BATCH_SIZE", 1000)),
		"changes a route collects into one batch: one transaction, fsync or request per sink [COGNITOSYNC_BATCH_SIZE]")
	fs.DurationVar(&c.BatchLinger, "batch-linger", env.Duration("COGNITOSYNC_BATCH_LINGER", 10*time.Millisecond),
		"how long a batch that is not full waits for more changes before it is written; 0: write as soon as the sinks are free\n(while they write, the next batch collects anyway) [COGNITOSYNC_BATCH_LINGER]")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", int(env.Int("COGNITOSYNC_MAX_IN_FLIGHT", 500)),
		"stream records per shard and route read ahead and not yet acknowledged; the checkpoint only passes acknowledged ones [COGNITOSYNC_MAX_IN_FLIGHT]")
	fs.IntVar(&c.MaxInFlightBytes, "max-in-flight-bytes", int(env.Int("COGNITOSYNC_MAX_IN_FLIGHT_BYTES", 4<<20)),
		"bytes of stream records per shard and route read ahead and not yet acknowledged [COGNITOSYNC_MAX_IN_FLIGHT_BYTES]")
	fs.StringVar(&c.KinesisPacing, "kinesis-pacing", env.String("COGNITOSYNC_KINESIS_PACING", "aws"),
		"aws: pace GetRecords to Kinesis' per-shard read quotas (5 calls/s, 2 MiB/s, shared by every consumer of a shard);\noff: read as fast as the endpoint answers, for a Kinesis-compatible endpoint without quotas such as kinesalite [COGNITOSYNC_KINESIS_PACING]")
	fs.IntVar(&c.KinesisGetRecordsLimit, "kinesis-get-records-limit", int(env.Int("COGNITOSYNC_KINESIS_GET_RECORDS_LIMIT", 500)),
		"records asked per GetRecords (1 to 10000); a shard's responses are held in memory until acknowledged, so larger\nmeans more memory; at Kinesis' 5 calls/s per shard, 500 records of 800 bytes already reach its 2 MiB/s [COGNITOSYNC_KINESIS_GET_RECORDS_LIMIT]")
	u := cliconfig.Usage{Head: fmt.Sprintf(usageHead, buildinfo.Version()), Line: usageLine}
	if err := cliconfig.Parse(fs, args, u, stdout); err != nil {
		return c, fs, err
	}
	c.Sinks, c.getenv = sinks, getenv
	if err := env.Err(); err != nil {
		return c, fs, err
	}
	if c.ConfigFile != "" {
		f, err := readFileConfig(c.ConfigFile)
		if err != nil {
			return c, fs, err
		}
		c.File = f
	}
	c.setDefaults()
	return c, fs, nil
}

func (c *Config) setDefaults() {
	if c.Mode == modeAuto {
		c.Mode = modeEmbedded
		if c.SyncEndpoint != "" || c.KinesisEndpoint != "" || c.Stream != "" {
			c.Mode = modeRemote
		}
	}
	if c.Mode == modeEmbedded && c.Stream == "" {
		c.Stream = "cognito-sync-stream"
	}
	if c.OutDir == "" {
		c.OutDir = filepath.Join(c.DataDir, "out")
	}
	if c.PoisonFile == "" {
		// The remote mode needs no disk (a read-only container): its
		// poisoned messages are logged unless a file is configured.
		c.PoisonFile = poisonStderr
		if c.Mode == modeEmbedded {
			c.PoisonFile = filepath.Join(c.DataDir, "poison.jsonl")
		}
	}
	if c.PoisonFile == poisonStderrDash {
		c.PoisonFile = poisonStderr
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
		if c.Demo {
			c.LogLevel = "warn"
		}
	}
}

func readFileConfig(path string) (*FileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	var f FileConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("--config %s: %w", path, err)
	}
	return &f, nil
}

// Validate reports every invalid setting at once.
func (c Config) Validate() error {
	var errs []error
	switch c.Mode {
	case modeEmbedded, modeRemote:
	default:
		errs = append(errs, fmt.Errorf("--mode must be auto, embedded or remote, got %q", c.Mode))
	}
	if c.Mode == modeRemote {
		if c.Stream == "" {
			errs = append(errs, errors.New("--stream is required in remote mode"))
		}
		if c.Demo {
			errs = append(errs, errors.New("--demo needs the embedded mode (no --sync-endpoint, --kinesis-endpoint or --stream)"))
		}
		if c.BulkPublish && len(c.Pools) == 0 {
			errs = append(errs, errors.New("--bulk-publish needs --pool"))
		}
	}
	for name, u := range map[string]string{"--sync-endpoint": c.SyncEndpoint, "--kinesis-endpoint": c.KinesisEndpoint} {
		if u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			errs = append(errs, fmt.Errorf("%s must be an http:// or https:// URL, got %q", name, u))
		}
	}
	if c.StartAt != "trim-horizon" && c.StartAt != "latest" {
		errs = append(errs, fmt.Errorf("--start-at must be trim-horizon or latest, got %q", c.StartAt))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data is required"))
	}
	if c.MetricsListen == "" {
		errs = append(errs, errors.New("--metrics-listen is required (the health check uses it)"))
	}
	errs = append(errs, c.Service.Validate()...)
	if c.BatchSize <= 0 || c.MaxInFlight <= 0 || c.MaxInFlightBytes <= 0 {
		errs = append(errs, errors.New("--batch-size, --max-in-flight and --max-in-flight-bytes must be positive"))
	}
	if c.KinesisGetRecordsLimit < 1 || c.KinesisGetRecordsLimit > 10000 {
		errs = append(errs, fmt.Errorf("--kinesis-get-records-limit must be 1 to 10000, got %d", c.KinesisGetRecordsLimit))
	}
	if c.KinesisPacing != "aws" && c.KinesisPacing != "off" {
		errs = append(errs, fmt.Errorf("--kinesis-pacing must be aws or off, got %q", c.KinesisPacing))
	}
	if c.BatchLinger < 0 {
		errs = append(errs, errors.New("--batch-linger must not be negative"))
	}
	if c.RetryInitial <= 0 || c.RetryMax < c.RetryInitial {
		errs = append(errs, errors.New("--retry-initial must be positive and at most --retry-max"))
	}
	if c.File == nil {
		for _, s := range c.Sinks {
			if _, _, ok := flagSink(s); !ok {
				errs = append(errs, fmt.Errorf("--sinks: unknown sink %q (jsonl, postgres, webhook, syncd; other types need --config)", s))
			}
		}
		if len(c.Sinks) == 0 {
			errs = append(errs, errors.New("--sinks is empty"))
		}
	} else {
		names := map[string]bool{}
		for _, s := range c.File.Sinks {
			if s.Name == "" || names[s.Name] {
				errs = append(errs, fmt.Errorf("--config: sink names must be set and unique, got %q", s.Name))
			}
			names[s.Name] = true
		}
		if err := (pipeline.RouteTable{Routes: c.File.Routes}).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("--config: %w", err))
		}
		for _, r := range c.File.Routes {
			for _, s := range r.Sinks {
				if !names[s] {
					errs = append(errs, fmt.Errorf("--config: route %q names unknown sink %q", r.Name, s))
				}
			}
		}
	}
	for _, e := range c.sinkEntries() {
		err := e.Spec.Validate(c.sinkDeps(e.Name))
		switch {
		case err == nil:
		case c.File != nil:
			errs = append(errs, eachPrefixed(fmt.Sprintf("--config: sink %q: ", e.Name), err)...)
		default:
			_, flags, _ := flagSink(e.Name)
			errs = append(errs, eachPrefixed(fmt.Sprintf("--sinks %s (set %s): ", e.Name, flags), err)...)
		}
	}
	errs = append(errs, cliconfig.ValidateLog(c.LogLevel, c.LogFormat)...)
	return errors.Join(errs...)
}

// eachPrefixed returns the errors err joins (or err), each prefixed, so
// that every line of the joined result names what it is about.
func eachPrefixed(prefix string, err error) []error {
	var out []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, eachPrefixed(prefix, e)...)
		}
		return out
	}
	return []error{fmt.Errorf("%s%w", prefix, err)}
}

// routes returns the route table: the file's, or one route "default" with
// every change to --sinks.
func (c Config) routes() []pipeline.Route {
	if c.File != nil {
		return c.File.Routes
	}
	return []pipeline.Route{{Name: "default", Sinks: c.Sinks}}
}

// sinkEntries returns the sinks to build: the file's, or --sinks from
// flags.
func (c Config) sinkEntries() []SinkEntry {
	if c.File != nil {
		return c.File.Sinks
	}
	var out []SinkEntry
	for _, name := range c.Sinks {
		if spec, _, ok := flagSink(name); ok {
			out = append(out, SinkEntry{SinkHeader: pipeline.SinkHeader{Name: name, Type: name}, Spec: spec(c)})
		}
	}
	return out
}

// flagSink returns how --sinks NAME builds its sink's spec from flags, and
// the flags it reads.
func flagSink(name string) (spec func(Config) pipeline.SinkSpec, flags string, ok bool) {
	switch name {
	case "jsonl":
		return func(c Config) pipeline.SinkSpec { return jsonl.Spec{Dir: c.OutDir} }, "--out", true
	case "postgres":
		// The sink's URL defaults to the worker's database.
		return func(Config) pipeline.SinkSpec { return postgres.Spec{} }, "--database-url", true
	case "webhook":
		return func(c Config) pipeline.SinkSpec { return webhook.Spec{URL: c.WebhookURL, Secret: c.WebhookSecret} },
			"--webhook-url, --webhook-secret", true
	case "syncd":
		return func(c Config) pipeline.SinkSpec { return syncd.Spec{Store: c.SyncdStore} }, "--syncd-store", true
	}
	return nil, "", false
}

// sinkDeps are the dependencies of the sink name, without metrics and log.
func (c Config) sinkDeps(name string) pipeline.SinkDeps {
	getenv := c.getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	return pipeline.SinkDeps{Name: name, Getenv: getenv, DatabaseURL: c.DatabaseURL}
}
