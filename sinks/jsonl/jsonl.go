// Package jsonl is a sink that appends changes to JSON Lines files.
//
// Format: one JSON object per change per line, as package changejson writes
// it (all fields of pipeline.Change plus "id", the change's idempotency key;
// times as RFC 3339 with nanoseconds in UTC, a zero time omitted; a remove's
// value null).
//
// Guarantees:
//   - Durability: Write returns nil only after the batch's lines are written
//     and the file fsync'd (and, for a new file, its directory), so the
//     pipeline checkpoints only what is on disk.
//   - Idempotency: a file is an append log, not a set. A batch delivered
//     again (a replay after a crash, a reshard, a bulk publish overlapping
//     live updates) is appended again, with the same "id". Readers dedupe on
//     "id" (ReadAll does) and, to rebuild the state of a record, keep the
//     highest syncCount. Deduping in the sink with a bounded set of recent
//     keys was rejected: the usual source of duplicates is a restart, which
//     empties such a set, so it would promise what it cannot keep.
//   - Ordering: lines are in Write order, which is stream order per shard
//     when one router feeds the sink. Files sort by name in creation order.
//   - Crash safety: a crash may leave a torn last line (no newline); ReadAll
//     ignores it, and its batch was not acknowledged, so it is redelivered.
//     After a failed write the file is truncated to its last complete line
//     and closed; the next Write starts a new file.
//
// Files are named <Prefix>-<UTC creation time, 20060102T150405.000000000Z>-<seq>.jsonl
// in Dir (seq: 6 digits, orders files created at the same instant), and rotate before a Write that would take them past MaxBytes (a
// single larger batch gets a file of its own) or once they are MaxAge old
// (checked at Write; the sink runs no goroutine). A new Sink always starts a
// new file.
package jsonl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/changejson"
)

// Config configures a Sink.
type Config struct {
	// Dir is the directory of the files, created (0750) if missing. Required.
	Dir string
	// Prefix starts every file name. "": "changes".
	Prefix string
	// MaxBytes rotates a file before it would grow past this size.
	// 0: 64 MiB. Negative: never by size.
	MaxBytes int64
	// MaxAge rotates a file at the first Write after it is this old.
	// 0: 1 h. Negative: never by age.
	MaxAge time.Duration
	// Name is the sink's name in metrics and route tables. "": "jsonl".
	Name string
	// Registerer receives the sink metrics; nil: none.
	Registerer prometheus.Registerer
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Prefix == "" {
		c.Prefix = "changes"
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 64 << 20
	}
	if c.MaxAge == 0 {
		c.MaxAge = time.Hour
	}
	if c.Name == "" {
		c.Name = "jsonl"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports a missing Dir or a Prefix that is not a plain file name.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("jsonl: Dir is required"))
	}
	if c.Prefix != "" && (filepath.Base(c.Prefix) != c.Prefix || c.Prefix == "." || c.Prefix == "..") {
		errs = append(errs, fmt.Errorf("jsonl: Prefix %q must be a plain file name", c.Prefix))
	}
	return errors.Join(errs...)
}

// Sink appends changes to JSON Lines files. Safe for concurrent use; writes
// are serialized.
type Sink struct {
	c       Config
	metrics *pipeline.SinkMetrics

	mu     sync.Mutex
	f      *os.File
	path   string
	size   int64
	opened time.Time
	seq    int
	closed bool
}

var _ pipeline.Sink = (*Sink)(nil)

// New creates Dir if needed. It opens no file until the first Write.
func New(c Config) (*Sink, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("jsonl: %w", err)
	}
	m, err := pipeline.NewSinkMetrics(c.Registerer)
	if err != nil {
		return nil, fmt.Errorf("jsonl: metrics: %w", err)
	}
	return &Sink{c: c, metrics: m}, nil
}

// Name returns Config.Name.
func (s *Sink) Name() string { return s.c.Name }

// Write appends one line per change and fsyncs. An empty batch writes
// nothing. It fails after Close, or when the file cannot be written or
// synced; then nothing of the batch counts as written (a partial tail is
// truncated when possible) and the caller delivers it again.
func (s *Sink) Write(ctx context.Context, batch []pipeline.Change) (err error) {
	start := time.Now()
	defer func() { s.metrics.Observe(s.c.Name, start, len(batch), err) }()
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(batch) == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, c := range batch {
		if err := enc.Encode(changejson.From(c)); err != nil { // Encode adds the newline
			return fmt.Errorf("jsonl: encode: %w", err)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("jsonl: sink is closed")
	}
	if err := s.rotateIfNeeded(int64(buf.Len())); err != nil {
		return err
	}
	if _, err := s.f.Write(buf.Bytes()); err != nil {
		s.abandon()
		return fmt.Errorf("jsonl: write %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		// After a failed fsync the kernel may have dropped the dirty pages:
		// nothing past size is known to be on disk, so start over.
		s.abandon()
		return fmt.Errorf("jsonl: fsync %s: %w", s.path, err)
	}
	s.size += int64(buf.Len())
	return nil
}

// rotateIfNeeded makes s.f a file that may take n more bytes.
func (s *Sink) rotateIfNeeded(n int64) error {
	now := s.c.Now()
	if s.f != nil {
		full := s.c.MaxBytes > 0 && s.size > 0 && s.size+n > s.c.MaxBytes
		old := s.c.MaxAge > 0 && now.Sub(s.opened) >= s.c.MaxAge
		if !full && !old {
			return nil
		}
		f := s.f
		s.f = nil
		if err := f.Close(); err != nil { // its content is already synced
			return fmt.Errorf("jsonl: close %s: %w", s.path, err)
		}
	}
	return s.open(now)
}

func (s *Sink) open(now time.Time) error {
	ts := now.UTC().Format("20060102T150405.000000000Z")
	for i := 0; ; i++ {
		// seq orders files opened at the same clock reading; O_EXCL skips a
		// name another Sink with the same Prefix took.
		s.seq++
		p := filepath.Join(s.c.Dir, fmt.Sprintf("%s-%s-%06d.jsonl", s.c.Prefix, ts, s.seq))
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o640)
		if errors.Is(err, os.ErrExist) && i < 1000 {
			continue
		}
		if err != nil {
			return fmt.Errorf("jsonl: create: %w", err)
		}
		if err := syncDir(s.c.Dir); err != nil {
			f.Close()
			return err
		}
		s.f, s.path, s.size, s.opened = f, p, 0, now
		return nil
	}
}

// abandon truncates the current file to its last complete line, best
// effort, and closes it; the next Write starts a new file.
func (s *Sink) abandon() {
	if s.f == nil {
		return
	}
	_ = s.f.Truncate(s.size)
	_ = s.f.Sync()
	_ = s.f.Close()
	s.f = nil
}

// syncDir fsyncs a directory so that a file created in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("jsonl: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("jsonl: fsync %s: %w", dir, err)
	}
	return nil
}

// Close closes the current file (every acknowledged write is already
// synced). It is idempotent; Write fails after it.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("jsonl: close %s: %w", s.path, err)
	}
	return nil
}
