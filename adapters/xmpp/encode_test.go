package xmpp

import (
	"encoding/xml"
	"slices"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// encoded is encodeOutgoing's stanza for out on side, as XML.
func encoded(t *testing.T, out *gateway.Outgoing, side identity.Side) string {
	t.Helper()
	r, err := encodeOutgoing(out, side)
	if err != nil {
		t.Fatal(err)
	}
	return render(t, r)
}

// parsedError is the error of the stanza in doc, read by mellium's own
// reader.
func parsedError(t *testing.T, doc string) stanza.Error {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	if _, err := d.Token(); err != nil {
		t.Fatalf("%v: %s", err, doc)
	}
	e, err := stanza.UnmarshalError(d)
	if err != nil {
		t.Fatalf("%v: %s", err, doc)
	}
	return e
}

// TestEncodeCarriesOnlyTheDecision: the outgoing stanza is built from the
// gateway's decision alone, with escaping; nothing else can slip in.
func TestEncodeCarriesOnlyTheDecision(t *testing.T) {
	out := &gateway.Outgoing{
		From: "hana.sales@contact.acme.test", To: "bob@ext.test", ID: "abc123",
		Body: `5 < 6 & "quotes" </body><evil/>`, Nick: "ACME Sales · Hana",
	}
	raw := encoded(t, out, identity.Outside)
	var m struct {
		XMLName xml.Name
		Attrs   []xml.Attr `xml:",any,attr"`
		Body    string     `xml:"body"`
		Nick    string     `xml:"http://jabber.org/protocol/nick nick"`
		Inner   []struct {
			XMLName xml.Name
		} `xml:",any"`
	}
	if err := xml.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	if m.Body != out.Body || m.Nick != out.Nick {
		t.Fatalf("body/nick not preserved: %s", raw)
	}
	got := map[string]string{}
	for _, a := range m.Attrs {
		got[a.Name.Local] = a.Value
	}
	want := map[string]string{"type": "chat", "from": out.From, "to": out.To, "id": "abc123"}
	if len(got) != len(want) {
		t.Fatalf("attributes %v, want exactly %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("attribute %s = %q, want %q", k, got[k], v)
		}
	}
	if len(m.Inner) != 0 {
		t.Fatalf("unexpected children %v in %s", m.Inner, raw)
	}
}

// TestEncodeMessageMarkup pins a relayed message as it goes on the wire,
// parsed back: subject, body, thread (inside only) and nick, in their
// namespaces, and the addresses as the gateway spelled them (an A-label
// domain stays one, a resource keeps its case).
func TestEncodeMessageMarkup(t *testing.T) {
	out := &gateway.Outgoing{From: `bob\40ext.test@gw.corp.test`, To: "Hana@corp.test/Phone", ID: "m1", Body: "line 1\r\nline 2", Subject: "Quote for <order>", Thread: "m-7f3a", Nick: "Bob"}
	want := []string{
		`{}message from=bob\40ext.test@gw.corp.test id=m1 to=Hana@corp.test/Phone type=chat`,
		`  {}subject`,
		`    "Quote for <order>"`,
		`  {}body`,
		`    "line 1\r\nline 2"`,
		`  {}thread`,
		`    "m-7f3a"`,
		`  {http://jabber.org/protocol/nick}nick`,
		`    "Bob"`,
	}
	if got := outline(t, encoded(t, out, identity.Inside)); !slices.Equal(got, want) {
		t.Errorf("inside\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	out = &gateway.Outgoing{From: "hana.sales@xn--bcher-kva.test", To: "bob@ext.test", Body: "hi"}
	want = []string{`{}message from=hana.sales@xn--bcher-kva.test to=bob@ext.test type=chat`, `  {}body`, `    "hi"`}
	if got := outline(t, encoded(t, out, identity.Outside)); !slices.Equal(got, want) {
		t.Errorf("outside\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestEncodeRefusal: a refusal is an error message answering the refused
// one (its ID), with the condition and type each routing reason maps to
// and the core's text; nothing of a body.
func TestEncodeRefusal(t *testing.T) {
	for _, tt := range []struct {
		reason routing.Reason
		cond   stanza.Condition
		typ    stanza.ErrorType
	}{
		{routing.NoSuchAddress, stanza.ItemNotFound, stanza.Cancel},
		{routing.NotAllowed, stanza.Forbidden, stanza.Auth},
		{routing.TooLarge, stanza.NotAcceptable, stanza.Modify},
		{routing.Unavailable, stanza.ServiceUnavailable, stanza.Cancel},
		{routing.Unreachable, stanza.JIDMalformed, stanza.Cancel},
		{routing.GatewayFailure, stanza.InternalServerError, stanza.Wait},
		{"from-a-newer-gateway", stanza.ServiceUnavailable, stanza.Cancel},
	} {
		t.Run(string(tt.reason), func(t *testing.T) {
			text := "only employees <can> write through this gateway"
			raw := encoded(t, &gateway.Outgoing{
				Kind: gateway.KindRefusal, From: `bob\40ext.test@gw.corp.test`, To: "hana@corp.test/phone", ReplyTo: "orig-1",
				Body: "never sent", Refusal: &routing.Refusal{Reason: tt.reason, Text: text},
			}, identity.Inside)
			var m struct {
				Type string   `xml:"type,attr"`
				From string   `xml:"from,attr"`
				To   string   `xml:"to,attr"`
				ID   string   `xml:"id,attr"`
				Body []string `xml:"body"`
			}
			if err := xml.Unmarshal([]byte(raw), &m); err != nil {
				t.Fatalf("%v: %s", err, raw)
			}
			if m.Type != "error" || m.From != `bob\40ext.test@gw.corp.test` || m.To != "hana@corp.test/phone" || m.ID != "orig-1" || len(m.Body) != 0 {
				t.Errorf("refusal %s", raw)
			}
			e := parsedError(t, raw)
			if e.Condition != tt.cond || e.Type != tt.typ || !maps1(e.Text, "en", text) {
				t.Errorf("error %+v, want %s/%s with the text in English: %s", e, tt.typ, tt.cond, raw)
			}
		})
	}
	// Without a text, none is written.
	raw := encoded(t, &gateway.Outgoing{Kind: gateway.KindRefusal, From: "a@b.test", To: "c@d.test", Refusal: &routing.Refusal{Reason: routing.NotAllowed}}, identity.Outside)
	if e := parsedError(t, raw); e.Condition != stanza.Forbidden || len(e.Text) != 0 || strings.Contains(raw, "text") {
		t.Errorf("refusal without text: %s", raw)
	}
}

// maps1 reports whether m holds exactly one entry, k: v.
func maps1(m map[string]string, k, v string) bool {
	return len(m) == 1 && m[k] == v
}

func TestEncodeRejectsBadAddresses(t *testing.T) {
	for _, out := range []gateway.Outgoing{
		{From: "a@b", To: "not a jid@@", Body: "x"},
		{From: "a@@b", To: "c@d", Body: "x"},
		{From: "a@b", To: "", Body: "x"},
	} {
		if _, err := encodeOutgoing(&out, identity.Outside); err == nil {
			t.Errorf("%q to %q was encoded", out.From, out.To)
		}
	}
}

// TestEncodeThreadOnlyInside: the subject is content and goes both ways; a
// thread token is written only towards employees, so an inside client's
// thread can never reach an outside party.
func TestEncodeThreadOnlyInside(t *testing.T) {
	out := &gateway.Outgoing{From: "a@b.test", To: "c@d.test", ID: "x1", Body: "hi", Subject: "Quote for <order>", Thread: "m-7f3a"}
	var m struct {
		Subject []string `xml:"subject"`
		Thread  []string `xml:"thread"`
	}
	raw := encoded(t, out, identity.Inside)
	if err := xml.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Thread, []string{"m-7f3a"}) || !slices.Equal(m.Subject, []string{"Quote for <order>"}) {
		t.Fatalf("inside stanza lacks thread or subject: %s", raw)
	}
	outside := encoded(t, out, identity.Outside)
	if strings.Contains(outside, "thread") || strings.Contains(outside, "m-7f3a") {
		t.Fatalf("outside stanza carries the thread: %s", outside)
	}
}

// TestErrorStanzas: every condition the adapter answers with, on each kind
// of stanza, reads back with mellium's own reader: RFC 6120's type for it,
// the text in English, the answer addressed back to the asker, and the
// condition before the text and an application's condition after both.
func TestErrorStanzas(t *testing.T) {
	asker, asked := verbatim("Hana@corp.test/Phone"), jid.MustParse(`bob\40ext.test@gw.corp.test`)
	// The stanzas asked, which their errors answer.
	type answerable interface {
		Error(stanza.Error) xml.TokenReader
	}
	kinds := map[string]answerable{
		"message":  stanza.Message{ID: "s1", From: asker, To: asked},
		"presence": stanza.Presence{ID: "s1", From: asker, To: asked},
		"iq":       stanza.IQ{ID: "s1", From: asker, To: asked},
	}
	for cond, typ := range map[stanza.Condition]stanza.ErrorType{
		stanza.BadRequest:            stanza.Modify,
		stanza.FeatureNotImplemented: stanza.Cancel,
		stanza.Forbidden:             stanza.Auth,
		stanza.InternalServerError:   stanza.Wait,
		stanza.ItemNotFound:          stanza.Cancel,
		stanza.JIDMalformed:          stanza.Cancel,
		stanza.NotAcceptable:         stanza.Modify,
		stanza.PolicyViolation:       stanza.Modify,
		stanza.ServiceUnavailable:    stanza.Cancel,
	} {
		for kind, req := range kinds {
			raw := render(t, req.Error(stanzaError(cond, "why & <how>")))
			var head struct {
				XMLName xml.Name
				Type    string `xml:"type,attr"`
				From    string `xml:"from,attr"`
				To      string `xml:"to,attr"`
				ID      string `xml:"id,attr"`
			}
			if err := xml.Unmarshal([]byte(raw), &head); err != nil {
				t.Fatal(err)
			}
			if head.XMLName.Local != kind || head.Type != "error" || head.From != `bob\40ext.test@gw.corp.test` || head.To != "Hana@corp.test/Phone" || head.ID != "s1" {
				t.Errorf("%s %s: %s", kind, cond, raw)
			}
			if e := parsedError(t, raw); e.Condition != cond || e.Type != typ || !maps1(e.Text, "en", "why & <how>") {
				t.Errorf("%s %s: read back as %+v: %s", kind, cond, e, raw)
			}
		}
	}
	got := outline(t, render(t, commandError(stanza.IQ{ID: "c1", From: asker, To: asked}, stanza.BadRequest, errBadSessionID, "run it again")))
	want := []string{
		`{}iq from=bob\40ext.test@gw.corp.test id=c1 to=Hana@corp.test/Phone type=error`,
		`  {}error type=modify`,
		`    {urn:ietf:params:xml:ns:xmpp-stanzas}bad-request`,
		`    {urn:ietf:params:xml:ns:xmpp-stanzas}text xml:lang=en`,
		`      "run it again"`,
		`    {http://jabber.org/protocol/commands}bad-sessionid`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("command error\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSubscriptionRequest: the presence Send adds for a new contact asks
// for a subscription and names the persona (XEP-0172).
func TestSubscriptionRequest(t *testing.T) {
	got := outline(t, render(t, presence(stanza.SubscribePresence, verbatim("hana.sales@contact.acme.test"), verbatim("bob@ext.test"), "ACME <Sales>")))
	want := []string{
		`{}presence from=hana.sales@contact.acme.test to=bob@ext.test type=subscribe`,
		`  {http://jabber.org/protocol/nick}nick`,
		`    "ACME <Sales>"`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := outline(t, render(t, presence(stanza.AvailablePresence, verbatim("a@b.test"), verbatim("c@d.test"), ""))); !slices.Equal(got, []string{`{}presence from=a@b.test to=c@d.test`}) {
		t.Errorf("available presence without nick: %q", got)
	}
}
