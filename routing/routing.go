// Package routing decides where a message goes. Decide is a pure function of
// an identity snapshot, the gateway's topology and a message envelope: no
// network, no clock, no writes. It answers with a delivery, a typed refusal a
// person can read, or a proposal for a relationship the gateway must create
// first (after which it asks again).
package routing

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/kakehashi/kakehashi/address"
	"github.com/kakehashi/kakehashi/identity"
)

// Reader is the part of an identity snapshot routing reads.
// *identity.Snapshot implements it.
type Reader interface {
	Employee(id string) (*identity.Employee, bool)
	EmployeeByInsideAddr(a identity.Address) (*identity.Employee, bool)
	Persona(id string) (*identity.Persona, bool)
	PersonaByAddr(a identity.Address) (*identity.Persona, bool)
	ContactByAddr(a identity.Address) (*identity.Contact, bool)
	RelationshipFor(contactID, personaID string) (*identity.Relationship, bool)
	RelationshipsOfContact(contactID string) []*identity.Relationship
	// For contact points, asked only when a new contact arrives.
	RelationshipsOwnedBy(employeeID string) []*identity.Relationship
	OwnedCount(employeeID string) int
}

// Network is what routing knows of one attached network.
type Network struct {
	Name string
	Side identity.Side
	// Kind is the protocol family of the network's addresses, which
	// decides their canonical spelling (address.XMPP or address.Mail;
	// empty means XMPP).
	Kind address.Kind
	// Domain is the gateway's own domain on this network (the XMPP
	// component's domain): proxy addresses inside, persona addresses outside.
	Domain string
	// HomeDomains are the domains of the inside users (inside networks only).
	HomeDomains []string
	// ProxyFor names the outside network that this inside network's proxy
	// addresses at Domain lead to (inside networks only).
	ProxyFor string
	// Proxies are all proxy domains of an inside network, one per outside
	// network: bob\40mail.test@mail.gw.corp.test leads to the mail network.
	// When empty, Domain leads to ProxyFor.
	Proxies []Proxy
}

// Proxy is one proxy domain of an inside network and the outside network
// its addresses stand for.
type Proxy struct {
	Domain  string
	Outside string
}

// ProxyOutside returns the outside network that proxy addresses at domain
// lead to.
func (n *Network) ProxyOutside(domain string) (string, bool) {
	if len(n.Proxies) == 0 {
		return n.ProxyFor, n.ProxyFor != "" && domain == n.Domain
	}
	for _, p := range n.Proxies {
		if p.Domain == domain {
			return p.Outside, true
		}
	}
	return "", false
}

// ProxyDomain returns the domain of proxy addresses that lead to the
// outside network named outside.
func (n *Network) ProxyDomain(outside string) (string, bool) {
	if len(n.Proxies) == 0 {
		return n.Domain, n.ProxyFor == outside
	}
	for _, p := range n.Proxies {
		if p.Outside == outside {
			return p.Domain, true
		}
	}
	return "", false
}

// Topology is the static shape of the gateway: its networks, where
// ownerless messages go, and limits. Routing derives lookups from it when
// first used (the company's own domains, for one), so a Topology must not
// be changed once it has been passed to Decide or ParseProxy: build a new
// one instead.
type Topology struct {
	Networks map[string]Network
	// FallbackEmployee receives messages of ownerless relationships, if
	// active. FallbackAddress is used otherwise (an inside address).
	FallbackEmployee string
	FallbackAddress  identity.Address
	// MaxBodyBytes bounds a message body; 0 means no limit.
	MaxBodyBytes int
	// Addresses says which otherwise refused outside addresses are
	// accepted (addresses.allow_special).
	Addresses address.Policy

	own ownDomains
}

// ownDomains is the set of the company's domains, as address.DomainKey
// spells them: every network's domain, proxy domains and home domains.
// isOurs asks it for every message, where walking the networks cost a
// decision an eighth of its time.
type ownDomains struct {
	once sync.Once
	keys map[string]struct{}
}

// ownDomains returns the keys of the company's domains, derived from
// t.Networks on first use.
func (t *Topology) ownDomains() map[string]struct{} {
	t.own.once.Do(func() {
		keys := map[string]struct{}{}
		for _, n := range t.Networks {
			keys[address.DomainKey(n.Domain)] = struct{}{}
			for _, p := range n.Proxies {
				keys[address.DomainKey(p.Domain)] = struct{}{}
			}
			for _, h := range n.HomeDomains {
				keys[address.DomainKey(h)] = struct{}{}
			}
		}
		t.own.keys = keys
	})
	return t.own.keys
}

