// Package gatewaytest starts a gateway with in-process adapters, for the
// tests of the packages built on it (outreach, adminapi).
package gatewaytest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/gateway/internal/relaytest"
	"github.com/kakehashi/kakehashi/internal/testenv"
)

// MemAdapter is an in-process adapter: what the gateway sends is
// delivered to its Sent channel (see relaytest.Adapter).
type MemAdapter = relaytest.Adapter[gateway.Outgoing, gateway.Core]

// NewMemAdapter returns the in-process adapter of network; down, it
// reports the network away.
func NewMemAdapter(network string) *MemAdapter {
	return relaytest.NewAdapter[gateway.Outgoing, gateway.Core](network, func(o *gateway.Outgoing) string { return o.To },
		func() error { return gateway.NotConnected(nil) })
}

// World is a started gateway with an in-process adapter on each side.
type World struct {
	*gateway.Gateway
	Inside, Outside *MemAdapter
	// Stop stops the gateway and closes its stores.
	Stop func()

	queue *gateway.Queue
}

// Settle waits until the queue has committed everything handed to it so
// far: a message written before its commit (gateway.WireFirst) has
// reached its recipient by then, its record perhaps not yet.
func (w *World) Settle(t testing.TB) {
	t.Helper()
	if err := w.queue.Exec(context.Background(), func(context.Context, *gateway.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// Start starts a gateway on the stores in dir (see relaytest.OpenState)
// between the networks of relaytest.Topology. attach, when not nil, is
// called with the gateway before it runs (outreach.New, say); opts
// adjust its options.
func Start(t testing.TB, dir string, attach func(*gateway.Gateway), opts ...func(*gateway.Options)) *World {
	t.Helper()
	return StartOn(t, dir, filepath.Join(dir, "queue.db"), attach, opts...)
}

// StartOn is Start with the queue in queueStore (a gateway.OpenQueue
// argument, as QueueStores give).
func StartOn(t testing.TB, dir, queueStore string, attach func(*gateway.Gateway), opts ...func(*gateway.Options)) *World {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, store := relaytest.OpenState(t, ctx, dir)
	q, err := gateway.OpenQueue(ctx, queueStore)
	if err != nil {
		t.Fatal(err)
	}
	in, out := NewMemAdapter("corp"), NewMemAdapter("public-xmpp")
	o := gateway.Options{Topology: relaytest.Topology(), State: st, Queue: q, Adapters: []gateway.Adapter{in, out}, RetryMax: 20 * time.Millisecond}
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
	return &World{Gateway: g, Inside: in, Outside: out, queue: q, Stop: func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		q.Close()
		store.Close()
	}}
}

// QueueStore is a kind of database a test runs the queue on: New gives
// the test a store of its own (a gateway.OpenQueue argument), which
// outlives a restart of the gateway within the test.
type QueueStore struct {
	Name string
	New  func(t testing.TB, dir string) string
}

// QueueStores are SQLite (a file in dir) and PostgreSQL (a database of
// its own on the test binary's shared server: skipped when there is no
// server locally, failed under CI=true; see testenv.RequirePostgres).
func QueueStores() []QueueStore {
	return []QueueStore{
		{"sqlite", func(_ testing.TB, dir string) string { return filepath.Join(dir, "queue.db") }},
		{"postgres", func(t testing.TB, _ string) string { return testenv.SharedPostgres(t).NewDatabase(t) }},
	}
}

// Recv returns the next message sent on ch, failing t after 5 s.
func Recv(t testing.TB, ch chan *gateway.Outgoing) *gateway.Outgoing {
	t.Helper()
	return relaytest.Recv(t, ch)
}

// AcceptNow hands m to g.Accept and returns what its stored callback
// reports, failing t when it reports nothing within 5 s.
func AcceptNow(t testing.TB, g *gateway.Gateway, m *gateway.Message) error {
	t.Helper()
	done := make(chan error, 1)
	if err := g.Accept(context.Background(), m, func(err error) { done <- err }); err != nil {
		return err
	}
	return relaytest.Recv(t, done)
}
