package main_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awsv1 "github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/cognitosync"
)

// TestE2E_MirrorWithDeletions is the scenario of an operator's first day:
// data written before the pool streams (it reaches the sink only through
// BulkPublish), then live replaces, removes and DeleteDataset calls by many
// identities on a 2-shard stream while the bulk publish runs, two leased
// workers started with the flags the README gives (--stream --pool
// --bulk-publish --sync-endpoint --kinesis-endpoint --sinks postgres
// --database-url), one of them SIGKILLed mid-run and restarted. The
// PostgreSQL sink must end equal to syncd's ListRecords for every record
// (live and tombstone), and a record syncd no longer has (its dataset
// deleted) may stay in the sink only as a tombstone (ARCHITECTURE.md
// guarantee 7).
func TestE2E_MirrorWithDeletions(t *testing.T) {
	const (
		identities = 40
		datasets   = 2
		updates    = 1500
		deleteOdds = 40 // one call in deleteOdds deletes its dataset
	)
	// 40 identities from one address: no guest rate limit in the way
	s := newStack(t, 2, "--get-id-rate", "0", "--get-id-rate-per-address", "0",
		"--get-credentials-rate", "0", "--get-credentials-rate-per-address", "0")
	// Data before streaming: the pool does not stream yet.
	s.setStreaming(t, "DISABLED")
	l := newLoad(t, s, identities, datasets)
	for _, p := range l.pairs {
		if err := l.update(p); err != nil {
			t.Fatal(err)
		}
	}
	s.setStreaming(t, "ENABLED")

	// Both workers share the database: checkpoints, leases and the sink.
	args := []string{"--stream", s.stream, "--pool", s.pool, "--sync-endpoint", s.syncEndpoint,
		"--kinesis-endpoint", s.kinesisEndpoint, "--sinks", "postgres", "--database-url", s.sinkURL, "--data", t.TempDir()}
	a := startWorker(t, append(args, "--bulk-publish")...)
	b := startWorker(t, args...)

	start := time.Now()
	var deleted atomic.Int64
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range e2eConcurrency {
			wg.Go(func() {
				for next.Add(1) <= updates && l.errCount.Load() <= 20 {
					p := l.pairs[rand.N(len(l.pairs))]
					del, err := l.updateOrDelete(p, deleteOdds)
					if err != nil {
						t.Errorf("%s/%s: %v", p.identity, p.dataset, err)
						l.errCount.Add(1)
					}
					if del {
						deleted.Add(1)
					}
				}
			})
		}
		wg.Wait()
	}()
	for l.done.Load() < updates/3 {
		time.Sleep(5 * time.Millisecond)
	}
	rss := peakRSS(t, a)
	a.Kill()
	killedAt := time.Since(start)
	a = startWorker(t, append(args, "--bulk-publish")...)
	<-loadDone
	if deleted.Load() == 0 {
		t.Fatal("the load deleted no dataset")
	}

	want := l.groundTruth(t, s)
	deadline := time.Now().Add(convergeWithin)
	for {
		got, err := sinkState(context.Background(), s.sinkURL, s.pool)
		if err != nil {
			t.Fatal(err)
		}
		n, lines := mirrorDiff(want, got)
		if n == 0 {
			live := 0
			for _, r := range got {
				if r.value != nil {
					live++
				}
			}
			t.Logf("%d calls (%d DeleteDataset) by %d identities; worker A SIGKILLed at %v; sink equals syncd %v after the start: %d rows, %d live; peak RSS A %.1f MiB (before the kill), B %.1f MiB",
				l.done.Load()+deleted.Load(), deleted.Load(), identities, killedAt.Round(time.Millisecond), time.Since(start).Round(time.Millisecond),
				len(got), live, rss, peakRSS(t, b))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the PostgreSQL sink did not mirror syncd within %v: %d records differ, e.g.\n%s", convergeWithin, n, lines)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// setStreaming sets the pool's StreamingStatus.
func (s *stack) setStreaming(t testing.TB, status string) {
	t.Helper()
	if _, err := s.dev(t).SetIdentityPoolConfiguration(&cognitosync.SetIdentityPoolConfigurationInput{
		IdentityPoolId: awsv1.String(s.pool),
		CognitoStreams: &cognitosync.CognitoStreams{StreamName: awsv1.String(s.stream),
			RoleArn: awsv1.String("arn:aws:iam::000000000000:role/r"), StreamingStatus: awsv1.String(status)},
	}); err != nil {
		t.Fatal(err)
	}
}

// updateOrDelete deletes p's dataset (when it exists) in one call of
// odds, and otherwise makes an update; it reports a deletion.
func (l *load) updateOrDelete(p *pair, odds int) (bool, error) {
	p.mu.Lock()
	exists := len(p.state) > 0
	if !exists || rand.N(odds) != 0 {
		p.mu.Unlock()
		return false, l.update(p)
	}
	defer p.mu.Unlock()
	if _, err := p.c.DeleteDataset(&cognitosync.DeleteDatasetInput{IdentityPoolId: awsv1.String(l.pool),
		IdentityId: awsv1.String(p.identity), DatasetName: awsv1.String(p.dataset)}); err != nil {
		return false, fmt.Errorf("delete dataset: %w", err)
	}
	// The next update re-creates the dataset from a fresh ListRecords.
	p.state, p.token = map[string]recState{}, ""
	return true, nil
}

// mirrorDiff is diff for a sink that outlived deletions: every record of
// want (syncd's ListRecords) must be in got with its state; a record of got
// that syncd does not have must be a tombstone (its dataset was deleted).
func mirrorDiff(want, got map[recKey]recState) (int, string) {
	return diffRecords(want, got, func(k recKey, g recState) string {
		if g.value == nil {
			return "" // a tombstone of a deleted dataset
		}
		return fmt.Sprintf("%v: live %v in the sink, syncd no longer has it (deleted dataset)", k, g)
	})
}
