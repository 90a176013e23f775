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
	// Profile answers who is at one of the gateway's own addresses on a
	// network, for vCard, disco and presence answers. ok is false when the
	// address does not exist.
	Profile(network, addr string) (p Profile, ok bool)
	// Failed reports that a message the gateway sent (by its ID) was bounced
	// by the network, so its sender can be told.
	Failed(ctx context.Context, network, id, reason string)
}

// Adapter is one protocol adapter instance attached to one network.
type Adapter interface {
	// Network is the name of the network this adapter serves.
	Network() string
	// Run connects and serves until ctx ends, reconnecting with backoff.
	Run(ctx context.Context, core Core) error
	// Send writes one message. An error wrapping ErrNotConnected (or any
	// error for which Permanent reports false) is retried by the gateway.
	Send(ctx context.Context, out *Outgoing) error
}

// ErrNotConnected means the adapter is (re)connecting; sends are retried.
var ErrNotConnected = errors.New("adapter not connected")

// PermanentError marks a send failure that no retry can mend (a malformed
// address, say); the gateway reports it to the sender instead of retrying.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }
