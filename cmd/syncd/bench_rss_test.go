package main_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/internal/synctest"
)

// BenchmarkSyncd_RSSByStoreSize runs one syncd (SQLite, built without
// -race) and grows its store in steps of devices doing their first sync,
// reporting after each step the process's resident memory, the live heap of
// its latest garbage collection, and the store's size. What syncd holds
// must follow its configuration, not the store: rss/first is the RSS over
// that of the smallest store, measured in the same run, and
// rss-B/identity the RSS added per identity since then.
func BenchmarkSyncd_RSSByStoreSize(b *testing.B) {
	bin, err := synctest.Build(b.TempDir(), "github.com/cognitosync/cognitosync/cmd/syncd", false)
	if err != nil {
		b.Fatal(err)
	}
	data := b.TempDir()
	pool := synctest.PoolID()
	sp := synctest.Launch(b, synctest.ProcConfig{
		Bin: bin, Ready: listening,
		Args: []string{"--listen", "127.0.0.1:0", "--developer-key", devKeyID + ":" + devSecret, "--data", data, "--pool", pool},
		Env:  synctest.ChildEnv([]string{"SYNCD_", "AWS_", "GODEBUG", "GOGC"}, "GODEBUG=gctrace=1"),
	})
	p := &proc{Proc: sp, cmd: sp.Cmd, log: sp.Log}
	p.awaitReady(b)
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	b.Cleanup(tr.CloseIdleConnections)
	w := &synctest.WireClient{URL: p.Endpoint, Pool: pool, HTTP: &http.Client{Transport: tr, Timeout: 30 * time.Second}}

	synced, firstN, firstRSS := 0, 0, int64(0)
	for _, n := range []int{2_000, 10_000, 40_000} {
		b.Run(fmt.Sprintf("identities=%d", n), func(b *testing.B) {
			for range b.N {
				if synced < n {
					if err := w.FirstSyncs(context.Background(), n-synced, 8); err != nil {
						b.Fatal(err)
					}
					synced = n
				}
			}
			rss := vmRSS(b, p)
			if firstN == 0 {
				firstN, firstRSS = n, rss
			}
			b.ReportMetric(float64(rss)/(1<<20), "MiB-rss")
			b.ReportMetric(float64(liveHeapMB(b, p)), "MB-live-heap")
			b.ReportMetric(float64(dirSize(b, data))/(1<<20), "MiB-store")
			b.ReportMetric(float64(rss)/float64(firstRSS), "rss/first")
			if n > firstN {
				b.ReportMetric(float64(rss-firstRSS)/float64(n-firstN), "rss-B/identity")
			}
		})
	}
}

// vmRSS returns the process's current resident set size (Linux).
func vmRSS(tb testing.TB, p *proc) int64 {
	tb.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}

// dirSize is the size of the files in dir (the SQLite database, WAL and
// shared memory).
func dirSize(tb testing.TB, dir string) int64 {
	tb.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
