package e2e

import (
	"strings"
	"testing"
	"time"
)

const supportAddr = "support@contact.acme.test"

// TestContactPointAssignsWelcomesAndTracksSource: new contacts writing to
// the support contact point are welcomed once, assigned to its members in
// turn and stay with them; a source tag in the address is recorded and
// searchable.
func TestContactPointAssignsWelcomesAndTracksSource(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, ken := w.client("hana"), w.client("ken")
	bob, alice := w.client("bob"), w.client("alice")

	if err := bob.Send("support+expo2026@contact.acme.test", "Do you ship to Osaka?"); err != nil {
		t.Fatal(err)
	}
	welcome := message(t, bob)
	if bare(welcome.From) != supportAddr || !strings.Contains(welcome.Body, "Thank you for contacting ACME Support") {
		t.Fatalf("welcome %s", welcome.Raw)
	}
	first := message(t, hana) // round robin: hana and ken have no support contacts, hana sorts first
	if first.Body != "Do you ship to Osaka?" {
		t.Fatalf("hana got %s", first.Raw)
	}
	if err := alice.Send(supportAddr, "Hello?"); err != nil {
		t.Fatal(err)
	}
	message(t, alice) // her welcome
	if m := message(t, ken); m.Body != "Hello?" {
		t.Fatalf("ken got %s", m.Raw)
	}
	// Sticky, and welcomed only once.
	if err := bob.Send(supportAddr, "Also Kyoto?"); err != nil {
		t.Fatal(err)
	}
	if m := message(t, hana); m.Body != "Also Kyoto?" {
		t.Fatalf("hana got %s", m.Raw)
	}
	silent(t, bob, 500*time.Millisecond)

	var rows []contactRow
	w.gw.JSON(&rows, "contacts", "list", "--source", "expo2026")
	if len(rows) != 1 || rows[0].Contact.Address.Addr != "bob@ext.test" || rows[0].Relationship.OwnerID != "hana" {
		t.Fatalf("by source: %+v", rows)
	}
}

// TestTransferWithNoticeTellsTheContact: with --notify, each moved contact
// hears from their new persona.
func TestTransferWithNoticeTellsTheContact(t *testing.T) {
	w := newWorld(t, worldOptions{})
	startContacts(t, w, "bob")
	bob := w.client("bob")
	var res struct {
		Notices int `json:"notices"`
	}
	w.gw.JSON(&res, "contacts", "transfer", "--from", "hana", "--to", "ken", "--notify", "--reason", "rotation")
	if res.Notices != 1 {
		t.Fatalf("notices %d", res.Notices)
	}
	n := message(t, bob)
	if bare(n.From) != kenAddr || !strings.Contains(n.Body, "ACME Sales · Ken") || strings.Contains(n.Body, "Ken Ito") {
		t.Fatalf("handover notice %s", n.Raw)
	}
}
