package xmpp

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mellium.im/xmpp/stanza"
	"strings"
	"sync"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/textclip"
)

const (
	nsNick      = "http://jabber.org/protocol/nick"
	nsVCard     = "vcard-temp"
	nsDiscoInfo = "http://jabber.org/protocol/disco#info"
	nsPing      = "urn:xmpp:ping"
	nsStanzas   = "urn:ietf:params:xml:ns:xmpp-stanzas"
)

type stanzaError struct {
	Type      string `xml:"type,attr"`
	Condition struct {
		XMLName xml.Name
	} `xml:",any"`
	Text string `xml:"urn:ietf:params:xml:ns:xmpp-stanzas text"`
}

type inMessage struct {
	From    string       `xml:"from,attr"`
	To      string       `xml:"to,attr"`
	ID      string       `xml:"id,attr"`
	Type    string       `xml:"type,attr"`
	Body    []string     `xml:"body"`
	Nick    string       `xml:"http://jabber.org/protocol/nick nick"`
	Subject []string     `xml:"subject"`
	Thread  string       `xml:"thread"`
	Error   *stanzaError `xml:"error"`
}

type inPresence struct {
	From string `xml:"from,attr"`
	To   string `xml:"to,attr"`
	ID   string `xml:"id,attr"`
	Type string `xml:"type,attr"`
}

type inIQ struct {
	From    string    `xml:"from,attr"`
	To      string    `xml:"to,attr"`
	ID      string    `xml:"id,attr"`
	Type    string    `xml:"type,attr"`
	Payload iqPayload `xml:",any"`
}

// iqPayload is an IQ's child element. Besides its name it keeps what disco
// nodes and ad-hoc commands (commands.go) need, since the stanza can only be
// decoded once.
type iqPayload struct {
	XMLName   xml.Name
	Node      string   `xml:"node,attr"`
	SessionID string   `xml:"sessionid,attr"`
	Action    string   `xml:"action,attr"`
	Forms     []inForm `xml:"jabber:x:data x"`
}

// handle serves one inbound stanza. It returns an error only when the
// stream itself is broken; a bad stanza gets an error reply instead.
func (c *Component) handle(ctx context.Context, core gateway.Core, t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	// mellium hands over the stanza's start element separately from its
	// inner tokens; put them back together for the decoder.
	d := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), t))
	switch start.Name.Local {
	case "message":
		var m inMessage
		if err := d.Decode(&m); err != nil {
			c.log.Warn("malformed message stanza dropped", "err", err)
			return nil
		}
		c.message(ctx, core, &m)
	case "presence":
		var p inPresence
		if err := d.Decode(&p); err != nil {
			c.log.Warn("malformed presence stanza dropped", "err", err)
			return nil
		}
		c.presence(ctx, core, t, &p)
	case "iq":
		var iq inIQ
		if err := d.Decode(&iq); err != nil {
			c.log.Warn("malformed iq stanza", "err", err)
			id, from, to := attrs(start)
			if id != "" && from != "" {
				return c.write(t, iqError(to, from, id, stanza.BadRequest, "malformed request"))
			}
			return nil
		}
		return c.iq(ctx, core, t, &iq)
	}
	return nil
}

func attrs(start *xml.StartElement) (id, from, to string) {
	for _, a := range start.Attr {
		switch a.Name.Local {
		case "id":
			id = a.Value
		case "from":
			from = a.Value
		case "to":
			to = a.Value
		}
	}
	return
}

func (c *Component) to(addr string) string {
	if addr == "" {
		// mellium blanks a "to" naming the component's own domain.
		return c.cfg.Domain
	}
	return addr
}

