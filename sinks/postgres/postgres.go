// Package postgres is a sink that keeps the current state of every record
// in PostgreSQL, and optionally a log of every change.
//
// Tables (names: Config.TablePrefix + "records" / "changes", in
// Config.Schema or the connection's search_path; created by embedded
// migrations in New):
//   - records: one row per (identity_pool_id, identity_id, dataset_name,
//     key) with value, op, deleted, sync_count, last_modified,
//     device_last_modified, dataset_sync_count and updated_at. A remove is
//     kept as a tombstone row (deleted = true, value NULL).
//   - changes: with Config.ChangeLog, one row per distinct change, unique on
//     the idempotency key (identity_pool_id, identity_id, dataset_name, key,
//     sync_count); id orders rows by arrival. A dataset deletion is a row
//     with an empty key and op remove.
//   - dataset_deletions: per dataset, the highest sync count it was deleted
//     at (a dataset deletion, see pipeline.Change).
//
// Guarantees:
//   - Durability: Write commits one transaction per batch; it returns nil
//     only after COMMIT succeeded, so the pipeline checkpoints only what
//     PostgreSQL has made durable. On error nothing of the batch is applied.
//   - Idempotency and never backwards: the upsert is INSERT … ON CONFLICT DO
//     UPDATE … WHERE excluded.sync_count > records.sync_count, so a replayed
//     or older change (an out-of-order batch, a bulk publish overlapping live
//     updates) changes nothing, and a tombstone is only replaced by a newer
//     SyncCount. The change log inserts with ON CONFLICT DO NOTHING.
//   - Ordering: not needed for correctness; any order of any batches ends in
//     the state of the highest SyncCount per record. Rows are written in key
//     order so concurrent writers cannot deadlock each other; a deadlock or
//     serialization failure from other clients is retried (3 attempts).
//   - Dataset deletions: a deletion at sync count D turns every row of the
//     dataset with sync_count <= D into a tombstone (deleted, op remove,
//     value NULL; its own sync_count kept) and is remembered, so a record
//     change at or below D that arrives later (in any order) is stored as a
//     tombstone too. syncd keeps counting from D when the dataset is
//     created again (spec C.8), so its new records are live. Writers take
//     a transaction-scoped advisory lock per dataset bucket (64 buckets):
//     shared to write records, exclusive to delete, so a deletion and a
//     concurrent record write of its dataset cannot miss each other.
//   - Times are stored as TIMESTAMPTZ, at PostgreSQL's microsecond
//     resolution; a zero time is NULL.
package postgres

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing/fstest"
	"text/template"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/pipeline"
)

//go:embed migrations
var migrations embed.FS

// Config configures a Sink.
type Config struct {
	// URL is a postgres:// URL (pgx parameters such as search_path may be in
	// the query). Required unless DB is set.
	URL string
	// DB is an open PostgreSQL pool (pgx driver) to use instead of URL; the
	// Sink does not close it.
	DB *sql.DB
	// Schema holds the tables, created if missing. "": the first schema of
	// the connection's search_path.
	Schema string
	// TablePrefix starts the table names. "": "cognitosync_".
	TablePrefix string
	// ChangeLog also inserts every change into the changes table.
	ChangeLog bool
	// Name is the sink's name in metrics and route tables. "": "postgres".
	Name string
	// Registerer receives the sink metrics; nil: none.
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.TablePrefix == "" {
		c.TablePrefix = "cognitosync_"
	}
	if c.Name == "" {
		c.Name = "postgres"
	}
}

