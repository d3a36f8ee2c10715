package stream

import (
	"context"
	"errors"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cognitosync/cognitosync/internal/retry"
)

// Record is one record of a shard as an adapter read it.
type Record struct {
	// Seq is the record's sequence number, the checkpoint once it is
	// acknowledged (decimal, see CompareSequenceNumbers).
	Seq string
	// Msg is the message to deliver, with the Metadata* keys set. nil: the
	// record can never be delivered (the adapter could not read it and
	// logged why); the position moves past it without waiting, rather than
	// block the shard forever.
	Msg *message.Message
}

// Batch is the next records of a shard, in order.
type Batch struct {
	Records []Record
	// End means the shard is closed (resharded) and these are its last
	// records: once they are acknowledged Run saves a Finished checkpoint.
	End bool
}

// ShardConfig configures the delivery loop of one shard.
type ShardConfig struct {
	// Out is the subscription's channel, shared by the shards it reads.
	// Required.
	Out chan<- *message.Message
	// Checkpoints stores the position. Required.
	Checkpoints CheckpointStore
	// Group, Stream and ShardID key the checkpoint.
	Group, Stream, ShardID string
	// Start is the checkpoint the reading starts after ("" none): the
	// position until the first Ack.
	Start string
	// CheckpointInterval batches checkpoint writes: an acknowledged
	// position is saved at most this long after the Ack (a failed save is
	// tried again at the next interval), and always when the shard ends
	// and when Run returns. 0: 1 s; negative: after every Ack.
	CheckpointInterval time.Duration
	// NackResendSleep is the wait before a Nacked message is sent again.
	// 0: 100 ms.
	NackResendSleep time.Duration
	// Backoff paces the retries of the saves that must succeed: the
	// Finished checkpoint and the one when Run returns.
	Backoff retry.Backoff
	// SaveTimeout bounds those saves, which outlive ctx (Close flushes).
	// 0: 30 s.
	SaveTimeout time.Duration
	// Stop, when closed, makes Run return before sending another message
	// (the shard's lease was lost or handed over); a message already sent
	// is settled first, so that the next owner does not deliver it while
	// this one still handles it. nil: never.
	Stop <-chan struct{}
	// ValidUntil returns the lease's local deadline: past it, Run sends
	// nothing more and stops waiting for the consumer to take a message.
	// nil: no deadline.
	ValidUntil func() time.Time
	// Log receives checkpoint errors. nil: none.
	Log watermill.LoggerAdapter
}

func (c *ShardConfig) setDefaults() {
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = time.Second
	}
	if c.NackResendSleep <= 0 {
		c.NackResendSleep = 100 * time.Millisecond
	}
	c.Backoff = c.Backoff.WithDefaults(100*time.Millisecond, 5*time.Second)
	if c.SaveTimeout <= 0 {
		c.SaveTimeout = 30 * time.Second
	}
	if c.Log == nil {
		c.Log = watermill.NopLogger{}
	}
}

// Validate reports missing required fields.
func (c ShardConfig) Validate() error {
	var errs []error
	if c.Out == nil {
		errs = append(errs, errors.New("stream shard: Out is required"))
	}
	if c.Checkpoints == nil {
		errs = append(errs, errors.New("stream shard: Checkpoints is required"))
	}
	return errors.Join(errs...)
}

// Shard delivers one shard of a subscription and keeps its checkpoint: the
// delivery and checkpoint contract of the package documentation, shared by
// every adapter. Run it once, from one goroutine.
type Shard struct {
	c           ShardConfig
	pos         *position
	lastAttempt time.Time
	fields      watermill.LogFields
}

// NewShard returns the loop of one shard.
func NewShard(c ShardConfig) (*Shard, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Shard{c: c, pos: newPosition(c.Start), lastAttempt: time.Now(),
		fields: watermill.LogFields{"stream": c.Stream, "shard": c.ShardID, "consumer_group": c.Group}}, nil
}

// Run delivers the shard until ctx ends, Stop closes, the lease lapses,
// read gives up or the shard ends. read is the adapter's reader: Run calls
// it in a goroutine of its own, so that it reads one batch ahead of
// delivery, and ends its context when delivery stops; read sends the
// shard's records in order on out, and closes out when it returns (it
// gave up: its coordinator may start another Run later). Run saves the
// acknowledged position before returning and reports whether the shard
// was finished and checkpointed as such.
func (s *Shard) Run(ctx context.Context, read func(ctx context.Context, out chan<- Batch)) (finished bool) {
	rctx, stopRead := context.WithCancel(ctx)
	batches := make(chan Batch, 1)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		read(rctx, batches)
	}()
	defer func() {
		stopRead()
		<-readDone
	}()
	return s.deliverAll(ctx, batches)
}

