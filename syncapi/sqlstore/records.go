package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

// ListRecords returns the records (live and tombstones) with
// q.After < SyncCount <= UpTo, ordered by (SyncCount, Key), strictly after
// q.Cursor, at most q.Limit (0: all), with the dataset state read in the same
// snapshot. UpTo 0 means the dataset's current sync count. A missing
// dataset yields its remembered state and no records, without error.
func (db *DB) ListRecords(ctx context.Context, k syncapi.DatasetKey, q syncapi.RecordQuery) (syncapi.RecordPage, error) {
	curKey := ""
	if q.Cursor != nil {
		curKey = q.Cursor.Key
	}
	if err := checkText(k.PoolID, k.IdentityID, k.Name, curKey); err != nil {
		return syncapi.RecordPage{}, wrapf("list records: %w", err)
	}
	if page, ok, err := db.listRecordsOne(ctx, k, q); err != nil {
		return syncapi.RecordPage{}, wrapf("list records %s: %w", k, err)
	} else if ok {
		return page, nil
	}
	// The dataset may have merged copies: list them in the same snapshot.
	var page syncapi.RecordPage
	err := db.read(ctx, func(t *tx) error {
		r, found, err := db.selectDataset(t, k, false)
		if err != nil {
			return err
		}
		page.Dataset = r.state(k, found)
		page.Records = []syncapi.Record{}
		if !page.Dataset.Exists {
			return nil
		}
		if page.Dataset.MergedNames, err = db.mergedNames(t, k); err != nil {
			return err
		}
		upTo := q.UpTo
		if upTo == 0 {
			upTo = r.syncCount
		}
		// Without a cursor, (After, "") with the strict After bound selects
		// everything after After.
		curCount, curKey := q.After, ""
		if c := q.Cursor; c != nil {
			curCount, curKey = c.SyncCount, c.Key
		}
		limit := sqlLimit(q.Limit)
		if q.Limit > 0 {
			limit++ // one more tells whether there is a next page
		}
		if _, err := t.row(`SELECT generation FROM pools WHERE id = ?`, []any{k.PoolID}, &page.PoolGeneration); err != nil {
			return err
		}
		rows, err := t.query(`SELECT key, value, sync_count, modified_ms, modified_by, device_ms FROM records
WHERE dataset_id = ? AND sync_count > ? AND sync_count <= ? AND (sync_count > ? OR (sync_count = ? AND key > ?))
ORDER BY sync_count, key LIMIT ?`, r.id, q.After, upTo, curCount, curCount, curKey, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		var pb pageBudget
		for rows.Next() {
			var rec syncapi.Record
			var m, d int64
			if err := rows.Scan(&rec.Key, &rec.Value, &rec.SyncCount, &m, &rec.LastModifiedBy, &d); err != nil {
				return err
			}
			rec.LastModifiedDate, rec.DeviceLastModifiedDate = fromMS(m), fromMS(d)
			if !pb.add(&page, q, rec) {
				break
			}
		}
		return rows.Err()
	})
	if err != nil {
		return syncapi.RecordPage{}, wrapf("list records %s: %w", k, err)
	}
	return page, nil
}

// pageBudget ends a page at q.Limit records or q.MaxBytes bytes
// (syncapi.RecordQuery), whichever comes first; the query reads one record
// more than q.Limit to tell whether there is a next page.
type pageBudget struct{ used int64 }

// add appends rec to p.Records if it fits, else ends the page (More,
// NextSyncCount) and returns false: the caller stops reading.
func (b *pageBudget) add(p *syncapi.RecordPage, q syncapi.RecordQuery, rec syncapi.Record) bool {
	size := syncapi.RecordSize(rec.Key, rec.Value)
	if (q.Limit > 0 && len(p.Records) >= q.Limit) || (q.MaxBytes > 0 && len(p.Records) > 0 && b.used+size > q.MaxBytes) {
		p.More, p.NextSyncCount = true, rec.SyncCount
		return false
	}
	b.used += size
	p.Records = append(p.Records, rec)
	return true
}

// stored is what UpdateRecords needs to know of a key: found is false when
// the store holds no row of it (live or tombstone).
type stored struct {
	syncCount int64
	live      bool
	found     bool
	size      int64
}

// errCreate tells the PostgreSQL path to start over in creation mode, with
// the identity lock taken before the dataset row lock.
var errCreate = errors.New("sqlstore: dataset must be created")

// errSlowPath tells pgUpdateRecords to leave the update to the general path
// (nothing done): it has to purge tombstones.
var errSlowPath = errors.New("sqlstore: update needs the general path")

// UpdateRecords applies r atomically (see syncapi.UpdateRequest): it
// checks and locks the pool (and the identity) against DeletePool,
// serialises with every writer of the dataset (SQLite: the single writer;
// PostgreSQL: SELECT … FOR UPDATE on the dataset row), checks every Expect
// before writing (*syncapi.ConflictError for the first stale one, in Changes
// order), refuses to create a dataset beyond Limits.MaxDatasets and a
// result beyond MaxRecords / MaxDatasetBytes (ErrLimitExceeded), then writes
// every change with SyncCount = DatasetSyncCount+1 (a removal of a key
// without a row stores nothing), drops the oldest tombstones beyond the
// tombstone allowance (syncapi.Limits) and commits durably.
// Zero fields of r.Limits take DefaultLimits' values; a zero r.Now is the
// current time. Zero Changes change nothing and return the current state.
func (db *DB) UpdateRecords(ctx context.Context, r syncapi.UpdateRequest) (syncapi.UpdateResult, error) {
	if err := checkUpdateText(r); err != nil {
		return syncapi.UpdateResult{}, wrapf("update records: %w", err)
	}
	if len(r.Changes) == 0 {
		s, err := db.GetDataset(ctx, r.Key)
		if err != nil {
			return syncapi.UpdateResult{}, wrapf("update records %s: %w", r.Key, err)
		}
		return syncapi.UpdateResult{Records: []syncapi.Record{}, Dataset: s}, nil
	}
	lim := r.Limits
	if lim.MaxDatasets == 0 {
		lim.MaxDatasets = syncapi.DefaultLimits.MaxDatasets
	}
	if lim.MaxRecords == 0 {
		lim.MaxRecords = syncapi.DefaultLimits.MaxRecords
	}
	if lim.MaxDatasetBytes == 0 {
		lim.MaxDatasetBytes = syncapi.DefaultLimits.MaxDatasetBytes
	}
	r.Limits = lim
	if r.Now.IsZero() {
		r.Now = time.Now()
	}
	var res syncapi.UpdateResult
	create := !db.d.pg() // SQLite: one writer, no lock order to respect
	if db.d.pg() {
		res, ok, err := db.pgUpdateRecords(ctx, r)
		db.noteWrite(err)
		if err != nil && !errors.Is(err, errSlowPath) {
			return syncapi.UpdateResult{}, wrapf("update records %s: %w", r.Key, err)
		}
		if ok {
			return res, nil
		}
		create = !errors.Is(err, errSlowPath) // the dataset must be created: the general path
	}
	err := db.write(ctx, func(t *tx) error {
		var err error
		res, err = db.updateRecords(t, r, create)
		if errors.Is(err, errCreate) {
			create = true
			return errRetry
		}
		return err
	})
	if err != nil {
		return syncapi.UpdateResult{}, wrapf("update records %s: %w", r.Key, err)
	}
	return res, nil
}

// checkUpdateText refuses strings no store may keep (syncapi.ValidateText),
// and keys PostgreSQL's indexes cannot hold (syncapi.ValidateKey).
func checkUpdateText(r syncapi.UpdateRequest) error {
	if err := checkText(r.Key.PoolID, r.Key.IdentityID, r.Key.Name, r.By, r.Device); err != nil {
		return err
	}
	for i, c := range r.Changes {
		err := syncapi.ValidateKey("Key", c.Key)
		if err == nil && c.Value != nil {
			err = syncapi.ValidateText("Value", *c.Value)
		}
		if err != nil { // name the change only now: the check runs on every write
			var ve *syncapi.ValidationError
			if errors.As(err, &ve) {
				return &syncapi.ValidationError{Field: fmt.Sprintf("Changes[%d].%s", i, ve.Field), Reason: ve.Reason}
			}
			return err
		}
	}
	return nil
}

func (db *DB) updateRecords(t *tx, r syncapi.UpdateRequest, create bool) (syncapi.UpdateResult, error) {
	k := r.Key
	identity := ""
	if r.RequireIdentity {
		identity = k.IdentityID
	}
	if err := db.lockPool(t, k.PoolID, r.PoolGeneration, identity); err != nil {
		return syncapi.UpdateResult{}, err
	}
	if create {
		if err := db.d.lockIdentity(t, k.PoolID, k.IdentityID); err != nil {
			return syncapi.UpdateResult{}, err
		}
	}
	// The stored state of every key the request touches (live or
	// tombstone), read with the dataset row in one statement.
	keys := make([]string, 0, len(r.Changes))
	for _, c := range r.Changes {
		keys = append(keys, c.Key)
	}
	ds, found, old, err := db.loadForUpdate(t, k, keys)
	if err != nil {
		return syncapi.UpdateResult{}, err
	}
	if !found || !ds.live {
		if !create {
			return syncapi.UpdateResult{}, errCreate
		}
		if !found {
			// Zero row: keeps the id and, on PostgreSQL, a row to lock. A
			// failing request rolls it back with everything else.
			if _, err := t.exec(`INSERT INTO datasets (pool_id, identity_id, name, live, sync_count) VALUES (?, ?, ?, `+falseLit+`, 0)
ON CONFLICT (pool_id, identity_id, name) DO NOTHING`, k.PoolID, k.IdentityID, k.Name); err != nil {
				return syncapi.UpdateResult{}, err
			}
			if ds, found, old, err = db.loadForUpdate(t, k, keys); err != nil {
				return syncapi.UpdateResult{}, err
			} else if !found {
				return syncapi.UpdateResult{}, errors.New("dataset row vanished")
			}
		}
	}
	return db.plan(r, ds, old, func() (int64, error) {
		var n int64
		_, err := t.row(`SELECT COUNT(*) FROM datasets WHERE pool_id = ? AND identity_id = ? AND live`, []any{k.PoolID, k.IdentityID}, &n)
		return n, err
	}, func(ds datasetRow, rows []recordRow) error {
		if err := db.d.writeRecords(t, ds, rows); err != nil {
			return err
		}
		return writePush(t, k, ds, rows, r.Device) // push.go
	}, func(ds *datasetRow) error {
		return db.purgeTombstones(t, ds, r.Limits)
	})
}

// plan applies the rules of UpdateRecords to the locked dataset row ds and
// the stored state old of the keys: conflict check, dataset count (through
// liveDatasets, only when the request creates the dataset), record and
// byte limits; then it hands the rows and the new dataset row to write,
// calls purge if the tombstones exceed their allowance and builds the
// result. Nothing is written when it fails. A nil purge means the caller
// cannot purge: plan then returns errSlowPath before writing.
func (db *DB) plan(r syncapi.UpdateRequest, ds datasetRow, old map[string]stored,
	liveDatasets func() (int64, error), write func(datasetRow, []recordRow) error, purge func(*datasetRow) error) (syncapi.UpdateResult, error) {
	k := r.Key
	created := !ds.live

	for _, c := range r.Changes {
		if s := old[c.Key]; c.Expect != nil && !syncapi.ExpectMatches(*c.Expect, s.syncCount, s.found, ds.purgedAt) {
			return syncapi.UpdateResult{}, &syncapi.ConflictError{Key: c.Key, Current: s.syncCount, Sent: *c.Expect}
		}
	}
	if created {
		n, err := liveDatasets()
		if err != nil {
			return syncapi.UpdateResult{}, err
		}
		if n >= int64(r.Limits.MaxDatasets) {
			return syncapi.UpdateResult{}, syncapi.Errorf(syncapi.ErrLimitExceeded,
				"identity %s already has %d datasets, the maximum is %d", k.IdentityID, n, r.Limits.MaxDatasets)
		}
		ds.numRecords, ds.dataStorage, ds.numTombstones, ds.tombstoneBytes = 0, 0, 0, 0
	}

	// The resulting dataset, maintained incrementally.
	nowMS := ms(r.Now)
	n := ds.syncCount + 1
	cur := old
	rows := make([]recordRow, 0, len(r.Changes))
	index := make(map[string]int, len(r.Changes)) // key -> rows index (a repeated key: the last change wins)
	res := syncapi.UpdateResult{Records: make([]syncapi.Record, 0, len(r.Changes)), Created: created}
	for _, c := range r.Changes {
		s := cur[c.Key]
		ds.unaccount(c.Key, s)
		dev := nowMS
		if !c.DeviceLastModified.IsZero() {
			dev = ms(c.DeviceLastModified)
		}
		rec := syncapi.Record{
			Key: c.Key, Value: c.Value, SyncCount: n,
			LastModifiedDate: fromMS(nowMS), LastModifiedBy: r.By, DeviceLastModifiedDate: fromMS(dev),
		}
		if c.Value == nil && !s.found {
			// A removal of a key without a row stores nothing: no device can
			// hold it, so there is nothing to tell the others, and it costs
			// no storage (syncapi.Change). Its count stays 0.
			rec.SyncCount = 0
			res.Records = append(res.Records, rec)
			continue
		}
		size := ds.account(c.Key, c.Value)
		cur[c.Key] = stored{syncCount: n, live: c.Value != nil, found: true, size: size}
		row := recordRow{key: c.Key, value: c.Value, size: size, deviceMS: dev}
		if i, ok := index[c.Key]; ok {
			rows[i] = row
		} else {
			index[c.Key] = len(rows)
			rows = append(rows, row)
		}
		res.Records = append(res.Records, rec)
	}
	if ds.numRecords > r.Limits.MaxRecords {
		return syncapi.UpdateResult{}, syncapi.Errorf(syncapi.ErrLimitExceeded,
			"dataset %s would hold %d records, the maximum is %d", k.Name, ds.numRecords, r.Limits.MaxRecords)
	}
	if ds.dataStorage > r.Limits.MaxDatasetBytes {
		return syncapi.UpdateResult{}, syncapi.Errorf(syncapi.ErrLimitExceeded,
			"dataset %s would hold %d bytes, the maximum is %d", k.Name, ds.dataStorage, r.Limits.MaxDatasetBytes)
	}
	overTombstones := ds.numTombstones > r.Limits.MaxRecords || ds.tombstoneBytes > r.Limits.MaxDatasetBytes
	if overTombstones && purge == nil {
		return syncapi.UpdateResult{}, errSlowPath
	}

	if created {
		ds.creationMS = nowMS
	}
	ds.live, ds.syncCount, ds.modifiedMS, ds.modifiedBy = true, n, nowMS, r.By
	if err := write(ds, rows); err != nil {
		return syncapi.UpdateResult{}, err
	}
	if overTombstones {
		if err := purge(&ds); err != nil {
			return syncapi.UpdateResult{}, err
		}
	}
	res.Dataset = ds.state(k, true)
	return res, nil
}

// purgeTombstones drops the oldest tombstones of the (written) dataset ds,
// in (SyncCount, Key) order, until they fit their allowance (at most
// MaxRecords of them, with at most MaxDatasetBytes of keys), and records
// the highest SyncCount dropped as purged_at. A dataset that grew beyond
// its allowance before the allowance existed shrinks here on its next
// write.
func (db *DB) purgeTombstones(t *tx, ds *datasetRow, lim syncapi.Limits) error {
	over := func() bool { return ds.numTombstones > lim.MaxRecords || ds.tombstoneBytes > lim.MaxDatasetBytes }
	rows, err := t.query(`SELECT key, sync_count FROM records WHERE dataset_id = ? AND value IS NULL ORDER BY sync_count, key`, ds.id)
	if err != nil {
		return err
	}
	var keys []string
	for over() && rows.Next() {
		var key string
		var count int64
		if err := rows.Scan(&key, &count); err != nil {
			rows.Close()
			return err
		}
		keys = append(keys, key)
		ds.numTombstones--
		ds.tombstoneBytes -= int64(len(key))
		ds.purgedAt = max(ds.purgedAt, count)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	if over() {
		return wrapf("dataset %d: tombstone counters disagree with its records", ds.id)
	}
	cond, arg := db.d.keyIn("key", keys)
	if _, err := t.exec(`DELETE FROM records WHERE dataset_id = ? AND `+cond, ds.id, arg); err != nil {
		return err
	}
	_, err = t.exec(`UPDATE datasets SET num_tombstones = ?, tombstone_bytes = ?, purged_at = ? WHERE id = ?`,
		ds.numTombstones, ds.tombstoneBytes, ds.purgedAt, ds.id)
	return err
}

// loadForUpdate reads (and on PostgreSQL locks) the dataset row together
// with the stored state of keys.
//
// SQLite: one statement, the single writer already excludes every other
// writer. PostgreSQL: the records are read by a second statement, after
// the row lock is granted. In READ COMMITTED a statement's snapshot is taken
// before it waits for the lock, so records joined in the locking statement
// could predate the write of the transaction it waited for, and a stale
// Expect would pass (the race test catches exactly that).
func (db *DB) loadForUpdate(t *tx, k syncapi.DatasetKey, keys []string) (datasetRow, bool, map[string]stored, error) {
	old := make(map[string]stored, len(keys))
	if db.d.pg() {
		ds, found, err := db.selectDataset(t, k, true)
		if err != nil || !found || ds.syncCount == 0 {
			return ds, found, old, err
		}
		cond, arg := db.d.keyIn("key", keys)
		rows, err := t.query(`SELECT key, sync_count, value IS NOT NULL, size FROM records WHERE dataset_id = ? AND `+cond, ds.id, arg)
		if err != nil {
			return ds, false, nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var key string
			s := stored{found: true}
			if err := rows.Scan(&key, &s.syncCount, &s.live, &s.size); err != nil {
				return ds, false, nil, err
			}
			old[key] = s
		}
		return ds, true, old, rows.Err()
	}

	var ds datasetRow
	cond, arg := db.d.keyIn("r.key", keys)
	rows, err := t.query(`SELECT `+datasetColsD+`,
	r.key, r.sync_count, r.value IS NOT NULL, r.size
FROM datasets d LEFT JOIN records r ON r.dataset_id = d.id AND `+cond+`
WHERE d.pool_id = ? AND d.identity_id = ? AND d.name = ?`, arg, k.PoolID, k.IdentityID, k.Name)
	if err != nil {
		return ds, false, nil, err
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var key sql.NullString
		var count, size sql.NullInt64
		var live sql.NullBool
		if err := rows.Scan(append(ds.dest(), &key, &count, &live, &size)...); err != nil {
			return ds, false, nil, err
		}
		found = true
		if key.Valid {
			old[key.String] = stored{syncCount: count.Int64, live: live.Bool, found: true, size: size.Int64}
		}
	}
	return ds, found, old, rows.Err()
}
