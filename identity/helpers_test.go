package identity

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

// testClock returns a time one second later on every call, so that each
// mutation's timestamps are distinct and predictable.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// last returns the time most recently handed out.
func (c *testClock) last() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// fixture is a State with a small organisation:
//
//	alice, bob, erin: personal personas p-alice, p-bob, p-erin (their defaults)
//	carol:            no default persona
//	dave:             default persona is the team persona p-support
//	p-support:        team persona of alice, bob and dave
type fixture struct {
	t     *testing.T
	ctx   context.Context
	store Store
	s     *State
	clock *testClock
}

// The stores the contract tests run against: every behaviour a test pins
// holds on each (State's tests on all three, the SQL store's on both
// databases). PostgreSQL is the test binary's shared cluster
// (internal/testenv), a fresh schema per test (a fresh database costs
// a few hundred milliseconds).
func storeKinds() []string { return []string{"sqlite", "postgres", "memory"} }

// sqlKinds are the kinds of SQLStore.
func sqlKinds() []string { return []string{"sqlite", "postgres"} }

// forEachStore runs fn as a subtest for each of kinds.
func forEachStore(t *testing.T, kinds []string, fn func(t *testing.T, kind string)) {
	t.Helper()
	for _, k := range kinds {
		t.Run(k, func(t *testing.T) { fn(t, k) })
	}
}

// newStore opens an empty store of kind, closed when the test ends.
func newStore(t *testing.T, kind string) Store {
	t.Helper()
	if kind == "memory" {
		return NewMemoryStore()
	}
	st, _ := sqlStore(t, kind)
	return st
}

// sqlStore opens an empty SQLStore of kind ("sqlite" or "postgres"),
// closed when the test ends, and returns with it a function that opens
// the same database again (its store closed when the test ends too).
func sqlStore(t *testing.T, kind string) (*SQLStore, func(context.Context) (*SQLStore, error)) {
	t.Helper()
	var open func(context.Context) (*SQLStore, error)
	switch kind {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "identity.db")
		open = func(ctx context.Context) (*SQLStore, error) { return OpenSQLite(ctx, path) }
	case "postgres":
		url := testenv.SharedPostgres(t).NewSchema(t)
		open = func(ctx context.Context) (*SQLStore, error) { return OpenPostgres(ctx, url) }
	default:
		t.Fatalf("no SQL store of kind %q", kind)
	}
	reopen := func(ctx context.Context) (*SQLStore, error) {
		st, err := open(ctx)
		if err == nil {
			t.Cleanup(func() { st.Close() })
		}
		return st, err
	}
	st, err := reopen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st, reopen
}

func sqliteStore(t *testing.T) (*SQLiteStore, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "identity.db")
	st, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, _ := sqliteStore(t)
	return newFixtureWith(t, st)
}

// newFixtureOf returns a fixture on an empty store of kind.
func newFixtureOf(t *testing.T, kind string) *fixture {
	t.Helper()
	return newFixtureWith(t, newStore(t, kind))
}

func newFixtureWith(t *testing.T, store Store) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), store: store, clock: newTestClock()}
	var err error
	if f.s, err = Open(f.ctx, store, f.clock.Now); err != nil {
		t.Fatal(err)
	}
	for _, e := range []Employee{
		{ID: "alice", Name: "Alice Real", InsideAddrs: []Address{{"corp", "alice@corp.test"}}, DefaultPersona: "p-alice"},
		{ID: "bob", Name: "Bob Real", InsideAddrs: []Address{{"corp", "bob@corp.test"}}, DefaultPersona: "p-bob"},
		{ID: "carol", Name: "Carol Real", InsideAddrs: []Address{{"corp", "carol@corp.test"}}},
		{ID: "dave", Name: "Dave Real", InsideAddrs: []Address{{"corp", "dave@corp.test"}}, DefaultPersona: "p-support"},
		{ID: "erin", Name: "Erin Real", InsideAddrs: []Address{{"corp", "erin@corp.test"}}, DefaultPersona: "p-erin"},
	} {
		f.must(f.s.UpsertEmployee(f.ctx, "admin", "setup", e))
	}
	for _, p := range []Persona{
		personal("p-alice", "alice"),
		personal("p-bob", "bob"),
		personal("p-erin", "erin"),
		{ID: "p-support", DisplayName: "ACME Support", Kind: Team, Members: []string{"alice", "bob", "dave"},
			Addresses: []Address{{"public-xmpp", "support@contact.acme.test"}}},
	} {
		f.must(f.s.UpsertPersona(f.ctx, "admin", "setup", p))
	}
	return f
}