// deliverAll is Run's loop over the batches read.
func (s *Shard) deliverAll(ctx context.Context, batches <-chan Batch) (finished bool) {
	defer s.flushFinal(ctx)
	var tick <-chan time.Time
	if s.c.CheckpointInterval > 0 {
		t := time.NewTicker(s.c.CheckpointInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		var b Batch
		var ok bool
		select {
		case b, ok = <-batches:
		case <-tick:
			s.flush(ctx)
			continue
		case <-ctx.Done():
			return false
		case <-s.c.Stop: // nil without leases: never
			return false
		}
		if !ok {
			return false
		}
		for _, rec := range b.Records {
			if !s.deliver(ctx, rec) {
				return false
			}
			if s.c.CheckpointInterval < 0 || time.Since(s.lastAttempt) >= s.c.CheckpointInterval {
				s.flush(ctx)
			}
		}
		if b.End {
			// The shard's children may start only once this is stored.
			return s.save(ctx, Checkpoint{SequenceNumber: s.pos.acked, Finished: true})
		}
	}
}

// stopped reports whether the shard must not send another message: its
// lease is lost, handed over or past its local deadline.
func (s *Shard) stopped() bool {
	select {
	case <-s.c.Stop:
		return true
	default:
	}
	return s.c.ValidUntil != nil && !time.Now().Before(s.c.ValidUntil())
}

// deliver sends rec's message until it is Acked; false when ctx ended or
// the lease was lost first. The message's context is cancelled once it is
// settled.
func (s *Shard) deliver(ctx context.Context, rec Record) bool {
	if s.stopped() {
		return false
	}
	sl := s.pos.send(rec.Seq)
	if rec.Msg == nil {
		s.pos.ack(sl)
		return true
	}
	msg := rec.Msg
	for {
		mctx, cancel := context.WithCancel(ctx)
		msg.SetContext(mctx)
		if !s.send(ctx, msg) {
			cancel()
			return false
		}
		select {
		case <-msg.Acked():
			cancel()
			s.pos.ack(sl)
			return true
		case <-msg.Nacked():
			cancel()
		case <-ctx.Done():
			cancel()
			// A select that sees both a cancelled context and an Ack picks
			// one at random: an Ack given before Close still counts (and
			// is not delivered again).
			if acked(msg) {
				s.pos.ack(sl)
				return true
			}
			return false
		}
		if s.stopped() || retry.Sleep(ctx, s.c.NackResendSleep) != nil || s.stopped() {
			return false
		}
		msg = msg.Copy() // a message is acked or nacked once
	}
}

// send hands msg to the consumer; false when ctx ended, Stop closed or the
// lease's deadline passed first.
func (s *Shard) send(ctx context.Context, msg *message.Message) bool {
	var lapse <-chan time.Time
	if s.c.ValidUntil != nil {
		t := time.NewTimer(time.Until(s.c.ValidUntil()))
		defer t.Stop()
		lapse = t.C
	}
	select {
	case s.c.Out <- msg:
		return true
	case <-ctx.Done():
		return false
	case <-s.c.Stop:
		return false
	case <-lapse:
		return false
	}
}

func acked(m *message.Message) bool {
	select {
	case <-m.Acked():
		return true
	default:
		return false
	}
}

// flush saves the acknowledged position once if it moved; a failure is
// logged and tried again at the next flush.
func (s *Shard) flush(ctx context.Context) {
	if !s.pos.unsaved() {
		return
	}
	s.lastAttempt = time.Now()
	cp := Checkpoint{SequenceNumber: s.pos.acked}
	if err := s.c.Checkpoints.SaveCheckpoint(ctx, s.c.Group, s.c.Stream, s.c.ShardID, cp); err != nil {
		if ctx.Err() == nil {
			s.c.Log.Error("stream: save checkpoint, retrying later", err, s.fields)
		}
		return
	}
	s.pos.saved = cp.SequenceNumber
}

// flushFinal saves the acknowledged position when Run returns.
func (s *Shard) flushFinal(ctx context.Context) {
	if s.pos.unsaved() {
		s.save(ctx, Checkpoint{SequenceNumber: s.pos.acked})
	}
}

// save stores cp, retrying with Backoff for up to SaveTimeout, also after
// ctx ended (Close flushes); it reports whether the store accepted it.
func (s *Shard) save(ctx context.Context, cp Checkpoint) bool {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.c.SaveTimeout)
	defer cancel()
	b := s.c.Backoff.New()
	for {
		err := s.c.Checkpoints.SaveCheckpoint(sctx, s.c.Group, s.c.Stream, s.c.ShardID, cp)
		if err == nil {
			s.pos.saved = cp.SequenceNumber
			return true
		}
		s.c.Log.Error("stream: save checkpoint", err, s.fields)
		if retry.Sleep(sctx, b.NextBackOff()) != nil {
			return false
		}
	}
}
