package gateway

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kakehashi/kakehashi/routing"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// Record is one message in the durable queue: what arrived, and what the
// gateway decided to send for it.
type Record struct {
	Seq        int64
	ReceivedAt time.Time
	// Inbound side.
	InNetwork string
	InFrom    string // bare sender address
	InReply   string // full address to answer the sender at
	InTo      string
	InID      string // sender's ID; deduplicates redelivery when not empty
	// Broadcast is the ID of the broadcast this message is part of.
	Broadcast string
	// State is pending, sent or failed, as last read from the queue.
	State string
	// Decision.
	RelationshipID string
	OwnerID        string
	Out            Outgoing
}

// Queue is the durable message queue (SQLite, WAL, synchronous=FULL).
// Writes go through one goroutine that commits them in batches (group
// commit): one fsync covers every message that arrived meanwhile, and no
// caller is told its message is stored before that fsync.
type Queue struct {
	db   *sql.DB
	ins  *sql.Stmt // prepared once: parsing SQL per batch showed in profiles
	mark *sql.Stmt
	ops  chan queueOp
	// stopped is closed when Run returns: what is handed over later is
	// never committed.
	stopped chan struct{}
}

type queueOp struct {
	insert *Record
	// done is called after the commit with dup set when insert was a
	// redelivery already stored.
	done func(dup bool, err error)
	// mark updates the state of an existing record.
	markSeq   int64
	markState string
	markErr   string
	// exec runs inside the batch's transaction, after the inserts and
	// marks before it; an error fails the whole batch, so it returns one
	// only when the database does.
	exec func(ctx context.Context, tx *queueTx) error
}

