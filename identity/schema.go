package identity

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"

	memdb "github.com/hashicorp/go-memdb"
)

// The memdb schema: every table and index State uses is defined here.
//
// Employees and personas are few (hundreds) and are stored one record per
// row, indexed by ID and by address. Their address indexes are multi-indexes
// declared unique; memdb does not enforce uniqueness (an insert overwrites),
// so the write path checks for conflicts before it inserts.
//
// Contacts and relationships are many (a million is a normal size), and a
// go-memdb index entry costs about 500 bytes (each radix node and leaf
// carries its own watch channel) and 1.3–3.5 µs to insert (measured here).
// With the five entries per relationship that one row per record would need
// (contact by ID and by address; relationship by ID, by route and by
// owner), a million relationships would take about 2.8 KiB each and over
// ten seconds to load, against budgets of 1 KiB and five seconds. So these
// records are stored in pages: each row of a paged table is an immutable
// slice of record pointers, and memdb indexes the pages (one key per page,
// not per record). A change copies the pages it touches (about 250
// pointers each at a million records) inside the same memdb transaction as
// everything else, so snapshots and atomicity are exactly memdb's. Each
// access path is one paged table:
//
//	contacts               contacts by ID             page = hash(contact ID)
//	contact_addrs          contacts by address        page = hash(network, address)
//	relationships          relationships by ID        page = hash(relationship ID)
//	contact_relationships  relationships by contact   page = hash(contact ID)
//	owner_relationships    relationships by owner     page = owner ID, hash(relationship ID) % 64
//	source_relationships   relationships by source    page = contact's source, hash(relationship ID) % 64
//	network_relationships  relationships by network   page = contact's network, hash(relationship ID) % 64
//
// Routing (which relationship a contact reaches by writing to a persona)
// scans the contact's few relationships in contact_relationships; the write
// path keeps each (contact, persona) route unique, so there is no route
// index to keep (memdb would not enforce its uniqueness anyway). Merged
// relationships are kept in relationships and contact_relationships
// (history) but not in owner_relationships: they own nothing.
//
// The source and network tables serve searches by the contact's source or
// network, which would otherwise read every relationship and its contact.
// Like the owner table they leave merged relationships out; contacts
// without a source are not in the source table. A contact never changes
// (contacts are only added) and a relationship never changes contact, so
// a relationship stays in the same source and network pages for life.
//
// Page keys of hashed tables are four hex digits; the hash is seeded per
// State, so page layout differs between processes and cannot be aimed at
// by crafted addresses. Pages of hashed tables also hold a 32-bit
// fingerprint of each record's key, so a lookup scans a small array and
// dereferences one record instead of chasing a pointer per comparison.
const (
	tableEmployees            = "employees"
	tablePersonas             = "personas"
	tableContacts             = "contacts"
	tableContactAddrs         = "contact_addrs"
	tableRelationships        = "relationships"
	tableContactRelationships = "contact_relationships"
	tableOwnerRelationships   = "owner_relationships"
	tableSourceRelationships  = "source_relationships"
	tableNetworkRelationships = "network_relationships"

	indexID     = "id"
	indexInside = "inside" // employees by inside address
	indexAddr   = "addr"   // personas by outside address

	// hashPages is the number of pages of each hashed table: at a million
	// records a page holds about 250 (2 KiB of pointers to copy on change),
	// and the memdb index over the pages is small (4,096 keys per table).
	// Measured at a million relationships, 2^12 pages made bulk transfers
	// and lookups faster than 2^14 (fewer, denser radix nodes to touch).
	hashPages = 1 << 12
	// ownerPages is the number of pages each owner's relationships are
	// spread over, so that adding one relationship to a big owner (the
	// unassigned pool may hold hundreds of thousands) copies a page of a
	// few thousand pointers at worst, not the whole list.
	ownerPages = 1 << 6
)

