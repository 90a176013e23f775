package outreach

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/gateway/gatewaytest"
	"github.com/kakehashi/kakehashi/identity"
)

var allNodes = []string{cmdMyContacts, cmdTagContact, cmdBroadcast, cmdBroadcastConfirm}

// TestCommandsAreForActiveEmployeesOnly pins who may run commands: an
// active employee on the inside network, however their client spells
// the address (a resource, another case), gets the four nodes; anyone
// else (a stranger on corp, a departed employee, anyone on the outside
// network or on a network that is not configured) is offered none and
// is refused every form and run with gateway.ErrCommandForbidden, so an
// adapter can answer "forbidden" without knowing why.
func TestCommandsAreForActiveEmployeesOnly(t *testing.T) {
	g := startTestWorld(t, t.TempDir())
	defer g.Stop()
	ctx := context.Background()
	withContacts(t, g, 1)
	addColleague(t, g, "ken", "ACME Sales · Ken", "")
	if _, err := g.state.Depart(ctx, "t", "left", "ken", "hana"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, network, from string
		allowed             bool
	}{
		{"hana", "corp", "hana@corp.test", true},
		{"hana with a resource", "corp", "hana@corp.test/laptop", true},
		{"hana in another case", "corp", "HANA@Corp.Test/Laptop", true},
		{"a stranger on corp", "corp", "mallory@corp.test", false},
		{"a departed employee", "corp", "ken@corp.test", false},
		{"hana's address on the outside network", "public-xmpp", "hana@corp.test", false},
		{"a contact", "public-xmpp", "c0@ext.test", false},
		{"a network not configured", "elsewhere", "hana@corp.test", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var nodes []string
			for _, c := range g.Service.Commands(tc.network, tc.from) {
				nodes = append(nodes, c.Node)
			}
			if !tc.allowed {
				if len(nodes) != 0 {
					t.Fatalf("offered %v", nodes)
				}
				for _, node := range allNodes {
					if _, err := g.Service.CommandForm(ctx, tc.network, tc.from, node); !errors.Is(err, gateway.ErrCommandForbidden) {
						t.Errorf("form %s: %v, want ErrCommandForbidden", node, err)
					}
					if _, err := g.Service.RunCommand(ctx, tc.network, tc.from, node, map[string][]string{"tag": {"vip"}}); !errors.Is(err, gateway.ErrCommandForbidden) {
						t.Errorf("run %s: %v, want ErrCommandForbidden", node, err)
					}
				}
				return
			}
			if !slices.Equal(nodes, allNodes) {
				t.Fatalf("offered %v, want %v", nodes, allNodes)
			}
			for _, node := range allNodes {
				if c, err := g.Service.CommandForm(ctx, tc.network, tc.from, node); err != nil || c.Node != node {
					t.Errorf("form %s: %+v, %v", node, c, err)
				}
			}
			if res, err := g.Service.RunCommand(ctx, tc.network, tc.from, cmdMyContacts, nil); err != nil || res.Note != "1 contact(s)." {
				t.Errorf("my-contacts: %+v, %v", res, err)
			}
		})
	}
	collectSent(t, g.Outside.Sent, 0)
}

// TestUnknownCommandNode: a node the gateway does not offer is "not
// found" (not forbidden) for an employee, from the form and the run.
func TestUnknownCommandNode(t *testing.T) {
	g := startTestWorld(t, t.TempDir())
	defer g.Stop()
	ctx := context.Background()
	if _, err := g.Service.CommandForm(ctx, "corp", "hana@corp.test", "delete-everything"); !errors.Is(err, gateway.ErrCommandNotFound) {
		t.Errorf("form: %v, want ErrCommandNotFound", err)
	}
	if _, err := g.Service.RunCommand(ctx, "corp", "hana@corp.test", "delete-everything", nil); !errors.Is(err, gateway.ErrCommandNotFound) {
		t.Errorf("run: %v, want ErrCommandNotFound", err)
	}
}

