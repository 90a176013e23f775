package gateway

import (
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// canonical returns the canonical spelling of the bare address addr on
// network (see routing.Topology.Canonical), or, when it has none, addr
// bare and lower-cased so that routing can still refuse it in its own
// words.
func (g *Gateway) canonical(network, addr string) (string, error) {
	c, err := g.top.Canonical(network, addr)
	if err != nil {
		return bareLower(addr), err
	}
	return c, nil
}

// canonicalize gives m's addresses their canonical spelling. An outside
// sender whose address no one can be reached at gets a refusal
// (jid-malformed) naming what is wrong, and starts no relationship.
func (g *Gateway) canonicalize(m *Message) *routing.Refusal {
	var err error
	m.To, _ = g.canonical(m.Network, m.To) // routing refuses a bad one in its own words
	if m.From, err = g.canonical(m.Network, m.From); err != nil {
		return &routing.Refusal{Condition: routing.JIDMalformed, Text: "your address cannot be written back to: " + err.Error()}
	}
	return nil
}

// canonicalizer is the identity State's Canonicalizer: addresses take the
// spelling their network's protocol gives them. An address on a network
// this configuration does not attach (a directory shared by several
// installations, a network added later) is kept as identity normalised
// it: nothing routes through it here.
func (g *Gateway) canonicalizer(a identity.Address) (identity.Address, error) {
	if _, ok := g.top.Networks[a.Network]; !ok {
		return a, nil
	}
	c, err := g.top.Canonical(a.Network, a.Addr)
	if err != nil {
		return a, err
	}
	return identity.Address{Network: a.Network, Addr: c}, nil
}
