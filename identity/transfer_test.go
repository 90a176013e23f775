package identity

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestTransferTeamPersonaChangesOnlyOwner(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		r := f.ensure("bob@ext.test", "p-support", "alice")
		tr, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "rotation", From: "alice", To: "bob"})
		f.must(err)
		got := f.rel(r.ID)
		if got.OwnerID != "bob" || got.PersonaID != "p-support" || len(got.FormerPersonaIDs) != 0 {
			t.Fatalf("after transfer: %+v", got)
		}
		if got.Version != r.Version+1 || !got.UpdatedAt.Equal(tr.At) || !got.CreatedAt.Equal(r.CreatedAt) {
			t.Fatalf("version/times not updated: before %+v after %+v", r, got)
		}
		want := []Move{{RelationshipID: r.ID, ContactID: r.ContactID, FromOwner: "alice", ToOwner: "bob",
			FromPersona: "p-support", ToPersona: "p-support", PrevVersion: r.Version, Version: r.Version + 1,
			OwnerVersion: r.OwnerVersion + 1}}
		if !reflect.DeepEqual(tr.Moves, want) {
			t.Fatalf("moves = %+v, want %+v", tr.Moves, want)
		}
		if r2, ok := f.s.Snapshot().RelationshipFor(r.ContactID, "p-support"); !ok || r2.ID != r.ID {
			t.Fatalf("route through the team persona lost: %v %v", r2, ok)
		}
		checkIndexes(t, f.s.Snapshot())
	})
}

func TestTransferRehomesPersonalRelationships(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		r := f.ensure("bob@ext.test", "p-alice", "alice")
		tr, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "alice moves to R&D", From: "alice", To: "bob"})
		f.must(err)
		got := f.rel(r.ID)
		if got.OwnerID != "bob" || got.PersonaID != "p-bob" || !slices.Equal(got.FormerPersonaIDs, []string{"p-alice"}) {
			t.Fatalf("after transfer: %+v", got)
		}
		sn := f.s.Snapshot()
		// The contact writing to alice's old address still reaches bob.
		for _, p := range []string{"p-alice", "p-bob"} {
			if r2, ok := sn.RelationshipFor(r.ContactID, p); !ok || r2.ID != r.ID || r2.OwnerID != "bob" {
				t.Fatalf("RelationshipFor(%s) = %+v, %v", p, r2, ok)
			}
		}
		if len(tr.Moves) != 1 || tr.Moves[0].FromPersona != "p-alice" || tr.Moves[0].ToPersona != "p-bob" {
			t.Fatalf("moves = %+v", tr.Moves)
		}
		if ids := ownedIDs(sn, "alice"); len(ids) != 0 {
			t.Fatalf("alice still owns %v", ids)
		}

		// Onward to erin: both former personas keep routing.
		_, err = f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "bob leaves the team", From: "bob", To: "erin"})
		f.must(err)
		got = f.rel(r.ID)
		if got.OwnerID != "erin" || got.PersonaID != "p-erin" || !slices.Equal(got.FormerPersonaIDs, []string{"p-alice", "p-bob"}) {
			t.Fatalf("after second transfer: %+v", got)
		}
		// And back to alice: her persona is current again, not former.
		_, err = f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "alice is back", From: "erin", To: "alice"})
		f.must(err)
		got = f.rel(r.ID)
		if got.OwnerID != "alice" || got.PersonaID != "p-alice" || !slices.Equal(got.FormerPersonaIDs, []string{"p-bob", "p-erin"}) {
			t.Fatalf("after transfer back: %+v", got)
		}
		if got.Version != r.Version+3 {
			t.Fatalf("version = %d, want %d", got.Version, r.Version+3)
		}
		checkIndexes(t, f.s.Snapshot())
	})
}

