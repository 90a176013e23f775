package gateway

import (
	"context"
	"io"
	"strconv"
	"strings"
)

// Attachment is one file a message carries.
//
// On a Message (what an adapter received), URL is where the sender's
// client put the bytes (the inside upload service, a contact's server),
// or Open reads bytes the adapter already holds (a mail's MIME part). The
// gateway stores the bytes in its spool before it relays anything that
// points at them, so an adapter's copy is never needed again.
//
// On an Outgoing (what an adapter writes), URL is where the gateway
// re-hosted the file for the recipient (empty when the recipient's
// adapter attaches bytes itself and the file fits, see Attacher), and
// Open reads the gateway's own cleaned copy.
type Attachment struct {
	// Name is the file name the sender gave, without directories; the
	// gateway names a file that has none from its media type.
	Name string `json:"name,omitempty"`
	// MediaType is the type without parameters, lower-cased; empty when
	// unknown.
	MediaType string `json:"type,omitempty"`
	// Size is the length in bytes; 0 while unknown (a URL not yet
	// fetched).
	Size int64 `json:"size,omitempty"`
	// SHA256 is the hex hash of the bytes; empty while unknown. Once set,
	// every copy the gateway makes is checked against it, so a crash
	// mid-transfer never delivers a truncated file.
	SHA256 string `json:"sha256,omitempty"`
	// URL: see the type's comment.
	URL string `json:"url,omitempty"`
	// Description is the text a client put beside the file (an OOB desc,
	// a caption), if any.
	Description string `json:"desc,omitempty"`

	// Source is the URL the file was given at on the sender's side, kept
	// in the queue until the file is in the gateway's spool, so that a
	// fetch interrupted by a crash starts again. Adapters never write it.
	Source string `json:"src,omitempty"`
	// Cleaned says the gateway's copy has had its author metadata removed
	// (see package scrub); only files leaving for the outside are.
	Cleaned bool `json:"cleaned,omitempty"`

	// Open reads the bytes (see the type's comment); nil when the bytes
	// are only at URL.
	Open func() (io.ReadCloser, error) `json:"-"`
}

// RefKind says how a message refers to an earlier one.
type RefKind uint8

// Kinds of references.
const (
	// RefReply: the message answers the referenced one (XEP-0461; a
	// mail's In-Reply-To is the adapter's own business).
	RefReply RefKind = iota + 1
	// RefCorrect: the message replaces the referenced one's text
	// (XEP-0308).
	RefCorrect
	// RefRetract: the sender withdraws the referenced message
	// (XEP-0424); the message has no text of its own.
	RefRetract
	// RefReact: the message's Reactions are the sender's reactions to
	// the referenced one (XEP-0444), replacing any earlier ones.
	RefReact
	// RefReceived: the recipient's client has the referenced message
	// (XEP-0184 receipt, XEP-0333 received marker).
	RefReceived
	// RefDisplayed: the recipient has seen the referenced message
	// (XEP-0333 displayed marker).
	RefDisplayed
)

// String names the kind for logs and the queue.
func (k RefKind) String() string {
	switch k {
	case RefReply:
		return "reply"
	case RefCorrect:
		return "correct"
	case RefRetract:
		return "retract"
	case RefReact:
		return "react"
	case RefReceived:
		return "received"
	case RefDisplayed:
		return "displayed"
	}
	return "unknown"
}

// Signal reports whether a message that carries only this reference is a
// signal rather than a message a person wrote: it is relayed at most
// once, never stored, never answered and never starts a relationship.
func (k RefKind) Signal() bool { return k == RefReceived || k == RefDisplayed }

// Ref is a message's reference to an earlier message.
//
// On a Message, ID is the earlier message's ID as the sender's side knows
// it: the ID the sender gave its own message, or the ID the gateway gave a
// message it delivered to the sender. The gateway translates it through
// the ID map; a reference the map does not know, or that belongs to
// another conversation, is dropped, never passed on.
//
// On an Outgoing, ID is the earlier message's ID as the recipient's side
// knows it, Author is who wrote it as the recipient sees them (a persona,
// a proxy address or the recipient), and Quote is its text as the
// recipient saw it, for a reply's fallback quote (empty once retention has
// blanked it). Nothing of the sender's wire form crosses.
type Ref struct {
	Kind   RefKind `json:"kind"`
	ID     string  `json:"id"`
	Author string  `json:"author,omitempty"`
	Quote  string  `json:"quote,omitempty"`
}

// ChatState is a conversation's typing state (XEP-0085).
type ChatState string

// Chat states relayed across sides. Active, inactive and gone say
// nothing the other side needs and are not relayed.
const (
	ChatComposing ChatState = "composing"
	ChatPaused    ChatState = "paused"
)

// Uploader is an optional capability of an adapter whose network has an
// upload service (XMPP: XEP-0363 on its server): the gateway re-hosts a
// file there, on behalf of one of its own addresses on that network,
// before it sends the message that points at it.
type Uploader interface {
	// Upload stores size bytes of f's content (read from r) on the
	// network's upload service as from (a persona or a proxy address the
	// gateway owns) and returns the URL a recipient fetches it at. An
	// error that says retrying cannot help is a *SendError with GiveUp.
	Upload(ctx context.Context, from string, f Attachment, r io.Reader) (url string, err error)
	// UploadHosts are the host names of the network's upload service as
	// the adapter knows them: a file a sender on this network points at
	// is fetched only from these (and from hosts the operator adds).
	UploadHosts() []string
}

// Attacher is an optional capability of an adapter that carries files in
// the message itself (mail: MIME parts) up to a size: larger files go as
// a link to a copy re-hosted through another network's Uploader, or are
// refused when there is none.
type Attacher interface {
	// AttachLimit is the largest total of file bytes one message may
	// carry inline.
	AttachLimit() int64
}

// PartID is the ID of the n-th extra stanza an adapter writes for one
// Outgoing whose network shows one file per message (XMPP: the text, then
// each file on its own), n counting from 1. The ID map knows the message
// by its ID; a reference to a part ID finds it through BaseID.
func PartID(id string, n int) string { return id + "-" + strconv.Itoa(n) }

// BaseID is the Outgoing ID a PartID was made from, and id itself when it
// is not a part ID.
func BaseID(id string) string {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 || i == len(id)-1 {
		return id
	}
	for _, c := range id[i+1:] {
		if c < '0' || c > '9' {
			return id
		}
	}
	return id[:i]
}

// nothing reports whether out has nothing left to write: no text, no
// files, no reference, no chat state.
func (out *Outgoing) nothing() bool {
	return out.Body == "" && out.Subject == "" && len(out.Files) == 0 && len(out.Refs) == 0 && out.ChatState == ""
}
