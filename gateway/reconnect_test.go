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
