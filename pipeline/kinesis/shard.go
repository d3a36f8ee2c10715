package kinesis

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// shardReader reads one shard: a fetching goroutine calls GetRecords (paced,
// one response ahead) and run delivers its records one at a time,
// checkpointing after Ack.
type shardReader struct {
	sub    *subscription
	shard  string
	start  string // checkpointed sequence number; "" none
	latest bool   // no checkpoint: start at LATEST

	// With leases: stop is closed when the lease is lost or handed over;
	// the reader then stops once the in-flight message is settled.
	// validUntil (unix nanoseconds) is the lease's local deadline, checked
	// before every delivery in case the coordinator is slow to notice.
	// Both are nil without leases.
	stop       <-chan struct{}
	validUntil *atomic.Int64
}

// stopped reports whether the reader must stop delivering: its lease is
// lost, handed over or past its local deadline.
func (r *shardReader) stopped() bool {
	if r.stop == nil {
		return false
	}
	select {
	case <-r.stop:
		return true
	default:
	}
	return time.Now().UnixNano() >= r.validUntil.Load()
}

type fetched struct {
	records []types.Record
	behind  *int64
	end     bool // the shard is closed and these are its last records
}

// run delivers the shard until ctx is done or the shard ends; it reports
// whether the shard was finished and checkpointed as such.
func (r *shardReader) run(ctx context.Context) (finished bool) {
	c := r.sub.s.c
	fctx, stopFetch := context.WithCancel(ctx)
	batches := make(chan fetched, 1)
	fetchDone := make(chan struct{})
	go func() {
		defer close(fetchDone)
		r.fetch(fctx, batches)
	}()
	defer func() {
		stopFetch()
		<-fetchDone
	}()

	acked, saved := r.start, r.start
	lastSave := time.Now()
	save := func(cp Checkpoint) bool {
		// Saving must outlive the subscription's context: Close flushes.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for attempt := 0; ; attempt++ {
			err := c.Checkpoints.SaveCheckpoint(sctx, c.ConsumerGroup, r.sub.stream, r.shard, cp)
			if err == nil {
				saved, lastSave = cp.SequenceNumber, time.Now()
				return true
			}
			r.sub.s.log.Error("kinesis: save checkpoint", err, r.fields())
			if !sleep(sctx, c.Backoff.Delay(attempt)) {
				return false
			}
		}
	}
	flush := func() {
		if acked != saved {
			save(Checkpoint{SequenceNumber: acked})
		}
	}
	defer flush()

	var tick <-chan time.Time
	if c.CheckpointInterval > 0 {
		t := time.NewTicker(c.CheckpointInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		var b fetched
		var ok bool
		select {
		case b, ok = <-batches:
		case <-tick:
			flush()
			continue
		case <-ctx.Done():
			return false
		case <-r.stop: // nil without leases: never
			return false
		}
		if !ok {
			return false // the fetcher gave up; the coordinator restarts us
		}
		for _, rec := range b.records {
			if !r.deliver(ctx, rec, b.behind) {
				return false
			}
			acked = aws.ToString(rec.SequenceNumber)
			if c.CheckpointInterval < 0 || time.Since(lastSave) >= c.CheckpointInterval {
				flush()
			}
		}
		if b.end {
			// Children may start only once this is stored.
			return save(Checkpoint{SequenceNumber: acked, Finished: true})
		}
	}
}

func (r *shardReader) fields() watermill.LogFields {
	return watermill.LogFields{"stream": r.sub.stream, "shard": r.shard}
}

// deliver sends one record until it is Acked; false when ctx ended or the
// lease was lost first. A message already sent is settled (Acked or Nacked)
// before a lost lease stops the reader, so that the next owner does not
// deliver it while this one is still handling it.
func (r *shardReader) deliver(ctx context.Context, rec types.Record, behind *int64) bool {
	c := r.sub.s.c
	if r.stopped() {
		return false
	}
	base, err := c.Marshaler.Unmarshal(r.shard, rec)
	if err != nil {
		// A record the marshaler cannot read can never be delivered; skip it
		// loudly rather than block the shard forever.
		r.sub.s.log.Error("kinesis: unmarshal record, skipping it", err,
			watermill.LogFields{"stream": r.sub.stream, "shard": r.shard, "sequence_number": aws.ToString(rec.SequenceNumber)})
		return true
	}
	setRecordMetadata(base, r.shard, rec, behind)
	msg := base
	for {
		mctx, cancel := context.WithCancel(ctx)
		msg.SetContext(mctx)
		var lapse <-chan time.Time // the lease's local deadline, while waiting for the consumer
		var lapseTimer *time.Timer
		if r.validUntil != nil {
			lapseTimer = time.NewTimer(time.Until(time.Unix(0, r.validUntil.Load())))
			lapse = lapseTimer.C
		}
		select {
		case r.sub.out <- msg:
		case <-ctx.Done():
			cancel()
			return false
		case <-r.stop:
			cancel()
			return false
		case <-lapse:
			cancel()
			return false
		}
		if lapseTimer != nil {
			lapseTimer.Stop()
		}
		select {
		case <-msg.Acked():
			cancel()
			return true
		case <-msg.Nacked():
			cancel()
			if r.stopped() || !sleep(ctx, c.NackResendSleep) {
				return false
			}
			msg = base.Copy()
		case <-ctx.Done():
			cancel()
			return wasAcked(msg) // an Ack given before Close still counts
		}
	}
}

