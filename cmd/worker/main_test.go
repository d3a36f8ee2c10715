package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/cognitosync/cognitosync/internal/buildinfo"
	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/jsonl"
	"github.com/cognitosync/cognitosync/sinks/postgres"
	wmsink "github.com/cognitosync/cognitosync/sinks/watermill"
	"github.com/cognitosync/cognitosync/sinks/webhook"
	"github.com/cognitosync/cognitosync/syncapi"
)

func noenv(string) string { return "" }

func TestHelp_ListsEveryFlagWithEnv(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"--help"}, noenv, &out, &out); err != nil {
		t.Fatal(err)
	}
	_, fs, _ := parseConfig("worker", nil, noenv, &bytes.Buffer{})
	help := out.String()
	for _, want := range []string{"sync-endpoint", "kinesis-endpoint", "stream", "pool", "bulk-publish", "metrics-listen", "data", "consumer-group", "config", "demo"} {
		if fs.Lookup(want) == nil {
			t.Errorf("no flag --%s", want)
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		re := regexp.MustCompile(`(?s)\n  -` + regexp.QuoteMeta(f.Name) + `\b.*?\[(COGNITOSYNC_[A-Z_]+)`)
		if !re.MatchString(help) {
			t.Errorf("--help does not document --%s with its COGNITOSYNC_ environment variable", f.Name)
		}
	})
	for _, sub := range []string{"healthcheck", "put"} {
		if !strings.Contains(help, "worker "+sub) {
			t.Errorf("--help does not mention %s", sub)
		}
	}
}

