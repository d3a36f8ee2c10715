package checkpoint

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cognitosync/cognitosync/internal/sqldb"
	"github.com/cognitosync/cognitosync/pipeline/stream"
)

// stmt is a lease statement whose clock is either an SQL expression (the
// database's) or a parameter (Config.LeaseNow).
type stmt struct {
	text string
	now  []bool // per parameter, in order: true where the clock goes
}

type leaseStmts struct {
	acquire, renew, release, list, heartbeat, prune, leave, owners stmt
}

// dbNow is the database clock in milliseconds since the Unix epoch. On
// PostgreSQL now() is the statement's transaction start, one value for the
// whole statement.
func dbNow(d sqldb.Dialect) string {
	if d == sqldb.Postgres {
		return "CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)"
	}
	return "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
}

// prepare turns a query with ? parameters and @now for the clock into a
// stmt of the store's dialect.
func (s *Store) prepare(q string) stmt {
	var st stmt
	var b strings.Builder
	for i := 0; i < len(q); {
		switch {
		case strings.HasPrefix(q[i:], "@now"):
			if s.c.LeaseNow != nil {
				b.WriteString("CAST(? AS BIGINT)")
				st.now = append(st.now, true)
			} else {
				b.WriteString("(" + dbNow(s.c.DB.Dialect) + ")")
			}
			i += len("@now")
		case q[i] == '?':
			st.now = append(st.now, false)
			b.WriteByte('?')
			i++
		default:
			b.WriteByte(q[i])
			i++
		}
	}
	st.text = s.c.DB.Dialect.Rebind(b.String())
	return st
}

// args interleaves the clock's reading with args.
func (s *Store) args(st stmt, args ...any) []any {
	var now int64
	if s.c.LeaseNow != nil {
		now = s.c.LeaseNow().UnixMilli()
	}
	out := make([]any, 0, len(st.now))
	for _, isNow := range st.now {
		if isNow {
			out = append(out, now)
		} else {
			out, args = append(out, args[0]), args[1:]
		}
	}
	return out
}

func (s *Store) leaseStatements() leaseStmts {
	const key = "consumer_group = ? AND stream = ?"
	return leaseStmts{
		// One conditional upsert: a free shard is inserted; a held one is
		// taken only when it is already the caller's or has expired, so
		// of owners racing for an expired lease exactly one wins.
		acquire: s.prepare(`INSERT INTO kinesis_leases (consumer_group, stream, shard_id, owner, expires_at)
VALUES (?, ?, ?, ?, @now + CAST(? AS BIGINT))
ON CONFLICT (consumer_group, stream, shard_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
WHERE kinesis_leases.owner = excluded.owner OR kinesis_leases.expires_at <= @now`),
		renew: s.prepare(`UPDATE kinesis_leases SET expires_at = @now + CAST(? AS BIGINT)
WHERE ` + key + ` AND shard_id = ? AND owner = ?`),
		release: s.prepare(`DELETE FROM kinesis_leases WHERE ` + key + ` AND shard_id = ? AND owner = ?`),
		list: s.prepare(`SELECT shard_id, owner, expires_at, CASE WHEN expires_at > @now THEN 1 ELSE 0 END
FROM kinesis_leases WHERE ` + key + ` ORDER BY shard_id`),
		heartbeat: s.prepare(`INSERT INTO kinesis_lease_owners (consumer_group, stream, owner, expires_at)
VALUES (?, ?, ?, @now + CAST(? AS BIGINT))
ON CONFLICT (consumer_group, stream, owner) DO UPDATE SET expires_at = excluded.expires_at`),
		prune: s.prepare(`DELETE FROM kinesis_lease_owners WHERE ` + key + ` AND expires_at < @now - 3600000`),
		leave: s.prepare(`DELETE FROM kinesis_lease_owners WHERE ` + key + ` AND owner = ?`),
		owners: s.prepare(`SELECT owner FROM kinesis_lease_owners WHERE ` + key + ` AND expires_at > @now
UNION SELECT owner FROM kinesis_leases WHERE ` + key + ` AND expires_at > @now ORDER BY 1`),
	}
}

