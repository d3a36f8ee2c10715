// Package syncd is a sink that keeps a syncd store (SQLite or PostgreSQL)
// equal to the Cognito Sync whose stream the worker reads: it applies every
// record change and dataset deletion with the source's SyncCount, dates and
// DatasetSyncCount through the store's import operation
// (syncapi.Importer), so that `syncd import` and the stream may overlap in
// any order and end in the source's state. It is how a live pool moves off
// AWS: the stream keeps the copy current until the apps switch endpoint.
//
// Guarantees:
//   - Durability: Write returns nil only after every dataset of the batch
//     committed in the store (one transaction per dataset).
//   - Idempotency and never backwards: a record replaces the stored one only
//     with a higher SyncCount; a record the store has at that or a later
//     count, or that a dataset deletion already removed, is skipped, not an
//     error. A deletion at or below one already applied changes nothing.
//   - Ordering: not needed; any order of any batches ends in the state of
//     the highest SyncCount per record.
//   - The stream does not carry LastModifiedBy: a record the stream brings
//     first gets its identity id (what an identity's own write shows); the
//     import, which reads the source's API, overwrites it at the same count.
//
// Errors: a write for a pool the store does not hold yet waits, checking
// every second, until `syncd import` has created it (the route waits and
// loses nothing); input no store could keep (invalid UTF-8) is permanent;
// anything else is retried by the router.
package syncd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cognitosync/cognitosync/internal/retry"
	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/syncapi"
	"github.com/cognitosync/cognitosync/syncapi/sqlstore"
)

// Store is what the sink needs of a syncd store.
type Store interface {
	syncapi.Importer
	Close() error
}

