// Package sqlstore implements syncapi.Store over database/sql, on SQLite
// (modernc.org/sqlite, pure Go) and PostgreSQL (pgx). One implementation
// serves both; dialect.go holds the differences.
//
// Writes are durable when they return: SQLite runs in WAL mode with
// synchronous=FULL and one writer goroutine that group-commits queued
// requests (writer.go); PostgreSQL uses ordinary transactions with a row lock
// on the dataset, so several processes may share one database.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/syncapi"
)

//go:embed migrations
var migrationsFS embed.FS

// Migrations are the embedded schema migrations: one directory per dialect
// and shared/ for a migration that is the same SQL in both (see
// sqldb.Handle.Migrate). The ones so far differ in their column types.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationsFS, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}

// Config configures Open.
type Config struct {
	URL string       // required; see sqldb.Config.URL
	Log *slog.Logger // nil: discard
	// MaxConns bounds the connection pool; see sqldb.Config.MaxConns.
	MaxConns int
	// MaxBatch bounds how many write requests the SQLite writer commits in
	// one transaction. 0: 256.
	MaxBatch int
	// MaxBytes caps a SQLite database file (sqldb.Config.MaxBytes): past
	// it writes fail as on a full disk and CheckHealth reports unhealthy,
	// before the disk itself fills up. 0: no cap. Ignored for PostgreSQL.
	MaxBytes int64
}

func (c *Config) setDefaults() {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 256
	}
}

// Validate reports a missing URL.
func (c Config) Validate() error {
	if c.URL == "" {
		return errors.New("sqlstore: URL is required")
	}
	if c.MaxBytes < 0 {
		return errors.New("sqlstore: MaxBytes must not be negative")
	}
	return nil
}

// DB is the SQL Store. It is safe for concurrent use, also by several
// processes sharing the database. Close it when done.
type DB struct {
	h      *sqldb.Handle
	d      dialect
	log    *slog.Logger
	w      *writer // SQLite only
	owns   bool    // Close closes h
	rebind sync.Map
	// readStmts caches statements prepared on the read pool (readStmt).
	readStmts sync.Map

	secretsMu sync.Mutex
	secrets   map[string][]byte

	health *health // health.go
	capped bool    // a SQLite database with Config.MaxBytes
}

var _ syncapi.Store = (*DB)(nil)

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("sqlstore: closed")

// Open opens the database at c.URL, applies the migrations and starts the
// writer. The DB owns the connection: Close closes it.
func Open(ctx context.Context, c Config) (*DB, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	h, err := sqldb.Open(ctx, sqldb.Config{URL: c.URL, MaxConns: c.MaxConns, MaxBytes: c.MaxBytes})
	if err != nil {
		return nil, err
	}
	db, err := newDB(ctx, h, c)
	if err != nil {
		h.Close()
		return nil, err
	}
	db.owns = true
	return db, nil
}

// New builds a DB on a handle the caller owns (and closes after the DB),
// migrating it first.
func New(ctx context.Context, h *sqldb.Handle, log *slog.Logger) (*DB, error) {
	return newDB(ctx, h, Config{URL: "handle", Log: log})
}

func newDB(ctx context.Context, h *sqldb.Handle, c Config) (*DB, error) {
	c.setDefaults()
	if err := h.Migrate(ctx, "sqlstore", Migrations()); err != nil {
		return nil, err
	}
	db := &DB{h: h, d: dialect{h.Dialect}, log: c.Log, secrets: map[string][]byte{}, health: newHealth(),
		capped: h.Dialect == sqldb.SQLite && c.MaxBytes > 0}
	if h.Dialect == sqldb.SQLite {
		w, err := startWriter(h.DB, c.MaxBatch, c.Log)
		if err != nil {
			return nil, err
		}
		db.w = w
	}
	return db, nil
}

// Dialect reports the database's dialect.
func (db *DB) Dialect() sqldb.Dialect { return db.h.Dialect }

// Close stops the writer (waiting for the batch in progress) and, when Open
// created the connection, closes it. It is idempotent.
func (db *DB) Close() error {
	if db.w != nil {
		db.w.close()
	}
	db.closeReadStmts()
	if db.owns {
		db.owns = false
		return db.h.Close()
	}
	return nil
}

// q rebinds a query for the dialect, caching the result.
func (db *DB) q(query string) string {
	if db.h.Dialect != sqldb.Postgres {
		return query
	}
	if v, ok := db.rebind.Load(query); ok {
		return v.(string)
	}
	r := db.h.Dialect.Rebind(query)
	db.rebind.Store(query, r)
	return r
}

// ---- value conversions ----

// nsOrNull stores a time.Time with nanosecond precision; the zero time is NULL.
func nsOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func fromNS(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(n int64) syncapi.Time {
	if n == 0 {
		return syncapi.Time{}
	}
	return syncapi.TimeFromMillis(n)
}

func notFound(format string, args ...any) error {
	return syncapi.Errorf(syncapi.ErrNotFound, format, args...)
}
