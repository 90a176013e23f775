package gateway

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// goneRelationship finds the relationship between the contact at from and
// the persona at to, and the decision that routes the contact's messages
// to its owner.
func (g *Gateway) goneRelationship(network, from, to string) (*identity.Relationship, routing.Decision, bool) {
	from, _ = g.canonical(network, from)
	to, _ = g.canonical(network, to)
	snap := g.state.Snapshot()
	d := routing.Decide(g.top, snap, routing.Envelope{Network: network, From: from, To: to})
	if d.Kind != routing.Deliver {
		return nil, d, false
	}
	rel, ok := snap.Relationship(d.RelationshipID)
	return rel, d, ok
}

// ContactGone implements ContactTracker: the relationship is marked (so
// people see it and broadcasts skip it) and its owner is told, from the
// contact's proxy address.
func (g *Gateway) ContactGone(ctx context.Context, network, from, to, why string) {
	rel, d, ok := g.goneRelationship(network, from, to)
	if !ok || rel.Gone != "" {
		return
	}
	contact, _ := g.canonical(network, from)
	if _, err := g.state.SetGone(ctx, "contact:"+contact, rel.ID, why); err != nil {
		g.log.Error("could not mark a contact gone", "relationship", rel.ID, "err", err)
		return
	}
	g.log.Info("contact gone", "network", network, "relationship", rel.ID, "why", why)
	body := fmt.Sprintf("%s %s. Your messages may no longer reach them, and broadcasts will skip them until they come back.", contact, why)
	g.queueNotice(ctx, d, body)
}

// ContactUnreachable implements ContactTracker: the relationship the
// message went out on is marked gone, as by ContactGone.
func (g *Gateway) ContactUnreachable(ctx context.Context, network, id, why string) {
	r, err := g.queue.ByOutID(ctx, network, id)
	if err != nil || r == nil {
		g.log.Warn("report about an unknown message", "network", network, "err", err)
		return
	}
	g.unreachable(ctx, r, why)
}

// unreachable marks the relationship r went out on gone, when it ever
// worked. A bounce from an address the contact never wrote from says the
// address is wrong (a typo, an account that never existed: XMPP servers
// answer both with service-unavailable, as they do a block), not that
// someone who was there has left; its author is told by the failure
// notice, and the relationship is not marked.
func (g *Gateway) unreachable(ctx context.Context, r *Record, why string) {
	if net, ok := g.top.Networks[r.Out.Network]; !ok || net.Side != identity.Outside || r.RelationshipID == "" || r.Out.Refusal != nil || r.Out.Notice {
		return // only a persona's message to a contact has a relationship to mark
	}
	heard, err := g.queue.heardFrom(ctx, r.Out.Network, r.Out.To)
	if err != nil {
		g.log.Warn("could not tell whether a contact ever wrote; not marking it gone", "network", r.Out.Network, "relationship", r.RelationshipID, "err", err)
		return
	}
	if !heard {
		g.log.Info("bounce from an address that never wrote: not marked gone", "network", r.Out.Network, "relationship", r.RelationshipID, "why", why)
		return
	}
	g.ContactGone(ctx, r.Out.Network, r.Out.To, r.Out.From, why)
}

// heardFrom reports whether the queue holds a message from addr on
// network: proof that the address worked. Rows outlive their texts
// (retention blanks only bodies), so the proof lasts.
func (q *Queue) heardFrom(ctx context.Context, network, addr string) (bool, error) {
	var one int
	err := q.ro.QueryRowContext(ctx, `SELECT 1 FROM messages WHERE in_network = ? AND in_from = ? AND in_id <> '' LIMIT 1`, network, addr).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("queue: look for messages from a contact: %w", err)
	}
	return true, nil
}

// ContactBack implements ContactTracker: the mark is cleared, and the
// owner told.
func (g *Gateway) ContactBack(ctx context.Context, network, from, to string) {
	rel, d, ok := g.goneRelationship(network, from, to)
	if !ok || rel.Gone == "" {
		return
	}
	from, _ = g.canonical(network, from)
	g.clearGone(ctx, rel.ID, d, from, "subscribed again")
}

// clearGone clears the gone mark of relationship relID, if it is still
// set, because the contact at from (canonical) did what how says ("wrote again",
// "subscribed again"), and tells the owner d routes to.
func (g *Gateway) clearGone(ctx context.Context, relID string, d routing.Decision, from, how string) {
	if rel, ok := g.state.Snapshot().Relationship(relID); !ok || rel.Gone == "" {
		return
	}
	contact := from // canonical
	if _, err := g.state.ClearGone(ctx, "contact:"+contact, relID, "the contact "+how); err != nil {
		g.log.Error("could not clear a contact's gone mark", "relationship", relID, "err", err)
		return
	}
	g.queueNotice(ctx, d, contact+" "+how+": they can be reached again, and broadcasts include them again.")
}

// claimBack reserves the clearing of relationship relID's gone mark;
// false when it is already under way.
func (g *Gateway) claimBack(relID string) bool { return g.claim(g.backBusy, relID) }

func (g *Gateway) releaseBack(relID string) { g.release(g.backBusy, relID) }

// claim reserves key in set (one of the gateway's busy sets, under
// busyMu); false when it is taken.
func (g *Gateway) claim(set map[string]bool, key string) bool {
	g.busyMu.Lock()
	defer g.busyMu.Unlock()
	if set[key] {
		return false
	}
	set[key] = true
	return true
}

func (g *Gateway) release(set map[string]bool, key string) {
	g.busyMu.Lock()
	delete(set, key)
	g.busyMu.Unlock()
}

// queueNotice queues a notice from the gateway to the owner d routes to.
func (g *Gateway) queueNotice(ctx context.Context, d routing.Decision, body string) {
	rec := &Record{
		ReceivedAt: g.now(), InNetwork: d.Target.Network, InFrom: d.Target.From, InReply: d.Target.From, InTo: d.Target.To,
		RelationshipID: d.RelationshipID, OwnerID: d.OwnerID,
		Out: Outgoing{Network: d.Target.Network, From: d.Target.From, To: d.Target.To, ID: newID(),
			Body: body, Nick: d.Target.Nick, Notice: true},
	}
	g.queueAndSend(ctx, rec, "a notice")
}

var _ ContactTracker = (*Gateway)(nil)
