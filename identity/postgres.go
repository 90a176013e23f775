package identity

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/kakehashi/kakehashi/internal/hugepage"
	"github.com/kakehashi/kakehashi/internal/migrate"
	"github.com/kakehashi/kakehashi/internal/sqldb"
)

// PostgresSchemaVersion is the version of the PostgreSQL schema this
// package writes: the number of its migrations (migrations/postgres,
// applied by internal/migrate and recorded in schema_migrations). Its
// history is its own: version 1 is what SQLite reached in four.
const PostgresSchemaVersion = 3

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
	s := &SQLStore{d: sqldb.Postgres, name: "postgres", w: db, r: db, outcomeWait: commitOutcomeWait}
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

// ErrCommitUnknown is the error of a commit whose connection to
// PostgreSQL failed while the server was committing, and whose outcome
// the store could not learn afterwards (the server stayed out of reach):
// the change may or may not be stored. State stops taking changes after
// it (its memory may no longer match the store) until it is opened
// again, which reads what the store holds.
var ErrCommitUnknown = errors.New("identity: commit outcome unknown: the connection to the database failed during the commit")

// pgInvalidParameterValue is the SQLSTATE of txid_status for a
// transaction id the server has not reached.
const pgInvalidParameterValue = "22023"

// commitOutcomeWait is how long a commit whose connection failed keeps
// asking the server how it ended before it gives up (ErrCommitUnknown).
const commitOutcomeWait = 30 * time.Second

// txID returns the PostgreSQL transaction id of tx (assigning one, as
// its first write would), or 0 in SQLite, whose commits cannot be in
// doubt that way.
//
// In the same round trip it has the server plan the transaction's
// statements generically (plan_cache_mode, until the transaction ends).
// A custom plan, which the server makes for the first executions of
// each prepared statement on a connection, copies every parameter into
// the plan as a constant, several times over: for the 24 MB of audit
// details of a transfer of 100,000 relationships, 100-250 ms of the
// server's time. The store's writes gain nothing from custom plans
// (inserts, and updates by primary key).
func (s *SQLStore) txID(ctx context.Context, tx *sql.Tx) (int64, error) {
	if s.d != sqldb.Postgres {
		return 0, nil
	}
	var xid int64
	if err := tx.QueryRowContext(ctx, `SELECT txid_current(), set_config('plan_cache_mode', 'force_generic_plan', true)`).Scan(&xid, new(string)); err != nil {
		return 0, fmt.Errorf("transaction id: %w", err)
	}
	return xid, nil
}

// commitTx commits tx, whose id is xid (txID). The Store's promise is
// that an error means nothing was stored; a PostgreSQL connection that
// fails during COMMIT leaves that open (the server may have committed
// before the connection broke), so then the store asks the server, on
// another connection, how transaction xid ended: committed is success,
// aborted the error, and no answer within outcomeWait ErrCommitUnknown.
// An error the server itself sent means it rolled the transaction back.
func (s *SQLStore) commitTx(ctx context.Context, tx *sql.Tx, xid int64) error {
	err := tx.Commit()
	if err == nil || xid == 0 {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return err
	}
	return s.commitOutcome(ctx, xid, err)
}

