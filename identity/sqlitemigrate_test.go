package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kakehashi/kakehashi/internal/migrate"
	"github.com/kakehashi/kakehashi/internal/sqldb"
)

// The layouts that releases from before the migrations table wrote, in
// their own DDL: each opened a database with CREATE TABLE IF NOT EXISTS
// and added missing relationship columns, then set user_version.
var (
	oldBaseDDL = []string{
		`CREATE TABLE IF NOT EXISTS employees (
			id  TEXT PRIMARY KEY NOT NULL,
			doc TEXT NOT NULL
		) WITHOUT ROWID`,
		`CREATE TABLE IF NOT EXISTS personas (
			id  TEXT PRIMARY KEY NOT NULL,
			doc TEXT NOT NULL
		) WITHOUT ROWID`,
		`CREATE TABLE IF NOT EXISTS contacts (
			id           TEXT PRIMARY KEY NOT NULL,
			network      TEXT NOT NULL,
			addr         TEXT NOT NULL,
			display_name TEXT NOT NULL DEFAULT '',
			source       TEXT NOT NULL DEFAULT '',
			tags         TEXT,
			created_at   INTEGER NOT NULL,
			UNIQUE (network, addr)
		) WITHOUT ROWID`,
		`CREATE TABLE IF NOT EXISTS audit (
			seq     INTEGER PRIMARY KEY AUTOINCREMENT,
			at      INTEGER NOT NULL,
			actor   TEXT NOT NULL,
			action  TEXT NOT NULL,
			reason  TEXT NOT NULL DEFAULT '',
			subject TEXT NOT NULL DEFAULT '',
			details TEXT
		)`,
		`CREATE INDEX IF NOT EXISTS audit_action ON audit (action, seq)`,
		`CREATE INDEX IF NOT EXISTS audit_subject ON audit (subject, seq)`,
		`CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
		BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
		`CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
		BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`,
	}
	oldRelationshipsV1 = `
		id                 TEXT PRIMARY KEY NOT NULL,
		contact_id         TEXT NOT NULL,
		persona_id         TEXT NOT NULL,
		owner_id           TEXT NOT NULL DEFAULT '',
		former_persona_ids TEXT,
		merged_into        TEXT NOT NULL DEFAULT '',
		created_at         INTEGER NOT NULL,
		updated_at         INTEGER NOT NULL,
		version            INTEGER NOT NULL`
	oldRelationshipsV2 = oldRelationshipsV1 + `,
		tags               TEXT,
		remark             TEXT NOT NULL DEFAULT '',
		last_activity      INTEGER NOT NULL DEFAULT 0,
		owner_version      INTEGER NOT NULL DEFAULT 0,
		last_transfer_id   TEXT NOT NULL DEFAULT ''`
	oldRelationshipsGone = oldRelationshipsV2 + `,
		gone               TEXT NOT NULL DEFAULT '',
		gone_at            INTEGER NOT NULL DEFAULT 0`
	oldRelationshipLog = `CREATE TABLE IF NOT EXISTS relationship_log (
		seq  INTEGER PRIMARY KEY,
		data BLOB NOT NULL
	)`
	oldAdmins = `CREATE TABLE IF NOT EXISTS admins (
		name       TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,
		role       TEXT NOT NULL,
		token_hash BLOB NOT NULL UNIQUE,
		created_at INTEGER NOT NULL,
		created_by TEXT NOT NULL,
		last_used  INTEGER NOT NULL DEFAULT 0,
		revoked_at INTEGER NOT NULL DEFAULT 0,
		revoked_by TEXT NOT NULL DEFAULT ''
	) WITHOUT ROWID`
)

// oldLayout returns the DDL of a release before migrations.
func oldLayout(relationships string, extra ...string) []string {
	l := append([]string{}, oldBaseDDL...)
	l = append(l, `CREATE TABLE IF NOT EXISTS relationships (`+relationships+`) WITHOUT ROWID`)
	return append(l, extra...)
}

// createDB creates a database file with stmts, outside SQLiteStore.
func createDB(t *testing.T, path string, stmts []string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	noErr(t, err)
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// schemaOf describes a database's schema for comparison: each table's
// columns (name, type, not null, default, key) and the names of its
// indexes and triggers, whatever the text that created them.
func schemaOf(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT m.type, m.name, coalesce(c.name, ''), coalesce(c.type, ''), coalesce(c."notnull", 0),
			coalesce(c.dflt_value, ''), coalesce(c.pk, 0)
		FROM sqlite_master m LEFT JOIN pragma_table_info(m.name) c ON m.type = 'table'
		WHERE m.name NOT LIKE 'sqlite_%' ORDER BY m.type, m.name, c.cid`)
	noErr(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var typ, name, col, ctype, dflt string
		var notnull, pk int
		noErr(t, rows.Scan(&typ, &name, &col, &ctype, &notnull, &dflt, &pk))
		out = append(out, fmt.Sprintf("%s %s %s %s %d %s %d", typ, name, col, ctype, notnull, dflt, pk))
	}
	noErr(t, rows.Err())
	return out
}

