-- Dataset deletions (spec D.2): the highest sync count at which each
-- dataset was deleted. Every record of the dataset at or below it is a
-- tombstone, also one that arrives later (a replay, a bulk publish read
-- before the deletion); records of the re-created dataset are above it.
CREATE TABLE {{.Deletions}} (
	identity_pool_id TEXT NOT NULL,
	identity_id      TEXT NOT NULL,
	dataset_name     TEXT NOT NULL,
	sync_count       BIGINT NOT NULL,
	last_modified    TIMESTAMPTZ,
	updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
	PRIMARY KEY (identity_pool_id, identity_id, dataset_name)
);
