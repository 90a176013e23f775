package xmpp

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"mellium.im/xmpp/oob"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
)

// Limits on what one message's reactions may be: XEP-0444 allows any
// text, and the other side shows each reaction as it is.
const (
	maxReactions     = 20
	maxReactionBytes = 32
)

// inParts are the extensions of an inbound message the gateway relays
// (wire.go). Anything else in a stanza is never read.
type inParts struct {
	OOB          []oob.Data    `xml:"jabber:x:oob x"`
	SFS          []fileSharing `xml:"urn:xmpp:sfs:0 file-sharing"`
	SIMS         []reference   `xml:"urn:xmpp:reference:0 reference"`
	Reply        []replyTo     `xml:"urn:xmpp:reply:0 reply"`
	Fallbacks    []fallback    `xml:"urn:xmpp:fallback:0 fallback"`
	Replace      []replace     `xml:"urn:xmpp:message-correct:0 replace"`
	Retract      []retract     `xml:"urn:xmpp:message-retract:1 retract"`
	ApplyTo      []applyTo     `xml:"urn:xmpp:fasten:0 apply-to"`
	Reactions    []reactions   `xml:"urn:xmpp:reactions:0 reactions"`
	Receipts     []receipt     `xml:"urn:xmpp:receipts received"`
	Received     []marker      `xml:"urn:xmpp:chat-markers:0 received"`
	Displayed    []marker      `xml:"urn:xmpp:chat-markers:0 displayed"`
	Acknowledged []marker      `xml:"urn:xmpp:chat-markers:0 acknowledged"`
	Composing    []empty       `xml:"http://jabber.org/protocol/chatstates composing"`
	Paused       []empty       `xml:"http://jabber.org/protocol/chatstates paused"`
}

// cutFor reports whether the fallback text for the extension ns is cut
// from a body: the gateway rebuilds a reply's quote for the recipient,
// and a retraction or a reaction has no text of its own.
func cutFor(ns string) bool {
	switch ns {
	case nsReply, nsRetract, nsRetract0, nsReactions:
		return true
	}
	return false
}

// readParts fills msg's body, files, references, reactions and chat state
// from m, as side's clients write them. uploadHosts are the hosts of the
// network's upload service: inside, a body that is only a URL there is a
// file.
func readParts(msg *gateway.Message, m *inMessage, side identity.Side, uploadHosts []string) {
	var body string
	if len(m.Body) > 0 {
		body = cutFallbacks(m.Body[0], m.Fallbacks)
	}

	// References, in the order the gateway translates them.
	var refs refList
	for _, r := range m.Reply {
		refs.add(gateway.RefReply, r.ID) // the gateway knows the author itself
	}
	for _, r := range m.Replace {
		refs.add(gateway.RefCorrect, r.ID)
	}
	for _, r := range m.Retract {
		refs.add(gateway.RefRetract, r.ID)
	}
	for _, a := range m.ApplyTo {
		if a.Retract != nil {
			refs.add(gateway.RefRetract, a.ID)
		}
	}
	if refs.has(gateway.RefRetract) {
		// A retraction has no text of its own (XEP-0424): whatever its
		// body says is for clients that do not know it.
		body = ""
	}
	if len(m.Reactions) > 0 && refs.add(gateway.RefReact, m.Reactions[0].ID) {
		msg.Reactions = reactionList(m.Reactions[0].Reactions)
	}
	for _, r := range m.Receipts {
		refs.add(gateway.RefReceived, r.ID)
	}
	for _, r := range m.Received {
		refs.add(gateway.RefReceived, r.ID)
	}
	for _, r := range slices.Concat(m.Displayed, m.Acknowledged) {
		refs.add(gateway.RefDisplayed, r.ID)
	}
	msg.Refs = refs

	switch {
	case len(m.Composing) > 0:
		msg.ChatState = gateway.ChatComposing
	case len(m.Paused) > 0:
		msg.ChatState = gateway.ChatPaused
	}

	files := fileList(m)
	text := strings.TrimSpace(body)
	if side == identity.Inside && files.index(text) < 0 && uploadURL(text, uploadHosts) {
		// Some clients share an upload with the URL as the body alone.
		files = append(files, gateway.Attachment{URL: text})
	}
	if text == "" || files.index(text) >= 0 {
		// The body of a shared file is its URL, for clients that do not
		// know OOB; the file itself is relayed.
		body = ""
	}
	msg.Body = body
	msg.Files = files
}

