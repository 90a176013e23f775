// Package storecopy moves an installation's durable state from its SQLite
// files (identity.db, queue.db, analytics.db, mail-<network>.db in
// data_dir) into a PostgreSQL database, a schema per store (identity,
// queue, analytics, mail_<network>), as `kakehashi store copy` does.
//
// For each store, Copy brings the source file's schema up to date and
// creates and migrates the destination's schema through the store's own
// Open function, so both sides have the tables the running gateway
// expects. It refuses a destination whose tables hold any row (no
// merging), then reads the source in one read transaction (a consistent
// snapshot) and writes every table but the migrations' records and
// SQLite's internals, column by column by name, in batches (COPY), in one
// destination transaction per store. Identity columns (the audit log's,
// the queue's sequence numbers) are set past the copied maximum, or past
// SQLite's AUTOINCREMENT high-water mark when that is higher, so numbers
// are never reused. Before committing, each table's rows are read back
// and compared with the source's by count and checksum (see checksum);
// a mismatch rolls the store's transaction back.
//
// The gateway must be stopped: the copy is of the files as they are when
// it reads them, and what a running gateway writes afterwards is not in it.
package storecopy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/kakehashi/kakehashi/adapters/mail"
	"github.com/kakehashi/kakehashi/analytics"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/sqldb"
	"github.com/kakehashi/kakehashi/outreach"
)

// Options says what to copy where.
type Options struct {
	// From is the data_dir holding the SQLite files.
	From string
	// To is the PostgreSQL URL of the destination database.
	To string
	// MailNetworks are the mail networks whose state (mail-<network>.db)
	// is copied, each into schema mail_<network>.
	MailNetworks []string
	// BatchRows is how many rows go to PostgreSQL in one COPY (default
	// 5000).
	BatchRows int
	// Logger reports progress (default slog.Default()).
	Logger *slog.Logger
}

// Store is one of an installation's stores: a SQLite file in data_dir
// and the PostgreSQL schema it goes to.
type Store struct {
	// Name is what reports call it: identity, queue or mail-<network>.
	Name string
	// File is the SQLite file's name in data_dir.
	File string
	// Schema is the PostgreSQL schema the store lives in.
	Schema string
	// records are the migrations' record tables, which the destination's
	// own migrations write and the copy leaves alone.
	records []string
	// migrate opens the store at where (a SQLite path or a PostgreSQL
	// URL) through its own Open function, which creates or migrates its
	// schema, and closes it.
	migrate func(ctx context.Context, where string) error
}

// Stores are the stores of an installation with the given mail
// networks: identity, queue (with outreach's broadcasts), analytics, and
// one per mail network.
func Stores(mailNetworks []string) []Store {
	st := []Store{
		{Name: "identity", File: "identity.db", Schema: "identity", records: []string{"schema_migrations"},
			migrate: func(ctx context.Context, where string) error {
				s, err := identity.OpenStore(ctx, where)
				if err != nil {
					return err
				}
				return s.Close()
			}},
		{Name: "queue", File: "queue.db", Schema: "queue", records: []string{"schema_migrations", "outreach_migrations"},
			migrate: func(ctx context.Context, where string) error {
				q, err := gateway.OpenQueue(ctx, where)
				if err != nil {
					return err
				}
				return errors.Join(outreach.MigrateQueue(ctx, q), q.Close())
			}},
		{Name: "analytics", File: analytics.FileName, Schema: analytics.SchemaName, records: []string{"analytics_migrations"},
			migrate: func(ctx context.Context, where string) error {
				s, err := analytics.Open(ctx, where)
				if err != nil {
					return err
				}
				return s.Close()
			}},
	}
	for _, n := range slices.Sorted(slices.Values(mailNetworks)) {
		st = append(st, Store{Name: "mail-" + n, File: "mail-" + n + ".db", Schema: mail.SchemaName(n),
			records: []string{"mail_migrations"},
			migrate: func(ctx context.Context, where string) error { return mail.MigrateStore(ctx, where, n) }})
	}
	return st
}

// TableResult is what the copy of one table came to.
type TableResult struct {
	// Store and Table name the table.
	Store, Table string
	// Rows and Checksum are the source's; DestRows and DestChecksum what
	// the destination holds after the copy.
	Rows, DestRows         int64
	Checksum, DestChecksum string
	// Elapsed is the time the copy and the check of the table took.
	Elapsed time.Duration
}

