package sqldb_test

import (
	"context"
	"testing"

	"github.com/kakehashi/kakehashi/internal/sqldb"
	"github.com/kakehashi/kakehashi/internal/testenv"
)

// TestInSchema: two stores in one database, each in its own schema, use
// the same table name without meeting; a second call finds the schema
// there; a name that is not a plain identifier is refused.
func TestInSchema(t *testing.T) {
	ctx := context.Background()
	url := testenv.SharedPostgres(t).NewDatabase(t)
	for _, schema := range []string{"identity", "queue", "identity"} {
		u, err := sqldb.InSchema(ctx, url, schema)
		if err != nil {
			t.Fatal(err)
		}
		db, err := sqldb.OpenPostgres(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (store text)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations VALUES ($1)`, schema); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE store <> $1`, schema).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows of another store, %v", schema, n, err)
		}
		var in string
		if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&in); err != nil || in != schema {
			t.Errorf("current_schema %q, %v; want %s", in, err, schema)
		}
		db.Close()
	}
	for _, bad := range []string{"", "Identity", "a;drop table x", `"quoted"`, "x-y"} {
		if _, err := sqldb.InSchema(ctx, url, bad); err == nil {
			t.Errorf("InSchema(%q) accepted", bad)
		}
	}
}
