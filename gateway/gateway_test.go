package gateway

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// memAdapter is an in-process adapter: what the gateway sends is delivered
// to a channel. It stands in for a protocol in tests of the gateway core;
// the real protocols are tested end to end in e2e/.
type memAdapter struct {
	network string
	mu      sync.Mutex
	down    bool
	refuse  map[string]bool // recipients refused for now, like a mail server's 4xx
	sent    chan *Outgoing
	// hook, when set, answers Send instead.
	hook     func(ctx context.Context, o *Outgoing) error
	attempts atomic.Int64
}

func (a *memAdapter) Network() string { return a.network }
func (a *memAdapter) Run(ctx context.Context, _ Core) error {
	<-ctx.Done()
	return nil
}
func (a *memAdapter) Send(ctx context.Context, o *Outgoing) error {
	a.attempts.Add(1)
	a.mu.Lock()
	down, refused, hook := a.down, a.refuse[o.To], a.hook
	a.mu.Unlock()
	if hook != nil {
		return hook(ctx, o)
	}
	if down {
		return NotConnected(nil)
	}
	if refused {
		return errors.New("452 4.2.2 mailbox full")
	}
	a.sent <- o
	return nil
}
func (a *memAdapter) setDown(d bool) { a.mu.Lock(); a.down = d; a.mu.Unlock() }
func (a *memAdapter) setRefused(to string, r bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refuse == nil {
		a.refuse = map[string]bool{}
	}
	a.refuse[to] = r
}

type testGateway struct {
	*Gateway
	inside, outside *memAdapter
	stop            func()
}

