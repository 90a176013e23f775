// Package gateway is the running Kakehashi process: it wires identity,
// routing and the protocol adapters, owns the durable message queue and the
// per-network senders with their retries, and serves the admin API.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/kakehashi/kakehashi/config"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"

	"github.com/kakehashi/kakehashi/internal/textclip"
)

// Options configure a Gateway.
type Options struct {
	Topology *routing.Topology
	State    *identity.State
	Queue    *Queue
	Adapters []Adapter
	Logger   *slog.Logger
	Metrics  *Metrics
	Now      func() time.Time
	// RetryMin is the first wait between send attempts while a network is
	// away (default 50 ms), RetryMax caps it (default 30 s). A network
	// that reconnects (ConnectNotifier) ends the wait at once.
	RetryMin, RetryMax time.Duration
	// RefusedRetry is the first wait before trying again a message the
	// network refused for now (default 1 min; it doubles up to 32 times
	// that), and RefusedFor how long it is tried before its author is
	// told it could not be delivered (default 24 h).
	RefusedRetry, RefusedFor time.Duration
	// Caps bound the broadcasts each contact receives; nil means the
	// configuration's defaults (limits.broadcasts_per_*).
	Caps *BroadcastCaps
	// Retention is how long sent and failed messages keep their text
	// (limits.message_retention); 0 keeps it forever.
	Retention time.Duration
	// BroadcastRate is how many broadcast copies a second each network's
	// sender writes at most (default DefaultBroadcastRate); people's own
	// messages are never paced.
	BroadcastRate int
}

// DefaultBroadcastRate paces broadcast copies per network: 10,000 copies
// take 20 s, which leaves the server (and the remote servers the copies
// go to, whose flood limits would drop them) room for conversations.
const DefaultBroadcastRate = 500

// Gateway relays messages between the inside and outside networks.
type Gateway struct {
	top      *routing.Topology
	state    *identity.State
	queue    *Queue
	log      *slog.Logger
	metrics  *Metrics
	now      func() time.Time
	retryMin time.Duration
	retryMax time.Duration
	// refusedRetry and refusedFor: see Options.
	refusedRetry, refusedFor time.Duration
	// bulkGap is the least time between two broadcast copies on one
	// network (see Options.BroadcastRate).
	bulkGap   time.Duration
	caps      BroadcastCaps
	adapters  map[string]Adapter
	senders   map[string]*sender
	ready     chan struct{} // closed once Run has started everything
	retention time.Duration
	// bg tracks work started off a message's path (clearing a gone mark,
	// broadcast progress checks): Run waits for it before the queue stops.
	bg tracker

	// activity collects when relationships last carried a message; it is
	// written to the identity store in batches (see recordActivity).
	activityMu sync.Mutex
	activity   map[string]time.Time

	// progressDue holds the broadcasts whose progress check is scheduled,
	// backBusy the relationships whose gone mark is being cleared,
	// bouncing the messages (network NUL ID) whose bounce is being handled.
	busyMu      sync.Mutex
	progressDue map[string]bool
	backBusy    map[string]bool
	bouncing    map[string]bool
}

