package migrate_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"testing/fstest"

	"github.com/kakehashi/kakehashi/internal/migrate"

	_ "modernc.org/sqlite"
)

// A program usually embeds its migrations (//go:embed migrations/*.sql)
// and brings its database up to date when it opens it. Here the files are
// in a test file system, and the third migration is Go code.
func Example() {
	files := fstest.MapFS{
		"migrations/0001_initial.sql":       {Data: []byte(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`)},
		"migrations/0002_note_subjects.sql": {Data: []byte(`ALTER TABLE notes ADD COLUMN subject TEXT NOT NULL DEFAULT ''`)},
	}
	ms, err := migrate.Load(files, "migrations")
	if err != nil {
		log.Fatal(err)
	}
	ms = append(ms, migrate.Migration{Version: 3, Name: "subjects_from_bodies",
		Func: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE notes SET subject = substr(body, 1, 10) WHERE subject = ''`)
			return err
		}})

	dir, err := os.MkdirTemp("", "migrate-example") // a program's data directory
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "notes.db")+"?_txlock=immediate")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	// A database without the migrations table that already has notes is
	// at version 1; one without notes is new.
	baseline := func(ctx context.Context, tx *sql.Tx) (int, error) {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'notes'`).Scan(&n)
		return n, err
	}
	for range 2 {
		res, err := migrate.Up(ctx, db, ms, migrate.Options{Baseline: baseline})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("from %d to %d, applied %v\n", res.From, res.To, res.Applied)
	}
	// Output:
	// from 0 to 3, applied [0001_initial 0002_note_subjects 0003_subjects_from_bodies]
	// from 3 to 3, applied []
}
