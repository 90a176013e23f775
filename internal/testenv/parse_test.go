package testenv

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"
)

// A server's side of a login and a few stanzas, as Prosody sends them.
const (
	streamHead = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' version='1.0' ` +
		`xmlns:stream='http://etherx.jabber.org/streams' xml:lang='en' id='s1' from='corp.test'>`
	loginTail = `<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>` +
		`<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>` + streamHead +
		`<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><required/></bind></stream:features>` +
		`<iq id='b1' type='result'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>a@corp.test/r</jid></bind></iq>`
	presence = `<presence from='a@corp.test/r' xml:lang='en'><show>away</show><status>out</status></presence>`
	message  = "<message from='b@ext.test/x' to='a@corp.test' type='chat' id='m1'>" +
		"<body>line one\nline &amp; two\n</body><nick xmlns='http://jabber.org/protocol/nick'>Bee</nick></message>"
	bounce = `<message from='nobody@corp.test' to='a@corp.test/r' type='error' id='e1'><body>x</body>` +
		`<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
		`<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>gone</text></error></message>`
	ping = `<iq from='corp.test' to='a@corp.test/r' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`
)

func TestParseStream(t *testing.T) {
	wire := streamHead + loginTail + presence + message + bounce + ping + `</stream:stream>`
	want := []Stanza{
		{Kind: "presence", From: "a@corp.test/r", Show: "away", Status: "out",
			Children: []xml.Name{{Space: nsClient, Local: "show"}, {Space: nsClient, Local: "status"}}, Raw: presence},
		{Kind: "message", Type: "chat", From: "b@ext.test/x", To: "a@corp.test", ID: "m1",
			Body: "line one\nline & two\n", Nick: "Bee",
			Children: []xml.Name{{Space: nsClient, Local: "body"}, {Space: nsNick, Local: "nick"}}, Raw: message},
		{Kind: "message", Type: "error", From: "nobody@corp.test", To: "a@corp.test/r", ID: "e1", Body: "x",
			ErrorType: "cancel", ErrorCondition: "service-unavailable", ErrorText: "gone",
			Children: []xml.Name{{Space: nsClient, Local: "body"}, {Space: nsClient, Local: "error"}}, Raw: bounce},
		{Kind: "iq", Type: "get", From: "corp.test", To: "a@corp.test/r", ID: "p1",
			Children: []xml.Name{{Space: "urn:xmpp:ping", Local: "ping"}}, Raw: ping},
	}
	for _, chunk := range []int{1, 7, 4096} {
		c := newParsingClient()
		go func() {
			for b := []byte(wire); len(b) > 0; {
				n := min(chunk, len(b))
				c.received(b[:n])
				b = b[n:]
			}
			c.pw.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for i, w := range want {
			got, err := c.Receive(ctx)
			if err != nil {
				t.Fatalf("chunk %d: stanza %d: %v", chunk, i, err)
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("chunk %d: stanza %d:\n got %#v\nwant %#v", chunk, i, got, w)
			}
		}
		if _, err := c.Receive(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("chunk %d: after the stream: want ErrClosed, got %v", chunk, err)
		}
		cancel()
		if got := c.RawXML(); got != wire {
			t.Errorf("chunk %d: RawXML differs from the wire:\n got %q\nwant %q", chunk, got, wire)
		}
	}
}

func TestParseStreamCutOff(t *testing.T) {
	c := newParsingClient()
	go func() {
		c.received([]byte(streamHead + message + "<message><bo"))
		c.pw.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s, err := c.Receive(ctx); err != nil || s.ID != "m1" {
		t.Fatalf("first stanza: %v %v", s, err)
	}
	if _, err := c.Receive(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("connection cut mid-stanza: want ErrClosed, got %v", err)
	}
}

func TestParseStreamGarbage(t *testing.T) {
	c := newParsingClient()
	go func() {
		c.received([]byte(streamHead + "<message></iq>"))
		c.received([]byte("more bytes the parser must drain"))
		c.pw.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Receive(ctx)
	var syn *xml.SyntaxError
	if !errors.As(err, &syn) {
		t.Fatalf("want an XML syntax error, got %v", err)
	}
	<-c.parseDone
}

// newParsingClient is a Client with only its parser running.
func newParsingClient() *Client {
	pr, pw := io.Pipe()
	c := &Client{changed: make(chan struct{}), pw: pw, parseDone: make(chan struct{})}
	go c.parse(pr)
	return c
}

// Message extensions as various clients write them: prefixed namespaces,
// several fallbacks, a fallback without ranges, unknown chat-state-like
// elements.
func TestParseMessageExtensions(t *testing.T) {
	const (
		dinoReply = `<message from='b@ext.test/dino' to='a@corp.test' type='chat' id='r1' xmlns:f='urn:xmpp:fallback:0'>` +
			`<body>&gt; hi 👋
&gt; there
ok [file]</body><reply xmlns='urn:xmpp:reply:0' to='a@corp.test/x' id='m0'/>` +
			`<f:fallback for='urn:xmpp:reply:0'><f:body start='0' end='15'/></f:fallback>` +
			`<fallback xmlns='urn:xmpp:fallback:0' for='jabber:x:oob'><body start='18' end='24'/><body start='99' end='x'/></fallback>` +
			`<x xmlns='jabber:x:oob'><url>http://h/1</url><desc>one</desc></x><x xmlns='jabber:x:oob'><url>http://h/2</url></x>` +
			`<origin-id xmlns='urn:xmpp:sid:0' id='r1'/><composing xmlns='http://jabber.org/protocol/chatstates'/>` +
			`<typing xmlns='http://jabber.org/protocol/chatstates'/></message>`
		gajim = `<message from='b@ext.test/gajim' to='a@corp.test' type='chat' id='g1'>` +
			`<reactions xmlns='urn:xmpp:reactions:0' id='m0'><reaction>❤️</reaction><other>x</other></reactions>` +
			`<retract xmlns='urn:xmpp:message-retract:0' id='old'/><received xmlns='urn:xmpp:receipts' id='m9'/>` +
			`<displayed xmlns='urn:xmpp:chat-markers:0' id='m8'/><replace xmlns='urn:xmpp:message-correct:0' id='m7'/></message>`
	)
	c := newParsingClient()
	go func() {
		c.received([]byte(streamHead + dinoReply + gajim + `</stream:stream>`))
		c.pw.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := c.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []Fallback{{For: nsReply, Start: 0, End: 15}, {For: nsOOB, Start: 18, End: 24}, {For: nsOOB, Start: -1, End: -1}}
	if d.ReplyID != "m0" || d.ReplyTo != "a@corp.test/x" || !reflect.DeepEqual(d.Fallbacks, want) ||
		!reflect.DeepEqual(d.OOBURLs, []string{"http://h/1", "http://h/2"}) || d.OriginID != "r1" || d.ChatState != "composing" {
		t.Errorf("dino reply: %#v", d)
	}
	// A range that does not parse makes the whole body the fallback.
	if got := d.BodyWithout(nsReply); got != "ok [file]" {
		t.Errorf("without the reply's fallback: %q", got)
	}
	if got := d.BodyWithout(nsOOB); got != "" {
		t.Errorf("without the oob fallback: %q", got)
	}
	g, err := c.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Retraction version 0 is not version 1.
	if g.ReactionsID != "m0" || !reflect.DeepEqual(g.Reactions, []string{"❤️"}) || g.RetractID != "" ||
		g.ReceivedID != "m9" || g.DisplayedID != "m8" || g.ReplaceID != "m7" || g.ReceiptRequest || g.Markable {
		t.Errorf("gajim: %#v", g)
	}
}
