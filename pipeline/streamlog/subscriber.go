package streamlog

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cognitosync/cognitosync/pipeline/stream"
)

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
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
	// MaxInFlight and MaxInFlightBytes bound the messages of one shard
	// sent and not yet settled (stream.ShardConfig): above 1 a consumer may
	// take several messages of a shard, in order, and acknowledge them as a
	// batch. 0: 1 message (the next only after the Ack); 16 MiB.
	MaxInFlight      int
	MaxInFlightBytes int
	// PollInterval is how often an idle shard is read again; appends of
	// this process wake the readers at once, so it matters only for
	// records published by another process and for new shards. 0: 1 s.
	PollInterval time.Duration
	// ReadBatch is the records read per query. 0: 100.
	ReadBatch int
	// Log receives read and checkpoint errors (retried). nil: the Log's.
	Log *slog.Logger
}

func (c *SubscriberConfig) setDefaults(l *Log) {
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

// Subscriber reads a Log as one consumer group: a Watermill Subscriber
// whose every Subscribe delivers the topic's shards in parallel, each
// through a stream.Shard (in order, the next only after the Ack, or up to
// MaxInFlight outstanding), starting after the group's checkpoints. A Nack redelivers
// the message after NackResendSleep; an Ack moves the shard's checkpoint
// (saved per CheckpointInterval, and on stop). The channel closes when the
// context ends, on Close or when the Log closes; a message delivered but
// not acknowledged by then is delivered again by the next subscription (at
// least once). Safe for concurrent use; one subscription per topic at a
// time.
type Subscriber struct {
	l *Log
	c SubscriberConfig

	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	topics  map[string]bool
	wg      sync.WaitGroup
}

var _ message.Subscriber = (*Subscriber)(nil)

// NewSubscriber returns a Subscriber of the log for c.ConsumerGroup.
func (l *Log) NewSubscriber(c SubscriberConfig) (*Subscriber, error) {
	c.setDefaults(l)
	return &Subscriber{l: l, c: c, closing: make(chan struct{}), topics: map[string]bool{}}, nil
}

// Subscribe registers the group for the topic's retention, reads its
// checkpoints and starts delivering. Errors: ErrClosed, a second
// subscription of the topic, and database errors.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.l.isClosed() {
		return nil, ErrClosed
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
	sub := &subscription{parent: s, topic: topic, out: make(chan *message.Message), start: cps}
	s.topics[topic] = true
	s.wg.Add(1)
	go sub.run(ctx)
	return sub.out, nil
}

// Close ends every subscription, saves their checkpoints and waits for
// them. Idempotent.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// subscription is one Subscribe: a goroutine finding shards and one
// stream.Shard per shard, each fed by a goroutine reading the log ahead.
type subscription struct {
	parent *Subscriber
	topic  string
	out    chan *message.Message
	start  map[string]stream.Checkpoint // the group's checkpoints when it subscribed
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
	l := s.parent.l
	var readers sync.WaitGroup
	known := map[string]bool{}
	poll := l.prepareRead(ctx, l.listShards)
	if poll != nil {
		defer poll.Close()
	}
	for ctx.Err() == nil {
		wake := l.changed()
		shards, err := l.shards(ctx, poll, s.topic)
		if err != nil && ctx.Err() == nil {
			s.log().Warn("stream log: list shards", "err", err)
		}
		for shard := range shards {
			if known[shard] {
				continue
			}
			known[shard] = true
			readers.Add(1)
			go func() {
				defer readers.Done()
				s.deliver(ctx, shard)
			}()
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-time.After(c.PollInterval):
		}
	}
	readers.Wait() // each has saved its checkpoint

	s.parent.mu.Lock()
	delete(s.parent.topics, s.topic)
	s.parent.mu.Unlock()
	close(s.out)
}

// deliver runs the shard's stream.Shard until ctx ends.
func (s *subscription) deliver(ctx context.Context, shard string) {
	c := s.parent.c
	cp := s.start[shard]
	sh, err := stream.NewShard(stream.ShardConfig{Out: s.out, Checkpoints: s.parent.l.c.Checkpoints,
		Group: c.ConsumerGroup, Stream: s.topic, ShardID: shard, Start: cp.SequenceNumber,
		CheckpointInterval: c.CheckpointInterval, NackResendSleep: c.NackResendSleep,
		MaxInFlight: c.MaxInFlight, MaxInFlightBytes: c.MaxInFlightBytes, Log: watermill.NewSlogLogger(c.Log)})
	if err != nil {
		s.log().Error("stream log: shard", "shard", shard, "err", err)
		return
	}
	// The reader stops only with ctx, so Run returns only then.
	sh.Run(ctx, func(ctx context.Context, out chan<- stream.Batch) {
		s.fetch(ctx, shard, checkpointSeq(cp), out)
	})
}

// fetch reads the shard's records after seq into out until ctx ends; it
// closes out.
func (s *subscription) fetch(ctx context.Context, shard string, after int64, out chan<- stream.Batch) {
	defer close(out)
	c := s.parent.c
	l := s.parent.l
	st := l.prepareRead(ctx, l.read)
	if st != nil {
		defer st.Close()
	}
	for {
		wake := l.changed()
		es, err := l.entries(ctx, st, s.topic, shard, after, c.ReadBatch)
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
		b := stream.Batch{Records: make([]stream.Record, len(es))}
		for i, e := range es {
			b.Records[i] = stream.Record{Seq: strconv.FormatInt(e.seq, 10), Msg: e.message(shard)}
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return
		}
		after = es[len(es)-1].seq
	}
}

// message is the Watermill message of the record: its stored metadata plus
// the stream.Metadata* keys.
func (e logEntry) message(shard string) *message.Message {
	m := message.NewMessage(e.uuid, e.payload)
	for k, v := range e.meta {
		m.Metadata.Set(k, v)
	}
	m.Metadata.Set(stream.MetadataPartitionKey, e.key)
	m.Metadata.Set(stream.MetadataShardID, shard)
	m.Metadata.Set(stream.MetadataSequenceNumber, strconv.FormatInt(e.seq, 10))
	m.Metadata.Set(stream.MetadataArrivalTime, stream.FormatArrivalTime(e.appended))
	return m
}
