package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cognitosync/cognitosync/internal/sqldb"
)

// tx is one write (or read) transaction in progress, as the store's methods
// see it: the same code runs inside a SQLite group-commit savepoint or a
// PostgreSQL transaction.
type tx struct {
	ctx context.Context
	db  *DB
	q   interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
	// stmt, when set, returns query prepared for this transaction (SQLite);
	// a nil statement without error means "run it unprepared on q".
	stmt func(query string) (*sql.Stmt, error)
}

func (t *tx) exec(query string, args ...any) (sql.Result, error) {
	if t.stmt != nil {
		s, err := t.stmt(query)
		if err != nil {
			return nil, err
		}
		if s != nil {
			return s.ExecContext(t.ctx, args...)
		}
	}
	return t.q.ExecContext(t.ctx, t.db.q(query), args...)
}

func (t *tx) query(query string, args ...any) (*sql.Rows, error) {
	if t.stmt != nil {
		s, err := t.stmt(query)
		if err != nil {
			return nil, err
		}
		if s != nil {
			return s.QueryContext(t.ctx, args...)
		}
	}
	return t.q.QueryContext(t.ctx, t.db.q(query), args...)
}

// row runs a single-row query and scans it; found is false for no row.
func (t *tx) row(query string, args []any, dest ...any) (found bool, err error) {
	var r *sql.Row
	var s *sql.Stmt
	if t.stmt != nil {
		var err error
		if s, err = t.stmt(query); err != nil {
			return false, err
		}
	}
	if s != nil {
		r = s.QueryRowContext(t.ctx, args...)
	} else {
		r = t.q.QueryRowContext(t.ctx, t.db.q(query), args...)
	}
	switch err := r.Scan(dest...); {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// errRetry asks write to run fn again in a new transaction.
var errRetry = errors.New("sqlstore: retry")

// write runs fn in a write transaction and commits it durably. On SQLite
// it goes through the group-commit writer; on PostgreSQL it is an ordinary
// READ COMMITTED transaction whose fn takes the row locks it needs, retried
// on deadlock or serialization failure. The outcome is noted for
// CheckHealth.
func (db *DB) write(ctx context.Context, fn func(t *tx) error) error {
	err := db.writeTx(ctx, fn)
	db.noteWrite(err)
	return err
}

// writeTx is write without noting the outcome (the health probe's own).
func (db *DB) writeTx(ctx context.Context, fn func(t *tx) error) error {
	if db.w != nil {
		return db.w.do(ctx, func(t *tx) error { t.db = db; return fn(t) })
	}
	var err error
	for attempt := 0; attempt < 8; attempt++ {
		err = db.pgTx(ctx, fn)
		var pe *pgconn.PgError
		switch {
		case errors.Is(err, errRetry):
		case errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001"):
		default:
			return err
		}
	}
	return err
}

func (db *DB) pgTx(ctx context.Context, fn func(t *tx) error) error {
	sqlTx, err := db.h.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(&tx{ctx: ctx, db: db, q: sqlTx}); err != nil {
		sqlTx.Rollback()
		return err
	}
	return sqlTx.Commit()
}

// read runs fn in a read-only transaction that sees one snapshot of the
// database (REPEATABLE READ on PostgreSQL, a WAL read transaction on
// SQLite).
func (db *DB) read(ctx context.Context, fn func(t *tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.h.Dialect == sqldb.Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	sqlTx, err := db.h.Read.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer sqlTx.Rollback()
	t := &tx{ctx: ctx, db: db, q: sqlTx}
	if db.h.Dialect == sqldb.SQLite {
		// Statements prepared once per read connection (readStmt); the
		// transaction's copies close with it.
		t.stmt = func(query string) (*sql.Stmt, error) {
			s, ok := db.readStmts.Load(query)
			if !ok {
				// Preparing on the pool needs a second connection while
				// this transaction holds one: with every read connection
				// held by such a transaction, none would ever come back.
				// Run the query unprepared this time and prepare it
				// outside any transaction for the next ones.
				go db.readStmt(context.Background(), query)
				return nil, nil
			}
			return sqlTx.StmtContext(ctx, s.(*sql.Stmt)), nil
		}
	}
	if err := fn(t); err != nil {
		return err
	}
	return sqlTx.Commit()
}

// readOne runs a single statement outside a transaction on the read pool.
func (db *DB) reader(ctx context.Context) *tx {
	return &tx{ctx: ctx, db: db, q: db.h.Read}
}

// ---- SQLite group commit ----

// writer is SQLite's single writer. It owns the only write connection,
// takes queued requests, runs up to maxBatch of them in one transaction,
// each in its own SAVEPOINT so that a failing request rolls back only
// itself, commits once (one fsync for the batch) and then answers every
// caller. SQLite allows one writer at a time anyway; batching turns the
// per-commit fsync into a per-batch one.
type writer struct {
	conn     *sql.Conn
	reqs     chan *writeReq
	quit     chan struct{}
	done     chan struct{}
	once     sync.Once
	maxBatch int
	log      *slog.Logger
	stmts    map[string]*sql.Stmt
	t        tx
}

type writeReq struct {
	ctx  context.Context
	fn   func(*tx) error
	err  error
	done chan struct{}
}

func startWriter(db *sql.DB, maxBatch int, log *slog.Logger) (*writer, error) {
	conn, err := db.Conn(context.Background())
	if err != nil {
		return nil, err
	}
	w := &writer{
		conn:     conn,
		reqs:     make(chan *writeReq),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		maxBatch: maxBatch,
		log:      log,
		stmts:    map[string]*sql.Stmt{},
	}
	// Statements run with a context that is never cancelled: interrupting a
	// statement inside an explicit transaction makes SQLite roll back the
	// whole transaction, i.e. other callers' requests of the batch.
	w.t = tx{ctx: context.Background(), q: conn, stmt: w.prepare}
	go w.run()
	return w, nil
}

func (w *writer) prepare(query string) (*sql.Stmt, error) {
	if s, ok := w.stmts[query]; ok {
		return s, nil
	}
	s, err := w.conn.PrepareContext(context.Background(), query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = s
	return s, nil
}

// do queues fn and waits for the outcome of its batch.
func (w *writer) do(ctx context.Context, fn func(*tx) error) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case w.reqs <- r:
	case <-w.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, wait for the commit: the request may be applied even if
	// ctx ends meanwhile, and the caller must learn which.
	<-r.done
	return r.err
}

func (w *writer) close() {
	w.once.Do(func() {
		close(w.quit)
		<-w.done
		for _, s := range w.stmts {
			s.Close()
		}
		w.conn.Close()
	})
}

func (w *writer) run() {
	defer close(w.done)
	batch := make([]*writeReq, 0, w.maxBatch)
	for {
		select {
		case r := <-w.reqs:
			batch = append(batch[:0], r)
		case <-w.quit:
			return
		}
	drain:
		for len(batch) < w.maxBatch {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		w.commit(batch)
		for _, r := range batch {
			close(r.done)
		}
		clear(batch)
	}
}

func (w *writer) commit(batch []*writeReq) {
	ctx := context.Background()
	if _, err := w.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		for _, r := range batch {
			r.err = wrapf("begin: %w", err)
		}
		return
	}
	applied := 0
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if _, err := w.conn.ExecContext(ctx, "SAVEPOINT req"); err != nil {
			r.err = err
			continue
		}
		r.err = r.fn(&w.t)
		if r.err != nil {
			if _, err := w.conn.ExecContext(ctx, "ROLLBACK TO req"); err != nil {
				w.abort(batch, wrapf("rollback to savepoint: %w", err))
				return
			}
		} else {
			applied++
		}
		if _, err := w.conn.ExecContext(ctx, "RELEASE req"); err != nil {
			w.abort(batch, wrapf("release savepoint: %w", err))
			return
		}
	}
	if applied == 0 {
		if _, err := w.conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			w.log.Error("sqlstore: rollback", "err", err)
		}
		return
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		w.abort(batch, wrapf("commit: %w", err))
	}
}

// abort rolls the transaction back and fails every request of the batch
// that had succeeded so far.
func (w *writer) abort(batch []*writeReq, err error) {
	if _, rerr := w.conn.ExecContext(context.Background(), "ROLLBACK"); rerr != nil {
		w.log.Error("sqlstore: rollback", "err", rerr)
	}
	for _, r := range batch {
		if r.err == nil {
			r.err = err
		}
	}
}
