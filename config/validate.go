package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/sqldb"
)

// SupportedKinds returns the network kinds Kakehashi can serve, sorted.
func SupportedKinds() []string { return []string{KindMail, KindXMPP} }

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
	if c.Store != "" {
		if src, err := sqldb.Parse(c.Store.Reveal()); err != nil {
			p.add("store", sqldb.Redact(c.Store.Reveal())+" is not a store", "leave it empty for SQLite files in data_dir, or set a PostgreSQL URL: postgres://user:password@host:5432/database")
		} else if src.Dialect != sqldb.Postgres {
			p.add("store", "only PostgreSQL is configured here", "leave it empty for SQLite files in data_dir, or set a postgres:// URL")
		}
	}
	if c.HA.TTL != 0 && (c.HA.TTL < 200*time.Millisecond || c.HA.TTL > 5*time.Minute) {
		p.add("ha.ttl", c.HA.TTL.String()+" is out of range", "set it from 200ms to 5m (default 2s)")
	}
	if c.HA.Advertise != "" {
		if shown, why := advertiseProblem(c.HA.Advertise); why != "" {
			p.add("ha.advertise", quoteOrEmpty(shown)+" "+why,
				"set it to the URL at which the other instances reach this one's admin API, scheme, host and port only: http://gw-1.corp.test:8765")
		} else if u, _ := url.Parse(c.HA.Advertise); !isLoopback(u.Hostname()) {
			if host, _, err := net.SplitHostPort(c.Admin.Listen); err == nil && isLoopback(host) {
				p.add("ha.advertise", quoteOrEmpty(c.HA.Advertise)+" is reached from other hosts, but admin.listen "+quoteOrEmpty(c.Admin.Listen)+" takes only this host's connections",
					"set admin.listen to an address the other instances reach (and admin.allow_remote: true), or advertise a loopback URL if every instance runs on this host")
			}
		}
	}
	c.Admin.problems(&p)
	c.Console.problems(&p, c.Admin.Listen)
	c.networkProblems(&p)
	c.routingProblems(&p)
	if n := c.Limits.MaxBodyBytes; n < 1 || n > MaxMaxBodyBytes {
		p.add("limits.max_body_bytes", fmt.Sprintf("%d is out of range", n),
			fmt.Sprintf("set it to a number of bytes from 1 to %d (default %d)", MaxMaxBodyBytes, DefaultMaxBodyBytes))
	}
	perDay, perMonth := c.Limits.BroadcastsPerDay, c.Limits.BroadcastsPerMonth
	if perDay < 0 || perDay > MaxBroadcastCap {
		p.add("limits.broadcasts_per_day", fmt.Sprintf("%d is out of range", perDay),
			fmt.Sprintf("set it to how many broadcasts one contact may get in 24 hours, 0 to %d (default %d; 0 turns broadcasts off)", MaxBroadcastCap, DefaultBroadcastsPerDay))
	}
	if perMonth < 0 || perMonth > MaxBroadcastCap {
		p.add("limits.broadcasts_per_month", fmt.Sprintf("%d is out of range", perMonth),
			fmt.Sprintf("set it to how many broadcasts one contact may get in 30 days, 0 to %d (default %d)", MaxBroadcastCap, DefaultBroadcastsPerMonth))
	} else if perDay >= 0 && perDay <= MaxBroadcastCap && perMonth < perDay {
		p.add("limits.broadcasts_per_month", fmt.Sprintf("%d is less than limits.broadcasts_per_day (%d)", perMonth, perDay),
			"raise it to at least limits.broadcasts_per_day, or lower that")
	}
	if n := c.Files.MaxFiles; n < 0 || n > 100 {
		p.add("files.max_files", fmt.Sprintf("%d is out of range", n),
			fmt.Sprintf("set it to how many files one message may carry, 1 to 100 (default %d)", DefaultMaxFiles))
	}
	if n := c.Files.MaxFileBytes; n < 0 || n > 1<<30 {
		p.add("files.max_file_bytes", fmt.Sprintf("%d is out of range", n),
			fmt.Sprintf("set it to the largest file in bytes, 1 to %d (default %d)", 1<<30, DefaultMaxFileBytes))
	}
	if n := c.Files.MaxFilesPerDay; n < 0 {
		p.add("files.max_files_per_day", fmt.Sprintf("%d is out of range", n),
			fmt.Sprintf("set it to how many files one address may send a day, or 0 for no limit (default %d)", DefaultMaxFilesPerDay))
	}
	if n := c.Files.MaxBytesPerDay; n < 0 {
		p.add("files.max_bytes_per_day", fmt.Sprintf("%d is out of range", n),
			fmt.Sprintf("set it to how many bytes of files one address may send a day, or 0 for no limit (default %d)", int64(DefaultMaxBytesPerDay)))
	}
	for i, t := range c.Files.PassThrough {
		if typ, sub, ok := strings.Cut(t, "/"); !ok || typ == "" || sub == "" || strings.ContainsAny(t, " ;") {
			p.add(fmt.Sprintf("files.pass_through[%d]", i), strconv.Quote(t)+" is not a media type",
				"write it as type/subtype or type/*, e.g. video/mp4")
		}
	}
	for i, t := range c.Guard.Terms {
		if strings.TrimSpace(t) == "" {
			p.add(fmt.Sprintf("guard.terms[%d]", i), "empty", "remove it, or write the word to hold messages for")
		}
	}
	for i, d := range c.Guard.InsideDomains {
		if d == "" || strings.ContainsAny(d, " /:@") {
			p.add(fmt.Sprintf("guard.inside_domains[%d]", i), strconv.Quote(d)+" is not a domain name",
				"write a domain name alone, e.g. acme.internal")
		}
	}
	if r := c.Limits.MessageRetention; r < 0 || r > 0 && r < MinMessageRetention {
		p.add("limits.message_retention", r.String()+" is out of range",
			fmt.Sprintf("set it to how long sent and failed messages keep their text, at least %s (default %s), or 0 to keep it forever",
				shortDuration(MinMessageRetention), shortDuration(DefaultMessageRetention)))
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

func (c *Console) problems(p *problems, adminListen string) {
	if c.Listen != "" {
		if host, port, err := net.SplitHostPort(c.Listen); err != nil {
			p.add("console.listen", strconv.Quote(c.Listen)+" is not host:port", "set it to host:port, e.g. 127.0.0.1:8766, or leave it empty to serve the console on admin.listen under /console/")
		} else if !validPort(port, true) {
			p.add("console.listen", "port "+strconv.Quote(port)+" is not a port number", "use a port from 1 to 65535 (or 0 for any free port)")
		} else if !c.AllowRemote && !isLoopback(host) {
			p.add("console.listen", strconv.Quote(c.Listen)+" is not a loopback address, so the console would be reachable from the network",
				"listen on 127.0.0.1, ::1 or localhost behind a TLS reverse proxy, or set console.allow_remote: true")
		} else if c.Listen == adminListen {
			p.add("console.listen", strconv.Quote(c.Listen)+" is admin.listen too", "leave console.listen empty to serve the console on the admin listener, or give it its own port")
		}
	}
	idle, most := c.Sessions()
	if idle < time.Minute || idle > 24*time.Hour {
		p.add("console.session_idle", idle.String()+" is out of range", "set it from 1m to 24h (default 30m)")
	}
	if most < idle || most > 30*24*time.Hour {
		p.add("console.session_max", most.String()+" is out of range", "set it from console.session_idle to 720h (default 12h)")
	}
}

// component is a domain the XMPP server routes to one of Kakehashi's
// component connections.
type component struct {
	network string // the network that owns it
	key     string // the key that sets it
	what    string // what it is, for messages: "the domain of network corp"
	proxy   bool   // a proxy domain (proxy_domains), not an xmpp.domain
}

func (c *Config) networkProblems(p *problems) {
	names := sortedKeys(c.Networks)
	var inside, outside int
	// The XMPP server routes each component domain to one connection, so
	// they must be distinct across the whole config. Mail domains are not
	// components: a mail network may share an xmpp network's domain, so a
	// persona keeps one address on both.
	domains := map[string]component{}
	claim := func(d string, comp component) {
		if d == "" {
			return
		}
		prev, ok := domains[d]
		if !ok {
			domains[d] = comp
			return
		}
		fix := "give each network its own component domain"
		if comp.proxy || prev.proxy {
			fix = "give each component its own domain: each is a connection of its own, with its own Component block on the XMPP server"
		}
		p.add(comp.key, fmt.Sprintf("%s is also %s", d, prev.what), fix)
	}
	// Proxy domains are claimed after every xmpp.domain, so a clash is
	// reported on the proxy domain: the other is the address contacts or
	// employees already know.
	type proxyClaim struct {
		domain string
		comp   component
	}
	var proxies []proxyClaim
	homes := map[string]string{}       // home domain -> inside network
	mailDomains := map[string]string{} // mail domain -> mail network
	for _, name := range names {
		key := "networks." + name
		n := c.Networks[name]
		if !validName(name) {
			p.add(key, "invalid network name", "use lower-case letters, digits and '-', starting with a letter or digit, at most 63 characters")
		}
		if n == nil {
			p.add(key, "empty", "give it side, kind and an xmpp or mail block")
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
		// Check a block when the kind is its own, or unknown (a typo in kind
		// should not hide the block's problems); a block on a network of
		// the other kind is one error, not a list of its contents' errors.
		checkXMPP, checkMail := n.XMPP != nil, n.Mail != nil
		switch n.Kind {
		case KindXMPP:
			if n.XMPP == nil {
				p.add(key+".xmpp", "missing", "add an xmpp block with domain, server and secret")
			}
			if n.Mail != nil {
				p.add(key+".mail", "set on a network of kind xmpp", "remove it, or set kind: mail")
				checkMail = false
			}
		case KindMail:
			if n.Side == identity.Inside {
				p.add(key+".side", "inside, but mail networks are outside networks: employees stay on XMPP",
					"set side: outside for the contacts' mail network, and reach it from the inside network through xmpp.proxy_domains")
			}
			if n.Mail == nil {
				p.add(key+".mail", "missing", "add a mail block with domain, imap and smtp")
			}
			if n.XMPP != nil {
				p.add(key+".xmpp", "set on a network of kind mail", "remove it, or set kind: xmpp")
				checkXMPP = false
			}
		}
		if checkMail {
			mailProblems(p, n, key+".mail")
			if d := n.Mail.Domain; d != "" {
				if other, ok := mailDomains[d]; ok {
					p.add(key+".mail.domain", fmt.Sprintf("%s is also the mail domain of network %s", d, other),
						"give each mail network its own domain, so a persona address belongs to one network")
				} else {
					mailDomains[d] = name
				}
			}
		}
		if !checkXMPP {
			continue
		}
		x := key + ".xmpp"
		c.xmppProblems(p, n, x)
		claim(n.XMPP.Domain, component{network: name, key: x + ".domain", what: "the domain of network " + name})
		if n.Side == identity.Inside {
			for _, o := range sortedKeys(n.XMPP.ProxyDomains) {
				proxies = append(proxies, proxyClaim{n.XMPP.ProxyDomains[o], component{network: name, key: x + ".proxy_domains." + o,
					what: "the proxy domain for " + o + " of network " + name, proxy: true}})
			}
			for _, h := range n.XMPP.HomeDomains {
				if other, ok := homes[h]; ok && other != name {
					p.add(x+".home_domains", fmt.Sprintf("%s is also a home domain of network %s", h, other), "list each home domain on one inside network only")
				} else {
					homes[h] = name
				}
			}
		}
	}
	for _, pc := range proxies {
		claim(pc.domain, pc.comp)
	}
	for _, h := range sortedKeys(homes) {
		name := homes[h]
		comp, ok := domains[h]
		switch {
		case !ok:
		case comp.proxy:
			// The users' own addresses are the fixed point: it is the
			// proxy domain that has to move.
			p.add(comp.key, fmt.Sprintf("%s is also a home domain of network %s", h, name),
				"proxy addresses need a component domain of their own, e.g. "+proxyDomainExample(last(comp.key), c.Networks[comp.network].XMPP))
		default:
			p.add("networks."+name+".xmpp.home_domains", fmt.Sprintf("%s is also the component domain of network %s", h, comp.network),
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
		if xm.ProxyDomains != nil {
			p.add(x+".proxy_domains", "set on an outside network", "remove it: only inside networks proxy to an outside one")
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
	proxyForOK := c.proxyForProblems(p, xm, x)
	c.proxyDomainProblems(p, xm, x, proxyForOK)
}

// proxyForProblems checks proxy_for and reports whether it names an outside
// network.
func (c *Config) proxyForProblems(p *problems, xm *XMPP, x string) bool {
	if xm.ProxyFor == "" {
		xmpp, all := c.proxyForCandidates(xm)
		where := "proxy addresses on " + exampleOr(xm.Domain, "the component domain")
		switch {
		case len(xmpp) > 1:
			p.add(x+".proxy_for", "empty, and there are several outside xmpp networks: "+strings.Join(xmpp, ", "),
				"set it to the one "+where+" should lead to, and give the others proxy_domains")
		case len(xmpp) == 0 && len(all) > 1:
			p.add(x+".proxy_for", "empty, and there are several outside networks: "+strings.Join(all, ", "),
				"set it to the one "+where+" should lead to, and give the others proxy_domains")
		case len(c.Outside()) == 0:
			p.add(x+".proxy_for", "empty, and there is no outside network to proxy for", "add a network with side: outside")
		case len(all) == 0:
			p.add(x+".proxy_for", "empty, and every outside network is in proxy_domains",
				"set it to the outside network "+where+" should lead to, and remove that one from proxy_domains")
		default:
			p.add(x+".proxy_for", "empty", "set it to "+c.proxyForDefault(xm))
		}
		return false
	}
	t, ok := c.Networks[xm.ProxyFor]
	switch {
	case !ok || t == nil:
		p.add(x+".proxy_for", "there is no network "+strconv.Quote(xm.ProxyFor), choices(c.outsideNames()))
	case t.Side != identity.Outside:
		p.add(x+".proxy_for", xm.ProxyFor+" is not an outside network", choices(c.outsideNames()))
	default:
		return true
	}
	return false
}

// proxyDomainProblems checks proxy_domains and that, together with
// proxy_for, it reaches every outside network: an outside network no inside
// network can address would receive mail its contacts can never be answered
// from. Reachability is only checked when proxy_for is sound, as a wrong
// proxy_for would make every other outside network look unreachable.
func (c *Config) proxyDomainProblems(p *problems, xm *XMPP, x string, proxyForOK bool) {
	var others []string // outside networks other than proxy_for
	for _, name := range c.outsideNames() {
		if name != xm.ProxyFor {
			others = append(others, name)
		}
	}
	keyFix := "key each entry by the name of an outside network"
	if len(others) > 0 {
		keyFix += ": " + strings.Join(others, ", ")
	}
	for _, o := range sortedKeys(xm.ProxyDomains) {
		k := x + ".proxy_domains." + o
		t, ok := c.Networks[o]
		switch {
		case !ok || t == nil:
			fix := keyFix
			if sug := closest(o, others); sug != "" {
				fix = "did you mean " + sug + "? " + fix
			}
			p.add(k, "there is no network "+strconv.Quote(o), fix)
		case t.Side != identity.Outside:
			p.add(k, o+" is not an outside network", keyFix)
		case o == xm.ProxyFor:
			p.add(k, o+" is also proxy_for: proxy addresses on "+exampleOr(xm.Domain, "the component domain")+" already lead there",
				"remove this entry, or set proxy_for to another outside network")
		}
		switch d := xm.ProxyDomains[o]; {
		case d == "":
			p.add(k, "empty", "set it to a component domain for "+o+", e.g. "+proxyDomainExample(o, xm))
		case !validDomain(d):
			p.add(k, strconv.Quote(d)+" is not a valid domain", "use a lower-case domain name, e.g. "+proxyDomainExample(o, xm))
		}
	}
	if !proxyForOK {
		return
	}
	for _, o := range others {
		if _, ok := xm.ProxyDomains[o]; ok {
			continue
		}
		d := proxyDomainExample(o, xm)
		p.add(x+".proxy_domains", "no proxy domain for outside network "+o,
			fmt.Sprintf("add %q under it, and a Component %q block on the XMPP server with the same secret", o+": "+d, d))
	}
}

// closest returns the name in names that name is most likely a typo of, or
// "" if none is close.
func closest(name string, names []string) string {
	best, bestDist := "", -1
	for _, n := range names {
		if d := editDistance(name, n); d <= closeEnough(name, n) && (bestDist < 0 || d < bestDist) {
			best, bestDist = n, d
		}
	}
	return best
}

// proxyDomainExample suggests a proxy domain for outside network o: its
// name under the inside network's component domain.
func proxyDomainExample(o string, xm *XMPP) string {
	label := strings.Trim(o, "-")
	if label == "" || !validDomain(label) {
		label = "proxy"
	}
	return label + "." + exampleOr(xm.Domain, "gw.corp.test")
}

// outsideNames returns the names of the outside networks, sorted.
func (c *Config) outsideNames() []string {
	var out []string
	for _, n := range c.Outside() {
		out = append(out, n.Name)
	}
	return out
}

func choices(targets []string) string {
	if len(targets) == 0 {
		return "add a network with side: outside"
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

// advertiseProblem says what is wrong with u as ha.advertise, or "", and
// how to show u in the message (without a password it holds).
func advertiseProblem(u string) (shown, why string) {
	parsed, err := url.Parse(u)
	switch {
	case err != nil:
		return "", "is not a URL"
	case parsed.User != nil:
		return parsed.Redacted(), "holds a user name or password, which would be sent with every forwarded request"
	case parsed.Scheme != "http" && parsed.Scheme != "https":
		return u, "is not an http or https URL"
	case parsed.Host == "" || parsed.Hostname() == "":
		return u, "names no host"
	case parsed.Path != "" && parsed.Path != "/", parsed.RawQuery != "", parsed.Fragment != "":
		return u, "has a path, query or fragment: the admin API's paths are added to it"
	}
	return u, ""
}