// Config configures a Sink.
type Config struct {
	// Store names the syncd store: a postgres:// URL, or a SQLite path (see
	// StorePath). Required unless DB is set.
	Store string
	// DB is an open store to use instead of Store; the Sink does not close
	// it.
	DB syncapi.Importer
	// Name is the sink's name in metrics and route tables. "": "syncd".
	Name string
	// Registerer receives the sink metrics; nil: none.
	Registerer prometheus.Registerer
	// Log is the sink's logger; nil: discard.
	Log *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = "syncd"
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate reports a missing store.
func (c Config) Validate() error {
	if c.DB == nil && strings.TrimSpace(c.Store) == "" {
		return errors.New("syncd sink: store is required: a postgres:// URL or the SQLite path of the syncd (its --data directory)")
	}
	return nil
}

// StorePath turns the store setting into a store URL: a postgres:// URL
// stays as is; a SQLite file (sqlite:// or file: URL, or a name ending .db,
// .sqlite or .sqlite3, or an existing file) is opened as is; any other path
// is a syncd --data directory, whose database is syncd.db (the directory is
// created when missing, as syncd does).
func StorePath(store string) (string, error) {
	switch {
	case strings.HasPrefix(store, "postgres://"), strings.HasPrefix(store, "postgresql://"),
		strings.HasPrefix(store, "sqlite://"), strings.HasPrefix(store, "file:"):
		return store, nil
	}
	switch strings.ToLower(filepath.Ext(store)) {
	case ".db", ".sqlite", ".sqlite3":
		return store, nil
	}
	if fi, err := os.Stat(store); err == nil && !fi.IsDir() {
		return store, nil
	}
	if err := os.MkdirAll(store, 0o700); err != nil {
		return "", fmt.Errorf("syncd sink: create data directory: %w", err)
	}
	return filepath.Join(store, "syncd.db"), nil
}

// Sink applies changes to a syncd store. Safe for concurrent use, also by
// several processes sharing the store.
type Sink struct {
	c       Config
	db      syncapi.Importer
	owned   Store // closed by Close; nil with Config.DB
	metrics *pipeline.SinkMetrics
}

var _ pipeline.Sink = (*Sink)(nil)

// New opens (and migrates) the store unless c.DB is set.
func New(ctx context.Context, c Config) (*Sink, error) {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m, err := pipeline.NewSinkMetrics(c.Registerer)
	if err != nil {
		return nil, fmt.Errorf("syncd sink: metrics: %w", err)
	}
	s := &Sink{c: c, db: c.DB, metrics: m}
	if s.db == nil {
		url, err := StorePath(c.Store)
		if err != nil {
			return nil, err
		}
		db, err := sqlstore.Open(ctx, sqlstore.Config{URL: url, Log: c.Log})
		if err != nil {
			return nil, fmt.Errorf("syncd sink: open store: %w", err)
		}
		s.db, s.owned = db, db
	}
	return s, nil
}

// Name returns the sink's name.
func (s *Sink) Name() string { return s.c.Name }

// Close closes the store the sink opened.
func (s *Sink) Close() error {
	if s.owned != nil {
		return s.owned.Close()
	}
	return nil
}

// dataset is the part of a batch that belongs to one dataset.
type dataset struct {
	records   []syncapi.Record
	count     int64     // the highest DatasetSyncCount of its record changes
	modified  time.Time // the change time at that count
	deletions []pipeline.Change
}

// Write applies the batch dataset by dataset (see the package comment).
func (s *Sink) Write(ctx context.Context, batch []pipeline.Change) (err error) {
	start := time.Now()
	defer func() { s.metrics.Observe(s.c.Name, start, len(batch), err) }()
	var order []syncapi.DatasetKey
	groups := map[syncapi.DatasetKey]*dataset{}
	for _, c := range batch {
		k := syncapi.DatasetKey{PoolID: c.IdentityPoolID, IdentityID: c.IdentityID, Name: c.DatasetName}
		g := groups[k]
		if g == nil {
			g = &dataset{}
			groups[k] = g
			order = append(order, k)
		}
		if c.DatasetDeleted {
			g.deletions = append(g.deletions, c)
			continue
		}
		g.records = append(g.records, syncapi.Record{
			Key: c.Key, Value: c.Value, SyncCount: c.SyncCount, LastModifiedBy: c.IdentityID,
			LastModifiedDate: syncapi.NewTime(c.LastModified), DeviceLastModifiedDate: syncapi.NewTime(c.DeviceLastModified),
		})
		if n := max(c.DatasetSyncCount, c.SyncCount); n > g.count {
			g.count, g.modified = n, c.LastModified
		}
	}
	for _, k := range order {
		g := groups[k]
		if len(g.records) > 0 {
			var res syncapi.ImportResult
			err := s.awaitPool(ctx, k, func() (err error) {
				res, err = s.db.ImportRecords(ctx, syncapi.ImportRequest{Key: k, Records: g.records,
					DatasetSyncCount: g.count, LastModifiedDate: g.modified, LastModifiedBy: k.IdentityID})
				return err
			})
			if err != nil {
				return s.fail(k, err)
			}
			if res.Skipped > 0 {
				s.c.Log.Debug("skipped records the store already has at that or a later sync count",
					"identity_pool", k.PoolID, "dataset", k.String(), "skipped", res.Skipped)
			}
		}
		for _, d := range g.deletions {
			err := s.awaitPool(ctx, k, func() error {
				_, err := s.db.ImportDatasetDeletion(ctx, k, d.DatasetSyncCount, d.LastModified)
				return err
			})
			if err != nil {
				return s.fail(k, err)
			}
		}
	}
	return nil
}

// PoolPoll is how often a write waits for `syncd import` to create a pool
// the store does not hold yet.
const PoolPoll = time.Second

// awaitPool runs write until it does not fail for a missing pool: the
// stream may well start before the import created the pool, and then the
// route waits here, checking every PoolPoll, rather than in the router's
// growing backoff, so that it follows within a second of the import's
// start. It logs the wait once a minute; ctx ends it.
func (s *Sink) awaitPool(ctx context.Context, k syncapi.DatasetKey, write func() error) error {
	var logged time.Time
	for {
		err := write()
		if !errors.Is(err, syncapi.ErrNotFound) {
			return err
		}
		if time.Since(logged) >= time.Minute {
			logged = time.Now()
			s.c.Log.Warn("waiting for the identity pool to be imported into the target store: run `syncd import --pool "+k.PoolID+"` against it",
				"identity_pool", k.PoolID)
		}
		if err := retry.Sleep(ctx, PoolPoll); err != nil {
			return fmt.Errorf("%w (%w)", err, syncapi.ErrNotFound)
		}
	}
}

// fail classifies a store error: input no store can keep is permanent;
// anything else (the pool not imported yet, the store unreachable) is
// retried by the router.
func (s *Sink) fail(k syncapi.DatasetKey, err error) error {
	var ve *syncapi.ValidationError
	switch {
	case errors.As(err, &ve), errors.Is(err, syncapi.ErrConflict):
		return permanentError{fmt.Errorf("syncd sink: dataset %s: %w", k, err)}
	case errors.Is(err, syncapi.ErrNotFound):
		return fmt.Errorf("syncd sink: identity pool %s is not in the target store yet; run `syncd import --pool %s` "+
			"against it (the route waits and retries): %w", k.PoolID, k.PoolID, err)
	}
	return fmt.Errorf("syncd sink: dataset %s: %w", k, err)
}

// permanentError is an error that delivering the same batch again cannot
// fix (pipeline.IsPermanent).
type permanentError struct{ error }

func (e permanentError) Unwrap() error   { return e.error }
func (e permanentError) Permanent() bool { return true }
