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

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/jsonl"
	"github.com/cognitosync/cognitosync/sinks/postgres"
	wmsink "github.com/cognitosync/cognitosync/sinks/watermill"
	"github.com/cognitosync/cognitosync/sinks/webhook"
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
		{"UnknownType", "sinks:\n  - {name: q, type: kafka}\n", `line 2: sink "q": type must be one of jsonl, postgres, webhook, nats, got "kafka"`},
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
		{"nats", []string{"--sinks", "nats"}, `--sinks: unknown sink "nats" (jsonl, postgres, webhook; other types need --config)`},
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
// check, then shutdown as on SIGTERM.
func TestEmbedded_DemoEndToEnd(t *testing.T) {
	dir := t.TempDir()
	metrics := synctest.FreeAddr(t)
	args := []string{"--demo", "--data", dir, "--listen", synctest.FreeAddr(t), "--metrics-listen", metrics}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuf
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, noenv, &stdout, &stderr) }()

	waitUntil(t, func() bool { return strings.Contains(stdout.String(), "worker put") }, &stdout, &stderr)
	if !strings.Contains(stdout.String(), "succeeded SUCCEEDED") {
		t.Errorf("no bulk publish progress on stdout:\n%s", stdout.String())
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
	waitUntil(t, func() bool { return len(records()) == 6 }, &stdout, &stderr)

	var out bytes.Buffer
	if err := run(t.Context(), []string{"put", "--data", dir, "settings", "theme", "blue"}, noenv, &out, &out); err != nil {
		t.Fatalf("put: %v: %s", err, out.String())
	}
	waitUntil(t, func() bool { return records()[demoIdentity+"/settings/theme"] == "blue" }, &stdout, &stderr)

	if err := run(t.Context(), []string{"healthcheck", "--metrics-listen", metrics}, noenv, &out, &out); err != nil {
		t.Fatalf("healthcheck: %v", err)
	}
	cancel() // SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no shutdown within 30 s")
	}
	if err := run(t.Context(), []string{"healthcheck", "--metrics-listen", metrics}, noenv, &out, &out); err == nil {
		t.Fatal("healthcheck passed after shutdown")
	}
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
