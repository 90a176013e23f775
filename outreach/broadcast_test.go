package outreach

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/gateway/gatewaytest"
	"github.com/kakehashi/kakehashi/identity"
)

// testWorld is a gateway with in-process adapters and its Service.
type testWorld struct {
	*Service
	*gatewaytest.World
}

// startTestWorld starts gatewaytest's gateway in dir with a Service
// attached; opts adjust the options of both.
func startTestWorld(t testing.TB, dir string, opts ...func(*gateway.Options, *Options)) *testWorld {
	t.Helper()
	return startTestWorldOn(t, dir, filepath.Join(dir, "queue.db"), opts...)
}

// startTestWorldOn is startTestWorld with the queue (and so the
// broadcasts) in queueStore (see gatewaytest.QueueStores).
func startTestWorldOn(t testing.TB, dir, queueStore string, opts ...func(*gateway.Options, *Options)) *testWorld {
	t.Helper()
	var o Options
	w := &testWorld{}
	w.World = gatewaytest.StartOn(t, dir, queueStore, func(g *gateway.Gateway) {
		s, err := New(context.Background(), g, o)
		if err != nil {
			t.Fatal(err)
		}
		w.Service = s
	}, func(gop *gateway.Options) {
		for _, f := range opts {
			f(gop, &o)
		}
	})
	return w
}

// forEachStore runs f as a subtest on each of gatewaytest.QueueStores,
// with a queue store of its own and a temporary directory for the rest.
func forEachStore(t *testing.T, f func(t *testing.T, dir, store string)) {
	for _, s := range gatewaytest.QueueStores() {
		t.Run(s.Name, func(t *testing.T) {
			dir := t.TempDir()
			f(t, dir, s.New(t, dir))
		})
	}
}

// testClock is a settable clock for the gateway under test.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// withContacts gives hana n outside contacts (c0…c{n-1}@ext.test), each
// tagged "vip", and drains what their first messages produced.
func withContacts(t *testing.T, g *testWorld, n int) []string {
	t.Helper()
	ctx := context.Background()
	var rels []string
	for i := range n {
		from := fmt.Sprintf("c%d@ext.test", i)
		if err := g.Receive(ctx, &gateway.Message{Network: "public-xmpp", From: from, ReplyTo: from, To: "hana.sales@contact.acme.test", ID: "hello-" + from, Body: "hi"}); err != nil {
			t.Fatal(err)
		}
		gatewaytest.Recv(t, g.Inside.Sent)
	}
	g.Settle(t) // "has written" is read from the queue
	for _, r := range g.state.Snapshot().RelationshipsOwnedBy("hana") {
		if _, err := g.state.AddTags(ctx, "t", "setup", r.ID, []string{"vip"}); err != nil {
			t.Fatal(err)
		}
		rels = append(rels, r.ID)
	}
	if len(rels) != n {
		t.Fatalf("hana has %d relationships, want %d", len(rels), n)
	}
	return rels
}

// collectSent reads n messages from ch, failing on fewer, and checks that no
// more follow shortly.
func collectSent(t *testing.T, ch chan *gateway.Outgoing, n int) []*gateway.Outgoing {
	t.Helper()
	out := make([]*gateway.Outgoing, 0, n)
	for range n {
		out = append(out, gatewaytest.Recv(t, ch))
	}
	select {
	case o := <-ch:
		t.Fatalf("more than %d sent: %+v", n, o)
	case <-time.After(150 * time.Millisecond):
	}
	return out
}