// Canonical returns the one spelling of the bare address addr on network,
// by the rules of the network's protocol, or an error (wrapping
// address.ErrInvalid) saying what is wrong with it. Outside addresses
// are held to the topology's address policy; inside ones, which the
// company's own server vouches for, are not.
func (t *Topology) Canonical(network, addr string) (string, error) {
	n, ok := t.Networks[network]
	if !ok {
		return "", fmt.Errorf("%w: network %q is not configured", address.ErrInvalid, network)
	}
	p := t.Addresses
	if n.Side == identity.Inside {
		p.AllowSpecial = true
	}
	return address.Canonical(n.AddressKind(), addr, p)
}

// AddressKind is the kind of the network's addresses.
func (n *Network) AddressKind() address.Kind {
	if n.Kind == "" {
		return address.XMPP
	}
	return n.Kind
}

// Envelope is what routing needs to know of a message.
type Envelope struct {
	Network   string // network the message arrived on
	From      string // sender's bare address, normalised
	To        string // the gateway address it was sent to, bare, normalised
	BodyBytes int
}

// Kind is the kind of a Decision.
type Kind int

// Decision kinds.
const (
	Deliver Kind = iota + 1 // send Target
	Refuse                  // tell the sender Refusal
	Propose                 // create Proposal, then decide again
)

// Reason says, in the core's own words, why a message is refused. Each
// adapter maps it to its protocol's vocabulary (an XMPP stanza error
// condition, an SMTP reply code), so routing speaks no protocol.
type Reason string

// Refusal reasons.
const (
	// NoSuchAddress: the message is addressed to no one the gateway knows.
	NoSuchAddress Reason = "no-such-address"
	// NotAllowed: the sender may not send this message (not an employee,
	// departed, not their persona, a colleague's contact, inside to inside).
	NotAllowed Reason = "not-allowed"
	// TooLarge: the message is over the configured size limit.
	TooLarge Reason = "too-large"
	// Unavailable: the gateway is not set up to deliver it now (a network
	// or persona missing, nobody to take it); it may work later.
	Unavailable Reason = "unavailable"
	// Unreachable: the address written to names no one who could ever be
	// reached (malformed, a reserved domain); retrying cannot help.
	Unreachable Reason = "unreachable"
	// GatewayFailure: the gateway could not do its part this time (its
	// store failed); the sender may try again.
	GatewayFailure Reason = "gateway-failure"
)

// ParseReason reads a stored reason. Queues written before Reason existed
// stored the XMPP condition name instead; those read as the reason each
// meant. An unknown word reads as Unavailable, the reason that promises
// least.
func ParseReason(s string) Reason {
	switch r := Reason(s); r {
	case NoSuchAddress, NotAllowed, TooLarge, Unavailable, Unreachable, GatewayFailure:
		return r
	}
	switch s {
	case "item-not-found":
		return NoSuchAddress
	case "forbidden":
		return NotAllowed
	case "not-acceptable":
		return TooLarge
	case "jid-malformed":
		return Unreachable
	case "internal-server-error":
		return GatewayFailure
	}
	return Unavailable
}

// Refusal says why a message is not relayed, in words for its sender.
type Refusal struct {
	Reason Reason
	Text   string
}

// Error implements error.
func (r *Refusal) Error() string { return string(r.Reason) + ": " + r.Text }

// Target is where and as whom a message is delivered.
type Target struct {
	Network string
	From    string // the gateway address it comes from: persona or proxy
	To      string
	Nick    string // display name shown for From
}

// Decision is the outcome of Decide.
type Decision struct {
	Kind Kind

	Target         Target
	RelationshipID string
	ContactID      string
	PersonaID      string
	OwnerID        string // empty when delivered to a fallback address
	Fallback       bool   // delivered to the fallback because nobody active owns it

	Refusal *Refusal

	Proposal *identity.NewRelationship
}

func refuse(c Reason, format string, args ...any) Decision {
	return Decision{Kind: Refuse, Refusal: &Refusal{Reason: c, Text: fmt.Sprintf(format, args...)}}
}

