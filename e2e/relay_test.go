package e2e

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/testenv"
)

// TestRelayBothWaysWithoutLeak is the main job: Hana writes to bob through
// bob's proxy address, bob sees only her persona, bob replies and Hana gets
// it from the proxy. Everything bob's client received is scanned for inside
// identifiers.
func TestRelayBothWaysWithoutLeak(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, bob := w.client("hana"), w.client("bob")

	const insideID = "hana-inside-stanza-7f3a9"
	// A link to an intranet page as a shared file (OOB) is not carried
	// out: Hana is told, and nothing reaches bob.
	if err := hana.SendRaw(fmt.Sprintf(`<message to='%s' id='%s-link' type='chat'><body>Hello Bob, this is about your order.</body><thread>inside-thread-42</thread><x xmlns='jabber:x:oob'><url>https://intranet.corp.test/secret</url></x></message>`, bobProxy, insideID)); err != nil {
		t.Fatal(err)
	}
	if n := message(t, hana); bare(n.From) != bobProxy || !strings.Contains(n.Body, `"secret"`) || !strings.Contains(n.Body, "upload service") {
		t.Fatalf("hana was told %s", n.Raw)
	}
	if err := hana.SendRaw(fmt.Sprintf(`<message to='%s' id='%s' type='chat'><body>Hello Bob, this is about your order.</body><thread>inside-thread-42</thread></message>`, bobProxy, insideID)); err != nil {
		t.Fatal(err)
	}
	// bob gets the message and a subscription request from the persona,
	// in either order.
	var got, sub testenv.Stanza
	for got.Raw == "" || sub.Raw == "" {
		s := bob.Expect(t, waitShort, func(s testenv.Stanza) bool {
			return (s.Kind == "message" && s.Body != "") || (s.Kind == "presence" && s.Type == "subscribe")
		})
		if s.Kind == "message" {
			got = s
		} else {
			sub = s
		}
	}
	if bare(sub.From) != hanaAddr || sub.Nick != "ACME Sales · Hana" {
		t.Fatalf("subscription request: %s", sub.Raw)
	}
	if bare(got.From) != hanaAddr || got.Body != "Hello Bob, this is about your order." || got.Type != "chat" {
		t.Fatalf("bob got %s", got.Raw)
	}
	if got.Nick != "ACME Sales · Hana" {
		t.Fatalf("nick = %q, want the persona's display name (XEP-0172): %s", got.Nick, got.Raw)
	}

	// vCard (XEP-0054) of the persona answers the persona's name.
	if err := bob.SendRaw(`<iq type='get' id='vc1' to='` + hanaAddr + `'><vCard xmlns='vcard-temp'/></iq>`); err != nil {
		t.Fatal(err)
	}
	vc := bob.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.Kind == "iq" && s.ID == "vc1" })
	if vc.Type != "result" || !strings.Contains(vc.Raw, "<FN>ACME Sales · Hana</FN>") {
		t.Fatalf("vCard: %s", vc.Raw)
	}
	// Software version is not offered outside.
	if err := bob.SendRaw(`<iq type='get' id='ver1' to='` + hanaAddr + `'><query xmlns='jabber:iq:version'/></iq>`); err != nil {
		t.Fatal(err)
	}
	ver := bob.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.Kind == "iq" && s.ID == "ver1" })
	if ver.Type != "error" {
		t.Fatalf("version query answered: %s", ver.Raw)
	}

	// bob replies to the persona; Hana gets it from bob's proxy address.
	if err := bob.Send(hanaAddr, "Thanks, Hana!"); err != nil {
		t.Fatal(err)
	}
	in := message(t, hana)
	if bare(in.From) != bobProxy || in.Body != "Thanks, Hana!" {
		t.Fatalf("hana got %s", in.Raw)
	}

	// The leak scan: nothing bob received names Hana or the inside.
	raw := bob.RawXML()
	for _, secret := range []string{"Hana Sato", "hana@corp.test", "corp.test", "gw.corp.test", hana.JID, insideID, "inside-thread-42", "intranet", "Kakehashi", "kakehashi"} {
		if secret != "" && strings.Contains(raw, secret) {
			t.Errorf("bob's client received %q:\n%s", secret, raw)
		}
	}
	if res := strings.TrimPrefix(hana.JID, "hana@corp.test/"); res != hana.JID && strings.Contains(raw, res) {
		t.Errorf("bob's client received hana's resource %q", res)
	}
	// bob, on the same server as the employees, asks the inside domains
	// what a client asks a gateway: disco, commands, vCards. No one is
	// there for him, and the answers name nothing.
	for i, q := range []struct{ to, typ, payload string }{
		{"gw.corp.test", "get", `<query xmlns='http://jabber.org/protocol/disco#info'/>`},
		{"gw.corp.test", "get", `<query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/>`},
		{"gw.corp.test", "set", `<command xmlns='http://jabber.org/protocol/commands' node='my-contacts' action='execute'/>`},
		{bobProxy, "get", `<vCard xmlns='vcard-temp'/>`},
		{"mail.gw.corp.test", "get", `<query xmlns='http://jabber.org/protocol/disco#info'/>`},
	} {
		id := fmt.Sprintf("in%d", i)
		if err := bob.SendRaw(`<iq type='` + q.typ + `' id='` + id + `' to='` + q.to + `'>` + q.payload + `</iq>`); err != nil {
			t.Fatal(err)
		}
		r := bob.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.Kind == "iq" && s.ID == id })
		if r.Type != "error" || strings.Contains(r.Raw, "Kakehashi") || strings.Contains(r.Raw, "automation") || strings.Contains(r.Raw, "<FN>") {
			t.Errorf("bob asked %s for %s: %s", q.to, q.payload, r.Raw)
		}
		if q.to != "mail.gw.corp.test" && r.ErrorCondition != "item-not-found" { // no such component in this world: the server answers
			t.Errorf("bob asked %s for %s: %s", q.to, q.payload, r.Raw)
		}
	}

	// The relationship is Hana's, started by her outreach.
	var cs []adminapi.ContactView
	w.gw.JSON(&cs, "contacts", "list", "--owner", "hana")
	if len(cs) != 1 || cs[0].Contact.Address.Addr != "bob@ext.test" || cs[0].Relationship.PersonaID != "hana.sales" || cs[0].Contact.Source != "outreach" {
		t.Fatalf("hana's contacts: %+v", cs)
	}
}

