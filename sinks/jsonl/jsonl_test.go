package jsonl_test

import (
	"context"
	"fmt"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/jsonl"
	"github.com/cognitosync/cognitosync/sinks/sinktest"
)

func newSink(t *testing.T, c jsonl.Config) *jsonl.Sink {
	t.Helper()
	if c.Dir == "" {
		c.Dir = t.TempDir()
	}
	s, err := jsonl.New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readAll(t *testing.T, dir string) []pipeline.Change {
	t.Helper()
	got, err := jsonl.ReadAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestConformance(t *testing.T) {
	sinktest.Run(t, sinktest.Harness{New: func(t *testing.T) (pipeline.Sink, func(*testing.T) sinktest.State) {
		dir := t.TempDir()
		s := newSink(t, jsonl.Config{Dir: dir, MaxBytes: 2048})
		return s, func(t *testing.T) sinktest.State { return sinktest.Fold(readAll(t, dir)) }
	}})
}

func TestWrite_LineFormat(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, jsonl.Config{Dir: dir, Prefix: "app"})
	if err := s.Write(context.Background(), []pipeline.Change{sinktest.Put("us-east-1:a", "k", "v", 3), sinktest.Remove("us-east-1:a", "k", 4)}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "app-*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("files = %v, want one app-*.jsonl", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	want := []string{
		`{"id":"` + idOf(sinktest.Put("us-east-1:a", "k", "v", 3)) + `","identityPoolId":"us-east-1:00000000-0000-4000-8000-000000000001","identityId":"us-east-1:a","datasetName":"settings","key":"k","value":"v","op":"replace","syncCount":3,"lastModified":"2026-01-02T03:04:08.123456789Z","deviceLastModified":"2026-01-02T03:04:08.122456789Z","datasetSyncCount":3}`,
		`{"id":"` + idOf(sinktest.Remove("us-east-1:a", "k", 4)) + `","identityPoolId":"us-east-1:00000000-0000-4000-8000-000000000001","identityId":"us-east-1:a","datasetName":"settings","key":"k","value":null,"op":"remove","syncCount":4,"lastModified":"2026-01-02T03:04:09.123456789Z","deviceLastModified":"2026-01-02T03:04:09.122456789Z","datasetSyncCount":4}`,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(lines), b)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, lines[i], want[i])
		}
	}
}

