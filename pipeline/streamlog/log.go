package streamlog

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/pipeline/stream"
)

//go:embed migrations
var migrations embed.FS

// ErrClosed is returned by Publish and Subscribe after Close.
var ErrClosed = errors.New("stream log: closed")

// Config configures a Log.
type Config struct {
	// DB holds the log (tables stream_log*, migrated as component
	// "streamlog"). Required; the Log does not close it. In the
	// worker it is the checkpoint database, so one file (or PostgreSQL
	// schema) holds the log and the positions in it.
	DB *sqldb.Handle
	// Checkpoints keeps each consumer group's position per shard (the
	// worker passes the pipeline/checkpoint SQL store, as in Kinesis mode).
	// Retention reads it. nil: a stream.MemoryCheckpointStore (tests).
	Checkpoints stream.CheckpointStore
	// Shards is the number of shards of every stream: a message goes to
	// the shard its partition key hashes to, so each partition key (the
	// identity id) keeps its order while shards are consumed in parallel.
	// Keep it fixed for a database: a change sends a key's later messages
	// to another shard, which may then overtake the ones still unread. 0: 4.
	Shards int
	// MaxAge deletes records older than this even if a registered group has
	// not read them (a group whose route was removed would otherwise keep
	// everything). 0: 7 days; < 0: never.
	MaxAge time.Duration
	// TrimInterval is how often Run applies retention. 0: 1 min.
	TrimInterval time.Duration
	// Log receives retention errors of Run. nil: discard.
	Log *slog.Logger
	// Now is the clock of appended_at and MaxAge. nil: time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Checkpoints == nil {
		c.Checkpoints = stream.NewMemoryCheckpointStore()
	}
	if c.Shards <= 0 {
		c.Shards = 4
	}
	if c.MaxAge == 0 {
		c.MaxAge = 7 * 24 * time.Hour
	}
	if c.TrimInterval <= 0 {
		c.TrimInterval = time.Minute
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports a missing DB.
func (c Config) Validate() error {
	if c.DB == nil {
		return errors.New("stream log: DB is required")
	}
	return nil
}

// Log is the durable in-process stream of the embedded mode. It is a
// Watermill Publisher that appends messages to a table, and hands out
// Subscribers (NewSubscriber), one per consumer group, each reading from
// its own checkpoints. It is the embedded counterpart of a Kinesis stream:
//
//   - Publish returns once the messages are committed (durable: the
//     Forwarder deletes outbox rows only after that), never waiting for a
//     consumer.
//   - Each stream has Shards shards; a message goes to the shard of its
//     partition key (metadata stream.MetadataPartitionKey, else its UUID)
//     and gets the shard's next sequence number, so a partition key's
//     messages are read in the order published.
//   - A Subscriber delivers each shard in order, one message at a time,
//     and checkpoints (group, stream, shard) → sequence number only after
//     the Ack (the contract of pipeline/stream, whose Shard loop it runs);
//     shards are delivered in parallel. Groups are independent: a group
//     that does not ack holds back only its own position.
//   - Retention (Trim, run by Run): a record is deleted once every consumer
//     group registered for its stream (by Subscribe) has checkpointed past
//     it, or once it is older than MaxAge. A stream nobody subscribed to
//     keeps its records until MaxAge. ForgetGroup unregisters a group whose
//     route is gone.
//
// One process reads a log at a time (the embedded worker); several
// processes may publish to it. Safe for concurrent use.
type Log struct {
	c Config

	appendCounter string
	insert        string
	read          string
	listShards    string
	register      string

	mu     sync.Mutex
	wake   chan struct{} // closed and replaced after each append
	closed bool
	done   chan struct{}
	once   sync.Once
}

var _ message.Publisher = (*Log)(nil)

// New migrates c.DB and returns a Log.
func New(ctx context.Context, c Config) (*Log, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.setDefaults()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	if err := c.DB.Migrate(ctx, "streamlog", sub); err != nil {
		return nil, err
	}
	d := c.DB.Dialect
	return &Log{c: c,
		// The counter row is locked until the append commits (PostgreSQL),
		// or the single SQLite writer holds the database: sequence numbers
		// of a shard become visible in order, without gaps a reader could
		// skip and fill later.
		appendCounter: d.Rebind(`INSERT INTO stream_log_shards (stream, shard_id, last_seq) VALUES (?, ?, ?)
 ON CONFLICT (stream, shard_id) DO UPDATE SET last_seq = stream_log_shards.last_seq + excluded.last_seq
 RETURNING last_seq`),
		insert: d.Rebind(`INSERT INTO stream_log (stream, shard_id, seq, partition_key, uuid, metadata, payload, appended_at)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		read: d.Rebind(`SELECT seq, partition_key, uuid, metadata, payload, appended_at FROM stream_log
 WHERE stream = ? AND shard_id = ? AND seq > ? ORDER BY seq LIMIT ?`),
		listShards: d.Rebind("SELECT shard_id, last_seq FROM stream_log_shards WHERE stream = ? ORDER BY shard_id"),
		register: d.Rebind(d.Upsert("stream_log_groups", []string{"stream", "consumer_group", "registered_at"},
			[]string{"stream", "consumer_group"}, nil)),
		wake: make(chan struct{}), done: make(chan struct{}),
	}, nil
}

// ShardID names shard i of a stream. The names differ from Kinesis shard
// ids, so the checkpoints of both modes can share a table.
func ShardID(i int) string { return fmt.Sprintf("embedded-%03d", i) }

// shardOf is the shard of a partition key.
func (l *Log) shardOf(key string) string {
	h := fnv.New32a()
	h.Write([]byte(key))
	return ShardID(int(h.Sum32() % uint32(l.c.Shards)))
}

// Publish appends msgs to the topic's log in one transaction and returns
// once it committed; the first message's context bounds it. On error
// nothing was appended. ErrClosed after Close.
func (l *Log) Publish(topic string, msgs ...*message.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if l.isClosed() {
		return ErrClosed
	}
	type row struct {
		key, uuid, meta string
		payload         []byte
	}
	byShard := map[string][]row{}
	for _, m := range msgs {
		key := m.Metadata.Get(stream.MetadataPartitionKey)
		if key == "" {
			key = m.UUID
		}
		meta, err := json.Marshal(m.Metadata)
		if err != nil {
			return fmt.Errorf("stream log %s: metadata of %s: %w", topic, m.UUID, err)
		}
		s := l.shardOf(key)
		byShard[s] = append(byShard[s], row{key, m.UUID, string(meta), m.Payload})
	}
	// Shards in a fixed order: concurrent publishers (forwarder, bulk
	// runner) lock counter rows in the same order and cannot deadlock.
	shards := make([]string, 0, len(byShard))
	for s := range byShard {
		shards = append(shards, s)
	}
	sort.Strings(shards)

	ctx := msgs[0].Context()
	now := l.c.Now().UnixMilli()
	tx, err := l.c.DB.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("stream log %s: append: %w", topic, err)
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, l.insert)
	if err != nil {
		return fmt.Errorf("stream log %s: append: %w", topic, err)
	}
	defer ins.Close()
	for _, s := range shards {
		rows := byShard[s]
		var last int64
		if err := tx.QueryRowContext(ctx, l.appendCounter, topic, s, len(rows)).Scan(&last); err != nil {
			return fmt.Errorf("stream log %s/%s: sequence: %w", topic, s, err)
		}
		seq := last - int64(len(rows))
		for _, r := range rows {
			seq++
			if _, err := ins.ExecContext(ctx, topic, s, seq, r.key, r.uuid, r.meta, r.payload, now); err != nil {
				return fmt.Errorf("stream log %s/%s: append %d: %w", topic, s, seq, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("stream log %s: commit: %w", topic, err)
	}
	l.notify()
	return nil
}

// notify wakes the readers of this process.
func (l *Log) notify() {
	l.mu.Lock()
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
}

// changed returns a channel closed by the next append. Take it before
// reading so that an append between the read and the wait is not missed.
func (l *Log) changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wake
}

func (l *Log) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// logEntry is one record of the log.
type logEntry struct {
	seq      int64
	key      string
	uuid     string
	meta     message.Metadata
	payload  []byte
	appended time.Time
}

// prepareRead prepares one of the Log's read queries for a goroutine that
// polls it again and again (a shard's reader), sparing SQLite the parse of
// every poll; nil when preparing failed (the query then runs unprepared and
// reports the error when used). The caller closes it.
func (l *Log) prepareRead(ctx context.Context, q string) *sql.Stmt {
	st, err := l.c.DB.Read.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	return st
}

// query runs q through st when prepared (prepareRead), else directly.
func (l *Log) query(ctx context.Context, st *sql.Stmt, q string, args ...any) (*sql.Rows, error) {
	if st != nil {
		return st.QueryContext(ctx, args...)
	}
	return l.c.DB.Read.QueryContext(ctx, q, args...)
}

// entries reads up to limit records of a shard after seq, in order; st is
// l.read prepared, or nil.
func (l *Log) entries(ctx context.Context, st *sql.Stmt, topic, shard string, after int64, limit int) ([]logEntry, error) {
	rows, err := l.query(ctx, st, l.read, topic, shard, after, limit)
	if err != nil {
		return nil, fmt.Errorf("stream log %s/%s: read: %w", topic, shard, err)
	}
	defer rows.Close()
	var out []logEntry
	for rows.Next() {
		var e logEntry
		var meta string
		var ms int64
		if err := rows.Scan(&e.seq, &e.key, &e.uuid, &meta, &e.payload, &ms); err != nil {
			return nil, fmt.Errorf("stream log %s/%s: read: %w", topic, shard, err)
		}
		if err := json.Unmarshal([]byte(meta), &e.meta); err != nil {
			return nil, fmt.Errorf("stream log %s/%s: record %d metadata: %w", topic, shard, e.seq, err)
		}
		e.appended = time.UnixMilli(ms).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("stream log %s/%s: read: %w", topic, shard, err)
	}
	return out, nil
}

// shards returns the stream's shards (those that ever had a record) and
// their last sequence numbers; st is l.listShards prepared, or nil.
func (l *Log) shards(ctx context.Context, st *sql.Stmt, topic string) (map[string]int64, error) {
	rows, err := l.query(ctx, st, l.listShards, topic)
	if err != nil {
		return nil, fmt.Errorf("stream log %s: shards: %w", topic, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var last int64
		if err := rows.Scan(&id, &last); err != nil {
			return nil, fmt.Errorf("stream log %s: shards: %w", topic, err)
		}
		out[id] = last
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("stream log %s: shards: %w", topic, err)
	}
	return out, nil
}

// registerGroup records that group reads topic, for retention.
func (l *Log) registerGroup(ctx context.Context, topic, group string) error {
	if _, err := l.c.DB.DB.ExecContext(ctx, l.register, topic, group, l.c.Now().UnixMilli()); err != nil {
		return fmt.Errorf("stream log %s: register group %s: %w", topic, group, err)
	}
	return nil
}

// ForgetGroup unregisters a consumer group (a route that was removed), so
// that retention no longer waits for it. Its checkpoints stay; a later
// Subscribe registers it again.
func (l *Log) ForgetGroup(ctx context.Context, topic, group string) error {
	if _, err := l.c.DB.DB.ExecContext(ctx, l.c.DB.Dialect.Rebind(
		"DELETE FROM stream_log_groups WHERE stream = ? AND consumer_group = ?"), topic, group); err != nil {
		return fmt.Errorf("stream log %s: forget group %s: %w", topic, group, err)
	}
	return nil
}

// Trim applies retention once (see Log) and returns the number of
// records deleted.
func (l *Log) Trim(ctx context.Context) (int64, error) {
	var deleted int64
	d := l.c.DB.Dialect
	if l.c.MaxAge > 0 {
		res, err := l.c.DB.DB.ExecContext(ctx, d.Rebind("DELETE FROM stream_log WHERE appended_at < ?"),
			l.c.Now().Add(-l.c.MaxAge).UnixMilli())
		if err != nil {
			return 0, fmt.Errorf("stream log: trim by age: %w", err)
		}
		n, _ := res.RowsAffected()
		deleted += n
	}
	rows, err := l.c.DB.Read.QueryContext(ctx, "SELECT stream, consumer_group FROM stream_log_groups ORDER BY stream")
	if err != nil {
		return deleted, fmt.Errorf("stream log: trim: %w", err)
	}
	groups := map[string][]string{}
	for rows.Next() {
		var s, g string
		if err := rows.Scan(&s, &g); err != nil {
			rows.Close()
			return deleted, fmt.Errorf("stream log: trim: %w", err)
		}
		groups[s] = append(groups[s], g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return deleted, fmt.Errorf("stream log: trim: %w", err)
	}
	del := d.Rebind("DELETE FROM stream_log WHERE stream = ? AND shard_id = ? AND seq <= ?")
	for topic, gs := range groups {
		shards, err := l.shards(ctx, nil, topic)
		if err != nil {
			return deleted, err
		}
		upTo := shards // the lowest checkpoint of any group, per shard
		for _, g := range gs {
			cps, err := l.c.Checkpoints.Checkpoints(ctx, g, topic)
			if err != nil {
				return deleted, fmt.Errorf("stream log: trim %s: %w", topic, err)
			}
			for shard := range upTo {
				upTo[shard] = min(upTo[shard], checkpointSeq(cps[shard]))
			}
		}
		for shard, seq := range upTo {
			if seq <= 0 {
				continue
			}
			res, err := l.c.DB.DB.ExecContext(ctx, del, topic, shard, seq)
			if err != nil {
				return deleted, fmt.Errorf("stream log: trim %s/%s: %w", topic, shard, err)
			}
			n, _ := res.RowsAffected()
			deleted += n
		}
	}
	return deleted, nil
}

// checkpointSeq is the sequence number of a checkpoint; 0 when none (or not
// one of this log's).
func checkpointSeq(cp stream.Checkpoint) int64 {
	n, err := strconv.ParseInt(cp.SequenceNumber, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// Run applies retention every TrimInterval until ctx ends or Close;
// errors are logged and retried at the next interval. It returns nil.
func (l *Log) Run(ctx context.Context) error {
	t := time.NewTicker(l.c.TrimInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.done:
			return nil
		case <-t.C:
		}
		n, err := l.Trim(ctx)
		if err != nil && ctx.Err() == nil {
			l.c.Log.Warn("stream log retention", "err", err)
		} else if n > 0 {
			l.c.Log.Debug("stream log retention", "deleted", n)
		}
	}
}

// Close makes Publish and Subscribe fail and stops Run; the Subscribers
// are closed by their owners (the router). Idempotent; the DB stays open.
func (l *Log) Close() error {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		close(l.done)
	})
	return nil
}
