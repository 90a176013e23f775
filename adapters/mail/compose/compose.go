// Package compose turns what an employee said into the e-mail that leaves
// the company under her persona.
//
// The outside must learn nothing of the inside, so a mail is never derived
// from another mail or from a generic header map: Build writes exactly the
// fields of a Message, in a fixed order, and nothing else. There is no way to
// add a header, which is the point.
//
// Build is pure: no clock, no host name, no network. Callers pass the Date
// and the Message-ID (see NewMessageID), which keeps it deterministic and
// testable; a mail with files has a MIME boundary derived from its
// Message-ID, so it says nothing the Message-ID does not. Files are read
// from the callers' own Open functions, once each, and streamed by Write.
// DKIM signing (DKIM.Sign, LoadDKIMKey) is the only part that touches a
// file or the clock.
package compose

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kakehashi/kakehashi/adapters/mail/internal/hostname"
)

// ErrInvalid is wrapped by every error Build returns for a Message it refuses
// to send. The wrapping error names the field and the problem.
var ErrInvalid = errors.New("compose: invalid message")

// Address is one mailbox: an optional display name and an addr-spec.
type Address struct {
	// Name is the display name in any script; "" for none. Surrounding
	// white space is dropped.
	Name string
	// Addr is local@domain in ASCII. Quoted local parts, domain literals and
	// internationalised addresses are refused: the gateway does not announce
	// SMTPUTF8, and a persona or customer address of that shape is far more
	// likely a mistake than a real mailbox.
	Addr string
}

// Message is everything an outgoing mail may say. Nothing else reaches the
// wire.
type Message struct {
	// From is the persona, To the outside contact.
	From, To Address
	// Subject may be empty, and is then sent as an empty Subject field.
	// It is sent unfolded (see UnfoldSubject): line breaks, tabs and runs
	// of white space become single spaces, the ends are trimmed and a
	// very long one is cut, so a subject typed in a chat client with line
	// breaks still makes a mail.
	Subject string
	// Date is written in its own zone; pass UTC so the zone of the office
	// does not show. It must not be zero.
	Date time.Time
	// MessageID is local@domain without angle brackets; see NewMessageID.
	MessageID string
	// InReplyTo is the Message-ID being answered, without angle brackets;
	// "" for a new thread.
	InReplyTo string
	// References is the thread, oldest first, without angle brackets.
	References []string
	// Text is the plain-text body in any script, with "\n", "\r\n" or "\r"
	// line ends. It must contain something other than white space unless
	// the mail carries Attachments: an empty mail to a customer is always a
	// bug upstream (a chat state, a stripped message), and refusing it
	// here makes that bug loud.
	Text string
	// Attachments are files sent after the text, in order: the mail is
	// then multipart/mixed, the text its first part (left out when blank)
	// and each file a base64 part named by Content-Disposition filename
	// (RFC 2231) and Content-Type name (RFC 2047, for older readers).
	Attachments []Attachment
	// AutoSubmitted is "" for words a person wrote, or one of
	// "auto-generated", "auto-replied" or "auto-notified" (RFC 3834, RFC
	// 5436) for the gateway's own notices, so that the other side's
	// vacation responders stay quiet.
	AutoSubmitted string
	// ListUnsubscribe, when not empty, is an address (local@domain) a
	// mail to which unsubscribes the recipient; it is offered as
	// List-Unsubscribe: <mailto:…?subject=unsubscribe> (RFC 2369), which
	// mail clients show as an "Unsubscribe" button on bulk mail.
	ListUnsubscribe string
}

// maxLine is the RFC 5322 recommended line length, excluding CRLF. Build
// keeps every line within it except where the grammar forbids folding (a
// single msg-id or addr-spec longer than a line), where RFC 5322's hard limit
// of 998 still holds because such values are refused beyond maxIDLen and
// 254 octets.
const maxLine = 78

// maxIDLen bounds a msg-id. Real ones rarely pass 100 octets; the bound only
// has to keep an unfoldable line far below 998.
const maxIDLen = 250

const dateLayout = "Mon, 02 Jan 2006 15:04:05 -0700"

