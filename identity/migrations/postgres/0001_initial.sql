-- The PostgreSQL schema: what SQLite's migrations 1 to 4 built, in
-- PostgreSQL's words (its history starts here, at version 1).
--
-- The same shape as SQLite's, so that one store's code writes both:
-- employees and personas as JSON documents, contacts and relationships
-- with one column per field, times as Unix nanoseconds (UTC, 0 for none),
-- string lists as JSON arrays in text (NULL when empty). Text compares
-- byte by byte (COLLATE "C"), as in SQLite, whatever the database's
-- locale: IDs sort the same on both, and the indexes need no locale.

CREATE TABLE employees (
	id  TEXT COLLATE "C" PRIMARY KEY,
	doc TEXT NOT NULL
);

CREATE TABLE personas (
	id  TEXT COLLATE "C" PRIMARY KEY,
	doc TEXT NOT NULL
);

CREATE TABLE contacts (
	id           TEXT COLLATE "C" PRIMARY KEY,
	network      TEXT COLLATE "C" NOT NULL,
	addr         TEXT COLLATE "C" NOT NULL,
	display_name TEXT NOT NULL DEFAULT '',
	source       TEXT NOT NULL DEFAULT '',
	tags         TEXT,
	created_at   BIGINT NOT NULL,
	UNIQUE (network, addr)
);

CREATE TABLE relationships (
	id                 TEXT COLLATE "C" PRIMARY KEY,
	contact_id         TEXT COLLATE "C" NOT NULL,
	persona_id         TEXT COLLATE "C" NOT NULL,
	owner_id           TEXT COLLATE "C" NOT NULL DEFAULT '',
	former_persona_ids TEXT,
	merged_into        TEXT COLLATE "C" NOT NULL DEFAULT '',
	created_at         BIGINT NOT NULL,
	updated_at         BIGINT NOT NULL,
	version            BIGINT NOT NULL,
	tags               TEXT,
	remark             TEXT NOT NULL DEFAULT '',
	last_activity      BIGINT NOT NULL DEFAULT 0,
	owner_version      BIGINT NOT NULL DEFAULT 0,
	last_transfer_id   TEXT COLLATE "C" NOT NULL DEFAULT '',
	gone               TEXT NOT NULL DEFAULT '',
	gone_at            BIGINT NOT NULL DEFAULT 0
);

-- Bulk relationship writes not yet folded into the relationships table
-- (see SQLStore).
CREATE TABLE relationship_log (
	seq  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	data BYTEA NOT NULL
);

-- The audit log is append-only: no code path updates or deletes it, and
-- the triggers make PostgreSQL itself refuse to (TRUNCATE included).
-- Sequence numbers rise in commit order (the store takes a lock for the
-- insert, see SQLStore), so paging by AfterSeq misses nothing; a rolled
-- back commit leaves a gap.
CREATE TABLE audit (
	seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at      BIGINT NOT NULL,
	actor   TEXT NOT NULL,
	action  TEXT COLLATE "C" NOT NULL,
	reason  TEXT NOT NULL DEFAULT '',
	subject TEXT COLLATE "C" NOT NULL DEFAULT '',
	details TEXT
);
CREATE INDEX audit_action ON audit (action, seq);
CREATE INDEX audit_subject ON audit (subject, seq);
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit log is append-only';
END
$$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- Named admin credentials: only a hash of each token is stored. Names are
-- unique whatever their case (SQLite's COLLATE NOCASE; names are ASCII,
-- so lower() is the same fold), so the audit never shows two admins who
-- differ only in case.
CREATE TABLE admins (
	name       TEXT COLLATE "C" PRIMARY KEY,
	role       TEXT NOT NULL,
	token_hash BYTEA NOT NULL UNIQUE,
	created_at BIGINT NOT NULL,
	created_by TEXT NOT NULL,
	last_used  BIGINT NOT NULL DEFAULT 0,
	revoked_at BIGINT NOT NULL DEFAULT 0,
	revoked_by TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX admins_name_nocase ON admins (lower(name));
