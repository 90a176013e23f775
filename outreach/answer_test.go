package outreach

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/gateway/gatewaytest"
	"github.com/kakehashi/kakehashi/routing"

	"github.com/kakehashi/kakehashi/identity"
)

// TestUnvouchedSendersAreNeverAnswered: a message whose adapter does not
// vouch for its sender (Message.ReplyTo empty: mail that passed neither
// SPF nor DMARC at a trusted server, a null sender) is still relayed when
// it reaches someone, but nothing the gateway writes by itself goes back
// to the claimed sender: no refusal, no welcome, no failure notice.
func TestUnvouchedSendersAreNeverAnswered(t *testing.T) {
	g := startTestWorld(t, t.TempDir())
	defer g.Stop()
	ctx := context.Background()
	p, _ := g.state.Snapshot().Persona("hana.sales")
	p.Welcome = "Welcome to ACME!"
	if err := g.state.UpsertPersona(ctx, "t", "welcome", *p); err != nil {
		t.Fatal(err)
	}
	// Refused (nobody at that persona address): not answered, not stored,
	// and the adapter is told so, to set it aside for a person.
	var unanswered *gateway.UnansweredError
	if err := gatewaytest.AcceptNow(t, g.Gateway, &gateway.Message{Network: "public-xmpp", From: "victim@ext.test", To: "ghost@contact.acme.test", ID: "f1", Body: "buy now"}); !errors.As(err, &unanswered) || unanswered.Refusal.Reason != routing.NoSuchAddress {
		t.Fatalf("stored(%v), want an *gateway.UnansweredError", err)
	}
	// A new contact: relayed to hana, but no welcome to the claimed sender.
	if err := gatewaytest.AcceptNow(t, g.Gateway, &gateway.Message{Network: "public-xmpp", From: "victim@ext.test", To: "hana.sales@contact.acme.test", ID: "f2", Body: "hello"}); err != nil {
		t.Fatal(err)
	}
	if o := gatewaytest.Recv(t, g.Inside.Sent); o.Body != "hello" {
		t.Fatalf("relayed %+v", o)
	}
	select {
	case o := <-g.Outside.Sent:
		t.Fatalf("answered a sender nobody vouched for: %+v", o)
	case <-time.After(300 * time.Millisecond):
	}
	if rel, ok := g.state.Snapshot().ContactByAddr(identity.Address{Network: "public-xmpp", Addr: "victim@ext.test"}); !ok || rel == nil {
		t.Fatal("the message that reached hana started no contact")
	}
	// The same with ReplyTo set: refused and welcomed.
	if err := gatewaytest.AcceptNow(t, g.Gateway, &gateway.Message{Network: "public-xmpp", From: "carol@ext.test", ReplyTo: "carol@ext.test/pc", To: "ghost@contact.acme.test", ID: "v1", Body: "?"}); err != nil {
		t.Fatal(err)
	}
	if o := gatewaytest.Recv(t, g.Outside.Sent); o.Refusal == nil || o.To != "carol@ext.test/pc" {
		t.Fatalf("refusal %+v", o)
	}
	if err := gatewaytest.AcceptNow(t, g.Gateway, &gateway.Message{Network: "public-xmpp", From: "carol@ext.test", ReplyTo: "carol@ext.test/pc", To: "hana.sales@contact.acme.test", ID: "v2", Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	gatewaytest.Recv(t, g.Inside.Sent)
	if o := gatewaytest.Recv(t, g.Outside.Sent); o.Body != "Welcome to ACME!" || o.To != "carol@ext.test" {
		t.Fatalf("welcome %+v", o)
	}
}
