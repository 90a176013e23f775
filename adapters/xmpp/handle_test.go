package xmpp

import (
	"context"
	"encoding/xml"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/commands"
	"mellium.im/xmpp/disco"
	"mellium.im/xmpp/disco/info"
	"mellium.im/xmpp/ping"
	"mellium.im/xmpp/stanza"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
)

// recordingCore is fakeCore that remembers what reached the gateway.
type recordingCore struct {
	fakeCore
	mu       sync.Mutex
	received []*gateway.Message
	failed   []string // "id|reason|gone"
}

func (r *recordingCore) Receive(_ context.Context, m *gateway.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.received = append(r.received, m)
	return nil
}

func (r *recordingCore) Failed(_ context.Context, b gateway.Bounce) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, b.ID+"|"+b.Reason+"|"+b.Gone)
}

func msgXML(typ, from, to, id, inner string) string {
	return `<message xmlns="jabber:component:accept" type="` + typ + `" from="` + from + `" to="` + to + `" id="` + id + `">` + inner + `</message>`
}

// TestInsideDomainsAnswerOnlyEmployees: an outside user (or anyone who is
// not an active employee) who asks the inside component about itself or
// a proxy address learns nothing: every query is refused as for an
// address where no one is. The outside test found the gateway identity,
// the commands feature and a proxy's vCard given to a stranger.
func TestInsideDomainsAnswerOnlyEmployees(t *testing.T) {
	queries := map[string]string{
		"disco#info":    `<query xmlns="http://jabber.org/protocol/disco#info"/>`,
		"disco#items":   `<query xmlns="http://jabber.org/protocol/disco#items"/>`,
		"command list":  `<query xmlns="http://jabber.org/protocol/disco#items" node="http://jabber.org/protocol/commands"/>`,
		"command node":  `<query xmlns="http://jabber.org/protocol/disco#info" node="broadcast"/>`,
		"execute":       executeXML("broadcast"),
		"vCard":         `<vCard xmlns="vcard-temp"/>`,
		"ping":          `<ping xmlns="urn:xmpp:ping"/>`,
		"version":       `<query xmlns="jabber:iq:version"/>`,
		"commands node": `<query xmlns="http://jabber.org/protocol/disco#info" node="http://jabber.org/protocol/commands"/>`,
	}
	for _, from := range []string{"bob@ext.test/pc", "Bob@Ext.Test/pc", stranger, "mallory@corp.test.evil/x", "ext.test"} {
		for _, to := range []string{testDomain, proxyAddr} {
			for name, q := range queries {
				typ := "get"
				if strings.Contains(q, "command ") || strings.HasPrefix(q, "<command") {
					typ = "set"
				}
				c := newTestComponent(t, identity.Inside)
				cmdr := newCommander()
				r := exchange(t, c, cmdr, iqXML(typ, from, to, "q1", q))
				if cond, _ := r.condition(); r.Type != "error" || cond != "item-not-found" || r.Error.Type != "cancel" {
					t.Errorf("%s asks %s for %s: %s", from, to, name, r.raw)
				}
				for _, leak := range []string{"Kakehashi", "Bob (ext)", commands.NS + `"`, "automation"} {
					if strings.Contains(r.raw, leak) {
						t.Errorf("%s asks %s for %s: the answer names %q: %s", from, to, name, leak, r.raw)
					}
				}
				if n := len(cmdr.callsOf("")); n != 0 {
					t.Errorf("%s asks %s for %s: the Commander was consulted %d times", from, to, name, n)
				}
			}
		}
	}
	// An employee still gets the answers.
	c := newTestComponent(t, identity.Inside)
	if r := exchange(t, c, newCommander(), iqXML("get", hanaPhone, proxyAddr, "v1", `<vCard xmlns="vcard-temp"/>`)); r.Type != "result" || !strings.Contains(r.raw, "Bob (ext)") {
		t.Errorf("employee's vCard query: %s", r.raw)
	}
	// An outside component answers anyone: its addresses are personas.
	c = newTestComponent(t, identity.Outside)
	if r := exchange(t, c, fakeCore{}, iqXML("get", "bob@ext.test/pc", testDomain, "v2", `<query xmlns="http://jabber.org/protocol/disco#info"/>`)); r.Type != "result" {
		t.Errorf("outside disco: %s", r.raw)
	}
}

