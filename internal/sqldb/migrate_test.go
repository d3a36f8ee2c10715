package sqldb_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/internal/synctest"
)

func openSQLite(t *testing.T) *sqldb.Handle {
	t.Helper()
	h, err := sqldb.Open(context.Background(), sqldb.Config{URL: filepath.Join(t.TempDir(), "m.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func files(kv ...string) fstest.MapFS {
	m := fstest.MapFS{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = &fstest.MapFile{Data: []byte(kv[i+1])}
	}
	return m
}

// applied lists the component's schema_migrations rows as version:name.
func applied(t *testing.T, h *sqldb.Handle, component string) string {
	t.Helper()
	rows, err := h.DB.Query(h.Dialect.Rebind("SELECT version, name FROM schema_migrations WHERE component = ? ORDER BY version"), component)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v, n string
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		out = append(out, v+":"+n)
	}
	return strings.Join(out, " ")
}

// TestMigrate_SharedAndPerDialect: shared and per-dialect migrations run
// interleaved in version order, each dialect its own files, each recorded
// under its file name.
func TestMigrate_SharedAndPerDialect(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) *sqldb.Handle{
		"sqlite": openSQLite,
		"postgres": func(t *testing.T) *sqldb.Handle {
			h, err := sqldb.Open(context.Background(), sqldb.Config{URL: synctest.PostgresURL(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { h.Close() })
			return h
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := open(t)
			fsys := files(
				"shared/1_a.sql", "CREATE TABLE a (x INTEGER);",
				"sqlite/2_b.sql", "ALTER TABLE a ADD COLUMN only_sqlite INTEGER;",
				"postgres/2_b.sql", "ALTER TABLE a ADD COLUMN only_postgres BIGINT;",
				"shared/3_c.sql", "CREATE INDEX a_x ON a (x);",
			)
			if err := h.Migrate(context.Background(), "c", fsys); err != nil {
				t.Fatal(err)
			}
			if got := applied(t, h, "c"); got != "1:1_a.sql 2:2_b.sql 3:3_c.sql" {
				t.Fatalf("applied %s", got)
			}
			if _, err := h.DB.Exec("INSERT INTO a (x, only_" + name + ") VALUES (1, 2)"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestMigrate_MovingToSharedChangesNothing: a database migrated when a
// migration was written per dialect is not migrated again once that
// migration moves to shared/ (same version, same file name); only new
// versions run.
func TestMigrate_MovingToSharedChangesNothing(t *testing.T) {
	h := openSQLite(t)
	ctx := context.Background()
	before := files(
		"sqlite/1_a.sql", "CREATE TABLE a (x INTEGER);",
		"postgres/1_a.sql", "CREATE TABLE a (x INTEGER);",
	)
	if err := h.Migrate(ctx, "c", before); err != nil {
		t.Fatal(err)
	}
	after := files(
		"shared/1_a.sql", "CREATE TABLE a (x INTEGER);", // would fail if run again
		"shared/2_b.sql", "CREATE TABLE b (x INTEGER);",
	)
	if err := h.Migrate(ctx, "c", after); err != nil {
		t.Fatal(err)
	}
	if got := applied(t, h, "c"); got != "1:1_a.sql 2:2_b.sql" {
		t.Fatalf("applied %s", got)
	}
}

func TestMigrate_LayoutErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"SharedAndPerDialect", files("shared/1_a.sql", "SELECT 1;", "sqlite/1_a.sql", "SELECT 1;", "postgres/1_a.sql", "SELECT 1;"),
			"share version 1: a version is shared or per dialect"},
		{"MissingInOneDialect", files("sqlite/1_a.sql", "SELECT 1;", "sqlite/2_b.sql", "SELECT 1;", "postgres/1_a.sql", "SELECT 1;"),
			"different versions (1,2 and 1)"},
		{"OtherDialectOnly", files("postgres/1_a.sql", "SELECT 1;"), "no migrations for sqlite"},
		{"BadName", files("shared/a.sql", "SELECT 1;"), "name must be <version>_<name>.sql"},
		{"DuplicateVersion", files("shared/1_a.sql", "SELECT 1;", "shared/1_b.sql", "SELECT 1;"), "share version 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := openSQLite(t)
			err := h.Migrate(context.Background(), "c", tc.fsys)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Migrate = %v, want %q", err, tc.want)
			}
			var n int
			if err := h.DB.QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'schema_migrations'").Scan(&n); err != nil || n != 0 {
				t.Fatalf("a bad layout touched the database: schema_migrations tables %d, %v", n, err)
			}
		})
	}
}
