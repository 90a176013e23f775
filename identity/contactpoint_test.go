package identity

import (
	"errors"
	"strings"
	"testing"
)

// TestContactPointSettings: assignment strategies only on team personas
// with members; welcome and handover texts are bounded and survive a
// reopen of the store.
func TestContactPointSettings(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		sp, _ := f.s.Snapshot().Persona("p-support")
		cp := clonePersona(*sp)
		cp.Assign, cp.Welcome, cp.Handover = AssignLeastLoaded, "Welcome!", "This is {persona}."
		f.must(f.s.UpsertPersona(f.ctx, "admin", "contact point", cp))

		bad := clonePersona(*sp)
		bad.Assign = "lottery"
		wantErr(t, f.s.UpsertPersona(f.ctx, "admin", "x", bad), ErrInvalid, "lottery")
		own := personal("p-alice", "alice")
		own.Assign = AssignRoundRobin
		wantErr(t, f.s.UpsertPersona(f.ctx, "admin", "x", own), ErrInvalid, "needs a team persona")
		long := clonePersona(cp)
		long.Welcome = strings.Repeat("x", MaxPersonaText+1)
		wantErr(t, f.s.UpsertPersona(f.ctx, "admin", "x", long), ErrInvalid, "at most")

		s2, err := Open(f.ctx, f.store, f.clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := s2.Snapshot().Persona("p-support")
		if got.Assign != AssignLeastLoaded || got.Welcome != "Welcome!" || got.Handover != "This is {persona}." {
			t.Fatalf("after reopen: %+v", got)
		}
	})
}

// TestGoneMarkSurvivesAndIsAudited: a relationship marked gone keeps the
// reason and time across a reopen, the mark is audited, and clearing it
// works.
func TestGoneMarkSurvivesAndIsAudited(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		r := f.ensure("gone@ext.test", "p-alice", "alice")
		got, err := f.s.SetGone(f.ctx, "contact:gone@ext.test", r.ID, "removed the persona from their contacts")
		if err != nil {
			t.Fatal(err)
		}
		if got.Gone == "" || got.GoneAt.IsZero() {
			t.Fatalf("not marked: %+v", got)
		}
		s2, err := Open(f.ctx, f.store, f.clock.Now)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := s2.Snapshot().Relationship(r.ID)
		if again.Gone != got.Gone || !again.GoneAt.Equal(got.GoneAt) {
			t.Fatalf("after reopen: %+v", again)
		}
		if l := f.audit(AuditQuery{Action: ActionRelationshipGone, Subject: r.ID}); len(l) != 1 || l[0].Actor != "contact:gone@ext.test" {
			t.Fatalf("audit %+v", l)
		}
		if _, err := f.s.SetGone(f.ctx, "contact:gone@ext.test", r.ID, " "); !errors.Is(err, ErrInvalid) {
			t.Fatalf("a gone mark without a reason: %v, want ErrInvalid", err)
		}
		back, err := f.s.ClearGone(f.ctx, "contact:gone@ext.test", r.ID, "the contact wrote again")
		if err != nil || back.Gone != "" || !back.GoneAt.IsZero() {
			t.Fatalf("cleared: %+v %v", back, err)
		}
		// The clearing is its own act, with its reason; the mark stays one entry.
		if l := f.audit(AuditQuery{Action: ActionRelationshipGone, Subject: r.ID}); len(l) != 1 {
			t.Fatalf("relationship.gone entries after the clearing: %+v", l)
		}
		l := f.audit(AuditQuery{Action: ActionRelationshipBack, Subject: r.ID})
		if len(l) != 1 || l[0].Reason != "the contact wrote again" || l[0].Actor != "contact:gone@ext.test" ||
			!strings.Contains(string(l[0].Details), "removed the persona") {
			t.Fatalf("relationship.back audit: %+v", l)
		}
		// Clearing what is not marked changes and audits nothing.
		if _, err := f.s.ClearGone(f.ctx, "contact:gone@ext.test", r.ID, "wrote again"); err != nil {
			t.Fatal(err)
		}
		if l := f.audit(AuditQuery{Action: ActionRelationshipBack, Subject: r.ID}); len(l) != 1 {
			t.Fatalf("a second clearing was audited: %+v", l)
		}
	})
}

// TestRelChunkReadsTheFormerEncoding: chunks written before Gone existed
// still decode.
func TestRelChunkReadsTheFormerEncoding(t *testing.T) {
	rel := &Relationship{ID: "r1", ContactID: "c1", PersonaID: "p1", OwnerID: "o1", Version: 3}
	b := appendRelChunk(nil, []*Relationship{rel})
	v1 := append([]byte{relChunkFormatV1}, b[1:len(b)-2]...) // without Gone ("") and GoneAt (0)
	got, err := decodeRelChunk(v1, func(s string) string { return s })
	if err != nil || len(got) != 1 || got[0].ID != "r1" || got[0].Version != 3 {
		t.Fatalf("v1: %+v %v", got, err)
	}
	rel.Gone = "bounces"
	got, err = decodeRelChunk(appendRelChunk(nil, []*Relationship{rel}), func(s string) string { return s })
	if err != nil || got[0].Gone != "bounces" {
		t.Fatalf("v2: %+v %v", got, err)
	}
}