// TestInsidePresenceOnlyForEmployees: a stranger's subscription to a
// proxy address is refused; a probe gets nothing.
func TestInsidePresenceOnlyForEmployees(t *testing.T) {
	c := newTestComponent(t, identity.Inside)
	out := handleRaw(t, c, fakeCore{}, `<presence xmlns="jabber:component:accept" type="subscribe" from="bob@ext.test" to="`+proxyAddr+`"/>`)
	raw := renderTokens(out)
	if !strings.Contains(raw, `type="error"`) || !strings.Contains(raw, "item-not-found") || strings.Contains(raw, "Bob (ext)") {
		t.Errorf("stranger's subscribe: %s", raw)
	}
	if out := handleRaw(t, c, fakeCore{}, `<presence xmlns="jabber:component:accept" type="probe" from="bob@ext.test" to="`+proxyAddr+`"/>`); len(out) != 0 {
		t.Errorf("stranger's probe answered: %s", renderTokens(out))
	}
	raw = renderTokens(handleRaw(t, c, fakeCore{}, `<presence xmlns="jabber:component:accept" type="subscribe" from="hana@corp.test" to="`+proxyAddr+`"/>`))
	if !strings.Contains(raw, `type="subscribed"`) || !strings.Contains(raw, "Bob (ext)") {
		t.Errorf("employee's subscribe: %s", raw)
	}
}

// TestMessagesNotRelayedAreAnswered: an employee's groupchat, headline or
// text sent as type error reaches no one, and the employee is told what
// the gateway relays; the same from outside is dropped unanswered
// (automated or room traffic), and a blank body is nothing to relay.
func TestMessagesNotRelayedAreAnswered(t *testing.T) {
	for _, tt := range []struct {
		name   string
		side   identity.Side
		stanza string
		answer bool
	}{
		{"groupchat", identity.Inside, msgXML("groupchat", hanaPhone, proxyAddr, "g1", "<body>hello room</body>"), true},
		{"headline", identity.Inside, msgXML("headline", hanaPhone, proxyAddr, "h1", "<body>news</body>"), true},
		{"error type, text only", identity.Inside, msgXML("error", hanaPhone, proxyAddr, "e1", "<body>hi</body>"), true},
		{"groupchat to the domain", identity.Inside, msgXML("groupchat", hanaPhone, testDomain, "g2", "<body>x</body>"), true},
		{"outside groupchat", identity.Outside, msgXML("groupchat", "room@muc.ext.test/bob", "hana.sales@contact.acme.test", "g3", "<body>x</body>"), false},
		{"outside headline", identity.Outside, msgXML("headline", "news.ext.test", "hana.sales@contact.acme.test", "h2", "<body>x</body>"), false},
		{"outside text as error", identity.Outside, msgXML("error", "bob@ext.test", "hana.sales@contact.acme.test", "e2", "<body>x</body>"), false},
		{"groupchat without body", identity.Inside, msgXML("groupchat", hanaPhone, proxyAddr, "g4", `<subject>topic</subject>`), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestComponent(t, tt.side)
			core := &recordingCore{}
			raw := renderTokens(handleRaw(t, c, core, tt.stanza))
			if len(core.received) != 0 {
				t.Errorf("relayed: %+v", core.received[0])
			}
			if !tt.answer {
				if raw != "" {
					t.Errorf("answered: %s", raw)
				}
				return
			}
			for _, want := range []string{`type="error"`, `to="` + hanaPhone + `"`, "feature-not-implemented", `type="cancel"`, "one-to-one messages only"} {
				if !strings.Contains(raw, want) {
					t.Errorf("answer lacks %s: %s", want, raw)
				}
			}
		})
	}
	for _, body := range []string{"", " ", "\n\t ", "\u00a0 \u3000"} {
		c := newTestComponent(t, identity.Inside)
		core := &recordingCore{}
		handleRaw(t, c, core, msgXML("chat", hanaPhone, proxyAddr, "b1", "<body>"+body+"</body>"))
		if len(core.received) != 0 {
			t.Errorf("blank body %q relayed", body)
		}
	}
	c := newTestComponent(t, identity.Inside)
	core := &recordingCore{}
	handleRaw(t, c, core, msgXML("normal", hanaPhone, proxyAddr, "n1", "<body> hi </body>"))
	if len(core.received) != 1 || core.received[0].Body != " hi " {
		t.Errorf("a normal message with text: %+v", core.received)
	}
}

