package xmpp

import (
	"context"
	"encoding/xml"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/commands"
	"mellium.im/xmpp/component"
	"mellium.im/xmpp/disco"
	"mellium.im/xmpp/disco/info"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/ping"
	"mellium.im/xmpp/stanza"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/textclip"
)

// Inbound stanzas keep their addresses as the server wrote them, and the
// adapter parses them where it needs a JID: stanza.Message and its kin
// would refuse a whole stanza over an address jid.Parse (PRECIS) refuses
// and the server's stringprep took, leaving a bounce unreported.
type inMessage struct {
	From    string             `xml:"from,attr"`
	To      string             `xml:"to,attr"`
	ID      string             `xml:"id,attr"`
	Type    stanza.MessageType `xml:"type,attr"`
	Body    []string           `xml:"body"`
	Nick    string             `xml:"http://jabber.org/protocol/nick nick"`
	Subject []string           `xml:"subject"`
	Thread  string             `xml:"thread"`
	Error   *inError           `xml:"error"`
	inParts
}

// inError is an error a server sent back, read by stanza.Error without its
// by attribute: the gateway has no use for it, and one jid.Parse refuses
// must not lose the bounce.
type inError struct{ err stanza.Error }

// UnmarshalXML implements xml.Unmarshaler.
func (e *inError) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	start.Attr = slices.DeleteFunc(slices.Clone(start.Attr), func(a xml.Attr) bool { return a.Name.Local == "by" })
	return e.err.UnmarshalXML(d, start)
}

// asStanza is the message as its answers mirror it (stanza.Message.Error
// swaps the addresses): back to its sender as the server wrote it.
func (m *inMessage) asStanza() stanza.Message {
	return stanza.Message{ID: m.ID, From: verbatim(m.From), To: verbatim(m.To)}
}

type inPresence struct {
	From string              `xml:"from,attr"`
	To   string              `xml:"to,attr"`
	ID   string              `xml:"id,attr"`
	Type stanza.PresenceType `xml:"type,attr"`
}

// handle serves one inbound stanza. It returns an error only when the
// stream itself is broken; a bad stanza gets an error reply instead.
// Only IQs go through a mux.ServeMux (iq): it routes messages and presence
// once for each child element, so a subscription with a nick would be
// answered twice.
func (c *Component) handle(ctx context.Context, core gateway.Core, t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	switch start.Name.Local {
	case "message":
		if c.isProbe(start) {
			return nil // our own probe, back: what was written before it is confirmed
		}
		var m inMessage
		if err := decode(t, start, &m); err != nil {
			c.log.Warn("malformed message stanza dropped", "err", err)
			return nil
		}
		c.message(ctx, core, &m)
	case "presence":
		var p inPresence
		if err := decode(t, start, &p); err != nil {
			c.log.Warn("malformed presence stanza dropped", "err", err)
			return nil
		}
		c.presence(ctx, core, t, &p)
	case "iq":
		return c.iq(ctx, core, t, start)
	}
	return nil
}

