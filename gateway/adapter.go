package gateway

import (
	"context"
	"errors"
	"fmt"
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

	// Files are the files the message carries (see Attachment). A message
	// may carry files and no text.
	Files []Attachment
	// Refs are the earlier messages this one refers to, by the sender's
	// side's IDs (see Ref). A message with only a RefReceived or
	// RefDisplayed and no text or files is a signal: relayed at most
	// once, never stored, never answered.
	Refs []Ref
	// Reactions are the sender's reactions (emoji) to the message a
	// RefReact names; empty with a RefReact withdraws them.
	Reactions []string
	// ChatState is the sender's typing state, relayed like a signal when
	// the message carries nothing else.
	ChatState ChatState
}

// Kind says what an Outgoing message is, and so how adapters write it and
// whether the gateway may answer a failure of it.
type Kind uint8

// Kinds of Outgoing messages.
const (
	// KindRelayed is a person's message relayed across sides.
	KindRelayed Kind = iota
	// KindRefusal is an error reply to a message the gateway would not
	// relay; Outgoing.Refusal says why and ReplyTo names that message.
	KindRefusal
	// KindNotice is the gateway's own word (a failure report, a
	// broadcast's report, a contact gone), from a gateway address.
	KindNotice
	// KindWelcome is a persona's welcome text to a new contact, written
	// by the gateway on the persona's behalf.
	KindWelcome
	// KindHandover is a persona's notice to a contact that someone new
	// looks after them, written by the gateway on the persona's behalf.
	KindHandover
	// KindBroadcast is one copy of an employee's broadcast: a person wrote
	// it, so it is not marked automatic, but it is paced behind people's
	// own messages.
	KindBroadcast
)

// String names the kind as logs and the queue's auto column write it.
func (k Kind) String() string {
	switch k {
	case KindRelayed:
		return "relayed"
	case KindRefusal:
		return "refusal"
	case KindNotice:
		return "notice"
	case KindWelcome:
		return "welcome"
	case KindHandover:
		return "handover"
	case KindBroadcast:
		return "broadcast"
	}
	return "unknown"
}

// Automatic reports whether a machine wrote the message on a persona's
// behalf: adapters mark it so where their protocol can (mail:
// Auto-Submitted, RFC 3834).
func (k Kind) Automatic() bool { return k == KindWelcome || k == KindHandover }

// FromGateway reports whether the gateway itself wrote the message: a
// failure of it is never reported to anyone (an answer is never
// answered), and nothing about it marks a contact gone.
func (k Kind) FromGateway() bool { return k == KindRefusal || k == KindNotice }

// Outgoing is a message an adapter must write. It carries only what the
// gateway decided: nothing of the inbound wire form crosses sides.
type Outgoing struct {
	Seq     int64 // durable queue sequence number
	Kind    Kind
	Network string
	From    string // gateway address: a persona (outside) or a proxy (inside)
	To      string
	// ID is the gateway's own opaque message ID.
	ID   string
	Body string
	Nick string // display name for From
	// Refusal says why, for KindRefusal; ReplyTo is the refused message's
	// ID.
	Refusal *routing.Refusal
	ReplyTo string
	// Subscribe asks the adapter to also request a presence subscription
	// from From to To, announcing Nick, when the relationship is new (a
	// KindRelayed message an employee wrote to a new contact).
	Subscribe bool
	// Subject and Thread carry the inbound message's subject and thread
	// (see Message). Adapters on the outside write only what their own
	// protocol means by them, never an inside token.
	Subject string
	Thread  string

	// Files, Refs, Reactions and ChatState are the Message's, translated
	// for the recipient's side (see Attachment and Ref): every reference
	// is an ID of that side, every file URL one the gateway re-hosted.
	Files     []Attachment
	Refs      []Ref
	Reactions []string
	ChatState ChatState

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
	// Failed reports that a message the gateway sent was bounced by the
	// recipient's server.
	Failed(ctx context.Context, b Bounce)
}