// TestBounceWording: a bounce is reported off the read loop with a reason
// a person understands; only service-unavailable from an outside server
// can say the contact is gone (the gateway decides whether it is).
func TestBounceWording(t *testing.T) {
	for _, tt := range []struct {
		cond, text string
		side       identity.Side
		reason     string
		gone       bool
		attrs      string
	}{
		{"item-not-found", "", identity.Outside, "does not exist", false, ""},
		{"remote-server-not-found", "", identity.Outside, "could not be found", false, ""},
		{"service-unavailable", "", identity.Outside, "blocked you", true, ""},
		{"service-unavailable", "", identity.Inside, "blocked you", false, ""},
		{"jid-malformed", "", identity.Outside, "not valid", false, ""},
		{"resource-constraint", strings.Repeat("x", 500), identity.Outside, "resource-constraint: xxx", false, ""},
		// A by jid.Parse refuses loses nothing: the gateway does not use it.
		{"item-not-found", "", identity.Outside, "does not exist", false, ` by="a@@b"`},
	} {
		c := newTestComponent(t, tt.side)
		core := &recordingCore{}
		err := `<error type="cancel"` + tt.attrs + `><` + tt.cond + ` xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>`
		if tt.text != "" {
			err += `<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">` + tt.text + `</text>`
		}
		err += `</error>`
		handleRaw(t, c, core, msgXML("error", "bob@ext.test", "hana.sales@contact.acme.test", "out1", "<body>hi</body>"+err))
		if len(core.failed) != 1 {
			t.Fatalf("%s: Failed called %d times", tt.cond, len(core.failed))
		}
		parts := strings.SplitN(core.failed[0], "|", 3)
		if parts[0] != "out1" || !strings.Contains(parts[1], tt.reason) || (parts[2] != "") != tt.gone {
			t.Errorf("%s on %s: Failed(%q)", tt.cond, tt.side, core.failed[0])
		}
		if len(parts[1]) > 400 {
			t.Errorf("%s: reason %d bytes long", tt.cond, len(parts[1]))
		}
	}
}

// blockingCommander's commands wait until release is closed: a broadcast
// to thousands of contacts, as the read loop sees it.
type blockingCommander struct {
	*fakeCommander
	started chan struct{}
	release chan struct{}
	rec     *recordingCore
}

func (b *blockingCommander) RunCommand(ctx context.Context, network, from, node string, values map[string][]string) (gateway.CommandResult, error) {
	close(b.started)
	<-b.release
	return b.fakeCommander.RunCommand(ctx, network, from, node, values)
}

func (b *blockingCommander) Receive(ctx context.Context, m *gateway.Message) error {
	return b.rec.Receive(ctx, m)
}

// TestSlowCommandDoesNotHoldUpMessages: while one employee's command
// runs, the read loop goes on: the next stanza (another employee's
// message) reaches the gateway at once, and the command's answer comes
// when it is done.
func TestSlowCommandDoesNotHoldUpMessages(t *testing.T) {
	c := newTestComponent(t, identity.Inside)
	b := &blockingCommander{fakeCommander: newCommander(), started: make(chan struct{}), release: make(chan struct{}), rec: &recordingCore{}}
	sid, _ := start(t, c, b, hanaPhone, "tag-contact")

	var mu sync.Mutex
	var answers []string
	c.bg.send = func(_ context.Context, st xml.TokenReader) error {
		toks, err := xmlstream.ReadAll(st)
		mu.Lock()
		defer mu.Unlock()
		answers = append(answers, renderTokens(toks))
		return err
	}
	handle := func(raw string) {
		t.Helper()
		d := xml.NewDecoder(strings.NewReader(raw))
		tok, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		st := tok.(xml.StartElement).Copy()
		if err := c.handle(t.Context(), b, &tokenCapture{TokenReader: xmlstream.InnerElement(d)}, &st); err != nil {
			t.Fatal(err)
		}
	}
	handle(iqXML("set", hanaPhone, testDomain, "slow", submitXML("tag-contact", sid, "complete", "")))
	<-b.started
	handle(msgXML("chat", "ken@corp.test/pc", proxyAddr, "m1", "<body>meanwhile</body>"))
	b.rec.mu.Lock()
	got := len(b.rec.received)
	b.rec.mu.Unlock()
	if got != 1 {
		t.Fatalf("the message behind a running command reached the gateway %d times, want 1", got)
	}
	mu.Lock()
	if len(answers) != 0 {
		t.Fatalf("answered before the command was done: %v", answers)
	}
	mu.Unlock()
	close(b.release)
	c.bg.wg.Wait()
	if len(answers) != 1 || !strings.Contains(answers[0], `id="slow"`) || !strings.Contains(answers[0], `type="result"`) {
		t.Fatalf("command answer: %v", answers)
	}
}

