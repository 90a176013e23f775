package identity

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// SearchOrder orders search results.
type SearchOrder string

// Search orders.
const (
	// ByID orders by relationship ID: arbitrary but stable, so pages of a
	// result do not overlap while nothing changes.
	ByID SearchOrder = ""
	// ByLastActivity puts the most recently active first (never active
	// last), ties by relationship ID.
	ByLastActivity SearchOrder = "last-activity"
)

// Search limits.
const (
	DefaultSearchLimit = 100
	MaxSearchLimit     = 10000
)

// RelationshipQuery selects relationships for SearchRelationships. Set
// fields combine with AND; zero fields do not filter. Merged relationships
// (history only) are never listed.
type RelationshipQuery struct {
	// OwnerID matches relationships owned by this employee (for the
	// unassigned pool, set Filter.Unassigned instead).
	OwnerID string `json:"owner_id,omitempty"`
	// Owners, if not empty, matches only relationships owned by one of
	// these employees (with OwnerID too: both must hold). What a team
	// lead may see is their team's relationships.
	Owners []string `json:"owners,omitempty"`
	// Filter holds the criteria shared with transfers. IDs it names that
	// do not exist simply match nothing.
	Filter RelationshipFilter `json:"filter,omitzero"`
	// ActiveAfter matches relationships whose LastActivity is at or after
	// it; ActiveBefore those whose LastActivity is before it, including
	// those never active ("idle since").
	ActiveAfter  time.Time `json:"active_after,omitzero"`
	ActiveBefore time.Time `json:"active_before,omitzero"`
	// Order of the results.
	Order SearchOrder `json:"order,omitempty"`
	// Offset skips that many results; Limit caps how many are returned
	// (0: DefaultSearchLimit; at most MaxSearchLimit).
	Offset int `json:"offset,omitempty"`
	Limit  int `json:"limit,omitempty"`
}

// RelationshipView is a relationship with its contact.
type RelationshipView struct {
	Relationship *Relationship `json:"relationship"`
	Contact      *Contact      `json:"contact"`
}

// SearchResult is one page of a search.
type SearchResult struct {
	// Total is how many relationships matched, over all pages.
	Total int `json:"total"`
	// Items are the matches from Offset on, at most Limit of them.
	Items []RelationshipView `json:"items"`
}

// SearchRelationships returns the relationships matching q, in q.Order.
// It starts from the relationships, contacts or owners named, else from
// the relationships of the source or network asked for (the source and
// network tables), and without any of these it scans every relationship
// (about a hundred milliseconds at a million). Errors: ErrInvalid
// (an invalid tag, a negative offset, OwnerID with Filter.Unassigned).
func (sn *Snapshot) SearchRelationships(q RelationshipQuery) (*SearchResult, error) {
	f, err := normalizeFilter(q.Filter)
	if err == nil && q.OwnerID != "" && f.Unassigned {
		err = fmt.Errorf("%w: relationships owned by %s are not in the unassigned pool", ErrInvalid, q.OwnerID)
	}
	if err == nil && q.Offset < 0 {
		err = fmt.Errorf("%w: negative offset %d", ErrInvalid, q.Offset)
	}
	if err == nil && q.Order != ByID && q.Order != ByLastActivity {
		err = fmt.Errorf("%w: unknown order %q", ErrInvalid, q.Order)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: search relationships: %w", err)
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = DefaultSearchLimit
	case limit > MaxSearchLimit:
		limit = MaxSearchLimit
	}

	m := newRelMatcher(q.OwnerID, &f, sn.Contact)
	var owners map[string]bool
	if len(q.Owners) > 0 {
		owners = make(map[string]bool, len(q.Owners))
		for _, o := range q.Owners {
			owners[o] = true
		}
	}
	order := byRelID
	if q.Order == ByLastActivity {
		order = byLastActivity
	}
	// The first pages (the console's) keep only the first Offset+Limit
	// matches in a heap, and count the others: no list of all the matches
	// to sort, which costs more than the scan at hundreds of thousands.
	var out []*Relationship
	total := 0
	keep := q.Offset + limit
	top := q.Offset <= maxTopK && keep <= maxTopK
	add := func(r *Relationship) {
		if m.match(r) && (owners == nil || owners[r.OwnerID]) &&
			(q.ActiveAfter.IsZero() || !r.LastActivity.Before(q.ActiveAfter)) &&
			(q.ActiveBefore.IsZero() || r.LastActivity.Before(q.ActiveBefore)) {
			total++
			switch {
			case !top:
				out = append(out, r)
			case len(out) < keep:
				out = append(out, r)
				heapUp(out, len(out)-1, order)
			case order(r, out[0]) < 0:
				out[0] = r
				heapDown(out, order)
			}
		}
	}
	switch {
	case len(f.RelationshipIDs) > 0:
		for _, id := range f.RelationshipIDs {
			if r, ok := sn.Relationship(id); ok {
				add(r)
			}
		}
	case len(f.ContactIDs) > 0:
		for _, id := range f.ContactIDs {
			for _, r := range sn.contactRelSpan(id) {
				if r.ContactID == id {
					add(r)
				}
			}
		}
	case q.OwnerID != "" || f.Unassigned:
		sn.eachOwned(q.OwnerID, add)
	case owners != nil:
		for o := range owners {
			if o != "" {
				sn.eachOwned(o, add)
			}
		}
	case f.Source != "" || f.Network != "":
		// The source or network table holds exactly the unmerged
		// relationships with that source or network: the matcher need not
		// check it again (nor read the contact for it).
		g := f
		table, value := tableSourceRelationships, f.Source
		if f.Source != "" {
			g.Source = ""
		} else {
			table, value = tableNetworkRelationships, f.Network
			g.Network = ""
		}
		m = newRelMatcher(q.OwnerID, &g, sn.Contact)
		sn.eachWithAttr(table, value, add)
	default:
		sn.eachRel(add)
	}
	switch {
	case q.Order == ByLastActivity || top:
		slices.SortFunc(out, order)
	default:
		sortRelsByID(out)
	}
	res := &SearchResult{Total: total, Items: []RelationshipView{}}
	if q.Offset >= len(out) {
		return res, nil
	}
	out = out[q.Offset:min(len(out), q.Offset+limit)]
	res.Items = make([]RelationshipView, len(out))
	for i, r := range out {
		res.Items[i].Relationship = r
		res.Items[i].Contact, _ = sn.Contact(r.ContactID)
	}
	return res, nil
}