// Decide routes one message. It never blocks and never writes.
func Decide(top *Topology, r Reader, env Envelope) Decision {
	net, ok := top.Networks[env.Network]
	if !ok {
		return refuse(Unavailable, "network %q is not configured", env.Network)
	}
	if top.MaxBodyBytes > 0 && env.BodyBytes > top.MaxBodyBytes {
		return refuse(TooLarge, "message too long: %d bytes, the limit is %d", env.BodyBytes, top.MaxBodyBytes)
	}
	if net.Side == identity.Inside {
		return decideOutward(top, net, r, env)
	}
	return decideInward(top, net, r, env)
}

// ParseProxy reads a proxy address on the inside network net: the outside
// contact it stands for. ok is false for every address a message to
// which Decide refuses as naming no outside contact.
func ParseProxy(top *Topology, net Network, addr string) (contact identity.Address, ok bool) {
	c, refusal := proxyContact(top, net, addr)
	return c, refusal == nil
}

// proxyContact reads a proxy address, or says why it names no outside
// contact.
func proxyContact(top *Topology, net Network, to string) (identity.Address, *Decision) {
	no := func(c Reason, format string, a ...any) (identity.Address, *Decision) {
		d := refuse(c, format, a...)
		return identity.Address{}, &d
	}
	local, domain := splitAddr(to)
	outName, isProxy := net.ProxyOutside(domain)
	if !isProxy || local == "" {
		return no(NoSuchAddress, "%s is not a contact address; write to a contact as name\\40their.domain@%s", to, net.Domain)
	}
	out, ok := top.Networks[outName]
	if !ok || out.Side != identity.Outside {
		return no(Unavailable, "no outside network is configured for %s", domain)
	}
	raw := UnescapeLocal(local)
	if !strings.Contains(raw, "@") {
		return no(NoSuchAddress, "%s does not name an outside address (expected user\\40domain@%s)", to, domain)
	}
	// One spelling per contact however it is written: Bob@Ext.Test. and
	// bob@ext.test are one contact, with one owner.
	contactAddr, err := top.Canonical(outName, raw)
	if err != nil {
		return no(Unreachable, "%s: %v", out.Name, err)
	}
	_, cd := splitAddr(contactAddr)
	if isOurs(top, cd) {
		return no(NotAllowed, "%s is inside the company; messages between colleagues are never relayed through the gateway", contactAddr)
	}
	return identity.Address{Network: outName, Addr: contactAddr}, nil
}

// decideOutward handles an employee writing to a contact's proxy address.
func decideOutward(top *Topology, net Network, r Reader, env Envelope) Decision {
	emp, ok := r.EmployeeByInsideAddr(identity.Address{Network: net.Name, Addr: env.From})
	if !ok {
		return refuse(NotAllowed, "only employees can write through this gateway")
	}
	if emp.Status != identity.Active {
		return refuse(NotAllowed, "your account is no longer active, so you can no longer write to outside contacts; your contacts are looked after by a colleague")
	}
	caddr, refusal := proxyContact(top, net, env.To)
	if refusal != nil {
		return *refusal
	}
	out := top.Networks[caddr.Network]
	contactAddr := caddr.Addr
	contact, known := r.ContactByAddr(caddr)
	if known {
		if rel := ownedBy(r, contact.ID, emp.ID, emp.DefaultPersona); rel != nil {
			return deliverOut(out, r, rel, contact)
		}
	}
	if emp.DefaultPersona == "" {
		return refuse(NotAllowed, "you have no outward persona yet; ask an admin to give you one")
	}
	p, ok := r.Persona(emp.DefaultPersona)
	if !ok {
		return refuse(Unavailable, "your persona %q is missing; ask an admin", emp.DefaultPersona)
	}
	if !p.WritableBy(emp.ID) {
		return refuse(NotAllowed, "you may not write as %s", p.DisplayName)
	}
	if _, ok := p.AddressOn(out.Name); !ok {
		return refuse(Unavailable, "your persona %s has no address on %s", p.DisplayName, out.Name)
	}
	if known {
		if rel, ok := r.RelationshipFor(contact.ID, p.ID); ok {
			owner := "the unassigned pool"
			if o, ok := r.Employee(rel.OwnerID); ok {
				owner = fmt.Sprintf("%s (%s)", o.Name, o.ID)
			}
			return refuse(NotAllowed, "%s is now looked after by %s; ask an admin to transfer the contact if you should take it back", contactAddr, owner)
		}
	}
	return Decision{Kind: Propose, Proposal: &identity.NewRelationship{
		Contact: caddr, PersonaID: p.ID, OwnerID: emp.ID, Source: "outreach",
	}}
}

