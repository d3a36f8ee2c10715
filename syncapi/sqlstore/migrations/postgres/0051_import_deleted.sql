-- syncd import: when the source deleted the dataset (its DeleteDataset at
-- deleted_at, as the stream told), epoch milliseconds; 0: unknown.
ALTER TABLE datasets ADD COLUMN deleted_ms BIGINT NOT NULL DEFAULT 0;
