package identity

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// State is the live identity state over everything the Store holds, and
// the only writer of both (see the package documentation). Reads go
// through Snapshots; every mutation is validated, committed durably to the
// Store and only then made visible, atomically.
//
// State is safe for concurrent use.
type State struct {
	store Store
	now   func() time.Time
	canon Canonicalizer // see SetCanonical
	l     *layout
	db    *memdb.MemDB
	// cur is the current Snapshot, replaced by each mutation once memdb
	// has committed it.
	cur atomic.Pointer[Snapshot]

	// mu serialises mutations: each reads the committed state, writes the
	// Store, then commits memdb, and none may interleave with another.
	mu sync.Mutex
	// broken, once set (under mu), fails every mutation: memory no longer
	// matches the Store.
	broken error
}

// parallelStage is the size of a change from which update stages the
// index pages beside the Store's commit rather than before it.
const parallelStage = 1024

// Open loads everything from store and builds the index. now is the clock
// for timestamps (nil: time.Now). The store must not be written by anyone
// else while the State is in use; the State does not close it.
//
// Open checks the loaded data for what the write path guarantees (unique
// addresses and routes, relationships of existing contacts) and refuses
// inconsistent data rather than route by it.
func Open(ctx context.Context, store Store, now func() time.Time) (*State, error) {
	if now == nil {
		now = time.Now
	}
	ds, err := store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("identity: load: %w", err)
	}
	s := &State{store: store, now: now, l: newLayout()}
	if s.db, err = memdb.NewMemDB(newSchema()); err != nil {
		return nil, fmt.Errorf("identity: memdb schema: %w", err)
	}
	if err := s.load(ds); err != nil {
		return nil, fmt.Errorf("identity: load: %w", err)
	}
	return s, nil
}

// load indexes ds. Records are indexed in place (pointers into ds's
// slices), which saves an allocation per record; a record replaced later
// leaves its slot unused until restart.
func (s *State) load(ds *Dataset) error {
	// Build the pages of the five paged tables in parallel: at a million
	// relationships this is most of the work of loading.
	contacts := make([]*Contact, len(ds.Contacts))
	for i := range ds.Contacts {
		contacts[i] = &ds.Contacts[i]
	}
	rels := make([]*Relationship, len(ds.Relationships))
	for i := range ds.Relationships {
		rels[i] = &ds.Relationships[i]
	}
	// Owner pages are numbered owner by owner: owner k (in order of first
	// appearance) has pages k*ownerPages … k*ownerPages+ownerPages-1.
	ownerNum := map[string]int{}
	var owners []string
	for _, r := range rels {
		if _, ok := ownerNum[r.OwnerID]; !ok && r.MergedInto == "" {
			ownerNum[r.OwnerID] = len(owners)
			owners = append(owners, r.OwnerID)
		}
	}
	var (
		wg                              sync.WaitGroup
		cByID, cByAddr                  []*page[Contact]
		rByID, rByContact, rByOwner     []*page[Relationship]
		errAddrs, errRoutes, errUnknown error
	)
	hashKey := func(b int) string { return s.l.hashKeys[b] }
	wg.Go(func() {
		cByID = buildPages(s.l, &contactsTable, contacts, hashPages, nil, hashKey)
	})
	wg.Go(func() {
		cByAddr = buildPages(s.l, &contactAddrsTable, contacts, hashPages, nil, hashKey)
		errAddrs = checkContactAddrs(cByAddr)
	})
	wg.Go(func() {
		rByID = buildPages(s.l, &relationshipsTable, rels, hashPages, nil, hashKey)
	})
	wg.Go(func() {
		rByContact = buildPages(s.l, &contactRelationshipsTable, rels, hashPages, nil, hashKey)
		errRoutes = checkRoutes(rByContact)
	})
	wg.Go(func() {
		rByOwner = buildPages(s.l, &ownerRelationshipsTable, rels, len(owners)*ownerPages,
			func(_ int, r *Relationship) int {
				sl, _, ok := ownerRelationshipsTable.slotOf(s.l, r)
				if !ok {
					return -1
				}
				return ownerNum[sl.owner]*ownerPages + sl.n
			},
			func(b int) string { return ownerPrefix(owners[b/ownerPages]) + s.l.subKeys[b%ownerPages] })
	})
	wg.Wait()
	// Every relationship's contact must exist: contacts and
	// contact_relationships hash the contact ID alike, so each relationship's
	// contact is in the contacts page with the same key, under the same
	// fingerprint. Each relationship then shares its contact's ID string.
	byKey := make(map[string]*page[Contact], len(cByID))
	for _, p := range cByID {
		byKey[p.key] = p
	}
	// The source and network tables need each relationship's contact,
	// which the check finds: relsInOrder[i]'s contact is contactOf[i].
	relsInOrder := make([]*Relationship, 0, len(rels))
	contactOf := make([]*Contact, 0, len(rels))
	for _, p := range rByContact {
		n := len(contactOf)
		contactOf = contactOf[:n+len(p.items)]
		relsInOrder = append(relsInOrder, p.items...)
		if errUnknown = checkContactsExist(byKey[p.key], p, contactOf[n:]); errUnknown != nil {
			break
		}
	}
	if err := errors.Join(errAddrs, errRoutes, errUnknown); err != nil {
		return fmt.Errorf("stored data is inconsistent: %w", err)
	}
	var rBySource, rByNetwork []*page[Relationship]
	wg.Go(func() {
		rBySource = buildAttrPages(s.l, tableSourceRelationships, relsInOrder, contactOf, contactSource)
	})
	wg.Go(func() {
		rByNetwork = buildAttrPages(s.l, tableNetworkRelationships, relsInOrder, contactOf, contactNetwork)
	})
	wg.Wait()

	tx := s.db.Txn(true)
	defer tx.Abort()
	employees := make(map[string]*Employee, len(ds.Employees))
	for i := range ds.Employees {
		e := &ds.Employees[i]
		employees[e.ID] = e
		if err := tx.Insert(tableEmployees, e); err != nil {
			return fmt.Errorf("employee %s: %w", e.ID, err)
		}
	}
	personas := make(map[string]*Persona, len(ds.Personas))
	for i := range ds.Personas {
		p := &ds.Personas[i]
		personas[p.ID] = p
		if err := tx.Insert(tablePersonas, p); err != nil {
			return fmt.Errorf("persona %s: %w", p.ID, err)
		}
	}
	dir, err := newDirectory(employees, personas)
	if err != nil {
		return fmt.Errorf("stored data is inconsistent: %w", err)
	}
	if err := insertPages(tx, tableContacts, cByID); err != nil {
		return err
	}
	if err := insertPages(tx, tableContactAddrs, cByAddr); err != nil {
		return err
	}
	if err := insertPages(tx, tableRelationships, rByID); err != nil {
		return err
	}
	if err := insertPages(tx, tableContactRelationships, rByContact); err != nil {
		return err
	}
	if err := insertPages(tx, tableOwnerRelationships, rByOwner); err != nil {
		return err
	}
	if err := insertPages(tx, tableSourceRelationships, rBySource); err != nil {
		return err
	}
	if err := insertPages(tx, tableNetworkRelationships, rByNetwork); err != nil {
		return err
	}
	tx.Commit()
	s.publish(dir, pageArrays{
		contacts:     pageArrayOf(s.l, cByID),
		contactAddrs: pageArrayOf(s.l, cByAddr),
		rels:         pageArrayOf(s.l, rByID),
		contactRels:  pageArrayOf(s.l, rByContact),
	})
	return nil
}

