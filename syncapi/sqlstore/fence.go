package sqlstore

import (
	"github.com/cognitosync/cognitosync/syncapi"
)

// Deleting a pool revokes at once, on every process sharing the database:
// DeletePool takes the pool row FOR UPDATE and deletes everything below it
// in one transaction, and every write below a pool first takes lockPool in
// its own transaction. So a write either commits before the deletion (and
// is deleted with the pool) or finds the pool gone; none lands in between,
// and nothing of the deleted pool comes back when a pool with the same id is
// created again. Credentials carry the pool's generation, so that those of
// the deleted pool do not work on the new one either (syncapi.Pool).
//
// Lock order, to stay free of deadlocks: pool, then identity, then the
// identity's advisory lock (lockIdentity), then dataset rows.

// lockPool checks, inside a write transaction, that the pool exists (and,
// when gen is not 0, has that generation) and, when identity is not "",
// that the identity exists in it and was not disabled by a merge (whose
// transaction locks the identity row FOR UPDATE); on PostgreSQL it holds FOR KEY SHARE locks
// on the rows until the transaction ends, which DeletePool and the identity
// collector wait for (SQLite's single writer excludes them anyway).
// ErrNotFound for a missing pool or identity, ErrRevoked for another
// generation of the pool.
func (db *DB) lockPool(t *tx, poolID string, gen int64, identityID string) error {
	var g int64
	hasIdentity := identityID == ""
	var found bool
	var err error
	if db.d.pg() {
		found, err = t.row(`SELECT generation FROM pools WHERE id = ?`+db.d.keyShare(), []any{poolID}, &g)
	} else {
		// One statement on the writer: nothing to lock, the single writer
		// excludes DeletePool and the collector.
		found, err = t.row(`SELECT generation, ? = '' OR EXISTS (SELECT 1 FROM identities WHERE id = ? AND pool_id = ? AND NOT disabled) FROM pools WHERE id = ?`,
			[]any{identityID, identityID, poolID, poolID}, &g, &hasIdentity)
	}
	if err != nil {
		return err
	}
	if !found {
		return notFound("identity pool %s not found", poolID)
	}
	if gen != 0 && g != gen {
		return syncapi.Errorf(syncapi.ErrRevoked, "identity pool %s was deleted and created again", poolID)
	}
	if db.d.pg() && identityID != "" {
		var x string
		hasIdentity, err = t.row(`SELECT id FROM identities WHERE id = ? AND pool_id = ? AND NOT disabled`+db.d.keyShare(), []any{identityID, poolID}, &x)
		if err != nil {
			return err
		}
	}
	if !hasIdentity {
		return notFound("identity %s not found", identityID)
	}
	return nil
}
