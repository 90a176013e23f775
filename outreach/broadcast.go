package outreach

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
)

// A broadcast is one message an employee sends to many of their own
// contacts at once, each copy from the persona the contact knows, through
// the durable queue. Each contact receives at most BroadcastCaps of them
// (any sender), so a contact who hears from three employees in one week
// is not flooded: the caps are counted from the queue itself, in the same
// transaction that queues the copies, so they hold under concurrent
// broadcasts and across restarts.
//
// An administrator can prepare a broadcast for a team: each member gets a
// copy to confirm (or decline) before anything goes out under their
// persona.

// Broadcast states.
const (
	// BroadcastAwaiting is a member's copy of a team broadcast that the
	// member has not yet confirmed or declined.
	BroadcastAwaiting = "awaiting"
	// BroadcastSent is a broadcast whose copies are queued.
	BroadcastSent = "sent"
	// BroadcastDeclined is a member's copy the member chose not to send.
	BroadcastDeclined = "declined"
	// BroadcastPrepared is a team broadcast: its members' copies carry the
	// outcome.
	BroadcastPrepared = "prepared"
)

// Audit actions of broadcasts.
const (
	ActionBroadcastSend    = "broadcast.send"
	ActionBroadcastPrepare = "broadcast.prepare"
	ActionBroadcastDecline = "broadcast.decline"
)

// BroadcastCaps bound how many broadcasts one contact receives: at most
// PerDay in any 24 hours and PerMonth in any 30 days. PerDay 0 turns
// broadcasts off.
type BroadcastCaps struct {
	PerDay, PerMonth int
}

// BroadcastRequest asks for a broadcast to an employee's contacts: those
// with Tag, or the relationships listed (both: those listed that have the
// tag).
type BroadcastRequest struct {
	Actor  string `json:"-"`
	Reason string `json:"reason,omitempty"`
	// OwnerID is the employee it goes out for, and Relationships the
	// contacts chosen from their list: set by the employee's own command,
	// never through the admin API, where Team names the employees who
	// each confirm their copy.
	OwnerID       string   `json:"-"`
	Relationships []string `json:"-"`
	Team          []string `json:"team,omitempty"`
	Tag           string   `json:"tag,omitempty"`
	Subject       string   `json:"subject,omitempty"`
	Body          string   `json:"body"`
}

// Broadcast is a broadcast and its outcome so far.
type Broadcast struct {
	ID            string    `json:"id"`
	Parent        string    `json:"parent,omitempty"` // the team broadcast this is a member's copy of
	CreatedAt     time.Time `json:"created_at"`
	Actor         string    `json:"actor"`
	Reason        string    `json:"reason,omitempty"`
	OwnerID       string    `json:"owner,omitempty"`
	Team          []string  `json:"team,omitempty"`
	Tag           string    `json:"tag,omitempty"`
	Relationships []string  `json:"relationships,omitempty"`
	Subject       string    `json:"subject,omitempty"`
	Body          string    `json:"body"`
	State         string    `json:"state"`
	DecidedAt     time.Time `json:"decided_at,omitzero"`
	// Counts when it was sent: copies queued, and contacts skipped because
	// of the caps, because they are gone, or because they were no longer
	// the owner's or had no address the persona could write from.
	Queued             int `json:"queued"`
	SkippedCap         int `json:"skipped_cap"`
	SkippedGone        int `json:"skipped_gone"`
	SkippedUnreachable int `json:"skipped_unreachable"`
	// What became of the queued copies.
	Sent    int `json:"sent"`
	Failed  int `json:"failed"`
	Pending int `json:"pending"`
	// Members are a team broadcast's copies, one per member.
	Members []*Broadcast `json:"members,omitempty"`
}

// ErrBroadcast wraps every reason a broadcast request is refused.
var ErrBroadcast = errors.New("broadcast refused")

func broadcastErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBroadcast, fmt.Sprintf(format, a...))
}

