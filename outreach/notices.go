package outreach

import (
	"context"
	"strings"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// sendWelcome greets a contact who has just written to a persona for the
// first time, with the persona's welcome text, if it has one. It goes
// through the durable queue after the contact's own message.
func (s *Service) sendWelcome(ctx context.Context, m *gateway.Message, d routing.Decision) {
	snap := s.state.Snapshot()
	p, ok := snap.Persona(d.PersonaID)
	if !ok || strings.TrimSpace(p.Welcome) == "" {
		return
	}
	from, ok := p.AddressOn(m.Network)
	if !ok {
		return
	}
	s.postAuto(ctx, autoMessage{kind: gateway.KindWelcome, network: m.Network, from: from, to: m.From,
		nick: p.DisplayName, body: p.Welcome, relID: d.RelationshipID})
}

// autoMessage is a message the gateway writes on a persona's behalf to a
// contact: from the persona's address on the contact's network.
type autoMessage struct {
	kind                          gateway.Kind // KindWelcome or KindHandover
	network, from, to, nick, body string
	relID                         string
}

// postAuto queues m through the durable queue.
func (s *Service) postAuto(ctx context.Context, m autoMessage) bool {
	rec := &gateway.Record{
		ReceivedAt: s.gw.Now(), InNetwork: m.network, InFrom: m.from, InReply: m.from, InTo: m.to,
		RelationshipID: m.relID,
		Out: gateway.Outgoing{Kind: m.kind, Network: m.network, From: m.from, To: m.to, ID: gateway.NewID(),
			Body: m.body, Nick: m.nick},
	}
	return s.gw.Post(ctx, rec, "an automatic message ("+m.kind.String()+")")
}

// defaultHandover is the handover notice of personas without their own.
const defaultHandover = "Hello, this is {persona}. From now on I am looking after you; just reply here as before."

// NotifyHandover tells each contact that t moved to a new owner who they
// are talking to now, from the persona the relationship is on after the
// move, on the contact's own network, through the durable queue. It
// returns how many notices were queued. Relationships sent to the pool,
// merged ones and those whose persona did not change owner get none.
func (s *Service) NotifyHandover(ctx context.Context, t *identity.Transfer) int {
	snap := s.state.Snapshot()
	n := 0
	for _, m := range t.Moves {
		if m.ToOwner == "" || m.ToOwner == m.FromOwner {
			continue
		}
		rel, ok := snap.Relationship(m.RelationshipID)
		if !ok || rel.MergedInto != "" {
			continue
		}
		c, ok := snap.Contact(rel.ContactID)
		if !ok {
			continue
		}
		p, ok := snap.Persona(rel.PersonaID)
		if !ok {
			continue
		}
		from, ok := p.AddressOn(c.Address.Network)
		if !ok {
			continue
		}
		text := p.Handover
		if strings.TrimSpace(text) == "" {
			text = defaultHandover
		}
		text = strings.ReplaceAll(text, "{persona}", p.DisplayName)
		if s.postAuto(ctx, autoMessage{kind: gateway.KindHandover, network: c.Address.Network, from: from,
			to: c.Address.Addr, nick: p.DisplayName, body: text, relID: rel.ID}) {
			n++
		}
	}
	return n
}
