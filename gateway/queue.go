package gateway

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
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
	// InID is the sender's ID. When not empty, a record with the same
	// sender, ID, recipient and text (body and subject) received within
	// DedupeWindow is a redelivery and is not stored again.
	InID string
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
// caller is told its message is stored before that fsync. Reads (Pending,
// ByOutID, Stats, listings) use connections of their own: WAL lets them
// read the last commit while the writer goes on, so a scan never stalls
// delivery.
type Queue struct {
	db   *sql.DB // the writer's one connection
	ro   *sql.DB // read-only connections
	ins  *sql.Stmt
	dup  *sql.Stmt
	mark *sql.Stmt
	ops  chan queueOp
	// stopped is closed when Run returns: what is handed over later is
	// never committed.
	stopped chan struct{}

	// closing refuses new operations once Run is told to stop; handing
	// counts the operations being handed over meanwhile, which Run waits
	// for so that none is left in ops after its last commit.
	handMu  sync.Mutex
	closing bool
	handing sync.WaitGroup

	// retry holds marks whose commit failed: they go again with the next
	// batch. Only Run's goroutine touches it.
	retry []queueOp

	healthMu sync.Mutex
	storeErr error // the last commit's failure; nil once one succeeds
}

// DedupeWindow is how long a message's ID is remembered to recognise its
// redelivery: a message from the same sender with the same ID, recipient
// and text arriving within it is dropped (and counted) as a duplicate.
// Redelivery (an IMAP mail offered again after a restart, a client
// resending on reconnect) happens within minutes or hours; a day bounds
// how long a client that reuses IDs (counters are common) can lose an
// identical text to an old one.
const DedupeWindow = 24 * time.Hour

type queueOp struct {
	insert *Record
	// done is called after the commit with dup set when insert was a
	// redelivery already stored.
	done func(dup bool, err error)
	// mark updates the state of an existing record.
	markSeq   int64
	markState string
	markErr   string
	markAt    time.Time
	// exec runs inside the batch's transaction, after the inserts and
	// marks before it; its error fails the operation (see Exec).
	exec func(ctx context.Context, tx *Tx) error
}

func (op *queueOp) isMark() bool { return op.insert == nil && op.exec == nil }

