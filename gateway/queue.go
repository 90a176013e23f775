package gateway

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/kakehashi/kakehashi/internal/migrate"
	"github.com/kakehashi/kakehashi/internal/sqldb"
)

// Queue is the durable message queue: SQLite (WAL, synchronous=FULL), or
// PostgreSQL when several instances share one store.
// Writes go through one goroutine that commits them in batches (group
// commit): one fsync covers every message that arrived meanwhile, and no
// caller is told its message is stored before that fsync. Reads (Pending,
// ByOutID, Stats, listings) use connections of their own: WAL lets them
// read the last commit while the writer goes on, so a scan never stalls
// delivery. On PostgreSQL the same holds: the writer has one connection,
// the readers a pool of their own, and each commit waits for its WAL
// flush (synchronous_commit).
type Queue struct {
	db      *sql.DB // the writer's one connection
	ro      *DB     // read-only connections
	dialect sqldb.Dialect
	ins     *sql.Stmt
	// insText is insertTextSQL, the lean insert of a relayed text.
	insText *sql.Stmt
	dup     *sql.Stmt
	mark    *sql.Stmt
	// roDup is dupSQL on the readers, for a message written before its
	// commit (wirefirst.go); first holds the dedupe keys of those being
	// written and not yet committed.
	roDup   *sql.Stmt
	firstMu sync.Mutex
	first   map[string]bool
	// runs are the prepared inserts of runs of texts, runs[n-1] for n
	// rows (textrun.go); on PostgreSQL, runs[0] for any number.
	runs []*sql.Stmt
	// seen answers "stored within the window?" from memory first.
	seen *seenFilter
	// written holds, by out ID, the messages written before their
	// commit and not yet committed (awaitWritten).
	written map[string]chan struct{}
	ops     chan queueOp
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

// OpenQueue opens (creating if needed) the queue's database at store: a
// file path (SQLite), or a store URL as sqldb.Parse reads it
// ("sqlite:PATH", "postgres://…"). Its schema is migrated to the newest.
func OpenQueue(ctx context.Context, store string) (*Queue, error) {
	src, err := sqldb.Parse(store)
	if err != nil {
		return nil, fmt.Errorf("open queue: %w", err)
	}
	if src.Dialect == sqldb.Postgres {
		return openPostgresQueue(ctx, src)
	}
	path := src.Path
	const pragmas = "_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)"
	db, err := sql.Open("sqlite", "file:"+path+"?"+pragmas)
	if err != nil {
		return nil, fmt.Errorf("open queue %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	q := newQueue(db, sqldb.SQLite)
	if err := q.open(ctx, path); err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

func newQueue(db *sql.DB, d sqldb.Dialect) *Queue {
	return &Queue{db: db, dialect: d, ops: make(chan queueOp, 4096), stopped: make(chan struct{}), seen: newSeenFilter(time.Now())}
}

// openPostgresQueue opens the queue in a PostgreSQL database: the writer
// on one connection, the readers on a pool of up to 4 whose transactions
// are read-only.
func openPostgresQueue(ctx context.Context, src sqldb.Source) (*Queue, error) {
	name := src.String()
	db, err := sqldb.OpenPostgres(ctx, src.URL)
	if err != nil {
		return nil, fmt.Errorf("open queue %s: %w", name, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	q := newQueue(db, sqldb.Postgres)
	if err := q.openPostgres(ctx, src); err != nil {
		q.Close()
		return nil, fmt.Errorf("queue %s: %w", name, err)
	}
	return q, nil
}

func (q *Queue) openPostgres(ctx context.Context, src sqldb.Source) error {
	ms, err := migrate.LoadDialect(migrationFiles, "migrations", sqldb.Postgres)
	if err != nil {
		return err
	}
	if _, err := migrate.Up(ctx, q.db, ms, migrate.Options{Dialect: sqldb.Postgres}); err != nil {
		return err
	}
	u, err := url.Parse(src.URL)
	if err != nil {
		return fmt.Errorf("read store URL: %w", sqldb.ErrBadSource)
	}
	v := u.Query()
	v.Set("default_transaction_read_only", "on")
	u.RawQuery = v.Encode()
	ro, err := sqldb.OpenPostgres(ctx, u.String())
	if err != nil {
		return fmt.Errorf("open for reading: %w", err)
	}
	ro.SetMaxOpenConns(4)
	q.ro = &DB{DB: ro, dialect: sqldb.Postgres}
	return q.prepare(ctx)
}

func (q *Queue) open(ctx context.Context, path string) error {
	if err := migrateQueue(ctx, q.db); err != nil {
		return fmt.Errorf("queue %s: %w", path, err)
	}
	// Readers: query_only refuses writes on them; the file is in WAL mode
	// already, so each reads the last commit without waiting for the writer.
	ro, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return fmt.Errorf("open queue %s for reading: %w", path, err)
	}
	ro.SetMaxOpenConns(4)
	q.ro = &DB{DB: ro}
	return q.prepare(ctx)
}

// prepare prepares the writer's statements, once: the writer has one
// connection, which a transaction holds, so none can be prepared during
// a commit. On PostgreSQL an insert returns the sequence number the
// database gave its row (RETURNING): several instances may write.
func (q *Queue) prepare(ctx context.Context) error {
	var err error
	if q.ins, err = q.db.PrepareContext(ctx, q.insertSQL(insertSQL)); err != nil {
		return fmt.Errorf("queue: prepare insert: %w", err)
	}
	if q.insText, err = q.db.PrepareContext(ctx, q.insertSQL(insertTextSQL)); err != nil {
		return fmt.Errorf("queue: prepare insert: %w", err)
	}
	if err := q.prepareRuns(ctx); err != nil {
		return err
	}
	if q.dup, err = q.db.PrepareContext(ctx, sqldb.Rebind(q.dialect, dupSQL)); err != nil {
		return fmt.Errorf("queue: prepare insert: %w", err)
	}
	if q.roDup, err = q.ro.DB.PrepareContext(ctx, sqldb.Rebind(q.dialect, dupSQL)); err != nil {
		return fmt.Errorf("queue: prepare lookup: %w", err)
	}
	// A bounce can be read (and the message marked failed) before the
	// sender's own "sent" mark for it commits; that late mark must not
	// undo the failure, or a second bounce would tell its author again.
	markSQL := `UPDATE messages SET state = ?1, last_error = ?2, done_at = ?3
		WHERE seq = ?4 AND NOT (?1 = 'sent' AND state = 'failed')`
	if q.dialect == sqldb.Postgres {
		markSQL = `UPDATE messages SET state = $1, last_error = $2, done_at = $3
		WHERE seq = $4 AND NOT ($1 = 'sent' AND state = 'failed')`
	}
	if q.mark, err = q.db.PrepareContext(ctx, markSQL); err != nil {
		return fmt.Errorf("queue: prepare update: %w", err)
	}
	return nil
}

// insertSQL is query, an INSERT of messages, as the queue's dialect runs
// it: on PostgreSQL numbered, and returning the rows' sequence numbers.
func (q *Queue) insertSQL(query string) string {
	if q.dialect != sqldb.Postgres {
		return query
	}
	return sqldb.Rebind(q.dialect, query) + ` RETURNING seq`
}

// Dialect is the kind of database the queue is in: a package keeping its
// own tables there (Migrate) picks its migrations by it.
func (q *Queue) Dialect() sqldb.Dialect { return q.dialect }

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

// markRetryInterval is how soon marks whose commit failed are tried
// again when no other operation comes to carry them, and how often a
// failing store is probed when nothing else is written.
const markRetryInterval = time.Second

// probe is a write that tells whether the store can commit again (a full
// disk freed): health is back without waiting for the next message.
func probe(ctx context.Context, tx *Tx) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at`, time.Now().UnixNano())
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
	linger := time.NewTimer(lingerFor)
	linger.Stop()
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
		if onWire(batch) {
			var stop bool
			if batch, stop = q.linger(ctx, linger, batch, maxBatch); stop {
				q.drain(batch, maxBatch)
				return nil
			}
		}
		q.commit(batch)
	}
}

// lingerFor is how long the commit of records whose messages are already
// on the wire (written first) waits for more operations to share it.
// Nothing waits on such a commit to deliver: the message went out, and a
// crash before the commit loses its record either way (see WireFirst).
// The pause keeps the commit's work off the cores while the XMPP server
// delivers what was just written, and lets a run of messages share one
// fsync.
const lingerFor = 2 * time.Millisecond

// onWire reports whether every operation of batch is the record of a
// message already written.
func onWire(batch []queueOp) bool {
	for _, op := range batch {
		if op.insert == nil || !op.insert.sentFirst {
			return false
		}
	}
	return len(batch) > 0
}

// linger adds to batch what arrives within lingerFor, on the timer t,
// and returns early when batch is full or an operation comes that
// someone waits on (a record to send, a mark, an Exec). stop is true
// when ctx ended meanwhile.
func (q *Queue) linger(ctx context.Context, t *time.Timer, batch []queueOp, maxBatch int) (_ []queueOp, stop bool) {
	t.Reset(lingerFor)
	defer t.Stop()
	for len(batch) < maxBatch {
		select {
		case op := <-q.ops:
			batch = append(batch, op)
			if op.insert == nil || !op.insert.sentFirst {
				return batch, false
			}
		case <-t.C:
			return batch, false
		case <-ctx.Done():
			return batch, true
		}
	}
	return batch, false
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
	if !inserts && q.dialect == sqldb.SQLite {
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
	if !inserts && q.dialect == sqldb.Postgres {
		// As above: a send outcome lost in a crash only sends again.
		if _, err := tx.ExecContext(ctx, "SET LOCAL synchronous_commit TO OFF"); err != nil {
			return fmt.Errorf("queue: %w", err)
		}
	}
	qtx := &Tx{Tx: tx, dialect: q.dialect, seen: q.seen, ins: tx.StmtContext(ctx, q.ins), insText: tx.StmtContext(ctx, q.insText), dup: tx.StmtContext(ctx, q.dup)}
	var mark *sql.Stmt
	var run []*Record
	runLimit := q.runLimit()
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		err := q.insertRun(ctx, tx, run)
		run = run[:0]
		return err
	}
	for i, op := range batch {
		if op.insert != nil && q.runnable(op.insert) {
			run = append(run, op.insert)
			if len(run) == runLimit {
				if err := flush(); err != nil {
					return err
				}
			}
			continue
		}
		// What comes next sees every row before it.
		if err := flush(); err != nil {
			return err
		}
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
	if err := flush(); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("queue: commit: %w", err)
	}
	return nil
}
