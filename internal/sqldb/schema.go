package sqldb

import (
	"context"
	"fmt"
	"net/url"
	"regexp"

	"github.com/jackc/pgx/v5"
)

// schemaName is what InSchema accepts as a schema's name: lower case
// letters, digits and underscores, as an unquoted identifier.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// InSchema makes sure the PostgreSQL database at pgURL has the schema
// named schema, and returns pgURL with its search_path set to it, so
// that every connection opened with the result creates and finds its
// tables there. Several stores share one database this way, each in a
// schema of its own (identity, queue, mail…), with the same unqualified
// SQL as in their SQLite files.
func InSchema(ctx context.Context, pgURL, schema string) (string, error) {
	if !schemaName.MatchString(schema) {
		return "", fmt.Errorf("sqldb: %q is not a schema name", schema)
	}
	u, err := url.Parse(pgURL)
	if err != nil {
		return "", fmt.Errorf("sqldb: %s: not a URL", Redact(pgURL))
	}
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		return "", fmt.Errorf("sqldb: connect to %s: %s", Redact(pgURL), redactErr(err, pgURL))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// Two instances starting at once may both create it; the loser's
	// CREATE fails on the catalogue's unique index, and the schema is there.
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil && !IsUniqueViolation(err) {
		return "", fmt.Errorf("sqldb: create schema %s in %s: %w", schema, Redact(pgURL), err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
