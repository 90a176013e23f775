package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

// flood sends n numbered messages ("prefix i") from a client to an
// address, each with its own stanza ID (prefix-i), on a goroutine of its
// own; sent gets each index once the stanza is written.
type flood struct {
	prefix string
	from   *testenv.Client
	to     string
	n      int
	sent   chan int // each index once it is written
}

func (f *flood) run(t *testing.T) {
	go func() {
		defer close(f.sent)
		for i := 0; i < f.n; i++ {
			raw := fmt.Sprintf(`<message type='chat' to='%s' id='%s-%d'><body>%s %d</body></message>`,
				xmlAttr(f.to), f.prefix, i, f.prefix, i)
			if err := f.from.SendRaw(raw); err != nil {
				t.Errorf("%s: send %d: %v", f.prefix, i, err)
				return
			}
			f.sent <- i
			if i%50 == 49 {
				// Paced like a busy person, not a denial of service: the
				// stop lands in the middle of the flow.
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
}

func xmlAttr(s string) string {
	r := strings.NewReplacer(`&`, "&amp;", `'`, "&apos;", `<`, "&lt;")
	return r.Replace(s)
}

// tally is what one side saw: bodies delivered to it, and errors
// returned to it for its own messages.
type tally struct {
	mu        sync.Mutex
	delivered map[string]int
	errored   map[string]bool
}

func collect(ctx context.Context, c *testenv.Client, tl *tally) {
	for {
		s, err := c.Receive(ctx)
		if err != nil {
			return
		}
		if s.Kind != "message" {
			continue
		}
		tl.mu.Lock()
		switch {
		case s.Type == "error":
			tl.errored[s.ID] = true
		case s.Body != "":
			tl.delivered[s.Body]++
		}
		tl.mu.Unlock()
	}
}

// TestGracefulStopLosesNothing floods messages both ways through real
// Prosody and stops the gateway (SIGTERM) in the middle of the flow, then
// starts it again: every message a client sent was delivered exactly once,
// or its sender got an error for it. None is lost silently, none arrives
// twice. The stop comes early in the flow (most messages arrive while the
// gateway is away) and late (most are in flight through it).
func TestGracefulStopLosesNothing(t *testing.T) {
	for _, stopAt := range []int{10, 2} {
		t.Run(fmt.Sprintf("stop after 1/%d", stopAt), func(t *testing.T) { gracefulStop(t, stopAt) })
	}
}

func gracefulStop(t *testing.T, stopAt int) {
	w := newWorld(t, worldOptions{logLevel: "info"})
	hana, bob := w.client("hana"), w.client("bob")
	startConversation(t, hana, bob)
	if err := bob.Send(hanaAddr, "warm-up"); err != nil {
		t.Fatal(err)
	}
	if got := message(t, hana); got.Body != "warm-up" {
		t.Fatalf("hana got %s", got.Raw)
	}

	const n = 1000 // each way
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	atHana := &tally{delivered: map[string]int{}, errored: map[string]bool{}}
	atBob := &tally{delivered: map[string]int{}, errored: map[string]bool{}}
	go collect(ctx, hana, atHana)
	go collect(ctx, bob, atBob)
	fromBob := &flood{prefix: "b", from: bob, to: hanaAddr, n: n, sent: make(chan int, n)}
	fromHana := &flood{prefix: "h", from: hana, to: bobProxy, n: n, sent: make(chan int, n)}
	fromBob.run(t)
	fromHana.run(t)

	// Stop once 1/stopAt of the messages are out each way, while the rest
	// keep coming; start again.
	for range n / stopAt {
		<-fromBob.sent
		<-fromHana.sent
	}
	w.gw.Stop()
	stopLog := w.gw.log.String()
	w.gw.Start()
	for range fromBob.sent {
	}
	for range fromHana.sent {
	}

	// Wait until every message is accounted for.
	check := func() (missing, twice []string) {
		for _, side := range []struct {
			prefix   string
			receiver *tally
			sender   *tally
		}{{"b", atHana, atBob}, {"h", atBob, atHana}} {
			side.receiver.mu.Lock()
			side.sender.mu.Lock()
			for i := 0; i < n; i++ {
				body, id := fmt.Sprintf("%s %d", side.prefix, i), fmt.Sprintf("%s-%d", side.prefix, i)
				switch d := side.receiver.delivered[body]; {
				case d > 1:
					twice = append(twice, body)
				case d == 0 && !side.sender.errored[id]:
					missing = append(missing, body)
				}
			}
			side.sender.mu.Unlock()
			side.receiver.mu.Unlock()
		}
		return missing, twice
	}
	deadline := time.Now().Add(90 * time.Second)
	for missing, _ := check(); len(missing) > 0 && time.Now().Before(deadline); missing, _ = check() {
		time.Sleep(200 * time.Millisecond)
	}
	// Late duplicates would come after the last first copy.
	time.Sleep(time.Second)
	missing, twice := check()
	errs := 0
	for _, tl := range []*tally{atHana, atBob} {
		tl.mu.Lock()
		errs += len(tl.errored)
		tl.mu.Unlock()
	}
	t.Logf("%d messages each way; %d answered with an error around the stop", n, errs)
	if len(missing) > 0 {
		t.Errorf("%d lost silently (neither delivered nor answered with an error), e.g. %q", len(missing), missing[:min(5, len(missing))])
	}
	if len(twice) > 0 {
		t.Errorf("%d delivered twice, e.g. %q", len(twice), twice[:min(5, len(twice))])
	}
	if strings.Contains(stopLog, "did not take a message") {
		t.Errorf("the gateway dropped a message it had read while stopping:\n%s", stopLog)
	}
}
