// Package gateway is the relay path: it receives what the protocol
// adapters read, routes it (package routing) against the identity
// snapshot, commits it to the durable queue, and sends it through the
// per-network senders with their retries. It also defines the adapter
// contract (Adapter, Core, Message, Outgoing, SendError) and the optional
// capabilities adapters find by type assertion.
//
// What the company does to contacts (welcomes, handovers, broadcasts,
// contact-gone tracking, employees' commands) is package outreach,
// reached through Hooks; the admin API is package adminapi; the wiring of
// configuration, adapters and gateway is cmd/kakehashi.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kakehashi/kakehashi/guard"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"

	"github.com/kakehashi/kakehashi/internal/busy"
	"github.com/kakehashi/kakehashi/internal/textclip"
)

// Options configure a Gateway.
type Options struct {
	Topology *routing.Topology
	State    *identity.State
	Queue    *Queue
	Adapters []Adapter
	// Prestarted, instead of Adapters, are adapters already running
	// (Prestart): Run hands them the gateway and stops them as its own.
	Prestarted *Prestarted
	Logger     *slog.Logger
	Metrics    *Metrics
	Now        func() time.Time
	// RetryMin is the first wait between send attempts while a network is
	// away (default 50 ms), RetryMax caps it (default 30 s). A network
	// that reconnects (ConnectNotifier) ends the wait at once.
	RetryMin, RetryMax time.Duration
	// RefusedRetry is the first wait before trying again a message the
	// network refused for now (default 1 min; it doubles up to 32 times
	// that), and RefusedFor how long it is tried before its author is
	// told it could not be delivered (default 24 h).
	RefusedRetry, RefusedFor time.Duration
	// Retention is how long sent and failed messages keep their text
	// (limits.message_retention); 0 keeps it forever.
	Retention time.Duration
	// BroadcastRate is how many broadcast copies a second each network's
	// sender writes at most (default DefaultBroadcastRate); people's own
	// messages are never paced.
	BroadcastRate int
	// Files configure how files cross (see FileOptions); nil or no Spool:
	// a message with files is refused with an answer that says so.
	Files *FileOptions
	// Signals say which of an employee's signals reach contacts.
	Signals SignalPolicy
	// Guard, when not nil, looks at every employee's text before it
	// leaves for the outside and holds it when it carries the
	// employee's real name or an inside identifier (see SendAnyway).
	Guard *guard.Guard
	// MaySend, when not nil, is asked before every write to a network:
	// false holds the message back (it stays pending, as at a stop). An
	// instance that shares its store with others passes its election's
	// term check (leader.Elector.Valid), so that one whose term is over
	// sends nothing more, even before its context ends.
	MaySend func() bool
	// Events, when not nil, is told of every message relayed between a
	// contact and an owner, every relationship a message starts and every
	// contact marked gone (NoteGone), in batches off the relay path (see
	// Events). EventsEvery is how often (default DefaultEventsEvery).
	Events      Events
	EventsEvery time.Duration
}

