package xmpp

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/commands"
	"mellium.im/xmpp/disco"
	"mellium.im/xmpp/disco/info"
	"mellium.im/xmpp/disco/items"
	"mellium.im/xmpp/form"
	"mellium.im/xmpp/ping"
	"mellium.im/xmpp/stanza"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
)

const (
	testDomain = "gw.corp.test"
	hanaPhone  = "hana@corp.test/phone"
	hanaLaptop = "hana@corp.test/laptop"
	bossDesk   = "boss@corp.test/desk"
	stranger   = "stranger@corp.test/x"
	proxyAddr  = `bob\40ext.test@gw.corp.test`
)

// fakeCore is a gateway.Core that knows one proxy address and takes every
// message.
type fakeCore struct{}

func (fakeCore) Receive(context.Context, *gateway.Message) error { return nil }
func (fakeCore) Accept(_ context.Context, _ *gateway.Message, stored func(error)) error {
	stored(nil)
	return nil
}

func (fakeCore) Profile(_, addr string) (gateway.Profile, bool) {
	if addr == proxyAddr {
		return gateway.Profile{Name: "Bob (ext)"}, true
	}
	return gateway.Profile{}, false
}
func (fakeCore) Failed(context.Context, gateway.Bounce) {}

// ActiveEmployee: everyone at corp.test but stranger is an active employee.
func (fakeCore) ActiveEmployee(_, from string) bool {
	return strings.HasSuffix(from, "@corp.test") && from != "stranger@corp.test"
}

type commandCall struct {
	method, network, from, node string
	values                      map[string][]string
}

// fakeCommander offers the commands in cmds, in order; "broadcast" is for
// boss@corp.test only, and stranger@corp.test may run nothing.
type fakeCommander struct {
	fakeCore
	cmds    []gateway.Command
	formErr error
	runErr  error
	result  gateway.CommandResult

	mu    sync.Mutex
	calls []commandCall
}

func (f *fakeCommander) record(c commandCall) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *fakeCommander) callsOf(method string) []commandCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var cs []commandCall
	for _, c := range f.calls {
		if method == "" || c.method == method {
			cs = append(cs, c)
		}
	}
	return cs
}

func (f *fakeCommander) allowed(from, node string) error {
	if from == "stranger@corp.test" || node == "broadcast" && from != "boss@corp.test" {
		return fmt.Errorf("%w: ask an admin", gateway.ErrCommandForbidden)
	}
	return nil
}

func (f *fakeCommander) Commands(network, from string) []gateway.Command {
	f.record(commandCall{method: "Commands", network: network, from: from})
	var cs []gateway.Command
	for _, c := range f.cmds {
		if f.allowed(from, c.Node) == nil {
			cs = append(cs, gateway.Command{Node: c.Node, Name: c.Name})
		}
	}
	return cs
}

func (f *fakeCommander) find(from, node string) (gateway.Command, error) {
	for _, c := range f.cmds {
		if c.Node == node {
			return c, f.allowed(from, node)
		}
	}
	return gateway.Command{}, fmt.Errorf("%w: %s", gateway.ErrCommandNotFound, node)
}

func (f *fakeCommander) CommandForm(_ context.Context, network, from, node string) (gateway.Command, error) {
	f.record(commandCall{method: "CommandForm", network: network, from: from, node: node})
	if f.formErr != nil {
		return gateway.Command{}, f.formErr
	}
	return f.find(from, node)
}

func (f *fakeCommander) RunCommand(_ context.Context, network, from, node string, values map[string][]string) (gateway.CommandResult, error) {
	f.record(commandCall{method: "RunCommand", network: network, from: from, node: node, values: values})
	if f.runErr != nil {
		return gateway.CommandResult{}, f.runErr
	}
	if _, err := f.find(from, node); err != nil {
		return gateway.CommandResult{}, err
	}
	return f.result, nil
}

// everyField is a form with one field of each type, and text that needs
// escaping wherever text goes.
var everyField = gateway.Command{
	Node:         "tag-contact",
	Name:         "Tag a contact <&>",
	Title:        `Tag "a" contact & more`,
	Instructions: "Pick a contact.\r\nThen <tags>.",
	Fields: []gateway.Field{
		{Type: gateway.FieldFixed, Values: []string{"Your contacts: 3\nlast: bob"}},
		{Var: "contact", Label: "Contact", Type: gateway.FieldList, Required: true, Desc: "one of yours",
			Options: []gateway.FieldOption{{Label: "Bob <ext>", Value: "bob@ext.test"}, {Label: "Alice", Value: "alice@ext.test"}},
			Values:  []string{"bob@ext.test"}},
		{Var: "tags", Label: "Tags", Type: gateway.FieldListMulti,
			Options: []gateway.FieldOption{{Label: "VIP", Value: "vip"}, {Label: "Late payer", Value: "late"}},
			Values:  []string{"vip", "late"}},
		{Var: "remark", Label: "Remark", Type: gateway.FieldTextMulti, Values: []string{"line 1\nline </value><evil/> 2"}},
		{Var: "title", Label: "Title", Type: gateway.FieldText, Values: []string{`"Dr." & co`}},
		{Var: "notify", Label: "Notify", Type: gateway.FieldBool, Values: []string{"1"}},
	},
}

func newCommander() *fakeCommander {
	return &fakeCommander{
		cmds: []gateway.Command{
			everyField,
			{Node: "broadcast", Name: "Broadcast", Fields: []gateway.Field{{Var: "text", Type: gateway.FieldTextMulti, Required: true}}},
			{Node: "report", Name: "Report"},
		},
		result: gateway.CommandResult{NoteType: gateway.NoteInfo, Note: "Tagged <bob> & done"},
	}
}