// New checks the options and builds a Gateway; Run starts it.
func New(o Options) (*Gateway, error) {
	if o.Topology == nil || o.State == nil || o.Queue == nil {
		return nil, errors.New("gateway: Topology, State and Queue are required")
	}
	g := &Gateway{
		top: o.Topology, state: o.State, queue: o.Queue, log: o.Logger, metrics: o.Metrics,
		now: o.Now, retryMin: o.RetryMin, retryMax: o.RetryMax,
		adapters: map[string]Adapter{}, senders: map[string]*sender{},
		ready: make(chan struct{}), activity: map[string]time.Time{}, progressDue: map[string]bool{}, backBusy: map[string]bool{},
		bouncing:  map[string]bool{},
		retention: o.Retention,
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.metrics == nil {
		g.metrics = NewMetrics()
	}
	storeErr := o.Queue.StoreError
	g.metrics.storeErr.Store(&storeErr)
	if g.now == nil {
		g.now = time.Now
	}
	if g.retryMin == 0 {
		g.retryMin = 50 * time.Millisecond
	}
	if g.retryMax == 0 {
		g.retryMax = 30 * time.Second
	}
	g.refusedRetry, g.refusedFor = o.RefusedRetry, o.RefusedFor
	if g.refusedRetry == 0 {
		g.refusedRetry = time.Minute
	}
	if g.refusedFor == 0 {
		g.refusedFor = 24 * time.Hour
	}
	rate := o.BroadcastRate
	if rate <= 0 {
		rate = DefaultBroadcastRate
	}
	g.bulkGap = time.Second / time.Duration(rate)
	g.caps = BroadcastCaps{PerDay: config.DefaultBroadcastsPerDay, PerMonth: config.DefaultBroadcastsPerMonth}
	if o.Caps != nil {
		g.caps = *o.Caps
	}
	for _, a := range o.Adapters {
		if _, ok := o.Topology.Networks[a.Network()]; !ok {
			return nil, fmt.Errorf("gateway: adapter for unknown network %q", a.Network())
		}
		g.adapters[a.Network()] = a
		g.senders[a.Network()] = newSender(g, a)
	}
	for name := range o.Topology.Networks {
		if _, ok := g.adapters[name]; !ok {
			return nil, fmt.Errorf("gateway: network %q has no adapter", name)
		}
	}
	// Admins, the directory and traffic all write addresses through
	// identity: each takes its one canonical spelling there.
	g.state.SetCanonical(g.canonicalizer)
	return g, nil
}

// Metrics returns the gateway's metrics.
func (g *Gateway) Metrics() *Metrics { return g.metrics }

// State returns the identity state the gateway routes with.
func (g *Gateway) State() *identity.State { return g.state }

// Run starts the queue, the senders and the adapters, replays what was
// pending at the last stop, and serves until ctx ends. Then it stops in
// order: the adapters stop reading and hand over what they have read,
// the senders end (a send cut short stays pending), background work
// finishes, and the queue commits everything handed to it before Run
// returns. Nothing accepted is dropped on the way.
func (g *Gateway) Run(ctx context.Context) error {
	qctx, stopQueue := context.WithCancel(context.WithoutCancel(ctx))
	qdone := make(chan error, 1)
	go func() { qdone <- g.queue.Run(qctx) }()

	pending, err := g.queue.Pending(ctx)
	if err != nil {
		stopQueue()
		<-qdone
		return err
	}
	for _, r := range pending {
		g.dispatch(r)
	}
	if len(pending) > 0 {
		g.log.Info("replaying messages pending at last stop", "count", len(pending))
	}
	// Broadcasts whose last copy was done just before the stop still owe
	// their owner a report.
	unreported, err := g.broadcastsWhere(ctx, `state = 'sent' AND reported = 0`)
	if err != nil {
		g.log.Warn("could not look for unreported broadcasts", "err", err)
	}
	for _, b := range unreported {
		g.scheduleProgress(context.WithoutCancel(ctx), b.ID)
	}
	if g.retention > 0 {
		g.bg.Go(func() { g.expireTextsEvery(ctx, time.Hour) })
	}
	g.bg.Go(func() { g.reportOldSpellings(ctx) })

	var wg sync.WaitGroup
	for _, s := range g.senders {
		wg.Add(1)
		go func() { defer wg.Done(); s.run(ctx) }()
	}
	errs := make(chan error, len(g.adapters))
	for _, a := range g.adapters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Run(ctx, g); err != nil && !errors.Is(err, context.Canceled) {
				errs <- fmt.Errorf("adapter %s: %w", a.Network(), err)
			}
		}()
	}
	wg.Add(1)
	go func() { defer wg.Done(); g.flushActivityEvery(ctx, 5*time.Second) }()
	close(g.ready)
	<-ctx.Done()
	wg.Wait()
	// Adapters and senders are done: what they started in the background
	// may still queue messages, so it ends before the queue does.
	g.bg.Close()
	g.flushActivity(context.WithoutCancel(ctx))
	stopQueue()
	<-qdone
	close(errs)
	return errors.Join(collect(errs)...)
}