// AcquireLease implements stream.LeaseStore.
func (s *Store) AcquireLease(ctx context.Context, group, topic, shardID, owner string, ttl time.Duration) (bool, error) {
	res, err := s.c.DB.DB.ExecContext(ctx, s.l.acquire.text, s.args(s.l.acquire, group, topic, shardID, owner, ttl.Milliseconds())...)
	if err != nil {
		return false, fmt.Errorf("acquire lease %s/%s/%s: %w", group, topic, shardID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("acquire lease %s/%s/%s: %w", group, topic, shardID, err)
	}
	return n == 1, nil
}

// RenewLease implements stream.LeaseStore.
func (s *Store) RenewLease(ctx context.Context, group, topic, shardID, owner string, ttl time.Duration) (bool, error) {
	res, err := s.c.DB.DB.ExecContext(ctx, s.l.renew.text, s.args(s.l.renew, ttl.Milliseconds(), group, topic, shardID, owner)...)
	if err != nil {
		return false, fmt.Errorf("renew lease %s/%s/%s: %w", group, topic, shardID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("renew lease %s/%s/%s: %w", group, topic, shardID, err)
	}
	return n == 1, nil
}

// ReleaseLease implements stream.LeaseStore.
func (s *Store) ReleaseLease(ctx context.Context, group, topic, shardID, owner string) error {
	if _, err := s.c.DB.DB.ExecContext(ctx, s.l.release.text, s.args(s.l.release, group, topic, shardID, owner)...); err != nil {
		return fmt.Errorf("release lease %s/%s/%s: %w", group, topic, shardID, err)
	}
	return nil
}

// Leases implements stream.LeaseStore.
func (s *Store) Leases(ctx context.Context, group, topic string) ([]stream.Lease, error) {
	rows, err := s.c.DB.Read.QueryContext(ctx, s.l.list.text, s.args(s.l.list, group, topic)...)
	if err != nil {
		return nil, fmt.Errorf("leases %s/%s: %w", group, topic, err)
	}
	defer rows.Close()
	var out []stream.Lease
	for rows.Next() {
		var l stream.Lease
		var exp, live int64
		if err := rows.Scan(&l.ShardID, &l.Owner, &exp, &live); err != nil {
			return nil, fmt.Errorf("leases %s/%s: %w", group, topic, err)
		}
		l.Expires, l.Live = time.UnixMilli(exp), live != 0
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("leases %s/%s: %w", group, topic, err)
	}
	return out, nil
}

// Heartbeat implements stream.LeaseStore. It also deletes the rows of
// owners gone for an hour.
func (s *Store) Heartbeat(ctx context.Context, group, topic, owner string, ttl time.Duration) error {
	var err error
	if ttl <= 0 {
		_, err = s.c.DB.DB.ExecContext(ctx, s.l.leave.text, s.args(s.l.leave, group, topic, owner)...)
	} else if _, err = s.c.DB.DB.ExecContext(ctx, s.l.heartbeat.text, s.args(s.l.heartbeat, group, topic, owner, ttl.Milliseconds())...); err == nil {
		_, err = s.c.DB.DB.ExecContext(ctx, s.l.prune.text, s.args(s.l.prune, group, topic)...)
	}
	if err != nil {
		return fmt.Errorf("lease heartbeat %s/%s/%s: %w", group, topic, owner, err)
	}
	return nil
}

// Owners implements stream.LeaseStore.
func (s *Store) Owners(ctx context.Context, group, topic string) ([]string, error) {
	rows, err := s.c.DB.Read.QueryContext(ctx, s.l.owners.text, s.args(s.l.owners, group, topic, group, topic)...)
	if err != nil {
		return nil, fmt.Errorf("lease owners %s/%s: %w", group, topic, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			return nil, fmt.Errorf("lease owners %s/%s: %w", group, topic, err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lease owners %s/%s: %w", group, topic, err)
	}
	return out, nil
}
