-- Logged-in users (spec G.5, G.6).
--
-- identity_logins: one row per login linked to an identity; a login (pool,
-- provider, subject) belongs to one identity at most, so the same login
-- always maps to the same identity.
CREATE TABLE identity_logins (
	pool_id     TEXT NOT NULL,
	provider    TEXT NOT NULL,
	subject     TEXT NOT NULL,
	identity_id TEXT NOT NULL,
	linked_ns   INTEGER NOT NULL,
	PRIMARY KEY (pool_id, provider, subject)
);
CREATE INDEX identity_logins_identity ON identity_logins (identity_id, provider, subject);

-- modified_ns: the last link, unlink or merge (DescribeIdentity's
-- LastModifiedDate). merged_into: the identity that absorbed a disabled one.
ALTER TABLE identities ADD COLUMN modified_ns INTEGER;
ALTER TABLE identities ADD COLUMN merged_into TEXT NOT NULL DEFAULT '';
CREATE INDEX identities_pool_id ON identities (pool_id, id);

-- syncd's own OpenID token signing keys (PKCS #8 PEM), shared by every
-- replica; the newest signs.
CREATE TABLE signing_keys (
	kid        TEXT PRIMARY KEY,
	pem        TEXT NOT NULL,
	created_ns INTEGER NOT NULL
);

-- SetIdentityPoolRoles' input, kept as sent (JSON); it has no effect.
CREATE TABLE pool_roles (
	pool_id TEXT PRIMARY KEY,
	roles   TEXT NOT NULL
);