// OK reports whether the destination holds what the source did.
func (r TableResult) OK() bool { return r.Rows == r.DestRows && r.Checksum == r.DestChecksum }

// StoreResult is what the copy of one store came to.
type StoreResult struct {
	// Name is the store's (Store.Name); Schema the destination's schema.
	Name, Schema string
	// Source is the SQLite file read.
	Source string
	// Absent is set when there was no such file: the destination's schema
	// was created, and nothing copied.
	Absent bool
	// Committed is set when the store's transaction committed.
	Committed bool
	// Elapsed is the time the store's copy took, checks included.
	Elapsed time.Duration
}

// Report is what Copy did.
type Report struct {
	// Stores are the stores copied (or found absent), in order.
	Stores []StoreResult
	// Tables are the tables copied, store by store.
	Tables []TableResult
	// Elapsed is the whole copy's time.
	Elapsed time.Duration
}

// ErrMismatch is the error of a copy whose destination, read back, did
// not hold what the source did.
var ErrMismatch = errors.New("storecopy: the copy does not match its source")

// ErrNotEmpty is the error of a copy into a destination whose tables
// already hold rows.
var ErrNotEmpty = errors.New("storecopy: the destination is not empty")

// OK reports whether every table matched.
func (r *Report) OK() bool {
	for _, t := range r.Tables {
		if !t.OK() {
			return false
		}
	}
	return true
}

// Write prints the report as a table: store, table, rows, checksum and
// OK or MISMATCH (with the destination's figures).
func (r *Report) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STORE\tTABLE\tROWS\tCHECKSUM\tRESULT")
	for _, t := range r.Tables {
		res := "OK"
		if !t.OK() {
			res = fmt.Sprintf("MISMATCH (destination: %d rows, %s)", t.DestRows, short(t.DestChecksum))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", t.Store, t.Table, t.Rows, short(t.Checksum), res)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("storecopy: write report: %w", err)
	}
	for _, s := range r.Stores {
		switch {
		case s.Absent:
			fmt.Fprintf(w, "%s: no %s: schema %s created, nothing to copy\n", s.Name, s.Source, s.Schema)
		case !s.Committed:
			fmt.Fprintf(w, "%s: not committed: schema %s left as it was\n", s.Name, s.Schema)
		}
	}
	_, err := fmt.Fprintf(w, "copied in %s\n", r.Elapsed.Round(time.Millisecond))
	if err != nil {
		return fmt.Errorf("storecopy: write report: %w", err)
	}
	return nil
}

// short is the part of a checksum the report shows.
func short(sum string) string { return sum[:min(len(sum), 16)] }

