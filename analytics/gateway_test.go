package analytics_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/analytics"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/gateway/gatewaytest"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/outreach"
)

// clock is a settable clock for the gateway.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// TestGatewayFeedsAnalytics relays messages through a gateway with
// in-process adapters and reads the numbers the analytics store made of
// them: what the gateway reports (direction, owner, team, network,
// source, contact point, new relationships, a contact marked gone by
// outreach) and what the store counts.
func TestGatewayFeedsAnalytics(t *testing.T) {
	for _, st := range stores() {
		t.Run(st.name, func(t *testing.T) {
			ctx := context.Background()
			s := st.open(t)
			clk := &clock{t: at(0, 9, 0)}
			var out *outreach.Service
			w := gatewaytest.Start(t, t.TempDir(), func(g *gateway.Gateway) {
				var err error
				if out, err = outreach.New(ctx, g, outreach.Options{}); err != nil {
					t.Fatal(err)
				}
			}, func(o *gateway.Options) {
				o.Events, o.EventsEvery, o.Now = s, 20*time.Millisecond, clk.Now
			})
			stopped := false
			defer func() {
				if !stopped {
					w.Stop()
				}
			}()
			state := w.State()
			if err := state.UpsertEmployee(ctx, "t", "setup", identity.Employee{ID: "hana", Name: "Hana Sato", Department: "sales",
				InsideAddrs: []identity.Address{{Network: "corp", Addr: "hana@corp.test"}}, DefaultPersona: "hana.sales"}); err != nil {
				t.Fatal(err)
			}
			if err := state.UpsertPersona(ctx, "t", "setup", identity.Persona{ID: "desk", DisplayName: "ACME Desk", Kind: identity.Team,
				Members: []string{"hana"}, Assign: identity.AssignRoundRobin,
				Addresses: []identity.Address{{Network: "public-xmpp", Addr: "desk@contact.acme.test"}}}); err != nil {
				t.Fatal(err)
			}
			// Messages from carol and dave take the store-first path
			// (Accept, as mail's do), the others are written first.
			send := func(when time.Time, network, from, to, body string) {
				t.Helper()
				clk.set(when)
				m := &gateway.Message{Network: network, From: from, ReplyTo: from, To: to, ID: gateway.NewID(), Body: body}
				var err error
				if from == "carol@ext.test" || from == "dave@ext.test" {
					err = gatewaytest.AcceptNow(t, w.Gateway, m)
				} else {
					err = w.Receive(ctx, m)
				}
				if err != nil {
					t.Fatal(err)
				}
				w.Settle(t)
			}
			const hana = "hana.sales@contact.acme.test"
			send(at(0, 9, 0), "public-xmpp", "bob@ext.test/phone", hana, "hello")
			send(at(0, 9, 10), "public-xmpp", "bob@ext.test/phone", hana, "anyone?")
			send(at(0, 10, 30), "corp", "hana@corp.test/laptop", `bob\40ext.test@gw.corp.test`, "hi Bob")
			send(at(0, 11, 0), "public-xmpp", "carol@ext.test", "desk+expo2026@contact.acme.test", "saw you at the expo")
			send(at(0, 12, 0), "public-xmpp", "dave@ext.test", hana, "a question")
			send(at(0, 13, 0), "public-xmpp", "bob@ext.test/phone", hana, "one more thing")
			// A refused message is not counted: mallory is nobody's colleague.
			send(at(0, 13, 5), "corp", "mallory@corp.test", `bob\40ext.test@gw.corp.test`, "hi")
			clk.set(at(0, 13, 30))
			out.ContactGone(ctx, gateway.ContactEvent{Network: "public-xmpp", From: "dave@ext.test", To: hana, Why: "left"})

			// The periodic flush brings them in, before any stop.
			deadline := time.Now().Add(5 * time.Second)
			for {
				o, err := s.Overview(ctx, at(0, 0, 0), at(0, 0, 0), analytics.Filter{})
				if err != nil {
					t.Fatal(err)
				}
				if o.Days[0].Gone == 1 && o.Days[0].In == 5 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("events not recorded within 5 s: %+v", o.Days[0])
				}
				time.Sleep(10 * time.Millisecond)
			}
			// What a relationship started, as identity recorded it.
			snap := state.Snapshot()
			carol, ok := snap.ContactByAddr(identity.Address{Network: "public-xmpp", Addr: "carol@ext.test"})
			if !ok || carol.Source != "expo2026" {
				t.Fatalf("carol: %+v", carol)
			}
			w.Stop()
			stopped = true

			o, err := s.Overview(ctx, at(0, 0, 0), at(0, 0, 0), analytics.Filter{Team: "sales", Employee: "hana"})
			if err != nil {
				t.Fatal(err)
			}
			check(t, "hana's day", o.Days[0].Counts, want{in: 5, out: 1, newContacts: 3, gone: 1, waits: 4, replied: 1, rate: rate(0.25),
				responses: [5]int64{0, 1, 0, 0, 0}, median: 90 * time.Minute,
				bySource: []analytics.SourceCount{{Source: "inbound", Count: 2}, {ContactPoint: "desk", Source: "expo2026", Count: 1}}})
			if other, err := s.Overview(ctx, at(0, 0, 0), at(0, 0, 0), analytics.Filter{Team: "support"}); err != nil {
				t.Fatal(err)
			} else {
				check(t, "support's day", other.Days[0].Counts, want{})
			}

			waiting, err := s.Waiting(ctx, analytics.WaitingQuery{Now: at(0, 14, 0), OlderThan: 30 * time.Minute, Filter: analytics.Filter{Employee: "hana"}})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, wt := range waiting {
				got = append(got, wt.RelationshipID)
				if wt.Owner != "hana" || wt.Team != "sales" || wt.Network != "public-xmpp" {
					t.Errorf("waiting: %+v", wt)
				}
			}
			relOf := func(addr, persona string) string {
				c, _ := snap.ContactByAddr(identity.Address{Network: "public-xmpp", Addr: addr})
				r, ok := snap.RelationshipFor(c.ID, persona)
				if !ok {
					t.Fatalf("no relationship of %s with %s", addr, persona)
				}
				return r.ID
			}
			// carol since 11:00, bob since 13:00 (resumed after hana's
			// answer); dave is gone.
			if want := []string{relOf("carol@ext.test", "desk"), relOf("bob@ext.test", "hana.sales")}; !slices.Equal(got, want) {
				t.Errorf("waiting %v, want %v", got, want)
			}
			if len(waiting) == 2 && (!waiting[0].Since.Equal(at(0, 11, 0)) || !waiting[1].Since.Equal(at(0, 13, 0))) {
				t.Errorf("waiting since %v, %v", waiting[0].Since, waiting[1].Since)
			}
		})
	}
}
