package identity

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"
)

// routing is the part of a relationship a revert restores.
type routing struct {
	Owner, Persona string
	Former         []string
	MergedInto     string
}

func routingOf(sn *Snapshot) map[string]routing {
	m := map[string]routing{}
	for _, r := range sn.Relationships() {
		m[r.ID] = routing{r.OwnerID, r.PersonaID, r.FormerPersonaIDs, r.MergedInto}
	}
	return m
}

// revertWorld has alice own relationships that a transfer to bob moves in
// every way: re-homed (with former personas), owner only (team persona),
// and merged into bob's relationship with the same contact.
func revertWorld(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	f.ensure("a@ext.test", "p-erin", "erin")
	_, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "setup", From: "erin", To: "alice"})
	f.must(err) // a@ext.test: on p-alice, former p-erin
	f.ensure("b@ext.test", "p-support", "alice")
	f.ensure("c@ext.test", "p-alice", "alice")
	f.ensure("c@ext.test", "p-bob", "bob")
	f.ensure("d@ext.test", "p-bob", "bob") // not moved
	return f
}

func TestRevertRestoresExactly(t *testing.T) {
	f := revertWorld(t)
	before := routingOf(f.s.Snapshot())
	tr, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "alice on leave", From: "alice", To: "bob"})
	f.must(err)
	if tr.Counts.Merged != 1 || tr.Counts.Rehomed != 1 || tr.Counts.Moved != 4 {
		t.Fatalf("setup transfer: %+v", tr.Counts)
	}
	// Annotations and traffic since do not stand in the way.
	var moved string
	for _, m := range tr.Moves {
		if m.MergedInto == "" {
			moved = m.RelationshipID
		}
	}
	_, err = f.s.SetTags(f.ctx, "employee:bob", "", moved, []string{"followup"})
	f.must(err)
	_, err = f.s.SetRemark(f.ctx, "employee:bob", "", moved, "called back")
	f.must(err)
	f.must(f.s.TouchRelationships(f.ctx, map[string]time.Time{moved: f.clock.Now()}))

	rv, err := f.s.RevertTransfer(f.ctx, "admin:root", "leave cancelled", tr.ID)
	f.must(err)
	sn := f.s.Snapshot()
	if got := routingOf(sn); !reflect.DeepEqual(got, before) {
		t.Fatalf("after revert:\n got %+v\nwant %+v", got, before)
	}
	if r := f.rel(moved); !slices.Equal(r.Tags, []string{"followup"}) || r.Remark != "called back" {
		t.Fatalf("annotations lost: %+v", r)
	}
	for _, m := range rv.Moves {
		r := f.rel(m.RelationshipID)
		if r.LastTransferID != rv.ID || r.OwnerVersion != m.OwnerVersion || r.Version != m.Version {
			t.Fatalf("relationship %+v after move %+v", r, m)
		}
	}
	if rv.RevertOf != tr.ID || rv.From != "" || rv.To != "" || len(rv.Moves) != len(tr.Moves) ||
		rv.Counts.Matched != 4 || rv.Counts.Moved != 4 || rv.Counts.Merged != 0 {
		t.Fatalf("revert transfer = %+v", rv)
	}
	// Each move of the revert is the inverse of the original's.
	for i, m := range rv.Moves {
		o := tr.Moves[i]
		if m.RelationshipID != o.RelationshipID || m.FromOwner != o.ToOwner || m.ToOwner != o.FromOwner ||
			!slices.Equal(m.ToFormerPersonas, o.FromFormerPersonas) || m.ToPersona != o.FromPersona ||
			m.MergedInto != o.FromMergedInto || m.FromMergedInto != o.MergedInto {
			t.Fatalf("revert move %+v of %+v", m, o)
		}
	}
	// Audited: the revert, then the transfer that did it.
	l := f.audit(AuditQuery{Limit: MaxAuditLimit})
	last := l[len(l)-2:]
	if last[0].Action != ActionContactsRevert || last[0].Subject != tr.ID || last[0].Actor != "admin:root" ||
		last[0].Reason != "leave cancelled" || last[1].Action != ActionContactsTransfer || last[1].Subject != rv.ID {
		t.Fatalf("audit = %+v", last)
	}
	var d revertDetails
	f.must(json.Unmarshal(last[0].Details, &d))
	if d.TransferID != rv.ID || d.Moved != 4 {
		t.Fatalf("revert details %+v", d)
	}
	var logged Transfer
	f.must(json.Unmarshal(last[1].Details, &logged))
	if !reflect.DeepEqual(&logged, rv) {
		t.Fatalf("revert transfer logged as %+v", logged)
	}
	if loaded, err := f.s.LoadTransfer(f.ctx, rv.ID); err != nil || !reflect.DeepEqual(loaded, rv) {
		t.Fatalf("LoadTransfer = %+v, %v", loaded, err)
	}
	checkIndexes(t, sn)
}

