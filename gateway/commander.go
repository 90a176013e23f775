package gateway

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/kakehashi/kakehashi/identity"
)

// Command nodes the gateway offers employees.
const (
	cmdMyContacts       = "my-contacts"
	cmdTagContact       = "tag-contact"
	cmdBroadcast        = "broadcast"
	cmdBroadcastConfirm = "confirm-broadcast"
)

// maxListed bounds a command's contact list: a client's drop-down is no
// place for thousands of entries (admins use the API to search).
const maxListed = 200

// employeeAt returns the active employee at an inside address.
func (g *Gateway) employeeAt(network, from string) (*identity.Employee, *identity.Snapshot, bool) {
	snap := g.state.Snapshot()
	from, _ = g.canonical(network, from)
	e, ok := snap.EmployeeByInsideAddr(identity.Address{Network: network, Addr: from})
	if !ok || e.Status != identity.Active {
		return nil, nil, false
	}
	return e, snap, true
}

// ActiveEmployee implements Insider: whether from, an address on the
// inside network, is an active employee's.
func (g *Gateway) ActiveEmployee(network, from string) bool {
	if net, ok := g.top.Networks[network]; !ok || net.Side != identity.Inside {
		return false
	}
	_, _, ok := g.employeeAt(network, from)
	return ok
}

// Commands implements Commander: every active employee may list, tag and
// broadcast to their own contacts, and confirm the team broadcasts
// prepared for them.
func (g *Gateway) Commands(network, from string) []Command {
	if net, ok := g.top.Networks[network]; !ok || net.Side != identity.Inside {
		return nil
	}
	if _, _, ok := g.employeeAt(network, from); !ok {
		return nil
	}
	return []Command{
		{Node: cmdMyContacts, Name: "My contacts"},
		{Node: cmdTagContact, Name: "Tag a contact"},
		{Node: cmdBroadcast, Name: "Send a broadcast"},
		{Node: cmdBroadcastConfirm, Name: "Broadcasts to confirm"},
	}
}

// CommandForm implements Commander.
func (g *Gateway) CommandForm(ctx context.Context, network, from, node string) (Command, error) {
	e, snap, ok := g.employeeAt(network, from)
	if !ok {
		return Command{}, fmt.Errorf("%w: only active employees can run commands", ErrCommandForbidden)
	}
	switch node {
	case cmdMyContacts:
		return Command{Node: node, Name: "My contacts", Title: "My contacts",
			Instructions: "Lists the outside contacts you look after. Leave the tag empty to see them all.",
			Fields:       []Field{{Var: "tag", Label: "Only with tag", Type: FieldText}}}, nil
	case cmdTagContact:
		rels := ownRelationships(snap, e.ID, nil)
		if len(rels) == 0 {
			return Command{Node: node, Name: "Tag a contact", Title: "Tag a contact",
				Fields: []Field{{Type: FieldFixed, Values: []string{"You look after no outside contacts yet."}}}}, nil
		}
		opts := make([]FieldOption, 0, len(rels))
		for _, r := range rels {
			opts = append(opts, FieldOption{Label: describeRel(snap, r), Value: r.ID})
		}
		return Command{Node: node, Name: "Tag a contact", Title: "Tag a contact",
			Instructions: "Tags help you find contacts and choose them for broadcasts. Separate tags with commas.",
			Fields: []Field{
				{Var: "relationship", Label: "Contact", Type: FieldList, Required: true, Options: opts},
				{Var: "add", Label: "Add tags", Type: FieldText},
				{Var: "remove", Label: "Remove tags", Type: FieldText},
				{Var: "remark", Label: "Remark (replaces the old one; leave empty to keep it)", Type: FieldTextMulti},
				{Var: "clear_remark", Label: "Clear the remark", Type: FieldBool},
			}}, nil
	case cmdBroadcast:
		return g.broadcastForm(snap, e.ID), nil
	case cmdBroadcastConfirm:
		return g.confirmForm(ctx, e.ID)
	}
	return Command{}, fmt.Errorf("%w: %s", ErrCommandNotFound, node)
}

