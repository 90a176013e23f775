package outreach

import (
	"context"
	"slices"
	"testing"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/gateway/gatewaytest"
	"github.com/kakehashi/kakehashi/identity"
)

// addSupport adds team persona support ("ACME Support",
// support@contact.acme.test) owned by hana, with ken (added first) as a
// member, and the welcome and handover texts given.
func addSupport(t *testing.T, g *testWorld, welcome, handover string) {
	t.Helper()
	if err := g.state.UpsertPersona(context.Background(), "t", "setup", identity.Persona{ID: "support", DisplayName: "ACME Support",
		Kind: identity.Team, EmployeeID: "hana", Members: []string{"hana", "ken"}, Welcome: welcome, Handover: handover,
		Addresses: []identity.Address{{Network: "public-xmpp", Addr: "support@contact.acme.test"}}}); err != nil {
		t.Fatal(err)
	}
}

// TestNotifyHandoverFromTheNewPersona pins the handover notices after a
// transfer of hana's contacts to ken: each contact whose relationship
// changed owner gets one KindHandover, from the persona it is on after
// the move (ken's own persona when hana's personal one is left behind,
// the same team persona when it was one), on the contact's network, with
// that persona's handover text or the default, "{persona}" replaced by
// its display name. Moves to the pool get none, and neither does a
// contact whose relationship was merged into one ken already had with
// them (ken's owner did not change; the merged one is history).
func TestNotifyHandoverFromTheNewPersona(t *testing.T) {
	const (
		kenSales = "ken.sales@contact.acme.test"
		support  = "support@contact.acme.test"
	)
	type notice struct{ to, from, nick, body string }
	for _, tc := range []struct {
		name        string
		kenHandover string
		// setup gives hana her contacts.
		setup func(t *testing.T, g *testWorld)
		to    string // the transfer's target; "" is the pool
		want  []notice
	}{
		{
			name:  "the default text",
			setup: func(t *testing.T, g *testWorld) { withContacts(t, g, 2) },
			to:    "ken",
			want: []notice{
				{"c0@ext.test", kenSales, "ACME Sales · Ken", "Hello, this is ACME Sales · Ken. From now on I am looking after you; just reply here as before."},
				{"c1@ext.test", kenSales, "ACME Sales · Ken", "Hello, this is ACME Sales · Ken. From now on I am looking after you; just reply here as before."},
			},
		},
		{
			name:        "the persona's own text",
			kenHandover: "{persona} here: Hana has moved on, and {persona} answers you now.",
			setup:       func(t *testing.T, g *testWorld) { withContacts(t, g, 1) },
			to:          "ken",
			want: []notice{
				{"c0@ext.test", kenSales, "ACME Sales · Ken", "ACME Sales · Ken here: Hana has moved on, and ACME Sales · Ken answers you now."},
			},
		},
		{
			name: "a team persona stays",
			setup: func(t *testing.T, g *testWorld) {
				addSupport(t, g, "", "{persona}: someone new looks after you.")
				contactWrites(t, g, "c0@ext.test", support, "s1", "help")
			},
			to: "ken",
			want: []notice{
				{"c0@ext.test", support, "ACME Support", "ACME Support: someone new looks after you."},
			},
		},
		{
			name:  "to the pool",
			setup: func(t *testing.T, g *testWorld) { withContacts(t, g, 2) },
			to:    "",
		},
		{
			name: "merged into ken's own relationship",
			setup: func(t *testing.T, g *testWorld) {
				withContacts(t, g, 2)
				// c0 also talks to ken: hana's relationship with c0 is
				// merged into that one; c1 is handed over.
				if err := g.Receive(context.Background(), &gateway.Message{Network: "public-xmpp", From: "c0@ext.test", ReplyTo: "c0@ext.test",
					To: kenSales, ID: "k1", Body: "hi ken"}); err != nil {
					t.Fatal(err)
				}
				if o := gatewaytest.Recv(t, g.Inside.Sent); o.To != "ken@corp.test" {
					t.Fatalf("c0's message to ken went to %s", o.To)
				}
			},
			to: "ken",
			want: []notice{
				{"c1@ext.test", kenSales, "ACME Sales · Ken", "Hello, this is ACME Sales · Ken. From now on I am looking after you; just reply here as before."},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startTestWorld(t, t.TempDir())
			defer g.Stop()
			ctx := context.Background()
			addColleague(t, g, "ken", "ACME Sales · Ken", tc.kenHandover)
			tc.setup(t, g)
			collectSent(t, g.Outside.Sent, 0) // no persona has a welcome
			tr, err := g.state.Transfer(ctx, identity.TransferRequest{Actor: "admin:root", Reason: "hana is on leave", From: "hana", To: tc.to})
			if err != nil {
				t.Fatal(err)
			}
			if len(tr.Moves) == 0 {
				t.Fatal("the transfer moved nothing")
			}
			if n := g.Service.NotifyHandover(ctx, tr); n != len(tc.want) {
				t.Fatalf("NotifyHandover queued %d, want %d", n, len(tc.want))
			}
			var got []notice
			for _, o := range collectSent(t, g.Outside.Sent, len(tc.want)) {
				if o.Kind != gateway.KindHandover || o.Network != "public-xmpp" {
					t.Fatalf("sent %+v", o)
				}
				got = append(got, notice{o.To, o.From, o.Nick, o.Body})
			}
			slices.SortFunc(got, func(a, b notice) int {
				if a.to < b.to {
					return -1
				}
				return 1
			})
			if !slices.Equal(got, tc.want) {
				t.Fatalf("handover notices\n%q\nwant\n%q", got, tc.want)
			}
			collectSent(t, g.Inside.Sent, 0) // nothing for the employees
		})
	}
}

