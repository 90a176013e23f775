package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// snapshotRecords returns everything a snapshot holds, for comparisons.
func snapshotRecords(sn *Snapshot) (es []Employee, ps []Persona, cs []Contact, rs []Relationship) {
	for _, e := range sn.Employees() {
		es = append(es, *e)
	}
	for _, p := range sn.Personas() {
		ps = append(ps, *p)
	}
	for _, c := range sn.Contacts() {
		cs = append(cs, *c)
	}
	for _, r := range sn.Relationships() {
		rs = append(rs, *r)
	}
	return
}

func TestPersistence(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		st, reopen := sqlStore(t, kind)
		f := newFixtureWith(t, st)
		// Build up state through every mutation, merges included.
		f.ensure("a@ext.test", "p-alice", "alice")
		f.ensure("b@ext.test", "p-support", "alice")
		f.ensure("c@ext.test", "p-alice", "alice")
		f.ensure("c@ext.test", "p-bob", "bob")
		_, _, _, err := f.s.EnsureRelationship(f.ctx, NewRelationship{Contact: Address{"mail", "o'brien@ext.test"},
			DisplayName: "Ó'Brien «Ltd»", Source: "contact point 'sales'", PersonaID: "p-bob", OwnerID: "bob"})
		f.must(err)
		_, err = f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "merge", From: "alice", To: "bob"})
		f.must(err)
		_, err = f.s.Depart(f.ctx, "hr", "left", "bob", "erin")
		f.must(err)
		_, err = f.s.Depart(f.ctx, "hr", "left", "dave", "")
		f.must(err)
		f.must(f.s.Reactivate(f.ctx, "hr", "back", "dave"))
		es, ps, cs, rs := snapshotRecords(f.s.Snapshot())
		audit := f.audit(AuditQuery{Limit: MaxAuditLimit})
		if len(rs) != 5 || len(cs) != 4 {
			t.Fatalf("setup: %d relationships, %d contacts", len(rs), len(cs))
		}
		f.must(st.Close())

		st2, err := reopen(f.ctx)
		f.must(err)
		defer st2.Close()
		s2, err := Open(f.ctx, st2, nil)
		f.must(err)
		es2, ps2, cs2, rs2 := snapshotRecords(s2.Snapshot())
		for _, c := range []struct {
			name      string
			got, want any
		}{{"employees", es2, es}, {"personas", ps2, ps}, {"contacts", cs2, cs}, {"relationships", rs2, rs}} {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("%s after reopen:\n got %+v\nwant %+v", c.name, c.got, c.want)
			}
		}
		audit2, err := s2.Audit(f.ctx, AuditQuery{Limit: MaxAuditLimit})
		f.must(err)
		if !reflect.DeepEqual(audit2, audit) {
			t.Errorf("audit after reopen:\n got %+v\nwant %+v", audit2, audit)
		}
		for i := 1; i < len(audit2); i++ {
			if audit2[i].Seq <= audit2[i-1].Seq {
				t.Fatalf("audit sequence not increasing at %d", i)
			}
		}
		checkIndexes(t, s2.Snapshot())
	})
}

func TestAuditIsAppendOnly(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		st, _ := sqlStore(t, kind)
		f := newFixtureWith(t, st)
		n := len(f.audit(AuditQuery{Limit: MaxAuditLimit}))
		if n == 0 {
			t.Fatal("setup wrote no audit entries")
		}
		// Another connection than the store's, as an intruder would have.
		db := st.w
		stmts := []string{
			`UPDATE audit SET reason = 'tampered'`,
			`DELETE FROM audit`,
			`DELETE FROM audit WHERE seq = 1`,
		}
		if kind == "sqlite" {
			var err error
			db, err = sql.Open("sqlite", st.Path())
			f.must(err)
			defer db.Close()
		} else {
			stmts = append(stmts, `TRUNCATE audit`)
		}
		for _, stmt := range stmts {
			_, err := db.Exec(stmt)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: err = %v, want append-only refusal", stmt, err)
			}
		}
		l := f.audit(AuditQuery{Limit: MaxAuditLimit})
		if len(l) != n {
			t.Fatalf("audit has %d entries, had %d", len(l), n)
		}
		for _, e := range l {
			if e.Reason == "tampered" {
				t.Fatal("audit entry changed")
			}
		}
	})
}