func (c *Component) message(ctx context.Context, core gateway.Core, m *inMessage) {
	m.To = c.to(m.To)
	switch m.Type {
	case "error":
		if m.Error == nil {
			// Not a real error stanza (RFC 6120 §8.3 requires <error>): a
			// client sending text with the wrong type. Answering it cannot
			// loop, since our answer carries <error> and those are never
			// answered.
			if c.cfg.Side == identity.Inside && hasText(m.Body) {
				c.refuseType(ctx, m, "an error-typed message")
			}
			return
		}
		if m.ID != "" {
			gone := ""
			if c.cfg.Side == identity.Outside && m.Error.Condition.XMLName.Local == "service-unavailable" {
				// What a contact's server answers once they block the
				// persona (XEP-0191), or when the account is gone. The
				// gateway marks the relationship only if the contact ever
				// wrote: a server answers the same for an account that
				// never existed.
				gone = "blocked you or closed their account"
			}
			network, id, reason := c.cfg.Network, m.ID, describeError(m.Error)
			// A bounce looks its message up in the queue: off the read
			// loop, so that it never delays the next stanza.
			c.background(ctx, func(ctx context.Context) { core.Failed(ctx, network, id, reason, gone) })
		}
		return
	case "groupchat", "headline":
		if c.cfg.Side == identity.Inside && hasText(m.Body) {
			// An employee's client sent something the gateway cannot carry:
			// say so rather than drop it.
			c.refuseType(ctx, m, "a "+m.Type+" message")
			return
		}
		// Outside: a room's traffic or an automated headline is nobody's
		// message to a persona, and answering it could loop.
		c.log.Info("message not relayed: only one-to-one messages cross the gateway", "type", m.Type)
		return
	}
	if !hasText(m.Body) {
		return // chat states, receipts, an empty or blank body: nothing to relay
	}
	if _, err := jid.Parse(m.From); err != nil {
		c.log.Warn("message with an invalid sender dropped", "err", err)
		return
	}
	if _, err := jid.Parse(m.To); err != nil {
		c.log.Warn("message with an invalid recipient dropped", "err", err)
		return
	}
	// The server authenticated the sender (RFC 6120 §8.1.2.1): answers
	// may go to the very client that wrote.
	msg := &gateway.Message{Network: c.cfg.Network, From: m.From, To: m.To, ID: m.ID, Body: m.Body[0], Nick: m.Nick, ReplyTo: m.From}
	if len(m.Subject) > 0 {
		msg.Subject = m.Subject[0]
	}
	if c.cfg.Side == identity.Inside {
		// An employee's thread lets a mail reply join the right conversation;
		// an outside party's thread means nothing to anyone inside.
		msg.Thread = m.Thread
	}
	if err := core.Receive(ctx, msg); err != nil {
		c.log.Error("gateway did not take a message", "err", err)
	}
}

// hasText reports whether a message's first body has anything but space.
func hasText(body []string) bool {
	return len(body) > 0 && strings.TrimSpace(body[0]) != ""
}

// refuseType answers an employee's message of a type the gateway does not
// relay (what), naming what it does relay.
func (c *Component) refuseType(ctx context.Context, m *inMessage, what string) {
	text := "Kakehashi relays one-to-one messages only (type chat or normal); " + what + " is not relayed. Nothing was sent."
	if err := c.answer(ctx, stanzaErr("message", m.To, m.From, m.ID, stanza.FeatureNotImplemented, text)); err != nil {
		c.log.Warn("could not answer a message of a type not relayed", "type", m.Type, "err", err)
	}
}

// describeError words a bounce from the recipient's server for the
// person who wrote the message, saying plainly what the condition means.
func describeError(e *stanzaError) string {
	if e == nil {
		return "the recipient's server returned an error"
	}
	cond := e.Condition.XMLName.Local
	var s string
	switch cond {
	case "item-not-found":
		s = "the address does not exist (item-not-found)"
	case "remote-server-not-found":
		s = "their server could not be found, so the address is probably wrong (remote-server-not-found)"
	case "remote-server-timeout":
		s = "their server did not answer in time (remote-server-timeout)"
	case "service-unavailable":
		s = "their server refused it: the account does not exist, was closed, or blocked you (service-unavailable)"
	case "jid-malformed":
		s = "the address is not valid (jid-malformed)"
	case "", "text":
		s = "error"
	default:
		s = cond
	}
	if e.Text != "" {
		s += ": " + textclip.Clip(e.Text, 200)
	}
	return s
}

