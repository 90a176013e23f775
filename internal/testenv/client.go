package testenv

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppo/go-xmpp"
)

// XML namespaces the stanza parser cares about.
const (
	nsClient  = "jabber:client"
	nsStream  = "http://etherx.jabber.org/streams"
	nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSession = "urn:ietf:params:xml:ns:xmpp-session"
	nsNick    = "http://jabber.org/protocol/nick"

	nsOOB        = "jabber:x:oob"                          // XEP-0066
	nsSID        = "urn:xmpp:sid:0"                        // XEP-0359
	nsReply      = "urn:xmpp:reply:0"                      // XEP-0461
	nsFallback   = "urn:xmpp:fallback:0"                   // XEP-0428
	nsCorrect    = "urn:xmpp:message-correct:0"            // XEP-0308
	nsRetract    = "urn:xmpp:message-retract:1"            // XEP-0424
	nsReactions  = "urn:xmpp:reactions:0"                  // XEP-0444
	nsReceipts   = "urn:xmpp:receipts"                     // XEP-0184
	nsMarkers    = "urn:xmpp:chat-markers:0"               // XEP-0333
	nsChatStates = "http://jabber.org/protocol/chatstates" // XEP-0085
	nsHints      = "urn:xmpp:hints"                        // XEP-0334
	nsUpload     = "urn:xmpp:http:upload:0"                // XEP-0363
)

// ErrClosed is returned by Client.Receive once the connection has ended and
// every stanza received before that has been returned.
var ErrClosed = errors.New("testenv: xmpp connection closed")

// Stanza is one message, presence or iq a Client received, as parsed from
// the wire (independently of go-xmpp's own decoding, which drops ids, to and
// error details).
type Stanza struct {
	// Kind is the element name: "message", "presence" or "iq".
	Kind string
	// Type, From, To and ID are the stanza's attributes.
	Type, From, To, ID string
	// Body, Subject and Thread are the message's child elements' text.
	Body, Subject, Thread string
	// Nick is the XEP-0172 <nick xmlns='http://jabber.org/protocol/nick'>.
	Nick string
	// Show and Status are the presence's child elements' text.
	Show, Status string
	// ErrorType ("cancel", "modify", ...), ErrorCondition (the RFC 6120
	// defined-condition element's name, e.g. "service-unavailable") and
	// ErrorText describe an <error/> child, for stanzas of type "error".
	ErrorType, ErrorCondition, ErrorText string
	// Children are the names of the stanza's child elements, in order.
	Children []xml.Name

	// The message extensions below are what clients such as Conversations,
	// Dino and Gajim put next to (or instead of) the body.

	// OriginID is the XEP-0359 <origin-id id='...'/>.
	OriginID string
	// OOBURLs are the URLs of the XEP-0066 <x xmlns='jabber:x:oob'>
	// elements (a shared file), in order.
	OOBURLs []string
	// ReplyID and ReplyTo are the id and to attributes of a XEP-0461
	// <reply/>: the message answered and its author.
	ReplyID, ReplyTo string
	// Fallbacks are the XEP-0428 <fallback/> elements: the parts of Body
	// that only clients without the feature For should show.
	Fallbacks []Fallback
	// ReplaceID is the XEP-0308 <replace id='...'/>: the message this one
	// corrects.
	ReplaceID string
	// RetractID is the XEP-0424 (version 1, urn:xmpp:message-retract:1)
	// <retract id='...'/>: the message withdrawn.
	RetractID string
	// ReactionsID and Reactions are a XEP-0444 <reactions id='...'>: the
	// message reacted to and the sender's reactions to it, which replace
	// any earlier ones (none: all withdrawn).
	ReactionsID string
	Reactions   []string
	// ReceiptRequest is a XEP-0184 <request/>; ReceivedID the id of a
	// <received/>, the receipt for an earlier message.
	ReceiptRequest bool
	ReceivedID     string
	// Markable is a XEP-0333 <markable/>; DisplayedID the id of a
	// <displayed/> marker.
	Markable    bool
	DisplayedID string
	// ChatState is the XEP-0085 chat state element's name: "active",
	// "composing", "paused", "inactive" or "gone".
	ChatState string

	// Raw is the stanza as received on the wire. Namespaces inherited from
	// the stream header (jabber:client) are not repeated in it.
	Raw string
}

