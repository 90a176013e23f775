package identity

import (
	"fmt"
	"slices"
	"strings"
)

// normalizeFilter validates f and returns it in the form it is applied and
// recorded in: tag and network normalised, ID lists sorted without
// duplicates (and not shared with the caller).
func normalizeFilter(f RelationshipFilter) (RelationshipFilter, error) {
	if f.PersonaID != "" {
		if err := checkID("persona", f.PersonaID); err != nil {
			return f, err
		}
	}
	if f.Tag != "" {
		t, err := normalizeTag(f.Tag)
		if err != nil {
			return f, err
		}
		f.Tag = t
	}
	if err := checkText("source", f.Source); err != nil {
		return f, err
	}
	f.Network = strings.ToLower(strings.TrimSpace(f.Network))
	if err := checkText("network", f.Network); err != nil {
		return f, err
	}
	var err error
	if f.ContactIDs, err = normalizeIDs("contact", f.ContactIDs); err != nil {
		return f, err
	}
	if f.RelationshipIDs, err = normalizeIDs("relationship", f.RelationshipIDs); err != nil {
		return f, err
	}
	return f, nil
}

func normalizeIDs(kind string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	for _, id := range ids {
		if err := checkID(kind, id); err != nil {
			return nil, err
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(ids))), nil
}

// empty reports whether f selects nothing by itself.
func (f *RelationshipFilter) empty() bool {
	return !f.Unassigned && f.PersonaID == "" && f.Tag == "" && f.Source == "" && f.Network == "" &&
		len(f.ContactIDs) == 0 && len(f.RelationshipIDs) == 0
}

// relMatcher applies a normalised filter (and an owner) to relationships.
type relMatcher struct {
	f        *RelationshipFilter
	owner    string
	byOwner  bool
	contacts map[string]bool
	rels     map[string]bool
	// contact looks up a relationship's contact, for Source and Network.
	contact func(id string) (*Contact, bool)
}

func newRelMatcher(owner string, f *RelationshipFilter, contact func(string) (*Contact, bool)) *relMatcher {
	m := &relMatcher{f: f, owner: owner, byOwner: owner != "" || f.Unassigned, contact: contact}
	if len(f.ContactIDs) > 0 {
		m.contacts = make(map[string]bool, len(f.ContactIDs))
		for _, id := range f.ContactIDs {
			m.contacts[id] = true
		}
	}
	if len(f.RelationshipIDs) > 0 {
		m.rels = make(map[string]bool, len(f.RelationshipIDs))
		for _, id := range f.RelationshipIDs {
			m.rels[id] = true
		}
	}
	return m
}

func (m *relMatcher) match(r *Relationship) bool {
	f := m.f
	if r.MergedInto != "" ||
		(m.byOwner && r.OwnerID != m.owner) ||
		(f.PersonaID != "" && r.PersonaID != f.PersonaID) ||
		(m.rels != nil && !m.rels[r.ID]) ||
		(m.contacts != nil && !m.contacts[r.ContactID]) ||
		(f.Tag != "" && !hasTag(r.Tags, f.Tag)) {
		return false
	}
	if f.Source != "" || f.Network != "" {
		c, ok := m.contact(r.ContactID)
		if !ok || (f.Source != "" && c.Source != f.Source) || (f.Network != "" && c.Address.Network != f.Network) {
			return false
		}
	}
	return true
}

// selectRels returns the current versions of the relationships owned by
// from ("" for any owner) that match f (normalised), sorted by ID. Every
// contact and relationship f names must exist, and named relationships
// must not be merged.
func (b *batch) selectRels(from string, f RelationshipFilter) ([]*Relationship, error) {
	for _, id := range f.ContactIDs {
		if _, ok := b.contact(id); !ok {
			return nil, fmt.Errorf("%w: contact %s", ErrNotFound, id)
		}
	}
	var cand []*Relationship
	for _, id := range f.RelationshipIDs {
		r, ok := b.rel(id)
		if !ok {
			return nil, fmt.Errorf("%w: relationship %s", ErrNotFound, id)
		}
		if r.MergedInto != "" {
			return nil, fmt.Errorf("%w: relationship %s was merged into %s; select that one", ErrInvalid, id, r.MergedInto)
		}
		cand = append(cand, r)
	}
	// Start from the smallest candidate set the filter allows.
	switch {
	case len(f.RelationshipIDs) > 0:
	case len(f.ContactIDs) > 0:
		for _, id := range f.ContactIDs {
			b.eachRelOfContact(id, func(r *Relationship) bool {
				cand = append(cand, r)
				return true
			})
		}
	case from != "" || f.Unassigned:
		cand = b.relsOwnedBy(from)
	default:
		cand = b.allRels()
	}
	m := newRelMatcher(from, &f, b.contact)
	out := cand[:0]
	for _, r := range cand {
		if m.match(r) {
			out = append(out, r)
		}
	}
	if !slices.IsSortedFunc(out, byRelID) {
		sortRelsByID(out)
	}
	return out, nil
}

// allRels returns the current version of every relationship, in no
// particular order.
func (b *batch) allRels() []*Relationship {
	out := make([]*Relationship, 0, b.base.RelationshipCount()+len(b.rels))
	b.base.eachRel(func(r *Relationship) {
		if ch, ok := b.rels[r.ID]; ok {
			r = ch.new
		}
		out = append(out, r)
	})
	for _, l := range b.newRels {
		out = append(out, l...)
	}
	return out
}

// eachRel calls fn with every relationship, merged ones included, in no
// particular order.
func (sn *Snapshot) eachRel(fn func(*Relationship)) {
	for _, p := range sn.rels {
		if p != nil {
			for _, r := range p.items {
				fn(r)
			}
		}
	}
}