func collect(ch <-chan error) []error {
	var out []error
	for e := range ch {
		out = append(out, e)
	}
	return out
}

// Receive implements Core: route the message, store it durably with its
// decision, and hand it to the target network's sender after the commit.
func (g *Gateway) Receive(ctx context.Context, m *Message) error {
	return g.receive(ctx, m, nil)
}

// Accept implements Core: Receive, reporting the durable commit.
func (g *Gateway) Accept(ctx context.Context, m *Message, stored func(error)) error {
	if stored == nil {
		stored = func(error) {}
	}
	return g.receive(ctx, m, stored)
}

// receive routes and queues m. When stored is not nil, it is called once
// the outcome is durable (or with the error that kept it from being), and
// a storage error is left to the caller instead of being answered.
func (g *Gateway) receive(ctx context.Context, m *Message, stored func(error)) error {
	// A message an adapter has read is taken even when the adapter's
	// context has just ended (the gateway is stopping): the queue stops
	// only after every adapter has returned, so this cannot block past
	// the drain, and dropping it here would lose it silently.
	ctx = context.WithoutCancel(ctx)
	g.metrics.received.WithLabelValues(m.Network).Inc()
	// Answers (refusals, failure notices, welcomes) go only where the
	// adapter vouches the sender can be reached: never to a forgeable From.
	reply := m.ReplyTo
	badFrom := g.canonicalize(m)
	env := routing.Envelope{Network: m.Network, From: m.From, To: m.To, BodyBytes: len(m.Body)}
	d := routing.Decide(g.top, g.state.Snapshot(), env)
	if badFrom != nil {
		d = routing.Decision{Kind: routing.Refuse, Refusal: badFrom}
	}
	subscribe, welcome := false, false
	if m.Automatic != "" && d.Kind != routing.Deliver {
		// Never start a relationship for, or answer, a machine: that is how
		// mail loops start (RFC 3834).
		g.metrics.refused.WithLabelValues(m.Network, "automatic").Inc()
		g.log.Info("automatic message dropped: it would not have been delivered", "network", m.Network, "why", m.Automatic)
		if stored != nil {
			stored(nil)
		}
		return nil
	}
	if d.Kind == routing.Propose {
		p := *d.Proposal
		if net := g.top.Networks[m.Network]; net.Side == identity.Outside {
			p.DisplayName = m.Nick
		}
		_, _, created, err := g.state.EnsureRelationship(ctx, p)
		if err != nil {
			g.log.Error("could not record a new relationship", "network", m.Network, "err", err)
			d = routing.Decision{Kind: routing.Refuse, Refusal: &routing.Refusal{
				Reason: routing.GatewayFailure, Text: "the gateway could not record this new contact; please try again"}}
		} else {
			subscribe = created && d.Proposal.Source == "outreach"
			welcome = created && d.Proposal.Source != "outreach"
			d = routing.Decide(g.top, g.state.Snapshot(), env)
			if d.Kind == routing.Propose {
				d = routing.Decision{Kind: routing.Refuse, Refusal: &routing.Refusal{
					Reason: routing.GatewayFailure, Text: "the gateway could not route this message; please try again"}}
			}
		}
	}
	received := time.Now()
	rec := &Record{
		ReceivedAt: g.now(), InNetwork: m.Network, InFrom: m.From, InReply: reply, InTo: m.To, InID: m.ID,
	}
	switch d.Kind {
	case routing.Deliver:
		rec.RelationshipID, rec.OwnerID = d.RelationshipID, d.OwnerID
		g.recordActivity(d.RelationshipID)
		if m.Automatic == "" && g.top.Networks[m.Network].Side == identity.Outside {
			if rel, ok := g.state.Snapshot().Relationship(d.RelationshipID); ok && rel.Gone != "" && g.claimBack(rel.ID) {
				// A contact who writes is reachable again. Off the message's
				// path: the mark is for people and broadcasts, not routing.
				// One clearing at a time per relationship, however many
				// messages arrive meanwhile.
				if !g.bg.Go(func() {
					defer g.releaseBack(rel.ID)
					g.clearGone(ctx, rel.ID, d, m.From, "wrote again")
				}) {
					g.releaseBack(rel.ID) // stopping: it is cleared the next time they write
				}
			}
		}
		rec.Out = Outgoing{Network: d.Target.Network, From: d.Target.From, To: d.Target.To,
			ID: newID(), Body: m.Body, Nick: d.Target.Nick, Subscribe: subscribe,
			Subject: m.Subject, Thread: m.Thread}
		if d.Fallback {
			g.metrics.fallback.Inc()
		}
	default:
		g.metrics.refused.WithLabelValues(m.Network, string(d.Refusal.Reason)).Inc()
		if reply == "" {
			// Nobody to tell who surely sent it: answering would write to
			// whoever the sender claims to be (backscatter).
			g.log.Info("refused, not answered: the sender is not vouched for", "network", m.Network,
				"reason", d.Refusal.Reason, "text", d.Refusal.Text)
			if stored != nil {
				stored(&UnansweredError{Refusal: d.Refusal})
			}
			return nil
		}
		g.log.Info("refused", "network", m.Network, "reason", d.Refusal.Reason, "text", d.Refusal.Text)
		rec.Out = Outgoing{Network: m.Network, From: m.To, To: reply, ID: newID(),
			Body: m.Body, Refusal: d.Refusal, ReplyTo: m.ID, Subject: m.Subject}
	}
	rec.Out.received = received
	if err := g.queue.Enqueue(ctx, rec, func(dup bool, err error) {
		if stored != nil {
			defer stored(err)
		}
		switch {
		case err != nil && stored != nil:
			g.metrics.storeErrors.Inc()
			g.log.Error("could not store a message; it stays with its network to be offered again", "network", m.Network, "err", err)
		case err != nil && reply == "":
			g.metrics.storeErrors.Inc()
			g.log.Error("could not store a message, and its sender cannot be told", "network", m.Network, "err", err)
		case err != nil:
			g.metrics.storeErrors.Inc()
			g.log.Error("could not store a message; telling its sender", "network", m.Network, "err", err)
			// Not stored: answer the sender directly so they know to retry.
			rec.Out = Outgoing{Network: m.Network, From: m.To, To: reply, ID: newID(), Body: m.Body,
				Refusal: &routing.Refusal{Reason: routing.GatewayFailure, Text: "the gateway could not store your message; please send it again"},
				ReplyTo: m.ID}
			g.senders[m.Network].push(rec, false)
		case dup:
			g.metrics.duplicates.WithLabelValues(m.Network).Inc()
			g.log.Debug("duplicate dropped: the same message was stored within the deduplication window",
				"network", m.Network, "id", m.ID, "window", DedupeWindow)
		default:
			g.dispatch(rec)
		}
	}); err != nil {
		return err
	}
	if welcome && d.Kind == routing.Deliver && reply != "" {
		// A welcome is an answer too: only to a sender vouched for.
		g.sendWelcome(ctx, m, d)
	}
	return nil
}

