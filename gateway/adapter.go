package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/kakehashi/kakehashi/routing"
)

// Message is a message an adapter received, in the gateway's
// protocol-neutral form. Addresses are bare and normalised.
type Message struct {
	Network string
	From    string
	To      string
	// ID is the sender's message ID, used to deduplicate redelivery; may be
	// empty when the protocol gives none.
	ID   string
	Body string
	// Nick is the display name the sender announced (XEP-0172), if any.
	Nick string
	// Subject is the conversation's subject, when the sender gave one (an
	// XMPP <subject>, a mail's Subject when its thread starts).
	Subject string
	// Thread names the conversation the message belongs to, when the
	// protocol has one. Inside, it is an opaque token the gateway passes on
	// to the outside adapter, which only ever uses it to look up threads it
	// issued itself; it never goes on an outside wire as is.
	Thread string
	// Automatic, when not empty, says why the message was sent by a machine
	// rather than a person (an out-of-office reply, a mailing list). The
	// gateway relays it but never answers it: no refusal, no notice, and no
	// new relationship is started by it (RFC 3834).
	Automatic string
	// ReplyTo is where the gateway may answer this message (a refusal, a
	// failure notice), on the same network; empty means it is never
	// answered. It is not From where From proves nothing: mail is
	// answered at its envelope sender (Return-Path), and only when that
	// passed SPF or DMARC at a trusted receiving server, is no null
	// sender and no machine; otherwise a forged From would have the
	// gateway write to anyone (backscatter). An adapter whose server
	// vouches for the sender (XMPP) sets it to the sender's full address.
	// The relationship is still keyed on From.
	ReplyTo string
}

// Outgoing is a message an adapter must write. It carries only what the
// gateway decided: nothing of the inbound wire form crosses sides.
type Outgoing struct {
	Seq     int64 // durable queue sequence number
	Network string
	From    string // gateway address: a persona (outside) or a proxy (inside)
	To      string
	// ID is the gateway's own opaque message ID.
	ID   string
	Body string
	Nick string // display name for From
	// Refusal, when set, makes this an error reply to a message the gateway
	// would not relay; ReplyTo is that message's ID.
	Refusal *routing.Refusal
	ReplyTo string
	// Notice marks an informational message from the gateway itself (for
	// example a delivery failure report) rather than a relayed one.
	Notice bool
	// Subscribe asks the adapter to also request a presence subscription
	// from From to To, announcing Nick, when the relationship is new.
	Subscribe bool
	// Auto, when set, marks a message the gateway writes on a persona's
	// behalf ("welcome", "handover"): adapters send it like the persona's
	// own, marked automatic where the protocol can say so (mail:
	// Auto-Submitted).
	Auto string
	// Subject and Thread carry the inbound message's subject and thread
	// (see Message). Adapters on the outside write only what their own
	// protocol means by them, never an inside token.
	Subject string
	Thread  string

	// received is when the gateway got the message this one answers, for
	// the relay latency metric; zero for messages replayed after a restart.
	received time.Time
}

// Profile is what the gateway tells an adapter about one of its own
// addresses: who answers there and under which name.
type Profile struct {
	Name string
}

// Core is the gateway as adapters see it.
type Core interface {
	// Receive hands an inbound message to the gateway. It returns once the
	// message has been routed and queued for durable commit; nothing is sent
	// before that commit. A *routing.Refusal is never returned: refusals are
	// answered to the sender through the adapter like any other message.
	Receive(ctx context.Context, m *Message) error
	// Accept is Receive for adapters whose network waits for an answer
	// (IMAP: the mail stays in the inbox until then). Messages are taken in
	// call order; stored is called exactly once (possibly on another
	// goroutine, possibly before Accept returns) once the message
	// is durably stored, or known to be a duplicate of one that is, or was
	// deliberately dropped (automatic mail that would only have been
	// refused). An error passed to stored means the message is not stored:
	// keep it and offer it again later; but an *UnansweredError means the
	// gateway refused it and may not tell its sender (see
	// Message.ReplyTo): offered again it would be refused again, so set it
	// aside for a person. Accept returns an error only once
	// the gateway has stopped taking messages (an adapter's cancelled ctx
	// alone does not make it fail: a message read is taken); then stored
	// is never called.
	Accept(ctx context.Context, m *Message, stored func(error)) error
	// Profile answers who is at one of the gateway's own addresses on a
	// network, for vCard, disco and presence answers. ok is false when the
	// address does not exist.
	Profile(network, addr string) (p Profile, ok bool)
	// Failed reports that a message the gateway sent (by its ID) was bounced
	// by the recipient's server, with a reason for the person who wrote it.
	// gone, when not empty, says the recipient's address itself is dead
	// (worded as PermanentError.Gone): the relationship is marked gone too.
	Failed(ctx context.Context, network, id, reason, gone string)
}

// Adapter is one protocol adapter instance attached to one network.
type Adapter interface {
	// Network is the name of the network this adapter serves.
	Network() string
	// Run connects and serves until ctx ends, reconnecting with backoff.
	Run(ctx context.Context, core Core) error
	// Send writes one message. An error wrapping ErrNotConnected says the
	// network is away: the gateway retries with backoff, in order. A
	// *PermanentError is reported to the message's author. Any other error
	// is a temporary refusal of this message alone (a mail server's 4xx):
	// the gateway tries it again later while later messages go on, and
	// after Options.RefusedFor reports it to its author.
	Send(ctx context.Context, out *Outgoing) error
}

// ErrNotConnected means the adapter is (re)connecting; sends are retried.
var ErrNotConnected = errors.New("adapter not connected")

// PermanentError marks a send failure that no retry can mend (a malformed
// address, say); the gateway reports it to the sender instead of retrying.
// Gone, when not empty, says the recipient's address itself is dead (a
// mail server's "no such user"), worded to follow the contact's address
// ("has an address that …"): the relationship is marked gone, as by
// ContactTracker.ContactUnreachable.
type PermanentError struct {
	Err  error
	Gone string
}

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// UnansweredError is what Accept's stored reports for a message the
// gateway refused and could not answer, its sender not being vouched for
// (Message.ReplyTo empty). Nothing of it is stored.
type UnansweredError struct {
	Refusal *routing.Refusal
}

func (e *UnansweredError) Error() string {
	return "refused, and its sender cannot be told: " + e.Refusal.Error()
}