// TestBroadcastCapsHoldUnderConcurrency: two broadcasts started at once to
// the same contacts, with a cap of one a day, reach each contact once;
// the month cap holds across days, and a day later the day cap lets one
// more through.
func TestBroadcastCapsHoldUnderConcurrency(t *testing.T) {
	forEachStore(t, func(t *testing.T, dir, store string) {
		clock := &testClock{}
		clock.ns.Store(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC).UnixNano())
		g := startTestWorldOn(t, dir, store, func(o *gateway.Options, oo *Options) {
			o.Now = clock.now
			oo.Caps = &BroadcastCaps{PerDay: 1, PerMonth: 2}
		})
		defer g.Stop()
		ctx := context.Background()
		const n = 20
		withContacts(t, g, n)

		var wg sync.WaitGroup
		results := make([]*Broadcast, 2)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := g.SendBroadcast(ctx, BroadcastRequest{Actor: "employee:hana", OwnerID: "hana", Tag: "VIP", Body: fmt.Sprintf("Sale %d", i)})
				if err != nil {
					t.Error(err)
					return
				}
				results[i] = b
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if q := results[0].Queued + results[1].Queued; q != n {
			t.Fatalf("queued %d + %d, want %d in all: the day cap is 1", results[0].Queued, results[1].Queued, n)
		}
		if c := results[0].SkippedCap + results[1].SkippedCap; c != n {
			t.Fatalf("skipped (cap) %d in all, want %d", c, n)
		}
		sent := collectSent(t, g.Outside.Sent, n)
		to := map[string]bool{}
		for _, o := range sent {
			if o.Kind != gateway.KindBroadcast || o.From != "hana.sales@contact.acme.test" || o.Nick != "ACME Sales · Hana" || to[o.To] {
				t.Fatalf("copy %+v (seen before: %v)", o, to[o.To])
			}
			to[o.To] = true
		}

		// A day later: one more each. Then the month cap (2) stops a third.
		clock.advance(25 * time.Hour)
		b, err := g.SendBroadcast(ctx, BroadcastRequest{Actor: "employee:hana", OwnerID: "hana", Tag: "vip", Body: "Second"})
		if err != nil || b.Queued != n {
			t.Fatalf("next day: %+v, %v", b, err)
		}
		collectSent(t, g.Outside.Sent, n)
		clock.advance(25 * time.Hour)
		b, err = g.SendBroadcast(ctx, BroadcastRequest{Actor: "employee:hana", OwnerID: "hana", Tag: "vip", Body: "Third"})
		if err != nil || b.Queued != 0 || b.SkippedCap != n {
			t.Fatalf("month cap: %+v, %v", b, err)
		}
		collectSent(t, g.Outside.Sent, 0)
		// 30 days after the first, the month window has room again.
		clock.advance(29 * 24 * time.Hour)
		b, err = g.SendBroadcast(ctx, BroadcastRequest{Actor: "employee:hana", OwnerID: "hana", Tag: "vip", Body: "Fourth"})
		if err != nil || b.Queued != n {
			t.Fatalf("after 30 days: %+v, %v", b, err)
		}
	})
}

// TestBroadcastSkipsGoneAndReportsToTheOwner: a contact marked gone gets
// nothing and is counted; once every copy is sent the owner is told the
// counts, once.
func TestBroadcastSkipsGoneAndReportsToTheOwner(t *testing.T) {
	forEachStore(t, func(t *testing.T, dir, store string) {
		g := startTestWorldOn(t, dir, store)
		defer g.Stop()
		ctx := context.Background()
		rels := withContacts(t, g, 3)
		if _, err := g.state.SetGone(ctx, "contact:c0@ext.test", rels[0], "removed you"); err != nil {
			t.Fatal(err)
		}
		b, err := g.SendBroadcast(ctx, BroadcastRequest{Actor: "employee:hana", OwnerID: "hana", Tag: "vip", Subject: "News", Body: "Our new catalogue is out."})
		if err != nil {
			t.Fatal(err)
		}
		if b.Queued != 2 || b.SkippedGone != 1 {
			t.Fatalf("broadcast %+v", b)
		}
		for _, o := range collectSent(t, g.Outside.Sent, 2) {
			if o.Subject != "News" || o.Body != "Our new catalogue is out." {
				t.Fatalf("copy %+v", o)
			}
		}
		report := gatewaytest.Recv(t, g.Inside.Sent)
		if report.Kind != gateway.KindNotice || report.To != "hana@corp.test" || report.From != "gw.corp.test" ||
			!strings.Contains(report.Body, "2 sent") || !strings.Contains(report.Body, "1 skipped (gone)") {
			t.Fatalf("report %+v", report)
		}
		collectSent(t, g.Inside.Sent, 0) // once
		got, err := g.LoadBroadcast(ctx, b.ID)
		if err != nil || got.Sent != 2 || got.Pending != 0 || got.State != BroadcastSent {
			t.Fatalf("loaded %+v, %v", got, err)
		}
		audit, err := g.state.Audit(ctx, identityAuditQuery(ActionBroadcastSend))
		if err != nil || len(audit) != 1 || audit[0].Subject != b.ID || audit[0].Actor != "employee:hana" {
			t.Fatalf("audit %+v, %v", audit, err)
		}
	})
}