// Record states.
const (
	StatePending = "pending" // not yet sent
	StateSent    = "sent"    // handed to its network
	StateFailed  = "failed"  // given up; its author was told
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

// OpenQueue opens (creating if needed) the queue database at path.
func OpenQueue(ctx context.Context, path string) (*Queue, error) {
	const pragmas = "_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)"
	db, err := sql.Open("sqlite", "file:"+path+"?"+pragmas)
	if err != nil {
		return nil, fmt.Errorf("open queue %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	q := &Queue{db: db, ops: make(chan queueOp, 4096), stopped: make(chan struct{})}
	if err := q.open(ctx, path); err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

func (q *Queue) open(ctx context.Context, path string) error {
	if _, err := q.db.ExecContext(ctx, queueSchema); err != nil {
		return fmt.Errorf("create queue schema in %s: %w", path, err)
	}
	if err := migrateQueue(ctx, q.db); err != nil {
		return fmt.Errorf("queue %s: %w", path, err)
	}
	if _, err := q.db.ExecContext(ctx, queueIndexes); err != nil {
		return fmt.Errorf("create queue indexes in %s: %w", path, err)
	}
	// Readers: query_only refuses writes on them; the file is in WAL mode
	// already, so each reads the last commit without waiting for the writer.
	ro, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return fmt.Errorf("open queue %s for reading: %w", path, err)
	}
	ro.SetMaxOpenConns(4)
	q.ro = ro
	if q.ins, err = q.db.PrepareContext(ctx, insertSQL); err != nil {
		return fmt.Errorf("queue: prepare insert: %w", err)
	}
	if q.dup, err = q.db.PrepareContext(ctx, dupSQL); err != nil {
		return fmt.Errorf("queue: prepare insert: %w", err)
	}
	if q.mark, err = q.db.PrepareContext(ctx, `UPDATE messages SET state = ?, last_error = ?, done_at = ? WHERE seq = ?`); err != nil {
		return fmt.Errorf("queue: prepare update: %w", err)
	}
	return nil
}

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

// contentHash identifies a message's text: its subject and body.
func contentHash(subject, body string) string {
	h := sha256.New()
	h.Write([]byte(subject))
	h.Write([]byte{0})
	h.Write([]byte(body))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Close closes the database. Call it after Run has returned.
func (q *Queue) Close() error {
	var err error
	if q.ro != nil {
		err = q.ro.Close()
	}
	return errors.Join(q.db.Close(), err)
}

// hand gives op to Run. It fails only when ctx ends while the queue is
// full, or once Run was told to stop; an operation handed over is
// committed (or fails) before Run returns.
func (q *Queue) hand(ctx context.Context, op queueOp) error {
	q.handMu.Lock()
	if q.closing {
		q.handMu.Unlock()
		return errQueueStopped
	}
	q.handing.Add(1)
	q.handMu.Unlock()
	defer q.handing.Done()
	// Room in the queue takes the op whatever ctx says: a select would
	// pick a ctx that has just ended half the time and drop the op.
	select {
	case q.ops <- op:
		return nil
	default:
	}
	select {
	case q.ops <- op:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Enqueue asks for rec to be stored; done runs on the queue goroutine after
// the commit (or its failure). It blocks only when the queue is full: ctx
// bounds that wait. A caller that must not lose rec at shutdown passes a
// context that outlives its own (the queue stops only after the gateway's
// readers have).
func (q *Queue) Enqueue(ctx context.Context, rec *Record, done func(dup bool, err error)) error {
	return q.hand(ctx, queueOp{insert: rec, done: done})
}

// Mark records the outcome of a send. It is committed with the next batch;
// a crash before that commit only means the message is sent again with the
// same ID after restart.
func (q *Queue) Mark(ctx context.Context, seq int64, state, lastErr string) {
	q.MarkThen(ctx, seq, state, lastErr, nil)
}

// MarkThen is Mark, calling done on the queue goroutine after the commit.
// A mark is never dropped because ctx ended (a lost "sent" mark would
// send the message again after a restart): it waits for room in the
// queue, and a failed commit is retried with the next batch. Only a
// queue already stopped refuses it (done gets the error).
func (q *Queue) MarkThen(ctx context.Context, seq int64, state, lastErr string, done func(err error)) {
	op := queueOp{markSeq: seq, markState: state, markErr: lastErr, markAt: time.Now()}
	if done != nil {
		op.done = func(_ bool, err error) { done(err) }
	}
	if err := q.hand(context.WithoutCancel(ctx), op); err != nil && done != nil {
		done(err)
	}
}

// Exec runs fn in one of the queue's write transactions, serialized with
// every insert and mark, and waits for the commit. fn sees the rows
// committed before it and inserts through tx.Insert. fn may run more than
// once (when its batch fails, each operation is tried again on its own),
// so it sets its results afresh each time; its error fails it alone, so
// it returns one only when the database fails, never for a decision it
// made.
func (q *Queue) Exec(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	errc := make(chan error, 1)
	if err := q.hand(ctx, queueOp{exec: fn, done: func(_ bool, err error) { errc <- err }}); err != nil {
		return err
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

// StoreError is the failure of the queue's last commit, or nil when it
// succeeded (or nothing was committed yet): while it is not nil the
// gateway cannot store messages.
func (q *Queue) StoreError() error {
	q.healthMu.Lock()
	defer q.healthMu.Unlock()
	return q.storeErr
}

func (q *Queue) setStoreError(err error) {
	q.healthMu.Lock()
	q.storeErr = err
	q.healthMu.Unlock()
}

// Tx is the write transaction an Exec function runs in. Its *sql.Tx is
// for the caller's own tables in the queue's database (outreach keeps its
// broadcasts there, so that they commit with their copies); the messages
// table is written and read only through Tx's and Queue's methods.
type Tx struct {
	*sql.Tx
	ins, dup *sql.Stmt
	// audited is set when the transaction wrote to the audit outbox.
	audited bool
}

// Insert stores r, reporting whether it was new (not a redelivery).
func (tx *Tx) Insert(ctx context.Context, r *Record) (bool, error) {
	hash := contentHash(r.Out.Subject, r.Out.Body)
	if r.InID != "" {
		// A separate read, not INSERT … WHERE NOT EXISTS: that form makes
		// SQLite keep a statement journal per row, which cost four times
		// the insert itself.
		var one int
		err := tx.dup.QueryRowContext(ctx, r.InNetwork, r.InFrom, r.InID, r.InTo, hash, r.ReceivedAt.Add(-DedupeWindow).UnixNano()).Scan(&one)
		switch {
		case err == nil:
			return false, nil
		case !errors.Is(err, sql.ErrNoRows):
			return false, fmt.Errorf("queue: insert: %w", err)
		}
	}
	res, err := tx.ins.ExecContext(ctx, r.ReceivedAt.UnixNano(),
		r.InNetwork, r.InFrom, r.InReply, r.InTo, r.InID,
		r.RelationshipID, r.OwnerID,
		r.Out.Network, r.Out.From, r.Out.To, r.Out.ID, r.Out.Body, r.Out.Nick,
		refusalReason(r), refusalText(r), r.Out.ReplyTo,
		r.Out.Kind == KindNotice, r.Out.Subscribe, r.Out.Subject, r.Out.Thread, autoColumn(r.Out.Kind), r.Broadcast,
		hash, StatePending)
	if err != nil {
		return false, fmt.Errorf("queue: insert: %w", err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return false, fmt.Errorf("queue: insert: %w", err)
	}
	r.Seq, r.Out.Seq = seq, seq
	return true, nil
}

// markRetryInterval is how soon marks whose commit failed are tried
// again when no other operation comes to carry them, and how often a
// failing store is probed when nothing else is written.
const markRetryInterval = time.Second

// probe is a write that tells whether the store can commit again (a full
// disk freed): health is back without waiting for the next message.
func probe(ctx context.Context, tx *Tx) error {
	_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO probe (id, at) VALUES (1, ?)`, time.Now().UnixNano())
	return err
}

// Run commits queued operations in batches until ctx ends, then refuses
// new ones and commits every one already handed over before it returns.
func (q *Queue) Run(ctx context.Context) error {
	defer close(q.stopped)
	const maxBatch = 1024
	batch := make([]queueOp, 0, maxBatch)
	retry := time.NewTimer(markRetryInterval)
	defer retry.Stop()
	for {
		batch = batch[:0]
		if len(q.retry) > 0 || q.StoreError() != nil {
			retry.Reset(markRetryInterval)
		}
		select {
		case op := <-q.ops:
			batch = append(batch, op)
		case <-retry.C:
			switch {
			case len(q.retry) > 0:
			case q.StoreError() != nil:
				batch = append(batch, queueOp{exec: probe})
			default:
				continue
			}
		case <-ctx.Done():
			q.drain(batch, maxBatch)
			return nil
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

// drain stops the queue: no operation is taken any more, and every one
// already handed over (or being handed over now) is committed.
func (q *Queue) drain(batch []queueOp, maxBatch int) {
	q.handMu.Lock()
	q.closing = true
	q.handMu.Unlock()
	handed := make(chan struct{})
	go func() { q.handing.Wait(); close(handed) }()
	for {
		select {
		case op := <-q.ops:
			batch = append(batch, op)
			if len(batch) == maxBatch {
				q.commit(batch)
				batch = batch[:0]
			}
			continue
		case <-handed:
		}
		break
	}
	// Nobody hands anything over any more: what is in ops is all there is.
	for {
		select {
		case op := <-q.ops:
			batch = append(batch, op)
			continue
		default:
		}
		break
	}
	q.commit(batch)
	if len(q.retry) > 0 {
		// One last try for marks that failed before.
		q.commit(nil)
	}
	for _, op := range q.retry {
		if op.done != nil {
			op.done(false, errQueueStopped)
		}
	}
	q.retry = nil
}

// commit writes batch, with the marks that failed before, in one
// transaction. When that fails, the operations are tried again in halves
// until only those that cannot be written fail: one bad operation never
// undoes the others. A mark that fails is kept for the next batch.
func (q *Queue) commit(batch []queueOp) {
	if len(q.retry) > 0 {
		batch = append(q.retry, batch...)
		q.retry = nil
	}
	if len(batch) == 0 {
		return
	}
	dups := make([]bool, len(batch))
	errs := make([]error, len(batch))
	firstErr := q.commitGroup(batch, dups, errs)
	q.setStoreError(firstErr)
	// A failed mark is kept unless a later mark of the same message was
	// committed: the newer outcome stands.
	settled := map[int64]bool{}
	for i := len(batch) - 1; i >= 0; i-- {
		op := batch[i]
		if !op.isMark() {
			continue
		}
		if errs[i] == nil {
			settled[op.markSeq] = true
		} else if settled[op.markSeq] {
			errs[i] = nil
		}
	}
	for i, op := range batch {
		if errs[i] != nil && op.isMark() {
			q.retry = append(q.retry, op)
			continue
		}
		if op.done != nil {
			op.done(dups[i], errs[i])
		}
	}
}

// commitGroup commits ops, splitting them on failure; it sets each op's
// outcome and returns the first error.
func (q *Queue) commitGroup(ops []queueOp, dups []bool, errs []error) error {
	err := q.commitOnce(ops, dups)
	if err == nil || len(ops) == 1 {
		for i := range ops {
			errs[i] = err
		}
		return err
	}
	half := len(ops) / 2
	err1 := q.commitGroup(ops[:half], dups[:half], errs[:half])
	err2 := q.commitGroup(ops[half:], dups[half:], errs[half:])
	return errors.Join(err1, err2)
}

func (q *Queue) commitOnce(batch []queueOp, dups []bool) (err error) {
	clear(dups)
	// The commit must finish even when the gateway is shutting down: a
	// caller may be waiting for it.
	ctx := context.Background()
	inserts := false
	for _, op := range batch {
		inserts = inserts || !op.isMark()
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
	qtx := &Tx{Tx: tx, ins: tx.StmtContext(ctx, q.ins), dup: tx.StmtContext(ctx, q.dup)}
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
			if _, err := mark.ExecContext(ctx, op.markState, op.markErr, op.markAt.UnixNano(), op.markSeq); err != nil {
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
	refusal_condition, refusal_text, reply_to, notice, subscribe, subject, thread, auto, broadcast, content_hash, state)
	VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`

// dupSQL finds the redelivery of a record: a row with the same sender,
// ID, recipient and text received within DedupeWindow (the last
// parameter is the window's start).
const dupSQL = `SELECT 1 FROM messages WHERE in_network = ? AND in_from = ? AND in_id = ? AND in_id <> ''
	AND in_to = ? AND content_hash = ? AND received_at > ? LIMIT 1`

func refusalReason(r *Record) string {
	if r.Out.Refusal == nil {
		return ""
	}
	return string(r.Out.Refusal.Reason)
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
	rows, err := q.ro.QueryContext(ctx, selectSQL+`WHERE state = 'pending' ORDER BY seq`)
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
	row := q.ro.QueryRowContext(ctx, selectSQL+`WHERE out_network = ? AND out_id = ?`, network, id)
	r, err := scanRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return r, err
}

// Stats counts records per state.
func (q *Queue) Stats(ctx context.Context) (map[string]int64, error) {
	rows, err := q.ro.QueryContext(ctx, `SELECT state, count(*) FROM messages GROUP BY state`)
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
	var cond, text, auto string
	var notice bool
	err := s.Scan(&r.Seq, &at, &r.InNetwork, &r.InFrom, &r.InReply, &r.InTo, &r.InID,
		&r.RelationshipID, &r.OwnerID, &r.Out.Network, &r.Out.From, &r.Out.To, &r.Out.ID,
		&r.Out.Body, &r.Out.Nick, &cond, &text, &r.Out.ReplyTo, &notice, &r.Out.Subscribe,
		&r.Out.Subject, &r.Out.Thread, &auto, &r.Broadcast, &r.State)
	if err != nil {
		return nil, fmt.Errorf("queue: scan: %w", err)
	}
	r.ReceivedAt = time.Unix(0, at)
	r.Out.Seq = r.Seq
	r.Out.Kind = kindOf(cond != "", notice, auto)
	if cond != "" {
		r.Out.Refusal = &routing.Refusal{Reason: routing.ParseReason(cond), Text: text}
	}
	return &r, nil
}

// autoColumn is what the messages table's auto column holds for a kind:
// the kinds the gateway writes on someone's behalf, by name. (The table
// predates Kind: refusals are told by refusal_condition, notices by the
// notice column.)
func autoColumn(k Kind) string {
	switch k {
	case KindWelcome, KindHandover, KindBroadcast:
		return k.String()
	}
	return ""
}

// kindOf reads a kind back from the messages table's columns.
func kindOf(refusal, notice bool, auto string) Kind {
	switch {
	case refusal:
		return KindRefusal
	case notice:
		return KindNotice
	}
	for _, k := range []Kind{KindWelcome, KindHandover, KindBroadcast} {
		if auto == k.String() {
			return k
		}
	}
	return KindRelayed
}

// HeardFrom reports whether the queue holds a message from addr on
// network: proof that the address worked. Rows outlive their texts
// (retention blanks only bodies), so the proof lasts.
func (q *Queue) HeardFrom(ctx context.Context, network, addr string) (bool, error) {
	var one int
	err := q.ro.QueryRowContext(ctx, `SELECT 1 FROM messages WHERE in_network = ? AND in_from = ? AND in_id <> '' LIMIT 1`, network, addr).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("queue: look for messages from a contact: %w", err)
	}
	return true, nil
}

// Reader is a read-only handle on the queue's database, for the tables
// other packages keep there (see Tx).
func (q *Queue) Reader() *sql.DB { return q.ro }

// BroadcastStates counts the copies of broadcast id by state.
func (q *Queue) BroadcastStates(ctx context.Context, id string) (map[string]int, error) {
	rows, err := q.ro.QueryContext(ctx, `SELECT state, COUNT(*) FROM messages WHERE broadcast = ? AND broadcast <> '' GROUP BY state`, id)
	if err != nil {
		return nil, fmt.Errorf("queue: count broadcast %s: %w", id, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("queue: count broadcast %s: %w", id, err)
		}
		out[state] = n
	}
	return out, rows.Err()
}

// BroadcastPending reports whether a copy of broadcast id is still to be
// sent.
func (q *Queue) BroadcastPending(ctx context.Context, id string) (bool, error) {
	var one int
	switch err := q.ro.QueryRowContext(ctx, pendingCopies+` LIMIT 1`, id).Scan(&one); {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	default:
		return false, fmt.Errorf("queue: broadcast %s: %w", id, err)
	}
}

// pendingCopies selects the pending copies of a broadcast (its ID the
// one parameter).
const pendingCopies = `SELECT 1 FROM messages WHERE broadcast = ? AND broadcast <> '' AND state = 'pending'`

// PendingCopiesSQL is an SQL condition, for Tx, that holds while no copy
// of the broadcast whose ID is its one parameter is pending: a claim that
// commits only once the last copy is done.
const PendingCopiesSQL = `NOT EXISTS (` + pendingCopies + `)`

// RecentCopies counts, per contact address in addrs on network, the
// broadcast copies queued to it (and not failed) since monthAgo, and
// since dayAgo. Read in tx, so the count holds against the copies the
// caller inserts in the same transaction.
func (tx *Tx) RecentCopies(ctx context.Context, network string, addrs []string, dayAgo, monthAgo time.Time) (map[string][2]int, error) {
	out := map[string][2]int{}
	const chunk = 500
	for i := 0; i < len(addrs); i += chunk {
		part := addrs[i:min(i+chunk, len(addrs))]
		args := []any{dayAgo.UnixNano(), network, monthAgo.UnixNano()}
		for _, a := range part {
			args = append(args, a)
		}
		rows, err := tx.QueryContext(ctx, `SELECT out_to, SUM(received_at >= ?), COUNT(*) FROM messages
			WHERE auto = 'broadcast' AND out_network = ? AND received_at >= ? AND state <> 'failed'
			AND out_to IN (?`+strings.Repeat(",?", len(part)-1)+`) GROUP BY out_to`, args...)
		if err != nil {
			return nil, fmt.Errorf("queue: count recent broadcasts: %w", err)
		}
		for rows.Next() {
			var addr string
			var day, month int
			if err := rows.Scan(&addr, &day, &month); err != nil {
				rows.Close()
				return nil, fmt.Errorf("queue: count recent broadcasts: %w", err)
			}
			out[addr] = [2]int{day, month}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("queue: count recent broadcasts: %w", err)
		}
	}
	return out, nil
}
