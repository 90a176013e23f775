package gateway

import (
	"context"
	"database/sql"
	"fmt"
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
// written before its commit (its Seq matters to no one later), with
// nothing to translate or audit, and not possibly a copy of a stored one
// (seen). Its dedupe key is noted at once, so that a copy later in the
// same batch goes the one-by-one way and finds it.
func (q *Queue) runnable(r *Record) bool {
	if !r.sentFirst || len(r.inRefs) > 0 || r.audit != nil || !r.plainText("") ||
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
	if q.dialect == sqldb.Postgres {
		return q.insertRunReturning(ctx, tx.StmtContext(ctx, st), args, rs)
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

// insertRunReturning is insertRun on PostgreSQL: the database gives each
// row its sequence number, which need not be consecutive (other
// instances may write to the same table), and returns them in the order
// of the rows. Rows returned but fewer than rs, or more, fail the run.
func (q *Queue) insertRunReturning(ctx context.Context, st *sql.Stmt, args []any, rs []*Record) error {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("queue: insert: %w", err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		if i == len(rs) {
			return fmt.Errorf("queue: insert: %d rows returned for %d", i+1, len(rs))
		}
		if err := rows.Scan(&rs[i].Seq); err != nil {
			return fmt.Errorf("queue: insert: %w", err)
		}
		rs[i].Out.Seq = rs[i].Seq
		i++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("queue: insert: %w", err)
	}
	if i != len(rs) {
		return fmt.Errorf("queue: insert: %d rows returned for %d", i, len(rs))
	}
	return nil
}

// prepareRuns prepares the inserts of runs of every length, once: the
// writer has one connection, which a transaction holds, so none can be
// prepared during a commit.
func (q *Queue) prepareRuns(ctx context.Context) error {
	q.runs = make([]*sql.Stmt, textRun)
	for n := 1; n <= textRun; n++ {
		st, err := q.db.PrepareContext(ctx, q.insertSQL(runSQL(n)))
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
