package xmpp

import (
	"encoding/xml"
	"reflect"
	"slices"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// encoded is encodeOutgoing's stanzas for out on side, as XML, one after
// the other.
func encoded(t *testing.T, out *gateway.Outgoing, side identity.Side) string {
	t.Helper()
	rs, err := encodeOutgoing(out, side)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(render(t, r))
	}
	return b.String()
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
	// Beside body and nick, only the requests for the recipient's receipt
	// and read marker, which carry nothing.
	var inner []xml.Name
	for _, c := range m.Inner {
		inner = append(inner, c.XMLName)
	}
	if want := []xml.Name{{Space: "urn:xmpp:receipts", Local: "request"}, {Space: "urn:xmpp:chat-markers:0", Local: "markable"}}; !slices.Equal(inner, want) {
		t.Fatalf("children %v, want %v, in %s", inner, want, raw)
	}
}

// TestEncodeMessageMarkup pins a relayed message as it goes on the wire,
// parsed back: subject, body, thread (inside only), nick and the requests
// for a receipt and read marker, in their namespaces, and the addresses as the gateway spelled them (an A-label
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
		`  {urn:xmpp:receipts}request`,
		`  {urn:xmpp:chat-markers:0}markable`,
	}
	if got := outline(t, encoded(t, out, identity.Inside)); !slices.Equal(got, want) {
		t.Errorf("inside\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	out = &gateway.Outgoing{From: "hana.sales@xn--bcher-kva.test", To: "bob@ext.test", Body: "hi"}
	want = []string{`{}message from=hana.sales@xn--bcher-kva.test to=bob@ext.test type=chat`, `  {}body`, `    "hi"`,
		`  {urn:xmpp:receipts}request`, `  {urn:xmpp:chat-markers:0}markable`}
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

// TestEncodeOutgoingShapes pins each shape of Outgoing as it goes on the
// wire, stanza by stanza, parsed back: exactly these elements and
// attributes, and nothing else.
func TestEncodeOutgoingShapes(t *testing.T) {
	const (
		persona = "hana.sales@contact.acme.test"
		contact = "bob@ext.test"
		get1    = "https://share.acme.test/u/Zp41/photo.jpg"
		get2    = "https://share.acme.test/u/Q8a0/quote.pdf"
	)
	photo := gateway.Attachment{Name: "photo.jpg", MediaType: "image/jpeg", Size: 48213, SHA256: photoHashHex, URL: get1, Description: "the <view>",
		// Where the file came from, inside: never written.
		Source: "https://upload.corp.test/secret/IMG_0001.jpg"}
	quote := gateway.Attachment{Name: "quote.pdf", URL: get2}
	head := func(id string) string {
		s := `{}message from=` + persona
		if id != "" {
			s += ` id=` + id
		}
		return s + ` to=` + contact + ` type=chat`
	}
	receiptAndMarker := []string{`  {urn:xmpp:receipts}request`, `  {urn:xmpp:chat-markers:0}markable`}
	photoParts := []string{
		`  {jabber:x:oob}x`,
		`    {jabber:x:oob}url`,
		`      "` + get1 + `"`,
		`    {jabber:x:oob}desc`,
		`      "the <view>"`,
		`  {urn:xmpp:sfs:0}file-sharing`,
		`    {urn:xmpp:file:metadata:0}file`,
		`      {urn:xmpp:file:metadata:0}media-type`,
		`        "image/jpeg"`,
		`      {urn:xmpp:file:metadata:0}name`,
		`        "photo.jpg"`,
		`      {urn:xmpp:file:metadata:0}size`,
		`        "48213"`,
		`      {urn:xmpp:hashes:2}hash algo=sha-256`,
		`        "` + photoHash64 + `"`,
		`      {urn:xmpp:file:metadata:0}desc`,
		`        "the <view>"`,
		`    {urn:xmpp:sfs:0}sources`,
		`      {http://jabber.org/protocol/url-data}url-data target=` + get1,
	}
	quoteParts := []string{
		`  {jabber:x:oob}x`,
		`    {jabber:x:oob}url`,
		`      "` + get2 + `"`,
		`  {urn:xmpp:sfs:0}file-sharing`,
		`    {urn:xmpp:file:metadata:0}file`,
		`      {urn:xmpp:file:metadata:0}name`,
		`        "quote.pdf"`,
		`    {urn:xmpp:sfs:0}sources`,
		`      {http://jabber.org/protocol/url-data}url-data target=` + get2,
	}
	lines := func(parts ...[]string) []string { return slices.Concat(parts...) }
	for _, tt := range []struct {
		name string
		out  gateway.Outgoing
		want []string
	}{
		{"text and two files: a stanza each", gateway.Outgoing{ID: "k7xq", Body: "Here you are", Nick: "ACME Sales · Hana", Files: []gateway.Attachment{photo, quote}}, lines(
			[]string{head("k7xq"), `  {}body`, `    "Here you are"`, `  {http://jabber.org/protocol/nick}nick`, `    "ACME Sales · Hana"`}, receiptAndMarker,
			[]string{head("k7xq-1"), `  {}body`, `    "` + get1 + `"`}, photoParts, receiptAndMarker,
			[]string{head("k7xq-2"), `  {}body`, `    "` + get2 + `"`}, quoteParts, receiptAndMarker)},
		{"two files without text: the first has the message's ID", gateway.Outgoing{ID: "k7xq", Nick: "Hana", Files: []gateway.Attachment{quote, photo}}, lines(
			[]string{head("k7xq"), `  {}body`, `    "` + get2 + `"`, `  {http://jabber.org/protocol/nick}nick`, `    "Hana"`}, quoteParts, receiptAndMarker,
			[]string{head("k7xq-1"), `  {}body`, `    "` + get1 + `"`}, photoParts, receiptAndMarker)},
		{"a notice's file asks for no receipt", gateway.Outgoing{Kind: gateway.KindNotice, ID: "n1", Files: []gateway.Attachment{quote}}, lines(
			[]string{head("n1"), `  {}body`, `    "` + get2 + `"`}, quoteParts)},
		{"reply with a quote", gateway.Outgoing{ID: "r1", Body: "Thursday 👍", Refs: []gateway.Ref{{Kind: gateway.RefReply, ID: "orig-9", Author: contact, Quote: "When? 日本\r\nAnd where?\n"}}}, lines(
			[]string{head("r1"), `  {}body`, `    "> When? 日本\n> And where?\nThursday 👍"`,
				`  {urn:xmpp:reply:0}reply id=orig-9 to=` + contact,
				`  {urn:xmpp:fallback:0}fallback for=urn:xmpp:reply:0`, `    {urn:xmpp:fallback:0}body end=24 start=0`}, receiptAndMarker)},
		{"reply without quote or author", gateway.Outgoing{ID: "r2", Body: "ok", Refs: []gateway.Ref{{Kind: gateway.RefReply, ID: "orig-9", Quote: " \n"}}}, lines(
			[]string{head("r2"), `  {}body`, `    "ok"`, `  {urn:xmpp:reply:0}reply id=orig-9`}, receiptAndMarker)},
		{"reply with a file and no text: no quote", gateway.Outgoing{ID: "r3", Files: []gateway.Attachment{quote}, Refs: []gateway.Ref{{Kind: gateway.RefReply, ID: "orig-9", Quote: "send it"}}}, lines(
			[]string{head("r3"), `  {}body`, `    "` + get2 + `"`}, quoteParts, []string{`  {urn:xmpp:reply:0}reply id=orig-9`}, receiptAndMarker)},
		{"correction", gateway.Outgoing{ID: "c1", Body: "Thursday", Refs: []gateway.Ref{{Kind: gateway.RefCorrect, ID: "orig-3", Author: "x@y", Quote: "Tuesday"}}}, lines(
			[]string{head("c1"), `  {}body`, `    "Thursday"`, `  {urn:xmpp:message-correct:0}replace id=orig-3`}, receiptAndMarker)},
		{"correction of a reply", gateway.Outgoing{ID: "c2", Body: "Thu", Refs: []gateway.Ref{{Kind: gateway.RefReply, ID: "q", Quote: "When?"}, {Kind: gateway.RefCorrect, ID: "c1"}}}, lines(
			[]string{head("c2"), `  {}body`, `    "> When?\nThu"`, `  {urn:xmpp:reply:0}reply id=q`,
				`  {urn:xmpp:fallback:0}fallback for=urn:xmpp:reply:0`, `    {urn:xmpp:fallback:0}body end=8 start=0`,
				`  {urn:xmpp:message-correct:0}replace id=c1`}, receiptAndMarker)},
		{"retraction", gateway.Outgoing{ID: "d1", Nick: "Hana", Body: "never written", Subject: "never written", Files: []gateway.Attachment{photo}, Refs: []gateway.Ref{{Kind: gateway.RefRetract, ID: "orig-3", Quote: "secret"}}}, []string{
			head("d1"), `  {}body`, `    "This message was retracted."`,
			`  {urn:xmpp:message-retract:1}retract id=orig-3`,
			`  {urn:xmpp:fasten:0}apply-to id=orig-3`, `    {urn:xmpp:message-retract:0}retract`,
			`  {urn:xmpp:fallback:0}fallback for=urn:xmpp:message-retract:1`,
			`  {urn:xmpp:hints}store`}},
		{"reactions", gateway.Outgoing{ID: "e1", Nick: "Hana", Refs: []gateway.Ref{{Kind: gateway.RefReact, ID: "orig-4"}}, Reactions: []string{"👍", "❤️"}}, []string{
			head("e1"), `  {urn:xmpp:reactions:0}reactions id=orig-4`,
			`    {urn:xmpp:reactions:0}reaction`, `      "👍"`, `    {urn:xmpp:reactions:0}reaction`, `      "❤️"`,
			`  {urn:xmpp:hints}store`}},
		{"reactions withdrawn", gateway.Outgoing{ID: "e2", Refs: []gateway.Ref{{Kind: gateway.RefReact, ID: "orig-4"}}}, []string{
			head("e2"), `  {urn:xmpp:reactions:0}reactions id=orig-4`, `  {urn:xmpp:hints}store`}},
		{"receipt", gateway.Outgoing{ID: "s1", Nick: "Hana", Refs: []gateway.Ref{{Kind: gateway.RefReceived, ID: "orig-5"}}}, []string{
			head("s1"), `  {urn:xmpp:receipts}received id=orig-5`}},
		{"displayed", gateway.Outgoing{ID: "s2", Refs: []gateway.Ref{{Kind: gateway.RefDisplayed, ID: "orig-5"}}}, []string{
			head("s2"), `  {urn:xmpp:chat-markers:0}displayed id=orig-5`}},
		{"composing", gateway.Outgoing{ID: "s3", Nick: "Hana", ChatState: gateway.ChatComposing}, []string{
			head("s3"), `  {http://jabber.org/protocol/chatstates}composing`}},
		{"paused", gateway.Outgoing{ChatState: gateway.ChatPaused}, []string{
			head(""), `  {http://jabber.org/protocol/chatstates}paused`}},
		{"an unknown chat state and references without IDs are not written", gateway.Outgoing{ID: "s4", Body: "hi", ChatState: "typing",
			Refs: []gateway.Ref{{Kind: gateway.RefReply}, {Kind: gateway.RefReceived}}}, lines(
			[]string{head("s4"), `  {}body`, `    "hi"`}, receiptAndMarker)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := tt.out
			out.From, out.To = persona, contact
			raw := encoded(t, &out, identity.Outside)
			if got := outline(t, raw); !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, leak := range []string{"corp.test", "IMG_0001", "secret", "never written"} {
				if strings.Contains(raw, leak) {
					t.Errorf("%q written: %s", leak, raw)
				}
			}
		})
	}
}

// TestEncodeInsideParts: towards an employee, the thread goes on every
// stanza of the message (each is part of the conversation), and nothing
// else changes.
func TestEncodeInsideParts(t *testing.T) {
	out := &gateway.Outgoing{From: `bob\40ext.test@gw.corp.test`, To: "hana@corp.test", ID: "m1", Body: "see", Thread: "t-1",
		Files: []gateway.Attachment{{URL: "https://share.corp.test/a.pdf"}}}
	want := []string{
		`{}message from=bob\40ext.test@gw.corp.test id=m1 to=hana@corp.test type=chat`, `  {}body`, `    "see"`, `  {}thread`, `    "t-1"`,
		`  {urn:xmpp:receipts}request`, `  {urn:xmpp:chat-markers:0}markable`,
		`{}message from=bob\40ext.test@gw.corp.test id=m1-1 to=hana@corp.test type=chat`, `  {}body`, `    "https://share.corp.test/a.pdf"`, `  {}thread`, `    "t-1"`,
		`  {jabber:x:oob}x`, `    {jabber:x:oob}url`, `      "https://share.corp.test/a.pdf"`,
		`  {urn:xmpp:sfs:0}file-sharing`, `    {urn:xmpp:file:metadata:0}file`, `    {urn:xmpp:sfs:0}sources`,
		`      {http://jabber.org/protocol/url-data}url-data target=https://share.corp.test/a.pdf`,
		`  {urn:xmpp:receipts}request`, `  {urn:xmpp:chat-markers:0}markable`,
	}
	if got := outline(t, encoded(t, out, identity.Inside)); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestEncodeFileWithoutURL: a file the gateway did not re-host cannot be
// written; the error names it.
func TestEncodeFileWithoutURL(t *testing.T) {
	_, err := encodeOutgoing(&gateway.Outgoing{From: "a@b.test", To: "c@d.test", ID: "x", Body: "hi",
		Files: []gateway.Attachment{{Name: "ok.pdf", URL: "https://x.test/ok.pdf"}, {Name: "report.pdf", Size: 10}}}, identity.Outside)
	if err == nil || !strings.Contains(err.Error(), `"report.pdf"`) {
		t.Fatalf("err = %v", err)
	}
}

// TestEncodedPartsParseBack: what the adapter writes, the adapter reads
// back to the same envelope (text, files with their metadata, the
// reference and the quote cut), as another gateway or a client would.
func TestEncodedPartsParseBack(t *testing.T) {
	file := gateway.Attachment{Name: "photo.jpg", MediaType: "image/jpeg", Size: 48213, SHA256: photoHashHex, URL: "https://share.acme.test/p.jpg", Description: "view"}
	for _, tt := range []struct {
		out  gateway.Outgoing
		want []relayed
	}{
		{gateway.Outgoing{Body: "日本 👍🏽 ok", Refs: []gateway.Ref{{Kind: gateway.RefReply, ID: "q1", Quote: "👨‍👩‍👧 photo?\nsoon"}}, Files: []gateway.Attachment{file}},
			[]relayed{{Body: "日本 👍🏽 ok", Refs: []gateway.Ref{{Kind: gateway.RefReply, ID: "q1"}}}, {Files: []gateway.Attachment{file}}}},
		{gateway.Outgoing{Refs: []gateway.Ref{{Kind: gateway.RefRetract, ID: "q2"}}},
			[]relayed{{Refs: []gateway.Ref{{Kind: gateway.RefRetract, ID: "q2"}}}}},
		{gateway.Outgoing{Refs: []gateway.Ref{{Kind: gateway.RefReact, ID: "q3"}}, Reactions: []string{"👍"}},
			[]relayed{{Refs: []gateway.Ref{{Kind: gateway.RefReact, ID: "q3"}}, Reactions: []string{"👍"}}}},
		{gateway.Outgoing{Refs: []gateway.Ref{{Kind: gateway.RefDisplayed, ID: "q4"}}, ChatState: gateway.ChatPaused},
			[]relayed{{Refs: []gateway.Ref{{Kind: gateway.RefDisplayed, ID: "q4"}}, ChatState: gateway.ChatPaused}}},
	} {
		tt.out.From, tt.out.To, tt.out.ID = proxyAddr, "hana@corp.test", "m"
		rs, err := encodeOutgoing(&tt.out, identity.Outside)
		if err != nil {
			t.Fatal(err)
		}
		var got []relayed
		for _, r := range rs {
			c := newTestComponent(t, identity.Outside)
			core := &recordingCore{}
			// The stanza as the server hands it on: in the component
			// namespace, from the address it was sent from.
			handleRaw(t, c, core, strings.Replace(render(t, r), "<message ", `<message xmlns="jabber:component:accept" `, 1))
			for _, m := range core.received {
				got = append(got, relayedOf(m))
			}
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%+v\nread back as %+v\nwant         %+v", tt.out, got, tt.want)
		}
	}
}
