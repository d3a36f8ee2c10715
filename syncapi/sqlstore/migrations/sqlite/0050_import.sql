-- syncd import: the progress of a pool's import from another Cognito Sync,
-- kept in the target store so that an interrupted import resumes. Deleted
-- with the pool.
CREATE TABLE import_state (
	pool_id TEXT PRIMARY KEY,
	state   TEXT NOT NULL
);
