package xmpp

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
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
				return c.write(t, iqError(to, from, id, routing.BadRequest, "malformed request"))
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
		if m.ID != "" {
			gone := ""
			if c.cfg.Side == identity.Outside && m.Error != nil && m.Error.Condition.XMLName.Local == "service-unavailable" {
				// What a contact's server answers once they block the
				// persona (XEP-0191), or when the account is gone.
				gone = "blocked you or closed their account"
			}
			core.Failed(ctx, c.cfg.Network, m.ID, describeError(m.Error), gone)
		}
		return
	case "groupchat", "headline":
		return // not relayed: group chats are out of scope, headlines are automated
	}
	if len(m.Body) == 0 {
		return // chat states, receipts and the like carry no body; nothing to relay
	}
	if _, err := jid.Parse(m.From); err != nil {
		c.log.Warn("message with an invalid sender dropped", "err", err)
		return
	}
	if _, err := jid.Parse(m.To); err != nil {
		c.log.Warn("message with an invalid recipient dropped", "err", err)
		return
	}
	msg := &gateway.Message{Network: c.cfg.Network, From: m.From, To: m.To, ID: m.ID, Body: m.Body[0], Nick: m.Nick}
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

func describeError(e *stanzaError) string {
	if e == nil {
		return "the recipient's server returned an error"
	}
	s := e.Condition.XMLName.Local
	if s == "" || s == "text" {
		s = "error"
	}
	if e.Text != "" {
		s += ": " + e.Text
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
	prof, ok := core.Profile(c.cfg.Network, bareTo)
	switch p.Type {
	case "subscribe":
		if !ok {
			_ = c.write(t, presenceError(bareTo, p.From, p.ID, routing.ItemNotFound, "there is no one at this address"))
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
		return c.write(t, iqError(c.cfg.Domain, iq.From, iq.ID, routing.BadRequest, "invalid address"))
	}
	self := to.Bare().String()
	var prof gateway.Profile
	exists := to.Localpart() == ""
	if !exists {
		prof, exists = core.Profile(c.cfg.Network, self)
	}
	if !exists {
		return c.write(t, iqError(self, iq.From, iq.ID, routing.ItemNotFound, "there is no one at this address"))
	}
	cmdr := c.commander(core)
	if cmdr != nil && to.Localpart() == "" {
		if reply := c.commandIQ(ctx, cmdr, iq, self); reply != nil {
			return c.write(t, reply)
		}
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
	return c.write(t, iqError(self, iq.From, iq.ID, routing.ServiceUnavailable, ""))
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

func iqError(from, to, id string, cond routing.Condition, text string) []byte {
	return stanzaErr("iq", from, to, id, cond, text)
}

func presenceError(from, to, id string, cond routing.Condition, text string) []byte {
	return stanzaErr("presence", from, to, id, cond, text)
}

func stanzaErr(kind, from, to, id string, cond routing.Condition, text string) []byte {
	var b bytes.Buffer
	b.WriteString(`<` + kind + ` type="error"`)
	attr(&b, "from", from)
	attr(&b, "to", to)
	attr(&b, "id", id)
	b.WriteString(`>`)
	writeError(&b, &routing.Refusal{Condition: cond, Text: text})
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
