package checkpoint_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/pipeline/checkpoint"
	"github.com/cognitosync/cognitosync/pipeline/checkpoint/checkpointtest"
	"github.com/cognitosync/cognitosync/pipeline/kinesis"
)

func TestStore_SQLite(t *testing.T) {
	checkpointtest.Run(t, func(t *testing.T) kinesis.CheckpointStore {
		return open(t, filepath.Join(t.TempDir(), "cp.db"))
	})
}

func TestStore_Postgres(t *testing.T) {
	url := os.Getenv("SYNC_TEST_POSTGRES_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("SYNC_TEST_POSTGRES_URL is not set (run deploy/local/services.sh)")
		}
		t.Skip("SYNC_TEST_POSTGRES_URL is not set")
	}
	// Schemas named per run keep runs and packages apart.
	schema := fmt.Sprintf("cp_test_%d", time.Now().UnixNano())
	admin, err := sqldb.Open(context.Background(), sqldb.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	n := 0
	checkpointtest.Run(t, func(t *testing.T) kinesis.CheckpointStore {
		// Each subtest gets its own schema so that it starts empty.
		n++
		s := fmt.Sprintf("%s_%d", schema, n)
		if _, err := admin.DB.Exec("CREATE SCHEMA " + s); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.DB.Exec("DROP SCHEMA " + s + " CASCADE") })
		return open(t, url+sep+"search_path="+s)
	})
}

func open(t *testing.T, url string) *checkpoint.Store {
	t.Helper()
	ctx := context.Background()
	h, err := sqldb.Open(ctx, sqldb.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	st, err := checkpoint.New(ctx, checkpoint.Config{DB: h})
	if err != nil {
		t.Fatal(err)
	}
	return st
}
