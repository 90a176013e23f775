package outreach

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/gateway/gatewaytest"
	"github.com/kakehashi/kakehashi/identity"
)

// goneNoticeC0 and backNoticeC0 are what hana is told when c0 removes
// her persona and adds it back.
const (
	goneNoticeC0 = "c0@ext.test removed ACME Sales · Hana from their contacts. Your messages may no longer reach them, and broadcasts will skip them until they come back."
	backNoticeC0 = "c0@ext.test subscribed again: they can be reached again, and broadcasts include them again."
)

// checkOwnerNotice fails unless o is a notice to hana from c0's proxy
// address saying body: the owner hears about their contact in the
// conversation they have with it.
func checkOwnerNotice(t *testing.T, o *gateway.Outgoing, body string) {
	t.Helper()
	if o.Kind != gateway.KindNotice || o.Network != "corp" || o.To != "hana@corp.test" || o.From != proxyOf("c0@ext.test") || o.Body != body {
		t.Fatalf("notice %+v, want a KindNotice from %s to hana@corp.test saying %q", o, proxyOf("c0@ext.test"), body)
	}
}

// TestContactGoneAndBackAreMarkedAndToldOnce pins what an outside
// adapter's report that a contact removed the persona (ContactGone) and
// added it back (ContactBack) does, however the adapter spells the two
// addresses: the one relationship is marked (audited as the contact's own
// act, relationship.gone by contact:<canonical address>) and hana is told
// once, from the contact's proxy address; a second report while marked
// changes nothing (the first reason stays, nobody is told again); the
// return clears it (relationship.back) and tells hana once.
func TestContactGoneAndBackAreMarkedAndToldOnce(t *testing.T) {
	const why = "removed ACME Sales · Hana from their contacts"
	for _, tc := range []struct {
		name, from, to string
	}{
		{"as stored", "c0@ext.test", "hana.sales@contact.acme.test"},
		{"upper case", "C0@EXT.TEST", "Hana.Sales@Contact.ACME.test"},
		{"with resources", "c0@ext.test/phone", "hana.sales@contact.acme.test/gw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startTestWorld(t, t.TempDir())
			defer g.Stop()
			ctx := context.Background()
			relID := withContacts(t, g, 1)[0]

			g.Service.ContactGone(ctx, gateway.ContactEvent{Network: "public-xmpp", From: tc.from, To: tc.to, Why: why})
			checkOwnerNotice(t, gatewaytest.Recv(t, g.Inside.Sent), goneNoticeC0)
			if rel := relFor(t, g, "c0@ext.test", "hana.sales"); rel.ID != relID || rel.Gone != why || rel.GoneAt.IsZero() {
				t.Fatalf("relationship after ContactGone: %+v", rel)
			}
			// Again, in yet another spelling and for another reason: the
			// mark stands as it was, and hana hears nothing more.
			g.Service.ContactGone(ctx, gateway.ContactEvent{Network: "public-xmpp", From: "C0@Ext.Test/tablet", To: tc.to, Why: "stopped sharing their presence with ACME Sales · Hana"})
			collectSent(t, g.Inside.Sent, 0)
			if rel := relFor(t, g, "c0@ext.test", "hana.sales"); rel.Gone != why {
				t.Fatalf("a second report changed the mark to %q", rel.Gone)
			}
			gone := auditOf(t, g, identity.ActionRelationshipGone)
			if len(gone) != 1 || gone[0].Actor != "contact:c0@ext.test" || gone[0].Subject != relID || gone[0].Reason != why {
				t.Fatalf("relationship.gone audit %+v, want one by contact:c0@ext.test on %s", gone, relID)
			}

			g.Service.ContactBack(ctx, gateway.ContactEvent{Network: "public-xmpp", From: tc.from, To: tc.to})
			checkOwnerNotice(t, gatewaytest.Recv(t, g.Inside.Sent), backNoticeC0)
			g.Service.ContactBack(ctx, gateway.ContactEvent{Network: "public-xmpp", From: tc.from, To: tc.to})
			collectSent(t, g.Inside.Sent, 0)
			if rel := relFor(t, g, "c0@ext.test", "hana.sales"); rel.Gone != "" || !rel.GoneAt.IsZero() {
				t.Fatalf("relationship after ContactBack: %+v", rel)
			}
			back := auditOf(t, g, identity.ActionRelationshipBack)
			if len(back) != 1 || back[0].Actor != "contact:c0@ext.test" || back[0].Subject != relID || back[0].Reason != "the contact subscribed again" {
				t.Fatalf("relationship.back audit %+v, want one by contact:c0@ext.test on %s", back, relID)
			}
			collectSent(t, g.Outside.Sent, 0) // the contact is told nothing
		})
	}
}

