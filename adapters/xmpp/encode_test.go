package xmpp

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// TestEncodeCarriesOnlyTheDecision: the outgoing stanza is built from the
// gateway's decision alone, with escaping; nothing else can slip in.
func TestEncodeCarriesOnlyTheDecision(t *testing.T) {
	out := &gateway.Outgoing{
		From: "hana.sales@contact.acme.test", To: "bob@ext.test", ID: "abc123",
		Body: `5 < 6 & "quotes" </body><evil/>`, Nick: "ACME Sales · Hana",
	}
	raw, err := encodeOutgoing(out, identity.Outside)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		XMLName xml.Name
		Attrs   []xml.Attr `xml:",any,attr"`
		Body    string     `xml:"body"`
		Nick    string     `xml:"http://jabber.org/protocol/nick nick"`
		Inner   []struct {
			XMLName xml.Name
		} `xml:",any"`
	}
	if err := xml.Unmarshal(raw, &m); err != nil {
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

func TestEncodeRefusal(t *testing.T) {
	raw, err := encodeOutgoing(&gateway.Outgoing{
		Kind: gateway.KindRefusal, From: `bob\40ext.test@gw.corp.test`, To: "hana@corp.test/phone", ReplyTo: "orig-1",
		Refusal: &routing.Refusal{Reason: routing.NotAllowed, Text: "only employees can write through this gateway"},
	}, identity.Inside)
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for _, want := range []string{`type="error"`, `id="orig-1"`, `<error type="auth"><forbidden xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>`, "only employees"} {
		if !strings.Contains(s, want) {
			t.Errorf("refusal %s lacks %s", s, want)
		}
	}
}

func TestEncodeRejectsBadAddresses(t *testing.T) {
	_, err := encodeOutgoing(&gateway.Outgoing{From: "a@b", To: "not a jid@@", Body: "x"}, identity.Outside)
	if err == nil {
		t.Fatal("an invalid address was encoded")
	}
}

// TestEncodeThreadOnlyInside: the subject is content and goes both ways; a
// thread token is written only towards employees, so an inside client's
// thread can never reach an outside party.
func TestEncodeThreadOnlyInside(t *testing.T) {
	out := &gateway.Outgoing{From: "a@b.test", To: "c@d.test", ID: "x1", Body: "hi", Subject: "Quote for <order>", Thread: "m-7f3a"}
	in, err := encodeOutgoing(out, identity.Inside)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(in), "<thread>m-7f3a</thread>") || !strings.Contains(string(in), "<subject>Quote for &lt;order&gt;</subject>") {
		t.Fatalf("inside stanza lacks thread or subject: %s", in)
	}
	outside, err := encodeOutgoing(out, identity.Outside)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(outside), "thread") || strings.Contains(string(outside), "m-7f3a") {
		t.Fatalf("outside stanza carries the thread: %s", outside)
	}
}
