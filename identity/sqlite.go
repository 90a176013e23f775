package identity

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// SQLiteSchemaVersion is the version of the SQLite schema this package
// creates; it is stored in PRAGMA user_version.
const SQLiteSchemaVersion = 1

// sqliteSchema creates the tables. Employees and personas are few and
// change shape as the product grows, so they are stored as JSON documents.
// Contacts and relationships are many (a million is a normal size) and are
// read in full at every start, so they have one column per field: decoding
// columns is several times cheaper than decoding JSON. Times are Unix
// nanoseconds (UTC); string slices are JSON arrays, NULL when empty.
//
// The audit table is append-only: no code path updates or deletes it, and
// the triggers make SQLite itself refuse.
var sqliteSchema = []string{
	`CREATE TABLE IF NOT EXISTS employees (
		id  TEXT PRIMARY KEY NOT NULL,
		doc TEXT NOT NULL
	) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS personas (
		id  TEXT PRIMARY KEY NOT NULL,
		doc TEXT NOT NULL
	) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS contacts (
		id           TEXT PRIMARY KEY NOT NULL,
		network      TEXT NOT NULL,
		addr         TEXT NOT NULL,
		display_name TEXT NOT NULL DEFAULT '',
		source       TEXT NOT NULL DEFAULT '',
		tags         TEXT,
		created_at   INTEGER NOT NULL,
		UNIQUE (network, addr)
	) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS relationships (
		id                 TEXT PRIMARY KEY NOT NULL,
		contact_id         TEXT NOT NULL,
		persona_id         TEXT NOT NULL,
		owner_id           TEXT NOT NULL DEFAULT '',
		former_persona_ids TEXT,
		merged_into        TEXT NOT NULL DEFAULT '',
		created_at         INTEGER NOT NULL,
		updated_at         INTEGER NOT NULL,
		version            INTEGER NOT NULL
	) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS audit (
		seq     INTEGER PRIMARY KEY AUTOINCREMENT,
		at      INTEGER NOT NULL,
		actor   TEXT NOT NULL,
		action  TEXT NOT NULL,
		reason  TEXT NOT NULL DEFAULT '',
		subject TEXT NOT NULL DEFAULT '',
		details TEXT
	)`,
	`CREATE INDEX IF NOT EXISTS audit_action ON audit (action, seq)`,
	`CREATE INDEX IF NOT EXISTS audit_subject ON audit (subject, seq)`,
	`CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
	BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
	`CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
	BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
}

// SQLiteStore is a Store in one SQLite database file (WAL journal,
// synchronous=FULL, so a committed changeset survives power loss).
type SQLiteStore struct {
	path string
	// w is the single writer connection; r serves Load and Audit, which WAL
	// lets run beside a write.
	w, r *sql.DB

	mu     sync.Mutex
	closed bool
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
	s := &SQLiteStore{path: abs}
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
	return s, nil
}

func (s *SQLiteStore) migrate(ctx context.Context) error {
	var v int
	if err := s.w.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > SQLiteSchemaVersion {
		return fmt.Errorf("schema version %d is newer than this program's %d", v, SQLiteSchemaVersion)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, stmt := range sqliteSchema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, SQLiteSchemaVersion)); err != nil {
		return fmt.Errorf("set schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	return nil
}

// Path returns the absolute path of the database file.
func (s *SQLiteStore) Path() string { return s.path }

func (s *SQLiteStore) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrStoreClosed
	}
	return nil
}

