-- The embedded mode's durable in-process stream (pipeline/streamlog Log).
--
-- stream_log_shards numbers the records of each (stream, shard): last_seq
-- only grows, also when retention deletes every record, so a sequence
-- number is never reused and a consumer's checkpoint never points past a
-- record it has not seen.
CREATE TABLE stream_log_shards (
    stream   TEXT   NOT NULL,
    shard_id TEXT   NOT NULL,
    last_seq BIGINT NOT NULL,
    PRIMARY KEY (stream, shard_id)
);

-- One row per published message, in order per (stream, shard).
-- metadata is the message's Watermill metadata as a JSON object;
-- appended_at is Unix milliseconds (retention by age).
CREATE TABLE stream_log (
    stream        TEXT   NOT NULL,
    shard_id      TEXT   NOT NULL,
    seq           BIGINT NOT NULL,
    partition_key TEXT   NOT NULL,
    uuid          TEXT   NOT NULL,
    metadata      TEXT   NOT NULL,
    payload       BLOB   NOT NULL,
    appended_at   BIGINT NOT NULL,
    PRIMARY KEY (stream, shard_id, seq)
);
CREATE INDEX stream_log_appended_at ON stream_log (appended_at);

-- Consumer groups that read a stream: retention keeps every record that
-- one of them has not checkpointed yet.
CREATE TABLE stream_log_groups (
    stream         TEXT   NOT NULL,
    consumer_group TEXT   NOT NULL,
    registered_at  BIGINT NOT NULL,
    PRIMARY KEY (stream, consumer_group)
);
