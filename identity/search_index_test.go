package identity

import (
	"context"
	"slices"
	"testing"
)

// TestSearchBySourceAndNetwork checks searches by source and by network
// (answered from the source and network tables) against a brute-force
// filter of every relationship, after loading and after each kind of
// change: new contacts and relationships, a transfer that merges, tags,
// a revert that unmerges, a departure.
func TestSearchBySourceAndNetwork(t *testing.T) {
	ds := consoleDataset(3000, 10)
	m := NewMemoryStore()
	m.Seed(ds)
	s, err := Open(context.Background(), m, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	check := func(step string) {
		t.Helper()
		sn := s.Snapshot()
		all := sn.Relationships()
		contactOf := func(r *Relationship) *Contact {
			c, ok := sn.Contact(r.ContactID)
			if !ok {
				t.Fatalf("%s: relationship %s: no contact %s", step, r.ID, r.ContactID)
			}
			return c
		}
		// The tables hold exactly the current, unmerged relationships of
		// each value.
		for _, tc := range []struct {
			table string
			attr  func(*Contact) string
		}{{tableSourceRelationships, contactSource}, {tableNetworkRelationships, contactNetwork}} {
			want := map[string][]string{}
			for _, r := range all {
				if v := tc.attr(contactOf(r)); r.MergedInto == "" && v != "" {
					want[v] = append(want[v], r.ID)
				}
			}
			for v, ids := range want {
				var got []string
				sn.eachWithAttr(tc.table, v, func(r *Relationship) {
					if cur, _ := sn.Relationship(r.ID); cur != r {
						t.Fatalf("%s: %s %q holds a stale version of %s", step, tc.table, v, r.ID)
					}
					got = append(got, r.ID)
				})
				slices.Sort(got)
				if !slices.Equal(got, ids) {
					t.Fatalf("%s: %s %q: %d relationships, want %d", step, tc.table, v, len(got), len(ids))
				}
			}
		}
		queries := []RelationshipQuery{
			{Filter: RelationshipFilter{Source: "expo2026"}},
			{Filter: RelationshipFilter{Source: "fair"}},
			{Filter: RelationshipFilter{Source: "nowhere"}},
			{Filter: RelationshipFilter{Source: "expo"}},
			{Filter: RelationshipFilter{Network: "mail"}},
			{Filter: RelationshipFilter{Network: " Public-XMPP "}},
			{Filter: RelationshipFilter{Network: "irc"}},
			{Filter: RelationshipFilter{Source: "inbound", Network: "mail"}},
			{Filter: RelationshipFilter{Source: "fair", Tag: "vip"}},
			{Filter: RelationshipFilter{Network: "mail", PersonaID: "p-emp-0002"}},
			{Filter: RelationshipFilter{Source: "outreach"}, ActiveAfter: consoleNow.AddDate(0, 0, -30)},
			{Filter: RelationshipFilter{Network: "mail"}, Owners: []string{"emp-0001", "emp-0002"}},
			{OwnerID: "emp-0002", Filter: RelationshipFilter{Source: "fair"}},
			{Filter: RelationshipFilter{Network: "mail", Unassigned: true}},
		}
		for _, q := range queries {
			f, err := normalizeFilter(q.Filter)
			if err != nil {
				t.Fatal(err)
			}
			var want []*Relationship
			for _, r := range all {
				c := contactOf(r)
				if r.MergedInto == "" && (f.Source == "" || c.Source == f.Source) && (f.Network == "" || c.Address.Network == f.Network) &&
					(f.Tag == "" || slices.Contains(r.Tags, f.Tag)) && (f.PersonaID == "" || r.PersonaID == f.PersonaID) &&
					(q.OwnerID == "" || r.OwnerID == q.OwnerID) && (!f.Unassigned || r.OwnerID == "") &&
					(q.Owners == nil || slices.Contains(q.Owners, r.OwnerID)) &&
					(q.ActiveAfter.IsZero() || !r.LastActivity.Before(q.ActiveAfter)) {
					want = append(want, r)
				}
			}
			for _, order := range []SearchOrder{ByID, ByLastActivity} {
				q.Order = order
				w := slices.Clone(want)
				if order == ByLastActivity {
					slices.SortFunc(w, byLastActivity)
				}
				for _, page := range [][2]int{{0, 50}, {0, 1}, {7, 13}, {len(w) - 5, 50}, {0, MaxSearchLimit}, {maxTopK + 1, 50}} {
					q.Offset, q.Limit = max(page[0], 0), page[1]
					res, err := sn.SearchRelationships(q)
					if err != nil {
						t.Fatal(err)
					}
					lo, hi := min(q.Offset, len(w)), min(q.Offset+q.Limit, len(w))
					if res.Total != len(w) || len(res.Items) != hi-lo {
						t.Fatalf("%s: %+v page %v: %d items of %d, want %d of %d", step, q, page, len(res.Items), res.Total, hi-lo, len(w))
					}
					for i, it := range res.Items {
						if it.Relationship != w[lo+i] || it.Contact == nil || it.Contact.ID != it.Relationship.ContactID {
							t.Fatalf("%s: %+v page %v: item %d is %s, want %s", step, q, page, i, it.Relationship.ID, w[lo+i].ID)
						}
					}
				}
			}
		}
	}

	check("loaded")
	// A new contact with a new source, and a second relationship of it.
	newRel := func(addr, persona, owner, source string) *Relationship {
		t.Helper()
		r, _, created, err := s.EnsureRelationship(ctx, NewRelationship{
			Contact: Address{Network: "mail", Addr: addr}, Source: source, PersonaID: persona, OwnerID: owner})
		if err != nil || !created {
			t.Fatalf("ensure %s on %s: created %v, %v", addr, persona, created, err)
		}
		return r
	}
	newRel("new1@fair.example", "p-emp-0001", "emp-0001", "fair")
	newRel("new1@fair.example", "p-emp-0002", "emp-0002", "fair")
	newRel("new2@fair.example", "p-emp-0001", "emp-0001", "")
	check("new contacts")
	if _, err := s.SetTags(ctx, "a", "r", newRel("new3@fair.example", "p-emp-0001", "", "fair").ID, []string{"vip"}); err != nil {
		t.Fatal(err)
	}
	check("tags")
	// Moving emp-0001's relationships to emp-0002 re-homes them onto
	// p-emp-0002, which merges new1's relationship on p-emp-0001 into the
	// one on p-emp-0002.
	tr, err := s.Transfer(ctx, TransferRequest{Actor: "a", Reason: "r", From: "emp-0001", To: "emp-0002"})
	if err != nil {
		t.Fatal(err)
	}
	merged := 0
	for _, r := range s.Snapshot().Relationships() {
		if r.MergedInto != "" {
			merged++
		}
	}
	if merged == 0 {
		t.Fatal("the transfer merged nothing")
	}
	check("transfer")
	if _, err := s.RevertTransfer(ctx, "a", "r", tr.ID); err != nil {
		t.Fatal(err)
	}
	check("revert")
	if _, err := s.Depart(ctx, "a", "r", "emp-0003", ""); err != nil {
		t.Fatal(err)
	}
	check("depart")
	if _, err := s.Transfer(ctx, TransferRequest{Actor: "a", Reason: "r", Filter: RelationshipFilter{Network: "mail"}, To: "emp-0004"}); err != nil {
		t.Fatal(err)
	}
	check("transfer by network")

	// Reopening loads the same tables.
	s2, err := Open(ctx, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	s = s2
	check("reopened")
}
