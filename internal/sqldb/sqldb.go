// Package sqldb opens the SQL database syncd keeps its state in (SQLite or
// PostgreSQL), applies embedded migrations and hides the few dialect
// differences that plain SQL cannot. It is shared by syncapi/sqlstore and
// pipeline/checkpoint.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Dialect is the SQL flavour of a database.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Config says which database to open.
type Config struct {
	// URL is a postgres:// or postgresql:// URL (any pgx connection string
	// parameter, e.g. search_path, may be in the query), or a SQLite file
	// path, optionally written sqlite://path or file:path. Required.
	URL string
	// BusyTimeout is how long a SQLite writer waits for another process's
	// write lock. 0: 10s.
	BusyTimeout time.Duration
	// MaxConns bounds the read pool (SQLite; the writer has one more
	// connection of its own) or the whole pool (PostgreSQL; mind
	// max_connections when several processes share the server).
	// 0: 4×GOMAXPROCS for SQLite, 32 for PostgreSQL.
	MaxConns int
	// MaxBytes caps a SQLite database file: the writer connection gets
	// PRAGMA max_page_count (MaxBytes / 4096, SQLite's default page size),
	// so that a write past it fails with SQLITE_FULL, exactly as on a full
	// disk. 0: no cap. Ignored for PostgreSQL.
	MaxBytes int64
}

// sqlitePageSize is the page size MaxBytes assumes (SQLite's default).
const sqlitePageSize = 4096

func (c *Config) setDefaults() {
	if c.BusyTimeout == 0 {
		c.BusyTimeout = 10 * time.Second
	}
}

// Validate reports a missing URL.
func (c Config) Validate() error {
	if strings.TrimSpace(c.URL) == "" {
		return errors.New("sqldb: URL is required")
	}
	return nil
}

// Handle is an open database.
//
// On SQLite, DB has exactly one connection, which begins transactions with
// BEGIN IMMEDIATE: every write of the process must go through it (a single
// writer; SQLite allows no more), and Read is a pool of read-only connections
// that, in WAL mode, never wait for the writer. On PostgreSQL, DB and Read
// are the same pool.
type Handle struct {
	Dialect Dialect
	DB      *sql.DB
	Read    *sql.DB
}

// Open connects, configures the connections (SQLite: WAL,
// synchronous=FULL so that an acknowledged commit survives a crash or power
// loss, busy_timeout) and pings the database. It does not migrate.
func Open(ctx context.Context, c Config) (*Handle, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var h *Handle
	var err error
	switch d, target := Parse(c.URL); d {
	case Postgres:
		h, err = openPostgres(target, c)
	default:
		h, err = openSQLite(ctx, target, c)
	}
	if err != nil {
		return nil, err
	}
	if err := h.DB.PingContext(ctx); err != nil {
		h.Close()
		return nil, fmt.Errorf("sqldb: ping %s: %w", h.Dialect, err)
	}
	if h.Read != h.DB {
		if err := h.Read.PingContext(ctx); err != nil {
			h.Close()
			return nil, fmt.Errorf("sqldb: ping %s: %w", h.Dialect, err)
		}
	}
	return h, nil
}

// Parse tells the dialect of a Config.URL and returns what the driver gets:
// the URL itself for PostgreSQL, the file path for SQLite.
func Parse(rawURL string) (Dialect, string) {
	u := strings.TrimSpace(rawURL)
	lower := strings.ToLower(u)
	switch {
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return Postgres, u
	case strings.HasPrefix(lower, "sqlite://"):
		return SQLite, u[len("sqlite://"):]
	case strings.HasPrefix(lower, "sqlite:"):
		return SQLite, u[len("sqlite:"):]
	case strings.HasPrefix(lower, "file:"):
		return SQLite, u[len("file:"):]
	}
	return SQLite, u
}

func openPostgres(dsn string, c Config) (*Handle, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqldb: open postgres: %w", err)
	}
	n := c.MaxConns
	if n <= 0 {
		n = 32
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return &Handle{Dialect: Postgres, DB: db, Read: db}, nil
}

