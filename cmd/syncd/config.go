package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cognitosync/cognitosync/internal/cliconfig"
)

// Config is syncd's configuration, from flags with environment fallbacks.
// It is the only place that reads flags and environment variables.
type Config struct {
	Listen          string
	MetricsListen   string
	DataDir         string
	StoreURL        string
	DeveloperKeys   map[string]string
	AccountID       string
	Region          string
	Pools           []string
	SessionTTL      time.Duration
	CredentialTTL   time.Duration
	MaxDatasets     int
	MaxRecords      int64
	MaxDatasetBytes int64
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	// LambdaEndpoint is the Lambda Invoke API endpoint for SyncTrigger
	// functions; "": AWS Lambda through the standard AWS configuration.
	LambdaEndpoint string
	// LambdaFunctionName, when set, is sent instead of every function ARN
	// (the Lambda Runtime Interface Emulator serves only "function").
	LambdaFunctionName string
	// Stream is "kinesis" (forward the outbox and run bulk publish to
	// Kinesis) or "none" (stream.go).
	Stream string
	// KinesisEndpoint is a Kinesis-compatible endpoint; "": AWS through the
	// standard AWS configuration.
	KinesisEndpoint string
	// S3Bucket receives stream payloads too large for one Kinesis record;
	// S3Endpoint is an S3-compatible endpoint ("": AWS S3).
	S3Bucket, S3Endpoint string
	// GCInterval is how often expired credentials (and idle guest
	// identities) are collected; GuestIdentityTTL is the age at which a
	// guest identity that never stored anything is deleted (0: never).
	GCInterval, GuestIdentityTTL time.Duration
	// CredentialCacheSize bounds the identity credentials held in memory.
	CredentialCacheSize int
	// SQLiteMaxBytes caps the SQLite database file (0: no cap).
	SQLiteMaxBytes int64
}

// keyList collects repeatable --developer-key ID:SECRET values.
type keyList map[string]string

func (k keyList) String() string { return fmt.Sprintf("%d keys", len(k)) }
func (k keyList) Set(v string) error {
	for _, kv := range strings.Split(v, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		id, secret, ok := strings.Cut(kv, ":")
		if !ok || id == "" || secret == "" {
			return fmt.Errorf("developer key %q: want ACCESS_KEY_ID:SECRET", kv)
		}
		k[id] = secret
	}
	return nil
}

const usageHead = `syncd: a self-hosted Amazon Cognito Sync server.

Any official AWS SDK pointed at syncd's endpoint works unchanged: the 17
Cognito Sync operations (rest-json, SigV4) and the Cognito Identity calls that
SDK credential providers make (GetId, GetCredentialsForIdentity) are served on
one listener. Data lives in SQLite under --data, or in PostgreSQL with --store.

Usage: syncd [flags]

Every flag can also be set by the environment variable shown in brackets; a
flag on the command line wins.

`