func newSchema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableEmployees: {
			Name: tableEmployees,
			Indexes: map[string]*memdb.IndexSchema{
				indexID:     {Name: indexID, Unique: true, Indexer: stringIndex[Employee](func(e *Employee) string { return e.ID })},
				indexInside: {Name: indexInside, Unique: true, Indexer: addrIndex[Employee](func(e *Employee) []Address { return e.InsideAddrs })},
			},
		},
		tablePersonas: {
			Name: tablePersonas,
			Indexes: map[string]*memdb.IndexSchema{
				indexID:   {Name: indexID, Unique: true, Indexer: stringIndex[Persona](func(p *Persona) string { return p.ID })},
				indexAddr: {Name: indexAddr, Unique: true, Indexer: addrIndex[Persona](func(p *Persona) []Address { return p.Addresses })},
			},
		},
		tableContacts:             pagedSchema(tableContacts),
		tableContactAddrs:         pagedSchema(tableContactAddrs),
		tableRelationships:        pagedSchema(tableRelationships),
		tableContactRelationships: pagedSchema(tableContactRelationships),
		tableOwnerRelationships:   pagedSchema(tableOwnerRelationships),
		tableSourceRelationships:  pagedSchema(tableSourceRelationships),
		tableNetworkRelationships: pagedSchema(tableNetworkRelationships),
	}}
}

func pagedSchema(name string) *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: name,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {Name: indexID, Unique: true, Indexer: pageIndex{}},
		},
	}
}

// stringIndex indexes a string field of *T, NUL-terminated so that an exact
// lookup of "ab" does not match "abc".
type stringIndex[T any] func(*T) string

func (f stringIndex[T]) FromObject(o any) (bool, []byte, error) {
	v, ok := o.(*T)
	if !ok {
		return false, nil, fmt.Errorf("identity: index wants %T, got %T", v, o)
	}
	s := f(v)
	if s == "" {
		return false, nil, nil
	}
	return true, append([]byte(s), 0), nil
}

func (f stringIndex[T]) FromArgs(args ...any) ([]byte, error) {
	s, err := oneString(args)
	if err != nil {
		return nil, err
	}
	return append([]byte(s), 0), nil
}

// addrIndex indexes the addresses of *T as "network NUL address NUL".
type addrIndex[T any] func(*T) []Address

func (f addrIndex[T]) FromObject(o any) (bool, [][]byte, error) {
	v, ok := o.(*T)
	if !ok {
		return false, nil, fmt.Errorf("identity: index wants %T, got %T", v, o)
	}
	l := f(v)
	if len(l) == 0 {
		return false, nil, nil
	}
	keys := make([][]byte, len(l))
	for i, a := range l {
		keys[i] = append([]byte(addrKey(a)), 0)
	}
	return true, keys, nil
}

func (f addrIndex[T]) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("identity: index wants one Address, got %d arguments", len(args))
	}
	a, ok := args[0].(Address)
	if !ok {
		return nil, fmt.Errorf("identity: index wants an Address, got %T", args[0])
	}
	return append([]byte(addrKey(a)), 0), nil
}

// pageIndex indexes pages by key. Keys need no terminator: hashed page
// keys all have the same length, and owner page keys end in NUL and two hex
// digits.
type pageIndex struct{}

type keyed interface{ pageKey() string }

func (pageIndex) FromObject(o any) (bool, []byte, error) {
	p, ok := o.(keyed)
	if !ok {
		return false, nil, fmt.Errorf("identity: page index got %T", o)
	}
	return true, []byte(p.pageKey()), nil
}

func (pageIndex) FromArgs(args ...any) ([]byte, error) {
	s, err := oneString(args)
	return []byte(s), err
}

func (pageIndex) PrefixFromArgs(args ...any) ([]byte, error) {
	s, err := oneString(args)
	return []byte(s), err
}

func oneString(args []any) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("identity: index wants one string, got %d arguments", len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return "", fmt.Errorf("identity: index wants a string, got %T", args[0])
	}
	return s, nil
}

// page is one row of a paged table. Pages are immutable once inserted.
// Pages of the owner table hold records in no particular order (lists are
// sorted when returned); pages of hashed tables hold them sorted by
// fingerprint (in no particular order among equal fingerprints).
type page[T any] struct {
	key   string
	items []*T
	// fps holds, for hashed tables, the upper 32 bits of the hash of each
	// item's lookup key, ascending, in the order of items. A lookup finds
	// the run of its fingerprint (see span) and dereferences only the items
	// in it.
	fps []uint32
}

