package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/syncapi"
)

// The push queue (syncapi.PushQueue).
//
// UpdateRecords and DeleteDataset add one statement to their transaction:
// an INSERT … SELECT over the dataset's subscriptions that upserts one
// push_queue row per subscribed device. A pool without subscriptions pays
// one index probe that finds nothing.

var _ syncapi.PushQueue = (*DB)(nil)

// pushInsertSQL queues a notification for every device subscribed to a
// dataset but one; arguments: sync_count, created_ns, pool, identity,
// dataset, excluded device id ("" excludes none).
func (d dialect) pushInsertSQL() string {
	greatest := "MAX"
	if d.pg() {
		greatest = "GREATEST"
	}
	return `INSERT INTO push_queue (pool_id, identity_id, dataset, device_id, sync_count, created_ns)
SELECT pool_id, identity_id, dataset, device_id, ?, ? FROM subscriptions
WHERE pool_id = ? AND identity_id = ? AND dataset = ? AND device_id <> ?
ON CONFLICT (pool_id, identity_id, dataset, device_id) DO UPDATE SET
	sync_count = ` + greatest + `(push_queue.sync_count, excluded.sync_count), version = push_queue.version + 1`
}

// pgPushInsertSQL is pushInsertSQL for PostgreSQL in $n form, for
// pgUpdateRecords' pipelined batch.
var pgPushInsertSQL = dialect{sqldb.Postgres}.Rebind(dialect{sqldb.Postgres}.pushInsertSQL())

// pushArgs are the arguments of the push insert.
func pushArgs(k syncapi.DatasetKey, syncCount int64, device string) []any {
	return []any{syncCount, time.Now().UnixNano(), k.PoolID, k.IdentityID, k.Name, device}
}

// writePush queues the notifications of an update of k that wrote rows.
func writePush(t *tx, k syncapi.DatasetKey, ds datasetRow, rows []recordRow, device string) error {
	if len(rows) == 0 {
		return nil
	}
	_, err := t.exec(t.db.d.pushInsertSQL(), pushArgs(k, ds.syncCount, device)...)
	return err
}

// DuePush returns the entries due, oldest first, with their devices.
func (db *DB) DuePush(ctx context.Context, createdBefore, now time.Time, limit int) ([]syncapi.PushEntry, error) {
	// LEFT JOIN: an entry whose device is gone comes back with an empty
	// Platform, for the dispatcher to drop, rather than staying forever.
	rows, err := db.reader(ctx).query(`SELECT q.pool_id, q.identity_id, q.dataset, q.device_id,
	COALESCE(d.platform, ''), COALESCE(d.token, ''), COALESCE(d.endpoint, ''), q.sync_count, q.version, q.attempts, q.created_ns
FROM push_queue q LEFT JOIN devices d ON d.pool_id = q.pool_id AND d.identity_id = q.identity_id AND d.device_id = q.device_id
WHERE q.created_ns <= ? AND q.due_ns <= ? ORDER BY q.created_ns LIMIT ?`, createdBefore.UnixNano(), now.UnixNano(), sqlLimit(limit))
	if err != nil {
		return nil, wrapf("due push: %w", err)
	}
	defer rows.Close()
	var out []syncapi.PushEntry
	for rows.Next() {
		var e syncapi.PushEntry
		var created int64
		if err := rows.Scan(&e.Key.PoolID, &e.Key.IdentityID, &e.Key.Name, &e.DeviceID, &e.Platform, &e.Token, &e.Endpoint,
			&e.SyncCount, &e.Version, &e.Attempts, &created); err != nil {
			return nil, wrapf("due push: %w", err)
		}
		e.Created = time.Unix(0, created).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapf("due push: %w", err)
	}
	return out, nil
}

const pushKey = `pool_id = ? AND identity_id = ? AND dataset = ? AND device_id = ?`

func pushKeyArgs(e syncapi.PushEntry, more ...any) []any {
	return append(more, e.Key.PoolID, e.Key.IdentityID, e.Key.Name, e.DeviceID)
}