// parseConfig reads flags from args and the environment through getenv.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("syncd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := Config{DeveloperKeys: map[string]string{}}
	env := cliconfig.NewEnv(getenv)
	var pools cliconfig.List
	fs.StringVar(&c.Listen, "listen", env.String("SYNCD_LISTEN", "127.0.0.1:8080"),
		"address to serve the Cognito Sync and Cognito Identity APIs, /metrics and /healthz on [SYNCD_LISTEN]")
	fs.StringVar(&c.MetricsListen, "metrics-listen", env.String("SYNCD_METRICS_LISTEN", ""),
		"also serve /metrics and /healthz on this address, e.g. :9090 (default: only on --listen) [SYNCD_METRICS_LISTEN]")
	fs.StringVar(&c.DataDir, "data", env.String("SYNCD_DATA", "./data"),
		"directory for the SQLite database (created if missing); ignored with --store [SYNCD_DATA]")
	fs.StringVar(&c.StoreURL, "store", env.String("SYNCD_STORE", ""),
		"a postgres:// URL to keep data in PostgreSQL instead of SQLite; several syncd may share it [SYNCD_STORE]")
	keys := keyList(c.DeveloperKeys)
	if v := getenv("SYNCD_DEVELOPER_KEYS"); v != "" {
		if err := keys.Set(v); err != nil {
			return c, fmt.Errorf("SYNCD_DEVELOPER_KEYS: %w", err)
		}
	}
	fs.Var(keys, "developer-key",
		"developer credentials ACCESS_KEY_ID:SECRET, repeatable; developer-only operations need them\n(default: a random key printed at start-up) [SYNCD_DEVELOPER_KEYS, comma-separated]")
	fs.StringVar(&c.AccountID, "account-id", env.String("SYNCD_ACCOUNT_ID", "000000000000"),
		"AWS account id reported as LastModifiedBy for developer writes [SYNCD_ACCOUNT_ID]")
	fs.StringVar(&c.Region, "region", env.String("SYNCD_REGION", env.String("AWS_REGION", "us-east-1")),
		"region clients sign for, and the prefix of new pool and identity ids [SYNCD_REGION, AWS_REGION]")
	if v := getenv("SYNCD_POOLS"); v != "" {
		_ = pools.Set(v)
	}
	fs.Var(&pools, "pool",
		"create this identity pool at start-up if it does not exist (unauthenticated identities allowed), repeatable;\ne.g. us-east-1:0c1ba052-e098-41fa-a76e-eaa2c125f861 keeps the id your apps embed [SYNCD_POOLS]")
	fs.DurationVar(&c.SessionTTL, "session-ttl", env.Duration("SYNCD_SESSION_TTL", time.Hour),
		"lifetime of a SyncSessionToken [SYNCD_SESSION_TTL]")
	fs.DurationVar(&c.CredentialTTL, "credential-ttl", env.Duration("SYNCD_CREDENTIAL_TTL", time.Hour),
		"lifetime of credentials from GetCredentialsForIdentity [SYNCD_CREDENTIAL_TTL]")
	fs.IntVar(&c.MaxDatasets, "max-datasets", int(env.Int("SYNCD_MAX_DATASETS", 20)),
		"datasets per identity (AWS: 20) [SYNCD_MAX_DATASETS]")
	fs.Int64Var(&c.MaxRecords, "max-records", env.Int("SYNCD_MAX_RECORDS", 1024),
		"records per dataset (AWS: 1024) [SYNCD_MAX_RECORDS]")
	fs.Int64Var(&c.MaxDatasetBytes, "max-dataset-bytes", env.Int("SYNCD_MAX_DATASET_BYTES", 1<<20),
		"bytes of keys and values per dataset (AWS: 1 MB) [SYNCD_MAX_DATASET_BYTES]")
	fs.StringVar(&c.LogLevel, "log-level", env.String("SYNCD_LOG_LEVEL", "info"), "debug, info, warn or error [SYNCD_LOG_LEVEL]")
	fs.StringVar(&c.LogFormat, "log-format", env.String("SYNCD_LOG_FORMAT", "text"), "text or json [SYNCD_LOG_FORMAT]")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", env.Duration("SYNCD_SHUTDOWN_TIMEOUT", 15*time.Second),
		"how long to let in-flight requests finish on SIGTERM/SIGINT [SYNCD_SHUTDOWN_TIMEOUT]")
	fs.StringVar(&c.LambdaEndpoint, "lambda-endpoint", env.String("SYNCD_LAMBDA_ENDPOINT", ""),
		"URL of a Lambda-compatible Invoke API for pools' SyncTrigger functions, e.g. a Lambda Runtime Interface Emulator\n(default: AWS Lambda, configured by the standard AWS environment) [SYNCD_LAMBDA_ENDPOINT]")
	fs.StringVar(&c.LambdaFunctionName, "lambda-function-name", env.String("SYNCD_LAMBDA_FUNCTION_NAME", ""),
		"invoke this function name instead of the pool's SyncTrigger ARN (the emulator serves only \"function\") [SYNCD_LAMBDA_FUNCTION_NAME]")
	fs.StringVar(&c.Stream, "stream", env.String("SYNCD_STREAM", streamKinesis),
		"Cognito Streams: kinesis publishes changes of pools with StreamingStatus ENABLED (and BulkPublish) to Kinesis;\nnone keeps them in the outbox until a syncd with a stream runs [SYNCD_STREAM]")
	fs.StringVar(&c.KinesisEndpoint, "kinesis-endpoint", env.String("SYNCD_KINESIS_ENDPOINT", ""),
		"URL of a Kinesis-compatible endpoint, e.g. http://127.0.0.1:4567 (kinesalite)\n(default: AWS Kinesis, configured by the standard AWS environment) [SYNCD_KINESIS_ENDPOINT]")
	fs.StringVar(&c.S3Bucket, "s3-bucket", env.String("SYNCD_S3_BUCKET", ""),
		"S3 bucket for stream records larger than one Kinesis record (sent as payloadType S3Url with a pre-signed URL);\nwithout it such a change waits in the outbox [SYNCD_S3_BUCKET]")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", env.String("SYNCD_S3_ENDPOINT", ""),
		"URL of an S3-compatible endpoint for --s3-bucket (path-style) (default: AWS S3) [SYNCD_S3_ENDPOINT]")
	fs.DurationVar(&c.GCInterval, "gc-interval", env.Duration("SYNCD_GC_INTERVAL", 5*time.Minute),
		"how often to delete identity credentials expired for over an hour, and idle guest identities [SYNCD_GC_INTERVAL]")
	fs.DurationVar(&c.GuestIdentityTTL, "guest-identity-ttl", env.Duration("SYNCD_GUEST_IDENTITY_TTL", 30*24*time.Hour),
		"delete guest identities that never stored anything (no dataset, no push device, no unexpired credentials)\nthis long after GetId created them; 0 keeps them forever [SYNCD_GUEST_IDENTITY_TTL]")
	fs.IntVar(&c.CredentialCacheSize, "credential-cache-size", int(env.Int("SYNCD_CREDENTIAL_CACHE_SIZE", 10000)),
		"identity credentials kept in memory (about 600 bytes each, one minute each) to spare a store lookup per request [SYNCD_CREDENTIAL_CACHE_SIZE]")
	fs.Int64Var(&c.SQLiteMaxBytes, "sqlite-max-bytes", env.Int("SYNCD_SQLITE_MAX_BYTES", 0),
		"cap the SQLite database file at this many bytes: past it writes answer a retryable 503 and /healthz is unhealthy,\nbefore the disk itself fills up; 0: no cap (ignored with --store) [SYNCD_SQLITE_MAX_BYTES]")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q; see syncd --help", fs.Args())
	}
	c.Pools = pools
	if err := env.Err(); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Validate reports every invalid setting at once.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("--listen is required"))
	}
	if c.StoreURL == "" && c.DataDir == "" {
		errs = append(errs, errors.New("set --data DIR (SQLite) or --store postgres://…"))
	}
	if c.StoreURL != "" && !strings.HasPrefix(c.StoreURL, "postgres://") && !strings.HasPrefix(c.StoreURL, "postgresql://") {
		errs = append(errs, fmt.Errorf("--store must be a postgres:// URL, got %q (for SQLite use --data)", c.StoreURL))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("--region is required"))
	}
	if c.MaxDatasets < 1 || c.MaxRecords < 1 || c.MaxDatasetBytes < 1 {
		errs = append(errs, errors.New("--max-datasets, --max-records and --max-dataset-bytes must be positive"))
	}
	if c.SessionTTL <= 0 || c.CredentialTTL <= 0 {
		errs = append(errs, errors.New("--session-ttl and --credential-ttl must be positive"))
	}
	if c.GCInterval <= 0 {
		errs = append(errs, errors.New("--gc-interval must be positive"))
	}
	if c.GuestIdentityTTL < 0 {
		errs = append(errs, errors.New("--guest-identity-ttl must not be negative (0 keeps guest identities forever)"))
	}
	if c.CredentialCacheSize < 1 {
		errs = append(errs, errors.New("--credential-cache-size must be positive"))
	}
	if c.SQLiteMaxBytes < 0 || (c.SQLiteMaxBytes > 0 && c.SQLiteMaxBytes < 1<<20) {
		errs = append(errs, errors.New("--sqlite-max-bytes must be 0 (no cap) or at least 1048576"))
	}
	if c.LambdaEndpoint != "" && !strings.HasPrefix(c.LambdaEndpoint, "http://") && !strings.HasPrefix(c.LambdaEndpoint, "https://") {
		errs = append(errs, fmt.Errorf("--lambda-endpoint must be an http:// or https:// URL, got %q", c.LambdaEndpoint))
	}
	if c.Stream != streamKinesis && c.Stream != streamNone {
		errs = append(errs, fmt.Errorf("--stream must be kinesis or none, got %q", c.Stream))
	}
	for name, u := range map[string]string{"--kinesis-endpoint": c.KinesisEndpoint, "--s3-endpoint": c.S3Endpoint} {
		if u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			errs = append(errs, fmt.Errorf("%s must be an http:// or https:// URL, got %q", name, u))
		}
	}
	errs = append(errs, cliconfig.ValidateLog(c.LogLevel, c.LogFormat)...)
	return errors.Join(errs...)
}
