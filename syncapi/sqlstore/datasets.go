package sqlstore

import (
	"context"
	"math"

	"github.com/cognitosync/cognitosync/syncapi"
)

// datasetRow is a row of the datasets table.
type datasetRow struct {
	id                      int64
	live                    bool
	syncCount, deletedAt    int64
	creationMS, modifiedMS  int64
	modifiedBy              string
	numRecords, dataStorage int64
	// Tombstones: their number and the UTF-8 bytes of their keys, and the
	// highest SyncCount of one dropped beyond the limits (syncapi.Limits).
	numTombstones, tombstoneBytes, purgedAt int64
}

// unaccount takes a stored record of key out of the dataset's counts (a
// live record's size, or a tombstone's key bytes) before it is replaced.
func (r *datasetRow) unaccount(key string, s stored) {
	switch {
	case s.found && s.live:
		r.numRecords--
		r.dataStorage -= s.size
	case s.found:
		r.numTombstones--
		r.tombstoneBytes -= int64(len(key))
	}
}

// account adds a record of key with value (nil: a tombstone) to the
// dataset's counts and returns its size (0 for a tombstone).
func (r *datasetRow) account(key string, value *string) (size int64) {
	if value == nil {
		r.numTombstones++
		r.tombstoneBytes += int64(len(key))
		return 0
	}
	size = int64(len(key) + len(*value))
	r.numRecords++
	r.dataStorage += size
	return size
}

const datasetCols = `id, live, sync_count, deleted_at, creation_ms, modified_ms, modified_by, num_records, data_storage,
	num_tombstones, tombstone_bytes, purged_at`

// datasetColsD is datasetCols of a table aliased d.
const datasetColsD = `d.id, d.live, d.sync_count, d.deleted_at, d.creation_ms, d.modified_ms, d.modified_by, d.num_records, d.data_storage,
	d.num_tombstones, d.tombstone_bytes, d.purged_at`

// numDatasetCols is the number of columns of datasetCols.
const numDatasetCols = 12

func (r *datasetRow) dest() []any {
	return []any{&r.id, &r.live, &r.syncCount, &r.deletedAt, &r.creationMS, &r.modifiedMS, &r.modifiedBy, &r.numRecords, &r.dataStorage,
		&r.numTombstones, &r.tombstoneBytes, &r.purgedAt}
}

// selectDataset reads the dataset row, locking it on PostgreSQL when lock
// is set.
func (db *DB) selectDataset(t *tx, k syncapi.DatasetKey, lock bool) (datasetRow, bool, error) {
	var r datasetRow
	q := `SELECT ` + datasetCols + ` FROM datasets WHERE pool_id = ? AND identity_id = ? AND name = ?`
	if lock {
		q += db.d.forUpdate()
	}
	found, err := t.row(q, []any{k.PoolID, k.IdentityID, k.Name}, r.dest()...)
	return r, found, err
}

// state converts a row (found or not) into the DatasetState of k.
func (r datasetRow) state(k syncapi.DatasetKey, found bool) syncapi.DatasetState {
	s := syncapi.DatasetState{
		Dataset:   syncapi.Dataset{IdentityID: k.IdentityID, DatasetName: k.Name},
		Exists:    found && r.live,
		SyncCount: r.syncCount,
		DeletedAt: r.deletedAt,
		PurgedAt:  r.purgedAt,
	}
	if s.Exists {
		s.CreationDate = fromMS(r.creationMS)
		s.LastModifiedDate = fromMS(r.modifiedMS)
		s.LastModifiedBy = r.modifiedBy
		s.NumRecords = r.numRecords
		s.DataStorage = r.dataStorage
	}
	return s
}

// GetDataset returns the dataset's state. A dataset that never existed or
// was deleted has Exists false, with the remembered SyncCount and DeletedAt
// and no other metadata. MergedNames lists the live datasets of the
// identity named <name>.<id> where <id> is an identity of the same pool:
// the copies an identity merge creates (spec C.10).
func (db *DB) GetDataset(ctx context.Context, k syncapi.DatasetKey) (syncapi.DatasetState, error) {
	if err := checkText(k.PoolID, k.IdentityID, k.Name); err != nil {
		return syncapi.DatasetState{}, wrapf("get dataset: %w", err)
	}
	var s syncapi.DatasetState
	err := db.read(ctx, func(t *tx) error {
		var err error
		s, err = db.datasetState(t, k)
		return err
	})
	if err != nil {
		return syncapi.DatasetState{}, wrapf("get dataset %s: %w", k, err)
	}
	return s, nil
}

