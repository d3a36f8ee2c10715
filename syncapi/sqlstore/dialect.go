package sqlstore

import (
	"encoding/json"

	"github.com/cognitosync/cognitosync/internal/sqldb"
)

// dialect isolates what SQLite and PostgreSQL spell differently. Everything
// else is plain SQL with ? placeholders, rebound by DB.q.
type dialect struct{ sqldb.Dialect }

func (d dialect) pg() bool { return d.Dialect == sqldb.Postgres }

// keyIn is a condition "key is one of keys" with one argument: a JSON
// array read by json_each on SQLite, a text[] on PostgreSQL. One statement
// text for any number of keys keeps the prepared-statement caches warm.
func (d dialect) keyIn(col string, keys []string) (string, any) {
	if d.pg() {
		return col + " = ANY(?)", keys
	}
	b, _ := json.Marshal(keys)
	return col + " IN (SELECT value FROM json_each(?))", string(b)
}

// recordRow is a record as UpdateRecords writes it.
type recordRow struct {
	key      string
	value    *string
	size     int64
	deviceMS int64
}

const upsertRecordTail = ` ON CONFLICT (dataset_id, key) DO UPDATE SET
	value = excluded.value, sync_count = excluded.sync_count, size = excluded.size,
	modified_ms = excluded.modified_ms, modified_by = excluded.modified_by, device_ms = excluded.device_ms`

// writeRecords upserts rows (distinct keys, all with ds's sync count and
// modification) and stores ds's counters. PostgreSQL gets one statement:
// a data-modifying CTE over unnest'ed arrays (one round trip); SQLite,
// in-process, runs cached prepared statements, one per row.
func (d dialect) writeRecords(t *tx, ds datasetRow, rows []recordRow) error {
	if d.pg() {
		q, args := pgWriteRecords(ds, rows)
		if _, err := t.q.ExecContext(t.ctx, q, args...); err != nil { // already in $n form
			return err
		}
		return writeOutbox(t, ds, rows) // outbox.go
	}
	for _, r := range rows {
		if _, err := t.exec(`INSERT INTO records (dataset_id, key, value, sync_count, size, modified_ms, modified_by, device_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`+upsertRecordTail,
			ds.id, r.key, r.value, ds.syncCount, r.size, ds.modifiedMS, ds.modifiedBy, r.deviceMS); err != nil {
			return err
		}
	}
	_, err := t.exec(`UPDATE datasets SET live = `+trueLit+`, sync_count = ?, creation_ms = ?, modified_ms = ?, modified_by = ?,
num_records = ?, data_storage = ?, num_tombstones = ?, tombstone_bytes = ? WHERE id = ?`,
		ds.syncCount, ds.creationMS, ds.modifiedMS, ds.modifiedBy, ds.numRecords, ds.dataStorage,
		ds.numTombstones, ds.tombstoneBytes, ds.id)
	if err != nil {
		return err
	}
	return writeOutbox(t, ds, rows) // outbox.go
}

// lockIdentity serialises dataset creation per identity, so that two
// writers creating different datasets cannot both pass the MaxDatasets
// check. PostgreSQL: a transaction-scoped advisory lock, always taken
// before any dataset row lock (no lock-order cycle). SQLite: nothing, the
// single writer holds the database lock.
func (d dialect) lockIdentity(t *tx, poolID, identityID string) error {
	if !d.pg() {
		return nil
	}
	_, err := t.exec("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", "syncd identity "+poolID+"/"+identityID)
	return err
}

// forUpdate locks the selected row on PostgreSQL.
func (d dialect) forUpdate() string { return d.ForUpdate() }

// keyShare takes PostgreSQL's weakest row lock on the selected row: it
// blocks DELETE (and FOR UPDATE) until the transaction ends, not other
// writers' updates of non-key columns. Nothing on SQLite.
func (d dialect) keyShare() string {
	if d.pg() {
		return " FOR KEY SHARE"
	}
	return ""
}

// trueLit is a boolean literal both dialects accept in SET clauses and
// comparisons.
const trueLit, falseLit = "TRUE", "FALSE"
