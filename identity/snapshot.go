package identity

import (
	"iter"
	"slices"

	memdb "github.com/hashicorp/go-memdb"
)

// Snapshot is a consistent, read-only view of the state at one point in
// time: no later mutation is visible through it, and every mutation is
// either wholly visible or not at all. Taking one is cheap and lock-free;
// it holds no locks, so it may be kept as long as needed (it pins the
// memory of the records it sees).
//
// Returned records are shared with the state and with other snapshots:
// callers must not modify them (copy first). Lists are freshly allocated
// and belong to the caller.
type Snapshot struct {
	txn *memdb.Txn
	l   *layout
	dir *directory
	pageArrays
}

// Employee returns the employee with the given ID.
func (sn *Snapshot) Employee(id string) (*Employee, bool) {
	e, ok := sn.dir.employees[id]
	return e, ok
}

// EmployeeByInsideAddr returns the employee who has a as an inside address.
// a is normalised first.
func (sn *Snapshot) EmployeeByInsideAddr(a Address) (*Employee, bool) {
	e, ok := sn.dir.inside[NormalizeAddress(a)]
	return e, ok
}

// Persona returns the persona with the given ID.
func (sn *Snapshot) Persona(id string) (*Persona, bool) {
	p, ok := sn.dir.personas[id]
	return p, ok
}

// PersonaByAddr returns the persona that has a as an outside address. a is
// normalised first.
func (sn *Snapshot) PersonaByAddr(a Address) (*Persona, bool) {
	p, ok := sn.dir.byAddr[NormalizeAddress(a)]
	return p, ok
}

// employeeByAddrs returns an employee other than exceptID that has one of
// addrs as an inside address.
func (sn *Snapshot) employeeByAddrs(addrs []Address, exceptID string) (*Employee, bool) {
	for _, a := range addrs {
		if e, ok := sn.EmployeeByInsideAddr(a); ok && e.ID != exceptID {
			return e, true
		}
	}
	return nil, false
}

// personaByAddrs returns a persona other than exceptID that has one of
// addrs as an outside address.
func (sn *Snapshot) personaByAddrs(addrs []Address, exceptID string) (*Persona, bool) {
	for _, a := range addrs {
		if p, ok := sn.PersonaByAddr(a); ok && p.ID != exceptID {
			return p, true
		}
	}
	return nil, false
}

// Contact returns the contact with the given ID.
func (sn *Snapshot) Contact(id string) (*Contact, bool) {
	h := sn.l.hashString(id)
	if p := sn.contacts[hashBucket(h)]; p != nil {
		i, j := p.span(fingerprint(h))
		for ; i < j; i++ {
			if p.items[i].ID == id {
				return p.items[i], true
			}
		}
	}
	return nil, false
}

// ContactByAddr returns the contact with address a. a is normalised first.
func (sn *Snapshot) ContactByAddr(a Address) (*Contact, bool) {
	a = NormalizeAddress(a)
	h := sn.l.hashAddr(a)
	if p := sn.contactAddrs[hashBucket(h)]; p != nil {
		i, j := p.span(fingerprint(h))
		for ; i < j; i++ {
			if p.items[i].Address == a {
				return p.items[i], true
			}
		}
	}
	return nil, false
}

// Relationship returns the relationship with the given ID, merged ones
// included.
func (sn *Snapshot) Relationship(id string) (*Relationship, bool) {
	h := sn.l.hashString(id)
	if p := sn.rels[hashBucket(h)]; p != nil {
		i, j := p.span(fingerprint(h))
		for ; i < j; i++ {
			if p.items[i].ID == id {
				return p.items[i], true
			}
		}
	}
	return nil, false
}

// contactRelSpan returns the run of the contact_relationships page of
// contactID with contactID's fingerprint: the contact's relationships are
// the items of the run whose ContactID is contactID.
func (sn *Snapshot) contactRelSpan(contactID string) []*Relationship {
	h := sn.l.hashString(contactID)
	p := sn.contactRels[hashBucket(h)]
	if p == nil {
		return nil
	}
	i, j := p.span(fingerprint(h))
	return p.items[i:j:j]
}

