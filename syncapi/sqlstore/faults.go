package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/cognitosync/cognitosync/syncapi"
)

// Faults of the database, as clients see them: a database that cannot be
// reached or cannot commit (a full disk, PostgreSQL restarting) is
// transient, and every error of a public method that has such a cause
// wraps syncapi.ErrUnavailable, which syncd answers as a retryable
// ServiceUnavailableException (503). Nothing was changed: a transaction
// that did not commit rolled back, and SQLite's writer fails a whole batch
// when its commit fails.

// transient reports whether err is a failure of the database rather than of
// the request: the server unreachable or going away, out of disk or memory,
// an I/O error, a lock that did not come within the busy timeout.
func transient(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),       // insufficient resources: disk full, out of memory, too many connections
			strings.HasPrefix(pe.Code, "57P"),      // the server shuts down or cannot accept connections yet
			strings.HasPrefix(pe.Code, "58"),       // system error, e.g. an I/O error
			pe.Code == "40001", pe.Code == "40P01": // serialization failure, deadlock (after write's retries)
			return true
		}
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED,
			sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL:
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.ErrUnexpectedEOF) || pgconn.Timeout(err)
}

// wrapf is fmt.Errorf for the errors of public methods: when the wrapped
// error is transient, the result also wraps syncapi.ErrUnavailable.
func wrapf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	if !errors.Is(err, syncapi.ErrUnavailable) && !isContextErr(err) && transient(err) {
		return fmt.Errorf("%w: %w", syncapi.ErrUnavailable, err)
	}
	return err
}

// isContextErr reports a cancelled or timed-out request: the client went
// away, the database did not fail.
func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// checkText refuses strings no store may keep (syncapi.ValidateText) with
// *syncapi.ValidationError, before they reach SQL: PostgreSQL would fail on
// them where SQLite stores them.
func checkText(vals ...string) error {
	for _, v := range vals {
		if err := syncapi.ValidateText("", v); err != nil {
			return &syncapi.ValidationError{Reason: "text must be valid UTF-8 without NUL characters"}
		}
	}
	return nil
}

// sanitize makes server-made text (error messages) storable: invalid UTF-8
// and NUL become U+FFFD.
func sanitize(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
