-- The first release's schema (its PRAGMA user_version was 1).
--
-- Employees and personas are few and change shape as the product grows,
-- so they are stored as JSON documents. Contacts and relationships are
-- many (a million is a normal size) and are read in full at every start,
-- so they have one column per field: reading columns is several times
-- cheaper than decoding JSON. Times are Unix nanoseconds (UTC), 0 for
-- none; string lists are JSON arrays, NULL when empty.

CREATE TABLE employees (
	id  TEXT PRIMARY KEY NOT NULL,
	doc TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE personas (
	id  TEXT PRIMARY KEY NOT NULL,
	doc TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE contacts (
	id           TEXT PRIMARY KEY NOT NULL,
	network      TEXT NOT NULL,
	addr         TEXT NOT NULL,
	display_name TEXT NOT NULL DEFAULT '',
	source       TEXT NOT NULL DEFAULT '',
	tags         TEXT,
	created_at   INTEGER NOT NULL,
	UNIQUE (network, addr)
) WITHOUT ROWID;

CREATE TABLE relationships (
	id                 TEXT PRIMARY KEY NOT NULL,
	contact_id         TEXT NOT NULL,
	persona_id         TEXT NOT NULL,
	owner_id           TEXT NOT NULL DEFAULT '',
	former_persona_ids TEXT,
	merged_into        TEXT NOT NULL DEFAULT '',
	created_at         INTEGER NOT NULL,
	updated_at         INTEGER NOT NULL,
	version            INTEGER NOT NULL
) WITHOUT ROWID;

-- The audit log is append-only: no code path updates or deletes it, and
-- the triggers make SQLite itself refuse to.
CREATE TABLE audit (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	at      INTEGER NOT NULL,
	actor   TEXT NOT NULL,
	action  TEXT NOT NULL,
	reason  TEXT NOT NULL DEFAULT '',
	subject TEXT NOT NULL DEFAULT '',
	details TEXT
);
CREATE INDEX audit_action ON audit (action, seq);
CREATE INDEX audit_subject ON audit (subject, seq);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
