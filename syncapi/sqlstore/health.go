package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

// Health: whether writes commit. A store that answers reads but cannot
// commit (a full disk, PostgreSQL in recovery or out of space) must not look
// healthy to a load balancer.

const (
	// HealthProbeInterval is how often CheckHealth proves, with a write of
	// its own, that writes commit; calls in between reuse the answer, so
	// /healthz costs at most one small write per interval.
	HealthProbeInterval = time.Second
	// HealthWriteWindow is how long a write that failed for lack of the
	// database (syncapi.ErrUnavailable) keeps the store unhealthy, unless
	// a write succeeds meanwhile.
	HealthWriteWindow = 10 * time.Second
	// capReservePages is how many free pages below Config.MaxBytes a
	// SQLite database must have left to count as healthy.
	capReservePages = 16
)

// health is the state CheckHealth reads.
type health struct {
	owner string // this DB's row in the health table

	mu      sync.Mutex // one probe at a time
	probed  time.Time
	probeOK error

	failNS, okNS atomic.Int64 // latest write that failed transiently / succeeded
	failErr      atomic.Pointer[error]
}

func newHealth() *health {
	b := make([]byte, 8)
	rand.Read(b)
	return &health{owner: hex.EncodeToString(b)}
}

// noteWrite records the outcome of a write for CheckHealth.
func (db *DB) noteWrite(err error) {
	now := time.Now().UnixNano()
	switch {
	case err == nil:
		db.health.okNS.Store(now)
	case !isContextErr(err) && (errors.Is(err, syncapi.ErrUnavailable) || transient(err)):
		db.health.failErr.Store(&err)
		db.health.failNS.Store(now)
	}
}

// CheckHealth returns nil when writes commit, else an error that says why
// not (wrapping syncapi.ErrUnavailable). It is unhealthy when its own probe
// write (at most one per HealthProbeInterval, shared by concurrent callers)
// fails; when a real write failed for lack of the database within
// HealthWriteWindow and none succeeded since; and, on SQLite with
// Config.MaxBytes, when the file is at its cap. It recovers by itself: once
// the database is back the next probe and the next write succeed. Safe
// for concurrent use.
func (db *DB) CheckHealth(ctx context.Context) error {
	h := db.health
	now := time.Now()
	h.mu.Lock()
	if now.Sub(h.probed) >= HealthProbeInterval || now.Before(h.probed) {
		h.probeOK = db.probe(ctx)
		h.probed = time.Now()
	}
	err := h.probeOK
	h.mu.Unlock()
	if err != nil {
		return err
	}
	if fail := h.failNS.Load(); fail > h.okNS.Load() && now.UnixNano()-fail < int64(HealthWriteWindow) {
		last := errors.New("unknown")
		if p := h.failErr.Load(); p != nil {
			last = *p
		}
		return wrapf("%w: writes are failing: %w", syncapi.ErrUnavailable, last)
	}
	return nil
}

// probe commits a write of its own (not noted as a client's write) and, on
// a size-capped SQLite database, checks the room left under the cap.
func (db *DB) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var pages, free, maxPages int64
	now := time.Now()
	err := db.writeTx(ctx, func(t *tx) error {
		if _, err := t.exec(`INSERT INTO health (owner, at_ns) VALUES (?, ?) ON CONFLICT (owner) DO UPDATE SET at_ns = excluded.at_ns`,
			db.health.owner, now.UnixNano()); err != nil {
			return err
		}
		// Rows of processes gone for an hour: the table holds one row per
		// running process, not per start.
		if _, err := t.exec(`DELETE FROM health WHERE at_ns < ?`, now.Add(-time.Hour).UnixNano()); err != nil {
			return err
		}
		if db.capped {
			if _, err := t.row(`SELECT (SELECT page_count FROM pragma_page_count()), (SELECT freelist_count FROM pragma_freelist_count()),
	(SELECT max_page_count FROM pragma_max_page_count())`, nil, &pages, &free, &maxPages); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return wrapf("health probe: %w", err)
	}
	if db.capped && maxPages-(pages-free) < capReservePages {
		return wrapf("%w: the SQLite database is at its size cap (%d of %d pages in use)", syncapi.ErrUnavailable, pages-free, maxPages)
	}
	return nil
}