func openSQLite(ctx context.Context, path string, c Config) (*Handle, error) {
	if path == "" {
		return nil, errors.New("sqldb: empty SQLite path")
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i] // our pragmas are not negotiable
	}
	// journal_mode is not among the connection parameters: switching a new
	// database to WAL is done once, by setWAL, because SQLite may refuse it
	// with SQLITE_BUSY without waiting (see there). WAL is persistent, so
	// every later connection finds the file in WAL mode.
	params := func(extra ...string) string {
		q := url.Values{}
		q.Set("_busy_timeout", fmt.Sprint(c.BusyTimeout.Milliseconds()))
		q.Set("_synchronous", "FULL")
		q.Add("_pragma", "foreign_keys(0)")
		for i := 0; i+1 < len(extra); i += 2 {
			q.Add(extra[i], extra[i+1])
		}
		return "file:" + path + "?" + q.Encode()
	}
	writerParams := []string{"_txlock", "immediate"}
	if c.MaxBytes > 0 {
		writerParams = append(writerParams, "_pragma", fmt.Sprintf("max_page_count(%d)", max(1, c.MaxBytes/sqlitePageSize)))
	}
	w, err := sql.Open("sqlite", params(writerParams...))
	if err != nil {
		return nil, fmt.Errorf("sqldb: open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The writer connection creates the file and switches it to WAL before a
	// reader opens it.
	if err := setWAL(ctx, w, c.BusyTimeout); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqldb: open sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", params("_query_only", "1"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqldb: open sqlite %s: %w", path, err)
	}
	n := c.MaxConns
	if n <= 0 {
		n = 4 * runtime.GOMAXPROCS(0)
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return &Handle{Dialect: SQLite, DB: w, Read: r}, nil
}

// setWAL switches the database to WAL mode, waiting up to busyTimeout for
// other connections.
//
// The switch reads the database header under a shared lock and, when the
// file is not yet in WAL mode, upgrades to a write lock to rewrite it. SQLite
// never waits in that upgrade (a connection that holds a shared lock and
// waits for a write lock could deadlock with another one doing the same), so
// when several connections open a new database at once, all but one get
// SQLITE_BUSY at once, whatever busy_timeout says. The failed statement has
// released its lock, so waiting here and trying again cannot deadlock; the
// next try finds the file already in WAL mode.
func setWAL(ctx context.Context, db *sql.DB, busyTimeout time.Duration) error {
	deadline := time.Now().Add(busyTimeout)
	wait := time.Millisecond
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("journal_mode is %q, want wal", mode)
			}
			return nil
		}
		var se interface{ Code() int }
		if !errors.As(err, &se) || se.Code()&0xff != sqliteBusy || time.Now().After(deadline) {
			return fmt.Errorf("set journal_mode WAL: %w", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("set journal_mode WAL: %w (after %w)", ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// sqliteBusy is SQLITE_BUSY, the primary result code of a lock conflict.
const sqliteBusy = 5

// Close closes both pools.
func (h *Handle) Close() error {
	err := h.DB.Close()
	if h.Read != h.DB {
		err = errors.Join(err, h.Read.Close())
	}
	return err
}

// Rebind rewrites the ? placeholders of query into the dialect's form ($1,
// $2, … for PostgreSQL). Question marks inside single-quoted literals, quoted
// identifiers and comments are left alone.
func (d Dialect) Rebind(query string) string {
	if d != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		ch := query[i]
		switch ch {
		case '\'', '"':
			j := strings.IndexByte(query[i+1:], ch)
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+2])
			i += j + 1
		case '-':
			if i+1 < len(query) && query[i+1] == '-' {
				j := strings.IndexByte(query[i:], '\n')
				if j < 0 {
					b.WriteString(query[i:])
					return b.String()
				}
				b.WriteString(query[i : i+j+1])
				i += j
			} else {
				b.WriteByte(ch)
			}
		case '?':
			n++
			fmt.Fprintf(&b, "$%d", n)
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

// Upsert returns an INSERT of cols into table that, when a row with the same
// conflict columns exists, updates the update columns to the new values, or
// does nothing when update is empty. Both dialects spell it
// INSERT … ON CONFLICT (…) DO UPDATE SET c = excluded.c (SQLite ≥ 3.24).
func (d Dialect) Upsert(table string, cols, conflict, update []string) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES (")
	for i := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('?')
	}
	b.WriteString(") ON CONFLICT (" + strings.Join(conflict, ", ") + ") ")
	if len(update) == 0 {
		b.WriteString("DO NOTHING")
		return b.String()
	}
	b.WriteString("DO UPDATE SET ")
	for i, c := range update {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c + " = excluded." + c)
	}
	return b.String()
}

// ForUpdate is the row-locking suffix of a SELECT: " FOR UPDATE" on
// PostgreSQL, nothing on SQLite, where the single writer already holds the
// database's write lock.
func (d Dialect) ForUpdate() string {
	if d == Postgres {
		return " FOR UPDATE"
	}
	return ""
}
