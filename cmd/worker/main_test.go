package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/sinks/jsonl"
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
	// A flag wins over the environment.
	c, _, err = parseConfig("worker", []string{"--stream", "other"}, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil || c.Stream != "other" {
		t.Fatalf("stream = %q, %v", c.Stream, err)
	}
}

func TestConfig_File(t *testing.T) {
	path := filepath.Join(t.TempDir(), "worker.yaml")
	os.WriteFile(path, []byte(`
sinks:
  - {name: files, type: jsonl, dir: /tmp/out}
  - {name: hook, type: webhook, url: "https://example.com", secret_env: HOOK_SECRET}
routes:
  - name: settings
    datasets: [settings]
    sinks: [files, hook]
  - name: typo
    sinks: [nope]
`), 0o600)
	c, _, err := parseConfig("worker", []string{"--config", path}, noenv, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `route "typo" names unknown sink "nope"`) {
		t.Fatalf("Validate = %v", err)
	}
	sc := c.sinkConfigs(func(k string) string { return map[string]string{"HOOK_SECRET": "s3"}[k] })
	if len(sc) != 2 || sc[1].Secret != "s3" {
		t.Fatalf("sinks = %+v", sc)
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
