package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

// quiet is how long a client must hear nothing to show a message was not
// relayed.
const quiet = 700 * time.Millisecond

// TestSpellingsOfOneContactHaveOneOwner is the outside test's finding on
// real Prosody: bob\40ext.test.@gw.corp.test (a trailing dot) made a
// second contact that still reached bob as Hana after bob was transferred
// to Ken. Every spelling of bob is bob, with one owner.
func TestSpellingsOfOneContactHaveOneOwner(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, ken, bob := w.client("hana"), w.client("ken"), w.client("bob")
	spellings := []string{
		`bob\40ext.test.@gw.corp.test`,
		`Bob\40Ext.Test@gw.corp.test`,
		`BOB\40EXT.TEST.@gw.corp.test`,
		`ｂｏｂ\40ext.test@gw.corp.test`,
	}
	for i, sp := range append([]string{bobProxy}, spellings...) {
		body := fmt.Sprintf("spelling %d", i)
		if err := hana.Send(sp, body); err != nil {
			t.Fatal(err)
		}
		if m := message(t, bob); m.Body != body || bare(m.From) != hanaAddr {
			t.Fatalf("%s: bob got %s", sp, m.Raw)
		}
	}
	var rows []contactRow
	w.gw.JSON(&rows, "contacts", "list")
	if len(rows) != 1 || rows[0].Contact.Address.Addr != "bob@ext.test" {
		t.Fatalf("contacts after five spellings: %+v", rows)
	}

	w.gw.CLI("contacts", "transfer", "--from", "hana", "--to", "ken", "--reason", "rotation")
	for i, sp := range append([]string{bobProxy}, spellings...) {
		id := fmt.Sprintf("after%d", i)
		if err := hana.SendRaw(`<message type="chat" id="` + id + `" to="` + sp + `"><body>still mine?</body></message>`); err != nil {
			t.Fatal(err)
		}
		e := hana.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.Kind == "message" && s.ID == id })
		if e.Type != "error" || e.ErrorCondition != "forbidden" || !strings.Contains(e.ErrorText, "looked after by") {
			t.Fatalf("%s after the transfer: %s", sp, e.Raw)
		}
	}
	silent(t, bob, quiet)
	// Ken reaches bob by any spelling, as his own persona.
	if err := ken.Send(spellings[0], "Ken here"); err != nil {
		t.Fatal(err)
	}
	if m := message(t, bob); m.Body != "Ken here" || bare(m.From) != "ken.sales@contact.acme.test" {
		t.Fatalf("bob got %s", m.Raw)
	}
	w.gw.JSON(&rows, "contacts", "list")
	if len(rows) != 1 || rows[0].Relationship.OwnerID != "ken" {
		t.Fatalf("contacts after the transfer: %+v", rows)
	}
}

