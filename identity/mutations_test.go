package identity

import (
	"encoding/json"
	"reflect"
	"regexp"
	"testing"
)

func TestUpsertEmployee(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		valid := Employee{ID: "frank", Name: "Frank Real", InsideAddrs: []Address{{"corp", "frank@corp.test"}}}
		with := func(mod func(e *Employee)) Employee {
			e := cloneEmployee(valid)
			mod(&e)
			return e
		}
		for _, tc := range []struct {
			name  string
			actor string
			e     Employee
			want  error
			msg   string
		}{
			{name: "valid", e: valid},
			{name: "actor required", actor: " ", e: valid, want: ErrInvalid, msg: "actor"},
			{name: "id required", e: with(func(e *Employee) { e.ID = "" }), want: ErrInvalid, msg: "ID is empty"},
			{name: "id with space", e: with(func(e *Employee) { e.ID = "fr ank" }), want: ErrInvalid, msg: "no spaces"},
			{name: "id with NUL", e: with(func(e *Employee) { e.ID = "fr\x00ank" }), want: ErrInvalid},
			{name: "name required", e: with(func(e *Employee) { e.Name = " " }), want: ErrInvalid, msg: "name"},
			{name: "inside address required", e: with(func(e *Employee) { e.InsideAddrs = nil }), want: ErrInvalid, msg: "inside address"},
			{name: "address needs network", e: with(func(e *Employee) { e.InsideAddrs = []Address{{"", "f@corp.test"}} }), want: ErrInvalid},
			{name: "address taken", e: with(func(e *Employee) { e.InsideAddrs = []Address{{"corp", "ALICE@corp.test"}} }), want: ErrConflict, msg: "alice"},
			{name: "new must be active", e: with(func(e *Employee) { e.Status = Departed }), want: ErrInvalid},
			{name: "new has no successor", e: with(func(e *Employee) { e.SuccessorID = "bob" }), want: ErrInvalid},
			{name: "bad status", e: with(func(e *Employee) { e.Status = "retired" }), want: ErrInvalid},
			{name: "status via upsert", e: Employee{ID: "alice", Name: "A", InsideAddrs: []Address{{"corp", "alice@corp.test"}}, Status: Departed}, want: ErrInvalid, msg: "Depart"},
			{name: "successor via upsert", e: Employee{ID: "alice", Name: "A", InsideAddrs: []Address{{"corp", "alice@corp.test"}}, SuccessorID: "bob"}, want: ErrInvalid, msg: "Depart"},
			{name: "default persona checked later", e: with(func(e *Employee) { e.DefaultPersona = "p-later" })},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixtureOf(t, kind)
				actor := "admin"
				if tc.actor != "" {
					actor = tc.actor
				}
				n := len(f.audit(AuditQuery{Limit: MaxAuditLimit}))
				err := f.s.UpsertEmployee(f.ctx, actor, "test", tc.e)
				wantErr(t, err, tc.want, tc.msg)
				if got := len(f.audit(AuditQuery{Limit: MaxAuditLimit})); (err == nil) != (got == n+1) {
					t.Fatalf("audit entries %d → %d with error %v", n, got, err)
				}
			})
		}
	})
}

