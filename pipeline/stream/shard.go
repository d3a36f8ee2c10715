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
	// MaxInFlight bounds the messages of the shard sent and not yet
	// settled: the next is sent while fewer are outstanding, so a consumer
	// may gather a batch and acknowledge it at once. 0: 1 (the next message
	// only after the previous one's Ack).
	MaxInFlight int
	// MaxInFlightBytes bounds the payload bytes outstanding (one message
	// is always let through). 0: 16 MiB.
	MaxInFlightBytes int
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
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 1
	}
	if c.MaxInFlightBytes <= 0 {
		c.MaxInFlightBytes = 16 << 20
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

// sent is a message handed to the consumer and not yet settled.
type sent struct {
	slot   *slot
	msg    *message.Message
	cancel context.CancelFunc
	bytes  int
}

// settled is the outcome of a sent message.
type settled struct {
	s     *sent
	acked bool
}

// window is the delivery state of deliverAll: records read and not yet
// sent, messages to send again after a Nack, and those outstanding.
type window struct {
	queue       []Record
	resend      []*sent
	outstanding map[*sent]struct{}
	bytes       int
	results     chan settled
}

// room reports whether one more message may be outstanding: below
// MaxInFlight and MaxInFlightBytes (one message always fits).
func (s *Shard) room(w *window) bool {
	n := len(w.outstanding)
	return n == 0 || n < s.c.MaxInFlight && w.bytes < s.c.MaxInFlightBytes
}

// deliverAll is Run's loop over the batches read: it keeps up to
// MaxInFlight messages (and MaxInFlightBytes) outstanding, in order, and
// moves the position as they are acknowledged.
func (s *Shard) deliverAll(ctx context.Context, batches <-chan Batch) (finished bool) {
	defer s.flushFinal(ctx)
	var tick <-chan time.Time
	if s.c.CheckpointInterval > 0 {
		t := time.NewTicker(s.c.CheckpointInterval)
		defer t.Stop()
		tick = t.C
	}
	w := &window{outstanding: map[*sent]struct{}{}, results: make(chan settled, s.c.MaxInFlight)}
	var end, readerDone, stopping bool
	stop := s.c.Stop
	for {
		idle := len(w.queue) == 0 && len(w.resend) == 0 && len(w.outstanding) == 0
		switch {
		case stopping && len(w.outstanding) == 0:
			return false
		case end && idle:
			// The shard's children may start only once this is stored.
			return s.save(ctx, Checkpoint{SequenceNumber: s.pos.acked, Finished: true})
		case readerDone && idle:
			return false
		}
		if !stopping && s.stopped() {
			stopping = true
			continue
		}
		var next *sent
		if !stopping && s.room(w) {
			switch {
			case len(w.resend) > 0:
				next = w.resend[0]
			case len(w.queue) > 0:
				rec := w.queue[0]
				if rec.Msg == nil { // unreadable: passed over
					w.queue = w.queue[1:]
					s.pos.ack(s.pos.send(rec.Seq))
					continue
				}
				next = &sent{msg: rec.Msg, bytes: len(rec.Msg.Payload)}
			}
		}
		var out chan<- *message.Message
		var msg *message.Message // evaluated by the select even when out is nil
		var lapse <-chan time.Time
		var lapseTimer *time.Timer
		if next != nil {
			out, msg = s.c.Out, next.msg
			var mctx context.Context
			mctx, next.cancel = context.WithCancel(ctx)
			next.msg.SetContext(mctx)
			if s.c.ValidUntil != nil {
				lapseTimer = time.NewTimer(time.Until(s.c.ValidUntil()))
				lapse = lapseTimer.C
			}
		}
		wasSent := false
		var in <-chan Batch
		if len(w.queue) == 0 && !end && !readerDone && !stopping {
			in = batches
		}
		select {
		case out <- msg:
			wasSent = true
			if len(w.resend) > 0 && w.resend[0] == next {
				w.resend = w.resend[1:]
			} else {
				next.slot = s.pos.send(w.queue[0].Seq)
				w.queue = w.queue[1:]
			}
			w.outstanding[next] = struct{}{}
			w.bytes += next.bytes
			go s.watch(next, w.results)
		case b, ok := <-in:
			if !ok {
				readerDone = true
			} else {
				w.queue, end = b.Records, b.End
			}
		case r := <-w.results:
			s.settle(w, r, stopping)
		case <-tick:
			s.flush(ctx)
			continue
		case <-ctx.Done():
			// A select that sees both a cancelled context and an Ack picks
			// one at random: an Ack given before the end still counts (and
			// is not delivered again).
			for o := range w.outstanding {
				o.cancel()
				if acked(o.msg) {
					s.pos.ack(o.slot)
				}
			}
			return false
		case <-stop:
			stopping, stop = true, nil
		case <-lapse:
			stopping = true
		}
		if lapseTimer != nil {
			lapseTimer.Stop()
		}
		if next != nil && !wasSent {
			next.cancel() // not handed out: a new context when it is
		}
		if s.c.CheckpointInterval < 0 || time.Since(s.lastAttempt) >= s.c.CheckpointInterval {
			s.flush(ctx)
		}
	}
}

// watch reports the outcome of o on results once it is settled; a Nack
// after NackResendSleep. It reports nothing when o's context ends first
// (deliverAll returned and checks the Ack itself). results has room for
// every outstanding message, so it never blocks.
func (s *Shard) watch(o *sent, results chan<- settled) {
	select {
	case <-o.msg.Acked():
		results <- settled{o, true}
	case <-o.msg.Nacked():
		t := time.NewTimer(s.c.NackResendSleep)
		defer t.Stop()
		select {
		case <-t.C:
		case <-o.msg.Context().Done():
		}
		results <- settled{o, false}
	case <-o.msg.Context().Done():
	}
}

// settle applies a settled message: an Ack moves the position; a Nack
// queues a copy (same UUID, payload and metadata) to be sent again, unless
// the shard is stopping.
func (s *Shard) settle(w *window, r settled, stopping bool) {
	delete(w.outstanding, r.s)
	w.bytes -= r.s.bytes
	r.s.cancel()
	if r.acked {
		s.pos.ack(r.s.slot)
		return
	}
	if stopping {
		return
	}
	// a message is acked or nacked once: send a copy, in its slot
	w.resend = append(w.resend, &sent{slot: r.s.slot, msg: r.s.msg.Copy(), bytes: r.s.bytes})
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
