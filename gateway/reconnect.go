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
// login): when it is lost later, the next attempt starts the backoff from
// its shortest wait, however long the session lasted. Outside Reconnect
// it does nothing.
func SessionUp(ctx context.Context) {
	if f, ok := ctx.Value(sessionUpKey{}).(func()); ok {
		f()
	}
}

// Reconnect runs serve again and again until ctx ends, waiting between
// attempts with exponential backoff from initial up to max. A session
// that got connected (serve called SessionUp) resets the backoff, so a
// short outage after a healthy session is retried from the shortest wait;
// for serve functions that do not call SessionUp, a session that lasted
// over a minute counts as connected. lost is told each error and the
// wait before the next attempt. Adapters use it for their connection
// loops.
func Reconnect(ctx context.Context, initial, max time.Duration, serve func(context.Context) error, lost func(err error, wait time.Duration)) {
	bo := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(initial),
		backoff.WithMaxInterval(max),
		backoff.WithMaxElapsedTime(0),
	)
	for {
		start := time.Now()
		up := make(chan struct{})
		var once sync.Once
		sctx := context.WithValue(ctx, sessionUpKey{}, func() { once.Do(func() { close(up) }) })
		err := serve(sctx)
		if ctx.Err() != nil {
			return
		}
		select {
		case <-up:
			bo.Reset()
		default:
			if time.Since(start) > time.Minute {
				bo.Reset()
			}
		}
		wait := bo.NextBackOff()
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
