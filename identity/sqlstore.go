package identity

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kakehashi/kakehashi/internal/hugepage"
	"github.com/kakehashi/kakehashi/internal/sqldb"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SQLStore is a Store in an SQL database: one SQLite database file (WAL
// journal, synchronous=FULL, so a committed changeset survives power
// loss; OpenSQLite), or a PostgreSQL database (OpenPostgres), which
// several instances may share. Both run the same code and the same
// statements (sqldb.Rebind writes their placeholders); what differs is
// behind the dialect: the schema (migrations/sqlite, migrations/postgres),
// the queries that read contacts and relationships in bulk (see
// loadContacts), how admin names compare, and the locks below.
//
// In PostgreSQL, where another process may write the same database,
// every write that reads before it writes holds a lock for it: a commit
// with relationships and each step of the folder take one transaction
// lock ("identity.relationships", sqldb.XactLock), so that the choice
// between the log and the table, and a fold round, see every other
// write of relationships before or after them, never beside them; audit
// entries are inserted under another ("identity.audit"), so sequence
// numbers rise in commit order; an admin's revocation reads the row FOR
// UPDATE. In SQLite the writer's BEGIN IMMEDIATE already serialises all
// of that.
//
// Bulk relationship writes go through a log. Upserting 100,000 rows of
// the relationships table (a large transfer) costs over a second in
// SQLite whatever the statement: the rows are spread over the whole
// table by their random IDs, so nearly every page of it is rewritten,
// and each row costs several B-tree operations. A changeset of
// relLogThreshold relationships or more is therefore stored as compact
// binary chunks in relationship_log, in the same transaction as the rest
// of the changeset: a few large sequential writes, durable at commit.
// A background folder later applies the chunks to the relationships table
// (see foldStep), in short transactions, when the store has been idle for
// foldIdle (and one transaction every foldEvery while it is busy), so it
// barely delays other commits. While chunks are pending, every
// relationship write goes to the log too, which keeps the order of
// writes; Load applies pending chunks over the table, so the log is
// invisible to readers. Flush folds everything at once. (In PostgreSQL
// the same log spares the table's indexes the random writes of a large
// transfer in the committing transaction.)
type SQLStore struct {
	d sqldb.Dialect
	// path is the SQLite file's absolute path; name is what errors call
	// the store ("sqlite", "postgres").
	path, name string
	// w is the single writer connection; r serves Load and Audit, which WAL
	// lets run beside a write. In PostgreSQL both are one pool.
	w, r *sql.DB
	// splitLoad is the number of relationships from which Load reads
	// the table in two halves at once (SQLite; see loadRelationships).
	splitLoad int

	mu     sync.Mutex
	closed bool

	// pending counts chunks in relationship_log.
	pending atomic.Int64
	// lastWrite is when Commit last wrote (Unix nanoseconds).
	lastWrite atomic.Int64
	// kick wakes the folder after a Commit logged chunks.
	kick chan struct{}
	// stopFolder stops the folder; folderDone is closed when it has.
	stopFolder context.CancelFunc
	folderDone chan struct{}
	// foldErr is the folder's last error, nil after a success.
	foldErr atomic.Pointer[error]
	// foldMu serialises fold steps; round is the fold in progress.
	foldMu sync.Mutex
	round  *foldRound
	// foldConn, on PostgreSQL, holds the session lock (foldLock) of the
	// round in progress, so that one process at a time folds the log.
	foldConn *sql.Conn

	// outcomeWait bounds the wait for a commit's outcome after its
	// connection failed (PostgreSQL; see commitTx).
	outcomeWait time.Duration
}

// The relationship log's parameters.
const (
	// relLogThreshold is the size from which a changeset's relationships
	// go to the log: well above what routine traffic writes at once.
	relLogThreshold = 2048
	// relChunkSize is the number of relationships per log chunk, and so
	// per folding transaction: about 30 ms of work (the longest a commit
	// waits for the folder), which keeps the folder's fsyncs few.
	relChunkSize = 2048
	// foldIdle and foldEvery: see SQLStore. A second without commits
	// is idle: bulk operations in a row (a transfer, then its revert)
	// leave shorter gaps, and folding then would compete with them for
	// the CPU. While the store is busy, the folder takes about 4% of the
	// writer's time. foldRetry is the pause after a failed fold.
	foldIdle  = time.Second
	foldEvery = time.Second
	foldRetry = 5 * time.Second
)

// SQLiteStore is the name the SQL store had when it kept SQLite only;
// OpenSQLite returns one.
type SQLiteStore = SQLStore

// OpenStore opens the store that url names (see sqldb.Parse):
// "postgres://…" or "postgresql://…" for PostgreSQL (OpenPostgres),
// "sqlite:PATH" or a bare path for SQLite (OpenSQLite).
func OpenStore(ctx context.Context, url string) (*SQLStore, error) {
	src, err := sqldb.Parse(url)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if src.Dialect == sqldb.Postgres {
		return OpenPostgres(ctx, src.URL)
	}
	return OpenSQLite(ctx, src.Path)
}

// OpenSQLite opens (creating if needed) the SQLite database at path and
// makes sure its schema is current.
func OpenSQLite(ctx context.Context, path string) (*SQLiteStore, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("identity: sqlite %s: %w", path, err)
	}
	dsn := func(extra ...string) string {
		q := url.Values{}
		q["_pragma"] = append([]string{
			"busy_timeout(10000)",
			"journal_mode(WAL)",
			"synchronous(FULL)",
			// A large transfer grows the WAL by the size of the table;
			// truncate it back after checkpoints.
			"journal_size_limit(67108864)",
		}, extra...)
		u := url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}
		return u.String()
	}
	s := &SQLStore{d: sqldb.SQLite, path: abs, name: "sqlite", splitLoad: splitRelLoad}
	if s.w, err = sql.Open("sqlite", dsn()+"&_txlock=immediate"); err != nil {
		return nil, fmt.Errorf("identity: sqlite %s: %w", abs, err)
	}
	s.w.SetMaxOpenConns(1)
	if err := s.migrate(ctx); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("identity: sqlite %s: %w", abs, err)
	}
	if s.r, err = sql.Open("sqlite", dsn("query_only(1)")); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("identity: sqlite %s: %w", abs, err)
	}
	s.r.SetMaxOpenConns(4)
	if err := s.start(ctx); err != nil {
		s.r.Close()
		s.w.Close()
		return nil, fmt.Errorf("identity: sqlite %s: %w", abs, err)
	}
	return s, nil
}

