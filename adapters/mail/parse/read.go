package parse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"

	"github.com/kakehashi/kakehashi/internal/textclip"
)

// part is one entity of a message's MIME tree as a reader read it.
type part struct {
	*entity
	// children are a multipart's parts, in order; nil for a leaf.
	children []*part
	// data is a leaf's body after transfer decoding.
	data []byte
	// text is data decoded to UTF-8 (neither cleaned nor rendered) for a
	// part that mayBeBody; "" for others.
	text string
}

// readPath names the reader that read a message's MIME tree.
type readPath int

const (
	// viaGoMessage: go-message's multipart reader and transfer decoding,
	// and go-message/charset.
	viaGoMessage readPath = iota + 1
	// viaLenient: the hand-written reader, after go-message failed.
	viaLenient
)

func (p readPath) String() string {
	switch p {
	case viaGoMessage:
		return "go-message"
	case viaLenient:
		return "lenient"
	}
	return "both"
}

// readBody reads the MIME tree of a message whose header is h: with
// go-message first and, when it reports an error or decodes text it
// could not really read (see checkDecoded), again with the hand-written
// lenient reader, which repairs what real mail gets wrong (see
// lenientReader). Errors are the lenient reader's, since they say why
// even the lenient reading failed. only, when not zero, names the one
// reader to use: tests compare them.
func readBody(h header, body []byte, hdr headerDecoder, only readPath) (*part, readPath, error) {
	top := newEntity(h, "text/plain", hdr)
	if only != viaLenient {
		gm := &goMessageReader{hdr: hdr}
		p, err := gm.read(top, bytes.NewReader(body), 0)
		if err == nil || only == viaGoMessage {
			return p, viaGoMessage, err
		}
	}
	lr := &lenientReader{hdr: hdr}
	p, err := lr.read(top, body, 0)
	return p, viaLenient, err
}

// budget bounds the work a hostile MIME tree can cause in one reading.
type budget struct {
	parts int
}

// take counts one more entity at depth.
func (b *budget) take(depth int) error {
	b.parts++
	if b.parts > maxParts {
		return malformed("more than %d MIME parts", maxParts)
	}
	if depth > maxDepth {
		return malformed("MIME nesting deeper than %d", maxDepth)
	}
	return nil
}

// childType is the type of a part of mt that has no usable Content-Type
// (RFC 2046 §5.1.5: message/rfc822 in a digest).
func childType(mt string) string {
	if mt == "multipart/digest" {
		return "message/rfc822"
	}
	return "text/plain"
}

// textLabel is the charset a text part is decoded from: its charset
// parameter, or for HTML without one the <meta> charset in the document.
func textLabel(p *part) string {
	cs := p.params["charset"]
	if strings.TrimSpace(cs) == "" && p.mediaType == "text/html" {
		cs = metaCharset(p.data)
	}
	return cs
}

// goMessageReader reads a MIME tree with go-message. It streams through
// nested multiparts, so only the leaves' decoded bodies are held, once.
type goMessageReader struct {
	hdr    headerDecoder
	budget budget
}

func (r *goMessageReader) read(e *entity, body io.Reader, depth int) (*part, error) {
	if err := r.budget.take(depth); err != nil {
		return nil, err
	}
	p := &part{entity: e}
	if strings.HasPrefix(e.mediaType, "multipart/") {
		boundary := e.params["boundary"]
		if boundary == "" {
			return nil, fmt.Errorf("%s without boundary", e.mediaType)
		}
		mr := textproto.NewMultipartReader(body, boundary)
		for {
			tp, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.mediaType, err)
			}
			c, err := r.read(newEntity(tp.Header, childType(e.mediaType), r.hdr), tp, depth+1)
			if err != nil {
				return nil, err
			}
			p.children = append(p.children, c)
		}
		if len(p.children) == 0 {
			// go-message takes a close delimiter with no part before it
			// for an empty multipart; RFC 2046 requires one part.
			return nil, fmt.Errorf("%s without parts", e.mediaType)
		}
		return p, nil
	}
	// go-message decodes the charset too when its header names one, but
	// Attachment.Size counts bytes before that, and the charset comes
	// from parameters read the way the lenient reader reads them (see
	// parseParams): so it is given the transfer encoding alone.
	var th message.Header
	if cte := e.header.Get("Content-Transfer-Encoding"); cte != "" {
		th.Set("Content-Transfer-Encoding", cte)
	}
	dec, err := message.New(th, body)
	if err != nil {
		return nil, fmt.Errorf("%s part: %w", e.mediaType, err)
	}
	if p.data, err = io.ReadAll(dec.Body); err != nil {
		return nil, fmt.Errorf("%s part: %w", e.mediaType, err)
	}
	if mayBeBody(e, depth) {
		if p.text, err = goMessageText(p); err != nil {
			return nil, fmt.Errorf("%s part: %w", e.mediaType, err)
		}
	}
	return p, nil
}

