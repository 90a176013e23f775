// Package sqldb is what Kakehashi's durable stores share to run on both
// of their databases: SQLite (modernc.org/sqlite, the embedded default)
// and PostgreSQL (github.com/jackc/pgx/v5 through database/sql, when
// several instances share one store).
//
// A store is named by a URL (Parse): "sqlite:PATH" or a bare path for
// SQLite, "postgres://…" or "postgresql://…" for PostgreSQL. Code is
// written once, in SQL both databases accept, with "?" placeholders that
// Rebind turns into PostgreSQL's "$1, $2…". What the two share, and is
// therefore preferred to a switch on the dialect:
//
//   - INSERT … ON CONFLICT DO NOTHING (instead of SQLite's INSERT OR
//     IGNORE) and INSERT … ON CONFLICT (key) DO UPDATE SET c = excluded.c
//     (instead of INSERT OR REPLACE, which in SQLite deletes the old row
//     first). In SQLite an INSERT … SELECT with ON CONFLICT needs a WHERE
//     clause (WHERE true) so that ON is not read as a join's.
//   - RETURNING, on INSERT, UPDATE and DELETE.
//   - a conditional UPDATE (UPDATE … WHERE version = ?) that reports
//     through its row count whether it won.
//
// What differs, and the hook for it here: placeholders (Rebind),
// row locks (Dialect.ForUpdate: PostgreSQL locks the rows a transaction
// reads to write them; SQLite needs nothing, as its writers take the one
// write lock at BEGIN IMMEDIATE), transaction-scoped locks on a name
// (XactLock), whether a table exists (TableExists), and error classes
// (IsUniqueViolation, IsRetryable). Schemas differ too (AUTOINCREMENT is
// GENERATED ALWAYS AS IDENTITY, BLOB is BYTEA, WITHOUT ROWID has no
// counterpart): internal/migrate loads each dialect's migrations from a
// directory of its own.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect is the kind of database a store runs on. The zero value is
// SQLite, so that code written before PostgreSQL keeps its meaning.
type Dialect int

const (
	// SQLite is an embedded SQLite database (modernc.org/sqlite, driver
	// name "sqlite").
	SQLite Dialect = iota
	// Postgres is a PostgreSQL server (pgx's database/sql driver, driver
	// name "pgx").
	Postgres
)

// String returns "sqlite" or "postgres": the name of the dialect's
// directory of migrations, among others.
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// Driver returns the database/sql driver name for the dialect.
func (d Dialect) Driver() string {
	if d == Postgres {
		return "pgx"
	}
	return "sqlite"
}

// ForUpdate returns the clause that locks the rows a SELECT reads until
// the transaction ends, to append to a SELECT whose rows the
// transaction then writes: " FOR UPDATE" for PostgreSQL, "" for SQLite,
// whose writing transactions hold the database's one write lock from
// their BEGIN IMMEDIATE.
func (d Dialect) ForUpdate() string {
	if d == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// Source says where a store is: the dialect and how to reach it.
type Source struct {
	// Dialect is the kind of database.
	Dialect Dialect
	// Path is the SQLite database file (SQLite only).
	Path string
	// URL is the PostgreSQL connection URL as given (PostgreSQL only).
	URL string
}

// String returns the source as a store URL, with any password replaced
// by "xxxxx", fit for logs and error messages.
func (s Source) String() string {
	if s.Dialect == Postgres {
		return Redact(s.URL)
	}
	return "sqlite:" + s.Path
}

// ErrBadSource is the error of Parse for a string that names no store.
var ErrBadSource = errors.New("not a store URL")

// Parse reads a store URL: "postgres://…" or "postgresql://…" (pgx's
// connection URL: user, password, host, port, database and parameters
// such as sslmode) for PostgreSQL; "sqlite:PATH", "sqlite://PATH" or a
// bare file path for SQLite. Any other "scheme://" is refused, so that a
// mistyped URL does not become a file of that name.
func Parse(s string) (Source, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Source{}, fmt.Errorf("sqldb: %w: empty", ErrBadSource)
	}
	scheme, rest, hasScheme := strings.Cut(s, ":")
	switch low := strings.ToLower(scheme); {
	case hasScheme && (low == "postgres" || low == "postgresql"):
		if !strings.HasPrefix(rest, "//") {
			return Source{}, fmt.Errorf("sqldb: %w: %s: want postgres://user:password@host:port/database", ErrBadSource, Redact(s))
		}
		if _, err := pgx.ParseConfig(s); err != nil {
			return Source{}, fmt.Errorf("sqldb: %w: %s: %v", ErrBadSource, Redact(s), redactErr(err, s))
		}
		return Source{Dialect: Postgres, URL: s}, nil
	case hasScheme && low == "sqlite":
		path := strings.TrimPrefix(rest, "//")
		if path == "" {
			return Source{}, fmt.Errorf("sqldb: %w: %q names no file", ErrBadSource, s)
		}
		return Source{Dialect: SQLite, Path: path}, nil
	case hasScheme && strings.HasPrefix(rest, "//"):
		return Source{}, fmt.Errorf("sqldb: %w: %s: scheme %q is neither sqlite nor postgres", ErrBadSource, Redact(s), scheme)
	}
	return Source{Dialect: SQLite, Path: s}, nil
}

