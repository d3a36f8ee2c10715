package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Poisoned is a message the router moved aside: it could not be decoded
// (Sink empty, Changes nil) or a sink said retrying cannot help (Sink names
// it, Changes is the batch it refused).
type Poisoned struct {
	Time     time.Time         `json:"time"`
	Route    string            `json:"route"`
	Sink     string            `json:"sink,omitempty"`
	Reason   string            `json:"reason"`
	UUID     string            `json:"uuid"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Payload  string            `json:"payload"` // the message payload as received
	Changes  []Change          `json:"changes,omitempty"`
}

// PoisonSink keeps poisoned messages. Put returns nil only once p is
// durable: the router acknowledges the message after that, so a failing
// PoisonSink stalls the route rather than lose the message. Safe for
// concurrent use.
type PoisonSink interface {
	Put(ctx context.Context, p Poisoned) error
	Close() error
}

// PoisonFile is a PoisonSink appending one JSON object per poisoned message
// to a file (JSON Lines), fsync'd before Put returns.
type PoisonFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

var _ PoisonSink = (*PoisonFile)(nil)

// NewPoisonFile opens (creating, with its directory) the file at path for
// appending.
func NewPoisonFile(path string) (*PoisonFile, error) {
	if path == "" {
		return nil, errors.New("poison file: path is required")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("poison file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("poison file: %w", err)
	}
	return &PoisonFile{path: path, f: f}, nil
}

// Path returns the file's path.
func (p *PoisonFile) Path() string { return p.path }

// Put appends m and fsyncs.
func (p *PoisonFile) Put(ctx context.Context, m Poisoned) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("poison file: encode: %w", err)
	}
	b = append(b, '\n')
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f == nil {
		return errors.New("poison file: closed")
	}
	if _, err := p.f.Write(b); err != nil {
		return fmt.Errorf("poison file %s: %w", p.path, err)
	}
	if err := p.f.Sync(); err != nil {
		return fmt.Errorf("poison file %s: fsync: %w", p.path, err)
	}
	return nil
}

// Close closes the file. Idempotent.
func (p *PoisonFile) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f == nil {
		return nil
	}
	err := p.f.Close()
	p.f = nil
	return err
}
