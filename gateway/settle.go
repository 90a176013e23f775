package gateway

import (
	"context"
	"sync"
	"time"
)

// Settler is implemented by the gateway (the Core adapters get): a
// stopping adapter calls Settle before it closes its stream, so that the
// answers to what it handed over (a message that could not be stored is
// answered to its author) are written while the stream still carries
// them. Written after the stream's end, the server would drop them.
type Settler interface {
	// Settle returns once every message network's adapter handed over
	// before the call has been stored or answered, or when ctx ends.
	Settle(ctx context.Context, network string)
}

// taking tracks, per network, the messages handed over and not yet
// stored or answered.
type taking struct {
	mu          sync.Mutex
	next        map[string]uint64
	outstanding map[string]map[uint64]struct{}
}

// ticket is a message handed over, until it is settled (done).
type ticket struct {
	network string
	n       uint64
}

// take records a message from network.
func (t *taking) take(network string) ticket {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.next == nil {
		t.next, t.outstanding = map[string]uint64{}, map[string]map[uint64]struct{}{}
	}
	t.next[network]++
	n := t.next[network]
	if t.outstanding[network] == nil {
		t.outstanding[network] = map[uint64]struct{}{}
	}
	t.outstanding[network][n] = struct{}{}
	return ticket{network, n}
}

// done marks the message of tk stored or answered; again, it does
// nothing.
func (t *taking) done(tk ticket) {
	t.mu.Lock()
	delete(t.outstanding[tk.network], tk.n)
	t.mu.Unlock()
}

// settledUpTo reports whether no message of network numbered up to n is
// outstanding.
func (t *taking) settledUpTo(network string, n uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for m := range t.outstanding[network] {
		if m <= n {
			return false
		}
	}
	return true
}

// Settle implements Settler.
func (g *Gateway) Settle(ctx context.Context, network string) {
	g.taken.mu.Lock()
	upTo := g.taken.next[network]
	g.taken.mu.Unlock()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !g.taken.settledUpTo(network, upTo) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
