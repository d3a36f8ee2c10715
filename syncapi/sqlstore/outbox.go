package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/syncapi"
)

// The Cognito Streams outbox (syncapi.Outbox) and leases.
//
// UpdateRecords and DeleteDataset add one statement to their transaction:
// an INSERT … SELECT that writes an outbox row only when the pool's
// cognito_streams JSON says StreamingStatus ENABLED, read in the same
// transaction. Nothing else in the write paths changes; with streaming off
// the statement inserts nothing (on PostgreSQL's fast path it rides in the
// commit's pipeline, no extra round trip).

var (
	_ syncapi.Outbox     = (*DB)(nil)
	_ syncapi.Leases     = (*DB)(nil)
	_ syncapi.BulkSource = (*DB)(nil)
)

// outboxRecord is a record as an outbox row stores it (compact JSON).
type outboxRecord struct {
	Key      string  `json:"k"`
	Value    *string `json:"v"` // nil: removed
	DeviceMS int64   `json:"d"`
}

// outboxSelect is the SELECT of the outbox insert without its WHERE on the
// streaming status: dataset row d joined with its pool p.
const outboxInsertHead = `INSERT INTO outbox (pool_id, identity_id, dataset, stream, deleted, sync_count, modified_ms, records, created_ns)
SELECT d.pool_id, d.identity_id, d.name, `

// outboxInsertSQL is the conditional outbox insert with ? placeholders;
// arguments: deleted, sync_count, modified_ms, records, created_ns, dataset id.
func (d dialect) outboxInsertSQL() string {
	if d.pg() {
		return outboxInsertHead + `COALESCE(p.cognito_streams::jsonb ->> 'StreamName', ''), ?, ?, ?, ?, ?
FROM datasets d JOIN pools p ON p.id = d.pool_id
WHERE d.id = ? AND (p.cognito_streams::jsonb ->> 'StreamingStatus') = 'ENABLED'`
	}
	return outboxInsertHead + `COALESCE(json_extract(p.cognito_streams, '$.StreamName'), ''), ?, ?, ?, ?, ?
FROM datasets d JOIN pools p ON p.id = d.pool_id
WHERE d.id = ? AND json_extract(p.cognito_streams, '$.StreamingStatus') = 'ENABLED'`
}

// pgOutboxInsertSQL is outboxInsertSQL for PostgreSQL in $n form, for
// pgUpdateRecords' pipelined batch.
var pgOutboxInsertSQL = dialect{sqldb.Postgres}.Rebind(dialect{sqldb.Postgres}.outboxInsertSQL())

// outboxArgs are the arguments of the outbox insert for an update that
// wrote rows to ds (ds already holds the new sync count and modification).
func outboxArgs(ds datasetRow, rows []recordRow, deleted bool) []any {
	recs := make([]outboxRecord, len(rows))
	for i, r := range rows {
		recs[i] = outboxRecord{Key: r.key, Value: r.value, DeviceMS: r.deviceMS}
	}
	b, _ := json.Marshal(recs) // cannot fail: strings and ints
	return []any{deleted, ds.syncCount, ds.modifiedMS, string(b), time.Now().UnixNano(), ds.id}
}

// writeOutbox adds the outbox row of an update to t if the pool streams and
// the update wrote a record (removals of keys without a row write none).
func writeOutbox(t *tx, ds datasetRow, rows []recordRow) error {
	if len(rows) == 0 {
		return nil
	}
	_, err := t.exec(t.db.d.outboxInsertSQL(), outboxArgs(ds, rows, false)...)
	return err
}

// writeOutboxDelete adds the outbox row of a DeleteDataset of ds (the row as
// it was before the deletion) if the pool streams.
func writeOutboxDelete(t *tx, ds datasetRow) error {
	ds.modifiedMS = ms(time.Now())
	_, err := t.exec(t.db.d.outboxInsertSQL(), outboxArgs(ds, nil, true)...)
	return err
}