// directoryCore is fakeCore with its own addresses: personas, say.
type directoryCore struct {
	fakeCore
	names map[string]string
}

func (d directoryCore) Profile(_, addr string) (gateway.Profile, bool) {
	name, ok := d.names[addr]
	return gateway.Profile{Name: name}, ok
}

// TestDiscoAnswers: disco#info, read back with mellium's disco types, says
// what is at each kind of address, and nothing more: the component's own
// domain is a gateway (offering commands inside only, where the gateway
// has them), a persona or a proxy address an account. Outside, nothing
// names the gateway's software or its commands.
func TestDiscoAnswers(t *testing.T) {
	base := []string{disco.NSInfo, ping.NS, nsVCard}
	persona := directoryCore{names: map[string]string{"hana.sales@gw.corp.test": "ACME Sales · Hana"}}
	for _, tt := range []struct {
		name     string
		side     identity.Side
		core     gateway.Core
		from, to string
		identity info.Identity
		features []string
	}{
		{"own domain inside", identity.Inside, newCommander(), hanaPhone, testDomain,
			info.Identity{Category: "gateway", Type: "xmpp", Name: "Kakehashi contacts"}, append(slices.Clone(base), commands.NS)},
		{"own domain inside, no commands", identity.Inside, fakeCore{}, hanaPhone, testDomain,
			info.Identity{Category: "gateway", Type: "xmpp", Name: "Kakehashi contacts"}, base},
		{"own domain outside", identity.Outside, newCommander(), "bob@ext.test/pc", testDomain,
			info.Identity{Category: "gateway", Type: "xmpp", Name: testDomain}, base},
		{"proxy address", identity.Inside, newCommander(), hanaPhone, proxyAddr,
			info.Identity{Category: "account", Type: "registered"}, base},
		{"persona", identity.Outside, persona, "bob@ext.test/pc", "hana.sales@gw.corp.test",
			info.Identity{Category: "account", Type: "registered"}, base},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestComponent(t, tt.side)
			raw := renderTokens(handleRaw(t, c, tt.core, iqXML("get", tt.from, tt.to, "d1", `<query xmlns="http://jabber.org/protocol/disco#info"/>`)))
			var r struct {
				Type string     `xml:"type,attr"`
				From string     `xml:"from,attr"`
				To   string     `xml:"to,attr"`
				ID   string     `xml:"id,attr"`
				Info disco.Info `xml:"http://jabber.org/protocol/disco#info query"`
			}
			if err := xml.Unmarshal([]byte(raw), &r); err != nil {
				t.Fatalf("%v: %s", err, raw)
			}
			if r.Type != "result" || r.From != tt.to || r.To != tt.from || r.ID != "d1" || r.Info.Node != "" {
				t.Errorf("answer %s", raw)
			}
			if len(r.Info.Identity) != 1 {
				t.Fatalf("identities %+v: %s", r.Info.Identity, raw)
			}
			if id := r.Info.Identity[0]; id.Category != tt.identity.Category || id.Type != tt.identity.Type || id.Name != tt.identity.Name || id.Lang != "" {
				t.Errorf("identity %+v, want %+v", id, tt.identity)
			}
			var features []string
			for _, f := range r.Info.Features {
				features = append(features, f.Var)
			}
			if !slices.Equal(features, tt.features) {
				t.Errorf("features %q, want %q", features, tt.features)
			}
			if tt.side == identity.Outside {
				for _, leak := range []string{"Kakehashi", commands.NS, "Hana", "automation"} {
					if strings.Contains(raw, leak) {
						t.Errorf("the outside learns %q: %s", leak, raw)
					}
				}
			}
		})
	}
}

