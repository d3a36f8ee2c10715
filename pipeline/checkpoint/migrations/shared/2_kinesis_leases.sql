-- Shard leases by consumer group (pipeline/checkpoint, issue #4): while
-- expires_at (milliseconds since the Unix epoch, by the store's clock: the
-- database server's unless one is injected) is ahead, only owner reads the
-- shard. A released lease is deleted.
CREATE TABLE kinesis_leases (
    consumer_group TEXT   NOT NULL,
    stream         TEXT   NOT NULL,
    shard_id       TEXT   NOT NULL,
    owner          TEXT   NOT NULL,
    expires_at     BIGINT NOT NULL,
    PRIMARY KEY (consumer_group, stream, shard_id)
);

-- Owners competing for a stream's leases: a worker holding no lease yet is
-- counted when the others balance. Rows expired for an hour are deleted by
-- the heartbeats of the others.
CREATE TABLE kinesis_lease_owners (
    consumer_group TEXT   NOT NULL,
    stream         TEXT   NOT NULL,
    owner          TEXT   NOT NULL,
    expires_at     BIGINT NOT NULL,
    PRIMARY KEY (consumer_group, stream, owner)
);
