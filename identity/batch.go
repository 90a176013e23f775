package identity

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// batch is one mutation being planned: the committed state (base) plus the
// new versions of the records the mutation changes. Reads through the batch
// see its own changes. New versions are private to the batch until it
// commits, so they may be modified in place; base records never are.
type batch struct {
	base *Snapshot
	l    *layout
	now  time.Time

	employees map[string]*Employee
	personas  map[string]*Persona
	contacts  map[string]*change[Contact]
	// contactsByAddr indexes the new versions in contacts.
	contactsByAddr map[Address]*Contact
	rels           map[string]*change[Relationship]
	// relOrder lists the keys of rels in the order they were added.
	relOrder []string
	// newRels lists, per contact, relationships the batch creates.
	newRels map[string][]*Relationship
	audit   []AuditEntry

	// Page caches over base, created on first use.
	contactPages     *pageCache[Contact]
	contactAddrPages *pageCache[Contact]
	relPages         *pageCache[Relationship]
	contactRelPages  *pageCache[Relationship]
	ownerPages       *pageCache[Relationship]
}

func cached[T any](c **pageCache[T], b *batch, t *pagedTable[T], arr *pageArray[T]) *pageCache[T] {
	if *c == nil {
		*c = newPageCache(b.base.txn, b.l, t, arr)
	}
	return *c
}

// change is a record's committed version (nil if new) and its new one.
// quiet marks a new version whose Version was not incremented.
type change[T any] struct {
	old, new *T
	quiet    bool
}

func newBatch(base *Snapshot, l *layout, now time.Time) *batch {
	return &batch{
		base:           base,
		l:              l,
		now:            now,
		employees:      map[string]*Employee{},
		personas:       map[string]*Persona{},
		contacts:       map[string]*change[Contact]{},
		contactsByAddr: map[Address]*Contact{},
		rels:           map[string]*change[Relationship]{},
		newRels:        map[string][]*Relationship{},
	}
}

func (b *batch) employee(id string) (*Employee, bool) {
	if e, ok := b.employees[id]; ok {
		return e, true
	}
	return b.base.Employee(id)
}

func (b *batch) persona(id string) (*Persona, bool) {
	if p, ok := b.personas[id]; ok {
		return p, true
	}
	return b.base.Persona(id)
}

func (b *batch) contactByAddr(a Address) (*Contact, bool) {
	if c, ok := b.contactsByAddr[a]; ok {
		return c, true
	}
	c, ok := b.base.ContactByAddr(a)
	if ok {
		if ch, changed := b.contacts[c.ID]; changed && ch.new.Address != a {
			return nil, false
		}
	}
	return c, ok
}

func (b *batch) contact(id string) (*Contact, bool) {
	if ch, ok := b.contacts[id]; ok {
		return ch.new, true
	}
	return b.base.Contact(id)
}

// rel returns the current version of a relationship.
func (b *batch) rel(id string) (*Relationship, bool) {
	if ch, ok := b.rels[id]; ok {
		return ch.new, true
	}
	return b.base.Relationship(id)
}

// eachRelOfContact calls fn with the current version of each of the
// contact's relationships until fn returns false.
func (b *batch) eachRelOfContact(contactID string, fn func(*Relationship) bool) {
	h := b.l.hashString(contactID)
	if p := cached(&b.contactRelPages, b, &contactRelationshipsTable, b.base.contactRels).get(slot{n: hashBucket(h)}); p != nil {
		i, j := p.span(fingerprint(h))
		for _, r := range p.items[i:j] {
			if r.ContactID != contactID {
				continue
			}
			if ch, ok := b.rels[r.ID]; ok {
				r = ch.new
			}
			if !fn(r) {
				return
			}
		}
	}
	for _, r := range b.newRels[contactID] {
		if !fn(r) {
			return
		}
	}
}

func (b *batch) relationshipFor(contactID, personaID string) (rel *Relationship, ok bool) {
	b.eachRelOfContact(contactID, func(r *Relationship) bool {
		if r.reaches(personaID) {
			rel, ok = r, true
		}
		return !ok
	})
	return rel, ok
}