func TestUpsertEmployeeNormalisesAndAudits(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		e := Employee{ID: "frank", Name: "Frank Real", InsideAddrs: []Address{{" Corp ", "Frank@Corp.TEST"}, {"corp", "frank@corp.test"}}}
		f.must(f.s.UpsertEmployee(f.ctx, "admin", "hired", e))
		got := f.employee("frank")
		want := Employee{ID: "frank", Name: "Frank Real", InsideAddrs: []Address{{"corp", "frank@corp.test"}}, Status: Active}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("stored %+v, want %+v", *got, want)
		}
		if e2, ok := f.s.Snapshot().EmployeeByInsideAddr(Address{"CORP", "FRANK@corp.test"}); !ok || e2.ID != "frank" {
			t.Fatalf("EmployeeByInsideAddr = %v, %v", e2, ok)
		}
		l := f.audit(AuditQuery{Action: ActionEmployeeUpsert, Subject: "frank"})
		if len(l) != 1 || l[0].Actor != "admin" || l[0].Reason != "hired" {
			t.Fatalf("audit = %+v", l)
		}
		var logged Employee
		f.must(json.Unmarshal(l[0].Details, &logged))
		if !reflect.DeepEqual(logged, want) {
			t.Fatalf("audit details %+v", logged)
		}
		// The same record again changes nothing and is not audited.
		f.must(f.s.UpsertEmployee(f.ctx, "admin", "again", e))
		if l := f.audit(AuditQuery{Action: ActionEmployeeUpsert, Subject: "frank"}); len(l) != 1 {
			t.Fatalf("no-op upsert audited: %d entries", len(l))
		}
		// Changing an address frees the old one.
		e.InsideAddrs = []Address{{"corp", "f@corp.test"}}
		f.must(f.s.UpsertEmployee(f.ctx, "admin", "rename", e))
		sn := f.s.Snapshot()
		if _, ok := sn.EmployeeByInsideAddr(Address{"corp", "frank@corp.test"}); ok {
			t.Fatal("old address still indexed")
		}
		if e2, ok := sn.EmployeeByInsideAddr(Address{"corp", "f@corp.test"}); !ok || e2.ID != "frank" {
			t.Fatal("new address not indexed")
		}
		// Status is kept when the upsert leaves it empty.
		_, err := f.s.Depart(f.ctx, "hr", "left", "frank", "")
		f.must(err)
		e.Department = "Sales"
		f.must(f.s.UpsertEmployee(f.ctx, "admin", "dept", e))
		if got := f.employee("frank"); got.Status != Departed || got.Department != "Sales" {
			t.Fatalf("after upsert of departed: %+v", got)
		}
		if ids := f.s.Snapshot().Employees(); len(ids) != 6 || ids[0].ID != "alice" || ids[5].ID != "frank" {
			t.Fatalf("Employees() = %v", ids)
		}
	})
}

func TestUpsertPersona(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		valid := Persona{ID: "p-new", DisplayName: "ACME New", Kind: Team, Addresses: []Address{{"mail", "new@acme.test"}}}
		with := func(mod func(p *Persona)) Persona {
			p := clonePersona(valid)
			mod(&p)
			return p
		}
		for _, tc := range []struct {
			name string
			p    Persona
			want error
			msg  string
		}{
			{name: "valid team", p: valid},
			{name: "valid personal", p: with(func(p *Persona) { p.Kind, p.EmployeeID = Personal, "carol" })},
			{name: "personal needs employee", p: with(func(p *Persona) { p.Kind = Personal }), want: ErrInvalid, msg: "needs an employee"},
			{name: "unknown employee", p: with(func(p *Persona) { p.Kind, p.EmployeeID = Personal, "zed" }), want: ErrNotFound, msg: "zed"},
			{name: "unknown member", p: with(func(p *Persona) { p.Members = []string{"alice", "zed"} }), want: ErrNotFound, msg: "zed"},
			{name: "bad kind", p: with(func(p *Persona) { p.Kind = "shared" }), want: ErrInvalid},
			{name: "display name required", p: with(func(p *Persona) { p.DisplayName = "" }), want: ErrInvalid},
			{name: "address required", p: with(func(p *Persona) { p.Addresses = nil }), want: ErrInvalid},
			{name: "address taken", p: with(func(p *Persona) { p.Addresses = []Address{{"Mail", "Alice@ACME.test"}} }), want: ErrConflict, msg: "p-alice"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixtureOf(t, kind)
				wantErr(t, f.s.UpsertPersona(f.ctx, "admin", "", tc.p), tc.want, tc.msg)
			})
		}

		f := newFixtureOf(t, kind)
		p := with(func(p *Persona) {
			p.Addresses = []Address{{"Public-XMPP", "New@Contact.ACME.test"}}
			p.Members = []string{"bob", "alice", "bob"}
		})
		f.must(f.s.UpsertPersona(f.ctx, "admin", "launch", p))
		got, ok := f.s.Snapshot().PersonaByAddr(Address{"public-xmpp", "NEW@contact.acme.test"})
		if !ok || got.ID != "p-new" || got.Addresses[0] != (Address{"public-xmpp", "new@contact.acme.test"}) ||
			!reflect.DeepEqual(got.Members, []string{"alice", "bob"}) {
			t.Fatalf("PersonaByAddr = %+v, %v", got, ok)
		}
		if l := f.audit(AuditQuery{Action: ActionPersonaUpsert, Subject: "p-new"}); len(l) != 1 || l[0].Reason != "launch" {
			t.Fatalf("audit = %+v", l)
		}
		if ps := f.s.Snapshot().Personas(); len(ps) != 5 {
			t.Fatalf("Personas() = %d", len(ps))
		}
	})
}

