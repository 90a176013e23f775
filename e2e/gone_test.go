package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

// TestContactGoneIsMarkedAndTheOwnerTold: a contact who removes the persona
// from their roster is marked gone (audited, listed), the owner hears of
// it from the contact's proxy address, and the mark clears when the
// contact writes again.
func TestContactGoneIsMarkedAndTheOwnerTold(t *testing.T) {
	w := newWorld(t, worldOptions{})
	rels := startContacts(t, w, "bob")
	hana, bob := w.client("hana"), w.client("bob")
	if err := bob.SendRaw(`<presence type="unsubscribe" to="` + hanaAddr + `"/>`); err != nil {
		t.Fatal(err)
	}
	n := message(t, hana)
	if bare(n.From) != bobProxy || !strings.Contains(n.Body, "bob@ext.test removed ACME Sales · Hana from their contacts") {
		t.Fatalf("notice %s", n.Raw)
	}
	gone := func() string {
		var rows []contactRow
		w.gw.JSON(&rows, "contacts", "list", "--owner", "hana")
		for _, r := range rows {
			if r.Relationship.ID == rels["bob"] {
				return r.Relationship.Gone
			}
		}
		t.Fatalf("bob's relationship is not listed: %+v", rows)
		return ""
	}
	if g := gone(); !strings.Contains(g, "removed") {
		t.Fatalf("gone = %q", g)
	}
	var audit []struct{ Actor, Action, Subject string }
	w.gw.JSON(&audit, "audit", "--action", "relationship.gone")
	if len(audit) != 1 || audit[0].Actor != "contact:bob@ext.test" || audit[0].Subject != rels["bob"] {
		t.Fatalf("audit %+v", audit)
	}

	// bob writes again: delivered as always, and no longer gone.
	if err := bob.Send(hanaAddr, "sorry, wrong button"); err != nil {
		t.Fatal(err)
	}
	for {
		m := message(t, hana)
		if m.Body == "sorry, wrong button" {
			break
		}
	}
	deadline := time.Now().Add(waitShort)
	for gone() != "" {
		if time.Now().After(deadline) {
			t.Fatal("the gone mark was not cleared")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The clearing is its own act in the audit, saying why; the owner is
	// told.
	var back []struct{ Actor, Action, Subject, Reason string }
	w.gw.JSON(&back, "audit", "--action", "relationship.back")
	if len(back) != 1 || back[0].Actor != "contact:bob@ext.test" || back[0].Subject != rels["bob"] || !strings.Contains(back[0].Reason, "wrote again") {
		t.Fatalf("relationship.back audit %+v", back)
	}
	w.gw.JSON(&audit, "audit", "--action", "relationship.gone")
	if len(audit) != 1 {
		t.Fatalf("relationship.gone audit after the clearing: %+v", audit)
	}
	n = hana.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.Kind == "message" && strings.Contains(s.Body, "wrote again") })
	if bare(n.From) != bobProxy {
		t.Fatalf("notice %s", n.Raw)
	}
}