// relsOwnedBy returns the current versions of the relationships owned by
// owner, sorted by ID.
func (b *batch) relsOwnedBy(owner string) []*Relationship {
	base := b.base.RelationshipsOwnedBy(owner)
	if len(b.rels) == 0 {
		return base
	}
	out := base[:0]
	for _, r := range base {
		if ch, ok := b.rels[r.ID]; ok {
			r = ch.new
		}
		if r.OwnerID == owner && r.MergedInto == "" {
			out = append(out, r)
		}
	}
	for _, ch := range b.rels {
		if r := ch.new; r.OwnerID == owner && r.MergedInto == "" &&
			(ch.old == nil || ch.old.OwnerID != owner || ch.old.MergedInto != "") {
			out = append(out, r)
		}
	}
	sortRelsByID(out)
	return out
}

func (b *batch) putEmployee(e *Employee) { b.employees[e.ID] = e }

func (b *batch) putPersona(p *Persona) { b.personas[p.ID] = p }

// addContact records a new contact.
func (b *batch) addContact(c *Contact) {
	b.contacts[c.ID] = &change[Contact]{new: c}
	b.contactsByAddr[c.Address] = c
}

// addRel records a new relationship.
func (b *batch) addRel(r *Relationship) {
	b.rels[r.ID] = &change[Relationship]{new: r}
	b.relOrder = append(b.relOrder, r.ID)
	b.newRels[r.ContactID] = append(b.newRels[r.ContactID], r)
}

// touchRel returns the batch's private new version of relationship r,
// creating it on first use (first is true then): a copy with Version
// incremented and UpdatedAt set. The caller modifies it in place.
func (b *batch) touchRel(r *Relationship) (n *Relationship, first bool) {
	if ch, ok := b.rels[r.ID]; ok {
		if ch.quiet {
			ch.quiet = false
			ch.new.Version++
			ch.new.UpdatedAt = b.now
		}
		return ch.new, false
	}
	n = b.copyRel(r)
	n.Version++
	n.UpdatedAt = b.now
	return n, true
}

// touchRelQuietly is touchRel for changes that are not versioned
// (LastActivity): Version and UpdatedAt stay.
func (b *batch) touchRelQuietly(r *Relationship) *Relationship {
	if ch, ok := b.rels[r.ID]; ok {
		return ch.new
	}
	n := b.copyRel(r)
	b.rels[r.ID].quiet = true
	return n
}

func (b *batch) copyRel(r *Relationship) *Relationship {
	n := cloneRelationship(r)
	b.rels[r.ID] = &change[Relationship]{old: r, new: n}
	b.relOrder = append(b.relOrder, r.ID)
	return n
}

// relIDFree and contactIDFree report whether a generated ID is unused.
func (b *batch) relIDFree(id string) bool {
	_, used := b.rel(id)
	return !used
}

func (b *batch) contactIDFree(id string) bool {
	_, used := b.contact(id)
	return !used
}

// addAudit appends an audit entry; details, if not nil, is stored as JSON.
func (b *batch) addAudit(actor, action, reason, subject string, details any) error {
	e := AuditEntry{At: b.now, Actor: actor, Action: action, Reason: reason, Subject: subject}
	if details != nil {
		d, err := json.Marshal(details)
		if err != nil {
			return fmt.Errorf("identity: audit details of %s: %w", action, err)
		}
		e.Details = d
	}
	b.audit = append(b.audit, e)
	return nil
}

// changeset returns the batch's changes, each list sorted by ID (sorted
// writes are also cheaper for the store's B-trees).
func (b *batch) changeset() *Changeset {
	cs := &Changeset{Audit: b.audit}
	for _, id := range slices.Sorted(maps.Keys(b.employees)) {
		cs.Employees = append(cs.Employees, cloneEmployee(*b.employees[id]))
	}
	for _, id := range slices.Sorted(maps.Keys(b.personas)) {
		cs.Personas = append(cs.Personas, clonePersona(*b.personas[id]))
	}
	// Sort pointers, then copy: swapping whole records is slower.
	if len(b.contacts) > 0 {
		l := make([]*Contact, 0, len(b.contacts))
		for _, ch := range b.contacts {
			l = append(l, ch.new)
		}
		slices.SortFunc(l, byContactID)
		cs.Contacts = make([]Contact, len(l))
		for i, c := range l {
			cs.Contacts[i] = *c
		}
	}
	if len(b.rels) > 0 {
		// A transfer touches relationships in ID order, except for merge
		// targets: usually there is nothing to sort.
		if !slices.IsSorted(b.relOrder) {
			slices.Sort(b.relOrder)
		}
		cs.Relationships = make([]*Relationship, len(b.relOrder))
		for i, id := range b.relOrder {
			cs.Relationships[i] = b.rels[id].new
		}
	}
	return cs
}

