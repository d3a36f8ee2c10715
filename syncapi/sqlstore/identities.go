package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/cognitosync/cognitosync/syncapi"
)

// CreateIdentity stores a new identity of an existing pool: ErrNotFound if
// the pool does not exist, ErrConflict if the identity id does.
func (db *DB) CreateIdentity(ctx context.Context, id syncapi.Identity) error {
	if err := checkText(id.PoolID, id.ID); err != nil {
		return wrapf("create identity: %w", err)
	}
	err := db.write(ctx, func(t *tx) error {
		if err := db.lockPool(t, id.PoolID, 0, ""); err != nil {
			return err
		}
		res, err := t.exec(`INSERT INTO identities (id, pool_id, disabled, created_ns) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			id.ID, id.PoolID, id.Disabled, nsOrNull(id.Created))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return syncapi.Errorf(syncapi.ErrConflict, "identity %s already exists", id.ID)
		}
		return nil
	})
	if err != nil {
		return wrapf("create identity %s: %w", id.ID, err)
	}
	return nil
}

// GetIdentity returns the identity; ErrNotFound if it does not exist.
func (db *DB) GetIdentity(ctx context.Context, identityID string) (syncapi.Identity, error) {
	if err := checkText(identityID); err != nil {
		return syncapi.Identity{}, wrapf("get identity: %w", err)
	}
	id := syncapi.Identity{ID: identityID}
	var created sql.NullInt64
	found, err := db.reader(ctx).row(`SELECT pool_id, disabled, created_ns FROM identities WHERE id = ?`,
		[]any{identityID}, &id.PoolID, &id.Disabled, &created)
	if err == nil && !found {
		err = notFound("identity %s not found", identityID)
	}
	if err != nil {
		return syncapi.Identity{}, wrapf("get identity %s: %w", identityID, err)
	}
	id.Created = fromNS(created)
	return id, nil
}

// PutCredential stores c, replacing a credential with the same access key
// id. Credentials bound to a pool (Caller.PoolID) go with DeletePool; the
// pool must exist with generation Caller.PoolGeneration (when not 0) and,
// for identity credentials, hold Caller.IdentityID, checked in the write's
// transaction (fence.go): ErrNotFound (or ErrRevoked) otherwise.
func (db *DB) PutCredential(ctx context.Context, c syncapi.Credential) error {
	if err := checkText(c.AccessKeyID, c.Secret, c.SessionToken, c.Caller.PoolID, c.Caller.IdentityID); err != nil {
		return wrapf("put credential: %w", err)
	}
	caller, err := json.Marshal(c.Caller)
	if err != nil {
		return wrapf("put credential %s: %w", c.AccessKeyID, err)
	}
	err = db.write(ctx, func(t *tx) error {
		if c.Caller.PoolID != "" {
			if err := db.lockPool(t, c.Caller.PoolID, c.Caller.PoolGeneration, c.Caller.IdentityID); err != nil {
				return err
			}
		}
		_, err := t.exec(db.d.Upsert("credentials",
			[]string{"access_key_id", "secret", "session_token", "expires_ns", "caller", "pool_id", "identity_id", "pool_generation"},
			[]string{"access_key_id"},
			[]string{"secret", "session_token", "expires_ns", "caller", "pool_id", "identity_id", "pool_generation"}),
			c.AccessKeyID, c.Secret, c.SessionToken, nsOrNull(c.Expires), string(caller), c.Caller.PoolID,
			c.Caller.IdentityID, c.Caller.PoolGeneration)
		return err
	})
	if err != nil {
		return wrapf("put credential %s: %w", c.AccessKeyID, err)
	}
	return nil
}

// LookupCredential returns the credential of an access key id; ErrNotFound
// for an unknown key. Expiry is the caller's to check.
func (db *DB) LookupCredential(ctx context.Context, accessKeyID string) (syncapi.Credential, error) {
	if err := checkText(accessKeyID); err != nil {
		// Not a key this store could have issued.
		return syncapi.Credential{}, notFound("access key not found")
	}
	c := syncapi.Credential{AccessKeyID: accessKeyID}
	var expires sql.NullInt64
	var caller string
	var gen int64
	var disabled bool
	found, err := db.reader(ctx).row(`SELECT c.secret, c.session_token, c.expires_ns, c.caller, c.pool_generation, COALESCE(i.disabled, `+falseLit+`)
FROM credentials c LEFT JOIN identities i ON c.identity_id <> '' AND i.id = c.identity_id WHERE c.access_key_id = ?`,
		[]any{accessKeyID}, &c.Secret, &c.SessionToken, &expires, &caller, &gen, &disabled)
	if err == nil && !found {
		err = notFound("access key %s not found", accessKeyID)
	}
	if err == nil {
		err = json.Unmarshal([]byte(caller), &c.Caller)
	}
	if err != nil {
		return syncapi.Credential{}, wrapf("lookup credential %s: %w", accessKeyID, err)
	}
	c.Caller.PoolGeneration = gen
	c.Caller.Disabled = disabled
	c.Expires = fromNS(expires)
	return c, nil
}