// Build renders m as an RFC 5322 message with CRLF line ends, ready for
// DKIM.Sign and SMTP. It returns an error wrapping ErrInvalid when a field is
// missing, malformed or carries a line break (header injection); the
// Subject alone is unfolded instead. A file that cannot be read is an
// error that names it and wraps the reader's error, not ErrInvalid.
// The result holds every file, base64-encoded; Write streams them.
func Build(m *Message) ([]byte, error) {
	var b bytes.Buffer
	if err := Write(&b, m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Write is Build to w: the header and text first, then each file as it is
// read, so a mail is never held whole. It checks m before it writes
// anything, so a refused message (ErrInvalid) leaves w untouched; a write
// or read error leaves a partial mail there.
func Write(w io.Writer, m *Message) error {
	if m == nil {
		return fmt.Errorf("%w: nil message", ErrInvalid)
	}
	if err := m.validate(); err != nil {
		return err
	}
	var b bytes.Buffer
	m.writeHeader(&b)
	if len(m.Attachments) == 0 {
		writeText(&b, m.Text, "")
		_, err := w.Write(b.Bytes())
		return err
	}
	boundary := boundaryFor(m.MessageID)
	if strings.TrimSpace(m.Text) != "" {
		b.WriteString("--" + boundary + "\r\n")
		writeText(&b, m.Text, boundary)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return err
	}
	for i := range m.Attachments {
		if err := writeAttachment(w, &m.Attachments[i], boundary); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "--"+boundary+"--\r\n")
	return err
}

// writeHeader writes m's header fields, up to MIME-Version; the
// Content-Type and the body are the caller's.
func (m *Message) writeHeader(b *bytes.Buffer) {
	w := headerWriter{b: b}
	w.field("Date", m.Date.Format(dateLayout))
	w.address("From", m.From)
	w.address("To", m.To)
	w.unstructured("Subject", UnfoldSubject(m.Subject))
	w.field("Message-ID", "<"+m.MessageID+">")
	if m.InReplyTo != "" {
		w.field("In-Reply-To", "<"+m.InReplyTo+">")
	}
	if len(m.References) > 0 {
		refs := make([]string, len(m.References))
		for i, r := range m.References {
			refs[i] = "<" + r + ">"
		}
		w.field("References", refs...)
	}
	if m.AutoSubmitted != "" {
		w.field("Auto-Submitted", strings.ToLower(m.AutoSubmitted))
	}
	if m.ListUnsubscribe != "" {
		w.field("List-Unsubscribe", "<mailto:"+m.ListUnsubscribe+"?subject=unsubscribe>")
	}
	w.field("MIME-Version", "1.0")
	if len(m.Attachments) > 0 {
		w.field("Content-Type", "multipart/mixed;", `boundary="`+boundaryFor(m.MessageID)+`"`)
		b.WriteString("\r\n")
	}
}

// writeText writes the text part's Content-Type, transfer encoding and
// body: the whole mail's, after its header, or the first part of a
// multipart one (boundary set), which the body must not contain.
func writeText(b *bytes.Buffer, text, boundary string) {
	lines := bodyLines(text)
	cte := "7bit"
	if !fits7bit(lines) || boundary != "" && strings.Contains(text, boundary) {
		// Quoted-printable writes every "=" as "=3D": the "=_" that
		// starts a boundary cannot appear in it.
		cte = "quoted-printable"
	}
	if cte == "7bit" {
		b.Grow(256 + len(text))
	} else {
		// Quoted-printable triples every octet outside ASCII.
		b.Grow(256 + 3*len(text))
	}
	w := headerWriter{b: b}
	w.field("Content-Type", "text/plain;", "charset=utf-8")
	w.field("Content-Transfer-Encoding", cte)
	b.WriteString("\r\n")
	if cte == "7bit" {
		for _, l := range lines {
			b.WriteString(l)
			b.WriteString("\r\n")
		}
	} else {
		writeQP(b, lines)
	}
}

func (m *Message) validate() error {
	if err := checkAddress("From", m.From); err != nil {
		return err
	}
	if err := checkAddress("To", m.To); err != nil {
		return err
	}
	// Invalid UTF-8 is a bug upstream, not something to unfold.
	if !utf8.ValidString(m.Subject) {
		return fmt.Errorf("%w: Subject is not valid UTF-8", ErrInvalid)
	}
	if err := checkHeaderText("Subject", UnfoldSubject(m.Subject)); err != nil {
		return err
	}
	if m.Date.IsZero() {
		return fmt.Errorf("%w: Date is not set", ErrInvalid)
	}
	// RFC 5322 wants a four-digit year; anything outside is a broken clock.
	if y := m.Date.Year(); y < 1900 || y > 9999 {
		return fmt.Errorf("%w: Date year %d is out of range", ErrInvalid, y)
	}
	if m.MessageID == "" {
		return fmt.Errorf("%w: Message-ID is not set", ErrInvalid)
	}
	if err := checkMsgID("Message-ID", m.MessageID); err != nil {
		return err
	}
	if m.InReplyTo != "" {
		if err := checkMsgID("In-Reply-To", m.InReplyTo); err != nil {
			return err
		}
	}
	for i, r := range m.References {
		if err := checkMsgID(fmt.Sprintf("References[%d]", i), r); err != nil {
			return err
		}
	}
	switch strings.ToLower(m.AutoSubmitted) {
	case "", "auto-generated", "auto-replied", "auto-notified":
	default:
		// Only the registered keywords: a free-form value could carry
		// parameters, and parameters are a way to leak.
		return fmt.Errorf("%w: Auto-Submitted %q is not auto-generated, auto-replied or auto-notified", ErrInvalid, m.AutoSubmitted)
	}
	if m.ListUnsubscribe != "" {
		if err := checkAddress("List-Unsubscribe", Address{Addr: m.ListUnsubscribe}); err != nil {
			return err
		}
		if strings.ContainsAny(m.ListUnsubscribe, "?&%#") {
			return fmt.Errorf("%w: List-Unsubscribe address %q has characters a mailto URL would need to escape", ErrInvalid, m.ListUnsubscribe)
		}
	}
	if !utf8.ValidString(m.Text) {
		return fmt.Errorf("%w: body is not valid UTF-8", ErrInvalid)
	}
	if strings.TrimSpace(m.Text) == "" && len(m.Attachments) == 0 {
		return fmt.Errorf("%w: body is empty", ErrInvalid)
	}
	for i := range m.Attachments {
		if err := m.Attachments[i].validate(i); err != nil {
			return err
		}
	}
	return nil
}

// checkHeaderText refuses what could end a header field early or confuse a
// reader: line breaks and NUL (header injection), any other control
// character, and bytes that are not UTF-8 (they cannot be labelled with a
// charset).
func checkHeaderText(field, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, field)
	}
	for _, r := range s {
		switch {
		case r == '\r' || r == '\n':
			return fmt.Errorf("%w: %s contains a line break", ErrInvalid, field)
		case r == 0:
			return fmt.Errorf("%w: %s contains NUL", ErrInvalid, field)
		case r != '\t' && unicode.IsControl(r):
			return fmt.Errorf("%w: %s contains control character %U", ErrInvalid, field, r)
		}
	}
	return nil
}

