package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cognitosync/cognitosync/pipeline/kinesis"
)

// LogSubscriberConfig configures a LogSubscriber.
type LogSubscriberConfig struct {
	// ConsumerGroup names the checkpoint namespace, as in pipeline/kinesis:
	// the worker uses <consumer-group>.<route>, one group per route. "":
	// "default".
	ConsumerGroup string
	// CheckpointInterval batches checkpoint writes: an acknowledged
	// position is saved at most this long after the Ack, and always when
	// the subscription stops or the Subscriber closes. 0: 1 s; negative:
	// after every Ack.
	CheckpointInterval time.Duration
	// NackResendSleep is the wait before redelivering a Nacked message.
	// 0: 100 ms.
	NackResendSleep time.Duration
	// PollInterval is how often an idle shard is read again; appends of
	// this process wake the readers at once, so it matters only for
	// records published by another process and for new shards. 0: 1 s.
	PollInterval time.Duration
	// ReadBatch is the records read per query. 0: 100.
	ReadBatch int
	// Log receives read and checkpoint errors (retried). nil: the
	// StreamLog's.
	Log *slog.Logger
}

func (c *LogSubscriberConfig) setDefaults(l *StreamLog) {
	if c.ConsumerGroup == "" {
		c.ConsumerGroup = "default"
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = time.Second
	}
	if c.NackResendSleep <= 0 {
		c.NackResendSleep = 100 * time.Millisecond
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.ReadBatch <= 0 {
		c.ReadBatch = 100
	}
	if c.Log == nil {
		c.Log = l.c.Log
	}
}

// LogSubscriber reads a StreamLog as one consumer group: a Watermill
// Subscriber whose every Subscribe delivers the topic's shards in parallel,
// each in order and one message at a time (the next only after the Ack),
// starting after the group's checkpoints. A Nack redelivers the message
// after NackResendSleep; an Ack moves the shard's checkpoint (saved per
// CheckpointInterval, and on stop). The channel closes when the context
// ends, on Close or when the StreamLog closes; a message delivered but not
// acknowledged by then is delivered again by the next subscription (at
// least once). Safe for concurrent use; one subscription per topic at a
// time.
type LogSubscriber struct {
	l *StreamLog
	c LogSubscriberConfig

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	topics  map[string]bool
	wg      sync.WaitGroup
}

var _ message.Subscriber = (*LogSubscriber)(nil)

// NewSubscriber returns a Subscriber of the log for c.ConsumerGroup.
func (l *StreamLog) NewSubscriber(c LogSubscriberConfig) (*LogSubscriber, error) {
	c.setDefaults(l)
	return &LogSubscriber{l: l, c: c, closing: make(chan struct{}), topics: map[string]bool{}}, nil
}

// Subscribe registers the group for the topic's retention, reads its
// checkpoints and starts delivering. Errors: ErrStreamLogClosed, a second
// subscription of the topic, and database errors.
func (s *LogSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.l.isClosed() {
		return nil, ErrStreamLogClosed
	}
	if s.topics[topic] {
		return nil, fmt.Errorf("stream log %s: group %s already subscribed in this process", topic, s.c.ConsumerGroup)
	}
	if err := s.l.registerGroup(ctx, topic, s.c.ConsumerGroup); err != nil {
		return nil, err
	}
	cps, err := s.l.c.Checkpoints.Checkpoints(ctx, s.c.ConsumerGroup, topic)
	if err != nil {
		return nil, fmt.Errorf("stream log %s: checkpoints of %s: %w", topic, s.c.ConsumerGroup, err)
	}
	sub := &subscription{parent: s, topic: topic, out: make(chan *message.Message),
		acked: map[string]int64{}, saved: map[string]int64{}}
	for shard, cp := range cps {
		sub.saved[shard] = checkpointSeq(cp)
	}
	s.topics[topic] = true
	s.wg.Add(1)
	go sub.run(ctx)
	return sub.out, nil
}

// Close ends every subscription, saves their checkpoints and waits for
// them. Idempotent.
func (s *LogSubscriber) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// subscription is one Subscribe: a goroutine finding shards and one reader
// goroutine per shard.
type subscription struct {
	parent *LogSubscriber
	topic  string
	out    chan *message.Message

	mu    sync.Mutex
	acked map[string]int64 // last acknowledged sequence number per shard
	saved map[string]int64 // last saved (or loaded) checkpoint per shard
}

func (s *subscription) log() *slog.Logger {
	return s.parent.c.Log.With("stream", s.topic, "consumer_group", s.parent.c.ConsumerGroup)
}

func (s *subscription) run(parentCtx context.Context) {
	defer s.parent.wg.Done()
	ctx, cancel := context.WithCancel(parentCtx)
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
		case <-s.parent.closing:
		case <-s.parent.l.done:
		}
		cancel()
	}()
	c := s.parent.c
	var readers sync.WaitGroup
	flusherDone := make(chan struct{})
	go func() {
		defer close(flusherDone)
		if c.CheckpointInterval < 0 {
			return
		}
		t := time.NewTicker(c.CheckpointInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.flush(ctx)
			}
		}
	}()

	known := map[string]bool{}
	for ctx.Err() == nil {
		wake := s.parent.l.changed()
		shards, err := s.parent.l.shards(ctx, s.topic)
		if err != nil && ctx.Err() == nil {
			s.log().Warn("stream log: list shards", "err", err)
		}
		for shard := range shards {
			if known[shard] {
				continue
			}
			known[shard] = true
			s.mu.Lock()
			after := s.saved[shard]
			s.mu.Unlock()
			readers.Add(1)
			go func() {
				defer readers.Done()
				s.read(ctx, shard, after)
			}()
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-time.After(c.PollInterval):
		}
	}
	readers.Wait()
	<-flusherDone
	// Saving outlives the subscription's context: Close flushes.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(parentCtx), 10*time.Second)
	defer fcancel()
	s.flush(fctx)

	s.parent.mu.Lock()
	delete(s.parent.topics, s.topic)
	s.parent.mu.Unlock()
	close(s.out)
}