// TestUndeliverableAddressesAreRefused: an address no one can be reached
// at is answered with jid-malformed (type cancel) naming what is wrong,
// and never becomes a contact.
func TestUndeliverableAddressesAreRefused(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana := w.client("hana")
	for i, tt := range []struct{ to, says string }{
		{`bob\40\40ext.test@gw.corp.test`, "more than one @"},
		{`bob\40ext.test\40x@gw.corp.test`, "more than one @"},
		{`bob\20x\40ext.test@gw.corp.test`, "space"},
		{`bob\40ext.invalid@gw.corp.test`, ".invalid"},
		{`bob\40localhost@gw.corp.test`, "localhost"},
		{`bob\40127.0.0.1@gw.corp.test`, "IP address"},
		{`bob\40ext..test@gw.corp.test`, "not a valid domain"},
		{strings.Repeat("b", 1024) + `\40ext.test@gw.corp.test`, "1024 bytes"},
	} {
		id := fmt.Sprintf("bad%d", i)
		if err := hana.SendRaw(`<message type="chat" id="` + id + `" to="` + tt.to + `"><body>hello?</body></message>`); err != nil {
			t.Fatal(err)
		}
		e := hana.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.Kind == "message" && s.ID == id })
		// A JID the server itself finds malformed (a local part past 1023
		// bytes) never reaches the gateway: Prosody answers in its own
		// words, and its jid-malformed is as good. The gateway's answer is
		// held to all of it.
		ours := !strings.HasPrefix(e.ErrorText, "The destination address is invalid")
		switch {
		case e.Type != "error" || e.ErrorCondition != "jid-malformed":
			t.Errorf("%.60s: %s", tt.to, e.Raw)
		case ours && (e.ErrorType != "cancel" || !strings.Contains(e.ErrorText, tt.says)):
			t.Errorf("%.60s: %s", tt.to, e.Raw)
		case !ours && i < 7:
			t.Errorf("%.60s: answered by the server, not the gateway: %s", tt.to, e.Raw)
		}
		if ours && len(e.ErrorText) > 400 {
			t.Errorf("%.60s: error text is %d bytes long: %.300s", tt.to, len(e.ErrorText), e.ErrorText)
		}
	}
	var rows []contactRow
	w.gw.JSON(&rows, "contacts", "list")
	if len(rows) != 0 {
		t.Fatalf("refused addresses became contacts: %+v", rows)
	}
}

// TestOutsideLearnsNothingFromInsideDomains: an outside user on the same
// server asks the inside components what a client would ask a gateway;
// every query is refused as for an address where no one is, and names
// nothing (the outside test got the gateway's identity, its commands and
// the vCard of his own proxy address).
func TestOutsideLearnsNothingFromInsideDomains(t *testing.T) {
	w := newWorld(t, worldOptions{})
	startContacts(t, w, "bob")
	hana, bob := w.client("hana"), w.client("bob")
	queries := []struct{ to, typ, payload string }{
		{"gw.corp.test", "get", `<query xmlns="http://jabber.org/protocol/disco#info"/>`},
		{"gw.corp.test", "get", `<query xmlns="http://jabber.org/protocol/disco#items" node="http://jabber.org/protocol/commands"/>`},
		{"gw.corp.test", "set", `<command xmlns="http://jabber.org/protocol/commands" action="execute" node="my-contacts"/>`},
		{"gw.corp.test", "get", `<vCard xmlns="vcard-temp"/>`},
		{bobProxy, "get", `<vCard xmlns="vcard-temp"/>`},
		{bobProxy, "get", `<query xmlns="http://jabber.org/protocol/disco#info"/>`},
		{bobProxy, "get", `<ping xmlns="urn:xmpp:ping"/>`},
		{`alice\40ext.test@gw.corp.test`, "get", `<vCard xmlns="vcard-temp"/>`},
	}
	for i, q := range queries {
		id := fmt.Sprintf("q%d", i)
		if err := bob.SendRaw(`<iq type="` + q.typ + `" id="` + id + `" to="` + q.to + `">` + q.payload + `</iq>`); err != nil {
			t.Fatal(err)
		}
		r := bob.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.Kind == "iq" && s.ID == id })
		if r.Type != "error" || r.ErrorCondition != "item-not-found" {
			t.Errorf("bob asks %s for %s: %s", q.to, q.payload, r.Raw)
		}
	}
	if err := bob.SendRaw(`<presence type="subscribe" to="` + bobProxy + `"/>`); err != nil {
		t.Fatal(err)
	}
	p := bob.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.Kind == "presence" && bare(s.From) == bobProxy })
	if p.Type != "error" {
		t.Errorf("bob's subscription to his own proxy: %s", p.Raw)
	}
	raw := bob.RawXML()
	for _, leak := range []string{"Kakehashi", "http://jabber.org/protocol/commands\"", "My contacts", "automation"} {
		if strings.Contains(raw, leak) {
			t.Errorf("bob's client received %q:\n%s", leak, raw)
		}
	}
	// Hana, an active employee, gets the answers.
	if err := hana.SendRaw(`<iq type="get" id="h1" to="gw.corp.test"><query xmlns="http://jabber.org/protocol/disco#items" node="http://jabber.org/protocol/commands"/></iq>`); err != nil {
		t.Fatal(err)
	}
	if r := hana.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.Kind == "iq" && s.ID == "h1" }); r.Type != "result" || !strings.Contains(r.Raw, "My contacts") {
		t.Errorf("hana's command list: %s", r.Raw)
	}
	// Once she has left, she is a stranger too.
	w.gw.CLI("employees", "depart", "hana", "--successor", "ken", "--reason", "left")
	if err := hana.SendRaw(`<iq type="get" id="h2" to="` + bobProxy + `"><vCard xmlns="vcard-temp"/></iq>`); err != nil {
		t.Fatal(err)
	}
	if r := hana.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.Kind == "iq" && s.ID == "h2" }); r.Type != "error" || r.ErrorCondition != "item-not-found" {
		t.Errorf("departed hana's vCard query: %s", r.Raw)
	}
}

