package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cognitosync/cognitosync/internal/buildinfo"
	"github.com/cognitosync/cognitosync/internal/cliconfig"
)

// Config is syncd's configuration, from flags with environment fallbacks.
// It is the only place that reads flags and environment variables.
type Config struct {
	// Service holds the flags of the sync service (region, pools, developer
	// keys, account id, TTLs, limits, SyncTrigger), shared with the
	// worker's embedded mode.
	cliconfig.Service
	Listen        string
	MetricsListen string
	// Storage is --data (SQLite) or --store (PostgreSQL), shared with
	// `syncd import`.
	cliconfig.Storage
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	// Stream is "kinesis" (forward the outbox and run bulk publish to
	// Kinesis) or "none" (stream.go).
	Stream string
	// KinesisEndpoint is a Kinesis-compatible endpoint; "": AWS through the
	// standard AWS configuration.
	KinesisEndpoint string
	// PoolStream, when set, turns the Cognito stream of every --pool on at
	// start-up, to this stream name.
	PoolStream string
	// S3Bucket receives stream payloads too large for one Kinesis record;
	// S3Endpoint is an S3-compatible endpoint ("": AWS S3).
	S3Bucket, S3Endpoint string
}

const usageHead = `syncd: a self-hosted Amazon Cognito Sync server (version ` + "%s" + `).

Any official AWS SDK pointed at syncd's endpoint works unchanged: the 17
Cognito Sync operations (rest-json, SigV4) and the Cognito Identity calls that
SDK credential providers make (GetId, GetCredentialsForIdentity) are served on
one listener. Data lives in SQLite under --data, or in PostgreSQL with --store.

Usage: syncd [flags]
       syncd import --from URL --pool ID [flags]   copy a pool from AWS or another syncd (syncd import --help)
       syncd rotate-signing-key [--data DIR | --store URL]

rotate-signing-key adds a new key for the OpenID tokens syncd signs for
logged-in users and exits: running syncd sign with it within a minute, and the
previous key keeps verifying until the next rotation.

Every flag can also be set by the environment variable shown in brackets; a
flag on the command line wins, and a list flag (--pool, --developer-key)
replaces the variable's list. Listen addresses default to loopback
(127.0.0.1); the container image sets SYNCD_LISTEN=:8080 to serve on every
interface. Streaming is off unless --stream kinesis or --kinesis-endpoint is
set, so a bare syncd never calls AWS.

Flags:
`

// usageLine follows a flag error.
const usageLine = "Usage: syncd [flags]; syncd --help lists them"