// TestTeamBroadcastWaitsForEachMember: nothing goes out until a member
// confirms; a second confirmation, or someone else's, is refused; a
// declined copy sends nothing.
func TestTeamBroadcastWaitsForEachMember(t *testing.T) {
	forEachStore(t, func(t *testing.T, dir, store string) {
		g := startTestWorldOn(t, dir, store)
		defer g.Stop()
		ctx := context.Background()
		withContacts(t, g, 2)
		if _, err := g.PrepareBroadcast(ctx, BroadcastRequest{Actor: "admin:root", Reason: "spring", Team: []string{"hana"}}); !errors.Is(err, ErrBroadcast) {
			t.Fatalf("no tag: %v", err)
		}
		if _, err := g.PrepareBroadcast(ctx, BroadcastRequest{Actor: "admin:root", Reason: "spring", Team: []string{"nobody"}, Tag: "vip", Body: "x"}); !errors.Is(err, ErrBroadcast) {
			t.Fatalf("unknown member: %v", err)
		}
		p, err := g.PrepareBroadcast(ctx, BroadcastRequest{Actor: "admin:root", Reason: "spring", Team: []string{"hana"}, Tag: "vip", Body: "Spring sale"})
		if err != nil || len(p.Members) != 1 {
			t.Fatalf("prepare: %+v, %v", p, err)
		}
		if n := gatewaytest.Recv(t, g.Inside.Sent); n.To != "hana@corp.test" || !strings.Contains(n.Body, "Spring sale") || !strings.Contains(n.Body, "Broadcasts to confirm") {
			t.Fatalf("member notice %+v", n)
		}
		collectSent(t, g.Outside.Sent, 0)
		waiting, err := g.AwaitingBroadcasts(ctx, "hana")
		if err != nil || len(waiting) != 1 || waiting[0].ID != p.Members[0].ID {
			t.Fatalf("awaiting %+v, %v", waiting, err)
		}
		if _, err := g.DecideBroadcast(ctx, "ken", waiting[0].ID, true); !errors.Is(err, ErrBroadcast) {
			t.Fatalf("someone else confirmed: %v", err)
		}
		b, err := g.DecideBroadcast(ctx, "hana", waiting[0].ID, true)
		if err != nil || b.Queued != 2 {
			t.Fatalf("confirm: %+v, %v", b, err)
		}
		collectSent(t, g.Outside.Sent, 2)
		if _, err := g.DecideBroadcast(ctx, "hana", waiting[0].ID, true); !errors.Is(err, ErrBroadcast) {
			t.Fatalf("second confirmation: %v", err)
		}
		team, err := g.LoadBroadcast(ctx, p.ID)
		if err != nil || team.State != BroadcastPrepared || team.Queued != 2 || team.Members[0].State != BroadcastSent {
			t.Fatalf("team broadcast %+v, %v", team, err)
		}

		p2, err := g.PrepareBroadcast(ctx, BroadcastRequest{Actor: "admin:root", Reason: "again", Team: []string{"hana"}, Tag: "vip", Body: "Another"})
		if err != nil {
			t.Fatal(err)
		}
		gatewaytest.Recv(t, g.Inside.Sent) // the member notice (and perhaps the first report)
		d, err := g.DecideBroadcast(ctx, "hana", p2.Members[0].ID, false)
		if err != nil || d.State != BroadcastDeclined || d.Queued != 0 {
			t.Fatalf("decline: %+v, %v", d, err)
		}
		select {
		case o := <-g.Outside.Sent:
			t.Fatalf("declined broadcast sent %+v", o)
		case <-time.After(150 * time.Millisecond):
		}
	})
}

