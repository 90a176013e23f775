// Package gatewaytest starts a gateway with in-process adapters, for the
// tests of the packages built on it (outreach, adminapi).
package gatewaytest

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// MemAdapter is an in-process adapter: what the gateway sends is delivered
// to Sent. It stands in for a protocol in tests of the packages built on
// the gateway; the real protocols are tested end to end in e2e/.
type MemAdapter struct {
	network string
	mu      sync.Mutex
	down    bool
	refuse  map[string]bool // recipients refused for now, like a mail server's 4xx
	Sent    chan *gateway.Outgoing
	// hook, when set, answers Send instead.
	Hook     func(ctx context.Context, o *gateway.Outgoing) error
	Attempts atomic.Int64
}

// Network implements gateway.Adapter.
func (a *MemAdapter) Network() string { return a.network }

// Run implements gateway.Adapter.
func (a *MemAdapter) Run(ctx context.Context, _ gateway.Core) error {
	<-ctx.Done()
	return nil
}

// Send implements gateway.Adapter: down, it reports the network away;
// a refused recipient gets a temporary refusal.
func (a *MemAdapter) Send(ctx context.Context, o *gateway.Outgoing) error {
	a.Attempts.Add(1)
	a.mu.Lock()
	down, refused, hook := a.down, a.refuse[o.To], a.Hook
	a.mu.Unlock()
	if hook != nil {
		return hook(ctx, o)
	}
	if down {
		return gateway.NotConnected(nil)
	}
	if refused {
		return errors.New("452 4.2.2 mailbox full")
	}
	a.Sent <- o
	return nil
}

// SetDown takes the network away (true) or brings it back.
func (a *MemAdapter) SetDown(d bool) { a.mu.Lock(); a.down = d; a.mu.Unlock() }

// SetRefused has the network refuse messages to to for now (r true).
func (a *MemAdapter) SetRefused(to string, r bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refuse == nil {
		a.refuse = map[string]bool{}
	}
	a.refuse[to] = r
}

// World is a started gateway with an in-process adapter on each side.
type World struct {
	*gateway.Gateway
	Inside, Outside *MemAdapter
	// Stop stops the gateway and closes its stores.
	Stop func()
}

// Start starts a gateway on the stores in dir (made on first use, with
// employee hana and persona hana.sales) between networks corp (inside,
// proxy domain gw.corp.test) and public-xmpp (outside, personas at
// contact.acme.test). opts adjust its options; attach, when not nil, is
// called with the gateway before it runs (outreach.New, say).
func Start(t testing.TB, dir string, attach func(*gateway.Gateway), opts ...func(*gateway.Options)) *World {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	store, err := identity.OpenSQLite(ctx, filepath.Join(dir, "identity.db"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := identity.Open(ctx, store, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Snapshot().Employee("hana"); !ok {
		if err := st.UpsertEmployee(ctx, "t", "setup", identity.Employee{ID: "hana", Name: "Hana Sato",
			InsideAddrs: []identity.Address{{Network: "corp", Addr: "hana@corp.test"}}, DefaultPersona: "hana.sales"}); err != nil {
			t.Fatal(err)
		}
		if err := st.UpsertPersona(ctx, "t", "setup", identity.Persona{ID: "hana.sales", DisplayName: "ACME Sales · Hana",
			Kind: identity.Personal, EmployeeID: "hana",
			Addresses: []identity.Address{{Network: "public-xmpp", Addr: "hana.sales@contact.acme.test"}}}); err != nil {
			t.Fatal(err)
		}
	}
	q, err := gateway.OpenQueue(ctx, filepath.Join(dir, "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	in := &MemAdapter{network: "corp", Sent: make(chan *gateway.Outgoing, 1<<16)}
	out := &MemAdapter{network: "public-xmpp", Sent: make(chan *gateway.Outgoing, 1<<16)}
	top := &routing.Topology{
		Networks: map[string]routing.Network{
			"corp":        {Name: "corp", Side: identity.Inside, Domain: "gw.corp.test", HomeDomains: []string{"corp.test"}, ProxyFor: "public-xmpp"},
			"public-xmpp": {Name: "public-xmpp", Side: identity.Outside, Domain: "contact.acme.test"},
		},
		FallbackEmployee: "hana",
	}
	o := gateway.Options{Topology: top, State: st, Queue: q, Adapters: []gateway.Adapter{in, out}, RetryMax: 20 * time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	g, err := gateway.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if attach != nil {
		attach(g)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	g.WaitReady()
	return &World{Gateway: g, Inside: in, Outside: out, Stop: func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		q.Close()
		store.Close()
	}}
}

// Recv returns the next message sent on ch, failing t after 5 s.
func Recv(t testing.TB, ch chan *gateway.Outgoing) *gateway.Outgoing {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(5 * time.Second):
		t.Fatal("nothing sent within 5s")
		return nil
	}
}

// AcceptNow hands m to g.Accept and returns what its stored callback
// reports, failing t when it reports nothing within 5 s.
func AcceptNow(t testing.TB, g *gateway.Gateway, m *gateway.Message) error {
	t.Helper()
	done := make(chan error, 1)
	if err := g.Accept(context.Background(), m, func(err error) { done <- err }); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Accept never reported an outcome")
		return nil
	}
}
