package identity

import (
	"errors"
	"reflect"
	"strconv"
	"testing"
)

// previewWorld gives alice relationships of every kind a transfer treats
// differently: on her personal persona, on the team persona, one whose
// contact already has a relationship on bob's persona (a merge), and
// pooled ones.
func previewWorld(f *fixture) {
	for i := range 7 {
		f.ensure("c"+strconv.Itoa(i)+"@ext.test", "p-alice", "alice")
	}
	for i := range 3 {
		f.ensure("s"+strconv.Itoa(i)+"@ext.test", "p-support", "alice")
	}
	f.ensure("m@ext.test", "p-alice", "alice")
	f.ensure("m@ext.test", "p-bob", "bob")
	f.ensure("pool@ext.test", "p-support", "")
	// Load for least-loaded: erin owns some already.
	f.ensure("e1@ext.test", "p-erin", "erin")
	f.ensure("e2@ext.test", "p-erin", "erin")
}

// sameTransfer compares what a preview planned with what was done.
func sameTransfer(t *testing.T, what string, preview, done *Transfer) {
	t.Helper()
	if preview.ID != "" {
		t.Errorf("%s: the preview has an ID %q", what, preview.ID)
	}
	if !reflect.DeepEqual(preview.Counts, done.Counts) {
		t.Errorf("%s: preview counts %+v, done %+v", what, preview.Counts, done.Counts)
	}
	if !reflect.DeepEqual(preview.Moves, done.Moves) {
		t.Errorf("%s: preview moves\n%+v\ndone\n%+v", what, preview.Moves, done.Moves)
	}
	if preview.From != done.From || preview.To != done.To || preview.Strategy != done.Strategy || !reflect.DeepEqual(preview.Targets, done.Targets) {
		t.Errorf("%s: preview %+v, done %+v", what, preview, done)
	}
	if done.Counts.Moved == 0 {
		t.Errorf("%s: nothing moved, the comparison proves little", what)
	}
}

// unchanged checks that a preview left the state and the audit log as
// they were.
func unchanged(t *testing.T, f *fixture, before *Snapshot, audits int) {
	t.Helper()
	if f.s.Snapshot() != before {
		t.Error("the preview changed the state")
	}
	if n := len(f.audit(AuditQuery{Limit: MaxAuditLimit})); n != audits {
		t.Errorf("the preview was audited: %d entries, %d before", n, audits)
	}
}

// TestPreviewPlansAsTheTransfer: a preview's moves and counts are
// exactly those of the transfer made right after it, for one successor,
// a spread over a team (both strategies) and the pool, and for
// departures alike; the preview itself changes and audits nothing.
func TestPreviewPlansAsTheTransfer(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		for _, c := range []struct {
			name string
			req  TransferRequest
		}{
			{"successor", TransferRequest{From: "alice", To: "bob"}},
			{"team round-robin", TransferRequest{From: "alice", Targets: []string{"bob", "erin", "dave"}}},
			{"team least-loaded", TransferRequest{From: "alice", Targets: []string{"erin", "bob"}, Strategy: LeastLoaded}},
			{"pool", TransferRequest{From: "alice"}},
			{"filter", TransferRequest{Filter: RelationshipFilter{PersonaID: "p-support"}, To: "erin"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				f := newFixtureOf(t, kind)
				previewWorld(f)
				c.req.Actor, c.req.Reason = "admin:ana", "rotation"
				before, audits := f.s.Snapshot(), len(f.audit(AuditQuery{Limit: MaxAuditLimit}))
				p, err := f.s.PreviewTransfer(f.ctx, c.req)
				f.must(err)
				unchanged(t, f, before, audits)
				done, err := f.s.Transfer(f.ctx, c.req)
				f.must(err)
				sameTransfer(t, c.name, p, done)
			})
		}
		for _, c := range []struct {
			name, successor string
			targets         []string
			strategy        SpreadStrategy
		}{
			{"depart to a successor", "bob", nil, ""},
			{"depart to the pool", "", nil, ""},
			{"depart over a team", "", []string{"erin", "bob"}, LeastLoaded},
		} {
			t.Run(c.name, func(t *testing.T) {
				f := newFixtureOf(t, kind)
				previewWorld(f)
				before, audits := f.s.Snapshot(), len(f.audit(AuditQuery{Limit: MaxAuditLimit}))
				p, err := f.s.PreviewDepart(f.ctx, "admin:ana", "left", "alice", c.successor, c.targets, c.strategy, nil)
				f.must(err)
				unchanged(t, f, before, audits)
				var done *Transfer
				if len(c.targets) > 0 {
					done, err = f.s.Transfer(f.ctx, TransferRequest{Actor: "admin:ana", Reason: "left", From: "alice", Targets: c.targets, Strategy: c.strategy})
					f.must(err)
					_, err = f.s.Depart(f.ctx, "admin:ana", "left", "alice", "")
				} else {
					done, err = f.s.Depart(f.ctx, "admin:ana", "left", "alice", c.successor)
				}
				f.must(err)
				sameTransfer(t, c.name, p, done)
				// Departed now: a preview says what a departure would say.
				if _, err := f.s.PreviewDepart(f.ctx, "admin:ana", "again", "alice", "bob", nil, "", nil); !errors.Is(err, ErrInvalid) {
					t.Errorf("preview of a second departure: %v, want ErrInvalid", err)
				}
			})
		}
	})
}

