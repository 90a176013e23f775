package gateway

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestReconnectBacksOffAndStops: failed sessions are retried with growing
// waits, capped, and the loop ends with ctx.
func TestReconnectBacksOffAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	attempts := 0
	var waits []time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		Reconnect(ctx, time.Millisecond, 8*time.Millisecond,
			func(ctx context.Context) error {
				attempts++
				if attempts == 8 {
					cancel()
					return ctx.Err()
				}
				return errors.New("connection refused")
			},
			func(err error, wait time.Duration) { waits = append(waits, wait) })
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Reconnect did not stop when ctx ended")
	}
	if attempts != 8 || len(waits) != 7 {
		t.Fatalf("attempts %d, waits %v", attempts, waits)
	}
	for _, w := range waits {
		// Randomised around the interval (±50 %), never above the cap's range.
		if w <= 0 || w > 12*time.Millisecond {
			t.Fatalf("wait %v out of range: %v", w, waits)
		}
	}
	if waits[len(waits)-1] < 4*time.Millisecond {
		t.Fatalf("waits did not grow towards the cap: %v", waits)
	}
}

// TestReconnectStartsOverAfterAConnectedSession: once a session got
// connected (SessionUp) and stayed up longer than the wait before it, the
// wait after it is lost is the shortest again, however long the outage
// before it; a session that never connected, or was lost as soon as it
// was up (every batch failing after login), keeps the backoff growing.
func TestReconnectStartsOverAfterAConnectedSession(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const failures = 10
	attempt := 0
	var waits []time.Duration
	Reconnect(ctx, time.Millisecond, time.Second,
		func(ctx context.Context) error {
			attempt++
			switch {
			case attempt == failures/2:
				SessionUp(ctx) // connected, and lost at once: no reset
			case attempt == failures+1:
				SessionUp(ctx) // connected, and up longer than the wait before it
				time.Sleep(200 * time.Millisecond)
			case attempt == 2*failures+2:
				cancel()
				return ctx.Err()
			}
			return errors.New("connection refused")
		},
		func(err error, wait time.Duration) { waits = append(waits, wait) })
	if len(waits) != 2*failures+1 {
		t.Fatalf("%d waits: %v", len(waits), waits)
	}
	// Randomised ±50 % around 1 ms × 1.5ⁿ; the session lost at once at
	// failures/2 did not start it over.
	if w := waits[failures-1]; w < 15*time.Millisecond {
		t.Fatalf("the backoff did not grow over %d failures: %v", failures, waits)
	}
	if w := waits[failures]; w > 1500*time.Microsecond {
		t.Fatalf("wait after a connected session = %v, want the shortest (about 1 ms): %v", w, waits)
	}
	if w := waits[2*failures]; w < 15*time.Millisecond {
		t.Fatalf("the backoff did not grow again after the reset: %v", waits)
	}
	SessionUp(context.Background()) // outside Reconnect: nothing happens
}
