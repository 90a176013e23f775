package xmpp

// Ad-hoc commands (XEP-0050) with data forms (XEP-0004) on the inside
// component's own domain, so that employees can run the gateway's commands
// from their client's command menu. The gateway (a Core that is also a
// gateway.Commander) decides which commands exist and who may run them; this
// file only speaks the protocol. Commands are single-stage: execute returns
// the form, complete submits it, and the answer is a note with perhaps a
// result form.

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"mellium.im/xmpp/stanza"
	"strings"
	"sync"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
)

const (
	nsCommands   = "http://jabber.org/protocol/commands"
	nsDataForms  = "jabber:x:data"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
)

const (
	// maxCommandSessions bounds the forms awaiting submission, so that a
	// client executing commands in a loop cannot grow memory without end.
	maxCommandSessions = 1000
	// commandSessionTTL is how long a form may stay open before its
	// submission is refused; longer than anyone takes to fill one in.
	commandSessionTTL = 10 * time.Minute
	// commandTimeout bounds a Commander call: the component reads no other
	// stanza until it returns.
	commandTimeout = 20 * time.Second

	maxFormFields  = 100
	maxFieldValues = 100
	maxValueBytes  = 64 << 10
	maxVarBytes    = 1 << 10
)

// Application-specific error conditions of XEP-0050 §4.6.
const (
	errBadAction    = "bad-action"
	errBadPayload   = "bad-payload"
	errBadSessionID = "bad-sessionid"
)

// inForm is a data form a client sent, as far as a submission needs it.
type inForm struct {
	Type   string    `xml:"type,attr"`
	Fields []inField `xml:"jabber:x:data field"`
}

type inField struct {
	Var    string   `xml:"var,attr"`
	Values []string `xml:"jabber:x:data value"`
}

// commander returns core's commands when this component offers them: on the
// inside only, so that nothing outside learns the gateway has any.
func (c *Component) commander(core gateway.Core) gateway.Commander {
	if c.cfg.Side != identity.Inside {
		return nil
	}
	cmdr, _ := core.(gateway.Commander)
	return cmdr
}

// isCommandIQ reports whether iq belongs to ad-hoc commands: disco of the
// command list or of a command node, or a command itself.
func isCommandIQ(iq *inIQ) bool {
	p := &iq.Payload
	switch {
	case iq.Type == "get" && p.XMLName.Space == nsDiscoInfo && p.XMLName.Local == "query" && p.Node != "":
	case iq.Type == "get" && p.XMLName.Space == nsDiscoItems && p.XMLName.Local == "query" && p.Node == nsCommands:
	case iq.Type == "set" && p.XMLName.Space == nsCommands && p.XMLName.Local == "command":
	default:
		return false
	}
	return true
}

// commandIQ answers an IQ to the component's domain self that belongs to
// ad-hoc commands: disco of the command list and of a command node, and the
// command itself. It returns nil for every other IQ.
func (c *Component) commandIQ(ctx context.Context, cmdr gateway.Commander, iq *inIQ, self string) []byte {
	p := &iq.Payload
	if !isCommandIQ(iq) {
		return nil
	}
	from, err := jid.Parse(iq.From)
	if err != nil {
		return iqError(self, iq.From, iq.ID, stanza.BadRequest, "invalid sender address")
	}
	switch p.XMLName.Space {
	case nsDiscoInfo:
		return c.commandNodeInfo(cmdr, iq, self, from.Bare().String())
	case nsDiscoItems:
		return c.commandList(cmdr, iq, self, from.Bare().String())
	}
	return c.command(ctx, cmdr, iq, self, from)
}

func (c *Component) commandList(cmdr gateway.Commander, iq *inIQ, self, from string) []byte {
	var b bytes.Buffer
	b.WriteString(`<query xmlns="` + nsDiscoItems + `" node="` + nsCommands + `">`)
	for _, cmd := range cmdr.Commands(c.cfg.Network, from) {
		if cmd.Node == "" {
			continue
		}
		b.WriteString(`<item`)
		attr(&b, "jid", self)
		attr(&b, "node", cmd.Node)
		attr(&b, "name", commandName(cmd))
		b.WriteString(`/>`)
	}
	b.WriteString(`</query>`)
	return iqResult(self, iq.From, iq.ID, b.String())
}

