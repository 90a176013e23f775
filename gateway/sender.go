package gateway

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// sender writes one network's outgoing messages in order, retrying with
// exponential backoff while the network is away. A message the network
// refuses for now waits on its own (later), so one refused message never
// holds up the rest.
type sender struct {
	g       *Gateway
	adapter Adapter
	mu      sync.Mutex
	wake    chan struct{}
	// up is signalled when the adapter reports it (re)connected: a send
	// waiting out an outage tries again at once.
	up    chan struct{}
	queue []senderItem
	// bulk holds broadcast copies: they go out when no one's own message
	// is waiting, at most one per bulkGap, so a broadcast to thousands
	// never delays a conversation on the same network.
	bulk     []senderItem
	bulkGap  time.Duration
	nextBulk time.Time
	later    []senderItem // refused for now, each with its retryAt

	// wireFirst: the adapter takes messages before their commit
	// (wirefirst.go). active counts sends under way (the loop's and one
	// written before its commit); committing counts stored messages not
	// yet handed over. writeMu keeps one write at a time.
	wireFirst bool
	running   context.Context // run's, while it runs: a write first ends with it
	// firstGate is held shared by each write before a commit, and
	// exclusively by stopFirst, which ends them (stopped) before the
	// adapters close their streams.
	firstGate  sync.RWMutex
	stopped    bool
	firstOff   bool // a write first failed; set back once the loop sends one
	active     int
	committing int
	writeMu    sync.Mutex

	// Files are made ready off the loop (filequeue.go): busy marks the
	// conversations with a message being prepared, held keeps their later
	// messages in order, prep tracks the work and prepSlots bounds it.
	busy      map[string]bool
	held      map[string][]senderItem
	prep      sync.WaitGroup
	prepSlots chan struct{}
}

type senderItem struct {
	rec     *Record
	durable bool // stored in the queue: mark it when done
	// signal is a receipt, a read marker or a chat state: never stored,
	// never retried.
	signal bool
	// refusedSince is when the network first refused this message for now;
	// refusals how often; retryAt when to try it again.
	refusedSince, retryAt time.Time
	refusals              int
	// prepared: its files were made ready off the loop; prepErr is why
	// they could not be, reported when it is sent.
	prepared bool
	prepErr  error
}

func newSender(g *Gateway, a Adapter) *sender {
	s := &sender{g: g, adapter: a, wake: make(chan struct{}, 1), up: make(chan struct{}, 1),
		prepSlots: make(chan struct{}, filePrepWorkers)}
	if g != nil {
		s.bulkGap = g.bulkGap
	}
	if wf, ok := a.(WireFirst); ok {
		s.wireFirst = wf.WireFirst()
	}
	return s
}

func (s *sender) push(r *Record, durable bool) {
	s.pushItem(senderItem{rec: r, durable: durable})
}

