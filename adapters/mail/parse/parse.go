// Package parse turns one raw inbound e-mail (RFC 5322 + MIME) into what the
// gateway shows an employee: who wrote, what they wrote in this message (with
// quoted history and signature removed), what was attached, whether a machine
// sent it, whether DMARC vouches for the From domain, and whether it is a
// bounce.
//
// It is pure logic: no I/O beyond reading the given io.Reader, no global
// state, and it never panics on any input. Everything a header or body can
// carry (any charset, broken encodings, hostile HTML) ends up as valid UTF-8
// with "\n" line ends and without the control characters an XMPP stanza
// cannot carry. Work is linear in the input size, bounded by
// Options.MaxBytes, MIME depth (32) and part count (2000).
//
// Decisions worth knowing:
//
//   - The MIME tree is read by go-message (multipart structure, transfer
//     encodings) and go-message/charset. When go-message reports an error,
//     or decodes text it could not really read (see checkDecoded), the
//     message is read again by a hand-written lenient reader, which is
//     forgiving where real mail is sloppy (base64 without padding,
//     delimiters in mixed line ends, charsets go-message does not know or
//     that the label gets wrong) and strict where a guess would show the
//     employee a partial or wrong message: a multipart without boundary or
//     close delimiter, base64 with foreign bytes and unknown transfer
//     encodings are ErrMalformed. Both readers give the same result for
//     well-formed mail.
//   - Header sections are split into fields by go-message's textproto, but
//     the fields (addresses, encoded-words, Content-Type parameters) are
//     always decoded by this package: go-message's decoders give up
//     on, or silently garble, raw 8-bit bytes, encoded-words that split a
//     character and RFC 2231 values in Japanese charsets. A missing or
//     unparseable From and a broken header section are ErrMalformed.
//   - An unknown charset never fails a mail: its bytes are read as UTF-8
//     where valid and every invalid sequence becomes U+FFFD, so ASCII
//     survives. Text without a usable label (none, us-ascii, unknown-8bit)
//     is sniffed: ISO-2022-JP by its escapes, then UTF-8, EUC-JP, Shift_JIS
//     and Windows-1252. Raw 8-bit header bytes use the body's charset first.
//   - Inline replies keep the quoted lines they answer; see StripQuote.
//   - The body is the plain text part(s) when there are any, else the HTML
//     part(s) rendered by HTMLToText.
package parse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/mail"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/internal/textclip"
)

// DefaultMaxBytes is the message size limit used when Options.MaxBytes is
// zero or negative.
const DefaultMaxBytes = 25 << 20

// ErrMalformed is returned (wrapped, with the specific reason) when a mail
// cannot be understood: no or unparseable From, a broken header section, a
// broken MIME structure, an undecodable transfer encoding.
var ErrMalformed = errors.New("malformed mail")

// ErrTooLarge is returned (wrapped) when a mail is bigger than
// Options.MaxBytes.
var ErrTooLarge = errors.New("mail too large")

// Options configure Parse.
type Options struct {
	// TrustedAuthServIDs lists the authserv-ids (RFC 8601) whose
	// Authentication-Results headers are believed: the receiving MTA's own
	// name. Anyone can write such a header into a mail, so headers from any
	// other authserv-id are ignored. Empty: none is believed.
	TrustedAuthServIDs []string
	// MaxBytes limits the whole raw message. Zero or negative means
	// DefaultMaxBytes (25 MiB). A bigger message yields an error wrapping
	// ErrTooLarge.
	MaxBytes int64
}

// Address is one mailbox from an address header.
type Address struct {
	// Name is the decoded display name, "" when there is none.
	Name string
	// Addr is the bare address (no angle brackets), lower-cased.
	Addr string
}