// TestWelcomeOncePerNewRelationship pins the persona's welcome: sent
// once (KindWelcome, from the persona's address with its display name,
// to the contact's canonical address) when a contact's first message
// starts a relationship, only when the persona has a welcome text (blank
// counts as none); never for later messages, nor when hana wrote first
// (the contact did not come to the persona) or for the contact's reply.
func TestWelcomeOncePerNewRelationship(t *testing.T) {
	for _, tc := range []struct {
		name, welcome string
		want          bool
	}{
		{"with a welcome", "Welcome to ACME! Hana will answer you shortly.", true},
		{"without", "", false},
		{"blank", "  \n\t", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startTestWorld(t, t.TempDir())
			defer g.Stop()
			ctx := context.Background()
			p, _ := g.state.Snapshot().Persona("hana.sales")
			p.Welcome = tc.welcome
			if err := g.state.UpsertPersona(ctx, "t", "welcome", *p); err != nil {
				t.Fatal(err)
			}
			for i, body := range []string{"hello", "me again"} {
				if err := g.Receive(ctx, &gateway.Message{Network: "public-xmpp", From: "C0@Ext.Test/phone", ReplyTo: "C0@Ext.Test/phone",
					To: "hana.sales@contact.acme.test", ID: "m" + body, Body: body}); err != nil {
					t.Fatal(err)
				}
				if o := gatewaytest.Recv(t, g.Inside.Sent); o.Body != body {
					t.Fatalf("relayed %+v", o)
				}
				n := 0
				if tc.want && i == 0 {
					n = 1
				}
				for _, o := range collectSent(t, g.Outside.Sent, n) {
					if o.Kind != gateway.KindWelcome || o.From != "hana.sales@contact.acme.test" || o.To != "c0@ext.test" ||
						o.Nick != "ACME Sales · Hana" || o.Body != tc.welcome {
						t.Fatalf("welcome %+v", o)
					}
				}
			}
			// hana writes first: the contact is not welcomed, now or when
			// they answer.
			hanaWrites(t, g, "new@ext.test", "h1", "may I introduce our products?")
			if o := gatewaytest.Recv(t, g.Outside.Sent); o.Kind != gateway.KindRelayed {
				t.Fatalf("sent %+v", o)
			}
			contactWrites(t, g, "new@ext.test", "hana.sales@contact.acme.test", "r1", "yes please")
			collectSent(t, g.Outside.Sent, 0)
		})
	}
}

// TestWelcomeIsPerRelationship: a contact who already talks to hana and
// writes to a second persona starts a second relationship and gets that
// persona's welcome, from its address, once.
func TestWelcomeIsPerRelationship(t *testing.T) {
	g := startTestWorld(t, t.TempDir())
	defer g.Stop()
	addColleague(t, g, "ken", "ACME Sales · Ken", "")
	addSupport(t, g, "This is ACME Support: we answer within a day.", "")
	withContacts(t, g, 1)
	collectSent(t, g.Outside.Sent, 0) // hana.sales has no welcome
	for _, id := range []string{"s1", "s2"} {
		contactWrites(t, g, "c0@ext.test", "support@contact.acme.test", id, "a question "+id)
	}
	w := collectSent(t, g.Outside.Sent, 1)[0]
	if w.Kind != gateway.KindWelcome || w.From != "support@contact.acme.test" || w.To != "c0@ext.test" || w.Nick != "ACME Support" ||
		w.Body != "This is ACME Support: we answer within a day." {
		t.Fatalf("welcome %+v", w)
	}
}
