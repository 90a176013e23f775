package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kakehashi/kakehashi/internal/sqldb"
	"github.com/kakehashi/kakehashi/internal/testenv"

	_ "modernc.org/sqlite"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want sqldb.Source
		err  string
	}{
		{in: "data/kakehashi.db", want: sqldb.Source{Dialect: sqldb.SQLite, Path: "data/kakehashi.db"}},
		{in: "/var/lib/k.db", want: sqldb.Source{Dialect: sqldb.SQLite, Path: "/var/lib/k.db"}},
		{in: "sqlite:/var/lib/k.db", want: sqldb.Source{Dialect: sqldb.SQLite, Path: "/var/lib/k.db"}},
		{in: "sqlite://rel/k.db", want: sqldb.Source{Dialect: sqldb.SQLite, Path: "rel/k.db"}},
		{in: "SQLite:k.db", want: sqldb.Source{Dialect: sqldb.SQLite, Path: "k.db"}},
		{in: "postgres://u:p@127.0.0.1:5432/k?sslmode=disable",
			want: sqldb.Source{Dialect: sqldb.Postgres, URL: "postgres://u:p@127.0.0.1:5432/k?sslmode=disable"}},
		{in: "postgresql://db.example/k", want: sqldb.Source{Dialect: sqldb.Postgres, URL: "postgresql://db.example/k"}},
		{in: "", err: "empty"},
		{in: "sqlite:", err: "names no file"},
		{in: "mysql://u@h/db", err: "neither sqlite nor postgres"},
		{in: "postgres:k", err: "want postgres://"},
		{in: "postgres://u:s3cret@h:notaport/k", err: "xxxxx"},
	} {
		got, err := sqldb.Parse(tt.in)
		if tt.err != "" {
			if err == nil || !errors.Is(err, sqldb.ErrBadSource) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%q) = %+v, %v; want an error with %q", tt.in, got, err, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Parse(%q): error shows the password: %v", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestSourceStringRedacts(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:s3cret@h:5432/k?sslmode=disable": "postgres://u:xxxxx@h:5432/k?sslmode=disable",
		"postgres://u@h/k?password=s3cret":             "postgres://u@h/k?password=xxxxx",
		"k.db":                                         "sqlite:k.db",
	} {
		s, err := sqldb.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.String(); got != want {
			t.Errorf("String of %q = %q, want %q", in, got, want)
		}
	}
}

func TestRebind(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`SELECT a FROM t WHERE b = ? AND c IN (?, ?)`, `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`},
		{`SELECT '?', "?x", ? FROM t`, `SELECT '?', "?x", $1 FROM t`},
		{`SELECT 'it''s ?', ?`, `SELECT 'it''s ?', $1`},
		{`SELECT E'a\'?', ?`, `SELECT E'a\'?', $1`},
		{`SELECT ? -- why? because\n, ?`, `SELECT $1 -- why? because\n, ?`},
		{"SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2"},
		{`SELECT /* a ? /* nested ? */ still ? */ ?`, `SELECT /* a ? /* nested ? */ still ? */ $1`},
		{`SELECT $$ ? $$, $tag$ ?$ $tag$, ?`, `SELECT $$ ? $$, $tag$ ?$ $tag$, $1`},
		{`SELECT $1, ?`, `SELECT $1, $1`}, // mixing styles is the caller's mistake; $1 is left alone
		{`SELECT 'unclosed ?`, `SELECT 'unclosed ?`},
		{`SELECT 1`, `SELECT 1`},
	} {
		if got := sqldb.Rebind(sqldb.Postgres, tt.in); got != tt.want {
			t.Errorf("Rebind(%q) =\n %q, want\n %q", tt.in, got, tt.want)
		}
		if got := sqldb.Rebind(sqldb.SQLite, tt.in); got != tt.in {
			t.Errorf("Rebind(SQLite, %q) changed it: %q", tt.in, got)
		}
	}
	if got := sqldb.Params(3); got != "?, ?, ?" {
		t.Errorf("Params(3) = %q", got)
	}
	if got := sqldb.Params(0); got != "" {
		t.Errorf("Params(0) = %q", got)
	}
}

func TestDialect(t *testing.T) {
	if sqldb.SQLite.String() != "sqlite" || sqldb.Postgres.String() != "postgres" {
		t.Error("names")
	}
	if sqldb.SQLite.Driver() != "sqlite" || sqldb.Postgres.Driver() != "pgx" {
		t.Error("drivers")
	}
	if sqldb.SQLite.ForUpdate() != "" || sqldb.Postgres.ForUpdate() != " FOR UPDATE" {
		t.Error("ForUpdate")
	}
	var zero sqldb.Dialect
	if zero != sqldb.SQLite {
		t.Error("the zero Dialect is not SQLite")
	}
}

type store struct {
	d  sqldb.Dialect
	db *sql.DB
}

// stores opens an empty database of each dialect.
func stores(t *testing.T) []store {
	t.Helper()
	lite, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "db")+"?_pragma=busy_timeout(50)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	pg, err := sqldb.OpenPostgres(context.Background(), testenv.SharedPostgres(t).NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	return []store{{sqldb.SQLite, lite}, {sqldb.Postgres, pg}}
}

