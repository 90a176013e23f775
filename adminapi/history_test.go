package adminapi

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/identity"
)

// TestListTransfers: the history newest first, with kinds, reverts and
// notices; its filters and pages; and a lead's view, only the transfers
// among their team's members.
func TestListTransfers(t *testing.T) {
	w := newTeamWorld(t)
	ctx := context.Background()
	t1, err := w.admin.Transfer(ctx, TransferRequest{Relationships: []string{w.rels["h1"]}, To: "ken", Notify: true, Reason: "rotation"})
	if err != nil {
		t.Fatal(err)
	}
	t2, err := w.admin.Transfer(ctx, TransferRequest{From: "mei", To: "hana", Reason: "cover"})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := w.admin.RevertTransfer(ctx, t1.ID, RevertRequest{Reason: "undo"})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := w.admin.Depart(ctx, "ken", DepartRequest{Successor: "hana", Reason: "left"})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(l []TransferSummary) []string {
		out := []string{}
		for _, s := range l {
			out = append(out, s.ID)
		}
		return out
	}
	all, err := w.admin.ListTransfers(ctx, TransferListQuery{})
	if err != nil || !reflectEqual(ids(all), []string{dep.ID, rev.ID, t2.ID, t1.ID}) {
		t.Fatalf("admin's history: %v %v", ids(all), err)
	}
	byID := map[string]TransferSummary{}
	for _, s := range all {
		byID[s.ID] = s
	}
	if s := byID[t1.ID]; s.Kind != KindTransfer || !s.Reverted || s.RevertedBy != rev.ID || !s.Notified || s.Counts.Moved != 1 || s.Actor != "admin:ops" {
		t.Errorf("t1: %+v", s)
	}
	if s := byID[rev.ID]; s.Kind != KindRevert || s.RevertOf != t1.ID || s.Reverted || s.Notified != rev.Notified {
		t.Errorf("revert: %+v (revert result %+v)", s, rev)
	}
	if s := byID[dep.ID]; s.Kind != KindDepart || s.From != "ken" || s.To != "hana" {
		t.Errorf("departure: %+v", s)
	}
	if s := byID[t2.ID]; s.Kind != KindTransfer || s.Notified || s.Reverted {
		t.Errorf("t2: %+v", s)
	}
	for _, c := range []struct {
		name string
		q    TransferListQuery
		want []string
	}{
		{"departures", TransferListQuery{Kind: KindDepart}, []string{dep.ID}},
		{"reverts", TransferListQuery{Kind: KindRevert}, []string{rev.ID}},
		{"mei's", TransferListQuery{Employee: "mei"}, []string{t2.ID}},
		{"ken's", TransferListQuery{Employee: "ken"}, []string{dep.ID, rev.ID, t1.ID}},
		{"page 1", TransferListQuery{Limit: 2}, []string{dep.ID, rev.ID}},
		{"page 2", TransferListQuery{Limit: 2, Before: byID[rev.ID].Seq}, []string{t2.ID, t1.ID}},
		{"since", TransferListQuery{Since: byID[t2.ID].At}, []string{dep.ID, rev.ID, t2.ID}},
		{"until", TransferListQuery{Until: byID[t2.ID].At}, []string{t1.ID}},
		{"by someone else", TransferListQuery{Actor: "admin:lea"}, []string{}},
	} {
		got, err := w.admin.ListTransfers(ctx, c.q)
		if err != nil || !reflectEqual(ids(got), c.want) {
			t.Errorf("%s: %v %v, want %v", c.name, ids(got), err, c.want)
		}
	}
	// The lead sees the transfers among sales (hana, ken), not mei's.
	lead, err := w.lead.ListTransfers(ctx, TransferListQuery{})
	if err != nil || !reflectEqual(ids(lead), []string{dep.ID, rev.ID, t1.ID}) {
		t.Fatalf("lead's history: %v %v", ids(lead), err)
	}
	for _, s := range lead {
		if _, err := w.lead.GetTransfer(ctx, s.ID); err != nil {
			t.Errorf("the lead lists %s but may not open it: %v", s.ID, err)
		}
	}
	if _, err := w.lead.GetTransfer(ctx, t2.ID); status(err) != http.StatusForbidden {
		t.Errorf("the lead opens t2: %v", err)
	}
	if _, err := w.lead.ListTransfers(ctx, TransferListQuery{Employee: "mei"}); status(err) != http.StatusForbidden {
		t.Errorf("the lead asks for mei's: %v, want 403", err)
	}
	if got, err := w.lead.ListTransfers(ctx, TransferListQuery{Limit: 1, Before: byID[rev.ID].Seq}); err != nil || !reflectEqual(ids(got), []string{t1.ID}) {
		t.Errorf("lead's page 2: %v %v", ids(got), err)
	}
	aud := w.api.Client(Caller{Actor: "admin:kim", Role: identity.RoleAuditor})
	if got, err := aud.ListTransfers(ctx, TransferListQuery{}); err != nil || len(got) != 4 {
		t.Errorf("auditor: %v %v", ids(got), err)
	}
	if _, err := w.admin.ListTransfers(ctx, TransferListQuery{Kind: "move"}); status(err) != http.StatusBadRequest {
		t.Errorf("kind=move: %v", err)
	}
}

