-- Broadcasts, kept in the gateway's queue database so that a broadcast's
-- state commits with its copies: SQLite's schema on PostgreSQL (times are
-- Unix nanoseconds, reported is 0 or 1 as in SQLite).
CREATE TABLE IF NOT EXISTS broadcasts (
	id TEXT PRIMARY KEY,
	parent TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	actor TEXT NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	owner_id TEXT NOT NULL,
	team TEXT NOT NULL DEFAULT '',
	tag TEXT NOT NULL DEFAULT '',
	relationships TEXT NOT NULL DEFAULT '',
	subject TEXT NOT NULL DEFAULT '',
	body TEXT NOT NULL,
	state TEXT NOT NULL,
	decided_at BIGINT NOT NULL DEFAULT 0,
	queued INTEGER NOT NULL DEFAULT 0,
	skipped_cap INTEGER NOT NULL DEFAULT 0,
	skipped_gone INTEGER NOT NULL DEFAULT 0,
	skipped_unreachable INTEGER NOT NULL DEFAULT 0,
	reported INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS broadcasts_parent ON broadcasts(parent) WHERE parent <> '';
CREATE INDEX IF NOT EXISTS broadcasts_owner ON broadcasts(owner_id, state);