// TestBroadcastRefusesBadRequests: clear errors, nothing stored.
func TestBroadcastRefusesBadRequests(t *testing.T) {
	g := startTestWorld(t, t.TempDir())
	defer g.Stop()
	ctx := context.Background()
	withContacts(t, g, 1)
	for name, r := range map[string]BroadcastRequest{
		"empty":          {OwnerID: "hana", Tag: "vip"},
		"no contacts":    {OwnerID: "hana", Body: "x"},
		"not an owner":   {OwnerID: "nobody", Tag: "vip", Body: "x"},
		"someone else's": {OwnerID: "hana", Relationships: []string{"r-unknown"}, Body: "x"},
		"two lines":      {OwnerID: "hana", Tag: "vip", Subject: "a\nb", Body: "x"},
	} {
		if _, err := g.SendBroadcast(ctx, r); !errors.Is(err, ErrBroadcast) {
			t.Errorf("%s: %v, want ErrBroadcast", name, err)
		}
	}
	off := startTestWorld(t, t.TempDir(), func(o *gateway.Options, oo *Options) { oo.Caps = &BroadcastCaps{} })
	defer off.Stop()
	if _, err := off.SendBroadcast(ctx, BroadcastRequest{OwnerID: "hana", Tag: "vip", Body: "x"}); err == nil || !strings.Contains(err.Error(), "turned off") {
		t.Errorf("caps 0: %v", err)
	}
	collectSent(t, g.Outside.Sent, 0)
}

func identityAuditQuery(action string) identity.AuditQuery {
	return identity.AuditQuery{Action: action}
}