// TestNewContactBelongsToPersonaOwner: an unknown address writing to a
// persona becomes a contact owned by the persona's employee.
func TestNewContactBelongsToPersonaOwner(t *testing.T) {
	w := newWorld(t, worldOptions{})
	ken, alice := w.client("ken"), w.client("alice")
	if err := alice.Send(kenAddr, "Hi, I saw your booth"); err != nil {
		t.Fatal(err)
	}
	got := message(t, ken)
	if bare(got.From) != `alice\40ext.test@gw.corp.test` || got.Body != "Hi, I saw your booth" {
		t.Fatalf("ken got %s", got.Raw)
	}
	var cs []adminapi.ContactView
	w.gw.JSON(&cs, "contacts", "list", "--owner", "ken")
	if len(cs) != 1 || cs[0].Contact.Address.Addr != "alice@ext.test" || cs[0].Contact.Source != "inbound" || cs[0].Relationship.OwnerID != "ken" {
		t.Fatalf("ken's contacts: %+v", cs)
	}
}

// TestNoOpenRelay: nothing is relayed outside→outside or inside→inside, and
// only active employees write outward; each refusal reaches the sender as an
// XMPP error their client shows.
func TestNoOpenRelay(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, bob, alice := w.client("hana"), w.client("bob"), w.client("alice")

	cases := []struct {
		name     string
		from     *testenv.Client
		to       string
		cond     string
		errText  string
		observer *testenv.Client
	}{
		{"outside sender to the inside component", bob, `alice\40ext.test@gw.corp.test`, "forbidden", "only employees", alice},
		{"inside to inside through a proxy", hana, `ken\40corp.test@gw.corp.test`, "forbidden", "never relayed", nil},
		{"outside to an unknown persona", bob, "nobody@contact.acme.test", "item-not-found", "no one at", nil},
		{"proxy address that names no one", hana, "bob@gw.corp.test", "item-not-found", "does not name an outside address", nil},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := fmt.Sprintf("relay-%d", i)
			if err := c.from.SendRaw(fmt.Sprintf(`<message to='%s' id='%s' type='chat'><body>relay me</body></message>`, c.to, id)); err != nil {
				t.Fatal(err)
			}
			e := c.from.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.Kind == "message" && s.ID == id })
			if e.Type != "error" || e.ErrorCondition != c.cond || !strings.Contains(e.ErrorText, c.errText) {
				t.Fatalf("got %s, want error %s mentioning %q", e.Raw, c.cond, c.errText)
			}
			if c.observer != nil {
				silent(t, c.observer, 500*time.Millisecond)
			}
		})
	}
}

