package gateway

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/gateway/internal/relaytest"
	"github.com/kakehashi/kakehashi/internal/testenv"
	"github.com/kakehashi/kakehashi/routing"
)

// memAdapter is the in-process adapter of relaytest.
type memAdapter = relaytest.Adapter[Outgoing, Core]

func newMemAdapter(network string) *memAdapter {
	return relaytest.NewAdapter[Outgoing, Core](network, func(o *Outgoing) string { return o.To },
		func() error { return NotConnected(nil) })
}

// commitFirst makes the test gateway's adapters ones that want every
// message stored before it is written, as mail does.
func commitFirst(o *Options) {
	for _, a := range o.Adapters {
		if m, ok := a.(*memAdapter); ok {
			m.CommitFirst = true
		}
	}
}

type testGateway struct {
	*Gateway
	inside, outside *memAdapter
	stop            func()
}

// startTestGateway starts a gateway on the stores in dir between the
// networks of relaytest.Topology, with in-process adapters.
func startTestGateway(t testing.TB, dir string, opts ...func(*Options)) *testGateway {
	t.Helper()
	return startTestGatewayOn(t, dir, filepath.Join(dir, "queue.db"), opts...)
}

// startTestGatewayOn is startTestGateway with the queue in queueStore (an
// OpenQueue argument; see testStores).
func startTestGatewayOn(t testing.TB, dir, queueStore string, opts ...func(*Options)) *testGateway {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, store := relaytest.OpenState(t, ctx, dir)
	q, err := OpenQueue(ctx, queueStore)
	if err != nil {
		t.Fatal(err)
	}
	in, out := newMemAdapter("corp"), newMemAdapter("public-xmpp")
	o := Options{Topology: relaytest.Topology(), State: st, Queue: q, Adapters: []Adapter{in, out}, RetryMax: 20 * time.Millisecond}
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

func recv(t testing.TB, ch chan *Outgoing) *Outgoing { t.Helper(); return relaytest.Recv(t, ch) }

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
	o := recv(t, g.outside.Sent)
	if o.From != "hana.sales@contact.acme.test" || o.To != "bob@ext.test" || o.Body != "hello" || o.ID == "in-1" || !o.Subscribe || o.Nick != "ACME Sales · Hana" {
		t.Fatalf("outward: %+v", o)
	}
	if err := g.Receive(ctx, &Message{Network: "public-xmpp", From: "bob@ext.test/phone", ReplyTo: "bob@ext.test/phone", To: "hana.sales@contact.acme.test", ID: "b-1", Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	o = recv(t, g.inside.Sent)
	if o.From != `bob\40ext.test@gw.corp.test` || o.To != "hana@corp.test" || o.Body != "hi" {
		t.Fatalf("inward: %+v", o)
	}
	// A refusal goes back to the sender's full address, on the network it came from.
	if err := g.Receive(ctx, &Message{Network: "public-xmpp", From: "bob@ext.test/phone", ReplyTo: "bob@ext.test/phone", To: "ghost@contact.acme.test", ID: "b-2", Body: "?"}); err != nil {
		t.Fatal(err)
	}
	o = recv(t, g.outside.Sent)
	if o.Refusal == nil || o.Refusal.Reason != routing.NoSuchAddress || o.To != "bob@ext.test/phone" || o.ReplyTo != "b-2" {
		t.Fatalf("refusal: %+v", o)
	}

	// The outside goes down; a message waits; the gateway stops.
	g.outside.SetDown(true)
	if err := g.Receive(ctx, &Message{Network: "corp", From: "hana@corp.test/laptop", ReplyTo: "hana@corp.test/laptop", To: `bob\40ext.test@gw.corp.test`, ID: "in-2", Body: "are you there"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	select {
	case o := <-g.outside.Sent:
		t.Fatalf("sent while down: %+v", o)
	default:
	}
	g.stop()

	g = startTestGateway(t, dir)
	defer g.stop()
	o = recv(t, g.outside.Sent)
	if o.Body != "are you there" || o.From != "hana.sales@contact.acme.test" {
		t.Fatalf("replayed: %+v", o)
	}
	// Redelivery of an already stored stanza is dropped.
	if err := g.Receive(ctx, &Message{Network: "corp", From: "hana@corp.test/laptop", ReplyTo: "hana@corp.test/laptop", To: `bob\40ext.test@gw.corp.test`, ID: "in-2", Body: "are you there"}); err != nil {
		t.Fatal(err)
	}
	select {
	case o := <-g.outside.Sent:
		t.Fatalf("duplicate sent: %+v", o)
	case <-time.After(200 * time.Millisecond):
	}
}

// BenchmarkRelayLatency measures the gateway core alone (route, durable
// commit, hand to the adapter) one message at a time, as at a paced rate.
func BenchmarkRelayLatency(b *testing.B) {
	dir := b.TempDir()
	relayLatency(b, dir, filepath.Join(dir, "queue.db"))
}

// BenchmarkRelayLatencyPostgres is BenchmarkRelayLatency with the queue
// on PostgreSQL.
func BenchmarkRelayLatencyPostgres(b *testing.B) {
	relayLatency(b, b.TempDir(), testenv.SharedPostgres(b).NewDatabase(b))
}

// BenchmarkRelayLatencyStoredFirst is BenchmarkRelayLatency for a
// network that wants each message stored before it is written (as mail
// does): each message waits for its commit.
func BenchmarkRelayLatencyStoredFirst(b *testing.B) {
	dir := b.TempDir()
	relayLatency(b, dir, filepath.Join(dir, "queue.db"), commitFirst)
}

// BenchmarkRelayLatencyStoredFirstPostgres is
// BenchmarkRelayLatencyStoredFirst with the queue on PostgreSQL.
func BenchmarkRelayLatencyStoredFirstPostgres(b *testing.B) {
	relayLatency(b, b.TempDir(), testenv.SharedPostgres(b).NewDatabase(b), commitFirst)
}

func relayLatency(b *testing.B, dir, queueStore string, opts ...func(*Options)) {
	g := startTestGatewayOn(b, dir, queueStore, opts...)
	defer g.stop()
	ctx := context.Background()
	msg := func() *Message {
		return &Message{Network: "public-xmpp", From: "bob@ext.test/phone", ReplyTo: "bob@ext.test/phone", To: "hana.sales@contact.acme.test", Body: "hello"}
	}
	_ = g.Receive(ctx, msg())
	recv(b, g.inside.Sent)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		if err := g.Receive(ctx, msg()); err != nil {
			b.Fatal(err)
		}
		recv(b, g.inside.Sent)
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkRelayThroughput pushes messages as fast as Receive takes them.
func BenchmarkRelayThroughput(b *testing.B) {
	dir := b.TempDir()
	relayThroughput(b, dir, filepath.Join(dir, "queue.db"))
}

// BenchmarkRelayThroughputPostgres is BenchmarkRelayThroughput with the
// queue on PostgreSQL (a database of its own on the test binary's server).
func BenchmarkRelayThroughputPostgres(b *testing.B) {
	relayThroughput(b, b.TempDir(), testenv.SharedPostgres(b).NewDatabase(b))
}

func relayThroughput(b *testing.B, dir, queueStore string) {
	g := startTestGatewayOn(b, dir, queueStore)
	defer g.stop()
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		for i := 0; i < b.N; i++ {
			<-g.inside.Sent
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
	g.outside.SetRefused("full@ext.test", true)
	g.outside.SetRefused("busy@ext.test", true)
	for i, to := range []string{"full", "busy", "bob"} {
		if err := g.Receive(ctx, &Message{Network: "corp", From: "hana@corp.test/pc", ReplyTo: "hana@corp.test/pc", To: to + `\40ext.test@gw.corp.test`, ID: fmt.Sprint("r", i), Body: "hello " + to}); err != nil {
			t.Fatal(err)
		}
	}
	if o := recv(t, g.outside.Sent); o.To != "bob@ext.test" {
		t.Fatalf("first out: %+v; bob's message must not wait behind refused ones", o)
	}
	time.Sleep(50 * time.Millisecond)
	g.outside.SetRefused("busy@ext.test", false)
	if o := recv(t, g.outside.Sent); o.To != "busy@ext.test" {
		t.Fatalf("retried: %+v", o)
	}
	n := recv(t, g.inside.Sent)
	if n.Kind != KindNotice || bareLower(n.To) != "hana@corp.test" || !strings.Contains(n.Body, "full@ext.test") || !strings.Contains(n.Body, "could not be delivered") ||
		!strings.Contains(n.Body, "mailbox full") {
		t.Fatalf("failure notice %+v", n)
	}
	select {
	case o := <-g.inside.Sent:
		t.Fatalf("a second notice: %+v", o)
	case o := <-g.outside.Sent:
		t.Fatalf("sent after it failed: %+v", o)
	case <-time.After(200 * time.Millisecond):
	}
}
