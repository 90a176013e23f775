package gateway

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	"github.com/kakehashi/kakehashi/internal/migrate"
)

// migrationFiles are the queue's numbered schema migrations: SQLite's in
// migrations, PostgreSQL's in migrations/postgres (each dialect has its
// own version history; see migrate.LoadDialect).
//
//go:embed migrations/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// queueMigrations are the queue's migrations, the Go steps attached.
func queueMigrations() ([]migrate.Migration, error) {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	ms[1].Func = addMessageColumns
	return ms, nil
}

// migrateQueue brings the queue's schema up to date (see
// queueMigrations), recording each migration in schema_migrations.
func migrateQueue(ctx context.Context, db *sql.DB) error {
	ms, err := queueMigrations()
	if err != nil {
		return err
	}
	_, err = migrate.Up(ctx, db, ms, migrate.Options{Baseline: queueBaseline})
	return err
}

// queueBaseline is the migration a queue.db written before numbered
// migrations is at: none for a new file, 2 once its messages have every
// column of migration 2, else 1. Migrations 3 and on are idempotent, so
// they are run again on such a file.
func queueBaseline(ctx context.Context, tx *sql.Tx) (int, error) {
	have, err := messageColumns(ctx, tx)
	switch {
	case err != nil:
		return 0, err
	case len(have) == 0:
		return 0, nil
	case have["content_hash"]:
		return 2, nil
	default:
		return 1, nil
	}
}

// messageColumns are the columns the messages table has (none when it
// does not exist).
func messageColumns(ctx context.Context, tx *sql.Tx) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM pragma_table_info('messages')`)
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("read schema: %w", err)
		}
		have[n] = true
	}
	return have, rows.Err()
}

// addMessageColumns is migration 2's Go step: the columns added after the
// first release, each only where it is missing (releases before numbered
// migrations added them one by one as they opened the file), and the
// content hash of the rows written before it existed, so that a
// redelivery of them is still recognised.
func addMessageColumns(ctx context.Context, tx *sql.Tx) error {
	have, err := messageColumns(ctx, tx)
	if err != nil {
		return err
	}
	for _, c := range [][2]string{
		{"subject", "TEXT NOT NULL DEFAULT ''"},
		{"thread", "TEXT NOT NULL DEFAULT ''"},
		{"auto", "TEXT NOT NULL DEFAULT ''"},
		{"broadcast", "TEXT NOT NULL DEFAULT ''"},
		{"content_hash", "TEXT NOT NULL DEFAULT ''"},
	} {
		if have[c[0]] {
			continue
		}
		if _, err := tx.ExecContext(ctx, "ALTER TABLE messages ADD COLUMN "+c[0]+" "+c[1]); err != nil {
			return fmt.Errorf("add column %s: %w", c[0], err)
		}
	}
	if have["content_hash"] {
		return nil
	}
	return hashOldRows(ctx, tx)
}

// hashOldRows fills in content_hash for the rows with a sender's ID
// written before the column existed.
func hashOldRows(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT seq, subject, body FROM messages WHERE in_id <> '' AND content_hash = ''`)
	if err != nil {
		return fmt.Errorf("hash old rows: %w", err)
	}
	hashes := map[int64]string{}
	for rows.Next() {
		var seq int64
		var subject, body string
		if err := rows.Scan(&seq, &subject, &body); err != nil {
			rows.Close()
			return fmt.Errorf("hash old rows: %w", err)
		}
		hashes[seq] = contentHash(subject, body, "")
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("hash old rows: %w", err)
	}
	for seq, h := range hashes {
		if _, err := tx.ExecContext(ctx, `UPDATE messages SET content_hash = ? WHERE seq = ?`, h, seq); err != nil {
			return fmt.Errorf("hash old rows: %w", err)
		}
	}
	return nil
}

// Migrate applies migrations of another package's own tables in the
// queue's database (outreach keeps its broadcasts there), recorded in
// their own table (opts.Table). migrations are for the queue's dialect
// (Dialect), which Migrate sets in opts. Call it before Run.
func (q *Queue) Migrate(ctx context.Context, migrations []migrate.Migration, opts migrate.Options) error {
	opts.Dialect = q.dialect
	if _, err := migrate.Up(ctx, q.db, migrations, opts); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return nil
}