// Redact returns a PostgreSQL URL with its password, if any, replaced by
// "xxxxx". A string that is not a URL is returned as "(unparsable URL)"
// rather than risk printing a password.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// redactErr keeps a parse error from repeating the password it found.
func redactErr(err error, s string) string {
	msg := err.Error()
	if u, perr := url.Parse(s); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// OpenPostgres opens a pool of connections to the PostgreSQL database at
// url through pgx's database/sql driver, and checks that it answers. The
// caller sizes the pool (sql.DB.SetMaxOpenConns) and closes it.
// Statements are prepared once per connection and cached (pgx's default),
// so a query written once is parsed once per connection; a statement
// without arguments goes by the simple protocol, unprepared.
// standard_conforming_strings is on for every connection, so a string
// literal means the same as in SQLite: a quote inside is written twice,
// a backslash is an ordinary character.
func OpenPostgres(ctx context.Context, url string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("sqldb: %s: %s", Redact(url), redactErr(err, url))
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "kakehashi"
	}
	// Literals quote with doubled single quotes only, backslashes being
	// ordinary characters: what code that writes SQL literals (identity's
	// bulk writes) relies on, whatever the server's or database's
	// default.
	cfg.RuntimeParams["standard_conforming_strings"] = "on"
	// A connection idle in the pool is pinged before it is used again if
	// it idled for more than idlePing (pgx's default is a second): after
	// the server restarts, each connection left from before fails the
	// first query sent on it ("unexpected EOF"), and a restart can take
	// less than a second. Pinged, it is discarded before any query.
	db := stdlib.OpenDB(*cfg, stdlib.OptionShouldPing(func(_ context.Context, p stdlib.ShouldPingParams) bool {
		return p.IdleDuration > idlePing
	}))
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqldb: connect to %s: %w", Redact(url), err)
	}
	return db, nil
}

// idlePing is how long a pooled PostgreSQL connection may idle before it
// is pinged when taken again: a busy gateway's connections rarely idle
// that long, an idle one's extra round trip costs nothing.
const idlePing = 100 * time.Millisecond

