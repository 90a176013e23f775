package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kakehashi/kakehashi/internal/migrate"
	"github.com/kakehashi/kakehashi/internal/sqldb"
)

// PostgresSchemaVersion is the version of the PostgreSQL schema this
// package writes: the number of its migrations (migrations/postgres,
// applied by internal/migrate and recorded in schema_migrations). Its
// history is its own: version 1 is what SQLite reached in four.
const PostgresSchemaVersion = 1

// postgresPoolSize bounds the store's connections: the writer, Load's two
// readers, and the admin API's reads beside them.
const postgresPoolSize = 8

// OpenPostgres opens the PostgreSQL database at url (a postgres:// URL,
// see sqldb.Parse) and makes sure its schema is current. Several
// processes may open one database: migrations take turns, and the
// store's writes lock what they read (see SQLStore).
func OpenPostgres(ctx context.Context, url string) (*SQLStore, error) {
	db, err := sqldb.OpenPostgres(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	db.SetMaxOpenConns(postgresPoolSize)
	db.SetMaxIdleConns(postgresPoolSize)
	s := &SQLStore{d: sqldb.Postgres, name: "postgres", w: db, r: db}
	fail := func(err error) (*SQLStore, error) {
		db.Close()
		return nil, fmt.Errorf("identity: postgres %s: %w", sqldb.Redact(url), err)
	}
	ms, err := migrate.LoadDialect(migrationFiles, "migrations", sqldb.Postgres)
	if err != nil {
		return fail(err)
	}
	if len(ms) != PostgresSchemaVersion {
		return fail(fmt.Errorf("%d migrations embedded, but PostgresSchemaVersion is %d", len(ms), PostgresSchemaVersion))
	}
	if _, err := migrate.Up(ctx, db, ms, migrate.Options{Dialect: sqldb.Postgres}); err != nil {
		return fail(err)
	}
	if err := s.start(ctx); err != nil {
		return fail(err)
	}
	return s, nil
}

// loadContactsColumns reads the contacts table into out, one column per
// field: PostgreSQL's way of loadContacts.
func loadContactsColumns(ctx context.Context, tx *sql.Tx, out []Contact) ([]Contact, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, network, addr, display_name, source, created_at, tags FROM contacts`)
	if err != nil {
		return nil, fmt.Errorf("contacts: %w", err)
	}
	defer rows.Close()
	var (
		network, source string
		created         int64
		tags            sql.NullString
		intern          = newInterner()
	)
	for rows.Next() {
		var c Contact
		if err := rows.Scan(&c.ID, &network, &c.Address.Addr, &c.DisplayName, &source, &created, &tags); err != nil {
			return nil, fmt.Errorf("contacts: %w", err)
		}
		c.Address.Network, c.Source = intern(network), intern(source)
		c.CreatedAt = fromUnixNano(created)
		if c.Tags, err = parseList(tags.String, intern); err != nil {
			return nil, fmt.Errorf("contact %s: tags: %w", c.ID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("contacts: %w", err)
	}
	return out, nil
}

// scanRelationshipsColumns reads the relationships table into dst, which
// must be exactly as long as the table, one column per field:
// PostgreSQL's way of scanRelationships.
func scanRelationshipsColumns(ctx context.Context, tx *sql.Tx, dst []Relationship, intern func(string) string) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, contact_id, persona_id, owner_id, merged_into,
		last_transfer_id, coalesce(former_persona_ids, ''), coalesce(tags, ''), gone, remark,
		created_at, updated_at, version, last_activity, owner_version, gone_at
		FROM relationships`)
	if err != nil {
		return fmt.Errorf("relationships: %w", err)
	}
	defer rows.Close()
	var (
		persona, owner, merged, transfer, former, tags, gone string
		nums                                                 [6]int64
		k                                                    int
	)
	for rows.Next() {
		if k == len(dst) {
			return errors.New("relationships: the table changed while it was read")
		}
		r := &dst[k]
		k++
		if err := rows.Scan(&r.ID, &r.ContactID, &persona, &owner, &merged, &transfer, &former, &tags,
			&gone, &r.Remark, &nums[0], &nums[1], &nums[2], &nums[3], &nums[4], &nums[5]); err != nil {
			return fmt.Errorf("relationships: %w", err)
		}
		r.PersonaID, r.OwnerID, r.MergedInto = intern(persona), intern(owner), intern(merged)
		r.LastTransferID, r.Gone = intern(transfer), intern(gone)
		r.CreatedAt, r.UpdatedAt, r.Version = fromUnixNano(nums[0]), fromUnixNano(nums[1]), uint64(nums[2])
		r.LastActivity, r.OwnerVersion, r.GoneAt = fromUnixNano(nums[3]), uint64(nums[4]), fromUnixNano(nums[5])
		if r.FormerPersonaIDs, err = parseList(former, intern); err != nil {
			return fmt.Errorf("relationship %s: former personas: %w", r.ID, err)
		}
		if r.Tags, err = parseList(tags, intern); err != nil {
			return fmt.Errorf("relationship %s: tags: %w", r.ID, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("relationships: %w", err)
	}
	if k != len(dst) {
		return errors.New("relationships: the table changed while it was read")
	}
	return nil
}
