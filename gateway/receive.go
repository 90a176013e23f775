package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/kakehashi/kakehashi/guard"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

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
	if m.signal() {
		if badFrom == nil {
			g.relaySignal(ctx, m)
		}
		if stored != nil {
			stored(nil)
		}
		return nil
	}
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
			if created && d.Kind == routing.Deliver {
				g.noteEvent(Event{At: g.now(), Kind: EventNew, RelationshipID: d.RelationshipID, OwnerID: d.OwnerID})
			}
			if d.Kind == routing.Propose {
				d = routing.Decision{Kind: routing.Refuse, Refusal: &routing.Refusal{
					Reason: routing.GatewayFailure, Text: "the gateway could not route this message; please try again"}}
			}
		}
	}
	var hold guardHold
	if d.Kind == routing.Deliver {
		if !subscribe {
			// The relationship's first message did not go (held, or its
			// file refused): this one carries its subscription request.
			_, subscribe = g.resubscribe.LoadAndDelete(d.RelationshipID)
		}
		hold = g.checkOutbound(m, d)
		if len(hold.hits) > 0 && !hold.released {
			if subscribe {
				g.resubscribe.Store(d.RelationshipID, true)
			}
			d = routing.Decision{Kind: routing.Refuse, Refusal: &routing.Refusal{Reason: routing.NotAllowed, Text: holdText(hold)}}
		}
	}
	received := time.Now()
	rec := &Record{
		ReceivedAt: g.now(), InNetwork: m.Network, InFrom: m.From, InReply: reply, InTo: m.To, InID: m.ID,
	}
	if d.Kind == routing.Deliver {
		rec.RelationshipID, rec.OwnerID = d.RelationshipID, d.OwnerID
		g.recordActivity(d.RelationshipID)
		if m.Automatic == "" && g.top.Networks[m.Network].Side == identity.Outside {
			if rel, ok := g.state.Snapshot().Relationship(d.RelationshipID); ok && rel.Gone != "" {
				// A contact who writes is reachable again: the mark is for
				// people and broadcasts, not routing.
				g.hooks.GoneWrote(ctx, rel, d, m.From)
			}
		}
		rec.Out = Outgoing{Kind: KindRelayed, Network: d.Target.Network, From: d.Target.From, To: d.Target.To,
			ID: NewID(), Body: m.Body, Nick: d.Target.Nick, Subscribe: subscribe,
			Subject: m.Subject, Thread: m.Thread, Reactions: m.Reactions}
		rec.inRefs = durableRefs(m.Refs)
		// A reply can come back faster than the commit of the message it
		// answers, if that was written first: its reference is mapped
		// once that is stored, or it would be dropped as unknown.
		for _, r := range rec.inRefs {
			g.queue.awaitWritten(ctx, r.ID)
		}
		files, err := g.spoolInbound(ctx, m)
		if err != nil {
			if stored != nil && !errors.Is(err, errFileRefused) {
				// The bytes are still with the adapter (a mail in its
				// inbox): it offers the message again later.
				g.metrics.storeErrors.Inc()
				g.log.Error("could not store a message's files; it stays with its network", "network", m.Network, "err", err)
				stored(err)
				return nil
			}
			d = routing.Decision{Kind: routing.Refuse, Refusal: &routing.Refusal{Reason: routing.TooLarge, Text: err.Error()}}
		}
		rec.Out.Files = files
		if d.Fallback {
			g.metrics.fallback.Inc()
		}
	}
	if d.Kind != routing.Deliver {
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
		rec.RelationshipID, rec.OwnerID, rec.inRefs = "", "", nil
		rec.Out = Outgoing{Kind: KindRefusal, Network: m.Network, From: m.To, To: reply, ID: NewID(),
			Body: m.Body, Refusal: d.Refusal, ReplyTo: m.ID, Subject: m.Subject}
	}
	rec.Out.received = received
	if len(hold.hits) > 0 {
		action, what := "guard.hold", "held"
		if hold.released {
			action, what = "guard.release", "released"
		}
		g.metrics.guard.WithLabelValues(what).Inc()
		if emp, _, ok := g.EmployeeAt(m.Network, m.From); ok {
			rec.audit = &Act{Actor: "employee:" + emp.ID, Action: action, Reason: guard.Describe(hold.hits),
				Subject: "message:" + rec.Out.ID, Details: map[string]any{"terms": heldTerms(hold.hits), "to": m.To}}
		}
	}
	// A message whose network does not offer it again (Receive, not
	// Accept) may be written before its commit (wirefirst.go).
	if stored == nil && d.Kind == routing.Deliver && g.wireFirst(ctx, rec) {
		if rec.sentFirst {
			g.noteRelayed(rec, m.Automatic != "")
		}
		if welcome && reply != "" {
			g.hooks.NewContact(ctx, m, d)
		}
		return nil
	}
	if stored == nil && reply != "" && g.stopping.Load() && g.queue.StoreError() != nil {
		// Stopping, and the store fails: the message would not be stored
		// before the streams close, nor answered after. Its author is
		// told now, while this stream still carries the answer.
		g.metrics.storeErrors.Inc()
		g.log.Error("could not store a message while stopping; telling its sender", "network", m.Network, "err", g.queue.StoreError())
		rec.Out = notStored(m, reply)
		g.senders[m.Network].answer(rec, g.taken.take(m.Network))
		return nil
	}
	g.committing(rec.Out.Network, 1)
	tk := g.taken.take(m.Network)
	if err := g.queue.Enqueue(ctx, rec, func(dup bool, err error) {
		defer g.committing(rec.Out.Network, -1)
		if stored != nil {
			defer stored(err)
		}
		answering := false
		defer func() {
			if !answering {
				g.taken.done(tk)
			}
		}()
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
			rec.Out = notStored(m, reply)
			answering = true
			g.senders[m.Network].answer(rec, tk)
		case rec.empty:
			g.log.Debug("nothing relayed: the message referred only to messages the ID map does not know",
				"network", m.Network, "id", m.ID)
		case dup:
			g.metrics.duplicates.WithLabelValues(m.Network).Inc()
			g.log.Debug("duplicate dropped: the same message was stored within the deduplication window",
				"network", m.Network, "id", m.ID, "window", DedupeWindow)
		default:
			g.dispatch(rec)
			g.noteRelayed(rec, m.Automatic != "")
		}
		if rec.audit != nil && err == nil {
			g.bg.Go(func() { g.flushOutbox(context.WithoutCancel(ctx)) })
		}
	}); err != nil {
		g.committing(rec.Out.Network, -1)
		g.taken.done(tk)
		return err
	}
	if welcome && d.Kind == routing.Deliver && reply != "" {
		// A welcome is an answer too: only to a sender vouched for.
		g.hooks.NewContact(ctx, m, d)
	}
	return nil
}