// TestVCardAndPing: a vCard names who is at the address (FN and NICKNAME);
// the domain has none; a ping is answered with an empty result.
func TestVCardAndPing(t *testing.T) {
	persona := directoryCore{names: map[string]string{"hana.sales@gw.corp.test": "ACME <Sales> & Hana"}}
	c := newTestComponent(t, identity.Outside)
	raw := renderTokens(handleRaw(t, c, persona, iqXML("get", "bob@ext.test/pc", "hana.sales@gw.corp.test", "v1", `<vCard xmlns="vcard-temp"/>`)))
	want := []string{
		`{}iq from=hana.sales@gw.corp.test id=v1 to=bob@ext.test/pc type=result`,
		`  {vcard-temp}vCard`,
		`    {vcard-temp}FN`,
		`      "ACME <Sales> & Hana"`,
		`    {vcard-temp}NICKNAME`,
		`      "ACME <Sales> & Hana"`,
	}
	if got := outline(t, raw); !slices.Equal(got, want) {
		t.Errorf("vCard\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	raw = renderTokens(handleRaw(t, c, persona, iqXML("get", "bob@ext.test/pc", testDomain, "v2", `<vCard xmlns="vcard-temp"/>`)))
	if e := parsedError(t, raw); e.Condition != stanza.ServiceUnavailable || e.Type != stanza.Cancel {
		t.Errorf("the domain's vCard: %s", raw)
	}
	for _, to := range []string{testDomain, "hana.sales@gw.corp.test"} {
		raw = renderTokens(handleRaw(t, c, persona, iqXML("get", "bob@ext.test/pc", to, "p1", `<ping xmlns="urn:xmpp:ping"/>`)))
		if got, want := outline(t, raw), []string{`{}iq from=` + to + ` id=p1 to=bob@ext.test/pc type=result`}; !slices.Equal(got, want) {
			t.Errorf("ping %s: %q, want %q", to, got, want)
		}
	}
}

// TestIQAddressing: an answer goes back to the sender as the server spelled
// it, from the bare address asked; what cannot be answered is an error
// whose condition, type and text read back with mellium's reader.
func TestIQAddressing(t *testing.T) {
	c := newTestComponent(t, identity.Inside)
	for _, tt := range []struct {
		name, from, to, payload string
		wantFrom, wantTo        string
		cond                    stanza.Condition // "" for a result
		text                    string
	}{
		{"invalid address", hanaPhone, "bad@@to", `<ping xmlns="urn:xmpp:ping"/>`, testDomain, hanaPhone, stanza.BadRequest, "invalid address"},
		{"invalid sender", "a@@b", proxyAddr, `<ping xmlns="urn:xmpp:ping"/>`, proxyAddr, "a@@b", stanza.BadRequest, "invalid sender address"},
		{"no one there", hanaPhone, "nobody@gw.corp.test", `<ping xmlns="urn:xmpp:ping"/>`, "nobody@gw.corp.test", hanaPhone, stanza.ItemNotFound, "there is no one at this address"},
		{"software version", hanaPhone, proxyAddr, `<query xmlns="jabber:iq:version"/>`, proxyAddr, hanaPhone, stanza.ServiceUnavailable, ""},
		{"no payload", hanaPhone, proxyAddr, "", proxyAddr, hanaPhone, stanza.ServiceUnavailable, ""},
		{"whitespace only", hanaPhone, proxyAddr, "\n  ", proxyAddr, hanaPhone, stanza.ServiceUnavailable, ""},
		{"sender spelled in capitals", "Hana@Corp.Test/Phone", proxyAddr, `<ping xmlns="urn:xmpp:ping"/>`, proxyAddr, "Hana@Corp.Test/Phone", "", ""},
		{"address spelled in capitals, with a resource", hanaPhone, `Bob\40Ext.Test@GW.corp.test/x`, `<ping xmlns="urn:xmpp:ping"/>`, proxyAddr, hanaPhone, "", ""},
		{"domain blanked by mellium", hanaPhone, "", `<ping xmlns="urn:xmpp:ping"/>`, testDomain, hanaPhone, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw := renderTokens(handleRaw(t, c, fakeCore{}, iqXML("get", tt.from, tt.to, "a1", tt.payload)))
			var r struct {
				Type string `xml:"type,attr"`
				From string `xml:"from,attr"`
				To   string `xml:"to,attr"`
				ID   string `xml:"id,attr"`
			}
			if err := xml.Unmarshal([]byte(raw), &r); err != nil {
				t.Fatalf("%v: %q", err, raw)
			}
			if r.From != tt.wantFrom || r.To != tt.wantTo || r.ID != "a1" {
				t.Errorf("addressed from %q to %q: %s", r.From, r.To, raw)
			}
			if tt.cond == "" {
				if r.Type != "result" {
					t.Errorf("not a result: %s", raw)
				}
				return
			}
			e := parsedError(t, raw)
			wantText := map[string]string(nil)
			if tt.text != "" {
				wantText = map[string]string{"en": tt.text}
			}
			if r.Type != "error" || e.Condition != tt.cond || e.Type != errorType(tt.cond) || !maps.Equal(e.Text, wantText) {
				t.Errorf("error %+v: %s", e, raw)
			}
		})
	}
	for _, typ := range []string{"result", "error"} {
		if out := handleRaw(t, c, fakeCore{}, iqXML(typ, hanaPhone, proxyAddr, "r1", "")); len(out) != 0 {
			t.Errorf("an IQ %s was answered: %s", typ, renderTokens(out))
		}
	}
}

// replyPresence is a presence the component wrote, parsed back.
type replyPresence struct {
	Type  string        `xml:"type,attr"`
	From  string        `xml:"from,attr"`
	To    string        `xml:"to,attr"`
	ID    string        `xml:"id,attr"`
	Nick  []string      `xml:"http://jabber.org/protocol/nick nick"`
	Error *stanza.Error `xml:"error"`
}

// TestPresenceAnswers: a subscription to an address someone is at is
// granted and returned, naming them, and a probe answered, always from the
// bare address to the bare asker; a removal is confirmed; a subscription
// to no one is refused, back to the asker as the server spelled them.
func TestPresenceAnswers(t *testing.T) {
	c := newTestComponent(t, identity.Inside)
	presenceXML := func(typ, from, to string) string {
		return `<presence xmlns="jabber:component:accept"` + xmlAttr("type", typ) + xmlAttr("from", from) + xmlAttr("to", to) + ` id="p1"/>`
	}
	nick := []string{"Bob (ext)"}
	for _, tt := range []struct {
		typ, from, to string
		want          []replyPresence
	}{
		{"subscribe", hanaPhone, `Bob\40Ext.Test@gw.corp.test/x`, []replyPresence{
			{Type: "subscribed", From: proxyAddr, To: "hana@corp.test"},
			{Type: "subscribe", From: proxyAddr, To: "hana@corp.test", Nick: nick},
			{From: proxyAddr, To: "hana@corp.test", Nick: nick},
		}},
		{"probe", hanaPhone, proxyAddr, []replyPresence{{From: proxyAddr, To: "hana@corp.test", Nick: nick}}},
		{"unsubscribe", hanaPhone, proxyAddr, []replyPresence{{Type: "unsubscribed", From: proxyAddr, To: "hana@corp.test"}}},
		{"unsubscribed", hanaPhone, proxyAddr, nil},
		{"", hanaPhone, proxyAddr, nil},
		{"subscribe", "Hana@Corp.Test/Phone", "nobody@gw.corp.test", []replyPresence{{Type: "error", From: "nobody@gw.corp.test", To: "Hana@Corp.Test/Phone", ID: "p1",
			Error: &stanza.Error{Type: stanza.Cancel, Condition: stanza.ItemNotFound, Text: map[string]string{"en": "there is no one at this address"}}}}},
		{"probe", hanaPhone, "nobody@gw.corp.test", nil},
	} {
		raw := renderTokens(handleRaw(t, c, fakeCore{}, presenceXML(tt.typ, tt.from, tt.to)))
		var got []replyPresence
		d := xml.NewDecoder(strings.NewReader(raw))
		for {
			var p replyPresence
			if err := d.Decode(&p); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%v: %s", err, raw)
			}
			got = append(got, p)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s from %s to %s:\n%+v\nwant\n%+v\n%s", tt.typ, tt.from, tt.to, got, tt.want, raw)
		}
	}
}