// buildAttrPages builds the pages of the source or network table (see
// attrRelTable) for loading: contactOf[i] is the contact of rels[i].
// Values are numbered in order of first appearance, like owners.
func buildAttrPages(l *layout, name string, rels []*Relationship, contactOf []*Contact, attr func(*Contact) string) []*page[Relationship] {
	num := map[string]int{}
	var vals []string
	bucket := func(i int, r *Relationship) int {
		c := contactOf[i]
		if r.MergedInto != "" || c == nil {
			return -1
		}
		v := attr(c)
		if v == "" {
			return -1
		}
		return num[v]*ownerPages + l.subIndex(r.ID)
	}
	// First pass: number the values (buildPages needs their count).
	for i, r := range rels {
		if c := contactOf[i]; r.MergedInto == "" && c != nil {
			if v := attr(c); v != "" {
				if _, ok := num[v]; !ok {
					num[v] = len(vals)
					vals = append(vals, v)
				}
			}
		}
	}
	return buildPages(l, attrRelTable(name, attr, nil), rels, len(vals)*ownerPages, bucket,
		func(b int) string { return ownerPrefix(vals[b/ownerPages]) + l.subKeys[b%ownerPages] })
}

func insertPages[T any](tx *memdb.Txn, table string, pages []*page[T]) error {
	for _, p := range pages {
		if err := tx.Insert(table, p); err != nil {
			return fmt.Errorf("%s page %q: %w", table, p.key, err)
		}
	}
	return nil
}

// checkContactsExist reports a relationship of rels (a contact_relationships
// page) whose contact is not in contacts (the contacts page of the same
// key): each relationship's candidates are the run of its fingerprint in
// contacts. It points each relationship's ContactID at its contact's ID
// (equal strings): one copy of each ID stays in memory, and routing's
// comparison of the two finds them identical without reading either.
// It sets contactOf[i] to the contact of rels.items[i]. Only loading
// calls it, before the records are published.
func checkContactsExist(contacts *page[Contact], rels *page[Relationship], contactOf []*Contact) error {
	for i, r := range rels.items {
		found := false
		if contacts != nil {
			lo, hi := contacts.span(rels.fps[i])
			for _, c := range contacts.items[lo:hi] {
				if c.ID == r.ContactID {
					r.ContactID = c.ID
					contactOf[i] = c
					found = true
					break
				}
			}
		}
		if !found {
			return fmt.Errorf("relationship %s refers to unknown contact %s", r.ID, r.ContactID)
		}
	}
	return nil
}