func (c *Component) presence(ctx context.Context, core gateway.Core, t xmlstream.TokenReadEncoder, p *inPresence) {
	p.To = c.to(p.To)
	from, err := jid.Parse(p.From)
	if err != nil {
		return
	}
	to, err := jid.Parse(p.To)
	if err != nil || to.Localpart() == "" {
		return
	}
	bareTo := to.Bare().String()
	if !c.insider(core, from) {
		// Someone who is not an active employee asks about a proxy
		// address: to them it does not exist.
		if p.Type == "subscribe" {
			_ = c.write(t, presenceError(bareTo, p.From, p.ID, stanza.ItemNotFound, "there is no one at this address"))
		}
		return
	}
	prof, ok := core.Profile(c.cfg.Network, bareTo)
	switch p.Type {
	case "subscribe":
		if !ok {
			_ = c.write(t, presenceError(bareTo, p.From, p.ID, stanza.ItemNotFound, "there is no one at this address"))
			return
		}
		peer := from.Bare().String()
		c.tracked(core, func(tr gateway.ContactTracker) { tr.ContactBack(ctx, c.cfg.Network, peer, bareTo) })
		var b bytes.Buffer
		b.Write(presenceStanza("subscribed", bareTo, peer, ""))
		b.Write(presenceStanza("subscribe", bareTo, peer, prof.Name))
		b.Write(presenceStanza("", bareTo, peer, prof.Name))
		_ = c.write(t, b.Bytes())
	case "probe":
		if ok {
			_ = c.write(t, presenceStanza("", bareTo, from.Bare().String(), prof.Name))
		}
	case "unsubscribe":
		if ok {
			_ = c.write(t, presenceStanza("unsubscribed", bareTo, from.Bare().String(), ""))
			c.tracked(core, func(tr gateway.ContactTracker) {
				tr.ContactGone(ctx, c.cfg.Network, from.Bare().String(), bareTo, "removed "+prof.Name+" from their contacts")
			})
		}
	case "unsubscribed":
		if ok {
			c.tracked(core, func(tr gateway.ContactTracker) {
				tr.ContactGone(ctx, c.cfg.Network, from.Bare().String(), bareTo, "stopped sharing their presence with "+prof.Name)
			})
		}
	}
}

// insider reports whether from may ask about this component's addresses:
// on an outside network anyone may; on an inside one, only active
// employees.
func (c *Component) insider(core gateway.Core, from jid.JID) bool {
	if c.cfg.Side != identity.Inside {
		return true
	}
	in, ok := core.(gateway.Insider)
	return ok && in.ActiveEmployee(c.cfg.Network, from.Bare().String())
}

// offLoop is the work a component does off its read loop.
type offLoop struct {
	wg sync.WaitGroup
	// send, when set, replaces the session for answers written off the
	// loop (tests).
	send func(ctx context.Context, stanza []byte) error
}

// background runs f off the read loop, under a context that outlives the
// connection (what it does is committed), and counts it so that Run
// returns only once it is done.
func (c *Component) background(ctx context.Context, f func(context.Context)) {
	c.bg.wg.Add(1)
	go func() {
		defer c.bg.wg.Done()
		f(context.WithoutCancel(ctx))
	}()
}

// answer writes a stanza from work done off the read loop.
func (c *Component) answer(ctx context.Context, stanza []byte) error {
	if c.bg.send != nil {
		return c.bg.send(ctx, stanza)
	}
	return c.sendRaw(ctx, stanza)
}

// tracked calls f with the core's ContactTracker, for outside contacts
// only (an employee's roster is their own business).
func (c *Component) tracked(core gateway.Core, f func(gateway.ContactTracker)) {
	if tr, ok := core.(gateway.ContactTracker); ok && c.cfg.Side == identity.Outside {
		f(tr)
	}
}

