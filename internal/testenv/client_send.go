package testenv

import (
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The helpers below send what an ordinary client sends for each feature,
// shaped after Conversations (which Dino and Gajim match in all that
// matters here), and return the id of the stanza sent. They write raw XML,
// so they depend on nothing in go-xmpp beyond the stream.
//
// A "chat message" here is what Conversations sends in a one-to-one chat:
//
//	<message to='...' type='chat' id='ID'>
//	  <body>...</body> (extensions)
//	  <request xmlns='urn:xmpp:receipts'/>
//	  <markable xmlns='urn:xmpp:chat-markers:0'/>
//	  <origin-id xmlns='urn:xmpp:sid:0' id='ID'/>
//	</message>
//
// so the receiver may answer with receipts and markers.

// NewID returns a fresh random stanza id shaped like the UUIDs
// Conversations uses.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("testenv: random id: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// esc escapes s for XML text or a quoted attribute value.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// sendMessage sends <message to=to type=typ id=NEW>inner</message> and
// returns the id.
func (c *Client) sendMessage(to, typ, inner string) (string, error) {
	id := NewID()
	raw := fmt.Sprintf(`<message to="%s" type="%s" id="%s">%s</message>`, esc(to), esc(typ), id, inner)
	if err := c.SendRaw(raw); err != nil {
		return "", err
	}
	return id, nil
}

// sendChat sends a chat message (see above) with body and extensions
// before the receipt request, and returns its id.
func (c *Client) sendChat(to, body, extensions string) (string, error) {
	id := NewID()
	var b strings.Builder
	fmt.Fprintf(&b, `<message to="%s" type="chat" id="%s">`, esc(to), id)
	if body != "" {
		fmt.Fprintf(&b, `<body>%s</body>`, esc(body))
	}
	b.WriteString(extensions)
	fmt.Fprintf(&b, `<request xmlns="%s"/><markable xmlns="%s"/><origin-id xmlns="%s" id="%s"/></message>`,
		nsReceipts, nsMarkers, nsSID, id)
	if err := c.SendRaw(b.String()); err != nil {
		return "", err
	}
	return id, nil
}

// SendChat sends a chat message with body as Conversations does (with a
// receipt request, markable and origin-id) and returns its id. Send sends
// go-xmpp's plainer message instead.
func (c *Client) SendChat(to, body string) (string, error) {
	return c.sendChat(to, body, "")
}

// SendFile shares a file as Conversations does: a chat message whose body
// is the file's URL and that carries the same URL in a XEP-0066
// <x xmlns='jabber:x:oob'><url>...</url></x>. An empty body means url;
// another body is sent as it is (clients that add a caption or differ
// from Conversations). It returns the message's id.
func (c *Client) SendFile(to, url, body string) (string, error) {
	if body == "" {
		body = url
	}
	return c.sendChat(to, body, fmt.Sprintf(`<x xmlns="%s"><url>%s</url></x>`, nsOOB, esc(url)))
}

// Quote returns text quoted the way Conversations and Dino quote a message
// they answer: every line prefixed with "> ", and a newline after.
func Quote(text string) string {
	return "> " + strings.ReplaceAll(text, "\n", "\n> ") + "\n"
}

// SendReply answers the message with id id, written by author (a JID; ""
// leaves the to attribute out), with text: a XEP-0461 <reply/> and, when
// quoted is not empty, Quote(quoted) before text in the body, marked as
// the reply's XEP-0428 fallback, as Conversations and Dino do. It returns
// the reply's id.
func (c *Client) SendReply(to, id, author, quoted, text string) (string, error) {
	var ext strings.Builder
	ext.WriteString(`<reply xmlns="` + nsReply + `"`)
	if author != "" {
		fmt.Fprintf(&ext, ` to="%s"`, esc(author))
	}
	fmt.Fprintf(&ext, ` id="%s"/>`, esc(id))
	body := text
	if quoted != "" {
		q := Quote(quoted)
		body = q + text
		fmt.Fprintf(&ext, `<fallback xmlns="%s" for="%s"><body start="0" end="%d"/></fallback>`,
			nsFallback, nsReply, utf8.RuneCountInString(q))
	}
	return c.sendChat(to, body, ext.String())
}

// SendCorrection sends body as the XEP-0308 correction of the message with
// id id (the first message's id, also when correcting a correction) and
// returns the correction's id.
func (c *Client) SendCorrection(to, id, body string) (string, error) {
	return c.sendChat(to, body, fmt.Sprintf(`<replace xmlns="%s" id="%s"/>`, nsCorrect, esc(id)))
}

// RetractFallback is the body a retraction carries for clients without
// XEP-0424, the XEP's own example text.
const RetractFallback = "This person attempted to retract a previous message, but it's unsupported by your client."

// SendRetraction withdraws the message with id id (XEP-0424 version 1,
// with the XEP-0428 fallback body and a store hint) and returns the
// retraction's id.
func (c *Client) SendRetraction(to, id string) (string, error) {
	return c.sendMessage(to, "chat", fmt.Sprintf(
		`<retract xmlns="%s" id="%s"/><fallback xmlns="%s" for="%s"/><body>%s</body><store xmlns="%s"/>`,
		nsRetract, esc(id), nsFallback, nsRetract, esc(RetractFallback), nsHints))
}

// SendReaction sets the sender's XEP-0444 reactions to the message with id
// id to reactions (none withdraws them all), with a store hint as
// Conversations sends, and returns the stanza's id.
func (c *Client) SendReaction(to, id string, reactions ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, `<reactions xmlns="%s" id="%s">`, nsReactions, esc(id))
	for _, r := range reactions {
		fmt.Fprintf(&b, `<reaction>%s</reaction>`, esc(r))
	}
	fmt.Fprintf(&b, `</reactions><store xmlns="%s"/>`, nsHints)
	return c.sendMessage(to, "chat", b.String())
}

// SendDisplayed sends the XEP-0333 displayed marker for the message with
// id id, as Conversations does (type chat, store hint), and returns the
// marker's id.
func (c *Client) SendDisplayed(to, id string) (string, error) {
	return c.sendMessage(to, "chat", fmt.Sprintf(`<displayed xmlns="%s" id="%s"/><store xmlns="%s"/>`,
		nsMarkers, esc(id), nsHints))
}

// SendReceived sends the XEP-0184 receipt for the message with id id, as
// Conversations does (type chat, store hint), and returns the receipt's
// id.
func (c *Client) SendReceived(to, id string) (string, error) {
	return c.sendMessage(to, "chat", fmt.Sprintf(`<received xmlns="%s" id="%s"/><store xmlns="%s"/>`,
		nsReceipts, esc(id), nsHints))
}

// SendChatState sends a standalone XEP-0085 chat state ("active",
// "composing", "paused", "inactive" or "gone") with a no-store hint, as
// Conversations does, and returns the stanza's id. It refers to no earlier
// message.
func (c *Client) SendChatState(to, state string) (string, error) {
	switch state {
	case "active", "composing", "paused", "inactive", "gone":
	default:
		return "", fmt.Errorf("send chat state: %q is not a XEP-0085 chat state", state)
	}
	return c.sendMessage(to, "chat", fmt.Sprintf(`<%s xmlns="%s"/><no-store xmlns="%s"/>`,
		state, nsChatStates, nsHints))
}