// parseConfig reads flags from args and the environment through getenv;
// --help and --version print to stdout and return flag.ErrHelp.
func parseConfig(args []string, getenv func(string) string, stdout io.Writer) (Config, error) {
	fs := flag.NewFlagSet("syncd", flag.ContinueOnError)
	var c Config
	env := cliconfig.NewEnv(getenv)
	fs.StringVar(&c.Listen, "listen", env.String("SYNCD_LISTEN", "127.0.0.1:8080"),
		"address to serve the Cognito Sync and Cognito Identity APIs, /metrics and /healthz on [SYNCD_LISTEN]")
	fs.StringVar(&c.MetricsListen, "metrics-listen", env.String("SYNCD_METRICS_LISTEN", ""),
		"also serve /metrics and /healthz on this address, e.g. :9090 (default: only on --listen) [SYNCD_METRICS_LISTEN]")
	c.Storage.Define(fs, env, "SYNCD_")
	c.Service.Define(fs, env, cliconfig.ServiceNames{
		Prefix:     "SYNCD_",
		RegionHelp: "region clients sign for, and the prefix of new pool and identity ids",
		PoolsHelp: "create this identity pool at start-up if it does not exist (unauthenticated identities allowed), repeatable;\n" +
			"e.g. us-east-1:0c1ba052-e098-41fa-a76e-eaa2c125f861 keeps the id your apps embed",
		KeysDefault: "a random key printed at start-up",
	})
	fs.StringVar(&c.LogLevel, "log-level", env.String("SYNCD_LOG_LEVEL", "info"), "debug, info, warn or error [SYNCD_LOG_LEVEL]")
	fs.StringVar(&c.LogFormat, "log-format", env.String("SYNCD_LOG_FORMAT", "text"), "text or json [SYNCD_LOG_FORMAT]")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", env.Duration("SYNCD_SHUTDOWN_TIMEOUT", 15*time.Second),
		"how long to let in-flight requests finish on SIGTERM/SIGINT [SYNCD_SHUTDOWN_TIMEOUT]")
	fs.StringVar(&c.Stream, "stream", env.String("SYNCD_STREAM", ""),
		"Cognito Streams: kinesis publishes changes of pools with StreamingStatus ENABLED (and BulkPublish) to Kinesis\n(AWS, or --kinesis-endpoint); none keeps them in the outbox until a syncd with a stream runs\n(default: kinesis when --kinesis-endpoint is set, else none) [SYNCD_STREAM]")
	fs.StringVar(&c.KinesisEndpoint, "kinesis-endpoint", env.String("SYNCD_KINESIS_ENDPOINT", ""),
		"URL of a Kinesis-compatible endpoint, e.g. http://127.0.0.1:4567 (kinesalite)\n(default: AWS Kinesis, configured by the standard AWS environment) [SYNCD_KINESIS_ENDPOINT]")
	fs.StringVar(&c.PoolStream, "pool-stream", env.String("SYNCD_POOL_STREAM", ""),
		"at start-up turn the Cognito stream of every --pool on, to this Kinesis stream (as SetIdentityPoolConfiguration\nwould), e.g. for a local trial; needs streaming (--stream kinesis or --kinesis-endpoint) [SYNCD_POOL_STREAM]")
	fs.StringVar(&c.S3Bucket, "s3-bucket", env.String("SYNCD_S3_BUCKET", ""),
		"S3 bucket for stream records larger than one Kinesis record (sent as payloadType S3Url with a pre-signed URL);\nwithout it such a change waits in the outbox [SYNCD_S3_BUCKET]")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", env.String("SYNCD_S3_ENDPOINT", ""),
		"URL of an S3-compatible endpoint for --s3-bucket (path-style) (default: AWS S3) [SYNCD_S3_ENDPOINT]")
	u := cliconfig.Usage{Head: fmt.Sprintf(usageHead, buildinfo.Version()), Line: usageLine}
	if err := cliconfig.Parse(fs, args, u, stdout); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q\n%s", fs.Args(), usageLine)
	}
	if err := env.Err(); err != nil {
		return c, err
	}
	c.setDefaults()
	return c, c.Validate()
}

// setDefaults resolves the defaults that depend on other settings.
func (c *Config) setDefaults() {
	if c.Stream == "" {
		c.Stream = streamNone
		if c.KinesisEndpoint != "" {
			c.Stream = streamKinesis
		}
	}
}

// Validate reports every invalid setting at once.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("--listen is required"))
	}
	errs = append(errs, c.Storage.Validate()...)
	errs = append(errs, c.Service.Validate()...)
	if c.Stream != streamKinesis && c.Stream != streamNone {
		errs = append(errs, fmt.Errorf("--stream must be kinesis or none, got %q", c.Stream))
	}
	if c.PoolStream != "" && len(c.Pools) == 0 {
		errs = append(errs, errors.New("--pool-stream needs --pool"))
	}
	for name, u := range map[string]string{"--kinesis-endpoint": c.KinesisEndpoint, "--s3-endpoint": c.S3Endpoint} {
		if u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			errs = append(errs, fmt.Errorf("%s must be an http:// or https:// URL, got %q", name, u))
		}
	}
	errs = append(errs, cliconfig.ValidateLog(c.LogLevel, c.LogFormat)...)
	return errors.Join(errs...)
}