// Close closes the database. Closing twice is not an error.
func (s *SQLiteStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
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

func parseList(s sql.NullString, intern func(string) string) ([]string, error) {
	if !s.Valid || s.String == "" {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s.String), &l); err != nil {
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
func (s *SQLiteStore) Commit(ctx context.Context, c *Changeset) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	seqs, err := s.commit(ctx, c)
	if err != nil {
		return fmt.Errorf("identity: sqlite commit: %w", err)
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
// rowsPerStatement rows at a time: about 1.5 times faster than the best
// parameterised batching. Literals are built only by appendSQLString and
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

func (s *SQLiteStore) commit(ctx context.Context, c *Changeset) (seqs []uint64, err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tx.Rollback() //nolint:errcheck // the commit error is what matters
		}
	}()
	for i := range c.Employees {
		doc, err := json.Marshal(&c.Employees[i])
		if err == nil {
			_, err = tx.ExecContext(ctx, `INSERT INTO employees (id, doc) VALUES (?, ?)
				ON CONFLICT (id) DO UPDATE SET doc = excluded.doc`, c.Employees[i].ID, string(doc))
		}
		if err != nil {
			return nil, fmt.Errorf("employee %s: %w", c.Employees[i].ID, err)
		}
	}
	for i := range c.Personas {
		doc, err := json.Marshal(&c.Personas[i])
		if err == nil {
			_, err = tx.ExecContext(ctx, `INSERT INTO personas (id, doc) VALUES (?, ?)
				ON CONFLICT (id) DO UPDATE SET doc = excluded.doc`, c.Personas[i].ID, string(doc))
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
	if err := insertLiteralRows(ctx, tx, `INSERT INTO relationships
		(id, contact_id, persona_id, owner_id, former_persona_ids, merged_into,
		 created_at, updated_at, version)`,
		`ON CONFLICT (id) DO UPDATE SET contact_id = excluded.contact_id,
			persona_id = excluded.persona_id, owner_id = excluded.owner_id,
			former_persona_ids = excluded.former_persona_ids,
			merged_into = excluded.merged_into, created_at = excluded.created_at,
			updated_at = excluded.updated_at, version = excluded.version`, len(c.Relationships),
		func(i int, r *sqlRow) {
			rel := &c.Relationships[i]
			r.str(rel.ID)
			r.str(rel.ContactID)
			r.str(rel.PersonaID)
			r.str(rel.OwnerID)
			r.list(rel.FormerPersonaIDs)
			r.str(rel.MergedInto)
			r.int(unixNano(rel.CreatedAt))
			r.int(unixNano(rel.UpdatedAt))
			r.int(int64(rel.Version))
		}); err != nil {
		return nil, fmt.Errorf("relationships: %w", err)
	}
	// Audit entries are few per commit; one statement each gives each its
	// sequence number through LastInsertId.
	seqs = make([]uint64, len(c.Audit))
	for i := range c.Audit {
		a := &c.Audit[i]
		var details any
		if len(a.Details) > 0 {
			details = string(a.Details)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO audit
			(at, actor, action, reason, subject, details) VALUES (?, ?, ?, ?, ?, ?)`,
			unixNano(a.At), a.Actor, a.Action, a.Reason, a.Subject, details)
		if err != nil {
			return nil, fmt.Errorf("audit %s: %w", a.Action, err)
		}
		seq, err := res.LastInsertId()
		if err != nil {
			return nil, fmt.Errorf("audit %s: %w", a.Action, err)
		}
		seqs[i] = uint64(seq)
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return seqs, nil
}

// Load reads every record. Contacts and relationships, the bulk of a large
// store, are read in parallel on two connections, so the dataset is one
// consistent point in time only if nobody writes meanwhile, which holds
// for the Store of a State being opened (State is the only writer).
func (s *SQLiteStore) Load(ctx context.Context) (*Dataset, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	ds := &Dataset{}
	var relErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		ds.Relationships, relErr = readTable(ctx, s.r, loadRelationships)
	}()
	err := func() error {
		var err error
		if ds.Employees, err = readTable(ctx, s.r, loadDocs[Employee]("employees")); err != nil {
			return err
		}
		if ds.Personas, err = readTable(ctx, s.r, loadDocs[Persona]("personas")); err != nil {
			return err
		}
		ds.Contacts, err = readTable(ctx, s.r, loadContacts)
		return err
	}()
	<-done
	if err := errors.Join(err, relErr); err != nil {
		return nil, fmt.Errorf("identity: sqlite load: %w", err)
	}
	return ds, nil
}

// readTable runs load in a read-only transaction of its own.
func readTable[T any](ctx context.Context, db *sql.DB, load func(context.Context, *sql.Tx) ([]T, error)) ([]T, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
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
// row (plus the rarely set list column): the driver takes SQLite's mutex
// and allocates for every column of every row, so at a million rows one
// column instead of seven or nine halves the time to load. Stored text
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

func loadContacts(ctx context.Context, tx *sql.Tx) ([]Contact, error) {
	n, err := count(ctx, tx, "contacts")
	if err != nil {
		return nil, err
	}
	out := make([]Contact, 0, n)
	rows, err := tx.QueryContext(ctx, `SELECT id || char(0) || addr || char(0) || display_name
		|| char(0) || network || char(0) || source || char(0) || created_at, tags FROM contacts`)
	if err != nil {
		return nil, fmt.Errorf("contacts: %w", err)
	}
	defer rows.Close()
	var (
		row    string
		tags   sql.NullString
		f      [6]string
		intern = newInterner()
	)
	for rows.Next() {
		if err := rows.Scan(&row, &tags); err != nil {
			return nil, fmt.Errorf("contacts: %w", err)
		}
		if !splitFields(row, f[:]) {
			return nil, fmt.Errorf("contacts: corrupt row %q", row)
		}
		// ID, address and display name share one allocation; the rest of
		// the row is dropped.
		head := strings.Clone(row[:len(f[0])+len(f[1])+len(f[2])+2])
		c := Contact{
			ID:          head[:len(f[0])],
			Address:     Address{Network: intern(f[3]), Addr: head[len(f[0])+1 : len(f[0])+1+len(f[1])]},
			DisplayName: head[len(f[0])+len(f[1])+2:],
			Source:      intern(f[4]),
		}
		created, err := strconv.ParseInt(f[5], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("contact %s: created_at: %w", c.ID, err)
		}
		c.CreatedAt = fromUnixNano(created)
		if c.Tags, err = parseList(tags, intern); err != nil {
			return nil, fmt.Errorf("contact %s: tags: %w", c.ID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("contacts: %w", err)
	}
	return out, nil
}

func loadRelationships(ctx context.Context, tx *sql.Tx) ([]Relationship, error) {
	n, err := count(ctx, tx, "relationships")
	if err != nil {
		return nil, err
	}
	out := make([]Relationship, 0, n)
	rows, err := tx.QueryContext(ctx, `SELECT id || char(0) || contact_id || char(0) || persona_id
		|| char(0) || owner_id || char(0) || merged_into || char(0) || created_at
		|| char(0) || updated_at || char(0) || version, former_persona_ids FROM relationships`)
	if err != nil {
		return nil, fmt.Errorf("relationships: %w", err)
	}
	defer rows.Close()
	var (
		row    string
		former sql.NullString
		f      [8]string
		nums   [3]int64
		intern = newInterner()
	)
	for rows.Next() {
		if err := rows.Scan(&row, &former); err != nil {
			return nil, fmt.Errorf("relationships: %w", err)
		}
		if !splitFields(row, f[:]) {
			return nil, fmt.Errorf("relationships: corrupt row %q", row)
		}
		// ID and contact ID share one allocation; persona, owner and merge
		// target are interned (few distinct values).
		head := strings.Clone(row[:len(f[0])+len(f[1])+1])
		r := Relationship{
			ID:         head[:len(f[0])],
			ContactID:  head[len(f[0])+1:],
			PersonaID:  intern(f[2]),
			OwnerID:    intern(f[3]),
			MergedInto: intern(f[4]),
		}
		for i := range nums {
			if nums[i], err = strconv.ParseInt(f[5+i], 10, 64); err != nil {
				return nil, fmt.Errorf("relationship %s: %w", r.ID, err)
			}
		}
		r.CreatedAt, r.UpdatedAt, r.Version = fromUnixNano(nums[0]), fromUnixNano(nums[1]), uint64(nums[2])
		if r.FormerPersonaIDs, err = parseList(former, intern); err != nil {
			return nil, fmt.Errorf("relationship %s: former personas: %w", r.ID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("relationships: %w", err)
	}
	return out, nil
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

// Audit returns the audit entries matching q in sequence order.
func (s *SQLiteStore) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
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
	args = append(args, q.limit())
	rows, err := s.r.QueryContext(ctx, `SELECT seq, at, actor, action, reason, subject, details
		FROM audit WHERE `+strings.Join(where, " AND ")+` ORDER BY seq LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("identity: sqlite audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var (
			e       AuditEntry
			seq, at int64
			details sql.NullString
		)
		if err := rows.Scan(&seq, &at, &e.Actor, &e.Action, &e.Reason, &e.Subject, &details); err != nil {
			return nil, fmt.Errorf("identity: sqlite audit: %w", err)
		}
		e.Seq, e.At = uint64(seq), fromUnixNano(at)
		if details.Valid {
			e.Details = []byte(details.String)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("identity: sqlite audit: %w", err)
	}
	return out, nil
}
