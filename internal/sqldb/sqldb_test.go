package sqldb_test

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/cognitosync/cognitosync/internal/sqldb"
)

// TestOpen_ConcurrentFirstOpen: several handles opening a new SQLite file at
// once all succeed and find it in WAL mode. SQLite answers the losers of the
// switch to WAL with SQLITE_BUSY without waiting for busy_timeout; before
// Open waited for them itself, about 1 round in 40 failed here.
func TestOpen_ConcurrentFirstOpen(t *testing.T) {
	for round := range 50 {
		path := filepath.Join(t.TempDir(), "new.db")
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				h, err := sqldb.Open(t.Context(), sqldb.Config{URL: path})
				if err != nil {
					t.Errorf("round %d: %v", round, err)
					return
				}
				defer h.Close()
				var mode string
				if err := h.Read.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
					t.Errorf("round %d: journal_mode = %q, %v; want wal", round, mode, err)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
	}
}
