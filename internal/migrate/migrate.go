// Package migrate brings the schema of an SQLite or PostgreSQL database
// up to date by applying numbered migrations in order, each in a
// transaction of its own, and records each in a table of the database
// (schema_migrations by default):
//
//	version    INTEGER PRIMARY KEY  the migration's number, 1, 2, 3…
//	name       TEXT                 its name, e.g. "relationship_columns"
//	applied_at TEXT                 when it was applied (RFC 3339, UTC)
//	baseline   INTEGER              1 if it was found in place, not run (see Options.Baseline)
//
// A database's schema version is the highest version recorded there. Up
// refuses a database whose version is newer than the newest migration the
// program knows (ErrNewerSchema), so that an older release never writes
// to a schema it does not understand.
//
// Migrations are usually SQL files embedded in the program, one per
// migration, named NNNN_name.sql (see Load):
//
//	//go:embed migrations/*.sql
//	var migrationFiles embed.FS
//
//	ms, err := migrate.Load(migrationFiles, "migrations")
//	…
//	res, err := migrate.Up(ctx, db, ms, migrate.Options{})
//
// A migration may also be Go code (Migration.Func), for changes SQL alone
// cannot make, such as filling a new column with a value computed in Go.
//
// A program that runs on both databases keeps one directory of
// migrations per dialect, named after it (sqldb.Dialect.String), and
// loads the one of the database it opens (LoadDialect):
//
//	//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
//	var migrationFiles embed.FS
//
//	ms, err := migrate.LoadDialect(migrationFiles, "migrations", sqldb.Postgres)
//	…
//	res, err := migrate.Up(ctx, db, ms, migrate.Options{Dialect: sqldb.Postgres})
//
// Each dialect's history is its own: its versions count its own
// migrations, so a PostgreSQL schema that starts where SQLite's fourth
// migration left off may be one migration, version 1. Separate files
// rather than one file with switches, because the two schemas differ in
// more than spelling (WITHOUT ROWID, AUTOINCREMENT, COLLATE NOCASE against
// identity columns, BYTEA, unique indexes on expressions), and a reader
// of either should see it whole.
//
// Rules for writing migrations:
//
//   - Never edit or renumber a migration once released: databases record
//     that they have run it. Add a new one instead.
//   - A migration runs inside a transaction, with the others' effects
//     visible and nothing else in between. Statements that SQLite refuses
//     inside a transaction (VACUUM, PRAGMA journal_mode, PRAGMA
//     foreign_keys…) do not belong in a migration; set them when opening
//     the database.
//   - SQL migrations are executed with one ExecContext call, so a file may
//     hold several statements if the driver runs them all (modernc.org/sqlite
//     does, and so does pgx: a statement without arguments goes by
//     PostgreSQL's simple query protocol).
//   - In PostgreSQL, DDL is transactional, so a failed migration leaves
//     nothing behind; statements that refuse a transaction (CREATE INDEX
//     CONCURRENTLY, ALTER TYPE … ADD VALUE before version 12) do not belong
//     in a migration.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/internal/sqldb"
)

// Migration is one step of a schema's history.
type Migration struct {
	// Version numbers migrations from 1, without gaps; they are applied
	// in that order.
	Version int
	// Name says what the migration does, in a word or a few joined by
	// underscores; it is recorded with the version.
	Name string
	// SQL, if not empty, is executed first, in one ExecContext call.
	SQL string
	// Func, if not nil, runs after SQL, in the same transaction.
	Func func(ctx context.Context, tx *sql.Tx) error
}

// String names m as its file would be named: "0002_relationship_columns".
func (m Migration) String() string { return fmt.Sprintf("%04d_%s", m.Version, m.Name) }

// DefaultTable is the table Up records migrations in unless
// Options.Table names another.
const DefaultTable = "schema_migrations"