// start counts the pending log chunks and starts the folder.
func (s *SQLStore) start(ctx context.Context) error {
	var pending int64
	if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM relationship_log`).Scan(&pending); err != nil {
		return err
	}
	s.pending.Store(pending)
	s.kick = make(chan struct{}, 1)
	s.folderDone = make(chan struct{})
	fctx, cancel := context.WithCancel(context.Background())
	s.stopFolder = cancel
	go s.foldLoop(fctx)
	return nil
}

// Path returns the absolute path of the database file ("" for
// PostgreSQL).
func (s *SQLStore) Path() string { return s.path }

// Dialect returns the kind of database the store is in.
func (s *SQLStore) Dialect() sqldb.Dialect { return s.d }

// q returns query with its placeholders written the store's way.
func (s *SQLStore) q(query string) string { return sqldb.Rebind(s.d, query) }

func (s *SQLStore) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrStoreClosed
	}
	return nil
}

// Close stops the folder (pending log chunks stay, for the next Load or
// Flush) and closes the database. Closing twice is not an error.
func (s *SQLStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.stopFolder()
	<-s.folderDone
	s.foldMu.Lock()
	s.unlockFolding()
	s.foldMu.Unlock()
	if s.r == s.w {
		return s.w.Close()
	}
	return errors.Join(s.r.Close(), s.w.Close())
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// parseList decodes a list column ("" for NULL).
func parseList(s string, intern func(string) string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, err
	}
	for i := range l {
		l[i] = intern(l[i])
	}
	return l, nil
}

// Commit writes c in one transaction. It runs to completion even if ctx is
// cancelled once the transaction has begun, so that a caller never sees an
// error for a changeset that was in fact stored.
func (s *SQLStore) Commit(ctx context.Context, c *Changeset) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	seqs, err := s.commit(ctx, c)
	if err != nil {
		return fmt.Errorf("identity: %s commit: %w", s.name, err)
	}
	for i, seq := range seqs {
		c.Audit[i].Seq = seq
	}
	return nil
}

// Bulk writes: the driver prepares (parses) every statement it executes
// and binds parameters in time quadratic in their number, so writing a
// large changeset (a transfer of 100,000 relationships) one row per
// statement spends most of its time in SQLite's parser, and many bound
// parameters per statement in the binder. Contacts and relationships are
// therefore written as multi-row INSERTs whose values are SQL literals,
// rowsPerStatement rows at a time: a fold step of 2,048 relationships
// takes 27 to 64 % longer with any form of bound parameters tried,
// json_each over one JSON array included (figures in the package
// documentation). Literals are built only by appendSQLString and
// strconv, so no value can change the statement: text is quoted with
// single quotes doubled (SQLite has no other escape), and text containing
// NUL, which would end the statement early, is refused.
const rowsPerStatement = 500

// appendSQLString appends s as an SQL string literal.
func appendSQLString(b []byte, s string) ([]byte, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return b, fmt.Errorf("text %q contains a NUL byte", s)
	}
	b = append(b, '\'')
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '\'')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '\''), nil
}

// appendSQLList appends l as a JSON array string literal, or NULL if empty.
func appendSQLList(b []byte, l []string) ([]byte, error) {
	if len(l) == 0 {
		return append(b, "NULL"...), nil
	}
	j, err := json.Marshal(l)
	if err != nil {
		return b, err
	}
	return appendSQLString(b, string(j))
}

// sqlRow builds one "(…)" tuple of literals; its first error sticks.
type sqlRow struct {
	b   []byte
	n   int
	err error
}

func (r *sqlRow) sep() {
	if r.n > 0 {
		r.b = append(r.b, ", "...)
	}
	r.n++
}

func (r *sqlRow) str(s string) {
	r.sep()
	if r.err == nil {
		r.b, r.err = appendSQLString(r.b, s)
	}
}

func (r *sqlRow) list(l []string) {
	r.sep()
	if r.err == nil {
		r.b, r.err = appendSQLList(r.b, l)
	}
}

func (r *sqlRow) int(v int64) {
	r.sep()
	r.b = strconv.AppendInt(r.b, v, 10)
}

// insertLiteralRows executes head + " VALUES " + rows + " " + tail for n
// rows, rowsPerStatement at a time; row(i, r) writes row i's values.
func insertLiteralRows(ctx context.Context, tx *sql.Tx, head, tail string, n int,
	row func(i int, r *sqlRow)) error {
	var b []byte
	for start := 0; start < n; start += rowsPerStatement {
		b = append(b[:0], head...)
		b = append(b, " VALUES "...)
		for i := start; i < min(start+rowsPerStatement, n); i++ {
			if i > start {
				b = append(b, ",\n"...)
			}
			r := sqlRow{b: append(b, '(')}
			row(i, &r)
			if r.err != nil {
				return fmt.Errorf("row %d: %w", i, r.err)
			}
			b = append(r.b, ')')
		}
		b = append(b, ' ')
		b = append(b, tail...)
		if _, err := tx.ExecContext(ctx, string(b)); err != nil {
			return err
		}
	}
	return nil
}

func (s *SQLStore) commit(ctx context.Context, c *Changeset) (seqs []uint64, err error) {
	var (
		tx   *sql.Tx
		conn *sql.Conn // PostgreSQL: tx's connection, for pgWriteBulk
	)
	if s.d == sqldb.Postgres {
		if conn, err = s.w.Conn(ctx); err != nil {
			return nil, err
		}
		defer conn.Close()
		tx, err = conn.BeginTx(ctx, nil)
	} else {
		tx, err = s.w.BeginTx(ctx, nil)
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tx.Rollback() //nolint:errcheck // the commit error is what matters
		}
	}()
	xid, err := s.txID(ctx, tx)
	if err != nil {
		return nil, err
	}
	for i := range c.Employees {
		doc, err := json.Marshal(&c.Employees[i])
		if err == nil {
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO employees (id, doc) VALUES (?, ?)
				ON CONFLICT (id) DO UPDATE SET doc = excluded.doc`), c.Employees[i].ID, string(doc))
		}
		if err != nil {
			return nil, fmt.Errorf("employee %s: %w", c.Employees[i].ID, err)
		}
	}
	for i := range c.Personas {
		doc, err := json.Marshal(&c.Personas[i])
		if err == nil {
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO personas (id, doc) VALUES (?, ?)
				ON CONFLICT (id) DO UPDATE SET doc = excluded.doc`), c.Personas[i].ID, string(doc))
		}
		if err != nil {
			return nil, fmt.Errorf("persona %s: %w", c.Personas[i].ID, err)
		}
	}
	if err := insertLiteralRows(ctx, tx, `INSERT INTO contacts
		(id, network, addr, display_name, source, tags, created_at)`,
		`ON CONFLICT (id) DO UPDATE SET network = excluded.network, addr = excluded.addr,
			display_name = excluded.display_name, source = excluded.source,
			tags = excluded.tags, created_at = excluded.created_at`, len(c.Contacts),
		func(i int, r *sqlRow) {
			ct := &c.Contacts[i]
			r.str(ct.ID)
			r.str(ct.Address.Network)
			r.str(ct.Address.Addr)
			r.str(ct.DisplayName)
			r.str(ct.Source)
			r.list(ct.Tags)
			r.int(unixNano(ct.CreatedAt))
		}); err != nil {
		return nil, fmt.Errorf("contacts: %w", err)
	}
	var toLog bool
	if len(c.Relationships) > 0 {
		if err := sqldb.XactLock(ctx, tx, s.d, relationshipsLock); err != nil {
			return nil, err
		}
		toLog = len(c.Relationships) >= relLogThreshold
		if !toLog {
			// Writing past pending chunks would be undone by folding them.
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM relationship_log)`).Scan(&toLog); err != nil {
				return nil, fmt.Errorf("relationship log: %w", err)
			}
		}
		if !toLog {
			if err := writeRelationships(ctx, tx, c.Relationships); err != nil {
				return nil, fmt.Errorf("relationships: %w", err)
			}
		}
	}
	logged := 0
	if toLog && conn != nil {
		// PostgreSQL: the chunks and the audit entries in one pipeline.
		if logged, seqs, err = pgWriteBulk(ctx, conn, c.Relationships, c.Audit); err != nil {
			return nil, err
		}
	} else {
		if toLog {
			if logged, err = s.appendRelLog(ctx, tx, c.Relationships); err != nil {
				return nil, fmt.Errorf("relationship log: %w", err)
			}
		}
		if seqs, err = s.insertAudit(ctx, tx, c.Audit); err != nil {
			return nil, err
		}
	}
	if err := s.commitTx(ctx, tx, xid); err != nil {
		return nil, err
	}
	s.lastWrite.Store(time.Now().UnixNano())
	if logged > 0 {
		s.pending.Add(int64(logged))
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return seqs, nil
}

