package identity

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// filterWorld is a fixture with relationships that differ in every way a
// filter can tell:
//
//	r1  a@ext.test   public-xmpp  source test  p-alice    alice  [vip]
//	r2  b@ext.test   public-xmpp  source test  p-support  alice  [VIP eu]
//	r3  m@ext.test   mail         source web   p-alice    alice  []
//	r4  d@ext.test   public-xmpp  source test  p-bob      bob    [vip]
//	r5  e@ext.test   public-xmpp  source test  p-support  (pool)
type filterWorld struct {
	*fixture
	r map[string]*Relationship // by name: r1…r5
}

func newFilterWorld(t *testing.T) *filterWorld {
	t.Helper()
	f := newFixture(t)
	w := &filterWorld{fixture: f, r: map[string]*Relationship{}}
	w.r["r1"] = f.ensure("a@ext.test", "p-alice", "alice")
	w.r["r2"] = f.ensure("b@ext.test", "p-support", "alice")
	r3, _, _, err := f.s.EnsureRelationship(f.ctx, NewRelationship{Contact: Address{"mail", "m@ext.test"},
		Source: "web", PersonaID: "p-alice", OwnerID: "alice"})
	f.must(err)
	w.r["r3"] = r3
	w.r["r4"] = f.ensure("d@ext.test", "p-bob", "bob")
	w.r["r5"] = f.ensure("e@ext.test", "p-support", "")
	for name, tags := range map[string][]string{"r1": {"vip"}, "r2": {"VIP", "eu"}, "r4": {"vip"}} {
		_, err := f.s.SetTags(f.ctx, "admin", "", w.r[name].ID, tags)
		f.must(err)
	}
	return w
}

