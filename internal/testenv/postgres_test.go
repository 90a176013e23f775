package testenv

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/sqldb"
)

func openPG(t *testing.T, url string) *sql.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sqldb.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSharedPostgresDatabasesAreSeparate(t *testing.T) {
	p := SharedPostgres(t)
	if q := SharedPostgres(t); q != p {
		t.Fatal("SharedPostgres started a second cluster")
	}
	ctx := context.Background()
	u1, u2 := p.NewDatabase(t), p.NewDatabase(t)
	if u1 == u2 || !strings.HasPrefix(u1, "postgres://") || !strings.Contains(u1, "sslmode=disable") {
		t.Fatalf("database URLs %q and %q", u1, u2)
	}
	db1, db2 := openPG(t, u1), openPG(t, u2)
	if _, err := db1.ExecContext(ctx, `CREATE TABLE only_here (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if ok, err := sqldb.TableExists(ctx, db2, sqldb.Postgres, "only_here"); err != nil || ok {
		t.Fatalf("table of one database seen in another: %v %v", ok, err)
	}
	for _, setting := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
		var v string
		if err := db1.QueryRowContext(ctx, `SELECT current_setting($1)`, setting).Scan(&v); err != nil || v != "on" {
			t.Errorf("%s = %q (%v), want on", setting, v, err)
		}
	}
	var listen string
	if err := db1.QueryRowContext(ctx, `SELECT current_setting('listen_addresses')`).Scan(&listen); err != nil || listen != "127.0.0.1" {
		t.Errorf("listen_addresses = %q (%v)", listen, err)
	}
}

func TestPostgresDatabaseDroppedAtCleanup(t *testing.T) {
	p := SharedPostgres(t)
	var name string
	t.Run("user", func(t *testing.T) {
		u := p.NewDatabase(t)
		name = strings.TrimPrefix(u[strings.LastIndex(u, "/"):strings.Index(u, "?")], "/")
		db := openPG(t, u)
		// Still connected when the cleanup drops the database.
		if err := db.PingContext(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	admin := openPG(t, p.URL)
	var n int
	if err := admin.QueryRow(`SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil || n != 0 {
		t.Fatalf("database %s still there after its test (%d, %v)", name, n, err)
	}
}

func TestPostgresCrashKeepsCommitted(t *testing.T) {
	p := StartPostgres(t)
	u := p.NewDatabase(t)
	ctx := context.Background()
	db := openPG(t, u)
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO t VALUES (1), (2)`); err != nil {
		t.Fatal(err)
	}
	p.Crash(t)
	if err := db.PingContext(ctx); err == nil {
		t.Fatal("ping answered with the server down")
	}
	p.Start(t)
	var n int
	// The pool's old connections are gone; database/sql takes a new one.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n != 2 {
		t.Fatalf("after a crash: %d rows, want the 2 committed", n)
	}
	p.Restart(t)
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
		// One failed query is fine: the pool had a connection to the old
		// server; the next one connects anew.
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(p.Dir, "pgdata", "PG_VERSION")); err != nil {
		t.Fatal(err)
	}
}

func TestSharedPostgresRefusesStop(t *testing.T) {
	p := SharedPostgres(t)
	ft := &fakeT{TB: t}
	func() {
		defer func() { recover() }() //nolint:errcheck // fakeT.Fatalf panics to stop here
		p.Stop(ft)
	}()
	if !strings.Contains(ft.fatal, "StartPostgres") {
		t.Fatalf("Stop on the shared cluster: %q", ft.fatal)
	}
}

// fakeT records a Fatalf instead of ending the test.
type fakeT struct {
	testing.TB
	fatal string
}

func (f *fakeT) Helper() {}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.fatal = format
	panic("fatal")
}

func TestPostgresSchemasAreSeparate(t *testing.T) {
	p := SharedPostgres(t)
	ctx := context.Background()
	var name string
	t.Run("user", func(t *testing.T) {
		u1, u2 := p.NewSchema(t), p.NewSchema(t)
		db1, db2 := openPG(t, u1), openPG(t, u2)
		if err := db1.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&name); err != nil || !strings.HasPrefix(name, "t_") {
			t.Fatalf("current_schema() = %q, %v", name, err)
		}
		if _, err := db1.ExecContext(ctx, `CREATE TABLE only_here (x INTEGER)`); err != nil {
			t.Fatal(err)
		}
		if ok, err := sqldb.TableExists(ctx, db2, sqldb.Postgres, "only_here"); err != nil || ok {
			t.Fatalf("table of one schema seen in another: %v %v", ok, err)
		}
		if ok, err := sqldb.TableExists(ctx, db1, sqldb.Postgres, "only_here"); err != nil || !ok {
			t.Fatalf("table not seen in its own schema: %v %v", ok, err)
		}
	})
	admin := openPG(t, p.URL)
	var n int
	if err := admin.QueryRow(`SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1`, name).Scan(&n); err != nil || n != 0 {
		t.Fatalf("schema %s still there after its test (%d, %v)", name, n, err)
	}
}