func TestTransferMergesOnRouteConflict(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		// The contact knows both alice and bob.
		ra := f.ensure("bob@ext.test", "p-alice", "alice")
		rb := f.ensure("bob@ext.test", "p-bob", "bob")
		if ra.ContactID != rb.ContactID {
			t.Fatal("one contact expected")
		}
		tr, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "merge", From: "alice", To: "bob"})
		f.must(err)
		sn := f.s.Snapshot()
		gotA, gotB := f.rel(ra.ID), f.rel(rb.ID)
		if gotA.MergedInto != rb.ID || gotA.PersonaID != "p-alice" {
			t.Fatalf("moved relationship: %+v", gotA)
		}
		if gotB.OwnerID != "bob" || gotB.PersonaID != "p-bob" || !slices.Equal(gotB.FormerPersonaIDs, []string{"p-alice"}) ||
			gotB.Version != rb.Version+1 {
			t.Fatalf("merge target: %+v", gotB)
		}
		for _, p := range []string{"p-alice", "p-bob"} {
			if r, ok := sn.RelationshipFor(ra.ContactID, p); !ok || r.ID != rb.ID {
				t.Fatalf("RelationshipFor(%s) = %+v, %v", p, r, ok)
			}
		}
		// Kept for history, owns nothing.
		if l := sn.RelationshipsOfContact(ra.ContactID); len(l) != 2 {
			t.Fatalf("RelationshipsOfContact = %d relationships, want 2", len(l))
		}
		if !slices.Equal(ownedIDs(sn, "bob"), []string{rb.ID}) {
			t.Fatalf("bob owns %v", ownedIDs(sn, "bob"))
		}
		want := []Move{
			{RelationshipID: ra.ID, ContactID: ra.ContactID, FromOwner: "alice", ToOwner: "bob", FromPersona: "p-alice",
				ToPersona: "p-bob", PrevVersion: ra.Version, Version: ra.Version + 1, OwnerVersion: 2, MergedInto: rb.ID},
			{RelationshipID: rb.ID, ContactID: rb.ContactID, FromOwner: "bob", ToOwner: "bob", FromPersona: "p-bob",
				ToPersona: "p-bob", ToFormerPersonas: []string{"p-alice"}, PrevVersion: rb.Version, Version: rb.Version + 1, OwnerVersion: 2},
		}
		slices.SortFunc(want, func(a, b Move) int { return strings.Compare(a.RelationshipID, b.RelationshipID) })
		if !reflect.DeepEqual(tr.Moves, want) {
			t.Fatalf("moves = %+v\nwant %+v", tr.Moves, want)
		}
		checkIndexes(t, sn)

		// A merged relationship's former personas travel with the merge: after
		// bob's relationship moves on, alice's old address still routes.
		_, err = f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "on", From: "bob", To: "erin"})
		f.must(err)
		if r, ok := f.s.Snapshot().RelationshipFor(ra.ContactID, "p-alice"); !ok || r.OwnerID != "erin" {
			t.Fatalf("p-alice route after second transfer: %+v, %v", r, ok)
		}
		checkIndexes(t, f.s.Snapshot())
	})
}

func TestTransferMergeTargetOnForeignPersonaMovesHome(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		e := f.ensure("x@ext.test", "p-bob", "bob")
		_, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "r", From: "bob", To: "erin"})
		f.must(err)
		r := f.ensure("x@ext.test", "p-alice", "alice")
		// r re-homes onto p-bob, which e reaches as a former persona: r merges
		// into e, and e (on erin's persona) must move onto bob's own.
		_, err = f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "bob"})
		f.must(err)
		got := f.rel(e.ID)
		if got.OwnerID != "bob" || got.PersonaID != "p-bob" || !slices.Equal(got.FormerPersonaIDs, []string{"p-alice", "p-erin"}) {
			t.Fatalf("merge target: %+v", got)
		}
		if m := f.rel(r.ID); m.MergedInto != e.ID {
			t.Fatalf("merged: %+v", m)
		}
		sn := f.s.Snapshot()
		for _, p := range []string{"p-alice", "p-bob", "p-erin"} {
			if x, ok := sn.RelationshipFor(e.ContactID, p); !ok || x.ID != e.ID {
				t.Fatalf("RelationshipFor(%s) = %+v, %v", p, x, ok)
			}
		}
		checkIndexes(t, sn)
	})
}

func TestTransferMergesTwoMovedRelationships(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		// alice owns two personal relationships of one contact: one on her own
		// persona and one re-homed earlier from erin.
		r1 := f.ensure("x@ext.test", "p-erin", "erin")
		_, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "r", From: "erin", To: "alice"})
		f.must(err)
		// r1 is now on p-alice; a second relationship on p-erin cannot exist
		// (p-erin routes to r1), so make one on p-bob owned by alice.
		if got := f.rel(r1.ID); got.PersonaID != "p-alice" {
			t.Fatalf("setup: %+v", got)
		}
		r2 := f.ensure("x@ext.test", "p-bob", "alice")
		_, err = f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "erin"})
		f.must(err)
		// Both re-home onto p-erin, which r1 already reaches (as a former
		// persona): whichever is processed first, r2 merges into r1.
		first, second := f.rel(r1.ID), f.rel(r2.ID)
		if first.MergedInto != "" || first.PersonaID != "p-erin" || first.OwnerID != "erin" {
			t.Fatalf("survivor: %+v", first)
		}
		if second.MergedInto != first.ID {
			t.Fatalf("merged: %+v", second)
		}
		sn := f.s.Snapshot()
		for _, p := range []string{"p-alice", "p-bob", "p-erin"} {
			if r, ok := sn.RelationshipFor(r1.ContactID, p); !ok || r.ID != first.ID {
				t.Fatalf("RelationshipFor(%s) = %+v, %v", p, r, ok)
			}
		}
		checkIndexes(t, sn)
	})
}

