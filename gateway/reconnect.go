package gateway

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Reconnect runs serve again and again until ctx ends, waiting between
// attempts with exponential backoff from initial up to max. A session that
// lasted over a minute counts as a success and resets the backoff, so a
// server that drops a healthy connection now and then is reconnected
// quickly. lost is told each error and the wait before the next attempt.
// Adapters use it for their connection loops.
func Reconnect(ctx context.Context, initial, max time.Duration, serve func(context.Context) error, lost func(err error, wait time.Duration)) {
	bo := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(initial),
		backoff.WithMaxInterval(max),
		backoff.WithMaxElapsedTime(0),
	)
	for {
		start := time.Now()
		err := serve(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			bo.Reset()
		}
		wait := bo.NextBackOff()
		lost(err, wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
	}
}
