package kinesis

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/cognitosync/cognitosync/internal/retry"
	"github.com/cognitosync/cognitosync/pipeline/stream"
)

// shardReader reads one shard: fetch calls GetRecords (paced, one response
// ahead) and turns the records into messages, and a stream.Shard delivers
// them and checkpoints.
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

// run delivers the shard until ctx is done or the shard ends; it reports
// whether the shard was finished and checkpointed as such.
func (r *shardReader) run(ctx context.Context) (finished bool) {
	c := r.sub.s.c
	sc := stream.ShardConfig{Out: r.sub.out, Checkpoints: c.Checkpoints, Group: c.ConsumerGroup, Stream: r.sub.stream,
		ShardID: r.shard, Start: r.start, CheckpointInterval: c.CheckpointInterval, NackResendSleep: c.NackResendSleep,
		MaxInFlight: c.MaxInFlight, MaxInFlightBytes: c.MaxInFlightBytes, Backoff: c.Backoff, Stop: r.stop, Log: r.sub.s.log}
	if r.validUntil != nil {
		sc.ValidUntil = func() time.Time { return time.Unix(0, r.validUntil.Load()) }
	}
	sh, err := stream.NewShard(sc)
	if err != nil {
		r.sub.s.log.Error("kinesis: shard reader", err, r.fields())
		return false
	}
	return sh.Run(ctx, r.fetch)
}

func (r *shardReader) fields() watermill.LogFields {
	return watermill.LogFields{"stream": r.sub.stream, "shard": r.shard}
}

// records turns a GetRecords response into the shard's next records. A
// record the marshaler cannot read can never be delivered: it is logged
// and passed over (nil Msg) rather than block the shard forever.
func (r *shardReader) records(res *kinesis.GetRecordsOutput) []stream.Record {
	out := make([]stream.Record, len(res.Records))
	for i, rec := range res.Records {
		out[i].Seq = aws.ToString(rec.SequenceNumber)
		msg, err := r.sub.s.c.Marshaler.Unmarshal(r.shard, rec)
		if err != nil {
			r.sub.s.log.Error("kinesis: unmarshal record, skipping it", err,
				watermill.LogFields{"stream": r.sub.stream, "shard": r.shard, "sequence_number": out[i].Seq})
			continue
		}
		setRecordMetadata(msg, r.shard, rec, res.MillisBehindLatest)
		out[i].Msg = msg
	}
	return out
}

// fetch reads the shard into out until ctx is done, the shard ends or an
// error that retrying cannot fix; it closes out.
func (r *shardReader) fetch(ctx context.Context, out chan<- stream.Batch) {
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
	backoff := c.Backoff.New()
	for {
		if retry.Sleep(ctx, time.Until(next)) != nil {
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
				next = time.Now().Add(backoff.NextBackOff())
				continue
			default:
				log.Error("kinesis: GetRecords", err, r.fields())
				return
			}
		}
		backoff.Reset()
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
			case out <- stream.Batch{Records: r.records(res), End: end}:
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
	backoff := c.Backoff.New()
	for {
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
		if retry.Sleep(ctx, backoff.NextBackOff()) != nil {
			return "", false
		}
	}
}
