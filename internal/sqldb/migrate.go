package sqldb

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Migrate applies the migrations of one component (e.g. "sqlstore") that
// the database has not seen yet, all in one transaction, and records them in
// the schema_migrations table. fsys holds files named <version>_<name>.sql,
// version a positive integer, in one directory per dialect ("sqlite/",
// "postgres/") and in "shared/" for a migration that is the same SQL in
// every dialect, written once. A version is either shared or in each
// dialect's directory, never both, and every dialect directory present
// must have the same versions; Migrate checks both before it runs
// anything. Migrations run in version order, shared and per-dialect ones
// interleaved; the name recorded is the file name.
//
// Migrate is safe when several processes start at once: on PostgreSQL the
// transaction first takes a transaction-scoped advisory lock for the
// component, on SQLite it begins with BEGIN IMMEDIATE (the database's write
// lock). Call it before the handle's writer starts, since on SQLite it uses
// the single write connection.
func (h *Handle) Migrate(ctx context.Context, component string, fsys fs.FS) error {
	migs, err := readMigrations(fsys, string(h.Dialect))
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	tx, err := h.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	defer tx.Rollback()
	if h.Dialect == Postgres {
		f := fnv.New64a()
		f.Write([]byte("syncd schema_migrations " + component))
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(f.Sum64())); err != nil {
			return fmt.Errorf("migrate %s: lock: %w", component, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	component  TEXT NOT NULL,
	version    BIGINT NOT NULL,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL,
	PRIMARY KEY (component, version)
)`); err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	applied := map[int64]bool{}
	rows, err := tx.QueryContext(ctx, h.Dialect.Rebind("SELECT version FROM schema_migrations WHERE component = ?"), component)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("migrate %s: %w", component, err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	for _, m := range migs {
		if applied[m.version] {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate %s: %s: %w", component, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, h.Dialect.Rebind(
			"INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, CAST(CURRENT_TIMESTAMP AS TEXT))"),
			component, m.version, m.name); err != nil {
			return fmt.Errorf("migrate %s: %s: %w", component, m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate %s: commit: %w", component, err)
	}
	return nil
}

type migration struct {
	version int64
	name    string
	sql     string
}

// sharedDir holds the migrations that are the same in every dialect.
const sharedDir = "shared"

// readMigrations returns the migrations of dialect (its directory and
// sharedDir) in version order, after checking the layout of every dialect.
func readMigrations(fsys fs.FS, dialect string) ([]migration, error) {
	shared, err := readDir(fsys, sharedDir)
	if err != nil {
		return nil, err
	}
	var own []migration
	versions := map[string]string{} // dialect -> its sorted versions, for the comparison
	for _, d := range []Dialect{SQLite, Postgres} {
		migs, err := readDir(fsys, string(d))
		if err != nil {
			return nil, err
		}
		if migs == nil {
			continue // no directory: the component does not support d, or shares everything
		}
		var vs []string
		for _, m := range migs {
			if i := slices.IndexFunc(shared, func(s migration) bool { return s.version == m.version }); i >= 0 {
				return nil, fmt.Errorf("migration %s/%s and %s/%s share version %d: a version is shared or per dialect",
					d, m.name, sharedDir, shared[i].name, m.version)
			}
			vs = append(vs, strconv.FormatInt(m.version, 10))
		}
		versions[string(d)] = strings.Join(vs, ",")
		if string(d) == dialect {
			own = migs
		}
	}
	if versions["sqlite"] != "" && versions["postgres"] != "" && versions["sqlite"] != versions["postgres"] {
		return nil, fmt.Errorf("the sqlite and postgres migrations have different versions (%s and %s): add the missing ones, or move one that is the same in both to %s/",
			versions["sqlite"], versions["postgres"], sharedDir)
	}
	if own == nil && shared == nil {
		return nil, fmt.Errorf("no migrations for %s (neither %s/ nor %s/)", dialect, dialect, sharedDir)
	}
	migs := append(own, shared...)
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	return migs, nil
}

// readDir reads the migrations of one directory, sorted by version; nil
// when it does not exist.
func readDir(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var migs []migration
	seen := map[int64]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s/%s: name must be <version>_<name>.sql", dir, e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s/%s and %s/%s share version %d", dir, prev, dir, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		migs = append(migs, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	return migs, nil
}