func TestEnsureRelationship(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		n := NewRelationship{Contact: Address{"Public-XMPP", " Bob@Ext.Test "}, DisplayName: "Bob", Source: "inbound", PersonaID: "p-alice", OwnerID: "alice"}
		r, c, created, err := f.s.EnsureRelationship(f.ctx, n)
		f.must(err)
		if !created {
			t.Fatal("not created")
		}
		if !regexp.MustCompile(`^c-[a-z2-7]{12}$`).MatchString(c.ID) || !regexp.MustCompile(`^r-[a-z2-7]{12}$`).MatchString(r.ID) {
			t.Fatalf("IDs %q %q", c.ID, r.ID)
		}
		now := f.clock.last()
		wantC := Contact{ID: c.ID, Address: Address{"public-xmpp", "bob@ext.test"}, DisplayName: "Bob", Source: "inbound", CreatedAt: now}
		wantR := Relationship{ID: r.ID, ContactID: c.ID, PersonaID: "p-alice", OwnerID: "alice", CreatedAt: now, UpdatedAt: now, Version: 1, OwnerVersion: 1}
		if !reflect.DeepEqual(*c, wantC) || !reflect.DeepEqual(*r, wantR) {
			t.Fatalf("got %+v %+v", *c, *r)
		}
		// Idempotent, whatever the owner asked for.
		n.OwnerID = "bob"
		r2, c2, created, err := f.s.EnsureRelationship(f.ctx, n)
		f.must(err)
		if created || r2 != r || c2 != c {
			t.Fatalf("second call: created=%v %+v %+v", created, r2, c2)
		}
		// Another persona: same contact, new relationship; pool owner allowed.
		r3, c3, created, err := f.s.EnsureRelationship(f.ctx, NewRelationship{Contact: Address{"public-xmpp", "bob@ext.test"}, PersonaID: "p-support"})
		f.must(err)
		if !created || c3.ID != c.ID || r3.ID == r.ID || r3.OwnerID != "" {
			t.Fatalf("third call: %v %+v %+v", created, r3, c3)
		}
		sn := f.s.Snapshot()
		if l := sn.RelationshipsOfContact(c.ID); len(l) != 2 {
			t.Fatalf("RelationshipsOfContact = %d", len(l))
		}
		if got, ok := sn.ContactByAddr(Address{"PUBLIC-XMPP", "BOB@EXT.TEST"}); !ok || got != c {
			t.Fatal("ContactByAddr does not normalise")
		}
		// After a re-homing transfer the contact writing to the old persona
		// finds the moved relationship, not a new one.
		_, err = f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "bob"})
		f.must(err)
		r4, _, created, err := f.s.EnsureRelationship(f.ctx, NewRelationship{Contact: Address{"public-xmpp", "bob@ext.test"}, PersonaID: "p-alice", OwnerID: "alice"})
		f.must(err)
		if created || r4.ID != r.ID || r4.OwnerID != "bob" {
			t.Fatalf("after transfer: created=%v %+v", created, r4)
		}
		checkIndexes(t, f.s.Snapshot())

		_, err = f.s.Depart(f.ctx, "hr", "left", "erin", "")
		f.must(err)
		for _, tc := range []struct {
			name string
			n    NewRelationship
			want error
		}{
			{"unknown persona", NewRelationship{Contact: Address{"mail", "x@ext.test"}, PersonaID: "p-zed"}, ErrNotFound},
			{"unknown owner", NewRelationship{Contact: Address{"mail", "x@ext.test"}, PersonaID: "p-bob", OwnerID: "zed"}, ErrNotFound},
			{"departed owner", NewRelationship{Contact: Address{"mail", "x@ext.test"}, PersonaID: "p-bob", OwnerID: "erin"}, ErrInvalid},
			{"no address", NewRelationship{Contact: Address{"mail", " "}, PersonaID: "p-bob"}, ErrInvalid},
			{"no network", NewRelationship{Contact: Address{"", "x@ext.test"}, PersonaID: "p-bob"}, ErrInvalid},
			{"NUL in name", NewRelationship{Contact: Address{"mail", "x@ext.test"}, PersonaID: "p-bob", DisplayName: "x\x00"}, ErrInvalid},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := f.s.Snapshot().ContactCount()
				_, _, _, err := f.s.EnsureRelationship(f.ctx, tc.n)
				wantErr(t, err, tc.want, "")
				if f.s.Snapshot().ContactCount() != before {
					t.Fatal("a failed call created a contact")
				}
			})
		}
		// Not audited: traffic, not an admin act.
		for _, e := range f.audit(AuditQuery{Limit: MaxAuditLimit}) {
			if e.Action != ActionEmployeeUpsert && e.Action != ActionPersonaUpsert &&
				e.Action != ActionContactsTransfer && e.Action != ActionEmployeeDepart {
				t.Fatalf("unexpected audit entry %+v", e)
			}
		}
	})
}