// fieldVars are the Vars of a form's fields, "" for fixed text.
func fieldVars(c gateway.Command) []string {
	var out []string
	for _, f := range c.Fields {
		out = append(out, f.Var)
	}
	return out
}

// optionValues are the values of a list field's options.
func optionValues(f gateway.Field) []string {
	var out []string
	for _, o := range f.Options {
		out = append(out, o.Value)
	}
	return out
}

// TestCommandFormsOfferTheEmployeesOwnContacts pins the forms: with no
// contacts, tag-contact says so instead of offering an empty list; with
// contacts it lists hana's (not ken's), by address, each described as
// "address (name) on network, as persona [tags]"; the broadcast form
// leaves out contacts marked gone and states the caps configured.
func TestCommandFormsOfferTheEmployeesOwnContacts(t *testing.T) {
	g := startTestWorld(t, t.TempDir(), func(_ *gateway.Options, o *Options) { o.Caps = &BroadcastCaps{PerDay: 2, PerMonth: 5} })
	defer g.Stop()
	ctx := context.Background()
	form := func(node string) gateway.Command {
		t.Helper()
		c, err := g.Service.CommandForm(ctx, "corp", "hana@corp.test", node)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	empty := form(cmdTagContact)
	if len(empty.Fields) != 1 || empty.Fields[0].Type != gateway.FieldFixed || empty.Fields[0].Values[0] != "You look after no outside contacts yet." {
		t.Fatalf("tag-contact with no contacts: %+v", empty)
	}
	if c := form(cmdMyContacts); !slices.Equal(fieldVars(c), []string{"tag"}) {
		t.Fatalf("my-contacts form %+v", c)
	}

	rels := withContacts(t, g, 2) // c0, c1, tagged vip
	addColleague(t, g, "ken", "ACME Sales · Ken", "")
	contactWrites(t, g, "dora@ext.test", "ken.sales@contact.acme.test", "k1", "hi ken")
	if err := g.Receive(ctx, &gateway.Message{Network: "public-xmpp", From: "carol@ext.test", ReplyTo: "carol@ext.test",
		To: "hana.sales@contact.acme.test", ID: "carol-1", Body: "hi", Nick: "Carol Chan"}); err != nil {
		t.Fatal(err)
	}
	gatewaytest.Recv(t, g.Inside.Sent)
	carol := relFor(t, g, "carol@ext.test", "hana.sales").ID
	byAddr := map[string]string{} // relationship ID by contact address
	for _, id := range rels {
		r, _ := g.state.Snapshot().Relationship(id)
		c, _ := g.state.Snapshot().Contact(r.ContactID)
		byAddr[c.Address.Addr] = id
	}
	if _, err := g.state.SetGone(ctx, "t", byAddr["c1@ext.test"], "removed you"); err != nil {
		t.Fatal(err)
	}

	tag := form(cmdTagContact)
	if want := []string{"relationship", "add", "remove", "remark", "clear_remark"}; !slices.Equal(fieldVars(tag), want) {
		t.Fatalf("tag-contact fields %v, want %v", fieldVars(tag), want)
	}
	list := tag.Fields[0]
	if !list.Required || list.Type != gateway.FieldList || !slices.Equal(optionValues(list), []string{byAddr["c0@ext.test"], byAddr["c1@ext.test"], carol}) {
		t.Fatalf("contacts offered %+v", list.Options)
	}
	for i, want := range []string{
		"c0@ext.test on public-xmpp, as ACME Sales · Hana [vip]",
		"c1@ext.test on public-xmpp, as ACME Sales · Hana [vip]",
		"carol@ext.test (Carol Chan) on public-xmpp, as ACME Sales · Hana",
	} {
		if list.Options[i].Label != want {
			t.Errorf("option %d: %q, want %q", i, list.Options[i].Label, want)
		}
	}

	bc := form(cmdBroadcast)
	if want := []string{"message", "subject", "tag", "contacts"}; !slices.Equal(fieldVars(bc), want) {
		t.Fatalf("broadcast fields %v, want %v", fieldVars(bc), want)
	}
	if !bc.Fields[0].Required || !slices.Equal(optionValues(bc.Fields[3]), []string{byAddr["c0@ext.test"], carol}) {
		t.Fatalf("broadcast form: message required %v, contacts %+v (c1 is gone)", bc.Fields[0].Required, bc.Fields[3].Options)
	}
	if !strings.Contains(bc.Instructions, "at most 2 broadcast(s) a day and 5 in 30 days") {
		t.Fatalf("broadcast instructions %q do not state the caps", bc.Instructions)
	}
}

// TestMyContactsListsOwnContacts pins my-contacts: hana's contacts (not
// a colleague's), sorted by address, with a count; a tag, trimmed and in
// any case, keeps those carrying it; no match says "No contacts.".
func TestMyContactsListsOwnContacts(t *testing.T) {
	g := startTestWorld(t, t.TempDir())
	defer g.Stop()
	ctx := context.Background()
	withContacts(t, g, 2)
	contactWrites(t, g, "carol@ext.test", "hana.sales@contact.acme.test", "carol-1", "hi")
	addColleague(t, g, "ken", "ACME Sales · Ken", "")
	contactWrites(t, g, "dora@ext.test", "ken.sales@contact.acme.test", "k1", "hi ken")
	if _, err := g.state.AddTags(ctx, "t", "setup", relFor(t, g, "dora@ext.test", "ken.sales").ID, []string{"vip"}); err != nil {
		t.Fatal(err)
	}
	c0 := "c0@ext.test on public-xmpp, as ACME Sales · Hana [vip]"
	c1 := "c1@ext.test on public-xmpp, as ACME Sales · Hana [vip]"
	carol := "carol@ext.test on public-xmpp, as ACME Sales · Hana"
	for _, tc := range []struct {
		name  string
		tag   []string
		note  string
		lines []string
	}{
		{"all", nil, "3 contact(s).", []string{c0, c1, carol}},
		{"by tag", []string{"vip"}, "2 contact(s).", []string{c0, c1}},
		{"by tag, other case and spaces", []string{" VIP "}, "2 contact(s).", []string{c0, c1}},
		{"no match", []string{"gold"}, "No contacts.", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := g.Service.RunCommand(ctx, "corp", "hana@corp.test", cmdMyContacts, map[string][]string{"tag": tc.tag})
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, f := range res.Fields {
				if f.Type != gateway.FieldFixed || len(f.Values) != 1 {
					t.Fatalf("field %+v", f)
				}
				lines = append(lines, f.Values[0])
			}
			if res.NoteType != gateway.NoteInfo || res.Note != tc.note || !slices.Equal(lines, tc.lines) {
				t.Fatalf("got %s %q %q, want %q %q", res.NoteType, res.Note, lines, tc.note, tc.lines)
			}
		})
	}
}