func checkAddress(field string, a Address) error {
	if err := checkHeaderText(field+" name", a.Name); err != nil {
		return err
	}
	if err := checkHeaderText(field+" address", a.Addr); err != nil {
		return err
	}
	if why := addrSpecProblem(a.Addr); why != "" {
		return fmt.Errorf("%w: %s address %q: %s", ErrInvalid, field, a.Addr, why)
	}
	return nil
}

// ValidMsgID reports whether Build accepts id (without angle brackets) in
// Message-ID, In-Reply-To and References.
func ValidMsgID(id string) bool { return checkMsgID("Message-ID", id) == nil }

func checkMsgID(field, id string) error {
	if err := checkHeaderText(field, id); err != nil {
		return err
	}
	if why := msgIDProblem(id); why != "" {
		return fmt.Errorf("%w: %s %q: %s", ErrInvalid, field, id, why)
	}
	return nil
}

// addrSpecProblem says what is wrong with an addr-spec, or "" when nothing
// is. It accepts dot-atom@hostname only.
func addrSpecProblem(s string) string {
	switch {
	case s == "":
		return "empty"
	case len(s) > 254:
		// RFC 5321's path limit of 256 minus the angle brackets.
		return "longer than 254 octets"
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "no @"
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 {
		return "local part longer than 64 octets"
	}
	if why := dotAtomProblem(local); why != "" {
		return "local part " + why
	}
	if why := hostname.Problem(domain); why != "" {
		return "domain " + why
	}
	return ""
}

func msgIDProblem(id string) string {
	if strings.HasPrefix(id, "<") || strings.HasSuffix(id, ">") {
		return "must be given without angle brackets"
	}
	if len(id) > maxIDLen {
		return fmt.Sprintf("longer than %d octets", maxIDLen)
	}
	at := strings.LastIndexByte(id, '@')
	if at < 0 {
		return "not of the form local@domain"
	}
	left, right := id[:at], id[at+1:]
	if why := dotAtomProblem(left); why != "" {
		return "left part " + why
	}
	if strings.HasPrefix(right, "[") && strings.HasSuffix(right, "]") && len(right) >= 2 {
		for i := 1; i < len(right)-1; i++ {
			if c := right[i]; c < 33 || c > 126 || c == '[' || c == ']' || c == '\\' {
				return "right part is not a valid literal"
			}
		}
		return ""
	}
	if why := dotAtomProblem(right); why != "" {
		return "right part " + why
	}
	return ""
}

// dotAtomProblem checks RFC 5322 dot-atom-text.
func dotAtomProblem(s string) string {
	if s == "" {
		return "is empty"
	}
	if s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return "has a misplaced dot"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return "is not ASCII"
		}
		if c != '.' && !isAtext(c) {
			return fmt.Sprintf("has forbidden character %q", rune(c))
		}
	}
	return ""
}

// isAtext reports RFC 5322 atext, ASCII only.
func isAtext(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}
