-- Cognito Streams outbox (issue 3): one row per committed change of a
-- streaming pool, written in the change's transaction, deleted once
-- published. AUTOINCREMENT: ids are never reused, so an id names one change.
CREATE TABLE outbox (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	pool_id     TEXT NOT NULL,
	identity_id TEXT NOT NULL,
	dataset     TEXT NOT NULL,
	stream      TEXT NOT NULL,
	deleted     INTEGER NOT NULL DEFAULT 0,
	sync_count  INTEGER NOT NULL,
	modified_ms INTEGER NOT NULL,
	records     TEXT NOT NULL,   -- JSON array of outboxRecord
	created_ns  INTEGER NOT NULL
);

-- Named expiring leases: the outbox forwarder, bulk publish jobs.
CREATE TABLE leases (
	name       TEXT PRIMARY KEY,
	owner      TEXT NOT NULL,
	expires_ns INTEGER NOT NULL,
	data       TEXT NOT NULL DEFAULT ''
);