// names returns the fixture names of relationship IDs, sorted.
func (w *filterWorld) names(ids []string) []string {
	var out []string
	for _, id := range ids {
		for name, r := range w.r {
			if r.ID == id {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return out
}

func moveIDs(t *Transfer) []string {
	var ids []string
	for _, m := range t.Moves {
		ids = append(ids, m.RelationshipID)
	}
	return ids
}

func TestTransferFilters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		from   string
		filter func(w *filterWorld) RelationshipFilter
		want   []string
	}{
		{name: "owner", from: "alice", want: []string{"r1", "r2", "r3"}},
		{name: "persona", filter: func(*filterWorld) RelationshipFilter { return RelationshipFilter{PersonaID: "p-support"} },
			want: []string{"r2", "r5"}},
		{name: "tag ignores case", filter: func(*filterWorld) RelationshipFilter { return RelationshipFilter{Tag: " Vip "} },
			want: []string{"r1", "r2", "r4"}},
		{name: "owner and tag", from: "alice", filter: func(*filterWorld) RelationshipFilter { return RelationshipFilter{Tag: "vip"} },
			want: []string{"r1", "r2"}},
		{name: "source", filter: func(*filterWorld) RelationshipFilter { return RelationshipFilter{Source: "web"} },
			want: []string{"r3"}},
		{name: "network", filter: func(*filterWorld) RelationshipFilter { return RelationshipFilter{Network: " MAIL "} },
			want: []string{"r3"}},
		{name: "network and owner", from: "bob", filter: func(*filterWorld) RelationshipFilter { return RelationshipFilter{Network: "mail"} }},
		{name: "contacts", filter: func(w *filterWorld) RelationshipFilter {
			return RelationshipFilter{ContactIDs: []string{w.r["r4"].ContactID, w.r["r1"].ContactID}}
		}, want: []string{"r1", "r4"}},
		{name: "relationships", filter: func(w *filterWorld) RelationshipFilter {
			return RelationshipFilter{RelationshipIDs: []string{w.r["r4"].ID, w.r["r1"].ID, w.r["r1"].ID}}
		}, want: []string{"r1", "r4"}},
		{name: "relationships and owner", from: "alice", filter: func(w *filterWorld) RelationshipFilter {
			return RelationshipFilter{RelationshipIDs: []string{w.r["r4"].ID, w.r["r1"].ID}}
		}, want: []string{"r1"}},
		{name: "unassigned", filter: func(*filterWorld) RelationshipFilter { return RelationshipFilter{Unassigned: true} },
			want: []string{"r5"}},
		{name: "unassigned and persona", filter: func(*filterWorld) RelationshipFilter {
			return RelationshipFilter{Unassigned: true, PersonaID: "p-alice"}
		}},
		{name: "persona, tag and network", filter: func(*filterWorld) RelationshipFilter {
			return RelationshipFilter{PersonaID: "p-support", Tag: "eu", Network: "public-xmpp"}
		}, want: []string{"r2"}},
		{name: "nothing matches", filter: func(*filterWorld) RelationshipFilter { return RelationshipFilter{Tag: "nobody"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newFilterWorld(t)
			var f RelationshipFilter
			if tc.filter != nil {
				f = tc.filter(w)
			}
			before := len(w.audit(AuditQuery{Action: ActionContactsTransfer}))
			tr, err := w.s.Transfer(w.ctx, TransferRequest{Actor: "admin", Reason: "r", From: tc.from, Filter: f, To: "erin"})
			w.must(err)
			if got := w.names(moveIDs(tr)); !slices.Equal(got, tc.want) {
				t.Fatalf("moved %v, want %v", got, tc.want)
			}
			if tr.Counts.Matched != len(tc.want) || tr.Counts.Moved != len(tc.want) {
				t.Fatalf("counts = %+v", tr.Counts)
			}
			sn := w.s.Snapshot()
			for name, r := range w.r {
				got, _ := sn.Relationship(r.ID)
				if moved := slices.Contains(tc.want, name); moved != (got.OwnerID == "erin") {
					t.Fatalf("%s: owner %q (moved: %v)", name, got.OwnerID, moved)
				}
			}
			// An empty match is recorded all the same.
			if l := w.audit(AuditQuery{Action: ActionContactsTransfer}); len(l) != before+1 || l[len(l)-1].Subject != tr.ID {
				t.Fatalf("transfer not audited: %+v", l)
			}
			checkIndexes(t, sn)
		})
	}
}

func TestTransferRequestErrors(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		for _, tc := range []struct {
			name string
			req  func(w *filterWorld) TransferRequest
			want error
			msg  string
		}{
			{name: "nothing selects", req: func(*filterWorld) TransferRequest { return TransferRequest{To: "erin"} },
				want: ErrInvalid, msg: "a filter is required"},
			{name: "owner and pool", req: func(*filterWorld) TransferRequest {
				return TransferRequest{From: "alice", Filter: RelationshipFilter{Unassigned: true}, To: "erin"}
			}, want: ErrInvalid, msg: "not in the unassigned pool"},
			{name: "pool to pool", req: func(*filterWorld) TransferRequest {
				return TransferRequest{Filter: RelationshipFilter{Unassigned: true}}
			}, want: ErrInvalid, msg: "already there"},
			{name: "unknown relationship", req: func(*filterWorld) TransferRequest {
				return TransferRequest{Filter: RelationshipFilter{RelationshipIDs: []string{"r-nope"}}, To: "erin"}
			}, want: ErrNotFound, msg: "r-nope"},
			{name: "unknown contact", req: func(*filterWorld) TransferRequest {
				return TransferRequest{Filter: RelationshipFilter{ContactIDs: []string{"c-nope"}}, To: "erin"}
			}, want: ErrNotFound, msg: "c-nope"},
			{name: "invalid tag", req: func(*filterWorld) TransferRequest {
				return TransferRequest{Filter: RelationshipFilter{Tag: "a,b"}, To: "erin"}
			}, want: ErrInvalid, msg: "comma"},
			{name: "to and targets", req: func(*filterWorld) TransferRequest {
				return TransferRequest{From: "alice", To: "erin", Targets: []string{"bob"}}
			}, want: ErrInvalid, msg: "not both"},
			{name: "strategy without targets", req: func(*filterWorld) TransferRequest {
				return TransferRequest{From: "alice", To: "erin", Strategy: LeastLoaded}
			}, want: ErrInvalid, msg: "needs targets"},
			{name: "unknown strategy", req: func(*filterWorld) TransferRequest {
				return TransferRequest{From: "alice", Targets: []string{"bob", "erin"}, Strategy: "random"}
			}, want: ErrInvalid, msg: "random"},
			{name: "unknown target", req: func(*filterWorld) TransferRequest {
				return TransferRequest{From: "alice", Targets: []string{"bob", "zed"}}
			}, want: ErrNotFound, msg: "zed"},
			{name: "target twice", req: func(*filterWorld) TransferRequest {
				return TransferRequest{From: "alice", Targets: []string{"bob", "bob"}}
			}, want: ErrInvalid, msg: "twice"},
			{name: "source among targets", req: func(*filterWorld) TransferRequest {
				return TransferRequest{From: "alice", Targets: []string{"bob", "alice"}}
			}, want: ErrInvalid, msg: "themselves"},
			{name: "departed target", req: func(w *filterWorld) TransferRequest {
				_, err := w.s.Depart(w.ctx, "hr", "left", "erin", "")
				w.must(err)
				return TransferRequest{From: "alice", Targets: []string{"bob", "erin"}}
			}, want: ErrInvalid, msg: "employee erin is departed; only active employees"},
			{name: "target that cannot take personal relationships", req: func(*filterWorld) TransferRequest {
				return TransferRequest{From: "alice", Targets: []string{"carol", "bob"}} // carol gets the 1st and 3rd of 3
			}, want: ErrInvalid, msg: "carol has no default persona"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				w := newFilterWorld(t)
				r := tc.req(w)
				r.Actor, r.Reason = "admin", "r"
				before := w.s.Snapshot()
				n := len(w.audit(AuditQuery{Limit: MaxAuditLimit}))
				tr, err := w.s.Transfer(w.ctx, r)
				wantErr(t, err, tc.want, tc.msg)
				if tr != nil {
					t.Fatal("a transfer returned with an error")
				}
				if !reflect.DeepEqual(before.Relationships(), w.s.Snapshot().Relationships()) {
					t.Fatal("a refused transfer changed relationships")
				}
				if got := len(w.audit(AuditQuery{Limit: MaxAuditLimit})); got != n {
					t.Fatal("a refused transfer was audited")
				}
			})
		}
		t.Run("merged relationship named", func(t *testing.T) {
			f := newFixtureOf(t, kind)
			ra := f.ensure("x@ext.test", "p-alice", "alice")
			f.ensure("x@ext.test", "p-bob", "bob")
			_, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "bob"})
			f.must(err)
			_, err = f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "r",
				Filter: RelationshipFilter{RelationshipIDs: []string{ra.ID}}, To: "erin"})
			wantErr(t, err, ErrInvalid, "was merged into")
		})
	})
}

