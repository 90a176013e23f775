package identity

import (
	"slices"
	"testing"
	"time"
)

func TestSearchRelationships(t *testing.T) {
	w := newFilterWorld(t)
	base := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	// r1 active at base, r2 an hour later, r4 two hours later; r3, r5 never.
	w.must(w.s.TouchRelationships(w.ctx, map[string]time.Time{
		w.r["r1"].ID: base, w.r["r2"].ID: base.Add(time.Hour), w.r["r4"].ID: base.Add(2 * time.Hour)}))
	// A merged relationship is never listed: x@ext.test's alice
	// relationship merges into bob's.
	merged := w.ensure("x@ext.test", "p-alice", "erin")
	w.r["x"] = w.ensure("x@ext.test", "p-bob", "bob")
	tr, err := w.s.Transfer(w.ctx, TransferRequest{Actor: "a", Reason: "r", Filter: RelationshipFilter{RelationshipIDs: []string{merged.ID}}, To: "bob"})
	w.must(err)
	if tr.Counts.Merged != 1 {
		t.Fatalf("setup: %+v", tr.Counts)
	}

	for _, tc := range []struct {
		name string
		q    func(w *filterWorld) RelationshipQuery
		want []string // in order
	}{
		{name: "everything", q: func(*filterWorld) RelationshipQuery { return RelationshipQuery{} },
			want: nil}, // filled below: every unmerged one, by ID
		{name: "owner", q: func(*filterWorld) RelationshipQuery { return RelationshipQuery{OwnerID: "alice"} },
			want: []string{"r1", "r2", "r3"}},
		{name: "unassigned", q: func(*filterWorld) RelationshipQuery {
			return RelationshipQuery{Filter: RelationshipFilter{Unassigned: true}}
		}, want: []string{"r5"}},
		{name: "tag", q: func(*filterWorld) RelationshipQuery { return RelationshipQuery{Filter: RelationshipFilter{Tag: "VIP"}} },
			want: []string{"r1", "r2", "r4"}},
		{name: "owner, persona", q: func(*filterWorld) RelationshipQuery {
			return RelationshipQuery{OwnerID: "alice", Filter: RelationshipFilter{PersonaID: "p-support"}}
		}, want: []string{"r2"}},
		{name: "source", q: func(*filterWorld) RelationshipQuery {
			return RelationshipQuery{Filter: RelationshipFilter{Source: "web"}}
		},
			want: []string{"r3"}},
		{name: "network", q: func(*filterWorld) RelationshipQuery {
			return RelationshipQuery{Filter: RelationshipFilter{Network: "mail"}}
		},
			want: []string{"r3"}},
		{name: "contact", q: func(w *filterWorld) RelationshipQuery {
			return RelationshipQuery{Filter: RelationshipFilter{ContactIDs: []string{merged.ContactID, "c-unknown"}}}
		}, want: []string{"x"}},
		{name: "relationships", q: func(w *filterWorld) RelationshipQuery {
			return RelationshipQuery{Filter: RelationshipFilter{RelationshipIDs: []string{w.r["r2"].ID, merged.ID, "r-unknown"}}}
		}, want: []string{"r2"}},
		{name: "active after", q: func(*filterWorld) RelationshipQuery {
			return RelationshipQuery{ActiveAfter: base.Add(time.Hour)}
		}, want: []string{"r2", "r4"}},
		{name: "idle since", q: func(*filterWorld) RelationshipQuery {
			return RelationshipQuery{ActiveBefore: base.Add(time.Hour), Filter: RelationshipFilter{Network: "public-xmpp"}}
		}, want: []string{"r1", "r5", "x"}},
		{name: "active between, by activity", q: func(*filterWorld) RelationshipQuery {
			return RelationshipQuery{ActiveAfter: base, ActiveBefore: base.Add(3 * time.Hour), Order: ByLastActivity}
		}, want: []string{"r4", "r2", "r1"}},
		{name: "by activity, never active last", q: func(*filterWorld) RelationshipQuery {
			return RelationshipQuery{OwnerID: "alice", Order: ByLastActivity}
		}, want: []string{"r2", "r1", "r3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sn := w.s.Snapshot()
			q := tc.q(w)
			want := tc.want
			if tc.name == "everything" {
				want = w.sortedNames([]string{"r1", "r2", "r3", "r4", "r5", "x"})
			} else if q.Order == ByID {
				want = w.sortedNames(want)
			}
			res, err := sn.SearchRelationships(q)
			w.must(err)
			var got []string
			for _, it := range res.Items {
				got = append(got, w.nameOf(it.Relationship.ID))
				if it.Contact == nil || it.Contact.ID != it.Relationship.ContactID {
					t.Fatalf("item %+v has the wrong contact", it)
				}
			}
			if !slices.Equal(got, want) || res.Total != len(want) {
				t.Fatalf("got %v (total %d), want %v", got, res.Total, want)
			}
		})
	}

	// Pages: stable, complete, without overlap.
	sn := w.s.Snapshot()
	all, err := sn.SearchRelationships(RelationshipQuery{})
	w.must(err)
	var paged []*Relationship
	for off := 0; ; off += 4 {
		res, err := sn.SearchRelationships(RelationshipQuery{Offset: off, Limit: 4})
		w.must(err)
		if res.Total != all.Total {
			t.Fatalf("total %d on page at %d, want %d", res.Total, off, all.Total)
		}
		if len(res.Items) == 0 {
			break
		}
		for _, it := range res.Items {
			paged = append(paged, it.Relationship)
		}
	}
	if len(paged) != all.Total {
		t.Fatalf("pages hold %d, total %d", len(paged), all.Total)
	}
	for i, it := range all.Items {
		if paged[i] != it.Relationship {
			t.Fatalf("page order differs at %d", i)
		}
	}
	if res, err := sn.SearchRelationships(RelationshipQuery{Offset: 100}); err != nil || res.Total != all.Total || len(res.Items) != 0 {
		t.Fatalf("offset past the end: %+v, %v", res, err)
	}

	for _, q := range []RelationshipQuery{
		{OwnerID: "alice", Filter: RelationshipFilter{Unassigned: true}},
		{Offset: -1},
		{Order: "random"},
		{Filter: RelationshipFilter{Tag: "a,b"}},
	} {
		_, err := sn.SearchRelationships(q)
		wantErr(t, err, ErrInvalid, "")
	}
}

