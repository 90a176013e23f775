package identity

import (
	"fmt"
	"maps"
)

// The read side of a State. Routing reads a few records per message and
// must decide in a couple of microseconds, while each go-memdb lookup costs
// 0.5–1 µs (it walks the root tree and allocates an index transaction and
// a key). So every committed state is published as one immutable Snapshot
// that, besides the memdb read transaction (used for listings), carries:
//
//   - a directory: plain maps over the employees and personas (few, so
//     rebuilding the maps on each change to them is cheap);
//   - for each hashed paged table, an array of its pages by bucket (the
//     same page values memdb holds), copied on write.
//
// Both are built by the write path inside the mutation that changes them,
// from the same pages and records it writes to memdb, and published
// together with the memdb transaction once memdb has committed; so a
// Snapshot's lookups and its listings always show the same state.

// directory indexes the employees and personas of one state. Immutable
// once published.
type directory struct {
	employees map[string]*Employee
	inside    map[Address]*Employee // by inside address
	personas  map[string]*Persona
	byAddr    map[Address]*Persona // by outside address
}

// pageArray holds the pages of a hashed table by bucket (nil: empty).
type pageArray[T any] [hashPages]*page[T]

// pageArrays are the page arrays of the four hashed tables.
type pageArrays struct {
	contacts     *pageArray[Contact]
	contactAddrs *pageArray[Contact]
	rels         *pageArray[Relationship]
	contactRels  *pageArray[Relationship]
}

func newDirectory(employees map[string]*Employee, personas map[string]*Persona) (*directory, error) {
	d := &directory{employees: employees, personas: personas}
	if err := d.indexEmployees(); err != nil {
		return nil, err
	}
	if err := d.indexPersonas(); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *directory) indexEmployees() error {
	inside, a, b := indexByAddr(d.employees, func(e *Employee) []Address { return e.InsideAddrs })
	if a != "" {
		return fmt.Errorf("%w: employees %s and %s share an inside address", ErrConflict, a, b)
	}
	d.inside = inside
	return nil
}

func (d *directory) indexPersonas() error {
	byAddr, a, b := indexByAddr(d.personas, func(p *Persona) []Address { return p.Addresses })
	if a != "" {
		return fmt.Errorf("%w: personas %s and %s share an address", ErrConflict, a, b)
	}
	d.byAddr = byAddr
	return nil
}

// indexByAddr maps each (normalised) address of items to the item that has
// it. When two items share one, it stops and returns their IDs.
func indexByAddr[T any](items map[string]*T, addrs func(*T) []Address) (m map[Address]*T, a, b string) {
	n := 0
	for _, it := range items {
		n += len(addrs(it))
	}
	m = make(map[Address]*T, n)
	byAddr := make(map[Address]string, n)
	for id, it := range items {
		for _, addr := range addrs(it) {
			addr = NormalizeAddress(addr)
			if other, ok := byAddr[addr]; ok && other != id {
				return nil, other, id
			}
			m[addr], byAddr[addr] = it, id
		}
	}
	return m, "", ""
}

// merged returns a copy of base with changes applied.
func merged[T any](base, changes map[string]*T) map[string]*T {
	m := make(map[string]*T, len(base)+len(changes))
	maps.Copy(m, base)
	maps.Copy(m, changes)
	return m
}

// with returns d with the given new versions of employees and personas;
// maps that do not change are shared.
func (d *directory) with(employees map[string]*Employee, personas map[string]*Persona) (*directory, error) {
	n := *d
	if len(employees) > 0 {
		n.employees = merged(d.employees, employees)
		if err := n.indexEmployees(); err != nil {
			return nil, err
		}
	}
	if len(personas) > 0 {
		n.personas = merged(d.personas, personas)
		if err := n.indexPersonas(); err != nil {
			return nil, err
		}
	}
	return &n, nil
}

// pageArrayOf returns the pages of a hashed table as an array.
func pageArrayOf[T any](l *layout, pages []*page[T]) *pageArray[T] {
	a := new(pageArray[T])
	for _, p := range pages {
		a[l.bucketOfKey(p.key)] = p
	}
	return a
}
