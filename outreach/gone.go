package outreach

import (
	"context"
	"fmt"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// goneRelationship finds the relationship between the contact at from and
// the persona at to, and the decision that routes the contact's messages
// to its owner. Only a contact, on an outside network, can leave: on the
// inside the same call would read an employee writing to a proxy address
// (and tell the outside contact what the employee's address is).
func (s *Service) goneRelationship(network, from, to string) (*identity.Relationship, routing.Decision, bool) {
	if net, ok := s.top.Networks[network]; !ok || net.Side != identity.Outside {
		return nil, routing.Decision{}, false
	}
	from, _ = s.gw.Canonical(network, from)
	to, _ = s.gw.Canonical(network, to)
	snap := s.state.Snapshot()
	d := routing.Decide(s.top, snap, routing.Envelope{Network: network, From: from, To: to})
	if d.Kind != routing.Deliver {
		return nil, d, false
	}
	rel, ok := snap.Relationship(d.RelationshipID)
	return rel, d, ok
}

// ContactGone implements gateway.ContactTracker: the relationship is marked (so
// people see it and broadcasts skip it) and its owner is told, from the
// contact's proxy address.
func (s *Service) ContactGone(ctx context.Context, e gateway.ContactEvent) {
	network, from, to, why := e.Network, e.From, e.To, e.Why
	rel, d, ok := s.goneRelationship(network, from, to)
	if !ok || rel.Gone != "" {
		return
	}
	contact, _ := s.gw.Canonical(network, from)
	marked, err := s.state.SetGone(ctx, "contact:"+contact, rel.ID, why)
	if err != nil {
		s.log.Error("could not mark a contact gone", "relationship", rel.ID, "err", err)
		return
	}
	s.gw.NoteGone(marked)
	s.log.Info("contact gone", "network", network, "relationship", rel.ID, "why", why)
	body := fmt.Sprintf("%s %s. Your messages may no longer reach them, and broadcasts will skip them until they come back.", contact, why)
	s.queueNotice(ctx, d, body)
}

// ContactUnreachable implements gateway.ContactTracker: the relationship the
// message went out on is marked gone, as by ContactGone.
func (s *Service) ContactUnreachable(ctx context.Context, network, id, why string) {
	s.gw.ContactUnreachable(ctx, network, id, why)
}

// Unreachable implements gateway.Hooks: it marks the relationship r went
// out on gone. The contact's own word (byContact: an unsubscribe) is
// enough. A server's bounce counts only when the address ever worked: a
// bounce from an address the contact never wrote from says the address
// is wrong (a typo, an account that never existed: XMPP servers answer
// both with service-unavailable, as they do a block), not that someone
// who was there has left; its author is told by the failure notice, and
// the relationship is not marked.
func (s *Service) Unreachable(ctx context.Context, r *gateway.Record, why string, byContact bool) {
	if net, ok := s.top.Networks[r.Out.Network]; !ok || net.Side != identity.Outside || r.RelationshipID == "" || r.Out.Kind.FromGateway() {
		return // only a persona's message to a contact has a relationship to mark
	}
	if byContact {
		s.ContactGone(ctx, gateway.ContactEvent{Network: r.Out.Network, From: r.Out.To, To: r.Out.From, Why: why})
		return
	}
	heard, err := s.gw.Queue().HeardFrom(ctx, r.Out.Network, r.Out.To)
	if err != nil {
		s.log.Warn("could not tell whether a contact ever wrote; not marking it gone", "network", r.Out.Network, "relationship", r.RelationshipID, "err", err)
		return
	}
	if !heard {
		s.log.Info("bounce from an address that never wrote: not marked gone", "network", r.Out.Network, "relationship", r.RelationshipID, "why", why)
		return
	}
	s.ContactGone(ctx, gateway.ContactEvent{Network: r.Out.Network, From: r.Out.To, To: r.Out.From, Why: why})
}

// ContactBack implements gateway.ContactTracker: the mark is cleared, and the
// owner told.
func (s *Service) ContactBack(ctx context.Context, e gateway.ContactEvent) {
	network, from, to := e.Network, e.From, e.To
	rel, d, ok := s.goneRelationship(network, from, to)
	if !ok || rel.Gone == "" {
		return
	}
	from, _ = s.gw.Canonical(network, from)
	s.clearGone(ctx, rel.ID, d, from, "subscribed again")
}

// clearGone clears the gone mark of relationship relID, if it is still
// set, because the contact at from (canonical) did what how says ("wrote again",
// "subscribed again"), and tells the owner d routes to.
func (s *Service) clearGone(ctx context.Context, relID string, d routing.Decision, from, how string) {
	if rel, ok := s.state.Snapshot().Relationship(relID); !ok || rel.Gone == "" {
		return
	}
	contact := from // canonical
	if _, err := s.state.ClearGone(ctx, "contact:"+contact, relID, "the contact "+how); err != nil {
		s.log.Error("could not clear a contact's gone mark", "relationship", relID, "err", err)
		return
	}
	s.queueNotice(ctx, d, contact+" "+how+": they can be reached again, and broadcasts include them again.")
}

// queueNotice queues a notice from the gateway to the owner d routes to.
func (s *Service) queueNotice(ctx context.Context, d routing.Decision, body string) {
	rec := &gateway.Record{
		ReceivedAt: s.gw.Now(), InNetwork: d.Target.Network, InFrom: d.Target.From, InReply: d.Target.From, InTo: d.Target.To,
		RelationshipID: d.RelationshipID, OwnerID: d.OwnerID,
		Out: gateway.Outgoing{Network: d.Target.Network, From: d.Target.From, To: d.Target.To, ID: gateway.NewID(),
			Body: body, Nick: d.Target.Nick, Kind: gateway.KindNotice},
	}
	s.gw.Post(ctx, rec, "a notice")
}