func TestAuditQuery(t *testing.T) {
	for _, kind := range storeKinds() {
		t.Run(kind, func(t *testing.T) {
			store := newStore(t, kind)
			ctx := context.Background()
			at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			var entries []AuditEntry
			for i := range 250 {
				action := []string{"a.one", "a.two"}[i%2]
				entries = append(entries, AuditEntry{At: at.Add(time.Duration(i)), Actor: "x", Action: action,
					Subject: fmt.Sprintf("s%d", i%5), Details: []byte(fmt.Sprintf(`{"i":%d}`, i))})
			}
			cs := &Changeset{Audit: entries}
			if err := store.Commit(ctx, cs); err != nil {
				t.Fatal(err)
			}
			for i, e := range cs.Audit {
				if e.Seq != uint64(i+1) {
					t.Fatalf("entry %d got seq %d", i, e.Seq)
				}
			}
			for _, tc := range []struct {
				q     AuditQuery
				n     int
				first uint64
			}{
				{AuditQuery{}, DefaultAuditLimit, 1},
				{AuditQuery{Limit: 1000}, 250, 1},
				{AuditQuery{AfterSeq: 240}, 10, 241},
				{AuditQuery{Action: "a.two", Limit: 1000}, 125, 2},
				{AuditQuery{Subject: "s3", Limit: 1000}, 50, 4},
				{AuditQuery{Subject: "s3", Action: "a.two", AfterSeq: 10, Limit: 3}, 3, 14},
				{AuditQuery{Action: "none"}, 0, 0},
			} {
				l, err := store.Audit(ctx, tc.q)
				if err != nil {
					t.Fatal(err)
				}
				if len(l) != tc.n || (tc.n > 0 && l[0].Seq != tc.first) {
					t.Fatalf("%+v: %d entries, first %v", tc.q, len(l), l)
				}
				for _, e := range l {
					want := entries[e.Seq-1]
					want.Seq = e.Seq
					if !reflect.DeepEqual(e, want) {
						t.Fatalf("entry %+v, want %+v", e, want)
					}
				}
			}
		})
	}
}

func TestSQLStoreRoundTrip(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		st, reopen := sqlStore(t, kind)
		ctx := context.Background()
		at := time.Date(2025, 2, 3, 4, 5, 6, 789, time.UTC)
		ds := GenerateDataset(1234, 7) // more rows than one INSERT statement carries
		odd := []string{"O'Brien", "''", "'; DROP TABLE contacts; --", "日本語 テキスト", `back\slash "quoted"`, ""}
		for i, s := range odd {
			ds.Contacts[i].DisplayName = s
			ds.Contacts[i].Source = s
			ds.Contacts[i].Tags = []string{s, "vip"}
			ds.Relationships[i].FormerPersonaIDs = []string{"p-x", s + "p"}
			ds.Relationships[i].MergedInto = "r-" + fmt.Sprint(i)
		}
		ds.Contacts[7].CreatedAt = at
		ds.Employees[0].Department = "R&D 'α'"
		if err := st.Commit(ctx, &Changeset{Employees: ds.Employees, Personas: ds.Personas,
			Contacts: ds.Contacts, Relationships: relPtrs(ds.Relationships)}); err != nil {
			t.Fatal(err)
		}
		// Upserts replace whole records.
		ds.Relationships[10].OwnerID = "emp-0003"
		ds.Relationships[10].Version = 9
		ds.Relationships[11].FormerPersonaIDs = nil
		if err := st.Commit(ctx, &Changeset{Relationships: relPtrs(ds.Relationships[10:12])}); err != nil {
			t.Fatal(err)
		}
		noErr(t, st.Close())
		st2, err := reopen(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer st2.Close()
		got, err := st2.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Load order is the store's; compare as sets.
		byID := func(ds *Dataset) map[string]any {
			m := map[string]any{}
			for _, e := range ds.Employees {
				m["e"+e.ID] = e
			}
			for _, p := range ds.Personas {
				m["p"+p.ID] = p
			}
			for _, c := range ds.Contacts {
				m["c"+c.ID] = c
			}
			for _, r := range ds.Relationships {
				m["r"+r.ID] = r
			}
			return m
		}
		want, have := byID(ds), byID(got)
		if len(want) != len(have) {
			t.Fatalf("loaded %d records, want %d", len(have), len(want))
		}
		for k, v := range want {
			if !reflect.DeepEqual(have[k], v) {
				t.Fatalf("%s: loaded %+v\nwant %+v", k, have[k], v)
			}
		}

		// Text with NUL is refused, and the failed commit leaves nothing.
		bad := ds.Contacts[20]
		bad.ID, bad.DisplayName = "c-bad", "a\x00b"
		if err := st2.Commit(ctx, &Changeset{Contacts: []Contact{bad}}); err == nil {
			t.Fatal("NUL accepted")
		}
		if got, _ := st2.Load(ctx); len(got.Contacts) != len(ds.Contacts) {
			t.Fatal("failed commit stored something")
		}
		// A closed store says so.
		noErr(t, st2.Close())
		if _, err := st2.Load(ctx); !errors.Is(err, ErrStoreClosed) {
			t.Fatalf("Load after Close: %v", err)
		}
	})
}