type migrationRow struct {
	Version  int
	Name     string
	Baseline bool
}

func migrationsOf(t *testing.T, db *sql.DB) []migrationRow {
	t.Helper()
	rows, err := db.Query(`SELECT version, name, baseline FROM schema_migrations ORDER BY version`)
	noErr(t, err)
	defer rows.Close()
	var out []migrationRow
	for rows.Next() {
		var r migrationRow
		noErr(t, rows.Scan(&r.Version, &r.Name, &r.Baseline))
		out = append(out, r)
	}
	noErr(t, rows.Err())
	return out
}

var migrationNames = []string{"initial", "relationship_columns", "relationship_gone", "admins", "admin_team_password"}

// wantMigrations lists every migration, the first baseline ones as
// found in place.
func wantMigrations(baseline int) []migrationRow {
	var out []migrationRow
	for i, n := range migrationNames {
		out = append(out, migrationRow{i + 1, n, i < baseline})
	}
	return out
}

func TestSQLiteSchemaVersionCountsMigrations(t *testing.T) {
	ms, err := migrate.LoadDialect(migrationFiles, "migrations", sqldb.SQLite)
	noErr(t, err)
	if len(ms) != SQLiteSchemaVersion || len(ms) != len(migrationNames) {
		t.Fatalf("%d migrations, SQLiteSchemaVersion %d", len(ms), SQLiteSchemaVersion)
	}
	for i, m := range ms {
		if m.Name != migrationNames[i] {
			t.Fatalf("migration %d is %s, want %s", m.Version, m.Name, migrationNames[i])
		}
	}
}