// commitOutcome asks the server how transaction xid ended (see commitTx);
// cause is the commit's error.
func (s *SQLStore) commitOutcome(ctx context.Context, xid int64, cause error) error {
	deadline := time.Now().Add(s.outcomeWait)
	wait := 20 * time.Millisecond
	for {
		var status sql.NullString
		err := s.w.QueryRowContext(ctx, `SELECT txid_status($1)`, xid).Scan(&status)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == pgInvalidParameterValue {
			// "transaction ID … is in the future": the server restarted
			// without any record of xid in its log, so it never
			// committed (a commit record is flushed with all before it).
			return cause
		}
		if err == nil {
			switch status.String {
			case "committed":
				return nil
			case "aborted":
				return cause
			}
			// "in progress": the server has not finished the commit.
		}
		if time.Now().Add(wait).After(deadline) {
			return fmt.Errorf("%w (transaction %d: %w)", ErrCommitUnknown, xid, cause)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (transaction %d: %w)", ErrCommitUnknown, xid, errors.Join(cause, ctx.Err()))
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// snapshotID is what pg_export_snapshot returns (e.g.
// "00000003-0000001B-1"); it is written into SET TRANSACTION SNAPSHOT,
// which takes no parameters.
var snapshotID = regexp.MustCompile(`^[0-9A-Fa-f-]+$`)

// sharedSnapshot begins a read-only REPEATABLE READ transaction (the
// anchor, to roll back once the reads are done) and exports its snapshot,
// whose id it returns (for pgRead); begin begins further such
// transactions that see exactly what the anchor sees, however other
// processes commit meanwhile.
func (s *SQLStore) sharedSnapshot(ctx context.Context) (anchor *sql.Tx, begin func(context.Context) (*sql.Tx, error), id string, err error) {
	opts := &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	anchor, err = s.r.BeginTx(ctx, opts)
	if err != nil {
		return nil, nil, "", err
	}
	if err := anchor.QueryRowContext(ctx, `SELECT pg_export_snapshot()`).Scan(&id); err != nil {
		anchor.Rollback() //nolint:errcheck // read-only
		return nil, nil, "", fmt.Errorf("export snapshot: %w", err)
	}
	if !snapshotID.MatchString(id) {
		anchor.Rollback() //nolint:errcheck // read-only
		return nil, nil, "", fmt.Errorf("export snapshot: unexpected id %q", id)
	}
	begin = func(ctx context.Context) (*sql.Tx, error) {
		tx, err := s.r.BeginTx(ctx, opts)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `SET TRANSACTION SNAPSHOT '`+id+`'`); err != nil {
			tx.Rollback() //nolint:errcheck // read-only
			return nil, fmt.Errorf("import snapshot: %w", err)
		}
		return tx, nil
	}
	return anchor, begin, id, nil
}

// Contacts and relationships are read from PostgreSQL with pgx itself,
// one plain column per field in binary format (text as its bytes,
// integers as 8 bytes, big-endian), each row's values taken as the bytes
// pgx received (RawValues) and parsed here: no database/sql row
// conversions, no allocation but the strings kept. A million
// relationships took the server 0.7-0.9 s to send this way, against
// 1.5-1.9 s for the one concatenated column per row that SQLite's loader
// reads (see scanRelationships), and the contacts 0.3-0.5 s against
// 0.7-0.8 s.

// pgRead runs fn with pgx on a connection of the pool, in a read-only
// REPEATABLE READ transaction that sees the snapshot snap (see
// sharedSnapshot). A connection left in doubt is dropped from the pool.
func (s *SQLStore) pgRead(ctx context.Context, snap string, fn func(*pgx.Conn) error) error {
	if !snapshotID.MatchString(snap) {
		return fmt.Errorf("snapshot id %q", snap)
	}
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("driver connection is a %T, not pgx's", dc)
		}
		pc := sc.Conn()
		if _, err := pc.Exec(ctx, `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`); err != nil {
			return errors.Join(err, driver.ErrBadConn)
		}
		err := func() error {
			if _, err := pc.Exec(ctx, `SET TRANSACTION SNAPSHOT '`+snap+`'`); err != nil {
				return fmt.Errorf("import snapshot: %w", err)
			}
			return fn(pc)
		}()
		if _, rerr := pc.Exec(ctx, `ROLLBACK`); rerr != nil {
			return errors.Join(err, rerr, driver.ErrBadConn)
		}
		return err
	})
}

// pgReadTable runs load with pgRead.
func pgReadTable[T any](ctx context.Context, s *SQLStore, snap string, load func(context.Context, *pgx.Conn) ([]T, error)) ([]T, error) {
	var out []T
	err := s.pgRead(ctx, snap, func(pc *pgx.Conn) error {
		var err error
		out, err = load(ctx, pc)
		return err
	})
	return out, err
}

func pgCount(ctx context.Context, pc *pgx.Conn, table string) (int, error) {
	var n int
	if err := pc.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: %w", table, err)
	}
	return n, nil
}

