package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

var _ syncapi.Importer = (*DB)(nil)

// ImportRecords applies r (syncapi.ImportRequest) in one transaction: it
// checks and locks the pool, creates the identity when missing, locks the
// dataset row (creating a zero row) and writes every record that moves its
// key forward, with the record's own SyncCount and dates. No limits apply
// (the source enforced its own) and no outbox entry is written.
func (db *DB) ImportRecords(ctx context.Context, r syncapi.ImportRequest) (syncapi.ImportResult, error) {
	if err := checkImportText(r); err != nil {
		return syncapi.ImportResult{}, wrapf("import records: %w", err)
	}
	if r.Now.IsZero() {
		r.Now = time.Now()
	}
	keys := make([]string, 0, len(r.Records))
	for _, rec := range r.Records {
		keys = append(keys, rec.Key)
	}
	var res syncapi.ImportResult
	err := db.write(ctx, func(t *tx) error {
		res = syncapi.ImportResult{}
		created := r.IdentityCreated
		if created.IsZero() {
			created = r.Now
		}
		ds, old, err := db.lockImport(t, r.Key, created, keys)
		if err != nil {
			return err
		}
		return db.applyImport(t, r, ds, old, &res)
	})
	if err != nil {
		return syncapi.ImportResult{}, wrapf("import records %s: %w", r.Key, err)
	}
	return res, nil
}

// checkImportText refuses what UpdateRecords would refuse.
func checkImportText(r syncapi.ImportRequest) error {
	if err := checkText(r.Key.PoolID, r.Key.IdentityID, r.Key.Name, r.LastModifiedBy); err != nil {
		return err
	}
	for i, rec := range r.Records {
		err := syncapi.ValidateKey("Key", rec.Key)
		if err == nil && rec.Value != nil {
			err = syncapi.ValidateText("Value", *rec.Value)
		}
		if err == nil {
			err = checkText(rec.LastModifiedBy)
		}
		if err == nil && rec.SyncCount < 0 {
			err = &syncapi.ValidationError{Field: "SyncCount", Reason: "must not be negative"}
		}
		if err != nil {
			var ve *syncapi.ValidationError
			if errors.As(err, &ve) {
				return &syncapi.ValidationError{Field: fmt.Sprintf("Records[%d].%s", i, ve.Field), Reason: ve.Reason}
			}
			return err
		}
	}
	return nil
}

// lockImport takes the locks of an import into k in the store's lock order
// (pool, identity, dataset row): it checks the pool, creates the identity
// (created at now) and a zero dataset row when missing, and returns the
// locked row with the stored state of keys.
func (db *DB) lockImport(t *tx, k syncapi.DatasetKey, now time.Time, keys []string) (datasetRow, map[string]stored, error) {
	if err := db.lockPool(t, k.PoolID, 0, ""); err != nil {
		return datasetRow{}, nil, err
	}
	if _, err := t.exec(`INSERT INTO identities (id, pool_id, disabled, created_ns) VALUES (?, ?, `+falseLit+`, ?) ON CONFLICT (id) DO NOTHING`,
		k.IdentityID, k.PoolID, nsOrNull(now)); err != nil {
		return datasetRow{}, nil, err
	}
	var pool string
	if _, err := t.row(`SELECT pool_id FROM identities WHERE id = ?`+db.d.keyShare(), []any{k.IdentityID}, &pool); err != nil {
		return datasetRow{}, nil, err
	}
	if pool != k.PoolID {
		return datasetRow{}, nil, syncapi.Errorf(syncapi.ErrConflict, "identity %s belongs to identity pool %s, not %s", k.IdentityID, pool, k.PoolID)
	}
	if err := db.d.lockIdentity(t, k.PoolID, k.IdentityID); err != nil {
		return datasetRow{}, nil, err
	}
	ds, found, old, err := db.loadForUpdate(t, k, keys)
	if err != nil {
		return datasetRow{}, nil, err
	}
	if !found {
		if _, err := t.exec(`INSERT INTO datasets (pool_id, identity_id, name, live, sync_count) VALUES (?, ?, ?, `+falseLit+`, 0)
ON CONFLICT (pool_id, identity_id, name) DO NOTHING`, k.PoolID, k.IdentityID, k.Name); err != nil {
			return datasetRow{}, nil, err
		}
		if ds, found, old, err = db.loadForUpdate(t, k, keys); err != nil {
			return datasetRow{}, nil, err
		} else if !found {
			return datasetRow{}, nil, errors.New("dataset row vanished")
		}
	}
	return ds, old, nil
}

