-- syncd store schema, SQLite. Times of records and datasets are epoch
-- milliseconds (the wire precision); other times are epoch nanoseconds.
CREATE TABLE pools (
	id                   TEXT PRIMARY KEY,
	attrs                TEXT NOT NULL,  -- JSON syncapi.IdentityPool
	push_sync            TEXT,           -- JSON syncapi.PushSync, NULL: not configured
	cognito_streams      TEXT,           -- JSON syncapi.CognitoStreams, NULL: not configured
	events               TEXT,           -- JSON map, NULL: none
	created_ns           INTEGER,
	sync_sessions        INTEGER NOT NULL DEFAULT 0,
	bulk_status          TEXT NOT NULL DEFAULT 'NOT_STARTED',
	bulk_started_ns      INTEGER,
	bulk_completed_ns    INTEGER,
	bulk_failure         TEXT NOT NULL DEFAULT '',
	bulk_owner           TEXT NOT NULL DEFAULT '',
	bulk_last_success_ns INTEGER         -- completion of the latest SUCCEEDED run
);

CREATE TABLE identities (
	id         TEXT PRIMARY KEY,
	pool_id    TEXT NOT NULL,
	disabled   INTEGER NOT NULL DEFAULT 0,
	created_ns INTEGER
);
CREATE INDEX identities_pool ON identities (pool_id);

CREATE TABLE credentials (
	access_key_id TEXT PRIMARY KEY,
	secret        TEXT NOT NULL,
	session_token TEXT NOT NULL,
	expires_ns    INTEGER,
	caller        TEXT NOT NULL,  -- JSON syncapi.Caller
	pool_id       TEXT NOT NULL   -- Caller.PoolID, '' for developer keys
);
CREATE INDEX credentials_pool ON credentials (pool_id);

-- A dataset row outlives DeleteDataset (live = 0) so that its counter never
-- decreases (spec C.2, C.8).
CREATE TABLE datasets (
	id           INTEGER PRIMARY KEY,
	pool_id      TEXT NOT NULL,
	identity_id  TEXT NOT NULL,
	name         TEXT NOT NULL,
	live         INTEGER NOT NULL,
	sync_count   INTEGER NOT NULL,
	deleted_at   INTEGER NOT NULL DEFAULT 0,
	creation_ms  INTEGER NOT NULL DEFAULT 0,
	modified_ms  INTEGER NOT NULL DEFAULT 0,
	modified_by  TEXT NOT NULL DEFAULT '',
	num_records  INTEGER NOT NULL DEFAULT 0,
	data_storage INTEGER NOT NULL DEFAULT 0,
	UNIQUE (pool_id, identity_id, name)
);

-- value NULL: tombstone. size: UTF-8 bytes of key + value, 0 for tombstones.
CREATE TABLE records (
	dataset_id  INTEGER NOT NULL,
	key         TEXT NOT NULL,
	value       TEXT,
	sync_count  INTEGER NOT NULL,
	size        INTEGER NOT NULL,
	modified_ms INTEGER NOT NULL,
	modified_by TEXT NOT NULL,
	device_ms   INTEGER NOT NULL,
	PRIMARY KEY (dataset_id, key)
);
CREATE INDEX records_sync ON records (dataset_id, sync_count, key);

CREATE TABLE devices (
	pool_id     TEXT NOT NULL,
	identity_id TEXT NOT NULL,
	device_id   TEXT NOT NULL,
	platform    TEXT NOT NULL,
	token       TEXT NOT NULL,
	PRIMARY KEY (pool_id, identity_id, device_id),
	UNIQUE (pool_id, identity_id, platform, token)
);

CREATE TABLE subscriptions (
	pool_id     TEXT NOT NULL,
	identity_id TEXT NOT NULL,
	dataset     TEXT NOT NULL,
	device_id   TEXT NOT NULL,
	PRIMARY KEY (pool_id, identity_id, dataset, device_id)
);

CREATE TABLE secrets (
	name  TEXT PRIMARY KEY,
	value BLOB NOT NULL
);
