package outreach

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/gateway/gatewaytest"
	"github.com/kakehashi/kakehashi/identity"
)

// Helpers shared by gone_test.go, commands_test.go and notices_test.go.

// proxyOf is the address on corp that stands for the outside contact
// addr (user\40domain@gw.corp.test): what hana writes to, and what the
// gateway's notices about that contact come from.
func proxyOf(addr string) string {
	return strings.Replace(addr, "@", `\40`, 1) + "@gw.corp.test"
}

// relFor returns the relationship between the contact at addr on
// public-xmpp and persona, as the state has it now.
func relFor(t *testing.T, g *testWorld, addr, persona string) *identity.Relationship {
	t.Helper()
	snap := g.state.Snapshot()
	c, ok := snap.ContactByAddr(identity.Address{Network: "public-xmpp", Addr: addr})
	if !ok {
		t.Fatalf("no contact %s", addr)
	}
	rel, ok := snap.RelationshipFor(c.ID, persona)
	if !ok {
		t.Fatalf("no relationship of %s with %s", addr, persona)
	}
	return rel
}

// auditOf returns the identity audit entries of action.
func auditOf(t *testing.T, g *testWorld, action string) []identity.AuditEntry {
	t.Helper()
	l, err := g.state.Audit(context.Background(), identity.AuditQuery{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// addColleague adds active employee id at id@corp.test with personal
// persona id.sales (display name, id.sales@contact.acme.test) and
// handover text handover.
func addColleague(t *testing.T, g *testWorld, id, display, handover string) {
	t.Helper()
	ctx := context.Background()
	if err := g.state.UpsertEmployee(ctx, "t", "setup", identity.Employee{ID: id, Name: id,
		InsideAddrs: []identity.Address{{Network: "corp", Addr: id + "@corp.test"}}, DefaultPersona: id + ".sales"}); err != nil {
		t.Fatal(err)
	}
	if err := g.state.UpsertPersona(ctx, "t", "setup", identity.Persona{ID: id + ".sales", DisplayName: display,
		Kind: identity.Personal, EmployeeID: id, Handover: handover,
		Addresses: []identity.Address{{Network: "public-xmpp", Addr: id + ".sales@contact.acme.test"}}}); err != nil {
		t.Fatal(err)
	}
}

// contactWrites has the contact at from write body to the persona
// address to, vouched for, and returns what hana (or whoever owns it)
// receives.
func contactWrites(t *testing.T, g *testWorld, from, to, id, body string) *gateway.Outgoing {
	t.Helper()
	if err := g.Receive(context.Background(), &gateway.Message{Network: "public-xmpp", From: from, ReplyTo: from,
		To: to, ID: id, Body: body}); err != nil {
		t.Fatal(err)
	}
	return gatewaytest.Recv(t, g.Inside.Sent)
}

// hanaWrites has hana write body to the outside contact at addr through
// its proxy address.
func hanaWrites(t *testing.T, g *testWorld, addr, id, body string) {
	t.Helper()
	if err := g.Receive(context.Background(), &gateway.Message{Network: "corp", From: "hana@corp.test/pc", ReplyTo: "hana@corp.test/pc",
		To: proxyOf(addr), ID: id, Body: body}); err != nil {
		t.Fatal(err)
	}
}

// bodies returns the bodies of msgs, sorted, for comparisons that do not
// depend on the order of two senders' messages.
func bodies(msgs []*gateway.Outgoing) []string {
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, m.Body)
	}
	slices.Sort(out)
	return out
}