// The names of the transaction locks of PostgreSQL (see SQLStore).
const (
	relationshipsLock = "identity.relationships"
	auditLock         = "identity.audit"
)

// insertAudit appends entries to the audit table in tx and returns their
// sequence numbers. Audit entries are few per commit; one statement each
// gives each its sequence number (RETURNING). In PostgreSQL the insert
// holds auditLock until the commit, so that no entry with a lower number
// commits after one with a higher: a reader paging by AfterSeq would
// skip it.
func (s *SQLStore) insertAudit(ctx context.Context, tx *sql.Tx, entries []AuditEntry) ([]uint64, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	if err := sqldb.XactLock(ctx, tx, s.d, auditLock); err != nil {
		return nil, err
	}
	insert := s.q(`INSERT INTO audit
			(at, actor, action, reason, subject, details) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq`)
	seqs := make([]uint64, len(entries))
	for i := range entries {
		a := &entries[i]
		var details any
		if len(a.Details) > 0 {
			details = string(a.Details)
		}
		var seq int64
		if err := tx.QueryRowContext(ctx, insert,
			unixNano(a.At), a.Actor, a.Action, a.Reason, a.Subject, details).Scan(&seq); err != nil {
			return nil, fmt.Errorf("audit %s: %w", a.Action, err)
		}
		seqs[i] = uint64(seq)
	}
	return seqs, nil
}