// Attachment describes one non-body MIME part: a real attachment, an inline
// image, a forwarded message, a signature.
type Attachment struct {
	// Name is the decoded file name with any directory part removed, or a
	// name derived from the content type (e.g. "image.png") when the part
	// has none. The name may come from Content-Disposition filename or
	// Content-Type name, in RFC 2231 form (continuations, any charset the
	// package reads, ISO-2022-JP and Shift_JIS included), as RFC 2047
	// encoded-words (which RFC 2047 forbids there, and Outlook and
	// Japanese mailers write all the same), or plain; a forwarded message
	// without one is named after its Subject, plus ".eml".
	Name string
	// ContentType is the lower-cased media type without parameters.
	ContentType string
	// Size is the number of bytes after transfer decoding: len(Data).
	Size int64
	// Data is the part's content after transfer decoding (a forwarded
	// message's raw text, header included). It may share memory with the
	// mail given to Bytes, and other parts' Data with each other: it is
	// read-only, and valid as long as the caller keeps that mail.
	Data []byte
	// ContentID is the part's Content-ID without angle brackets, "" when
	// it has none.
	ContentID string
	// Inline is true for a part the sender's client showed inside the
	// body rather than listed as a file: one with Content-Disposition
	// inline and a Content-ID, or one that an HTML body of the mail
	// refers to by "cid:" (an embedded image). Where the HTML body is
	// what Text shows, it reads "[image: Name]" where the image was.
	Inline bool
}

// BounceRecipient is one per-recipient block of a message/delivery-status
// part (RFC 3464).
type BounceRecipient struct {
	// Addr is the bare, lower-cased address from Final-Recipient, or from
	// Original-Recipient when there is no Final-Recipient.
	Addr string
	// Action is the lower-cased Action field: "failed", "delayed",
	// "delivered", "relayed" or "expanded".
	Action string
	// Status is the status code, e.g. "5.1.1".
	Status string
	// Diagnostic is the Diagnostic-Code text without its type prefix
	// ("smtp;"), whitespace-normalised.
	Diagnostic string
}

// Bounce is what a delivery status notification reports.
type Bounce struct {
	// Recipients has one entry per recipient block of the delivery-status
	// part(s), in order.
	Recipients []BounceRecipient
	// OriginalMessageID is the Message-ID of the returned message (from its
	// message/rfc822 or text/rfc822-headers part), without angle brackets.
	OriginalMessageID string
	// OriginalTo is the To of the returned message: its bare, lower-cased
	// addresses joined with ", ". "" when absent.
	OriginalTo string
}

// Mail is what Parse extracts from one message.
type Mail struct {
	// MessageID is the Message-ID without angle brackets, "" if absent.
	MessageID string
	// InReplyTo is the first msg-id of In-Reply-To, without angle brackets.
	InReplyTo string
	// References lists the msg-ids of References in order, without angle
	// brackets.
	References []string
	// From is the first mailbox of the From header.
	From Address
	// ReplyTo, To and Cc are the mailboxes of those headers; unparseable
	// entries are skipped.
	ReplyTo []Address
	To      []Address
	Cc      []Address
	// DeliveredTo lists the envelope recipients stamped by receiving
	// servers: every Delivered-To header, then every X-Original-To header,
	// each in header order (topmost first), lower-cased.
	DeliveredTo []string
	// NullSender is true when the topmost Return-Path is <>.
	NullSender bool
	// ReturnPath is the bare, lower-cased address of the topmost
	// Return-Path; "" when absent or null.
	ReturnPath string
	// Subject is decoded (RFC 2047, any charset) and whitespace-normalised.
	Subject string
	// Date is the parsed Date header; the zero time when absent or
	// unparseable.
	Date time.Time
	// Text is what the sender wrote in this message: FullText with quoted
	// history and signature removed, trimmed. For a forwarded message
	// (Subject "Fw:", "Fwd:", "転送:") it is FullText unchanged, because the
	// forwarded content is the point of the message.
	Text string
	// FullText is the whole text body, decoded; HTML rendered with
	// HTMLToText when there is no text/plain body.
	FullText string
	// QuoteRemoved, SignatureRemoved report what StripQuote and
	// StripSignature took away from FullText to make Text.
	QuoteRemoved     bool
	SignatureRemoved bool
	// FromHTML is true when the body came from a text/html part.
	FromHTML bool
	// Attachments lists every non-body part in MIME order.
	Attachments []Attachment
	// Automatic is "" when a person wrote the mail, else why it is
	// automatic, e.g. "Auto-Submitted: auto-replied", "Precedence: bulk",
	// "mailing list", "delivery status notification".
	Automatic string
	// DMARC is the dmarc result ("pass", "fail", "none", ...) of the topmost
	// Authentication-Results header whose authserv-id is trusted and whose
	// dmarc result's header.from equals the From domain; "" when none.
	DMARC string
	// SPF is likewise the spf result ("pass", "fail", "softfail", ...)
	// that a trusted authserv-id gave for the Return-Path's domain
	// (smtp.mailfrom); "" when none or when there is no Return-Path.
	SPF string
	// Bounce is non-nil for a delivery status notification.
	Bounce *Bounce
}