// HasChild reports whether the stanza has a child element named local in
// namespace space.
func (s Stanza) HasChild(space, local string) bool {
	for _, n := range s.Children {
		if n.Space == space && n.Local == local {
			return true
		}
	}
	return false
}

// Fallback is one XEP-0428 <fallback for='...'> body range.
type Fallback struct {
	// For is the namespace of the feature the fallback stands in for.
	For string
	// Start and End delimit the fallback in Body, in Unicode code points
	// (End exclusive); both are -1 when the whole body is the fallback.
	Start, End int
}

// BodyWithout returns Body without the fallback text for the feature with
// namespace ns (e.g. "urn:xmpp:reply:0" drops a reply's quote): what a
// client that has the feature shows.
func (s Stanza) BodyWithout(ns string) string {
	runes := []rune(s.Body)
	drop := make([]bool, len(runes))
	for _, f := range s.Fallbacks {
		if f.For != ns {
			continue
		}
		if f.Start < 0 {
			return ""
		}
		for i := max(f.Start, 0); i < min(f.End, len(runes)); i++ {
			drop[i] = true
		}
	}
	var b strings.Builder
	for i, r := range runes {
		if !drop[i] {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// String returns the raw stanza, for failure messages.
func (s Stanza) String() string { return s.Raw }

// Client is an XMPP client for tests built on github.com/xmppo/go-xmpp, an
// implementation independent of the gateway's mellium.im/xmpp, so the two do
// not share bugs. It logs in over plain TCP (the test server has no TLS),
// receives in the background and queues every stanza for Next/Expect.
//
// go-xmpp connects through an in-process loopback relay to the server: the
// relay records the server's bytes exactly (go-xmpp's own debug output
// cannot be undone reliably: it drops or adds newlines at read boundaries)
// and lets Close cut a connection the server does not close.
type Client struct {
	// JID is the full JID the server bound.
	JID string

	xc     *xmpp.Client
	server net.Conn // relay to the server
	ln     net.Listener

	mu       sync.Mutex
	local    net.Conn      // relay to go-xmpp, once accepted
	raw      bytes.Buffer  // everything received, as received
	queue    []Stanza      // parsed, not yet returned
	changed  chan struct{} // closed and replaced whenever queue or state changes
	recvErr  error         // why go-xmpp's receive loop ended
	parsed   bool          // parser reached the end of the input; queue is final
	parseErr error         // the wire did not parse as XML

	pw        *io.PipeWriter // received bytes to the parser
	parseDone chan struct{}
	loopDone  chan struct{}
	relayDone chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Dial logs jid (bare, or full to ask for a resource) in to p with password
// pass and closes the client when the test ends. go-xmpp sends the initial
// presence as part of logging in (with empty <show/> and <status/>). It
// fails the test if login fails.
func Dial(t testing.TB, p *Prosody, jid, pass string) *Client {
	t.Helper()
	c, err := NewClient(p.C2SAddr, jid, pass)
	if err != nil {
		t.Fatalf("testenv: dial %s at %s: %v", jid, p.C2SAddr, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Logf("testenv: close %s: %v", c.JID, err)
		}
	})
	return c
}

// NewClient is Dial without a testing.TB, for benchmarks' helper goroutines
// and for tests that expect login to fail. addr is the server's c2s
// address. The caller must Close the client.
func NewClient(addr, jid, pass string) (*Client, error) {
	bare, resource, _ := strings.Cut(jid, "/")
	server, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("xmpp connect: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		server.Close()
		return nil, fmt.Errorf("xmpp relay: %w", err)
	}
	if err := checkProxyEnv(ln.Addr().String()); err != nil {
		ln.Close()
		server.Close()
		return nil, err
	}
	pr, pw := io.Pipe()
	c := &Client{
		server:    server,
		ln:        ln,
		changed:   make(chan struct{}),
		pw:        pw,
		parseDone: make(chan struct{}),
		loopDone:  make(chan struct{}),
		relayDone: make(chan struct{}),
	}
	go c.parse(pr)
	go c.relay()
	opts := xmpp.Options{
		Host:                         ln.Addr().String(),
		User:                         bare,
		Password:                     pass,
		Resource:                     resource,
		NoTLS:                        true,
		InsecureAllowUnencryptedAuth: true,
		DialTimeout:                  10 * time.Second,
	}
	xc, err := opts.NewClient()
	if err != nil {
		c.cut()
		<-c.relayDone
		<-c.parseDone
		return nil, fmt.Errorf("xmpp login as %s: %w (received: %s)", bare, err, c.RawXML())
	}
	c.xc = xc
	c.JID = xc.JID()
	go c.receive()
	return c, nil
}

// checkProxyEnv refuses an HTTP proxy that would catch addr: go-xmpp
// honours HTTP_PROXY even for loopback, unless an entry of NO_PROXY is a
// substring of the address.
func checkProxyEnv(addr string) error {
	proxy := os.Getenv("HTTP_PROXY")
	if proxy == "" {
		proxy = os.Getenv("http_proxy")
	}
	if proxy == "" {
		return nil
	}
	noProxy := os.Getenv("NO_PROXY")
	if noProxy == "" {
		noProxy = os.Getenv("no_proxy")
	}
	for _, s := range strings.Split(noProxy, ",") {
		if s = strings.TrimSpace(s); s != "" && strings.Contains(strings.ToLower(addr), strings.ToLower(s)) {
			return nil
		}
	}
	return errors.New("HTTP_PROXY is set and go-xmpp would send loopback connections through it: add 127.0.0.1 to NO_PROXY")
}

// relay accepts go-xmpp's connection and copies both ways, recording what
// the server sends. When the server's side ends, it closes go-xmpp's side
// and the parser's input.
func (c *Client) relay() {
	defer close(c.relayDone)
	defer c.pw.Close()
	local, err := c.ln.Accept()
	c.ln.Close()
	if err != nil {
		c.server.Close()
		return
	}
	c.mu.Lock()
	c.local = local
	c.mu.Unlock()
	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		_, _ = io.Copy(c.server, local)
		// go-xmpp is done sending; pass the half-close on.
		if tc, ok := c.server.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	buf := make([]byte, 32*1024)
	for {
		n, err := c.server.Read(buf)
		if n > 0 {
			// Recorded before go-xmpp gets them, so the parser is never
			// behind what the test has seen go-xmpp act on.
			c.received(buf[:n])
			if _, werr := local.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	local.Close()
	c.server.Close()
	<-upDone
}

// received records bytes from the server and hands them to the parser,
// which reads them in the same order, so its offsets are offsets into raw.
func (c *Client) received(b []byte) {
	c.mu.Lock()
	c.raw.Write(b)
	c.mu.Unlock()
	_, _ = c.pw.Write(b)
}

// cut closes both sides of the relay, ending the connection at once.
func (c *Client) cut() {
	c.ln.Close()
	c.server.Close()
	c.mu.Lock()
	if c.local != nil {
		c.local.Close()
	}
	c.mu.Unlock()
}

// receive drives go-xmpp's decoder, which also answers pings. The stanzas
// themselves come from parse; go-xmpp's decoded values are dropped.
func (c *Client) receive() {
	defer close(c.loopDone)
	for {
		if _, err := c.xc.Recv(); err != nil {
			// go-xmpp cannot resume after a decode error, so any error
			// ends the loop and, so that Receive reports it, the
			// connection.
			c.mu.Lock()
			c.recvErr = err
			c.mu.Unlock()
			c.cut()
			return
		}
	}
}

func (c *Client) signalLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// wireElement is what parse decodes each stanza into: attributes that
// stanzas and their children use, text, and all children, recursively.
type wireElement struct {
	XMLName  xml.Name
	ID       string        `xml:"id,attr"`
	Type     string        `xml:"type,attr"`
	From     string        `xml:"from,attr"`
	To       string        `xml:"to,attr"`
	Attrs    []xml.Attr    `xml:",any,attr"` // the others
	Text     string        `xml:",chardata"`
	Children []wireElement `xml:",any"`
}

// attr returns the value of the attribute named local in no namespace,
// other than id, type, from and to.
func (e *wireElement) attr(local string) (string, bool) {
	for _, a := range e.Attrs {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

// child returns the first child named local in namespace space.
func (e *wireElement) child(space, local string) *wireElement {
	for i := range e.Children {
		if n := e.Children[i].XMLName; n.Space == space && n.Local == local {
			return &e.Children[i]
		}
	}
	return nil
}

func (e *wireElement) childText(space, local string) string {
	if ch := e.child(space, local); ch != nil {
		return ch.Text
	}
	return ""
}

// attrOr returns the value of the attribute named local, or "".
func (e *wireElement) attrOr(local string) string {
	v, _ := e.attr(local)
	return v
}

func stanzaOf(w *wireElement) Stanza {
	s := Stanza{
		Kind: w.XMLName.Local, Type: w.Type, From: w.From, To: w.To, ID: w.ID,
		Body:    w.childText(nsClient, "body"),
		Subject: w.childText(nsClient, "subject"),
		Thread:  w.childText(nsClient, "thread"),
		Nick:    w.childText(nsNick, "nick"),
		Show:    w.childText(nsClient, "show"),
		Status:  w.childText(nsClient, "status"),
	}
	for _, ch := range w.Children {
		s.Children = append(s.Children, ch.XMLName)
	}
	if s.Kind == "message" {
		messageExtensions(&s, w)
	}
	if e := w.child(nsClient, "error"); e != nil {
		s.ErrorType = e.Type
		s.ErrorText = e.childText(nsStanzas, "text")
		for _, ch := range e.Children {
			if ch.XMLName.Space == nsStanzas && ch.XMLName.Local != "text" {
				s.ErrorCondition = ch.XMLName.Local
				break
			}
		}
	}
	return s
}

// messageExtensions fills in the fields for message extensions.
func messageExtensions(s *Stanza, w *wireElement) {
	for i := range w.Children {
		ch := &w.Children[i]
		switch ch.XMLName.Space + " " + ch.XMLName.Local {
		case nsSID + " origin-id":
			s.OriginID = ch.ID
		case nsOOB + " x":
			s.OOBURLs = append(s.OOBURLs, ch.childText(nsOOB, "url"))
		case nsReply + " reply":
			s.ReplyID, s.ReplyTo = ch.ID, ch.To
		case nsFallback + " fallback":
			ns := ch.attrOr("for")
			ranged := false
			for _, b := range ch.Children {
				if b.XMLName.Space != nsFallback || b.XMLName.Local != "body" {
					continue
				}
				ranged = true
				// Without a range that parses, the whole body.
				f := Fallback{For: ns, Start: -1, End: -1}
				start, err1 := strconv.Atoi(b.attrOr("start"))
				end, err2 := strconv.Atoi(b.attrOr("end"))
				if err1 == nil && err2 == nil && start >= 0 && end >= start {
					f.Start, f.End = start, end
				}
				s.Fallbacks = append(s.Fallbacks, f)
			}
			if !ranged {
				s.Fallbacks = append(s.Fallbacks, Fallback{For: ns, Start: -1, End: -1})
			}
		case nsCorrect + " replace":
			s.ReplaceID = ch.ID
		case nsRetract + " retract":
			s.RetractID = ch.ID
		case nsReactions + " reactions":
			s.ReactionsID = ch.ID
			for _, r := range ch.Children {
				if r.XMLName.Space == nsReactions && r.XMLName.Local == "reaction" {
					s.Reactions = append(s.Reactions, r.Text)
				}
			}
		case nsReceipts + " request":
			s.ReceiptRequest = true
		case nsReceipts + " received":
			s.ReceivedID = ch.ID
		case nsMarkers + " markable":
			s.Markable = true
		case nsMarkers + " displayed":
			s.DisplayedID = ch.ID
		case nsChatStates + " active", nsChatStates + " composing", nsChatStates + " paused",
			nsChatStates + " inactive", nsChatStates + " gone":
			s.ChatState = ch.XMLName.Local
		}
	}
}

// parse splits the received stream into stanzas with its own XML decoder
// reading the relayed bytes. A stream restart (after SASL) is just another
// <stream:stream> start; every other element is a child of a stream, and
// of those only messages, presences and iqs are queued.
func (c *Client) parse(r *io.PipeReader) {
	defer close(c.parseDone)
	// Keep draining after an error so the relay is never blocked.
	defer func() { _, _ = io.Copy(io.Discard, r) }()
	dec := xml.NewDecoder(r)
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			c.parseEnded(err)
			return
		}
		se, ok := tok.(xml.StartElement)
		if !ok || (se.Name.Space == nsStream && se.Name.Local == "stream") {
			continue
		}
		var w wireElement
		if err := dec.DecodeElement(&w, &se); err != nil {
			c.parseEnded(err)
			return
		}
		end := dec.InputOffset()
		if se.Name.Space != nsClient {
			continue // stream features, SASL, stream errors
		}
		switch se.Name.Local {
		case "message", "presence", "iq":
		default:
			continue
		}
		s := stanzaOf(&w)
		// The replies to go-xmpp's own login requests are not the test's.
		if s.Kind == "iq" && (s.HasChild(nsBind, "bind") || s.HasChild(nsSession, "session")) {
			continue
		}
		c.mu.Lock()
		s.Raw = string(c.raw.Bytes()[start:end])
		c.queue = append(c.queue, s)
		c.signalLocked()
		c.mu.Unlock()
	}
}

// parseEnded records why parsing stopped. Running out of input, even in
// the middle of the stream element, is the connection's end, not an error.
func (c *Client) parseEnded(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var syn *xml.SyntaxError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
	case errors.As(err, &syn) && syn.Msg == "unexpected EOF":
	default:
		c.parseErr = err
	}
	c.parsed = true
	c.signalLocked()
}

// Send sends a chat message with body to the JID to.
func (c *Client) Send(to, body string) error {
	if _, err := c.xc.Send(xmpp.Chat{Remote: to, Type: "chat", Text: body}); err != nil {
		return fmt.Errorf("send message to %s: %w", to, err)
	}
	return nil
}

// SendRaw writes raw XML to the stream as it is, for malformed or unusual
// stanzas.
func (c *Client) SendRaw(raw string) error {
	if _, err := c.xc.SendOrg(raw); err != nil {
		return fmt.Errorf("send raw xml: %w", err)
	}
	return nil
}

// Receive returns the next received stanza, waiting until ctx is done.
// After the connection ends it returns the stanzas still queued, then an
// error wrapping ErrClosed.
func (c *Client) Receive(ctx context.Context) (Stanza, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			s := c.queue[0]
			c.queue = c.queue[1:]
			c.mu.Unlock()
			return s, nil
		}
		if c.parseErr != nil {
			err := c.parseErr
			c.mu.Unlock()
			return Stanza{}, fmt.Errorf("testenv: received stream does not parse: %w", err)
		}
		if c.parsed {
			err := c.recvErr
			c.mu.Unlock()
			if err == nil {
				return Stanza{}, ErrClosed
			}
			return Stanza{}, fmt.Errorf("%w: %v", ErrClosed, err)
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return Stanza{}, fmt.Errorf("%s: %w", c.JID, ctx.Err())
		}
	}
}

// Next returns the next received stanza, failing the test if none arrives
// within timeout. Call it from the test's goroutine.
func (c *Client) Next(t testing.TB, timeout time.Duration) Stanza {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := c.Receive(ctx)
	if err != nil {
		t.Fatalf("testenv: %s: no stanza within %v: %v", c.JID, timeout, err)
	}
	return s
}

// Expect returns the first received stanza for which match is true,
// discarding the ones before it, and fails the test if none arrives within
// timeout. Call it from the test's goroutine.
func (c *Client) Expect(t testing.TB, timeout time.Duration, match func(Stanza) bool) Stanza {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var skipped []string
	for {
		s, err := c.Receive(ctx)
		if err != nil {
			t.Fatalf("testenv: %s: no matching stanza within %v: %v\nskipped %d:\n%s",
				c.JID, timeout, err, len(skipped), strings.Join(skipped, "\n"))
		}
		if match(s) {
			return s
		}
		skipped = append(skipped, s.Raw)
	}
}

// RawXML returns everything this client has received on the wire so far,
// from the server's stream header on, including the login exchange.
func (c *Client) RawXML() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.raw.String()
}

// Close ends the stream and waits for the server to close its side, cutting
// the connection if it does not within 5s. It is safe to call more than
// once and after the server went away.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		select {
		case <-c.loopDone:
		default:
			// The server answers </stream:stream> with its own and
			// closes the connection, which ends the receive loop.
			_, _ = c.xc.SendOrg("</stream:stream>")
			select {
			case <-c.loopDone:
			case <-time.After(5 * time.Second):
				c.closeErr = errors.New("server did not close the stream within 5s")
				c.cut()
				<-c.loopDone
			}
		}
		// Only now, with no Recv running, is go-xmpp's Close safe; its
		// socket is at EOF, so it returns at once.
		_ = c.xc.Close()
		c.cut()
		<-c.relayDone
		<-c.parseDone
	})
	return c.closeErr
}
