package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/textclip"
)

// Failed implements Core: a message the gateway sent bounced; tell the
// person who wrote it, once, and mark the contact gone when the address
// is dead.
func (g *Gateway) Failed(ctx context.Context, b Bounce) {
	network, id, reason, gone := b.Network, b.ID, b.Reason, b.Gone
	// Bounces are handled concurrently (off the adapters' read loops): two
	// for one message (its author's server and the contact's, a resend)
	// are taken one after the other, so that the second sees the first's
	// mark and tells nobody again.
	key := network + "\x00" + id
	for !g.bouncing.Claim(key) {
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return
		}
	}
	defer g.bouncing.Release(key)
	r, err := g.queue.ByOutID(ctx, network, id)
	if err != nil || r == nil {
		g.log.Warn("bounce for an unknown message", "network", network, "err", err)
		return
	}
	if r.State != StateFailed { // a second bounce for it tells nobody again
		committed := make(chan error, 1)
		g.queue.MarkThen(ctx, r.Seq, StateFailed, reason, func(err error) { committed <- err })
		select { // the mark is read by the next bounce for this message
		case <-committed:
		case <-time.After(5 * time.Second): // the store is failing; the mark is retried
		}
		g.fail(ctx, r, reason, false)
	}
	if gone != "" {
		g.hooks.Unreachable(ctx, r, gone, false)
	}
}

// fail tells the original sender of r that it could not be delivered
// (or, uncertain, that it may not have been).
func (g *Gateway) fail(ctx context.Context, r *Record, reason string, uncertain bool) {
	g.metrics.failed.WithLabelValues(r.Out.Network).Inc()
	if r.Out.Subscribe && r.RelationshipID != "" {
		// The relationship's subscription request went with r, or was to:
		// the next message to the contact asks again.
		g.resubscribe.Store(r.RelationshipID, true)
	}
	if r.Out.Kind != KindRelayed {
		// Never answer an answer; what the gateway writes on a persona's
		// behalf has no author to tell, and a broadcast's author gets its
		// report instead.
		return
	}
	if r.InReply == "" {
		return // its author is not vouched for (see Message.ReplyTo)
	}
	could := "could not be delivered"
	if uncertain {
		could = "may not have been delivered"
	}
	body := fmt.Sprintf("Your message to %s %s (%s): %q", r.Out.To, could, reason, textclip.Clip(r.Out.Body, 200))
	if g.top.Networks[r.InNetwork].Side == identity.Outside {
		// The reason comes from the inside (an inside server's error text
		// may name people or hosts): an outside sender gets no detail.
		body = fmt.Sprintf("Your message %s; please try again later: %q", could, textclip.Clip(r.Out.Body, 200))
	}
	notice := &Record{
		ReceivedAt: g.now(), InNetwork: r.InNetwork, InFrom: r.InFrom, InReply: r.InReply, InTo: r.InTo,
		Out: Outgoing{Network: r.InNetwork, From: r.InTo, To: r.InReply, ID: NewID(), Kind: KindNotice, Body: body},
	}
	g.Post(ctx, notice, "a failure notice")
}

// failureReason words a send failure for the person who wrote the
// message. Only inside senders see it (fail gives outside senders no
// detail), and what it carries came from the outside network's server.
func failureReason(p *SendError) string {
	if p.Err == nil {
		return "the network refused it"
	}
	return textclip.Clip(p.Err.Error(), 300)
}