// cutFallbacks is body without the text fallbacks mark for the
// extensions cutFor names. Offsets count code points (XEP-0426); when
// one is malformed or out of range the body is left as it is, since
// where the fallback ends cannot be known.
func cutFallbacks(body string, fbs []fallback) string {
	type span struct{ start, end int }
	var spans []span
	n := utf8.RuneCountInString(body)
	for _, fb := range fbs {
		if !cutFor(fb.For) {
			continue
		}
		if len(fb.Body) == 0 {
			return "" // the whole body is the fallback
		}
		for _, r := range fb.Body {
			start, err1 := strconv.Atoi(r.Start)
			end, err2 := strconv.Atoi(r.End)
			if err1 != nil || err2 != nil || start < 0 || end < start || end > n {
				return body
			}
			spans = append(spans, span{start, end})
		}
	}
	if len(spans) == 0 {
		return body
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	runes := []rune(body)
	var kept []rune
	at := 0
	for _, s := range spans {
		if s.start > at {
			kept = append(kept, runes[at:s.start]...)
		}
		at = max(at, s.end)
	}
	return string(append(kept, runes[at:]...))
}

// refList collects a message's references, each once.
type refList []gateway.Ref

// add adds a reference of kind to id, unless id is empty or it is there
// already; it reports whether the list has it now.
func (l *refList) add(kind gateway.RefKind, id string) bool {
	if id == "" {
		return false
	}
	for _, r := range *l {
		if r.Kind == kind && r.ID == id {
			return true
		}
	}
	*l = append(*l, gateway.Ref{Kind: kind, ID: id})
	return true
}

func (l refList) has(kind gateway.RefKind) bool {
	return slices.ContainsFunc(l, func(r gateway.Ref) bool { return r.Kind == kind })
}

// reactionList is what a reactions element holds, trimmed, each once,
// without an empty or an overlong one, and at most maxReactions.
func reactionList(in []string) []string {
	out := []string{} // not nil: no reactions withdraws the earlier ones
	for _, r := range in {
		r = strings.TrimSpace(r)
		if r == "" || len(r) > maxReactionBytes || slices.Contains(out, r) {
			continue
		}
		if len(out) == maxReactions {
			break
		}
		out = append(out, r)
	}
	return out
}

// files collects a message's files, one per URL.
type files []gateway.Attachment

// index is the position of the file at url, or -1.
func (fs files) index(url string) int {
	if url == "" {
		return -1
	}
	return slices.IndexFunc(fs, func(f gateway.Attachment) bool { return f.URL == url })
}

// merge adds f, or fills in what the file at its URL lacks: OOB, SFS and
// SIMS often describe the same file.
func (fs *files) merge(f gateway.Attachment) {
	i := fs.index(f.URL)
	if i < 0 {
		*fs = append(*fs, f)
		return
	}
	g := &(*fs)[i]
	for _, p := range []struct {
		dst *string
		src string
	}{
		{&g.Name, f.Name}, {&g.MediaType, f.MediaType}, {&g.SHA256, f.SHA256}, {&g.Description, f.Description},
	} {
		if *p.dst == "" {
			*p.dst = p.src
		}
	}
	if g.Size == 0 {
		g.Size = f.Size
	}
}

// fileList is the files m shares through OOB, SFS and SIMS: only those at
// an http or https URL.
func fileList(m *inMessage) files {
	var fs files
	for _, d := range m.OOB {
		if u := webURL(d.URL); u != "" {
			fs.merge(gateway.Attachment{URL: u, Description: strings.TrimSpace(d.Desc)})
		}
	}
	for _, s := range m.SFS {
		for _, src := range s.Sources.URLData {
			if u := webURL(src.Target); u != "" {
				meta := s.File
				fs.merge(attachment(u, meta.Name, meta.MediaType, meta.Size, meta.Desc, meta.Hashes))
				break
			}
		}
	}
	for _, r := range m.SIMS {
		if r.Type != "data" || r.Media == nil {
			continue
		}
		for _, src := range r.Media.Sources.Refs {
			if u := webURL(src.URI); u != "" {
				f := r.Media.File
				fs.merge(attachment(u, f.Name, f.MediaType, f.Size, f.Desc, f.Hashes))
				break
			}
		}
	}
	return fs
}

// attachment is a file described by SFS or SIMS, its values checked.
func attachment(u, name, mediaType, size, desc string, hashes []hashElem) gateway.Attachment {
	a := gateway.Attachment{URL: u, Description: strings.TrimSpace(desc)}
	// A name is a file's name, never a path.
	name = strings.TrimSpace(name)
	a.Name = name[strings.LastIndexAny(name, `/\`)+1:]
	mt, _, _ := strings.Cut(mediaType, ";")
	a.MediaType = strings.ToLower(strings.TrimSpace(mt))
	if n, err := strconv.ParseInt(strings.TrimSpace(size), 10, 64); err == nil && n > 0 {
		a.Size = n
	}
	for _, h := range hashes {
		if h.Algo != "sha-256" {
			continue
		}
		if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h.Value)); err == nil && len(b) == 32 {
			a.SHA256 = hex.EncodeToString(b)
			break
		}
	}
	return a
}

// webURL is s trimmed when it is an absolute http or https URL, else "".
func webURL(s string) string {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return ""
	}
	if scheme := strings.ToLower(u.Scheme); scheme != "http" && scheme != "https" {
		return ""
	}
	return s
}

// uploadURL reports whether s is one web URL on one of hosts (any port,
// any case).
func uploadURL(s string, hosts []string) bool {
	if s == "" || strings.ContainsFunc(s, unicode.IsSpace) || webURL(s) == "" {
		return false
	}
	u, _ := url.Parse(s)
	return slices.ContainsFunc(hosts, func(h string) bool { return strings.EqualFold(h, u.Hostname()) })
}
