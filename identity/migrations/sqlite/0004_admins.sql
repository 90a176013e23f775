-- Named admin credentials (user_version 3 of the releases before
-- migrations): only a hash of each token is stored. Names are unique
-- whatever their case, so the audit never shows two admins who differ
-- only in case.
CREATE TABLE admins (
	name       TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,
	role       TEXT NOT NULL,
	token_hash BLOB NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	created_by TEXT NOT NULL,
	last_used  INTEGER NOT NULL DEFAULT 0,
	revoked_at INTEGER NOT NULL DEFAULT 0,
	revoked_by TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
