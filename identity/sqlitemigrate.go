package identity

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kakehashi/kakehashi/internal/migrate"
	"github.com/kakehashi/kakehashi/internal/sqldb"
)

// SQLiteSchemaVersion is the version of the SQLite schema this package
// writes: the number of its migrations (migrations/sqlite/NNNN_name.sql, applied
// by internal/migrate and recorded in the schema_migrations table). It is
// also kept in PRAGMA user_version, where releases from before the
// migrations table kept theirs (1 to 3), so that they refuse to open a
// database migrated beyond what they know.
const SQLiteSchemaVersion = 5

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// migrate brings the database's schema up to SQLiteSchemaVersion.
func (s *SQLStore) migrate(ctx context.Context) error {
	ms, err := migrate.LoadDialect(migrationFiles, "migrations", sqldb.SQLite)
	if err != nil {
		return err
	}
	if len(ms) != SQLiteSchemaVersion {
		return fmt.Errorf("%d migrations embedded, but SQLiteSchemaVersion is %d", len(ms), SQLiteSchemaVersion)
	}
	_, err = migrate.Up(ctx, s.w, ms, migrate.Options{Baseline: sqliteBaseline, UserVersion: true})
	return err
}

// sqliteBaseline returns the migration a database without the
// migrations table is at: 0 if it has none of the tables, else the
// newest migration whose tables and columns it has. A database that
// has some of one migration's changes but not all, or a later one's
// without an earlier one's, is none that a release wrote: it is refused
// rather than guessed at.
func sqliteBaseline(ctx context.Context, tx *sql.Tx) (int, error) {
	tables, err := sqliteNames(ctx, tx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		return 0, err
	}
	cols, err := sqliteNames(ctx, tx, `SELECT name FROM pragma_table_info('relationships')`)
	if err != nil {
		return 0, err
	}
	// What each migration adds. Releases kept user_version 2 both before
	// and after the gone columns, so the columns tell, not user_version.
	steps := []struct {
		tables, columns []string
	}{
		{tables: []string{"employees", "personas", "contacts", "relationships", "audit"}},
		{tables: []string{"relationship_log"}, columns: []string{"tags", "remark", "last_activity", "owner_version", "last_transfer_id"}},
		{columns: []string{"gone", "gone_at"}},
		{tables: []string{"admins"}},
	}
	version := 0
	for i, st := range steps {
		var have, lack []string
		for _, l := range []struct {
			names []string
			in    []string
			kind  string
		}{{st.tables, tables, "table "}, {st.columns, cols, "relationships column "}} {
			for _, n := range l.names {
				if slices.Contains(l.in, n) {
					have = append(have, l.kind+n)
				} else {
					lack = append(lack, l.kind+n)
				}
			}
		}
		switch {
		case len(lack) == 0 && version == i:
			version = i + 1
		case len(have) == 0:
		case version < i:
			return 0, fmt.Errorf("not a layout of this program: it has %s of schema version %d but not version %d",
				strings.Join(have, ", "), i+1, version+1)
		default:
			return 0, fmt.Errorf("not a layout of this program: it has %s but not %s (schema version %d)",
				strings.Join(have, ", "), strings.Join(lack, ", "), i+1)
		}
	}
	return version, nil
}

func sqliteNames(ctx context.Context, tx *sql.Tx, query string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, n)
	}
	return out, errors.Join(rows.Err(), rows.Close())
}
