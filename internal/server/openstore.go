package server

import (
	"context"
	"log/slog"

	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
)

// OpenStore opens (and migrates) the store a Config names, as New does:
// PostgreSQL at StoreURL, or SQLite in DataDir (created if missing), with
// SQLiteMaxBytes and Log. Tools that work on a server's data while it
// serves (`syncd import`) open it here, so they find the same database.
// The caller closes it.
func OpenStore(ctx context.Context, c Config) (*sqlstore.DB, error) {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return openStore(ctx, c)
}