// checkBroadcast validates what every broadcast needs.
func (s *Service) checkBroadcast(r *BroadcastRequest) error {
	if s.caps.PerDay == 0 || s.caps.PerMonth == 0 {
		return broadcastErr("broadcasts are turned off (limits.broadcasts_per_day or _per_month is 0)")
	}
	r.Body = strings.TrimSpace(r.Body)
	r.Subject = strings.TrimSpace(r.Subject)
	r.Tag = strings.TrimSpace(r.Tag)
	switch {
	case r.Body == "":
		return broadcastErr("the message is empty")
	case !utf8.ValidString(r.Body) || !utf8.ValidString(r.Subject) || strings.ContainsRune(r.Body+r.Subject, 0):
		return broadcastErr("the message is not valid text")
	case s.top.MaxBodyBytes > 0 && len(r.Body) > s.top.MaxBodyBytes:
		return broadcastErr("the message is %d bytes; the limit is %d (limits.max_body_bytes)", len(r.Body), s.top.MaxBodyBytes)
	case strings.ContainsAny(r.Subject, "\r\n"):
		return broadcastErr("the subject must be one line")
	case r.Tag == "" && len(r.Relationships) == 0:
		return broadcastErr("choose the contacts: a tag, or a list of contacts")
	}
	return nil
}

// SendBroadcast sends a broadcast for r.OwnerID now, and returns it with
// the counts of what was queued and skipped. The copies' outcome reaches
// the owner as a notice once every copy is sent or failed.
func (s *Service) SendBroadcast(ctx context.Context, r BroadcastRequest) (*Broadcast, error) {
	if err := s.checkBroadcast(&r); err != nil {
		return nil, err
	}
	snap := s.state.Snapshot()
	e, ok := snap.Employee(r.OwnerID)
	if !ok || e.Status != identity.Active {
		return nil, broadcastErr("%q is not an active employee", r.OwnerID)
	}
	for _, id := range r.Relationships {
		if rel, ok := snap.Relationship(id); !ok || rel.OwnerID != r.OwnerID {
			return nil, broadcastErr("relationship %q is not one of %s's contacts", id, r.OwnerID)
		}
	}
	b := &Broadcast{ID: "b-" + gateway.NewID(), CreatedAt: s.gw.Now().UTC(), Actor: r.Actor, Reason: r.Reason,
		OwnerID: r.OwnerID, Tag: r.Tag, Relationships: r.Relationships, Subject: r.Subject, Body: r.Body,
		State: BroadcastAwaiting}
	return s.sendBroadcast(ctx, b, true)
}

// PrepareBroadcast stores a team broadcast: each member of r.Team gets a
// copy to confirm or decline, and a notice saying so. Nothing goes out
// before a member confirms.
func (s *Service) PrepareBroadcast(ctx context.Context, r BroadcastRequest) (*Broadcast, error) {
	if err := s.checkBroadcast(&r); err != nil {
		return nil, err
	}
	if len(r.Relationships) > 0 {
		return nil, broadcastErr("a team broadcast selects contacts by tag, not by relationship")
	}
	if len(r.Team) == 0 {
		return nil, broadcastErr("name the team: the employees who will each confirm it")
	}
	snap := s.state.Snapshot()
	team := slices.Compact(slices.Sorted(slices.Values(r.Team)))
	for _, id := range team {
		if e, ok := snap.Employee(id); !ok || e.Status != identity.Active {
			return nil, broadcastErr("team member %q is not an active employee", id)
		}
	}
	now := s.gw.Now().UTC()
	parent := &Broadcast{ID: "b-" + gateway.NewID(), CreatedAt: now, Actor: r.Actor, Reason: r.Reason, Team: team,
		Tag: r.Tag, Subject: r.Subject, Body: r.Body, State: BroadcastPrepared}
	for _, id := range team {
		parent.Members = append(parent.Members, &Broadcast{ID: "b-" + gateway.NewID(), Parent: parent.ID, CreatedAt: now,
			Actor: r.Actor, Reason: r.Reason, OwnerID: id, Tag: r.Tag, Subject: r.Subject, Body: r.Body, State: BroadcastAwaiting})
	}
	err := s.gw.PostBatch(ctx, func(ctx context.Context, tx *gateway.Tx) ([]*gateway.Record, error) {
		for _, b := range append([]*Broadcast{parent}, parent.Members...) {
			if err := insertBroadcast(ctx, tx, b); err != nil {
				return nil, err
			}
		}
		return nil, tx.Audit(ctx, gateway.Act{Actor: r.Actor, Action: ActionBroadcastPrepare, Reason: r.Reason,
			Subject: parent.ID, Details: map[string]any{"team": team, "tag": r.Tag}})
	})
	if err != nil {
		return nil, err
	}
	for _, m := range parent.Members {
		s.noticeEmployee(ctx, m.OwnerID, fmt.Sprintf("A broadcast was prepared for your contacts tagged %q:\n\n%s\n\n"+
			"Nothing is sent until you confirm it: run the command \"Broadcasts to confirm\" to send it under your persona, or to decline it.",
			r.Tag, r.Body))
	}
	return parent, nil
}

