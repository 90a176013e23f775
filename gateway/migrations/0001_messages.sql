-- The durable queue: one row per message received or written by the
-- gateway, with what it decided to send for it.
CREATE TABLE IF NOT EXISTS messages (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	received_at INTEGER NOT NULL,
	in_network TEXT NOT NULL, in_from TEXT NOT NULL, in_reply TEXT NOT NULL, in_to TEXT NOT NULL, in_id TEXT NOT NULL,
	relationship_id TEXT NOT NULL, owner_id TEXT NOT NULL,
	out_network TEXT NOT NULL, out_from TEXT NOT NULL, out_to TEXT NOT NULL, out_id TEXT NOT NULL,
	body TEXT NOT NULL, nick TEXT NOT NULL,
	refusal_condition TEXT NOT NULL, refusal_text TEXT NOT NULL, reply_to TEXT NOT NULL,
	notice INTEGER NOT NULL, subscribe INTEGER NOT NULL,
	subject TEXT NOT NULL DEFAULT '', thread TEXT NOT NULL DEFAULT '', auto TEXT NOT NULL DEFAULT '',
	state TEXT NOT NULL, last_error TEXT NOT NULL DEFAULT '', done_at INTEGER
);
CREATE INDEX IF NOT EXISTS messages_pending ON messages(seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS messages_out_id ON messages(out_network, out_id);
-- probe is the one row a failing store writes to find out it can commit again.
CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at INTEGER NOT NULL);
