package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentity"

	"github.com/cognitosync/cognitosync/internal/buildinfo"
	"github.com/cognitosync/cognitosync/internal/cliconfig"
	"github.com/cognitosync/cognitosync/internal/server"
	"github.com/cognitosync/cognitosync/syncapi/client"
	"github.com/cognitosync/cognitosync/syncapi/importer"
)

// ImportConfig is the configuration of `syncd import`.
type ImportConfig struct {
	From, IdentityFrom string
	Pool               string
	Region             string
	cliconfig.Storage
	Rate      float64
	Parallel  int
	Verify    bool
	LogLevel  string
	LogFormat string
	// MetricsListen serves /metrics while the import runs; "": not.
	MetricsListen string
}

const importUsageHead = `syncd import: copy a Cognito Sync identity pool into syncd's store (version %s).

Copies the pool (same IdentityPoolId, name, settings, streams, push and events
configuration), every identity with its IdentityId and developer user
identifiers, and every dataset and record with the source's SyncCount,
DatasetSyncCount, dates and LastModifiedBy, tombstones included, so that
devices that synced with the source continue against syncd. It writes where
syncd reads (--data or --store) and may run while syncd serves. Writes never
move a record back, so it may overlap with the worker's syncd sink, which
keeps the copy current from the pool's stream until the apps switch over.

An interrupted import (Ctrl-C, a crash, kill -9) resumes where it stopped
when run again; a finished one runs from the start again, changing only what
changed. At the end it prints what it copied and compares a sample of
datasets (all of them with --verify) with the source.

Source credentials and region come from the standard AWS configuration chain
(AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO, ...); they need
developer rights on both Cognito Identity and Cognito Sync.

Usage: syncd import --from URL --pool ID [--data DIR | --store postgres://…] [flags]

  syncd import --from aws --pool us-east-1:0c1ba052-… --data /var/lib/syncd
  syncd import --from http://old-syncd:8080 --pool us-east-1:0c1ba052-… --store postgres://…

Flags:
`

const importUsageLine = "Usage: syncd import --from URL --pool ID [--data DIR | --store URL]; syncd import --help lists the flags"

func parseImportConfig(args []string, getenv func(string) string, stdout io.Writer) (ImportConfig, error) {
	fs := flag.NewFlagSet("syncd import", flag.ContinueOnError)
	var c ImportConfig
	env := cliconfig.NewEnv(getenv)
	fs.StringVar(&c.From, "from", env.String("SYNCD_IMPORT_FROM", ""),
		"the source: \"aws\" (AWS Cognito Sync and Cognito Identity of --region), or the URL of a Cognito Sync endpoint\nthat also serves Cognito Identity (another syncd), e.g. http://old-syncd:8080 [SYNCD_IMPORT_FROM]")
	fs.StringVar(&c.IdentityFrom, "identity-from", env.String("SYNCD_IMPORT_IDENTITY_FROM", ""),
		"URL of the source's Cognito Identity endpoint when it is not --from's (default: --from's) [SYNCD_IMPORT_IDENTITY_FROM]")
	fs.StringVar(&c.Pool, "pool", env.String("SYNCD_IMPORT_POOL", ""), "IdentityPoolId of the pool to copy; kept as is [SYNCD_IMPORT_POOL]")
	fs.StringVar(&c.Region, "region", env.String("SYNCD_REGION", env.String("AWS_REGION", "")),
		"region of the source (default: the region --pool starts with) [SYNCD_REGION, AWS_REGION]")
	c.Storage.Define(fs, env, "SYNCD_")
	fs.Float64Var(&c.Rate, "rate", env.Float("SYNCD_IMPORT_RATE", 50),
		"calls per second to the source, at most; throttled calls (TooManyRequestsException) are retried with backoff;\n0: no limit [SYNCD_IMPORT_RATE]")
	fs.IntVar(&c.Parallel, "parallel", int(env.Int("SYNCD_IMPORT_PARALLEL", 4)), "identities copied at once [SYNCD_IMPORT_PARALLEL]")
	fs.BoolVar(&c.Verify, "verify", env.Bool("SYNCD_IMPORT_VERIFY"),
		"at the end compare every dataset with the source, record by record (default: a sample of 20), and fail on a difference\n[SYNCD_IMPORT_VERIFY]")
	fs.StringVar(&c.LogLevel, "log-level", env.String("SYNCD_LOG_LEVEL", "info"), "debug, info, warn or error [SYNCD_LOG_LEVEL]")
	fs.StringVar(&c.LogFormat, "log-format", env.String("SYNCD_LOG_FORMAT", "text"), "text or json [SYNCD_LOG_FORMAT]")
	fs.StringVar(&c.MetricsListen, "metrics-listen", env.String("SYNCD_IMPORT_METRICS_LISTEN", ""),
		"serve Prometheus metrics of the import's progress (cognitosync_import_*) at http://ADDR/metrics while it runs,\n"+
			"e.g. 127.0.0.1:9091; \"\": none [SYNCD_IMPORT_METRICS_LISTEN]")
	u := cliconfig.Usage{Head: fmt.Sprintf(importUsageHead, buildinfo.Version()), Line: importUsageLine}
	if err := cliconfig.Parse(fs, args, u, stdout); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q\n%s", fs.Args(), importUsageLine)
	}
	if err := env.Err(); err != nil {
		return c, err
	}
	if c.Region == "" {
		if r, _, ok := strings.Cut(c.Pool, ":"); ok {
			c.Region = r
		}
	}
	return c, c.Validate()
}