// TestSQLiteOpensEveryLayout opens databases as every release wrote them,
// with a row in each table: each is brought to the current schema (the
// same as a new database's) without losing a row, and the baseline is
// recorded once.
func TestSQLiteOpensEveryLayout(t *testing.T) {
	ctx := context.Background()
	fresh, _ := sqliteStore(t)
	want := schemaOf(t, fresh.w)
	noErr(t, fresh.Close())

	// Rows every layout can hold, in the columns it has.
	rows := func(relCols string, relVals string) []string {
		return []string{
			`INSERT INTO employees VALUES ('alice', '{"id":"alice","name":"Alice","inside_addrs":[{"network":"corp","addr":"alice@corp.test"}],"status":"active"}')`,
			`INSERT INTO personas VALUES ('p-a', '{"id":"p-a","display_name":"A","kind":"personal","employee_id":"alice","addresses":[{"network":"mail","addr":"a@acme.test"}]}')`,
			`INSERT INTO contacts VALUES ('c-1', 'mail', 'x@ext.test', 'X', 'inbound', '["vip"]', 1000)`,
			`INSERT INTO relationships (` + relCols + `) VALUES (` + relVals + `)`,
			`INSERT INTO audit (at, actor, action, subject, details) VALUES (3000, 'root', 'employee.upsert', 'alice', '{"a":1}')`,
		}
	}
	const (
		v1Cols = `id, contact_id, persona_id, owner_id, former_persona_ids, merged_into, created_at, updated_at, version`
		v1Vals = `'r-1', 'c-1', 'p-a', 'alice', '["p-old"]', '', 1000, 2000, 3`
		v2Cols = v1Cols + `, tags, remark, last_activity, owner_version, last_transfer_id`
		v2Vals = v1Vals + `, '["vip"]', 'it''s a note', 2500, 2, 't-1'`
		v3Cols = v2Cols + `, gone, gone_at`
		v3Vals = v2Vals + `, 'bounces', 2600`
	)
	base := Relationship{ID: "r-1", ContactID: "c-1", PersonaID: "p-a", OwnerID: "alice", FormerPersonaIDs: []string{"p-old"},
		CreatedAt: fromUnixNano(1000), UpdatedAt: fromUnixNano(2000), Version: 3}
	v2 := base
	v2.Tags, v2.Remark, v2.LastActivity, v2.OwnerVersion, v2.LastTransferID = []string{"vip"}, "it's a note", fromUnixNano(2500), 2, "t-1"
	v3 := v2
	v3.Gone, v3.GoneAt = "bounces", fromUnixNano(2600)

	// A relationship write still in the log when the release stopped.
	logged := v3
	logged.Remark, logged.Version = "from the log", 4
	for _, tt := range []struct {
		name     string
		stmts    []string
		baseline int // migrations found in place
		rel      Relationship
		admins   int
		// chunk, if set, is left pending in relationship_log.
		chunk *Relationship
	}{
		{"user_version 1", append(oldLayout(oldRelationshipsV1, `PRAGMA user_version = 1`), rows(v1Cols, v1Vals)...), 1, base, 0, nil},
		{"user_version 2", append(oldLayout(oldRelationshipsV2, oldRelationshipLog, `PRAGMA user_version = 2`), rows(v2Cols, v2Vals)...), 2, v2, 0, nil},
		{"user_version 2 with gone", append(oldLayout(oldRelationshipsGone, oldRelationshipLog, `PRAGMA user_version = 2`), rows(v3Cols, v3Vals)...), 3, v3, 0, nil},
		{"user_version 3", append(oldLayout(oldRelationshipsGone, oldRelationshipLog, oldAdmins, `PRAGMA user_version = 3`,
			`INSERT INTO admins (name, role, token_hash, created_at, created_by) VALUES ('ana', 'admin', x'01', 1, 'admin:bootstrap')`),
			rows(v3Cols, v3Vals)...), 4, v3, 1, nil},
		{"user_version 3 with a pending log chunk", append(oldLayout(oldRelationshipsGone, oldRelationshipLog, oldAdmins, `PRAGMA user_version = 3`),
			rows(v3Cols, v3Vals)...), 4, logged, 0, &logged},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "identity.db")
			createDB(t, path, tt.stmts)
			if tt.chunk != nil {
				db, err := sql.Open("sqlite", path)
				noErr(t, err)
				_, err = db.Exec(`INSERT INTO relationship_log (data) VALUES (?)`, appendRelChunk(nil, []*Relationship{tt.chunk}))
				noErr(t, errors.Join(err, db.Close()))
			}
			for range 2 { // and once more, migrated already
				st, err := OpenSQLite(ctx, path)
				noErr(t, err)
				if got := schemaOf(t, st.w); !reflect.DeepEqual(got, want) {
					t.Fatalf("schema:\n got %q\nwant %q", got, want)
				}
				if got := migrationsOf(t, st.w); !reflect.DeepEqual(got, wantMigrations(tt.baseline)) {
					t.Fatalf("schema_migrations: %+v", got)
				}
				var uv int
				noErr(t, st.w.QueryRow(`PRAGMA user_version`).Scan(&uv))
				if uv != SQLiteSchemaVersion {
					t.Fatalf("user_version %d", uv)
				}
				ds, err := st.Load(ctx)
				noErr(t, err)
				if len(ds.Employees) != 1 || len(ds.Personas) != 1 || len(ds.Contacts) != 1 ||
					!reflect.DeepEqual(ds.Contacts[0].Tags, []string{"vip"}) || len(ds.Relationships) != 1 {
					t.Fatalf("loaded %+v", ds)
				}
				if !reflect.DeepEqual(ds.Relationships[0], tt.rel) {
					t.Fatalf("relationship:\n got %+v\nwant %+v", ds.Relationships[0], tt.rel)
				}
				if l, err := st.Audit(ctx, AuditQuery{Action: "employee.upsert"}); err != nil || len(l) != 1 || string(l[0].Details) != `{"a":1}` {
					t.Fatalf("audit %+v %v", l, err)
				}
				if l, err := st.Admins(ctx); err != nil || len(l) != tt.admins {
					t.Fatalf("admins %+v %v", l, err)
				}
				// The state opens on it, and writes to it.
				s := openState(t, st)
				_, err = s.SetRemark(ctx, "root", "r", "r-1", "later")
				noErr(t, err)
				tt.rel.Remark, tt.rel.Version, tt.rel.UpdatedAt = "later", tt.rel.Version+1, s.Snapshot().mustRel(t, "r-1").UpdatedAt
				noErr(t, st.Close())
			}
		})
	}
}