// TestListBroadcasts: the broadcasts prepared, newest first; a lead sees
// their team's only.
func TestListBroadcasts(t *testing.T) {
	w := newTeamWorld(t)
	ctx := context.Background()
	var want []string
	for _, team := range [][]string{{"hana", "ken"}, {"mei"}, {"hana"}} {
		b, err := w.admin.PrepareBroadcast(ctx, BroadcastRequest{Team: team, Tag: "vip", Body: "News", Reason: "launch"})
		if err != nil {
			t.Fatal(err)
		}
		want = append([]string{b.ID}, want...)
	}
	ids := func(l []BroadcastSummary) []string {
		out := []string{}
		for _, s := range l {
			out = append(out, s.ID)
		}
		return out
	}
	all, err := w.admin.ListBroadcasts(ctx, BroadcastListQuery{})
	if err != nil || !reflectEqual(ids(all), want) {
		t.Fatalf("admin's: %v %v, want %v", ids(all), err, want)
	}
	if all[2].Tag != "vip" || !reflectEqual(all[2].Team, []string{"hana", "ken"}) || all[2].Actor != "admin:ops" || all[2].Reason != "launch" {
		t.Errorf("first broadcast: %+v", all[2])
	}
	if got, err := w.admin.ListBroadcasts(ctx, BroadcastListQuery{Limit: 1, Before: all[0].Seq}); err != nil || !reflectEqual(ids(got), want[1:2]) {
		t.Errorf("page 2: %v %v", ids(got), err)
	}
	lead, err := w.lead.ListBroadcasts(ctx, BroadcastListQuery{})
	if err != nil || !reflectEqual(ids(lead), []string{want[0], want[2]}) {
		t.Errorf("lead's: %v %v", ids(lead), err)
	}
}

// TestContactsOrderAndIDs: order=last_activity puts the latest first
// (limit 1: an owner's latest activity), relationships= selects by ID,
// and a lead's answer stays their team's.
func TestContactsOrderAndIDs(t *testing.T) {
	w := newTeamWorld(t)
	ctx := context.Background()
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	if err := w.Gateway.State().TouchRelationships(ctx, map[string]time.Time{
		w.rels["h1"]: base, w.rels["h2"]: base.Add(time.Hour), w.rels["m1"]: base.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	page, err := w.admin.ListContacts(ctx, ContactQuery{Owner: "hana", Order: OrderLastActivity, Limit: 1})
	if err != nil || page.Total != 2 || len(page.Contacts) != 1 || page.Contacts[0].Relationship.ID != w.rels["h2"] {
		t.Fatalf("hana's latest: %+v %v", page, err)
	}
	page, err = w.admin.ListContacts(ctx, ContactQuery{Order: OrderLastActivity, Limit: 3})
	if err != nil || len(page.Contacts) != 3 || page.Contacts[0].Relationship.ID != w.rels["m1"] || page.Contacts[1].Relationship.ID != w.rels["h2"] {
		t.Fatalf("everyone's latest: %+v %v", page, err)
	}
	if page, err := w.lead.ListContacts(ctx, ContactQuery{Order: OrderLastActivity, Limit: 1}); err != nil || page.Contacts[0].Relationship.ID != w.rels["h2"] {
		t.Fatalf("the lead's latest: %+v %v", page, err)
	}
	page, err = w.admin.ListContacts(ctx, ContactQuery{Relationships: []string{w.rels["k1"], w.rels["m1"], "r-none"}})
	if err != nil || page.Total != 2 {
		t.Fatalf("by ID: %+v %v", page, err)
	}
	if page, err := w.lead.ListContacts(ctx, ContactQuery{Relationships: []string{w.rels["k1"], w.rels["m1"]}}); err != nil || page.Total != 1 ||
		page.Contacts[0].Relationship.ID != w.rels["k1"] {
		t.Fatalf("by ID, a lead: %+v %v", page, err)
	}
	if _, err := w.admin.ListContacts(ctx, ContactQuery{Order: "newest"}); status(err) != http.StatusBadRequest {
		t.Errorf("order=newest: %v", err)
	}
	if _, err := w.admin.ListContacts(ctx, ContactQuery{Relationships: []string{"a", ""}}); status(err) != http.StatusBadRequest {
		t.Errorf("an empty ID: %v", err)
	}
}
