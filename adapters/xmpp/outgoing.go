package xmpp

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/oob"
	"mellium.im/xmpp/receipts"
	"mellium.im/xmpp/stanza"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
)

// retractedText is the body a retraction carries for clients that do
// not know XEP-0424, marked as a fallback.
const retractedText = "This message was retracted."

// chatState reports whether s is a state XEP-0085 defines; any other is
// not written.
func chatState(s gateway.ChatState) bool {
	switch s {
	case gateway.ChatComposing, gateway.ChatPaused, "active", "inactive", "gone":
		return true
	}
	return false
}

// encodeOutgoing renders out as the message stanzas that carry it, in
// the order they are sent. Only what the gateway decided goes on the
// wire: addresses, the gateway's own IDs, the text, a nick, the files'
// URLs and metadata, and references by the recipient's own IDs.
//
// XMPP clients show one file per message: the text goes first with out's
// ID, then each file on its own (its URL as the body, with OOB and
// XEP-0447 metadata), with out's ID when there is no text and it is the
// first, else a part ID (gateway.PartID). The references, reactions and
// chat state go on the first stanza; a retraction or reactions carry no
// text or files of their own.
func encodeOutgoing(out *gateway.Outgoing, side identity.Side) ([]xml.TokenReader, error) {
	from, err := checked(out.From)
	if err != nil {
		return nil, err
	}
	to, err := checked(out.To)
	if err != nil {
		return nil, err
	}
	if out.Kind == gateway.KindRefusal && out.Refusal != nil {
		refusal := stanzaError(condition(out.Refusal.Reason), out.Refusal.Text)
		return []xml.TokenReader{stanza.Message{Type: stanza.ErrorMessage, From: from, To: to, ID: out.ReplyTo}.Wrap(refusal.TokenReader())}, nil
	}

	var reply *gateway.Ref
	var correct, retracting, reacting string
	var signals []any
	for i, r := range out.Refs {
		if r.ID == "" {
			continue // nothing to point at
		}
		switch r.Kind {
		case gateway.RefReply:
			if reply == nil {
				reply = &out.Refs[i]
			}
		case gateway.RefCorrect:
			correct = r.ID
		case gateway.RefRetract:
			retracting = r.ID
		case gateway.RefReact:
			reacting = r.ID
		case gateway.RefReceived:
			signals = append(signals, receipt{ID: r.ID})
		case gateway.RefDisplayed:
			signals = append(signals, marker{XMLName: xml.Name{Space: nsMarkers, Local: "displayed"}, ID: r.ID})
		}
	}
	body, files := out.Body, out.Files
	if retracting != "" || reacting != "" {
		// Neither has content of its own (XEP-0424, XEP-0444).
		body, files = "", nil
	}
	for _, f := range files {
		if f.URL == "" {
			return nil, fmt.Errorf("file %q has no URL: the gateway re-hosts a file before an XMPP message can point at it", f.Name)
		}
	}
	type part struct {
		body string
		file *gateway.Attachment
	}
	var parts []part
	if body != "" {
		parts = append(parts, part{body: body})
	}
	for i := range files {
		parts = append(parts, part{body: files[i].URL, file: &files[i]})
	}
	if len(parts) == 0 {
		parts = []part{{}} // references, reactions or a chat state alone
	}

	stanzas := make([]xml.TokenReader, 0, len(parts))
	for n, p := range parts {
		first := n == 0
		var w payload
		text := p.body
		var quote *fallback
		if first && reply != nil && p.file == nil && text != "" {
			if prefix := quoted(reply.Quote); prefix != "" {
				text = prefix + text
				quote = &fallback{For: nsReply, Body: []fallbackRange{{Start: "0", End: strconv.Itoa(utf8.RuneCountInString(prefix))}}}
			}
		}
		if first && retracting != "" {
			text = retractedText
		}
		if first && out.Subject != "" && p.body != "" {
			w.add(element("subject", out.Subject))
		}
		if text != "" {
			w.add(element("body", text))
		}
		if out.Thread != "" && side == identity.Inside {
			// Threads inside are the outside adapter's opaque tokens; an
			// inside client's thread ID must never reach the outside.
			w.add(element("thread", out.Thread))
		}
		if first && p.body != "" {
			w.add(nick(out.Nick))
		}
		if f := p.file; f != nil {
			w.add(oob.Data{URL: f.URL, Desc: f.Description}.TokenReader())
			w.marshal(sharedFile(f))
		}
		if first {
			if reply != nil {
				w.marshal(replyTo{To: reply.Author, ID: reply.ID})
				if quote != nil {
					w.marshal(quote)
				}
			}
			if correct != "" {
				w.marshal(replace{ID: correct})
			}
			if retracting != "" {
				w.marshal(retract{ID: retracting})
				w.marshal(applyTo{ID: retracting, Retract: &retract0{}})
				w.marshal(fallback{For: nsRetract})
			}
			if reacting != "" {
				w.marshal(reactions{ID: reacting, Reactions: out.Reactions})
			}
			for _, s := range signals {
				w.marshal(s)
			}
			if chatState(out.ChatState) {
				w.empty(xml.Name{Space: nsChatStates, Local: string(out.ChatState)})
			}
		}
		if out.Kind == gateway.KindRelayed && p.body != "" {
			// The recipient's client acknowledges it, by this stanza's ID,
			// and the gateway relays that to the author.
			w.add(receipts.Requested(true).TokenReader())
			w.empty(xml.Name{Space: nsMarkers, Local: "markable"})
		}
		if first && (retracting != "" || reacting != "" || text == "" && (reply != nil || correct != "")) {
			// Servers archive only messages with a body unless asked.
			w.empty(xml.Name{Space: nsHints, Local: "store"})
		}
		if w.err != nil {
			return nil, w.err
		}
		id := out.ID
		if !first && id != "" {
			id = gateway.PartID(out.ID, n)
		}
		stanzas = append(stanzas, stanza.Message{Type: stanza.ChatMessage, From: from, To: to, ID: id}.Wrap(xmlstream.MultiReader(w.r...)))
	}
	return stanzas, nil
}

