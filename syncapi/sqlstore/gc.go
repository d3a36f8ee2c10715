package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

// What the collector (syncapi/gc) removes: rows nobody can use any more.

// DeleteExpiredCredentials deletes up to limit issued credentials that
// expired before expiredBefore, and returns how many it deleted.
func (db *DB) DeleteExpiredCredentials(ctx context.Context, expiredBefore time.Time, limit int) (int64, error) {
	var n int64
	err := db.write(ctx, func(t *tx) error {
		res, err := t.exec(`DELETE FROM credentials WHERE access_key_id IN (
	SELECT access_key_id FROM credentials WHERE expires_ns IS NOT NULL AND expires_ns < ? ORDER BY expires_ns LIMIT ?)`,
			expiredBefore.UnixNano(), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, wrapf("delete expired credentials: %w", err)
	}
	return n, nil
}

// idleIdentity is the condition on identities i the collector deletes: not
// disabled, created before ?, and never stored anything (no dataset row,
// live or deleted, no push device), nor holding credentials unexpired at ?.
// An identity with a login never matches: its user comes back to it.
const idleIdentity = `i.created_ns < ? AND NOT i.disabled
	AND NOT EXISTS (SELECT 1 FROM identity_logins l WHERE l.identity_id = i.id)
	AND NOT EXISTS (SELECT 1 FROM datasets d WHERE d.pool_id = i.pool_id AND d.identity_id = i.id)
	AND NOT EXISTS (SELECT 1 FROM devices v WHERE v.pool_id = i.pool_id AND v.identity_id = i.id)
	AND NOT EXISTS (SELECT 1 FROM credentials c WHERE c.identity_id = i.id AND (c.expires_ns IS NULL OR c.expires_ns >= ?))`

// DeleteIdleIdentities deletes up to limit identities created before
// createdBefore that never stored anything and hold no credentials
// unexpired at now, and returns how many it deleted.
//
// A write racing the deletion never leaves data behind an identity that is
// gone: writes of identity credentials lock the identity row (lockPool)
// before they create anything. On PostgreSQL the candidates are locked
// first (FOR UPDATE SKIP LOCKED: an identity a writer holds is skipped) and
// checked again by a second statement, whose snapshot includes every write
// that held the lock before; SQLite's single writer runs the deletion alone.
func (db *DB) DeleteIdleIdentities(ctx context.Context, createdBefore, now time.Time, limit int) (int64, error) {
	cb, at := createdBefore.UnixNano(), now.UnixNano()
	var n int64
	err := db.write(ctx, func(t *tx) error {
		if db.d.pg() {
			rows, err := t.query(`SELECT i.id FROM identities i WHERE `+idleIdentity+`
ORDER BY i.created_ns LIMIT ? FOR UPDATE SKIP LOCKED`, cb, at, limit)
			if err != nil {
				return err
			}
			var ids []string
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
			}
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				return err
			}
			if len(ids) == 0 {
				return nil
			}
			cond, arg := db.d.keyIn("i.id", ids)
			res, err := t.exec(`DELETE FROM identities i WHERE `+cond+` AND `+idleIdentity, arg, cb, at)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		}
		res, err := t.exec(`DELETE FROM identities WHERE id IN (SELECT i.id FROM identities i WHERE `+idleIdentity+`
ORDER BY i.created_ns LIMIT ?)`, cb, at, limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, wrapf("delete idle identities: %w", err)
	}
	return n, nil
}

var _ interface {
	DeleteExpiredCredentials(context.Context, time.Time, int) (int64, error)
	DeleteIdleIdentities(context.Context, time.Time, time.Time, int) (int64, error)
	syncapi.Leases
} = (*DB)(nil)