// SignalPolicy says which of an employee's signals (receipts, read
// markers, typing) reach contacts. A contact's signals always reach the
// employee. Some companies do not want to show contacts that a message
// was read, so displayed markers are off by default.
type SignalPolicy struct {
	// HideReceived keeps "delivered" receipts from contacts.
	HideReceived bool
	// ShowDisplayed lets "displayed" (read) markers reach contacts.
	ShowDisplayed bool
	// HideChatStates keeps typing notifications from contacts.
	HideChatStates bool
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
	adapters  map[string]Adapter
	pre       *Prestarted // adapters started before the gateway, if so
	taken     taking      // messages handed over, until stored or answered (Settle)
	stopping  atomic.Bool // Run's context has ended: the adapters are closing their streams
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

	// canon remembers the canonical spellings of the addresses messages
	// came from and went to lately (canon.go).
	canonMu sync.Mutex
	canon   map[string]canonResult

	// bouncing holds the messages (network NUL ID) whose bounce is being
	// handled.
	bouncing busy.Set
	// resubscribe holds the relationships (by ID) whose first message,
	// which was to carry the persona's subscription request, was held or
	// failed: the next message to the contact carries it.
	resubscribe sync.Map
	// outboxMu is held while the audit outbox is copied (see Tx.Audit).
	outboxMu sync.Mutex
	hooks    Hooks

	files   *fileStage // nil: files are not carried
	signals SignalPolicy
	guard   *guard.Guard
	maySend func() bool // see Options.MaySend

	// events, when not nil, takes what eventBuf collects (events.go);
	// eventsHeld is a batch it failed to take, eventsFlush is held by
	// the one flush at a time.
	events      Events
	eventsEvery time.Duration
	eventsMu    sync.Mutex
	eventBuf    []Event
	eventsFlush sync.Mutex
	eventsHeld  []Event
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
		ready: make(chan struct{}), activity: map[string]time.Time{},
		retention: o.Retention, hooks: noHooks{}, signals: o.Signals, guard: o.Guard,
		maySend: o.MaySend, events: o.Events, eventsEvery: o.EventsEvery,
	}
	if g.eventsEvery <= 0 {
		g.eventsEvery = DefaultEventsEvery
	}
	if o.Files != nil && o.Files.Spool != nil {
		g.files = newFileStage(*o.Files)
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
	adapters := o.Adapters
	if o.Prestarted != nil {
		if len(adapters) > 0 {
			return nil, errors.New("gateway: Options.Adapters and Options.Prestarted both given")
		}
		adapters = o.Prestarted.adapters
		g.pre = o.Prestarted
	}
	for _, a := range adapters {
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
	g.flushOutbox(ctx) // entries of acts whose copy the last run did not finish
	g.hooks.Started(ctx)
	if g.retention > 0 {
		g.bg.Go(func() { g.expireTextsEvery(ctx, time.Hour) })
	}
	if g.files != nil {
		g.bg.Go(func() { g.pruneSpoolEvery(ctx, time.Hour) })
	}
	g.bg.Go(func() { g.reportOldSpellings(ctx) })
	g.bg.Go(func() {
		if err := g.queue.loadSeen(ctx); err != nil && ctx.Err() == nil {
			// Every copy is then looked for in the queue: slower, not wrong.
			g.log.Warn("deduplication looks every message up in the queue", "err", err)
		}
	})

	var wg sync.WaitGroup
	for _, s := range g.senders {
		s.starting(ctx)
		wg.Add(1)
		go func() { defer wg.Done(); s.run(ctx) }()
	}
	// The adapters stop after the writes before a commit have: a stream
	// closed while one is being written would take the stanza after its
	// end, which the server drops.
	actx, cancelAdapters := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelAdapters()
	stopAdapters := cancelAdapters
	errs := make(chan error, len(g.adapters))
	var waitPrestarted func() []error
	if g.pre != nil {
		// Running already: from now on their calls are the gateway's.
		stopAdapters, waitPrestarted = g.pre.run(g)
		defer stopAdapters()
	}
	stopAfter := context.AfterFunc(ctx, func() {
		g.stopping.Store(true)
		for _, s := range g.senders {
			s.stopFirst()
		}
		stopAdapters()
	})
	defer stopAfter()
	if g.pre == nil {
		for _, a := range g.adapters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := a.Run(actx, g); err != nil && !errors.Is(err, context.Canceled) {
					errs <- fmt.Errorf("adapter %s: %w", a.Network(), err)
				}
			}()
		}
	}
	wg.Add(1)
	go func() { defer wg.Done(); every(ctx, 5*time.Second, g.flushActivity) }()
	if g.events != nil {
		wg.Add(1)
		go func() { defer wg.Done(); every(ctx, g.eventsEvery, g.flushEvents) }()
	}
	close(g.ready)
	<-ctx.Done()
	wg.Wait()
	var preErrs []error
	if waitPrestarted != nil {
		preErrs = waitPrestarted()
	}
	// Adapters and senders are done: what they started in the background
	// may still queue messages, so it ends before the queue does.
	g.bg.Close()
	g.flushActivity(context.WithoutCancel(ctx))
	stopQueue()
	<-qdone
	// After the queue's last commit: every message it stored is noted.
	g.flushEvents(context.WithoutCancel(ctx))
	close(errs)
	return errors.Join(append(collect(errs), preErrs...)...)
}

func collect(ch <-chan error) []error {
	var out []error
	for e := range ch {
		out = append(out, e)
	}
	return out
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

func bareLower(a string) string {
	if i := strings.IndexByte(a, '/'); i >= 0 {
		a = a[:i]
	}
	return strings.ToLower(a)
}

// WaitReady returns once Run has started the senders and adapters.
func (g *Gateway) WaitReady() { <-g.ready }
