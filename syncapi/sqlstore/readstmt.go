package sqlstore

import (
	"context"
	"database/sql"

	"github.com/cognitosync/cognitosync/syncapi"
)

// readStmt returns query (with ? placeholders) prepared on the read pool,
// preparing it on first use. database/sql then prepares it at most once per
// connection and reuses it: SQLite otherwise parses and plans every query
// anew (about 12% of ListRecords' CPU). PostgreSQL gains less, pgx caches
// statements by text already. The statements live until Close.
func (db *DB) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := db.readStmts.Load(query); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := db.h.Read.PrepareContext(ctx, db.q(query))
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.readStmts.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// closeReadStmts closes the statements readStmt prepared.
func (db *DB) closeReadStmts() {
	db.readStmts.Range(func(k, s any) bool {
		s.(*sql.Stmt).Close()
		db.readStmts.Delete(k)
		return true
	})
}

// listRecordsQuery reads the dataset row and the page of records in one
// statement: a single statement sees a single snapshot on both dialects
// (a WAL read transaction on SQLite, the statement's snapshot on
// PostgreSQL), so it needs no explicit transaction, one round trip instead of
// five on PostgreSQL. The LEFT JOIN yields one row of NULL records when none
// match. maybe_merged tells whether the identity has a live dataset named
// "<name>.*" (an index range probe), the precondition of MergedNames (see
// mergedNames); the rare caller that has one takes the transactional path.
// generation is the pool's (0: no pool), for the service's revocation check;
// uncorrelated, so both databases evaluate it once per statement.
//
// r.sync_count <= d.sync_count is the default UpTo (q.UpTo 0): in one
// snapshot every record satisfies it, it only states the bound.
const listRecordsQuery = `SELECT ` + datasetColsD + `,
	EXISTS (SELECT 1 FROM datasets m WHERE m.pool_id = d.pool_id AND m.identity_id = d.identity_id AND m.live AND m.name > ? AND m.name < ?) AS maybe_merged,
	COALESCE((SELECT p.generation FROM pools p WHERE p.id = ?), 0) AS generation,
	r.key, r.value, r.sync_count, r.modified_ms, r.modified_by, r.device_ms
FROM datasets d LEFT JOIN records r ON r.dataset_id = d.id AND d.live
	AND r.sync_count > ? AND r.sync_count <= d.sync_count AND r.sync_count <= ?
	AND (r.sync_count > ? OR (r.sync_count = ? AND r.key > ?))
WHERE d.pool_id = ? AND d.identity_id = ? AND d.name = ?
ORDER BY r.sync_count, r.key LIMIT ?`

// listRecordsOne is ListRecords in one statement (listRecordsQuery). ok is
// false, with nothing read, when the dataset may have merged copies: the
// caller must then use the transactional path, which lists them.
func (db *DB) listRecordsOne(ctx context.Context, k syncapi.DatasetKey, q syncapi.RecordQuery) (page syncapi.RecordPage, ok bool, err error) {
	s, err := db.readStmt(ctx, listRecordsQuery)
	if err != nil {
		return page, false, err
	}
	upTo := q.UpTo
	if upTo == 0 {
		upTo = maxSyncCount
	}
	curCount, curKey := q.After, ""
	if c := q.Cursor; c != nil {
		curCount, curKey = c.SyncCount, c.Key
	}
	limit := sqlLimit(q.Limit)
	if q.Limit > 0 {
		limit++ // one more tells whether there is a next page
	}
	prefix := k.Name + "."
	rows, err := s.QueryContext(ctx, prefix, k.Name+"/", k.PoolID, q.After, upTo, curCount, curCount, curKey,
		k.PoolID, k.IdentityID, k.Name, limit)
	if err != nil {
		return page, false, err
	}
	defer rows.Close()

	var (
		ds          datasetRow
		maybeMerged bool
		generation  int64
		key, by     sql.NullString
		value       *string
		count, m, d sql.NullInt64
		// After the first row the dataset columns repeat: scan them into
		// reused buffers rather than allocate modified_by again.
		raw    [numDatasetCols + 2]sql.RawBytes
		first  = append(ds.dest(), &maybeMerged, &generation, &key, &value, &count, &m, &by, &d)
		repeat = make([]any, 0, len(first))
	)
	for i := range raw {
		repeat = append(repeat, &raw[i])
	}
	repeat = append(repeat, &key, &value, &count, &m, &by, &d)
	found := false
	page.Records = []syncapi.Record{}
	var pb pageBudget
	for rows.Next() {
		dest := first
		if found {
			dest = repeat
		}
		if err := rows.Scan(dest...); err != nil {
			return page, false, err
		}
		if !found && maybeMerged && ds.live {
			return syncapi.RecordPage{}, false, nil
		}
		found = true
		if !key.Valid {
			continue // the dataset without a matching record
		}
		if !pb.add(&page, q, syncapi.Record{
			Key: key.String, Value: value, SyncCount: count.Int64,
			LastModifiedDate: fromMS(m.Int64), LastModifiedBy: by.String, DeviceLastModifiedDate: fromMS(d.Int64),
		}) {
			break
		}
		value = nil
	}
	if err := rows.Err(); err != nil {
		return page, false, err
	}
	page.Dataset = ds.state(k, found)
	page.PoolGeneration = generation
	return page, true, nil
}

// maxSyncCount stands for "no upper bound" on sync counts; BIGINT's maximum.
const maxSyncCount = 1<<63 - 1
