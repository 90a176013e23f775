package identity

import (
	"strings"
	"testing"
)

// TestContactPointSettings: assignment strategies only on team personas
// with members; welcome and handover texts are bounded and survive a
// reopen of the store.
func TestContactPointSettings(t *testing.T) {
	f := newFixture(t)
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
}