// sendWelcome greets a contact who has just written to a persona for the
// first time, with the persona's welcome text, if it has one. It goes
// through the durable queue after the contact's own message.
func (g *Gateway) sendWelcome(ctx context.Context, m *Message, d routing.Decision) {
	snap := g.state.Snapshot()
	p, ok := snap.Persona(d.PersonaID)
	if !ok || strings.TrimSpace(p.Welcome) == "" {
		return
	}
	from, ok := p.AddressOn(m.Network)
	if !ok {
		return
	}
	g.queueAuto(ctx, m.Network, from, m.From, p.DisplayName, p.Welcome, d.RelationshipID, "welcome")
}

// queueAuto queues a message the gateway writes on a persona's behalf
// (a welcome, a handover notice) to a contact.
func (g *Gateway) queueAuto(ctx context.Context, network, from, to, nick, body, relID, kind string) bool {
	rec := &Record{
		ReceivedAt: g.now(), InNetwork: network, InFrom: from, InReply: from, InTo: to,
		RelationshipID: relID,
		Out:            Outgoing{Network: network, From: from, To: to, ID: newID(), Body: body, Nick: nick, Auto: kind},
	}
	return g.queueAndSend(ctx, rec, "an automatic message ("+kind+")")
}

// queueAndSend stores a message the gateway writes itself (what names it
// in the log) and hands it to its sender after the commit.
//
// It reports whether the message was handed to the queue. What the
// gateway writes itself (a failure notice, a handover) is owed whatever
// the caller's context does meanwhile: only a stopped queue refuses it.
func (g *Gateway) queueAndSend(ctx context.Context, rec *Record, what string) bool {
	if err := g.queue.Enqueue(context.WithoutCancel(ctx), rec, func(dup bool, err error) {
		if err != nil {
			g.log.Error("could not queue "+what, "err", err)
			return
		}
		if !dup {
			g.dispatch(rec)
		}
	}); err != nil {
		g.log.Error("could not queue "+what, "err", err)
		return false
	}
	return true
}