// commandNodeInfo answers disco#info on a node of the domain: the command
// list itself or one command from may run. Other nodes, including commands
// from may not run, do not exist for from.
func (c *Component) commandNodeInfo(cmdr gateway.Commander, iq *inIQ, self, from string) []byte {
	node := iq.Payload.Node
	var b bytes.Buffer
	b.WriteString(`<query xmlns="` + nsDiscoInfo + `"`)
	attr(&b, "node", node)
	b.WriteString(`>`)
	if node == nsCommands {
		b.WriteString(`<identity category="automation" type="command-list" name="Commands"/>`)
		b.WriteString(`<feature var="` + nsDiscoInfo + `"/><feature var="` + nsDiscoItems + `"/>`)
	} else {
		var found *gateway.Command
		cmds := cmdr.Commands(c.cfg.Network, from)
		for i := range cmds {
			if cmds[i].Node == node {
				found = &cmds[i]
				break
			}
		}
		if found == nil {
			return iqError(self, iq.From, iq.ID, stanza.ItemNotFound, "")
		}
		b.WriteString(`<identity category="automation" type="command-node"`)
		attr(&b, "name", commandName(*found))
		b.WriteString(`/>`)
		b.WriteString(`<feature var="` + nsDiscoInfo + `"/><feature var="` + nsCommands + `"/><feature var="` + nsDataForms + `"/>`)
	}
	b.WriteString(`</query>`)
	return iqResult(self, iq.From, iq.ID, b.String())
}

func commandName(cmd gateway.Command) string {
	if cmd.Name != "" {
		return cmd.Name
	}
	return cmd.Node
}

// command serves <command/>: execute without a session starts one and sends
// the form; complete (or execute or next) with the session submits it;
// cancel drops it.
func (c *Component) command(ctx context.Context, cmdr gateway.Commander, iq *inIQ, self string, from jid.JID) []byte {
	p := &iq.Payload
	fail := func(cond stanza.Condition, specific, text string) []byte {
		return commandError(self, iq.From, iq.ID, cond, specific, text)
	}
	if p.Node == "" {
		return fail(stanza.BadRequest, "", "the command has no node")
	}
	action := p.Action
	if action == "" {
		action = "execute"
	}
	switch action {
	case "execute", "complete", "next", "cancel":
	default:
		return fail(stanza.BadRequest, errBadAction, "commands here have a single step; only execute, complete and cancel are understood")
	}
	// The session is the full JID's: another resource of the same account is
	// another window, and must not be able to submit or cancel this one.
	owner := from.String()
	if p.SessionID == "" {
		if action != "execute" {
			return fail(stanza.BadRequest, errBadSessionID, "no command session was given")
		}
		return c.startCommand(ctx, cmdr, iq, self, from)
	}
	if !c.cmds.take(p.SessionID, owner, p.Node) {
		return fail(stanza.BadRequest, errBadSessionID, "this command session has expired or is unknown; run the command again")
	}
	if len(p.Forms) > 1 {
		return fail(stanza.BadRequest, errBadPayload, "more than one form was submitted")
	}
	var form *inForm
	if len(p.Forms) == 1 {
		form = &p.Forms[0]
	}
	if action == "cancel" || form != nil && form.Type == "cancel" {
		var b bytes.Buffer
		b.WriteString(`<command xmlns="` + nsCommands + `"`)
		attr(&b, "node", p.Node)
		attr(&b, "sessionid", p.SessionID)
		b.WriteString(` status="canceled"/>`)
		return iqResult(self, iq.From, iq.ID, b.String())
	}
	values, problem := submittedValues(form)
	if problem != "" {
		return fail(stanza.BadRequest, errBadPayload, problem)
	}
	bare := from.Bare().String()
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	res, err := cmdr.RunCommand(ctx, c.cfg.Network, bare, p.Node, values)
	if err != nil {
		return c.commandFailed(iq, self, bare, err)
	}
	c.log.Debug("command run", "node", p.Node, "from", bare)
	var b bytes.Buffer
	b.WriteString(`<command xmlns="` + nsCommands + `"`)
	attr(&b, "node", p.Node)
	attr(&b, "sessionid", p.SessionID)
	b.WriteString(` status="completed">`)
	if res.Note != "" {
		typ := res.NoteType
		switch typ {
		case gateway.NoteInfo, gateway.NoteWarn, gateway.NoteError:
		default:
			typ = gateway.NoteInfo
		}
		b.WriteString(`<note type="` + string(typ) + `">`)
		xmlText(&b, res.Note)
		b.WriteString(`</note>`)
	}
	if len(res.Fields) > 0 {
		writeForm(&b, "result", "", "", res.Fields)
	}
	b.WriteString(`</command>`)
	return iqResult(self, iq.From, iq.ID, b.String())
}