// writeRelationships upserts rels into the relationships table.
func writeRelationships(ctx context.Context, tx *sql.Tx, rels []*Relationship) error {
	return insertLiteralRows(ctx, tx, `INSERT INTO relationships
		(id, contact_id, persona_id, owner_id, former_persona_ids, merged_into,
		 created_at, updated_at, version, tags, remark, last_activity, owner_version, last_transfer_id,
		 gone, gone_at)`,
		`ON CONFLICT (id) DO UPDATE SET contact_id = excluded.contact_id,
			persona_id = excluded.persona_id, owner_id = excluded.owner_id,
			former_persona_ids = excluded.former_persona_ids,
			merged_into = excluded.merged_into, created_at = excluded.created_at,
			updated_at = excluded.updated_at, version = excluded.version,
			tags = excluded.tags, remark = excluded.remark,
			last_activity = excluded.last_activity, owner_version = excluded.owner_version,
			last_transfer_id = excluded.last_transfer_id,
			gone = excluded.gone, gone_at = excluded.gone_at`, len(rels),
		func(i int, r *sqlRow) {
			rel := rels[i]
			r.str(rel.ID)
			r.str(rel.ContactID)
			r.str(rel.PersonaID)
			r.str(rel.OwnerID)
			r.list(rel.FormerPersonaIDs)
			r.str(rel.MergedInto)
			r.int(unixNano(rel.CreatedAt))
			r.int(unixNano(rel.UpdatedAt))
			r.int(int64(rel.Version))
			r.list(rel.Tags)
			r.str(rel.Remark)
			r.int(unixNano(rel.LastActivity))
			r.int(int64(rel.OwnerVersion))
			r.str(rel.LastTransferID)
			r.str(rel.Gone)
			r.int(unixNano(rel.GoneAt))
		})
}

// appendRelLog stores rels as chunks in relationship_log and returns how
// many. Text with NUL is refused here, as the table refuses it, or the
// chunk could never be folded.
func (s *SQLStore) appendRelLog(ctx context.Context, tx *sql.Tx, rels []*Relationship) (int, error) {
	for i := range rels {
		if err := checkRelText(rels[i]); err != nil {
			return 0, err
		}
	}
	stmt, err := tx.PrepareContext(ctx, s.q(`INSERT INTO relationship_log (data) VALUES (?)`))
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	var buf []byte
	n := 0
	for start := 0; start < len(rels); start += relChunkSize {
		buf = appendRelChunk(buf[:0], rels[start:min(start+relChunkSize, len(rels))])
		if _, err := stmt.ExecContext(ctx, buf); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// checkRelText refuses a relationship with NUL in its text.
func checkRelText(r *Relationship) error {
	for _, s := range [...]string{r.ID, r.ContactID, r.PersonaID, r.OwnerID, r.MergedInto, r.Remark, r.LastTransferID, r.Gone} {
		if strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("relationship %q: text %q contains a NUL byte", r.ID, s)
		}
	}
	for _, l := range [...][]string{r.FormerPersonaIDs, r.Tags} {
		for _, s := range l {
			if strings.IndexByte(s, 0) >= 0 {
				return fmt.Errorf("relationship %q: text %q contains a NUL byte", r.ID, s)
			}
		}
	}
	return nil
}

// foldLoop is the folder (see SQLStore).
func (s *SQLStore) foldLoop(ctx context.Context) {
	defer close(s.folderDone)
	lastFold := time.Now()
	for {
		if s.pending.Load() <= 0 {
			select {
			case <-ctx.Done():
				return
			case <-s.kick:
			}
			continue
		}
		idle := time.Since(time.Unix(0, s.lastWrite.Load()))
		if wait := min(foldIdle-idle, foldEvery-time.Since(lastFold)); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		_, err := s.foldStep(ctx)
		lastFold = time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.foldErr.Store(&err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(foldRetry):
			}
			continue
		}
		s.foldErr.Store(nil)
	}
}

// foldRound is a fold in progress: the newest version of each
// relationship in the chunks up to lastSeq, sorted by ID, written next
// from rels[done:].
type foldRound struct {
	rels              []Relationship
	done              int
	firstSeq, lastSeq int64
	chunks            int
}