func TestTransferToPool(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		rp := f.ensure("a@ext.test", "p-alice", "alice")
		rt := f.ensure("b@ext.test", "p-support", "alice")
		tr, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "reorg", From: "alice"})
		f.must(err)
		for _, r := range []*Relationship{rp, rt} {
			got := f.rel(r.ID)
			if got.OwnerID != "" || got.PersonaID != r.PersonaID || len(got.FormerPersonaIDs) != 0 {
				t.Fatalf("in pool: %+v", got)
			}
		}
		sn := f.s.Snapshot()
		if got := ownedIDs(sn, ""); len(got) != 2 {
			t.Fatalf("pool = %v", got)
		}
		if len(tr.Moves) != 2 || tr.To != "" {
			t.Fatalf("transfer = %+v", tr)
		}
		checkIndexes(t, sn)
	})
}

func TestTransferValidation(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		for _, tc := range []struct {
			name  string
			setup func(f *fixture)
			req   TransferRequest
			want  error
			msg   string
		}{
			{name: "reason required", req: TransferRequest{Actor: "admin", From: "alice", To: "bob"}, want: ErrInvalid, msg: "a reason is required"},
			{name: "blank reason", req: TransferRequest{Actor: "admin", Reason: "  ", From: "alice", To: "bob"}, want: ErrInvalid, msg: "a reason is required"},
			{name: "actor required", req: TransferRequest{Reason: "r", From: "alice", To: "bob"}, want: ErrInvalid, msg: "actor"},
			{name: "same employee", req: TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "alice"}, want: ErrInvalid},
			{name: "no source", req: TransferRequest{Actor: "admin", Reason: "r", To: "alice"}, want: ErrInvalid},
			{name: "unknown source", req: TransferRequest{Actor: "admin", Reason: "r", From: "zed", To: "bob"}, want: ErrNotFound, msg: "zed"},
			{name: "unknown destination", req: TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "zed"}, want: ErrNotFound, msg: "zed"},
			{
				name:  "departed destination",
				setup: func(f *fixture) { _, err := f.s.Depart(f.ctx, "admin", "left", "bob", ""); f.must(err) },
				req:   TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "bob"},
				want:  ErrInvalid, msg: "departed",
			},
			{
				name:  "destination without default persona",
				setup: func(f *fixture) { f.ensure("a@ext.test", "p-alice", "alice") },
				req:   TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "carol"},
				want:  ErrInvalid, msg: "carol has no default persona",
			},
			{
				name: "destination's default persona missing",
				setup: func(f *fixture) {
					f.ensure("a@ext.test", "p-alice", "alice")
					f.must(f.s.UpsertEmployee(f.ctx, "admin", "", Employee{ID: "carol", Name: "Carol Real",
						InsideAddrs: []Address{{"corp", "carol@corp.test"}}, DefaultPersona: "p-nope"}))
				},
				req:  TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "carol"},
				want: ErrInvalid, msg: "p-nope",
			},
			{
				name: "destination may not write as its default persona",
				setup: func(f *fixture) {
					f.ensure("a@ext.test", "p-alice", "alice")
					f.must(f.s.UpsertEmployee(f.ctx, "admin", "", Employee{ID: "carol", Name: "Carol Real",
						InsideAddrs: []Address{{"corp", "carol@corp.test"}}, DefaultPersona: "p-bob"}))
				},
				req:  TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "carol"},
				want: ErrInvalid, msg: "may not write as",
			},
			{
				name:  "team relationships need no default persona",
				setup: func(f *fixture) { f.ensure("a@ext.test", "p-support", "alice") },
				req:   TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "carol"},
			},
			{
				name:  "team persona as default",
				setup: func(f *fixture) { f.ensure("a@ext.test", "p-alice", "alice") },
				req:   TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "dave"},
			},
			{name: "nothing to move", req: TransferRequest{Actor: "admin", Reason: "r", From: "carol", To: "bob"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixtureOf(t, kind)
				if tc.setup != nil {
					tc.setup(f)
				}
				before := f.s.Snapshot()
				auditBefore := f.audit(AuditQuery{Limit: MaxAuditLimit})
				tr, err := f.s.Transfer(f.ctx, tc.req)
				wantErr(t, err, tc.want, tc.msg)
				after := f.audit(AuditQuery{Limit: MaxAuditLimit})
				if tc.want != nil {
					if tr != nil {
						t.Fatalf("transfer returned with error: %+v", tr)
					}
					if !reflect.DeepEqual(before.Relationships(), f.s.Snapshot().Relationships()) {
						t.Fatal("a failed transfer changed relationships")
					}
					if len(after) != len(auditBefore) {
						t.Fatal("a failed transfer was audited")
					}
					return
				}
				if len(after) != len(auditBefore)+1 || after[len(after)-1].Action != ActionContactsTransfer {
					t.Fatalf("audit after transfer: %+v", after[len(auditBefore):])
				}
				checkIndexes(t, f.s.Snapshot())
			})
		}
	})
}