// applyImport writes the records of r that move their key forward and the
// dataset row (see syncapi.ImportRequest).
func (db *DB) applyImport(t *tx, r syncapi.ImportRequest, ds datasetRow, old map[string]stored, res *syncapi.ImportResult) error {
	stored0 := ds.syncCount
	live := ds.live
	if !live {
		// A deleted or new dataset holds no rows (DeleteDataset removed
		// them): its counters start from zero.
		ds.numRecords, ds.dataStorage, ds.numTombstones, ds.tombstoneBytes = 0, 0, 0, 0
	}
	var rows []importRow       // what to write
	var newest *syncapi.Record // the applied or known record with the highest count
	var earliest time.Time     // the earliest modification among the records
	for i := range r.Records {
		rec := &r.Records[i]
		if rec.SyncCount <= ds.deletedAt || rec.SyncCount == 0 {
			res.Skipped++ // deleted with the dataset, or never stored by the source
			continue
		}
		live = true
		if newest == nil || rec.SyncCount > newest.SyncCount {
			newest = rec
		}
		if m := rec.LastModifiedDate.Time; !m.IsZero() && (earliest.IsZero() || m.Before(earliest)) {
			earliest = m
		}
		s := old[rec.Key]
		if s.found && (rec.SyncCount < s.syncCount || (rec.SyncCount == s.syncCount && !r.Authoritative)) {
			res.Skipped++
			continue
		}
		ds.unaccount(rec.Key, s)
		size := ds.account(rec.Key, rec.Value)
		old[rec.Key] = stored{syncCount: rec.SyncCount, live: rec.Value != nil, found: true, size: size}
		modified := ms(rec.LastModifiedDate.Time)
		device := ms(rec.DeviceLastModifiedDate.Time)
		if rec.LastModifiedDate.IsZero() {
			modified = ms(r.Now)
		}
		if rec.DeviceLastModifiedDate.IsZero() {
			device = modified
		}
		rows = append(rows, importRow{rec.Key, rec.Value, rec.SyncCount, size, modified, rec.LastModifiedBy, device})
		res.Applied++
	}
	if err := db.writeImportRows(t, ds.id, rows); err != nil {
		return err
	}
	if r.DatasetSyncCount > ds.deletedAt {
		live = true
	}
	if live && !ds.live {
		// Created (or re-created after a deletion) by this request.
		switch {
		case !r.CreationDate.IsZero():
			ds.creationMS = ms(r.CreationDate)
		case !earliest.IsZero():
			ds.creationMS = ms(earliest)
		case !r.LastModifiedDate.IsZero():
			ds.creationMS = ms(r.LastModifiedDate)
		default:
			ds.creationMS = ms(r.Now)
		}
		ds.modifiedMS, ds.modifiedBy = ds.creationMS, r.LastModifiedBy
	} else if live && r.Authoritative && !r.CreationDate.IsZero() {
		ds.creationMS = ms(r.CreationDate)
	}
	count := max(ds.syncCount, r.DatasetSyncCount)
	if newest != nil {
		count = max(count, newest.SyncCount)
	}
	if live {
		// The dataset metadata of the newest change known: the request's
		// when its count is the newest, else the newest record's.
		switch {
		case r.DatasetSyncCount > 0 && r.DatasetSyncCount >= count &&
			(r.DatasetSyncCount > stored0 || r.Authoritative || !ds.live) && !r.LastModifiedDate.IsZero():
			ds.modifiedMS = ms(r.LastModifiedDate)
			if r.LastModifiedBy != "" || r.Authoritative {
				ds.modifiedBy = r.LastModifiedBy
			}
		case newest != nil && newest.SyncCount >= count && newest.SyncCount > stored0:
			if !newest.LastModifiedDate.IsZero() {
				ds.modifiedMS = ms(newest.LastModifiedDate.Time)
			}
			ds.modifiedBy = newest.LastModifiedBy
		}
	}
	ds.live, ds.syncCount = live, count
	if _, err := t.exec(`UPDATE datasets SET live = ?, sync_count = ?, creation_ms = ?, modified_ms = ?, modified_by = ?,
num_records = ?, data_storage = ?, num_tombstones = ?, tombstone_bytes = ? WHERE id = ?`,
		ds.live, ds.syncCount, ds.creationMS, ds.modifiedMS, ds.modifiedBy, ds.numRecords, ds.dataStorage,
		ds.numTombstones, ds.tombstoneBytes, ds.id); err != nil {
		return err
	}
	res.Dataset = ds.state(r.Key, true)
	return nil
}

// importRow is a record as ImportRecords writes it; a repeated key's last
// row wins.
type importRow struct {
	key             string
	value           *string
	syncCount, size int64
	modifiedMS      int64
	modifiedBy      string
	deviceMS        int64
}