// maxTopK is the most matches a search keeps in a heap (see
// SearchRelationships) rather than in a list it sorts: the first pages.
const maxTopK = 4096

// byLastActivity orders relationships by ByLastActivity: the most
// recently active first, ties by ID.
func byLastActivity(a, b *Relationship) int {
	if c := b.LastActivity.Compare(a.LastActivity); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// heapUp and heapDown keep h a heap whose first item is the last in
// order: heapUp after appending item i, heapDown after replacing the
// first.
func heapUp(h []*Relationship, i int, order func(a, b *Relationship) int) {
	for i > 0 {
		p := (i - 1) / 2
		if order(h[p], h[i]) >= 0 {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func heapDown(h []*Relationship, order func(a, b *Relationship) int) {
	for i := 0; ; {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && order(h[c+1], h[c]) > 0 {
			c++
		}
		if order(h[i], h[c]) >= 0 {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// eachOwned calls fn with each relationship owned by employeeID ("": the
// unassigned pool), in no particular order.
func (sn *Snapshot) eachOwned(employeeID string, fn func(*Relationship)) {
	it := must(sn.txn.Get(tableOwnerRelationships, indexID+"_prefix", ownerPrefix(employeeID)))
	for raw := it.Next(); raw != nil; raw = it.Next() {
		for _, r := range raw.(*page[Relationship]).items {
			fn(r)
		}
	}
}

// eachWithAttr calls fn with each unmerged relationship whose contact has
// source (table tableSourceRelationships) or network
// (tableNetworkRelationships) value, in no particular order.
func (sn *Snapshot) eachWithAttr(table, value string, fn func(*Relationship)) {
	prefix := ownerPrefix(value)
	it := must(sn.txn.Get(table, indexID+"_prefix", prefix))
	for raw := it.Next(); raw != nil; raw = it.Next() {
		p := raw.(*page[Relationship])
		// Only value's own pages: prefix + a sub-page key, not those of a
		// longer value that starts with prefix.
		if len(p.key) != len(prefix)+len(sn.l.subKeys[0]) {
			continue
		}
		for _, r := range p.items {
			fn(r)
		}
	}
}

// OwnedCount returns how many relationships employeeID owns ("": how many
// are in the unassigned pool), without listing them.
func (sn *Snapshot) OwnedCount(employeeID string) int {
	n := 0
	it := must(sn.txn.Get(tableOwnerRelationships, indexID+"_prefix", ownerPrefix(employeeID)))
	for raw := it.Next(); raw != nil; raw = it.Next() {
		n += len(raw.(*page[Relationship]).items)
	}
	return n
}

// OwnedBy reports whether employeeID currently owns the relationship (and
// it is not merged): what a caller checks before letting an employee
// annotate a relationship. An empty employeeID owns nothing.
func (sn *Snapshot) OwnedBy(relationshipID, employeeID string) bool {
	r, ok := sn.Relationship(relationshipID)
	return ok && employeeID != "" && r.OwnerID == employeeID && r.MergedInto == ""
}
