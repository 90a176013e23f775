-- Relationships carry tags, a remark, their last activity and what
-- transfers need to revert them (user_version 2 of the releases before
-- migrations). Adding a column with a default rewrites no rows.
ALTER TABLE relationships ADD COLUMN tags TEXT;
ALTER TABLE relationships ADD COLUMN remark TEXT NOT NULL DEFAULT '';
ALTER TABLE relationships ADD COLUMN last_activity INTEGER NOT NULL DEFAULT 0;
ALTER TABLE relationships ADD COLUMN owner_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE relationships ADD COLUMN last_transfer_id TEXT NOT NULL DEFAULT '';

-- Bulk relationship writes not yet folded into the relationships table
-- (see SQLiteStore).
CREATE TABLE relationship_log (
	seq  INTEGER PRIMARY KEY,
	data BLOB NOT NULL
);