// BenchmarkBroadcast sends one broadcast to 10,000 contacts: select them,
// count each one's recent broadcasts against the caps and queue a copy,
// in one transaction. The baseline queues the same 10,000 copies in one
// transaction without the caps, so the ratio is what selecting and
// counting cost on top of the durable write.
func BenchmarkBroadcast(b *testing.B) {
	n := 10_000
	if s := os.Getenv("BENCH_BROADCAST_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	clock := &testClock{}
	clock.ns.Store(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC).UnixNano())
	g := startTestWorld(b, b.TempDir(), func(o *gateway.Options, oo *Options) {
		o.Now = clock.now
		oo.Caps = &BroadcastCaps{PerDay: 1 << 20, PerMonth: 1 << 20}
		o.Logger = slog.New(slog.DiscardHandler)
	})
	defer g.Stop()
	ctx := context.Background()
	for i := range n {
		rel, _, _, err := g.state.EnsureRelationship(ctx, identity.NewRelationship{
			Contact: identity.Address{Network: "public-xmpp", Addr: fmt.Sprintf("c%d@ext.test", i)}, PersonaID: "hana.sales", OwnerID: "hana"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := g.state.AddTags(ctx, "t", "setup", rel.ID, []string{"vip"}); err != nil {
			b.Fatal(err)
		}
	}
	drain := func(ch chan *gateway.Outgoing) {
		for range ch {
		}
	}
	go drain(g.Outside.Sent)
	go drain(g.Inside.Sent)

	b.Run("caps", func(b *testing.B) {
		for b.Loop() {
			clock.advance(time.Hour)
			r, err := g.SendBroadcast(ctx, BroadcastRequest{Actor: "employee:hana", OwnerID: "hana", Tag: "vip", Body: "News"})
			if err != nil || r.Queued != n {
				b.Fatalf("%+v, %v", r, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/copy")
	})
	b.Run("baseline", func(b *testing.B) {
		snap := g.state.Snapshot()
		rels := snap.RelationshipsOwnedBy("hana")
		for b.Loop() {
			bc := &Broadcast{ID: "b-" + gateway.NewID(), OwnerID: "hana", Body: "News"}
			err := g.gw.PostBatch(ctx, func(ctx context.Context, tx *gateway.Tx) ([]*gateway.Record, error) {
				for _, rel := range rels {
					rec, _ := g.broadcastCopy(snap, bc, rel)
					if _, err := tx.Insert(ctx, rec); err != nil {
						return nil, err
					}
				}
				return nil, nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/copy")
	})
}

// TestBroadcastCapsAreTheContacts: a contact hana looks after on two
// personas gets one copy of a broadcast, and the cap counts broadcasts
// to the contact, whichever persona sent them.
func TestBroadcastCapsAreTheContacts(t *testing.T) {
	forEachStore(t, func(t *testing.T, dir, store string) {
		g := startTestWorldOn(t, dir, store)
		defer g.Stop()
		ctx := context.Background()
		personal := withContacts(t, g, 1)[0]
		if err := g.state.UpsertPersona(ctx, "t", "setup", identity.Persona{ID: "support", DisplayName: "ACME Support",
			Kind: identity.Team, EmployeeID: "hana", Members: []string{"hana"},
			Addresses: []identity.Address{{Network: "public-xmpp", Addr: "support@contact.acme.test"}}}); err != nil {
			t.Fatal(err)
		}
		team, _, _, err := g.state.EnsureRelationship(ctx, identity.NewRelationship{
			Contact: identity.Address{Network: "public-xmpp", Addr: "c0@ext.test"}, PersonaID: "support", OwnerID: "hana"})
		if err != nil || team.ID == personal {
			t.Fatalf("second relationship %+v, %v", team, err)
		}
		if _, err := g.state.AddTags(ctx, "t", "setup", team.ID, []string{"vip"}); err != nil {
			t.Fatal(err)
		}
		b, err := g.SendBroadcast(ctx, BroadcastRequest{Actor: "employee:hana", OwnerID: "hana", Tag: "vip", Body: "One copy"})
		if err != nil || b.Queued != 1 {
			t.Fatalf("broadcast %+v, %v", b, err)
		}
		collectSent(t, g.Outside.Sent, 1)
		b, err = g.SendBroadcast(ctx, BroadcastRequest{Actor: "employee:hana", OwnerID: "hana", Relationships: []string{team.ID}, Body: "As support"})
		if err != nil || b.Queued != 0 || b.SkippedCap != 1 {
			t.Fatalf("the same contact through another persona: %+v, %v", b, err)
		}
		collectSent(t, g.Outside.Sent, 0)
	})
}

// TestMyContactsFiltersBeforeCutting: with more contacts than a form
// lists, a tag still finds the ones past the cut.
func TestMyContactsFiltersBeforeCutting(t *testing.T) {
	g := startTestWorld(t, t.TempDir())
	defer g.Stop()
	ctx := context.Background()
	rels := withContacts(t, g, maxListed+10)
	last, lastID := "", ""
	for _, id := range rels { // the contact that sorts last by address
		r, _ := g.state.Snapshot().Relationship(id)
		if c, _ := g.state.Snapshot().Contact(r.ContactID); c.Address.Addr > last {
			last, lastID = c.Address.Addr, id
		}
	}
	if _, err := g.state.SetTags(ctx, "t", "setup", lastID, []string{"late"}); err != nil {
		t.Fatal(err)
	}
	res, err := g.RunCommand(ctx, "corp", "hana@corp.test", cmdMyContacts, map[string][]string{"tag": {"LATE"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Fields) != 1 || !strings.Contains(res.Fields[0].Values[0], last) {
		t.Fatalf("my contacts tagged late: %+v (want %s)", res, last)
	}
}