// foldStep does one step of folding, in one write transaction: it starts
// a round (reading up to maxFoldChunks of the oldest chunks) if none is
// in progress, writes the round's next relChunkSize relationships, or,
// once all are written, deletes the round's chunks. It reports whether
// there is more to do.
//
// A round writes the chunks' relationships in ID order, one range of IDs
// per step, so that it rewrites each page of the table about once
// however many chunks it folds (a chunk's relationships are spread over
// the whole table). Until its chunks are deleted they still apply at
// Load, over whatever part of the round is written, with the same
// result; chunks logged meanwhile come after them. Steps are serialised by
// foldMu: two rounds at once could write an older version over a newer
// one.
func (s *SQLStore) foldStep(ctx context.Context) (bool, error) {
	s.foldMu.Lock()
	defer s.foldMu.Unlock()
	if s.round == nil {
		// Two processes' rounds from the same first chunk would pass the
		// check below together, and their steps could interleave: an
		// older version written over a newer one in a range the other
		// round wrote last. A round takes the folding lock first.
		if err := s.lockFolding(ctx); err != nil {
			return true, err
		}
		r, err := s.readRound(ctx)
		if err != nil || r == nil {
			s.unlockFolding()
			return false, err
		}
		s.round = r
	}
	r := s.round
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return true, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if s.d == sqldb.Postgres {
		// Another process's folder may have folded and deleted this
		// round's chunks since it was read; writing them now would undo
		// what was written since. (SQLite has one process.)
		if err := sqldb.XactLock(ctx, tx, s.d, relationshipsLock); err != nil {
			return true, err
		}
		var first sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT min(seq) FROM relationship_log`).Scan(&first); err != nil {
			return true, err
		}
		if !first.Valid || first.Int64 != r.firstSeq {
			s.round = nil
			s.unlockFolding()
			return true, tx.Commit()
		}
	}
	if r.done < len(r.rels) {
		next := min(r.done+relChunkSize, len(r.rels))
		ptrs := make([]*Relationship, next-r.done)
		for i := range ptrs {
			ptrs[i] = &r.rels[r.done+i]
		}
		if err := writeRelationships(ctx, tx, ptrs); err != nil {
			return true, fmt.Errorf("fold relationship log: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return true, err
		}
		r.done = next
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM relationship_log WHERE seq <= ?`), r.lastSeq); err != nil {
		return true, err
	}
	if err := tx.Commit(); err != nil {
		return true, err
	}
	s.round = nil
	s.unlockFolding()
	return s.pending.Add(-int64(r.chunks)) > 0, nil
}

// foldLock names the PostgreSQL session lock a fold round holds.
const foldLock = "identity.fold"

// lockFolding takes, on PostgreSQL, the session lock that lets one
// process at a time run fold rounds, waiting for another's round to end.
// It holds a connection of the pool for the round. Called with foldMu.
func (s *SQLStore) lockFolding(ctx context.Context) error {
	if s.d != sqldb.Postgres || s.foldConn != nil {
		return nil
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("fold relationship log: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, foldLock); err != nil {
		conn.Close()
		return fmt.Errorf("fold relationship log: lock: %w", err)
	}
	s.foldConn = conn
	return nil
}

// unlockFolding lets the folding lock go. A connection that cannot say
// so is dropped from the pool: its session's end releases the lock.
// Called with foldMu.
func (s *SQLStore) unlockFolding() {
	if s.foldConn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.foldConn.ExecContext(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, foldLock); err != nil {
		_ = s.foldConn.Raw(func(any) error { return driver.ErrBadConn })
	}
	s.foldConn.Close()
	s.foldConn = nil
}

// maxFoldChunks bounds the chunks one fold round reads (and so the memory
// it holds: about 35 MB).
const maxFoldChunks = 64

// readRound reads the oldest chunks into a new round (nil if there are
// none).
func (s *SQLStore) readRound(ctx context.Context) (*foldRound, error) {
	rows, err := s.w.QueryContext(ctx, s.q(`SELECT seq, data FROM relationship_log ORDER BY seq LIMIT ?`), maxFoldChunks)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	r := &foldRound{}
	pos := map[string]int{}
	intern := newInterner()
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&r.lastSeq, &data); err != nil {
			return nil, err
		}
		chunk, err := decodeRelChunk(data, intern)
		if err != nil {
			return nil, fmt.Errorf("relationship log chunk %d: %w", r.lastSeq, err)
		}
		if r.chunks == 0 {
			r.firstSeq = r.lastSeq
		}
		r.chunks++
		for _, rel := range chunk {
			if i, ok := pos[rel.ID]; ok {
				r.rels[i] = rel
			} else {
				pos[rel.ID] = len(r.rels)
				r.rels = append(r.rels, rel)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if r.chunks == 0 {
		s.pending.Store(0)
		return nil, nil
	}
	slices.SortFunc(r.rels, func(a, b Relationship) int { return strings.Compare(a.ID, b.ID) })
	return r, nil
}

// Flush folds every pending relationship log chunk into the
// relationships table now (see SQLStore), for a tidy shutdown or a
// backup of the table alone. Reads never need it.
func (s *SQLStore) Flush(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	for {
		more, err := s.foldStep(ctx)
		if err != nil {
			return fmt.Errorf("identity: %s flush: %w", s.name, err)
		}
		if !more {
			return nil
		}
	}
}

// PendingChunks returns how many relationship log chunks wait to be folded
// and the folder's last error (nil once a fold succeeds again), for
// monitoring.
func (s *SQLStore) PendingChunks() (int, error) {
	var err error
	if p := s.foldErr.Load(); p != nil {
		err = *p
	}
	return int(max(s.pending.Load(), 0)), err
}

// Load reads every record. Contacts and relationships, the bulk of a large
// store, are read in parallel on two connections. In SQLite the dataset
// is one consistent point in time only if nobody writes meanwhile, which
// holds for the Store of a State being opened (State is the only
// writer); in PostgreSQL, where another process may write, all reads
// share one snapshot.
func (s *SQLStore) Load(ctx context.Context) (*Dataset, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	begin := func(ctx context.Context) (*sql.Tx, error) {
		return s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	}
	readRels := func() ([]Relationship, error) { return readTable(ctx, begin, s.loadRelationships) }
	readContacts := func() ([]Contact, error) { return readTable(ctx, begin, s.loadContacts) }
	if s.d == sqldb.Postgres {
		// Another process may write meanwhile: every table is read at
		// one point in time (see sharedSnapshot). Contacts and
		// relationships are read with pgx itself (see pgRead).
		anchor, shared, snap, err := s.sharedSnapshot(ctx)
		if err != nil {
			return nil, fmt.Errorf("identity: %s load: %w", s.name, err)
		}
		defer anchor.Rollback() //nolint:errcheck // read-only
		begin = shared
		readRels = func() ([]Relationship, error) { return pgReadTable(ctx, s, snap, pgLoadRelationships) }
		readContacts = func() ([]Contact, error) { return pgReadTable(ctx, s, snap, pgLoadContacts) }
	}
	if s.d == sqldb.SQLite {
		// Each read connection's page cache fills while the tables are
		// read; what follows reads little. Closing the idle ones frees
		// theirs (a few MiB, held otherwise for as long as the store).
		defer func() { s.r.SetMaxIdleConns(0); s.r.SetMaxIdleConns(2) }()
	}
	ds := &Dataset{}
	var relErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		ds.Relationships, relErr = readRels()
	}()
	err := func() error {
		var err error
		if ds.Employees, err = readTable(ctx, begin, loadDocs[Employee]("employees")); err != nil {
			return err
		}
		if ds.Personas, err = readTable(ctx, begin, loadDocs[Persona]("personas")); err != nil {
			return err
		}
		ds.Contacts, err = readContacts()
		return err
	}()
	<-done
	if err := errors.Join(err, relErr); err != nil {
		return nil, fmt.Errorf("identity: %s load: %w", s.name, err)
	}
	return ds, nil
}

// readTable runs load in a read-only transaction of its own, begun by
// begin.
func readTable[T any](ctx context.Context, begin func(context.Context) (*sql.Tx, error), load func(context.Context, *sql.Tx) ([]T, error)) ([]T, error) {
	tx, err := begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	return load(ctx, tx)
}

func count(ctx context.Context, tx *sql.Tx, table string) (int, error) {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: %w", table, err)
	}
	return n, nil
}