func TestRevertConflict(t *testing.T) {
	f := revertWorld(t)
	t1, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "bob"})
	f.must(err)
	// t2 moves one of t1's relationships on.
	var moved string
	for _, m := range t1.Moves {
		if m.MergedInto == "" {
			moved = m.RelationshipID
		}
	}
	t2, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "r",
		Filter: RelationshipFilter{RelationshipIDs: []string{moved}}, To: "erin"})
	f.must(err)
	before := f.s.Snapshot()
	n := len(f.audit(AuditQuery{Limit: MaxAuditLimit}))
	_, err = f.s.RevertTransfer(f.ctx, "admin", "undo", t1.ID)
	wantErr(t, err, ErrConflict, t2.ID)
	rc, ok := errorsAs[*RevertConflict](err)
	if !ok || rc.TransferID != t1.ID || !slices.Equal(rc.RelationshipIDs, []string{moved}) || !slices.Equal(rc.LaterTransfers, []string{t2.ID}) {
		t.Fatalf("conflict = %+v", rc)
	}
	if !reflect.DeepEqual(routingOf(before), routingOf(f.s.Snapshot())) || len(f.audit(AuditQuery{Limit: MaxAuditLimit})) != n {
		t.Fatal("a refused revert changed something")
	}
	// Undo t2 first, and t1 can go.
	_, err = f.s.RevertTransfer(f.ctx, "admin", "undo", t2.ID)
	f.must(err)
	_, err = f.s.RevertTransfer(f.ctx, "admin", "undo", t1.ID)
	f.must(err)
	checkIndexes(t, f.s.Snapshot())
}

func TestRevertTwiceRefused(t *testing.T) {
	f := revertWorld(t)
	tr, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "bob"})
	f.must(err)
	redone := routingOf(f.s.Snapshot())
	rv, err := f.s.RevertTransfer(f.ctx, "admin", "undo", tr.ID)
	f.must(err)
	_, err = f.s.RevertTransfer(f.ctx, "admin", "undo again", tr.ID)
	wantErr(t, err, ErrConflict, "already reverted by transfer "+rv.ID)
	// A revert is a transfer: it can be reverted (once), which redoes the
	// original.
	after := routingOf(f.s.Snapshot())
	_, err = f.s.RevertTransfer(f.ctx, "admin", "redo", rv.ID)
	f.must(err)
	_, err = f.s.RevertTransfer(f.ctx, "admin", "redo", rv.ID)
	wantErr(t, err, ErrConflict, "already reverted")
	if reflect.DeepEqual(routingOf(f.s.Snapshot()), after) {
		t.Fatal("redo changed nothing")
	}
	if got := routingOf(f.s.Snapshot()); !reflect.DeepEqual(got, redone) {
		t.Fatalf("redo:\n got %+v\nwant %+v", got, redone)
	}
	checkIndexes(t, f.s.Snapshot())
}

