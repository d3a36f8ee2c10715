package kinesis

import (
	"context"
	"math/rand/v2"
	"sort"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/cognitosync/cognitosync/pipeline/stream"
)

// leaser coordinates one subscription's leases. It runs on the
// subscription's goroutine only, so its maps need no lock.
//
// Every RenewInterval a pass renews this owner's leases, writes its
// heartbeat and balances: with R the readable shards (not finished, parents
// finished) and O the live owners (unexpired heartbeat or lease), each owner
// aims at ceil(R/O) leases. Below target it takes free or expired leases
// (AcquireLease is atomic, so racing owners cannot both win); above target
// it hands over one lease per pass. So that a joiner gets a share when
// everyone else sits at the target (4 shards, owners at 2, 2 and 0), the
// most loaded owner (ties: the lowest owner id, which every owner computes
// alike) also hands one over while some owner holds two fewer than the
// target. Handing over stops the reader, waits for its in-flight message to
// be settled and its checkpoint to be saved, and only then releases the
// lease; the shard is not taken back for a LeaseTTL, so it goes to the
// owner that needs it instead of bouncing. Leases are never taken from a
// live owner, so a shard is read by one owner at a time.
type leaser struct {
	sub      *subscription
	c        SubscriberConfig
	validity time.Duration // how long a renewal is trusted locally

	held     map[string]*heldLease
	shedAt   map[string]time.Time
	shards   []types.Shard
	listedAt time.Time
	reported int64
}

// heldLease is a lease this owner holds or is giving up.
type heldLease struct {
	sh         readable
	validUntil atomic.Int64 // unix nanoseconds; read by the reader
	stop       chan struct{}
	stopping   bool // stop is closed; the entry goes when the reader exits
	release    bool // release the lease once the reader has exited
	reading    bool
}

func (sub *subscription) runLeased(ctx context.Context) {
	c := sub.s.c
	l := &leaser{sub: sub, c: c, validity: (c.LeaseTTL + c.RenewInterval) / 2,
		held: map[string]*heldLease{}, shedAt: map[string]time.Time{}}
	defer l.shutdown(ctx)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-sub.exited:
			if l.exited(ctx, e) {
				resetTimer(timer, 0)
			}
			continue
		case <-timer.C:
		}
		l.pass(ctx)
		resetTimer(timer, c.RenewInterval)
	}
}

func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}

func (l *leaser) fields(shard string) watermill.LogFields {
	return watermill.LogFields{"stream": l.sub.stream, "shard": shard, "owner": l.c.Owner, "consumer_group": l.c.ConsumerGroup}
}

// report publishes the number of leases held (not being given up) to
// Subscriber.LeasesHeld.
func (l *leaser) report() {
	n := int64(l.active())
	l.sub.s.held.Add(n - l.reported)
	l.reported = n
}

func (l *leaser) active() int {
	n := 0
	for _, h := range l.held {
		if !h.stopping {
			n++
		}
	}
	return n
}

// exited handles a reader's exit; it reports whether a pass should follow
// at once (a finished shard may have made children readable).
func (l *leaser) exited(ctx context.Context, e shardExit) bool {
	defer l.report()
	h := l.held[e.shard]
	if h == nil {
		return false
	}
	h.reading = false
	switch {
	case e.finished:
		// Its Finished checkpoint is saved; the lease is of no more use.
		l.release(ctx, e.shard)
		delete(l.held, e.shard)
		l.listedAt = time.Time{}
		return true
	case h.stopping:
		if h.release {
			l.release(ctx, e.shard)
		}
		delete(l.held, e.shard)
	}
	// Otherwise the fetcher gave up: the next pass restarts the reader.
	return false
}

// stopReader makes the shard's reader stop after its in-flight message;
// release says whether to release the lease afterwards (handing over) or
// not (lost: someone else may hold it already).
func (l *leaser) stopReader(ctx context.Context, shard string, release bool) {
	h := l.held[shard]
	if h == nil || h.stopping {
		return
	}
	h.stopping, h.release = true, release
	close(h.stop)
	if !h.reading {
		if release {
			l.release(ctx, shard)
		}
		delete(l.held, shard)
	}
	l.report()
}

