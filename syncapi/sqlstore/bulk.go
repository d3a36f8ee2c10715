package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/cognitosync/cognitosync/syncapi"
)

// GetBulk returns the pool's bulk publish state (Status NOT_STARTED if never
// requested); ErrNotFound for an unknown pool.
func (db *DB) GetBulk(ctx context.Context, poolID string) (syncapi.BulkJob, error) {
	if err := checkText(poolID); err != nil {
		return syncapi.BulkJob{}, wrapf("get bulk: %w", err)
	}
	var j syncapi.BulkJob
	var started, completed sql.NullInt64
	found, err := db.reader(ctx).row(`SELECT bulk_status, bulk_started_ns, bulk_completed_ns, bulk_failure, bulk_owner FROM pools WHERE id = ?`,
		[]any{poolID}, &j.Status, &started, &completed, &j.FailureMessage, &j.Owner)
	if err == nil && !found {
		err = notFound("identity pool %s not found", poolID)
	}
	if err != nil {
		return syncapi.BulkJob{}, wrapf("get bulk %s: %w", poolID, err)
	}
	j.Started, j.Completed = fromNS(started), fromNS(completed)
	return j, nil
}

// StartBulk moves the pool's job to IN_PROGRESS owned by owner, started at
// now, unless one is in progress (ErrDuplicateRequest) or a successful run
// completed after notBefore (ErrAlreadyStreamed); a FAILED run does not
// count (spec D.3). ErrNotFound for an unknown pool.
func (db *DB) StartBulk(ctx context.Context, poolID, owner string, now, notBefore time.Time) error {
	if err := checkText(poolID, owner); err != nil {
		return wrapf("start bulk: %w", err)
	}
	err := db.write(ctx, func(t *tx) error {
		var status string
		var lastSuccess sql.NullInt64
		found, err := t.row(`SELECT bulk_status, bulk_last_success_ns FROM pools WHERE id = ?`+db.d.forUpdate(),
			[]any{poolID}, &status, &lastSuccess)
		if err != nil {
			return err
		}
		switch {
		case !found:
			return notFound("identity pool %s not found", poolID)
		case status == syncapi.BulkInProgress:
			return syncapi.Errorf(syncapi.ErrDuplicateRequest, "a bulk publish of identity pool %s is already in progress", poolID)
		case lastSuccess.Valid && fromNS(lastSuccess).After(notBefore):
			return syncapi.Errorf(syncapi.ErrAlreadyStreamed, "identity pool %s was bulk published successfully at %s; wait 24 hours after it",
				poolID, fromNS(lastSuccess).Format(time.RFC3339))
		}
		_, err = t.exec(`UPDATE pools SET bulk_status = ?, bulk_started_ns = ?, bulk_completed_ns = NULL, bulk_failure = '', bulk_owner = ? WHERE id = ?`,
			syncapi.BulkInProgress, nsOrNull(now), owner, poolID)
		return err
	})
	if err != nil {
		return wrapf("start bulk %s: %w", poolID, err)
	}
	return nil
}

// FinishBulk ends the pool's IN_PROGRESS job with status SUCCEEDED or
// FAILED (failure: the message), completed at now; a success starts the
// 24-hour window of StartBulk. ErrNotFound for an unknown pool, ErrConflict
// when no job is in progress.
func (db *DB) FinishBulk(ctx context.Context, poolID string, status, failure string, now time.Time) error {
	if err := checkText(poolID); err != nil {
		return wrapf("finish bulk: %w", err)
	}
	failure = sanitize(failure) // an error message, e.g. of the stream: storable on both stores
	if status != syncapi.BulkSucceeded && status != syncapi.BulkFailed {
		return wrapf("finish bulk %s: status %q is neither %s nor %s", poolID, status, syncapi.BulkSucceeded, syncapi.BulkFailed)
	}
	err := db.write(ctx, func(t *tx) error {
		var cur string
		found, err := t.row(`SELECT bulk_status FROM pools WHERE id = ?`+db.d.forUpdate(), []any{poolID}, &cur)
		if err != nil {
			return err
		}
		if !found {
			return notFound("identity pool %s not found", poolID)
		}
		if cur != syncapi.BulkInProgress {
			return syncapi.Errorf(syncapi.ErrConflict, "no bulk publish of identity pool %s is in progress (status %s)", poolID, cur)
		}
		if status == syncapi.BulkSucceeded {
			_, err = t.exec(`UPDATE pools SET bulk_status = ?, bulk_completed_ns = ?, bulk_failure = ?, bulk_last_success_ns = ? WHERE id = ?`,
				status, nsOrNull(now), failure, nsOrNull(now), poolID)
		} else {
			_, err = t.exec(`UPDATE pools SET bulk_status = ?, bulk_completed_ns = ?, bulk_failure = ? WHERE id = ?`,
				status, nsOrNull(now), failure, poolID)
		}
		return err
	})
	if err != nil {
		return wrapf("finish bulk %s: %w", poolID, err)
	}
	return nil
}
