package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	_ "modernc.org/sqlite"
)

// open opens a database file in a test's temporary directory, as a
// program would: WAL, and transactions that take the write lock at once.
func open(t *testing.T, path string) *sql.DB {
	t.Helper()
	q := url.Values{"_pragma": {"busy_timeout(10000)", "journal_mode(WAL)"}, "_txlock": {"immediate"}}
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// dump returns everything a test may compare before and after: the
// schema, user_version and every row of every table, as text.
func dump(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	var uv int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&uv); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "user_version %d\n", uv)
	rows, err := db.Query(`SELECT type, name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var typ, name, def string
		if err := rows.Scan(&typ, &name, &def); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s: %s\n", typ, name, def)
		if typ == "table" {
			tables = append(tables, name)
		}
	}
	rows.Close()
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM ` + table + ` ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %v\n", table, vals)
		}
		rows.Close()
	}
	return b.String()
}

// history is a small schema's history: notes, then a column, then a
// table filled from Go.
var history = fstest.MapFS{
	"m/0001_initial.sql": {Data: []byte(`
		CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
		CREATE TRIGGER notes_no_delete BEFORE DELETE ON notes
		BEGIN SELECT RAISE(ABORT, 'notes are kept'); END;`)},
	"m/0002_note_author.sql": {Data: []byte(`ALTER TABLE notes ADD COLUMN author TEXT NOT NULL DEFAULT ''`)},
	"m/README":               {Data: []byte("not a migration")},
}

func load(t *testing.T) []Migration {
	t.Helper()
	ms, err := Load(history, "m")
	if err != nil {
		t.Fatal(err)
	}
	// The third is Go code: what SQL cannot compute.
	return append(ms, Migration{Version: 3, Name: "note_lengths", SQL: `CREATE TABLE lengths (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)`,
		Func: func(ctx context.Context, tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, `SELECT id, body FROM notes`)
			if err != nil {
				return err
			}
			n := map[int64]int{}
			for rows.Next() {
				var id int64
				var body string
				if err := rows.Scan(&id, &body); err != nil {
					rows.Close()
					return err
				}
				n[id] = len([]rune(body))
			}
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				return err
			}
			for id, l := range n {
				if _, err := tx.ExecContext(ctx, `INSERT INTO lengths VALUES (?, ?)`, id, l); err != nil {
					return err
				}
			}
			return nil
		}})
}

func TestLoad(t *testing.T) {
	ms, err := Load(history, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].String() != "0001_initial" || ms[1].String() != "0002_note_author" || !strings.Contains(ms[1].SQL, "ADD COLUMN author") {
		t.Fatalf("Load = %+v", ms)
	}
	for _, tt := range []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"gap", fstest.MapFS{"m/0001_a.sql": {Data: []byte("SELECT 1")}, "m/0003_c.sql": {Data: []byte("SELECT 1")}}, "numbered 3"},
		{"repeat", fstest.MapFS{"m/0001_a.sql": {Data: []byte("SELECT 1")}, "m/00001_b.sql": {Data: []byte("SELECT 1")}}, "numbered 1"},
		{"not from 1", fstest.MapFS{"m/0002_b.sql": {Data: []byte("SELECT 1")}}, "numbered 2"},
		{"misnamed", fstest.MapFS{"m/1_a.sql": {Data: []byte("SELECT 1")}}, "m/1_a.sql"},
		{"no name", fstest.MapFS{"m/0001.sql": {Data: []byte("SELECT 1")}}, "0001.sql"},
		{"empty", fstest.MapFS{"m/0001_a.sql": {Data: []byte(" \n")}}, "neither SQL nor Func"},
		{"no directory", fstest.MapFS{}, "m"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load(tt.files, "m"); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load = %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestUp(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return at }
	type row struct {
		Version  int
		Name     string
		At       string
		Baseline bool
	}
	applied := func(from, to int, baseline bool) []row {
		var out []row
		for v := from; v <= to; v++ {
			out = append(out, row{v, []string{"initial", "note_author", "note_lengths"}[v-1], at.Format(time.RFC3339Nano), baseline})
		}
		return out
	}
	for _, tt := range []struct {
		name string
		// setup prepares the database; baseline is Options.Baseline.
		setup    func(t *testing.T, db *sql.DB)
		baseline func(ctx context.Context, tx *sql.Tx) (int, error)
		want     Result
		wantRows []row
		// notes are the rows of notes afterwards (id, body, author, length).
		notes []string
	}{
		{
			name:     "new database",
			want:     Result{From: 0, To: 3, Baselined: true},
			wantRows: applied(1, 3, false),
		},
		{
			name: "migrated to version 1 before",
			setup: func(t *testing.T, db *sql.DB) {
				ms := load(t)
				if _, err := Up(context.Background(), db, ms[:1], Options{Now: clock}); err != nil {
					t.Fatal(err)
				}
				exec(t, db, `INSERT INTO notes (id, body) VALUES (1, 'héllo')`)
			},
			want:     Result{From: 1, To: 3},
			wantRows: applied(1, 3, false),
			notes:    []string{"1 héllo  5"},
		},
		{
			name: "already migrated",
			setup: func(t *testing.T, db *sql.DB) {
				if _, err := Up(context.Background(), db, load(t), Options{Now: clock}); err != nil {
					t.Fatal(err)
				}
				exec(t, db, `INSERT INTO notes (id, body, author) VALUES (1, 'hi', 'ana')`)
			},
			want:     Result{From: 3, To: 3},
			wantRows: applied(1, 3, false),
			notes:    []string{"1 hi ana "},
		},
		{
			name: "written before the migrations table, at version 2",
			setup: func(t *testing.T, db *sql.DB) {
				exec(t, db,
					`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, author TEXT NOT NULL DEFAULT '')`,
					`INSERT INTO notes VALUES (1, 'old', 'ken'), (2, 'older', '')`)
			},
			baseline: func(ctx context.Context, tx *sql.Tx) (int, error) {
				var n int
				err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('notes') WHERE name = 'author'`).Scan(&n)
				return 1 + n, err
			},
			want:     Result{From: 2, To: 3, Baselined: true},
			wantRows: append(applied(1, 2, true), applied(3, 3, false)...),
			notes:    []string{"1 old ken 3", "2 older  5"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := open(t, filepath.Join(t.TempDir(), "db"))
			if tt.setup != nil {
				tt.setup(t, db)
			}
			ms := load(t)
			res, err := Up(context.Background(), db, ms, Options{Baseline: tt.baseline, Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Applied = ms[tt.want.From:tt.want.To]
			if len(tt.want.Applied) == 0 {
				tt.want.Applied = nil
			}
			if res.From != tt.want.From || res.To != tt.want.To || res.Baselined != tt.want.Baselined || !sameMigrations(res.Applied, tt.want.Applied) {
				t.Fatalf("Up = %+v, want %+v", res, tt.want)
			}
			var rows []row
			r, err := db.Query(`SELECT version, name, applied_at, baseline FROM schema_migrations ORDER BY version`)
			if err != nil {
				t.Fatal(err)
			}
			for r.Next() {
				var x row
				if err := r.Scan(&x.Version, &x.Name, &x.At, &x.Baseline); err != nil {
					t.Fatal(err)
				}
				rows = append(rows, x)
			}
			r.Close()
			if !reflect.DeepEqual(rows, tt.wantRows) {
				t.Fatalf("schema_migrations:\n got %+v\nwant %+v", rows, tt.wantRows)
			}
			var notes []string
			r, err = db.Query(`SELECT notes.id, body, author, coalesce(n, '') FROM notes LEFT JOIN lengths USING (id) ORDER BY notes.id`)
			if err != nil {
				t.Fatal(err)
			}
			for r.Next() {
				var id int
				var body, author, n string
				if err := r.Scan(&id, &body, &author, &n); err != nil {
					t.Fatal(err)
				}
				notes = append(notes, fmt.Sprintf("%d %s %s %s", id, body, author, n))
			}
			r.Close()
			if !reflect.DeepEqual(notes, tt.notes) {
				t.Fatalf("notes:\n got %q\nwant %q", notes, tt.notes)
			}
			// Running again changes nothing.
			before := dump(t, db)
			res, err = Up(context.Background(), db, ms, Options{Baseline: tt.baseline})
			if err != nil || res.From != 3 || res.To != 3 || res.Baselined || res.Applied != nil {
				t.Fatalf("second Up = %+v, %v", res, err)
			}
			if after := dump(t, db); after != before {
				t.Fatalf("second Up changed the database:\n%s\n---\n%s", before, after)
			}
		})
	}
}