func (sn *Snapshot) mustRel(t *testing.T, id string) *Relationship {
	t.Helper()
	r, ok := sn.Relationship(id)
	if !ok {
		t.Fatalf("no relationship %s", id)
	}
	return r
}

func TestSQLiteNewDatabaseRecordsEveryMigration(t *testing.T) {
	st, _ := sqliteStore(t)
	if got := migrationsOf(t, st.w); !reflect.DeepEqual(got, wantMigrations(0)) {
		t.Fatalf("schema_migrations: %+v", got)
	}
}

// TestSQLiteRefusesUnknownLayouts: databases no release wrote, or written
// by a later one, are refused and left as they were.
func TestSQLiteRefusesUnknownLayouts(t *testing.T) {
	for _, tt := range []struct {
		name  string
		stmts []string
		want  []string
		newer bool
	}{
		{"half of version 1", []string{oldBaseDDL[0], oldBaseDDL[1]}, []string{"table employees", "table contacts"}, false},
		{"half of version 2", append(oldLayout(oldRelationshipsV1), `ALTER TABLE relationships ADD COLUMN tags TEXT`),
			[]string{"relationships column tags", "table relationship_log"}, false},
		{"version 4 without 3", oldLayout(oldRelationshipsV2, oldRelationshipLog, oldAdmins), []string{"table admins", "schema version 4", "not version 3"}, false},
		{"schema_migrations from the future", append(oldLayout(oldRelationshipsGone, oldRelationshipLog, oldAdmins),
			`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL, baseline INTEGER NOT NULL DEFAULT 0)`,
			`INSERT INTO schema_migrations VALUES (1, 'initial', '', 1), (2, 'relationship_columns', '', 1), (3, 'relationship_gone', '', 1), (4, 'admins', '', 1), (5, 'admin_team_password', '', 0), (6, 'later', '', 0)`),
			[]string{"newer", "version 6", "up to 5"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "identity.db")
			createDB(t, path, tt.stmts)
			db, err := sql.Open("sqlite", path)
			noErr(t, err)
			defer db.Close()
			before := schemaOf(t, db)
			st, err := OpenSQLite(context.Background(), path)
			if err == nil {
				st.Close()
				t.Fatal("opened")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if errors.Is(err, migrate.ErrNewerSchema) != tt.newer {
				t.Errorf("errors.Is(ErrNewerSchema) = %v", !tt.newer)
			}
			if after := schemaOf(t, db); !reflect.DeepEqual(after, before) {
				t.Fatalf("schema changed:\n%q\n%q", before, after)
			}
		})
	}
}