// TestTransferCheckRefusesBeforeMoving: a transfer's Check sees every
// planned move and its refusal leaves everything as it was, unaudited.
func TestTransferCheckRefusesBeforeMoving(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		previewWorld(f)
		before, audits := f.s.Snapshot(), len(f.audit(AuditQuery{Limit: MaxAuditLimit}))
		refuse := errors.New("not yours")
		var seen int
		_, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin:lea", Reason: "r", From: "alice", To: "bob",
			Check: func(tr *Transfer) error { seen = len(tr.Moves); return refuse }})
		if !errors.Is(err, refuse) || seen == 0 {
			t.Fatalf("transfer with a refusing check: %v (saw %d moves)", err, seen)
		}
		unchanged(t, f, before, audits)
		if _, err := f.s.PreviewTransfer(f.ctx, TransferRequest{Actor: "admin:lea", Reason: "r", From: "alice", To: "bob",
			Check: func(*Transfer) error { return refuse }}); !errors.Is(err, refuse) {
			t.Fatalf("preview with a refusing check: %v", err)
		}
		if _, err := f.s.DepartChecked(f.ctx, "admin:lea", "r", "alice", "bob", func(*Transfer) error { return refuse }); !errors.Is(err, refuse) {
			t.Fatalf("departure with a refusing check: %v", err)
		}
		unchanged(t, f, before, audits)
		if e := f.employee("alice"); e.Status != Active {
			t.Fatal("a refused departure departed alice")
		}
	})
}

// TestSearchOwners: Owners narrows a search to the relationships of some
// employees, and intersects with the rest.
func TestSearchOwners(t *testing.T) {
	f := newFixture(t)
	previewWorld(f)
	sn := f.s.Snapshot()
	res, err := sn.SearchRelationships(RelationshipQuery{Owners: []string{"bob", "erin"}, Limit: MaxSearchLimit})
	f.must(err)
	if res.Total != 3 {
		t.Fatalf("bob's and erin's: %d", res.Total)
	}
	for _, it := range res.Items {
		if it.Relationship.OwnerID != "bob" && it.Relationship.OwnerID != "erin" {
			t.Errorf("owner %s", it.Relationship.OwnerID)
		}
	}
	res, err = sn.SearchRelationships(RelationshipQuery{Owners: []string{"bob", "alice"}, Filter: RelationshipFilter{PersonaID: "p-support"}})
	f.must(err)
	if res.Total != 3 {
		t.Errorf("alice's and bob's on p-support: %d, want 3", res.Total)
	}
	res, err = sn.SearchRelationships(RelationshipQuery{Owners: []string{"bob"}, OwnerID: "alice"})
	f.must(err)
	if res.Total != 0 {
		t.Errorf("owner alice among [bob]: %d", res.Total)
	}
}