// decode reads the element start begins (mellium hands a handler the start
// element apart from the tokens after it) into v.
func decode(r xml.TokenReader, start *xml.StartElement, v any) error {
	return xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), r)).Decode(v)
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
	case stanza.ErrorMessage:
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
			if c.cfg.Side == identity.Outside && m.Error.err.Condition == stanza.ServiceUnavailable {
				// What a contact's server answers once they block the
				// persona (XEP-0191), or when the account is gone. The
				// gateway marks the relationship only if the contact ever
				// wrote: a server answers the same for an account that
				// never existed.
				gone = "blocked you or closed their account"
			}
			// A part of a message written as several stanzas (a file
			// each) bounces with its part ID: the gateway knows the
			// message by the ID it gave.
			network, id, reason := c.cfg.Network, gateway.BaseID(m.ID), describeError(&m.Error.err)
			// A bounce looks its message up in the queue: off the read
			// loop, so that it never delays the next stanza.
			c.background(ctx, func(ctx context.Context) {
				core.Failed(ctx, gateway.Bounce{Network: network, ID: id, Reason: reason, Gone: gone})
			})
		}
		return
	case stanza.GroupChatMessage, stanza.HeadlineMessage:
		if c.cfg.Side == identity.Inside && hasText(m.Body) {
			// An employee's client sent something the gateway cannot carry:
			// say so rather than drop it.
			c.refuseType(ctx, m, "a "+string(m.Type)+" message")
			return
		}
		// Outside: a room's traffic or an automated headline is nobody's
		// message to a persona, and answering it could loop.
		c.log.Info("message not relayed: only one-to-one messages cross the gateway", "type", m.Type)
		return
	}
	// The server authenticated the sender (RFC 6120 §8.1.2.1): answers
	// may go to the very client that wrote.
	msg := &gateway.Message{Network: c.cfg.Network, From: m.From, To: m.To, ID: m.ID, Nick: m.Nick, ReplyTo: m.From}
	readParts(msg, m, c.cfg.Side, c.UploadHosts())
	if msg.Body == "" && len(msg.Files) == 0 && len(msg.Refs) == 0 && msg.ChatState == "" {
		return // active or gone alone, an empty or blank body: nothing to relay
	}
	if err := validJID(m.From); err != nil {
		c.log.Warn("message with an invalid sender dropped", "err", err)
		return
	}
	if err := validJID(m.To); err != nil {
		c.log.Warn("message with an invalid recipient dropped", "err", err)
		return
	}
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
	if err := c.answer(ctx, m.asStanza().Error(stanzaError(stanza.FeatureNotImplemented, text))); err != nil {
		c.log.Warn("could not answer a message of a type not relayed", "type", m.Type, "err", err)
	}
}

// describeError words a bounce from the recipient's server for the
// person who wrote the message, saying plainly what the condition means.
func describeError(e *stanza.Error) string {
	var s string
	switch e.Condition {
	case stanza.ItemNotFound:
		s = "the address does not exist (item-not-found)"
	case stanza.RemoteServerNotFound:
		s = "their server could not be found, so the address is probably wrong (remote-server-not-found)"
	case stanza.RemoteServerTimeout:
		s = "their server did not answer in time (remote-server-timeout)"
	case stanza.ServiceUnavailable:
		s = "their server refused it: the account does not exist, was closed, or blocked you (service-unavailable)"
	case stanza.JIDMalformed:
		s = "the address is not valid (jid-malformed)"
	case "":
		s = "error"
	default:
		s = string(e.Condition)
	}
	if len(e.Text) > 0 {
		// One text, in whichever language comes first: the same every time.
		s += ": " + textclip.Clip(e.Text[slices.Min(slices.Collect(maps.Keys(e.Text)))], 200)
	}
	return s
}

