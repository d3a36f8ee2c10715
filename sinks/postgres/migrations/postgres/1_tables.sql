-- Current state: one row per record, the change with the highest SyncCount
-- seen; a remove stays as a tombstone row (deleted, value NULL) so that an
-- older replace replayed later cannot bring the record back.
{{if .Schema}}CREATE SCHEMA IF NOT EXISTS {{.Schema}};
{{end}}CREATE TABLE {{.Records}} (
	identity_pool_id     TEXT NOT NULL,
	identity_id          TEXT NOT NULL,
	dataset_name         TEXT NOT NULL,
	key                  TEXT NOT NULL,
	value                TEXT,
	op                   TEXT NOT NULL,
	deleted              BOOLEAN NOT NULL,
	sync_count           BIGINT NOT NULL,
	last_modified        TIMESTAMPTZ,
	device_last_modified TIMESTAMPTZ,
	dataset_sync_count   BIGINT NOT NULL,
	updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY (identity_pool_id, identity_id, dataset_name, key)
);

-- Change log (Config.ChangeLog): every distinct change once, in arrival order.
CREATE TABLE {{.Changes}} (
	id                   BIGSERIAL PRIMARY KEY,
	identity_pool_id     TEXT NOT NULL,
	identity_id          TEXT NOT NULL,
	dataset_name         TEXT NOT NULL,
	key                  TEXT NOT NULL,
	value                TEXT,
	op                   TEXT NOT NULL,
	sync_count           BIGINT NOT NULL,
	last_modified        TIMESTAMPTZ,
	device_last_modified TIMESTAMPTZ,
	dataset_sync_count   BIGINT NOT NULL,
	logged_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
	UNIQUE (identity_pool_id, identity_id, dataset_name, key, sync_count)
);
