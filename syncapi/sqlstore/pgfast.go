package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/cognitosync/cognitosync/syncapi"
)

// pgUpdateRecords is UpdateRecords' hot path on PostgreSQL for a dataset
// that exists: two pipelined round trips instead of five.
//
//	1: BEGIN; SELECT the pool (and identity) FOR KEY SHARE; SELECT the
//	   dataset row FOR UPDATE; SELECT the stored records
//	2: INSERT the records and UPDATE the dataset (one statement); the
//	   outbox row; COMMIT
//
// The records SELECT is a statement of its own, run after the lock is
// granted, so in READ COMMITTED it sees the previous writer's commit. ok is
// false, with nothing done, when the dataset does not exist or is deleted:
// creation takes the general path, which takes the identity lock first; and
// with errSlowPath when tombstones must be purged.
func (db *DB) pgUpdateRecords(ctx context.Context, r syncapi.UpdateRequest) (res syncapi.UpdateResult, ok bool, err error) {
	conn, err := db.h.DB.Conn(ctx)
	if err != nil {
		return res, false, err
	}
	defer conn.Close()
	k := r.Key
	keys := make([]string, len(r.Changes))
	for i, c := range r.Changes {
		keys[i] = c.Key
	}
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		rollback := func(cause error) error {
			if _, err := pc.Exec(context.Background(), "ROLLBACK"); err != nil {
				return errors.Join(cause, driver.ErrBadConn) // let database/sql discard the connection
			}
			return cause
		}

		b := &pgx.Batch{}
		b.Queue("BEGIN")
		// The pool (and identity) first, locked against DeletePool and the
		// identity collector (lockPool's order), then the dataset row.
		b.Queue(`SELECT generation FROM pools WHERE id = $1 FOR KEY SHARE`, k.PoolID)
		if r.RequireIdentity {
			b.Queue(`SELECT id FROM identities WHERE id = $1 AND pool_id = $2 AND NOT disabled FOR KEY SHARE`, k.IdentityID, k.PoolID)
		}
		b.Queue(`SELECT `+datasetCols+` FROM datasets WHERE pool_id = $1 AND identity_id = $2 AND name = $3 FOR UPDATE`,
			k.PoolID, k.IdentityID, k.Name)
		b.Queue(`SELECT key, sync_count, value IS NOT NULL, size FROM records
WHERE dataset_id = (SELECT id FROM datasets WHERE pool_id = $1 AND identity_id = $2 AND name = $3) AND key = ANY($4)`,
			k.PoolID, k.IdentityID, k.Name, keys)
		br := pc.SendBatch(ctx, b)
		var ds datasetRow
		var poolErr error // the pool or identity check failed
		found := true
		old := make(map[string]stored, len(keys))
		err := func() error {
			if _, err := br.Exec(); err != nil {
				return err
			}
			var gen int64
			var x string
			if err := br.QueryRow().Scan(&gen); errors.Is(err, pgx.ErrNoRows) {
				poolErr = notFound("identity pool %s not found", k.PoolID)
			} else if err != nil {
				return err
			} else if r.PoolGeneration != 0 && gen != r.PoolGeneration {
				poolErr = syncapi.Errorf(syncapi.ErrRevoked, "identity pool %s was deleted and created again", k.PoolID)
			}
			if r.RequireIdentity {
				if err := br.QueryRow().Scan(&x); errors.Is(err, pgx.ErrNoRows) {
					if poolErr == nil {
						poolErr = notFound("identity %s not found", k.IdentityID)
					}
				} else if err != nil {
					return err
				}
			}
			if err := br.QueryRow().Scan(ds.dest()...); errors.Is(err, pgx.ErrNoRows) {
				found = false
			} else if err != nil {
				return err
			}
			rows, err := br.Query()
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var key string
				s := stored{found: true}
				if err := rows.Scan(&key, &s.syncCount, &s.live, &s.size); err != nil {
					return err
				}
				old[key] = s
			}
			return rows.Err()
		}()
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = poolErr
		}
		if err != nil {
			return rollback(err)
		}
		if !found || !ds.live {
			return rollback(nil)
		}

		res, err = db.plan(r, ds, old, func() (int64, error) {
			return 0, errors.New("pgUpdateRecords cannot create datasets")
		}, func(ds datasetRow, rows []recordRow) error {
			q, args := pgWriteRecords(ds, rows)
			b := &pgx.Batch{}
			b.Queue(q, args...)
			if len(rows) > 0 {
				b.Queue(pgOutboxInsertSQL, outboxArgs(ds, rows, false)...) // outbox.go
			}
			b.Queue("COMMIT")
			br := pc.SendBatch(ctx, b)
			var err error
			for range b.Len() {
				if _, err = br.Exec(); err != nil {
					break
				}
			}
			if cerr := br.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return wrapf("commit: %w", err)
			}
			return nil
		}, nil) // no purge here: plan answers errSlowPath first
		if err != nil {
			// After a failed COMMIT the transaction is over and ROLLBACK
			// only warns; after any other failure it is needed.
			return rollback(err)
		}
		ok = true
		return nil
	})
	return res, ok, err
}

// pgWriteRecords is the statement writeRecords runs on PostgreSQL, with $n
// placeholders.
func pgWriteRecords(ds datasetRow, rows []recordRow) (string, []any) {
	keys := make([]string, len(rows))
	values := make([]*string, len(rows))
	sizes := make([]int64, len(rows))
	devs := make([]int64, len(rows))
	for i, r := range rows {
		keys[i], values[i], sizes[i], devs[i] = r.key, r.value, r.size, r.deviceMS
	}
	return pgWriteRecordsSQL, []any{ds.id, ds.syncCount, ds.modifiedMS, ds.modifiedBy, keys, values, sizes, devs,
		ds.creationMS, ds.numRecords, ds.dataStorage, ds.numTombstones, ds.tombstoneBytes}
}

const pgWriteRecordsSQL = `WITH w AS (
	INSERT INTO records (dataset_id, key, value, sync_count, size, modified_ms, modified_by, device_ms)
	SELECT $1, u.k, u.v, $2, u.s, $3, $4, u.d FROM unnest($5::text[], $6::text[], $7::bigint[], $8::bigint[]) AS u(k, v, s, d)` +
	upsertRecordTail + `
)
UPDATE datasets SET live = TRUE, sync_count = $2, creation_ms = $9, modified_ms = $3, modified_by = $4,
	num_records = $10, data_storage = $11, num_tombstones = $12, tombstone_bytes = $13 WHERE id = $1`
