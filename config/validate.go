package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/kakehashi/kakehashi/identity"
)

// SupportedKinds returns the network kinds Kakehashi can serve.
func SupportedKinds() []string { return []string{KindXMPP} }

// Validate checks c and returns all problems found, joined with errors.Join;
// each is a [KeyError]. It does not fill in defaults: Load does that before
// validating.
func (c *Config) Validate() error {
	var errs []error
	for _, p := range c.problems() {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

// problems collects KeyErrors in a stable order.
type problems []KeyError

func (p *problems) add(key, problem, fix string) {
	*p = append(*p, KeyError{Key: key, Problem: problem, Fix: fix})
}

func (c *Config) problems() []KeyError {
	var p problems
	if strings.TrimSpace(c.DataDir) == "" {
		p.add("data_dir", "empty", "set it to the directory for Kakehashi's state, e.g. ./data, or env "+EnvName("data_dir"))
	}
	if !oneOf(c.Log.Level, "debug", "info", "warn", "error") {
		p.add("log.level", quoteOrEmpty(c.Log.Level)+" is not a log level", "set it to one of: debug, info, warn, error")
	}
	if !oneOf(c.Log.Format, "text", "json") {
		p.add("log.format", quoteOrEmpty(c.Log.Format)+" is not a log format", "set it to text or json")
	}
	c.Admin.problems(&p)
	c.networkProblems(&p)
	c.routingProblems(&p)
	if n := c.Limits.MaxBodyBytes; n < 1 || n > MaxMaxBodyBytes {
		p.add("limits.max_body_bytes", fmt.Sprintf("%d is out of range", n),
			fmt.Sprintf("set it to a number of bytes from 1 to %d (default %d)", MaxMaxBodyBytes, DefaultMaxBodyBytes))
	}
	return p
}

func (a *Admin) problems(p *problems) {
	if a.Listen == "" {
		p.add("admin.listen", "empty", "set it to host:port, e.g. "+DefaultAdminListen)
	} else if host, port, err := net.SplitHostPort(a.Listen); err != nil {
		p.add("admin.listen", strconv.Quote(a.Listen)+" is not host:port", "set it to host:port, e.g. "+DefaultAdminListen)
	} else if !validPort(port, true) {
		p.add("admin.listen", "port "+strconv.Quote(port)+" is not a port number", "use a port from 1 to 65535 (or 0 for any free port), e.g. "+DefaultAdminListen)
	} else if !a.AllowRemote && !isLoopback(host) {
		p.add("admin.listen", strconv.Quote(a.Listen)+" is not a loopback address, so the admin API would be reachable from the network",
			"listen on 127.0.0.1, ::1 or localhost, or set admin.allow_remote: true if something else protects it")
	}
	switch tok := a.Token.Reveal(); {
	case tok == "":
		p.add("admin.token", "empty", "set it, or admin.token_file, or env "+EnvName("admin.token"))
	case len(tok) < MinAdminTokenLen:
		p.add("admin.token", fmt.Sprintf("too short (%d characters)", len(tok)),
			fmt.Sprintf("use at least %d random characters, e.g. from `openssl rand -hex 24`", MinAdminTokenLen))
	}
}

func (c *Config) networkProblems(p *problems) {
	names := sortedKeys(c.Networks)
	var inside, outside int
	domains := map[string]string{} // component domain -> network
	homes := map[string]string{}   // home domain -> inside network
	for _, name := range names {
		key := "networks." + name
		n := c.Networks[name]
		if !validName(name) {
			p.add(key, "invalid network name", "use lower-case letters, digits and '-', starting with a letter or digit, at most 63 characters")
		}
		if n == nil {
			p.add(key, "empty", "give it side, kind and xmpp keys")
			continue
		}
		if n.Name != name {
			p.add(key, fmt.Sprintf("Name is %q but the network's key is %q", n.Name, name), "make them the same")
		}
		switch n.Side {
		case identity.Inside:
			inside++
		case identity.Outside:
			outside++
		default:
			p.add(key+".side", quoteOrEmpty(string(n.Side))+" is not a side",
				"set it to inside (the employees' network) or outside (the outside parties' network)")
		}
		switch {
		case n.Kind == "":
			p.add(key+".kind", "empty", "set it to one of: "+strings.Join(SupportedKinds(), ", "))
		case !oneOf(n.Kind, SupportedKinds()...):
			p.add(key+".kind", strconv.Quote(n.Kind)+" is not a supported kind", "set it to one of: "+strings.Join(SupportedKinds(), ", "))
		}
		if n.XMPP == nil {
			if n.Kind == KindXMPP {
				p.add(key+".xmpp", "missing", "add an xmpp block with domain, server and secret")
			}
			continue
		}
		x := key + ".xmpp"
		if n.Kind != KindXMPP && oneOf(n.Kind, SupportedKinds()...) {
			p.add(x, "set on a network of kind "+n.Kind, "remove it, or set kind: xmpp")
		}
		c.xmppProblems(p, n, x)
		if d := n.XMPP.Domain; d != "" {
			if other, ok := domains[d]; ok {
				p.add(x+".domain", fmt.Sprintf("%s is also the domain of network %s", d, other), "give each network its own component domain")
			} else {
				domains[d] = name
			}
		}
		if n.Side == identity.Inside {
			for _, h := range n.XMPP.HomeDomains {
				if other, ok := homes[h]; ok && other != name {
					p.add(x+".home_domains", fmt.Sprintf("%s is also a home domain of network %s", h, other), "list each home domain on one inside network only")
				} else {
					homes[h] = name
				}
			}
		}
	}
	for _, h := range sortedKeys(homes) {
		name := homes[h]
		if other, ok := domains[h]; ok {
			p.add("networks."+name+".xmpp.home_domains", fmt.Sprintf("%s is also the component domain of network %s", h, other),
				"the component needs a domain of its own, e.g. gw."+h)
		}
	}
	switch {
	case len(c.Networks) == 0:
		p.add("networks", "no networks", "add at least one network with side: inside and one with side: outside")
	case inside == 0:
		p.add("networks", "no inside network", "add a network with side: inside, where the employees are")
	case outside == 0:
		p.add("networks", "no outside network", "add a network with side: outside, where the outside parties are")
	}
}

func (c *Config) xmppProblems(p *problems, n *Network, x string) {
	xm := n.XMPP
	switch {
	case xm.Domain == "":
		p.add(x+".domain", "empty", "set it to the component's domain as configured on the XMPP server, e.g. gw.corp.test")
	case !validDomain(xm.Domain):
		p.add(x+".domain", strconv.Quote(xm.Domain)+" is not a valid domain", "use a lower-case domain name, e.g. gw.corp.test")
	}
	if xm.Server == "" {
		p.add(x+".server", "empty", "set it to host:port of the XMPP server's component port, e.g. 127.0.0.1:5347")
	} else if host, port, err := net.SplitHostPort(xm.Server); err != nil || host == "" || !validPort(port, false) {
		p.add(x+".server", strconv.Quote(xm.Server)+" is not host:port", "set it to host:port of the XMPP server's component port, e.g. 127.0.0.1:5347")
	}
	if xm.Secret == "" {
		p.add(x+".secret", "empty", "set it, or secret_file, or env "+EnvName(x+".secret"))
	}
	if n.Side != identity.Inside {
		if len(xm.HomeDomains) > 0 {
			p.add(x+".home_domains", "set on an outside network", "remove it: home domains belong to inside networks")
		}
		if xm.ProxyFor != "" {
			p.add(x+".proxy_for", "set on an outside network", "remove it: only inside networks proxy to an outside one")
		}
		return
	}
	if len(xm.HomeDomains) == 0 {
		p.add(x+".home_domains", "empty", "list the inside users' domains, e.g. [corp.test]")
	}
	for i, h := range xm.HomeDomains {
		if !validDomain(h) {
			p.add(fmt.Sprintf("%s.home_domains[%d]", x, i), quoteOrEmpty(h)+" is not a valid domain", "use a lower-case domain name, e.g. corp.test")
		}
	}
	targets := c.outsideXMPP()
	switch {
	case xm.ProxyFor == "" && len(targets) > 1:
		p.add(x+".proxy_for", "empty, and there are several outside xmpp networks: "+strings.Join(targets, ", "),
			"set it to the one proxy addresses should lead to")
	case xm.ProxyFor == "" && len(targets) == 0:
		p.add(x+".proxy_for", "empty, and there is no outside xmpp network to proxy for", "add a network with side: outside and kind: xmpp")
	case xm.ProxyFor == "":
		p.add(x+".proxy_for", "empty", "set it to "+targets[0])
	default:
		t, ok := c.Networks[xm.ProxyFor]
		switch {
		case !ok || t == nil:
			p.add(x+".proxy_for", "there is no network "+strconv.Quote(xm.ProxyFor), choices(targets))
		case t.Side != identity.Outside:
			p.add(x+".proxy_for", xm.ProxyFor+" is not an outside network", choices(targets))
		case t.Kind != KindXMPP:
			p.add(x+".proxy_for", xm.ProxyFor+" is not an xmpp network", choices(targets))
		}
	}
}

func choices(targets []string) string {
	if len(targets) == 0 {
		return "add a network with side: outside and kind: xmpp"
	}
	return "set it to one of: " + strings.Join(targets, ", ")
}

func (c *Config) routingProblems(p *problems) {
	r := c.Routing
	if r.FallbackEmployee == "" && r.FallbackAddress == "" {
		p.add("routing", "no fallback: messages that no one owns would be routed to nobody",
			"set routing.fallback_employee to an employee ID, or routing.fallback_address to an inside address, or both")
	}
	if r.FallbackEmployee != "" && strings.ContainsFunc(r.FallbackEmployee, isSpace) {
		p.add("routing.fallback_employee", strconv.Quote(r.FallbackEmployee)+" contains white space", "set it to an employee ID")
	}
	if a := r.FallbackAddress; a != "" {
		at := strings.LastIndexByte(a, '@')
		if at <= 0 || strings.ContainsFunc(a, isSpace) || strings.ContainsRune(a, '/') || !validDomain(a[at+1:]) {
			p.add("routing.fallback_address", strconv.Quote(a)+" is not an address", "set it to an inside address, e.g. desk@corp.test")
			return
		}
		domain := a[at+1:]
		var homes []string
		for _, n := range c.Inside() {
			if n.XMPP != nil {
				homes = append(homes, n.XMPP.HomeDomains...)
			}
		}
		if len(homes) > 0 && !oneOf(domain, homes...) {
			p.add("routing.fallback_address", domain+" is not a home domain of an inside network",
				"use an address in one of: "+strings.Join(homes, ", "))
		}
	}
}

func oneOf(s string, set ...string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

func quoteOrEmpty(s string) string {
	if s == "" {
		return "empty value"
	}
	return strconv.Quote(s)
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validPort(port string, zeroOK bool) bool {
	n, err := strconv.Atoi(port)
	if err != nil || n > 65535 || n < 0 {
		return false
	}
	return n > 0 || zeroOK
}

// validName reports whether name is a valid network name.
func validName(name string) bool {
	if name == "" || len(name) > 63 || name[0] == '-' {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// validDomain reports whether d is a lower-case DNS domain name.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