// PendingOutbox returns up to limit outbox entries, lowest id first.
func (db *DB) PendingOutbox(ctx context.Context, limit int) ([]syncapi.OutboxEntry, error) {
	rows, err := db.reader(ctx).query(`SELECT id, pool_id, identity_id, dataset, stream, deleted, sync_count, modified_ms, records, created_ns
FROM outbox ORDER BY id LIMIT ?`, sqlLimit(limit))
	if err != nil {
		return nil, wrapf("pending outbox: %w", err)
	}
	defer rows.Close()
	var out []syncapi.OutboxEntry
	for rows.Next() {
		var e syncapi.OutboxEntry
		var modified, created int64
		var recs string
		if err := rows.Scan(&e.ID, &e.Key.PoolID, &e.Key.IdentityID, &e.Key.Name, &e.Stream, &e.Deleted,
			&e.SyncCount, &modified, &recs, &created); err != nil {
			return nil, wrapf("pending outbox: %w", err)
		}
		e.Modified, e.Created = time.UnixMilli(modified).UTC(), time.Unix(0, created).UTC()
		var ors []outboxRecord
		if err := json.Unmarshal([]byte(recs), &ors); err != nil {
			return nil, wrapf("pending outbox: row %d: %w", e.ID, err)
		}
		e.Records = make([]syncapi.Record, len(ors))
		for i, r := range ors {
			e.Records[i] = syncapi.Record{Key: r.Key, Value: r.Value, SyncCount: e.SyncCount,
				LastModifiedDate: fromMS(modified), DeviceLastModifiedDate: fromMS(r.DeviceMS)}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapf("pending outbox: %w", err)
	}
	return out, nil
}

// idIn is a condition "col is one of ids" with one argument, like keyIn.
func (d dialect) idIn(col string, ids []int64) (string, any) {
	if d.pg() {
		return col + " = ANY(?)", ids
	}
	b, _ := json.Marshal(ids)
	return col + " IN (SELECT value FROM json_each(?))", string(b)
}

// AckOutbox deletes the outbox entries ids.
func (db *DB) AckOutbox(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	cond, arg := db.d.idIn("id", ids)
	err := db.write(ctx, func(t *tx) error {
		_, err := t.exec(`DELETE FROM outbox WHERE `+cond, arg)
		return err
	})
	if err != nil {
		return wrapf("ack outbox: %w", err)
	}
	return nil
}

// OutboxStats reports the outbox depth and its oldest entry's commit time.
func (db *DB) OutboxStats(ctx context.Context) (int64, time.Time, error) {
	var n int64
	var oldest sql.NullInt64
	if _, err := db.reader(ctx).row(`SELECT COUNT(*), MIN(created_ns) FROM outbox`, nil, &n, &oldest); err != nil {
		return 0, time.Time{}, wrapf("outbox stats: %w", err)
	}
	return n, fromNS(oldest), nil
}

// AcquireLease takes or renews the lease name for owner (see syncapi.Leases):
// one upsert that only overwrites a row owned by owner or expired.
func (db *DB) AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration, data string) (bool, error) {
	var granted bool
	err := db.write(ctx, func(t *tx) error {
		res, err := t.exec(`INSERT INTO leases (name, owner, expires_ns, data) VALUES (?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_ns = excluded.expires_ns, data = excluded.data
WHERE leases.owner = excluded.owner OR leases.expires_ns < ?`, name, owner, now.Add(ttl).UnixNano(), data, now.UnixNano())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		granted = n > 0
		return err
	})
	if err != nil {
		return false, wrapf("acquire lease %s: %w", name, err)
	}
	return granted, nil
}

// ReleaseLease deletes the lease if owner holds it.
func (db *DB) ReleaseLease(ctx context.Context, name, owner string) error {
	err := db.write(ctx, func(t *tx) error {
		_, err := t.exec(`DELETE FROM leases WHERE name = ? AND owner = ?`, name, owner)
		return err
	})
	if err != nil {
		return wrapf("release lease %s: %w", name, err)
	}
	return nil
}

