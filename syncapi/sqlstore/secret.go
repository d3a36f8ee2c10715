package sqlstore

import (
	"context"
	"crypto/rand"
)

// secretSize is the length of a secret Secret creates.
const secretSize = 32

// Secret returns the named secret, creating 32 random bytes on first use.
// Concurrent first uses, also by other processes, agree on one value (an
// INSERT … ON CONFLICT DO NOTHING, then a read). Secrets never change, so
// they are cached.
func (db *DB) Secret(ctx context.Context, name string) ([]byte, error) {
	db.secretsMu.Lock()
	v, ok := db.secrets[name]
	db.secretsMu.Unlock()
	if ok {
		return append([]byte(nil), v...), nil
	}
	found, err := db.reader(ctx).row(`SELECT value FROM secrets WHERE name = ?`, []any{name}, &v)
	if err != nil {
		return nil, wrapf("secret %s: %w", name, err)
	}
	if !found {
		fresh := make([]byte, secretSize)
		rand.Read(fresh)
		err := db.write(ctx, func(t *tx) error {
			if _, err := t.exec(`INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, fresh); err != nil {
				return err
			}
			_, err := t.row(`SELECT value FROM secrets WHERE name = ?`, []any{name}, &v)
			return err
		})
		if err != nil {
			return nil, wrapf("secret %s: %w", name, err)
		}
	}
	db.secretsMu.Lock()
	db.secrets[name] = v
	db.secretsMu.Unlock()
	return append([]byte(nil), v...), nil
}
