package identity

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// failingStore wraps a Store and fails Commit while fail is set.
type failingStore struct {
	Store
	fail atomic.Bool
}

var errDiskFull = errors.New("disk full")

func (s *failingStore) Commit(ctx context.Context, c *Changeset) error {
	if s.fail.Load() {
		return errDiskFull
	}
	return s.Store.Commit(ctx, c)
}

func TestSnapshotIsolation(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		var rels []*Relationship
		for i := range 300 {
			persona := []string{"p-alice", "p-support"}[i%2]
			rels = append(rels, f.ensure(fmt.Sprintf("c%03d@ext.test", i), persona, "alice"))
		}
		before := f.s.Snapshot()
		_, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "bob"})
		f.must(err)
		after := f.s.Snapshot()
		for _, r := range rels {
			b, _ := before.Relationship(r.ID)
			a, _ := after.Relationship(r.ID)
			if b.OwnerID != "alice" || b.PersonaID != r.PersonaID || a.OwnerID != "bob" {
				t.Fatalf("relationship %s: before %+v after %+v", r.ID, b, a)
			}
		}
		if n := len(before.RelationshipsOwnedBy("alice")); n != len(rels) {
			t.Fatalf("old snapshot: alice owns %d", n)
		}
		if n := len(after.RelationshipsOwnedBy("bob")); n != len(rels) {
			t.Fatalf("new snapshot: bob owns %d", n)
		}
		checkIndexes(t, before)
		checkIndexes(t, after)
	})
}

func TestFailedCommitChangesNothing(t *testing.T) {
	fs := &failingStore{Store: NewMemoryStore()}
	f := newFixtureWith(t, fs)
	r := f.ensure("a@ext.test", "p-alice", "alice")
	f.ensure("b@ext.test", "p-support", "alice")
	f.ensure("a@ext.test", "p-bob", "bob")
	es, ps, cs, rs := snapshotRecords(f.s.Snapshot())
	auditBefore := f.audit(AuditQuery{Limit: MaxAuditLimit})

	fs.fail.Store(true)
	for _, tc := range []struct {
		name string
		op   func() error
	}{
		{"transfer", func() error {
			_, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "a", Reason: "r", From: "alice", To: "bob"})
			return err
		}},
		{"depart", func() error { _, err := f.s.Depart(f.ctx, "a", "r", "alice", "erin"); return err }},
		{"upsert employee", func() error {
			return f.s.UpsertEmployee(f.ctx, "a", "r", Employee{ID: "zoe", Name: "Z", InsideAddrs: []Address{{"corp", "z@corp.test"}}})
		}},
		{"upsert persona", func() error { return f.s.UpsertPersona(f.ctx, "a", "r", personal("p-carol", "carol")) }},
		{"ensure relationship", func() error {
			_, _, _, err := f.s.EnsureRelationship(f.ctx, NewRelationship{Contact: Address{"mail", "new@ext.test"}, PersonaID: "p-bob"})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.op(), errDiskFull, "disk full")
			es2, ps2, cs2, rs2 := snapshotRecords(f.s.Snapshot())
			if !reflect.DeepEqual(es2, es) || !reflect.DeepEqual(ps2, ps) || !reflect.DeepEqual(cs2, cs) || !reflect.DeepEqual(rs2, rs) {
				t.Fatal("state changed although the store failed")
			}
		})
	}
	fs.fail.Store(false)
	if l := f.audit(AuditQuery{Limit: MaxAuditLimit}); len(l) != len(auditBefore) {
		t.Fatal("audit changed although the store failed")
	}
	// The state still works, and the store agrees with memory.
	_, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "a", Reason: "r", From: "alice", To: "bob"})
	f.must(err)
	if got := f.rel(r.ID); got.OwnerID != "bob" {
		t.Fatalf("after recovery: %+v", got)
	}
	s2, err := Open(f.ctx, fs, nil)
	f.must(err)
	es2, ps2, cs2, rs2 := snapshotRecords(s2.Snapshot())
	es3, ps3, cs3, rs3 := snapshotRecords(f.s.Snapshot())
	if !reflect.DeepEqual(es2, es3) || !reflect.DeepEqual(ps2, ps3) || !reflect.DeepEqual(cs2, cs3) || !reflect.DeepEqual(rs2, rs3) {
		t.Fatal("store and memory disagree")
	}
}

func TestCancelledContext(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		ctx, cancel := context.WithCancel(f.ctx)
		cancel()
		_, err := f.s.Transfer(ctx, TransferRequest{Actor: "a", Reason: "r", From: "alice", To: "bob"})
		wantErr(t, err, context.Canceled, "")
	})
}

