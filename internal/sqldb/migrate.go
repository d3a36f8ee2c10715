package sqldb

import (
	"context"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migrate applies the migrations of one component (e.g. "sqlstore") that
// the database has not seen yet, all in one transaction, and records them in
// the schema_migrations table. fsys holds one directory per dialect
// ("sqlite/", "postgres/") of files named <version>_<name>.sql, version a
// positive integer; they run in version order.
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

func readMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
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
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, e.Name(), v)
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