// spreadWorld gives alice n relationships, each with its own contact, on
// her personal persona, and returns them sorted by ID.
func spreadWorld(t *testing.T, n int) (*fixture, []*Relationship) {
	t.Helper()
	f := newFixture(t)
	var rels []*Relationship
	for i := range n {
		rels = append(rels, f.ensure(string(rune('a'+i))+"@ext.test", "p-alice", "alice"))
	}
	slices.SortFunc(rels, byRelID)
	return f, rels
}

func TestTransferRoundRobin(t *testing.T) {
	f, rels := spreadWorld(t, 7)
	tr, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "spread", From: "alice",
		Targets: []string{"bob", "erin", "dave"}, Strategy: RoundRobin})
	f.must(err)
	// In relationship ID order, in the order the targets are listed.
	order := []string{"bob", "erin", "dave", "bob", "erin", "dave", "bob"}
	home := map[string]string{"bob": "p-bob", "erin": "p-erin", "dave": "p-support"}
	for i, r := range rels {
		got := f.rel(r.ID)
		if got.OwnerID != order[i] || got.PersonaID != home[order[i]] || !slices.Equal(got.FormerPersonaIDs, []string{"p-alice"}) {
			t.Fatalf("relationship %d: %+v, want owner %s on %s", i, got, order[i], home[order[i]])
		}
	}
	want := TransferCounts{Matched: 7, Moved: 7, Rehomed: 7, ByTarget: map[string]int{"bob": 3, "erin": 2, "dave": 2}}
	if !reflect.DeepEqual(tr.Counts, want) || tr.Strategy != RoundRobin || !slices.Equal(tr.Targets, []string{"bob", "erin", "dave"}) {
		t.Fatalf("transfer = %+v", tr)
	}
	checkIndexes(t, f.s.Snapshot())
}