// Rebind returns query with its "?" placeholders written the dialect's
// way: unchanged for SQLite, "$1", "$2"… in order for PostgreSQL. A "?"
// inside a string literal ('…', E'…'), a quoted identifier ("…"), a
// dollar-quoted string ($tag$…$tag$) or a comment is left alone. Queries
// using PostgreSQL's jsonb operators ?, ?| and ?& cannot be rebound;
// write them with $n and do not pass them here.
func Rebind(d Dialect, query string) string {
	if d != Postgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); {
		c := query[i]
		switch {
		case c == '?':
			n++
			fmt.Fprintf(&b, "$%d", n)
			i++
		case c == '\'':
			// E'…' strings take backslash escapes.
			escapes := i > 0 && (query[i-1] == 'E' || query[i-1] == 'e') && (i < 2 || !isIdentChar(query[i-2]))
			j := skipQuoted(query, i, '\'', escapes)
			b.WriteString(query[i:j])
			i = j
		case c == '"':
			j := skipQuoted(query, i, '"', false)
			b.WriteString(query[i:j])
			i = j
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = len(query) - i
			}
			b.WriteString(query[i : i+j])
			i += j
		case c == '/' && i+1 < len(query) && query[i+1] == '*':
			j := skipBlockComment(query, i)
			b.WriteString(query[i:j])
			i = j
		case c == '$' && (i == 0 || !isIdentChar(query[i-1])):
			j := skipDollarQuoted(query, i)
			b.WriteString(query[i:j])
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

func isIdentChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// skipQuoted returns the index just after the literal opened by q at i,
// where a doubled q stands for itself (and, with escapes, a backslash
// escapes the next byte); the end of query if it is not closed.
func skipQuoted(query string, i int, q byte, escapes bool) int {
	for j := i + 1; j < len(query); j++ {
		switch query[j] {
		case '\\':
			if escapes {
				j++
			}
		case q:
			if j+1 < len(query) && query[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(query)
}

// skipBlockComment returns the index just after the comment opened at i
// (PostgreSQL's block comments nest).
func skipBlockComment(query string, i int) int {
	depth := 0
	for j := i; j+1 < len(query); j++ {
		switch {
		case query[j] == '/' && query[j+1] == '*':
			depth++
			j++
		case query[j] == '*' && query[j+1] == '/':
			depth--
			j++
			if depth == 0 {
				return j + 1
			}
		}
	}
	return len(query)
}

// skipDollarQuoted returns the index just after the dollar-quoted string
// opened at i ($$…$$ or $tag$…$tag$), or i+1 if the '$' at i opens none
// (a positional parameter such as $1).
func skipDollarQuoted(query string, i int) int {
	j := i + 1
	for j < len(query) && query[j] != '$' {
		c := query[j]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || j > i+1 && c >= '0' && c <= '9') {
			return i + 1
		}
		j++
	}
	if j >= len(query) {
		return i + 1
	}
	tag := query[i : j+1]
	end := strings.Index(query[j+1:], tag)
	if end < 0 {
		return len(query)
	}
	return j + 1 + end + len(tag)
}

// Params returns n placeholders separated by commas ("?, ?, ?"), for an
// IN list or a VALUES row of n values; Rebind numbers them.
func Params(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// Querier is what runs statements: *sql.DB, *sql.Tx and *sql.Conn are
// Queriers.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// TableExists reports whether a table named name exists: in SQLite's main
// database, or in PostgreSQL's current schema (the first of search_path).
func TableExists(ctx context.Context, q Querier, d Dialect, name string) (bool, error) {
	query := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if d == Postgres {
		query = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`
	}
	var n int
	if err := q.QueryRowContext(ctx, query, name).Scan(&n); err != nil {
		return false, fmt.Errorf("sqldb: look for table %s: %w", name, err)
	}
	return n > 0, nil
}

// XactLock takes a lock named key that the transaction tx holds until it
// ends, so that transactions taking the same key run one after another,
// whatever rows they touch (in PostgreSQL, pg_advisory_xact_lock on a
// hash of key: keys whose hashes collide share a lock, which is only
// slower). In SQLite it does nothing: a writing transaction begun with
// BEGIN IMMEDIATE already holds the only write lock.
func XactLock(ctx context.Context, tx *sql.Tx, d Dialect, key string) error {
	if d != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, key); err != nil {
		return fmt.Errorf("sqldb: lock %q: %w", key, err)
	}
	return nil
}

// PostgreSQL's SQLSTATE codes that IsUniqueViolation and IsRetryable
// look for.
const (
	pgUniqueViolation      = "23505"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
)

// IsUniqueViolation reports whether err is a database's refusal of a row
// that would repeat a unique or primary key.
func IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == pgUniqueViolation
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// IsRetryable reports whether err ended a transaction that may simply be
// run again from its start: a PostgreSQL serialization failure or
// deadlock, or SQLite's busy or locked database.
func IsRetryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == pgSerializationFailure || pe.Code == pgDeadlockDetected
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff // the primary code of an extended one
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	return false
}

// InTx runs fn in a transaction of db begun with opts and commits it, or
// rolls it back if fn or the commit fails. A transaction that fails with
// a retryable error (IsRetryable) is run again from its start, up to
// attempts times in all (at least once), so fn must not have effects
// outside tx that a second run would repeat. The error of the last
// attempt is returned, wrapped.
func InTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, attempts int, fn func(*sql.Tx) error) error {
	if attempts < 1 {
		attempts = 1
	}
	var err error
	for range attempts {
		if err = runTx(ctx, db, opts, fn); err == nil || !IsRetryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return fmt.Errorf("sqldb: gave up after %d attempts: %w", attempts, err)
}

func runTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("sqldb: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, rollback(tx))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqldb: commit: %w", err)
	}
	return nil
}

func rollback(tx *sql.Tx) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("sqldb: rollback: %w", err)
	}
	return nil
}