// DecideBroadcast sends (send true) or declines a member's copy of a team
// broadcast; only the member it is for may decide, once.
func (s *Service) DecideBroadcast(ctx context.Context, employeeID, id string, send bool) (*Broadcast, error) {
	b, err := s.LoadBroadcast(ctx, id)
	if err != nil {
		return nil, err
	}
	if b.OwnerID != employeeID || b.Parent == "" {
		return nil, broadcastErr("broadcast %s is not waiting for %s", id, employeeID)
	}
	if b.State != BroadcastAwaiting {
		return nil, broadcastErr("broadcast %s was already %s", id, b.State)
	}
	b.Actor = "employee:" + employeeID
	if send {
		return s.sendBroadcast(ctx, b, false)
	}
	var changed bool
	err = s.gw.PostBatch(ctx, func(ctx context.Context, tx *gateway.Tx) ([]*gateway.Record, error) {
		res, err := tx.ExecContext(ctx, `UPDATE broadcasts SET state = ?, decided_at = ? WHERE id = ? AND state = ?`,
			BroadcastDeclined, s.gw.Now().UnixNano(), id, BroadcastAwaiting)
		if err != nil {
			return nil, fmt.Errorf("queue: decline broadcast: %w", err)
		}
		n, err := res.RowsAffected()
		if changed = n == 1; err != nil || !changed {
			return nil, err
		}
		return nil, tx.Audit(ctx, gateway.Act{Actor: b.Actor, Action: ActionBroadcastDecline, Subject: id,
			Details: map[string]string{"parent": b.Parent}})
	})
	if err != nil {
		return nil, err
	}
	if !changed {
		return nil, broadcastErr("broadcast %s was decided meanwhile", id)
	}
	return s.LoadBroadcast(ctx, id)
}