func TestTransferAudit(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		f.ensure("a@ext.test", "p-alice", "alice")
		f.ensure("b@ext.test", "p-support", "alice")
		tr, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "root", Reason: "alice on leave", From: "alice", To: "bob"})
		f.must(err)
		if !regexp.MustCompile(`^t-[a-z2-7]{12}$`).MatchString(tr.ID) {
			t.Fatalf("transfer ID %q", tr.ID)
		}
		if tr.Actor != "root" || tr.Reason != "alice on leave" || tr.From != "alice" || tr.To != "bob" || !tr.At.Equal(f.clock.last()) {
			t.Fatalf("transfer = %+v", tr)
		}
		l := f.audit(AuditQuery{Action: ActionContactsTransfer})
		if len(l) != 1 {
			t.Fatalf("%d transfer audit entries", len(l))
		}
		e := l[0]
		if e.Actor != "root" || e.Reason != "alice on leave" || e.Subject != tr.ID || !e.At.Equal(tr.At) || e.Seq == 0 {
			t.Fatalf("audit entry = %+v", e)
		}
		var logged Transfer
		f.must(json.Unmarshal(e.Details, &logged))
		if !reflect.DeepEqual(&logged, tr) {
			t.Fatalf("audit details = %+v\nwant %+v", logged, *tr)
		}
		if l := f.audit(AuditQuery{Subject: tr.ID}); len(l) != 1 {
			t.Fatalf("audit by subject: %d entries", len(l))
		}
	})
}

