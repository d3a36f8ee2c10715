-- Kinesis shard checkpoints by consumer group (pipeline/checkpoint, issue #3).
-- sequence_number is a decimal string of up to 128 bits ('' = none yet);
-- finished = 1 once the closed shard's last record was acknowledged.
CREATE TABLE kinesis_checkpoints (
    consumer_group  TEXT    NOT NULL,
    stream          TEXT    NOT NULL,
    shard_id        TEXT    NOT NULL,
    sequence_number TEXT    NOT NULL,
    finished        INTEGER NOT NULL DEFAULT 0,
    updated_at      TEXT    NOT NULL,
    PRIMARY KEY (consumer_group, stream, shard_id)
);
