package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRestartKeepsEverything: state and relationships survive a gateway
// restart.
func TestRestartKeepsEverything(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, bob := w.client("hana"), w.client("bob")
	startConversation(t, hana, bob)
	w.gw.CLI("contacts", "transfer", "--from", "hana", "--to", "ken", "--reason", "before restart")

	w.gw.Stop()
	w.gw.Start()

	ken := w.client("ken")
	if err := bob.Send(hanaAddr, "after restart"); err != nil {
		t.Fatal(err)
	}
	if got := message(t, ken); got.Body != "after restart" || bare(got.From) != bobProxy {
		t.Fatalf("ken got %s", got.Raw)
	}
	if r := ownerOf(t, w, "bob@ext.test"); r.OwnerID != "ken" || r.PersonaID != "ken.sales" {
		t.Fatalf("relationship after restart: %+v", r)
	}
	if out := w.gw.CLI("audit", "--action", "contacts.transfer"); !strings.Contains(out, "before restart") {
		t.Fatalf("audit after restart: %s", out)
	}
}

// writeWhileOutsideDown starts Hana's conversation with bob on split
// servers, stops the outside server with bob offline, and has Hana write n
// messages meanwhile.
func writeWhileOutsideDown(t *testing.T, w *world, n int, format string) {
	t.Helper()
	hana, bob := w.client("hana"), w.client("bob")
	startConversation(t, hana, bob)
	bob.Close()
	w.outside.Stop(t)
	for i := 0; i < n; i++ {
		if err := hana.Send(bobProxy, fmt.Sprintf(format, i)); err != nil {
			t.Fatal(err)
		}
	}
}

// expectInOrder logs bob in (offline storage hands over what arrived while
// he was away) and checks he gets the n messages once each, in order.
func expectInOrder(t *testing.T, w *world, n int, format string) {
	t.Helper()
	bob := w.client("bob")
	for i := 0; i < n; i++ {
		if got := message(t, bob); got.Body != fmt.Sprintf(format, i) {
			t.Fatalf("message %d: got %s", i, got.Raw)
		}
	}
	silent(t, bob, 500*time.Millisecond)
}

// TestOutsideServerOutage: the outside server goes down while Hana writes;
// the gateway queues, reconnects with backoff when the server is back, and
// delivers everything exactly once, in order.
func TestOutsideServerOutage(t *testing.T) {
	w := newWorld(t, worldOptions{split: true})
	const n, format = 5, "queued %d"
	writeWhileOutsideDown(t, w, n, format)
	time.Sleep(1 * time.Second) // let the gateway try, fail and back off
	w.outside.Start(t)
	w.gw.WaitHealthy()
	expectInOrder(t, w, n, format)
}

// TestCrashWithQueuedMessages: the gateway is killed (SIGKILL) while
// messages wait for the outside server; after a restart they are delivered
// exactly once.
func TestCrashWithQueuedMessages(t *testing.T) {
	w := newWorld(t, worldOptions{split: true})
	const n, format = 3, "survives crash %d"
	writeWhileOutsideDown(t, w, n, format)
	waitPending(t, w, n)
	w.gw.Kill()
	w.outside.Start(t)
	w.gw.Start()
	expectInOrder(t, w, n, format)
}

// waitPending waits until the gateway's queue holds n unsent messages.
func waitPending(t *testing.T, w *world, n int64) {
	t.Helper()
	deadline := time.Now().Add(waitShort)
	for time.Now().Before(deadline) {
		var st map[string]int64
		w.gw.JSON(&st, "queue")
		if st["pending"] >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("queue never held %d pending messages", n)
}

// TestRecoveryAfterOutageIsPrompt: a message waits while the outside
// server is down long enough for the send retries to back off to several
// seconds; once the server is back and the gateway's component has
// reconnected, the message goes out at once (the reconnect wakes the
// waiting sender) instead of at the end of its retry wait.
func TestRecoveryAfterOutageIsPrompt(t *testing.T) {
	w := newWorld(t, worldOptions{split: true})
	writeWhileOutsideDown(t, w, 1, "after the outage %d")
	// 15 s of retries: the sender's wait has grown to several seconds
	// (50 ms × 1.5ⁿ, up to 30 s), and so has the component's.
	time.Sleep(15 * time.Second)
	w.outside.Start(t)
	bob := w.client("bob")
	w.gw.WaitHealthy() // the component is connected again
	up := time.Now()
	got := message(t, bob)
	took := time.Since(up)
	if got.Body != "after the outage 0" {
		t.Fatalf("bob got %s", got.Raw)
	}
	t.Logf("delivered %v after the component reconnected", took.Round(time.Millisecond))
	if took > 2500*time.Millisecond {
		t.Errorf("delivered %v after the component reconnected; want it at once", took)
	}
}