// recordActivity notes that a relationship carried a message now.
func (g *Gateway) recordActivity(relID string) {
	if relID == "" {
		return
	}
	g.activityMu.Lock()
	g.activity[relID] = g.now()
	g.activityMu.Unlock()
}

// flushActivityEvery writes the noted activity every interval: last
// activity is for searching ("idle for a month"), so seconds of delay
// cost nothing and save a store write per message.
func (g *Gateway) flushActivityEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			g.flushActivity(ctx)
		case <-ctx.Done():
			return
		}
	}
}

func (g *Gateway) flushActivity(ctx context.Context) {
	g.activityMu.Lock()
	batch := g.activity
	g.activity = map[string]time.Time{}
	g.activityMu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := g.state.TouchRelationships(ctx, batch); err != nil {
		g.log.Warn("could not record last activity", "relationships", len(batch), "err", err)
	}
}

func (g *Gateway) dispatch(r *Record) {
	s, ok := g.senders[r.Out.Network]
	if !ok {
		g.log.Error("no sender for network", "network", r.Out.Network, "seq", r.Seq)
		return
	}
	s.push(r, true)
}

// Health is the gateway's health as /healthz reports it. It names no
// secret and nothing of the traffic.
type Health struct {
	// Status is "ok", or "degraded" while a network is disconnected or the
	// queue cannot store messages.
	Status    string          `json:"status"`
	Connected map[string]bool `json:"connected"`
	// Store is "ok", or "failing: " and a short reason while the queue's
	// last commit failed (a full disk, say): messages are refused then.
	Store string `json:"store"`
}

// Connector is implemented by adapters that can tell whether they are
// connected.
type Connector interface {
	Connected() bool
}

// Health reports whether every adapter is connected and the queue can
// store messages.
func (g *Gateway) Health() Health {
	h := Health{Status: "ok", Connected: map[string]bool{}, Store: "ok"}
	if err := g.queue.StoreError(); err != nil {
		h.Status = "degraded"
		h.Store = "failing: " + textclip.Clip(err.Error(), 200)
	}
	for name, a := range g.adapters {
		up := true
		if c, ok := a.(Connector); ok {
			up = c.Connected()
		}
		h.Connected[name] = up
		if !up {
			h.Status = "degraded"
		}
	}
	return h
}

// Profile implements Core.
func (g *Gateway) Profile(network, addr string) (Profile, bool) {
	net, ok := g.top.Networks[network]
	if !ok {
		return Profile{}, false
	}
	snap := g.state.Snapshot()
	addr, _ = g.canonical(network, addr)
	if net.Side == identity.Outside {
		p, _, ok := routing.PersonaAt(snap, network, addr)
		if !ok {
			return Profile{}, false
		}
		return Profile{Name: p.DisplayName}, true
	}
	outside, ok := routing.ParseProxy(g.top, net, addr)
	if !ok {
		return Profile{}, false
	}
	if c, ok := snap.ContactByAddr(outside); ok && c.DisplayName != "" {
		return Profile{Name: c.DisplayName}, true
	}
	return Profile{Name: outside.Addr}, true
}