func personal(id, employee string) Persona {
	return Persona{ID: id, DisplayName: "ACME · " + employee, Kind: Personal, EmployeeID: employee,
		Addresses: []Address{{"public-xmpp", employee + ".sales@contact.acme.test"}, {"mail", employee + "@acme.test"}}}
}

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// ensure creates (or finds) the relationship of the contact at addr on the
// public XMPP network with persona, owned by owner.
func (f *fixture) ensure(addr, persona, owner string) *Relationship {
	f.t.Helper()
	r, _, _, err := f.s.EnsureRelationship(f.ctx, NewRelationship{
		Contact: Address{"public-xmpp", addr}, PersonaID: persona, OwnerID: owner, Source: "test",
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) rel(id string) *Relationship {
	f.t.Helper()
	r, ok := f.s.Snapshot().Relationship(id)
	if !ok {
		f.t.Fatalf("relationship %s not found", id)
	}
	return r
}

func (f *fixture) employee(id string) *Employee {
	f.t.Helper()
	e, ok := f.s.Snapshot().Employee(id)
	if !ok {
		f.t.Fatalf("employee %s not found", id)
	}
	return e
}

func (f *fixture) audit(q AuditQuery) []AuditEntry {
	f.t.Helper()
	l, err := f.s.Audit(f.ctx, q)
	if err != nil {
		f.t.Fatal(err)
	}
	return l
}

func ownedIDs(sn *Snapshot, owner string) []string {
	var ids []string
	for _, r := range sn.RelationshipsOwnedBy(owner) {
		ids = append(ids, r.ID)
	}
	return ids
}

// wantErr checks that err wraps want (nil: no error) and, if set, that its
// message contains msg.
func wantErr(t *testing.T, err, want error, msg string) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error = %v, want %v", err, want)
	case msg != "" && (err == nil || !strings.Contains(err.Error(), msg)):
		t.Fatalf("error %v does not mention %q", err, msg)
	}
}

// checkIndexes verifies that every access path of sn agrees with the
// relationships and contacts it holds: each is found by ID, contacts by
// address, relationships among their contact's and (unless merged) their
// owner's, and each route of an unmerged relationship leads to it.
func checkIndexes(t *testing.T, sn *Snapshot) {
	t.Helper()
	checkView(t, sn)
	contacts := sn.Contacts()
	if len(contacts) != sn.ContactCount() {
		t.Fatalf("Contacts() has %d, ContactCount %d", len(contacts), sn.ContactCount())
	}
	for _, c := range contacts {
		if got, ok := sn.Contact(c.ID); !ok || got != c {
			t.Fatalf("Contact(%s) = %v, %v", c.ID, got, ok)
		}
		if got, ok := sn.ContactByAddr(c.Address); !ok || got != c {
			t.Fatalf("ContactByAddr(%v) = %v, %v", c.Address, got, ok)
		}
	}
	rels := sn.Relationships()
	owned := map[string]int{}
	for _, r := range rels {
		if got, ok := sn.Relationship(r.ID); !ok || got != r {
			t.Fatalf("Relationship(%s) = %v, %v", r.ID, got, ok)
		}
		if _, ok := sn.Contact(r.ContactID); !ok {
			t.Fatalf("relationship %s: contact %s missing", r.ID, r.ContactID)
		}
		if !slices.Contains(sn.RelationshipsOfContact(r.ContactID), r) {
			t.Fatalf("relationship %s missing from its contact's", r.ID)
		}
		inOwner := slices.Contains(sn.RelationshipsOwnedBy(r.OwnerID), r)
		if inOwner != (r.MergedInto == "") {
			t.Fatalf("relationship %s (merged into %q) listed under owner %q: %v", r.ID, r.MergedInto, r.OwnerID, inOwner)
		}
		if r.MergedInto != "" {
			continue
		}
		owned[r.OwnerID]++
		for _, p := range append([]string{r.PersonaID}, r.FormerPersonaIDs...) {
			if got, ok := sn.RelationshipFor(r.ContactID, p); !ok || got != r {
				t.Fatalf("RelationshipFor(%s, %s) = %v, want %s", r.ContactID, p, got, r.ID)
			}
		}
	}
	for owner, n := range owned {
		if got := len(sn.RelationshipsOwnedBy(owner)); got != n {
			t.Fatalf("owner %q lists %d relationships, owns %d", owner, got, n)
		}
	}
}