// ownedBy returns the relationship of contactID owned by employeeID,
// preferring the one on the employee's default persona.
func ownedBy(r Reader, contactID, employeeID, preferred string) *identity.Relationship {
	// The usual case, without listing the contact's relationships: the
	// preferred one is the unmerged relationship whose PersonaID is
	// preferred, and routes are unique, so it is the one that reaches
	// preferred if any is.
	if preferred != "" {
		if rel, ok := r.RelationshipFor(contactID, preferred); ok && rel.PersonaID == preferred &&
			rel.OwnerID == employeeID && !merged(rel) {
			return rel
		}
	}
	var found []*identity.Relationship
	for _, rel := range r.RelationshipsOfContact(contactID) {
		if rel.OwnerID == employeeID && !merged(rel) {
			if rel.PersonaID == preferred {
				return rel
			}
			found = append(found, rel)
		}
	}
	if len(found) == 0 {
		return nil
	}
	sort.Slice(found, func(i, j int) bool { return found[i].ID < found[j].ID })
	return found[0]
}

func deliverOut(out Network, r Reader, rel *identity.Relationship, c *identity.Contact) Decision {
	p, ok := r.Persona(rel.PersonaID)
	if !ok {
		return refuse(Unavailable, "persona %q of this relationship is missing; ask an admin", rel.PersonaID)
	}
	from, ok := p.AddressOn(out.Name)
	if !ok {
		return refuse(Unavailable, "persona %s has no address on %s", p.DisplayName, out.Name)
	}
	return Decision{
		Kind:           Deliver,
		Target:         Target{Network: out.Name, From: from, To: c.Address.Addr, Nick: p.DisplayName},
		RelationshipID: rel.ID, ContactID: c.ID, PersonaID: p.ID, OwnerID: rel.OwnerID,
	}
}

// decideInward handles an outside contact writing to a persona address.
func decideInward(top *Topology, net Network, r Reader, env Envelope) Decision {
	p, source, ok := PersonaAt(r, net.Name, env.To)
	if !ok {
		return refuse(NoSuchAddress, "there is no one at %s", env.To)
	}
	_, fromDomain := splitAddr(env.From)
	if fromDomain == "" || isOurs(top, fromDomain) {
		return refuse(NotAllowed, "messages from %s are not accepted here", env.From)
	}
	caddr := identity.Address{Network: net.Name, Addr: env.From}
	c, known := r.ContactByAddr(caddr)
	if known {
		if rel, ok := r.RelationshipFor(c.ID, p.ID); ok {
			return deliverIn(top, r, rel, c)
		}
	}
	if source == "" {
		source = "inbound"
	}
	return Decision{Kind: Propose, Proposal: &identity.NewRelationship{
		Contact: caddr, PersonaID: p.ID, OwnerID: newOwner(r, p), Source: source,
	}}
}

// PersonaAt finds the persona at a gateway address on an outside network.
// An address with a source tag, sales+expo2026@contact.acme.test, is the
// persona at sales@contact.acme.test, and source is the tag (recorded on a
// new contact, like a campaign code).
func PersonaAt(r Reader, network, addr string) (p *identity.Persona, source string, ok bool) {
	if p, ok := r.PersonaByAddr(identity.Address{Network: network, Addr: addr}); ok {
		return p, "", true
	}
	base, tag, found := SplitSource(addr)
	if !found {
		return nil, "", false
	}
	p, ok = r.PersonaByAddr(identity.Address{Network: network, Addr: base})
	return p, tag, ok
}

// SplitSource splits an address with a source tag,
// sales+expo2026@contact.acme.test, into the address without it and the
// tag; found is false when addr has no valid tag.
func SplitSource(addr string) (base, tag string, found bool) {
	local, domain := splitAddr(addr)
	b, tag, found := strings.Cut(local, "+")
	if !found || b == "" || !validSource(tag) {
		return addr, "", false
	}
	return b + "@" + domain, tag, true
}