// stageDirectory writes the batch's employees and personas into the memdb
// write transaction tx, and returns the directory of the state tx will
// commit. It fails if the directory would be inconsistent.
func (b *batch) stageDirectory(tx *memdb.Txn) (*directory, error) {
	dir := b.base.dir
	for _, id := range slices.Sorted(maps.Keys(b.employees)) {
		if err := tx.Insert(tableEmployees, b.employees[id]); err != nil {
			return nil, fmt.Errorf("employee %s: %w", id, err)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(b.personas)) {
		if err := tx.Insert(tablePersonas, b.personas[id]); err != nil {
			return nil, fmt.Errorf("persona %s: %w", id, err)
		}
	}
	if len(b.employees) > 0 || len(b.personas) > 0 {
		var err error
		if dir, err = dir.with(b.employees, b.personas); err != nil {
			return nil, err
		}
	}
	return dir, nil
}

// stagePages writes the batch's contacts and relationships into the memdb
// write transaction tx, and returns the page arrays of the state tx will
// commit (those of base where nothing changes). It only reads the batch's
// records, and memdb fails only on schema errors (bugs), so it may run
// beside the Store's commit.
func (b *batch) stagePages(tx *memdb.Txn) (pageArrays, error) {
	pages := b.base.pageArrays
	if len(b.contacts) > 0 {
		byID := newPageChanges(&contactsTable, b.l, len(b.contacts))
		byAddr := newPageChanges(&contactAddrsTable, b.l, len(b.contacts))
		for _, ch := range b.contacts {
			byID.replace(ch.old, ch.new)
			byAddr.replace(ch.old, ch.new)
		}
		pages.contacts = clonePtr(pages.contacts)
		if err := byID.write(cached(&b.contactPages, b, &contactsTable, b.base.contacts), tx, pages.contacts); err != nil {
			return pages, err
		}
		pages.contactAddrs = clonePtr(pages.contactAddrs)
		if err := byAddr.write(cached(&b.contactAddrPages, b, &contactAddrsTable, b.base.contactAddrs), tx, pages.contactAddrs); err != nil {
			return pages, err
		}
	}
	if len(b.rels) > 0 {
		byID := newPageChanges(&relationshipsTable, b.l, len(b.rels))
		byContact := newPageChanges(&contactRelationshipsTable, b.l, len(b.rels))
		byOwner := newPageChanges(&ownerRelationshipsTable, b.l, len(b.rels))
		// The source and network tables read each relationship's contact:
		// consecutive changes are often of one contact.
		var lastID string
		var last *Contact
		contact := func(id string) (*Contact, bool) {
			if last == nil || id != lastID {
				c, ok := b.contact(id)
				if !ok {
					return nil, false
				}
				lastID, last = id, c
			}
			return last, true
		}
		sourceTable := attrRelTable(tableSourceRelationships, contactSource, contact)
		networkTable := attrRelTable(tableNetworkRelationships, contactNetwork, contact)
		bySource := newPageChanges(sourceTable, b.l, len(b.rels))
		byNetwork := newPageChanges(networkTable, b.l, len(b.rels))
		for _, ch := range b.rels {
			byID.replace(ch.old, ch.new)
			byContact.replace(ch.old, ch.new)
			byOwner.replace(ch.old, ch.new)
			bySource.replace(ch.old, ch.new)
			byNetwork.replace(ch.old, ch.new)
		}
		pages.rels = clonePtr(pages.rels)
		if err := byID.write(cached(&b.relPages, b, &relationshipsTable, b.base.rels), tx, pages.rels); err != nil {
			return pages, err
		}
		pages.contactRels = clonePtr(pages.contactRels)
		if err := byContact.write(cached(&b.contactRelPages, b, &contactRelationshipsTable, b.base.contactRels), tx, pages.contactRels); err != nil {
			return pages, err
		}
		if err := byOwner.write(cached(&b.ownerPages, b, &ownerRelationshipsTable, nil), tx, nil); err != nil {
			return pages, err
		}
		if err := bySource.write(newPageCache(b.base.txn, b.l, sourceTable, nil), tx, nil); err != nil {
			return pages, err
		}
		if err := byNetwork.write(newPageCache(b.base.txn, b.l, networkTable, nil), tx, nil); err != nil {
			return pages, err
		}
	}
	return pages, nil
}

// clonePtr returns a pointer to a copy of *p.
func clonePtr[T any](p *T) *T {
	c := *p
	return &c
}