// identifier is what Schema and TablePrefix may hold: they are spliced into
// SQL, so only plain lowercase identifiers.
var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,39}$`)

// Validate reports a missing URL/DB, a URL that is not PostgreSQL, and a
// Schema or TablePrefix that is not a plain lowercase identifier.
func (c Config) Validate() error {
	var errs []error
	if c.DB == nil {
		if c.URL == "" {
			errs = append(errs, errors.New("postgres sink: URL or DB is required"))
		} else if d, _ := sqldb.Parse(c.URL); d != sqldb.Postgres {
			errs = append(errs, errors.New("postgres sink: URL must be postgres:// or postgresql://"))
		}
	}
	if c.Schema != "" && !identifier.MatchString(c.Schema) {
		errs = append(errs, fmt.Errorf("postgres sink: Schema %q must match %s", c.Schema, identifier))
	}
	if c.TablePrefix != "" && !identifier.MatchString(c.TablePrefix) {
		errs = append(errs, fmt.Errorf("postgres sink: TablePrefix %q must match %s", c.TablePrefix, identifier))
	}
	return errors.Join(errs...)
}

// Sink writes changes to PostgreSQL. Safe for concurrent use, also by
// several processes sharing the tables.
type Sink struct {
	c       Config
	db      *sql.DB
	ownDB   bool
	metrics *pipeline.SinkMetrics
	upsert  string
	logIns  string
	delIns  string
	delUpd  string
	lockID  int32
}

var _ pipeline.Sink = (*Sink)(nil)

// New connects (unless Config.DB is set) and migrates the tables.
func New(ctx context.Context, c Config) (*Sink, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m, err := pipeline.NewSinkMetrics(c.Registerer)
	if err != nil {
		return nil, fmt.Errorf("postgres sink: metrics: %w", err)
	}
	h := &sqldb.Handle{Dialect: sqldb.Postgres, DB: c.DB, Read: c.DB}
	if c.DB == nil {
		if h, err = sqldb.Open(ctx, sqldb.Config{URL: c.URL}); err != nil {
			return nil, fmt.Errorf("postgres sink: %w", err)
		}
	}
	s := &Sink{c: c, db: h.DB, ownDB: c.DB == nil, metrics: m}
	records, changes, deletions := s.table("records"), s.table("changes"), s.table("dataset_deletions")
	fsys, err := render(map[string]string{"Schema": c.Schema, "Records": records, "Changes": changes, "Deletions": deletions})
	if err == nil {
		err = h.Migrate(ctx, "sinks/postgres "+c.Schema+"."+c.TablePrefix, fsys)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres sink: %w", err)
	}
	s.lockID = int32(fnv32(records))
	// A record at or below its dataset's deletion is stored as a tombstone.
	s.upsert = `INSERT INTO ` + records + ` AS r (identity_pool_id, identity_id, dataset_name, key, value, op, deleted,
	sync_count, last_modified, device_last_modified, dataset_sync_count)
SELECT pool, ident, dataset, k, CASE WHEN dead THEN NULL ELSE v END, CASE WHEN dead THEN 'remove' ELSE op END,
	dead OR op = 'remove', sc, lm, dlm, dsc
FROM (SELECT u.*, COALESCE(u.sc <= d.sync_count, false) AS dead
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
		$8::timestamptz[], $9::timestamptz[], $10::bigint[]) AS u(pool, ident, dataset, k, v, op, sc, lm, dlm, dsc)
	LEFT JOIN ` + deletions + ` d ON d.identity_pool_id = u.pool AND d.identity_id = u.ident AND d.dataset_name = u.dataset) AS u
ORDER BY pool, ident, dataset, k
ON CONFLICT (identity_pool_id, identity_id, dataset_name, key) DO UPDATE SET
	value = excluded.value, op = excluded.op, deleted = excluded.deleted, sync_count = excluded.sync_count,
	last_modified = excluded.last_modified, device_last_modified = excluded.device_last_modified,
	dataset_sync_count = excluded.dataset_sync_count, updated_at = now()
WHERE excluded.sync_count > r.sync_count`
	s.logIns = `INSERT INTO ` + changes + ` (identity_pool_id, identity_id, dataset_name, key, value, op,
	sync_count, last_modified, device_last_modified, dataset_sync_count)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
	$8::timestamptz[], $9::timestamptz[], $10::bigint[]) AS u(pool, ident, dataset, k, v, op, sc, lm, dlm, dsc)
ORDER BY pool, ident, dataset, k, sc
ON CONFLICT (identity_pool_id, identity_id, dataset_name, key, sync_count) DO NOTHING`
	s.delIns = `INSERT INTO ` + deletions + ` AS d (identity_pool_id, identity_id, dataset_name, sync_count, last_modified)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[]) AS u(pool, ident, dataset, sc, lm)
