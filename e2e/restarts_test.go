package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// restartRun is what a contact received while the outside server was
// restarted under an employee's steady traffic.
type restartRun struct {
	sent, lost, twice int
	outOfOrder        int // first copies that came before an earlier message's
}

// restartUnderTraffic has Hana write n messages to Bob at rate per
// second while the outside server is stopped and started again restarts
// times, evenly spread; Bob is offline throughout (the server's offline
// storage keeps what reaches it) and logs in at the end.
func restartUnderTraffic(t testing.TB, w *world, n, rate, restarts int) restartRun {
	t.Helper()
	hana, bob := w.client("hana"), w.client("bob")
	startConversation(t, hana, bob)
	bob.Close()
	const prefix = "steady "
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for i := range n {
			<-tick.C
			if err := hana.Send(bobProxy, prefix+strconv.Itoa(i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	span := time.Duration(n) * time.Second / time.Duration(rate)
	for r := range restarts {
		time.Sleep(span / time.Duration(restarts+1))
		w.outside.Stop(t)
		time.Sleep(time.Duration(200+100*r%400) * time.Millisecond)
		w.outside.Start(t)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Everything the gateway accepted has gone out once it is quiet.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st map[string]int64
		w.gw.JSON(&st, "queue")
		if st["pending"] == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)

	bob = w.client("bob")
	seen := make(map[int]int, n)
	run := restartRun{sent: n}
	last := -1
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		s, err := bob.Receive(ctx)
		cancel()
		if err != nil {
			break
		}
		if s.Kind != "message" || !strings.HasPrefix(s.Body, prefix) {
			continue
		}
		i, err := strconv.Atoi(strings.TrimPrefix(s.Body, prefix))
		if err != nil {
			t.Fatalf("bob got %s", s.Raw)
		}
		seen[i]++
		if seen[i] == 1 {
			if i < last {
				run.outOfOrder++
			}
			last = i
		}
	}
	for i := range n {
		switch c := seen[i]; {
		case c == 0:
			run.lost++
		case c > 1:
			run.twice += c - 1
		}
	}
	return run
}

// TestOutsideServerRestartsLoseNothing: the outside server is restarted
// three times while an employee writes to a contact at 100 messages a
// second. Every message reaches the contact: those the server had not
// read when it stopped are written again once it is back (the
// component's confirmation), and those written while it was away wait in
// the queue. A message handled by the server whose confirmation was lost
// with it may come twice (one round trip's worth): those are counted and
// logged, never more than a few per restart.
func TestOutsideServerRestartsLoseNothing(t *testing.T) {
	w := newWorld(t, worldOptions{split: true, logLevel: "info"})
	const n, rate, restarts = 600, 100, 3
	run := restartUnderTraffic(t, w, n, rate, restarts)
	t.Logf("%d messages, %d restarts: %d lost, %d delivered twice, %d out of order", run.sent, restarts, run.lost, run.twice, run.outOfOrder)
	if run.lost != 0 {
		t.Errorf("%d of %d messages lost over %d restarts of the outside server", run.lost, n, restarts)
	}
	if run.twice > 5*restarts {
		t.Errorf("%d messages delivered twice over %d restarts", run.twice, restarts)
	}
}

// BenchmarkOutsideServerRestarts measures loss and duplicates per
// restart of the outside server under 300 messages a second, with the
// component's confirmation and without it (confirm_writes: false). Each
// iteration is one world and five restarts; run with -benchtime 1x or
// more.
func BenchmarkOutsideServerRestarts(b *testing.B) {
	for _, mode := range []struct {
		name        string
		unconfirmed bool
	}{{"confirmed", false}, {"unconfirmed", true}} {
		b.Run(mode.name, func(b *testing.B) {
			const n, rate, restarts = 3000, 300, 5
			var total restartRun
			for range b.N {
				w := newWorld(b, worldOptions{split: true, logLevel: "info", unconfirmed: mode.unconfirmed})
				run := restartUnderTraffic(b, w, n, rate, restarts)
				total.sent += run.sent
				total.lost += run.lost
				total.twice += run.twice
				total.outOfOrder += run.outOfOrder
			}
			perRestart := float64(b.N * restarts)
			b.ReportMetric(float64(total.lost)/perRestart, "lost/restart")
			b.ReportMetric(float64(total.twice)/perRestart, "twice/restart")
			b.ReportMetric(float64(total.outOfOrder)/perRestart, "reordered/restart")
			b.Logf("%s: %d sent, %d lost, %d twice, %d out of order over %d restarts",
				mode.name, total.sent, total.lost, total.twice, total.outOfOrder, b.N*restarts)
		})
	}
}