// malformed wraps ErrMalformed with the reason. The reason quotes parts of
// the mail, so it is cut short and made valid UTF-8 for whatever logs it.
func malformed(format string, args ...any) error {
	reason := strings.ToValidUTF8(textclip.Clip(fmt.Sprintf(format, args...), 300), "\uFFFD")
	return fmt.Errorf("%w: %s", ErrMalformed, reason)
}

// Parse reads one raw message from r and extracts what the gateway needs.
// The message may use CRLF or LF line ends. Errors wrap ErrTooLarge or
// ErrMalformed, or are read errors from r.
func Parse(r io.Reader, o Options) (*Mail, error) {
	limit := maxBytes(o)
	readLimit := limit
	if readLimit < math.MaxInt64 {
		readLimit++ // one byte more tells "exactly at the limit" from "over it"
	}
	data, err := io.ReadAll(io.LimitReader(r, readLimit))
	if err != nil {
		return nil, fmt.Errorf("parse: reading mail: %w", err)
	}
	return Bytes(data, o)
}

// Bytes is Parse for a message already in memory, without copying it
// first. It does not modify data; the Data of attachments may point into
// it (see Attachment.Data). Errors wrap ErrTooLarge or ErrMalformed.
func Bytes(data []byte, o Options) (*Mail, error) {
	if limit := maxBytes(o); int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	m, _, err := parseBytes(data, o, 0)
	return m, err
}

// maxBytes is the size limit o sets.
func maxBytes(o Options) int64 {
	if o.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return o.MaxBytes
}

// parseBytes is Bytes without the size limit. It also tells which
// reader read the MIME tree; only, when not zero, forces one (see
// readBody).
func parseBytes(data []byte, o Options, only readPath) (*Mail, readPath, error) {
	data = skipMboxFromLine(data)
	hb, body := splitHeader(data)
	h, err := readHeader(hb)
	if err != nil {
		return nil, 0, malformed("header section: %s", textclip.Clip(err.Error(), 200))
	}
	if h.Len() == 0 {
		return nil, 0, malformed("empty header section")
	}

	// The body charset is the best guess for raw 8-bit header bytes, and
	// the charset parameter itself is ASCII, so read it before decoding.
	_, ctParams := parseParams(h.Get("Content-Type"))
	hdr := headerDecoder{hint: ctParams["charset"]}

	m := &Mail{}
	fromRaw := h.Get("From")
	if strings.TrimSpace(fromRaw) == "" {
		return nil, 0, malformed("no From header")
	}
	from := hdr.addressList(fromRaw)
	if len(from) == 0 {
		return nil, 0, malformed("unparseable From header %q", textclip.Clip(fromRaw, 80))
	}
	m.From = from[0]
	m.ReplyTo = hdr.addressList(h.Get("Reply-To"))
	m.To = hdr.addressList(h.Get("To"))
	m.Cc = hdr.addressList(h.Get("Cc"))
	m.Subject = collapseSpace(hdr.text(h.Get("Subject")))
	m.Date = parseDate(h.Get("Date"))

	if ids := msgIDs(h.Get("Message-Id")); len(ids) > 0 {
		m.MessageID = ids[0]
	}
	if ids := msgIDs(h.Get("In-Reply-To")); len(ids) > 0 {
		m.InReplyTo = ids[0]
	}
	m.References = msgIDs(h.Get("References"))

	for _, key := range []string{"Delivered-To", "X-Original-To"} {
		for _, v := range h.Values(key) {
			for _, a := range hdr.addressList(v) {
				m.DeliveredTo = append(m.DeliveredTo, a.Addr)
			}
		}
	}
	if rp := h.Values("Return-Path"); len(rp) > 0 {
		m.ReturnPath, m.NullSender = returnPath(rp[0])
	}

	tree, path, err := readBody(h, body, hdr, only)
	if err != nil {
		return nil, path, err
	}
	w := walker{hdr: hdr}
	w.walk(tree, 0, roleBody)
	w.markInline()
	m.Attachments = w.attachments

	full, fromHTML := w.bodyText()
	m.FullText = trimLines(full)
	m.FromHTML = fromHTML
	m.Text = m.FullText
	if !isForward(m.Subject) {
		kept, q := StripQuote(full)
		kept, s := StripSignature(kept)
		if t := trimLines(kept); t != "" {
			m.Text, m.QuoteRemoved, m.SignatureRemoved = t, q, s
		}
	}

	m.DMARC = dmarcResult(h.Values("Authentication-Results"), o.TrustedAuthServIDs, domainOf(m.From.Addr))
	m.SPF = spfResult(h.Values("Authentication-Results"), o.TrustedAuthServIDs, domainOf(m.ReturnPath))
	m.Bounce = w.bounce(m)
	m.Automatic = automatic(h, m, w.reportType)
	return m, path, nil
}