ORDER BY pool, ident, dataset
ON CONFLICT (identity_pool_id, identity_id, dataset_name) DO UPDATE SET
	sync_count = excluded.sync_count, last_modified = excluded.last_modified, updated_at = now()
WHERE excluded.sync_count > d.sync_count`
	s.delUpd = `UPDATE ` + records + ` AS r SET value = NULL, op = 'remove', deleted = true,
	dataset_sync_count = GREATEST(r.dataset_sync_count, u.sc), updated_at = now()
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(pool, ident, dataset, sc)
WHERE r.identity_pool_id = u.pool AND r.identity_id = u.ident AND r.dataset_name = u.dataset
	AND r.sync_count <= u.sc AND NOT r.deleted`
	return s, nil
}

// Name returns Config.Name.
func (s *Sink) Name() string { return s.c.Name }

// Table returns the qualified name of one of the sink's tables, "records"
// or "changes", for queries of its users.
func (s *Sink) Table(name string) string { return s.table(name) }

func (s *Sink) table(name string) string {
	if s.c.Schema != "" {
		return s.c.Schema + "." + s.c.TablePrefix + name
	}
	return s.c.TablePrefix + name
}

// Write applies the batch in one transaction: the dataset deletions, the
// upsert of each record's newest change and, with ChangeLog, the insert of
// every distinct change. It retries deadlocks and serialization failures up
// to 3 times; any other error rolls back and is returned.
func (s *Sink) Write(ctx context.Context, batch []pipeline.Change) (err error) {
	start := time.Now()
	defer func() { s.metrics.Observe(s.c.Name, start, len(batch), err) }()
	if len(batch) == 0 {
		return ctx.Err()
	}
	w := s.prepare(batch)
	for attempt := 1; ; attempt++ {
		err = s.write(ctx, w)
		if err == nil || attempt == 3 || !retryable(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("postgres sink: write %d changes: %w", len(batch), err)
	}
	return nil
}

// prepared is a batch as the statements of one write take it.
type prepared struct {
	latest, all columns // records; all only with ChangeLog
	deletions   columns // the newest deletion per dataset
	lockKeys    []int32 // dataset buckets, ascending
	lockExcl    []bool  // exclusive: the bucket has a deletion
}

// lockBuckets is the number of advisory locks datasets hash to: a bound on
// the locks one transaction takes, whatever the batch size.
const lockBuckets = 64

func (s *Sink) prepare(batch []pipeline.Change) prepared {
	var recs, dels []pipeline.Change
	buckets := map[int32]bool{}
	for _, c := range batch {
		b := int32(fnv32(c.IdentityPoolID, c.IdentityID, c.DatasetName) % lockBuckets)
		buckets[b] = buckets[b] || c.DatasetDeleted
		if c.DatasetDeleted {
			dels = append(dels, c)
		} else {
			recs = append(recs, c)
		}
	}
	var w prepared
	for _, k := range slices.Sorted(maps.Keys(buckets)) {
		w.lockKeys = append(w.lockKeys, k)
		w.lockExcl = append(w.lockExcl, buckets[k])
	}
	w.latest = columnsOf(newestPerRecord(recs))
	w.deletions = columnsOf(newestPerRecord(dels))
	if s.c.ChangeLog {
		w.all = columnsOf(distinct(batch))
	}
	return w
}

func (s *Sink) write(ctx context.Context, w prepared) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT count(CASE WHEN x THEN pg_advisory_xact_lock($1, k) ELSE pg_advisory_xact_lock_shared($1, k) END)
FROM (SELECT k, x FROM unnest($2::int[], $3::bool[]) AS u(k, x) ORDER BY k) AS s`, s.lockID, w.lockKeys, w.lockExcl); err != nil {
		return fmt.Errorf("lock datasets: %w", err)
	}
	if len(w.deletions.pool) > 0 {
		d := w.deletions
		if _, err := tx.ExecContext(ctx, s.delIns, d.pool, d.ident, d.dataset, d.sc, d.lm); err != nil {
			return fmt.Errorf("dataset deletions: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.delUpd, d.pool, d.ident, d.dataset, d.sc); err != nil {
			return fmt.Errorf("dataset deletions: tombstones: %w", err)
		}
	}
	if len(w.latest.pool) > 0 {
		if _, err := tx.ExecContext(ctx, s.upsert, w.latest.args()...); err != nil {
			return fmt.Errorf("upsert: %w", err)
		}
	}
	if s.c.ChangeLog {
		if _, err := tx.ExecContext(ctx, s.logIns, w.all.args()...); err != nil {
			return fmt.Errorf("change log: %w", err)
		}
	}
	return tx.Commit()
}