// TestTagContactEditsTagsAndRemark runs tag-contact step by step on c0's
// relationship and pins what each step leaves: tags added (split on
// commas, the Japanese comma and line breaks, trimmed, merged with those
// of another case) and removed; a remark set (trimmed, shown on one
// line), kept when the field is empty, cleared by clear_remark (a remark
// given wins over it); an invalid tag changes nothing and says why; a
// relationship that is not hana's is refused. Each change is audited as
// hana's ("employee:hana") with the command's reason.
func TestTagContactEditsTagsAndRemark(t *testing.T) {
	g := startTestWorld(t, t.TempDir())
	defer g.Stop()
	ctx := context.Background()
	rel := withContacts(t, g, 1)[0]
	addColleague(t, g, "ken", "ACME Sales · Ken", "")
	contactWrites(t, g, "dora@ext.test", "ken.sales@contact.acme.test", "k1", "hi ken")
	kens := relFor(t, g, "dora@ext.test", "ken.sales").ID

	const saved = "Saved: c0@ext.test on public-xmpp, as ACME Sales · Hana"
	for _, tc := range []struct {
		name     string
		values   map[string][]string
		noteType gateway.NoteType
		note     string // exact, or part of an error
		tags     []string
		remark   string
	}{
		{"add", map[string][]string{"add": {"gold, 新規、east\nwest"}},
			gateway.NoteInfo, saved + " [east, gold, vip, west, 新規]", []string{"east", "gold", "vip", "west", "新規"}, ""},
		{"add in another case and remove", map[string][]string{"add": {"GOLD"}, "remove": {"VIP", "east"}},
			gateway.NoteInfo, saved + " [gold, west, 新規]", []string{"gold", "west", "新規"}, ""},
		{"set a remark", map[string][]string{"remark": {"  call on Mondays\nprefers mail  "}},
			gateway.NoteInfo, saved + " [gold, west, 新規] — call on Mondays prefers mail", []string{"gold", "west", "新規"}, "call on Mondays\nprefers mail"},
		{"an empty remark keeps it", map[string][]string{"remark": {""}, "clear_remark": {"false"}},
			gateway.NoteInfo, saved + " [gold, west, 新規] — call on Mondays prefers mail", []string{"gold", "west", "新規"}, "call on Mondays\nprefers mail"},
		{"clear the remark", map[string][]string{"clear_remark": {"true"}},
			gateway.NoteInfo, saved + " [gold, west, 新規]", []string{"gold", "west", "新規"}, ""},
		{"a remark given wins over clearing", map[string][]string{"remark": {"new"}, "clear_remark": {"1"}},
			gateway.NoteInfo, saved + " [gold, west, 新規] — new", []string{"gold", "west", "新規"}, "new"},
		{"clear with 1", map[string][]string{"clear_remark": {"1"}},
			gateway.NoteInfo, saved + " [gold, west, 新規]", []string{"gold", "west", "新規"}, ""},
		{"an invalid tag", map[string][]string{"add": {"ok, bad\x01tag"}, "remark": {"not saved"}},
			gateway.NoteError, "contains control characters", []string{"gold", "west", "新規"}, ""},
		{"a colleague's contact", map[string][]string{"relationship": {kens}, "add": {"mine"}},
			gateway.NoteError, "Choose one of your own contacts.", []string{"gold", "west", "新規"}, ""},
		{"an unknown relationship", map[string][]string{"relationship": {"r-nonesuch"}, "add": {"mine"}},
			gateway.NoteError, "Choose one of your own contacts.", []string{"gold", "west", "新規"}, ""},
		{"no relationship", map[string][]string{"relationship": nil, "add": {"mine"}},
			gateway.NoteError, "Choose one of your own contacts.", []string{"gold", "west", "新規"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := tc.values["relationship"]; !ok {
				tc.values["relationship"] = []string{rel}
			}
			res, err := g.Service.RunCommand(ctx, "corp", "hana@corp.test/pc", cmdTagContact, tc.values)
			if err != nil {
				t.Fatal(err)
			}
			if res.NoteType != tc.noteType || tc.noteType == gateway.NoteInfo && res.Note != tc.note || !strings.Contains(res.Note, tc.note) {
				t.Fatalf("note %s %q, want %s %q", res.NoteType, res.Note, tc.noteType, tc.note)
			}
			r, _ := g.state.Snapshot().Relationship(rel)
			if !slices.Equal(r.Tags, tc.tags) || r.Remark != tc.remark {
				t.Fatalf("tags %q remark %q, want %q %q", r.Tags, r.Remark, tc.tags, tc.remark)
			}
		})
	}
	if k, _ := g.state.Snapshot().Relationship(kens); len(k.Tags) != 0 {
		t.Fatalf("ken's contact tagged %q", k.Tags)
	}
	// Tags: "add" and the removal (adding GOLD again changed nothing);
	// remarks: set, clear, set, clear.
	for action, want := range map[string]int{identity.ActionRelationshipTags: 2, identity.ActionRelationshipRemark: 4} {
		var n int
		for _, e := range auditOf(t, g, action) {
			if e.Actor == "employee:hana" {
				n++
				if e.Subject != rel || e.Reason != "set by the owner through an XMPP command" {
					t.Errorf("%s audit %+v", action, e)
				}
			}
		}
		if n != want {
			t.Errorf("%d %s entries by employee:hana, want %d", n, action, want)
		}
	}
}

