package compose

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Attachment is one file a mail carries after its text.
type Attachment struct {
	// Name is the file name the recipient sees, in any script, without
	// directories; "" sends the file without one. It is written as
	// Content-Disposition filename (RFC 2231, continued over lines as
	// needed) and Content-Type name (RFC 2047 encoded-words when it is
	// not ASCII: what older Japanese mailers read).
	Name string
	// MediaType is "type/subtype" without parameters; "" is sent as
	// application/octet-stream, as are message/* and multipart/* types,
	// which RFC 2046 does not allow in base64.
	MediaType string
	// Open returns a reader of the file's bytes. Write calls it once,
	// when it reaches the file, reads to EOF and closes it.
	Open func() (io.ReadCloser, error)
}

// maxNameLen bounds a file name: file systems take 255 octets, and a
// longer name only makes a longer header.
const maxNameLen = 255

func (a *Attachment) validate(i int) error {
	field := fmt.Sprintf("Attachments[%d]", i)
	if a.Open == nil {
		return fmt.Errorf("%w: %s has no Open", ErrInvalid, field)
	}
	if err := checkHeaderText(field+" name", a.Name); err != nil {
		return err
	}
	switch {
	case len(a.Name) > maxNameLen:
		return fmt.Errorf("%w: %s name is longer than %d octets", ErrInvalid, field, maxNameLen)
	case strings.ContainsAny(a.Name, `/\`):
		// A name with directories would tell the recipient where the
		// sender keeps files, and some clients would save it there.
		return fmt.Errorf("%w: %s name %q has a directory part", ErrInvalid, field, a.Name)
	}
	if a.MediaType != "" && !validMediaType(a.MediaType) {
		return fmt.Errorf("%w: %s media type %q is not type/subtype", ErrInvalid, field, a.MediaType)
	}
	return nil
}

// validMediaType accepts type/subtype made of RFC 2045 token characters,
// without parameters.
func validMediaType(mt string) bool {
	typ, sub, ok := strings.Cut(mt, "/")
	// On a line of its own, with the ";" before the name, it fits.
	return ok && isToken(typ) && isToken(sub) && len(" "+mt+";") <= maxLine
}

// isToken reports an RFC 2045 token: printable ASCII but space and
// tspecials.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// mediaType is the type the part is sent as (see Attachment.MediaType).
func (a *Attachment) mediaType() string {
	mt := strings.ToLower(a.MediaType)
	if mt == "" || strings.HasPrefix(mt, "message/") || strings.HasPrefix(mt, "multipart/") {
		return "application/octet-stream"
	}
	return mt
}

// boundaryFor is the MIME boundary of the mail with Message-ID msgID: a
// digest of it, so that it says nothing of where the mail was made and a
// mail built again is the same mail. "=_" cannot occur in base64 or
// quoted-printable text, so no part the mail has encoded can contain it
// (writeText encodes a text that contains it).
func boundaryFor(msgID string) string {
	h := sha256.Sum256([]byte("multipart boundary\x00" + msgID))
	return "=_" + hex.EncodeToString(h[:16])
}

// writeAttachment writes one file's part: its delimiter, header and
// content in base64.
func writeAttachment(w io.Writer, a *Attachment, boundary string) error {
	var b bytes.Buffer
	b.WriteString("--" + boundary + "\r\n")
	hw := headerWriter{b: &b}
	mt := a.mediaType()
	if a.Name == "" {
		hw.field("Content-Type", mt)
		hw.field("Content-Disposition", "attachment")
	} else {
		hw.field("Content-Type", append([]string{mt + ";"}, nameParam(a.Name)...)...)
		hw.field("Content-Disposition", append([]string{"attachment;"}, filenameParam(a.Name)...)...)
	}
	hw.field("Content-Transfer-Encoding", "base64")
	b.WriteString("\r\n")
	if _, err := w.Write(b.Bytes()); err != nil {
		return err
	}
	r, err := a.Open()
	if err != nil {
		return fmt.Errorf("compose: file %q: %w", a.Name, err)
	}
	err = writeBase64(w, r)
	if cerr := r.Close(); err == nil && cerr != nil {
		err = readError{cerr}
	}
	if re, ok := err.(readError); ok {
		return fmt.Errorf("compose: file %q: %w", a.Name, re.err)
	}
	return err
}

// readError tells a file's read error from the writer's in writeBase64.
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }

// b64Line is the number of octets one line of base64 (76 characters, RFC
// 2045 §6.8) holds.
const b64Line = 57

// writeBase64 writes r's content as base64 in lines of 76 characters.
func writeBase64(w io.Writer, r io.Reader) error {
	const lines = 64
	in := make([]byte, b64Line*lines)
	out := make([]byte, 0, (76+2)*lines)
	for {
		n, err := io.ReadFull(r, in)
		for i := 0; i < n; i += b64Line {
			chunk := in[i:min(i+b64Line, n)]
			out = base64.StdEncoding.AppendEncode(out, chunk)
			out = append(out, '\r', '\n')
		}
		if len(out) > 0 {
			if _, werr := w.Write(out); werr != nil {
				return werr
			}
			out = out[:0]
		}
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return nil
		case err != nil:
			return readError{err}
		}
	}
}

// nameParam is Content-Type's name parameter as header tokens: quoted
// ASCII, or RFC 2047 encoded-words in the quotes, which is not what RFC
// 2047 allows but what the mailers that read no RFC 2231 read (Outlook
// before 2007, older Japanese mailers); RFC 2231 readers take
// filenameParam. A long ASCII name is continued as RFC 2231 has it.
func nameParam(name string) []string {
	if isPlainText(name) {
		return asciiParam("name", name)
	}
	// Each word, with the quote before the first and after the last,
	// fits a line of its own.
	words := encodedWordsIn(name, maxLine-1-len(`name="`), maxLine-1-len(`"`))
	words[0] = `name="` + words[0]
	words[len(words)-1] += `"`
	return words
}

// filenameParam is Content-Disposition's filename parameter as header
// tokens: quoted ASCII, else RFC 2231 UTF-8 with %-escapes, continued
// over as many sections as it takes for each to fit a line.
func filenameParam(name string) []string {
	if isPlainText(name) {
		return asciiParam("filename", name)
	}
	return extParam("filename", name)
}

// asciiParam is attr="value" for printable ASCII, or its RFC 2231
// continuations attr*0="..."; attr*1="..." when one token would not fit
// a line.
func asciiParam(attr, value string) []string {
	if tok := attr + "=" + quote(value); 1+len(tok) <= maxLine {
		return []string{tok}
	}
	var toks []string
	for n := 0; value != ""; n++ {
		prefix := fmt.Sprintf("%s*%d=", attr, n)
		room := maxLine - 1 - len(prefix) - len(`"";`)
		k, used := 0, 0
		for k < len(value) {
			w := 1
			if value[k] == '"' || value[k] == '\\' {
				w = 2
			}
			if used+w > room {
				break
			}
			used += w
			k++
		}
		toks = append(toks, prefix+quote(value[:k])+";")
		value = value[k:]
	}
	last := len(toks) - 1
	toks[last] = strings.TrimSuffix(toks[last], ";")
	return toks
}

// quote is value as a quoted-string.
func quote(value string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(value); i++ {
		if c := value[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(value[i])
	}
	b.WriteByte('"')
	return b.String()
}

// extParam is attr*=utf-8”value with RFC 2231 %-escapes, or, when that
// would not fit a line, attr*0*=utf-8”…; attr*1*=…; sections that each
// do. Sections end on character boundaries, although RFC 2231 joins the
// octets before it decodes them, for readers that decode each alone.
func extParam(attr, value string) []string {
	const charset = "utf-8''"
	enc := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			if c := s[i]; isAttrChar(c) {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "%%%02X", c)
			}
		}
		return b.String()
	}
	if tok := attr + "*=" + charset + enc(value); 1+len(tok) <= maxLine {
		return []string{tok}
	}
	var toks []string
	for n := 0; value != ""; n++ {
		prefix := fmt.Sprintf("%s*%d*=", attr, n)
		if n == 0 {
			prefix += charset
		}
		room := maxLine - 1 - len(prefix) - len(";")
		k, used := 0, 0
		for k < len(value) {
			_, size := utf8.DecodeRuneInString(value[k:])
			w := len(enc(value[k : k+size]))
			if used+w > room {
				break
			}
			used += w
			k += size
		}
		toks = append(toks, prefix+enc(value[:k])+";")
		value = value[k:]
	}
	last := len(toks) - 1
	toks[last] = strings.TrimSuffix(toks[last], ";")
	return toks
}

// isAttrChar reports RFC 2231 attribute-char: a token character but
// "*", "'" and "%".
func isAttrChar(c byte) bool {
	return isToken(string(c)) && c != '*' && c != '\'' && c != '%'
}
