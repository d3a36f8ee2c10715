package main_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/cognitosync/cognitosync/internal/synctest"
	"github.com/cognitosync/cognitosync/pipeline"
	wk "github.com/cognitosync/cognitosync/pipeline/kinesis"
	"github.com/cognitosync/cognitosync/pipeline/streamrecord"
)

// The benchmark stream: benchRecords Cognito stream records of
// benchIdentities identities on benchShards shards, each record an
// UpdateRecords of benchKeys keys, so benchChanges record changes.
const (
	benchRecords    = 20000
	benchKeys       = 4
	benchChanges    = benchRecords * benchKeys
	benchIdentities = 2000
	benchShards     = 2
)

var prefilled struct {
	once   sync.Once
	stream string
	err    error
}

// prefilledStream creates (once per process) the benchmark stream, written
// with PutRecords as syncd would.
func prefilledStream(b *testing.B, kc *kinesis.Client) string {
	prefilled.once.Do(func() {
		prefilled.stream = newStream(b, kc, benchShards)
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
		for i := range benchRecords {
			id := fmt.Sprintf("us-east-1:00000000-0000-4000-8000-%012d", i%benchIdentities)
			sc := int64(i/benchIdentities + 1)
			r := streamrecord.Record{IdentityPoolID: pool, IdentityID: id, DatasetName: "ds-" + strconv.Itoa(i%3),
				Operation: streamrecord.OpReplace, LastModifiedDate: now, SyncCount: sc}
			for k := range benchKeys {
				v := "value-" + strconv.Itoa(i) + "-" + strconv.Itoa(k)
				r.Records = append(r.Records, streamrecord.SyncRecord{Key: "key-" + strconv.Itoa(k), Value: &v, SyncCount: sc,
					LastModifiedDate: now, DeviceLastModifiedDate: now, Op: streamrecord.OpReplace})
			}
			data, err := streamrecord.Encode(r)
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

// bareRead reads every shard of the stream from TRIM_HORIZON with
// GetRecords, one shard after another, decoding each record with the
// pipeline's decoder when decode is set; it returns the records and the
// changes read.
func bareRead(ctx context.Context, kc *kinesis.Client, stream string, decode bool) (records, changes int, err error) {
	dec := pipeline.StreamRecordDecoder(nil)
	sh, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		return 0, 0, err
	}
	for _, s := range sh.Shards {
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: s.ShardId,
			ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			return 0, 0, err
		}
		for iter := it.ShardIterator; iter != nil; {
			r, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				return 0, 0, err
			}
			records += len(r.Records)
			if decode {
				for _, rec := range r.Records {
					cs, err := dec(ctx, rec.Data)
					if err != nil {
						return 0, 0, err
					}
					changes += len(cs)
				}
			}
			if len(r.Records) == 0 || aws.ToInt64(r.MillisBehindLatest) == 0 && len(r.Records) < 10000 {
				break
			}
			iter = r.NextShardIterator
		}
	}
	return records, changes, nil
}

// BenchmarkWorker_EndToEnd measures, in one run against the same
// pre-filled kinesalite stream (benchChanges changes in benchRecords
// records, benchShards shards):
//
//   - bare-GetRecords: a bare aws-sdk-go-v2 GetRecords loop, records/s
//     (after a warm-up read, the fastest of at least three);
//   - bare-GetRecords+decode: the same loop decoding every record into
//     changes with the pipeline's decoder, changes/s: the baseline of the
//     worker;
//   - subscriber: pipeline/kinesis's Subscriber alone (the worker's window
//     and GetRecords limit, every message acked), records/s, paired with a
//     bare GetRecords read before each run as below;
//   - jsonl, postgres: the worker binary (--kinesis-pacing off, as the bare
//     loop does not pace either) from /readyz until its sink accepted
//     every change, changes/s, and the worker's peak RSS (VmHWM) over the
//     whole run. At least three runs, each paired with a bare
//     GetRecords+decode read just before it (the machine may be shared);
//     of-bare is the median of the pairs' ratios.
//
// Every sub-benchmark reports of-bare, its ratio to its baseline.
func BenchmarkWorker_EndToEnd(b *testing.B) {
	endpoint := requireServices(b)
	kc := kinesisClient(endpoint)
	stream := prefilledStream(b, kc)

	// The baselines: a warm-up read first (kinesalite answers the first
	// read of fresh data slower), then the fastest of three reads, which
	// favours the baseline.
	if _, _, err := bareRead(context.Background(), kc, stream, false); err != nil {
		b.Fatal(err)
	}
	bare := func(b *testing.B, decode bool, want int) float64 {
		var best time.Duration
		for range max(b.N, 3) {
			start := time.Now()
			records, changes, err := bareRead(context.Background(), kc, stream, decode)
			if err != nil {
				b.Fatal(err)
			}
			n := records
			if decode {
				n = changes
			}
			if n != want {
				b.Fatalf("stream holds %d, want %d", n, want)
			}
			if d := time.Since(start); best == 0 || d < best {
				best = d
			}
		}
		return float64(want) / best.Seconds()
	}
	var bareRecords, bareChanges float64
	b.Run("bare-GetRecords", func(b *testing.B) {
		bareRecords = bare(b, false, benchRecords)
		b.ReportMetric(bareRecords, "records/s")
	})
	b.Run("bare-GetRecords+decode", func(b *testing.B) {
		bareChanges = bare(b, true, benchChanges)
		b.ReportMetric(bareChanges, "changes/s")
	})
	b.Run("subscriber", func(b *testing.B) {
		var ratios []float64
		var took time.Duration
		for range max(b.N, 3) {
			bareStart := time.Now()
			if _, _, err := bareRead(context.Background(), kc, stream, false); err != nil {
				b.Fatal(err)
			}
			bareTook := time.Since(bareStart)
			start := time.Now()
			sub, err := wk.NewSubscriber(wk.SubscriberConfig{Client: kc, MinGetRecordsInterval: time.Microsecond,
				MaxReadBytesPerSecond: 1 << 40, MaxInFlight: 500, GetRecordsLimit: 500}, nil)
			if err != nil {
				b.Fatal(err)
			}
			msgs, err := sub.Subscribe(context.Background(), stream)
			if err != nil {
				b.Fatal(err)
			}
			for range benchRecords {
				(<-msgs).Ack()
			}
			d := time.Since(start)
			sub.Close()
			took += d
			ratios = append(ratios, bareTook.Seconds()/d.Seconds())
		}
		slices.Sort(ratios)
		rate := float64(benchRecords*len(ratios)) / took.Seconds()
		b.ReportMetric(rate, "records/s")
		b.ReportMetric(ratios[len(ratios)/2], "of-bare")
		b.Logf("subscriber alone (window 500, GetRecords limit 500, as the worker): %.0f records/s; median of %d paired ratios to bare GetRecords %.3f (all: %.3f)",
			rate, len(ratios), ratios[len(ratios)/2], ratios)
	})
	for _, sink := range []string{"jsonl", "postgres"} {
		b.Run(sink, func(b *testing.B) {
			checkpoints := synctest.PostgresURL(b)
			var elapsed, startup time.Duration
			var rss float64
			var ratios []float64
			for i := range max(b.N, 3) {
				// The machine is shared: each run is paired with a bare
				// read just before it, and the ratio is the median pair's.
				bareStart := time.Now()
				if _, _, err := bareRead(context.Background(), kc, stream, true); err != nil {
					b.Fatal(err)
				}
				bareTook := time.Since(bareStart)
				cfg := fmt.Sprintf("sinks:\n  - {name: out, type: jsonl, dir: %q}\nroutes:\n  - {name: all, sinks: [out]}\n", b.TempDir())
				if sink == "postgres" {
					// fresh tables per run: a second run into the same
					// tables would find every row already there
					cfg = fmt.Sprintf("sinks:\n  - {name: out, type: postgres, url: %q, schema: bench_%d_%d}\nroutes:\n  - {name: all, sinks: [out]}\n",
						synctest.PostgresURL(b), time.Now().UnixNano(), i)
				}
				start := time.Now()
				w := startWorker(b, "--kinesis-endpoint", endpoint, "--stream", stream, "--database-url", checkpoints, "--kinesis-pacing", "off",
					"--config", workerConfig(b, cfg), "--data", b.TempDir(), "--consumer-group", fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i))
				ready := time.Now()
				startup += ready.Sub(start)
				for deadline := time.Now().Add(5 * time.Minute); w.metric("cognitosync_sink_changes_total", `sink="out"`) < benchChanges; time.Sleep(10 * time.Millisecond) {
					if time.Now().After(deadline) {
						b.Fatalf("the worker did not deliver %d changes within 5 min", benchChanges)
					}
				}
				took := time.Since(ready)
				elapsed += took
				ratios = append(ratios, bareTook.Seconds()/took.Seconds())
				rss = max(rss, peakRSS(b, w))
				w.Kill()
			}
			slices.Sort(ratios)
			ratio := ratios[len(ratios)/2]
			rate := float64(benchChanges*len(ratios)) / elapsed.Seconds()
			b.ReportMetric(rate, "changes/s")
			b.ReportMetric(ratio, "of-bare")
			b.ReportMetric(rss, "peak-RSS-MiB")
			b.Logf("%s sink: %d changes (%d records, %d shards) in %v per run after start-up (%v to /readyz), %.0f changes/s; median of %d paired ratios to bare GetRecords+decode %.3f (all: %.3f); worker peak RSS %.1f MiB (race=%v)",
				sink, benchChanges, benchRecords, benchShards, (elapsed / time.Duration(len(ratios))).Round(time.Millisecond),
				(startup / time.Duration(len(ratios))).Round(time.Millisecond), rate, len(ratios), ratio, ratios, rss, raceBuild)
		})
	}
}