// TestBroadcastCommandSendsAndReportsCounts runs the broadcast command
// step by step (a cap of one a day): to a tag, each tagged contact not
// gone gets one KindBroadcast copy from hana's persona, and the note
// counts queued, capped and gone; the same again the same day is all
// capped ("Nothing was sent."); chosen contacts get it without a tag; a
// colleague's contact, an empty message or no choice of contacts is
// refused with the reason.
func TestBroadcastCommandSendsAndReportsCounts(t *testing.T) {
	g := startTestWorld(t, t.TempDir(), func(_ *gateway.Options, o *Options) { o.Caps = &BroadcastCaps{PerDay: 1, PerMonth: 4} })
	defer g.Stop()
	ctx := context.Background()
	rels := withContacts(t, g, 3)
	var gone string
	for _, id := range rels {
		r, _ := g.state.Snapshot().Relationship(id)
		if c, _ := g.state.Snapshot().Contact(r.ContactID); c.Address.Addr == "c2@ext.test" {
			gone = id
		}
	}
	if _, err := g.state.SetGone(ctx, "t", gone, "removed you"); err != nil {
		t.Fatal(err)
	}
	contactWrites(t, g, "carol@ext.test", "hana.sales@contact.acme.test", "carol-1", "hi")
	carol := relFor(t, g, "carol@ext.test", "hana.sales").ID
	addColleague(t, g, "ken", "ACME Sales · Ken", "")
	contactWrites(t, g, "dora@ext.test", "ken.sales@contact.acme.test", "k1", "hi ken")
	kens := relFor(t, g, "dora@ext.test", "ken.sales").ID

	for _, tc := range []struct {
		name   string
		values map[string][]string
		note   string   // a regular expression
		to     []string // who gets a copy
	}{
		{"to a tag", map[string][]string{"message": {" Spring sale "}, "subject": {"News"}, "tag": {"vip"}},
			`^Broadcast b-\S+: 2 queued, 0 skipped \(cap\), 1 skipped \(gone\)\. You will get a report when every copy is sent\.$`,
			[]string{"c0@ext.test", "c1@ext.test"}},
		{"the same day again", map[string][]string{"message": {"Spring sale"}, "subject": {"News"}, "tag": {"VIP"}},
			`^Broadcast b-\S+: 0 queued, 2 skipped \(cap\), 1 skipped \(gone\)\. Nothing was sent\.$`, nil},
		{"chosen contacts", map[string][]string{"message": {"Spring sale"}, "subject": {"News"}, "contacts": {carol}},
			`^Broadcast b-\S+: 1 queued, 0 skipped \(cap\), 0 skipped \(gone\)\. You will get a report when every copy is sent\.$`,
			[]string{"carol@ext.test"}},
		{"a colleague's contact", map[string][]string{"message": {"x"}, "contacts": {kens}},
			`^broadcast refused: relationship "r-\S+" is not one of hana's contacts$`, nil},
		{"no message", map[string][]string{"message": {"  "}, "tag": {"vip"}},
			`^broadcast refused: the message is empty$`, nil},
		{"no contacts chosen", map[string][]string{"message": {"x"}},
			`^broadcast refused: choose the contacts: a tag, or a list of contacts$`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := g.Service.RunCommand(ctx, "corp", "hana@corp.test", cmdBroadcast, tc.values)
			if err != nil {
				t.Fatal(err)
			}
			wantType := gateway.NoteInfo
			if strings.HasPrefix(tc.note, "^broadcast refused") {
				wantType = gateway.NoteError
			}
			if res.NoteType != wantType || !regexp.MustCompile(tc.note).MatchString(res.Note) {
				t.Fatalf("note %s %q, want %s %s", res.NoteType, res.Note, wantType, tc.note)
			}
			var to []string
			for _, o := range collectSent(t, g.Outside.Sent, len(tc.to)) {
				if o.Kind != gateway.KindBroadcast || o.From != "hana.sales@contact.acme.test" || o.Nick != "ACME Sales · Hana" ||
					o.Body != "Spring sale" || o.Subject != "News" {
					t.Fatalf("copy %+v", o)
				}
				to = append(to, o.To)
			}
			if slices.Sort(to); !slices.Equal(to, tc.to) {
				t.Fatalf("copies to %v, want %v", to, tc.to)
			}
			if len(tc.to) > 0 { // the owner's report, once every copy is sent
				if r := gatewaytest.Recv(t, g.Inside.Sent); r.To != "hana@corp.test" || !strings.Contains(r.Body, "is out:") {
					t.Fatalf("report %+v", r)
				}
			}
		})
	}
	collectSent(t, g.Inside.Sent, 0)
}

