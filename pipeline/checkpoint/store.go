// Package checkpoint is the SQL stream.CheckpointStore and
// stream.LeaseStore (pipeline/stream), on SQLite or PostgreSQL through
// internal/sqldb: the positions and shard leases of both stream adapters
// (pipeline/kinesis, pipeline/streamlog). Its tables keep the kinesis_
// prefix they were created with.
package checkpoint

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/pipeline/stream"
)

//go:embed migrations
var migrations embed.FS

// Config configures a Store.
type Config struct {
	// DB is the open database. Required; the Store does not close it.
	DB *sqldb.Handle
	// Now is the clock for updated_at. nil: time.Now.
	Now func() time.Time
	// LeaseNow is the clock leases expire by. nil: the database server's,
	// so that the workers sharing the database need not agree on the time
	// (on SQLite, the clock of the host the file is on). Tests inject one.
	LeaseNow func() time.Time
}

func (c *Config) setDefaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports a missing DB.
func (c Config) Validate() error {
	if c.DB == nil {
		return errors.New("checkpoint: DB is required")
	}
	return nil
}

// Store keeps checkpoints in the kinesis_checkpoints table and shard leases
// in kinesis_leases and kinesis_lease_owners. Safe for concurrent use by
// many goroutines and processes.
type Store struct {
	c    Config
	save string
	list string
	l    leaseStmts
}

var (
	_ stream.CheckpointStore = (*Store)(nil)
	_ stream.LeaseStore      = (*Store)(nil)
)

// New migrates the database (component "checkpoint") and returns a Store.
func New(ctx context.Context, c Config) (*Store, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	if err := c.DB.Migrate(ctx, "checkpoint", sub); err != nil {
		return nil, err
	}
	d := c.DB.Dialect
	// The upsert only moves a checkpoint forward (stream.Advances): never
	// past a finished one, and to a numerically higher sequence number,
	// compared as (length, text) since the numbers are decimal strings
	// without leading zeros that exceed BIGINT.
	save := d.Upsert("kinesis_checkpoints",
		[]string{"consumer_group", "stream", "shard_id", "sequence_number", "finished", "updated_at"},
		[]string{"consumer_group", "stream", "shard_id"},
		[]string{"sequence_number", "finished", "updated_at"}) + `
 WHERE kinesis_checkpoints.finished = 0 AND (excluded.finished = 1
    OR length(excluded.sequence_number) > length(kinesis_checkpoints.sequence_number)
    OR (length(excluded.sequence_number) = length(kinesis_checkpoints.sequence_number)
        AND excluded.sequence_number > kinesis_checkpoints.sequence_number))`
	if d == sqldb.Postgres {
		// Byte order, whatever the database's collation.
		save = strings.Replace(save, "AND excluded.sequence_number > kinesis_checkpoints.sequence_number",
			`AND excluded.sequence_number COLLATE "C" > kinesis_checkpoints.sequence_number COLLATE "C"`, 1)
	}
	st := &Store{c: c, save: d.Rebind(save), list: d.Rebind(
		"SELECT shard_id, sequence_number, finished FROM kinesis_checkpoints WHERE consumer_group = ? AND stream = ?")}
	st.l = st.leaseStatements()
	return st, nil
}

// Checkpoints implements stream.CheckpointStore.
func (s *Store) Checkpoints(ctx context.Context, group, topic string) (map[string]stream.Checkpoint, error) {
	rows, err := s.c.DB.Read.QueryContext(ctx, s.list, group, topic)
	if err != nil {
		return nil, fmt.Errorf("checkpoints %s/%s: %w", group, topic, err)
	}
	defer rows.Close()
	out := map[string]stream.Checkpoint{}
	for rows.Next() {
		var id, seq string
		var fin int64
		if err := rows.Scan(&id, &seq, &fin); err != nil {
			return nil, fmt.Errorf("checkpoints %s/%s: %w", group, topic, err)
		}
		out[id] = stream.Checkpoint{SequenceNumber: seq, Finished: fin != 0}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("checkpoints %s/%s: %w", group, topic, err)
	}
	return out, nil
}

// SaveCheckpoint implements stream.CheckpointStore.
func (s *Store) SaveCheckpoint(ctx context.Context, group, topic, shardID string, cp stream.Checkpoint) error {
	fin := 0
	if cp.Finished {
		fin = 1
	}
	seq := strings.TrimLeft(cp.SequenceNumber, "0")
	if _, err := s.c.DB.DB.ExecContext(ctx, s.save, group, topic, shardID, seq, fin,
		s.c.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("save checkpoint %s/%s/%s: %w", group, topic, shardID, err)
	}
	return nil
}