func newTestComponent(t *testing.T, side identity.Side) *Component {
	t.Helper()
	c, err := New(Config{Network: "corp", Side: side, Domain: testDomain, Server: "127.0.0.1:1", Secret: "s",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tokenCapture stands in for the stream mellium hands a handler: it reads
// the stanza's inner tokens and records what the handler writes.
type tokenCapture struct {
	xml.TokenReader
	out []xml.Token
}

func (tc *tokenCapture) EncodeToken(tok xml.Token) error {
	tc.out = append(tc.out, xml.CopyToken(tok))
	return nil
}

func (tc *tokenCapture) Encode(any) error { return errors.New("test stream: Encode not supported") }
func (tc *tokenCapture) EncodeElement(any, xml.StartElement) error {
	return errors.New("test stream: EncodeElement not supported")
}

type replyIQ struct {
	XMLName xml.Name
	Type    string        `xml:"type,attr"`
	From    string        `xml:"from,attr"`
	To      string        `xml:"to,attr"`
	ID      string        `xml:"id,attr"`
	Command *replyCommand `xml:"http://jabber.org/protocol/commands command"`
	Items   *struct {
		Node  string `xml:"node,attr"`
		Items []struct {
			JID  string `xml:"jid,attr"`
			Node string `xml:"node,attr"`
			Name string `xml:"name,attr"`
		} `xml:"http://jabber.org/protocol/disco#items item"`
	} `xml:"http://jabber.org/protocol/disco#items query"`
	Info *struct {
		Node       string `xml:"node,attr"`
		Identities []struct {
			Category string `xml:"category,attr"`
			Type     string `xml:"type,attr"`
			Name     string `xml:"name,attr"`
		} `xml:"http://jabber.org/protocol/disco#info identity"`
		Features []struct {
			Var string `xml:"var,attr"`
		} `xml:"http://jabber.org/protocol/disco#info feature"`
	} `xml:"http://jabber.org/protocol/disco#info query"`
	Error *struct {
		Type     string `xml:"type,attr"`
		Text     string `xml:"urn:ietf:params:xml:ns:xmpp-stanzas text"`
		Children []struct {
			XMLName xml.Name
		} `xml:",any"`
	} `xml:"error"`

	raw string
}

type replyCommand struct {
	Node      string `xml:"node,attr"`
	SessionID string `xml:"sessionid,attr"`
	Status    string `xml:"status,attr"`
	Actions   *struct {
		Execute  string `xml:"execute,attr"`
		Children []struct {
			XMLName xml.Name
		} `xml:",any"`
	} `xml:"http://jabber.org/protocol/commands actions"`
	Notes []struct {
		Type string `xml:"type,attr"`
		Text string `xml:",chardata"`
	} `xml:"http://jabber.org/protocol/commands note"`
	Forms []replyForm `xml:"jabber:x:data x"`
}

type replyForm struct {
	Type         string       `xml:"type,attr"`
	Title        []string     `xml:"jabber:x:data title"`
	Instructions []string     `xml:"jabber:x:data instructions"`
	Fields       []replyField `xml:"jabber:x:data field"`
}

type replyField struct {
	Attrs    []xml.Attr `xml:",any,attr"`
	Desc     []string   `xml:"jabber:x:data desc"`
	Required []struct{} `xml:"jabber:x:data required"`
	Values   []string   `xml:"jabber:x:data value"`
	Options  []struct {
		Label string `xml:"label,attr"`
		Value string `xml:"jabber:x:data value"`
	} `xml:"jabber:x:data option"`
}

func (f *replyField) attr(name string) (string, bool) {
	for _, a := range f.Attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// condition is the stanza error's defined condition; specific its XEP-0050
// condition, if any.
func (r *replyIQ) condition() (cond, specific string) {
	if r.Error == nil {
		return "", ""
	}
	for _, ch := range r.Error.Children {
		switch ch.XMLName.Space {
		case stanza.NSError:
			cond = ch.XMLName.Local
		case commands.NS:
			specific = ch.XMLName.Local
		}
	}
	return cond, specific
}

func parseReply(t *testing.T, raw []byte) *replyIQ {
	t.Helper()
	var r replyIQ
	if err := xml.Unmarshal(raw, &r); err != nil {
		t.Fatalf("reply does not parse: %v\n%s", err, raw)
	}
	r.raw = string(raw)
	return &r
}

// exchange feeds raw (one stanza, as the server would send it) through the
// component's stanza handler, the same decoding path as on a live
// connection, and returns the one IQ it answers with, parsed back from the
// XML it renders to.
func exchange(t *testing.T, c *Component, core gateway.Core, raw string) *replyIQ {
	t.Helper()
	out := renderTokens(handleRaw(t, c, core, raw))
	if out == "" {
		t.Fatalf("no reply to %s", raw)
	}
	d := xml.NewDecoder(strings.NewReader(out))
	var r replyIQ
	if err := d.Decode(&r); err != nil {
		t.Fatalf("reply does not decode: %v\n%s", err, out)
	}
	if tok, err := d.Token(); err != io.EOF {
		t.Fatalf("more than one stanza written: %v %v\n%s", tok, err, out)
	}
	if r.XMLName.Local != "iq" {
		t.Fatalf("reply is a %s", r.XMLName.Local)
	}
	r.raw = out
	return &r
}

// handleRaw feeds raw to the component's stanza handler and returns what
// it writes, on the read loop and off it.
func handleRaw(t *testing.T, c *Component, core gateway.Core, raw string) []xml.Token {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(raw))
	tok, err := d.Token()
	if err != nil {
		t.Fatalf("test stanza: %v", err)
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		t.Fatalf("test stanza starts with %T", tok)
	}
	start = start.Copy()
	tc := &tokenCapture{TokenReader: xmlstream.InnerElement(d)}
	// What the component answers off its read loop (commands) lands in
	// the same capture, once that work is done.
	var mu sync.Mutex
	var late []xml.Token
	c.bg.send = func(_ context.Context, st xml.TokenReader) error {
		toks, err := xmlstream.ReadAll(st)
		mu.Lock()
		defer mu.Unlock()
		late = append(late, toks...)
		return err
	}
	if err := c.handle(t.Context(), core, tc, &start); err != nil {
		t.Fatalf("handler: %v", err)
	}
	c.bg.wg.Wait()
	return append(tc.out, late...)
}

// renderTokens is the XML toks encode to, as a session writes them.
func renderTokens(toks []xml.Token) string {
	var b bytes.Buffer
	e := xml.NewEncoder(&b)
	for _, tok := range toks {
		_ = e.EncodeToken(tok)
	}
	_ = e.Flush()
	return b.String()
}

// render is the XML r encodes to.
func render(t testing.TB, r xml.TokenReader) string {
	t.Helper()
	toks, err := xmlstream.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return renderTokens(toks)
}

// xmlAttr is ` name="value"`, escaped, or nothing for an empty value.
func xmlAttr(name, value string) string {
	if value == "" {
		return ""
	}
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(value))
	return " " + name + `="` + b.String() + `"`
}

// iqXML is an IQ as the server hands it to the component.
func iqXML(typ, from, to, id, payload string) string {
	return `<iq xmlns="jabber:component:accept"` + xmlAttr("type", typ) + xmlAttr("from", from) + xmlAttr("to", to) + xmlAttr("id", id) + `>` + payload + `</iq>`
}

func executeXML(node string) string {
	return `<command xmlns="http://jabber.org/protocol/commands" action="execute" node="` + node + `"/>`
}

func submitXML(node, sid, action, fields string) string {
	return `<command xmlns="http://jabber.org/protocol/commands" node="` + node + `" sessionid="` + sid + `" action="` + action + `">` +
		`<x xmlns="jabber:x:data" type="submit">` + fields + `</x></command>`
}

// start executes node as from and returns the session ID of the form.
func start(t *testing.T, c *Component, core gateway.Core, from, node string) (string, *replyIQ) {
	t.Helper()
	r := exchange(t, c, core, iqXML("set", from, testDomain, "start-1", executeXML(node)))
	if r.Type != "result" || r.Command == nil || r.Command.SessionID == "" {
		t.Fatalf("execute %s: %s", node, r.raw)
	}
	return r.Command.SessionID, r
}

func wantError(t *testing.T, r *replyIQ, cond, specific string) {
	t.Helper()
	gotCond, gotSpecific := r.condition()
	if r.Type != "error" || gotCond != cond || gotSpecific != specific {
		t.Fatalf("got %s %q/%q, want error %q/%q: %s", r.Type, gotCond, gotSpecific, cond, specific, r.raw)
	}
}

func hasFeature(r *replyIQ, v string) bool {
	if r.Info == nil {
		return false
	}
	for _, f := range r.Info.Features {
		if f.Var == v {
			return true
		}
	}
	return false
}

func TestCommandsAdvertisedOnTheDomain(t *testing.T) {
	c := newTestComponent(t, identity.Inside)
	cmdr := newCommander()
	// mellium blanks a "to" naming the component's domain.
	r := exchange(t, c, cmdr, iqXML("get", hanaPhone, "", "i1", `<query xmlns="http://jabber.org/protocol/disco#info"/>`))
	for _, f := range []string{disco.NSInfo, ping.NS, nsVCard, commands.NS} {
		if !hasFeature(r, f) {
			t.Errorf("disco#info lacks %s: %s", f, r.raw)
		}
	}
	if r.From != testDomain || r.To != hanaPhone || r.ID != "i1" {
		t.Errorf("addressing: %s", r.raw)
	}
	r = exchange(t, c, cmdr, iqXML("get", hanaPhone, proxyAddr, "i2", `<query xmlns="http://jabber.org/protocol/disco#info"/>`))
	if hasFeature(r, commands.NS) || r.Type != "result" {
		t.Errorf("a proxy address advertises commands: %s", r.raw)
	}
}

func TestCommandList(t *testing.T) {
	c := newTestComponent(t, identity.Inside)
	cmdr := newCommander()
	items := `<query xmlns="http://jabber.org/protocol/disco#items" node="http://jabber.org/protocol/commands"/>`
	r := exchange(t, c, cmdr, iqXML("get", hanaPhone, testDomain, "l1", items))
	if r.Type != "result" || r.Items == nil || r.Items.Node != commands.NS {
		t.Fatalf("list: %s", r.raw)
	}
	type item struct{ jid, node, name string }
	var got []item
	for _, it := range r.Items.Items {
		got = append(got, item{it.JID, it.Node, it.Name})
	}
	want := []item{{testDomain, "tag-contact", "Tag a contact <&>"}, {testDomain, "report", "Report"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("items %v, want %v", got, want)
	}
	calls := cmdr.callsOf("Commands")
	if len(calls) != 1 || calls[0].from != "hana@corp.test" || calls[0].network != "corp" {
		t.Fatalf("Commands called as %+v, want network corp and the bare sender", calls)
	}

	// Someone who is not an active employee learns nothing: to them the
	// gateway's inside domain is no one.
	r = exchange(t, c, cmdr, iqXML("get", stranger, testDomain, "l2", items))
	wantError(t, r, "item-not-found", "")
}

func TestCommandNodeInfo(t *testing.T) {
	c := newTestComponent(t, identity.Inside)
	cmdr := newCommander()
	info := func(from, node string) *replyIQ {
		return exchange(t, c, cmdr, iqXML("get", from, testDomain, "n1", `<query xmlns="http://jabber.org/protocol/disco#info" node="`+node+`"/>`))
	}
	r := info(hanaPhone, "tag-contact")
	if r.Type != "result" || r.Info == nil || r.Info.Node != "tag-contact" || len(r.Info.Identities) != 1 {
		t.Fatalf("node info: %s", r.raw)
	}
	id := r.Info.Identities[0]
	if id.Category != "automation" || id.Type != "command-node" || id.Name != "Tag a contact <&>" {
		t.Errorf("identity %+v", id)
	}
	if !hasFeature(r, commands.NS) || !hasFeature(r, form.NS) {
		t.Errorf("node info lacks features: %s", r.raw)
	}

	r = info(hanaPhone, commands.NS)
	if r.Type != "result" || len(r.Info.Identities) != 1 || r.Info.Identities[0].Type != "command-list" {
		t.Errorf("command list node info: %s", r.raw)
	}
	// A command someone may not run does not exist for them.
	wantError(t, info(hanaPhone, "broadcast"), "item-not-found", "")
	wantError(t, info(hanaPhone, "no-such"), "item-not-found", "")
	if r := info(bossDesk, "broadcast"); r.Type != "result" {
		t.Errorf("admin's node info: %s", r.raw)
	}
}

func TestCommandFormRendersEveryFieldType(t *testing.T) {
	c := newTestComponent(t, identity.Inside)
	cmdr := newCommander()
	sid, r := start(t, c, cmdr, hanaPhone, "tag-contact")
	cmd := r.Command
	if cmd.Status != "executing" || cmd.Node != "tag-contact" || len(sid) < 20 {
		t.Fatalf("command: %s", r.raw)
	}
	if cmd.Actions == nil || cmd.Actions.Execute != "complete" || len(cmd.Actions.Children) != 1 || cmd.Actions.Children[0].XMLName.Local != "complete" {
		t.Fatalf("actions: %s", r.raw)
	}
	if len(cmd.Forms) != 1 {
		t.Fatalf("forms: %s", r.raw)
	}
	f := cmd.Forms[0]
	if f.Type != "form" || !reflect.DeepEqual(f.Title, []string{everyField.Title}) {
		t.Errorf("form type/title: %s", r.raw)
	}
	if want := []string{"Pick a contact.", "Then <tags>."}; !reflect.DeepEqual(f.Instructions, want) {
		t.Errorf("instructions %q, want %q", f.Instructions, want)
	}
	if len(f.Fields) != len(everyField.Fields) {
		t.Fatalf("%d fields: %s", len(f.Fields), r.raw)
	}
	calls := cmdr.callsOf("CommandForm")
	if len(calls) != 1 || calls[0].from != "hana@corp.test" || calls[0].node != "tag-contact" || calls[0].network != "corp" {
		t.Fatalf("CommandForm calls %+v", calls)
	}

	fixed := f.Fields[0]
	if typ, _ := fixed.attr("type"); typ != "fixed" {
		t.Errorf("fixed field type %q", typ)
	}
	if _, ok := fixed.attr("var"); ok {
		t.Errorf("fixed field has a var: %s", r.raw)
	}
	if !reflect.DeepEqual(fixed.Values, []string{"Your contacts: 3", "last: bob"}) {
		t.Errorf("fixed values %q", fixed.Values)
	}

	for i, want := range everyField.Fields[1:] {
		got := f.Fields[i+1]
		for name, v := range map[string]string{"var": want.Var, "type": string(want.Type), "label": want.Label} {
			if g, _ := got.attr(name); g != v {
				t.Errorf("field %s: %s=%q, want %q", want.Var, name, g, v)
			}
		}
		if (len(got.Required) == 1) != want.Required || len(got.Required) > 1 {
			t.Errorf("field %s: required %v", want.Var, got.Required)
		}
		if want.Desc != "" && !reflect.DeepEqual(got.Desc, []string{want.Desc}) || want.Desc == "" && len(got.Desc) != 0 {
			t.Errorf("field %s: desc %q", want.Var, got.Desc)
		}
		wantValues := want.Values
		if want.Type == gateway.FieldTextMulti {
			wantValues = []string{"line 1", "line </value><evil/> 2"}
		}
		if !reflect.DeepEqual(got.Values, wantValues) {
			t.Errorf("field %s: values %q, want %q", want.Var, got.Values, wantValues)
		}
		if len(got.Options) != len(want.Options) {
			t.Errorf("field %s: options %+v", want.Var, got.Options)
			continue
		}
		for j, o := range want.Options {
			if got.Options[j].Label != o.Label || got.Options[j].Value != o.Value {
				t.Errorf("field %s: option %+v, want %+v", want.Var, got.Options[j], o)
			}
		}
	}
	if c.cmds.len() != 1 {
		t.Errorf("%d sessions open, want 1", c.cmds.len())
	}
}

// TestCommandFormMarkup pins a form as it goes on the wire, parsed back:
// element order, namespaces, attributes and text, since clients are picky
// about all of them. A fixed field has no var, and its lines and a
// text-multi's (blank ones too) are a value each.
func TestCommandFormMarkup(t *testing.T) {
	got := outline(t, render(t, dataForm(form.TypeForm, "T<", "Line 1.\nLine 2 & more.", []gateway.Field{
		{Type: gateway.FieldFixed, Var: "ignored", Values: []string{"a&b\n\nc"}},
		{Var: "v", Type: gateway.FieldList, Label: `L"`, Desc: "d", Required: true, Values: []string{"x"}, Options: []gateway.FieldOption{{Label: "X", Value: "x"}, {Value: "y"}}},
		{Var: "m", Type: gateway.FieldTextMulti, Values: []string{"one\r\n\r\nthree"}},
	})))
	want := []string{
		`{jabber:x:data}x type=form`,
		`  {jabber:x:data}title`,
		`    "T<"`,
		`  {jabber:x:data}instructions`,
		`    "Line 1."`,
		`  {jabber:x:data}instructions`,
		`    "Line 2 & more."`,
		`  {jabber:x:data}field type=fixed`,
		`    {jabber:x:data}value`,
		`      "a&b"`,
		`    {jabber:x:data}value`,
		`    {jabber:x:data}value`,
		`      "c"`,
		`  {jabber:x:data}field label=L" type=list-single var=v`,
		`    {jabber:x:data}desc`,
		`      "d"`,
		`    {jabber:x:data}required`,
		`    {jabber:x:data}value`,
		`      "x"`,
		`    {jabber:x:data}option label=X`,
		`      {jabber:x:data}value`,
		`        "x"`,
		`    {jabber:x:data}option`,
		`      {jabber:x:data}value`,
		`        "y"`,
		`  {jabber:x:data}field type=text-multi var=m`,
		`    {jabber:x:data}value`,
		`      "one"`,
		`    {jabber:x:data}value`,
		`    {jabber:x:data}value`,
		`      "three"`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("form\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A result form shows values only: no descriptions, no required marks.
	got = outline(t, render(t, dataForm(form.TypeResult, "", "", []gateway.Field{{Var: "n", Type: gateway.FieldText, Label: "N", Desc: "d", Required: true, Values: []string{"2"}}})))
	want = []string{`{jabber:x:data}x type=result`, `  {jabber:x:data}field label=N type=text-single var=n`, `    {jabber:x:data}value`, `      "2"`}
	if !slices.Equal(got, want) {
		t.Fatalf("result form\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// outline is doc parsed back, one line for each element in document order
// (indented by depth: namespace, name and attributes sorted, without
// xmlns) and one for each text, quoted.
func outline(t testing.TB, doc string) []string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	var out []string
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		pad := strings.Repeat("  ", depth)
		switch tok := tok.(type) {
		case xml.StartElement:
			line := pad + "{" + tok.Name.Space + "}" + tok.Name.Local
			var attrs []string
			for _, a := range tok.Attr {
				switch {
				case a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns":
				case a.Name.Space == "http://www.w3.org/XML/1998/namespace":
					attrs = append(attrs, "xml:"+a.Name.Local+"="+a.Value)
				default:
					attrs = append(attrs, a.Name.Local+"="+a.Value)
				}
			}
			slices.Sort(attrs)
			if len(attrs) > 0 {
				line += " " + strings.Join(attrs, " ")
			}
			out = append(out, line)
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			out = append(out, pad+fmt.Sprintf("%q", string(tok)))
		}
	}
}

func TestCommandSubmit(t *testing.T) {
	fields := `<field var="contact"><value>bob@ext.test</value></field>` +
		`<field var="tags"><value>vip</value><value>late</value></field>` +
		`<field var="remark"><value>line 1</value><value>a &lt;b&gt; &amp; "c"</value></field>` +
		`<field var="title"/>` +
		`<field var="notify" type="boolean"><value>true</value></field>` +
		`<field type="fixed"><value>Your contacts: 3</value></field>`
	want := map[string][]string{
		"contact": {"bob@ext.test"},
		"tags":    {"vip", "late"},
		"remark":  {"line 1", `a <b> & "c"`},
		"title":   nil,
		"notify":  {"true"},
	}
	for _, action := range []string{"complete", "execute", "next", ""} {
		t.Run("action="+action, func(t *testing.T) {
			c := newTestComponent(t, identity.Inside)
			cmdr := newCommander()
			cmdr.result = gateway.CommandResult{NoteType: gateway.NoteWarn, Note: "Tagged <bob> & done",
				Fields: []gateway.Field{{Type: gateway.FieldFixed, Values: []string{"bob: vip, late"}}, {Var: "count", Type: gateway.FieldText, Label: "Count", Values: []string{"2"}}}}
			sid, _ := start(t, c, cmdr, hanaPhone, "tag-contact")
			payload := submitXML("tag-contact", sid, action, fields)
			if action == "" {
				payload = strings.Replace(payload, ` action=""`, "", 1)
			}
			r := exchange(t, c, cmdr, iqXML("set", hanaPhone, testDomain, "s1", payload))
			if r.Type != "result" || r.Command == nil || r.Command.Status != "completed" || r.Command.SessionID != sid || r.Command.Node != "tag-contact" {
				t.Fatalf("submit: %s", r.raw)
			}
			if len(r.Command.Notes) != 1 || r.Command.Notes[0].Type != "warn" || r.Command.Notes[0].Text != "Tagged <bob> & done" {
				t.Errorf("note: %s", r.raw)
			}
			if len(r.Command.Forms) != 1 || r.Command.Forms[0].Type != "result" || len(r.Command.Forms[0].Fields) != 2 {
				t.Fatalf("result form: %s", r.raw)
			}
			if f := r.Command.Forms[0].Fields[1]; !reflect.DeepEqual(f.Values, []string{"2"}) || len(f.Required) != 0 {
				t.Errorf("result field: %s", r.raw)
			}
			if r.Command.Actions != nil {
				t.Errorf("a completed command offers actions: %s", r.raw)
			}
			runs := cmdr.callsOf("RunCommand")
			if len(runs) != 1 {
				t.Fatalf("RunCommand called %d times", len(runs))
			}
			run := runs[0]
			if run.network != "corp" || run.from != "hana@corp.test" || run.node != "tag-contact" {
				t.Errorf("RunCommand(%s, %s, %s)", run.network, run.from, run.node)
			}
			if !reflect.DeepEqual(run.values, want) {
				t.Errorf("values %#v\nwant %#v", run.values, want)
			}
			if c.cmds.len() != 0 {
				t.Errorf("session kept after completion")
			}
			// A session is submitted once.
			r = exchange(t, c, cmdr, iqXML("set", hanaPhone, testDomain, "s2", submitXML("tag-contact", sid, "complete", fields)))
			wantError(t, r, "bad-request", "bad-sessionid")
			if len(cmdr.callsOf("RunCommand")) != 1 {
				t.Errorf("a session ran twice")
			}
		})
	}
}

func TestCommandSubmitWithoutForm(t *testing.T) {
	c := newTestComponent(t, identity.Inside)
	cmdr := newCommander()
	cmdr.result = gateway.CommandResult{}
	sid, _ := start(t, c, cmdr, hanaPhone, "report")
	r := exchange(t, c, cmdr, iqXML("set", hanaPhone, testDomain, "s1",
		`<command xmlns="http://jabber.org/protocol/commands" node="report" sessionid="`+sid+`" action="complete"/>`))
	if r.Type != "result" || r.Command.Status != "completed" || len(r.Command.Notes) != 0 || len(r.Command.Forms) != 0 {
		t.Fatalf("submit without a form: %s", r.raw)
	}
	if runs := cmdr.callsOf("RunCommand"); len(runs) != 1 || runs[0].values == nil || len(runs[0].values) != 0 {
		t.Fatalf("RunCommand calls %+v", runs)
	}
}

func TestCommandCancel(t *testing.T) {
	c := newTestComponent(t, identity.Inside)
	cmdr := newCommander()
	sid, _ := start(t, c, cmdr, hanaPhone, "tag-contact")
	r := exchange(t, c, cmdr, iqXML("set", hanaPhone, testDomain, "c1",
		`<command xmlns="http://jabber.org/protocol/commands" node="tag-contact" sessionid="`+sid+`" action="cancel"/>`))
	if r.Type != "result" || r.Command == nil || r.Command.Status != "canceled" || r.Command.SessionID != sid {
		t.Fatalf("cancel: %s", r.raw)
	}
	wantError(t, exchange(t, c, cmdr, iqXML("set", hanaPhone, testDomain, "c2", submitXML("tag-contact", sid, "complete", ""))), "bad-request", "bad-sessionid")

	// XEP-0004: a form of type cancel is a cancellation too.
	sid, _ = start(t, c, cmdr, hanaPhone, "tag-contact")
	r = exchange(t, c, cmdr, iqXML("set", hanaPhone, testDomain, "c3", strings.Replace(submitXML("tag-contact", sid, "complete", ""), `type="submit"`, `type="cancel"`, 1)))
	if r.Type != "result" || r.Command.Status != "canceled" {
		t.Fatalf("cancel by form: %s", r.raw)
	}
	if n := len(cmdr.callsOf("RunCommand")); n != 0 {
		t.Fatalf("a canceled command ran %d times", n)
	}
	if c.cmds.len() != 0 {
		t.Fatal("session kept after cancel")
	}
}

func TestCommandBadSession(t *testing.T) {
	c := newTestComponent(t, identity.Inside)
	cmdr := newCommander()
	for name, payload := range map[string]string{
		"unknown":      submitXML("tag-contact", "NOSUCHSESSION", "complete", ""),
		"missing":      `<command xmlns="http://jabber.org/protocol/commands" node="tag-contact" action="complete"/>`,
		"cancel":       `<command xmlns="http://jabber.org/protocol/commands" node="tag-contact" sessionid="x" action="cancel"/>`,
		"empty":        submitXML("tag-contact", "", "complete", ""),
		"cancel-empty": `<command xmlns="http://jabber.org/protocol/commands" node="tag-contact" action="cancel"/>`,
	} {
		t.Run(name, func(t *testing.T) {
			r := exchange(t, c, cmdr, iqXML("set", hanaPhone, testDomain, "b1", payload))
			wantError(t, r, "bad-request", "bad-sessionid")
			if r.Error.Type != "modify" || r.Error.Text == "" {
				t.Errorf("error: %s", r.raw)
			}
		})
	}
	if n := len(cmdr.callsOf("RunCommand")); n != 0 {
		t.Fatalf("RunCommand called %d times", n)
	}
}

// TestCommandSessionBoundToFullJID: a form is its window's; another
// resource of the same account, another account, or another node cannot
// submit or cancel it, and their attempts leave it to its owner.
func TestCommandSessionBoundToFullJID(t *testing.T) {
	c := newTestComponent(t, identity.Inside)
	cmdr := newCommander()
	sid, _ := start(t, c, cmdr, hanaPhone, "tag-contact")
	for _, try := range []struct{ from, node, action string }{
		{hanaLaptop, "tag-contact", "complete"},
		{"hana@corp.test", "tag-contact", "complete"},
		{bossDesk, "tag-contact", "complete"},
		{hanaLaptop, "tag-contact", "cancel"},
		{hanaPhone, "report", "complete"},
	} {
		r := exchange(t, c, cmdr, iqXML("set", try.from, testDomain, "x1", submitXML(try.node, sid, try.action, "")))
		wantError(t, r, "bad-request", "bad-sessionid")
	}
	if n := len(cmdr.callsOf("RunCommand")); n != 0 {
		t.Fatalf("RunCommand called %d times for others", n)
	}
	r := exchange(t, c, cmdr, iqXML("set", hanaPhone, testDomain, "x2", submitXML("tag-contact", sid, "complete", "")))
	if r.Type != "result" || r.Command.Status != "completed" {
		t.Fatalf("owner's submission after others' attempts: %s", r.raw)
	}
}

func TestCommandSessionExpiry(t *testing.T) {
	c := newTestComponent(t, identity.Inside)
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	c.cmds.now = func() time.Time { return now }
	cmdr := newCommander()
	old, _ := start(t, c, cmdr, hanaPhone, "tag-contact")
	now = now.Add(commandSessionTTL - time.Second)
	fresh, _ := start(t, c, cmdr, hanaPhone, "tag-contact")
	now = now.Add(time.Second)
	wantError(t, exchange(t, c, cmdr, iqXML("set", hanaPhone, testDomain, "e1", submitXML("tag-contact", old, "complete", ""))), "bad-request", "bad-sessionid")
	if r := exchange(t, c, cmdr, iqXML("set", hanaPhone, testDomain, "e2", submitXML("tag-contact", fresh, "complete", ""))); r.Type != "result" {
		t.Fatalf("a session within its time: %s", r.raw)
	}

	// Abandoned sessions go when the next one starts.
	for range 5 {
		start(t, c, cmdr, hanaPhone, "report")
	}
	now = now.Add(commandSessionTTL)
	start(t, c, cmdr, hanaPhone, "report")
	if n := c.cmds.len(); n != 1 {
		t.Fatalf("%d sessions kept, want the 1 still open", n)
	}
}

func TestCommandSessionCap(t *testing.T) {
	var s commandSessions
	now := time.Now()
	s.now = func() time.Time { return now }
	var ids []string
	for range maxCommandSessions + 10 {
		now = now.Add(time.Millisecond)
		ids = append(ids, s.start("n", hanaPhone))
	}
	if s.len() != maxCommandSessions {
		t.Fatalf("%d sessions, want the cap %d", s.len(), maxCommandSessions)
	}
	for _, id := range ids[:10] {
		if s.take(id, hanaPhone, "n") {
			t.Fatal("one of the oldest sessions survived the cap")
		}
	}
	for _, id := range ids[10:] {
		if !s.take(id, hanaPhone, "n") {
			t.Fatal("a newer session was dropped")
		}
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] || len(id) < 20 {
			t.Fatalf("session ID %q repeated or short", id)
		}
		seen[id] = true
	}
}

func TestCommandErrorMapping(t *testing.T) {
	tests := []struct {
		name            string
		from, node      string
		formErr, runErr error
		submit          bool
		cond, errType   string
		textContains    string
	}{
		{name: "not found", from: hanaPhone, node: "no-such", cond: "item-not-found", errType: "cancel", textContains: "no such command"},
		{name: "forbidden", from: hanaPhone, node: "broadcast", cond: "forbidden", errType: "auth", textContains: "ask an admin"},
		{name: "form fails", from: hanaPhone, node: "report", formErr: errors.New("database is locked"), cond: "internal-server-error", errType: "wait", textContains: "database is locked"},
		{name: "run fails", from: hanaPhone, node: "report", submit: true, runErr: errors.New("disk full"), cond: "internal-server-error", errType: "wait", textContains: "disk full"},
		{name: "run forbidden", from: hanaPhone, node: "report", submit: true, runErr: fmt.Errorf("wrapped: %w", gateway.ErrCommandForbidden), cond: "forbidden", errType: "auth"},
		{name: "run gone", from: hanaPhone, node: "report", submit: true, runErr: fmt.Errorf("%w: report", gateway.ErrCommandNotFound), cond: "item-not-found", errType: "cancel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestComponent(t, identity.Inside)
			cmdr := newCommander()
			cmdr.formErr, cmdr.runErr = tt.formErr, tt.runErr
			var r *replyIQ
			if tt.submit {
				sid, _ := start(t, c, cmdr, tt.from, tt.node)
				r = exchange(t, c, cmdr, iqXML("set", tt.from, testDomain, "m1", submitXML(tt.node, sid, "complete", "")))
			} else {
				r = exchange(t, c, cmdr, iqXML("set", tt.from, testDomain, "m1", executeXML(tt.node)))
				if c.cmds.len() != 0 {
					t.Error("a session was opened for a command that did not start")
				}
			}
			wantError(t, r, tt.cond, "")
			if r.Error.Type != tt.errType || !strings.Contains(r.Error.Text, tt.textContains) {
				t.Errorf("error: %s", r.raw)
			}
			if r.ID != "m1" || r.To != tt.from || r.From != testDomain {
				t.Errorf("addressing: %s", r.raw)
			}
		})
	}
}

func TestCommandMalformedRequests(t *testing.T) {
	big := strings.Repeat("x", maxValueBytes+1)
	var many, manyValues strings.Builder
	for i := range maxFormFields + 1 {
		fmt.Fprintf(&many, `<field var="f%d"><value>v</value></field>`, i)
	}
	manyValues.WriteString(`<field var="f">`)
	for range maxFieldValues + 1 {
		manyValues.WriteString(`<value>v</value>`)
	}
	manyValues.WriteString(`</field>`)

	tests := []struct {
		name, payload  string
		cond, specific string
		needsSession   bool
	}{
		{name: "too many fields", payload: submitXML("tag-contact", "SID", "complete", many.String()), cond: "bad-request", specific: "bad-payload", needsSession: true},
		{name: "too many values", payload: submitXML("tag-contact", "SID", "complete", manyValues.String()), cond: "bad-request", specific: "bad-payload", needsSession: true},
		{name: "value too long", payload: submitXML("tag-contact", "SID", "complete", `<field var="f"><value>`+big+`</value></field>`), cond: "bad-request", specific: "bad-payload", needsSession: true},
		{name: "var too long", payload: submitXML("tag-contact", "SID", "complete", `<field var="`+strings.Repeat("v", maxVarBytes+1)+`"/>`), cond: "bad-request", specific: "bad-payload", needsSession: true},
		{name: "duplicate var", payload: submitXML("tag-contact", "SID", "complete", `<field var="f"><value>1</value></field><field var="f"><value>2</value></field>`), cond: "bad-request", specific: "bad-payload", needsSession: true},
		{name: "form not submitted", payload: strings.Replace(submitXML("tag-contact", "SID", "complete", ""), `type="submit"`, `type="form"`, 1), cond: "bad-request", specific: "bad-payload", needsSession: true},
		{name: "two forms", payload: strings.Replace(submitXML("tag-contact", "SID", "complete", ""), `</command>`, `<x xmlns="jabber:x:data" type="submit"/></command>`, 1), cond: "bad-request", specific: "bad-payload", needsSession: true},
		{name: "prev", payload: submitXML("tag-contact", "SID", "prev", ""), cond: "bad-request", specific: "bad-action", needsSession: true},
		{name: "unknown action", payload: `<command xmlns="http://jabber.org/protocol/commands" node="tag-contact" action="explode"/>`, cond: "bad-request", specific: "bad-action"},
		{name: "no node", payload: `<command xmlns="http://jabber.org/protocol/commands" action="execute"/>`, cond: "bad-request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestComponent(t, identity.Inside)
			cmdr := newCommander()
			payload := tt.payload
			if tt.needsSession {
				sid, _ := start(t, c, cmdr, hanaPhone, "tag-contact")
				payload = strings.Replace(payload, `sessionid="SID"`, `sessionid="`+sid+`"`, 1)
			}
			r := exchange(t, c, cmdr, iqXML("set", hanaPhone, testDomain, "bad1", payload))
			wantError(t, r, tt.cond, tt.specific)
			if r.ID != "bad1" {
				t.Errorf("reply id %q", r.ID)
			}
			if n := len(cmdr.callsOf("RunCommand")); n != 0 {
				t.Errorf("RunCommand called %d times", n)
			}
		})
	}
}

func TestCommandFromInvalidSender(t *testing.T) {
	c := newTestComponent(t, identity.Inside)
	cmdr := newCommander()
	r := exchange(t, c, cmdr, iqXML("set", "a@@b", testDomain, "v1", executeXML("report")))
	wantError(t, r, "bad-request", "")
	if len(cmdr.callsOf("")) != 0 {
		t.Fatal("the Commander was asked about an invalid sender")
	}
}

// TestCommandsNotOutside: an outside component says nothing about commands,
// even when the gateway has them; and neither does an inside one whose
// gateway has none, nor a proxy address.
func TestCommandsNotOutside(t *testing.T) {
	type target struct {
		name string
		side identity.Side
		core gateway.Core
		to   string
	}
	cmdr := newCommander()
	for _, tg := range []target{
		{"outside", identity.Outside, cmdr, testDomain},
		{"inside without commander", identity.Inside, fakeCore{}, testDomain},
		{"proxy address", identity.Inside, cmdr, proxyAddr},
	} {
		t.Run(tg.name, func(t *testing.T) {
			c := newTestComponent(t, tg.side)
			r := exchange(t, c, tg.core, iqXML("get", hanaPhone, tg.to, "o1", `<query xmlns="http://jabber.org/protocol/disco#info"/>`))
			if r.Type != "result" || hasFeature(r, commands.NS) || strings.Contains(r.raw, commands.NS) {
				t.Errorf("disco#info: %s", r.raw)
			}
			r = exchange(t, c, tg.core, iqXML("get", hanaPhone, tg.to, "o2", `<query xmlns="http://jabber.org/protocol/disco#info" node="tag-contact"/>`))
			if r.Info != nil && len(r.Info.Identities) > 0 && r.Info.Identities[0].Category == "automation" {
				t.Errorf("node info: %s", r.raw)
			}
			r = exchange(t, c, tg.core, iqXML("get", hanaPhone, tg.to, "o3", `<query xmlns="http://jabber.org/protocol/disco#items" node="http://jabber.org/protocol/commands"/>`))
			wantError(t, r, "service-unavailable", "")
			r = exchange(t, c, tg.core, iqXML("set", hanaPhone, tg.to, "o4", executeXML("tag-contact")))
			wantError(t, r, "service-unavailable", "")
			r = exchange(t, c, tg.core, iqXML("set", hanaPhone, tg.to, "o5", submitXML("tag-contact", "abc", "complete", "")))
			wantError(t, r, "service-unavailable", "")
			if c.cmds.len() != 0 {
				t.Error("a session was opened")
			}
		})
	}
	if calls := cmdr.callsOf(""); len(calls) != 0 {
		t.Fatalf("the Commander was consulted: %+v", calls)
	}
}

// FuzzCommand: whatever a client puts in a command, the component answers
// the IQ exactly once, with a result or an error, and does not panic.
func FuzzCommand(f *testing.F) {
	for _, seed := range []string{
		executeXML("tag-contact"),
		submitXML("tag-contact", "SID", "complete", `<field var="a"><value>1</value></field>`),
		submitXML("tag-contact", "SID", "cancel", ""),
		submitXML("report", "SID", "next", `<field><value/></field><field var=""/>`),
		`<command xmlns="http://jabber.org/protocol/commands" node="tag-contact" sessionid="SID"><x xmlns="jabber:x:data"/><x/></command>`,
		`<command xmlns="http://jabber.org/protocol/commands"><x xmlns="jabber:x:data" type="submit"><field var="a"><value><b/>x</value></field></x></command>`,
		`<query xmlns="http://jabber.org/protocol/disco#items" node="http://jabber.org/protocol/commands"/>`,
		`<query xmlns="http://jabber.org/protocol/disco#info" node="tag-contact"/>`,
	} {
		f.Add("set", seed)
	}
	f.Fuzz(func(t *testing.T, typ, payload string) {
		if typ != "get" && typ != "set" {
			return
		}
		c := newTestComponent(t, identity.Inside)
		cmdr := newCommander()
		sid, _ := start(t, c, cmdr, hanaPhone, "tag-contact")
		raw := iqXML(typ, hanaPhone, testDomain, "fz", strings.ReplaceAll(payload, "SID", sid))
		d := xml.NewDecoder(strings.NewReader(raw))
		tok, err := d.Token()
		if err != nil {
			return
		}
		st, ok := tok.(xml.StartElement)
		if !ok || st.Name.Local != "iq" {
			return
		}
		// The server only passes on well-formed stanzas.
		if err := d.Skip(); err != nil {
			return
		}
		if _, err := d.Token(); err != io.EOF {
			return
		}
		r := exchange(t, c, cmdr, raw)
		if r.ID != "fz" || r.Type != "result" && r.Type != "error" {
			t.Fatalf("reply %s", r.raw)
		}
	})
}

// commandReply is a command's answer read back with mellium's own types.
type commandReply struct {
	Type    string `xml:"type,attr"`
	Command *struct {
		Node    string            `xml:"node,attr"`
		SID     string            `xml:"sessionid,attr"`
		Status  string            `xml:"status,attr"`
		Actions *commands.Actions `xml:"http://jabber.org/protocol/commands actions"`
		Notes   []commands.Note   `xml:"http://jabber.org/protocol/commands note"`
		Forms   []form.Data       `xml:"jabber:x:data x"`
		Others  []struct {
			XMLName xml.Name
		} `xml:",any"`
	} `xml:"http://jabber.org/protocol/commands command"`
}

func readCommandReply(t *testing.T, raw string) *commandReply {
	t.Helper()
	var r commandReply
	if err := xml.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	if r.Type != "result" || r.Command == nil || len(r.Command.Others) != 0 {
		t.Fatalf("not a command result: %s", raw)
	}
	return &r
}

// TestCommandFormReadsBackWithMellium: a form with every field type, as a
// form to fill in and as a result, reads back with form.Data field by
// field: types, vars, labels, descriptions and required marks (forms to
// fill in only), values (a line each for fixed and text-multi) and options.
func TestCommandFormReadsBackWithMellium(t *testing.T) {
	c := newTestComponent(t, identity.Inside)
	cmdr := newCommander()
	cmdr.result = gateway.CommandResult{NoteType: gateway.NoteInfo, Note: "done", Fields: everyField.Fields}
	sid, r := start(t, c, cmdr, hanaPhone, "tag-contact")
	asForm := readCommandReply(t, r.raw)
	submitted := exchange(t, c, cmdr, iqXML("set", hanaPhone, testDomain, "s1", submitXML("tag-contact", sid, "complete", "")))
	asResult := readCommandReply(t, submitted.raw)
	for _, tt := range []struct {
		name  string
		reply *commandReply
		input bool
	}{{"form", asForm, true}, {"result", asResult, false}} {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.reply.Command.Forms) != 1 {
				t.Fatalf("%d forms", len(tt.reply.Command.Forms))
			}
			f := &tt.reply.Command.Forms[0]
			if tt.input && (f.Title() != everyField.Title || f.Instructions() != "Pick a contact.\nThen <tags>.") {
				t.Errorf("title %q, instructions %q", f.Title(), f.Instructions())
			}
			var got []form.FieldData
			f.ForFields(func(fd form.FieldData) { got = append(got, fd) })
			if len(got) != len(everyField.Fields) {
				t.Fatalf("%d fields, want %d", len(got), len(everyField.Fields))
			}
			for i, want := range everyField.Fields {
				wantData := form.FieldData{Type: form.FieldType(want.Type), Var: want.Var, Label: want.Label, Raw: want.Values}
				switch want.Type {
				case gateway.FieldFixed:
					wantData.Var, wantData.Raw = "", []string{"Your contacts: 3", "last: bob"}
				case gateway.FieldTextMulti:
					wantData.Raw = []string{"line 1", "line </value><evil/> 2"}
				}
				if tt.input {
					wantData.Desc, wantData.Required = want.Desc, want.Required
				}
				if !reflect.DeepEqual(got[i], wantData) {
					t.Errorf("field %d: %+v\nwant %+v", i, got[i], wantData)
				}
				if want.Var == "" {
					continue
				}
				opts, _ := f.GetOptions(want.Var)
				var wantOpts []form.FieldOpt
				for _, o := range want.Options {
					wantOpts = append(wantOpts, form.FieldOpt{Label: o.Label, Value: o.Value})
				}
				if !reflect.DeepEqual(opts, wantOpts) {
					t.Errorf("field %s: options %+v, want %+v", want.Var, opts, wantOpts)
				}
			}
			if on, ok := f.GetBool("notify"); !on || !ok {
				t.Errorf("the boolean reads as %v, %v", on, ok)
			}
		})
	}
}

