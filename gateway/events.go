package gateway

import (
	"context"
	"time"

	"github.com/kakehashi/kakehashi/identity"
)

// Events is told what the gateway relays, for the numbers people manage
// by (package analytics): each message relayed between a contact and an
// owner, each relationship a message started, each contact marked gone.
// The relay path only appends to a buffer; a goroutine of Run hands the
// buffer to Record every EventsEvery (and once more when Run stops), so
// a slow or failing Events delays nothing and refuses nothing.
type Events interface {
	// Record takes a batch of events, in the order the gateway saw them.
	// An error keeps the batch for the next call (up to MaxPendingEvents
	// events; older ones are dropped beyond that, with a warning).
	Record(ctx context.Context, batch []Event) error
}

// EventKind says what an Event reports.
type EventKind uint8

// Kinds of events.
const (
	// EventIn is a contact's message relayed to the relationship's owner.
	EventIn EventKind = iota + 1
	// EventOut is an owner's message relayed to the contact.
	EventOut
	// EventNew is a relationship started by a message (a new contact on
	// it: the contact wrote to a persona, or an employee to a contact).
	EventNew
	// EventGone is a relationship marked gone (see NoteGone).
	EventGone
)

// String names the kind as analytics stores it.
func (k EventKind) String() string {
	switch k {
	case EventIn:
		return "in"
	case EventOut:
		return "out"
	case EventNew:
		return "new"
	case EventGone:
		return "gone"
	}
	return "unknown"
}

// Event is one thing the gateway saw on a relationship. Owner is who
// owned the relationship when the message was routed; the rest is read
// from the identity snapshot when the batch is handed over (a second or
// so later: an employee's team, a contact's source and a persona's
// contact point change far more rarely than that).
type Event struct {
	At   time.Time
	Kind EventKind
	// RelationshipID is the relationship; OwnerID its owner then ("" for
	// the unassigned pool), Team the owner's department.
	RelationshipID, OwnerID, Team string
	// Network is the contact's (outside) network.
	Network string
	// ContactPoint is the persona of the relationship when it is a
	// contact point (a team persona that assigns new contacts), else "".
	ContactPoint string
	// Source is how the contact came (identity.Contact.Source: "inbound",
	// "outreach", a contact point's source tag such as "expo2026").
	Source string
	// Automatic is set on a contact's message sent by a machine (an
	// auto-reply): counted, but it starts no wait for an answer.
	Automatic bool
}

// MaxPendingEvents bounds the events kept for an Events that fails: a
// day's worth of a busy gateway's traffic is far less.
const MaxPendingEvents = 1 << 20

// DefaultEventsEvery is how often the noted events are handed to Events
// unless Options.EventsEvery says otherwise.
const DefaultEventsEvery = time.Second

// noteEvent buffers an event of the relay path; it costs an append under
// a lock no one holds for longer.
func (g *Gateway) noteEvent(e Event) {
	if g.events == nil || e.RelationshipID == "" {
		return
	}
	g.eventsMu.Lock()
	g.eventBuf = append(g.eventBuf, e)
	g.eventsMu.Unlock()
}

// noteRelayed notes the message of rec, relayed from network in: a
// contact's or an owner's message, by the side it came from.
func (g *Gateway) noteRelayed(rec *Record, automatic bool) {
	if g.events == nil || rec.RelationshipID == "" || rec.Out.Kind != KindRelayed || rec.Broadcast != "" {
		return
	}
	e := Event{At: rec.ReceivedAt, RelationshipID: rec.RelationshipID, OwnerID: rec.OwnerID}
	if g.side(rec.InNetwork) == identity.Outside {
		e.Kind, e.Network, e.Automatic = EventIn, rec.InNetwork, automatic
	} else {
		e.Kind, e.Network = EventOut, rec.Out.Network
	}
	g.noteEvent(e)
}

// NoteGone reports to Events that rel was marked gone now (outreach marks
// contacts gone; the gateway only reports it).
func (g *Gateway) NoteGone(rel *identity.Relationship) {
	if rel == nil {
		return
	}
	g.noteEvent(Event{At: g.now(), Kind: EventGone, RelationshipID: rel.ID, OwnerID: rel.OwnerID})
}

// flushEvents completes the noted events from the identity snapshot and
// hands them to Events. One flush at a time: Run's final one waits for
// the ticker's.
func (g *Gateway) flushEvents(ctx context.Context) {
	if g.events == nil {
		return
	}
	g.eventsFlush.Lock()
	defer g.eventsFlush.Unlock()
	g.eventsMu.Lock()
	batch := g.eventBuf
	g.eventBuf = nil
	g.eventsMu.Unlock()
	if len(g.eventsHeld) > 0 {
		batch = append(g.eventsHeld, batch...)
		g.eventsHeld = nil
	}
	if len(batch) == 0 {
		return
	}
	snap := g.state.Snapshot()
	for i := range batch {
		e := &batch[i]
		if emp, ok := snap.Employee(e.OwnerID); ok {
			e.Team = emp.Department
		}
		rel, ok := snap.Relationship(e.RelationshipID)
		if !ok {
			continue
		}
		if c, ok := snap.Contact(rel.ContactID); ok {
			e.Source = c.Source
			if e.Network == "" {
				e.Network = c.Address.Network
			}
		}
		if p, ok := snap.Persona(rel.PersonaID); ok && p.Kind == identity.Team && p.Assign != "" {
			e.ContactPoint = p.ID
		}
	}
	if err := g.events.Record(ctx, batch); err != nil {
		if len(batch) > MaxPendingEvents {
			g.log.Warn("analytics events dropped: they could not be recorded for too long", "dropped", len(batch)-MaxPendingEvents)
			batch = batch[len(batch)-MaxPendingEvents:]
		}
		g.eventsHeld = batch
		g.log.Warn("could not record analytics events; trying again", "events", len(batch), "err", err)
	}
}