func (p *page[T]) pageKey() string { return p.key }

// span returns the range [i, j) of the items of p whose fingerprint is fp.
// Fingerprints are uniformly distributed hash bits, so fp's run lies near
// the position fp is at in proportion to the 32-bit range: the search
// starts there and steps to it, touching a cache line or two of fps where
// a linear scan touches all of them (16 at 250 items) and a binary search
// five dependent ones. At worst (which the per-State hash seed keeps
// crafted keys from causing) it steps through the whole page.
func (p *page[T]) span(fp uint32) (int, int) {
	fps := p.fps
	n := len(fps)
	if n == 0 {
		return 0, 0
	}
	i := int(uint64(fp) * uint64(n) >> 32) // < n
	if fps[i] < fp {
		for i++; i < n && fps[i] < fp; i++ {
		}
	} else {
		for i > 0 && fps[i-1] >= fp {
			i--
		}
	}
	j := i
	for j < n && fps[j] == fp {
		j++
	}
	return i, j
}

// sortByFP sorts items and their fingerprints fps (parallel slices) by
// fingerprint. buf is scratch space, grown as needed and returned for
// reuse.
func sortByFP[T any](items []*T, fps []uint32, buf []fpItem[T]) []fpItem[T] {
	if len(items) < 2 {
		return buf
	}
	buf = buf[:0]
	for i, r := range items {
		buf = append(buf, fpItem[T]{fps[i], r})
	}
	slices.SortFunc(buf, func(a, b fpItem[T]) int { return cmp.Compare(a.fp, b.fp) })
	for i, e := range buf {
		fps[i], items[i] = e.fp, e.r
	}
	return buf
}

type fpItem[T any] struct {
	fp uint32
	r  *T
}

// layout maps records to pages. One per State, shared by its snapshots.
type layout struct {
	seed     maphash.Seed
	hashKeys [hashPages]string
	subKeys  [ownerPages]string
}

func newLayout() *layout {
	l := &layout{seed: maphash.MakeSeed()}
	for i := range l.hashKeys {
		l.hashKeys[i] = fmt.Sprintf("%04x", i)
	}
	for i := range l.subKeys {
		l.subKeys[i] = fmt.Sprintf("%02x", i)
	}
	return l
}

func (l *layout) hashString(s string) uint64 { return maphash.String(l.seed, s) }

func (l *layout) hashAddr(a Address) uint64 {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(a.Network)
	h.WriteByte(0)
	h.WriteString(a.Addr)
	return h.Sum64()
}

// hashBucket and fingerprint split a hash into a page number and the
// fingerprint stored in the page.
func hashBucket(h uint64) int     { return int(h & (hashPages - 1)) }
func fingerprint(h uint64) uint32 { return uint32(h >> 32) }

// bucketOfKey returns the bucket of a hashed page key (four hex digits).
func (l *layout) bucketOfKey(k string) int {
	n, err := strconv.ParseUint(k, 16, 16)
	if err != nil || n >= hashPages || l.hashKeys[n] != k {
		panic(fmt.Sprintf("identity: bad hashed page key %q", k))
	}
	return int(n)
}

func (l *layout) subIndex(relID string) int {
	return int((l.hashString(relID) >> 26) & (ownerPages - 1))
}

// ownerPrefix is the common prefix of an owner's page keys ("" is the
// unassigned pool).
func ownerPrefix(owner string) string { return owner + "\x00" }

// pagedTable describes one paged table. Hashed tables set hash (of the
// record's lookup key), which chooses the page. The owner table sets owner
// instead (ok=false: the record is not in the table). samePlace reports
// whether two versions of a record (both in the table) sit at the same
// place: the same page and, in hashed tables, the same fingerprint; a
// change between them replaces the record in place.
type pagedTable[T any] struct {
	name      string
	hash      func(l *layout, r *T) uint64
	owner     func(r *T) (owner, id string, ok bool)
	samePlace func(a, b *T) bool
}

// slot names a page: n is the bucket of a hashed table, or owner and
// sub-page n of the owner table.
type slot struct {
	owner string
	n     int
}