func (db *DB) datasetState(t *tx, k syncapi.DatasetKey) (syncapi.DatasetState, error) {
	r, found, err := db.selectDataset(t, k, false)
	if err != nil {
		return syncapi.DatasetState{}, err
	}
	s := r.state(k, found)
	if s.Exists {
		if s.MergedNames, err = db.mergedNames(t, k); err != nil {
			return syncapi.DatasetState{}, err
		}
	}
	return s, nil
}

func (db *DB) mergedNames(t *tx, k syncapi.DatasetKey) ([]string, error) {
	prefix := k.Name + "."
	rows, err := t.query(`SELECT d.name FROM datasets d JOIN identities i
	ON i.pool_id = d.pool_id AND i.id = substr(d.name, ?) AND i.id <> d.identity_id
WHERE d.pool_id = ? AND d.identity_id = ? AND d.live AND d.name > ? AND d.name < ?
ORDER BY d.name`, len(prefix)+1, k.PoolID, k.IdentityID, prefix, k.Name+"/")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// ListDatasets returns the identity's live datasets ordered by name, those
// after `after` (exclusive) when set, at most limit (0: all). An unknown
// identity has none.
func (db *DB) ListDatasets(ctx context.Context, poolID, identityID, after string, limit int) ([]syncapi.Dataset, error) {
	if err := checkText(poolID, identityID, after); err != nil {
		return nil, wrapf("list datasets: %w", err)
	}
	rows, err := db.reader(ctx).query(`SELECT name, creation_ms, modified_ms, modified_by, num_records, data_storage
FROM datasets WHERE pool_id = ? AND identity_id = ? AND live AND name > ? ORDER BY name LIMIT ?`,
		poolID, identityID, after, sqlLimit(limit))
	if err != nil {
		return nil, wrapf("list datasets %s/%s: %w", poolID, identityID, err)
	}
	defer rows.Close()
	out := []syncapi.Dataset{}
	for rows.Next() {
		d := syncapi.Dataset{IdentityID: identityID}
		var c, m int64
		if err := rows.Scan(&d.DatasetName, &c, &m, &d.LastModifiedBy, &d.NumRecords, &d.DataStorage); err != nil {
			return nil, wrapf("list datasets %s/%s: %w", poolID, identityID, err)
		}
		d.CreationDate, d.LastModifiedDate = fromMS(c), fromMS(m)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapf("list datasets %s/%s: %w", poolID, identityID, err)
	}
	return out, nil
}

// sqlLimit maps "0: no limit" to a LIMIT both dialects accept.
func sqlLimit(limit int) int64 {
	if limit <= 0 {
		return math.MaxInt64
	}
	return int64(limit)
}

// DeleteDataset removes the dataset's records and subscriptions (queueing a
// notification for each subscribed device first), marks it
// deleted and remembers its sync count as DeletedAt; the counter itself is
// kept, so a re-created dataset continues from it (spec C.2, C.8). It
// returns the metadata as it was before the deletion, or ErrNotFound when
// the dataset does not exist. Serialised with UpdateRecords of the dataset.
func (db *DB) DeleteDataset(ctx context.Context, k syncapi.DatasetKey) (syncapi.Dataset, error) {
	if err := checkText(k.PoolID, k.IdentityID, k.Name); err != nil {
		return syncapi.Dataset{}, wrapf("delete dataset: %w", err)
	}
	var before syncapi.Dataset
	err := db.write(ctx, func(t *tx) error {
		r, found, err := db.selectDataset(t, k, true)
		if err != nil {
			return err
		}
		if !found || !r.live {
			return notFound("dataset %s not found", k.Name)
		}
		before = r.state(k, true).Dataset
		if _, err := t.exec(`DELETE FROM records WHERE dataset_id = ?`, r.id); err != nil {
			return err
		}
		if _, err := t.exec(`UPDATE datasets SET live = `+falseLit+`, deleted_at = sync_count, num_records = 0, data_storage = 0,
	num_tombstones = 0, tombstone_bytes = 0 WHERE id = ?`, r.id); err != nil {
			return err
		}
		if err := writeOutboxDelete(t, r); err != nil { // outbox.go
			return err
		}
		// Before the subscriptions go: their devices learn of the deletion.
		if _, err := t.exec(db.d.pushInsertSQL(), pushArgs(k, r.syncCount, "")...); err != nil { // push.go
			return err
		}
		_, err = t.exec(`DELETE FROM subscriptions WHERE pool_id = ? AND identity_id = ? AND dataset = ?`, k.PoolID, k.IdentityID, k.Name)
		return err
	})
	if err != nil {
		return syncapi.Dataset{}, wrapf("delete dataset %s: %w", k, err)
	}
	return before, nil
}

// IdentityUsage sums the identity's live datasets; an unknown identity has
// zero usage.
func (db *DB) IdentityUsage(ctx context.Context, poolID, identityID string) (syncapi.IdentityUsage, error) {
	if err := checkText(poolID, identityID); err != nil {
		return syncapi.IdentityUsage{}, wrapf("identity usage: %w", err)
	}
	u := syncapi.IdentityUsage{IdentityID: identityID, IdentityPoolID: poolID}
	var n, storage, modified int64
	_, err := db.reader(ctx).row(`SELECT COUNT(*), COALESCE(SUM(data_storage), 0), COALESCE(MAX(modified_ms), 0)
FROM datasets WHERE pool_id = ? AND identity_id = ? AND live`, []any{poolID, identityID}, &n, &storage, &modified)
	if err != nil {
		return syncapi.IdentityUsage{}, wrapf("identity usage %s/%s: %w", poolID, identityID, err)
	}
	u.DatasetCount, u.DataStorage, u.LastModifiedDate = int(n), storage, fromMS(modified)
	return u, nil
}

// PoolUsage sums the pool's live datasets and reports the sync sessions
// counted by AddSyncSessions; ErrNotFound for an unknown pool.
func (db *DB) PoolUsage(ctx context.Context, poolID string) (syncapi.IdentityPoolUsage, error) {
	if err := checkText(poolID); err != nil {
		return syncapi.IdentityPoolUsage{}, wrapf("pool usage: %w", err)
	}
	u := syncapi.IdentityPoolUsage{IdentityPoolID: poolID}
	var storage, modified int64
	err := db.read(ctx, func(t *tx) error {
		found, err := t.row(`SELECT sync_sessions FROM pools WHERE id = ?`, []any{poolID}, &u.SyncSessionsCount)
		if err != nil {
			return err
		}
		if !found {
			return notFound("identity pool %s not found", poolID)
		}
		_, err = t.row(`SELECT COALESCE(SUM(data_storage), 0), COALESCE(MAX(modified_ms), 0)
FROM datasets WHERE pool_id = ? AND live`, []any{poolID}, &storage, &modified)
		return err
	})
	if err != nil {
		return syncapi.IdentityPoolUsage{}, wrapf("pool usage %s: %w", poolID, err)
	}
	u.DataStorage, u.LastModifiedDate = storage, fromMS(modified)
	return u, nil
}

// AddSyncSessions adds n to the pool's SyncSessionsCount; ErrNotFound for an
// unknown pool.
func (db *DB) AddSyncSessions(ctx context.Context, poolID string, n int64) error {
	if err := checkText(poolID); err != nil {
		return wrapf("add sync sessions: %w", err)
	}
	err := db.write(ctx, func(t *tx) error {
		res, err := t.exec(`UPDATE pools SET sync_sessions = sync_sessions + ? WHERE id = ?`, n, poolID)
		if err != nil {
			return err
		}
		if c, err := res.RowsAffected(); err != nil {
			return err
		} else if c == 0 {
			return notFound("identity pool %s not found", poolID)
		}
		return nil
	})
	if err != nil {
		return wrapf("add sync sessions %s: %w", poolID, err)
	}
	return nil
}
