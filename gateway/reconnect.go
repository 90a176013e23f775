package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// ConnectNotifier is implemented by the gateway (the Core adapters get):
// an adapter calls NetworkUp(its network) each time it has (re)connected,
// so messages waiting for the network are sent at once instead of at the
// end of their retry wait.
type ConnectNotifier interface {
	NetworkUp(network string)
}

// NotifyUp tells core, when it listens, that network's adapter has just
// connected.
func NotifyUp(core Core, network string) {
	if n, ok := core.(ConnectNotifier); ok {
		n.NetworkUp(network)
	}
}

type sessionUpKey struct{}

// SessionUp tells the Reconnect loop running the serve function whose ctx
// this is that its connection is established (after the handshake and
// login): when it is lost later, having stayed up longer than the wait
// before it, the next attempt starts the backoff from its shortest wait.
// (A session lost as soon as it is up, say because every batch fails
// after login, keeps backing off: no tight reconnect loop.) Outside
// Reconnect it does nothing.
func SessionUp(ctx context.Context) {
	if f, ok := ctx.Value(sessionUpKey{}).(func()); ok {
		f()
	}
}

// Reconnect runs serve again and again until ctx ends, waiting between
// attempts with exponential backoff from initial up to max. A session
// that got connected (serve called SessionUp) and stayed up longer than
// the wait before it resets the backoff, so a short outage after a
// healthy session is retried from the shortest wait; for serve functions
// that do not call SessionUp, a session that lasted over a minute counts
// as connected. lost is told each error and the
// wait before the next attempt. Adapters use it for their connection
// loops.
func Reconnect(ctx context.Context, initial, max time.Duration, serve func(context.Context) error, lost func(err error, wait time.Duration)) {
	bo := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(initial),
		backoff.WithMaxInterval(max),
		backoff.WithMaxElapsedTime(0),
	)
	var wait time.Duration // the wait before this attempt
	for {
		start := time.Now()
		var once sync.Once
		var upAt time.Time
		sctx := context.WithValue(ctx, sessionUpKey{}, func() { once.Do(func() { upAt = time.Now() }) })
		err := serve(sctx)
		if ctx.Err() != nil {
			return
		}
		once.Do(func() {}) // SessionUp from now on changes nothing
		switch {
		case !upAt.IsZero() && time.Since(upAt) > wait:
			bo.Reset()
		case upAt.IsZero() && time.Since(start) > time.Minute:
			bo.Reset()
		}
		wait = bo.NextBackOff()
		lost(err, wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}
