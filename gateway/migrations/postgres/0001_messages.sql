-- The durable queue on PostgreSQL: the schema SQLite's migrations 1 to 6
-- arrive at, in one step. A flag (notice, subscribe) is an integer, 0 or
-- 1, as in SQLite, so that the statements are the same in both; times
-- are Unix nanoseconds. seq comes from the database (an identity
-- column): instances sharing the store never compute it themselves.
CREATE TABLE IF NOT EXISTS messages (
	seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	received_at BIGINT NOT NULL,
	in_network TEXT NOT NULL, in_from TEXT NOT NULL, in_reply TEXT NOT NULL, in_to TEXT NOT NULL, in_id TEXT NOT NULL,
	relationship_id TEXT NOT NULL, owner_id TEXT NOT NULL,
	out_network TEXT NOT NULL, out_from TEXT NOT NULL, out_to TEXT NOT NULL, out_id TEXT NOT NULL,
	body TEXT NOT NULL, nick TEXT NOT NULL,
	refusal_condition TEXT NOT NULL, refusal_text TEXT NOT NULL, reply_to TEXT NOT NULL,
	notice INTEGER NOT NULL, subscribe INTEGER NOT NULL,
	subject TEXT NOT NULL DEFAULT '', thread TEXT NOT NULL DEFAULT '', auto TEXT NOT NULL DEFAULT '',
	broadcast TEXT NOT NULL DEFAULT '', content_hash TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL, last_error TEXT NOT NULL DEFAULT '', done_at BIGINT,
	parts TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS messages_pending ON messages(seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS messages_out_id ON messages(out_network, out_id);
CREATE INDEX IF NOT EXISTS messages_broadcast_contact ON messages(out_network, out_to, received_at) WHERE auto = 'broadcast';
CREATE INDEX IF NOT EXISTS messages_broadcast ON messages(broadcast, state) WHERE broadcast <> '';
CREATE INDEX IF NOT EXISTS messages_in_id ON messages(in_network, in_from, in_id) WHERE in_id <> '';
CREATE INDEX IF NOT EXISTS messages_expire ON messages(done_at) WHERE state <> 'pending' AND out_id <> '';
CREATE INDEX IF NOT EXISTS messages_sender_parts ON messages(in_network, in_from, received_at) WHERE parts <> '';
-- probe is the one row a failing store writes to find out it can commit again.
CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at BIGINT NOT NULL);
-- Audit entries of acts committed in the queue, until they are copied to
-- the identity store's audit log (see Tx.Audit).
CREATE TABLE IF NOT EXISTS audit_outbox (
	id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	actor TEXT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL, subject TEXT NOT NULL,
	details TEXT NOT NULL, at BIGINT NOT NULL
);