func (c *Component) iq(ctx context.Context, core gateway.Core, t xmlstream.TokenReadEncoder, iq *inIQ) error {
	if iq.Type != "get" && iq.Type != "set" {
		return nil // results and errors for IQs we never sent
	}
	iq.To = c.to(iq.To)
	to, err := jid.Parse(iq.To)
	if err != nil {
		return c.write(t, iqError(c.cfg.Domain, iq.From, iq.ID, stanza.BadRequest, "invalid address"))
	}
	self := to.Bare().String()
	from, err := jid.Parse(iq.From)
	if err != nil {
		return c.write(t, iqError(self, iq.From, iq.ID, stanza.BadRequest, "invalid sender address"))
	}
	if !c.insider(core, from) {
		// Disco, commands and vCards of the inside domains tell who the
		// contacts are: only active employees may ask.
		return c.write(t, iqError(self, iq.From, iq.ID, stanza.ItemNotFound, "there is no one at this address"))
	}
	var prof gateway.Profile
	exists := to.Localpart() == ""
	if !exists {
		prof, exists = core.Profile(c.cfg.Network, self)
	}
	if !exists {
		return c.write(t, iqError(self, iq.From, iq.ID, stanza.ItemNotFound, "there is no one at this address"))
	}
	cmdr := c.commander(core)
	if cmdr != nil && to.Localpart() == "" && isCommandIQ(iq) {
		// A command may take a while (a broadcast to thousands): it runs
		// off the read loop and answers on its own, so that other
		// employees' messages are never held up behind it.
		c.background(ctx, func(ctx context.Context) {
			if err := c.answer(ctx, c.commandIQ(ctx, cmdr, iq, self)); err != nil {
				c.log.Warn("could not answer a command", "err", err)
			}
		})
		return nil
	}
	p := iq.Payload.XMLName
	switch {
	case iq.Type == "get" && p.Space == nsPing && p.Local == "ping":
		return c.write(t, iqResult(self, iq.From, iq.ID, ""))
	case iq.Type == "get" && p.Space == nsVCard && p.Local == "vCard" && to.Localpart() != "":
		var b bytes.Buffer
		b.WriteString(`<vCard xmlns="vcard-temp"><FN>`)
		xmlText(&b, prof.Name)
		b.WriteString(`</FN><NICKNAME>`)
		xmlText(&b, prof.Name)
		b.WriteString(`</NICKNAME></vCard>`)
		return c.write(t, iqResult(self, iq.From, iq.ID, b.String()))
	case iq.Type == "get" && p.Space == nsDiscoInfo && p.Local == "query":
		var b bytes.Buffer
		b.WriteString(`<query xmlns="` + nsDiscoInfo + `">`)
		if to.Localpart() == "" {
			b.WriteString(`<identity category="gateway" type="xmpp" name="`)
			if c.cfg.Side == identity.Inside {
				b.WriteString("Kakehashi contacts")
			} else {
				xmlText(&b, c.cfg.Domain)
			}
			b.WriteString(`"/>`)
		} else {
			b.WriteString(`<identity category="account" type="registered"/>`)
		}
		b.WriteString(`<feature var="` + nsDiscoInfo + `"/><feature var="` + nsPing + `"/><feature var="` + nsVCard + `"/>`)
		if cmdr != nil && to.Localpart() == "" {
			b.WriteString(`<feature var="` + nsCommands + `"/>`)
		}
		b.WriteString(`</query>`)
		return c.write(t, iqResult(self, iq.From, iq.ID, b.String()))
	}
	// Software version and everything else: not offered, so that nothing
	// about the gateway's software or host reaches the outside.
	return c.write(t, iqError(self, iq.From, iq.ID, stanza.ServiceUnavailable, ""))
}

func iqResult(from, to, id, payload string) []byte {
	var b bytes.Buffer
	b.WriteString(`<iq type="result"`)
	attr(&b, "from", from)
	attr(&b, "to", to)
	attr(&b, "id", id)
	b.WriteString(`>` + payload + `</iq>`)
	return b.Bytes()
}

func iqError(from, to, id string, cond stanza.Condition, text string) []byte {
	return stanzaErr("iq", from, to, id, cond, text)
}

func presenceError(from, to, id string, cond stanza.Condition, text string) []byte {
	return stanzaErr("presence", from, to, id, cond, text)
}

func stanzaErr(kind, from, to, id string, cond stanza.Condition, text string) []byte {
	var b bytes.Buffer
	b.WriteString(`<` + kind + ` type="error"`)
	attr(&b, "from", from)
	attr(&b, "to", to)
	attr(&b, "id", id)
	b.WriteString(`>`)
	writeError(&b, cond, text)
	b.WriteString(`</` + kind + `>`)
	return b.Bytes()
}

// write sends raw stanzas through the handler's writer, which mellium flushes
// when the handler returns (and which marks an IQ as answered).
func (c *Component) write(t xmlstream.TokenReadEncoder, raw []byte) error {
	d := xml.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("xmpp: write reply: %w", err)
		}
		if err := t.EncodeToken(xml.CopyToken(tok)); err != nil {
			return fmt.Errorf("xmpp: write reply: %w", err)
		}
	}
}