// TestContactGoneIgnoresWhatNamesNoRelationship: a report about an
// address that has no relationship with the persona (a stranger who never
// wrote, a persona address nobody has, a network that is not configured)
// marks nothing and tells no one; in particular it starts no
// relationship, as a first message would.
func TestContactGoneIgnoresWhatNamesNoRelationship(t *testing.T) {
	g := startTestWorld(t, t.TempDir())
	defer g.Stop()
	ctx := context.Background()
	withContacts(t, g, 1)
	for _, tc := range []struct {
		name, network, from, to string
	}{
		{"a stranger", "public-xmpp", "stranger@ext.test", "hana.sales@contact.acme.test"},
		{"no such persona", "public-xmpp", "c0@ext.test", "ghost@contact.acme.test"},
		{"an unknown network", "elsewhere", "c0@ext.test", "hana.sales@contact.acme.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g.Service.ContactGone(ctx, gateway.ContactEvent{Network: tc.network, From: tc.from, To: tc.to, Why: "removed you"})
			g.Service.ContactBack(ctx, gateway.ContactEvent{Network: tc.network, From: tc.from, To: tc.to})
			collectSent(t, g.Inside.Sent, 0)
		})
	}
	if l := auditOf(t, g, identity.ActionRelationshipGone); len(l) != 0 {
		t.Fatalf("marked: %+v", l)
	}
	if _, ok := g.state.Snapshot().ContactByAddr(identity.Address{Network: "public-xmpp", Addr: "stranger@ext.test"}); ok {
		t.Fatal("a report about a stranger created a contact")
	}
	if rel := relFor(t, g, "c0@ext.test", "hana.sales"); rel.Gone != "" {
		t.Fatalf("c0 marked %q", rel.Gone)
	}
}