// writeImportRows upserts rows. SQLite gets one statement for all of them,
// the rows as a JSON array read by json_each (one fixed statement text,
// cached; a statement per row costs the import most of its time), in
// order, so a repeated key's last row wins; PostgreSQL a statement per row.
func (db *DB) writeImportRows(t *tx, datasetID int64, rows []importRow) error {
	if len(rows) == 0 {
		return nil
	}
	if db.d.pg() {
		for _, r := range rows {
			if _, err := t.exec(`INSERT INTO records (dataset_id, key, value, sync_count, size, modified_ms, modified_by, device_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`+upsertRecordTail,
				datasetID, r.key, r.value, r.syncCount, r.size, r.modifiedMS, r.modifiedBy, r.deviceMS); err != nil {
				return err
			}
		}
		return nil
	}
	arr := make([][7]any, len(rows))
	for i, r := range rows {
		arr[i] = [7]any{r.key, r.value, r.syncCount, r.size, r.modifiedMS, r.modifiedBy, r.deviceMS}
	}
	b, err := json.Marshal(arr)
	if err != nil {
		return err
	}
	// WHERE true: SQLite's upsert after INSERT … SELECT needs it to parse.
	_, err = t.exec(`INSERT INTO records (dataset_id, key, value, sync_count, size, modified_ms, modified_by, device_ms)
SELECT ?, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6
FROM json_each(?) WHERE true ORDER BY key`+upsertRecordTail, datasetID, string(b))
	return err
}

// ImportDatasetDeletion applies a DeleteDataset of the source at syncCount
// (see syncapi.Importer): records up to syncCount go, DeletedAt and the
// sync count become at least syncCount, and the dataset is deleted, with
// its subscriptions, unless later records remain.
func (db *DB) ImportDatasetDeletion(ctx context.Context, k syncapi.DatasetKey, syncCount int64, at time.Time) (syncapi.DatasetState, error) {
	if err := checkText(k.PoolID, k.IdentityID, k.Name); err != nil {
		return syncapi.DatasetState{}, wrapf("import dataset deletion: %w", err)
	}
	if syncCount < 0 {
		return syncapi.DatasetState{}, &syncapi.ValidationError{Field: "SyncCount", Reason: "must not be negative"}
	}
	if at.IsZero() {
		at = time.Now()
	}
	var st syncapi.DatasetState
	err := db.write(ctx, func(t *tx) error {
		ds, _, err := db.lockImport(t, k, at, nil)
		if err != nil {
			return err
		}
		if syncCount <= ds.deletedAt {
			st = ds.state(k, true)
			return nil
		}
		if _, err := t.exec(`DELETE FROM records WHERE dataset_id = ? AND sync_count <= ?`, ds.id, syncCount); err != nil {
			return err
		}
		rows, err := t.query(`SELECT key, value IS NOT NULL, size FROM records WHERE dataset_id = ?`, ds.id)
		if err != nil {
			return err
		}
		ds.numRecords, ds.dataStorage, ds.numTombstones, ds.tombstoneBytes = 0, 0, 0, 0
		for rows.Next() {
			var key string
			var liveRow bool
			var size int64
			if err := rows.Scan(&key, &liveRow, &size); err != nil {
				rows.Close()
				return err
			}
			if liveRow {
				ds.numRecords++
				ds.dataStorage += size
			} else {
				ds.numTombstones++
				ds.tombstoneBytes += int64(len(key))
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		ds.live = ds.live && ds.numRecords+ds.numTombstones > 0
		ds.deletedAt = syncCount
		ds.syncCount = max(ds.syncCount, syncCount)
		if _, err := t.exec(`UPDATE datasets SET live = ?, sync_count = ?, deleted_at = ?, deleted_ms = ?, num_records = ?, data_storage = ?,
num_tombstones = ?, tombstone_bytes = ? WHERE id = ?`,
			ds.live, ds.syncCount, ds.deletedAt, ms(at), ds.numRecords, ds.dataStorage, ds.numTombstones, ds.tombstoneBytes, ds.id); err != nil {
			return err
		}
		if !ds.live {
			if _, err := t.exec(`DELETE FROM subscriptions WHERE pool_id = ? AND identity_id = ? AND dataset = ?`, k.PoolID, k.IdentityID, k.Name); err != nil {
				return err
			}
		}
		st = ds.state(k, true)
		return nil
	})
	if err != nil {
		return syncapi.DatasetState{}, wrapf("import dataset deletion %s: %w", k, err)
	}
	return st, nil
}

// ImportState returns the pool's import progress note; "" when none.
func (db *DB) ImportState(ctx context.Context, poolID string) (string, error) {
	if err := checkText(poolID); err != nil {
		return "", wrapf("import state: %w", err)
	}
	var s string
	if _, err := db.reader(ctx).row(`SELECT state FROM import_state WHERE pool_id = ?`, []any{poolID}, &s); err != nil {
		return "", wrapf("import state %s: %w", poolID, err)
	}
	return s, nil
}

// SetImportState stores the pool's import progress note; ErrNotFound when
// the pool does not exist.
func (db *DB) SetImportState(ctx context.Context, poolID, state string) error {
	if err := checkText(poolID, state); err != nil {
		return wrapf("set import state: %w", err)
	}
	err := db.write(ctx, func(t *tx) error {
		if err := db.lockPool(t, poolID, 0, ""); err != nil {
			return err
		}
		_, err := t.exec(db.d.Upsert("import_state", []string{"pool_id", "state"}, []string{"pool_id"}, []string{"state"}), poolID, state)
		return err
	})
	if err != nil {
		return wrapf("set import state %s: %w", poolID, err)
	}
	return nil
}
