-- A mail network's state on PostgreSQL, in the network's own schema:
-- SQLite's storeSchema, with BYTEA for BLOB and BIGINT for times (Unix
-- nanoseconds) and UIDs.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS mailbox_state (
	mailbox TEXT PRIMARY KEY, uidvalidity BIGINT NOT NULL, last_uid BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS threads (
	id TEXT PRIMARY KEY, persona TEXT NOT NULL, contact TEXT NOT NULL,
	subject TEXT NOT NULL, refs TEXT NOT NULL, updated_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS threads_conv ON threads(persona, contact, updated_at);
CREATE TABLE IF NOT EXISTS message_ids (
	message_id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, outbound INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sent_ids (message_id TEXT PRIMARY KEY, gateway_id TEXT NOT NULL);
