package xmpp

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/testenv"
)

// confirmWorld is a component attached to a real Prosody through a proxy
// that can fail the link, and an employee's client attached directly.
type confirmWorld struct {
	c     *Component
	proxy *testenv.FaultProxy
	hana  *testenv.Client
	ups   chan struct{} // one value per (re)connection of the component
}

// newConfirmWorld starts it; probeTimeout, when not 0, replaces the
// component's.
func newConfirmWorld(t *testing.T, unconfirmed bool, probeTimeout time.Duration) *confirmWorld {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Prosody")
	}
	p := testenv.StartProsody(t, testenv.ProsodyOptions{OutsideHost: "unused-outside.test", Components: []string{testDomain}})
	p.Register(t, "hana", "corp.test", "secret-pw")
	w := &confirmWorld{proxy: testenv.StartFaultProxy(t, p.ComponentAddr), ups: make(chan struct{}, 16)}
	c, err := New(Config{Network: "corp", Side: identity.Inside, Domain: testDomain, Server: w.proxy.Addr(), Secret: p.Secret,
		Unconfirmed: unconfirmed, MaxBackoff: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	w.c = c
	if probeTimeout != 0 {
		c.probeTimeout = probeTimeout
	}
	c.cfg.OnConnect = func() { w.ups <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, &recordingCore{}) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	w.reconnected(t)
	w.hana = testenv.Dial(t, p, hanaPhone, "secret-pw")
	return w
}

// send writes the messages ids as a relayed text each.
func (w *confirmWorld) send(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		out := &gateway.Outgoing{Kind: gateway.KindRelayed, From: proxyAddr, To: "hana@corp.test", ID: id, Body: "text " + id}
		if err := w.c.Send(t.Context(), out); err != nil {
			t.Fatalf("send %s: %v", id, err)
		}
	}
}

// reconnected waits for the component's next connection.
func (w *confirmWorld) reconnected(t *testing.T) {
	t.Helper()
	select {
	case <-w.ups:
	case <-time.After(20 * time.Second):
		t.Fatal("the component did not reconnect")
	}
}

// confirmedAll waits until the server has confirmed everything written.
func (w *confirmWorld) confirmedAll(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for w.c.sent.len() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still unconfirmed", w.c.sent.len())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// received collects the ids of the messages Hana gets until quiet has
// passed without one.
func (w *confirmWorld) received(t *testing.T, quiet time.Duration) []string {
	t.Helper()
	var ids []string
	for {
		ctx, cancel := context.WithTimeout(t.Context(), quiet)
		s, err := w.hana.Receive(ctx)
		cancel()
		if err != nil {
			return ids
		}
		if s.Kind == "message" && s.Body != "" {
			ids = append(ids, s.ID)
		}
	}
}

func ids(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

// TestConfirmRewritesWhatTheServerDidNotRead: the link swallows what the
// component writes (a server that died with them unread) and is then cut.
// Confirmed, the messages written meanwhile go out again on the next
// stream, each once and in order; unconfirmed, they are lost, which is
// what the confirmation is for.
func TestConfirmRewritesWhatTheServerDidNotRead(t *testing.T) {
	for _, tt := range []struct {
		name        string
		unconfirmed bool
	}{{"confirmed", false}, {"unconfirmed", true}} {
		t.Run(tt.name, func(t *testing.T) {
			w := newConfirmWorld(t, tt.unconfirmed, 0)
			before, during := ids("before-", 3), ids("during-", 5)
			w.send(t, before...)
			if got := w.received(t, time.Second); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Fatalf("before the fault, Hana got %v", got)
			}
			w.proxy.Swallow()
			w.send(t, during...)
			time.Sleep(100 * time.Millisecond) // on the socket, and swallowed
			w.proxy.Cut()
			w.reconnected(t)
			got := w.received(t, 2*time.Second)
			want := during
			if tt.unconfirmed {
				want = nil
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("after the reconnect, Hana got %v; want %v", got, want)
			}
			if !tt.unconfirmed {
				w.confirmedAll(t)
			}
		})
	}
}

// TestConfirmSendsNothingTwice: what the server confirmed is not written
// again after a reconnect, and a stream that stops answering is given up
// after the probe timeout and what it swallowed is written on the next.
func TestConfirmSendsNothingTwice(t *testing.T) {
	w := newConfirmWorld(t, false, 500*time.Millisecond)
	first := ids("a-", 20)
	w.send(t, first...)
	w.confirmedAll(t)
	w.proxy.Cut()
	w.reconnected(t)
	second := ids("b-", 3)
	w.send(t, second...)
	if got, want := w.received(t, 2*time.Second), append(first, second...); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Hana got %v; want %v", got, want)
	}

	// The server stops reading, and nothing cuts the link: the probe goes
	// unanswered, the component reconnects by itself and writes again.
	w.proxy.Swallow()
	third := ids("c-", 4)
	w.send(t, third...)
	w.reconnected(t)
	if got := w.received(t, 2*time.Second); fmt.Sprint(got) != fmt.Sprint(third) {
		t.Fatalf("after the probe timeout, Hana got %v; want %v", got, third)
	}
	w.confirmedAll(t)
}

// TestConfirmBurst: a burst is confirmed by few probes, and everything
// arrives once.
func TestConfirmBurst(t *testing.T) {
	w := newConfirmWorld(t, false, 0)
	burst := ids("m-", 500)
	w.send(t, burst...)
	w.confirmedAll(t)
	if got := w.received(t, 2*time.Second); fmt.Sprint(got) != fmt.Sprint(burst) {
		t.Fatalf("Hana got %d messages; want the %d in order", len(got), len(burst))
	}
	w.c.sent.mu.Lock()
	n := w.c.sent.serial
	w.c.sent.mu.Unlock()
	if n >= uint64(len(burst)) || n == 0 {
		t.Errorf("%d probes for %d messages", n, len(burst))
	}
	t.Logf("%d probes confirmed %d messages", n, len(burst))
}
