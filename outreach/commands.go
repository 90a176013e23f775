package outreach

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
)

// gateway.Command nodes the gateway offers employees.
const (
	cmdMyContacts       = "my-contacts"
	cmdTagContact       = "tag-contact"
	cmdBroadcast        = "broadcast"
	cmdBroadcastConfirm = "confirm-broadcast"
)

// maxListed bounds a command's contact list: a client's drop-down is no
// place for thousands of entries (admins use the API to search).
const maxListed = 200

// Commands implements gateway.Commander: every active employee may list, tag and
// broadcast to their own contacts, and confirm the team broadcasts
// prepared for them.
func (s *Service) Commands(network, from string) []gateway.Command {
	if net, ok := s.top.Networks[network]; !ok || net.Side != identity.Inside {
		return nil
	}
	if _, _, ok := s.gw.EmployeeAt(network, from); !ok {
		return nil
	}
	return []gateway.Command{
		{Node: cmdMyContacts, Name: "My contacts"},
		{Node: cmdTagContact, Name: "Tag a contact"},
		{Node: cmdBroadcast, Name: "Send a broadcast"},
		{Node: cmdBroadcastConfirm, Name: "Broadcasts to confirm"},
	}
}

// CommandForm implements gateway.Commander.
func (s *Service) CommandForm(ctx context.Context, network, from, node string) (gateway.Command, error) {
	e, snap, ok := s.gw.EmployeeAt(network, from)
	if !ok {
		return gateway.Command{}, fmt.Errorf("%w: only active employees can run commands", gateway.ErrCommandForbidden)
	}
	switch node {
	case cmdMyContacts:
		return gateway.Command{Node: node, Name: "My contacts", Title: "My contacts",
			Instructions: "Lists the outside contacts you look after. Leave the tag empty to see them all.",
			Fields:       []gateway.Field{{Var: "tag", Label: "Only with tag", Type: gateway.FieldText}}}, nil
	case cmdTagContact:
		rels := ownRelationships(snap, e.ID, nil)
		if len(rels) == 0 {
			return gateway.Command{Node: node, Name: "Tag a contact", Title: "Tag a contact",
				Fields: []gateway.Field{{Type: gateway.FieldFixed, Values: []string{"You look after no outside contacts yet."}}}}, nil
		}
		opts := make([]gateway.FieldOption, 0, len(rels))
		for _, r := range rels {
			opts = append(opts, gateway.FieldOption{Label: describeRel(snap, r), Value: r.ID})
		}
		return gateway.Command{Node: node, Name: "Tag a contact", Title: "Tag a contact",
			Instructions: "Tags help you find contacts and choose them for broadcasts. Separate tags with commas.",
			Fields: []gateway.Field{
				{Var: "relationship", Label: "Contact", Type: gateway.FieldList, Required: true, Options: opts},
				{Var: "add", Label: "Add tags", Type: gateway.FieldText},
				{Var: "remove", Label: "Remove tags", Type: gateway.FieldText},
				{Var: "remark", Label: "Remark (replaces the old one; leave empty to keep it)", Type: gateway.FieldTextMulti},
				{Var: "clear_remark", Label: "Clear the remark", Type: gateway.FieldBool},
			}}, nil
	case cmdBroadcast:
		return s.broadcastForm(snap, e.ID), nil
	case cmdBroadcastConfirm:
		return s.confirmForm(ctx, e.ID)
	}
	return gateway.Command{}, fmt.Errorf("%w: %s", gateway.ErrCommandNotFound, node)
}

// RunCommand implements gateway.Commander.
func (s *Service) RunCommand(ctx context.Context, network, from, node string, values map[string][]string) (gateway.CommandResult, error) {
	e, snap, ok := s.gw.EmployeeAt(network, from)
	if !ok {
		return gateway.CommandResult{}, fmt.Errorf("%w: only active employees can run commands", gateway.ErrCommandForbidden)
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
			return gateway.CommandResult{NoteType: gateway.NoteInfo, Note: "No contacts."}, nil
		}
		fields := make([]gateway.Field, 0, len(lines))
		for _, l := range lines {
			fields = append(fields, gateway.Field{Type: gateway.FieldFixed, Values: []string{l}})
		}
		return gateway.CommandResult{NoteType: gateway.NoteInfo, Note: fmt.Sprintf("%d contact(s).", len(lines)), Fields: fields}, nil
	case cmdTagContact:
		relID := one("relationship")
		rel, ok := snap.Relationship(relID)
		if !ok || !snap.OwnedBy(rel.ID, e.ID) {
			return gateway.CommandResult{NoteType: gateway.NoteError, Note: "Choose one of your own contacts."}, nil
		}
		actor := "employee:" + e.ID
		const reason = "set by the owner through an XMPP command"
		var err error
		if add := splitTags(one("add")); len(add) > 0 {
			_, err = s.state.AddTags(ctx, actor, reason, relID, add)
		}
		if rm := splitTags(one("remove")); err == nil && len(rm) > 0 {
			_, err = s.state.RemoveTags(ctx, actor, reason, relID, rm)
		}
		if remark := one("remark"); err == nil && remark != "" {
			_, err = s.state.SetRemark(ctx, actor, reason, relID, remark)
		} else if err == nil && isTrue(one("clear_remark")) {
			_, err = s.state.SetRemark(ctx, actor, reason, relID, "")
		}
		if err != nil {
			return gateway.CommandResult{NoteType: gateway.NoteError, Note: err.Error()}, nil
		}
		rel, _ = s.state.Snapshot().Relationship(relID)
		return gateway.CommandResult{NoteType: gateway.NoteInfo, Note: "Saved: " + describeRel(s.state.Snapshot(), rel)}, nil
	case cmdBroadcast:
		b, err := s.SendBroadcast(ctx, BroadcastRequest{Actor: "employee:" + e.ID, OwnerID: e.ID,
			Tag: one("tag"), Relationships: values["contacts"], Subject: one("subject"), Body: one("message")})
		if err != nil {
			return gateway.CommandResult{NoteType: gateway.NoteError, Note: err.Error()}, nil
		}
		return broadcastResult(b), nil
	case cmdBroadcastConfirm:
		id, decision := one("broadcast"), one("decision")
		if id == "" || decision != "send" && decision != "decline" {
			return gateway.CommandResult{NoteType: gateway.NoteError, Note: "Choose a broadcast, and send or decline."}, nil
		}
		b, err := s.DecideBroadcast(ctx, e.ID, id, decision == "send")
		if err != nil {
			return gateway.CommandResult{NoteType: gateway.NoteError, Note: err.Error()}, nil
		}
		if b.State == BroadcastDeclined {
			return gateway.CommandResult{NoteType: gateway.NoteInfo, Note: "Declined: nothing was sent."}, nil
		}
		return broadcastResult(b), nil
	}
	return gateway.CommandResult{}, fmt.Errorf("%w: %s", gateway.ErrCommandNotFound, node)
}

