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
//   - Idempotency: one line per change id in Dir, across restarts and
//     processes. A change delivered again (a replay after a crash, a
//     reshard, a bulk publish overlapping live updates) whose "id" is
//     already in a *.jsonl file of Dir is not written again. The sink keeps
//     an index of the ids in Dir (16 bytes of each id, about 40 bytes of
//     memory per line; move old files out of Dir to bound it), built from
//     the files when the first Write needs it. Writers of one Dir (sinks of
//     other processes, or of this one) take an exclusive flock on
//     Dir/.jsonl.lock for each Write and first index what the others
//     appended since, so two workers sharing a Dir write each id once. To
//     rebuild the state of a record, keep the highest syncCount; a dataset
//     deletion (datasetDeleted) removes the records of its dataset at or
//     below its syncCount.
//   - Ordering: lines are in Write order, which is stream order per shard
//     when one router feeds the sink. Files sort by name in creation order.
//   - Crash safety: a crash may leave a torn last line (no newline); ReadAll
//     and the index ignore it, and its batch was not acknowledged, so it is
//     redelivered and written again.
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
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	ids    map[lineID]struct{} // ids of the lines in Dir
	read   map[string]int64    // bytes of each file of Dir indexed so far (a complete-line boundary)
}

// lineID is the first 16 bytes of a change's id (a SHA-256): enough to
// tell ids apart, half the memory.
type lineID [16]byte

func parseID(hexID string) (lineID, bool) {
	var id lineID
	if len(hexID) != 64 {
		return id, false
	}
	_, err := hex.Decode(id[:], []byte(hexID[:32]))
	return id, err == nil
}

// lockName is the lock file every writer of a Dir takes.
const lockName = ".jsonl.lock"

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
	return &Sink{c: c, metrics: m, read: map[string]int64{}}, nil
}

// Name returns Config.Name.
func (s *Sink) Name() string { return s.c.Name }

// Write appends one line per change whose id Dir does not hold yet, and
// fsyncs once. An empty batch writes nothing. It fails after Close, or when
// the file cannot be written or synced; then nothing of the batch counts as
// written (a partial tail is truncated when possible) and the caller
// delivers it again.
func (s *Sink) Write(ctx context.Context, batch []pipeline.Change) (err error) {
	start := time.Now()
	defer func() { s.metrics.Observe(s.c.Name, start, len(batch), err) }()
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(batch) == 0 {
		return nil
	}
	js := make([]changejson.Change, len(batch))
	for i, c := range batch {
		js[i] = changejson.From(c)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("jsonl: sink is closed")
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.index(); err != nil {
		return err
	}
	buf := make([]byte, 0, 320*len(js))
	var added []lineID
	fresh := map[lineID]bool{}
	for _, j := range js {
		id, _ := parseID(j.ID)
		if _, ok := s.ids[id]; ok || fresh[id] {
			continue
		}
		fresh[id] = true
		added = append(added, id)
		var ok bool
		if buf, ok = j.AppendJSON(buf, false); !ok { // what only encoding/json handles
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(j); err != nil {
				return fmt.Errorf("jsonl: encode: %w", err)
			}
			buf = append(buf, bytes.TrimSuffix(b.Bytes(), []byte{'\n'})...)
		}
		buf = append(buf, '\n')
	}
	if len(buf) == 0 {
		return nil // every change is already in Dir
	}
	if err := s.rotateIfNeeded(int64(len(buf))); err != nil {
		return err
	}
	if _, err := s.f.Write(buf); err != nil {
		s.abandon()
		return fmt.Errorf("jsonl: write %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		// After a failed fsync the kernel may have dropped the dirty pages:
		// nothing past size is known to be on disk, so start over.
		s.abandon()
		return fmt.Errorf("jsonl: fsync %s: %w", s.path, err)
	}
	s.size += int64(len(buf))
	s.read[filepath.Base(s.path)] = s.size
	for _, id := range added {
		s.ids[id] = struct{}{}
	}
	return nil
}

// lock takes the exclusive lock of Dir, waiting for other writers.
func (s *Sink) lock() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.c.Dir, lockName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("jsonl: lock: %w", err)
	}
	if err := flock(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("jsonl: lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// index adds the ids of the complete lines the files of Dir gained since
// the last call (all of them at the first) to s.ids. A line without an id
// cannot be deduplicated against and is passed over.
func (s *Sink) index() error {
	if s.ids == nil {
		s.ids = map[lineID]struct{}{}
	}
	paths, err := filepath.Glob(filepath.Join(s.c.Dir, "*.jsonl"))
	if err != nil {
		return fmt.Errorf("jsonl: %w", err)
	}
	for _, p := range paths {
		name := filepath.Base(p)
		if err := s.indexFile(p, name); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sink) indexFile(path, name string) error {
	off := s.read[name]
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // moved away meanwhile
	}
	if err != nil {
		return fmt.Errorf("jsonl: index: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("jsonl: index: %w", err)
	}
	if fi.Size() <= off {
		return nil
	}
	r := bufio.NewReaderSize(io.NewSectionReader(f, off, fi.Size()-off), 64<<10)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) { // a long line: read the rest
			rest, err2 := r.ReadBytes('\n')
			line, err = append(append([]byte(nil), line...), rest...), err2
		}
		if errors.Is(err, io.EOF) {
			break // a torn or still growing last line: from here next time
		}
		if err != nil {
			return fmt.Errorf("jsonl: index %s: %w", path, err)
		}
		off += int64(len(line))
		if id, ok := lineIDOf(line); ok {
			s.ids[id] = struct{}{}
		}
	}
	s.read[name] = off
	return nil
}

// idPrefix starts every line changejson writes.
var idPrefix = []byte(`{"id":"`)

// lineIDOf reads the id of one line: at its start as this sink writes it,
// else by decoding the line.
func lineIDOf(line []byte) (lineID, bool) {
	if bytes.HasPrefix(line, idPrefix) && len(line) > len(idPrefix)+64 && line[len(idPrefix)+64] == '"' {
		return parseID(string(line[len(idPrefix) : len(idPrefix)+64]))
	}
	var j struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(line, &j) != nil {
		return lineID{}, false
	}
	return parseID(j.ID)
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