func TestConfig_EnvOfTaskDefinition(t *testing.T) {
	env := map[string]string{
		"COGNITOSYNC_STREAM_NAME": "cognito-sync-stream", "COGNITOSYNC_IDENTITY_POOLS": "us-east-1:a,us-east-1:b",
		"COGNITOSYNC_METRICS_LISTEN": ":9090", "COGNITOSYNC_SINKS": "postgres,webhook",
		"COGNITOSYNC_DATABASE_URL": "postgres://x@localhost/db", "COGNITOSYNC_WEBHOOK_URL": "https://hooks.example.com/x",
		"COGNITOSYNC_WEBHOOK_SECRET": "s", "COGNITOSYNC_SHUTDOWN_TIMEOUT": "45s", "COGNITOSYNC_LOG_FORMAT": "json",
	}
	c, _, err := parseConfig("worker", nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Mode != modeRemote || c.Stream != "cognito-sync-stream" || len(c.Pools) != 2 || c.ShutdownTimeout != 45*time.Second ||
		strings.Join(c.Sinks, ",") != "postgres,webhook" {
		t.Fatalf("config = %+v", c)
	}
	// A flag wins over the environment; a list flag replaces the list.
	c, _, err = parseConfig("worker", []string{"--stream", "other", "--sinks", "jsonl", "--pool", "us-east-1:c"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil || c.Stream != "other" || strings.Join(c.Sinks, ",") != "jsonl" || strings.Join(c.Pools, ",") != "us-east-1:c" {
		t.Fatalf("stream = %q, sinks = %q, pools = %q, %v", c.Stream, c.Sinks, c.Pools, err)
	}
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfig_File(t *testing.T) {
	path := writeConfig(t, `
sinks:
  - {name: files, type: jsonl, dir: /tmp/out}
  - {name: hook, type: webhook, url: "https://example.com", secret_env: HOOK_SECRET}
  - {name: bus, type: nats, url: "nats://127.0.0.1:4222", topic: changes, auto_provision: false}
  - {name: db, type: postgres, schema: sync}
routes:
  - name: settings
    datasets: [settings]
    sinks: [files, hook, bus]
  - name: typo
    sinks: [nope]
`)
	env := map[string]string{"HOOK_SECRET": "s3", "COGNITOSYNC_DATABASE_URL": "postgres://x@localhost/db"}
	c, _, err := parseConfig("worker", []string{"--config", path}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), `route "typo" names unknown sink "nope"`) || strings.Count(err.Error(), "\n") != 0 {
		t.Fatalf("Validate = %v, want only the unknown sink of route typo", err)
	}
	no := false
	want := []SinkEntry{
		{pipeline.SinkHeader{Name: "files", Type: "jsonl"}, jsonl.Spec{Dir: "/tmp/out"}},
		{pipeline.SinkHeader{Name: "hook", Type: "webhook"}, webhook.Spec{URL: "https://example.com", SecretEnv: "HOOK_SECRET"}},
		{pipeline.SinkHeader{Name: "bus", Type: "nats"}, wmsink.NATSSpec{URL: "nats://127.0.0.1:4222", Topic: "changes", AutoProvision: &no}},
		{pipeline.SinkHeader{Name: "db", Type: "postgres"}, postgres.Spec{Schema: "sync"}},
	}
	if got := c.sinkEntries(); !reflect.DeepEqual(got, want) {
		t.Fatalf("sinks =\n%#v\nwant\n%#v", got, want)
	}

	// Without the environment the secret and the default database are
	// missing: both are reported at once, before anything starts.
	c, _, err = parseConfig("worker", []string{"--config", path}, noenv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	for _, msg := range []string{`sink "hook": webhook: secret_env: the environment variable HOOK_SECRET is empty`,
		`sink "db": postgres sink: url is required when the worker has no --database-url`} {
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Validate = %v, want %q", err, msg)
		}
	}
}

func TestConfig_FileErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"UnknownField", "sinks:\n  - {name: files, type: jsonl, dri: /tmp}\nroutes: [{name: r, sinks: [files]}]\n",
			"line 2: field dri not found"},
		{"FieldOfAnotherType", "sinks:\n  - name: files\n    type: jsonl\n    dir: /tmp\n    secret_env: X\nroutes: [{name: r, sinks: [files]}]\n",
			"line 5: field secret_env not found"},
		{"UnknownType", "sinks:\n  - {name: q, type: kafka}\n", `line 2: sink "q": type must be one of jsonl, postgres, webhook, nats, syncd, got "kafka"`},
		{"NoType", "sinks:\n  - {name: q, dir: /tmp}\n", `type must be one of`},
		{"NotAMapping", "sinks:\n  - jsonl\n", "line 2: a sink is a mapping"},
		{"UnknownTopLevel", "sink: []\n", "field sink not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseConfig("worker", []string{"--config", writeConfig(t, tc.yaml)}, noenv, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseConfig = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestConfig_FileSinkValidation(t *testing.T) {
	path := writeConfig(t, `
sinks:
  - {name: files, type: jsonl, prefix: "../x"}
  - {name: bus, type: nats, topic: "a.b"}
  - {name: hook, type: webhook, url: "ftp://x", max_batch: -1}
routes: [{name: r, sinks: [files, bus, hook]}]
`)
	c, _, err := parseConfig("worker", []string{"--config", path}, noenv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	for _, msg := range []string{
		`sink "files": jsonl: Dir is required`, `sink "files": jsonl: Prefix "../x" must be a plain file name`,
		`sink "bus": nats sink: url is required`, `sink "bus": nats sink: topic "a.b" names the stream`,
		`sink "hook": webhook: URL "ftp://x" must be an absolute http or https URL`, `sink "hook": webhook: Secret is required`,
		`sink "hook": webhook: MaxBatch`,
	} {
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Validate = %v\nwant %q", err, msg)
		}
	}
}

func TestConfig_SinksFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // "": valid
	}{
		{"jsonl", []string{"--sinks", "jsonl"}, ""},
		{"postgres", []string{"--sinks", "postgres", "--database-url", "postgres://x@localhost/db"}, ""},
		{"postgresNoURL", []string{"--sinks", "postgres"}, "--sinks postgres (set --database-url): postgres sink: url is required"},
		{"webhook", []string{"--sinks", "webhook", "--webhook-url", "https://example.com/h", "--webhook-secret", "s"}, ""},
		{"webhookNoSecret", []string{"--sinks", "webhook", "--webhook-url", "https://example.com/h"}, "--sinks webhook (set --webhook-url, --webhook-secret): webhook: Secret is required"},
		{"nats", []string{"--sinks", "nats"}, `--sinks: unknown sink "nats" (jsonl, postgres, webhook, syncd; other types need --config)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := parseConfig("worker", tc.args, noenv, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
	c, _, _ := parseConfig("worker", []string{"--sinks", "jsonl,webhook", "--out", "/o", "--webhook-url", "https://h", "--webhook-secret", "s"}, noenv, &bytes.Buffer{})
	want := []SinkEntry{
		{pipeline.SinkHeader{Name: "jsonl", Type: "jsonl"}, jsonl.Spec{Dir: "/o"}},
		{pipeline.SinkHeader{Name: "webhook", Type: "webhook"}, webhook.Spec{URL: "https://h", Secret: "s"}},
	}
	if got := c.sinkEntries(); !reflect.DeepEqual(got, want) {
		t.Fatalf("sinks = %#v, want %#v", got, want)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestEmbedded_DemoEndToEnd runs the README's first command in-process: the
// embedded sync service, demo data bulk-published through the in-process
// stream into the JSONL sink, a live update with `worker put`, the health
// check, then shutdown as on SIGTERM. Then it runs the demo again on the
// same data: the user's edit stays (the demo seeds only an empty pool).
func TestEmbedded_DemoEndToEnd(t *testing.T) {
	dir := t.TempDir()
	metrics := synctest.FreeAddr(t)
	args := []string{"--demo", "--data", dir, "--listen", synctest.FreeAddr(t), "--metrics-listen", metrics}
	stdout, stderr, stop := runInBackground(t, args)

	waitUntil(t, func() bool { return strings.Contains(stdout.String(), "worker put") }, stdout, stderr)
	if !regexp.MustCompile(`bulk publish \S+: SUCCEEDED after \d+ms; delivered so far: \d+ datasets?, \d+ records? \(\d+ records/s\)`).MatchString(stdout.String()) {
		t.Errorf("no bulk publish progress with counts on stdout:\n%s", stdout.String())
	}
	if !strings.Contains(stdout.String(), "demo: wrote 6 records in 5 datasets of 3 identities") {
		t.Errorf("the demo does not say what it wrote:\n%s", stdout.String())
	}
	// The demo logs at warn: its progress is on stdout, nothing at info on
	// stderr (Watermill's router chatter included).
	if strings.Contains(stderr.String(), "level=INFO") {
		t.Errorf("the demo logs at info by default:\n%s", stderr.String())
	}
	records := func() map[string]string {
		got := map[string]string{}
		cs, err := jsonl.ReadAll(filepath.Join(dir, "out"))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Value != nil {
				got[c.IdentityID+"/"+c.DatasetName+"/"+c.Key] = *c.Value
			}
		}
		return got
	}
	waitUntil(t, func() bool { return len(records()) == 6 }, stdout, stderr)

	var out bytes.Buffer
	if err := run(t.Context(), []string{"put", "--data", dir, "settings", "theme", "blue"}, noenv, &out, &out); err != nil {
		t.Fatalf("put: %v: %s", err, out.String())
	}
	waitUntil(t, func() bool { return records()[demoIdentity+"/settings/theme"] == "blue" }, stdout, stderr)

	if err := run(t.Context(), []string{"healthcheck", "--metrics-listen", metrics}, noenv, &out, &out); err != nil {
		t.Fatalf("healthcheck: %v", err)
	}
	stop() // SIGTERM
	if err := run(t.Context(), []string{"healthcheck", "--metrics-listen", metrics}, noenv, &out, &out); err == nil {
		t.Fatal("healthcheck passed after shutdown")
	}

	// The demo again, on the same data (fresh ports: the first run's may
	// be taken by now): the user's theme stays blue, in the store and in
	// the output.
	args = []string{"--demo", "--data", dir, "--listen", synctest.FreeAddr(t), "--metrics-listen", synctest.FreeAddr(t)}
	stdout, stderr, stop = runInBackground(t, args)
	waitUntil(t, func() bool { return strings.Contains(stdout.String(), "worker put") }, stdout, stderr)
	if !strings.Contains(stdout.String(), "already holds data") || strings.Contains(stdout.String(), "demo: wrote") {
		t.Errorf("the second demo did not keep the pool's data:\n%s", stdout.String())
	}
	if strings.Contains(stdout.String(), loadEmbeddedInfo(dir).SecretAccessKey) {
		t.Errorf("the second run printed the kept secret again:\n%s", stdout.String())
	}
	info := loadEmbeddedInfo(dir)
	recs, _, err := listAll(t.Context(), clientFor(info), syncapi.ListRecordsInput{IdentityPoolID: info.Pool, IdentityID: demoIdentity, DatasetName: "settings"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Key == "theme" && (r.Value == nil || *r.Value != "blue") {
			t.Errorf("after a second demo theme = %v, want the user's blue", r.Value)
		}
	}
	waitUntil(t, func() bool {
		cs, err := jsonl.ReadAll(filepath.Join(dir, "out"))
		if err != nil {
			t.Fatal(err)
		}
		last := ""
		for _, c := range cs {
			if c.IdentityID == demoIdentity && c.DatasetName == "settings" && c.Key == "theme" && c.Value != nil {
				last = *c.Value
			}
		}
		return last == "blue"
	}, stdout, stderr)
	stop()
	// Two runs, a bulk publish each time the pool is published and the
	// live stream overlapping it: still one line per change id on disk.
	lines, err := jsonl.ReadLines(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[pipeline.ChangeKey]int{}
	for _, c := range lines {
		ids[c.ID()]++
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("change %v has %d lines in the demo's output", id, n)
		}
	}
	if len(ids) < 7 {
		t.Errorf("demo output has %d distinct changes, want the 6 seeded and the edit", len(ids))
	}
}

// runInBackground runs the worker with args until the test calls stop (as
// SIGTERM would), which fails the test on an error or a shutdown slower
// than 30 s.
func runInBackground(t *testing.T, args []string) (stdout, stderr *syncBuf, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stdout, stderr = &syncBuf{}, &syncBuf{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, noenv, stdout, stderr) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run: %v\n%s", err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no shutdown within 30 s")
		}
	}
	t.Cleanup(stop)
	return stdout, stderr, stop
}

func waitUntil(t *testing.T, cond func() bool, stdout, stderr *syncBuf) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConfig_READMEExample: the configuration the README shows parses and
// validates as it stands.
func TestConfig_READMEExample(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "### Routes and sinks")
	_, rest, ok2 := strings.Cut(rest, "```yaml\n")
	example, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("no yaml example under \"Routes and sinks\" in README.md")
	}
	env := map[string]string{"HOOK_SECRET": "s", "COGNITOSYNC_DATABASE_URL": "postgres://x@localhost/db"}
	c, _, err := parseConfig("worker", []string{"--config", writeConfig(t, example)}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range c.sinkEntries() {
		types = append(types, e.Type)
	}
	if got := strings.Join(types, ", "); got != sinkTypeNames() {
		t.Errorf("the README example shows sink types %s, want every type: %s", got, sinkTypeNames())
	}
}

// TestConfig_ListFlagsReplace: a list flag replaces its default and its
// environment variable, and repeated flags add to each other, for every
// list flag of the worker (--sinks, --pool, --developer-key).
func TestConfig_ListFlagsReplace(t *testing.T) {
	env := map[string]string{
		"COGNITOSYNC_SINKS": "webhook", "COGNITOSYNC_IDENTITY_POOLS": "us-east-1:env",
		"COGNITOSYNC_DEVELOPER_KEY": "ENVKEY:envsecret",
	}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		name                string
		getenv              func(string) string
		args                []string
		sinks, pools, keyID string
	}{
		{"defaults", noenv, nil, "jsonl", "", ""},
		{"sinks replaces the default", noenv, []string{"--sinks", "postgres"}, "postgres", "", ""},
		{"sinks lists the default too", noenv, []string{"--sinks", "jsonl,postgres"}, "jsonl,postgres", "", ""},
		{"repeated sinks add", noenv, []string{"--sinks", "postgres", "--sinks", "jsonl"}, "postgres,jsonl", "", ""},
		{"environment", getenv, nil, "webhook", "us-east-1:env", "ENVKEY"},
		{"flags replace the environment", getenv,
			[]string{"--sinks", "jsonl", "--pool", "us-east-1:a", "--pool", "us-east-1:b", "--developer-key", "FLAG:s"},
			"jsonl", "us-east-1:a,us-east-1:b", "FLAG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := parseConfig("worker", tc.args, tc.getenv, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			keyID := ""
			if len(c.DeveloperKeys) > 0 {
				keyID = c.DeveloperKeys[0].ID
			}
			if got := strings.Join(c.Sinks, ","); got != tc.sinks {
				t.Errorf("sinks = %q, want %q", got, tc.sinks)
			}
			if got := strings.Join(c.Pools, ","); got != tc.pools {
				t.Errorf("pools = %q, want %q", got, tc.pools)
			}
			if keyID != tc.keyID || len(c.DeveloperKeys) > 1 {
				t.Errorf("developer keys = %v, want only %q", c.DeveloperKeys, tc.keyID)
			}
		})
	}
	// The README's example: --sinks postgres builds the postgres sink only.
	c, _, err := parseConfig("worker", []string{"--sinks", "postgres", "--database-url", "postgres://x@localhost/db"}, noenv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if es := c.sinkEntries(); len(es) != 1 || es[0].Type != "postgres" {
		t.Errorf("--sinks postgres builds %+v, want the postgres sink alone", es)
	}
}

// TestHelp_EachDefaultOnce: --help shows each flag's default at most once,
// and on stdout.
func TestHelp_EachDefaultOnce(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"--help"}, noenv, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if stderr.Len() != 0 {
		t.Errorf("--help wrote to stderr: %s", stderr.String())
	}
	entries := regexp.MustCompile(`(?m)^  -`).Split(stdout.String(), -1)
	if len(entries) < 30 {
		t.Fatalf("--help lists %d flags:\n%s", len(entries)-1, stdout.String())
	}
	for _, e := range entries[1:] {
		if n := strings.Count(e, "(default"); n > 1 {
			t.Errorf("--help names a default %d times:\n  -%s", n, e)
		}
	}
	for _, want := range []string{"(default \"./data\")", "(default \"127.0.0.1:9090\")", "-version"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("--help lacks %s", want)
		}
	}
}