// broadcastForm asks what to send and to whom.
func (s *Service) broadcastForm(snap *identity.Snapshot, employeeID string) gateway.Command {
	rels := ownRelationships(snap, employeeID, func(r *identity.Relationship) bool { return r.Gone == "" })
	opts := make([]gateway.FieldOption, 0, len(rels))
	for _, r := range rels {
		opts = append(opts, gateway.FieldOption{Label: describeRel(snap, r), Value: r.ID})
	}
	return gateway.Command{Node: cmdBroadcast, Name: "Send a broadcast", Title: "Send a broadcast",
		Instructions: fmt.Sprintf("One message to many of your contacts, each from the persona they know. "+
			"Choose them by tag, or pick them from the list. A contact gets at most %d broadcast(s) a day and %d in 30 days, "+
			"from anyone here; those over the limit, and contacts who removed you, are skipped.", s.caps.PerDay, s.caps.PerMonth),
		Fields: []gateway.Field{
			{Var: "message", Label: "Message", Type: gateway.FieldTextMulti, Required: true},
			{Var: "subject", Label: "Subject (shown by mail)", Type: gateway.FieldText},
			{Var: "tag", Label: "Contacts with tag", Type: gateway.FieldText},
			{Var: "contacts", Label: "Or these contacts", Type: gateway.FieldListMulti, Options: opts},
		}}
}

// confirmForm lists the team broadcasts waiting for the employee.
func (s *Service) confirmForm(ctx context.Context, employeeID string) (gateway.Command, error) {
	cmd := gateway.Command{Node: cmdBroadcastConfirm, Name: "Broadcasts to confirm", Title: "Broadcasts to confirm"}
	waiting, err := s.AwaitingBroadcasts(ctx, employeeID)
	if err != nil {
		return gateway.Command{}, err
	}
	if len(waiting) == 0 {
		cmd.Fields = []gateway.Field{{Type: gateway.FieldFixed, Values: []string{"No broadcasts are waiting for you."}}}
		return cmd, nil
	}
	cmd.Instructions = "Prepared for you to send to your own contacts, under your persona. Nothing goes out until you confirm."
	opts := make([]gateway.FieldOption, 0, len(waiting))
	for _, b := range waiting {
		label := quoteStart(b.Body)
		if b.Tag != "" {
			label = fmt.Sprintf("to contacts tagged %q: %s", b.Tag, label)
		}
		opts = append(opts, gateway.FieldOption{Label: label, Value: b.ID})
		cmd.Fields = append(cmd.Fields, gateway.Field{Type: gateway.FieldFixed, Values: []string{label + "\n" + b.Body}})
	}
	cmd.Fields = append(cmd.Fields,
		gateway.Field{Var: "broadcast", Label: "Broadcast", Type: gateway.FieldList, Required: true, Options: opts, Values: []string{waiting[0].ID}},
		gateway.Field{Var: "decision", Label: "Send it or decline it", Type: gateway.FieldList, Required: true,
			Options: []gateway.FieldOption{{Label: "Send it now", Value: "send"}, {Label: "Decline", Value: "decline"}}})
	return cmd, nil
}

// broadcastResult is the note a sent broadcast answers with.
func broadcastResult(b *Broadcast) gateway.CommandResult {
	note := fmt.Sprintf("Broadcast %s: %d queued, %d skipped (cap), %d skipped (gone)", b.ID, b.Queued, b.SkippedCap, b.SkippedGone)
	if b.SkippedUnreachable > 0 {
		note += fmt.Sprintf(", %d skipped (no longer yours or unreachable)", b.SkippedUnreachable)
	}
	if b.Queued > 0 {
		note += ". You will get a report when every copy is sent."
	} else {
		note += ". Nothing was sent."
	}
	return gateway.CommandResult{NoteType: gateway.NoteInfo, Note: note}
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
