-- Cognito Streams outbox (issue 3): one row per committed change of a
-- streaming pool, written in the change's transaction, deleted once
-- published. Readers never keep a "last id" cursor: a lower id may commit
-- after a higher one was read.
CREATE TABLE outbox (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	pool_id     TEXT COLLATE "C" NOT NULL,
	identity_id TEXT COLLATE "C" NOT NULL,
	dataset     TEXT COLLATE "C" NOT NULL,
	stream      TEXT COLLATE "C" NOT NULL,
	deleted     BOOLEAN NOT NULL DEFAULT FALSE,
	sync_count  BIGINT NOT NULL,
	modified_ms BIGINT NOT NULL,
	records     TEXT COLLATE "C" NOT NULL,   -- JSON array of outboxRecord
	created_ns  BIGINT NOT NULL
);

-- Named expiring leases: the outbox forwarder, bulk publish jobs.
CREATE TABLE leases (
	name       TEXT COLLATE "C" PRIMARY KEY,
	owner      TEXT COLLATE "C" NOT NULL,
	expires_ns BIGINT NOT NULL,
	data       TEXT COLLATE "C" NOT NULL DEFAULT ''
);