// TestBroadcastResultNote pins the wording of the note the broadcast and
// confirm-broadcast commands answer with, including the count of
// contacts that were no longer hana's or had no reachable address (which
// only a transfer racing the command produces).
func TestBroadcastResultNote(t *testing.T) {
	for _, tc := range []struct {
		b    Broadcast
		want string
	}{
		{Broadcast{ID: "b-1", Queued: 3, SkippedCap: 1, SkippedGone: 2},
			"Broadcast b-1: 3 queued, 1 skipped (cap), 2 skipped (gone). You will get a report when every copy is sent."},
		{Broadcast{ID: "b-2", Queued: 1, SkippedUnreachable: 2},
			"Broadcast b-2: 1 queued, 0 skipped (cap), 0 skipped (gone), 2 skipped (no longer yours or unreachable). You will get a report when every copy is sent."},
		{Broadcast{ID: "b-3", SkippedUnreachable: 1},
			"Broadcast b-3: 0 queued, 0 skipped (cap), 0 skipped (gone), 1 skipped (no longer yours or unreachable). Nothing was sent."},
	} {
		if got := broadcastResult(&tc.b); got.NoteType != gateway.NoteInfo || got.Note != tc.want {
			t.Errorf("%+v: %s %q, want %q", tc.b, got.NoteType, got.Note, tc.want)
		}
	}
}

