package routing_test

import (
	"context"
	"slices"
	"testing"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

const mailNet = "mail"

// mailTopology adds an outside mail network reached from corp through its
// own proxy domain.
func mailTopology() *routing.Topology {
	top := topology()
	c := top.Networks[corp]
	c.Proxies = []routing.Proxy{{Domain: "gw.corp.test", Outside: pub}, {Domain: "mail.gw.corp.test", Outside: mailNet}}
	top.Networks[corp] = c
	top.Networks[mailNet] = routing.Network{Name: mailNet, Side: identity.Outside, Domain: "contact.acme.test"}
	return top
}

func TestProxyDomainPicksTheOutsideNetwork(t *testing.T) {
	st := world(t)
	ctx := context.Background()
	addMailAddress(t, st)
	top := mailTopology()
	decideMail := func(net, from, to string) routing.Decision {
		d := routing.Decide(top, st.Snapshot(), routing.Envelope{Network: net, From: from, To: to, BodyBytes: 5})
		if d.Kind == routing.Propose {
			if _, _, _, err := st.EnsureRelationship(ctx, *d.Proposal); err != nil {
				t.Fatal(err)
			}
			d = routing.Decide(top, st.Snapshot(), routing.Envelope{Network: net, From: from, To: to, BodyBytes: 5})
		}
		return d
	}

	// The same outside address is two contacts: one per network.
	viaMail := decideMail(corp, "hana@corp.test", `bob\40mail.test@mail.gw.corp.test`)
	if viaMail.Kind != routing.Deliver || viaMail.Target.Network != mailNet || viaMail.Target.To != "bob@mail.test" ||
		viaMail.Target.From != "hana.sales@contact.acme.test" {
		t.Fatalf("via the mail proxy domain: %+v %+v", viaMail, viaMail.Refusal)
	}
	viaXMPP := decideMail(corp, "hana@corp.test", `bob\40mail.test@gw.corp.test`)
	if viaXMPP.Kind != routing.Deliver || viaXMPP.Target.Network != pub {
		t.Fatalf("via the xmpp proxy domain: %+v %+v", viaXMPP, viaXMPP.Refusal)
	}
	if viaMail.ContactID == viaXMPP.ContactID {
		t.Fatal("a mail contact and an xmpp contact with the same address must be two contacts")
	}

	// The mail contact's answer comes from the mail proxy domain.
	back := decideMail(mailNet, "bob@mail.test", "hana.sales@contact.acme.test")
	if back.Kind != routing.Deliver || back.Target.From != `bob\40mail.test@mail.gw.corp.test` || back.Target.To != "hana@corp.test" {
		t.Fatalf("mail reply: %+v %+v", back, back.Refusal)
	}
	// Mail to the gateway from one of its own proxy domains is not relayed.
	if d := decideMail(mailNet, "x@mail.gw.corp.test", "hana.sales@contact.acme.test"); d.Kind != routing.Refuse {
		t.Fatalf("mail from a proxy domain: %+v", d)
	}
	// An unknown domain under the inside network is not a proxy domain.
	if d := decideMail(corp, "hana@corp.test", `bob\40mail.test@other.gw.corp.test`); d.Kind != routing.Refuse || d.Refusal.Reason != routing.NoSuchAddress {
		t.Fatalf("unknown proxy domain: %+v", d)
	}
}

func TestInsideNetworkWithoutProxyForAContactsNetworkRefuses(t *testing.T) {
	st := world(t)
	ctx := context.Background()
	addMailAddress(t, st)
	top := mailTopology()
	c := top.Networks[corp]
	c.Proxies = c.Proxies[:1] // no way back for mail contacts
	top.Networks[corp] = c
	env := routing.Envelope{Network: mailNet, From: "bob@mail.test", To: "hana.sales@contact.acme.test", BodyBytes: 5}
	d := routing.Decide(top, st.Snapshot(), env)
	if d.Kind == routing.Propose {
		if _, _, _, err := st.EnsureRelationship(ctx, *d.Proposal); err != nil {
			t.Fatal(err)
		}
		d = routing.Decide(top, st.Snapshot(), env)
	}
	if d.Kind != routing.Refuse || d.Refusal.Reason != routing.Unavailable {
		t.Fatalf("got %+v", d)
	}
}

// addMailAddress gives hana's persona the same address on the mail network.
func addMailAddress(t *testing.T, st *identity.State) {
	t.Helper()
	p, _ := st.Snapshot().Persona("hana.sales")
	q := *p // snapshot records are shared and must not be changed in place
	q.Addresses = append(slices.Clone(p.Addresses), identity.Address{Network: mailNet, Addr: "hana.sales@contact.acme.test"})
	if err := st.UpsertPersona(context.Background(), "test", "mail address", q); err != nil {
		t.Fatal(err)
	}
}