// Failed implements Core: a message the gateway sent bounced; tell the
// person who wrote it, once, and mark the contact gone when the address
// is dead.
func (g *Gateway) Failed(ctx context.Context, network, id, reason, gone string) {
	// Bounces are handled concurrently (off the adapters' read loops): two
	// for one message (its author's server and the contact's, a resend)
	// are taken one after the other, so that the second sees the first's
	// mark and tells nobody again.
	key := network + "\x00" + id
	for !g.claim(g.bouncing, key) {
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return
		}
	}
	defer g.release(g.bouncing, key)
	r, err := g.queue.ByOutID(ctx, network, id)
	if err != nil || r == nil {
		g.log.Warn("bounce for an unknown message", "network", network, "err", err)
		return
	}
	if r.State != stateFailed { // a second bounce for it tells nobody again
		committed := make(chan error, 1)
		g.queue.MarkThen(ctx, r.Seq, stateFailed, reason, func(err error) { committed <- err })
		select { // the mark is read by the next bounce for this message
		case <-committed:
		case <-time.After(5 * time.Second): // the store is failing; the mark is retried
		}
		g.fail(ctx, r, reason)
	}
	if gone != "" {
		g.unreachable(ctx, r, gone)
	}
}

// fail tells the original sender of r that it could not be delivered.
func (g *Gateway) fail(ctx context.Context, r *Record, reason string) {
	g.metrics.failed.WithLabelValues(r.Out.Network).Inc()
	if r.Out.Refusal != nil || r.Out.Notice || r.Out.Auto != "" {
		return // never answer an answer; automatic messages have no author to tell
	}
	if r.InReply == "" {
		return // its author is not vouched for (see Message.ReplyTo)
	}
	body := fmt.Sprintf("Your message to %s could not be delivered (%s): %q", r.Out.To, reason, textclip.Clip(r.Out.Body, 200))
	if g.top.Networks[r.InNetwork].Side == identity.Outside {
		// The reason comes from the inside (an inside server's error text
		// may name people or hosts): an outside sender gets no detail.
		body = fmt.Sprintf("Your message could not be delivered; please try again later: %q", textclip.Clip(r.Out.Body, 200))
	}
	notice := &Record{
		ReceivedAt: g.now(), InNetwork: r.InNetwork, InFrom: r.InFrom, InReply: r.InReply, InTo: r.InTo,
		Out: Outgoing{Network: r.InNetwork, From: r.InTo, To: r.InReply, ID: newID(), Notice: true, Body: body},
	}
	g.queueAndSend(ctx, notice, "a failure notice")
}

// permanentReason words a permanent send failure for the person who wrote
// the message. Only inside senders see it (fail gives outside senders no
// detail), and what it carries came from the outside network's server.
func permanentReason(p *PermanentError) string {
	if p.Err == nil {
		return "the network refused it"
	}
	return textclip.Clip(p.Err.Error(), 300)
}

// newID returns a random opaque message ID: it reveals nothing of the
// inside message it stands for.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

func bareLower(a string) string {
	if i := strings.IndexByte(a, '/'); i >= 0 {
		a = a[:i]
	}
	return strings.ToLower(a)
}

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
}

type senderItem struct {
	rec     *Record
	durable bool // stored in the queue: mark it when done
	// refusedSince is when the network first refused this message for now;
	// refusals how often; retryAt when to try it again.
	refusedSince, retryAt time.Time
	refusals              int
}

func newSender(g *Gateway, a Adapter) *sender {
	s := &sender{g: g, adapter: a, wake: make(chan struct{}, 1), up: make(chan struct{}, 1)}
	if g != nil {
		s.bulkGap = g.bulkGap
	}
	return s
}

func (s *sender) push(r *Record, durable bool) {
	s.mu.Lock()
	if r.Out.Auto == autoBroadcast {
		s.bulk = append(s.bulk, senderItem{rec: r, durable: durable})
	} else {
		s.queue = append(s.queue, senderItem{rec: r, durable: durable})
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
	return it, 0, true
}

func (s *sender) run(ctx context.Context) {
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
		if !s.send(ctx, bo, it) {
			return
		}
	}
}