// TestConfirmBroadcastCommand pins confirm-broadcast: with nothing
// prepared the form says so; a prepared team broadcast is listed (its
// tag, the start and the whole text) and preselected, with send and
// decline; a run without a broadcast or a decision is asked again; a
// colleague cannot decide hana's copy; "send" queues hana's copies once,
// and then the form is empty again; "decline" sends nothing and is
// audited.
func TestConfirmBroadcastCommand(t *testing.T) {
	g := startTestWorld(t, t.TempDir())
	defer g.Stop()
	ctx := context.Background()
	withContacts(t, g, 2)
	addColleague(t, g, "ken", "ACME Sales · Ken", "")
	form := func() gateway.Command {
		t.Helper()
		c, err := g.Service.CommandForm(ctx, "corp", "hana@corp.test", cmdBroadcastConfirm)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	run := func(who string, values map[string][]string) gateway.CommandResult {
		t.Helper()
		res, err := g.Service.RunCommand(ctx, "corp", who, cmdBroadcastConfirm, values)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	nothingWaiting := func() {
		t.Helper()
		if c := form(); len(c.Fields) != 1 || c.Fields[0].Type != gateway.FieldFixed || c.Fields[0].Values[0] != "No broadcasts are waiting for you." {
			t.Fatalf("form with nothing waiting: %+v", c)
		}
	}
	nothingWaiting()

	p, err := g.PrepareBroadcast(ctx, BroadcastRequest{Actor: "admin:root", Reason: "spring", Team: []string{"hana"}, Tag: "vip", Body: "Spring sale\nall week"})
	if err != nil {
		t.Fatal(err)
	}
	gatewaytest.Recv(t, g.Inside.Sent) // hana's notice that it waits for her
	id := p.Members[0].ID
	c := form()
	label := `to contacts tagged "vip": «Spring sale»`
	if want := []string{"", "broadcast", "decision"}; !slices.Equal(fieldVars(c), want) || c.Instructions == "" {
		t.Fatalf("form fields %v (want %v), instructions %q", fieldVars(c), want, c.Instructions)
	}
	if c.Fields[0].Values[0] != label+"\nSpring sale\nall week" {
		t.Fatalf("listed as %q", c.Fields[0].Values[0])
	}
	if b := c.Fields[1]; !b.Required || len(b.Options) != 1 || b.Options[0] != (gateway.FieldOption{Label: label, Value: id}) || !slices.Equal(b.Values, []string{id}) {
		t.Fatalf("broadcast field %+v", b)
	}
	if d := c.Fields[2]; !d.Required || !slices.Equal(optionValues(d), []string{"send", "decline"}) {
		t.Fatalf("decision field %+v", d)
	}

	for name, values := range map[string]map[string][]string{
		"no decision":      {"broadcast": {id}},
		"another decision": {"broadcast": {id}, "decision": {"later"}},
		"no broadcast":     {"decision": {"send"}},
	} {
		if res := run("hana@corp.test", values); res.NoteType != gateway.NoteError || res.Note != "Choose a broadcast, and send or decline." {
			t.Errorf("%s: %+v", name, res)
		}
	}
	if res := run("ken@corp.test", map[string][]string{"broadcast": {id}, "decision": {"send"}}); res.NoteType != gateway.NoteError ||
		res.Note != "broadcast refused: broadcast "+id+" is not waiting for ken" {
		t.Fatalf("ken decided hana's copy: %+v", res)
	}
	collectSent(t, g.Outside.Sent, 0)

	res := run("hana@corp.test/phone", map[string][]string{"broadcast": {id}, "decision": {"send"}})
	if want := "Broadcast " + id + ": 2 queued, 0 skipped (cap), 0 skipped (gone). You will get a report when every copy is sent."; res.NoteType != gateway.NoteInfo || res.Note != want {
		t.Fatalf("send: %+v, want %q", res, want)
	}
	for _, o := range collectSent(t, g.Outside.Sent, 2) {
		if o.Kind != gateway.KindBroadcast || o.From != "hana.sales@contact.acme.test" || o.Body != "Spring sale\nall week" {
			t.Fatalf("copy %+v", o)
		}
	}
	if res := run("hana@corp.test", map[string][]string{"broadcast": {id}, "decision": {"send"}}); res.NoteType != gateway.NoteError ||
		res.Note != "broadcast refused: broadcast "+id+" was already sent" {
		t.Fatalf("sent twice: %+v", res)
	}
	collectSent(t, g.Outside.Sent, 0)
	nothingWaiting()

	p2, err := g.PrepareBroadcast(ctx, BroadcastRequest{Actor: "admin:root", Reason: "again", Team: []string{"hana"}, Tag: "vip", Body: "Another"})
	if err != nil {
		t.Fatal(err)
	}
	id2 := p2.Members[0].ID
	if res := run("hana@corp.test", map[string][]string{"broadcast": {id2}, "decision": {"decline"}}); res.NoteType != gateway.NoteInfo || res.Note != "Declined: nothing was sent." {
		t.Fatalf("decline: %+v", res)
	}
	collectSent(t, g.Outside.Sent, 0)
	nothingWaiting()
	if l := auditOf(t, g, ActionBroadcastDecline); len(l) != 1 || l[0].Actor != "employee:hana" || l[0].Subject != id2 {
		t.Fatalf("broadcast.decline audit %+v", l)
	}
}