// slotOf returns r's page and, for hashed tables, its hash.
func (t *pagedTable[T]) slotOf(l *layout, r *T) (s slot, h uint64, ok bool) {
	if t.hash != nil {
		h = t.hash(l, r)
		return slot{n: hashBucket(h)}, h, true
	}
	owner, id, ok := t.owner(r)
	return slot{owner: owner, n: l.subIndex(id)}, 0, ok
}

// key returns the page key of slot s of table t.
func (t *pagedTable[T]) key(l *layout, s slot) string {
	if t.hash != nil {
		return l.hashKeys[s.n]
	}
	return ownerPrefix(s.owner) + l.subKeys[s.n]
}

func byContactID(a, b *Contact) int  { return strings.Compare(a.ID, b.ID) }
func byRelID(a, b *Relationship) int { return strings.Compare(a.ID, b.ID) }

// sortRelsByID sorts rels by ID. Bulk operations sort 100,000 at a time;
// comparing the IDs' first eight bytes as one integer, and the strings
// only on a tie, is about three times faster than comparing strings.
func sortRelsByID(rels []*Relationship) {
	if len(rels) < 256 {
		slices.SortFunc(rels, byRelID)
		return
	}
	keyed := make([]keyedRel, len(rels))
	for i, r := range rels {
		var k uint64
		for j := range 8 {
			k <<= 8
			if j < len(r.ID) {
				k |= uint64(r.ID[j])
			}
		}
		keyed[i] = keyedRel{k, r}
	}
	slices.SortFunc(keyed, func(a, b keyedRel) int {
		if a.k != b.k {
			return cmp.Compare(a.k, b.k)
		}
		return strings.Compare(a.r.ID, b.r.ID)
	})
	for i := range keyed {
		rels[i] = keyed[i].r
	}
}

type keyedRel struct {
	k uint64
	r *Relationship
}

var (
	contactsTable = pagedTable[Contact]{
		name:      tableContacts,
		hash:      func(l *layout, c *Contact) uint64 { return l.hashString(c.ID) },
		samePlace: func(a, b *Contact) bool { return a.ID == b.ID },
	}
	contactAddrsTable = pagedTable[Contact]{
		name:      tableContactAddrs,
		hash:      func(l *layout, c *Contact) uint64 { return l.hashAddr(c.Address) },
		samePlace: func(a, b *Contact) bool { return a.Address == b.Address },
	}
	relationshipsTable = pagedTable[Relationship]{
		name:      tableRelationships,
		hash:      func(l *layout, r *Relationship) uint64 { return l.hashString(r.ID) },
		samePlace: func(a, b *Relationship) bool { return a.ID == b.ID },
	}
	contactRelationshipsTable = pagedTable[Relationship]{
		name:      tableContactRelationships,
		hash:      func(l *layout, r *Relationship) uint64 { return l.hashString(r.ContactID) },
		samePlace: func(a, b *Relationship) bool { return a.ContactID == b.ContactID },
	}
	ownerRelationshipsTable = pagedTable[Relationship]{
		name: tableOwnerRelationships,
		owner: func(r *Relationship) (string, string, bool) {
			return r.OwnerID, r.ID, r.MergedInto == ""
		},
		samePlace: func(a, b *Relationship) bool {
			return a.OwnerID == b.OwnerID && a.ID == b.ID && a.MergedInto == "" && b.MergedInto == ""
		},
	}
)

// attrRelTable returns the table of unmerged relationships by attr of
// their contact (source or network), which contact looks up (see
// sourceRelationships and networkRelationships). Relationships whose
// contact has an empty attr, or is not found, are not in it.
func attrRelTable(name string, attr func(*Contact) string, contact func(id string) (*Contact, bool)) *pagedTable[Relationship] {
	return &pagedTable[Relationship]{
		name: name,
		owner: func(r *Relationship) (string, string, bool) {
			if r.MergedInto != "" {
				return "", "", false
			}
			c, ok := contact(r.ContactID)
			if !ok {
				return "", "", false
			}
			v := attr(c)
			return v, r.ID, v != ""
		},
		// A relationship's contact, and so its source and network, never
		// change.
		samePlace: func(a, b *Relationship) bool {
			return a.ID == b.ID && a.ContactID == b.ContactID && a.MergedInto == "" && b.MergedInto == ""
		},
	}
}