// RelationshipFor returns the relationship a contact reaches by writing to
// personaID: the one whose PersonaID, or one of whose FormerPersonaIDs, is
// personaID. Merged relationships are never returned. At most one exists:
// the write path keeps routes unique.
func (sn *Snapshot) RelationshipFor(contactID, personaID string) (*Relationship, bool) {
	for _, r := range sn.contactRelSpan(contactID) {
		if r.ContactID == contactID && r.reaches(personaID) {
			return r, true
		}
	}
	return nil, false
}

// reaches reports whether a contact writing to personaID reaches r.
func (r *Relationship) reaches(personaID string) bool {
	return r.MergedInto == "" && (r.PersonaID == personaID || slices.Contains(r.FormerPersonaIDs, personaID))
}

// RelationshipsOfContact returns all relationships of a contact, merged
// ones included, sorted by ID.
func (sn *Snapshot) RelationshipsOfContact(contactID string) []*Relationship {
	run := sn.contactRelSpan(contactID)
	n := 0
	for _, r := range run {
		if r.ContactID == contactID {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]*Relationship, 0, n)
	for _, r := range run {
		if r.ContactID == contactID {
			out = append(out, r)
		}
	}
	if n > 1 {
		sortRelsByID(out)
	}
	return out
}

// RelationshipsOwnedBy returns the relationships owned by an employee,
// sorted by ID; employeeID "" lists the unassigned pool. Merged
// relationships own nothing and are not listed.
func (sn *Snapshot) RelationshipsOwnedBy(employeeID string) []*Relationship {
	var pages [][]*Relationship
	n := 0
	it := must(sn.txn.Get(tableOwnerRelationships, indexID+"_prefix", ownerPrefix(employeeID)))
	for raw := it.Next(); raw != nil; raw = it.Next() {
		items := raw.(*page[Relationship]).items
		pages = append(pages, items)
		n += len(items)
	}
	out := make([]*Relationship, 0, n)
	for _, items := range pages {
		out = append(out, items...)
	}
	sortRelsByID(out)
	return out
}

// Employees returns every employee, sorted by ID.
func (sn *Snapshot) Employees() []*Employee {
	return all[Employee](sn.txn, tableEmployees)
}

// Personas returns every persona, sorted by ID.
func (sn *Snapshot) Personas() []*Persona {
	return all[Persona](sn.txn, tablePersonas)
}

// The ID index iterates in key order, and keys are NUL-terminated IDs,
// so all returns records sorted by ID.

func all[T any](txn *memdb.Txn, table string) []*T {
	var out []*T
	it := must(txn.Get(table, indexID))
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*T))
	}
	return out
}

// Contacts returns every contact, sorted by ID. At a million contacts this
// allocates and sorts a million pointers; prefer the lookups.
func (sn *Snapshot) Contacts() []*Contact {
	return allPaged(sn.txn, &contactsTable, byContactID)
}

// EachContact yields every contact in no particular order, without
// listing or sorting them first (see Contacts).
func (sn *Snapshot) EachContact() iter.Seq[*Contact] {
	return func(yield func(*Contact) bool) {
		for _, p := range sn.contacts {
			if p == nil {
				continue
			}
			for _, c := range p.items {
				if !yield(c) {
					return
				}
			}
		}
	}
}

// ContactCount returns the number of contacts.
func (sn *Snapshot) ContactCount() int { return countPaged(sn.txn, &contactsTable) }

// RelationshipCount returns the number of relationships, merged ones
// included.
func (sn *Snapshot) RelationshipCount() int { return countPaged(sn.txn, &relationshipsTable) }

// Relationships returns every relationship, merged ones included, sorted
// by ID. Like Contacts, it is costly on a large state.
func (sn *Snapshot) Relationships() []*Relationship {
	return allPaged(sn.txn, &relationshipsTable, byRelID)
}

func allPaged[T any](txn *memdb.Txn, t *pagedTable[T], cmp func(a, b *T) int) []*T {
	out := make([]*T, 0, countPaged(txn, t))
	it := must(txn.Get(t.name, indexID))
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*page[T]).items...)
	}
	slices.SortFunc(out, cmp)
	return out
}

func countPaged[T any](txn *memdb.Txn, t *pagedTable[T]) int {
	n := 0
	it := must(txn.Get(t.name, indexID))
	for raw := it.Next(); raw != nil; raw = it.Next() {
		n += len(raw.(*page[T]).items)
	}
	return n
}
