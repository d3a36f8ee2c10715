package main_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/pipeline/streamrecord"
)

// benchChanges is the number of Cognito stream records (one change each)
// the benchmark stream holds.
const benchChanges = 20000

var prefilled struct {
	once   sync.Once
	stream string
	err    error
}

// prefilledStream creates (once per process) a 4-shard stream holding
// benchChanges Cognito stream records of 500 identities, written with
// PutRecords as syncd would.
func prefilledStream(b *testing.B, kc *kinesis.Client) string {
	prefilled.once.Do(func() {
		prefilled.stream = newStream(b, kc, 4)
		pool := synctest.PoolID()
		now := time.Now().UTC()
		var entries []types.PutRecordsRequestEntry
		flush := func() error {
			for len(entries) > 0 {
				out, err := kc.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(prefilled.stream), Records: entries})
				if err != nil {
					return err
				}
				var failed []types.PutRecordsRequestEntry
				for i, r := range out.Records {
					if r.ErrorCode != nil {
						failed = append(failed, entries[i])
					}
				}
				entries = failed
			}
			return nil
		}
		for i := range benchChanges {
			id := fmt.Sprintf("us-east-1:00000000-0000-4000-8000-%012d", i%500)
			v := "value-" + strconv.Itoa(i)
			data, err := streamrecord.Encode(streamrecord.Record{
				IdentityPoolID: pool, IdentityID: id, DatasetName: "ds-" + strconv.Itoa(i%3), LastModifiedDate: now, SyncCount: int64(i/500 + 1),
				Records: []streamrecord.SyncRecord{{Key: "key-" + strconv.Itoa(i%7), Value: &v, SyncCount: int64(i/500 + 1),
					LastModifiedDate: now, DeviceLastModifiedDate: now, Op: "replace"}},
			})
			if err != nil {
				prefilled.err = err
				return
			}
			entries = append(entries, types.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(id)})
			if len(entries) == 500 {
				if prefilled.err = flush(); prefilled.err != nil {
					return
				}
			}
		}
		prefilled.err = flush()
	})
	if prefilled.err != nil {
		b.Fatal(prefilled.err)
	}
	return prefilled.stream
}

// BenchmarkWorker_EndToEnd: records/s from a pre-filled kinesalite stream
// (benchChanges records, 4 shards) through the worker binary's router into
// the JSONL sink and into the PostgreSQL sink (each iteration a new consumer
// group and a new sink; timed from process start to the last change
// accepted), against the baseline of a bare GetRecords loop over the same
// stream; and the worker's peak RSS (VmHWM).
func BenchmarkWorker_EndToEnd(b *testing.B) {
	endpoint := requireServices(b)
	kc := kinesisClient(endpoint)
	stream := prefilledStream(b, kc)

	var bare float64
	b.Run("bare-GetRecords", func(b *testing.B) {
		start := time.Now()
		total := 0
		for range b.N {
			n, err := streamRecords(context.Background(), kc, stream)
			if err != nil {
				b.Fatal(err)
			}
			if n != benchChanges {
				b.Fatalf("stream holds %d records, want %d", n, benchChanges)
			}
			total += n
		}
		bare = float64(total) / time.Since(start).Seconds()
		b.ReportMetric(bare, "records/s")
	})
	for _, sink := range []string{"jsonl", "postgres"} {
		b.Run(sink, func(b *testing.B) {
			checkpoints := synctest.PostgresURL(b)
			var elapsed, startup time.Duration
			var rss float64
			for i := range b.N {
				cfg := fmt.Sprintf("sinks:\n  - {name: out, type: jsonl, dir: %q}\nroutes:\n  - {name: all, sinks: [out]}\n", b.TempDir())
				if sink == "postgres" {
					cfg = fmt.Sprintf("sinks:\n  - {name: out, type: postgres, url: %q}\nroutes:\n  - {name: all, sinks: [out]}\n", synctest.PostgresURL(b))
				}
				start := time.Now()
				w := startWorker(b, "--kinesis-endpoint", endpoint, "--stream", stream, "--database-url", checkpoints,
					"--config", workerConfig(b, cfg), "--data", b.TempDir(), "--consumer-group", fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i))
				startup += time.Since(start)
				for deadline := time.Now().Add(5 * time.Minute); w.metric("cognitosync_sink_changes_total", `sink="out"`) < benchChanges; time.Sleep(20 * time.Millisecond) {
					if time.Now().After(deadline) {
						b.Fatalf("the worker did not deliver %d changes within 5 min", benchChanges)
					}
				}
				elapsed += time.Since(start)
				rss = max(rss, peakRSS(b, w))
				w.Kill()
			}
			rate := float64(benchChanges*b.N) / elapsed.Seconds()
			b.ReportMetric(rate, "records/s")
			if bare > 0 {
				b.ReportMetric(rate/bare, "of-bare")
			}
			b.ReportMetric(rss, "peak-RSS-MiB")
			b.Logf("%s sink: %d changes in %v per run (start-up to /readyz %v), %.0f records/s = %.3f of bare GetRecords (%.0f/s); worker peak RSS %.1f MiB (race=%v)",
				sink, benchChanges, (elapsed / time.Duration(b.N)).Round(time.Millisecond), (startup / time.Duration(b.N)).Round(time.Millisecond),
				rate, rate/max(bare, 1), bare, rss, raceBuild)
		})
	}
}
