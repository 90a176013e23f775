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
