// Package relaytest holds what tests of the relay path and of the
// packages built on it share: an in-process adapter, and an identity
// state and topology to run a gateway on. It imports nothing of the
// gateway (its adapter is generic over the gateway's message and core
// types), so that the gateway's own in-package tests can use it as well
// as gateway/gatewaytest above it.
package relaytest

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// Adapter is an in-process adapter: what the gateway sends is delivered
// to Sent. It stands in for a protocol in tests of the gateway core; the
// real protocols are tested end to end in e2e/. O is the gateway's
// outgoing message and C its core, so *Adapter[gateway.Outgoing,
// gateway.Core] is a gateway.Adapter.
type Adapter[O, C any] struct {
	name    string
	to      func(*O) string
	downErr func() error
	// Sent receives every message sent.
	Sent chan *O
	// Attempts counts calls of Send.
	Attempts atomic.Int64

	// CommitFirst, set before the gateway starts, makes the adapter one
	// that wants every message stored before it is written (as mail
	// does); by default it is like XMPP's, written before the commit.
	CommitFirst bool

	mu     sync.Mutex
	hook   func(ctx context.Context, o *O) error
	down   bool
	refuse map[string]bool // recipients refused for now, like a mail server's 4xx
}

// NewAdapter returns the adapter of network name. to reads a message's
// recipient; downErr is what Send returns while the network is down.
func NewAdapter[O, C any](name string, to func(*O) string, downErr func() error) *Adapter[O, C] {
	return &Adapter[O, C]{name: name, to: to, downErr: downErr, Sent: make(chan *O, 1<<16)}
}

// Network implements the gateway's Adapter.
func (a *Adapter[O, C]) Network() string { return a.name }

// WireFirst implements the gateway's WireFirst.
func (a *Adapter[O, C]) WireFirst() bool { return !a.CommitFirst }

// Run implements the gateway's Adapter: it serves until ctx ends.
func (a *Adapter[O, C]) Run(ctx context.Context, _ C) error {
	<-ctx.Done()
	return nil
}

// Send implements the gateway's Adapter.
func (a *Adapter[O, C]) Send(ctx context.Context, o *O) error {
	a.Attempts.Add(1)
	a.mu.Lock()
	down, refused, hook := a.down, a.refuse[a.to(o)], a.hook
	a.mu.Unlock()
	if hook != nil {
		return hook(ctx, o)
	}
	if down {
		return a.downErr()
	}
	if refused {
		return errors.New("452 4.2.2 mailbox full")
	}
	a.Sent <- o
	return nil
}

// SetHook has h answer Send instead (nil: back to delivering to Sent).
func (a *Adapter[O, C]) SetHook(h func(ctx context.Context, o *O) error) {
	a.mu.Lock()
	a.hook = h
	a.mu.Unlock()
}

// SetDown takes the network away (true) or brings it back.
func (a *Adapter[O, C]) SetDown(d bool) { a.mu.Lock(); a.down = d; a.mu.Unlock() }

// SetRefused has the network refuse messages to to for now (r true), or
// take them again.
func (a *Adapter[O, C]) SetRefused(to string, r bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refuse == nil {
		a.refuse = map[string]bool{}
	}
	a.refuse[to] = r
}

// Recv returns the next value on ch, failing t after 5 s.
func Recv[T any](t testing.TB, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("nothing sent within 5s")
		var zero T
		return zero
	}
}

// OpenState opens the identity store in dir (made on first use, with
// employee hana at hana@corp.test and her persona hana.sales at
// hana.sales@contact.acme.test). Close the store when done.
func OpenState(t testing.TB, ctx context.Context, dir string) (*identity.State, *identity.SQLiteStore) {
	t.Helper()
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
	return st, store
}

// Topology is network corp (inside, proxy domain gw.corp.test, home
// domain corp.test) and public-xmpp (outside, personas at
// contact.acme.test), with hana taking what nobody owns.
func Topology() *routing.Topology {
	return &routing.Topology{
		Networks: map[string]routing.Network{
			"corp":        {Name: "corp", Side: identity.Inside, Domain: "gw.corp.test", HomeDomains: []string{"corp.test"}, ProxyFor: "public-xmpp"},
			"public-xmpp": {Name: "public-xmpp", Side: identity.Outside, Domain: "contact.acme.test"},
		},
		FallbackEmployee: "hana",
	}
}
