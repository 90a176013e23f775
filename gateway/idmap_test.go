package gateway

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/identity"
)

const (
	hanaIn    = "hana@corp.test/laptop"
	bobOut    = "bob@ext.test/phone"
	bobProxy  = `bob\40ext.test@gw.corp.test`
	hanaSales = "hana.sales@contact.acme.test"
)

func fromHana(id, body string, refs ...Ref) *Message {
	return &Message{Network: "corp", From: hanaIn, ReplyTo: hanaIn, To: bobProxy, ID: id, Body: body, Refs: refs}
}

func fromBob(id, body string, refs ...Ref) *Message {
	return &Message{Network: "public-xmpp", From: bobOut, ReplyTo: bobOut, To: hanaSales, ID: id, Body: body, Refs: refs}
}

func receiveOK(t *testing.T, g *testGateway, m *Message) {
	t.Helper()
	if err := g.Receive(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

// quiet fails t when ch delivers anything within d.
func quiet(t *testing.T, ch chan *Outgoing, d time.Duration) {
	t.Helper()
	select {
	case o := <-ch:
		t.Fatalf("unexpected message: %+v", o)
	case <-time.After(d):
	}
}

// TestReferencesCrossThroughTheIDMap pins the ID map: a reference crosses
// only as the other side's ID of the same message, with its author as
// the recipient knows them and the quote rebuilt from the stored text,
// both ways, after a restart and after a transfer.
func TestReferencesCrossThroughTheIDMap(t *testing.T) {
	forEachStore(t, func(t *testing.T, dir, store string) {
		g := startTestGatewayOn(t, dir, store)
		receiveOK(t, g, fromHana("h1", "the quote is attached"))
		toBob := recv(t, g.outside.Sent)
		receiveOK(t, g, fromBob("b1", "thanks, one question"))
		toHana := recv(t, g.inside.Sent)

		// Bob replies to Hana's message by the ID he received.
		receiveOK(t, g, fromBob("b2", "is tax included?", Ref{Kind: RefReply, ID: toBob.ID}))
		o := recv(t, g.inside.Sent)
		want := Ref{Kind: RefReply, ID: "h1", Author: "hana@corp.test", Quote: "the quote is attached"}
		if len(o.Refs) != 1 || o.Refs[0] != want || o.Body != "is tax included?" {
			t.Fatalf("reply inward: %+v", o)
		}
		// Hana reacts to Bob's message by the gateway's ID of it.
		receiveOK(t, g, &Message{Network: "corp", From: hanaIn, ReplyTo: hanaIn, To: bobProxy, ID: "h2",
			Refs: []Ref{{Kind: RefReact, ID: toHana.ID}}, Reactions: []string{"👍"}})
		o = recv(t, g.outside.Sent)
		if len(o.Refs) != 1 || o.Refs[0].ID != "b1" || o.Refs[0].Kind != RefReact || o.Refs[0].Quote != "" ||
			!slices.Equal(o.Reactions, []string{"👍"}) {
			t.Fatalf("reaction outward: %+v", o)
		}
		// Hana corrects her own message by her own ID: Bob gets the ID he knows.
		receiveOK(t, g, fromHana("h3", "the quote is attached (v2)", Ref{Kind: RefCorrect, ID: "h1"}))
		o = recv(t, g.outside.Sent)
		if len(o.Refs) != 1 || o.Refs[0].ID != toBob.ID || o.Refs[0].Kind != RefCorrect || o.Refs[0].Author != hanaSales {
			t.Fatalf("correction outward: %+v", o)
		}

		// After a restart the map is still there.
		g.stop()
		g = startTestGatewayOn(t, dir, store)
		receiveOK(t, g, fromBob("b3", "and shipping?", Ref{Kind: RefReply, ID: toBob.ID}))
		if o := recv(t, g.inside.Sent); len(o.Refs) != 1 || o.Refs[0].ID != "h1" {
			t.Fatalf("reply after restart: %+v", o)
		}

		// After a transfer to ken, a reply to a message Hana sent reaches ken
		// with the reference mapped.
		ctx := context.Background()
		if err := g.state.UpsertEmployee(ctx, "t", "setup", identity.Employee{ID: "ken", Name: "Ken Ito",
			InsideAddrs: []identity.Address{{Network: "corp", Addr: "ken@corp.test"}}, DefaultPersona: "ken.sales"}); err != nil {
			t.Fatal(err)
		}
		if err := g.state.UpsertPersona(ctx, "t", "setup", identity.Persona{ID: "ken.sales", DisplayName: "ACME Sales · Ken",
			Kind: identity.Personal, EmployeeID: "ken",
			Addresses: []identity.Address{{Network: "public-xmpp", Addr: "ken.sales@contact.acme.test"}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := g.state.Transfer(ctx, identity.TransferRequest{Actor: "admin:root", Reason: "leave", From: "hana", To: "ken"}); err != nil {
			t.Fatal(err)
		}
		receiveOK(t, g, fromBob("b4", "hello?", Ref{Kind: RefReply, ID: toBob.ID}))
		o = recv(t, g.inside.Sent)
		if o.To != "ken@corp.test" || len(o.Refs) != 1 || o.Refs[0].ID != "h1" || o.Refs[0].Quote != "the quote is attached" {
			t.Fatalf("reply after transfer: %+v", o)
		}
		g.stop()
	})
}

// TestUnknownReferencesAreDropped pins that a reference the map does not
// know, or one into another conversation, never crosses: a message with
// text still goes without it; one with nothing else is not sent.
func TestUnknownReferencesAreDropped(t *testing.T) {
	forEachStore(t, func(t *testing.T, dir, store string) {
		g := startTestGatewayOn(t, dir, store)
		defer g.stop()
		receiveOK(t, g, fromHana("h1", "hello bob"))
		toBob := recv(t, g.outside.Sent)
		// Carol, another contact, points at Bob's message ID.
		carol := "carol@ext.test/pc"
		receiveOK(t, g, &Message{Network: "public-xmpp", From: carol, ReplyTo: carol, To: hanaSales, ID: "c1", Body: "hi",
			Refs: []Ref{{Kind: RefReply, ID: toBob.ID}}})
		if o := recv(t, g.inside.Sent); len(o.Refs) != 0 || o.Body != "hi" {
			t.Fatalf("reference across conversations crossed: %+v", o)
		}
		for _, m := range []*Message{
			// A guessed ID with text: the text goes, the reference does not.
			fromHana("h2", "see above", Ref{Kind: RefReply, ID: "no-such-id"}),
			// An inside client's own ID of another message: unknown.
			fromHana("h3", "fixed", Ref{Kind: RefCorrect, ID: "h-unknown"}),
		} {
			receiveOK(t, g, m)
			if o := recv(t, g.outside.Sent); len(o.Refs) != 0 || o.Body != m.Body {
				t.Fatalf("%s: %+v", m.ID, o)
			}
		}
		// Nothing but a reaction or a retraction of an unknown message: nothing goes.
		receiveOK(t, g, &Message{Network: "corp", From: hanaIn, ReplyTo: hanaIn, To: bobProxy, ID: "h4",
			Refs: []Ref{{Kind: RefReact, ID: "zzz"}}, Reactions: []string{"❤"}})
		receiveOK(t, g, &Message{Network: "corp", From: hanaIn, ReplyTo: hanaIn, To: bobProxy, ID: "h5",
			Refs: []Ref{{Kind: RefRetract, ID: "zzz"}}})
		// Bob cannot retract Hana's message by the ID he saw: it is not his.
		receiveOK(t, g, &Message{Network: "public-xmpp", From: bobOut, ReplyTo: bobOut, To: hanaSales, ID: "b9",
			Refs: []Ref{{Kind: RefRetract, ID: "h1"}}})
		quiet(t, g.outside.Sent, 200*time.Millisecond)
		quiet(t, g.inside.Sent, 0)
	})
}

// TestSignalsAreRelayedNotStored pins receipts and markers: mapped, never
// stored, never starting a relationship, and an employee's read markers
// kept inside unless the policy shows them.
func TestSignalsAreRelayedNotStored(t *testing.T) {
	for _, show := range []bool{false, true} {
		g := startTestGateway(t, t.TempDir(), func(o *Options) { o.Signals.ShowDisplayed = show })
		ctx := context.Background()
		receiveOK(t, g, fromHana("h1", "hello"))
		toBob := recv(t, g.outside.Sent)
		receiveOK(t, g, fromBob("b1", "hi"))
		toHana := recv(t, g.inside.Sent)
		settle(t, g.queue) // bob's message was written before its commit
		before, err := g.queue.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Bob's client reports Hana's message delivered and displayed.
		receiveOK(t, g, &Message{Network: "public-xmpp", From: bobOut, To: hanaSales, Refs: []Ref{{Kind: RefReceived, ID: toBob.ID}}})
		receiveOK(t, g, &Message{Network: "public-xmpp", From: bobOut, To: hanaSales, Refs: []Ref{{Kind: RefDisplayed, ID: toBob.ID}}})
		for _, k := range []RefKind{RefReceived, RefDisplayed} {
			o := recv(t, g.inside.Sent)
			if len(o.Refs) != 1 || o.Refs[0] != (Ref{Kind: k, ID: "h1", Author: "hana@corp.test"}) || o.Body != "" {
				t.Fatalf("%s inward: %+v", k, o)
			}
		}
		// Bob types.
		receiveOK(t, g, &Message{Network: "public-xmpp", From: bobOut, To: hanaSales, ChatState: ChatComposing})
		if o := recv(t, g.inside.Sent); o.ChatState != ChatComposing || len(o.Refs) != 0 {
			t.Fatalf("chat state inward: %+v", o)
		}
		// Hana's client reports Bob's message displayed: only with the policy.
		receiveOK(t, g, &Message{Network: "corp", From: hanaIn, To: bobProxy, Refs: []Ref{{Kind: RefDisplayed, ID: toHana.ID}}})
		if show {
			if o := recv(t, g.outside.Sent); len(o.Refs) != 1 || o.Refs[0].ID != "b1" || o.Refs[0].Kind != RefDisplayed {
				t.Fatalf("displayed outward: %+v", o)
			}
		} else {
			quiet(t, g.outside.Sent, 150*time.Millisecond)
		}
		// A stranger's receipt starts nothing and is not answered.
		receiveOK(t, g, &Message{Network: "public-xmpp", From: "eve@ext.test/x", ReplyTo: "eve@ext.test/x", To: hanaSales,
			Refs: []Ref{{Kind: RefReceived, ID: toBob.ID}}})
		quiet(t, g.outside.Sent, 150*time.Millisecond)
		quiet(t, g.inside.Sent, 0)
		if _, ok := g.state.Snapshot().ContactByAddr(identity.Address{Network: "public-xmpp", Addr: "eve@ext.test"}); ok {
			t.Fatal("a receipt started a relationship")
		}
		after, err := g.queue.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if total(before) != total(after) {
			t.Fatalf("signals were stored: %v → %v", before, after)
		}
		g.stop()
	}
}

func total(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

// TestRetentionPrunesTheIDMap pins that once retention blanks a message,
// references to it no longer cross.
func TestRetentionPrunesTheIDMap(t *testing.T) {
	forEachStore(t, func(t *testing.T, dir, store string) {
		g := startTestGatewayOn(t, dir, store)
		defer g.stop()
		receiveOK(t, g, fromHana("h1", "old news"))
		toBob := recv(t, g.outside.Sent)
		receiveOK(t, g, fromBob("b1", "fresh", Ref{Kind: RefReply, ID: toBob.ID}))
		if o := recv(t, g.inside.Sent); len(o.Refs) != 1 {
			t.Fatalf("before retention: %+v", o)
		}
		time.Sleep(50 * time.Millisecond) // let the sent marks commit
		if _, err := g.expireTexts(context.Background(), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		receiveOK(t, g, fromBob("b2", "still there?", Ref{Kind: RefReply, ID: toBob.ID}))
		if o := recv(t, g.inside.Sent); len(o.Refs) != 0 {
			t.Fatalf("after retention the reference still crossed: %+v", o)
		}
	})
}
