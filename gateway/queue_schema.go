package gateway

import (
	"context"
	"database/sql"
	"fmt"
)

const queueSchema = `
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
CREATE TABLE IF NOT EXISTS broadcasts (
	id TEXT PRIMARY KEY,
	parent TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	actor TEXT NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	owner_id TEXT NOT NULL,
	team TEXT NOT NULL DEFAULT '',
	tag TEXT NOT NULL DEFAULT '',
	relationships TEXT NOT NULL DEFAULT '',
	subject TEXT NOT NULL DEFAULT '',
	body TEXT NOT NULL,
	state TEXT NOT NULL,
	decided_at INTEGER NOT NULL DEFAULT 0,
	queued INTEGER NOT NULL DEFAULT 0,
	skipped_cap INTEGER NOT NULL DEFAULT 0,
	skipped_gone INTEGER NOT NULL DEFAULT 0,
	skipped_unreachable INTEGER NOT NULL DEFAULT 0,
	reported INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS audit_outbox (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	actor TEXT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL, subject TEXT NOT NULL,
	details TEXT NOT NULL, at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS broadcasts_parent ON broadcasts(parent) WHERE parent <> '';
CREATE INDEX IF NOT EXISTS broadcasts_owner ON broadcasts(owner_id, state);
`

// queueIndexes are created after the migrations, because they name
// columns an older queue.db gains there.
const queueIndexes = `
CREATE INDEX IF NOT EXISTS messages_broadcast_contact ON messages(out_network, out_to, received_at) WHERE auto = 'broadcast';
CREATE INDEX IF NOT EXISTS messages_broadcast ON messages(broadcast, state) WHERE broadcast <> '';
CREATE INDEX IF NOT EXISTS messages_in_id ON messages(in_network, in_from, in_id) WHERE in_id <> '';
CREATE INDEX IF NOT EXISTS messages_texts ON messages(done_at) WHERE state <> 'pending' AND (body <> '' OR subject <> '');
`

// queueColumns are the columns added after the first release, with their
// definitions: a queue.db written by an older version gains them at open.
func queueColumns() [][2]string {
	return [][2]string{
		{"subject", "TEXT NOT NULL DEFAULT ''"},
		{"thread", "TEXT NOT NULL DEFAULT ''"},
		{"auto", "TEXT NOT NULL DEFAULT ''"},
		{"broadcast", "TEXT NOT NULL DEFAULT ''"},
		// content_hash identifies a message's text for deduplication.
		{"content_hash", "TEXT NOT NULL DEFAULT ''"},
	}
}

func migrateQueue(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info('messages')`)
	if err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("read schema: %w", err)
		}
		have[n] = true
	}
	rows.Close()
	for _, c := range queueColumns() {
		if have[c[0]] {
			continue
		}
		if _, err := db.ExecContext(ctx, "ALTER TABLE messages ADD COLUMN "+c[0]+" "+c[1]); err != nil {
			return fmt.Errorf("add column %s: %w", c[0], err)
		}
	}
	// Before content hashes, an ID was unique per sender forever: a
	// reused ID lost the later message. That index goes; rows it kept
	// get their hash so a redelivery of them is still recognised.
	if _, err := db.ExecContext(ctx, `DROP INDEX IF EXISTS messages_dedupe`); err != nil {
		return fmt.Errorf("drop the old deduplication index: %w", err)
	}
	if !have["content_hash"] {
		if err := hashOldRows(ctx, db); err != nil {
			return err
		}
	}
	return nil
}

// hashOldRows fills in content_hash for the rows with a sender's ID
// written before the column existed.
func hashOldRows(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("hash old rows: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT seq, subject, body FROM messages WHERE in_id <> '' AND content_hash = ''`)
	if err != nil {
		return fmt.Errorf("hash old rows: %w", err)
	}
	hashes := map[int64]string{}
	for rows.Next() {
		var seq int64
		var subject, body string
		if err := rows.Scan(&seq, &subject, &body); err != nil {
			rows.Close()
			return fmt.Errorf("hash old rows: %w", err)
		}
		hashes[seq] = contentHash(subject, body)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("hash old rows: %w", err)
	}
	for seq, h := range hashes {
		if _, err := tx.ExecContext(ctx, `UPDATE messages SET content_hash = ? WHERE seq = ?`, h, seq); err != nil {
			return fmt.Errorf("hash old rows: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("hash old rows: %w", err)
	}
	return nil
}