// Bounce is a network's report that a message the gateway sent could not
// be delivered.
type Bounce struct {
	Network string
	// ID is the gateway's own ID of the message (Outgoing.ID).
	ID string
	// Reason says why, for the person who wrote it.
	Reason string
	// Gone, when not empty, says the recipient's address itself is dead
	// (worded as SendError.Gone): the relationship is marked gone too.
	Gone string
}

// Adapter is one protocol adapter instance attached to one network.
type Adapter interface {
	// Network is the name of the network this adapter serves.
	Network() string
	// Run connects and serves until ctx ends, reconnecting with backoff.
	Run(ctx context.Context, core Core) error
	// Send writes one message. It says what the gateway should do about a failure through a
	// *SendError (NotConnected, Permanent, AddressGone); any other error
	// is taken as RetryLater.
	Send(ctx context.Context, out *Outgoing) error
}

// SendAction is what the gateway does about a message an adapter could
// not send.
type SendAction uint8

// Send actions, from the mildest.
const (
	// RetryLater: this message alone was refused for now (a mail server's
	// 4xx). It is tried again later while later messages go on, and
	// reported to its author after Options.RefusedFor.
	RetryLater SendAction = iota
	// RetryWhenConnected: the network is away. The message is retried, in
	// order, with backoff, and at once when the adapter reconnects.
	RetryWhenConnected
	// GiveUp: no retry can mend it (a malformed address, a "no such user").
	// Its author is told.
	GiveUp
)

// SendError is the one error type through which an adapter's Send says
// what the gateway should do (in the manner of bridgev2's MessageStatus).
// An error Send returns that is not a *SendError is taken as RetryLater.
type SendError struct {
	Action SendAction
	// Gone, with GiveUp, says the recipient's address itself is dead (a
	// mail server's "no such user"), worded to follow the contact's
	// address ("has an address that …"): the relationship is marked gone,
	// as by ContactTracker.ContactUnreachable.
	Gone string
	// Uncertain says the message may have arrived all the same (the
	// connection broke after the server had the whole message): its author
	// is told it may not have been delivered rather than that it was not.
	Uncertain bool
	Err       error
}

func (e *SendError) Error() string {
	var what string
	switch e.Action {
	case RetryWhenConnected:
		what = "not connected"
	case GiveUp:
		what = "permanent"
	default:
		what = "refused for now"
	}
	if e.Err == nil {
		return what
	}
	return what + ": " + e.Err.Error()
}

func (e *SendError) Unwrap() error { return e.Err }

// ErrNotConnected is the Err of NotConnected's errors when no cause is
// given; errors.Is(err, ErrNotConnected) tells a network away.
var ErrNotConnected = errors.New("adapter not connected")

// NotConnected says the network is away; err is why (may be nil).
func NotConnected(err error) *SendError {
	if err == nil {
		err = ErrNotConnected
	} else {
		err = fmt.Errorf("%w: %w", ErrNotConnected, err)
	}
	return &SendError{Action: RetryWhenConnected, Err: err}
}

// Permanent says no retry can deliver the message, for err.
func Permanent(err error) *SendError { return &SendError{Action: GiveUp, Err: err} }

// AddressGone says the recipient's address is dead (see SendError.Gone).
func AddressGone(err error, gone string) *SendError {
	return &SendError{Action: GiveUp, Gone: gone, Err: err}
}

// ClassifySend reads what Send returned as a *SendError. It looks at the
// sender's own ctx first: a send cut short by the gateway's shutdown is
// not the network's verdict, whatever the adapter made of it, and ok is
// false then (the message stays pending for the next start).
func ClassifySend(ctx context.Context, err error) (se *SendError, ok bool) {
	if ctx.Err() != nil {
		return nil, false
	}
	if errors.As(err, &se) {
		return se, true
	}
	return &SendError{Action: RetryLater, Err: err}, true
}

// UnansweredError is what Accept's stored reports for a message the
// gateway refused and could not answer, its sender not being vouched for
// (Message.ReplyTo empty). Nothing of it is stored.
type UnansweredError struct {
	Refusal *routing.Refusal
}

func (e *UnansweredError) Error() string {
	return "refused, and its sender cannot be told: " + e.Refusal.Error()
}