// samePrint calls fn for each pair of items of p (a hashed page, so
// sorted by fingerprint) with equal fingerprints, the only candidates for
// equal keys.
func samePrint[T any](p *page[T], fn func(a, b *T) error) error {
	for i := range p.fps {
		for j := i + 1; j < len(p.fps) && p.fps[j] == p.fps[i]; j++ {
			if err := fn(p.items[i], p.items[j]); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkContactAddrs reports contacts that share an address.
func checkContactAddrs(pages []*page[Contact]) error {
	for _, p := range pages {
		if err := samePrint(p, func(a, b *Contact) error {
			if a.Address == b.Address {
				return fmt.Errorf("contacts %s and %s share address %s on %s", a.ID, b.ID, a.Address.Addr, a.Address.Network)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// checkRoutes reports two unmerged relationships of one contact that
// both reach the same persona.
func checkRoutes(pages []*page[Relationship]) error {
	for _, p := range pages {
		if err := samePrint(p, func(a, b *Relationship) error {
			if a.ContactID != b.ContactID || a.MergedInto != "" || b.MergedInto != "" {
				return nil
			}
			for _, pa := range append([]string{a.PersonaID}, a.FormerPersonaIDs...) {
				if b.reaches(pa) {
					return fmt.Errorf("relationships %s and %s of contact %s both route persona %s", a.ID, b.ID, a.ContactID, pa)
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// publish makes the state memdb has just committed, with its directory
// and page arrays, the current Snapshot. Only the write path calls it,
// right after each memdb commit (under mu, except while loading).
func (s *State) publish(dir *directory, pages pageArrays) {
	s.cur.Store(&Snapshot{txn: s.db.Txn(false), l: s.l, dir: dir, pageArrays: pages})
}

// Snapshot returns a read-only view of the current state. Snapshots are
// immutable, so every caller between two mutations gets the same one.
func (s *State) Snapshot() *Snapshot {
	return s.cur.Load()
}

// Audit returns audit entries matching q from the Store.
func (s *State) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	l, err := s.store.Audit(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("identity: audit: %w", err)
	}
	return l, nil
}

// commitFailed returns the error of a Store commit that failed. One
// whose outcome is unknown (ErrCommitUnknown) breaks s, under mu: the
// store may hold a change that memory does not, and only opening the
// state again tells.
func (s *State) commitFailed(err error) error {
	if errors.Is(err, ErrCommitUnknown) {
		s.broken = fmt.Errorf("identity: %w; open the state again to reload what the store holds", err)
		return s.broken
	}
	return fmt.Errorf("store commit: %w", err)
}

// update runs one mutation: fn plans it against the committed state,
// recording new record versions and audit entries in b; then the changes
// are staged in a memdb write transaction, committed to the Store and,
// only if that succeeds, committed to memdb. If fn or the Store fails,
// nothing changes.
//
// Staging a bulk change's index pages takes about as long as the Store's
// commit, so from parallelStage records on the two run side by side:
// memdb is still committed only once the Store has. Only the directory
// (employees and personas) can fail to stage for a reason other than a
// bug, and it is staged first.
func (s *State) update(ctx context.Context, fn func(b *batch) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return s.broken
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b := newBatch(s.Snapshot(), s.l, s.now().UTC().Round(0))
	if err := fn(b); err != nil {
		return err
	}
	cs := b.changeset()
	if cs.Empty() {
		return nil
	}
	tx := s.db.Txn(true)
	defer tx.Abort() // a no-op once committed
	dir, err := b.stageDirectory(tx)
	if err != nil {
		return fmt.Errorf("stage index changes: %w", err)
	}
	var pages pageArrays
	if len(cs.Relationships)+len(cs.Contacts) < parallelStage {
		if pages, err = b.stagePages(tx); err != nil {
			return fmt.Errorf("stage index changes: %w", err)
		}
		if err := s.store.Commit(ctx, cs); err != nil {
			return s.commitFailed(err)
		}
	} else {
		committed := make(chan error, 1)
		go func() { committed <- s.store.Commit(ctx, cs) }()
		pages, err = b.stagePages(tx)
		if cerr := <-committed; cerr != nil {
			return s.commitFailed(cerr)
		}
		if err != nil {
			s.broken = fmt.Errorf("identity: a change was stored but could not be indexed (%w); restart to reload the state", err)
			return s.broken
		}
	}
	tx.Commit()
	s.publish(dir, pages)
	return nil
}
