package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/gateway/internal/relaytest"
	"github.com/kakehashi/kakehashi/identity"
)

// acceptNow calls Accept and waits for its outcome.
func acceptNow(t *testing.T, g *Gateway, m *Message) error {
	t.Helper()
	done := make(chan error, 1)
	if err := g.Accept(context.Background(), m, func(err error) { done <- err }); err != nil {
		return err
	}
	return relaytest.Recv(t, done)
}

// TestAcceptReportsDurableStorage: Accept's callback comes after the
// commit, a redelivered message is reported stored without a second copy,
// and subject and thread travel with the message and survive a restart.
func TestAcceptReportsDurableStorage(t *testing.T) {
	dir := t.TempDir()
	g := startTestGateway(t, dir)
	m := &Message{Network: "public-xmpp", From: "bob@ext.test", ReplyTo: "bob@ext.test", To: "hana.sales@contact.acme.test", ID: "mail-1",
		Body: "hello", Subject: "Quote", Thread: "t-1"}
	g.inside.SetDown(true) // keep it pending, so the restart replays it
	if err := acceptNow(t, g.Gateway, m); err != nil {
		t.Fatal(err)
	}
	again := *m
	if err := acceptNow(t, g.Gateway, &again); err != nil {
		t.Fatal(err)
	}
	stats, err := g.queue.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats[StatePending] != 1 {
		t.Fatalf("queue %v: want exactly one pending message", stats)
	}
	g.stop()

	g = startTestGateway(t, dir)
	defer g.stop()
	o := recv(t, g.inside.Sent)
	if o.Body != "hello" || o.Subject != "Quote" || o.Thread != "t-1" {
		t.Fatalf("replayed %+v", o)
	}
}

// TestAutomaticMessagesAreNeverAnswered: mail from a robot that would be
// refused, or would start a relationship, is dropped without an answer.
func TestAutomaticMessagesAreNeverAnswered(t *testing.T) {
	g := startTestGateway(t, t.TempDir())
	defer g.stop()
	for _, m := range []*Message{
		{Network: "public-xmpp", From: "robot@ext.test", ReplyTo: "robot@ext.test", To: "nobody@contact.acme.test", ID: "a1", Body: "away", Automatic: "Auto-Submitted: auto-replied"},
		{Network: "public-xmpp", From: "robot@ext.test", ReplyTo: "robot@ext.test", To: "hana.sales@contact.acme.test", ID: "a2", Body: "away", Automatic: "Precedence: bulk"},
	} {
		if err := acceptNow(t, g.Gateway, m); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case o := <-g.outside.Sent:
		t.Fatalf("answered a robot: %+v", o)
	case o := <-g.inside.Sent:
		t.Fatalf("a robot started a relationship: %+v", o)
	case <-time.After(300 * time.Millisecond):
	}
	if _, ok := g.state.Snapshot().ContactByAddr(identity.Address{Network: "public-xmpp", Addr: "robot@ext.test"}); ok {
		t.Fatal("a contact was created for a robot")
	}
	// A known contact's automatic message is delivered, marked by the adapter.
	if err := acceptNow(t, g.Gateway, &Message{Network: "public-xmpp", From: "bob@ext.test", ReplyTo: "bob@ext.test", To: "hana.sales@contact.acme.test", ID: "b1", Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	recv(t, g.inside.Sent)
	if err := acceptNow(t, g.Gateway, &Message{Network: "public-xmpp", From: "bob@ext.test", ReplyTo: "bob@ext.test", To: "hana.sales@contact.acme.test", ID: "b2", Body: "away", Automatic: "Auto-Submitted: auto-replied"}); err != nil {
		t.Fatal(err)
	}
	if o := recv(t, g.inside.Sent); o.Body != "away" {
		t.Fatalf("got %+v", o)
	}
}
