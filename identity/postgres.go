package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kakehashi/kakehashi/internal/migrate"
	"github.com/kakehashi/kakehashi/internal/sqldb"
)

// PostgresSchemaVersion is the version of the PostgreSQL schema this
// package writes: the number of its migrations (migrations/postgres,
// applied by internal/migrate and recorded in schema_migrations). Its
// history is its own: version 1 is what SQLite reached in four.
const PostgresSchemaVersion = 2

// postgresPoolSize bounds the store's connections: the writer, Load's two
// readers, and the admin API's reads beside them.
const postgresPoolSize = 8

// OpenPostgres opens the PostgreSQL database at url (a postgres:// URL,
// see sqldb.Parse) and makes sure its schema is current. Several
// processes may open one database: migrations take turns, and the
// store's writes lock what they read (see SQLStore).
func OpenPostgres(ctx context.Context, url string) (*SQLStore, error) {
	db, err := sqldb.OpenPostgres(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	db.SetMaxOpenConns(postgresPoolSize)
	db.SetMaxIdleConns(postgresPoolSize)
	s := &SQLStore{d: sqldb.Postgres, name: "postgres", w: db, r: db, outcomeWait: commitOutcomeWait}
	fail := func(err error) (*SQLStore, error) {
		db.Close()
		return nil, fmt.Errorf("identity: postgres %s: %w", sqldb.Redact(url), err)
	}
	ms, err := migrate.LoadDialect(migrationFiles, "migrations", sqldb.Postgres)
	if err != nil {
		return fail(err)
	}
	if len(ms) != PostgresSchemaVersion {
		return fail(fmt.Errorf("%d migrations embedded, but PostgresSchemaVersion is %d", len(ms), PostgresSchemaVersion))
	}
	if _, err := migrate.Up(ctx, db, ms, migrate.Options{Dialect: sqldb.Postgres}); err != nil {
		return fail(err)
	}
	if err := s.start(ctx); err != nil {
		return fail(err)
	}
	return s, nil
}

// ErrCommitUnknown is the error of a commit whose connection to
// PostgreSQL failed while the server was committing, and whose outcome
// the store could not learn afterwards (the server stayed out of reach):
// the change may or may not be stored. State stops taking changes after
// it (its memory may no longer match the store) until it is opened
// again, which reads what the store holds.
var ErrCommitUnknown = errors.New("identity: commit outcome unknown: the connection to the database failed during the commit")

// pgInvalidParameterValue is the SQLSTATE of txid_status for a
// transaction id the server has not reached.
const pgInvalidParameterValue = "22023"

// commitOutcomeWait is how long a commit whose connection failed keeps
// asking the server how it ended before it gives up (ErrCommitUnknown).
const commitOutcomeWait = 30 * time.Second

// txID returns the PostgreSQL transaction id of tx (assigning one, as
// its first write would), or 0 in SQLite, whose commits cannot be in
// doubt that way.
//
// In the same round trip it has the server plan the transaction's
// statements generically (plan_cache_mode, until the transaction ends).
// A custom plan, which the server makes for the first executions of
// each prepared statement on a connection, copies every parameter into
// the plan as a constant, several times over: for the 24 MB of audit
// details of a transfer of 100,000 relationships, 100-250 ms of the
// server's time. The store's writes gain nothing from custom plans
// (inserts, and updates by primary key).
func (s *SQLStore) txID(ctx context.Context, tx *sql.Tx) (int64, error) {
	if s.d != sqldb.Postgres {
		return 0, nil
	}
	var xid int64
	if err := tx.QueryRowContext(ctx, `SELECT txid_current(), set_config('plan_cache_mode', 'force_generic_plan', true)`).Scan(&xid, new(string)); err != nil {
		return 0, fmt.Errorf("transaction id: %w", err)
	}
	return xid, nil
}

// commitTx commits tx, whose id is xid (txID). The Store's promise is
// that an error means nothing was stored; a PostgreSQL connection that
// fails during COMMIT leaves that open (the server may have committed
// before the connection broke), so then the store asks the server, on
// another connection, how transaction xid ended: committed is success,
// aborted the error, and no answer within outcomeWait ErrCommitUnknown.
// An error the server itself sent means it rolled the transaction back.
func (s *SQLStore) commitTx(ctx context.Context, tx *sql.Tx, xid int64) error {
	err := tx.Commit()
	if err == nil || xid == 0 {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return err
	}
	return s.commitOutcome(ctx, xid, err)
}

// commitOutcome asks the server how transaction xid ended (see commitTx);
// cause is the commit's error.
func (s *SQLStore) commitOutcome(ctx context.Context, xid int64, cause error) error {
	deadline := time.Now().Add(s.outcomeWait)
	wait := 20 * time.Millisecond
	for {
		var status sql.NullString
		err := s.w.QueryRowContext(ctx, `SELECT txid_status($1)`, xid).Scan(&status)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == pgInvalidParameterValue {
			// "transaction ID … is in the future": the server restarted
			// without any record of xid in its log, so it never
			// committed (a commit record is flushed with all before it).
			return cause
		}
		if err == nil {
			switch status.String {
			case "committed":
				return nil
			case "aborted":
				return cause
			}
			// "in progress": the server has not finished the commit.
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("%w (transaction %d: %w)", ErrCommitUnknown, xid, cause)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (transaction %d: %w)", ErrCommitUnknown, xid, errors.Join(cause, ctx.Err()))
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// snapshotID is what pg_export_snapshot returns (e.g.
// "00000003-0000001B-1"); it is written into SET TRANSACTION SNAPSHOT,
// which takes no parameters.
var snapshotID = regexp.MustCompile(`^[0-9A-Fa-f-]+$`)

// sharedSnapshot begins a read-only REPEATABLE READ transaction (the
// anchor, to roll back once the reads are done) and exports its snapshot;
// begin begins further such transactions that see exactly what the
// anchor sees, however other processes commit meanwhile.
func (s *SQLStore) sharedSnapshot(ctx context.Context) (anchor *sql.Tx, begin func(context.Context) (*sql.Tx, error), err error) {
	opts := &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	anchor, err = s.r.BeginTx(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	var id string
	if err := anchor.QueryRowContext(ctx, `SELECT pg_export_snapshot()`).Scan(&id); err != nil {
		anchor.Rollback() //nolint:errcheck // read-only
		return nil, nil, fmt.Errorf("export snapshot: %w", err)
	}
	if !snapshotID.MatchString(id) {
		anchor.Rollback() //nolint:errcheck // read-only
		return nil, nil, fmt.Errorf("export snapshot: unexpected id %q", id)
	}
	begin = func(ctx context.Context) (*sql.Tx, error) {
		tx, err := s.r.BeginTx(ctx, opts)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `SET TRANSACTION SNAPSHOT '`+id+`'`); err != nil {
			tx.Rollback() //nolint:errcheck // read-only
			return nil, fmt.Errorf("import snapshot: %w", err)
		}
		return tx, nil
	}
	return anchor, begin, nil
}

// pgRelRowQuery reads the relationships table as scanRelationships does
// in SQLite (the same thirteen text fields in one column, the same three
// integer columns), with the fields' lengths in bytes before them
// instead of NUL between them: "3,5,…;r-1c-123…" (see splitPrefixed).
var pgRelRowQuery = prefixedRowQuery([]string{"id", "contact_id", "persona_id", "owner_id", "merged_into", "last_transfer_id",
	"coalesce(former_persona_ids, '')", "coalesce(tags, '')",
	"CASE WHEN last_activity = 0 THEN '' ELSE last_activity::text END",
	"CASE WHEN owner_version = 0 THEN '' ELSE owner_version::text END",
	"CASE WHEN gone_at = 0 THEN '' ELSE gone_at::text END",
	"gone", "remark"}, "created_at, updated_at, version FROM relationships")

// pgContactRowQuery reads the contacts table as loadContacts does in
// SQLite, the fields' lengths before them (see splitPrefixed).
var pgContactRowQuery = prefixedRowQuery([]string{"id", "addr", "display_name", "network", "source"},
	"created_at, tags FROM contacts")

// prefixedRowQuery returns a SELECT of one text column holding the
// lengths in bytes of the text expressions fields, separated by commas,
// a semicolon, then the fields themselves, followed by the columns and
// FROM clause in rest.
func prefixedRowQuery(fields []string, rest string) string {
	var b strings.Builder
	b.WriteString("SELECT concat(")
	for i, f := range fields {
		if i > 0 {
			b.WriteString(", ',', ")
		}
		b.WriteString("octet_length(" + f + ")")
	}
	b.WriteString(", ';'")
	for _, f := range fields {
		b.WriteString(", " + f)
	}
	b.WriteString("), " + rest)
	return b.String()
}

// splitPrefixed splits a row of pgRelRowQuery into exactly len(f)
// fields.
func splitPrefixed(row string, f []string) bool {
	var lens [16]int
	if len(f) > len(lens) {
		return false
	}
	i := 0
	for k := range f {
		n, start := 0, i
		for i < len(row) && row[i] >= '0' && row[i] <= '9' && i-start < 10 {
			n = n*10 + int(row[i]-'0')
			i++
		}
		want := byte(',')
		if k == len(f)-1 {
			want = ';'
		}
		if i == start || i >= len(row) || row[i] != want {
			return false
		}
		i++
		lens[k] = n
	}
	for k := range f {
		if lens[k] > len(row)-i {
			return false
		}
		f[k], i = row[i:i+lens[k]], i+lens[k]
	}
	return i == len(row)
}
