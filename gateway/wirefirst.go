package gateway

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// WireFirst is implemented by an adapter whose network acknowledges
// nothing the gateway writes to it: XMPP's component protocol (XEP-0114)
// has no receipt for a stanza, so "stored, then written, then marked
// sent" leaves a window (between the write and the mark's commit) in
// which a crash makes the replay send the message twice, and makes every
// message wait for an fsync before it leaves.
//
// When WireFirst reports true, a message bound for the adapter that
// nothing on its network is waiting ahead of is written at once, while
// its record goes to the queue's next commit already marked sent (see
// the durability contract in the README):
//
//   - a crash after the write and before the commit loses the record,
//     not the message, and nothing is replayed: never sent twice;
//   - a crash before the write loses the message, as a crash between the
//     socket and the commit always did for a network that does not
//     redeliver;
//   - a message that cannot go at once (the network is away, a message
//     ahead of it waits, it carries files or references, or its adapter
//     redelivers until told it is stored, as IMAP does) takes the
//     store-first path as before.
type WireFirst interface {
	WireFirst() bool
}

// wireFirst reports whether rec, routed from the network in, may be
// written before its commit, and writes it if so. True: it was written
// (its record must be stored as sent and never dispatched) or it was a
// redelivery (dropped). False: it takes the store-first path.
func (g *Gateway) wireFirst(ctx context.Context, rec *Record) (handled bool) {
	out := &rec.Out
	if out.Kind != KindRelayed || len(out.Files) > 0 || len(rec.inRefs) > 0 || rec.audit != nil || rec.Broadcast != "" {
		return false
	}
	s, ok := g.senders[out.Network]
	if !ok || !s.wireFirst || g.queue.StoreError() != nil {
		// A failing store: nothing is delivered that it cannot record,
		// and the author is told to send it again.
		return false
	}
	if !s.firstGate.TryRLock() {
		return false // stopping
	}
	defer s.firstGate.RUnlock()
	wctx, ok := s.claimIdle(conversation(out))
	if !ok {
		return false
	}
	defer s.releaseIdle()
	partsCol, err := encodeParts(out)
	if err != nil {
		return false
	}
	key := ""
	if rec.InID != "" {
		hash := contentHash(out.Subject, out.Body, partsCol)
		rec.hash = hash
		key = dedupeKey(rec, hash)
		switch seen, err := g.queue.claimFirst(ctx, rec, key, hash); {
		case err != nil:
			g.log.Warn("could not look for an earlier copy; storing first", "network", rec.InNetwork, "err", err)
			return false
		case seen:
			g.metrics.duplicates.WithLabelValues(rec.InNetwork).Inc()
			g.log.Debug("duplicate dropped: the same message was stored within the deduplication window",
				"network", rec.InNetwork, "id", rec.InID, "window", DedupeWindow)
			return true
		}
	}
	// Its recipient may answer (a bounce, a receipt) before the commit:
	// lookups by its ID wait for it (awaitWritten).
	written := g.queue.writing(out.ID)
	// No deadline: a write cut short by one leaves half a stanza on the
	// stream, and the server then drops the component with everything it
	// was about to deliver to it. A slow network holds up the reading
	// goroutine instead (backpressure), as it held up the sender.
	// Not cut short when the gateway stops: stopFirst waits for it, and
	// only then do the adapters close their streams.
	err = s.write(context.WithoutCancel(wctx), out)
	if err != nil {
		written()
		s.firstFailed()
		g.queue.releaseFirst(key)
		// Whatever went wrong, the store-first path knows what to do
		// about it (retry, tell the author); nothing was sent yet that
		// it could send twice, unless the network cut the stanza short,
		// which a resend after a broken link always risked.
		return false
	}
	rec.sentFirst = true
	g.countSent(out)
	if err := g.queue.Enqueue(ctx, rec, func(dup bool, err error) {
		written()
		g.queue.releaseFirst(key)
		if err != nil {
			// Delivered, but not recorded: nothing is replayed, the ID map
			// will not know it, and the history will not show it.
			g.metrics.storeErrors.Inc()
			g.log.Error("a message was delivered but could not be recorded", "network", rec.InNetwork, "to", out.Network, "err", err)
		}
	}); err != nil {
		written()
		g.queue.releaseFirst(key)
		g.log.Error("a message was delivered but could not be recorded", "network", rec.InNetwork, "to", out.Network, "err", err)
	}
	return true
}

// writing notes that the message with out ID id is being written before
// its commit; the function it returns ends that, once the commit is done
// (or the write failed).
func (q *Queue) writing(id string) func() {
	ch := make(chan struct{})
	q.firstMu.Lock()
	if q.written == nil {
		q.written = map[string]chan struct{}{}
	}
	q.written[id] = ch
	q.firstMu.Unlock()
	return func() {
		q.firstMu.Lock()
		if q.written[id] == ch {
			delete(q.written, id)
		}
		q.firstMu.Unlock()
		close(ch)
	}
}

