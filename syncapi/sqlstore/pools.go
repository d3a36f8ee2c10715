package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"

	"github.com/cognitosync/cognitosync/syncapi"
)

const poolCols = `id, attrs, push_sync, cognito_streams, events, created_ns, generation`

type poolRow struct {
	id                    string
	attrs                 string
	push, streams, events sql.NullString
	created               sql.NullInt64
	generation            int64
}

func (r *poolRow) dest() []any {
	return []any{&r.id, &r.attrs, &r.push, &r.streams, &r.events, &r.created, &r.generation}
}

func (r poolRow) pool() (syncapi.Pool, error) {
	p := syncapi.Pool{Created: fromNS(r.created), Generation: r.generation}
	if err := json.Unmarshal([]byte(r.attrs), &p.Identity); err != nil {
		return p, wrapf("decode pool attributes: %w", err)
	}
	p.Identity.IdentityPoolID = r.id
	if r.push.Valid {
		p.PushSync = new(syncapi.PushSync)
		if err := json.Unmarshal([]byte(r.push.String), p.PushSync); err != nil {
			return p, wrapf("decode push sync: %w", err)
		}
	}
	if r.streams.Valid {
		p.CognitoStreams = new(syncapi.CognitoStreams)
		if err := json.Unmarshal([]byte(r.streams.String), p.CognitoStreams); err != nil {
			return p, wrapf("decode cognito streams: %w", err)
		}
	}
	if r.events.Valid {
		if err := json.Unmarshal([]byte(r.events.String), &p.Events); err != nil {
			return p, wrapf("decode events: %w", err)
		}
	}
	return p, nil
}

// poolArgs encodes the attribute columns of p: attrs, push_sync,
// cognito_streams, events.
func poolArgs(p syncapi.Pool) ([]any, error) {
	attrs, err := json.Marshal(p.Identity)
	if err != nil {
		return nil, err
	}
	args := []any{string(attrs), nil, nil, nil}
	if p.PushSync != nil {
		b, err := json.Marshal(p.PushSync)
		if err != nil {
			return nil, err
		}
		args[1] = string(b)
	}
	if p.CognitoStreams != nil {
		b, err := json.Marshal(p.CognitoStreams)
		if err != nil {
			return nil, err
		}
		args[2] = string(b)
	}
	if p.Events != nil {
		b, err := json.Marshal(p.Events)
		if err != nil {
			return nil, err
		}
		args[3] = string(b)
	}
	return args, nil
}

// CreatePool stores a new pool; ErrConflict if the id exists. A zero
// p.Generation gets a random one.
func (db *DB) CreatePool(ctx context.Context, p syncapi.Pool) error {
	if err := checkText(p.ID()); err != nil {
		return wrapf("create pool: %w", err)
	}
	args, err := poolArgs(p)
	if err != nil {
		return wrapf("create pool %s: %w", p.ID(), err)
	}
	gen := p.Generation
	for gen <= 0 {
		var b [8]byte
		rand.Read(b[:])
		gen = int64(binary.BigEndian.Uint64(b[:]) >> 2)
	}
	err = db.write(ctx, func(t *tx) error {
		res, err := t.exec(`INSERT INTO pools (id, attrs, push_sync, cognito_streams, events, created_ns, generation) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING`, append([]any{p.ID()}, append(args, nsOrNull(p.Created), gen)...)...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return syncapi.Errorf(syncapi.ErrConflict, "identity pool %s already exists", p.ID())
		}
		return nil
	})
	if err != nil {
		return wrapf("create pool %s: %w", p.ID(), err)
	}
	return nil
}

// GetPool returns the pool; ErrNotFound if it does not exist.
func (db *DB) GetPool(ctx context.Context, id string) (syncapi.Pool, error) {
	if err := checkText(id); err != nil {
		return syncapi.Pool{}, wrapf("get pool: %w", err)
	}
	var r poolRow
	found, err := db.reader(ctx).row(`SELECT `+poolCols+` FROM pools WHERE id = ?`, []any{id}, r.dest()...)
	if err == nil && !found {
		err = notFound("identity pool %s not found", id)
	}
	if err != nil {
		return syncapi.Pool{}, wrapf("get pool %s: %w", id, err)
	}
	p, err := r.pool()
	if err != nil {
		return syncapi.Pool{}, wrapf("get pool %s: %w", id, err)
	}
	return p, nil
}

