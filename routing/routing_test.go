package routing_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

const (
	corp = "corp"
	pub  = "public-xmpp"
)

func topology() *routing.Topology {
	return &routing.Topology{
		Networks: map[string]routing.Network{
			corp: {Name: corp, Side: identity.Inside, Domain: "gw.corp.test", HomeDomains: []string{"corp.test"}, ProxyFor: pub},
			pub:  {Name: pub, Side: identity.Outside, Domain: "contact.acme.test"},
		},
		FallbackEmployee: "desk",
		FallbackAddress:  identity.Address{Network: corp, Addr: "inbox@corp.test"},
		MaxBodyBytes:     100,
	}
}

// world is a small directory: hana and ken with personal personas, desk
// (the fallback) and a shared support persona.
func world(t *testing.T) *identity.State {
	t.Helper()
	ctx := context.Background()
	st, err := identity.Open(ctx, identity.NewMemoryStore(), func() time.Time { return time.Unix(1_800_000_000, 0) })
	if err != nil {
		t.Fatal(err)
	}
	emp := func(id, name, persona string) {
		if err := st.UpsertEmployee(ctx, "test", "setup", identity.Employee{
			ID: id, Name: name, InsideAddrs: []identity.Address{{Network: corp, Addr: id + "@corp.test"}},
			Status: identity.Active, DefaultPersona: persona,
		}); err != nil {
			t.Fatal(err)
		}
	}
	emp("hana", "Hana Sato", "hana.sales")
	emp("ken", "Ken Ito", "ken.sales")
	emp("desk", "Front Desk", "")
	per := func(id, name, owner string, kind identity.PersonaKind, members ...string) {
		if err := st.UpsertPersona(ctx, "test", "setup", identity.Persona{
			ID: id, DisplayName: name, Kind: kind, EmployeeID: owner, Members: members,
			Addresses: []identity.Address{{Network: pub, Addr: id + "@contact.acme.test"}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	per("hana.sales", "ACME Sales · Hana", "hana", identity.Personal)
	per("ken.sales", "ACME Sales · Ken", "ken", identity.Personal)
	per("support", "ACME Support", "ken", identity.Team, "ken", "hana")
	return st
}

func decide(st *identity.State, net, from, to string, body int) routing.Decision {
	return routing.Decide(topology(), st.Snapshot(), routing.Envelope{Network: net, From: from, To: to, BodyBytes: body})
}

// settle applies a proposal the way the gateway does and decides again.
func settle(t *testing.T, st *identity.State, net, from, to string) routing.Decision {
	t.Helper()
	d := decide(st, net, from, to, 5)
	if d.Kind == routing.Propose {
		if _, _, _, err := st.EnsureRelationship(context.Background(), *d.Proposal); err != nil {
			t.Fatal(err)
		}
		d = decide(st, net, from, to, 5)
	}
	return d
}

const bobProxy = `bob\40ext.test@gw.corp.test`

func TestRefusals(t *testing.T) {
	st := world(t)
	if _, err := st.Depart(context.Background(), "test", "left", "ken", "hana"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, net, from, to string
		body                int
		want                routing.Reason
		text                string
	}{
		{"outside sender on the inside component", corp, "bob@ext.test", bobProxy, 5, routing.NotAllowed, "only employees"},
		{"unknown inside account", corp, "mallory@corp.test", bobProxy, 5, routing.NotAllowed, "only employees"},
		{"departed employee", corp, "ken@corp.test", bobProxy, 5, routing.NotAllowed, "no longer active"},
		{"inside to inside", corp, "hana@corp.test", `ken\40corp.test@gw.corp.test`, 5, routing.NotAllowed, "never relayed"},
		{"loop through our own persona domain", corp, "hana@corp.test", `x\40contact.acme.test@gw.corp.test`, 5, routing.NotAllowed, "never relayed"},
		{"proxy that names no address", corp, "hana@corp.test", "bob@gw.corp.test", 5, routing.NoSuchAddress, "not name an outside address"},
		{"the component itself", corp, "hana@corp.test", "gw.corp.test", 5, routing.NoSuchAddress, "not a contact address"},
		{"unknown persona", pub, "bob@ext.test", "nobody@contact.acme.test", 5, routing.NoSuchAddress, "no one at"},
		{"outside to outside via a persona from an inside domain", pub, "hana@corp.test", "hana.sales@contact.acme.test", 5, routing.NotAllowed, "not accepted"},
		{"outside to outside via our own domain", pub, "x@gw.corp.test", "hana.sales@contact.acme.test", 5, routing.NotAllowed, "not accepted"},
		{"oversize body", corp, "hana@corp.test", bobProxy, 101, routing.TooLarge, "too long"},
		{"unknown network", "nope", "hana@corp.test", bobProxy, 5, routing.Unavailable, "not configured"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := decide(st, c.net, c.from, c.to, c.body)
			if d.Kind != routing.Refuse {
				t.Fatalf("kind = %v, want a refusal (%+v)", d.Kind, d)
			}
			if d.Refusal.Reason != c.want || !strings.Contains(d.Refusal.Text, c.text) {
				t.Fatalf("refusal = %v, want %s containing %q", d.Refusal, c.want, c.text)
			}
		})
	}
}

func TestOutreachThenReply(t *testing.T) {
	st := world(t)
	d := decide(st, corp, "hana@corp.test", bobProxy, 5)
	if d.Kind != routing.Propose || d.Proposal.OwnerID != "hana" || d.Proposal.PersonaID != "hana.sales" ||
		d.Proposal.Contact != (identity.Address{Network: pub, Addr: "bob@ext.test"}) || d.Proposal.Source != "outreach" {
		t.Fatalf("first message: %+v %+v", d, d.Proposal)
	}
	d = settle(t, st, corp, "hana@corp.test", bobProxy)
	want := routing.Target{Network: pub, From: "hana.sales@contact.acme.test", To: "bob@ext.test", Nick: "ACME Sales · Hana"}
	if d.Kind != routing.Deliver || d.Target != want || d.OwnerID != "hana" {
		t.Fatalf("outward = %+v, want target %+v", d, want)
	}
	d = decide(st, pub, "bob@ext.test", "hana.sales@contact.acme.test", 5)
	want = routing.Target{Network: corp, From: bobProxy, To: "hana@corp.test", Nick: "bob@ext.test"}
	if d.Kind != routing.Deliver || d.Target != want || d.OwnerID != "hana" || d.Fallback {
		t.Fatalf("reply = %+v, want target %+v", d, want)
	}
}

func TestNewInboundContactBelongsToPersonaEmployee(t *testing.T) {
	st := world(t)
	d := decide(st, pub, "carol@ext.test", "hana.sales@contact.acme.test", 5)
	if d.Kind != routing.Propose || d.Proposal.OwnerID != "hana" || d.Proposal.Source != "inbound" {
		t.Fatalf("got %+v", d)
	}
	d = settle(t, st, pub, "carol@ext.test", "ken.sales@contact.acme.test")
	if d.Kind != routing.Deliver || d.Target.To != "ken@corp.test" {
		t.Fatalf("got %+v", d)
	}
}

func TestTransferReroutesAndRehomes(t *testing.T) {
	st := world(t)
	settle(t, st, corp, "hana@corp.test", bobProxy)
	if _, err := st.Transfer(context.Background(), identity.TransferRequest{Actor: "test", Reason: "rotation", From: "hana", To: "ken"}); err != nil {
		t.Fatal(err)
	}
	// bob still writes to Hana's persona address: it reaches Ken.
	d := decide(st, pub, "bob@ext.test", "hana.sales@contact.acme.test", 5)
	if d.Kind != routing.Deliver || d.Target.To != "ken@corp.test" || d.OwnerID != "ken" {
		t.Fatalf("after transfer: %+v", d)
	}
	// Ken writes as his own persona.
	d = decide(st, corp, "ken@corp.test", bobProxy, 5)
	if d.Kind != routing.Deliver || d.Target.From != "ken.sales@contact.acme.test" || d.Target.Nick != "ACME Sales · Ken" {
		t.Fatalf("ken outward: %+v", d)
	}
	// Hana can no longer write to bob.
	d = decide(st, corp, "hana@corp.test", bobProxy, 5)
	if d.Kind != routing.Refuse || d.Refusal.Reason != routing.NotAllowed || !strings.Contains(d.Refusal.Text, "Ken Ito") {
		t.Fatalf("hana after transfer: %+v %v", d, d.Refusal)
	}
}

func TestTeamPersonaKeepsPersonaOnTransfer(t *testing.T) {
	st := world(t)
	d := settle(t, st, pub, "dave@ext.test", "support@contact.acme.test")
	if d.Kind != routing.Deliver || d.Target.To != "ken@corp.test" {
		t.Fatalf("team inbound: %+v", d)
	}
	if _, err := st.Transfer(context.Background(), identity.TransferRequest{Actor: "test", Reason: "cover", From: "ken", To: "hana"}); err != nil {
		t.Fatal(err)
	}
	d = decide(st, corp, "hana@corp.test", `dave\40ext.test@gw.corp.test`, 5)
	if d.Kind != routing.Deliver || d.Target.From != "support@contact.acme.test" || d.Target.Nick != "ACME Support" {
		t.Fatalf("team persona after transfer: %+v", d)
	}
}

func TestDepartureAndFallback(t *testing.T) {
	ctx := context.Background()
	st := world(t)
	settle(t, st, corp, "hana@corp.test", bobProxy)
	if _, err := st.Depart(ctx, "test", "left", "hana", ""); err != nil {
		t.Fatal(err)
	}
	d := decide(st, pub, "bob@ext.test", "hana.sales@contact.acme.test", 5)
	if d.Kind != routing.Deliver || !d.Fallback || d.Target.To != "desk@corp.test" {
		t.Fatalf("pool → fallback employee: %+v", d)
	}
	if _, err := st.Depart(ctx, "test", "left", "desk", ""); err != nil {
		t.Fatal(err)
	}
	d = decide(st, pub, "bob@ext.test", "hana.sales@contact.acme.test", 5)
	if d.Kind != routing.Deliver || !d.Fallback || d.Target.To != "inbox@corp.test" || d.OwnerID != "" {
		t.Fatalf("fallback employee gone → fallback address: %+v", d)
	}
	// A new contact writing to a departed employee's persona with a
	// successor chain reaches the active successor.
	if _, err := st.Depart(ctx, "test", "left", "ken", ""); err != nil {
		t.Fatal(err)
	}
	if err := st.Reactivate(ctx, "test", "back", "hana"); err != nil {
		t.Fatal(err)
	}
	st2 := world(t)
	if _, err := st2.Depart(ctx, "test", "left", "hana", "ken"); err != nil {
		t.Fatal(err)
	}
	d = decide(st2, pub, "erin@ext.test", "hana.sales@contact.acme.test", 5)
	if d.Kind != routing.Propose || d.Proposal.OwnerID != "ken" {
		t.Fatalf("new contact to departed persona: %+v", d)
	}
}

func TestProxyAddress(t *testing.T) {
	cases := map[string]string{
		"bob@ext.test":        `bob\40ext.test@gw.corp.test`,
		"o'brien@ext.test":    `o\27brien\40ext.test@gw.corp.test`,
		`back\slash@ext.test`: `back\slash\40ext.test@gw.corp.test`,
	}
	for in, want := range cases {
		if got := routing.ProxyAddress(in, "gw.corp.test"); got != want {
			t.Errorf("ProxyAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	cases := map[string]string{
		"bob@ext.test":        `bob\40ext.test`,
		"a b\"&'/:<>@c":       `a\20b\22\26\27\2f\3a\3c\3e\40c`,
		`plain\backslash`:     `plain\backslash`,
		`looks\40like@escape`: `looks\5c40like\40escape`,
		"山田@example.jp":       `山田\40example.jp`,
	}
	for in, want := range cases {
		if got := routing.EscapeLocal(in); got != want {
			t.Errorf("EscapeLocal(%q) = %q, want %q", in, got, want)
		}
		if got := routing.UnescapeLocal(want); got != in {
			t.Errorf("UnescapeLocal(%q) = %q, want %q", want, got, in)
		}
	}
}

func FuzzEscapeRoundTrip(f *testing.F) {
	for _, s := range []string{"bob@ext.test", `a\40b`, `\5c`, "x y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := routing.UnescapeLocal(routing.EscapeLocal(s)); got != s {
			t.Fatalf("round trip of %q gave %q", s, got)
		}
	})
}

// TestParseProxyAgreesWithDecide: what Profile answers for is exactly
// what an employee may write to.
func TestParseProxyAgreesWithDecide(t *testing.T) {
	top := topology()
	net := top.Networks[corp]
	for _, tt := range []struct {
		addr string
		want identity.Address
		ok   bool
	}{
		{`bob\40ext.test@gw.corp.test`, identity.Address{Network: pub, Addr: "bob@ext.test"}, true},
		{`Bob\40Ext.test@gw.corp.test`, identity.Address{Network: pub, Addr: "bob@ext.test"}, true},
		{`ken\40corp.test@gw.corp.test`, identity.Address{}, false}, // a colleague
		{`bob@gw.corp.test`, identity.Address{}, false},
		{`bob\40ext.test@elsewhere.test`, identity.Address{}, false},
		{`@gw.corp.test`, identity.Address{}, false},
	} {
		got, ok := routing.ParseProxy(top, net, strings.ToLower(tt.addr))
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseProxy(%s) = %+v, %v; want %+v, %v", tt.addr, got, ok, tt.want, tt.ok)
		}
	}
}

// TestParseReason reads every reason back, and the XMPP condition names
// that queues written before Reason existed stored.
func TestParseReason(t *testing.T) {
	for in, want := range map[string]routing.Reason{
		"no-such-address":       routing.NoSuchAddress,
		"not-allowed":           routing.NotAllowed,
		"too-large":             routing.TooLarge,
		"unavailable":           routing.Unavailable,
		"unreachable":           routing.Unreachable,
		"gateway-failure":       routing.GatewayFailure,
		"item-not-found":        routing.NoSuchAddress,
		"forbidden":             routing.NotAllowed,
		"not-acceptable":        routing.TooLarge,
		"service-unavailable":   routing.Unavailable,
		"jid-malformed":         routing.Unreachable,
		"internal-server-error": routing.GatewayFailure,
		"":                      routing.Unavailable,
		"something-new":         routing.Unavailable,
	} {
		if got := routing.ParseReason(in); got != want {
			t.Errorf("ParseReason(%q) = %q, want %q", in, got, want)
		}
	}
}
