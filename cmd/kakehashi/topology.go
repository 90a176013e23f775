package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kakehashi/kakehashi/address"
	"github.com/kakehashi/kakehashi/config"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// topologyFromConfig derives routing's view of the networks from a
// validated configuration.
func topologyFromConfig(c *config.Config) (*routing.Topology, error) {
	top := &routing.Topology{
		Networks:         map[string]routing.Network{},
		FallbackEmployee: c.Routing.FallbackEmployee,
		MaxBodyBytes:     c.Limits.MaxBodyBytes,
		Addresses:        address.Policy{AllowSpecial: c.Routing.AllowSpecialAddresses},
	}
	for name, n := range c.Networks {
		rn := routing.Network{Name: name, Side: n.Side, Kind: address.XMPP}
		switch {
		case n.XMPP != nil:
			rn.Domain = domainOf(n.XMPP.Domain)
			rn.ProxyFor = n.XMPP.ProxyFor
			for _, h := range n.XMPP.HomeDomains {
				rn.HomeDomains = append(rn.HomeDomains, domainOf(h))
			}
			if n.Side == identity.Inside {
				proxies := n.XMPP.Proxies()
				for _, out := range slices.Sorted(maps.Keys(proxies)) {
					rn.Proxies = append(rn.Proxies, routing.Proxy{Domain: domainOf(proxies[out]), Outside: out})
				}
			}
		case n.Mail != nil:
			rn.Domain = domainOf(n.Mail.Domain)
			rn.Kind = address.Mail
		}
		top.Networks[name] = rn
	}
	if a := strings.TrimSpace(c.Routing.FallbackAddress); a != "" {
		canon, err := address.Canonical(address.XMPP, a, address.Policy{AllowSpecial: true})
		if err != nil {
			return nil, fmt.Errorf("routing.fallback_address: %w", err)
		}
		a = canon
		_, domain, _ := strings.Cut(a, "@")
		for _, n := range top.Networks {
			if n.Side != identity.Inside {
				continue
			}
			for _, h := range n.HomeDomains {
				if h == domain {
					top.FallbackAddress = identity.Address{Network: n.Name, Addr: a}
				}
			}
		}
		if top.FallbackAddress.Addr == "" {
			return nil, fmt.Errorf("routing.fallback_address: %q is not on any inside network's home_domains; use an inside address", a)
		}
	}
	return top, nil
}

// domainOf is a configured domain as addresses spell it: lower case,
// without a trailing dot.
func domainOf(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}