// RunCommand implements Commander.
func (g *Gateway) RunCommand(ctx context.Context, network, from, node string, values map[string][]string) (CommandResult, error) {
	e, snap, ok := g.employeeAt(network, from)
	if !ok {
		return CommandResult{}, fmt.Errorf("%w: only active employees can run commands", ErrCommandForbidden)
	}
	one := func(k string) string { return strings.TrimSpace(strings.Join(values[k], "\n")) }
	switch node {
	case cmdMyContacts:
		tag := one("tag")
		var lines []string
		var keep func(*identity.Relationship) bool
		if tag != "" {
			keep = func(r *identity.Relationship) bool { return r.HasTag(tag) }
		}
		for _, r := range ownRelationships(snap, e.ID, keep) {
			lines = append(lines, describeRel(snap, r))
		}
		if len(lines) == 0 {
			return CommandResult{NoteType: NoteInfo, Note: "No contacts."}, nil
		}
		fields := make([]Field, 0, len(lines))
		for _, l := range lines {
			fields = append(fields, Field{Type: FieldFixed, Values: []string{l}})
		}
		return CommandResult{NoteType: NoteInfo, Note: fmt.Sprintf("%d contact(s).", len(lines)), Fields: fields}, nil
	case cmdTagContact:
		relID := one("relationship")
		rel, ok := snap.Relationship(relID)
		if !ok || !snap.OwnedBy(rel.ID, e.ID) {
			return CommandResult{NoteType: NoteError, Note: "Choose one of your own contacts."}, nil
		}
		actor := "employee:" + e.ID
		const reason = "set by the owner through an XMPP command"
		var err error
		if add := splitTags(one("add")); len(add) > 0 {
			_, err = g.state.AddTags(ctx, actor, reason, relID, add)
		}
		if rm := splitTags(one("remove")); err == nil && len(rm) > 0 {
			_, err = g.state.RemoveTags(ctx, actor, reason, relID, rm)
		}
		if remark := one("remark"); err == nil && remark != "" {
			_, err = g.state.SetRemark(ctx, actor, reason, relID, remark)
		} else if err == nil && isTrue(one("clear_remark")) {
			_, err = g.state.SetRemark(ctx, actor, reason, relID, "")
		}
		if err != nil {
			return CommandResult{NoteType: NoteError, Note: err.Error()}, nil
		}
		rel, _ = g.state.Snapshot().Relationship(relID)
		return CommandResult{NoteType: NoteInfo, Note: "Saved: " + describeRel(g.state.Snapshot(), rel)}, nil
	case cmdBroadcast:
		b, err := g.SendBroadcast(ctx, BroadcastRequest{Actor: "employee:" + e.ID, OwnerID: e.ID,
			Tag: one("tag"), Relationships: values["contacts"], Subject: one("subject"), Body: one("message")})
		if err != nil {
			return CommandResult{NoteType: NoteError, Note: err.Error()}, nil
		}
		return broadcastResult(b), nil
	case cmdBroadcastConfirm:
		id, decision := one("broadcast"), one("decision")
		if id == "" || decision != "send" && decision != "decline" {
			return CommandResult{NoteType: NoteError, Note: "Choose a broadcast, and send or decline."}, nil
		}
		b, err := g.DecideBroadcast(ctx, e.ID, id, decision == "send")
		if err != nil {
			return CommandResult{NoteType: NoteError, Note: err.Error()}, nil
		}
		if b.State == BroadcastDeclined {
			return CommandResult{NoteType: NoteInfo, Note: "Declined: nothing was sent."}, nil
		}
		return broadcastResult(b), nil
	}
	return CommandResult{}, fmt.Errorf("%w: %s", ErrCommandNotFound, node)
}

// broadcastForm asks what to send and to whom.
func (g *Gateway) broadcastForm(snap *identity.Snapshot, employeeID string) Command {
	rels := ownRelationships(snap, employeeID, func(r *identity.Relationship) bool { return r.Gone == "" })
	opts := make([]FieldOption, 0, len(rels))
	for _, r := range rels {
		opts = append(opts, FieldOption{Label: describeRel(snap, r), Value: r.ID})
	}
	return Command{Node: cmdBroadcast, Name: "Send a broadcast", Title: "Send a broadcast",
		Instructions: fmt.Sprintf("One message to many of your contacts, each from the persona they know. "+
			"Choose them by tag, or pick them from the list. A contact gets at most %d broadcast(s) a day and %d in 30 days, "+
			"from anyone here; those over the limit, and contacts who removed you, are skipped.", g.caps.PerDay, g.caps.PerMonth),
		Fields: []Field{
			{Var: "message", Label: "Message", Type: FieldTextMulti, Required: true},
			{Var: "subject", Label: "Subject (shown by mail)", Type: FieldText},
			{Var: "tag", Label: "Contacts with tag", Type: FieldText},
			{Var: "contacts", Label: "Or these contacts", Type: FieldListMulti, Options: opts},
		}}
}