// payload collects a stanza's children.
type payload struct {
	r   []xml.TokenReader
	err error
}

func (p *payload) add(r xml.TokenReader) {
	if r != nil {
		p.r = append(p.r, r)
	}
}

// marshal adds v, an XML struct of wire.go.
// empty adds an element with nothing in it (a chat state, a hint, the
// markable marker) as its two tokens: marshalled would encode and parse
// it again for every message.
func (p *payload) empty(name xml.Name) {
	p.add(xmlstream.Wrap(nil, xml.StartElement{Name: name}))
}

func (p *payload) marshal(v any) {
	r, err := marshalled(v)
	p.err = errors.Join(p.err, err)
	p.add(r)
}

// quoted is q as a reply's fallback quote: each line after "> ", and a
// line break after the last; "" for a blank q.
func quoted(q string) string {
	q = strings.TrimRight(q, " \t\r\n")
	if strings.TrimSpace(q) == "" {
		return ""
	}
	var b strings.Builder
	for line := range strings.Lines(q) {
		b.WriteString("> ")
		b.WriteString(strings.TrimRight(line, "\r\n"))
		b.WriteByte('\n')
	}
	return b.String()
}

// sharedFile is f as XEP-0447 shares it: what the gateway knows of it, and
// its URL.
func sharedFile(f *gateway.Attachment) fileSharing {
	s := fileSharing{
		File:    fileMeta{MediaType: f.MediaType, Name: f.Name, Desc: f.Description},
		Sources: sources{URLData: []urlData{{Target: f.URL}}},
	}
	if f.Size > 0 {
		s.File.Size = strconv.FormatInt(f.Size, 10)
	}
	if b, err := hex.DecodeString(f.SHA256); err == nil && len(b) == 32 {
		s.File.Hashes = []hashElem{{Algo: "sha-256", Value: base64.StdEncoding.EncodeToString(b)}}
	}
	return s
}

// checked is an address the gateway chose, spelled as it chose it, once
// jid.Parse accepts it (validJID).
func checked(addr string) (jid.JID, error) {
	if err := validJID(addr); err != nil {
		return jid.JID{}, fmt.Errorf("address %q: %w", addr, err)
	}
	return verbatim(addr), nil
}

// marshalled is v, an XML struct of wire.go, as tokens that a session
// or xmlstream can copy. encoding/xml writes the namespaces; the xmlns
// attributes reading them back adds are dropped, since an encoder writes
// them again from the names.
func marshalled(v any) (xml.TokenReader, error) {
	b, err := xml.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("xmpp: encode %T: %w", v, err)
	}
	return &tokens{d: xml.NewDecoder(bytes.NewReader(b))}, nil
}

// tokens reads a document encoding/xml wrote, as tokens of their own.
type tokens struct{ d *xml.Decoder }

func (t *tokens) Token() (xml.Token, error) {
	tok, err := t.d.Token()
	if err != nil {
		return nil, err
	}
	tok = xml.CopyToken(tok)
	if start, ok := tok.(xml.StartElement); ok {
		attrs := start.Attr[:0]
		for _, a := range start.Attr {
			if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
				continue
			}
			attrs = append(attrs, a)
		}
		start.Attr = attrs
		tok = start
	}
	return tok, nil
}

var _ xml.TokenReader = (*tokens)(nil)
