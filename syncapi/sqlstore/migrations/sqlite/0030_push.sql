-- Push sync (spec F.4): the SNS platform endpoint kept with a device, and
-- the push queue. A committed change of a dataset writes one row per
-- subscribed device but the writer's, in the change's transaction; a row
-- that is still waiting takes the next change's sync count instead (one
-- notification per device and dataset per burst). version grows with each
-- such change, so that the dispatcher deletes only what it sent.
ALTER TABLE devices ADD COLUMN endpoint TEXT NOT NULL DEFAULT '';

CREATE TABLE push_queue (
	pool_id     TEXT NOT NULL,
	identity_id TEXT NOT NULL,
	dataset     TEXT NOT NULL,
	device_id   TEXT NOT NULL,
	sync_count  INTEGER NOT NULL,
	version     INTEGER NOT NULL DEFAULT 1,
	created_ns  INTEGER NOT NULL, -- first change of the burst: the coalescing window runs from it
	due_ns      INTEGER NOT NULL DEFAULT 0, -- not before (retries)
	attempts    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (pool_id, identity_id, dataset, device_id)
);
CREATE INDEX push_queue_created ON push_queue (created_ns);
