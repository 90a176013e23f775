package xmpp

// Ad-hoc commands (XEP-0050) with data forms (XEP-0004) on the inside
// component's own domain, so that employees can run the gateway's commands
// from their client's command menu. The gateway (a Core that is also a
// gateway.Commander) decides which commands exist and who may run them; this
// file only speaks the protocol. Commands are single-stage: execute returns
// the form, complete submits it, and the answer is a note with perhaps a
// result form.

import (
	"context"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/commands"
	"mellium.im/xmpp/disco"
	"mellium.im/xmpp/disco/info"
	"mellium.im/xmpp/disco/items"
	"mellium.im/xmpp/form"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
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

// completeOnly offers one action, complete, and makes it the default:
// <actions execute="complete"><complete/></actions>.
const completeOnly = commands.Complete<<3 | commands.Complete

// commandRequest is a <command/> from an employee's client.
type commandRequest struct {
	commands.Command
	Forms []submission `xml:"jabber:x:data x"`
}

// submission is a data form a client sent. form.Data reads its fields but
// keeps its type to itself, so the type is read here.
type submission struct {
	typ  form.Type
	data form.Data
}

// UnmarshalXML implements xml.Unmarshaler.
func (s *submission) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	s.typ = form.Type(attrValue(&start, "type"))
	return s.data.UnmarshalXML(d, start)
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

// commandList answers disco#items on the command list (iq, to the domain)
// with the commands from may run.
func (c *Component) commandList(cmdr gateway.Commander, iq stanza.IQ, from jid.JID) xml.TokenReader {
	var list []xml.TokenReader
	for _, cmd := range cmdr.Commands(c.cfg.Network, from.Bare().String()) {
		if cmd.Node != "" {
			list = append(list, items.Item{JID: iq.To, Node: cmd.Node, Name: commandName(cmd)}.TokenReader())
		}
	}
	// ItemsQuery writes an empty query, for asking.
	query := disco.ItemsQuery{Node: commands.NS}.TokenReader()
	return iq.Result(insertInto(xml.Name{Space: disco.NSItems, Local: "query"}, query, list...))
}

// commandNodeInfo answers disco#info on a node of the domain: the command
// list itself or one command from may run. Other nodes, including commands
// from may not run, do not exist for from.
func (c *Component) commandNodeInfo(cmdr gateway.Commander, iq stanza.IQ, from jid.JID, node string) xml.TokenReader {
	answer := disco.Info{InfoQuery: disco.InfoQuery{Node: node}}
	if node == commands.NS {
		id := disco.AutomationCommandList
		id.Name = "Commands"
		answer.Identity = []info.Identity{id}
		answer.Features = []info.Feature{disco.Feature, {Var: disco.NSItems}}
		return iq.Result(answer.TokenReader())
	}
	for _, cmd := range cmdr.Commands(c.cfg.Network, from.Bare().String()) {
		if cmd.Node == node {
			id := disco.AutomationCommandNode
			id.Name = commandName(cmd)
			answer.Identity = []info.Identity{id}
			answer.Features = []info.Feature{disco.Feature, commands.Feature, form.Feature}
			return iq.Result(answer.TokenReader())
		}
	}
	return iq.Error(stanzaError(stanza.ItemNotFound, ""))
}

func commandName(cmd gateway.Command) string {
	if cmd.Name != "" {
		return cmd.Name
	}
	return cmd.Node
}

// command answers a <command/> (req, in iq): execute without a session
// starts one and sends the form; complete (or execute or next) with the
// session submits it; cancel drops it.
func (c *Component) command(ctx context.Context, cmdr gateway.Commander, iq stanza.IQ, from jid.JID, req *commandRequest) xml.TokenReader {
	fail := func(cond stanza.Condition, specific, text string) xml.TokenReader {
		return commandError(iq, cond, specific, text)
	}
	if req.Node == "" {
		return fail(stanza.BadRequest, "", "the command has no node")
	}
	action := req.Action
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
	if req.SID == "" {
		if action != "execute" {
			return fail(stanza.BadRequest, errBadSessionID, "no command session was given")
		}
		return c.startCommand(ctx, cmdr, iq, from, req.Node)
	}
	if !c.cmds.take(req.SID, owner, req.Node) {
		return fail(stanza.BadRequest, errBadSessionID, "this command session has expired or is unknown; run the command again")
	}
	if len(req.Forms) > 1 {
		return fail(stanza.BadRequest, errBadPayload, "more than one form was submitted")
	}
	var sub *submission
	if len(req.Forms) == 1 {
		sub = &req.Forms[0]
	}
	if action == "cancel" || sub != nil && sub.typ == form.TypeCancel {
		return commandResponse(iq, req.Node, req.SID, "canceled")
	}
	values, problem := submittedValues(sub)
	if problem != "" {
		return fail(stanza.BadRequest, errBadPayload, problem)
	}
	bare := from.Bare().String()
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	res, err := cmdr.RunCommand(ctx, c.cfg.Network, bare, req.Node, values)
	if err != nil {
		return c.commandFailed(iq, req.Node, bare, err)
	}
	c.log.Debug("command run", "node", req.Node, "from", bare)
	var payload []xml.TokenReader
	if res.Note != "" {
		payload = append(payload, commands.Note{Type: noteType(res.NoteType), Value: res.Note}.TokenReader())
	}
	if len(res.Fields) > 0 {
		payload = append(payload, dataForm(form.TypeResult, "", "", res.Fields))
	}
	return commandResponse(iq, req.Node, req.SID, "completed", payload...)
}

func noteType(t gateway.NoteType) commands.NoteType {
	switch t {
	case gateway.NoteWarn:
		return commands.NoteWarn
	case gateway.NoteError:
		return commands.NoteError
	}
	return commands.NoteInfo
}

func (c *Component) startCommand(ctx context.Context, cmdr gateway.Commander, iq stanza.IQ, from jid.JID, node string) xml.TokenReader {
	bare := from.Bare().String()
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd, err := cmdr.CommandForm(ctx, c.cfg.Network, bare, node)
	if err != nil {
		return c.commandFailed(iq, node, bare, err)
	}
	id := c.cmds.start(node, from.String())
	title := cmd.Title
	if title == "" {
		title = cmd.Name
	}
	return commandResponse(iq, node, id, "executing", completeOnly.TokenReader(), dataForm(form.TypeForm, title, cmd.Instructions, cmd.Fields))
}

// commandFailed maps a Commander error to a stanza error. Its text is shown
// as is: only employees reach the inside component.
func (c *Component) commandFailed(iq stanza.IQ, node, from string, err error) xml.TokenReader {
	cond := stanza.InternalServerError
	switch {
	case errors.Is(err, gateway.ErrCommandNotFound):
		cond = stanza.ItemNotFound
	case errors.Is(err, gateway.ErrCommandForbidden):
		cond = stanza.Forbidden
	default:
		c.log.Warn("command failed", "node", node, "from", from, "err", err)
	}
	return commandError(iq, cond, "", err.Error())
}

// submittedValues reads a submitted form into what RunCommand takes, within
// the size limits. A field without var (a fixed line echoed back) carries
// nothing. problem is the reason the form is refused, if it is.
func submittedValues(sub *submission) (values map[string][]string, problem string) {
	values = map[string][]string{}
	if sub == nil {
		// A client may submit a form without fields as no form at all; the
		// Commander sees empty values and says what is missing.
		return values, ""
	}
	if sub.typ != form.TypeSubmit {
		return nil, fmt.Sprintf("the form has type %q instead of submit", sub.typ)
	}
	if sub.data.Len() > maxFormFields {
		return nil, fmt.Sprintf("the form has more than %d fields", maxFormFields)
	}
	sub.data.ForFields(func(f form.FieldData) {
		if problem != "" || f.Var == "" {
			return
		}
		if problem = fieldProblem(f); problem != "" {
			return
		}
		if _, dup := values[f.Var]; dup {
			problem = fmt.Sprintf("field %s is given twice", f.Var)
			return
		}
		values[f.Var] = f.Raw
	})
	if problem != "" {
		return nil, problem
	}
	return values, ""
}

// fieldProblem says what makes a submitted field too big, if anything.
func fieldProblem(f form.FieldData) string {
	if len(f.Var) > maxVarBytes {
		return "a field name is too long"
	}
	if len(f.Raw) > maxFieldValues {
		return fmt.Sprintf("field %s has more than %d values", f.Var, maxFieldValues)
	}
	for _, v := range f.Raw {
		if len(v) > maxValueBytes {
			return fmt.Sprintf("a value of field %s is longer than %d KiB", f.Var, maxValueBytes>>10)
		}
	}
	return ""
}

// dataForm is a data form of typ (form or result) with the gateway's
// fields. form.Data writes the form, its title and its instructions (one
// element a line); the fields are formFields'.
func dataForm(typ form.Type, title, instructions string, fields []gateway.Field) xml.TokenReader {
	opts := []form.Field{form.Title(title), form.Instructions(instructions)}
	if typ == form.TypeResult {
		opts = append(opts, form.Result)
	}
	return insertInto(xml.Name{Space: form.NS, Local: "x"}, form.New(opts...).TokenReader(), formFields(fields, typ == form.TypeForm)...)
}

// formFields are the gateway's fields in a data form; input says the form
// is to be filled in, so descriptions and required marks are shown. They
// are written here: form.Data (v0.22.0) writes no empty value and at most
// one value unless the type is a -multi one, so a fixed field's lines and a
// text-multi's blank lines would be lost.
func formFields(fields []gateway.Field, input bool) []xml.TokenReader {
	all := make([]xml.TokenReader, 0, len(fields))
	for _, f := range fields {
		start := xml.StartElement{Name: xml.Name{Local: "field"}}
		set := func(name, value string) {
			if value != "" {
				start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: name}, Value: value})
			}
		}
		if f.Type != gateway.FieldFixed {
			// A fixed field is a line of text: with a var, a client would
			// submit it back.
			set("var", f.Var)
		}
		set("type", string(f.Type))
		set("label", f.Label)
		var inner []xml.TokenReader
		if input && f.Desc != "" {
			inner = append(inner, element("desc", f.Desc))
		}
		if input && f.Required {
			inner = append(inner, xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "required"}}))
		}
		for _, v := range f.Values {
			vs := []string{v}
			if f.Type == gateway.FieldTextMulti || f.Type == gateway.FieldFixed {
				// These types carry one line per value.
				vs = lines(v)
			}
			for _, v := range vs {
				inner = append(inner, element("value", v))
			}
		}
		for _, o := range f.Options {
			opt := xml.StartElement{Name: xml.Name{Local: "option"}}
			if o.Label != "" {
				opt.Attr = []xml.Attr{{Name: xml.Name{Local: "label"}, Value: o.Label}}
			}
			inner = append(inner, xmlstream.Wrap(element("value", o.Value), opt))
		}
		all = append(all, xmlstream.Wrap(xmlstream.MultiReader(inner...), start))
	}
	return all
}

func lines(s string) []string {
	ls := strings.Split(s, "\n")
	for i, l := range ls {
		ls[i] = strings.TrimSuffix(l, "\r")
	}
	return ls
}

// commandResponse answers iq with the command's status and, inside
// <command/>, payload (actions, a note, a form): commands.Response writes
// the command empty.
func commandResponse(iq stanza.IQ, node, sid, status string, payload ...xml.TokenReader) xml.TokenReader {
	resp := commands.Response{IQ: answerTo(iq, stanza.ResultIQ), Node: node, SID: sid, Status: status}
	return insertInto(xml.Name{Space: commands.NS, Local: "command"}, resp.TokenReader(), payload...)
}

// commandError answers iq with an error, and an XEP-0050 condition
// (specific) after the stanza condition and text, as RFC 6120 orders them:
// stanza.IQ's Error has no room for it.
func commandError(iq stanza.IQ, cond stanza.Condition, specific, text string) xml.TokenReader {
	var app xml.TokenReader
	if specific != "" {
		app = xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: commands.NS, Local: specific}})
	}
	return answerTo(iq, stanza.ErrorIQ).Wrap(stanzaError(cond, text).Wrap(app))
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