func startTestGateway(t testing.TB, dir string, opts ...func(*Options)) *testGateway {
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
	q, err := OpenQueue(ctx, filepath.Join(dir, "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	in := &memAdapter{network: "corp", sent: make(chan *Outgoing, 1<<16)}
	out := &memAdapter{network: "public-xmpp", sent: make(chan *Outgoing, 1<<16)}
	top := &routing.Topology{
		Networks: map[string]routing.Network{
			"corp":        {Name: "corp", Side: identity.Inside, Domain: "gw.corp.test", HomeDomains: []string{"corp.test"}, ProxyFor: "public-xmpp"},
			"public-xmpp": {Name: "public-xmpp", Side: identity.Outside, Domain: "contact.acme.test"},
		},
		FallbackEmployee: "hana",
	}
	o := Options{Topology: top, State: st, Queue: q, Adapters: []Adapter{in, out}, RetryMax: 20 * time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	<-g.ready
	return &testGateway{Gateway: g, inside: in, outside: out, stop: func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		q.Close()
		store.Close()
	}}
}

func recv(t testing.TB, ch chan *Outgoing) *Outgoing {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(5 * time.Second):
		t.Fatal("nothing sent within 5s")
		return nil
	}
}

// TestReceiveRoutesStoresAndSends covers the core path: a new outward
// contact, the reply, a refusal, and replay after a restart while the
// outside was down.
func TestReceiveRoutesStoresAndSends(t *testing.T) {
	dir := t.TempDir()
	g := startTestGateway(t, dir)
	ctx := context.Background()
	if err := g.Receive(ctx, &Message{Network: "corp", From: "Hana@corp.test/laptop", ReplyTo: "Hana@corp.test/laptop", To: `bob\40ext.test@gw.corp.test`, ID: "in-1", Body: "hello"}); err != nil {
		t.Fatal(err)
	}
	o := recv(t, g.outside.sent)
	if o.From != "hana.sales@contact.acme.test" || o.To != "bob@ext.test" || o.Body != "hello" || o.ID == "in-1" || !o.Subscribe || o.Nick != "ACME Sales · Hana" {
		t.Fatalf("outward: %+v", o)
	}
	if err := g.Receive(ctx, &Message{Network: "public-xmpp", From: "bob@ext.test/phone", ReplyTo: "bob@ext.test/phone", To: "hana.sales@contact.acme.test", ID: "b-1", Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	o = recv(t, g.inside.sent)
	if o.From != `bob\40ext.test@gw.corp.test` || o.To != "hana@corp.test" || o.Body != "hi" {
		t.Fatalf("inward: %+v", o)
	}
	// A refusal goes back to the sender's full address, on the network it came from.
	if err := g.Receive(ctx, &Message{Network: "public-xmpp", From: "bob@ext.test/phone", ReplyTo: "bob@ext.test/phone", To: "ghost@contact.acme.test", ID: "b-2", Body: "?"}); err != nil {
		t.Fatal(err)
	}
	o = recv(t, g.outside.sent)
	if o.Refusal == nil || o.Refusal.Reason != routing.NoSuchAddress || o.To != "bob@ext.test/phone" || o.ReplyTo != "b-2" {
		t.Fatalf("refusal: %+v", o)
	}

	// The outside goes down; a message waits; the gateway stops.
	g.outside.setDown(true)
	if err := g.Receive(ctx, &Message{Network: "corp", From: "hana@corp.test/laptop", ReplyTo: "hana@corp.test/laptop", To: `bob\40ext.test@gw.corp.test`, ID: "in-2", Body: "are you there"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	select {
	case o := <-g.outside.sent:
		t.Fatalf("sent while down: %+v", o)
	default:
	}
	g.stop()

	g = startTestGateway(t, dir)
	defer g.stop()
	o = recv(t, g.outside.sent)
	if o.Body != "are you there" || o.From != "hana.sales@contact.acme.test" {
		t.Fatalf("replayed: %+v", o)
	}
	// Redelivery of an already stored stanza is dropped.
	if err := g.Receive(ctx, &Message{Network: "corp", From: "hana@corp.test/laptop", ReplyTo: "hana@corp.test/laptop", To: `bob\40ext.test@gw.corp.test`, ID: "in-2", Body: "are you there"}); err != nil {
		t.Fatal(err)
	}
	select {
	case o := <-g.outside.sent:
		t.Fatalf("duplicate sent: %+v", o)
	case <-time.After(200 * time.Millisecond):
	}
}

// BenchmarkRelayLatency measures the gateway core alone (route, durable
// commit, hand to the adapter) one message at a time, as at a paced rate.
func BenchmarkRelayLatency(b *testing.B) {
	g := startTestGateway(b, b.TempDir())
	defer g.stop()
	ctx := context.Background()
	msg := func() *Message {
		return &Message{Network: "public-xmpp", From: "bob@ext.test/phone", ReplyTo: "bob@ext.test/phone", To: "hana.sales@contact.acme.test", Body: "hello"}
	}
	_ = g.Receive(ctx, msg())
	recv(b, g.inside.sent)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if err := g.Receive(ctx, msg()); err != nil {
			b.Fatal(err)
		}
		recv(b, g.inside.sent)
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkRelayThroughput pushes messages as fast as Receive takes them.
func BenchmarkRelayThroughput(b *testing.B) {
	g := startTestGateway(b, b.TempDir())
	defer g.stop()
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		for i := 0; i < b.N; i++ {
			<-g.inside.sent
		}
		close(done)
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := g.Receive(ctx, &Message{Network: "public-xmpp", From: "bob@ext.test/phone", ReplyTo: "bob@ext.test/phone", To: "hana.sales@contact.acme.test", Body: "hello"}); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// TestRefusedMessageWaitsAlone: a message the network refuses for now is
// tried again on its own while later messages go out; refused past
// RefusedFor, its author is told; accepted meanwhile, nobody is.
func TestRefusedMessageWaitsAlone(t *testing.T) {
	g := startTestGateway(t, t.TempDir(), func(o *Options) {
		o.RefusedRetry, o.RefusedFor = 10*time.Millisecond, 400*time.Millisecond
	})
	defer g.stop()
	ctx := context.Background()
	g.outside.setRefused("full@ext.test", true)
	g.outside.setRefused("busy@ext.test", true)
	for i, to := range []string{"full", "busy", "bob"} {
		if err := g.Receive(ctx, &Message{Network: "corp", From: "hana@corp.test/pc", ReplyTo: "hana@corp.test/pc", To: to + `\40ext.test@gw.corp.test`, ID: fmt.Sprint("r", i), Body: "hello " + to}); err != nil {
			t.Fatal(err)
		}
	}
	if o := recv(t, g.outside.sent); o.To != "bob@ext.test" {
		t.Fatalf("first out: %+v; bob's message must not wait behind refused ones", o)
	}
	time.Sleep(50 * time.Millisecond)
	g.outside.setRefused("busy@ext.test", false)
	if o := recv(t, g.outside.sent); o.To != "busy@ext.test" {
		t.Fatalf("retried: %+v", o)
	}
	n := recv(t, g.inside.sent)
	if n.Kind != KindNotice || bareLower(n.To) != "hana@corp.test" || !strings.Contains(n.Body, "full@ext.test") || !strings.Contains(n.Body, "could not be delivered") ||
		!strings.Contains(n.Body, "mailbox full") {
		t.Fatalf("failure notice %+v", n)
	}
	select {
	case o := <-g.inside.sent:
		t.Fatalf("a second notice: %+v", o)
	case o := <-g.outside.sent:
		t.Fatalf("sent after it failed: %+v", o)
	case <-time.After(200 * time.Millisecond):
	}
}