// TestGoneContactWhoWritesIsClearedOnce: a contact marked gone who writes
// again is reachable again. However many of their messages arrive at
// once, each is relayed, the mark is cleared once (one
// relationship.back, "the contact wrote again") and hana is told once.
func TestGoneContactWhoWritesIsClearedOnce(t *testing.T) {
	g := startTestWorld(t, t.TempDir())
	defer g.Stop()
	ctx := context.Background()
	relID := withContacts(t, g, 1)[0]
	if _, err := g.state.SetGone(ctx, "contact:c0@ext.test", relID, "removed you"); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := g.Receive(ctx, &gateway.Message{Network: "public-xmpp", From: "C0@ext.test/phone", ReplyTo: "C0@ext.test/phone",
				To: "hana.sales@contact.acme.test", ID: fmt.Sprint("back-", i), Body: fmt.Sprint("I am back ", i)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var relayed, notices int
	for _, o := range collectSent(t, g.Inside.Sent, n+1) {
		switch o.Kind {
		case gateway.KindRelayed:
			relayed++
		case gateway.KindNotice:
			notices++
			checkOwnerNotice(t, o, "c0@ext.test wrote again: they can be reached again, and broadcasts include them again.")
		default:
			t.Fatalf("unexpected %+v", o)
		}
	}
	if relayed != n || notices != 1 {
		t.Fatalf("%d relayed and %d notices, want %d and 1", relayed, notices, n)
	}
	if rel := relFor(t, g, "c0@ext.test", "hana.sales"); rel.Gone != "" {
		t.Fatalf("still marked %q", rel.Gone)
	}
	back := auditOf(t, g, identity.ActionRelationshipBack)
	if len(back) != 1 || back[0].Actor != "contact:c0@ext.test" || back[0].Reason != "the contact wrote again" {
		t.Fatalf("relationship.back audit %+v, want one", back)
	}
}

// bounceHook has the outside adapter answer every message to dead with
// AddressGone (a mail server's "no such user", worded as why), and
// deliver the others.
func bounceHook(g *testWorld, dead, why string) {
	g.Outside.SetHook(func(_ context.Context, o *gateway.Outgoing) error {
		if o.To == dead {
			return gateway.AddressGone(errors.New("550 5.1.1 no such user"), why)
		}
		g.Outside.Sent <- o
		return nil
	})
}

// outsideBarrier has hana write to a contact of its own and waits for it
// on the outside adapter: the outside network's sender handles one
// message at a time, calling the Unreachable hook before it takes the
// next, so whatever a bounce before it did is done.
func outsideBarrier(t *testing.T, g *testWorld, id string) {
	t.Helper()
	hanaWrites(t, g, "barrier@ext.test", id, "barrier")
	for {
		if o := gatewaytest.Recv(t, g.Outside.Sent); o.To == "barrier@ext.test" {
			return
		}
	}
}

// TestBounceMarksGoneOnlyContactsWhoWrote pins the Unreachable hook
// through the gateway: when the outside adapter says a message's address
// is dead (gateway.AddressGone), the relationship is marked only if the
// contact has written from that address before. An address that never
// wrote is more likely wrong (a typo) than left: its author gets the
// failure notice and nothing is marked. A refusal the gateway wrote to
// the contact marks nothing either, and tells no one.
func TestBounceMarksGoneOnlyContactsWhoWrote(t *testing.T) {
	const why = "has an address that does not exist"
	for _, tc := range []struct {
		name    string
		contact string // whose address bounces; its relationship with hana.sales is checked
		// send makes the message that bounces.
		send func(t *testing.T, g *testWorld)
		// wantNotices are what hana gets; marked whether the relationship
		// ends up gone.
		wantNotices []string
		marked      bool
	}{
		{
			name: "a contact who wrote", contact: "c0@ext.test",
			send: func(t *testing.T, g *testWorld) { hanaWrites(t, g, "c0@ext.test", "h1", "our offer") },
			wantNotices: []string{
				`Your message to c0@ext.test could not be delivered (550 5.1.1 no such user): "our offer"`,
				"c0@ext.test has an address that does not exist. Your messages may no longer reach them, and broadcasts will skip them until they come back.",
			},
			marked: true,
		},
		{
			name: "an address that never wrote", contact: "typo@ext.test",
			send: func(t *testing.T, g *testWorld) { hanaWrites(t, g, "typo@ext.test", "h2", "hello there") },
			wantNotices: []string{
				`Your message to typo@ext.test could not be delivered (550 5.1.1 no such user): "hello there"`,
			},
		},
		{
			name: "a refusal to a contact who wrote", contact: "c0@ext.test",
			send: func(t *testing.T, g *testWorld) {
				if err := g.Receive(context.Background(), &gateway.Message{Network: "public-xmpp", From: "c0@ext.test", ReplyTo: "c0@ext.test",
					To: "ghost@contact.acme.test", ID: "to-ghost", Body: "anyone?"}); err != nil {
					t.Fatal(err)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startTestWorld(t, t.TempDir())
			defer g.Stop()
			withContacts(t, g, 1)
			bounceHook(g, tc.contact, why)
			tc.send(t, g)
			outsideBarrier(t, g, "barrier")
			got := bodies(collectSent(t, g.Inside.Sent, len(tc.wantNotices)))
			if want := slices.Sorted(slices.Values(tc.wantNotices)); !slices.Equal(got, want) {
				t.Fatalf("hana got %q, want %q", got, want)
			}
			rel := relFor(t, g, tc.contact, "hana.sales")
			if marked := rel.Gone != ""; marked != tc.marked {
				t.Fatalf("relationship marked %q, want marked: %v", rel.Gone, tc.marked)
			}
			gone := auditOf(t, g, identity.ActionRelationshipGone)
			if tc.marked && (len(gone) != 1 || gone[0].Actor != "contact:"+tc.contact || gone[0].Reason != why) || !tc.marked && len(gone) != 0 {
				t.Fatalf("relationship.gone audit %+v", gone)
			}
		})
	}
}

// TestUnreachableMarksOnlyPersonasMessages pins which records the
// Unreachable hook marks gone (for a contact who has written): what a
// persona sent to a contact (a relayed message, a welcome, a handover, a
// broadcast copy) marks its relationship; what the gateway wrote itself
// (a refusal, a notice) never does, nor does a message on the inside, one
// without a relationship or one on a network not configured.
func TestUnreachableMarksOnlyPersonasMessages(t *testing.T) {
	g := startTestWorld(t, t.TempDir())
	defer g.Stop()
	ctx := context.Background()
	relID := withContacts(t, g, 1)[0]
	toC0 := gateway.Outgoing{Network: "public-xmpp", From: "hana.sales@contact.acme.test", To: "c0@ext.test"}
	for _, tc := range []struct {
		name   string
		relID  string
		out    gateway.Outgoing
		kind   gateway.Kind
		marked bool
	}{
		{"relayed", relID, toC0, gateway.KindRelayed, true},
		{"welcome", relID, toC0, gateway.KindWelcome, true},
		{"handover", relID, toC0, gateway.KindHandover, true},
		{"broadcast", relID, toC0, gateway.KindBroadcast, true},
		{"refusal", relID, toC0, gateway.KindRefusal, false},
		{"notice", relID, toC0, gateway.KindNotice, false},
		{"no relationship", "", toC0, gateway.KindRelayed, false},
		{"inside", relID, gateway.Outgoing{Network: "corp", From: proxyOf("c0@ext.test"), To: "hana@corp.test"}, gateway.KindRelayed, false},
		{"unknown network", relID, gateway.Outgoing{Network: "elsewhere", From: "hana.sales@contact.acme.test", To: "c0@ext.test"}, gateway.KindRelayed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.out
			out.Kind, out.ID = tc.kind, gateway.NewID()
			g.Service.Unreachable(ctx, &gateway.Record{RelationshipID: tc.relID, OwnerID: "hana", Out: out}, "has an address that does not exist", false)
			rel := relFor(t, g, "c0@ext.test", "hana.sales")
			if marked := rel.Gone != ""; marked != tc.marked {
				t.Fatalf("marked %q, want marked: %v", rel.Gone, tc.marked)
			}
			if !tc.marked {
				return
			}
			checkOwnerNotice(t, gatewaytest.Recv(t, g.Inside.Sent),
				"c0@ext.test has an address that does not exist. Your messages may no longer reach them, and broadcasts will skip them until they come back.")
			if _, err := g.state.ClearGone(ctx, "t", relID, "next case"); err != nil {
				t.Fatal(err)
			}
		})
	}
	collectSent(t, g.Inside.Sent, 0)
	collectSent(t, g.Outside.Sent, 0)
}

// TestContactUnreachableByMessageID: an adapter that learns a contact is
// out of reach from a message the gateway sent them (a mail unsubscribe
// naming its ID) marks the relationship that message went out on, with
// the adapter's words, and hana is told; an ID the gateway never sent,
// or one from another network, marks nothing.
func TestContactUnreachableByMessageID(t *testing.T) {
	g := startTestWorld(t, t.TempDir())
	defer g.Stop()
	ctx := context.Background()
	relID := withContacts(t, g, 1)[0]
	hanaWrites(t, g, "c0@ext.test", "h1", "our offer")
	sent := gatewaytest.Recv(t, g.Outside.Sent)

	g.Service.ContactUnreachable(ctx, "public-xmpp", "never-sent", "unsubscribed from your mail")
	g.Service.ContactUnreachable(ctx, "corp", sent.ID, "unsubscribed from your mail")
	if rel := relFor(t, g, "c0@ext.test", "hana.sales"); rel.Gone != "" {
		t.Fatalf("marked %q by an unknown message", rel.Gone)
	}
	collectSent(t, g.Inside.Sent, 0)

	g.Service.ContactUnreachable(ctx, "public-xmpp", sent.ID, "unsubscribed from your mail")
	checkOwnerNotice(t, gatewaytest.Recv(t, g.Inside.Sent),
		"c0@ext.test unsubscribed from your mail. Your messages may no longer reach them, and broadcasts will skip them until they come back.")
	if rel := relFor(t, g, "c0@ext.test", "hana.sales"); rel.Gone != "unsubscribed from your mail" {
		t.Fatalf("marked %q", rel.Gone)
	}
	gone := auditOf(t, g, identity.ActionRelationshipGone)
	if len(gone) != 1 || gone[0].Subject != relID || gone[0].Actor != "contact:c0@ext.test" {
		t.Fatalf("relationship.gone audit %+v", gone)
	}
}

// TestBroadcastBounceFromAddressThatNeverWroteMarksNothing: hana wrote
// first to an address that turns out not to exist, tagged it, and
// broadcast; the copy bounces. The contact never wrote, so, as for
// hana's own message (TestBounceMarksGoneOnlyContactsWhoWrote), the
// relationship is not to be marked gone and hana gets only the
// broadcast's report ("1 failed").
func TestBroadcastBounceFromAddressThatNeverWroteMarksNothing(t *testing.T) {
	g := startTestWorld(t, t.TempDir())
	defer g.Stop()
	ctx := context.Background()
	hanaWrites(t, g, "typo@ext.test", "h1", "hello")
	gatewaytest.Recv(t, g.Outside.Sent)
	relID := relFor(t, g, "typo@ext.test", "hana.sales").ID
	if _, err := g.state.AddTags(ctx, "t", "setup", relID, []string{"vip"}); err != nil {
		t.Fatal(err)
	}
	bounceHook(g, "typo@ext.test", "has an address that does not exist")
	b, err := g.SendBroadcast(ctx, BroadcastRequest{Actor: "employee:hana", OwnerID: "hana", Tag: "vip", Body: "News"})
	if err != nil || b.Queued != 1 {
		t.Fatalf("broadcast %+v, %v", b, err)
	}
	// The report comes once the copy is marked failed; the sender calls
	// the Unreachable hook before it takes the barrier.
	var other []string
	for {
		o := gatewaytest.Recv(t, g.Inside.Sent)
		if strings.HasPrefix(o.Body, "Your broadcast «News» is out: 0 sent, 1 failed") {
			break
		}
		other = append(other, o.Body)
	}
	outsideBarrier(t, g, "barrier")
	for _, o := range collectSentUpTo(g.Inside.Sent) {
		other = append(other, o.Body)
	}
	if rel := relFor(t, g, "typo@ext.test", "hana.sales"); rel.Gone != "" || len(other) != 0 {
		t.Fatalf("an address that never wrote was marked gone (%q) because its broadcast copy bounced; hana was told %q", rel.Gone, other)
	}
}

// collectSentUpTo returns what ch receives until nothing more comes for
// 150 ms.
func collectSentUpTo(ch chan *gateway.Outgoing) []*gateway.Outgoing {
	var out []*gateway.Outgoing
	for {
		select {
		case o := <-ch:
			out = append(out, o)
		case <-time.After(150 * time.Millisecond):
			return out
		}
	}
}

// TestContactGoneOnTheInsideMarksNothing: ContactGone and ContactBack
// report what an outside contact did. Called for the inside network
// (an employee removing a proxy address from their own roster), they
// must mark nothing and tell no one: the contact did nothing, and the
// notice would go to the contact.
func TestContactGoneOnTheInsideMarksNothing(t *testing.T) {
	g := startTestWorld(t, t.TempDir())
	defer g.Stop()
	ctx := context.Background()
	withContacts(t, g, 1)
	g.Service.ContactGone(ctx, gateway.ContactEvent{Network: "corp", From: "hana@corp.test", To: proxyOf("c0@ext.test"), Why: "removed c0 from their contacts"})
	if rel := relFor(t, g, "c0@ext.test", "hana.sales"); rel.Gone != "" {
		t.Errorf("c0 marked gone (%q) by hana's own roster", rel.Gone)
	}
	for _, o := range collectSentUpTo(g.Outside.Sent) {
		t.Errorf("sent to the outside: %+v", o)
	}
	collectSent(t, g.Inside.Sent, 0)
}

// TestUnsubscribeFromAnAddressThatNeverWroteMarksIt: an unsubscribe is
// the contact's own word about a message that reached them, so unlike a
// bounce it marks the relationship even when they never wrote.
func TestUnsubscribeFromAnAddressThatNeverWroteMarksIt(t *testing.T) {
	g := startTestWorld(t, t.TempDir())
	defer g.Stop()
	ctx := context.Background()
	hanaWrites(t, g, "quiet@ext.test", "h1", "our offer")
	sent := gatewaytest.Recv(t, g.Outside.Sent)
	g.Service.ContactUnreachable(ctx, "public-xmpp", sent.ID, "unsubscribed from your mail")
	if n := gatewaytest.Recv(t, g.Inside.Sent); n.Kind != gateway.KindNotice || n.From != proxyOf("quiet@ext.test") ||
		n.To != "hana@corp.test" || !strings.HasPrefix(n.Body, "quiet@ext.test unsubscribed from your mail.") {
		t.Fatalf("notice %+v", n)
	}
	if rel := relFor(t, g, "quiet@ext.test", "hana.sales"); rel.Gone != "unsubscribed from your mail" {
		t.Fatalf("marked %q", rel.Gone)
	}
}
