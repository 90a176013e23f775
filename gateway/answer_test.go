package gateway

import (
	"context"
	"errors"
	"github.com/kakehashi/kakehashi/routing"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/identity"
)

// TestUnvouchedSendersAreNeverAnswered: a message whose adapter does not
// vouch for its sender (Message.ReplyTo empty: mail that passed neither
// SPF nor DMARC at a trusted server, a null sender) is still relayed when
// it reaches someone, but nothing the gateway writes by itself goes back
// to the claimed sender: no refusal, no welcome, no failure notice.
func TestUnvouchedSendersAreNeverAnswered(t *testing.T) {
	g := startTestGateway(t, t.TempDir())
	defer g.stop()
	ctx := context.Background()
	p, _ := g.state.Snapshot().Persona("hana.sales")
	p.Welcome = "Welcome to ACME!"
	if err := g.state.UpsertPersona(ctx, "t", "welcome", *p); err != nil {
		t.Fatal(err)
	}
	// Refused (nobody at that persona address): not answered, not stored,
	// and the adapter is told so, to set it aside for a person.
	var unanswered *UnansweredError
	if err := acceptNow(t, g.Gateway, &Message{Network: "public-xmpp", From: "victim@ext.test", To: "ghost@contact.acme.test", ID: "f1", Body: "buy now"}); !errors.As(err, &unanswered) || unanswered.Refusal.Reason != routing.NoSuchAddress {
		t.Fatalf("stored(%v), want an *UnansweredError", err)
	}
	// A new contact: relayed to hana, but no welcome to the claimed sender.
	if err := acceptNow(t, g.Gateway, &Message{Network: "public-xmpp", From: "victim@ext.test", To: "hana.sales@contact.acme.test", ID: "f2", Body: "hello"}); err != nil {
		t.Fatal(err)
	}
	if o := recv(t, g.inside.sent); o.Body != "hello" {
		t.Fatalf("relayed %+v", o)
	}
	select {
	case o := <-g.outside.sent:
		t.Fatalf("answered a sender nobody vouched for: %+v", o)
	case <-time.After(300 * time.Millisecond):
	}
	if rel, ok := g.state.Snapshot().ContactByAddr(identity.Address{Network: "public-xmpp", Addr: "victim@ext.test"}); !ok || rel == nil {
		t.Fatal("the message that reached hana started no contact")
	}
	// The same with ReplyTo set: refused and welcomed.
	if err := acceptNow(t, g.Gateway, &Message{Network: "public-xmpp", From: "carol@ext.test", ReplyTo: "carol@ext.test/pc", To: "ghost@contact.acme.test", ID: "v1", Body: "?"}); err != nil {
		t.Fatal(err)
	}
	if o := recv(t, g.outside.sent); o.Refusal == nil || o.To != "carol@ext.test/pc" {
		t.Fatalf("refusal %+v", o)
	}
	if err := acceptNow(t, g.Gateway, &Message{Network: "public-xmpp", From: "carol@ext.test", ReplyTo: "carol@ext.test/pc", To: "hana.sales@contact.acme.test", ID: "v2", Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	recv(t, g.inside.sent)
	if o := recv(t, g.outside.sent); o.Body != "Welcome to ACME!" || o.To != "carol@ext.test" {
		t.Fatalf("welcome %+v", o)
	}
}