// read delivers the shard's records after seq until ctx ends.
func (s *subscription) read(ctx context.Context, shard string, after int64) {
	c := s.parent.c
	for {
		wake := s.parent.l.changed()
		es, err := s.parent.l.entries(ctx, s.topic, shard, after, c.ReadBatch)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log().Warn("stream log: read", "shard", shard, "err", err)
		}
		if len(es) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			case <-time.After(c.PollInterval):
			}
			continue
		}
		for _, e := range es {
			if !s.deliver(ctx, shard, e) {
				return
			}
			after = e.seq
		}
	}
}

// deliver sends e until it is acked; false when ctx ended first.
func (s *subscription) deliver(ctx context.Context, shard string, e logEntry) bool {
	seq := strconv.FormatInt(e.seq, 10)
	for {
		m := message.NewMessage(e.uuid, e.payload)
		for k, v := range e.meta {
			m.Metadata.Set(k, v)
		}
		m.Metadata.Set(kinesis.MetadataPartitionKey, e.key)
		m.Metadata.Set(kinesis.MetadataShardID, shard)
		m.Metadata.Set(kinesis.MetadataSequenceNumber, seq)
		m.Metadata.Set(kinesis.MetadataArrivalTime, e.appended.Format("2006-01-02T15:04:05.000Z07:00"))
		m.SetContext(ctx)
		select {
		case s.out <- m:
		case <-ctx.Done():
			return false
		}
		select {
		case <-m.Acked():
			s.ack(ctx, shard, e.seq)
			return true
		case <-m.Nacked():
		case <-ctx.Done():
			// A select that sees both a cancelled context and an Ack
			// picks one at random: keep an Ack that came before Close.
			select {
			case <-m.Acked():
				s.ack(context.WithoutCancel(ctx), shard, e.seq)
				return true
			default:
				return false
			}
		}
		select {
		case <-time.After(s.parent.c.NackResendSleep):
		case <-ctx.Done():
			return false
		}
	}
}

func (s *subscription) ack(ctx context.Context, shard string, seq int64) {
	s.mu.Lock()
	s.acked[shard] = seq
	s.mu.Unlock()
	if s.parent.c.CheckpointInterval < 0 {
		s.flush(ctx)
	}
}

// flush saves the acknowledged positions not saved yet; a failed one is
// tried again at the next flush.
func (s *subscription) flush(ctx context.Context) {
	s.mu.Lock()
	var todo []struct {
		shard string
		seq   int64
	}
	for shard, seq := range s.acked {
		if seq > s.saved[shard] {
			todo = append(todo, struct {
				shard string
				seq   int64
			}{shard, seq})
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, t := range todo {
		err := s.parent.l.c.Checkpoints.SaveCheckpoint(ctx, s.parent.c.ConsumerGroup, s.topic, t.shard,
			kinesis.Checkpoint{SequenceNumber: strconv.FormatInt(t.seq, 10)})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.mu.Lock()
		s.saved[t.shard] = max(s.saved[t.shard], t.seq)
		s.mu.Unlock()
	}
	if err := errors.Join(errs...); err != nil && ctx.Err() == nil {
		s.log().Warn("stream log: save checkpoint", "err", err)
	}
}