// answer writes r, a refusal that tells the author of a message read on
// this network that it could not be stored, then settles tk. It is
// written at once, beside the sender's loop, which may have stopped (a
// term that ended with its store, say): nobody else will answer that
// message, and the adapter waits for it (Settle) before it closes its
// stream. A network away is waited for up to answerWait.
func (s *sender) answer(r *Record, tk ticket) {
	settled := func() { s.g.taken.done(tk) }
	write := func() {
		defer settled()
		ctx, cancel := context.WithTimeout(context.Background(), answerWait)
		defer cancel()
		for {
			err := s.write(ctx, &r.Out)
			if err == nil {
				return
			}
			se, _ := ClassifySend(ctx, err)
			if se == nil || se.Action != RetryWhenConnected || ctx.Err() != nil {
				s.g.log.Warn("could not tell a sender that their message was not stored", "network", r.Out.Network, "id", r.Out.ReplyTo, "err", err)
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	if !s.g.bg.Go(write) {
		settled()
		s.g.log.Warn("could not tell a sender that their message was not stored: the gateway has stopped", "network", r.Out.Network, "id", r.Out.ReplyTo)
	}
}

// answerWait bounds how long an answer waits for its network.
const answerWait = 2 * time.Second

func (s *sender) pushItem(it senderItem) {
	s.mu.Lock()
	if it.rec.Out.Kind == KindBroadcast {
		s.bulk = append(s.bulk, it)
	} else {
		s.queue = append(s.queue, it)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// pop returns the next message to send: a refused one whose time has
// come, else the oldest new one, people's own before broadcast copies.
// With none, wait is how long until a refused one is due (0: none waits).
func (s *sender) pop(now time.Time) (it senderItem, wait time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	due := -1
	for i, l := range s.later {
		if !l.retryAt.After(now) && (due < 0 || l.retryAt.Before(s.later[due].retryAt)) {
			due = i
		}
		if d := l.retryAt.Sub(now); d > 0 && (wait == 0 || d < wait) {
			wait = d
		}
	}
	if due >= 0 {
		it = s.later[due]
		s.later = append(s.later[:due], s.later[due+1:]...)
		s.active++
		return it, 0, true
	}
	q := &s.queue
	if len(*q) == 0 {
		q = &s.bulk
		if len(*q) > 0 && now.Before(s.nextBulk) {
			if d := s.nextBulk.Sub(now); wait == 0 || d < wait {
				wait = d
			}
			return senderItem{}, wait, false
		}
		s.nextBulk = now.Add(s.bulkGap)
	}
	if len(*q) == 0 {
		return senderItem{}, wait, false
	}
	it = (*q)[0]
	(*q)[0] = senderItem{}
	*q = (*q)[1:]
	s.active++
	return it, 0, true
}

func (s *sender) run(ctx context.Context) {
	defer s.prep.Wait() // no file work outlives the sender (the queue closes next)
	s.starting(ctx)
	defer func() {
		s.mu.Lock()
		s.running = nil
		s.mu.Unlock()
	}()
	bo := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(s.g.retryMin),
		backoff.WithMaxInterval(s.g.retryMax),
		backoff.WithMaxElapsedTime(0),
	)
	for {
		it, wait, ok := s.pop(time.Now())
		if !ok {
			var due <-chan time.Time
			var t *time.Timer
			if wait > 0 {
				t = time.NewTimer(wait)
				due = t.C
			}
			select {
			case <-s.wake:
			case <-due:
			case <-ctx.Done():
			}
			if t != nil {
				t.Stop()
			}
			if ctx.Err() != nil {
				return
			}
			continue
		}
		if s.divert(ctx, it) {
			s.done()
			continue
		}
		ok = s.send(ctx, bo, it)
		s.done()
		if !ok {
			return
		}
	}
}

// starting lets messages be written before their commit from now on,
// within ctx; Gateway.Run calls it before it reports ready, run again
// (harmlessly) as it begins.
func (s *sender) starting(ctx context.Context) {
	s.mu.Lock()
	s.running = ctx
	s.mu.Unlock()
}

// done ends a send pop started.
func (s *sender) done() {
	s.mu.Lock()
	s.active--
	s.mu.Unlock()
}

// send delivers one message, waiting out outages; false when ctx ended
// first (the message stays pending in the queue for the next start).
func (s *sender) send(ctx context.Context, bo backoff.BackOff, it senderItem) bool {
	out := &it.rec.Out
	for {
		err := it.prepErr
		if err == nil {
			err = s.prepareFiles(ctx, it) // only what is left (an attachment's reader)
		}
		if err == nil {
			err = s.write(ctx, out)
		}
		if err != nil && it.signal {
			// A receipt or a typing notice is worth nothing late: it is
			// dropped rather than retried.
			s.g.log.Debug("signal not delivered", "network", out.Network, "err", err)
			return true
		}
		if err == nil {
			bo.Reset()
			s.mu.Lock()
			s.firstOff = false
			s.mu.Unlock()
			select { // a reconnect signalled while all was well wakes no later wait
			case <-s.up:
			default:
			}
			s.g.countSent(out)
			if it.durable {
				s.g.queue.MarkThen(ctx, out.Seq, StateSent, "", s.g.settled(ctx, it.rec))
			}
			return true
		}
		se, ok := ClassifySend(ctx, err)
		if !ok {
			// Cut short by the gateway's own shutdown, whatever the adapter
			// made of it: not a failure. It stays pending and is sent again
			// at the next start.
			return false
		}
		if se.Action == RetryLater && !it.durable {
			// Not in the queue (a store failure's answer): nothing to keep
			// it for later; it is tried like an outage.
			se = &SendError{Action: RetryWhenConnected, Err: err}
		}
		if se.Action == RetryLater {
			now := time.Now()
			if it.refusedSince.IsZero() {
				it.refusedSince = now
			}
			if now.Sub(it.refusedSince) < s.g.refusedFor {
				it.refusals++
				it.retryAt = now.Add(s.g.refusedRetry << min(it.refusals-1, 5))
				s.g.metrics.retries.WithLabelValues(out.Network).Inc()
				s.g.log.Info("message refused for now; will try again", "network", out.Network, "seq", out.Seq, "at", it.retryAt, "err", err)
				s.mu.Lock()
				s.later = append(s.later, it)
				s.mu.Unlock()
				return true
			}
			se = Permanent(fmt.Errorf("the network kept refusing it; its last answer: %w", err))
		}
		if se.Action == GiveUp {
			s.g.log.Warn("send failed permanently", "network", out.Network, "seq", out.Seq, "err", se)
			if it.durable {
				s.g.queue.MarkThen(ctx, out.Seq, StateFailed, se.Error(), s.g.settled(ctx, it.rec))
				s.g.fail(ctx, it.rec, failureReason(se), se.Uncertain)
				if se.Gone != "" {
					s.g.hooks.Unreachable(ctx, it.rec, se.Gone, false)
				}
			}
			return true
		}
		s.g.metrics.retries.WithLabelValues(out.Network).Inc()
		wait := bo.NextBackOff()
		s.g.log.Debug("send failed; will retry", "network", out.Network, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.up:
			// The network is back: try now, and from the shortest wait.
			t.Stop()
			bo.Reset()
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

// countSent counts out as sent, with the time it took to cross the
// gateway when it relays a message received.
func (g *Gateway) countSent(out *Outgoing) {
	g.metrics.sent.WithLabelValues(out.Network).Inc()
	if !out.received.IsZero() {
		g.metrics.relay.WithLabelValues(out.Network).Observe(time.Since(out.received).Seconds())
	}
}

// NetworkUp implements ConnectNotifier: an adapter of network has just
// (re)connected, so a message waiting for it goes now instead of at the
// end of its retry wait.
func (g *Gateway) NetworkUp(network string) {
	s, ok := g.senders[network]
	if !ok {
		return
	}
	select {
	case s.up <- struct{}{}:
	default:
	}
}

// settled returns what to do once the outcome of r is stored: a
// broadcast copy's is reported to the hooks.
func (g *Gateway) settled(ctx context.Context, r *Record) func(error) {
	if r.Broadcast == "" {
		return nil
	}
	return func(err error) {
		if err == nil {
			g.hooks.Settled(context.WithoutCancel(ctx), r)
		}
	}
}