func TestSQLStoreCommitIsAtomic(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		st, _ := sqlStore(t, kind)
		ctx := context.Background()
		ds := GenerateDataset(10, 2)
		noErr(t, st.Commit(ctx, &Changeset{Employees: ds.Employees, Personas: ds.Personas, Contacts: ds.Contacts[:5]}))
		// The second contact repeats the first one's address: the unique
		// index refuses it, and the first must not be stored either.
		c1, c2 := ds.Contacts[5], ds.Contacts[6]
		c2.Address = c1.Address
		cs := &Changeset{Contacts: []Contact{c1, c2}, Audit: []AuditEntry{{Actor: "x", Action: "y"}}}
		if err := st.Commit(ctx, cs); err == nil {
			t.Fatal("duplicate address accepted")
		}
		if cs.Audit[0].Seq != 0 {
			t.Fatal("failed commit assigned a sequence number")
		}
		got, err := st.Load(ctx)
		noErr(t, err)
		if len(got.Contacts) != 5 {
			t.Fatalf("%d contacts after failed commit, want 5", len(got.Contacts))
		}
		if l, _ := st.Audit(ctx, AuditQuery{}); len(l) != 0 {
			t.Fatal("failed commit stored an audit entry")
		}
	})
}

func TestSQLiteRefusesNewerSchema(t *testing.T) {
	st, path := sqliteStore(t)
	_, err := st.w.Exec(fmt.Sprintf("PRAGMA user_version = %d", SQLiteSchemaVersion+1))
	noErr(t, err)
	noErr(t, st.Close())
	if _, err := OpenSQLite(context.Background(), path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("OpenSQLite = %v", err)
	}
}

// noErr fails the test on an error.
func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSQLiteDurabilitySettings(t *testing.T) {
	st, _ := sqliteStore(t)
	for _, db := range []*sql.DB{st.w, st.r} {
		var mode string
		var sync, timeout int
		noErr(t, db.QueryRow(`PRAGMA journal_mode`).Scan(&mode))
		noErr(t, db.QueryRow(`PRAGMA synchronous`).Scan(&sync))
		noErr(t, db.QueryRow(`PRAGMA busy_timeout`).Scan(&timeout))
		if mode != "wal" || sync != 2 || timeout <= 0 {
			t.Fatalf("journal_mode=%s synchronous=%d busy_timeout=%d, want wal, 2 (FULL), >0", mode, sync, timeout)
		}
	}
}