// wasAcked reports whether m was acknowledged. A select that sees both a
// cancelled context and an Ack picks one at random; checking again keeps an
// Ack that came before Close from being dropped (and redelivered).
func wasAcked(m *message.Message) bool {
	select {
	case <-m.Acked():
		return true
	default:
		return false
	}
}

// fetch reads the shard into out until ctx is done, the shard ends or an
// error that retrying cannot fix; it closes out.
func (r *shardReader) fetch(ctx context.Context, out chan<- fetched) {
	defer close(out)
	c := r.sub.s.c
	log := r.sub.s.log
	last := r.start // last sequence number handed to run
	startedAt := time.Now()
	iter, ok := r.iterator(ctx, last, time.Time{})
	if !ok {
		return
	}
	var next time.Time
	failures := 0
	for {
		if !sleep(ctx, time.Until(next)) {
			return
		}
		res, err := c.Client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(iter), Limit: aws.Int32(c.GetRecordsLimit)})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			code := errorCode(err)
			switch {
			case code == "ExpiredIteratorException":
				// Iterators live 5 minutes; a slow consumer outlives them.
				// Resume right after the last record handed out.
				log.Debug("kinesis: shard iterator expired, renewing", r.fields())
				if iter, ok = r.iterator(ctx, last, startedAt); !ok { // AT_TIMESTAMP, not LATEST
					return
				}
				continue
			case isRetryable(err):
				log.Debug("kinesis: GetRecords failed, backing off", watermill.LogFields{"stream": r.sub.stream, "shard": r.shard, "err": err})
				next = time.Now().Add(c.Backoff.Delay(failures))
				failures++
				continue
			default:
				log.Error("kinesis: GetRecords", err, r.fields())
				return
			}
		}
		failures = 0
		size := 0
		for _, rec := range res.Records {
			size += len(rec.Data) + len(aws.ToString(rec.PartitionKey))
		}
		now := time.Now()
		next = now.Add(max(c.MinGetRecordsInterval, time.Duration(int64(size)*int64(time.Second)/int64(c.MaxReadBytesPerSecond))))
		behind := int64(-1)
		if res.MillisBehindLatest != nil {
			behind = *res.MillisBehindLatest
		}
		if c.OnGetRecords != nil {
			c.OnGetRecords(GetRecordsInfo{Stream: r.sub.stream, ShardID: r.shard, Records: len(res.Records), Bytes: size, MillisBehindLatest: behind})
		}
		end := res.NextShardIterator == nil
		if len(res.Records) > 0 || end {
			select {
			case out <- fetched{records: res.Records, behind: res.MillisBehindLatest, end: end}:
			case <-ctx.Done():
				return
			}
			if len(res.Records) > 0 {
				last = aws.ToString(res.Records[len(res.Records)-1].SequenceNumber)
			}
		}
		if end {
			return
		}
		iter = *res.NextShardIterator
		if len(res.Records) == 0 && behind <= 0 {
			next = now.Add(max(c.PollInterval, c.MinGetRecordsInterval))
		}
	}
}

// iterator returns an iterator after the sequence number after, or at the
// configured start when there is none. A LATEST reader renewing its iterator
// before it read anything passes since, the time it first started, so that
// nothing that arrived meanwhile is skipped.
func (r *shardReader) iterator(ctx context.Context, after string, since time.Time) (string, bool) {
	c := r.sub.s.c
	for attempt := 0; ; attempt++ {
		in := &kinesis.GetShardIteratorInput{StreamName: aws.String(r.sub.stream), ShardId: aws.String(r.shard)}
		switch {
		case after != "":
			in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
			in.StartingSequenceNumber = aws.String(after)
		case r.latest && since.IsZero():
			in.ShardIteratorType = types.ShardIteratorTypeLatest
		case r.latest:
			in.ShardIteratorType = types.ShardIteratorTypeAtTimestamp
			in.Timestamp = aws.Time(since)
		default:
			in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
		}
		out, err := c.Client.GetShardIterator(ctx, in)
		if err == nil {
			return aws.ToString(out.ShardIterator), true
		}
		if ctx.Err() != nil {
			return "", false
		}
		if errorCode(err) == "InvalidArgumentException" && after != "" {
			// The checkpointed record is gone (past retention): read what is left.
			r.sub.s.log.Error("kinesis: checkpoint no longer readable, starting at TRIM_HORIZON", err, r.fields())
			after = ""
			r.latest = false
			continue
		}
		if !isRetryable(err) {
			r.sub.s.log.Error("kinesis: GetShardIterator", err, r.fields())
			return "", false
		}
		if !sleep(ctx, c.Backoff.Delay(attempt)) {
			return "", false
		}
	}
}