// sendBroadcast queues b's copies: under one queue transaction it checks
// that b is still awaiting (or stores it, when isNew), counts each
// contact's recent broadcasts against the caps and inserts a copy for
// each contact under them.
func (s *Service) sendBroadcast(ctx context.Context, b *Broadcast, isNew bool) (*Broadcast, error) {
	snap := s.state.Snapshot()
	var candidates []*gateway.Record
	listed := map[string]bool{}
	for _, id := range b.Relationships {
		listed[id] = true
	}
	skippedUnreachable := 0
	for id := range listed {
		if rel, ok := snap.Relationship(id); !ok || rel.OwnerID != b.OwnerID || rel.MergedInto != "" {
			skippedUnreachable++ // moved to someone else since it was chosen
		}
	}
	skippedGone := 0
	// One copy per contact, even when the owner looks after them on two
	// personas: the caps are the contact's.
	seen := map[string]bool{}
	for _, rel := range snap.RelationshipsOwnedBy(b.OwnerID) {
		if rel.MergedInto != "" || len(listed) > 0 && !listed[rel.ID] {
			continue
		}
		if b.Tag != "" && !rel.HasTag(b.Tag) {
			continue
		}
		if rel.Gone != "" {
			skippedGone++
			continue
		}
		if seen[rel.ContactID] {
			continue
		}
		seen[rel.ContactID] = true
		rec, ok := s.broadcastCopy(snap, b, rel)
		if !ok {
			skippedUnreachable++
			continue
		}
		candidates = append(candidates, rec)
	}
	now := s.gw.Now()
	var queued []*gateway.Record
	var stale bool
	err := s.gw.PostBatch(ctx, func(ctx context.Context, tx *gateway.Tx) ([]*gateway.Record, error) {
		queued, stale = nil, false
		if isNew {
			if err := insertBroadcast(ctx, tx, b); err != nil {
				return nil, err
			}
		}
		// Claim it first: a second confirmation finds it sent.
		res, err := tx.ExecContext(ctx, `UPDATE broadcasts SET state = ?, decided_at = ? WHERE id = ? AND state = ?`,
			BroadcastSent, now.UnixNano(), b.ID, BroadcastAwaiting)
		if err != nil {
			return nil, fmt.Errorf("queue: send broadcast: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			stale = true
			return nil, err
		}
		recent, err := recentCopies(ctx, tx, candidates, now)
		if err != nil {
			return nil, err
		}
		capped := 0
		for _, rec := range candidates {
			c := recent[contactKey(rec.Out.Network, rec.Out.To)]
			if c[0] >= s.caps.PerDay || c[1] >= s.caps.PerMonth {
				capped++
				continue
			}
			isNew, err := tx.Insert(ctx, rec)
			if err != nil {
				return nil, err
			}
			if isNew {
				queued = append(queued, rec)
			}
		}
		b.Queued, b.SkippedCap, b.SkippedGone, b.SkippedUnreachable = len(queued), capped, skippedGone, skippedUnreachable
		_, err = tx.ExecContext(ctx, `UPDATE broadcasts SET queued = ?, skipped_cap = ?, skipped_gone = ?, skipped_unreachable = ?, reported = ? WHERE id = ?`,
			b.Queued, b.SkippedCap, b.SkippedGone, b.SkippedUnreachable, len(queued) == 0, b.ID)
		if err != nil {
			return nil, fmt.Errorf("queue: send broadcast: %w", err)
		}
		// The act and its audit entry commit together (invariant 5).
		err = tx.Audit(ctx, gateway.Act{Actor: b.Actor, Action: ActionBroadcastSend, Reason: b.Reason, Subject: b.ID,
			Details: map[string]any{
				"owner": b.OwnerID, "parent": b.Parent, "tag": b.Tag, "queued": b.Queued,
				"skipped_cap": b.SkippedCap, "skipped_gone": b.SkippedGone, "skipped_unreachable": b.SkippedUnreachable,
			}})
		return queued, err
	})
	if err != nil {
		return nil, err
	}
	if stale {
		return nil, broadcastErr("broadcast %s was decided meanwhile", b.ID)
	}
	s.log.Info("broadcast queued", "broadcast", b.ID, "owner", b.OwnerID, "queued", b.Queued,
		"skipped_cap", b.SkippedCap, "skipped_gone", b.SkippedGone, "skipped_unreachable", b.SkippedUnreachable)
	return s.LoadBroadcast(ctx, b.ID)
}

// broadcastCopy is b's copy for one relationship: from the relationship's
// persona, at its address on the contact's network.
func (s *Service) broadcastCopy(snap *identity.Snapshot, b *Broadcast, rel *identity.Relationship) (*gateway.Record, bool) {
	c, ok := snap.Contact(rel.ContactID)
	if !ok {
		return nil, false
	}
	p, ok := snap.Persona(rel.PersonaID)
	if !ok {
		return nil, false
	}
	from, ok := p.AddressOn(c.Address.Network)
	if !ok || !s.gw.Sends(c.Address.Network) {
		return nil, false
	}
	return &gateway.Record{
		ReceivedAt: s.gw.Now(), InNetwork: c.Address.Network, InFrom: c.Address.Addr, InReply: from, InTo: from,
		InID: b.ID, Broadcast: b.ID, RelationshipID: rel.ID, OwnerID: b.OwnerID,
		Out: gateway.Outgoing{Network: c.Address.Network, From: from, To: c.Address.Addr, ID: gateway.NewID(),
			Body: b.Body, Subject: b.Subject, Nick: p.DisplayName, Kind: gateway.KindBroadcast},
	}, true
}

func contactKey(network, addr string) string { return network + "\x00" + addr }

// recentCopies counts the broadcasts queued (and not failed) to each
// candidate's contact in the 30 days and the 24 hours before now, by
// contactKey. A contact is an address on a network, whichever persona
// wrote to it.
func recentCopies(ctx context.Context, tx *gateway.Tx, candidates []*gateway.Record, now time.Time) (map[string][2]int, error) {
	byNetwork := map[string][]string{}
	for _, r := range candidates {
		byNetwork[r.Out.Network] = append(byNetwork[r.Out.Network], r.Out.To)
	}
	out := map[string][2]int{}
	for network, addrs := range byNetwork {
		counts, err := tx.RecentCopies(ctx, network, addrs, now.Add(-24*time.Hour), now.Add(-30*24*time.Hour))
		if err != nil {
			return nil, err
		}
		for addr, c := range counts {
			out[contactKey(network, addr)] = c
		}
	}
	return out, nil
}