// goMessageText decodes a text part with go-message/charset. Text without
// a label is taken as it is, if it is UTF-8 (ASCII included).
func goMessageText(p *part) (string, error) {
	label := textLabel(p)
	s := string(p.data)
	if strings.TrimSpace(label) != "" {
		cr, err := charset.Reader(label, bytes.NewReader(p.data))
		if err != nil {
			return "", err
		}
		b, err := io.ReadAll(cr)
		if err != nil {
			return "", fmt.Errorf("charset %q: %w", label, err)
		}
		s = string(b)
	}
	if err := checkDecoded(s); err != nil {
		return "", fmt.Errorf("charset %q: %w", textclip.Clip(label, 40), err)
	}
	return s, nil
}

// checkDecoded finds what a charset decoder leaves in text it did not
// really read, without reporting an error: U+FFFD for bytes invalid in
// the charset (or raw bytes that are not UTF-8, when there was no label),
// an escape byte from ISO-2022-JP labelled UTF-8 or US-ASCII, and C1
// controls from Windows-1252 labelled ISO-8859-1. The lenient reader
// makes more of each, so each counts as go-message failing.
func checkDecoded(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for _, c := range s {
		switch {
		case c == utf8.RuneError:
			return errors.New("bytes invalid in the charset")
		case c == 0x1b:
			return errors.New("an ISO-2022 escape left undecoded")
		case c >= 0x80 && c < 0xa0:
			return errors.New("C1 control characters (Windows-1252 text?)")
		}
	}
	return nil
}

// lenientReader is the hand-written reader that runs when go-message
// fails. It takes base64 without padding or with padding mid-way
// (concatenated encoder output), quoted-printable with stray "=" and raw
// 8-bit bytes or long lines, multipart delimiters in mixed line ends,
// charsets go-message does not know (cp932, iso-2022-jp-2, ...) or
// text in another charset than its label says, which decodeCharset
// repairs. It is still strict where a guess would show a partial or
// wrong message: a multipart without boundary or close delimiter, base64
// with foreign bytes and unknown transfer encodings are ErrMalformed. Its
// multipart parts are sub-slices of the message, so nesting costs no
// copies.
type lenientReader struct {
	hdr    headerDecoder
	budget budget
}

func (r *lenientReader) read(e *entity, body []byte, depth int) (*part, error) {
	if err := r.budget.take(depth); err != nil {
		return nil, err
	}
	p := &part{entity: e}
	mt := e.mediaType
	if strings.HasPrefix(mt, "multipart/") {
		boundary := e.params["boundary"]
		if boundary == "" {
			return nil, malformed("%s without boundary", mt)
		}
		raws, err := splitMultipart(body, boundary, maxParts)
		if err != nil {
			return nil, malformed("%s: %v", mt, err)
		}
		for _, raw := range raws {
			hb, cb := splitHeader(raw)
			h, err := readHeader(hb)
			if err != nil {
				return nil, malformed("%s part header: %s", mt, textclip.Clip(err.Error(), 200))
			}
			c, err := r.read(newEntity(h, childType(mt), r.hdr), cb, depth+1)
			if err != nil {
				return nil, err
			}
			p.children = append(p.children, c)
		}
		return p, nil
	}
	data, err := decodeTransfer(e.header.Get("Content-Transfer-Encoding"), body)
	if err != nil {
		return nil, malformed("%s part: %v", mt, err)
	}
	p.data = data
	if mayBeBody(e, depth) {
		p.text = decodeCharset(data, textLabel(p))
	}
	return p, nil
}
