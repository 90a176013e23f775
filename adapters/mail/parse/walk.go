package parse

import (
	"html"
	"strings"

	"github.com/kakehashi/kakehashi/internal/textclip"
)

// role says what a part can be, given where it sits in the MIME tree.
type role int

const (
	// roleBody: an inline text part here is (part of) what the sender wrote.
	roleBody role = iota
	// roleHidden: inside an alternative that was not chosen; its text parts
	// are other renderings of the body, its other parts still attachments.
	roleHidden
	// roleAttach: every leaf is an attachment (non-root parts of
	// multipart/related, multipart/encrypted payloads).
	roleAttach
	// roleReport: the machine-readable parts of a multipart/report.
	roleReport
)

// walker collects what Parse needs in one pass over the MIME tree.
type walker struct {
	hdr   headerDecoder
	plain []string
	// html are the HTML body parts, rendered by bodyText once every part
	// is known: an image may come after the HTML that shows it.
	html        []*part
	attachments []Attachment
	// cids are the Content-IDs that HTML bodies (shown or not) refer to
	// by "cid:" URLs.
	cids       map[string]bool
	dsn        [][]byte
	orig       []byte // header section of the returned message (in a report)
	haveOrig   bool
	origAny    []byte // same, from a forwarded message anywhere, for bounces without a report
	reportType string
}

// walk classifies p and its parts. It cannot fail: everything that can
// go wrong went wrong while reading the tree.
func (w *walker) walk(p *part, depth int, r role) {
	mt := p.mediaType
	if strings.HasPrefix(mt, "multipart/") {
		w.walkMultipart(p, depth, r)
		return
	}
	switch mt {
	case "message/delivery-status", "message/global-delivery-status":
		w.dsn = append(w.dsn, p.data)
		return
	case "message/rfc822", "message/global":
		hb, _ := splitHeader(p.data)
		if r == roleReport && !w.haveOrig {
			w.orig, w.haveOrig = hb, true
			return
		}
		if w.origAny == nil {
			w.origAny = hb
		}
		w.attach(p.entity, p.data)
		return
	case "text/rfc822-headers", "message/rfc822-headers", "message/global-headers":
		if r == roleReport && !w.haveOrig {
			w.orig, w.haveOrig = p.data, true
			return
		}
	}
	if mayBeBody(p.entity, depth) {
		switch r {
		case roleBody:
			if mt == "text/html" {
				w.noteCIDs(p.text)
				w.html = append(w.html, p)
			} else {
				w.plain = append(w.plain, render(p, nil))
			}
			return
		case roleHidden:
			if mt == "text/html" {
				// Not shown, but its images are still the body's, not
				// files the sender attached.
				w.noteCIDs(p.text)
			}
			return
		}
	}
	w.attach(p.entity, p.data)
}

// mayBeBody reports whether e, at depth, is a text part that is (part
// of) the body where its role allows it.
func mayBeBody(e *entity, depth int) bool {
	return (e.mediaType == "text/plain" || e.mediaType == "text/html") && e.disp != "attachment" && (depth == 0 || e.filename() == "")
}

func (w *walker) walkMultipart(p *part, depth int, r role) {
	children := make([]*entity, len(p.children))
	for i, c := range p.children {
		children[i] = c.entity
	}
	switch strings.TrimPrefix(p.mediaType, "multipart/") {
	case "alternative":
		best := bestAlternative(children)
		for i, c := range p.children {
			cr := r
			if i != best && r == roleBody {
				cr = roleHidden
			}
			w.walk(c, depth+1, cr)
		}
	case "related":
		root := relatedRoot(p.params["start"], children)
		for i, c := range p.children {
			cr := r
			if i != root {
				cr = roleAttach
			}
			w.walk(c, depth+1, cr)
		}
	case "signed":
		// The first part is what was signed. The second (smime.p7s,
		// signature.asc) only proves it, but is kept as a file all the
		// same, as are winmail.dat and any other part a sender's client
		// adds: the gateway does not judge what a sender sent, nothing
		// is dropped on the way, and whoever can check a signature still
		// has it (with the original mail, filed as processed).
		for i, c := range p.children {
			cr := r
			if i > 0 {
				cr = roleAttach
			}
			w.walk(c, depth+1, cr)
		}
	case "encrypted":
		for _, c := range p.children {
			w.walk(c, depth+1, roleAttach)
		}
	case "report":
		if w.reportType == "" {
			w.reportType = strings.ToLower(strings.TrimSpace(p.params["report-type"]))
		}
		for i, c := range p.children {
			cr := r
			if i > 0 && r == roleBody {
				cr = roleReport
			}
			w.walk(c, depth+1, cr)
		}
	default: // mixed, digest, parallel and unknown subtypes (RFC 2046 §5.1.7)
		for _, c := range p.children {
			w.walk(c, depth+1, r)
		}
	}
}