// view returns b as a string without copying: valid only until pgx
// reads the next row, so it is only looked at, interned or copied.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// pgInt decodes a BIGINT column in binary format.
func pgInt(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("integer of %d bytes", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// pgBinary asks for every result column in binary format.
var pgBinary = pgx.QueryResultFormats{1}

// pgLoadContacts reads the contacts table (see loadContacts).
func pgLoadContacts(ctx context.Context, pc *pgx.Conn) ([]Contact, error) {
	n, err := pgCount(ctx, pc, "contacts")
	if err != nil {
		return nil, err
	}
	out := make([]Contact, 0, n)
	hugepage.Advise(out) // as in SQLite's loadRelationships
	rows, err := pc.Query(ctx, `SELECT id, addr, display_name, network, source, created_at, tags FROM contacts`, pgBinary)
	if err != nil {
		return nil, fmt.Errorf("contacts: %w", err)
	}
	defer rows.Close()
	var (
		intern = newInterner()
		arena  stringArena
		head   []byte
	)
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 7 {
			return nil, fmt.Errorf("contacts: %d columns", len(v))
		}
		// ID, address and display name are copied together into the
		// arena, as in SQLite.
		head = append(append(append(head[:0], v[0]...), v[1]...), v[2]...)
		h := arena.clone(view(head))
		c := Contact{
			ID:          h[:len(v[0])],
			Address:     Address{Network: intern(view(v[3])), Addr: h[len(v[0]) : len(v[0])+len(v[1])]},
			DisplayName: h[len(v[0])+len(v[1]):],
			Source:      intern(view(v[4])),
		}
		created, err := pgInt(v[5])
		if err != nil {
			return nil, fmt.Errorf("contact %s: %w", c.ID, err)
		}
		c.CreatedAt = fromUnixNano(created)
		if c.Tags, err = parseList(view(v[6]), intern); err != nil {
			return nil, fmt.Errorf("contact %s: tags: %w", c.ID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("contacts: %w", err)
	}
	return out, nil
}

// pgLoadRelationships reads the relationships table and applies the
// pending relationship log over it (see loadRelationships).
func pgLoadRelationships(ctx context.Context, pc *pgx.Conn) ([]Relationship, error) {
	n, err := pgCount(ctx, pc, "relationships")
	if err != nil {
		return nil, err
	}
	out := make([]Relationship, 0, n)
	hugepage.Advise(out) // as in SQLite's loadRelationships
	intern := newInterner()
	rows, err := pc.Query(ctx, `SELECT id, contact_id, persona_id, owner_id, merged_into, last_transfer_id,
		gone, remark, former_persona_ids, tags, created_at, updated_at, version, last_activity, owner_version, gone_at
		FROM relationships`, pgBinary)
	if err != nil {
		return nil, fmt.Errorf("relationships: %w", err)
	}
	defer rows.Close()
	var (
		arena    stringArena // IDs, kept
		contacts stringArena // contact IDs: State shares the contact's own ID string instead
		nums     [6]int64
	)
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 16 {
			return nil, fmt.Errorf("relationships: %d columns", len(v))
		}
		if len(out) == n {
			return nil, errors.New("relationships: the table changed while it was read")
		}
		out = append(out, Relationship{
			ID:             arena.clone(view(v[0])),
			ContactID:      contacts.clone(view(v[1])),
			PersonaID:      intern(view(v[2])),
			OwnerID:        intern(view(v[3])),
			MergedInto:     intern(view(v[4])),
			LastTransferID: intern(view(v[5])),
			Gone:           intern(view(v[6])),
			Remark:         string(v[7]),
		})
		r := &out[len(out)-1]
		for i := range nums {
			if nums[i], err = pgInt(v[10+i]); err != nil {
				return nil, fmt.Errorf("relationship %s: %w", r.ID, err)
			}
		}
		r.CreatedAt, r.UpdatedAt, r.Version = fromUnixNano(nums[0]), fromUnixNano(nums[1]), uint64(nums[2])
		r.LastActivity, r.OwnerVersion, r.GoneAt = fromUnixNano(nums[3]), uint64(nums[4]), fromUnixNano(nums[5])
		if r.FormerPersonaIDs, err = parseList(view(v[8]), intern); err != nil {
			return nil, fmt.Errorf("relationship %s: former personas: %w", r.ID, err)
		}
		if r.Tags, err = parseList(view(v[9]), intern); err != nil {
			return nil, fmt.Errorf("relationship %s: tags: %w", r.ID, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("relationships: %w", err)
	}
	if len(out) != n {
		return nil, errors.New("relationships: the table changed while it was read")
	}
	rows, err = pc.Query(ctx, `SELECT seq, data FROM relationship_log ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("relationship log: %w", err)
	}
	defer rows.Close()
	return applyLogRows(rows, relLogApplier{rels: out, intern: intern})
}

// pgWriteBulk writes, in the transaction open on conn, rels as chunks of
// the relationship log and then entries to the audit table (taking
// auditLock first, see insertAudit), and returns the number of chunks and
// the entries' sequence numbers. The statements go out in one pipeline
// (pgx's, below database/sql), each flushed as soon as it is encoded, so
// the server stores one chunk while the next is encoded and sent, and
// the store waits for the server once, at the end; the parameters are
// sent as they are, in binary format (text as its bytes), not copied
// through database/sql and pgx's encoders: a transfer's audit details
// are 24 MB. An error leaves the transaction failed, for the caller to
// roll back.
func pgWriteBulk(ctx context.Context, conn *sql.Conn, rels []*Relationship, entries []AuditEntry) (chunks int, seqs []uint64, err error) {
	for i := range rels {
		if err := checkRelText(rels[i]); err != nil {
			return 0, nil, fmt.Errorf("relationship log: %w", err)
		}
	}
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("driver connection is a %T, not pgx's", dc)
		}
		p := sc.Conn().PgConn().StartPipeline(ctx)
		defer p.Close() //nolint:errcheck // the results' errors are what matter
		binary := []int16{1}
		var buf []byte
		for start := 0; start < len(rels); start += relChunkSize {
			buf = appendRelChunk(buf[:0], rels[start:min(start+relChunkSize, len(rels))])
			p.SendQueryParams(`INSERT INTO relationship_log (data) VALUES ($1)`, [][]byte{buf},
				[]uint32{pgtype.ByteaOID}, binary, nil)
			if err := p.Flush(); err != nil {
				return fmt.Errorf("relationship log: %w", err)
			}
			chunks++
		}
		if len(entries) > 0 {
			p.SendQueryParams(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [][]byte{[]byte(auditLock)},
				[]uint32{pgtype.TextOID}, binary, nil)
		}
		text := uint32(pgtype.TextOID)
		oids := []uint32{pgtype.Int8OID, text, text, text, text, text}
		for i := range entries {
			a := &entries[i]
			var details []byte // NULL when empty
			if len(a.Details) > 0 {
				details = a.Details
			}
			p.SendQueryParams(`INSERT INTO audit (at, actor, action, reason, subject, details)
				VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq`,
				[][]byte{binaryInt(unixNano(a.At)), []byte(a.Actor), []byte(a.Action), []byte(a.Reason), []byte(a.Subject), details},
				oids, binary, binary)
		}
		if err := p.Sync(); err != nil {
			return err
		}
		seqs = make([]uint64, 0, len(entries))
		for q := range chunks + min(len(entries), 1) + len(entries) {
			res, err := p.GetResults()
			if err != nil {
				return err
			}
			rr, ok := res.(*pgconn.ResultReader)
			if !ok {
				return fmt.Errorf("pipeline: result %d is a %T", q, res)
			}
			audit := q > chunks
			for rr.NextRow() {
				if v := rr.Values(); audit && len(v) == 1 && len(v[0]) == 8 {
					seqs = append(seqs, binaryUint(v[0]))
				}
			}
			if _, err := rr.Close(); err != nil {
				what := "relationship log"
				if q >= chunks {
					what = "audit"
				}
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		if res, err := p.GetResults(); err != nil {
			return err
		} else if _, ok := res.(*pgconn.PipelineSync); !ok {
			return fmt.Errorf("pipeline: %T where its end was due", res)
		}
		if len(seqs) != len(entries) {
			return fmt.Errorf("audit: %d sequence numbers for %d entries", len(seqs), len(entries))
		}
		return p.Close()
	})
	if err != nil {
		return 0, nil, err
	}
	return chunks, seqs, nil
}

func binaryInt(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func binaryUint(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
