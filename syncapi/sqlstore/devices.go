package sqlstore

import (
	"context"

	"github.com/cognitosync/cognitosync/syncapi"
)

// RegisterDevice returns the id of the device already registered for
// (pool, identity, platform, token), else stores newID and returns it.
// Race-safe: concurrent registrations of one token agree on one id.
// ErrNotFound unless the identity exists in the pool (checked and locked in
// the transaction, fence.go).
func (db *DB) RegisterDevice(ctx context.Context, poolID, identityID, platform, token, newID string) (string, error) {
	if err := checkText(poolID, identityID, platform, token, newID); err != nil {
		return "", wrapf("register device: %w", err)
	}
	var id string
	err := db.write(ctx, func(t *tx) error {
		if err := db.lockPool(t, poolID, 0, identityID); err != nil {
			return err
		}
		if _, err := t.exec(`INSERT INTO devices (pool_id, identity_id, device_id, platform, token) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (pool_id, identity_id, platform, token) DO NOTHING`, poolID, identityID, newID, platform, token); err != nil {
			return err
		}
		_, err := t.row(`SELECT device_id FROM devices WHERE pool_id = ? AND identity_id = ? AND platform = ? AND token = ?`,
			[]any{poolID, identityID, platform, token}, &id)
		return err
	})
	if err != nil {
		return "", wrapf("register device %s/%s: %w", poolID, identityID, err)
	}
	return id, nil
}

// DeviceExists reports whether deviceID is registered for the identity.
func (db *DB) DeviceExists(ctx context.Context, poolID, identityID, deviceID string) (bool, error) {
	if err := checkText(poolID, identityID, deviceID); err != nil {
		return false, wrapf("device exists: %w", err)
	}
	var x string
	found, err := db.reader(ctx).row(`SELECT device_id FROM devices WHERE pool_id = ? AND identity_id = ? AND device_id = ?`,
		[]any{poolID, identityID, deviceID}, &x)
	if err != nil {
		return false, wrapf("device exists %s/%s/%s: %w", poolID, identityID, deviceID, err)
	}
	return found, nil
}

// Subscribe subscribes the identity's device to the dataset; ErrNotFound if
// the device is not registered for the identity or the dataset does not
// exist (spec F.3), or the identity does not exist in the pool (fence.go).
// Subscribing twice is not an error.
func (db *DB) Subscribe(ctx context.Context, k syncapi.DatasetKey, deviceID string) error {
	if err := checkText(k.PoolID, k.IdentityID, k.Name, deviceID); err != nil {
		return wrapf("subscribe: %w", err)
	}
	err := db.write(ctx, func(t *tx) error {
		if err := db.lockPool(t, k.PoolID, 0, k.IdentityID); err != nil {
			return err
		}
		var x string
		found, err := t.row(`SELECT device_id FROM devices WHERE pool_id = ? AND identity_id = ? AND device_id = ?`,
			[]any{k.PoolID, k.IdentityID, deviceID}, &x)
		if err != nil {
			return err
		}
		if !found {
			return notFound("device %s not found", deviceID)
		}
		ds, found, err := db.selectDataset(t, k, false)
		if err != nil {
			return err
		}
		if !found || !ds.live {
			return notFound("dataset %s not found", k.Name)
		}
		_, err = t.exec(`INSERT INTO subscriptions (pool_id, identity_id, dataset, device_id) VALUES (?, ?, ?, ?)
ON CONFLICT (pool_id, identity_id, dataset, device_id) DO NOTHING`, k.PoolID, k.IdentityID, k.Name, deviceID)
		return err
	})
	if err != nil {
		return wrapf("subscribe %s %s: %w", k, deviceID, err)
	}
	return nil
}

// Unsubscribe removes the subscription; ErrNotFound if there is none.
func (db *DB) Unsubscribe(ctx context.Context, k syncapi.DatasetKey, deviceID string) error {
	if err := checkText(k.PoolID, k.IdentityID, k.Name, deviceID); err != nil {
		return wrapf("unsubscribe: %w", err)
	}
	err := db.write(ctx, func(t *tx) error {
		res, err := t.exec(`DELETE FROM subscriptions WHERE pool_id = ? AND identity_id = ? AND dataset = ? AND device_id = ?`,
			k.PoolID, k.IdentityID, k.Name, deviceID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound("device %s is not subscribed to dataset %s", deviceID, k.Name)
		}
		return nil
	})
	if err != nil {
		return wrapf("unsubscribe %s %s: %w", k, deviceID, err)
	}
	return nil
}

// Device is a registered push device.
type Device struct {
	ID, Platform, Token string
}

// Subscribers returns the devices subscribed to the dataset, ordered by id:
// the recipients of push notifications (spec F.4). It is not part of
// syncapi.Store, which has no such method yet; the push notifier can find
// it by type assertion.
func (db *DB) Subscribers(ctx context.Context, k syncapi.DatasetKey) ([]Device, error) {
	rows, err := db.reader(ctx).query(`SELECT d.device_id, d.platform, d.token FROM subscriptions s
JOIN devices d ON d.pool_id = s.pool_id AND d.identity_id = s.identity_id AND d.device_id = s.device_id
WHERE s.pool_id = ? AND s.identity_id = ? AND s.dataset = ? ORDER BY d.device_id`, k.PoolID, k.IdentityID, k.Name)
	if err != nil {
		return nil, wrapf("subscribers %s: %w", k, err)
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		var d Device
		if err := rows.Scan(&d.ID, &d.Platform, &d.Token); err != nil {
			return nil, wrapf("subscribers %s: %w", k, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapf("subscribers %s: %w", k, err)
	}
	return out, nil
}