// bestAlternative picks the rendering to read: plain text over HTML (it is
// what the sender's client produced for text readers, without layout
// noise), and a nested multipart, which usually wraps HTML with images,
// over anything else.
func bestAlternative(children []*entity) int {
	best, bestScore := 0, -1
	for i, c := range children {
		score := 0
		switch {
		case c.mediaType == "text/plain" && c.disp != "attachment":
			score = 3
		case c.mediaType == "text/html" && c.disp != "attachment":
			score = 2
		case strings.HasPrefix(c.mediaType, "multipart/"):
			score = 1
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// relatedRoot finds the root of a multipart/related: the part named by the
// start parameter, else the first (RFC 2387 §3.2).
func relatedRoot(start string, children []*entity) int {
	ids := msgIDs(start)
	if len(ids) == 0 {
		return 0
	}
	for i, c := range children {
		if cid := msgIDs(c.header.Get("Content-Id")); len(cid) > 0 && cid[0] == ids[0] {
			return i
		}
	}
	return 0
}

// render makes a body part's decoded text clean; HTML is rendered (with
// image naming the images it shows by cid: URL, see htmlToText) and
// format=flowed joined.
func render(p *part, image func(src string) (string, bool)) string {
	s := cleanText(p.text)
	if p.mediaType == "text/html" {
		s, _ = htmlToText(strings.NewReader(s), image)
		return s
	}
	if strings.EqualFold(strings.TrimSpace(p.params["format"]), "flowed") {
		s = unflow(s, strings.EqualFold(strings.TrimSpace(p.params["delsp"]), "yes"))
	}
	return s
}

// attach records a non-body part.
func (w *walker) attach(e *entity, data []byte) {
	name := e.filename()
	if name == "" && (e.mediaType == "message/rfc822" || e.mediaType == "message/global") {
		hb, _ := splitHeader(data)
		h, _ := readHeader(hb) // a partly broken forwarded header still has a usable Subject
		if s := sanitizeName(w.hdr.text(h.Get("Subject"))); s != "" {
			name = textclip.Clip(s, 200) + ".eml"
		}
	}
	if name == "" {
		name = derivedName(e.mediaType)
	}
	var cid string
	if ids := msgIDs(e.header.Get("Content-Id")); len(ids) > 0 {
		cid = ids[0]
	}
	w.attachments = append(w.attachments, Attachment{
		Name: name, ContentType: e.mediaType, Size: int64(len(data)), Data: data,
		ContentID: cid, Inline: cid != "" && e.disp == "inline",
	})
}

// noteCIDs records the Content-IDs an HTML body refers to by "cid:" URL
// (RFC 2392), wherever in the markup: src, background, CSS url(). A
// plain scan, linear in the text, as the renderer is.
func (w *walker) noteCIDs(s string) {
	for i := 0; i+4 <= len(s); i++ {
		if s[i]|0x20 != 'c' || s[i+1]|0x20 != 'i' || s[i+2]|0x20 != 'd' || s[i+3] != ':' {
			continue
		}
		j := i + 4
		for j < len(s) && strings.IndexByte("\"'<> \t\r\n()", s[j]) < 0 {
			j++
		}
		if cid := cidOf(s[i+4 : j]); cid != "" {
			if w.cids == nil {
				w.cids = map[string]bool{}
			}
			w.cids[cid] = true
		}
		i = j - 1
	}
}

// cidOf is the Content-ID a cid: URL's value (after "cid:") names: it is
// %-escaped (RFC 2392), and in an HTML attribute may hold entities.
func cidOf(v string) string {
	if strings.IndexByte(v, '&') >= 0 {
		v = html.UnescapeString(v)
	}
	return strings.TrimSpace(string(percentDecode(v)))
}

// markInline marks the parts an HTML body shows (see Attachment.Inline).
func (w *walker) markInline() {
	for i := range w.attachments {
		if a := &w.attachments[i]; a.ContentID != "" && w.cids[a.ContentID] {
			a.Inline = true
		}
	}
}

// images returns what names the part an HTML body's <img src> shows,
// for htmlToText's placeholder; its ok is false for anything but a cid:
// URL of a part of this mail.
func (w *walker) images() func(src string) (name string, ok bool) {
	names := map[string]string{}
	for _, a := range w.attachments {
		if _, dup := names[a.ContentID]; a.ContentID != "" && !dup {
			names[a.ContentID] = a.Name
		}
	}
	return func(src string) (string, bool) {
		src = strings.TrimSpace(src)
		if len(src) < 4 || !strings.EqualFold(src[:4], "cid:") {
			return "", false
		}
		name, ok := names[cidOf(src[4:])]
		return name, ok
	}
}

// derivedName invents a file name for a part that has none, so the
// employee sees something meaningful ("image.png") rather than nothing.
func derivedName(mt string) string {
	major, sub, _ := strings.Cut(mt, "/")
	base := major
	switch major {
	case "image", "audio", "video", "text", "message", "font", "model":
	default:
		base = "attachment"
	}
	ext := ""
	switch mt {
	case "image/jpeg", "image/jpg", "image/pjpeg":
		ext = ".jpg"
	case "text/plain":
		ext = ".txt"
	case "text/html":
		ext = ".html"
	case "text/calendar":
		ext = ".ics"
	case "text/vcard", "text/x-vcard":
		ext = ".vcf"
	case "message/rfc822", "message/global":
		ext = ".eml"
	case "application/octet-stream":
		ext = ".bin"
	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		ext = ".p7m"
	case "application/pkcs7-signature", "application/x-pkcs7-signature":
		ext = ".p7s"
	case "application/pgp-encrypted", "application/pgp-signature":
		ext = ".asc"
	case "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
		ext = ".docx"
	case "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
		ext = ".xlsx"
	case "application/vnd.openxmlformats-officedocument.presentationml.presentation":
		ext = ".pptx"
	case "application/msword":
		ext = ".doc"
	case "application/vnd.ms-excel":
		ext = ".xls"
	default:
		sub = strings.TrimPrefix(sub, "x-")
		if len(sub) > 0 && len(sub) <= 8 && isToken(sub) {
			ext = "." + sub
		}
	}
	return base + ext
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// bodyText joins the body parts of the preferred kind: plain text when the
// mail has any, else HTML. Several parts of one kind (Apple Mail splits the
// text around inline images) are all shown, in order.
func (w *walker) bodyText() (string, bool) {
	parts, fromHTML := w.plain, false
	if len(parts) == 0 {
		image := w.images()
		for _, p := range w.html {
			parts = append(parts, render(p, image))
		}
		fromHTML = len(w.html) > 0
	}
	var kept []string
	for _, p := range parts {
		if p = strings.Trim(p, "\n"); strings.TrimSpace(p) != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, "\n\n"), fromHTML
}

// metaCharset finds <meta charset=...> or the http-equiv form in the start
// of an HTML part whose Content-Type has no charset.
func metaCharset(data []byte) string {
	head := data
	if len(head) > 4096 {
		head = head[:4096]
	}
	s := strings.ToLower(string(head))
	for {
		i := strings.Index(s, "<meta")
		if i < 0 {
			return ""
		}
		s = s[i+5:]
		end := strings.IndexByte(s, '>')
		if end < 0 {
			end = len(s)
		}
		tag := s[:end]
		if j := strings.Index(tag, "charset"); j >= 0 {
			v := strings.TrimLeft(tag[j+len("charset"):], " \t\r\n")
			if strings.HasPrefix(v, "=") {
				v = strings.TrimLeft(v[1:], " \t\r\n\"'")
				k := 0
				for k < len(v) && (isToken(v[k:k+1]) || strings.IndexByte("-_:.", v[k]) >= 0) {
					k++
				}
				if k > 0 {
					return v[:k]
				}
			}
		}
		s = s[end:]
	}
}