// skipMboxFromLine drops the "From sender date" separator line that mbox
// files (and some tools that export single messages) put above the header.
func skipMboxFromLine(data []byte) []byte {
	if !bytes.HasPrefix(data, []byte("From ")) {
		return data
	}
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		return data
	}
	// "From : x" is a header field with a stray space, not an mbox line.
	if rest := bytes.TrimLeft(data[5:nl], " \t"); len(rest) == 0 || rest[0] == ':' {
		return data
	}
	return data[nl+1:]
}

// returnPath interprets one Return-Path value.
func returnPath(v string) (addr string, null bool) {
	v = stripComments(v)
	inner := strings.TrimSpace(v)
	if strings.HasPrefix(inner, "<") {
		inner = strings.TrimPrefix(inner, "<")
		if i := strings.IndexByte(inner, '>'); i >= 0 {
			inner = inner[:i]
		}
		inner = strings.TrimSpace(inner)
		if inner == "" {
			return "", true
		}
	}
	return cleanAddr(inner), false
}

// rfc5322Date is a date with a day of the week, seconds and a numeric
// zone (RFC 5322 3.3): "Sat, 21 Nov 2026 10:00:00 +0000".
const rfc5322Date = "Mon, 2 Jan 2006 15:04:05 -0700"

// parseDate is lenient: a wrong Date should not cost the mail, so failures
// give the zero time.
func parseDate(v string) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	// The form nearly every mail has, which mail.ParseDate tries only
	// after two dozen others; on it, ParseDate comes to this very layout.
	if t, err := time.Parse(rfc5322Date, v); err == nil {
		return t
	}
	if t, err := mail.ParseDate(v); err == nil {
		return t
	}
	if t, err := mail.ParseDate(strings.TrimSpace(stripComments(v))); err == nil {
		return t
	}
	return time.Time{}
}

// isForward tells forwarded mail apart, whose quoted-looking content is the
// message itself.
func isForward(subject string) bool {
	s := strings.ToLower(strings.TrimSpace(subject))
	for _, p := range []string{"fw:", "fwd:", "fw：", "fwd：", "転送:", "転送：", "tr:", "wg:"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// automatic tells why a mail was sent by a machine, following RFC 3834 and
// the de-facto headers of list managers and auto-responders.
func automatic(h header, m *Mail, reportType string) string {
	if v := strings.TrimSpace(h.Get("Auto-Submitted")); v != "" {
		kw := strings.ToLower(strings.TrimSpace(strings.SplitN(stripComments(v), ";", 2)[0]))
		if kw != "no" && kw != "" {
			return "Auto-Submitted: " + kw
		}
	}
	for _, k := range []string{"X-Autoreply", "X-Autorespond"} {
		if h.Has(k) {
			v := strings.TrimSpace(h.Get(k))
			if v == "" {
				return k
			}
			return k + ": " + textclip.Clip(collapseSpace(cleanText(v)), 40)
		}
	}
	if v := strings.ToLower(strings.TrimSpace(stripComments(h.Get("Precedence")))); v != "" {
		switch v {
		case "bulk", "list", "junk", "auto_reply":
			return "Precedence: " + v
		}
	}
	if h.Has("List-Id") || h.Has("List-Unsubscribe") {
		return "mailing list"
	}
	if m.Bounce != nil {
		return "delivery status notification"
	}
	if reportType != "" {
		return "report: " + reportType
	}
	if m.NullSender {
		return "Return-Path: <>"
	}
	return ""
}

// truncate shortens s to at most n bytes without splitting a rune.