// Options adjusts Up. The zero value is ready to use.
type Options struct {
	// Table is the name of the table that records migrations (default
	// DefaultTable): letters, digits and underscores.
	Table string
	// Baseline is called, inside the first transaction, for a database
	// that has no migrations table yet. It returns the version the
	// database's schema is already at: 0 for a new, empty database, or
	// the last migration whose effect it already has, for a database
	// written by a release from before the migrations table (found by
	// looking at its tables and columns). Up records migrations 1 to that
	// version as applied without running them, once. It may return an
	// error for a layout it does not recognise; Up then changes nothing.
	// Nil means every database without the table is new.
	Baseline func(ctx context.Context, tx *sql.Tx) (int, error)
	// UserVersion also keeps SQLite's PRAGMA user_version equal to the
	// schema version (in the same transactions), and refuses a database
	// whose user_version is newer than the newest migration. Set it for a
	// database whose earlier releases kept their schema version there:
	// they refuse a database whose user_version is newer than theirs, so
	// the newest of them will not open a database migrated beyond it.
	// SQLite only: Up refuses it for PostgreSQL.
	UserVersion bool
	// Dialect is the database's kind (default, the zero value: SQLite).
	// It decides how Up looks for its table, writes placeholders and
	// keeps concurrent runs apart.
	Dialect sqldb.Dialect
	// Now is the clock for applied_at (default time.Now).
	Now func() time.Time
}

// Result says what Up did.
type Result struct {
	// From is the schema version the database had (after Baseline, if it
	// ran), To the version it has now.
	From, To int
	// Baselined is true if the database had no migrations table: Up
	// created it, recording migrations 1 to From as found in place.
	Baselined bool
	// Applied lists the migrations Up ran, in order.
	Applied []Migration
}

// ErrNewerSchema is the error of Up for a database whose schema version is
// newer than the newest migration it was given: the database was written
// by a later release. The error names both versions.
var ErrNewerSchema = errors.New("database schema is newer than this program")