// TestBadInput: oversize bodies, malformed stanzas and queries for unknown
// addresses get clear errors, and the gateway keeps working.
func TestBadInput(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, bob := w.client("hana"), w.client("bob")

	big := strings.Repeat("x", 5000)
	if err := hana.SendRaw(`<message to='` + bobProxy + `' id='big1' type='chat'><body>` + big + `</body></message>`); err != nil {
		t.Fatal(err)
	}
	e := hana.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.ID == "big1" })
	if e.Type != "error" || e.ErrorCondition != "not-acceptable" || !strings.Contains(e.ErrorText, "too long") {
		t.Fatalf("oversize: %s", e.Raw)
	}
	// vCard of a persona that does not exist.
	if err := bob.SendRaw(`<iq type='get' id='vc-missing' to='ghost@contact.acme.test'><vCard xmlns='vcard-temp'/></iq>`); err != nil {
		t.Fatal(err)
	}
	e = bob.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.ID == "vc-missing" })
	if e.Type != "error" || e.ErrorCondition != "item-not-found" {
		t.Fatalf("unknown persona vCard: %s", e.Raw)
	}
	// Odd stanzas: no body, unknown IQ payload, unknown message type.
	for _, raw := range []string{
		`<message to='` + hanaAddr + `' id='nobody'><active xmlns='http://jabber.org/protocol/chatstates'/></message>`,
		`<message to='` + hanaAddr + `' type='groupchat' id='gc'><body>group</body></message>`,
		`<iq type='set' id='odd-iq' to='` + hanaAddr + `'><weird xmlns='urn:example:weird'><deep><deeper/></deep></weird></iq>`,
		`<presence to='` + hanaAddr + `' type='subscribe' id='sub-ok'/>`,
	} {
		if err := bob.SendRaw(raw); err != nil {
			t.Fatal(err)
		}
	}
	e = bob.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.ID == "odd-iq" })
	if e.Type != "error" || e.ErrorCondition != "service-unavailable" {
		t.Fatalf("unknown iq: %s", e.Raw)
	}
	// Still relaying.
	if err := bob.Send(hanaAddr, "still there?"); err != nil {
		t.Fatal(err)
	}
	got := message(t, hana)
	if got.Body != "still there?" {
		t.Fatalf("after bad input hana got %s", got.Raw)
	}
	silent(t, hana, 300*time.Millisecond) // the groupchat and the chat state were not relayed
	// silent only sees messages with a body; a relayed chat state has none,
	// so look at everything hana received on the wire.
	if odd := chatStatesAndGroupchats(t, hana.RawXML()); len(odd) > 0 {
		t.Fatalf("hana received chat states or group chat messages:\n%s", strings.Join(odd, "\n"))
	}
}