func (c *Component) startCommand(ctx context.Context, cmdr gateway.Commander, iq *inIQ, self string, from jid.JID) []byte {
	node := iq.Payload.Node
	bare := from.Bare().String()
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd, err := cmdr.CommandForm(ctx, c.cfg.Network, bare, node)
	if err != nil {
		return c.commandFailed(iq, self, bare, err)
	}
	id := c.cmds.start(node, from.String())
	title := cmd.Title
	if title == "" {
		title = cmd.Name
	}
	var b bytes.Buffer
	b.WriteString(`<command xmlns="` + nsCommands + `"`)
	attr(&b, "node", node)
	attr(&b, "sessionid", id)
	b.WriteString(` status="executing"><actions execute="complete"><complete/></actions>`)
	writeForm(&b, "form", title, cmd.Instructions, cmd.Fields)
	b.WriteString(`</command>`)
	return iqResult(self, iq.From, iq.ID, b.String())
}

// commandFailed maps a Commander error to a stanza error. Its text is shown
// as is: only employees reach the inside component.
func (c *Component) commandFailed(iq *inIQ, self, from string, err error) []byte {
	cond := stanza.InternalServerError
	switch {
	case errors.Is(err, gateway.ErrCommandNotFound):
		cond = stanza.ItemNotFound
	case errors.Is(err, gateway.ErrCommandForbidden):
		cond = stanza.Forbidden
	default:
		c.log.Warn("command failed", "node", iq.Payload.Node, "from", from, "err", err)
	}
	return commandError(self, iq.From, iq.ID, cond, "", err.Error())
}

// submittedValues reads a submitted form into what RunCommand takes, within
// the size limits. A field without var (a fixed line echoed back) carries
// nothing. problem is the reason the form is refused, if it is.
func submittedValues(form *inForm) (values map[string][]string, problem string) {
	values = map[string][]string{}
	if form == nil {
		// A client may submit a form without fields as no form at all; the
		// Commander sees empty values and says what is missing.
		return values, ""
	}
	if form.Type != "submit" {
		return nil, fmt.Sprintf("the form has type %q instead of submit", form.Type)
	}
	if len(form.Fields) > maxFormFields {
		return nil, fmt.Sprintf("the form has more than %d fields", maxFormFields)
	}
	for _, f := range form.Fields {
		if f.Var == "" {
			continue
		}
		if len(f.Var) > maxVarBytes {
			return nil, "a field name is too long"
		}
		if len(f.Values) > maxFieldValues {
			return nil, fmt.Sprintf("field %s has more than %d values", f.Var, maxFieldValues)
		}
		for _, v := range f.Values {
			if len(v) > maxValueBytes {
				return nil, fmt.Sprintf("a value of field %s is longer than %d KiB", f.Var, maxValueBytes>>10)
			}
		}
		if _, dup := values[f.Var]; dup {
			return nil, fmt.Sprintf("field %s is given twice", f.Var)
		}
		values[f.Var] = f.Values
	}
	return values, ""
}

// writeForm writes a data form of type typ ("form" or "result").
func writeForm(b *bytes.Buffer, typ, title, instructions string, fields []gateway.Field) {
	b.WriteString(`<x xmlns="` + nsDataForms + `" type="` + typ + `">`)
	if title != "" {
		b.WriteString(`<title>`)
		xmlText(b, title)
		b.WriteString(`</title>`)
	}
	// XEP-0004 gives each line of instructions its own element.
	if instructions != "" {
		for _, line := range lines(instructions) {
			b.WriteString(`<instructions>`)
			xmlText(b, line)
			b.WriteString(`</instructions>`)
		}
	}
	for _, f := range fields {
		writeField(b, &f, typ == "form")
	}
	b.WriteString(`</x>`)
}

