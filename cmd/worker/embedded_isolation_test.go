package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/sinks/jsonl"
	"github.com/cognitosync/cognitosync/sinks/webhook"
)

// buildWorker builds the worker binary into a temporary directory of the
// test (go's build cache makes repeated builds cheap).
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/cognitosync/cognitosync/cmd/worker").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// hookReceiver is a webhook endpoint that answers 503 while down and
// records the keys of the changes it accepted, in order.
type hookReceiver struct {
	down atomic.Bool
	mu   sync.Mutex
	keys []string
	n503 atomic.Int64
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.down.Load() {
		h.n503.Add(1)
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	var p webhook.Payload
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	for _, c := range p.Changes {
		h.keys = append(h.keys, c.Key)
	}
	h.mu.Unlock()
}

// distinct returns the keys received, first occurrences in order
// (redeliveries after a restart repeat some).
func (h *hookReceiver) distinct() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	for _, k := range h.keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// TestEmbedded_DownSinkStallsOnlyItsRoute runs the embedded worker as a
// process with two routes over every change: "files" (JSONL) and "hook"
// (a webhook answering 503). The files route keeps receiving live updates
// while the hook is down, also across a kill -9 of the worker; once the
// hook is back it receives every change, in order (issue: a sink that is
// down stalls only its own route and resumes without loss).
func TestEmbedded_DownSinkStallsOnlyItsRoute(t *testing.T) {
	bin := buildWorker(t)
	hook := &hookReceiver{}
	hook.down.Store(true)
	srv := httptest.NewServer(hook)
	defer srv.Close()

	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cfg := filepath.Join(dir, "worker.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
sinks:
  - {name: files, type: jsonl, dir: %q}
  - {name: hook, type: webhook, url: %q, secret: s3cret}
routes:
  - {name: files, sinks: [files]}
  - {name: hook, sinks: [hook]}
`, out, srv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs syncBuf
	start := func() *exec.Cmd {
		t.Helper()
		listen, metrics := synctest.FreeAddr(t), synctest.FreeAddr(t)
		cmd := exec.Command(bin, "--mode", "embedded", "--data", dir, "--config", cfg, "--listen", listen,
			"--metrics-listen", metrics, "--retry-initial", "20ms", "--retry-max", "200ms", "--shutdown-timeout", "5s")
		for _, kv := range os.Environ() { // flags only: a developer's shell cannot change them
			if !strings.HasPrefix(kv, "COGNITOSYNC_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		waitUntil(t, func() bool {
			res, err := http.Get("http://" + metrics + "/readyz")
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == http.StatusOK && loadEmbeddedInfo(dir).Endpoint == "http://"+listen
		}, &logs, &logs)
		return cmd
	}
	put := func(key string) {
		t.Helper()
		var b bytes.Buffer
		if err := run(t.Context(), []string{"put", "--data", dir, "settings", key, "v-" + key}, noenv, &b, &b); err != nil {
			t.Fatalf("put %s: %v: %s", key, err, b.String())
		}
	}
	files := func() map[string]bool {
		got := map[string]bool{}
		cs, err := jsonl.ReadAll(out)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, c := range cs {
			got[c.Key] = true
		}
		return got
	}
	has := func(got map[string]bool, keys []string) bool {
		for _, k := range keys {
			if !got[k] {
				return false
			}
		}
		return true
	}
	var keys []string
	for i := 1; i <= 10; i++ {
		keys = append(keys, fmt.Sprintf("k%02d", i))
	}

	// Phase 1: the hook is down; every live update reaches the file sink,
	// one at a time (each would otherwise wait behind the stalled route).
	w := start()
	for _, k := range keys[:5] {
		put(k)
		waitUntil(t, func() bool { return files()[k] }, &logs, &logs)
	}
	waitUntil(t, func() bool { return hook.n503.Load() > 0 }, &logs, &logs)
	if got := hook.distinct(); len(got) != 0 {
		t.Fatalf("hook received %v while down", got)
	}

	// kill -9 while the hook route holds its first message.
	if err := w.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	w.Wait()

	// Phase 2: restarted, the hook still down: the file route goes on.
	w = start()
	for _, k := range keys[5:] {
		put(k)
		waitUntil(t, func() bool { return files()[k] }, &logs, &logs)
	}
	if !has(files(), keys) {
		t.Fatalf("file sink has %v, want %v", files(), keys)
	}
	if got := hook.distinct(); len(got) != 0 {
		t.Fatalf("hook received %v while down", got)
	}

	// The hook recovers: it gets every change, in order (one identity: one
	// shard).
	hook.down.Store(false)
	deadline := time.Now().Add(60 * time.Second)
	for len(hook.distinct()) < len(keys) {
		if time.Now().After(deadline) {
			t.Fatalf("hook has %v after recovery, want %v\n%s", hook.distinct(), keys, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := strings.Join(hook.distinct(), ","); got != strings.Join(keys, ",") {
		t.Errorf("hook received %s, want %s", got, strings.Join(keys, ","))
	}

	// A graceful stop flushes the checkpoints.
	if err := w.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(); err != nil {
		t.Errorf("worker exit: %v\n%s", err, logs.String())
	}
}