func contactSource(c *Contact) string  { return c.Source }
func contactNetwork(c *Contact) string { return c.Address.Network }

// must panics on errors memdb returns only for schema mistakes (unknown
// table or index, wrong argument type): those are bugs in this package, and
// tests exercise every query.
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("identity: memdb schema error: %v", err))
	}
	return v
}

// getPage returns page key of table t, or nil.
func getPage[T any](txn *memdb.Txn, t *pagedTable[T], key string) *page[T] {
	raw := must(txn.First(t.name, indexID, key))
	if raw == nil {
		return nil
	}
	return raw.(*page[T])
}

// pageCache reads pages of one table as of one committed state. Pages of
// hashed tables come from the state's page array (which holds the same
// pages as memdb); others from its memdb transaction, remembered: a bulk
// change reads many pages, most more than once, and each memdb read costs
// about a microsecond.
type pageCache[T any] struct {
	txn   *memdb.Txn
	l     *layout
	t     *pagedTable[T]
	arr   *pageArray[T] // hashed tables
	pages map[slot]*page[T]
}

// newPageCache reads table t through txn, or through arr (t's page array
// of the same state) if t is hashed.
func newPageCache[T any](txn *memdb.Txn, l *layout, t *pagedTable[T], arr *pageArray[T]) *pageCache[T] {
	c := &pageCache[T]{txn: txn, l: l, t: t}
	if t.hash != nil {
		c.arr = arr
	} else {
		c.pages = map[slot]*page[T]{}
	}
	return c
}

func (c *pageCache[T]) get(s slot) *page[T] {
	if c.arr != nil {
		return c.arr[s.n]
	}
	p, ok := c.pages[s]
	if !ok {
		p = getPage(c.txn, c.t, c.t.key(c.l, s))
		c.pages[s] = p
	}
	return p
}

// pageChanges collects changes to one paged table and writes each touched
// page once.
type pageChanges[T any] struct {
	t *pagedTable[T]
	l *layout
	// Touched pages of hashed tables: by bucket (a bulk change touches
	// most of them), or by slot for a few.
	dense  []*pageChange[T]
	sparse map[slot]*pageChange[T]
	// Touched pages of the owner table, by owner and sub-page. A bulk
	// change usually moves records between two owners: last caches the
	// last owner's pages, saving a map lookup (a string hash) per record.
	owners   map[string]*[ownerPages]*pageChange[T]
	lastName string
	last     *[ownerPages]*pageChange[T]
}

type pageChange[T any] struct {
	remove []*T     // committed versions leaving the page
	add    []*T     // versions entering it
	addFPs []uint32 // their fingerprints (hashed tables)
	// Records replaced in place (see pagedTable.samePlace): the committed
	// versions, their new versions and, for hashed tables, their
	// fingerprint.
	replOld, replNew []*T
	replFPs          []uint32
}

// newPageChanges prepares changes to table t; n is about how many records
// will change.
func newPageChanges[T any](t *pagedTable[T], l *layout, n int) *pageChanges[T] {
	c := &pageChanges[T]{t: t, l: l}
	switch {
	case t.hash == nil:
		c.owners = map[string]*[ownerPages]*pageChange[T]{}
	case n > hashPages/16:
		c.dense = make([]*pageChange[T], hashPages)
	default:
		c.sparse = map[slot]*pageChange[T]{}
	}
	return c
}

func (c *pageChanges[T]) page(s slot) *pageChange[T] {
	if c.owners != nil {
		if c.last == nil || c.lastName != s.owner {
			c.last = c.owners[s.owner]
			if c.last == nil {
				c.last = new([ownerPages]*pageChange[T])
				c.owners[s.owner] = c.last
			}
			c.lastName = s.owner
		}
		if c.last[s.n] == nil {
			c.last[s.n] = &pageChange[T]{}
		}
		return c.last[s.n]
	}
	if c.dense != nil {
		if c.dense[s.n] == nil {
			c.dense[s.n] = &pageChange[T]{}
		}
		return c.dense[s.n]
	}
	p := c.sparse[s]
	if p == nil {
		p = &pageChange[T]{}
		c.sparse[s] = p
	}
	return p
}