func (w *filterWorld) nameOf(id string) string {
	for name, r := range w.r {
		if r.ID == id {
			return name
		}
	}
	return id
}

// sortedNames orders fixture names by their relationships' IDs.
func (w *filterWorld) sortedNames(names []string) []string {
	out := slices.Clone(names)
	slices.SortFunc(out, func(a, b string) int { return byRelID(w.r[a], w.r[b]) })
	return out
}

func TestSearchLimits(t *testing.T) {
	ds := GenerateDataset(MaxSearchLimit+500, 3)
	m := NewMemoryStore()
	m.Seed(ds)
	s := openState(t, m)
	sn := s.Snapshot()
	for _, tc := range []struct{ limit, want int }{{0, DefaultSearchLimit}, {-5, DefaultSearchLimit}, {7, 7}, {MaxSearchLimit + 1, MaxSearchLimit}} {
		res, err := sn.SearchRelationships(RelationshipQuery{Limit: tc.limit})
		if err != nil || len(res.Items) != tc.want || res.Total != len(ds.Relationships) {
			t.Fatalf("limit %d: %d items of %d, %v", tc.limit, len(res.Items), res.Total, err)
		}
	}
	res, err := sn.SearchRelationships(RelationshipQuery{OwnerID: "emp-0001", Limit: MaxSearchLimit})
	if err != nil || res.Total != sn.OwnedCount("emp-0001") || len(res.Items) != res.Total {
		t.Fatalf("owner search: %d of %d (owns %d), %v", len(res.Items), res.Total, sn.OwnedCount("emp-0001"), err)
	}
}