// TestConcurrentReadersDuringTransfers checks, under -race, that readers
// never see a transfer half done while relationships move back and forth
// and new ones are created.
func TestConcurrentReadersDuringTransfers(t *testing.T) {
	f := newFixtureWith(t, NewMemoryStore())
	const n = 1000
	var ids []string
	for i := range n {
		persona := []string{"p-alice", "p-support"}[i%2]
		ids = append(ids, f.ensure(fmt.Sprintf("c%04d@ext.test", i), persona, "alice").ID)
	}
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		checked atomic.Int64
	)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				sn := f.s.Snapshot()
				owner := ""
				for _, id := range ids {
					r, ok := sn.Relationship(id)
					if !ok {
						t.Errorf("relationship %s missing", id)
						return
					}
					if owner == "" {
						owner = r.OwnerID
					} else if r.OwnerID != owner {
						t.Errorf("snapshot mixes owners %s and %s", owner, r.OwnerID)
						return
					}
				}
				if got := len(sn.RelationshipsOwnedBy(owner)); got != n {
					t.Errorf("owner %s lists %d relationships in one snapshot, want %d", owner, got, n)
					return
				}
				checked.Add(1)
			}
		})
	}
	wg.Go(func() {
		for i := 0; i < 300 && !stop.Load(); i++ {
			if _, _, _, err := f.s.EnsureRelationship(f.ctx, NewRelationship{
				Contact: Address{"mail", fmt.Sprintf("new%d@ext.test", i)}, PersonaID: "p-erin", OwnerID: "erin"}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	from, to := "alice", "bob"
	for range 10 {
		if _, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "a", Reason: "r", From: from, To: to}); err != nil {
			t.Fatal(err)
		}
		from, to = to, from
	}
	for checked.Load() < 10 {
		// Make sure readers ran while transfers happened too.
		if _, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "a", Reason: "r", From: from, To: to}); err != nil {
			t.Fatal(err)
		}
		from, to = to, from
	}
	stop.Store(true)
	wg.Wait()
	checkIndexes(t, f.s.Snapshot())
}

func TestConcurrentEnsureCreatesOnce(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		var wg sync.WaitGroup
		results := make([]*Relationship, 8)
		for i := range results {
			wg.Go(func() {
				r, _, _, err := f.s.EnsureRelationship(f.ctx, NewRelationship{Contact: Address{"mail", "same@ext.test"}, PersonaID: "p-bob", OwnerID: "bob"})
				if err != nil {
					t.Error(err)
					return
				}
				results[i] = r
			})
		}
		wg.Wait()
		for _, r := range results {
			if r == nil || r.ID != results[0].ID {
				t.Fatalf("concurrent EnsureRelationship returned different relationships: %v", results)
			}
		}
		if n := f.s.Snapshot().RelationshipCount(); n != 1 {
			t.Fatalf("%d relationships", n)
		}
	})
}

func TestOpenRejectsInconsistentData(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(ds *Dataset)
		msg    string
	}{
		{"contacts share an address", func(ds *Dataset) { ds.Contacts[1].Address = ds.Contacts[0].Address }, "share address"},
		{"unknown contact", func(ds *Dataset) { ds.Relationships[3].ContactID = "c-nobody" }, "unknown contact"},
		{"routes collide", func(ds *Dataset) {
			r := ds.Relationships[0]
			r.ID = "r-dup"
			ds.Relationships = append(ds.Relationships, r)
		}, "both route"},
		{"employees share an address", func(ds *Dataset) { ds.Employees[1].InsideAddrs = ds.Employees[0].InsideAddrs }, "share an inside address"},
		{"personas share an address", func(ds *Dataset) { ds.Personas[1].Addresses = ds.Personas[0].Addresses }, "share an address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := GenerateDataset(500, 5)
			tc.break_(ds)
			m := NewMemoryStore()
			m.Seed(ds)
			_, err := Open(context.Background(), m, nil)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Open = %v, want an error about %q", err, tc.msg)
			}
		})
	}
}

func TestGenerateDataset(t *testing.T) {
	a, b := GenerateDataset(3000, 25), GenerateDataset(3000, 25)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("GenerateDataset is not deterministic")
	}
	if len(a.Contacts) != 3000 || len(a.Relationships) != 3000 || len(a.Employees) != 25 || len(a.Personas) != 26 {
		t.Fatalf("sizes: %d %d %d %d", len(a.Contacts), len(a.Relationships), len(a.Employees), len(a.Personas))
	}
	m := NewMemoryStore()
	m.Seed(a)
	s, err := Open(context.Background(), m, nil)
	if err != nil {
		t.Fatal(err)
	}
	sn := s.Snapshot()
	if sn.RelationshipCount() != 3000 || sn.ContactCount() != 3000 {
		t.Fatalf("counts %d %d", sn.RelationshipCount(), sn.ContactCount())
	}
	checkIndexes(t, sn)
	// Bulk moves across many pages keep every index consistent.
	for _, m := range [][2]string{{"emp-0000", "emp-0001"}, {"emp-0001", ""}, {"emp-0002", "emp-0003"}} {
		if _, err := s.Transfer(context.Background(), TransferRequest{Actor: "a", Reason: "r", From: m[0], To: m[1]}); err != nil {
			t.Fatal(err)
		}
		checkIndexes(t, s.Snapshot())
	}
}