// send delivers one message, waiting out outages; false when ctx ended
// first (the message stays pending in the queue for the next start).
func (s *sender) send(ctx context.Context, bo backoff.BackOff, it senderItem) bool {
	out := &it.rec.Out
	for {
		err := s.adapter.Send(ctx, out)
		if err != nil && ctx.Err() != nil {
			// Cut short by the gateway's own shutdown, whatever the adapter
			// made of it: not a failure. It stays pending and is sent again
			// at the next start.
			return false
		}
		if err == nil {
			bo.Reset()
			select { // a reconnect signalled while all was well wakes no later wait
			case <-s.up:
			default:
			}
			s.g.metrics.sent.WithLabelValues(out.Network).Inc()
			if !out.received.IsZero() {
				s.g.metrics.relay.WithLabelValues(out.Network).Observe(time.Since(out.received).Seconds())
			}
			if it.durable {
				s.g.queue.MarkThen(ctx, out.Seq, stateSent, "", s.g.followBroadcast(ctx, it.rec))
			}
			return true
		}
		var perm *PermanentError
		refused := !errors.As(err, &perm) && !errors.Is(err, ErrNotConnected) && it.durable
		if refused {
			now := time.Now()
			if it.refusedSince.IsZero() {
				it.refusedSince = now
			}
			if now.Sub(it.refusedSince) >= s.g.refusedFor {
				perm = &PermanentError{Err: fmt.Errorf("the network kept refusing it; its last answer: %w", err)}
			} else {
				it.refusals++
				it.retryAt = now.Add(s.g.refusedRetry << min(it.refusals-1, 5))
				s.g.metrics.retries.WithLabelValues(out.Network).Inc()
				s.g.log.Info("message refused for now; will try again", "network", out.Network, "seq", out.Seq, "at", it.retryAt, "err", err)
				s.mu.Lock()
				s.later = append(s.later, it)
				s.mu.Unlock()
				return true
			}
		}
		if perm != nil {
			s.g.log.Warn("send failed permanently", "network", out.Network, "seq", out.Seq, "err", perm)
			if it.durable {
				s.g.queue.MarkThen(ctx, out.Seq, stateFailed, perm.Error(), s.g.followBroadcast(ctx, it.rec))
				s.g.fail(ctx, it.rec, permanentReason(perm))
				if perm.Gone != "" {
					s.g.unreachable(ctx, it.rec, perm.Gone)
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

// followBroadcast returns what to do once the outcome of out is stored:
// for a broadcast copy, check whether the broadcast is complete.
func (g *Gateway) followBroadcast(ctx context.Context, r *Record) func(error) {
	if r.Broadcast == "" {
		return nil
	}
	id := r.Broadcast
	return func(err error) {
		if err == nil {
			g.scheduleProgress(context.WithoutCancel(ctx), id)
		}
	}
}

// defaultHandover is the handover notice of personas without their own.
const defaultHandover = "Hello, this is {persona}. From now on I am looking after you; just reply here as before."

// NotifyHandover tells each contact that t moved to a new owner who they
// are talking to now, from the persona the relationship is on after the
// move, on the contact's own network, through the durable queue. It
// returns how many notices were queued. Relationships sent to the pool,
// merged ones and those whose persona did not change owner get none.
func (g *Gateway) NotifyHandover(ctx context.Context, t *identity.Transfer) int {
	snap := g.state.Snapshot()
	n := 0
	for _, m := range t.Moves {
		if m.ToOwner == "" || m.ToOwner == m.FromOwner {
			continue
		}
		rel, ok := snap.Relationship(m.RelationshipID)
		if !ok || rel.MergedInto != "" {
			continue
		}
		c, ok := snap.Contact(rel.ContactID)
		if !ok {
			continue
		}
		p, ok := snap.Persona(rel.PersonaID)
		if !ok {
			continue
		}
		from, ok := p.AddressOn(c.Address.Network)
		if !ok {
			continue
		}
		text := p.Handover
		if strings.TrimSpace(text) == "" {
			text = defaultHandover
		}
		text = strings.ReplaceAll(text, "{persona}", p.DisplayName)
		if g.queueAuto(ctx, c.Address.Network, from, c.Address.Addr, p.DisplayName, text, rel.ID, "handover") {
			n++
		}
	}
	return n
}