// TxBeginner begins transactions: *sql.DB and *sql.Conn are
// TxBeginners.
type TxBeginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// Up brings the database to the newest of migrations (a list as Load
// returns it: versions 1 to n in order), applying those it has not
// applied yet, each in a transaction of its own together with its record
// (and, if asked, user_version). If a migration fails, its transaction
// is rolled back, leaving the database as the previous migration left it
// (or as it was, if it failed in the first transaction, the one that
// also creates the migrations table), and Up returns the error, naming
// the migration.
//
// Each transaction reads the schema version again before it applies the
// next migration, so several processes may run Up on one database at once,
// and each migration is applied once, provided db begins transactions
// that take SQLite's write lock at once (BEGIN IMMEDIATE: the
// modernc.org/sqlite DSN parameter _txlock=immediate); with the default
// deferred transactions a process that loses the race gets SQLITE_BUSY
// and may simply retry. In PostgreSQL each transaction first takes an
// advisory lock named after the table (sqldb.XactLock), so concurrent
// runs take their turns: the lock is taken before anything is read, and
// at READ COMMITTED (PostgreSQL's default, which db must keep) each
// statement after it sees what the previous holder committed.
func Up(ctx context.Context, db TxBeginner, migrations []Migration, opts Options) (*Result, error) {
	if err := Check(migrations); err != nil {
		return nil, err
	}
	table := opts.Table
	if table == "" {
		table = DefaultTable
	}
	if !identifier.MatchString(table) {
		return nil, fmt.Errorf("migrate: table name %q: use letters, digits and underscores", table)
	}
	if opts.UserVersion && opts.Dialect != sqldb.SQLite {
		return nil, fmt.Errorf("migrate: UserVersion is SQLite's PRAGMA user_version; %s has none", opts.Dialect)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	r := &runner{db: db, ms: migrations, opts: opts, table: table, now: now, res: &Result{}}
	for {
		done, err := r.step(ctx)
		if err != nil {
			return r.res, err
		}
		if done {
			return r.res, nil
		}
	}
}

// identifier is what Options.Table may be: it is written into statements,
// as SQL cannot take a table name as a parameter.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Check reports whether migrations are numbered 1 to n in order, each
// named and with something to run.
func Check(migrations []Migration) error {
	for i, m := range migrations {
		switch {
		case m.Version != i+1:
			return fmt.Errorf("migrate: migration %d of the list is numbered %d: want versions 1 to %d in order, without gaps or repeats",
				i+1, m.Version, len(migrations))
		case m.Name == "":
			return fmt.Errorf("migrate: migration %d has no name", m.Version)
		case strings.TrimSpace(m.SQL) == "" && m.Func == nil:
			return fmt.Errorf("migrate: migration %s has neither SQL nor Func", m)
		}
	}
	return nil
}

type runner struct {
	db    TxBeginner
	ms    []Migration
	opts  Options
	table string
	now   func() time.Time
	res   *Result
	// started is set once res.From holds the version found.
	started bool
}

// beginPatience is how long begin tries again a transaction that SQLite
// refused as busy.
const beginPatience = 10 * time.Second

// begin begins a step's transaction. SQLite may answer a BEGIN IMMEDIATE
// busy at once, without waiting out the busy timeout: while another
// connection switches a new database to WAL, or recovers its WAL index
// (TestUpConcurrently saw it about once in 150 runs of four processes
// opening one new file). Busy is tried again, with a growing pause, for
// up to beginPatience; any other error is returned at once.
func (r *runner) begin(ctx context.Context) (*sql.Tx, error) {
	deadline := time.Now().Add(beginPatience)
	for wait := 2 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		tx, err := r.db.BeginTx(ctx, nil)
		if err == nil || !sqldb.IsRetryable(err) || time.Now().After(deadline) {
			return tx, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// step runs one transaction: it reads the version (creating the table
// first if there is none), applies the next migration if there is one,
// and reports whether the database is now current.
func (r *runner) step(ctx context.Context) (bool, error) {
	latest := len(r.ms)
	tx, err := r.begin(ctx)
	if err != nil {
		return false, fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit; otherwise nothing is kept
	if err := sqldb.XactLock(ctx, tx, r.opts.Dialect, "migrate."+r.table); err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	uv := 0
	if r.opts.UserVersion {
		var err error
		if uv, err = userVersion(ctx, tx); err != nil {
			return false, err
		}
		if uv > latest {
			return false, fmt.Errorf("migrate: %w: its user_version is %d, and this program knows versions up to %d", ErrNewerSchema, uv, latest)
		}
	}
	v, exists, err := recorded(ctx, tx, r.opts.Dialect, r.table)
	if err != nil {
		return false, err
	}
	baselined := false
	if !exists {
		if v, err = r.baseline(ctx, tx); err != nil {
			return false, err
		}
		baselined = true
	}
	if v > latest {
		return false, fmt.Errorf("migrate: %w: it is at version %d, and this program knows versions up to %d", ErrNewerSchema, v, latest)
	}
	if !r.started {
		r.res.From, r.started = v, true
	}
	var applied *Migration
	if v < latest {
		m := &r.ms[v]
		if err := r.apply(ctx, tx, m); err != nil {
			return false, err
		}
		applied, v = m, m.Version
	}
	syncUV := r.opts.UserVersion && uv != v
	if applied == nil && !baselined && !syncUV {
		r.res.To = v
		return true, nil
	}
	if syncUV {
		// PRAGMA takes no parameters; v is an int.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
			return false, fmt.Errorf("migrate: set user_version: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		what := fmt.Sprintf("user_version %d", v)
		switch {
		case applied != nil:
			what = applied.String()
		case baselined:
			what = fmt.Sprintf("baseline version %d", v)
		}
		return false, fmt.Errorf("migrate: commit %s: %w", what, err)
	}
	r.res.Baselined = r.res.Baselined || baselined
	if applied != nil {
		r.res.Applied = append(r.res.Applied, *applied)
	}
	r.res.To = v
	return v == latest, nil
}

// baseline creates the migrations table and records the migrations the
// database already has.
func (r *runner) baseline(ctx context.Context, tx *sql.Tx) (int, error) {
	v := 0
	if r.opts.Baseline != nil {
		var err error
		if v, err = r.opts.Baseline(ctx, tx); err != nil {
			return 0, fmt.Errorf("migrate: find the schema version of a database without %s: %w", r.table, err)
		}
	}
	switch {
	case v < 0:
		return 0, fmt.Errorf("migrate: baseline version %d is negative", v)
	case v > len(r.ms):
		return 0, fmt.Errorf("migrate: %w: its tables are those of version %d, and this program knows versions up to %d",
			ErrNewerSchema, v, len(r.ms))
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE `+r.table+` (
		version    INTEGER PRIMARY KEY NOT NULL,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL,
		baseline   INTEGER NOT NULL DEFAULT 0
	)`); err != nil {
		return 0, fmt.Errorf("migrate: create %s: %w", r.table, err)
	}
	for _, m := range r.ms[:v] {
		if err := r.record(ctx, tx, &m, true); err != nil {
			return 0, err
		}
	}
	return v, nil
}

func (r *runner) apply(ctx context.Context, tx *sql.Tx, m *Migration) error {
	if strings.TrimSpace(m.SQL) != "" {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrate: %s: %w", m, err)
		}
	}
	if m.Func != nil {
		if err := m.Func(ctx, tx); err != nil {
			return fmt.Errorf("migrate: %s: %w", m, err)
		}
	}
	return r.record(ctx, tx, m, false)
}

func (r *runner) record(ctx context.Context, tx *sql.Tx, m *Migration, baseline bool) error {
	// baseline as 0 or 1, as SQLite has always stored it: PostgreSQL
	// takes no bool into an INTEGER column.
	b := 0
	if baseline {
		b = 1
	}
	_, err := tx.ExecContext(ctx, sqldb.Rebind(r.opts.Dialect, `INSERT INTO `+r.table+` (version, name, applied_at, baseline) VALUES (?, ?, ?, ?)`),
		m.Version, m.Name, r.now().UTC().Format(time.RFC3339Nano), b)
	if err != nil {
		return fmt.Errorf("migrate: record %s: %w", m, err)
	}
	return nil
}

// recorded returns the highest version in table, and whether the table
// exists.
func recorded(ctx context.Context, tx *sql.Tx, d sqldb.Dialect, table string) (int, bool, error) {
	exists, err := sqldb.TableExists(ctx, tx, d, table)
	if err != nil {
		return 0, false, fmt.Errorf("migrate: %w", err)
	}
	if !exists {
		return 0, false, nil
	}
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM `+table).Scan(&v); err != nil {
		return 0, false, fmt.Errorf("migrate: read %s: %w", table, err)
	}
	return v, true, nil
}

func userVersion(ctx context.Context, tx *sql.Tx) (int, error) {
	var v int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("migrate: read user_version: %w", err)
	}
	return v, nil
}

// fileName is how a migration file is named: its version (digits, at
// least four, zero-padded so that files list in order), an underscore,
// its name, ".sql".
var fileName = regexp.MustCompile(`^([0-9]{4,})_([A-Za-z0-9_]+)\.sql$`)

// Load reads the SQL migrations in directory dir of fsys (typically an
// embed.FS), one per file named NNNN_name.sql, for example
// "0001_initial.sql", "0002_relationship_columns.sql". It returns them
// sorted by version and checked (see Check): numbered from 1, without gaps
// or repeats. Files not ending in .sql are ignored; a .sql file named
// otherwise is an error, so that a misnamed migration is not silently
// skipped.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		sub := fileName.FindStringSubmatch(e.Name())
		if sub == nil {
			return nil, fmt.Errorf("migrate: %s: want a name like 0001_initial.sql", path.Join(dir, e.Name()))
		}
		v, err := strconv.Atoi(sub[1])
		if err != nil {
			return nil, fmt.Errorf("migrate: %s: %w", path.Join(dir, e.Name()), err)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		ms = append(ms, Migration{Version: v, Name: sub[2], SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	if err := Check(ms); err != nil {
		return nil, err
	}
	return ms, nil
}

// LoadDialect loads (as Load does) the migrations for dialect d from the
// directory named after it under dir: dir/sqlite or dir/postgres.
func LoadDialect(fsys fs.FS, dir string, d sqldb.Dialect) ([]Migration, error) {
	return Load(fsys, path.Join(dir, d.String()))
}
