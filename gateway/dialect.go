package gateway

import (
	"context"
	"database/sql"

	"github.com/kakehashi/kakehashi/internal/sqldb"
)

// DB is a handle on the queue's database (Queue.Reader) whose statements
// are written once for both dialects: "?" placeholders, which it numbers
// for PostgreSQL (sqldb.Rebind), and booleans stored as 0 and 1, as
// SQLite stores them (a bool argument is bound as 0 or 1 on PostgreSQL,
// whose columns for them are integers too). Its embedded *sql.DB runs
// statements as they are written.
type DB struct {
	*sql.DB
	dialect sqldb.Dialect
}

// Dialect is the kind of database the queue is in.
func (db *DB) Dialect() sqldb.Dialect { return db.dialect }

// ExecContext runs query (see DB).
func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	query, args = bind(db.dialect, query, args)
	return db.DB.ExecContext(ctx, query, args...)
}

// QueryContext runs query (see DB).
func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query, args = bind(db.dialect, query, args)
	return db.DB.QueryContext(ctx, query, args...)
}

// QueryRowContext runs query (see DB).
func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	query, args = bind(db.dialect, query, args)
	return db.DB.QueryRowContext(ctx, query, args...)
}

// Dialect is the kind of database the transaction is in, for the rare
// statement that must be written differently for each.
func (tx *Tx) Dialect() sqldb.Dialect { return tx.dialect }

// ExecContext runs query in the transaction, "?" placeholders and
// booleans written as for DB.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	query, args = bind(tx.dialect, query, args)
	return tx.Tx.ExecContext(ctx, query, args...)
}

// QueryContext runs query in the transaction (see ExecContext).
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query, args = bind(tx.dialect, query, args)
	return tx.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs query in the transaction (see ExecContext).
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	query, args = bind(tx.dialect, query, args)
	return tx.Tx.QueryRowContext(ctx, query, args...)
}

// bind writes query and args for dialect d: on PostgreSQL, "?"
// placeholders numbered and booleans as integers (intBools).
func bind(d sqldb.Dialect, query string, args []any) (string, []any) {
	if d != sqldb.Postgres {
		return query, args
	}
	return sqldb.Rebind(d, query), intBools(args)
}

// intBools returns args with each bool replaced by 0 or 1: the queue's
// flags are integer columns in both dialects, and PostgreSQL does not
// take a boolean for an integer.
func intBools(args []any) []any {
	out := args
	for i, a := range args {
		b, ok := a.(bool)
		if !ok {
			continue
		}
		if &out[0] == &args[0] {
			out = append([]any(nil), args...)
		}
		out[i] = boolInt(b)
	}
	return out
}

// boolInt is b as the queue stores it.
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