func sameMigrations(a, b []Migration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].String() != b[i].String() {
			return false
		}
	}
	return true
}

// TestUpRefuses: a database Up must leave alone is left exactly as it was.
func TestUpRefuses(t *testing.T) {
	failing := func(ms []Migration, v int, m Migration) []Migration {
		return append(ms[:v-1:v-1], m)
	}
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T, db *sql.DB)
		// migrations are what Up gets (default: load's).
		migrations func(ms []Migration) []Migration
		opts       Options
		want       []string // in the error
		newer      bool     // errors.Is(err, ErrNewerSchema)
	}{
		{
			name: "from the future",
			setup: func(t *testing.T, db *sql.DB) {
				exec(t, db, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL,
					applied_at TEXT NOT NULL, baseline INTEGER NOT NULL DEFAULT 0)`,
					`INSERT INTO schema_migrations VALUES (1, 'initial', '', 0), (2, 'note_author', '', 0), (3, 'note_lengths', '', 0), (4, 'later', '', 0)`)
			},
			want:  []string{"newer", "version 4", "up to 3"},
			newer: true,
		},
		{
			name:  "user_version from the future",
			setup: func(t *testing.T, db *sql.DB) { exec(t, db, `PRAGMA user_version = 7`) },
			opts:  Options{UserVersion: true},
			want:  []string{"newer", "user_version is 7", "up to 3"},
			newer: true,
		},
		{
			name: "baseline from the future",
			setup: func(t *testing.T, db *sql.DB) {
				exec(t, db, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`, `INSERT INTO notes VALUES (1, 'x')`)
			},
			opts:  Options{Baseline: func(context.Context, *sql.Tx) (int, error) { return 9, nil }},
			want:  []string{"newer", "version 9", "up to 3"},
			newer: true,
		},
		{
			name: "unrecognised layout",
			setup: func(t *testing.T, db *sql.DB) {
				exec(t, db, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`, `INSERT INTO notes VALUES (1, 'x')`)
			},
			opts: Options{Baseline: func(context.Context, *sql.Tx) (int, error) { return 0, errors.New("notes without author") }},
			want: []string{"notes without author"},
		},
		{
			name: "first migration fails",
			migrations: func(ms []Migration) []Migration {
				return failing(ms, 1, Migration{Version: 1, Name: "broken", SQL: `CREATE TABLE notes (id INTEGER PRIMARY KEY); INSERT INTO nowhere VALUES (1)`})
			},
			want: []string{"0001_broken", "nowhere"},
		},
		{
			name: "later SQL migration fails halfway",
			setup: func(t *testing.T, db *sql.DB) {
				ms := load(t)
				if _, err := Up(context.Background(), db, ms[:2], Options{UserVersion: true}); err != nil {
					t.Fatal(err)
				}
				exec(t, db, `INSERT INTO notes (id, body, author) VALUES (1, 'kept', 'ana'), (2, 'also kept', '')`)
			},
			migrations: func(ms []Migration) []Migration {
				return failing(ms, 3, Migration{Version: 3, Name: "broken", SQL: `
					CREATE TABLE extra (x);
					INSERT INTO extra VALUES (1);
					UPDATE notes SET author = 'changed';
					ALTER TABLE notes ADD COLUMN more TEXT;
					DELETE FROM notes WHERE id = 1;`}) // the trigger refuses
			},
			opts: Options{UserVersion: true},
			want: []string{"0003_broken", "notes are kept"},
		},
		{
			name: "Go migration fails",
			setup: func(t *testing.T, db *sql.DB) {
				if _, err := Up(context.Background(), db, load(t)[:2], Options{}); err != nil {
					t.Fatal(err)
				}
				exec(t, db, `INSERT INTO notes (id, body) VALUES (1, 'kept')`)
			},
			migrations: func(ms []Migration) []Migration {
				return failing(ms, 3, Migration{Version: 3, Name: "go", SQL: `UPDATE notes SET body = 'changed'`,
					Func: func(context.Context, *sql.Tx) error { return errors.New("computed nonsense") }})
			},
			want: []string{"0003_go", "computed nonsense"},
		},
		{
			name: "bad table name",
			opts: Options{Table: "x; DROP TABLE notes"},
			want: []string{"table name"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := open(t, filepath.Join(t.TempDir(), "db"))
			if tt.setup != nil {
				tt.setup(t, db)
			}
			before := dump(t, db)
			ms := load(t)
			if tt.migrations != nil {
				ms = tt.migrations(ms)
			}
			_, err := Up(context.Background(), db, ms, tt.opts)
			if err == nil {
				t.Fatal("Up succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if errors.Is(err, ErrNewerSchema) != tt.newer {
				t.Errorf("errors.Is(%v, ErrNewerSchema) = %v", err, !tt.newer)
			}
			if after := dump(t, db); after != before {
				t.Fatalf("the database changed:\n%s\n---\n%s", before, after)
			}
		})
	}
}

func TestUserVersionFollows(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "db"))
	ms := load(t)
	for _, n := range []int{1, 3} {
		if _, err := Up(context.Background(), db, ms[:n], Options{UserVersion: true}); err != nil {
			t.Fatal(err)
		}
		var v int
		if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != n {
			t.Fatalf("user_version %d (%v), want %d", v, err, n)
		}
	}
	// A user_version left behind (set by hand, say) is brought back.
	exec(t, db, `PRAGMA user_version = 1`)
	if res, err := Up(context.Background(), db, ms, Options{UserVersion: true}); err != nil || res.Applied != nil {
		t.Fatalf("Up = %+v, %v", res, err)
	}
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != 3 {
		t.Fatalf("user_version %d (%v), want 3", v, err)
	}
	// A program that knows fewer migrations refuses the database.
	if _, err := Up(context.Background(), db, ms[:2], Options{UserVersion: true}); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Up with fewer migrations = %v", err)
	}
}

// TestUpConcurrently: processes opening one database at once apply each
// migration once.
func TestUpConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	ms := load(t)
	runs := make([]atomic.Int32, len(ms)) // times each migration ran
	for i := range ms {
		inner := ms[i].Func
		ms[i].Func = func(ctx context.Context, tx *sql.Tx) error {
			runs[i].Add(1)
			if inner != nil {
				return inner(ctx, tx)
			}
			return nil
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		db := open(t, path)
		wg.Go(func() { _, errs[i] = Up(context.Background(), db, ms, Options{}) })
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

// TestUpWaitsOutBusy: a database whose write lock another connection
// holds, opened without a busy timeout so that SQLite answers busy at
// once, is migrated once the lock is released, not refused.
func TestUpWaitsOutBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	holder := open(t, path)
	exec(t, holder, `CREATE TABLE x (a)`)
	q := url.Values{"_pragma": {"busy_timeout(0)"}, "_txlock": {"immediate"}}
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tx, err := holder.Begin() // immediate: the write lock
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = tx.Rollback()
		close(released)
	}()
	if _, err := Up(context.Background(), db, load(t), Options{}); err != nil {
		t.Fatalf("Up while another connection held the lock for 100 ms: %v", err)
	}
	select {
	case <-released:
	default:
		t.Fatal("Up finished while the lock was still held: the test did not make it wait")
	}
}
