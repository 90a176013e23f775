package gateway

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/gateway/internal/relaytest"
	"github.com/kakehashi/kakehashi/identity"
)

// openTestStores opens the identity state and the queue of a gateway in
// dir, closed when the test ends.
func openTestStores(t *testing.T, dir string) (*identity.State, *Queue) {
	t.Helper()
	ctx := context.Background()
	st, store := relaytest.OpenState(t, ctx, dir)
	t.Cleanup(func() { store.Close() })
	q, err := OpenQueue(ctx, filepath.Join(dir, "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return st, q
}

// connectedEarly is an in-process adapter that hands over the Core it
// runs with, as a connected adapter reading from its network would use
// it.
type connectedEarly struct {
	*memAdapter
	core chan Core
	done chan struct{}
}

func newConnectedEarly(network string) *connectedEarly {
	return &connectedEarly{memAdapter: newMemAdapter(network), core: make(chan Core, 1), done: make(chan struct{})}
}

func (a *connectedEarly) Run(ctx context.Context, c Core) error {
	defer close(a.done)
	a.core <- c
	<-ctx.Done()
	return nil
}

// TestPrestartedAdaptersWaitForTheGateway: adapters started before their
// gateway (an instance taking over connects first and loads its state
// after) hold what they read: a message received meanwhile is neither
// lost nor bounced, and is relayed once the gateway runs; the gateway
// then stops them as its own.
func TestPrestartedAdaptersWaitForTheGateway(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, out := newConnectedEarly("corp"), newConnectedEarly("public-xmpp")
	pre := Prestart(ctx, []Adapter{in, out})
	core := <-in.core
	<-out.core

	received := make(chan error, 1)
	go func() {
		received <- core.Receive(ctx, &Message{Network: "corp", From: "hana@corp.test/laptop", ReplyTo: "hana@corp.test/laptop",
			To: `bob\40ext.test@gw.corp.test`, ID: "early-1", Body: "read while the state loads"})
	}()
	profile := make(chan Profile, 1)
	go func() { p, _ := core.Profile("public-xmpp", "hana.sales@contact.acme.test"); profile <- p }()
	select {
	case err := <-received:
		t.Fatalf("Receive returned before there was a gateway: %v", err)
	case <-profile:
		t.Fatal("Profile answered before there was a gateway")
	case <-time.After(200 * time.Millisecond):
	}

	st, q := openTestStores(t, t.TempDir())
	o := Options{Topology: relaytest.Topology(), State: st, Queue: q, Prestarted: pre, RetryMax: 20 * time.Millisecond}
	if _, err := New(Options{Topology: o.Topology, State: st, Queue: q, Prestarted: pre, Adapters: []Adapter{in}}); err == nil {
		t.Fatal("New took both Adapters and Prestarted")
	}
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	gctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(gctx) }()

	sent := recv(t, out.Sent)
	if sent.Body != "read while the state loads" || sent.To != "bob@ext.test" || sent.From != "hana.sales@contact.acme.test" {
		t.Fatalf("relayed: %+v", sent)
	}
	if err := <-received; err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if p := <-profile; p.Name != "ACME Sales · Hana" {
		t.Fatalf("profile once the gateway ran: %+v", p)
	}
	if !core.(Insider).ActiveEmployee("corp", "hana@corp.test") {
		t.Error("ActiveEmployee through the prestarted core")
	}
	pre.Stop() // the gateway's Run stops them, not this
	cancel()   // nor the end of the context they were started with
	select {
	case <-in.done:
		t.Fatal("adapters a gateway runs stopped before it")
	case <-time.After(50 * time.Millisecond):
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, a := range []*connectedEarly{in, out} {
		select {
		case <-a.done:
		default:
			t.Errorf("%s still runs after the gateway stopped", a.Network())
		}
	}
}

// TestPrestartedAdaptersStopWithoutAGateway: when no gateway comes (the
// state could not be loaded), Stop ends the adapters, and what they were
// handing over is refused, not taken: their network keeps or bounces it.
func TestPrestartedAdaptersStopWithoutAGateway(t *testing.T) {
	ctx := context.Background()
	in := newConnectedEarly("corp")
	pre := Prestart(ctx, []Adapter{in})
	core := <-in.core
	received := make(chan error, 1)
	go func() {
		received <- core.Receive(ctx, &Message{Network: "corp", From: "hana@corp.test/laptop", To: `bob\40ext.test@gw.corp.test`, ID: "x", Body: "x"})
	}()
	answered := make(chan bool, 1)
	go func() { answered <- core.(Insider).ActiveEmployee("corp", "hana@corp.test") }()
	pre.Stop()
	select {
	case <-in.done:
	default:
		t.Fatal("Stop returned before the adapter stopped")
	}
	if err := <-received; !errors.Is(err, errNotTaken) {
		t.Errorf("Receive after Stop: %v, want errNotTaken", err)
	}
	if <-answered {
		t.Error("ActiveEmployee said yes with no gateway")
	}
}

// TestSettleWaitsForWhatWasHandedOver: Settle waits for the messages of
// its network handed over before it was called (until stored or
// answered), not for later ones nor other networks', and gives up when
// its context ends.
func TestSettleWaitsForWhatWasHandedOver(t *testing.T) {
	g := startTestGateway(t, t.TempDir())
	defer g.stop()
	a, b := g.taken.take("corp"), g.taken.take("corp")
	g.taken.take("public-xmpp")
	settled := make(chan struct{})
	go func() { g.Settle(context.Background(), "corp"); close(settled) }()
	time.Sleep(50 * time.Millisecond)
	g.taken.take("corp") // after Settle began
	g.taken.done(a)
	select {
	case <-settled:
		t.Fatal("Settle returned with a message outstanding")
	case <-time.After(50 * time.Millisecond):
	}
	g.taken.done(b)
	g.taken.done(b) // settling twice is harmless
	select {
	case <-settled:
	case <-time.After(time.Second):
		t.Fatal("Settle did not return once what was handed over before it had settled")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	g.Settle(ctx, "public-xmpp")
	if time.Since(start) > time.Second {
		t.Fatal("Settle outlived its context")
	}
}
