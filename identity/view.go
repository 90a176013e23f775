package identity

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

func newDirectory(employees map[string]*Employee, personas map[string]*Persona) *directory {
	d := &directory{employees: employees, personas: personas}
	d.indexEmployees()
	d.indexPersonas()
	return d
}

func (d *directory) indexEmployees() {
	n := 0
	for _, e := range d.employees {
		n += len(e.InsideAddrs)
	}
	d.inside = make(map[Address]*Employee, n)
	for _, e := range d.employees {
		for _, a := range e.InsideAddrs {
			d.inside[a] = e
		}
	}
}

func (d *directory) indexPersonas() {
	n := 0
	for _, p := range d.personas {
		n += len(p.Addresses)
	}
	d.byAddr = make(map[Address]*Persona, n)
	for _, p := range d.personas {
		for _, a := range p.Addresses {
			d.byAddr[a] = p
		}
	}
}

// with returns d with the given new versions of employees and personas;
// maps that do not change are shared.
func (d *directory) with(employees map[string]*Employee, personas map[string]*Persona) *directory {
	n := *d
	if len(employees) > 0 {
		n.employees = make(map[string]*Employee, len(d.employees)+len(employees))
		for id, e := range d.employees {
			n.employees[id] = e
		}
		for id, e := range employees {
			n.employees[id] = e
		}
		n.indexEmployees()
	}
	if len(personas) > 0 {
		n.personas = make(map[string]*Persona, len(d.personas)+len(personas))
		for id, p := range d.personas {
			n.personas[id] = p
		}
		for id, p := range personas {
			n.personas[id] = p
		}
		n.indexPersonas()
	}
	return &n
}

// pageArrayOf returns the pages of a hashed table as an array.
func pageArrayOf[T any](l *layout, pages []*page[T]) *pageArray[T] {
	a := new(pageArray[T])
	for _, p := range pages {
		a[l.bucketOfKey(p.key)] = p
	}
	return a
}