// ListPools returns pools ordered by id, those after `after` (exclusive),
// at most limit (0: all).
func (db *DB) ListPools(ctx context.Context, after string, limit int) ([]syncapi.Pool, error) {
	if err := checkText(after); err != nil {
		return nil, wrapf("list pools: %w", err)
	}
	rows, err := db.reader(ctx).query(`SELECT `+poolCols+` FROM pools WHERE id > ? ORDER BY id LIMIT ?`, after, sqlLimit(limit))
	if err != nil {
		return nil, wrapf("list pools: %w", err)
	}
	defer rows.Close()
	out := []syncapi.Pool{}
	for rows.Next() {
		var r poolRow
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, wrapf("list pools: %w", err)
		}
		p, err := r.pool()
		if err != nil {
			return nil, wrapf("list pools: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapf("list pools: %w", err)
	}
	return out, nil
}

// UpdatePool reads the pool with its row locked (PostgreSQL: FOR UPDATE;
// SQLite: inside the single writer), calls fn and stores what fn left, in
// one transaction. An error of fn is returned (wrapped) and nothing is
// stored. fn must not change the pool id nor call write methods of the
// store (on SQLite it runs on the writer goroutine). ErrNotFound if the pool
// does not exist.
func (db *DB) UpdatePool(ctx context.Context, id string, fn func(*syncapi.Pool) error) (syncapi.Pool, error) {
	if err := checkText(id); err != nil {
		return syncapi.Pool{}, wrapf("update pool: %w", err)
	}
	var out syncapi.Pool
	err := db.write(ctx, func(t *tx) error {
		var r poolRow
		found, err := t.row(`SELECT `+poolCols+` FROM pools WHERE id = ?`+db.d.forUpdate(), []any{id}, r.dest()...)
		if err != nil {
			return err
		}
		if !found {
			return notFound("identity pool %s not found", id)
		}
		p, err := r.pool()
		if err != nil {
			return err
		}
		if err := fn(&p); err != nil {
			return err
		}
		if p.ID() != id || p.Generation != r.generation {
			return errors.New("the pool id and generation cannot change")
		}
		args, err := poolArgs(p)
		if err != nil {
			return err
		}
		if _, err := t.exec(`UPDATE pools SET attrs = ?, push_sync = ?, cognito_streams = ?, events = ?, created_ns = ? WHERE id = ?`,
			append(args, nsOrNull(p.Created), id)...); err != nil {
			return err
		}
		out = p
		return nil
	})
	if err != nil {
		return syncapi.Pool{}, wrapf("update pool %s: %w", id, err)
	}
	return out, nil
}

// DeletePool deletes the pool and everything below it: identities,
// credentials bound to them, datasets and records (including the
// remembered counters), devices, subscriptions, bulk state. ErrNotFound if
// the pool does not exist. It locks the pool row first, so writes below
// the pool (lockPool) either committed before it, and are deleted with it,
// or find the pool gone (fence.go).
func (db *DB) DeletePool(ctx context.Context, id string) error {
	if err := checkText(id); err != nil {
		return wrapf("delete pool: %w", err)
	}
	err := db.write(ctx, func(t *tx) error {
		var x string
		found, err := t.row(`SELECT id FROM pools WHERE id = ?`+db.d.forUpdate(), []any{id}, &x)
		if err != nil {
			return err
		}
		if !found {
			return notFound("identity pool %s not found", id)
		}
		for _, q := range []string{
			`DELETE FROM records WHERE dataset_id IN (SELECT id FROM datasets WHERE pool_id = ?)`,
			`DELETE FROM datasets WHERE pool_id = ?`,
			`DELETE FROM subscriptions WHERE pool_id = ?`,
			`DELETE FROM push_queue WHERE pool_id = ?`,
			`DELETE FROM devices WHERE pool_id = ?`,
			`DELETE FROM credentials WHERE pool_id = ?`,
			`DELETE FROM identity_logins WHERE pool_id = ?`,
			`DELETE FROM pool_roles WHERE pool_id = ?`,
			`DELETE FROM identities WHERE pool_id = ?`,
			`DELETE FROM import_state WHERE pool_id = ?`,
			`DELETE FROM pools WHERE id = ?`,
		} {
			if _, err := t.exec(q, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return wrapf("delete pool %s: %w", id, err)
	}
	return nil
}
