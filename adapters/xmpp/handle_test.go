package xmpp

import (
	"context"
	"encoding/xml"
	"strings"
	"sync"
	"testing"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/commands"

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

func (r *recordingCore) Failed(_ context.Context, _, id, reason, gone string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, id+"|"+reason+"|"+gone)
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
	}{
		{"item-not-found", "", identity.Outside, "does not exist", false},
		{"remote-server-not-found", "", identity.Outside, "could not be found", false},
		{"service-unavailable", "", identity.Outside, "blocked you", true},
		{"service-unavailable", "", identity.Inside, "blocked you", false},
		{"jid-malformed", "", identity.Outside, "not valid", false},
		{"resource-constraint", strings.Repeat("x", 500), identity.Outside, "resource-constraint: xxx", false},
	} {
		c := newTestComponent(t, tt.side)
		core := &recordingCore{}
		err := `<error type="cancel"><` + tt.cond + ` xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>`
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
