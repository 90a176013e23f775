package migrate

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kakehashi/kakehashi/internal/sqldb"
	"github.com/kakehashi/kakehashi/internal/testenv"
)

// pgHistory is a PostgreSQL history: the same steps as history, in
// PostgreSQL's words, with a second file in the first migration's
// statements to show that one ExecContext runs them all.
var pgHistory = fstest.MapFS{
	"m/postgres/0001_initial.sql": {Data: []byte(`
		CREATE TABLE notes (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body TEXT NOT NULL);
		CREATE INDEX notes_body ON notes (body);`)},
	"m/postgres/0002_note_author.sql": {Data: []byte(`ALTER TABLE notes ADD COLUMN author TEXT NOT NULL DEFAULT ''`)},
	"m/sqlite/0001_initial.sql":       {Data: []byte(`CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)`)},
}

func openPG(t *testing.T) *sql.DB {
	t.Helper()
	u := testenv.SharedPostgres(t).NewDatabase(t)
	db, err := sqldb.OpenPostgres(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestLoadDialect(t *testing.T) {
	for d, want := range map[sqldb.Dialect]int{sqldb.Postgres: 2, sqldb.SQLite: 1} {
		ms, err := LoadDialect(pgHistory, "m", d)
		if err != nil || len(ms) != want {
			t.Fatalf("LoadDialect(%s) = %d migrations, %v; want %d", d, len(ms), err, want)
		}
	}
}

func TestUpPostgres(t *testing.T) {
	ctx := context.Background()
	db := openPG(t)
	ms, err := LoadDialect(pgHistory, "m", sqldb.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	opts := Options{Dialect: sqldb.Postgres, Now: func() time.Time { return at }}

	res, err := Up(ctx, db, ms[:1], opts)
	if err != nil || res.From != 0 || res.To != 1 || !res.Baselined || len(res.Applied) != 1 {
		t.Fatalf("Up to 1 = %+v, %v", res, err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO notes (body) VALUES ('héllo')`); err != nil {
		t.Fatal(err)
	}
	res, err = Up(ctx, db, ms, opts)
	if err != nil || res.From != 1 || res.To != 2 || res.Baselined || len(res.Applied) != 1 {
		t.Fatalf("Up to 2 = %+v, %v", res, err)
	}
	res, err = Up(ctx, db, ms, opts)
	if err != nil || res.From != 2 || res.To != 2 || len(res.Applied) != 0 {
		t.Fatalf("Up again = %+v, %v", res, err)
	}
	var author string
	if err := db.QueryRowContext(ctx, `SELECT author FROM notes WHERE body = 'héllo'`).Scan(&author); err != nil || author != "" {
		t.Fatalf("the row kept through migration 2: %q %v", author, err)
	}
	rows, err := db.QueryContext(ctx, `SELECT version, name, applied_at, baseline FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var v, b int
		var name, appliedAt string
		if err := rows.Scan(&v, &name, &appliedAt, &b); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join([]string{name, appliedAt}, " ")+map[int]string{0: "", 1: " baseline"}[b])
	}
	rows.Close()
	want := []string{"initial 2026-12-03T06:00:00Z", "note_author 2026-12-03T06:00:00Z"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("schema_migrations:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// An older program refuses the newer schema.
	if _, err := Up(ctx, db, ms[:1], opts); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Up with fewer migrations = %v", err)
	}
	// UserVersion is SQLite's.
	if _, err := Up(ctx, db, ms, Options{Dialect: sqldb.Postgres, UserVersion: true}); err == nil {
		t.Fatal("UserVersion accepted on PostgreSQL")
	}
}

// TestUpPostgresFailureLeavesNothing: PostgreSQL's DDL is transactional,
// so a migration that fails half way leaves neither its tables nor its
// record.
func TestUpPostgresFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	db := openPG(t)
	ms := []Migration{
		{Version: 1, Name: "initial", SQL: `CREATE TABLE a (x INTEGER)`},
		{Version: 2, Name: "broken", SQL: `CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1)`},
	}
	res, err := Up(ctx, db, ms, Options{Dialect: sqldb.Postgres})
	if err == nil || !strings.Contains(err.Error(), "0002_broken") {
		t.Fatalf("Up = %v, want the error of 0002_broken", err)
	}
	if res.To != 1 {
		t.Fatalf("Up reached %d, want 1", res.To)
	}
	for table, want := range map[string]bool{"a": true, "b": false} {
		if ok, err := sqldb.TableExists(ctx, db, sqldb.Postgres, table); err != nil || ok != want {
			t.Fatalf("table %s exists = %v (%v), want %v", table, ok, err, want)
		}
	}
	var v int
	if err := db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil || v != 1 {
		t.Fatalf("recorded version %d (%v), want 1", v, err)
	}
}

// TestUpPostgresConcurrently: processes migrating one database at once
// apply each migration once (the advisory lock), the first of them
// included, which also creates the migrations table.
func TestUpPostgresConcurrently(t *testing.T) {
	u := testenv.SharedPostgres(t).NewDatabase(t)
	ms, err := LoadDialect(pgHistory, "m", sqldb.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	runs := make([]atomic.Int32, len(ms))
	for i := range ms {
		ms[i].Func = func(ctx context.Context, tx *sql.Tx) error {
			runs[i].Add(1)
			time.Sleep(20 * time.Millisecond) // widen the window a race would need
			return nil
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		db, err := sqldb.OpenPostgres(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		wg.Go(func() { _, errs[i] = Up(context.Background(), db, ms, Options{Dialect: sqldb.Postgres}) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if n := runs[i].Load(); n != 1 {
			t.Fatalf("migration %s ran %d times", m, n)
		}
	}
}
