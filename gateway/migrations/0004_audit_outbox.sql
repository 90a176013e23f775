-- Audit entries of acts committed in the queue, until they are copied to
-- the identity store's audit log (see Tx.Audit).
CREATE TABLE IF NOT EXISTS audit_outbox (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	actor TEXT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL, subject TEXT NOT NULL,
	details TEXT NOT NULL, at INTEGER NOT NULL
);