func writeField(b *bytes.Buffer, f *gateway.Field, input bool) {
	b.WriteString(`<field`)
	if f.Type != gateway.FieldFixed {
		// A fixed field is a line of text: with a var, a client would
		// submit it back.
		attr(b, "var", f.Var)
	}
	attr(b, "type", string(f.Type))
	attr(b, "label", f.Label)
	b.WriteString(`>`)
	if input && f.Desc != "" {
		b.WriteString(`<desc>`)
		xmlText(b, f.Desc)
		b.WriteString(`</desc>`)
	}
	if input && f.Required {
		b.WriteString(`<required/>`)
	}
	for _, v := range f.Values {
		vs := []string{v}
		if f.Type == gateway.FieldTextMulti || f.Type == gateway.FieldFixed {
			// These types carry one line per value.
			vs = lines(v)
		}
		for _, v := range vs {
			b.WriteString(`<value>`)
			xmlText(b, v)
			b.WriteString(`</value>`)
		}
	}
	for _, o := range f.Options {
		b.WriteString(`<option`)
		attr(b, "label", o.Label)
		b.WriteString(`><value>`)
		xmlText(b, o.Value)
		b.WriteString(`</value></option>`)
	}
	b.WriteString(`</field>`)
}

func lines(s string) []string {
	ls := strings.Split(s, "\n")
	for i, l := range ls {
		ls[i] = strings.TrimSuffix(l, "\r")
	}
	return ls
}

// commandError is an IQ error with an optional XEP-0050 condition
// (specific) after the stanza condition and text, as RFC 6120 orders them.
func commandError(from, to, id string, cond stanza.Condition, specific, text string) []byte {
	var b bytes.Buffer
	b.WriteString(`<iq type="error"`)
	attr(&b, "from", from)
	attr(&b, "to", to)
	attr(&b, "id", id)
	b.WriteString(`>`)
	fmt.Fprintf(&b, `<error type="%s"><%s xmlns="%s"/>`, errorType(cond), cond, nsStanzas)
	if text != "" {
		b.WriteString(`<text xmlns="` + nsStanzas + `" xml:lang="en">`)
		xmlText(&b, text)
		b.WriteString(`</text>`)
	}
	if specific != "" {
		b.WriteString(`<` + specific + ` xmlns="` + nsCommands + `"/>`)
	}
	b.WriteString(`</error></iq>`)
	return b.Bytes()
}

// commandSessions are the forms sent out and not yet submitted, by session
// ID. A session can be completed only by the full JID that started it, for
// the same node, within commandSessionTTL, and only once.
type commandSessions struct {
	mu  sync.Mutex
	m   map[string]commandSession
	now func() time.Time // nil means time.Now; tests move the clock
}

type commandSession struct {
	node, owner string
	created     time.Time
}

func (s *commandSessions) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// start records a new session and returns its ID. At the cap, the oldest
// session goes: the form abandoned longest ago is the least likely to come
// back.
func (s *commandSessions) start(node, owner string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	if s.m == nil {
		s.m = make(map[string]commandSession)
	}
	for id, sess := range s.m {
		if now.Sub(sess.created) >= commandSessionTTL {
			delete(s.m, id)
		}
	}
	if len(s.m) >= maxCommandSessions {
		var oldest string
		var at time.Time
		for id, sess := range s.m {
			if oldest == "" || sess.created.Before(at) {
				oldest, at = id, sess.created
			}
		}
		delete(s.m, oldest)
	}
	// Unguessable, so that a session ID is as good as the JID check even if
	// a client leaks it.
	id := rand.Text()
	s.m[id] = commandSession{node: node, owner: owner, created: now}
	return id
}

// take ends the session id and reports whether it was owner's, for node, and
// still open. A session that is someone else's stays for its owner.
func (s *commandSessions) take(id, owner, node string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.m[id]
	switch {
	case !ok:
		return false
	case s.clock().Sub(sess.created) >= commandSessionTTL:
		delete(s.m, id)
		return false
	case sess.owner != owner || sess.node != node:
		return false
	}
	delete(s.m, id)
	return true
}

func (s *commandSessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
