package storecopy

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgQuerier is a pgx connection or transaction.
type pgQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ident is a quoted identifier; qualified the quoted schema.table.
func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

func qualified(schema, table string) string { return pgx.Identifier{schema, table}.Sanitize() }

// destTables are the tables of schema, the migrations' records left out.
func destTables(ctx context.Context, q pgQuerier, st Store) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname`, st.Schema)
	if err != nil {
		return nil, fmt.Errorf("storecopy: %s: list tables of schema %s: %w", st.Name, st.Schema, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("storecopy: %s: list tables of schema %s: %w", st.Name, st.Schema, err)
	}
	return slices.DeleteFunc(names, func(n string) bool { return slices.Contains(st.records, n) }), nil
}

// checkDestination refuses a destination schema with a row in any table
// (the copy does not merge) or a trigger that would run on the copy's
// inserts (the schemas have none: the audit log's triggers refuse
// updates, deletes and truncation, and its numbers come from an identity
// column, which COPY writes as given).
func checkDestination(ctx context.Context, q pgQuerier, st Store) error {
	tables, err := destTables(ctx, q, st)
	if err != nil {
		return err
	}
	for _, t := range tables {
		var has bool
		if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+qualified(st.Schema, t)+`)`).Scan(&has); err != nil {
			return fmt.Errorf("storecopy: %s: read %s.%s: %w", st.Name, st.Schema, t, err)
		}
		if has {
			return fmt.Errorf("%w: table %s.%s already holds rows; the copy does not merge (copy into an empty database, or drop schema %s first)",
				ErrNotEmpty, st.Schema, t, st.Schema)
		}
	}
	var trigger, table string
	err = q.QueryRow(ctx, `SELECT t.tgname, c.relname FROM pg_trigger t
		JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND NOT t.tgisinternal AND (t.tgtype & 4) <> 0 LIMIT 1`, st.Schema).Scan(&trigger, &table)
	switch {
	case err == nil:
		return fmt.Errorf("storecopy: %s: table %s.%s has trigger %s on INSERT, which the copy would run on every row it writes; this version of store copy does not know it",
			st.Name, st.Schema, table, trigger)
	case err != pgx.ErrNoRows:
		return fmt.Errorf("storecopy: %s: read triggers: %w", st.Name, err)
	}
	return nil
}

// kind is how a column's values are converted and compared.
type kind int

const (
	kInt kind = iota
	kFloat
	kBool
	kText
	kBytes
	kTime
	kOther
)

// pgKind is the kind of a PostgreSQL type, by pg_type.typname.
func pgKind(typname string) kind {
	switch typname {
	case "int2", "int4", "int8", "numeric":
		return kInt
	case "float4", "float8":
		return kFloat
	case "bool":
		return kBool
	case "text", "varchar", "bpchar", "name", "json", "jsonb", "citext":
		return kText
	case "bytea":
		return kBytes
	case "timestamp", "timestamptz", "date":
		return kTime
	}
	return kOther
}

// affinity is a SQLite declared type's affinity (SQLite's rules, section
// 3.1 of its datatype page), or "TIME" for a declared date or time.
func affinity(declared string) string {
	d := strings.ToUpper(declared)
	switch {
	case strings.Contains(d, "INT"):
		return "INTEGER"
	case strings.Contains(d, "CHAR"), strings.Contains(d, "CLOB"), strings.Contains(d, "TEXT"):
		return "TEXT"
	case d == "" || strings.Contains(d, "BLOB"):
		return "BLOB"
	case strings.Contains(d, "REAL"), strings.Contains(d, "FLOA"), strings.Contains(d, "DOUB"):
		return "REAL"
	case strings.Contains(d, "DATE"), strings.Contains(d, "TIME"):
		return "TIME"
	}
	return "NUMERIC"
}

// converts says which PostgreSQL kinds a SQLite affinity's values go to.
var converts = map[string][]kind{
	"INTEGER": {kInt, kFloat, kBool},
	"TEXT":    {kText, kTime},
	"BLOB":    {kBytes, kText},
	"REAL":    {kFloat},
	"NUMERIC": {kInt, kFloat, kBool, kText},
	"TIME":    {kTime, kText},
}

// column is a column copied: its name, the source's declared type, the
// destination's type and how values are compared.
type column struct {
	name    string
	srcType string
	dstType string
	dst     kind
	canon   kind
	notNull bool
	// identity is set for an identity column, hasDefault for a column
	// with a default (a serial one's is its sequence).
	identity, hasDefault bool
}

// tablePlan is how one table is copied.
type tablePlan struct {
	store, schema, table string
	cols                 []column
	// order are the columns rows are read in the order of (the
	// destination's primary key, or every column).
	order []column
	// autoinc is SQLite's AUTOINCREMENT high-water mark of the table (0
	// when it has none).
	autoinc int64
}

// plan lists the source's tables and matches each with the
// destination's, refusing a table or column the destination lacks and a
// type it cannot take.
func plan(ctx context.Context, stx *sql.Tx, dtx pgQuerier, st Store) ([]tablePlan, error) {
	rows, err := stx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("storecopy: %s: list source tables: %w", st.Name, err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("storecopy: %s: list source tables: %w", st.Name, err)
		}
		if !slices.Contains(st.records, n) {
			names = append(names, n)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storecopy: %s: list source tables: %w", st.Name, err)
	}
	dest, err := destTables(ctx, dtx, st)
	if err != nil {
		return nil, err
	}
	var autoinc map[string]int64
	if ok, err := sqliteHas(ctx, stx, "sqlite_sequence"); err != nil {
		return nil, fmt.Errorf("storecopy: %s: %w", st.Name, err)
	} else if ok {
		if autoinc, err = sqliteSequences(ctx, stx); err != nil {
			return nil, fmt.Errorf("storecopy: %s: %w", st.Name, err)
		}
	}
	var plans []tablePlan
	for _, t := range names {
		if !slices.Contains(dest, t) {
			return nil, fmt.Errorf("storecopy: %s: table %s: the destination schema %s has no such table", st.Name, t, st.Schema)
		}
		p, err := planTable(ctx, stx, dtx, st, t)
		if err != nil {
			return nil, err
		}
		p.autoinc = autoinc[t]
		plans = append(plans, p)
	}
	return plans, nil
}

func sqliteHas(ctx context.Context, stx *sql.Tx, table string) (bool, error) {
	var n int
	if err := stx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil {
		return false, fmt.Errorf("look for %s: %w", table, err)
	}
	return n > 0, nil
}

// sqliteSequences are the AUTOINCREMENT high-water marks, by table.
func sqliteSequences(ctx context.Context, stx *sql.Tx) (map[string]int64, error) {
	rows, err := stx.QueryContext(ctx, `SELECT name, seq FROM sqlite_sequence`)
	if err != nil {
		return nil, fmt.Errorf("read sqlite_sequence: %w", err)
	}
	defer rows.Close()
	m := map[string]int64{}
	for rows.Next() {
		var n string
		var v int64
		if err := rows.Scan(&n, &v); err != nil {
			return nil, fmt.Errorf("read sqlite_sequence: %w", err)
		}
		m[n] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read sqlite_sequence: %w", err)
	}
	return m, nil
}

// destColumn is a column of the destination's table.
type destColumn struct {
	typ, typname                    string
	notNull, hasDefault, isIdentity bool
}

func planTable(ctx context.Context, stx *sql.Tx, dtx pgQuerier, st Store, table string) (tablePlan, error) {
	p := tablePlan{store: st.Name, schema: st.Schema, table: table}
	fail := func(format string, args ...any) (tablePlan, error) {
		return tablePlan{}, fmt.Errorf("storecopy: %s: table %s: "+format, append([]any{st.Name, table}, args...)...)
	}
	// The destination's columns.
	rows, err := dtx.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typname, a.attnotnull,
			a.atthasdef OR a.attgenerated <> '', a.attidentity <> ''
		FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, qualified(st.Schema, table))
	if err != nil {
		return fail("read the destination's columns: %w", err)
	}
	dcols := map[string]destColumn{}
	var dorder []string
	for rows.Next() {
		var name string
		var c destColumn
		if err := rows.Scan(&name, &c.typ, &c.typname, &c.notNull, &c.hasDefault, &c.isIdentity); err != nil {
			rows.Close()
			return fail("read the destination's columns: %w", err)
		}
		dcols[name] = c
		dorder = append(dorder, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail("read the destination's columns: %w", err)
	}
	// The source's columns, each matched by name.
	srows, err := stx.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return fail("read the source's columns: %w", err)
	}
	for srows.Next() {
		var c column
		if err := srows.Scan(&c.name, &c.srcType); err != nil {
			srows.Close()
			return fail("read the source's columns: %w", err)
		}
		p.cols = append(p.cols, c)
	}
	srows.Close()
	if err := srows.Err(); err != nil {
		return fail("read the source's columns: %w", err)
	}
	for i := range p.cols {
		c := &p.cols[i]
		d, ok := dcols[c.name]
		if !ok {
			return fail("column %s: the destination has no such column", c.name)
		}
		c.dstType, c.dst, c.notNull, c.identity, c.hasDefault = d.typ, pgKind(d.typname), d.notNull, d.isIdentity, d.hasDefault
		aff := affinity(c.srcType)
		if c.dst == kOther || !slices.Contains(converts[aff], c.dst) {
			return fail("column %s: SQLite %s (%s) cannot be copied into PostgreSQL %s", c.name, orAny(c.srcType), aff, d.typ)
		}
		c.canon = canonKind(aff, c.dst)
	}
	for _, name := range dorder {
		d := dcols[name]
		if d.notNull && !d.hasDefault && !d.isIdentity && !slices.ContainsFunc(p.cols, func(c column) bool { return c.name == name }) {
			return fail("column %s: the destination requires it (NOT NULL, no default) and the source has no such column", name)
		}
	}
	// Rows are read in the order of the primary key, the same on both
	// sides, or of every column when a key column is not copied.
	krows, err := dtx.Query(ctx, `SELECT a.attname FROM pg_index i
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
		WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`, qualified(st.Schema, table))
	if err != nil {
		return fail("read the destination's primary key: %w", err)
	}
	keys, err := pgx.CollectRows(krows, pgx.RowTo[string])
	if err != nil {
		return fail("read the destination's primary key: %w", err)
	}
	for _, k := range keys {
		i := slices.IndexFunc(p.cols, func(c column) bool { return c.name == k })
		if i < 0 {
			p.order = nil
			break
		}
		p.order = append(p.order, p.cols[i])
	}
	if len(p.order) == 0 {
		p.order = p.cols
	}
	return p, nil
}

func orAny(declared string) string {
	if declared == "" {
		return "(no type)"
	}
	return declared
}

// canonKind is how a column's values are written for the checksum: as
// times when either side holds times, as bytes when either holds bytes,
// as 0/1 when the destination holds booleans, else as they come.
func canonKind(aff string, dst kind) kind {
	switch {
	case aff == "TIME" || dst == kTime:
		return kTime
	case dst == kBytes:
		return kBytes
	case dst == kBool:
		return kBool
	}
	return kOther
}

// sourceQuery reads the copied columns of the source table in order.
func (p *tablePlan) sourceQuery() string {
	return p.query(ident(p.table), func(c column) string { return ident(c.name) + " COLLATE BINARY" })
}

// destQuery reads the copied columns of the destination table in the
// source's order: text byte by byte (COLLATE "C", as SQLite's BINARY),
// NULLs first (as SQLite).
func (p *tablePlan) destQuery() string {
	return p.query(qualified(p.schema, p.table), func(c column) string {
		if c.dst == kText {
			return ident(c.name) + ` COLLATE "C" NULLS FIRST`
		}
		return ident(c.name) + " NULLS FIRST"
	})
}

// query selects the copied columns from table, ordered by p.order each
// written by orderBy.
func (p *tablePlan) query(table string, orderBy func(column) string) string {
	names := make([]string, len(p.cols))
	for i, c := range p.cols {
		names[i] = ident(c.name)
	}
	order := make([]string, len(p.order))
	for i, c := range p.order {
		order[i] = orderBy(c)
	}
	return "SELECT " + strings.Join(names, ", ") + " FROM " + table + " ORDER BY " + strings.Join(order, ", ")
}

// copyTable copies one table in batches, sets its identity columns past
// what it copied, and reads it back to compare.
func copyTable(ctx context.Context, o Options, stx *sql.Tx, dtx pgx.Tx, p tablePlan) (TableResult, error) {
	t0 := time.Now()
	tr := TableResult{Store: p.store, Table: p.table}
	fail := func(err error) (TableResult, error) {
		return tr, fmt.Errorf("storecopy: %s: table %s: %w", p.store, p.table, err)
	}
	rows, err := stx.QueryContext(ctx, p.sourceQuery())
	if err != nil {
		return fail(fmt.Errorf("read: %w", err))
	}
	defer rows.Close()
	names := make([]string, len(p.cols))
	for i, c := range p.cols {
		names[i] = c.name
	}
	sum := newChecksum(p.cols)
	maxID := make([]int64, len(p.cols))
	batch := make([][]any, 0, o.BatchRows)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := dtx.CopyFrom(ctx, pgx.Identifier{p.schema, p.table}, names, pgx.CopyFromRows(batch))
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if n != int64(len(batch)) {
			return fmt.Errorf("write: %d rows of %d written", n, len(batch))
		}
		batch = batch[:0]
		return nil
	}
	for rows.Next() {
		raw := make([]any, len(p.cols))
		ptrs := make([]any, len(p.cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return fail(fmt.Errorf("read: %w", err))
		}
		sum.add(raw)
		out := make([]any, len(p.cols))
		for i, c := range p.cols {
			v, err := convert(raw[i], c)
			if err != nil {
				return fail(fmt.Errorf("column %s, row %d: %w", c.name, sum.rows, err))
			}
			if c.dst == kInt {
				if id, ok := v.(int64); ok {
					maxID[i] = max(maxID[i], id)
				}
			}
			out[i] = v
		}
		batch = append(batch, out)
		if len(batch) >= o.BatchRows {
			if err := flush(); err != nil {
				return fail(err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fail(fmt.Errorf("read: %w", err))
	}
	if err := flush(); err != nil {
		return fail(err)
	}
	tr.Rows, tr.Checksum = sum.rows, sum.sum()
	// New rows must not take a copied row's number, nor one SQLite's
	// AUTOINCREMENT already handed out.
	for i, c := range p.cols {
		if c.dst != kInt || !c.identity && !c.hasDefault {
			continue
		}
		var seq *string
		if err := dtx.QueryRow(ctx, `SELECT pg_get_serial_sequence($1, $2)`, qualified(p.schema, p.table), c.name).Scan(&seq); err != nil {
			return fail(fmt.Errorf("column %s: find its sequence: %w", c.name, err))
		}
		next := maxID[i]
		if len(p.order) == 1 && p.order[0].name == c.name {
			next = max(next, p.autoinc) // AUTOINCREMENT numbers the key
		}
		if seq == nil || next <= 0 {
			continue
		}
		if _, err := dtx.Exec(ctx, `SELECT setval($1::regclass, $2, true)`, *seq, next); err != nil {
			return fail(fmt.Errorf("column %s: set sequence %s to %d: %w", c.name, *seq, next, err))
		}
	}
	// Read back, in the same transaction, as the gateway will read it.
	drows, err := dtx.Query(ctx, p.destQuery())
	if err != nil {
		return fail(fmt.Errorf("read back: %w", err))
	}
	dsum := newChecksum(p.cols)
	for drows.Next() {
		vals, err := drows.Values()
		if err != nil {
			drows.Close()
			return fail(fmt.Errorf("read back: %w", err))
		}
		dsum.add(vals)
	}
	drows.Close()
	if err := drows.Err(); err != nil {
		return fail(fmt.Errorf("read back: %w", err))
	}
	tr.DestRows, tr.DestChecksum = dsum.rows, dsum.sum()
	tr.Elapsed = time.Since(t0)
	o.Logger.Info("store copy: table copied", "store", p.store, "table", p.table, "rows", tr.Rows,
		"ok", tr.OK(), "elapsed", tr.Elapsed.Round(time.Millisecond))
	return tr, nil
}
