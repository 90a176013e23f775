package mail

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/internal/testenv"
)

// holdCore is a gateway whose commits the test makes: Accept records the
// message and keeps its stored callback until release is called.
type holdCore struct {
	*recordCore
	mu   sync.Mutex
	held []func(error)
}

func (c *holdCore) Accept(_ context.Context, m *gateway.Message, stored func(error)) error {
	c.mu.Lock()
	c.held = append(c.held, stored)
	c.mu.Unlock()
	c.note(func() { c.got = append(c.got, m) })
	return nil
}

// release commits the first n messages accepted that are still held.
func (c *holdCore) release(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 0; i < n && i < len(c.held); i++ {
		if c.held[i] != nil {
			c.held[i](nil)
			c.held[i] = nil
		}
	}
}

func (c *holdCore) accepted() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.held)
}

// TestLivePipelineKeepsOrderAndMovesOnlyWhatIsStored pins what the
// pipelined ingest keeps of the sequential one: later batches are fetched,
// parsed and handed to the gateway while earlier ones wait for their
// commits, but the gateway takes one sender's mail in the order it
// arrived, and no mail leaves the inbox before the gateway has stored it,
// even when a later batch is stored first. A restart while batches are
// unstored loses nothing: the mail is still in the inbox and read again.
func TestLivePipelineKeepsOrderAndMovesOnlyWhatIsStored(t *testing.T) {
	m := testenv.StartMail(t, testenv.MailOptions{})
	const n = 9
	for i := range n {
		m.Append(t, m.GatewayUser, m.GatewayPass, "INBOX", []byte(fmt.Sprintf(
			"From: Bob <bob@mail.test>\r\nTo: %s\r\nSubject: order %d\r\nMessage-ID: <order-%d@mail.test>\r\n\r\nItem %d.\r\n",
			hanaSales, i, i, i)))
	}
	dataDir := t.TempDir()
	a, _ := liveAdapter(t, m, dataDir, func(c *Config) { c.BatchSize = 2 })
	core := &holdCore{recordCore: newRecordCore(hanaSales)}
	stop := run(t, a, core)

	// Nothing committed: more than one batch is handed over, none moved.
	eventually(t, "later batches handed over before the first commit", func() (bool, string) {
		return core.accepted() >= 4, "accepted " + strconv.Itoa(core.accepted())
	})
	processed := mailboxNamed(t, m, "Processed")
	box := func() (inbox, done int) {
		c := counts(t, m, "INBOX", processed)
		return c[0], c[1]
	}
	time.Sleep(300 * time.Millisecond)
	if in, done := box(); in != n || done != 0 {
		t.Fatalf("before any commit: INBOX %d, processed %d; want %d, 0", in, done, n)
	}

	// A restart now: nothing was stored, everything is read again.
	stop()
	a.Close()
	a, _ = liveAdapter(t, m, dataDir, func(c *Config) { c.BatchSize = 2 })
	core = &holdCore{recordCore: newRecordCore(hanaSales)}
	run(t, a, core)
	eventually(t, "handed over again after the restart", func() (bool, string) {
		return core.accepted() >= 4, "accepted " + strconv.Itoa(core.accepted())
	})

	// The second batch stored before the first: neither leaves the inbox
	// until the first is stored too.
	core.mu.Lock()
	core.held[2](nil)
	core.held[3](nil)
	core.held[2], core.held[3] = nil, nil
	core.mu.Unlock()
	time.Sleep(300 * time.Millisecond)
	if in, done := box(); in != n || done != 0 {
		t.Fatalf("second batch stored, first not: INBOX %d, processed %d; want %d, 0", in, done, n)
	}
	core.release(2)
	eventually(t, "the first two batches filed once stored", func() (bool, string) {
		in, done := box()
		return in == n-4 && done == 4, fmt.Sprintf("INBOX %d, processed %d", in, done)
	})

	// The rest, committed as they come.
	eventually(t, "everything filed", func() (bool, string) {
		core.release(n)
		in, done := box()
		return in == 0 && done == n, fmt.Sprintf("INBOX %d, processed %d", in, done)
	})
	got, _, _ := core.snapshot()
	if len(got) != n {
		t.Fatalf("the gateway took %d messages, want %d", len(got), n)
	}
	for i, g := range got {
		if want := "order " + strconv.Itoa(i); g.Subject != want && !(i > 0 && g.Subject == "") {
			t.Errorf("message %d has subject %q, want %q", i, g.Subject, want)
		}
		if want := fmt.Sprintf("Item %d.", i); g.Body != want {
			t.Errorf("message %d is %q, want %q: out of order", i, g.Body, want)
		}
	}
}