func (c *Component) presence(ctx context.Context, core gateway.Core, t xmlstream.TokenWriter, p *inPresence) {
	p.To = c.to(p.To)
	from, err := jid.Parse(p.From)
	if err != nil {
		return
	}
	to, err := jid.Parse(p.To)
	if err != nil || to.Localpart() == "" {
		return
	}
	self, peer := to.Bare(), from.Bare()
	noOne := func() xml.TokenReader {
		return stanza.Presence{ID: p.ID, From: verbatim(p.From), To: self}.Error(stanzaError(stanza.ItemNotFound, "there is no one at this address"))
	}
	if !c.insider(core, from) {
		// Someone who is not an active employee asks about a proxy
		// address: to them it does not exist.
		if p.Type == stanza.SubscribePresence {
			_ = write(t, noOne())
		}
		return
	}
	prof, ok := core.Profile(c.cfg.Network, self.String())
	switch p.Type {
	case stanza.SubscribePresence:
		if !ok {
			_ = write(t, noOne())
			return
		}
		c.tracked(core, func(tr gateway.ContactTracker) {
			tr.ContactBack(ctx, gateway.ContactEvent{Network: c.cfg.Network, From: peer.String(), To: self.String()})
		})
		_ = write(t,
			presence(stanza.SubscribedPresence, self, peer, ""),
			presence(stanza.SubscribePresence, self, peer, prof.Name),
			presence(stanza.AvailablePresence, self, peer, prof.Name))
	case stanza.ProbePresence:
		if ok {
			_ = write(t, presence(stanza.AvailablePresence, self, peer, prof.Name))
		}
	case stanza.UnsubscribePresence:
		if ok {
			_ = write(t, presence(stanza.UnsubscribedPresence, self, peer, ""))
			c.tracked(core, func(tr gateway.ContactTracker) {
				tr.ContactGone(ctx, gateway.ContactEvent{Network: c.cfg.Network, From: peer.String(), To: self.String(),
					Why: "removed " + prof.Name + " from their contacts"})
			})
		}
	case stanza.UnsubscribedPresence:
		if ok {
			c.tracked(core, func(tr gateway.ContactTracker) {
				tr.ContactGone(ctx, gateway.ContactEvent{Network: c.cfg.Network, From: peer.String(), To: self.String(),
					Why: "stopped sharing their presence with " + prof.Name})
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
	send func(ctx context.Context, st xml.TokenReader) error
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
func (c *Component) answer(ctx context.Context, st xml.TokenReader) error {
	if c.bg.send != nil {
		return c.bg.send(ctx, st)
	}
	return c.send(ctx, st)
}

// answerLater answers an IQ off the read loop: a command may take a while
// (a broadcast to thousands), and other employees' messages must never be
// held up behind it.
func (c *Component) answerLater(ctx context.Context, answer func(context.Context) xml.TokenReader) {
	c.background(ctx, func(ctx context.Context) {
		if err := c.answer(ctx, answer(ctx)); err != nil {
			c.log.Warn("could not answer a command", "err", err)
		}
	})
}

// tracked calls f with the core's ContactTracker, for outside contacts
// only (an employee's roster is their own business).
func (c *Component) tracked(core gateway.Core, f func(gateway.ContactTracker)) {
	if tr, ok := core.(gateway.ContactTracker); ok && c.cfg.Side == identity.Outside {
		f(tr)
	}
}

// iq answers an IQ get or set. Who asks and what is asked about are checked
// here, for every payload alike; then iqRoutes routes it by type and
// payload.
func (c *Component) iq(ctx context.Context, core gateway.Core, t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	var typ stanza.IQType
	var id, rawFrom, rawTo string
	for _, a := range start.Attr {
		switch a.Name.Local {
		case "type":
			typ = stanza.IQType(a.Value)
		case "id":
			id = a.Value
		case "from":
			rawFrom = a.Value
		case "to":
			rawTo = a.Value
		}
	}
	if typ != stanza.GetIQ && typ != stanza.SetIQ {
		return nil // results and errors for IQs we never sent
	}
	// req is the request as its answers mirror it (stanza.IQ's Result and
	// Error swap the addresses): back to the sender as the server wrote it,
	// from the bare address asked.
	req := stanza.IQ{ID: id, Type: typ, From: verbatim(rawFrom), To: verbatim(c.cfg.Domain)}
	to, err := jid.Parse(c.to(rawTo))
	if err != nil {
		return write(t, req.Error(stanzaError(stanza.BadRequest, "invalid address")))
	}
	req.To = to.Bare()
	from, err := jid.Parse(rawFrom)
	if err != nil {
		return write(t, req.Error(stanzaError(stanza.BadRequest, "invalid sender address")))
	}
	noOne := stanzaError(stanza.ItemNotFound, "there is no one at this address")
	if !c.insider(core, from) {
		// Disco, commands and vCards of the inside domains tell who the
		// contacts are: only active employees may ask.
		return write(t, req.Error(noOne))
	}
	var prof gateway.Profile
	exists := to.Localpart() == ""
	if !exists {
		prof, exists = core.Profile(c.cfg.Network, req.To.String())
	}
	if !exists {
		return write(t, req.Error(noOne))
	}

	children := xmlstream.NewIter(t)
	var payload *xml.StartElement
	var inner xml.TokenReader
	for payload == nil && children.Next() {
		payload, inner = children.Current()
	}
	if err := children.Err(); err != nil {
		return fmt.Errorf("xmpp: read iq: %w", err)
	}
	var name xml.Name
	if payload != nil {
		name = payload.Name
	}
	// The handler is looked up rather than served by mux's HandleXMPP,
	// which ends the session on an IQ without payload or an address
	// jid.Parse refuses, and hands handlers the addresses re-spelled.
	h, ok := c.iqRoutes(ctx, core, from, req.To, prof).IQHandler(typ, name)
	if !ok {
		// Software version and everything else: not offered, so that
		// nothing about the gateway's software or host reaches the outside.
		return write(t, req.Error(stanzaError(stanza.ServiceUnavailable, "")))
	}
	return h.HandleIQ(req, struct {
		xml.TokenReader
		xmlstream.Encoder
	}{inner, t}, payload)
}

// iqRoutes are the IQs answered at self, by type and payload, for a request
// from from; prof is who is at self. They are made for each request, since
// mux hands a handler neither who asks nor what is at the address asked.
func (c *Component) iqRoutes(ctx context.Context, core gateway.Core, from, self jid.JID, prof gateway.Profile) *mux.ServeMux {
	// Commands are offered on the inside domain itself (commands.go).
	var cmdr gateway.Commander
	if self.Localpart() == "" {
		cmdr = c.commander(core)
	}
	unavailable := func(t xmlstream.TokenWriter, iq stanza.IQ) error {
		return write(t, iq.Error(stanzaError(stanza.ServiceUnavailable, "")))
	}
	return mux.New(component.NSAccept,
		ping.Handle(),
		mux.IQFunc(stanza.GetIQ, xml.Name{Space: nsVCard, Local: "vCard"}, func(iq stanza.IQ, t xmlstream.TokenReadEncoder, _ *xml.StartElement) error {
			if self.Localpart() == "" {
				return unavailable(t, iq)
			}
			return write(t, iq.Result(vCard(prof.Name)))
		}),
		mux.IQFunc(stanza.GetIQ, xml.Name{Space: disco.NSInfo, Local: "query"}, func(iq stanza.IQ, t xmlstream.TokenReadEncoder, q *xml.StartElement) error {
			if node := attrValue(q, "node"); node != "" && cmdr != nil {
				c.answerLater(ctx, func(context.Context) xml.TokenReader { return c.commandNodeInfo(cmdr, iq, from, node) })
				return nil
			}
			return write(t, iq.Result(c.discoInfo(self, cmdr != nil).TokenReader()))
		}),
		mux.IQFunc(stanza.GetIQ, xml.Name{Space: disco.NSItems, Local: "query"}, func(iq stanza.IQ, t xmlstream.TokenReadEncoder, q *xml.StartElement) error {
			if cmdr == nil || attrValue(q, "node") != commands.NS {
				return unavailable(t, iq)
			}
			c.answerLater(ctx, func(context.Context) xml.TokenReader { return c.commandList(cmdr, iq, from) })
			return nil
		}),
		mux.IQFunc(stanza.SetIQ, xml.Name{Space: commands.NS, Local: "command"}, func(iq stanza.IQ, t xmlstream.TokenReadEncoder, cmd *xml.StartElement) error {
			if cmdr == nil {
				return unavailable(t, iq)
			}
			var req commandRequest
			if err := decode(t, cmd, &req); err != nil {
				return write(t, iq.Error(stanzaError(stanza.BadRequest, "malformed request")))
			}
			c.answerLater(ctx, func(ctx context.Context) xml.TokenReader { return c.command(ctx, cmdr, iq, from, &req) })
			return nil
		}),
	)
}

// discoInfo is what self is: the gateway on the component's own domain,
// an account at any other address.
func (c *Component) discoInfo(self jid.JID, withCommands bool) disco.Info {
	id := disco.AccountRegistered
	if self.Localpart() == "" {
		id = disco.GatewayXMPP
		id.Name = c.cfg.Domain
		if c.cfg.Side == identity.Inside {
			id.Name = "Kakehashi contacts"
		}
	}
	features := []info.Feature{disco.Feature, ping.Feature, {Var: nsVCard}}
	if withCommands {
		features = append(features, commands.Feature)
	}
	return disco.Info{Identity: []info.Identity{id}, Features: features}
}

// attrValue is the value of start's attribute name, if any.
func attrValue(start *xml.StartElement, name string) string {
	for _, a := range start.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}