// AckPush deletes e if no change came in since it was read, else restarts
// its window.
func (db *DB) AckPush(ctx context.Context, e syncapi.PushEntry, now time.Time) error {
	err := db.write(ctx, func(t *tx) error {
		res, err := t.exec(`DELETE FROM push_queue WHERE `+pushKey+` AND version = ?`, append(pushKeyArgs(e), e.Version)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		_, err = t.exec(`UPDATE push_queue SET created_ns = ?, due_ns = 0, attempts = 0 WHERE `+pushKey, pushKeyArgs(e, now.UnixNano())...)
		return err
	})
	if err != nil {
		return wrapf("ack push %s %s: %w", e.Key, e.DeviceID, err)
	}
	return nil
}

// RetryPush counts a failed delivery of e and defers it to at.
func (db *DB) RetryPush(ctx context.Context, e syncapi.PushEntry, at time.Time) error {
	err := db.write(ctx, func(t *tx) error {
		_, err := t.exec(`UPDATE push_queue SET attempts = attempts + 1, due_ns = ? WHERE `+pushKey, pushKeyArgs(e, at.UnixNano())...)
		return err
	})
	if err != nil {
		return wrapf("retry push %s %s: %w", e.Key, e.DeviceID, err)
	}
	return nil
}

// DropPush deletes e.
func (db *DB) DropPush(ctx context.Context, e syncapi.PushEntry) error {
	err := db.write(ctx, func(t *tx) error {
		_, err := t.exec(`DELETE FROM push_queue WHERE `+pushKey, pushKeyArgs(e)...)
		return err
	})
	if err != nil {
		return wrapf("drop push %s %s: %w", e.Key, e.DeviceID, err)
	}
	return nil
}

// PushStats reports the queue depth and its oldest entry's time.
func (db *DB) PushStats(ctx context.Context) (int64, time.Time, error) {
	var n int64
	var oldest sql.NullInt64
	if _, err := db.reader(ctx).row(`SELECT COUNT(*), MIN(created_ns) FROM push_queue`, nil, &n, &oldest); err != nil {
		return 0, time.Time{}, wrapf("push stats: %w", err)
	}
	return n, fromNS(oldest), nil
}

// UnregisterDevice deletes the device with its subscriptions and queued
// notifications.
func (db *DB) UnregisterDevice(ctx context.Context, poolID, identityID, deviceID string) error {
	if err := checkText(poolID, identityID, deviceID); err != nil {
		return wrapf("unregister device: %w", err)
	}
	err := db.write(ctx, func(t *tx) error {
		for _, q := range []string{
			`DELETE FROM push_queue WHERE pool_id = ? AND identity_id = ? AND device_id = ?`,
			`DELETE FROM subscriptions WHERE pool_id = ? AND identity_id = ? AND device_id = ?`,
			`DELETE FROM devices WHERE pool_id = ? AND identity_id = ? AND device_id = ?`,
		} {
			if _, err := t.exec(q, poolID, identityID, deviceID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return wrapf("unregister device %s/%s/%s: %w", poolID, identityID, deviceID, err)
	}
	return nil
}

// SetDeviceEndpoint keeps endpoint with the device.
func (db *DB) SetDeviceEndpoint(ctx context.Context, poolID, identityID, deviceID, endpoint string) error {
	if err := checkText(poolID, identityID, deviceID, endpoint); err != nil {
		return wrapf("set device endpoint: %w", err)
	}
	err := db.write(ctx, func(t *tx) error {
		_, err := t.exec(`UPDATE devices SET endpoint = ? WHERE pool_id = ? AND identity_id = ? AND device_id = ?`,
			endpoint, poolID, identityID, deviceID)
		return err
	})
	if err != nil {
		return wrapf("set device endpoint %s/%s/%s: %w", poolID, identityID, deviceID, err)
	}
	return nil
}
