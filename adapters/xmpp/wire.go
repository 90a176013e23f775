package xmpp

// The message extensions the adapter reads and writes beside the body:
// files, references to earlier messages, reactions, receipts, markers
// and chat states. Where mellium has a type (oob.Data, receipts.Requested)
// it is used; the rest are XML structs here, read with encoding/xml and
// written through marshalled (outgoing.go). Every struct reads leniently (text, never a
// number or a JID, so that a bad value loses one field, not the stanza)
// and each is matched by its namespace, so that look-alikes from other
// extensions are ignored.

import "encoding/xml"

// Namespaces the adapter writes by name; the XML structs below name the
// rest in their tags. XEPs: 0066 OOB (jabber:x:oob), 0447 stateless file
// sharing (urn:xmpp:sfs:0) with 0446 metadata, 0300 hashes and 0103 URLs,
// 0385 SIMS in 0372 references, 0461 replies, 0428 fallbacks, 0308
// corrections, 0424 retractions (v0 through 0422 fastening), 0444
// reactions, 0184 receipts, 0333 markers, 0085 chat states, 0334 hints.
const (
	nsReply      = "urn:xmpp:reply:0"
	nsRetract    = "urn:xmpp:message-retract:1"
	nsRetract0   = "urn:xmpp:message-retract:0"
	nsReactions  = "urn:xmpp:reactions:0"
	nsMarkers    = "urn:xmpp:chat-markers:0"
	nsChatStates = "http://jabber.org/protocol/chatstates"
	nsHints      = "urn:xmpp:hints"
)

// fileSharing is XEP-0447's <file-sharing/>: one file's metadata and
// where to fetch it.
type fileSharing struct {
	XMLName xml.Name `xml:"urn:xmpp:sfs:0 file-sharing"`
	File    fileMeta `xml:"urn:xmpp:file:metadata:0 file"`
	Sources sources  `xml:"sources"`
}

// fileMeta is XEP-0446's file metadata (mellium's file.Meta writes every
// field, zeros included, and refuses a stanza over an unknown hash).
type fileMeta struct {
	XMLName   xml.Name   `xml:"urn:xmpp:file:metadata:0 file"`
	MediaType string     `xml:"media-type,omitempty"`
	Name      string     `xml:"name,omitempty"`
	Size      string     `xml:"size,omitempty"`
	Hashes    []hashElem `xml:"urn:xmpp:hashes:2 hash"`
	Desc      string     `xml:"desc,omitempty"`
}

// sources are the places a shared file is at.
type sources struct {
	URLData []urlData `xml:"http://jabber.org/protocol/url-data url-data"`
}

// urlData is XEP-0103's URL of a file.
type urlData struct {
	XMLName xml.Name `xml:"http://jabber.org/protocol/url-data url-data"`
	Target  string   `xml:"target,attr"`
}

// hashElem is XEP-0300's hash of a file: its algorithm and the base64
// digest.
type hashElem struct {
	XMLName xml.Name `xml:"urn:xmpp:hashes:2 hash"`
	Algo    string   `xml:"algo,attr"`
	Value   string   `xml:",chardata"`
}

// reference is XEP-0372's reference, as XEP-0385 (SIMS) shares a file in
// it. It is only read.
type reference struct {
	Type  string        `xml:"type,attr"`
	Media *mediaSharing `xml:"urn:xmpp:sims:1 media-sharing"`
}

// mediaSharing is SIMS's file and its sources.
type mediaSharing struct {
	File    jingleFile `xml:"urn:xmpp:jingle:apps:file-transfer:5 file"`
	Sources struct {
		// Clients write the inner reference in the reference namespace or
		// leave it in SIMS's: either is taken.
		Refs []struct {
			Type string `xml:"type,attr"`
			URI  string `xml:"uri,attr"`
		} `xml:"reference"`
	} `xml:"sources"`
}

// jingleFile is XEP-0234's file description, as SIMS carries it.
type jingleFile struct {
	MediaType string     `xml:"media-type"`
	Name      string     `xml:"name"`
	Size      string     `xml:"size"`
	Hashes    []hashElem `xml:"urn:xmpp:hashes:2 hash"`
	Desc      string     `xml:"desc"`
}

// replyTo is XEP-0461's reply: the message answered, and its author.
type replyTo struct {
	XMLName xml.Name `xml:"urn:xmpp:reply:0 reply"`
	To      string   `xml:"to,attr,omitempty"`
	ID      string   `xml:"id,attr"`
}

// fallback is XEP-0428's mark of the text that is there only for clients
// that do not know the extension named by For: the ranges of the body
// given, or the whole body when none is.
type fallback struct {
	XMLName xml.Name        `xml:"urn:xmpp:fallback:0 fallback"`
	For     string          `xml:"for,attr,omitempty"`
	Body    []fallbackRange `xml:"body"`
}

// fallbackRange is a range of the body in Unicode code points (XEP-0426),
// kept as text when read so that a malformed offset is seen as one.
type fallbackRange struct {
	Start string `xml:"start,attr,omitempty"`
	End   string `xml:"end,attr,omitempty"`
}

// replace is XEP-0308's correction of an earlier message.
type replace struct {
	XMLName xml.Name `xml:"urn:xmpp:message-correct:0 replace"`
	ID      string   `xml:"id,attr"`
}

// retract is XEP-0424's retraction of an earlier message.
type retract struct {
	XMLName xml.Name `xml:"urn:xmpp:message-retract:1 retract"`
	ID      string   `xml:"id,attr"`
}

// applyTo is the retraction of XEP-0424 before version 0.4, through
// XEP-0422's fastening.
type applyTo struct {
	XMLName xml.Name  `xml:"urn:xmpp:fasten:0 apply-to"`
	ID      string    `xml:"id,attr"`
	Retract *retract0 `xml:"urn:xmpp:message-retract:0 retract"`
}

// retract0 is the retraction inside applyTo.
type retract0 struct {
	XMLName xml.Name `xml:"urn:xmpp:message-retract:0 retract"`
}

// reactions is XEP-0444's full set of the sender's reactions to a
// message.
type reactions struct {
	XMLName   xml.Name `xml:"urn:xmpp:reactions:0 reactions"`
	ID        string   `xml:"id,attr"`
	Reactions []string `xml:"reaction"`
}

// receipt is XEP-0184's receipt for a message.
type receipt struct {
	XMLName xml.Name `xml:"urn:xmpp:receipts received"`
	ID      string   `xml:"id,attr"`
}

// marker is one of XEP-0333's markers (received, displayed,
// acknowledged) for a message, or the markable mark when ID is empty.
type marker struct {
	XMLName xml.Name
	ID      string `xml:"id,attr,omitempty"`
}

// empty is an element with nothing in it, named by XMLName: a chat state,
// a hint.
type empty struct {
	XMLName xml.Name
}