func TestTransferLeastLoaded(t *testing.T) {
	f, rels := spreadWorld(t, 5)
	// Loads before: bob 2, dave 1, erin 0.
	f.ensure("x1@ext.test", "p-bob", "bob")
	f.ensure("x2@ext.test", "p-bob", "bob")
	f.ensure("x3@ext.test", "p-support", "dave")
	tr, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "spread", From: "alice",
		Targets: []string{"bob", "erin", "dave"}, Strategy: LeastLoaded})
	f.must(err)
	// erin (0) → 1; dave and erin tie at 1, dave has the smaller ID → 2;
	// erin (1) → 2; all tie at 2 → bob → 3; dave and erin tie → dave.
	order := []string{"erin", "dave", "erin", "bob", "dave"}
	for i, r := range rels {
		if got := f.rel(r.ID); got.OwnerID != order[i] {
			t.Fatalf("relationship %d went to %s, want %s", i, got.OwnerID, order[i])
		}
	}
	if want := map[string]int{"bob": 1, "dave": 2, "erin": 2}; !reflect.DeepEqual(tr.Counts.ByTarget, want) {
		t.Fatalf("by target = %v", tr.Counts.ByTarget)
	}
	sn := f.s.Snapshot()
	for e, n := range map[string]int{"bob": 3, "dave": 3, "erin": 2, "alice": 0} {
		if got := sn.OwnedCount(e); got != n {
			t.Fatalf("%s owns %d, want %d", e, got, n)
		}
	}
	checkIndexes(t, sn)
}

func TestSpreadKeepsContactsTogether(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		var pairs [][2]*Relationship
		for _, addr := range []string{"a@ext.test", "b@ext.test", "c@ext.test", "d@ext.test"} {
			pairs = append(pairs, [2]*Relationship{f.ensure(addr, "p-alice", "alice"), f.ensure(addr, "p-support", "alice")})
		}
		for _, s := range []SpreadStrategy{RoundRobin, LeastLoaded} {
			tr, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "spread", From: "alice",
				Targets: []string{"bob", "erin"}, Strategy: s})
			f.must(err)
			for _, p := range pairs {
				a, b := f.rel(p[0].ID), f.rel(p[1].ID)
				if a.OwnerID != b.OwnerID || a.OwnerID == "alice" {
					t.Fatalf("%s: contact split between %s and %s", s, a.OwnerID, b.OwnerID)
				}
			}
			if tr.Counts.ByTarget["bob"] != 4 || tr.Counts.ByTarget["erin"] != 4 {
				t.Fatalf("%s: by target %v", s, tr.Counts.ByTarget)
			}
			_, err = f.s.RevertTransfer(f.ctx, "admin", "again", tr.ID)
			f.must(err)
		}
		checkIndexes(t, f.s.Snapshot())
	})
}

func TestTransferSkipsRelationshipsOfTargets(t *testing.T) {
	w := newFilterWorld(t)
	// vip: r1, r2 (alice) and r4 (bob). Spread over bob and erin: r4 stays.
	tr, err := w.s.Transfer(w.ctx, TransferRequest{Actor: "admin", Reason: "r", Filter: RelationshipFilter{Tag: "vip"},
		Targets: []string{"bob", "erin"}})
	w.must(err)
	if got := w.names(moveIDs(tr)); !slices.Equal(got, []string{"r1", "r2"}) {
		t.Fatalf("moved %v", got)
	}
	if tr.Counts.Matched != 3 || tr.Counts.Unchanged != 1 || tr.Counts.Moved != 2 {
		t.Fatalf("counts %+v", tr.Counts)
	}
	if got := w.rel(w.r["r4"].ID); got.Version != w.r["r4"].Version+1 { // +1: its tags
		t.Fatalf("r4 touched: %+v", got)
	}
}