func TestRevertConcurrentOnce(t *testing.T) {
	f := revertWorld(t)
	tr, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "bob"})
	f.must(err)
	errs := make(chan error, 4)
	for range cap(errs) {
		go func() {
			_, err := f.s.RevertTransfer(f.ctx, "admin", "undo", tr.ID)
			errs <- err
		}()
	}
	ok := 0
	for range cap(errs) {
		if err := <-errs; err == nil {
			ok++
		} else if !errors.Is(err, ErrConflict) {
			t.Fatal(err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d reverts succeeded", ok)
	}
}

func TestRevertRefusesDepartedOwner(t *testing.T) {
	f := revertWorld(t)
	tr, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "bob"})
	f.must(err)
	_, err = f.s.Depart(f.ctx, "hr", "left", "alice", "")
	f.must(err)
	_, err = f.s.RevertTransfer(f.ctx, "admin", "undo", tr.ID)
	wantErr(t, err, ErrInvalid, "previous owner alice has departed since; reactivate first, or transfer")
}

func TestRevertDeparture(t *testing.T) {
	f := revertWorld(t)
	before := routingOf(f.s.Snapshot())
	d, err := f.s.Depart(f.ctx, "hr", "resigned", "alice", "bob")
	f.must(err)
	// While alice is departed, her relationships cannot go back to her.
	_, err = f.s.RevertTransfer(f.ctx, "hr", "she stays", d.ID)
	wantErr(t, err, ErrInvalid, "alice has departed")
	f.must(f.s.Reactivate(f.ctx, "hr", "she stays", "alice"))
	_, err = f.s.RevertTransfer(f.ctx, "hr", "she stays", d.ID)
	f.must(err)
	if got := routingOf(f.s.Snapshot()); !reflect.DeepEqual(got, before) {
		t.Fatalf("after reverting the departure:\n got %+v\nwant %+v", got, before)
	}
	checkIndexes(t, f.s.Snapshot())
}

func TestRevertErrors(t *testing.T) {
	f := revertWorld(t)
	_, err := f.s.RevertTransfer(f.ctx, "admin", "undo", "t-nope")
	wantErr(t, err, ErrNotFound, "t-nope")
	_, err = f.s.RevertTransfer(f.ctx, "admin", " ", "t-nope")
	wantErr(t, err, ErrInvalid, "reason")
	_, err = f.s.RevertTransfer(f.ctx, "", "undo", "t-nope")
	wantErr(t, err, ErrInvalid, "actor")

	// A transfer recorded before moves carried owner versions.
	legacy := Transfer{ID: "t-legacy", Actor: "admin", Reason: "old", From: "alice", To: "bob",
		Moves: []Move{{RelationshipID: "r-x", ContactID: "c-x", FromOwner: "alice", ToOwner: "bob", FromPersona: "p-alice", ToPersona: "p-bob", Version: 2}}}
	details, err := json.Marshal(legacy)
	f.must(err)
	f.must(f.store.Commit(f.ctx, &Changeset{Audit: []AuditEntry{{At: f.clock.Now(), Actor: "admin", Action: ActionContactsTransfer,
		Reason: "old", Subject: legacy.ID, Details: details}}}))
	_, err = f.s.RevertTransfer(f.ctx, "admin", "undo", legacy.ID)
	wantErr(t, err, ErrInvalid, "before transfers could be reverted")
}

func TestRevertPersists(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		st, reopen := sqlStore(t, kind)
		f := newFixtureWith(t, st)
		f.ensure("a@ext.test", "p-alice", "alice")
		f.ensure("b@ext.test", "p-support", "alice")
		tr, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "bob"})
		f.must(err)
		_, err = f.s.RevertTransfer(f.ctx, "admin", "undo", tr.ID)
		f.must(err)
		_, _, _, want := snapshotRecords(f.s.Snapshot())
		f.must(st.Close())
		st2, err := reopen(context.Background())
		f.must(err)
		defer st2.Close()
		s2, err := Open(f.ctx, st2, nil)
		f.must(err)
		if _, _, _, got := snapshotRecords(s2.Snapshot()); !reflect.DeepEqual(got, want) {
			t.Fatalf("after reopen:\n got %+v\nwant %+v", got, want)
		}
		// Still known as reverted after a restart.
		_, err = s2.RevertTransfer(f.ctx, "admin", "undo", tr.ID)
		wantErr(t, err, ErrConflict, "already reverted")
	})
}
