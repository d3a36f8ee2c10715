package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/cognitosync/cognitosync/internal/metricnames"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cognitosync/cognitosync/pipeline/outbox"
	"github.com/cognitosync/cognitosync/pipeline/streamrecord"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
)

// seed writes n datasets (10 per identity, 2 records each) concurrently.
func seed(t testing.TB, s *sqlstore.DB, pool string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			k := syncapi.DatasetKey{PoolID: pool, IdentityID: fmt.Sprintf("us-east-1:id-%05d", i/10), Name: fmt.Sprintf("ds%d", i%10)}
			a, b := "1", fmt.Sprint(i)
			if _, err := s.UpdateRecords(context.Background(), syncapi.UpdateRequest{Key: k, By: "w", Now: t0,
				Changes: []syncapi.Change{{Key: "a", Value: &a}, {Key: "b", Value: &b}}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

// collector records bulk messages by dataset.
type collector struct {
	mu   sync.Mutex
	seen map[string]int
	n    int
}

func (c *collector) Publish(topic string, msgs ...*message.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		r, err := streamrecord.Decode(m.Payload)
		if err != nil {
			return err
		}
		c.seen[r.IdentityID+"/"+r.DatasetName]++
		c.n++
	}
	return nil
}
func (c *collector) Close() error { return nil }

func waitBulk(t testing.TB, s syncapi.Store, pool string) syncapi.BulkJob {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		j, err := s.GetBulk(context.Background(), pool)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != syncapi.BulkInProgress {
			return j
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("bulk publish still IN_PROGRESS after 60 s")
	return syncapi.BulkJob{}
}

func TestBulkRunner_PublishesEveryDataset(t *testing.T) {
	s := openStore(t)
	pool := "us-east-1:00000000-0000-0000-0000-000000000010"
	streamingPool(t, s, pool, "events")
	const n = 2000
	seed(t, s, pool, n)
	c := &collector{seen: map[string]int{}}
	reg := prometheus.NewRegistry()
	b, err := outbox.NewBulkRunner(outbox.BulkConfig{Store: s, Publisher: c, Owner: "me", Page: 300, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StartBulk(t.Context(), pool, "me", time.Now(), time.Now().Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	p, _ := s.GetPool(t.Context(), pool)
	if err := b.RunBulk(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if j := waitBulk(t, s, pool); j.Status != syncapi.BulkSucceeded || j.Completed.IsZero() {
		t.Fatalf("job: %+v", j)
	}
	if len(c.seen) != n || c.n != n {
		t.Errorf("published %d messages for %d datasets, want %d", c.n, len(c.seen), n)
	}
	if got := testutil.ToFloat64(mustCounter(t, reg, metricnames.MetricBulkPublishRecords)); got != n {
		t.Errorf("%s = %v", metricnames.MetricBulkPublishRecords, got)
	}
}

func mustCounter(t testing.TB, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			sum := 0.0
			for _, m := range mf.Metric {
				sum += m.GetCounter().GetValue()
			}
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 { return sum })
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

// TestBulkRunner_ResumesOrphanedJob: a job whose process died (its lease
// expired, cursor kept) is resumed by Run from the cursor and succeeds.
func TestBulkRunner_ResumesOrphanedJob(t *testing.T) {
	s := openStore(t)
	pool := "us-east-1:00000000-0000-0000-0000-000000000011"
	streamingPool(t, s, pool, "events")
	seed(t, s, pool, 100)
	if err := s.StartBulk(t.Context(), pool, "dead", time.Now(), time.Now().Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	cur, _ := json.Marshal(map[string]any{"i": "us-east-1:id-00004", "n": "ds9", "c": 50})
	if ok, err := s.AcquireLease(t.Context(), "bulk/"+pool, "dead", time.Now().Add(-time.Hour), time.Second, string(cur)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	c := &collector{seen: map[string]int{}}
	b, err := outbox.NewBulkRunner(outbox.BulkConfig{Store: s, Publisher: c, Owner: "me", Scan: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()
	j := waitBulk(t, s, pool)
	cancel()
	<-done
	if j.Status != syncapi.BulkSucceeded || c.n != 50 {
		t.Fatalf("job %+v, published %d (want the 50 after the cursor)", j, c.n)
	}
}

func TestBulkRunner_StreamingDisabledFails(t *testing.T) {
	s := openStore(t)
	pool := "us-east-1:00000000-0000-0000-0000-000000000012"
	streamingPool(t, s, pool, "events")
	seed(t, s, pool, 10)
	if err := s.StartBulk(t.Context(), pool, "me", time.Now(), time.Now().Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	p, _ := s.GetPool(t.Context(), pool)
	if _, err := s.UpdatePool(t.Context(), pool, func(p *syncapi.Pool) error {
		p.CognitoStreams.StreamingStatus = syncapi.StreamingDisabled
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b, _ := outbox.NewBulkRunner(outbox.BulkConfig{Store: s, Publisher: &collector{seen: map[string]int{}}, Owner: "me"})
	if err := b.RunBulk(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if j := waitBulk(t, s, pool); j.Status != syncapi.BulkFailed || j.FailureMessage == "" {
		t.Fatalf("job %+v", j)
	}
}

// BenchmarkBulkPublish measures bulk publish records/s from SQLite to an
// in-memory publisher (encoding and store paging; no network).
func BenchmarkBulkPublish(b *testing.B) {
	s := openStore(b)
	pool := "us-east-1:00000000-0000-0000-0000-000000000013"
	streamingPool(b, s, pool, "events")
	const n = 10000
	seed(b, s, pool, n)
	r, _ := outbox.NewBulkRunner(outbox.BulkConfig{Store: s, Publisher: &collector{seen: map[string]int{}}, Owner: "me"})
	p, _ := s.GetPool(context.Background(), pool)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := s.StartBulk(context.Background(), pool, "me", time.Now(), time.Now().Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
		if err := r.RunBulk(context.Background(), p); err != nil {
			b.Fatal(err)
		}
		if j := waitBulk(b, s, pool); j.Status != syncapi.BulkSucceeded {
			b.Fatal(j)
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "records/s")
}