// TestWrite_OneLinePerID: replays, overlapping batches, a restart (a new
// Sink on the same Dir) and a torn line left by a crash still leave exactly
// one line per change id.
func TestWrite_OneLinePerID(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	a, b, c := sinktest.Put("us-east-1:a", "k", "v", 1), sinktest.Put("us-east-1:a", "k", "w", 2), sinktest.DeleteDataset("us-east-1:a", 3)
	s := newSink(t, jsonl.Config{Dir: dir})
	for _, batch := range [][]pipeline.Change{{a}, {a, b}, {b, a, b}} {
		if err := s.Write(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	// a crash mid-write of c leaves a torn line
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	f, err := os.OpenFile(files[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"id":"` + idOf(c) + `","identityPoolId":"us-ea`)
	f.Close()

	s = newSink(t, jsonl.Config{Dir: dir})
	if err := s.Write(ctx, []pipeline.Change{b, c, a, c}); err != nil {
		t.Fatal(err)
	}
	lines := lineIDs(t, dir)
	if len(lines) != 3 {
		t.Errorf("lines = %d, want 3 (a, b, c once each): %v", len(lines), lines)
	}
	for id, n := range lines {
		if n != 1 {
			t.Errorf("id %s written %d times", id, n)
		}
	}
}

// TestWrite_WritersShareDirOneLinePerID: several sinks on one Dir (as
// separate processes: each takes the Dir's flock) write overlapping,
// shuffled copies of one history at once; every id is on disk once.
func TestWrite_WritersShareDirOneLinePerID(t *testing.T) {
	dir := t.TempDir()
	var all []pipeline.Change
	for n := int64(1); n <= 200; n++ {
		all = append(all, sinktest.Put("us-east-1:a", fmt.Sprint("k", n%17), fmt.Sprint(n), n))
	}
	all = append(all, sinktest.DeleteDataset("us-east-1:a", 100))
	var wg sync.WaitGroup
	for w := range 4 {
		s := newSink(t, jsonl.Config{Dir: dir, MaxBytes: 4096})
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 2))
			mine := slices.Clone(all)
			r.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
			for len(mine) > 0 {
				n := min(len(mine), 1+r.IntN(20))
				if err := s.Write(context.Background(), mine[:n]); err != nil {
					t.Error(err)
					return
				}
				mine = mine[n:]
			}
		}()
	}
	wg.Wait()
	lines := lineIDs(t, dir)
	if len(lines) != len(all) {
		t.Errorf("distinct ids on disk = %d, want %d", len(lines), len(all))
	}
	for id, n := range lines {
		if n != 1 {
			t.Errorf("id %s written %d times", id, n)
		}
	}
}

// lineIDs counts the complete lines of dir by id.
func lineIDs(t *testing.T, dir string) map[string]int {
	t.Helper()
	cs, err := jsonl.ReadLines(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, c := range cs {
		out[idOf(c)]++
	}
	return out
}

func TestRotation(t *testing.T) {
	ch := sinktest.Put("us-east-1:a", "k", "v", 1)
	tests := []struct {
		name      string
		maxBytes  int64
		maxAge    time.Duration
		step      time.Duration // clock advance between writes
		writes    int
		wantFiles int
	}{
		{"BySize", 800, -1, 0, 5, 3},                      // a line is ~360 bytes: 2 per file
		{"OversizedBatchGetsItsOwnFile", 10, -1, 0, 3, 3}, // never an empty file
		{"ByAge", -1, time.Minute, 30 * time.Second, 5, 3},
		{"Never", -1, -1, time.Hour, 5, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var mu sync.Mutex
			now := sinktest.T0
			s := newSink(t, jsonl.Config{Dir: dir, MaxBytes: tc.maxBytes, MaxAge: tc.maxAge, Now: func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				return now
			}})
			for i := range tc.writes {
				c := ch
				c.SyncCount = int64(i + 1)
				if err := s.Write(context.Background(), []pipeline.Change{c}); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				now = now.Add(tc.step)
				mu.Unlock()
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
			if len(files) != tc.wantFiles {
				t.Errorf("files = %d %v, want %d", len(files), files, tc.wantFiles)
			}
			got := readAll(t, dir)
			if len(got) != tc.writes {
				t.Fatalf("ReadAll = %d changes, want %d", len(got), tc.writes)
			}
			for i, c := range got {
				if c.SyncCount != int64(i+1) {
					t.Errorf("change %d has SyncCount %d: files out of order", i, c.SyncCount)
				}
			}
		})
	}
}

func TestReadAll_SkipsTornLastLine(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, jsonl.Config{Dir: dir})
	if err := s.Write(context.Background(), []pipeline.Change{sinktest.Put("us-east-1:a", "k", "v", 1)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	f, err := os.OpenFile(files[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"id":"abc","identityPoolId":"us-ea`) // a crash mid-write
	f.Close()
	if got := readAll(t, dir); len(got) != 1 {
		t.Errorf("ReadAll = %d changes, want 1", len(got))
	}

	// A complete line that does not decode is corruption, not a torn write.
	os.WriteFile(filepath.Join(dir, "zzz.jsonl"), []byte("{not json}\n"), 0o600)
	if _, err := jsonl.ReadAll(dir); err == nil || !strings.Contains(err.Error(), "zzz.jsonl:1") {
		t.Errorf("ReadAll error = %v, want one naming zzz.jsonl:1", err)
	}
}

func TestWrite_AfterCloseFails(t *testing.T) {
	s := newSink(t, jsonl.Config{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if err := s.Write(context.Background(), []pipeline.Change{sinktest.Put("us-east-1:a", "k", "v", 1)}); err == nil {
		t.Error("Write after Close succeeded")
	}
}

// TestWrite_DirGoneFails: the directory was replaced by a file (as root,
// permissions would not stop the sink); Write fails and a later Write
// works again once the directory is back.
func TestWrite_DirGoneFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	s := newSink(t, jsonl.Config{Dir: dir})
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c := sinktest.Put("us-east-1:a", "k", "v", 1)
	if err := s.Write(context.Background(), []pipeline.Change{c}); err == nil {
		t.Fatal("Write into a missing directory succeeded")
	}
	os.Remove(dir)
	os.Mkdir(dir, 0o750)
	if err := s.Write(context.Background(), []pipeline.Change{c}); err != nil {
		t.Fatalf("Write after the directory came back: %v", err)
	}
	if got := readAll(t, dir); len(got) != 1 {
		t.Errorf("ReadAll = %d changes, want 1", len(got))
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name string
		c    jsonl.Config
		ok   bool
	}{
		{"DirRequired", jsonl.Config{}, false},
		{"PrefixWithSlash", jsonl.Config{Dir: "x", Prefix: "a/b"}, false},
		{"PrefixDotDot", jsonl.Config{Dir: "x", Prefix: ".."}, false},
		{"OK", jsonl.Config{Dir: "x", Prefix: "app"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newSink(t, jsonl.Config{Registerer: reg, Name: "files"})
	// A second sink on the same registry shares the collectors.
	newSink(t, jsonl.Config{Registerer: reg, Name: "other"})
	if err := s.Write(context.Background(), []pipeline.Change{sinktest.Put("us-east-1:a", "k", "v", 1), sinktest.Put("us-east-1:a", "j", "v", 1)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Write(context.Background(), []pipeline.Change{sinktest.Put("us-east-1:a", "k", "v", 2)})
	want := `
# HELP cognitosync_sink_writes_total Sink.Write calls by sink and outcome (ok, error, permanent).
# TYPE cognitosync_sink_writes_total counter
cognitosync_sink_writes_total{outcome="error",sink="files"} 1
cognitosync_sink_writes_total{outcome="ok",sink="files"} 1
# HELP cognitosync_sink_changes_total Changes accepted by a sink.
# TYPE cognitosync_sink_changes_total counter
cognitosync_sink_changes_total{sink="files"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), metricnames.MetricSinkWrites, metricnames.MetricSinkChanges); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, metricnames.MetricSinkWriteDuration); n != 1 {
		t.Errorf("%s series = %d, want 1", metricnames.MetricSinkWriteDuration, n)
	}
}

func countLines(t *testing.T, dir string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n += strings.Count(string(b), "\n")
	}
	return n
}