func loadDocs[T any](table string) func(context.Context, *sql.Tx) ([]T, error) {
	return func(ctx context.Context, tx *sql.Tx) ([]T, error) {
		rows, err := tx.QueryContext(ctx, `SELECT id, doc FROM `+table+` ORDER BY id`)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", table, err)
		}
		defer rows.Close()
		var out []T
		for rows.Next() {
			var id, doc string
			if err := rows.Scan(&id, &doc); err != nil {
				return nil, fmt.Errorf("%s: %w", table, err)
			}
			var v T
			if err := json.Unmarshal([]byte(doc), &v); err != nil {
				return nil, fmt.Errorf("%s %s: %w", table, id, err)
			}
			out = append(out, v)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", table, err)
		}
		return out, nil
	}
}

// Contacts and relationships are read as one NUL-separated text column per
// row, plus a few integer columns and the rarely set list column: the
// driver takes SQLite's mutex and allocates for every column of every
// row, so at a million rows one text column instead of sixteen columns
// takes about a third off the time to load (figures in the package
// documentation). Stored text
// never contains NUL (the write path refuses it); a row with the wrong
// number of fields is reported as corrupt.

// splitFields splits row at NUL bytes into exactly len(f) fields.
func splitFields(row string, f []string) bool {
	for i := range len(f) - 1 {
		j := strings.IndexByte(row, 0)
		if j < 0 {
			return false
		}
		f[i], row = row[:j], row[j+1:]
	}
	f[len(f)-1] = row
	return strings.IndexByte(row, 0) < 0
}