// TestCommandResponsesReadBack: a form comes with one action, complete, as
// the default; a completed command carries its note, of its type (info
// for a type the gateway does not know), and a result form only when
// there are fields; a canceled one carries nothing.
func TestCommandResponsesReadBack(t *testing.T) {
	c := newTestComponent(t, identity.Inside)
	cmdr := newCommander()
	_, r := start(t, c, cmdr, hanaPhone, "report")
	executing := readCommandReply(t, r.raw).Command
	if executing.Status != "executing" || executing.Node != "report" || executing.Actions == nil || *executing.Actions != commands.Complete|commands.Complete<<3 || len(executing.Notes) != 0 {
		t.Errorf("executing: %s", r.raw)
	}
	if len(executing.Forms) != 1 || executing.Forms[0].Title() != "Report" || executing.Forms[0].Len() != 0 {
		t.Errorf("a command without fields still has its form and title: %s", r.raw)
	}
	for _, tt := range []struct {
		typ    gateway.NoteType
		want   commands.NoteType
		fields []gateway.Field
	}{
		{gateway.NoteInfo, commands.NoteInfo, nil},
		{gateway.NoteWarn, commands.NoteWarn, []gateway.Field{{Type: gateway.FieldFixed, Values: []string{"a line"}}}},
		{gateway.NoteError, commands.NoteError, nil},
		{"", commands.NoteInfo, nil},
		{"shout", commands.NoteInfo, nil},
	} {
		cmdr.result = gateway.CommandResult{NoteType: tt.typ, Note: "Tagged <bob> & done", Fields: tt.fields}
		sid, _ := start(t, c, cmdr, hanaPhone, "report")
		r := exchange(t, c, cmdr, iqXML("set", hanaPhone, testDomain, "n1", submitXML("report", sid, "complete", "")))
		done := readCommandReply(t, r.raw).Command
		if done.Status != "completed" || done.SID != sid || done.Actions != nil || len(done.Notes) != 1 || len(done.Forms) != len(tt.fields) {
			t.Errorf("note %q: %s", tt.typ, r.raw)
			continue
		}
		if n := done.Notes[0]; n.Type != tt.want || n.Value != "Tagged <bob> & done" {
			t.Errorf("note %q read back as %v %q", tt.typ, n.Type, n.Value)
		}
	}
	cmdr.result = gateway.CommandResult{}
	sid, _ := start(t, c, cmdr, hanaPhone, "report")
	r = exchange(t, c, cmdr, iqXML("set", hanaPhone, testDomain, "n2", submitXML("report", sid, "complete", "")))
	if done := readCommandReply(t, r.raw).Command; done.Status != "completed" || len(done.Notes) != 0 || len(done.Forms) != 0 {
		t.Errorf("a result with nothing to say: %s", r.raw)
	}
	sid, _ = start(t, c, cmdr, hanaPhone, "report")
	r = exchange(t, c, cmdr, iqXML("set", hanaPhone, testDomain, "n3", submitXML("report", sid, "cancel", "")))
	if got, want := outline(t, r.raw), []string{
		`{}iq from=gw.corp.test id=n3 to=hana@corp.test/phone type=result`,
		`  {http://jabber.org/protocol/commands}command node=report sessionid=` + sid + ` status=canceled`,
	}; !slices.Equal(got, want) {
		t.Errorf("canceled\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCommandListReadsBack: the command list and its node info read back
// with mellium's disco types.
func TestCommandListReadsBack(t *testing.T) {
	c := newTestComponent(t, identity.Inside)
	r := exchange(t, c, newCommander(), iqXML("get", bossDesk, testDomain, "l1", `<query xmlns="http://jabber.org/protocol/disco#items" node="http://jabber.org/protocol/commands"/>`))
	var list struct {
		Query struct {
			Node  string       `xml:"node,attr"`
			Items []items.Item `xml:"http://jabber.org/protocol/disco#items item"`
		} `xml:"http://jabber.org/protocol/disco#items query"`
	}
	if err := xml.Unmarshal([]byte(r.raw), &list); err != nil {
		t.Fatalf("%v: %s", err, r.raw)
	}
	var got []string
	for _, it := range list.Query.Items {
		got = append(got, it.JID.String()+" "+it.Node+" "+it.Name)
	}
	want := []string{testDomain + " tag-contact Tag a contact <&>", testDomain + " broadcast Broadcast", testDomain + " report Report"}
	if list.Query.Node != commands.NS || !slices.Equal(got, want) {
		t.Errorf("list %q at node %q, want %q", got, list.Query.Node, want)
	}
	for node, want := range map[string]info.Identity{
		commands.NS: {Category: "automation", Type: "command-list", Name: "Commands"},
		"broadcast": {Category: "automation", Type: "command-node", Name: "Broadcast"},
	} {
		r := exchange(t, c, newCommander(), iqXML("get", bossDesk, testDomain, "i1", `<query xmlns="http://jabber.org/protocol/disco#info" node="`+node+`"/>`))
		var answer struct {
			Info disco.Info `xml:"http://jabber.org/protocol/disco#info query"`
		}
		if err := xml.Unmarshal([]byte(r.raw), &answer); err != nil {
			t.Fatalf("%v: %s", err, r.raw)
		}
		if answer.Info.Node != node || len(answer.Info.Identity) != 1 || answer.Info.Identity[0].Category != want.Category ||
			answer.Info.Identity[0].Type != want.Type || answer.Info.Identity[0].Name != want.Name {
			t.Errorf("node %s: %s", node, r.raw)
		}
	}
}