func (l *leaser) release(ctx context.Context, shard string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.c.LeaseTTL)
	defer cancel()
	if err := l.c.Leases.ReleaseLease(rctx, l.c.ConsumerGroup, l.sub.stream, shard, l.c.Owner); err != nil {
		// It expires after LeaseTTL instead.
		l.sub.s.log.Error("kinesis: release lease", err, l.fields(shard))
	}
}

// shutdown runs when the subscription ends: readers have been cancelled;
// once they have saved their checkpoints, the heartbeat is removed and the
// leases are released, so that other owners take the shards at once. In
// that order: an owner with a heartbeat and no lease looks like one that
// just joined, and the others would hand it a lease (and then not take
// that shard back for a LeaseTTL); without the heartbeat the leaving owner
// counts only while it still holds leases.
func (l *leaser) shutdown(ctx context.Context) {
	l.sub.wg.Wait()
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.c.LeaseTTL)
	defer cancel()
	if err := l.c.Leases.Heartbeat(hctx, l.c.ConsumerGroup, l.sub.stream, l.c.Owner, 0); err != nil {
		l.sub.s.log.Error("kinesis: remove lease heartbeat", err, l.fields(""))
	}
	for id := range l.held {
		l.release(ctx, id)
		delete(l.held, id)
	}
	l.report()
}

