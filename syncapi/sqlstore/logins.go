package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

// Logins, merges, signing keys and pool roles (syncapi.LoginStore).
//
// A login is the primary key (pool_id, provider, subject) of
// identity_logins, so it belongs to one identity at most; concurrent links
// of one login meet on that key (INSERT … ON CONFLICT DO NOTHING, then read
// back). A merge runs in one transaction that locks both identity rows FOR
// UPDATE (in id order); writes of identity credentials take FOR KEY SHARE on
// their identity and require it not disabled (fence.go), so a write of the
// losing identity either commits before the merge, and is copied, or is
// refused after it.

var _ syncapi.LoginStore = (*DB)(nil)

// FindLogin returns the identity linked to the login.
func (db *DB) FindLogin(ctx context.Context, poolID string, l syncapi.Login) (string, error) {
	if err := checkText(poolID, l.Provider, l.Subject); err != nil {
		return "", wrapf("find login: %w", err)
	}
	var id string
	found, err := db.reader(ctx).row(`SELECT identity_id FROM identity_logins WHERE pool_id = ? AND provider = ? AND subject = ?`,
		[]any{poolID, l.Provider, l.Subject}, &id)
	if err == nil && !found {
		err = notFound("login not found")
	}
	if err != nil {
		return "", wrapf("find login %s: %w", l.Provider, err)
	}
	return id, nil
}

// identityCols are the identity columns of identityRow.
const identityCols = `id, pool_id, disabled, created_ns, modified_ns, merged_into`

type identityRow struct {
	info              syncapi.IdentityInfo
	created, modified sql.NullInt64
}

func (r *identityRow) dest() []any {
	return []any{&r.info.ID, &r.info.PoolID, &r.info.Disabled, &r.created, &r.modified, &r.info.MergedInto}
}

func (r *identityRow) done() syncapi.IdentityInfo {
	r.info.Created = fromNS(r.created)
	r.info.Modified = fromNS(r.modified)
	return r.info
}

// DescribeIdentity returns the identity with its logins.
func (db *DB) DescribeIdentity(ctx context.Context, identityID string) (syncapi.IdentityInfo, error) {
	if err := checkText(identityID); err != nil {
		return syncapi.IdentityInfo{}, wrapf("describe identity: %w", err)
	}
	var info syncapi.IdentityInfo
	err := db.read(ctx, func(t *tx) error {
		var r identityRow
		found, err := t.row(`SELECT `+identityCols+` FROM identities WHERE id = ?`, []any{identityID}, r.dest()...)
		if err != nil {
			return err
		}
		if !found {
			return notFound("identity %s not found", identityID)
		}
		info = r.done()
		info.Logins, err = loginsOf(t, []string{identityID}, func(string, syncapi.Login) {})
		return err
	})
	if err != nil {
		return syncapi.IdentityInfo{}, wrapf("describe identity %s: %w", identityID, err)
	}
	return info, nil
}