// LeaseData reads a lease.
func (db *DB) LeaseData(ctx context.Context, name string) (owner string, expires time.Time, data string, found bool, err error) {
	var exp int64
	found, err = db.reader(ctx).row(`SELECT owner, expires_ns, data FROM leases WHERE name = ?`, []any{name}, &owner, &exp, &data)
	if err != nil {
		return "", time.Time{}, "", false, wrapf("lease %s: %w", name, err)
	}
	if found {
		expires = time.Unix(0, exp).UTC()
	}
	return owner, expires, data, found, nil
}

// BulkDatasets returns a page of the pool's live datasets with their live
// records, read in one snapshot.
func (db *DB) BulkDatasets(ctx context.Context, poolID string, after syncapi.DatasetKey, limit int) ([]syncapi.BulkDataset, error) {
	if err := checkText(poolID, after.IdentityID, after.Name); err != nil {
		return nil, wrapf("bulk datasets: %w", err)
	}
	var out []syncapi.BulkDataset
	err := db.read(ctx, func(t *tx) error {
		out = out[:0]
		rows, err := t.query(`SELECT id, identity_id, name, sync_count, modified_ms FROM datasets
WHERE pool_id = ? AND live AND (identity_id > ? OR (identity_id = ? AND name > ?))
ORDER BY identity_id, name LIMIT ?`, poolID, after.IdentityID, after.IdentityID, after.Name, sqlLimit(limit))
		if err != nil {
			return err
		}
		var ids []int64
		index := map[int64]int{}
		for rows.Next() {
			var id, modified int64
			d := syncapi.BulkDataset{Key: syncapi.DatasetKey{PoolID: poolID}}
			if err := rows.Scan(&id, &d.Key.IdentityID, &d.Key.Name, &d.SyncCount, &modified); err != nil {
				rows.Close()
				return err
			}
			d.Modified = time.UnixMilli(modified).UTC()
			index[id] = len(out)
			ids = append(ids, id)
			out = append(out, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return err
		}
		cond, arg := db.d.idIn("dataset_id", ids)
		rows, err = t.query(`SELECT dataset_id, key, value, sync_count, modified_ms, modified_by, device_ms FROM records
WHERE `+cond+` AND value IS NOT NULL ORDER BY dataset_id, key`, arg)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, m, dev int64
			var r syncapi.Record
			if err := rows.Scan(&id, &r.Key, &r.Value, &r.SyncCount, &m, &r.LastModifiedBy, &dev); err != nil {
				return err
			}
			r.LastModifiedDate, r.DeviceLastModifiedDate = fromMS(m), fromMS(dev)
			d := &out[index[id]]
			d.Records = append(d.Records, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrapf("bulk datasets %s: %w", poolID, err)
	}
	return out, nil
}

// BulkInProgress lists the pools whose bulk job is IN_PROGRESS.
func (db *DB) BulkInProgress(ctx context.Context) (map[string]syncapi.BulkJob, error) {
	rows, err := db.reader(ctx).query(`SELECT id, bulk_owner, bulk_started_ns FROM pools WHERE bulk_status = ?`, syncapi.BulkInProgress)
	if err != nil {
		return nil, wrapf("bulk in progress: %w", err)
	}
	defer rows.Close()
	out := map[string]syncapi.BulkJob{}
	for rows.Next() {
		var id string
		var started sql.NullInt64
		j := syncapi.BulkJob{Status: syncapi.BulkInProgress}
		if err := rows.Scan(&id, &j.Owner, &started); err != nil {
			return nil, wrapf("bulk in progress: %w", err)
		}
		j.Started = fromNS(started)
		out[id] = j
	}
	if err := rows.Err(); err != nil {
		return nil, wrapf("bulk in progress: %w", err)
	}
	return out, nil
}
