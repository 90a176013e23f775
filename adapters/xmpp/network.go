package xmpp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/kakehashi/kakehashi/gateway"
)

// Network attaches one network to the gateway through one or more
// component connections. An inside network needs one component per outside
// network it proxies for (gw.corp.test for XMPP contacts, mail.gw.corp.test
// for mail contacts), because a component connection serves one domain.
type Network struct {
	name  string
	comps map[string]*Component // by domain
}

// NewNetwork builds the adapter for a network from one Config per
// component domain. All configs must name the same network.
func NewNetwork(cfgs ...Config) (*Network, error) {
	if len(cfgs) == 0 {
		return nil, errors.New("xmpp: a network needs at least one component")
	}
	n := &Network{name: cfgs[0].Network, comps: map[string]*Component{}}
	hosts := &hostSet{} // a file uploaded through one component is fetched through any
	for _, cfg := range cfgs {
		if cfg.Network != n.name {
			return nil, fmt.Errorf("xmpp: component %s belongs to network %s, not %s", cfg.Domain, cfg.Network, n.name)
		}
		c, err := New(cfg)
		if err != nil {
			return nil, err
		}
		d := strings.ToLower(cfg.Domain)
		if _, dup := n.comps[d]; dup {
			return nil, fmt.Errorf("xmpp %s: component domain %s given twice", n.name, d)
		}
		c.hosts = hosts
		n.comps[d] = c
	}
	return n, nil
}

// Network implements gateway.Adapter.
func (n *Network) Network() string { return n.name }

// Run implements gateway.Adapter: every component connects and reconnects
// on its own until ctx ends.
func (n *Network) Run(ctx context.Context, core gateway.Core) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(n.comps))
	for _, c := range n.comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Run(ctx, core); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// Send implements gateway.Adapter: the component whose domain the message
// comes from sends it.
func (n *Network) Send(ctx context.Context, out *gateway.Outgoing) error {
	_, domain, _ := strings.Cut(bareDomain(out.From), "@")
	c, ok := n.comps[domain]
	if !ok {
		return gateway.Permanent(fmt.Errorf("no component for %s on network %s", out.From, n.name))
	}
	return c.Send(ctx, out)
}

// WireFirst implements gateway.WireFirst: the component protocol
// acknowledges nothing, so a message is written before its commit
// rather than marked sent after it (see the README's durability
// contract).
func (n *Network) WireFirst() bool { return true }

// Connected reports whether every component is connected.
func (n *Network) Connected() bool {
	for _, c := range n.comps {
		if !c.Connected() {
			return false
		}
	}
	return true
}

// bareDomain lower-cases addr and drops a resource.
func bareDomain(addr string) string {
	if i := strings.IndexByte(addr, '/'); i >= 0 {
		addr = addr[:i]
	}
	if !strings.Contains(addr, "@") {
		addr = "@" + addr
	}
	return strings.ToLower(addr)
}