// Validate reports every invalid setting at once.
func (c ImportConfig) Validate() error {
	var errs []error
	if c.From == "" {
		errs = append(errs, errors.New(`--from is required: "aws" or the URL of the source Cognito Sync`))
	}
	for name, v := range map[string]string{"--from": c.From, "--identity-from": c.IdentityFrom} {
		if v == "" || (name == "--from" && v == "aws") {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s must be an http:// or https:// URL, got %q", name, v))
		}
	}
	if c.Pool == "" {
		errs = append(errs, errors.New("--pool is required: the IdentityPoolId to copy, e.g. us-east-1:0c1ba052-…"))
	}
	if c.Region == "" {
		errs = append(errs, errors.New("--region is required when --pool does not start with one"))
	}
	errs = append(errs, c.Storage.Validate()...)
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("--rate must not be negative, got %v", c.Rate))
	}
	if c.Parallel < 1 {
		errs = append(errs, fmt.Errorf("--parallel must be positive, got %d", c.Parallel))
	}
	errs = append(errs, cliconfig.ValidateLog(c.LogLevel, c.LogFormat)...)
	return errors.Join(errs...)
}

// runImport runs `syncd import`. Progress goes to stdout when it is a
// terminal (one line, rewritten), the summary to stdout, logs to stderr.
func runImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parseImportConfig(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := cliconfig.NewLogger(c.LogLevel, c.LogFormat, stderr)
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(c.Region))
	if err != nil {
		return fmt.Errorf("aws configuration: %w", err)
	}
	syncClient := client.NewFromConfig(awsCfg, func(o *client.Options) {
		if c.From != "aws" {
			o.BaseEndpoint = aws.String(c.From)
		}
	})
	identityURL := c.IdentityFrom
	if identityURL == "" && c.From != "aws" {
		identityURL = c.From
	}
	identity := cognitoidentity.NewFromConfig(awsCfg, func(o *cognitoidentity.Options) {
		if identityURL != "" {
			o.BaseEndpoint = aws.String(identityURL)
		}
	})
	db, err := server.OpenStore(ctx, server.Config{DataDir: c.DataDir, StoreURL: c.StoreURL, Log: log})
	if err != nil {
		return err
	}
	defer db.Close()

	show := progressPrinter(stdout, log)
	if c.MetricsListen != "" {
		m, err := serveImportMetrics(c.MetricsListen, c.Pool, log)
		if err != nil {
			return err
		}
		defer m.Close()
		printProgress := show
		show = func(p importer.Progress) { m.observe(p); printProgress(p) }
	}
	im, err := importer.New(importer.Config{
		PoolID: c.Pool, Sync: syncClient, Identity: identity, Target: db,
		Rate: c.Rate, Parallel: c.Parallel, Verify: c.Verify, Progress: show, Log: log,
	})
	if err != nil {
		return err
	}
	log.Info("importing", "identity_pool", c.Pool, "from", c.From, "rate", c.Rate, "parallel", c.Parallel)
	s, err := im.Run(ctx)
	if isTerminal(stdout) {
		fmt.Fprintln(stdout)
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("import of %s interrupted after %d identities and %d records; run the same command again to resume",
				c.Pool, s.Identities, s.Records)
		}
		return fmt.Errorf("import of %s stopped (run the same command again to resume): %w", c.Pool, err)
	}
	printSummary(stdout, c, s)
	if len(s.Differences) > 0 && c.Verify {
		return fmt.Errorf("verification found differences between the source and the target (listed above)")
	}
	return nil
}