// checkView verifies that sn's directory and page arrays hold exactly
// what its memdb transaction does.
func checkView(t *testing.T, sn *Snapshot) {
	t.Helper()
	checkPageArray(t, sn, &contactsTable, sn.contacts)
	checkPageArray(t, sn, &contactAddrsTable, sn.contactAddrs)
	checkPageArray(t, sn, &relationshipsTable, sn.rels)
	checkPageArray(t, sn, &contactRelationshipsTable, sn.contactRels)
	emps, pers := sn.Employees(), sn.Personas()
	if len(emps) != len(sn.dir.employees) || len(pers) != len(sn.dir.personas) {
		t.Fatalf("directory has %d employees and %d personas, memdb %d and %d",
			len(sn.dir.employees), len(sn.dir.personas), len(emps), len(pers))
	}
	n := 0
	for _, e := range emps {
		if sn.dir.employees[e.ID] != e {
			t.Fatalf("directory: employee %s differs", e.ID)
		}
		for _, a := range e.InsideAddrs {
			n++
			if got, ok := sn.EmployeeByInsideAddr(a); !ok || got != e {
				t.Fatalf("EmployeeByInsideAddr(%v) = %v, want %s", a, got, e.ID)
			}
		}
	}
	if n != len(sn.dir.inside) {
		t.Fatalf("directory has %d inside addresses, employees %d", len(sn.dir.inside), n)
	}
	n = 0
	for _, p := range pers {
		if sn.dir.personas[p.ID] != p {
			t.Fatalf("directory: persona %s differs", p.ID)
		}
		for _, a := range p.Addresses {
			n++
			if got, ok := sn.PersonaByAddr(a); !ok || got != p {
				t.Fatalf("PersonaByAddr(%v) = %v, want %s", a, got, p.ID)
			}
		}
	}
	if n != len(sn.dir.byAddr) {
		t.Fatalf("directory has %d persona addresses, personas %d", len(sn.dir.byAddr), n)
	}
}

// checkPageArray verifies that arr holds exactly the pages memdb does, and
// that each page holds its items under their fingerprints, sorted by
// fingerprint (which the lookups rely on).
func checkPageArray[T any](t *testing.T, sn *Snapshot, tab *pagedTable[T], arr *pageArray[T]) {
	t.Helper()
	for n, p := range arr {
		if want := getPage(sn.txn, tab, sn.l.hashKeys[n]); p != want {
			t.Fatalf("%s page %d: array has %p, memdb %p", tab.name, n, p, want)
		}
		if p == nil {
			continue
		}
		if len(p.items) == 0 || len(p.fps) != len(p.items) {
			t.Fatalf("%s page %d: %d items, %d fingerprints", tab.name, n, len(p.items), len(p.fps))
		}
		for i, r := range p.items {
			h := tab.hash(sn.l, r)
			if hashBucket(h) != n || fingerprint(h) != p.fps[i] {
				t.Fatalf("%s page %d item %d: bucket %d, fingerprint %08x, page has %08x",
					tab.name, n, i, hashBucket(h), fingerprint(h), p.fps[i])
			}
			if i > 0 && p.fps[i-1] > p.fps[i] {
				t.Fatalf("%s page %d: fingerprints not sorted at %d", tab.name, n, i)
			}
		}
	}
}

// relPtrs returns pointers to the elements of rels.
func relPtrs(rels []Relationship) []*Relationship {
	out := make([]*Relationship, len(rels))
	for i := range rels {
		out[i] = &rels[i]
	}
	return out
}

// openState opens a State on store, failing the test on error.
func openState(t testing.TB, store Store) *State {
	t.Helper()
	s, err := Open(context.Background(), store, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