// validSource reports whether tag is a usable source tag: 1 to 64 of
// a-z, 0-9, '-', '_' and '.'.
func validSource(tag string) bool {
	if tag == "" || len(tag) > 64 {
		return false
	}
	for _, c := range tag {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// newOwner picks the owner of a relationship a new contact starts by writing
// to p: the persona's employee, or their successor if they departed, or
// nobody (the unassigned pool, served by the fallback).
func newOwner(r Reader, p *identity.Persona) string {
	if p.Kind == identity.Team && p.Assign != "" {
		if id := assign(r, p); id != "" {
			return id
		}
	}
	id := p.EmployeeID
	for hops := 0; id != "" && hops < 16; hops++ {
		e, ok := r.Employee(id)
		if !ok {
			return ""
		}
		if e.Status == identity.Active {
			return e.ID
		}
		id = e.SuccessorID
	}
	return ""
}

// assign picks the member of contact point p who gets a new contact: the
// active member with the fewest relationships on p (round robin) or
// overall (least loaded), the first in Members order on a tie. "" when no
// member is active.
func assign(r Reader, p *identity.Persona) string {
	best, bestLoad := "", 0
	for _, m := range p.Members {
		e, ok := r.Employee(m)
		if !ok || e.Status != identity.Active {
			continue
		}
		var load int
		switch p.Assign {
		case identity.AssignLeastLoaded:
			load = r.OwnedCount(m)
		default:
			for _, rel := range r.RelationshipsOwnedBy(m) {
				if rel.PersonaID == p.ID && rel.MergedInto == "" {
					load++
				}
			}
		}
		if best == "" || load < bestLoad {
			best, bestLoad = m, load
		}
	}
	return best
}

func deliverIn(top *Topology, r Reader, rel *identity.Relationship, c *identity.Contact) Decision {
	d := Decision{Kind: Deliver, RelationshipID: rel.ID, ContactID: c.ID, PersonaID: rel.PersonaID}
	var to identity.Address
	if e, ok := r.Employee(rel.OwnerID); ok && e.Status == identity.Active && len(e.InsideAddrs) > 0 {
		d.OwnerID, to = e.ID, e.InsideAddrs[0]
	} else {
		d.Fallback = true
		if e, ok := r.Employee(top.FallbackEmployee); ok && e.Status == identity.Active && len(e.InsideAddrs) > 0 {
			d.OwnerID, to = e.ID, e.InsideAddrs[0]
		} else if top.FallbackAddress.Addr != "" {
			to = top.FallbackAddress
		} else {
			return refuse(Unavailable, "nobody can take your message right now; please try again later")
		}
	}
	in, ok := top.Networks[to.Network]
	if !ok || in.Side != identity.Inside {
		return refuse(Unavailable, "nobody can take your message right now; please try again later")
	}
	proxy, ok := in.ProxyDomain(c.Address.Network)
	if !ok {
		return refuse(Unavailable, "nobody can take your message right now; please try again later")
	}
	nick := c.DisplayName
	if nick == "" {
		nick = c.Address.Addr
	}
	d.Target = Target{Network: in.Name, From: ProxyAddress(c.Address.Addr, proxy), To: to.Addr, Nick: nick}
	return d
}

// ProxyAddress is how an outside address appears inside: its XEP-0106
// escaped form as the local part at the inside component's domain, e.g.
// bob@ext.test → bob\40ext.test@gw.corp.test.
func ProxyAddress(outside, domain string) string {
	var b strings.Builder
	b.Grow(len(outside) + len(domain) + 9)
	escapeTo(&b, outside)
	b.WriteByte('@')
	b.WriteString(domain)
	return b.String()
}

func merged(rel *identity.Relationship) bool { return rel.MergedInto != "" }

// isOurs reports whether domain belongs to the company: an inside home
// domain or one of the gateway's own domains.
func isOurs(top *Topology, domain string) bool {
	// XMPP spells an IDN domain in U-labels, mail in A-labels, and the
	// configuration either: compare them in one form.
	_, ok := top.ownDomains()[address.DomainKey(domain)]
	return ok
}

// splitAddr splits a bare address into local part and domain.
func splitAddr(a string) (local, domain string) {
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return "", a
	}
	return a[:i], a[i+1:]
}