// Copy copies the stores in o.From into o.To (see the package's
// documentation). It returns the report so far with its error; a store
// whose transaction did not commit left its destination as it was.
func Copy(ctx context.Context, o Options) (*Report, error) {
	t0 := time.Now()
	if o.BatchRows <= 0 {
		o.BatchRows = 5000
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	rep := &Report{}
	src, err := sqldb.Parse(o.To)
	if err != nil {
		return rep, fmt.Errorf("storecopy: destination: %w", err)
	}
	if src.Dialect != sqldb.Postgres {
		return rep, fmt.Errorf("storecopy: destination %s is not a PostgreSQL URL (postgres://user:password@host/database)", src)
	}
	if fi, err := os.Stat(o.From); err != nil {
		return rep, fmt.Errorf("storecopy: data_dir: %w", err)
	} else if !fi.IsDir() {
		return rep, fmt.Errorf("storecopy: data_dir %s is not a directory", o.From)
	}

	// The destination must answer before any file is touched.
	if err := withConn(ctx, o.To, func(*pgx.Conn) error { return nil }); err != nil {
		return rep, err
	}
	// Every source and destination is migrated and every destination
	// checked empty before anything is copied, so that a refusal leaves
	// no store copied and the others not.
	stores := Stores(o.MailNetworks)
	urls := make([]string, len(stores))
	for i, st := range stores {
		path := filepath.Join(o.From, st.File)
		if _, err := os.Stat(path); err == nil {
			if err := st.migrate(ctx, path); err != nil {
				return rep, fmt.Errorf("storecopy: %s: source %s: %w", st.Name, path, err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return rep, fmt.Errorf("storecopy: %s: %w", st.Name, err)
		}
		if urls[i], err = sqldb.InSchema(ctx, o.To, st.Schema); err != nil {
			return rep, fmt.Errorf("storecopy: %s: %w", st.Name, err)
		}
		if err := st.migrate(ctx, urls[i]); err != nil {
			return rep, fmt.Errorf("storecopy: %s: destination: %w", st.Name, err)
		}
		if err := withConn(ctx, urls[i], func(conn *pgx.Conn) error {
			return checkDestination(ctx, conn, st)
		}); err != nil {
			return rep, err
		}
	}
	for i, st := range stores {
		sr, tables, err := copyStore(ctx, o, st, urls[i])
		rep.Stores = append(rep.Stores, sr)
		rep.Tables = append(rep.Tables, tables...)
		if err != nil {
			rep.Elapsed = time.Since(t0)
			return rep, err
		}
	}
	rep.Elapsed = time.Since(t0)
	return rep, nil
}

// withConn runs fn on a connection of its own to the database at url.
func withConn(ctx context.Context, url string, fn func(*pgx.Conn) error) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("storecopy: %s: %w", sqldb.Redact(url), sqldb.ErrBadSource)
	}
	cfg.RuntimeParams["application_name"] = "kakehashi store copy"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("storecopy: connect to %s: %w", sqldb.Redact(url), redacted(err, url))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return fn(conn)
}

// redacted is err with the password in url, if any, blotted out of its
// message.
func redacted(err error, url string) error {
	cfg, perr := pgx.ParseConfig(url)
	if perr != nil || cfg.Password == "" || !strings.Contains(err.Error(), cfg.Password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), cfg.Password, "xxxxx"))
}

// copyStore copies one store in one destination transaction.
func copyStore(ctx context.Context, o Options, st Store, url string) (StoreResult, []TableResult, error) {
	t0 := time.Now()
	path := filepath.Join(o.From, st.File)
	sr := StoreResult{Name: st.Name, Schema: st.Schema, Source: path}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		sr.Absent = true
		o.Logger.Info("store copy: no source file, nothing to copy", "store", st.Name, "file", path)
		return sr, nil, nil
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return sr, nil, fmt.Errorf("storecopy: %s: open %s: %w", st.Name, path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// One read transaction: every table is read from the same snapshot.
	stx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return sr, nil, fmt.Errorf("storecopy: %s: begin reading %s: %w", st.Name, path, err)
	}
	defer stx.Rollback() //nolint:errcheck // read only

	var tables []TableResult
	err = withConn(ctx, url, func(conn *pgx.Conn) error {
		dtx, err := conn.Begin(ctx)
		if err != nil {
			return fmt.Errorf("storecopy: %s: begin: %w", st.Name, err)
		}
		defer dtx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit, a no-op
		if err := checkDestination(ctx, dtx, st); err != nil {
			return err
		}
		plans, err := plan(ctx, stx, dtx, st)
		if err != nil {
			return err
		}
		for _, p := range plans {
			tr, err := copyTable(ctx, o, stx, dtx, p)
			tables = append(tables, tr)
			if err != nil {
				return err
			}
		}
		mismatch := false
		for _, t := range tables {
			if !t.OK() {
				mismatch = true
				o.Logger.Error("store copy: table does not match its source", "store", t.Store, "table", t.Table,
					"rows", t.Rows, "dest_rows", t.DestRows, "checksum", t.Checksum, "dest_checksum", t.DestChecksum)
			}
		}
		if mismatch {
			return fmt.Errorf("%w: store %s rolled back", ErrMismatch, st.Name)
		}
		if err := dtx.Commit(ctx); err != nil {
			return fmt.Errorf("storecopy: %s: commit: %w", st.Name, err)
		}
		sr.Committed = true
		return nil
	})
	sr.Elapsed = time.Since(t0)
	if err == nil {
		o.Logger.Info("store copy: store copied", "store", st.Name, "tables", len(tables), "elapsed", sr.Elapsed.Round(time.Millisecond))
	}
	return sr, tables, err
}