// confirmForm lists the team broadcasts waiting for the employee.
func (g *Gateway) confirmForm(ctx context.Context, employeeID string) (Command, error) {
	cmd := Command{Node: cmdBroadcastConfirm, Name: "Broadcasts to confirm", Title: "Broadcasts to confirm"}
	waiting, err := g.AwaitingBroadcasts(ctx, employeeID)
	if err != nil {
		return Command{}, err
	}
	if len(waiting) == 0 {
		cmd.Fields = []Field{{Type: FieldFixed, Values: []string{"No broadcasts are waiting for you."}}}
		return cmd, nil
	}
	cmd.Instructions = "Prepared for you to send to your own contacts, under your persona. Nothing goes out until you confirm."
	opts := make([]FieldOption, 0, len(waiting))
	for _, b := range waiting {
		label := quoteStart(b.Body)
		if b.Tag != "" {
			label = fmt.Sprintf("to contacts tagged %q: %s", b.Tag, label)
		}
		opts = append(opts, FieldOption{Label: label, Value: b.ID})
		cmd.Fields = append(cmd.Fields, Field{Type: FieldFixed, Values: []string{label + "\n" + b.Body}})
	}
	cmd.Fields = append(cmd.Fields,
		Field{Var: "broadcast", Label: "Broadcast", Type: FieldList, Required: true, Options: opts, Values: []string{waiting[0].ID}},
		Field{Var: "decision", Label: "Send it or decline it", Type: FieldList, Required: true,
			Options: []FieldOption{{Label: "Send it now", Value: "send"}, {Label: "Decline", Value: "decline"}}})
	return cmd, nil
}

// broadcastResult is the note a sent broadcast answers with.
func broadcastResult(b *Broadcast) CommandResult {
	note := fmt.Sprintf("Broadcast %s: %d queued, %d skipped (cap), %d skipped (gone)", b.ID, b.Queued, b.SkippedCap, b.SkippedGone)
	if b.SkippedUnreachable > 0 {
		note += fmt.Sprintf(", %d skipped (no longer yours or unreachable)", b.SkippedUnreachable)
	}
	if b.Queued > 0 {
		note += ". You will get a report when every copy is sent."
	} else {
		note += ". Nothing was sent."
	}
	return CommandResult{NoteType: NoteInfo, Note: note}
}

// ownRelationships are the live relationships an employee owns that keep
// accepts (nil: all), by contact address, at most maxListed.
func ownRelationships(snap *identity.Snapshot, employeeID string, keep func(*identity.Relationship) bool) []*identity.Relationship {
	type entry struct {
		addr string
		rel  *identity.Relationship
	}
	var list []entry
	for _, r := range snap.RelationshipsOwnedBy(employeeID) {
		if r.MergedInto != "" || keep != nil && !keep(r) {
			continue
		}
		addr := r.ContactID
		if c, ok := snap.Contact(r.ContactID); ok {
			addr = c.Address.Addr
		}
		list = append(list, entry{addr, r})
	}
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(a.addr, b.addr) })
	out := make([]*identity.Relationship, 0, min(len(list), maxListed))
	for _, e := range list[:min(len(list), maxListed)] {
		out = append(out, e.rel)
	}
	return out
}

// describeRel is one line about a relationship for its owner.
func describeRel(snap *identity.Snapshot, r *identity.Relationship) string {
	var b strings.Builder
	if c, ok := snap.Contact(r.ContactID); ok {
		b.WriteString(c.Address.Addr)
		if c.DisplayName != "" && c.DisplayName != c.Address.Addr {
			fmt.Fprintf(&b, " (%s)", c.DisplayName)
		}
		fmt.Fprintf(&b, " on %s", c.Address.Network)
	}
	if p, ok := snap.Persona(r.PersonaID); ok {
		fmt.Fprintf(&b, ", as %s", p.DisplayName)
	}
	if len(r.Tags) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(r.Tags, ", "))
	}
	if r.Remark != "" {
		fmt.Fprintf(&b, " — %s", strings.ReplaceAll(r.Remark, "\n", " "))
	}
	return b.String()
}

func splitTags(s string) []string {
	var out []string
	for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '、' || r == '\n' }) {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func isTrue(s string) bool { return s == "1" || strings.EqualFold(s, "true") }

var _ Commander = (*Gateway)(nil)