// awaitWritten waits, at most until ctx ends or awaitWrittenFor passes,
// for the commit of a message with out ID id that was written before its
// commit: a bounce or a receipt can come back faster than the commit.
func (q *Queue) awaitWritten(ctx context.Context, id string) {
	q.firstMu.Lock()
	ch := q.written[id]
	q.firstMu.Unlock()
	if ch == nil {
		return
	}
	t := time.NewTimer(awaitWrittenFor)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
}

// awaitWrittenFor bounds awaitWritten: a commit takes milliseconds, or
// fails (which ends the wait as well).
const awaitWrittenFor = 10 * time.Second

// dedupeKey is what two copies of one message share (see dupSQL).
func dedupeKey(r *Record, hash string) string {
	return r.InNetwork + "\x00" + r.InFrom + "\x00" + r.InID + "\x00" + r.InTo + "\x00" + hash
}

// claimFirst reports whether a copy of r (key) is stored within
// DedupeWindow or is being written before its commit right now; when
// neither, it reserves key until releaseFirst, so that a second copy
// arriving meanwhile is seen.
func (q *Queue) claimFirst(ctx context.Context, r *Record, key, hash string) (seen bool, err error) {
	q.firstMu.Lock()
	if q.first[key] {
		q.firstMu.Unlock()
		return true, nil
	}
	if q.first == nil {
		q.first = map[string]bool{}
	}
	q.first[key] = true
	q.firstMu.Unlock()
	if !q.seen.mayHave(key, time.Now()) {
		return false, nil
	}
	// A copy stored by the store-first path is committed before anything
	// on its network may be written first (sender.claimIdle), so the
	// last commit, which this read sees, has it.
	var one int
	err = q.roDup.QueryRowContext(ctx, r.InNetwork, r.InFrom, r.InID, r.InTo, hash, r.ReceivedAt.Add(-DedupeWindow).UnixNano()).Scan(&one)
	switch {
	case err == nil:
		q.releaseFirst(key)
		return true, nil
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	default:
		q.releaseFirst(key)
		return false, fmt.Errorf("queue: look for a copy: %w", err)
	}
}

// releaseFirst forgets a key claimFirst reserved (none: "").
func (q *Queue) releaseFirst(key string) {
	if key == "" {
		return
	}
	q.firstMu.Lock()
	delete(q.first, key)
	q.firstMu.Unlock()
}

// claimIdle reserves the sender for one write before a commit. It
// refuses when anything for its network could be ahead of the message: a
// message queued or being sent, a message of the same conversation
// having its files prepared, or a stored message not yet handed over;
// and when the sender is not running. The write takes the context it
// returns, which ends when the gateway stops sending.
func (s *sender) claimIdle(conv string) (context.Context, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running == nil || s.running.Err() != nil || s.stopped || s.firstOff || s.active > 0 || s.committing > 0 || len(s.queue) > 0 ||
		s.busy[conv] || len(s.held[conv]) > 0 {
		return nil, false
	}
	s.active++
	return s.running, true
}

// stopFirst waits for the writes before a commit under way and lets no
// more begin: the gateway is stopping, and the adapters close their
// streams next.
func (s *sender) stopFirst() {
	s.firstGate.Lock()
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.firstGate.Unlock()
}

// firstFailed stops writes before the commit until the loop has sent a
// message again: the network is away or slow, and the reading goroutines
// must not wait for it message after message.
func (s *sender) firstFailed() {
	s.mu.Lock()
	s.firstOff = true
	s.mu.Unlock()
}

// releaseIdle ends what claimIdle started, waking the loop for whatever
// was queued meanwhile.
func (s *sender) releaseIdle() {
	s.done()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// write hands out to the adapter, one write at a time on this network,
// unless this instance may not send (Options.MaySend). A refusal may: it
// answers a message this instance read, which no other will answer, and
// relays nothing.
func (s *sender) write(ctx context.Context, out *Outgoing) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.g.maySend != nil && out.Kind != KindRefusal && !s.g.maySend() {
		return NotConnected(errFenced)
	}
	return s.adapter.Send(ctx, out)
}

// errFenced is why a write is held back when Options.MaySend says no.
var errFenced = errors.New("this instance's term as the active one is over")

// committing counts a stored message on its way to the sender of its
// network (+1 when handed to the queue, -1 once dispatched or dropped):
// while any is, nothing on that network is written before its commit,
// which would overtake it.
func (g *Gateway) committing(network string, delta int) {
	s, ok := g.senders[network]
	if !ok {
		return
	}
	s.mu.Lock()
	s.committing += delta
	s.mu.Unlock()
}