// pass renews, heartbeats, restarts readers and balances.
func (l *leaser) pass(ctx context.Context) {
	c := l.c
	group, stream := c.ConsumerGroup, l.sub.stream
	log := l.sub.s.log
	defer l.report()
	// The heartbeat and acquisitions are waited for even when ctx ends
	// meanwhile: a write abandoned on cancellation can still commit on
	// its pooled connection after shutdown's release and heartbeat removal,
	// and then count this owner as live, or hold a lease, for a whole
	// LeaseTTL.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.LeaseTTL)
	defer cancel()

	for _, id := range l.heldIDs() {
		h := l.held[id]
		start := time.Now()
		// A renewal answered after the local deadline is of no use.
		rctx, cancel := context.WithDeadline(ctx, time.Unix(0, h.validUntil.Load()))
		ok, err := c.Leases.RenewLease(rctx, group, stream, id, c.Owner, c.LeaseTTL)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && ok:
			h.validUntil.Store(start.Add(l.validity).UnixNano())
		case err == nil:
			log.Info("kinesis: shard lease lost", l.fields(id))
			l.stopReader(ctx, id, false)
		case time.Now().UnixNano() >= h.validUntil.Load():
			log.Error("kinesis: shard lease lapsed, renewal failed", err, l.fields(id))
			l.stopReader(ctx, id, false)
		default:
			log.Error("kinesis: renew shard lease, retrying", err, l.fields(id))
		}
	}

	if err := c.Leases.Heartbeat(wctx, group, stream, c.Owner, c.LeaseTTL); err != nil {
		if ctx.Err() == nil {
			log.Error("kinesis: lease heartbeat", err, l.fields(""))
		}
		return
	}
	if l.listedAt.IsZero() || time.Since(l.listedAt) >= c.ShardSyncInterval {
		shards, err := listShards(ctx, c.Client, stream)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("kinesis: list shards", err, l.fields(""))
			}
			if l.shards == nil {
				return
			}
		} else {
			l.shards, l.listedAt = shards, time.Now()
		}
	}
	cps, err := c.Checkpoints.Checkpoints(ctx, group, stream)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("kinesis: load checkpoints", err, l.fields(""))
		}
		return
	}
	ready := readableShards(l.shards, cps)
	isReadable := make(map[string]bool, len(ready))
	for _, sh := range ready {
		isReadable[sh.id] = true
	}
	// Held shards whose reader gave up are restarted; held shards no longer
	// readable (finished elsewhere, gone) are let go.
	for _, id := range l.heldIDs() {
		h := l.held[id]
		switch {
		case !isReadable[id]:
			l.stopReader(ctx, id, true)
		case !h.reading:
			l.startReader(ctx, id, cps[id])
		}
	}

	leases, err := c.Leases.Leases(ctx, group, stream)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("kinesis: list leases", err, l.fields(""))
		}
		return
	}
	owners, err := c.Leases.Owners(ctx, group, stream)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("kinesis: list lease owners", err, l.fields(""))
		}
		return
	}
	counts := map[string]int{c.Owner: l.active()}
	for _, o := range owners {
		if o != c.Owner {
			counts[o] = 0
		}
	}
	taken := map[string]bool{} // live leases of other owners
	for _, ls := range leases {
		if ls.Live && ls.Owner != c.Owner && isReadable[ls.ShardID] {
			counts[ls.Owner]++
			taken[ls.ShardID] = true
		}
	}
	mine := counts[c.Owner]
	target := (len(ready) + len(counts) - 1) / len(counts)

	switch {
	case mine < target:
		var free []readable
		for _, sh := range ready {
			if l.held[sh.id] == nil && !taken[sh.id] && time.Since(l.shedAt[sh.id]) >= c.LeaseTTL {
				free = append(free, sh)
			}
		}
		// Owners starting together should not all queue for the same shard.
		rand.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
		var got []readable
		for _, sh := range free {
			if mine >= target || ctx.Err() != nil {
				break
			}
			start := time.Now()
			ok, err := c.Leases.AcquireLease(wctx, group, stream, sh.id, c.Owner, c.LeaseTTL)
			if err != nil {
				if ctx.Err() == nil {
					log.Error("kinesis: acquire shard lease", err, l.fields(sh.id))
				}
				break
			}
			if !ok {
				continue
			}
			h := &heldLease{sh: sh, stop: make(chan struct{})}
			h.validUntil.Store(start.Add(l.validity).UnixNano())
			l.held[sh.id] = h
			got = append(got, sh)
			mine++
			log.Info("kinesis: shard lease acquired", l.fields(sh.id))
		}
		if len(got) == 0 {
			return
		}
		// The previous owner saved its checkpoint before releasing (or died
		// with what it had saved): read positions after acquiring.
		cps, err := c.Checkpoints.Checkpoints(ctx, group, stream)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("kinesis: load checkpoints", err, l.fields(""))
			}
			return // readers start on the next pass
		}
		for _, sh := range got {
			l.startReader(ctx, sh.id, cps[sh.id])
		}
	case mine > target || (mine == target && mine > 0 && l.mostLoaded(counts) && minCount(counts) <= target-2):
		ids := l.heldIDs()
		id := ids[len(ids)-1]
		log.Info("kinesis: handing over shard lease", watermill.LogFields{"stream": stream, "shard": id,
			"owner": c.Owner, "held": mine, "target": target, "owners": len(counts)})
		l.shedAt[id] = time.Now()
		l.stopReader(ctx, id, true)
	}
}

// heldIDs returns the shards held and not being given up, sorted.
func (l *leaser) heldIDs() []string {
	ids := make([]string, 0, len(l.held))
	for id, h := range l.held {
		if !h.stopping {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func (l *leaser) startReader(ctx context.Context, id string, cp stream.Checkpoint) {
	h := l.held[id]
	h.reading = true
	l.sub.start(ctx, h.sh, cp, h.stop, &h.validUntil)
}

// mostLoaded reports whether this owner is the one that hands a lease over
// when loads differ by two or more: the most loaded, ties broken by the
// lowest owner id.
func (l *leaser) mostLoaded(counts map[string]int) bool {
	me := counts[l.c.Owner]
	for o, n := range counts {
		if n > me || (n == me && o < l.c.Owner) {
			return false
		}
	}
	return true
}

func minCount(counts map[string]int) int {
	m := -1
	for _, n := range counts {
		if m < 0 || n < m {
			m = n
		}
	}
	return m
}