// loadContacts reads the contacts table of SQLite as above (PostgreSQL's:
// pgLoadContacts).
func (s *SQLStore) loadContacts(ctx context.Context, tx *sql.Tx) ([]Contact, error) {
	n, err := count(ctx, tx, "contacts")
	if err != nil {
		return nil, err
	}
	out := make([]Contact, 0, n)
	hugepage.Advise(out) // as the relationships' array below
	rows, err := tx.QueryContext(ctx, `SELECT concat_ws(char(0), id, addr, display_name,
		network, source), created_at, tags FROM contacts`)
	if err != nil {
		return nil, fmt.Errorf("contacts: %w", err)
	}
	defer rows.Close()
	var (
		row     string
		created int64
		tags    sql.NullString
		f       [5]string
		intern  = newInterner()
		arena   stringArena
	)
	for rows.Next() {
		if err := rows.Scan(&row, &created, &tags); err != nil {
			return nil, fmt.Errorf("contacts: %w", err)
		}
		if !splitFields(row, f[:]) {
			return nil, fmt.Errorf("contacts: corrupt row %q", row)
		}
		// ID, address and display name are copied together into the
		// arena; the rest of the row is dropped. They are the first
		// three fields, a NUL apart.
		head := arena.clone(row[:len(f[0])+len(f[1])+len(f[2])+2])
		c := Contact{
			ID:          head[:len(f[0])],
			Address:     Address{Network: intern(f[3]), Addr: head[len(f[0])+1 : len(f[0])+1+len(f[1])]},
			DisplayName: head[len(f[0])+len(f[1])+2:],
			Source:      intern(f[4]),
		}
		c.CreatedAt = fromUnixNano(created)
		if c.Tags, err = parseList(tags.String, intern); err != nil {
			return nil, fmt.Errorf("contact %s: tags: %w", c.ID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("contacts: %w", err)
	}
	return out, nil
}

// loadRelationships reads the relationships table and applies the pending
// relationship log over it, in one read transaction so that a fold
// running meanwhile is seen either wholly or not at all.
func (s *SQLStore) loadRelationships(ctx context.Context, tx *sql.Tx) ([]Relationship, error) {
	n, err := count(ctx, tx, "relationships")
	if err != nil {
		return nil, err
	}
	// The records are written once, whole, and kept: at a million rows
	// huge pages save the load some 70,000 page faults (see hugepage).
	out := make([]Relationship, n)
	hugepage.Advise(out)
	intern := newInterner()
	split := n >= s.splitLoad && s.splitLoad > 0
	if split {
		// Only a table that no fold can change meanwhile is read in two
		// transactions: with chunks in the log, the folder may write
		// them into the table between the two.
		var logged bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM relationship_log)`).Scan(&logged); err != nil {
			return nil, fmt.Errorf("relationship log: %w", err)
		}
		split = !logged
	}
	if !split {
		if err := s.scanRelationships(ctx, tx, out, intern, ""); err != nil {
			return nil, err
		}
		return applyRelLog(ctx, tx, out, intern)
	}
	// The scan is most of a large open, and the contacts' scan beside it
	// takes about two thirds as long: the table is read in two halves
	// at once, split at its middle ID, so that two cores stay busy to the
	// end. The second half is read on a connection of its own: the log
	// is empty, and nothing else writes while a State opens (see Open),
	// so both see the same table.
	half := n / 2
	var pivot string
	if err := tx.QueryRowContext(ctx, `SELECT id FROM relationships ORDER BY id LIMIT 1 OFFSET ?`, half).Scan(&pivot); err != nil {
		return nil, fmt.Errorf("relationships: %w", err)
	}
	var second error
	done := make(chan struct{})
	go func() {
		defer close(done)
		second = func() error {
			tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
			if err != nil {
				return fmt.Errorf("relationships: %w", err)
			}
			defer tx.Rollback() //nolint:errcheck // read-only
			return s.scanRelationships(ctx, tx, out[half:], newInterner(), `WHERE id >= ?`, pivot)
		}()
	}()
	first := s.scanRelationships(ctx, tx, out[:half], intern, `WHERE id < ?`, pivot)
	<-done
	if err := errors.Join(first, second); err != nil {
		return nil, err
	}
	return applyRelLog(ctx, tx, out, intern)
}

// splitRelLoad is the number of relationships from which loadRelationships
// reads the table in two halves at once.
const splitRelLoad = 100_000

// scanRelationships reads the rows of the relationships table of SQLite
// that where (a WHERE clause with args, or "") selects into dst, which
// must be exactly as long as they are (PostgreSQL's:
// pgLoadRelationships).
func (s *SQLStore) scanRelationships(ctx context.Context, tx *sql.Tx, dst []Relationship, intern func(string) string, where string, args ...any) error {
	// The remark comes last: it is the one field that may hold any text
	// (except NUL).
	// concat_ws builds the row in one go, where a chain of || copies the
	// growing string at each step.
	// The integers every row sets are columns of their own: in the
	// concatenation SQLite would render each as text in a buffer it
	// allocates, and Go would parse it back. Those mostly zero are in the
	// concatenation, as text only when they are not zero: each column
	// costs the driver a lock and a call or two per row.
	q := `SELECT concat_ws(char(0), id, contact_id, persona_id,
		owner_id, merged_into, last_transfer_id, coalesce(former_persona_ids, ''), coalesce(tags, ''),
		iif(last_activity = 0, '', last_activity), iif(owner_version = 0, '', owner_version),
		iif(gone_at = 0, '', gone_at), gone, remark), created_at, updated_at, version
		FROM relationships ` + where
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("relationships: %w", err)
	}
	defer rows.Close()
	var (
		row   string
		f     [13]string
		nums  [6]int64
		arena stringArena
		k     int
	)
	for rows.Next() {
		if err := rows.Scan(&row, &nums[0], &nums[1], &nums[2]); err != nil {
			return fmt.Errorf("relationships: %w", err)
		}
		if k == len(dst) {
			return errors.New("relationships: the table changed while it was read")
		}
		if !splitFields(row, f[:]) {
			return fmt.Errorf("relationships: corrupt row %q", row)
		}
		// The ID is copied into the arena. The contact ID is left in
		// the row: State shares the contact's own ID string instead once
		// it has found the contact (the row is then garbage). Persona,
		// owner, merge target and transfer are interned (few distinct
		// values).
		r := &dst[k]
		k++
		*r = Relationship{
			ID:             arena.clone(f[0]),
			ContactID:      f[1],
			PersonaID:      intern(f[2]),
			OwnerID:        intern(f[3]),
			MergedInto:     intern(f[4]),
			LastTransferID: intern(f[5]),
			Gone:           intern(f[11]),
			Remark:         strings.Clone(f[12]),
		}
		for i := range 3 {
			nums[3+i] = 0
			if f[8+i] != "" {
				if nums[3+i], err = strconv.ParseInt(f[8+i], 10, 64); err != nil {
					return fmt.Errorf("relationship %s: %w", r.ID, err)
				}
			}
		}
		r.CreatedAt, r.UpdatedAt, r.Version = fromUnixNano(nums[0]), fromUnixNano(nums[1]), uint64(nums[2])
		r.LastActivity, r.OwnerVersion, r.GoneAt = fromUnixNano(nums[3]), uint64(nums[4]), fromUnixNano(nums[5])
		if r.FormerPersonaIDs, err = parseList(f[6], intern); err != nil {
			return fmt.Errorf("relationship %s: former personas: %w", r.ID, err)
		}
		if r.Tags, err = parseList(f[7], intern); err != nil {
			return fmt.Errorf("relationship %s: tags: %w", r.ID, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("relationships: %w", err)
	}
	if k != len(dst) {
		return errors.New("relationships: the table changed while it was read")
	}
	return nil
}

// applyRelLog applies the chunks of relationship_log, oldest first, to
// rels (the table's rows).
func applyRelLog(ctx context.Context, tx *sql.Tx, rels []Relationship, intern func(string) string) ([]Relationship, error) {
	rows, err := tx.QueryContext(ctx, `SELECT seq, data FROM relationship_log ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("relationship log: %w", err)
	}
	defer rows.Close()
	return applyLogRows(rows, relLogApplier{rels: rels, intern: intern})
}

// logRows are the rows of a relationship_log query (seq, data), from
// database/sql or from pgx.
type logRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// applyLogRows applies each chunk of rows with a, in order, and returns
// the relationships it leaves.
func applyLogRows(rows logRows, a relLogApplier) ([]Relationship, error) {
	for rows.Next() {
		var (
			seq  int64
			data []byte
		)
		if err := rows.Scan(&seq, &data); err != nil {
			return nil, fmt.Errorf("relationship log: %w", err)
		}
		if err := a.apply(seq, data); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("relationship log: %w", err)
	}
	return a.rels, nil
}

// relLogApplier applies relationship log chunks, oldest first, to rels
// (the table's rows).
type relLogApplier struct {
	rels   []Relationship
	pos    map[string]int // built on the first chunk: usually there is none
	intern func(string) string
}

func (a *relLogApplier) apply(seq int64, data []byte) error {
	chunk, err := decodeRelChunk(data, a.intern)
	if err != nil {
		return fmt.Errorf("relationship log chunk %d: %w", seq, err)
	}
	if a.pos == nil {
		a.pos = make(map[string]int, len(a.rels))
		for i := range a.rels {
			a.pos[a.rels[i].ID] = i
		}
	}
	for _, r := range chunk {
		if i, ok := a.pos[r.ID]; ok {
			a.rels[i] = r
		} else {
			a.pos[r.ID] = len(a.rels)
			a.rels = append(a.rels, r)
		}
	}
	return nil
}

// newInterner returns a function that maps equal strings to one copy. Few
// distinct persona, owner, network and source IDs repeat across a million
// rows; sharing them saves tens of bytes per row.
func newInterner() func(string) string {
	m := map[string]string{"": ""}
	return func(s string) string {
		if v, ok := m[s]; ok {
			return v
		}
		// s may be a substring of a larger row: keep a copy of its own.
		s = strings.Clone(s)
		if len(m) < 1<<16 {
			// Beyond that it is not a small set after all (merge targets
			// are mostly empty but all distinct); stop growing the map.
			m[s] = s
		}
		return s
	}
}

// Audit returns the audit entries matching q in sequence order (newest
// first with q.Newest).
func (s *SQLStore) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var (
		where = []string{"seq > ?"}
		args  = []any{int64(q.AfterSeq)}
	)
	if q.Action != "" {
		where = append(where, "action = ?")
		args = append(args, q.Action)
	}
	if q.Subject != "" {
		where = append(where, "subject = ?")
		args = append(args, q.Subject)
	}
	if q.Actor != "" {
		if s.d == sqldb.Postgres {
			where = append(where, "strpos(actor, ?) > 0")
		} else {
			where = append(where, "instr(actor, ?) > 0")
		}
		args = append(args, q.Actor)
	}
	if q.BeforeSeq != 0 {
		where = append(where, "seq < ?")
		args = append(args, int64(min(q.BeforeSeq, math.MaxInt64)))
	}
	if !q.Since.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		where = append(where, "at < ?")
		args = append(args, q.Until.UnixNano())
	}
	order := "seq"
	if q.Newest {
		order = "seq DESC"
	}
	args = append(args, q.limit())
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT seq, at, actor, action, reason, subject, details
		FROM audit WHERE `+strings.Join(where, " AND ")+` ORDER BY `+order+` LIMIT ?`), args...)
	if err != nil {
		return nil, fmt.Errorf("identity: %s audit: %w", s.name, err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var (
			e       AuditEntry
			seq, at int64
		)
		// Details straight into a []byte (nil for NULL): one copy of
		// a transfer's 24 MB instead of two.
		if err := rows.Scan(&seq, &at, &e.Actor, &e.Action, &e.Reason, &e.Subject, (*[]byte)(&e.Details)); err != nil {
			return nil, fmt.Errorf("identity: %s audit: %w", s.name, err)
		}
		e.Seq, e.At = uint64(seq), fromUnixNano(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("identity: %s audit: %w", s.name, err)
	}
	return out, nil
}