// replace records that old (nil: none) becomes new (nil: deleted). Each
// record may be replaced at most once per pageChanges, and old must be the
// committed version (the one in its page).
func (c *pageChanges[T]) replace(old, new *T) {
	if old != nil && new != nil && c.t.samePlace(old, new) {
		if s, h, ok := c.t.slotOf(c.l, old); ok {
			p := c.page(s)
			p.replOld = append(p.replOld, old)
			p.replNew = append(p.replNew, new)
			if c.t.hash != nil {
				p.replFPs = append(p.replFPs, fingerprint(h))
			}
		}
		return
	}
	if old != nil {
		if s, _, ok := c.t.slotOf(c.l, old); ok {
			p := c.page(s)
			p.remove = append(p.remove, old)
		}
	}
	if new != nil {
		if s, h, ok := c.t.slotOf(c.l, new); ok {
			p := c.page(s)
			p.add = append(p.add, new)
			if c.t.hash != nil {
				p.addFPs = append(p.addFPs, fingerprint(h))
			}
		}
	}
}

// write rewrites every touched page into the write transaction tx,
// reading the committed pages through base (which must see the state tx
// started from). Reading from tx itself would make memdb clone each index
// it has already modified. For hashed tables, arr (a private copy of the
// base snapshot's page array) is updated alike.
func (c *pageChanges[T]) write(base *pageCache[T], tx *memdb.Txn, arr *pageArray[T]) error {
	for n, ch := range c.dense {
		if ch != nil {
			if err := c.writePage(base, tx, slot{n: n}, ch, arr); err != nil {
				return err
			}
		}
	}
	for s, ch := range c.sparse {
		if err := c.writePage(base, tx, s, ch, arr); err != nil {
			return err
		}
	}
	for owner, pages := range c.owners {
		for n, ch := range pages {
			if ch != nil {
				if err := c.writePage(base, tx, slot{owner: owner, n: n}, ch, arr); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (c *pageChanges[T]) writePage(base *pageCache[T], tx *memdb.Txn, s slot, ch *pageChange[T], arr *pageArray[T]) error {
	old := base.get(s)
	p := c.merge(c.t.key(c.l, s), old, ch)
	var err error
	switch {
	case len(p.items) > 0:
		err = tx.Insert(c.t.name, p)
	case old != nil:
		err = tx.Delete(c.t.name, old)
	}
	if err != nil {
		return fmt.Errorf("identity: write %s page %q: %w", c.t.name, p.key, err)
	}
	if c.t.hash != nil {
		if len(p.items) > 0 {
			arr[s.n] = p
		} else {
			arr[s.n] = nil
		}
	}
	return nil
}

// merge returns page key with ch applied to old (nil: empty). Removals and
// replacements are found by pointer identity: they are the committed
// versions, which are the ones in the page.
func (c *pageChanges[T]) merge(key string, old *page[T], ch *pageChange[T]) *page[T] {
	if old == nil {
		old = &page[T]{}
	}
	if len(ch.replOld) > 0 {
		if len(ch.remove) == 0 && len(ch.add) == 0 {
			if p, ok := c.replaceInPlace(key, old, ch); ok {
				return p
			}
		}
		// Mixed with other changes: replacements are a removal and an
		// addition like any other.
		ch.remove = append(ch.remove, ch.replOld...)
		ch.add = append(ch.add, ch.replNew...)
		ch.addFPs = append(ch.addFPs, ch.replFPs...)
		ch.replOld, ch.replNew, ch.replFPs = nil, nil, nil
	}
	p := &page[T]{key: key}
	n := len(old.items) - len(ch.remove) + len(ch.add)
	if n <= 0 {
		return p
	}
	hashed := c.t.hash != nil
	p.items = make([]*T, 0, n)
	if hashed {
		p.fps = make([]uint32, 0, n)
	}
	if len(ch.remove) < len(old.items) { // else every old item leaves
		var gone func(*T) bool
		if len(ch.remove) <= 16 {
			gone = func(it *T) bool { return slices.Contains(ch.remove, it) }
		} else {
			set := make(map[*T]struct{}, len(ch.remove))
			for _, it := range ch.remove {
				set[it] = struct{}{}
			}
			gone = func(it *T) bool { _, ok := set[it]; return ok }
		}
		for i, it := range old.items {
			if len(ch.remove) > 0 && gone(it) {
				continue
			}
			p.items = append(p.items, it)
			if hashed {
				p.fps = append(p.fps, old.fps[i])
			}
		}
	}
	if !hashed {
		p.items = append(p.items, ch.add...)
		return p
	}
	// Merge the additions, sorted, into the kept items (sorted), from the
	// back.
	sortByFP(ch.add, ch.addFPs, nil)
	i, j := len(p.items)-1, len(ch.add)-1
	p.items = append(p.items, ch.add...) // the tail is overwritten below
	p.fps = append(p.fps, ch.addFPs...)
	for w := len(p.items) - 1; j >= 0; w-- {
		if i >= 0 && p.fps[i] > ch.addFPs[j] {
			p.items[w], p.fps[w] = p.items[i], p.fps[i]
			i--
		} else {
			p.items[w], p.fps[w] = ch.add[j], ch.addFPs[j]
			j--
		}
	}
	return p
}

// replaceInPlace returns a copy of old with the replacements of ch (its
// only changes) made. Positions and fingerprints do not change, so the
// copy shares old's fingerprints. It fails if a replaced record is not in
// old (which the write path never causes).
func (c *pageChanges[T]) replaceInPlace(key string, old *page[T], ch *pageChange[T]) (*page[T], bool) {
	p := &page[T]{key: key, items: slices.Clone(old.items), fps: old.fps}
	if c.t.hash != nil {
		for k, o := range ch.replOld {
			i, j := old.span(ch.replFPs[k])
			at := slices.Index(old.items[i:j], o)
			if at < 0 {
				return nil, false
			}
			p.items[i+at] = ch.replNew[k]
		}
		return p, true
	}
	// Owner pages are in no order.
	with := make(map[*T]*T, len(ch.replOld))
	for k, o := range ch.replOld {
		with[o] = ch.replNew[k]
	}
	n := 0
	for i, it := range p.items {
		if r, ok := with[it]; ok {
			p.items[i] = r
			n++
		}
	}
	return p, n == len(ch.replOld)
}

// buildPages groups records into the pages of table t, for loading:
// bucket(i, r) is the page number of r (records[i]) in [0, buckets) or -1 to leave r out (for
// hashed tables the hash decides and bucket is not used), and key(b) is the
// key of page b. All pages share one backing array, filled by counting
// sort, so building a million-record table allocates little. Pages come out
// in page number order; pages of hashed tables are sorted by fingerprint.
func buildPages[T any](l *layout, t *pagedTable[T], records []*T, buckets int,
	bucket func(i int, r *T) int, key func(b int) string) []*page[T] {
	var hashes []uint64
	if t.hash != nil {
		hashes = make([]uint64, len(records))
		for i, r := range records {
			hashes[i] = t.hash(l, r)
		}
	}
	of := make([]int32, len(records))
	start := make([]int, buckets+1)
	for i, r := range records {
		var b int
		if hashes != nil {
			b = hashBucket(hashes[i])
		} else {
			b = bucket(i, r)
		}
		of[i] = int32(b)
		if b >= 0 {
			start[b+1]++
		}
	}
	nonEmpty := 0
	for b := range buckets {
		if start[b+1] > 0 {
			nonEmpty++
		}
		start[b+1] += start[b]
	}
	all := make([]*T, start[buckets])
	var fps []uint32
	if hashes != nil {
		fps = make([]uint32, start[buckets])
	}
	next := slices.Clone(start[:buckets])
	for i, r := range records {
		if b := of[i]; b >= 0 {
			all[next[b]] = r
			if fps != nil {
				fps[next[b]] = fingerprint(hashes[i])
			}
			next[b]++
		}
	}
	pages := make([]*page[T], 0, nonEmpty)
	var buf []fpItem[T]
	for b := range buckets {
		lo, hi := start[b], start[b+1]
		if lo == hi {
			continue
		}
		p := &page[T]{key: key(b), items: all[lo:hi:hi]}
		if fps != nil {
			p.fps = fps[lo:hi:hi]
			buf = sortByFP(p.items, p.fps, buf)
		}
		pages = append(pages, p)
	}
	return pages
}
