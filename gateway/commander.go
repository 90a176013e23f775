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
	cmdMyContacts = "my-contacts"
	cmdTagContact = "tag-contact"
)

// maxListed bounds a command's contact list: a client's drop-down is no
// place for thousands of entries (admins use the API to search).
const maxListed = 200

// employeeAt returns the active employee at an inside address.
func (g *Gateway) employeeAt(network, from string) (*identity.Employee, *identity.Snapshot, bool) {
	snap := g.state.Snapshot()
	e, ok := snap.EmployeeByInsideAddr(identity.Address{Network: network, Addr: bareLower(from)})
	if !ok || e.Status != identity.Active {
		return nil, nil, false
	}
	return e, snap, true
}

// Commands implements Commander: every active employee may list and tag
// their own contacts.
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
	}
}

// CommandForm implements Commander.
func (g *Gateway) CommandForm(_ context.Context, network, from, node string) (Command, error) {
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
		rels := ownRelationships(snap, e.ID)
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
		for _, r := range ownRelationships(snap, e.ID) {
			if tag != "" && !slices.ContainsFunc(r.Tags, func(t string) bool { return strings.EqualFold(t, tag) }) {
				continue
			}
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
		if !ok || rel.OwnerID != e.ID || rel.MergedInto != "" {
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
	}
	return CommandResult{}, fmt.Errorf("%w: %s", ErrCommandNotFound, node)
}

// ownRelationships are the live relationships an employee owns, by contact
// address, at most maxListed.
func ownRelationships(snap *identity.Snapshot, employeeID string) []*identity.Relationship {
	var out []*identity.Relationship
	for _, r := range snap.RelationshipsOwnedBy(employeeID) {
		if r.MergedInto == "" {
			out = append(out, r)
		}
	}
	addr := func(r *identity.Relationship) string {
		if c, ok := snap.Contact(r.ContactID); ok {
			return c.Address.Addr
		}
		return r.ContactID
	}
	slices.SortFunc(out, func(a, b *identity.Relationship) int { return strings.Compare(addr(a), addr(b)) })
	if len(out) > maxListed {
		out = out[:maxListed]
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