// TestFlagError_ShortUsage: a mistyped flag gets the error and one usage
// line, not the whole help.
func TestFlagError_ShortUsage(t *testing.T) {
	for _, args := range [][]string{{"--no-such-flag"}, {"--retry-max", "soon"}, {"serve"}, {"put", "--nope"}, {"put", "only-one"}} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), args, noenv, &stdout, &stderr)
		if err == nil {
			t.Fatalf("worker %v succeeded", args)
		}
		if lines := strings.Count(err.Error(), "\n") + 1; lines > 3 || !strings.Contains(err.Error(), "Usage: worker") {
			t.Errorf("worker %v: error of %d lines, want the error and a usage line:\n%v", args, lines, err)
		}
		if stdout.Len()+stderr.Len() != 0 {
			t.Errorf("worker %v printed more than its error:\n%s%s", args, stdout.String(), stderr.String())
		}
	}
	var stdout bytes.Buffer
	if err := run(t.Context(), []string{"--version"}, noenv, &stdout, &stdout); err != nil || strings.TrimSpace(stdout.String()) != buildinfo.Version() {
		t.Errorf("--version = %q, %v; want %q", stdout.String(), err, buildinfo.Version())
	}
}

// TestLogs_JSONLinesWithUniqueKeys: with --log-format json every line on
// stderr is one JSON object without a repeated key (the embedded syncd's
// components, the router's fields), at debug level to see them all, and no
// line holds the developer secret.
func TestLogs_JSONLinesWithUniqueKeys(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--demo", "--data", dir, "--listen", synctest.FreeAddr(t), "--metrics-listen", synctest.FreeAddr(t),
		"--log-format", "json", "--log-level", "debug"}
	stdout, stderr, stop := runInBackground(t, args)
	waitUntil(t, func() bool { return strings.Contains(stdout.String(), "worker put") }, stdout, stderr)
	var out bytes.Buffer
	if err := run(t.Context(), []string{"put", "--data", dir, "settings", "theme", "blue"}, noenv, &out, &out); err != nil {
		t.Fatalf("put: %v: %s", err, out.String())
	}
	stop()
	secret := loadEmbeddedInfo(dir).SecretAccessKey
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) < 10 {
		t.Fatalf("only %d log lines at debug level:\n%s", len(lines), stderr.String())
	}
	for _, l := range lines {
		if err := jsontext.NewDecoder(strings.NewReader(l)).SkipValue(); err != nil || !strings.HasPrefix(l, "{") {
			t.Errorf("not one JSON object with unique keys (%v): %s", err, l)
		}
		if secret != "" && strings.Contains(l, secret) {
			t.Errorf("a log line holds the developer secret: %s", l)
		}
	}
}