// TestMessagesTheGatewayDoesNotRelayAreAnswered: an employee's groupchat,
// headline or error-typed text to a proxy address reaches no one and is
// answered with what the gateway relays; a blank body is not relayed.
func TestMessagesTheGatewayDoesNotRelayAreAnswered(t *testing.T) {
	w := newWorld(t, worldOptions{})
	startContacts(t, w, "bob")
	hana, bob := w.client("hana"), w.client("bob")
	for _, typ := range []string{"groupchat", "headline", "error"} {
		id := "t-" + typ
		if err := hana.SendRaw(`<message type="` + typ + `" id="` + id + `" to="` + bobProxy + `"><body>to the room</body></message>`); err != nil {
			t.Fatal(err)
		}
		e := hana.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.Kind == "message" && s.ID == id })
		if e.Type != "error" || e.ErrorCondition != "feature-not-implemented" || !strings.Contains(e.ErrorText, "one-to-one messages only") {
			t.Errorf("%s: %s", typ, e.Raw)
		}
	}
	for _, body := range []string{"", "   ", "\n\n", "\u3000"} {
		if err := hana.SendRaw(`<message type="chat" to="` + bobProxy + `"><body>` + body + `</body></message>`); err != nil {
			t.Fatal(err)
		}
	}
	silent(t, bob, quiet)
	if err := hana.Send(bobProxy, "a real one"); err != nil {
		t.Fatal(err)
	}
	if m := message(t, bob); m.Body != "a real one" {
		t.Fatalf("bob got %s", m.Raw)
	}
}

// TestBounceFromAnAddressThatNeverWorked: Prosody answers a message to an
// account that does not exist with service-unavailable, as it does a
// block. The author is told plainly; the relationship, which never
// worked, is not marked gone. A contact who did write and then blocks
// the persona is (TestContactWhoBlocksIsMarkedGone).
func TestBounceFromAnAddressThatNeverWorked(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana := w.client("hana")
	if err := hana.Send(`nobody\40ext.test@gw.corp.test`, "are you there?"); err != nil {
		t.Fatal(err)
	}
	n := hana.Expect(t, waitShort, func(s testenv.Stanza) bool {
		return s.Kind == "message" && strings.Contains(s.Body, "could not be delivered")
	})
	if bare(n.From) != `nobody\40ext.test@gw.corp.test` || !strings.Contains(n.Body, "does not exist") {
		t.Fatalf("notice %s", n.Raw)
	}
	var rows []contactRow
	w.gw.JSON(&rows, "contacts", "list")
	if len(rows) != 1 || rows[0].Relationship.Gone != "" {
		t.Fatalf("contacts %+v", rows)
	}
	var audit []struct{ Action string }
	w.gw.JSON(&audit, "audit", "--action", "relationship.gone")
	if len(audit) != 0 {
		t.Fatalf("audit %+v", audit)
	}
	silent(t, hana, quiet)
}
