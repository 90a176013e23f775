package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Files are made ready (fetched, cleaned, re-hosted) off the sender's
// loop: a large file, or a contact's slow or unreachable server, holds up
// only its own conversation, never every other message on the network.
// Within a conversation order is kept: its later messages wait behind the
// file, and go right after it.

// filePrepWorkers bounds how many messages per network have their files
// made ready at once.
const filePrepWorkers = 4

// conversation is the key messages keep their order within.
func conversation(out *Outgoing) string { return out.From + "\x00" + out.To }

// divert takes it off the send loop when it carries files not yet made
// ready (they are prepared in the background) or when its conversation
// waits for such a file; false when it is to be sent now.
func (s *sender) divert(ctx context.Context, it senderItem) bool {
	key := conversation(&it.rec.Out)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[key] {
		s.held[key] = append(s.held[key], it)
		return true
	}
	if len(it.rec.Out.Files) == 0 || it.prepared || s.g == nil || s.g.files == nil {
		return false
	}
	if s.busy == nil {
		s.busy, s.held = map[string]bool{}, map[string][]senderItem{}
	}
	s.busy[key] = true
	s.prep.Add(1)
	go func() {
		defer s.prep.Done()
		s.prepare(ctx, key, it)
	}()
	return true
}

// prepare makes it's files ready, retrying what may pass later with
// backoff for as long as a network's temporary refusals are (refusedFor),
// then hands it, and what its conversation held meanwhile, back to the
// send loop. A failure that will not pass goes with it, to be reported
// there. When ctx ends first, it stays pending for the next start.
func (s *sender) prepare(ctx context.Context, key string, it senderItem) {
	select {
	case s.prepSlots <- struct{}{}:
		defer func() { <-s.prepSlots }()
	case <-ctx.Done():
		return
	}
	bo := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(s.g.retryMin),
		backoff.WithMaxInterval(s.g.retryMax),
		backoff.WithMaxElapsedTime(0),
	)
	start := time.Now()
	for {
		err := s.prepareFiles(ctx, it)
		if err == nil {
			break
		}
		se, ok := ClassifySend(ctx, err)
		if !ok {
			return
		}
		if se.Action == GiveUp || time.Since(start) >= s.g.refusedFor {
			if se.Action != GiveUp {
				se = Permanent(fmt.Errorf("its files could not be made ready: %w", err))
			}
			it.prepErr = se
			break
		}
		s.g.metrics.retries.WithLabelValues(it.rec.Out.Network).Inc()
		wait := bo.NextBackOff()
		s.g.log.Debug("a file is not ready yet; will retry", "network", it.rec.Out.Network, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
	it.prepared = true
	s.mu.Lock()
	held := s.held[key]
	delete(s.held, key)
	delete(s.busy, key)
	// Ahead of what was queued meanwhile: these have waited already.
	s.queue = append(append([]senderItem{it}, held...), s.queue...)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
