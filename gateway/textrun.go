package gateway

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/internal/sqldb"
)

// textRun is how many relayed texts one INSERT stores at most. Stored one
// statement each, a text's row cost the queue's single writer as much in
// database/sql and driver overhead (and in the AUTOINCREMENT counter's
// update) as in SQLite's own work; a run of them shares it.
const textRun = 32

// runnable reports whether r can be stored in a run (insertRun): a text
// written before its commit (its Seq matters to no one later; on
// PostgreSQL, where each row's number is returned, a text stored first
// too), with nothing to translate or audit, and not possibly a copy of a
// stored one (seen). Its dedupe key is noted at once, so that a copy
// later in the same batch goes the one-by-one way and finds it.
func (q *Queue) runnable(r *Record) bool {
	if (!r.sentFirst && q.dialect != sqldb.Postgres) || len(r.inRefs) > 0 || r.audit != nil || !r.plainText("") ||
		len(r.Out.Files) > 0 || len(r.Out.Refs) > 0 || len(r.Out.Reactions) > 0 || r.Out.ChatState != "" {
		return false
	}
	if r.hash == "" {
		r.hash = contentHash(r.Out.Subject, r.Out.Body, "")
	}
	if r.InID == "" {
		return true
	}
	now := time.Now()
	key := dedupeKey(r, r.hash)
	if q.seen.mayHave(key, now) {
		return false
	}
	q.seen.add(key, now)
	return true
}

// insertRun stores rs, which runnable accepted, with one statement.
func (q *Queue) insertRun(ctx context.Context, tx *sql.Tx, rs []*Record) error {
	if q.dialect == sqldb.Postgres {
		return q.insertRunPostgres(ctx, tx, rs)
	}
	st := q.runs[len(rs)-1]
	args := make([]any, 0, len(rs)*runColumns)
	done := time.Now().UnixNano()
	for _, r := range rs {
		r.empty = false
		args = append(args, r.ReceivedAt.UnixNano(),
			r.InNetwork, r.InFrom, r.InReply, r.InTo, r.InID,
			r.RelationshipID, r.OwnerID,
			r.Out.Network, r.Out.From, r.Out.To, r.Out.ID, r.Out.Body, r.Out.Nick,
			r.hash, done)
	}
	res, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("queue: insert: %w", err)
	}
	last, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("queue: insert: %w", err)
	}
	// One statement's rows take consecutive sequence numbers (the queue
	// has one writer, and AUTOINCREMENT counts on from the largest).
	for i, r := range rs {
		r.Seq = last - int64(len(rs)-1-i)
		r.Out.Seq = r.Seq
	}
	return nil
}

// pgTextRun is textRun on PostgreSQL, where one statement (runPostgresSQL)
// takes a run of any length as arrays: each statement is a round trip
// to the server, so a batch is best stored with as few as possible.
const pgTextRun = 1024

// runPostgresSQL is runSQL on PostgreSQL: the rows' values come as one
// array per column, in order (WITH ORDINALITY … ORDER BY), each row's
// state too (sent when written before its commit, else pending; done_at
// is $17 for those sent), and their sequence numbers are returned.
const runPostgresSQL = `INSERT INTO messages (` + textColumns + `)
	SELECT received_at, in_network, in_from, in_reply, in_to, in_id, relationship_id, owner_id,
		out_network, out_from, out_to, out_id, body, nick, '', '', '', 0, 0, content_hash, state,
		CASE WHEN state = '` + StateSent + `' THEN $17::bigint END
	FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[])
		WITH ORDINALITY AS r(received_at, in_network, in_from, in_reply, in_to, in_id, relationship_id, owner_id,
		out_network, out_from, out_to, out_id, body, nick, content_hash, state, n)
	ORDER BY n
	RETURNING seq`

// insertRunPostgres is insertRun on PostgreSQL. The database gives each
// row its sequence number, which need not be consecutive (other
// instances may write to the same table); the rows are inserted in
// order, so their numbers, taken from the identity's sequence one row
// after another, rise with it: sorted, the numbers returned are the
// records' in order, whatever order RETURNING gives them in.
func (q *Queue) insertRunPostgres(ctx context.Context, tx *sql.Tx, rs []*Record) error {
	at := make([]int64, 0, len(rs))
	cols := make([][]string, 15)
	for i := range cols {
		cols[i] = make([]string, 0, len(rs))
	}
	for _, r := range rs {
		r.empty = false
		at = append(at, r.ReceivedAt.UnixNano())
		state := StatePending
		if r.sentFirst {
			state = StateSent
		}
		for i, v := range [...]string{r.InNetwork, r.InFrom, r.InReply, r.InTo, r.InID,
			r.RelationshipID, r.OwnerID, r.Out.Network, r.Out.From, r.Out.To, r.Out.ID, r.Out.Body, r.Out.Nick, r.hash, state} {
			cols[i] = append(cols[i], v)
		}
	}
	args := make([]any, 0, 17)
	args = append(args, at)
	for _, c := range cols {
		args = append(args, c)
	}
	args = append(args, time.Now().UnixNano())
	rows, err := tx.StmtContext(ctx, q.runs[0]).QueryContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("queue: insert: %w", err)
	}
	defer rows.Close()
	seqs := make([]int64, 0, len(rs))
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return fmt.Errorf("queue: insert: %w", err)
		}
		seqs = append(seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("queue: insert: %w", err)
	}
	if len(seqs) != len(rs) {
		return fmt.Errorf("queue: insert: %d rows returned for %d", len(seqs), len(rs))
	}
	slices.Sort(seqs)
	for i, r := range rs {
		r.Seq, r.Out.Seq = seqs[i], seqs[i]
	}
	return nil
}

// runLimit is how many texts one run stores at most in the queue's
// dialect.
func (q *Queue) runLimit() int {
	if q.dialect == sqldb.Postgres {
		return pgTextRun
	}
	return textRun
}

// prepareRuns prepares the inserts of runs of every length, once: the
// writer has one connection, which a transaction holds, so none can be
// prepared during a commit.
func (q *Queue) prepareRuns(ctx context.Context) error {
	if q.dialect == sqldb.Postgres {
		st, err := q.db.PrepareContext(ctx, runPostgresSQL)
		if err != nil {
			return fmt.Errorf("queue: prepare insert: %w", err)
		}
		q.runs = []*sql.Stmt{st}
		return nil
	}
	q.runs = make([]*sql.Stmt, textRun)
	for n := 1; n <= textRun; n++ {
		st, err := q.db.PrepareContext(ctx, runSQL(n))
		if err != nil {
			return fmt.Errorf("queue: prepare insert: %w", err)
		}
		q.runs[n-1] = st
	}
	return nil
}

// runColumns is how many values insertRun binds per row.
const runColumns = 16

// runSQL is insertTextSQL for n rows, each stored as sent.
func runSQL(n int) string {
	row := "(" + textValues + ",'" + StateSent + "',?)"
	return `INSERT INTO messages (` + textColumns + `) VALUES ` + strings.TrimSuffix(strings.Repeat(row+",", n), ",")
}