// progressPrinter shows progress on a terminal, rewriting one line; on
// anything else it logs a line every 10 s.
func progressPrinter(w io.Writer, log *slog.Logger) func(importer.Progress) {
	var lastLog time.Time
	return func(p importer.Progress) {
		rate := p.Rate()
		eta := ""
		if left := p.ETA(); left > 0 {
			eta = fmt.Sprintf(", %.0f%% of the data, ETA %s", 100*float64(p.Bytes)/float64(p.TotalBytes), left.Round(time.Second))
		}
		if isTerminal(w) {
			fmt.Fprintf(w, "\rimport: %d identities, %d datasets, %d records (%.0f records/s)%s   ",
				p.Identities, p.Datasets, p.Records, rate, eta)
			return
		}
		if p.Done || time.Since(lastLog) >= 10*time.Second {
			lastLog = time.Now()
			log.Info("import progress", "identities", p.Identities, "datasets", p.Datasets, "records", p.Records,
				"records_per_second", int64(rate), "bytes", p.Bytes, "total_bytes", p.TotalBytes, "throttled", p.Throttled)
		}
	}
}

func printSummary(w io.Writer, c ImportConfig, s importer.Summary) {
	resumed := ""
	if s.Resumed {
		resumed = " (resumed)"
	}
	fmt.Fprintf(w, "import of %s from %s done in %s%s\n", c.Pool, c.From, s.Elapsed.Round(time.Millisecond), resumed)
	fmt.Fprintf(w, "  copied: %d identities, %d datasets, %d records (tombstones included)\n", s.Identities, s.Datasets, s.Records)
	fmt.Fprintf(w, "  developer user identifiers linked: %d\n", s.DeveloperLogins)
	if s.OtherLoginIdentities > 0 {
		fmt.Fprintf(w, "  identities with other logins: %d (their subjects stay with the source: start syncd with --login-fallback to link them on first sign-in)\n", s.OtherLoginIdentities)
	}
	if s.Throttled > 0 {
		fmt.Fprintf(w, "  throttled calls retried: %d\n", s.Throttled)
	}
	fmt.Fprintf(w, "  data storage: source %d bytes, target %d bytes\n", s.SourceStorage, s.TargetStorage)
	if s.SourceStorage != s.TargetStorage {
		fmt.Fprintln(w, "  The data storage differs: changes may still be in flight (wait until the worker's lag is zero), or the source")
		fmt.Fprintln(w, "  holds datasets of identities its ListIdentities does not list; the stream brings those (a BulkPublish, the")
		fmt.Fprintln(w, "  worker's --bulk-publish, sends every dataset through it once).")
	}
	scope := "a sample of"
	if c.Verify {
		scope = "all"
	}
	if len(s.Differences) == 0 {
		fmt.Fprintf(w, "  verification: %s %d datasets compared with the source: no differences\n", scope, s.Compared)
		return
	}
	fmt.Fprintf(w, "  verification: %s %d datasets compared with the source: %d differences\n", scope, s.Compared, len(s.Differences))
	for _, d := range s.Differences {
		fmt.Fprintf(w, "    %s\n", d)
	}
	fmt.Fprintln(w, "  If the source is still taking writes, the worker's syncd sink may not have caught up: wait until its lag is zero and run again with --verify.")
}