func TestDepart(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		t.Run("with successor", func(t *testing.T) {
			f := newFixtureOf(t, kind)
			rp := f.ensure("a@ext.test", "p-alice", "alice")
			rt := f.ensure("b@ext.test", "p-support", "alice")
			tr, err := f.s.Depart(f.ctx, "hr", "resigned", "alice", "bob")
			f.must(err)
			e := f.employee("alice")
			if e.Status != Departed || e.SuccessorID != "bob" {
				t.Fatalf("alice = %+v", e)
			}
			if got := f.rel(rp.ID); got.OwnerID != "bob" || got.PersonaID != "p-bob" {
				t.Fatalf("personal relationship: %+v", got)
			}
			if got := f.rel(rt.ID); got.OwnerID != "bob" || got.PersonaID != "p-support" {
				t.Fatalf("team relationship: %+v", got)
			}
			l := f.audit(AuditQuery{AfterSeq: 0, Limit: MaxAuditLimit})
			last := l[len(l)-2:]
			if last[0].Action != ActionEmployeeDepart || last[0].Subject != "alice" || last[0].Reason != "resigned" ||
				last[1].Action != ActionContactsTransfer || last[1].Subject != tr.ID || last[1].Seq != last[0].Seq+1 {
				t.Fatalf("audit = %+v", last)
			}
			var d departDetails
			f.must(json.Unmarshal(last[0].Details, &d))
			if d.SuccessorID != "bob" || d.TransferID != tr.ID {
				t.Fatalf("depart details = %+v", d)
			}
			checkIndexes(t, f.s.Snapshot())
		})
		t.Run("without successor", func(t *testing.T) {
			f := newFixtureOf(t, kind)
			r := f.ensure("a@ext.test", "p-alice", "alice")
			_, err := f.s.Depart(f.ctx, "hr", "resigned", "alice", "")
			f.must(err)
			if e := f.employee("alice"); e.Status != Departed || e.SuccessorID != "" {
				t.Fatalf("alice = %+v", e)
			}
			if got := f.rel(r.ID); got.OwnerID != "" || got.PersonaID != "p-alice" {
				t.Fatalf("relationship: %+v", got)
			}
			if !slices.Equal(ownedIDs(f.s.Snapshot(), ""), []string{r.ID}) {
				t.Fatal("relationship not in pool")
			}
		})
		t.Run("successor chain", func(t *testing.T) {
			f := newFixtureOf(t, kind)
			_, err := f.s.Depart(f.ctx, "hr", "resigned", "alice", "bob")
			f.must(err)
			_, err = f.s.Depart(f.ctx, "hr", "resigned", "bob", "erin")
			f.must(err)
			if e := f.employee("alice"); e.SuccessorID != "erin" {
				t.Fatalf("alice's successor = %q, want erin", e.SuccessorID)
			}
		})
		for _, tc := range []struct {
			name               string
			employee, succ     string
			setup              func(f *fixture)
			want               error
			msg                string
			reason, actor      string
			unchangedEmployees bool
		}{
			{name: "unknown", employee: "zed", want: ErrNotFound},
			{name: "already departed", employee: "alice", setup: func(f *fixture) {
				_, err := f.s.Depart(f.ctx, "hr", "left", "alice", "")
				f.must(err)
			}, want: ErrInvalid, msg: "already departed"},
			{name: "own successor", employee: "alice", succ: "alice", want: ErrInvalid},
			{name: "unknown successor", employee: "alice", succ: "zed", want: ErrNotFound},
			{name: "departed successor", employee: "alice", succ: "bob", setup: func(f *fixture) {
				_, err := f.s.Depart(f.ctx, "hr", "left", "bob", "")
				f.must(err)
			}, want: ErrInvalid},
			{name: "successor cannot take personal relationships", employee: "alice", succ: "carol", setup: func(f *fixture) {
				f.ensure("a@ext.test", "p-alice", "alice")
			}, want: ErrInvalid, msg: "carol"},
			{name: "reason required", employee: "alice", reason: " ", want: ErrInvalid, msg: "a reason is required"},
			{name: "actor required", employee: "alice", actor: " ", want: ErrInvalid},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixtureOf(t, kind)
				if tc.setup != nil {
					tc.setup(f)
				}
				before := f.s.Snapshot()
				reason, actor := "left", "hr"
				if tc.reason != "" {
					reason = tc.reason
				}
				if tc.actor != "" {
					actor = tc.actor
				}
				_, err := f.s.Depart(f.ctx, actor, reason, tc.employee, tc.succ)
				wantErr(t, err, tc.want, tc.msg)
				after := f.s.Snapshot()
				if !reflect.DeepEqual(before.Employees(), after.Employees()) ||
					!reflect.DeepEqual(before.Relationships(), after.Relationships()) {
					t.Fatal("a failed departure changed state")
				}
			})
		}
	})
}

func TestReactivate(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		_, err := f.s.Depart(f.ctx, "hr", "left", "alice", "bob")
		f.must(err)
		f.must(f.s.Reactivate(f.ctx, "hr", "came back", "alice"))
		if e := f.employee("alice"); e.Status != Active || e.SuccessorID != "" {
			t.Fatalf("alice = %+v", e)
		}
		l := f.audit(AuditQuery{Action: ActionEmployeeReactivate})
		if len(l) != 1 || l[0].Subject != "alice" || l[0].Reason != "came back" || l[0].Actor != "hr" {
			t.Fatalf("audit = %+v", l)
		}
		// Active again: can receive a transfer.
		_, err = f.s.Transfer(f.ctx, TransferRequest{Actor: "hr", Reason: "back", From: "bob", To: "alice"})
		f.must(err)

		wantErr(t, f.s.Reactivate(f.ctx, "hr", "again", "alice"), ErrInvalid, "not departed")
		wantErr(t, f.s.Reactivate(f.ctx, "hr", "who", "zed"), ErrNotFound, "zed")
		_, err = f.s.Depart(f.ctx, "hr", "left", "alice", "")
		f.must(err)
		wantErr(t, f.s.Reactivate(f.ctx, "hr", "", "alice"), ErrInvalid, "a reason is required")
	})
}