func TestTransferAuditRecordsEverything(t *testing.T) {
	w := newFilterWorld(t)
	r1, r2 := w.rel(w.r["r1"].ID), w.rel(w.r["r2"].ID)
	tr, err := w.s.Transfer(w.ctx, TransferRequest{Actor: "admin:root", Reason: "Q3 reorganisation", From: "alice",
		Filter: RelationshipFilter{Tag: "VIP", Network: "public-xmpp"}, Targets: []string{"erin", "bob"}, Strategy: RoundRobin})
	w.must(err)
	l := w.audit(AuditQuery{Action: ActionContactsTransfer, Subject: tr.ID})
	if len(l) != 1 {
		t.Fatalf("%d audit entries", len(l))
	}
	e := l[0]
	if e.Actor != "admin:root" || e.Reason != "Q3 reorganisation" || e.Subject != tr.ID || !e.At.Equal(tr.At) || e.Seq == 0 {
		t.Fatalf("audit entry %+v", e)
	}
	var logged Transfer
	w.must(json.Unmarshal(e.Details, &logged))
	if !reflect.DeepEqual(&logged, tr) {
		t.Fatalf("details %+v\nwant %+v", logged, *tr)
	}
	if logged.From != "alice" || logged.To != "" || logged.RevertOf != "" ||
		!reflect.DeepEqual(logged.Filter, RelationshipFilter{Tag: "VIP", Network: "public-xmpp"}) ||
		!slices.Equal(logged.Targets, []string{"erin", "bob"}) || logged.Strategy != RoundRobin {
		t.Fatalf("selection recorded as %+v", logged)
	}
	if c := logged.Counts; c.Matched != 2 || c.Moved != 2 || c.Rehomed != 1 || c.Merged != 0 ||
		!reflect.DeepEqual(c.ByTarget, map[string]int{"erin": 1, "bob": 1}) {
		t.Fatalf("counts %+v", c)
	}
	// r1 and r2 in ID order go to erin, then bob.
	first, second := r1, r2
	if r2.ID < r1.ID {
		first, second = r2, r1
	}
	to := map[string]string{first.ID: "erin", second.ID: "bob"}
	home := map[string]string{"erin": "p-erin", "bob": "p-bob"}
	for _, m := range logged.Moves {
		before := map[string]*Relationship{r1.ID: r1, r2.ID: r2}[m.RelationshipID]
		wantM := Move{RelationshipID: before.ID, ContactID: before.ContactID, FromOwner: "alice", ToOwner: to[before.ID],
			FromPersona: before.PersonaID, ToPersona: before.PersonaID, PrevVersion: before.Version, Version: before.Version + 1,
			OwnerVersion: before.OwnerVersion + 1}
		if before.PersonaID == "p-alice" {
			wantM.ToPersona, wantM.ToFormerPersonas = home[to[before.ID]], []string{"p-alice"}
		}
		if !reflect.DeepEqual(m, wantM) {
			t.Fatalf("move %+v\nwant %+v", m, wantM)
		}
	}
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// errorsAs is errors.As returning the target, for brevity in tests.
func errorsAs[T error](err error) (T, bool) {
	var t T
	ok := errors.As(err, &t)
	return t, ok
}

func TestDescribeTransfer(t *testing.T) {
	for _, tc := range []struct {
		r    TransferRequest
		want string
	}{
		{TransferRequest{From: "alice", To: "bob"}, "from alice to bob"},
		{TransferRequest{From: "alice"}, "from alice to the pool"},
		{TransferRequest{Targets: []string{"a", "b"}}, "selected relationships to a, b"},
	} {
		if got := describeTransfer(tc.r); !strings.Contains(got, tc.want) {
			t.Errorf("describeTransfer(%+v) = %q", tc.r, got)
		}
	}
}