// fnv32 is FNV-1a of the parts, separated by NUL.
func fnv32(parts ...string) uint32 {
	h := fnv.New32a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum32()
}

// Close closes the pool the Sink opened (not Config.DB). Idempotent.
func (s *Sink) Close() error {
	if s.ownDB && s.db != nil {
		return s.db.Close() // sql.DB.Close is idempotent
	}
	return nil
}

// retryable: deadlock_detected, serialization_failure.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// newestPerRecord keeps each record's highest SyncCount: one INSERT … ON
// CONFLICT DO UPDATE may not touch a row twice. Sorted by record key.
func newestPerRecord(batch []pipeline.Change) []pipeline.Change {
	out := slices.Clone(batch)
	slices.SortStableFunc(out, func(a, b pipeline.Change) int {
		return cmp.Or(compareRecord(a, b), -cmp.Compare(a.SyncCount, b.SyncCount))
	})
	return slices.CompactFunc(out, func(a, b pipeline.Change) bool { return compareRecord(a, b) == 0 })
}

// distinct drops repeated idempotency keys, sorted by key.
func distinct(batch []pipeline.Change) []pipeline.Change {
	out := slices.Clone(batch)
	slices.SortStableFunc(out, func(a, b pipeline.Change) int {
		return cmp.Or(compareRecord(a, b), cmp.Compare(a.SyncCount, b.SyncCount))
	})
	return slices.CompactFunc(out, func(a, b pipeline.Change) bool { return a.ID() == b.ID() })
}

func compareRecord(a, b pipeline.Change) int {
	return cmp.Or(strings.Compare(a.IdentityPoolID, b.IdentityPoolID), strings.Compare(a.IdentityID, b.IdentityID),
		strings.Compare(a.DatasetName, b.DatasetName), strings.Compare(a.Key, b.Key))
}

// columns is a batch as one array per column, for unnest.
type columns struct {
	pool, ident, dataset, key, op []string
	value                         []*string
	sc, dsc                       []int64
	lm, dlm                       []*time.Time
}

func columnsOf(batch []pipeline.Change) columns {
	var c columns
	for _, ch := range batch {
		c.pool = append(c.pool, ch.IdentityPoolID)
		c.ident = append(c.ident, ch.IdentityID)
		c.dataset = append(c.dataset, ch.DatasetName)
		c.key = append(c.key, ch.Key)
		c.value = append(c.value, ch.Value)
		c.op = append(c.op, string(ch.Op))
		c.sc = append(c.sc, ch.SyncCount)
		c.lm = append(c.lm, nullTime(ch.LastModified))
		c.dlm = append(c.dlm, nullTime(ch.DeviceLastModified))
		c.dsc = append(c.dsc, ch.DatasetSyncCount)
	}
	return c
}

func (c columns) args() []any {
	return []any{c.pool, c.ident, c.dataset, c.key, c.value, c.op, c.sc, c.lm, c.dlm, c.dsc}
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// render fills the table names into the embedded migrations.
func render(names map[string]string) (fs.FS, error) {
	out := fstest.MapFS{}
	err := fs.WalkDir(migrations, "migrations", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations, p)
		if err != nil {
			return err
		}
		tmpl, err := template.New(p).Option("missingkey=error").Parse(string(b))
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, names); err != nil {
			return err
		}
		out[strings.TrimPrefix(p, "migrations/")] = &fstest.MapFile{Data: buf.Bytes()}
		return nil
	})
	return out, err
}
