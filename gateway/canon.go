package gateway

import (
	"context"
	"strings"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// canonical returns the canonical spelling of the bare address addr on
// network (see routing.Topology.Canonical), or, when it has none, addr
// bare and lower-cased so that routing can still refuse it in its own
// words.
func (g *Gateway) canonical(network, addr string) (string, error) {
	key := network + "\x00" + addr
	g.canonMu.Lock()
	r, ok := g.canon[key]
	g.canonMu.Unlock()
	if ok {
		return r.addr, r.err
	}
	c, err := g.top.Canonical(network, addr)
	if err != nil {
		c = bareLower(addr)
	}
	g.canonMu.Lock()
	if len(g.canon) >= canonCacheSize || g.canon == nil {
		g.canon = make(map[string]canonResult, canonCacheSize)
	}
	g.canon[key] = canonResult{c, err}
	g.canonMu.Unlock()
	return c, err
}

// canonResult is what canonical returned for an address.
type canonResult struct {
	addr string
	err  error
}

// canonCacheSize bounds the addresses canonical remembers: a message's
// sender and recipient are nearly always ones seen moments ago, and
// working a spelling out (PRECIS, IDNA) costs more than routing it. When
// full, it starts again empty. The topology does not change while the
// gateway runs, so a remembered answer stays right.
const canonCacheSize = 4096

// canonicalize gives m's addresses their canonical spelling. An outside
// sender whose address no one can be reached at gets a refusal
// (jid-malformed) naming what is wrong, and starts no relationship.
func (g *Gateway) canonicalize(m *Message) *routing.Refusal {
	var err error
	m.To, _ = g.canonical(m.Network, m.To) // routing refuses a bad one in its own words
	if m.From, err = g.canonical(m.Network, m.From); err != nil {
		return &routing.Refusal{Reason: routing.Unreachable, Text: "your address cannot be written back to: " + err.Error()}
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

// reportOldSpellings looks, once at start, for addresses stored before
// every address had one spelling (bob@ext.test. beside bob@ext.test) and
// says how many there are: they keep the spelling they were stored with,
// so such a contact may be two, until an admin merges them.
func (g *Gateway) reportOldSpellings(ctx context.Context) {
	snap := g.state.Snapshot()
	var n int
	var examples []string
	check := func(a identity.Address) {
		if _, ok := g.top.Networks[a.Network]; !ok || plainSpelling(a.Addr) {
			return
		}
		if c, err := g.top.Canonical(a.Network, a.Addr); err == nil && c == a.Addr {
			return
		}
		n++
		if len(examples) < 5 {
			examples = append(examples, a.Network+":"+a.Addr)
		}
	}
	for c := range snap.EachContact() {
		if ctx.Err() != nil {
			return
		}
		check(c.Address)
	}
	for _, e := range snap.Employees() {
		for _, a := range e.InsideAddrs {
			check(a)
		}
	}
	for _, p := range snap.Personas() {
		for _, a := range p.Addresses {
			check(a)
		}
	}
	if n > 0 {
		g.log.Warn("addresses stored with a spelling other than their canonical one (from before addresses were normalised); each keeps it until merged", "count", n, "examples", strings.Join(examples, ", "))
	}
}

// plainSpelling reports, cheaply, that a stored address is surely
// canonical already: lower-case ASCII letters, digits and ._+-, one @,
// no trailing dot, no IDN. Only the rest is checked in full.
func plainSpelling(a string) bool {
	if a == "" || a[len(a)-1] == '.' || strings.Count(a, "@") != 1 || strings.Contains(a, "xn--") {
		return false
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '+' || c == '-' || c == '@') {
			return false
		}
	}
	return true
}