// loginsOf reads the logins of the identities, calling each with every one
// (identity order unspecified, logins of one identity ordered), and returns
// them all.
func loginsOf(t *tx, ids []string, each func(id string, l syncapi.Login)) ([]syncapi.Login, error) {
	cond, arg := t.db.d.keyIn("identity_id", ids)
	rows, err := t.query(`SELECT identity_id, provider, subject FROM identity_logins WHERE `+cond+` ORDER BY identity_id, provider, subject`, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var all []syncapi.Login
	for rows.Next() {
		var id string
		var l syncapi.Login
		if err := rows.Scan(&id, &l.Provider, &l.Subject); err != nil {
			return nil, err
		}
		each(id, l)
		all = append(all, l)
	}
	return all, rows.Err()
}

// ListIdentities returns identities of the pool ordered by id.
func (db *DB) ListIdentities(ctx context.Context, poolID, after string, limit int, hideDisabled bool) ([]syncapi.IdentityInfo, error) {
	if err := checkText(poolID, after); err != nil {
		return nil, wrapf("list identities: %w", err)
	}
	out := []syncapi.IdentityInfo{}
	err := db.read(ctx, func(t *tx) error {
		q := `SELECT ` + identityCols + ` FROM identities WHERE pool_id = ? AND id > ?`
		if hideDisabled {
			q += ` AND NOT disabled`
		}
		rows, err := t.query(q+` ORDER BY id LIMIT ?`, poolID, after, sqlLimit(limit))
		if err != nil {
			return err
		}
		index := map[string]int{}
		var ids []string
		for rows.Next() {
			var r identityRow
			if err := rows.Scan(r.dest()...); err != nil {
				rows.Close()
				return err
			}
			index[r.info.ID] = len(out)
			ids = append(ids, r.info.ID)
			out = append(out, r.done())
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		_, err = loginsOf(t, ids, func(id string, l syncapi.Login) {
			i := index[id]
			out[i].Logins = append(out[i].Logins, l)
		})
		return err
	})
	if err != nil {
		return nil, wrapf("list identities %s: %w", poolID, err)
	}
	return out, nil
}

// ListLogins returns logins of the pool at provider ordered by subject.
func (db *DB) ListLogins(ctx context.Context, poolID, provider, identityID, after string, limit int) ([]syncapi.Login, error) {
	if err := checkText(poolID, provider, identityID, after); err != nil {
		return nil, wrapf("list logins: %w", err)
	}
	rows, err := db.reader(ctx).query(`SELECT subject FROM identity_logins
WHERE pool_id = ? AND provider = ? AND (? = '' OR identity_id = ?) AND subject > ? ORDER BY subject LIMIT ?`,
		poolID, provider, identityID, identityID, after, sqlLimit(limit))
	if err != nil {
		return nil, wrapf("list logins %s: %w", poolID, err)
	}
	defer rows.Close()
	out := []syncapi.Login{}
	for rows.Next() {
		l := syncapi.Login{Provider: provider}
		if err := rows.Scan(&l.Subject); err != nil {
			return nil, wrapf("list logins %s: %w", poolID, err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapf("list logins %s: %w", poolID, err)
	}
	return out, nil
}

// lockIdentities locks the identity rows of ids (FOR UPDATE, in id order, on
// PostgreSQL) and returns those that exist in the pool.
func (db *DB) lockIdentities(t *tx, poolID string, ids ...string) (map[string]syncapi.IdentityInfo, error) {
	cond, arg := db.d.keyIn("id", ids)
	rows, err := t.query(`SELECT `+identityCols+` FROM identities WHERE `+cond+` AND pool_id = ? ORDER BY id`+db.d.forUpdate(), arg, poolID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]syncapi.IdentityInfo{}
	for rows.Next() {
		var r identityRow
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, err
		}
		out[r.info.ID] = r.done()
	}
	return out, rows.Err()
}

// Link finds or creates the identity of r.Logins (syncapi.LinkRequest).
func (db *DB) Link(ctx context.Context, r syncapi.LinkRequest) (syncapi.LinkResult, error) {
	if err := checkText(r.PoolID, r.IdentityID, r.NewID); err != nil {
		return syncapi.LinkResult{}, wrapf("link: %w", err)
	}
	for _, l := range r.Logins {
		if err := checkText(l.Provider, l.Subject); err != nil {
			return syncapi.LinkResult{}, wrapf("link: %w", err)
		}
	}
	if r.Now.IsZero() {
		r.Now = time.Now()
	}
	var res syncapi.LinkResult
	err := db.write(ctx, func(t *tx) error {
		var err error
		res, err = db.link(t, r)
		return err
	})
	if err != nil {
		return syncapi.LinkResult{}, wrapf("link logins in %s: %w", r.PoolID, err)
	}
	return res, nil
}

func (db *DB) link(t *tx, r syncapi.LinkRequest) (syncapi.LinkResult, error) {
	res := syncapi.LinkResult{}
	if err := db.lockPool(t, r.PoolID, 0, ""); err != nil {
		return res, err
	}
	owners := make([]string, len(r.Logins))
	for i, l := range r.Logins {
		if _, err := t.row(`SELECT identity_id FROM identity_logins WHERE pool_id = ? AND provider = ? AND subject = ?`+db.d.forUpdate(),
			[]any{r.PoolID, l.Provider, l.Subject}, &owners[i]); err != nil {
			return res, err
		}
	}
	// The winner: the owner of the first linked login, else the request's
	// identity, else a new one.
	winner := ""
	for _, o := range owners {
		if o != "" {
			winner = o
			break
		}
	}
	var losers []string
	addLoser := func(id string) {
		if id != "" && id != winner {
			for _, l := range losers {
				if l == id {
					return
				}
			}
			losers = append(losers, id)
		}
	}
	if r.IdentityID != "" {
		ids, err := db.lockIdentities(t, r.PoolID, r.IdentityID)
		if err != nil {
			return res, err
		}
		id, ok := ids[r.IdentityID]
		if !ok {
			return res, notFound("identity %s not found", r.IdentityID)
		}
		if id.Disabled {
			return res, syncapi.Errorf(syncapi.ErrConflict, "identity %s is disabled", r.IdentityID)
		}
		if winner == "" {
			winner = r.IdentityID
		}
		addLoser(r.IdentityID)
	}
	for _, o := range owners {
		addLoser(o)
	}
	if len(losers) > 0 && r.Conflict == syncapi.RefuseConflict {
		return res, syncapi.Errorf(syncapi.ErrDeveloperUserRegistered, "The developer user identifier is already registered with another identity.")
	}
	if winner == "" {
		if r.NewID == "" {
			return res, errors.New("link: NewID is required to create an identity")
		}
		if _, err := t.exec(`INSERT INTO identities (id, pool_id, disabled, created_ns, modified_ns) VALUES (?, ?, `+falseLit+`, ?, ?)`,
			r.NewID, r.PoolID, r.Now.UnixNano(), r.Now.UnixNano()); err != nil {
			return res, err
		}
		winner, res.Created = r.NewID, true
	}
	for _, l := range losers {
		if _, err := db.merge(t, r.PoolID, winner, l, r.Now); err != nil {
			return res, err
		}
	}
	res.IdentityID, res.Merged = winner, losers
	linked := false
	for i, l := range r.Logins {
		if owners[i] != "" {
			continue
		}
		n, err := t.exec(`INSERT INTO identity_logins (pool_id, provider, subject, identity_id, linked_ns) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (pool_id, provider, subject) DO NOTHING`, r.PoolID, l.Provider, l.Subject, winner, r.Now.UnixNano())
		if err != nil {
			return res, err
		}
		if k, err := n.RowsAffected(); err != nil {
			return res, err
		} else if k == 0 {
			// Linked meanwhile by another transaction (PostgreSQL): start
			// over, now seeing its owner.
			return res, errRetry
		}
		linked = true
	}
	if linked {
		if _, err := t.exec(`UPDATE identities SET modified_ns = ? WHERE id = ?`, r.Now.UnixNano(), winner); err != nil {
			return res, err
		}
	}
	if r.MaxLogins > 0 {
		var n int
		if _, err := t.row(`SELECT COUNT(*) FROM identity_logins WHERE identity_id = ?`, []any{winner}, &n); err != nil {
			return res, err
		}
		if n > r.MaxLogins {
			return res, syncapi.Errorf(syncapi.ErrLimitExceeded, "An identity can have at most %d logins.", r.MaxLogins)
		}
	}
	return res, nil
}

// Unlink removes one login from the identity.
func (db *DB) Unlink(ctx context.Context, poolID, identityID string, l syncapi.Login, now time.Time) error {
	if err := checkText(poolID, identityID, l.Provider, l.Subject); err != nil {
		return wrapf("unlink: %w", err)
	}
	err := db.write(ctx, func(t *tx) error {
		res, err := t.exec(`DELETE FROM identity_logins WHERE pool_id = ? AND provider = ? AND subject = ? AND identity_id = ?`,
			poolID, l.Provider, l.Subject, identityID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound("identity %s holds no such login", identityID)
		}
		_, err = t.exec(`UPDATE identities SET modified_ns = ? WHERE id = ?`, now.UnixNano(), identityID)
		return err
	})
	if err != nil {
		return wrapf("unlink %s from %s: %w", l.Provider, identityID, err)
	}
	return nil
}

// Merge merges loser into winner (syncapi.LoginStore.Merge).
func (db *DB) Merge(ctx context.Context, poolID, winner, loser string, now time.Time) (syncapi.MergeResult, error) {
	if err := checkText(poolID, winner, loser); err != nil {
		return syncapi.MergeResult{}, wrapf("merge: %w", err)
	}
	var res syncapi.MergeResult
	err := db.write(ctx, func(t *tx) error {
		if err := db.lockPool(t, poolID, 0, ""); err != nil {
			return err
		}
		var err error
		res, err = db.merge(t, poolID, winner, loser, now)
		return err
	})
	if err != nil {
		return syncapi.MergeResult{}, wrapf("merge %s into %s: %w", loser, winner, err)
	}
	return res, nil
}

// mergeHook, when set (tests), runs inside a merge's transaction after the
// copies were written and before the loser is disabled.
var mergeHook func()

func (db *DB) merge(t *tx, poolID, winner, loser string, now time.Time) (syncapi.MergeResult, error) {
	res := syncapi.MergeResult{}
	if winner == loser {
		return res, syncapi.Errorf(syncapi.ErrConflict, "an identity cannot be merged into itself")
	}
	ids, err := db.lockIdentities(t, poolID, winner, loser)
	if err != nil {
		return res, err
	}
	w, ok := ids[winner]
	if !ok {
		return res, notFound("identity %s not found", winner)
	}
	l, ok := ids[loser]
	if !ok {
		return res, notFound("identity %s not found", loser)
	}
	if l.Disabled && l.MergedInto == winner {
		res.Already = true
		return res, nil
	}
	if l.Disabled || w.Disabled {
		return res, syncapi.Errorf(syncapi.ErrConflict, "identity %s is disabled", map[bool]string{true: loser, false: winner}[l.Disabled])
	}
	if _, err := t.exec(`UPDATE identity_logins SET identity_id = ? WHERE identity_id = ?`, winner, loser); err != nil {
		return res, err
	}
	if err := db.d.lockIdentity(t, poolID, winner); err != nil {
		return res, err
	}
	// The loser's live datasets, each with its live records.
	type source struct {
		id   int64
		name string
		by   string
	}
	rows, err := t.query(`SELECT id, name, modified_by FROM datasets WHERE pool_id = ? AND identity_id = ? AND live ORDER BY name`, poolID, loser)
	if err != nil {
		return res, err
	}
	var sources []source
	for rows.Next() {
		var s source
		if err := rows.Scan(&s.id, &s.name, &s.by); err != nil {
			rows.Close()
			return res, err
		}
		sources = append(sources, s)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return res, err
	}
	nowMS := ms(now)
	for _, s := range sources {
		name := syncapi.MergedDatasetName(s.name, loser)
		k := syncapi.DatasetKey{PoolID: poolID, IdentityID: winner, Name: name}
		ds, found, err := db.selectDataset(t, k, true)
		if err != nil {
			return res, err
		}
		if found && ds.live {
			continue // cannot happen: a loser is merged once
		}
		if !found {
			if _, err := t.exec(`INSERT INTO datasets (pool_id, identity_id, name, live, sync_count) VALUES (?, ?, ?, `+falseLit+`, 0)`,
				poolID, winner, name); err != nil {
				return res, err
			}
			if ds, found, err = db.selectDataset(t, k, true); err != nil {
				return res, err
			} else if !found {
				return res, errors.New("dataset row vanished")
			}
		}
		recs, err := t.query(`SELECT key, value, size, device_ms FROM records WHERE dataset_id = ? AND value IS NOT NULL ORDER BY key`, s.id)
		if err != nil {
			return res, err
		}
		var out []recordRow
		for recs.Next() {
			var r recordRow
			var v string
			if err := recs.Scan(&r.key, &v, &r.size, &r.deviceMS); err != nil {
				recs.Close()
				return res, err
			}
			r.value = &v
			out = append(out, r)
		}
		if err := errors.Join(recs.Err(), recs.Close()); err != nil {
			return res, err
		}
		// A merge copy starts at SyncCount 1 (spec C.10), or continues
		// the counter of a deleted dataset of that name.
		ds.syncCount++
		ds.live = true
		ds.creationMS, ds.modifiedMS, ds.modifiedBy = nowMS, nowMS, s.by
		ds.numRecords, ds.dataStorage = int64(len(out)), 0
		ds.numTombstones, ds.tombstoneBytes = 0, 0
		for _, r := range out {
			ds.dataStorage += r.size
		}
		for _, r := range out {
			if _, err := t.exec(`INSERT INTO records (dataset_id, key, value, sync_count, size, modified_ms, modified_by, device_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`+upsertRecordTail, ds.id, r.key, r.value, ds.syncCount, r.size, nowMS, s.by, r.deviceMS); err != nil {
				return res, err
			}
		}
		if _, err := t.exec(`UPDATE datasets SET live = `+trueLit+`, sync_count = ?, creation_ms = ?, modified_ms = ?, modified_by = ?,
num_records = ?, data_storage = ?, num_tombstones = 0, tombstone_bytes = 0 WHERE id = ?`,
			ds.syncCount, ds.creationMS, ds.modifiedMS, ds.modifiedBy, ds.numRecords, ds.dataStorage, ds.id); err != nil {
			return res, err
		}
		if err := writeOutbox(t, ds, out); err != nil {
			return res, err
		}
		res.Copies = append(res.Copies, name)
	}
	if mergeHook != nil {
		mergeHook()
	}
	if _, err := t.exec(`UPDATE identities SET disabled = `+trueLit+`, merged_into = ?, modified_ns = ? WHERE id = ?`,
		winner, now.UnixNano(), loser); err != nil {
		return res, err
	}
	_, err = t.exec(`UPDATE identities SET modified_ns = ? WHERE id = ?`, now.UnixNano(), winner)
	return res, err
}

// DeleteIdentity deletes the identity, its logins and credentials. Its
// datasets stay, unreachable through identity credentials.
func (db *DB) DeleteIdentity(ctx context.Context, identityID string) error {
	if err := checkText(identityID); err != nil {
		return wrapf("delete identity: %w", err)
	}
	err := db.write(ctx, func(t *tx) error {
		var pool string
		found, err := t.row(`SELECT pool_id FROM identities WHERE id = ?`+db.d.forUpdate(), []any{identityID}, &pool)
		if err != nil {
			return err
		}
		if !found {
			return notFound("identity %s not found", identityID)
		}
		for _, q := range []string{
			`DELETE FROM identity_logins WHERE identity_id = ?`,
			`DELETE FROM credentials WHERE identity_id = ?`,
			`DELETE FROM identities WHERE id = ?`,
		} {
			if _, err := t.exec(q, identityID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return wrapf("delete identity %s: %w", identityID, err)
	}
	return nil
}

// SigningKeys returns the signing keys, newest first.
func (db *DB) SigningKeys(ctx context.Context) ([]syncapi.SigningKey, error) {
	rows, err := db.reader(ctx).query(`SELECT kid, pem, created_ns FROM signing_keys ORDER BY created_ns DESC, kid`)
	if err != nil {
		return nil, wrapf("signing keys: %w", err)
	}
	defer rows.Close()
	var out []syncapi.SigningKey
	for rows.Next() {
		var k syncapi.SigningKey
		var created int64
		if err := rows.Scan(&k.ID, &k.PEM, &created); err != nil {
			return nil, wrapf("signing keys: %w", err)
		}
		k.Created = time.Unix(0, created).UTC()
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapf("signing keys: %w", err)
	}
	return out, nil
}

// AddSigningKey stores k and keeps the keep newest keys.
func (db *DB) AddSigningKey(ctx context.Context, k syncapi.SigningKey, keep int, ifNone bool) error {
	if err := checkText(k.ID, k.PEM); err != nil {
		return wrapf("add signing key: %w", err)
	}
	keep = max(keep, 1)
	err := db.write(ctx, func(t *tx) error {
		q := `INSERT INTO signing_keys (kid, pem, created_ns) SELECT ?, ?, ?`
		if ifNone {
			q += ` WHERE NOT EXISTS (SELECT 1 FROM signing_keys)`
		}
		if _, err := t.exec(q, k.ID, k.PEM, k.Created.UnixNano()); err != nil {
			return err
		}
		_, err := t.exec(`DELETE FROM signing_keys WHERE kid NOT IN (SELECT kid FROM signing_keys ORDER BY created_ns DESC, kid LIMIT ?)`, keep)
		return err
	})
	if err != nil {
		return wrapf("add signing key: %w", err)
	}
	return nil
}

// PoolRoles returns the pool's stored roles document.
func (db *DB) PoolRoles(ctx context.Context, poolID string) ([]byte, error) {
	if err := checkText(poolID); err != nil {
		return nil, wrapf("pool roles: %w", err)
	}
	var roles sql.NullString
	var x string
	found, err := db.reader(ctx).row(`SELECT p.id, r.roles FROM pools p LEFT JOIN pool_roles r ON r.pool_id = p.id WHERE p.id = ?`,
		[]any{poolID}, &x, &roles)
	if err == nil && !found {
		err = notFound("identity pool %s not found", poolID)
	}
	if err != nil {
		return nil, wrapf("pool roles %s: %w", poolID, err)
	}
	if !roles.Valid {
		return nil, nil
	}
	return []byte(roles.String), nil
}

// SetPoolRoles replaces the pool's roles document.
func (db *DB) SetPoolRoles(ctx context.Context, poolID string, roles []byte) error {
	if err := checkText(poolID, string(roles)); err != nil {
		return wrapf("set pool roles: %w", err)
	}
	err := db.write(ctx, func(t *tx) error {
		if err := db.lockPool(t, poolID, 0, ""); err != nil {
			return err
		}
		_, err := t.exec(db.d.Upsert("pool_roles", []string{"pool_id", "roles"}, []string{"pool_id"}, []string{"roles"}), poolID, string(roles))
		return err
	})
	if err != nil {
		return wrapf("set pool roles %s: %w", poolID, err)
	}
	return nil
}