// notStored is the answer to the author (at reply) of m, which the
// gateway could not store.
func notStored(m *Message, reply string) Outgoing {
	return Outgoing{Kind: KindRefusal, Network: m.Network, From: m.To, To: reply, ID: NewID(), Body: m.Body,
		Refusal: &routing.Refusal{Reason: routing.GatewayFailure, Text: "the gateway could not store your message; please send it again"},
		ReplyTo: m.ID}
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

// flushActivity writes the noted activity (every few seconds, see Run):
// last activity is for searching ("idle for a month"), so seconds of
// delay cost nothing and save a store write per message.
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

// signal reports whether m is only a signal: receipts, read markers or a
// chat state, with no text, file, reaction or other reference.
func (m *Message) signal() bool {
	if m.Body != "" || m.Subject != "" || len(m.Files) > 0 || len(m.Reactions) > 0 {
		return false
	}
	for _, r := range m.Refs {
		if !r.Kind.Signal() {
			return false
		}
	}
	return len(m.Refs) > 0 || m.ChatState != ""
}

// durableRefs are the references of a message a person wrote: receipts
// and markers riding on it are not relayed with it.
func durableRefs(refs []Ref) []Ref {
	var out []Ref
	for _, r := range refs {
		if !r.Kind.Signal() {
			out = append(out, r)
		}
	}
	return out
}

// relaySignal passes a receipt, a read marker or a chat state to the other
// side of an existing relationship, at most once and without storing it:
// it never starts a relationship, is never answered, and what the
// company's policy keeps from contacts (SignalPolicy) stays inside.
func (g *Gateway) relaySignal(ctx context.Context, m *Message) {
	env := routing.Envelope{Network: m.Network, From: m.From, To: m.To}
	d := routing.Decide(g.top, g.state.Snapshot(), env)
	if d.Kind != routing.Deliver {
		return
	}
	employee := g.side(m.Network) == identity.Inside
	var refs []Ref
	for _, r := range m.Refs {
		switch {
		case employee && r.Kind == RefReceived && g.signals.HideReceived:
		case employee && r.Kind == RefDisplayed && !g.signals.ShowDisplayed:
		default:
			refs = append(refs, r)
		}
	}
	out := Outgoing{Kind: KindRelayed, Network: d.Target.Network, From: d.Target.From, To: d.Target.To, ID: NewID()}
	if len(refs) > 0 {
		for _, r := range refs {
			g.queue.awaitWritten(ctx, r.ID)
		}
		mapped, err := translateRefs(ctx, g.queue.ro, m.Network, m.From, d.RelationshipID, d.Target.Network, refs)
		if err != nil {
			g.log.Warn("signal not relayed: the ID map could not be read", "network", m.Network, "err", err)
			return
		}
		for i := range mapped {
			mapped[i].Quote = ""
		}
		out.Refs = mapped
	}
	if m.ChatState != "" && !(employee && g.signals.HideChatStates) {
		out.ChatState = m.ChatState
	}
	if out.nothing() {
		return
	}
	s, ok := g.senders[out.Network]
	if !ok {
		return
	}
	s.pushItem(senderItem{rec: &Record{ReceivedAt: g.now(), InNetwork: m.Network, InFrom: m.From, InTo: m.To,
		RelationshipID: d.RelationshipID, OwnerID: d.OwnerID, Out: out}, signal: true})
}