// nsChatStates is XEP-0085's namespace.
const nsChatStates = "http://jabber.org/protocol/chatstates"

// chatStatesAndGroupchats returns the messages in raw, a client's received
// XML (Client.RawXML), that are of type groupchat or carry a chat state.
func chatStatesAndGroupchats(t *testing.T, raw string) []string {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(raw))
	var odd []string
	depth, msgDepth := 0, -1 // msgDepth: depth of the message being read, or -1
	var msgStart int64
	bad := false
	for {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			var syn *xml.SyntaxError
			// The stream is still open: running out of input is its end.
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || (errors.As(err, &syn) && syn.Msg == "unexpected EOF") {
				return odd
			}
			t.Fatalf("received XML does not parse: %v\n%s", err, raw)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			if msgDepth < 0 && tok.Name.Local == "message" {
				msgDepth, msgStart, bad = depth, off, false
				for _, a := range tok.Attr {
					if a.Name.Space == "" && a.Name.Local == "type" && a.Value == "groupchat" {
						bad = true
					}
				}
			}
			if msgDepth >= 0 && tok.Name.Space == nsChatStates {
				bad = true
			}
		case xml.EndElement:
			if depth == msgDepth {
				if bad {
					odd = append(odd, raw[msgStart:dec.InputOffset()])
				}
				msgDepth = -1
			}
			depth--
		}
	}
}

// TestRedeliveryDeduplicated: the same stanza (same sender, same ID) sent
// twice reaches the owner once.
func TestRedeliveryDeduplicated(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, bob := w.client("hana"), w.client("bob")
	for i := 0; i < 2; i++ {
		if err := bob.SendRaw(`<message to='` + hanaAddr + `' id='dup-1' type='chat'><body>only once</body></message>`); err != nil {
			t.Fatal(err)
		}
	}
	if err := bob.SendRaw(`<message to='` + hanaAddr + `' id='dup-2' type='chat'><body>next</body></message>`); err != nil {
		t.Fatal(err)
	}
	if got := message(t, hana); got.Body != "only once" {
		t.Fatalf("first: %s", got.Raw)
	}
	if got := message(t, hana); got.Body != "next" {
		t.Fatalf("the duplicate was delivered: %s", got.Raw)
	}
}

// ownerOf returns the owner of contact addr's relationship.
func ownerOf(t *testing.T, w *world, addr string) identity.Relationship {
	t.Helper()
	var cs []adminapi.ContactView
	w.gw.JSON(&cs, "contacts", "list")
	for _, c := range cs {
		if c.Contact.Address.Addr == addr {
			return c.Relationship
		}
	}
	t.Fatalf("no relationship with %s in %+v", addr, cs)
	return identity.Relationship{}
}

// TestBounceIsReportedToTheSender: a message to an outside address that
// does not exist bounces at the outside server; Hana is told, from the
// contact's proxy address, naming the reason.
func TestBounceIsReportedToTheSender(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana := w.client("hana")
	const ghost = `ghost\40ext.test@gw.corp.test`
	if err := hana.Send(ghost, "Is anyone there?"); err != nil {
		t.Fatal(err)
	}
	got := message(t, hana)
	if bare(got.From) != ghost || !strings.Contains(got.Body, "could not be delivered") || !strings.Contains(got.Body, "Is anyone there?") {
		t.Fatalf("hana got %s", got.Raw)
	}
	if !strings.Contains(got.Body, "service-unavailable") {
		t.Errorf("the notice does not say why: %s", got.Body)
	}
	var st map[string]int64
	w.gw.JSON(&st, "queue")
	if st["failed"] != 1 {
		t.Fatalf("queue after a bounce: %v, want the bounced message marked failed", st)
	}
}
