package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cognitosync/cognitosync/pipeline"
)

// newPoison returns where the router puts poisoned messages: the file of
// --poison-file, or JSON lines on stderr (--poison-file stderr, the remote
// mode's default, so that it needs no disk: the container's log driver
// keeps them).
func newPoison(c Config, stderr io.Writer) (pipeline.PoisonSink, error) {
	if c.PoisonFile == poisonStderr {
		return &poisonLog{w: stderr}, nil
	}
	f, err := pipeline.NewPoisonFile(c.PoisonFile)
	if err != nil {
		return nil, fmt.Errorf("%w; set --poison-file to a writable path, or to stderr", err)
	}
	return f, nil
}

// poisonLog writes each poisoned message as one JSON log line on w (level
// ERROR, msg "poisoned message", the message under "poisoned"): the same
// object the poison file holds. Put returns once the line is written.
type poisonLog struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

var _ pipeline.PoisonSink = (*poisonLog)(nil)

func (p *poisonLog) Put(ctx context.Context, m pipeline.Poisoned) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	b, err := json.Marshal(struct {
		Time     time.Time         `json:"time"`
		Level    string            `json:"level"`
		Msg      string            `json:"msg"`
		Poisoned pipeline.Poisoned `json:"poisoned"`
	}{m.Time, "ERROR", "poisoned message", m})
	if err != nil {
		return fmt.Errorf("poison: encode: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("poison: closed")
	}
	if _, err := p.w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("poison: write to stderr: %w", err)
	}
	return nil
}

func (p *poisonLog) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return nil
}

// lockedWriter serialises writes, so that log lines and poisoned messages
// written by different goroutines never interleave.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
