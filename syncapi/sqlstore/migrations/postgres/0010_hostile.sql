-- Limits and revocation that hold under hostile clients.
--
-- pools.generation: a random number per pool. Identity credentials carry the
-- generation of the pool they were issued in, and every write checks it in
-- its transaction, so credentials of a deleted pool never work on a pool
-- re-created with the same id.
ALTER TABLE pools ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
UPDATE pools SET generation = floor(random() * 4e18)::bigint + 1 WHERE generation = 0;

-- Credentials name their identity and pool generation in columns, for the
-- revocation check and for the collector of expired credentials and idle
-- identities.
ALTER TABLE credentials ADD COLUMN identity_id TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE credentials ADD COLUMN pool_generation BIGINT NOT NULL DEFAULT 0;
UPDATE credentials SET
	identity_id = COALESCE(caller::jsonb ->> 'IdentityID', ''),
	pool_generation = COALESCE((SELECT generation FROM pools WHERE pools.id = credentials.pool_id), 0);
CREATE INDEX credentials_expires ON credentials (expires_ns);
CREATE INDEX credentials_identity ON credentials (identity_id);
CREATE INDEX identities_created ON identities (created_ns);

-- Tombstones are bounded like live records: their number and key bytes are
-- kept per dataset, and the oldest are dropped beyond the dataset limits;
-- purged_at is the highest SyncCount dropped (devices that synced before it
-- are told to refresh the whole dataset).
ALTER TABLE datasets ADD COLUMN num_tombstones BIGINT NOT NULL DEFAULT 0;
ALTER TABLE datasets ADD COLUMN tombstone_bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE datasets ADD COLUMN purged_at BIGINT NOT NULL DEFAULT 0;
UPDATE datasets SET
	num_tombstones = (SELECT COUNT(*) FROM records r WHERE r.dataset_id = datasets.id AND r.value IS NULL),
	tombstone_bytes = (SELECT COALESCE(SUM(octet_length(r.key)), 0) FROM records r
		WHERE r.dataset_id = datasets.id AND r.value IS NULL);

-- One row per process: /healthz proves a write commits by updating it.
CREATE TABLE health (
	owner TEXT COLLATE "C" PRIMARY KEY,
	at_ns BIGINT NOT NULL
);