// Record states.
const (
	statePending = "pending"
	stateSent    = "sent"
	stateFailed  = "failed"
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
CREATE UNIQUE INDEX IF NOT EXISTS messages_dedupe ON messages(in_network, in_from, in_id) WHERE in_id <> '';
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
CREATE INDEX IF NOT EXISTS broadcasts_parent ON broadcasts(parent) WHERE parent <> '';
CREATE INDEX IF NOT EXISTS broadcasts_owner ON broadcasts(owner_id, state);
`

// queueIndexes are created after the migrations, because they name
// columns an older queue.db gains there.
const queueIndexes = `
CREATE INDEX IF NOT EXISTS messages_broadcast_contact ON messages(out_network, out_to, received_at) WHERE auto = 'broadcast';
CREATE INDEX IF NOT EXISTS messages_broadcast ON messages(broadcast, state) WHERE broadcast <> '';
`

// OpenQueue opens (creating if needed) the queue database at path.
func OpenQueue(ctx context.Context, path string) (*Queue, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open queue %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, queueSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create queue schema in %s: %w", path, err)
	}
	if err := migrateQueue(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("queue %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, queueIndexes); err != nil {
		db.Close()
		return nil, fmt.Errorf("create queue indexes in %s: %w", path, err)
	}
	q := &Queue{db: db, ops: make(chan queueOp, 4096), stopped: make(chan struct{})}
	if q.ins, err = db.PrepareContext(ctx, insertSQL); err != nil {
		db.Close()
		return nil, fmt.Errorf("queue: prepare insert: %w", err)
	}
	if q.mark, err = db.PrepareContext(ctx, `UPDATE messages SET state = ?, last_error = ?, done_at = ? WHERE seq = ?`); err != nil {
		db.Close()
		return nil, fmt.Errorf("queue: prepare update: %w", err)
	}
	return q, nil
}

// queueColumns are the columns added after the first release, with their
// definitions: a queue.db written by an older version gains them at open.
func queueColumns() [][2]string {
	return [][2]string{
		{"subject", "TEXT NOT NULL DEFAULT ''"},
		{"thread", "TEXT NOT NULL DEFAULT ''"},
		{"auto", "TEXT NOT NULL DEFAULT ''"},
		{"broadcast", "TEXT NOT NULL DEFAULT ''"},
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
	return nil
}

// Close closes the database. Call it after Run has returned.
func (q *Queue) Close() error { return q.db.Close() }

// Enqueue asks for rec to be stored; done runs on the queue goroutine after
// the commit (or its failure). It blocks only when the queue is full.
func (q *Queue) Enqueue(ctx context.Context, rec *Record, done func(dup bool, err error)) error {
	select {
	case q.ops <- queueOp{insert: rec, done: done}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Mark records the outcome of a send. It is committed with the next batch;
// a crash before that commit only means the message is sent again with the
// same ID after restart.
func (q *Queue) Mark(ctx context.Context, seq int64, state, lastErr string) {
	q.MarkThen(ctx, seq, state, lastErr, nil)
}

// MarkThen is Mark, calling done on the queue goroutine after the commit.
func (q *Queue) MarkThen(ctx context.Context, seq int64, state, lastErr string, done func(err error)) {
	op := queueOp{markSeq: seq, markState: state, markErr: lastErr}
	if done != nil {
		op.done = func(_ bool, err error) { done(err) }
	}
	select {
	case q.ops <- op:
	case <-ctx.Done():
	}
}

// Exec runs fn in the queue's next write transaction, serialized with
// every insert and mark, and waits for the commit. fn sees the rows
// committed before it and inserts through tx.Insert; its error aborts the
// batch (and so every other operation in it), so fn returns one only when
// the database fails, never for a decision it made.
func (q *Queue) Exec(ctx context.Context, fn func(ctx context.Context, tx *queueTx) error) error {
	errc := make(chan error, 1)
	select {
	case q.ops <- queueOp{exec: fn, done: func(_ bool, err error) { errc <- err }}:
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once handed over, the operation commits or fails even when ctx ends
	// (the queue drains at shutdown): wait for the outcome.
	select {
	case err := <-errc:
		return err
	case <-q.stopped:
		select {
		case err := <-errc:
			return err
		default:
			return errQueueStopped
		}
	}
}

var errQueueStopped = errors.New("queue: stopped")

// queueTx is the write transaction an Exec function runs in.
type queueTx struct {
	*sql.Tx
	ins *sql.Stmt
}

// Insert stores r, reporting whether it was new (not a redelivery).
func (tx *queueTx) Insert(ctx context.Context, r *Record) (bool, error) {
	res, err := tx.ins.ExecContext(ctx, r.ReceivedAt.UnixNano(),
		r.InNetwork, r.InFrom, r.InReply, r.InTo, r.InID,
		r.RelationshipID, r.OwnerID,
		r.Out.Network, r.Out.From, r.Out.To, r.Out.ID, r.Out.Body, r.Out.Nick,
		refusalCondition(r), refusalText(r), r.Out.ReplyTo,
		r.Out.Notice, r.Out.Subscribe, r.Out.Subject, r.Out.Thread, r.Out.Auto, r.Broadcast, statePending)
	if err != nil {
		return false, fmt.Errorf("queue: insert: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("queue: insert: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return false, fmt.Errorf("queue: insert: %w", err)
	}
	r.Seq, r.Out.Seq = seq, seq
	return true, nil
}

// Run commits queued operations in batches until ctx ends, then drains
// what is already queued.
func (q *Queue) Run(ctx context.Context) error {
	defer close(q.stopped)
	const maxBatch = 1024
	batch := make([]queueOp, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case op := <-q.ops:
			batch = append(batch, op)
		case <-ctx.Done():
			// Drain what callers already handed over, then stop.
			for {
				select {
				case op := <-q.ops:
					batch = append(batch, op)
					if len(batch) == maxBatch {
						q.commit(batch)
						batch = batch[:0]
					}
				default:
					q.commit(batch)
					return nil
				}
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case op := <-q.ops:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		q.commit(batch)
	}
}

func (q *Queue) commit(batch []queueOp) {
	if len(batch) == 0 {
		return
	}
	dups := make([]bool, len(batch))
	err := q.commitOnce(batch, dups)
	for i, op := range batch {
		if op.done != nil {
			op.done(dups[i], err)
		}
	}
}

func (q *Queue) commitOnce(batch []queueOp, dups []bool) (err error) {
	// The commit must finish even when the gateway is shutting down: a
	// caller may be waiting for it.
	ctx := context.Background()
	inserts := false
	for _, op := range batch {
		inserts = inserts || op.insert != nil || op.exec != nil
	}
	if !inserts {
		// Only send outcomes: losing them in a power cut means a message is
		// sent again with the same ID, never lost, so they skip the fsync.
		// The next commit with new messages syncs the WAL up to it anyway.
		if _, err := q.db.ExecContext(ctx, "PRAGMA synchronous=OFF"); err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		defer func() {
			if _, perr := q.db.ExecContext(ctx, "PRAGMA synchronous=FULL"); perr != nil && err == nil {
				err = fmt.Errorf("queue: %w", perr)
			}
		}()
	}
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("queue: begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	qtx := &queueTx{Tx: tx, ins: tx.StmtContext(ctx, q.ins)}
	var mark *sql.Stmt
	for i, op := range batch {
		switch {
		case op.insert != nil:
			isNew, err := qtx.Insert(ctx, op.insert)
			if err != nil {
				return err
			}
			dups[i] = !isNew
		case op.exec != nil:
			if err := op.exec(ctx, qtx); err != nil {
				return err
			}
		default:
			if mark == nil {
				mark = tx.StmtContext(ctx, q.mark)
			}
			if _, err := mark.ExecContext(ctx, op.markState, op.markErr, time.Now().UnixNano(), op.markSeq); err != nil {
				return fmt.Errorf("queue: update %d: %w", op.markSeq, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("queue: commit: %w", err)
	}
	return nil
}

const insertSQL = `INSERT INTO messages (received_at,
	in_network, in_from, in_reply, in_to, in_id, relationship_id, owner_id,
	out_network, out_from, out_to, out_id, body, nick,
	refusal_condition, refusal_text, reply_to, notice, subscribe, subject, thread, auto, broadcast, state)
	VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
	ON CONFLICT DO NOTHING`

func refusalCondition(r *Record) string {
	if r.Out.Refusal == nil {
		return ""
	}
	return string(r.Out.Refusal.Condition)
}

func refusalText(r *Record) string {
	if r.Out.Refusal == nil {
		return ""
	}
	return r.Out.Refusal.Text
}

const selectSQL = `SELECT seq, received_at, in_network, in_from, in_reply, in_to, in_id,
	relationship_id, owner_id, out_network, out_from, out_to, out_id, body, nick,
	refusal_condition, refusal_text, reply_to, notice, subscribe, subject, thread, auto, broadcast, state FROM messages `

// Pending returns the messages not yet sent, oldest first.
func (q *Queue) Pending(ctx context.Context) ([]*Record, error) {
	rows, err := q.db.QueryContext(ctx, selectSQL+`WHERE state = 'pending' ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("queue: pending: %w", err)
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ByOutID finds the record of a message the gateway sent on network with id.
func (q *Queue) ByOutID(ctx context.Context, network, id string) (*Record, error) {
	row := q.db.QueryRowContext(ctx, selectSQL+`WHERE out_network = ? AND out_id = ?`, network, id)
	r, err := scanRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return r, err
}

// Stats counts records per state.
func (q *Queue) Stats(ctx context.Context) (map[string]int64, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT state, count(*) FROM messages GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("queue: stats: %w", err)
	}
	defer rows.Close()
	m := map[string]int64{}
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("queue: stats: %w", err)
		}
		m[s] = n
	}
	return m, rows.Err()
}

type scanner interface{ Scan(...any) error }

func scanRecord(s scanner) (*Record, error) {
	var r Record
	var at int64
	var cond, text string
	err := s.Scan(&r.Seq, &at, &r.InNetwork, &r.InFrom, &r.InReply, &r.InTo, &r.InID,
		&r.RelationshipID, &r.OwnerID, &r.Out.Network, &r.Out.From, &r.Out.To, &r.Out.ID,
		&r.Out.Body, &r.Out.Nick, &cond, &text, &r.Out.ReplyTo, &r.Out.Notice, &r.Out.Subscribe,
		&r.Out.Subject, &r.Out.Thread, &r.Out.Auto, &r.Broadcast, &r.State)
	if err != nil {
		return nil, fmt.Errorf("queue: scan: %w", err)
	}
	r.ReceivedAt = time.Unix(0, at)
	r.Out.Seq = r.Seq
	if cond != "" {
		r.Out.Refusal = &routing.Refusal{Condition: routing.Condition(cond), Text: text}
	}
	return &r, nil
}
