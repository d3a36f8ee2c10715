package outbox

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// ErrNoSubscriber is returned by Embedded.Publish while a topic has no
// subscriber: the Forwarder then keeps the entries in the outbox.
var ErrNoSubscriber = errors.New("embedded stream: no subscriber for the topic")

// ErrEmbeddedClosed is returned after Close.
var ErrEmbeddedClosed = errors.New("embedded stream: closed")

// Embedded is an in-memory, synchronous stream, for tests whose consumer
// must hold the publisher (a BulkPublish job IN_PROGRESS until acked). The
// worker's embedded mode uses StreamLog instead: here one subscriber that
// does not ack stalls every other. It keeps no data of its own: Publish
// hands each message to every current subscriber of the topic and returns
// only when all of them acked it (a nack redelivers after RetryDelay). Fed
// by a Forwarder, the durable outbox therefore keeps every change until
// the in-process consumer has handled it, and a crash redelivers it
// (at least once). Order: messages of one Publish are delivered one at a
// time, in order. Safe for concurrent use.
type Embedded struct {
	RetryDelay time.Duration // pause before redelivering a nacked message; 0: 100 ms

	mu     sync.Mutex
	subs   map[string]map[*embeddedSub]struct{}
	closed chan struct{}
	once   sync.Once
}

type embeddedSub struct {
	ctx  context.Context
	out  chan *message.Message
	mu   sync.Mutex // guards sending on out against closing it
	done bool
}

var (
	_ message.Publisher  = (*Embedded)(nil)
	_ message.Subscriber = (*Embedded)(nil)
)

// NewEmbedded returns an empty Embedded stream.
func NewEmbedded() *Embedded {
	return &Embedded{subs: map[string]map[*embeddedSub]struct{}{}, closed: make(chan struct{})}
}

// Subscribe delivers the topic's messages until ctx ends or Close; the
// channel is closed then. Ack or Nack every message.
func (e *Embedded) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-e.closed:
		return nil, ErrEmbeddedClosed
	default:
	}
	s := &embeddedSub{ctx: ctx, out: make(chan *message.Message)}
	if e.subs[topic] == nil {
		e.subs[topic] = map[*embeddedSub]struct{}{}
	}
	e.subs[topic][s] = struct{}{}
	go func() {
		select {
		case <-ctx.Done():
		case <-e.closed:
		}
		e.mu.Lock()
		delete(e.subs[topic], s)
		e.mu.Unlock()
		s.mu.Lock()
		s.done = true
		close(s.out)
		s.mu.Unlock()
	}()
	return s.out, nil
}

// Publish delivers msgs in order and returns when every subscriber acked
// each of them; ErrNoSubscriber when the topic has none. The first
// message's context bounds the call.
func (e *Embedded) Publish(topic string, msgs ...*message.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	ctx := msgs[0].Context()
	e.mu.Lock()
	subs := make([]*embeddedSub, 0, len(e.subs[topic]))
	for s := range e.subs[topic] {
		subs = append(subs, s)
	}
	e.mu.Unlock()
	if len(subs) == 0 {
		return ErrNoSubscriber
	}
	delay := e.RetryDelay
	if delay <= 0 {
		delay = 100 * time.Millisecond
	}
	for _, m := range msgs {
		for _, s := range subs {
			if err := e.deliver(ctx, s, m, delay); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *Embedded) deliver(ctx context.Context, s *embeddedSub, m *message.Message, delay time.Duration) error {
	for {
		c := m.Copy()
		c.SetContext(s.ctx)
		if err := s.send(ctx, c, e.closed); err != nil {
			return err
		}
		select {
		case <-c.Acked():
			return nil
		case <-c.Nacked():
		case <-s.ctx.Done():
			return ErrNoSubscriber
		case <-ctx.Done():
			return ctx.Err()
		case <-e.closed:
			return ErrEmbeddedClosed
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		case <-e.closed:
			return ErrEmbeddedClosed
		}
	}
}

// Close ends every subscription; Publish then fails. Idempotent.
func (e *Embedded) Close() error {
	e.once.Do(func() { close(e.closed) })
	return nil
}

func (s *embeddedSub) send(ctx context.Context, m *message.Message, closed <-chan struct{}) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return ErrNoSubscriber
	}
	select {
	case s.out <- m:
		return nil
	case <-s.ctx.Done():
		return ErrNoSubscriber
	case <-ctx.Done():
		return ctx.Err()
	case <-closed:
		return ErrEmbeddedClosed
	}
}