// TestPortableSQL pins the statements both dialects are written in.
func TestPortableSQL(t *testing.T) {
	ctx := context.Background()
	for _, s := range stores(t) {
		t.Run(s.d.String(), func(t *testing.T) {
			q := func(query string) string { return sqldb.Rebind(s.d, query) }
			if ok, err := sqldb.TableExists(ctx, s.db, s.d, "kv"); err != nil || ok {
				t.Fatalf("TableExists before: %v %v", ok, err)
			}
			if _, err := s.db.ExecContext(ctx, `CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL, n INTEGER NOT NULL DEFAULT 0)`); err != nil {
				t.Fatal(err)
			}
			if ok, err := sqldb.TableExists(ctx, s.db, s.d, "kv"); err != nil || !ok {
				t.Fatalf("TableExists after: %v %v", ok, err)
			}
			ins := q(`INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT DO NOTHING`)
			for _, v := range []string{"first", "second"} {
				if _, err := s.db.ExecContext(ctx, ins, "a", v); err != nil {
					t.Fatal(err)
				}
			}
			up := q(`INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v, n = kv.n + 1 RETURNING n`)
			var n int
			if err := s.db.QueryRowContext(ctx, up, "a", "third").Scan(&n); err != nil || n != 1 {
				t.Fatalf("upsert: n = %d, %v", n, err)
			}
			// INSERT … SELECT with ON CONFLICT: SQLite wants the WHERE.
			if _, err := s.db.ExecContext(ctx, q(`INSERT INTO kv (k, v) SELECT k || '2', v FROM kv WHERE true ON CONFLICT DO NOTHING`)); err != nil {
				t.Fatal(err)
			}
			var v string
			if err := s.db.QueryRowContext(ctx, q(`SELECT v FROM kv WHERE k = ?`+s.d.ForUpdate()), "a2").Scan(&v); err != nil || v != "third" {
				t.Fatalf("a2 = %q, %v", v, err)
			}
			// String literals read alike: '' is a quote, a backslash is
			// itself.
			var lit string
			if err := s.db.QueryRowContext(ctx, `SELECT 'it''s \n'`).Scan(&lit); err != nil || lit != `it's \n` {
				t.Fatalf("literal = %q, %v", lit, err)
			}
			_, err := s.db.ExecContext(ctx, q(`INSERT INTO kv (k, v) VALUES (?, ?)`), "a", "dup")
			if !sqldb.IsUniqueViolation(err) {
				t.Fatalf("IsUniqueViolation(%v) = false", err)
			}
			if sqldb.IsRetryable(err) || sqldb.IsUniqueViolation(errors.New("other")) {
				t.Fatal("error classes mixed up")
			}
		})
	}
}

// TestXactLock: transactions taking one key run one after another on
// PostgreSQL.
func TestXactLock(t *testing.T) {
	ctx := context.Background()
	s := stores(t)[1]
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			errs[i] = sqldb.InTx(ctx, s.db, nil, 1, func(tx *sql.Tx) error {
				if err := sqldb.XactLock(ctx, tx, s.d, "test.key"); err != nil {
					return err
				}
				n := inside.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(20 * time.Millisecond)
				inside.Add(-1)
				return nil
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if most.Load() != 1 {
		t.Fatalf("%d transactions held the lock at once", most.Load())
	}
}

// TestInTxRetries: a serialization failure runs the transaction again;
// other errors do not, and the rollback undoes the failed attempt.
func TestInTxRetries(t *testing.T) {
	ctx := context.Background()
	for _, s := range stores(t) {
		t.Run(s.d.String(), func(t *testing.T) {
			if _, err := s.db.ExecContext(ctx, `CREATE TABLE c (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			if _, err := s.db.ExecContext(ctx, `INSERT INTO c VALUES (1, 0)`); err != nil {
				t.Fatal(err)
			}
			busy := busyError(t)
			retryable := func() error {
				if s.d == sqldb.Postgres {
					return &pgconn.PgError{Code: "40001", Message: "could not serialize access"}
				}
				return busy
			}
			attempts := 0
			err := sqldb.InTx(ctx, s.db, nil, 3, func(tx *sql.Tx) error {
				attempts++
				if _, err := tx.ExecContext(ctx, `UPDATE c SET n = n + 1`); err != nil {
					return err
				}
				if attempts < 3 {
					return retryable()
				}
				return nil
			})
			if err != nil || attempts != 3 {
				t.Fatalf("InTx = %v after %d attempts", err, attempts)
			}
			var n int
			if err := s.db.QueryRowContext(ctx, `SELECT n FROM c`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("n = %d (%v): the failed attempts were not rolled back", n, err)
			}
			attempts = 0
			boom := errors.New("boom")
			err = sqldb.InTx(ctx, s.db, nil, 3, func(tx *sql.Tx) error { attempts++; return boom })
			if !errors.Is(err, boom) || attempts != 1 {
				t.Fatalf("InTx = %v after %d attempts, want boom after 1", err, attempts)
			}
			attempts = 0
			err = sqldb.InTx(ctx, s.db, nil, 2, func(tx *sql.Tx) error { attempts++; return retryable() })
			if !sqldb.IsRetryable(err) || attempts != 2 || !strings.Contains(err.Error(), "gave up after 2") {
				t.Fatalf("InTx = %v after %d attempts", err, attempts)
			}
		})
	}
}

// TestIsRetryableSQLiteBusy: a write while another connection holds the
// write lock fails with SQLITE_BUSY, which is retryable.
func TestIsRetryableSQLiteBusy(t *testing.T) {
	if err := busyError(t); !sqldb.IsRetryable(err) || sqldb.IsUniqueViolation(err) {
		t.Fatalf("IsRetryable(%v) = false", err)
	}
}

// busyError returns a real SQLITE_BUSY error.
func busyError(t *testing.T) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "busy.db")
	dsn := "file:" + path + "?_pragma=busy_timeout(20)&_txlock=immediate"
	a, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.Exec(`CREATE TABLE x (y INTEGER)`); err != nil {
		t.Fatal(err)
	}
	tx, err := a.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // only holds the lock
	_, err = b.Exec(`INSERT INTO x VALUES (1)`)
	if err == nil {
		t.Fatal("write succeeded while another connection held the write lock")
	}
	return err
}
