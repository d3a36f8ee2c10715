package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/cognitosync/cognitosync/syncapi"
)

// CreateIdentity stores a new identity of an existing pool: ErrNotFound if
// the pool does not exist, ErrConflict if the identity id does.
func (db *DB) CreateIdentity(ctx context.Context, id syncapi.Identity) error {
	err := db.write(ctx, func(t *tx) error {
		var x string
		found, err := t.row(`SELECT id FROM pools WHERE id = ?`, []any{id.PoolID}, &x)
		if err != nil {
			return err
		}
		if !found {
			return notFound("identity pool %s not found", id.PoolID)
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
		return fmt.Errorf("create identity %s: %w", id.ID, err)
	}
	return nil
}

// GetIdentity returns the identity; ErrNotFound if it does not exist.
func (db *DB) GetIdentity(ctx context.Context, identityID string) (syncapi.Identity, error) {
	id := syncapi.Identity{ID: identityID}
	var created sql.NullInt64
	found, err := db.reader(ctx).row(`SELECT pool_id, disabled, created_ns FROM identities WHERE id = ?`,
		[]any{identityID}, &id.PoolID, &id.Disabled, &created)
	if err == nil && !found {
		err = notFound("identity %s not found", identityID)
	}
	if err != nil {
		return syncapi.Identity{}, fmt.Errorf("get identity %s: %w", identityID, err)
	}
	id.Created = fromNS(created)
	return id, nil
}

// PutCredential stores c, replacing a credential with the same access key
// id. Credentials bound to a pool (Caller.PoolID) go with DeletePool.
func (db *DB) PutCredential(ctx context.Context, c syncapi.Credential) error {
	caller, err := json.Marshal(c.Caller)
	if err != nil {
		return fmt.Errorf("put credential %s: %w", c.AccessKeyID, err)
	}
	err = db.write(ctx, func(t *tx) error {
		_, err := t.exec(db.d.Upsert("credentials",
			[]string{"access_key_id", "secret", "session_token", "expires_ns", "caller", "pool_id"},
			[]string{"access_key_id"},
			[]string{"secret", "session_token", "expires_ns", "caller", "pool_id"}),
			c.AccessKeyID, c.Secret, c.SessionToken, nsOrNull(c.Expires), string(caller), c.Caller.PoolID)
		return err
	})
	if err != nil {
		return fmt.Errorf("put credential %s: %w", c.AccessKeyID, err)
	}
	return nil
}

// LookupCredential returns the credential of an access key id; ErrNotFound
// for an unknown key. Expiry is the caller's to check.
func (db *DB) LookupCredential(ctx context.Context, accessKeyID string) (syncapi.Credential, error) {
	c := syncapi.Credential{AccessKeyID: accessKeyID}
	var expires sql.NullInt64
	var caller string
	found, err := db.reader(ctx).row(`SELECT secret, session_token, expires_ns, caller FROM credentials WHERE access_key_id = ?`,
		[]any{accessKeyID}, &c.Secret, &c.SessionToken, &expires, &caller)
	if err == nil && !found {
		err = notFound("access key %s not found", accessKeyID)
	}
	if err == nil {
		err = json.Unmarshal([]byte(caller), &c.Caller)
	}
	if err != nil {
		return syncapi.Credential{}, fmt.Errorf("lookup credential %s: %w", accessKeyID, err)
	}
	c.Expires = fromNS(expires)
	return c, nil
}
