package gateway

import (
	"context"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// Hooks is what the relay path tells the package that acts on contacts
// (outreach: welcomes, contact-gone tracking, broadcasts' progress). The
// gateway calls them on its own goroutines, never while holding a lock;
// each must return quickly and start longer work with Gateway.Go.
//
// A Hooks value may also implement Commander and ContactTracker: the
// gateway offers those to adapters (which find them by type assertion on
// their Core) by forwarding to it.
type Hooks interface {
	// Started is called once Run has replayed the messages pending at the
	// last stop, before the adapters start.
	Started(ctx context.Context)
	// NewContact is called when a contact's message started relationship
	// d, after the message was handed to the queue. m.ReplyTo is vouched
	// for (see Message.ReplyTo).
	NewContact(ctx context.Context, m *Message, d routing.Decision)
	// GoneWrote is called when a contact whose relationship is marked gone
	// wrote again, from its canonical address from.
	GoneWrote(ctx context.Context, rel *identity.Relationship, d routing.Decision, from string)
	// Unreachable is called when the address r was sent to is out of
	// reach, worded as SendError.Gone: a server's bounce or permanent
	// refusal (which also comes for an address that never existed), or,
	// byContact, the contact's own word about r (an unsubscribe from it,
	// which proves the address reached them).
	Unreachable(ctx context.Context, r *Record, why string, byContact bool)
	// Settled is called once the outcome of a broadcast copy r (sent or
	// failed) is stored.
	Settled(ctx context.Context, r *Record)
}

// Attach sets the hooks the gateway calls. Call it before Run.
func (g *Gateway) Attach(h Hooks) { g.hooks = h }

// noHooks is the gateway's hooks until Attach: the relay path alone.
type noHooks struct{}

func (noHooks) Started(context.Context)                                                     {}
func (noHooks) NewContact(context.Context, *Message, routing.Decision)                      {}
func (noHooks) GoneWrote(context.Context, *identity.Relationship, routing.Decision, string) {}
func (noHooks) Unreachable(context.Context, *Record, string, bool)                          {}
func (noHooks) Settled(context.Context, *Record)                                            {}

// Commands implements Commander by forwarding to the hooks.
func (g *Gateway) Commands(network, from string) []Command {
	if c, ok := g.hooks.(Commander); ok {
		return c.Commands(network, from)
	}
	return nil
}

// CommandForm implements Commander by forwarding to the hooks.
func (g *Gateway) CommandForm(ctx context.Context, network, from, node string) (Command, error) {
	if c, ok := g.hooks.(Commander); ok {
		return c.CommandForm(ctx, network, from, node)
	}
	return Command{}, ErrCommandNotFound
}

// RunCommand implements Commander by forwarding to the hooks.
func (g *Gateway) RunCommand(ctx context.Context, network, from, node string, values map[string][]string) (CommandResult, error) {
	if c, ok := g.hooks.(Commander); ok {
		return c.RunCommand(ctx, network, from, node, values)
	}
	return CommandResult{}, ErrCommandNotFound
}

// ContactGone implements ContactTracker by forwarding to the hooks.
func (g *Gateway) ContactGone(ctx context.Context, e ContactEvent) {
	if t, ok := g.hooks.(ContactTracker); ok {
		t.ContactGone(ctx, e)
	}
}

// ContactBack implements ContactTracker by forwarding to the hooks.
func (g *Gateway) ContactBack(ctx context.Context, e ContactEvent) {
	if t, ok := g.hooks.(ContactTracker); ok {
		t.ContactBack(ctx, e)
	}
}

// ContactUnreachable implements ContactTracker: the relationship the
// message (its gateway ID on network) went out on is marked gone.
func (g *Gateway) ContactUnreachable(ctx context.Context, network, id, why string) {
	r, err := g.queue.ByOutID(ctx, network, id)
	if err != nil || r == nil {
		g.log.Warn("report about an unknown message", "network", network, "err", err)
		return
	}
	g.hooks.Unreachable(ctx, r, why, true)
}

var (
	_ Commander      = (*Gateway)(nil)
	_ ContactTracker = (*Gateway)(nil)
	_ Insider        = (*Gateway)(nil)
)
