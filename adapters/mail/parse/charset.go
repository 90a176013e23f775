package parse

import (
	"bytes"
	"encoding/base64"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// normLabel canonicalises a charset label: case, quotes, and the RFC 2231
// language suffix that RFC 2047 words may carry ("ISO-2022-JP*ja").
func normLabel(label string) string {
	l := strings.ToLower(strings.Trim(strings.TrimSpace(label), `"' `))
	if i := strings.IndexByte(l, '*'); i >= 0 {
		l = l[:i]
	}
	return l
}

// lookupEncoding resolves a charset label, nil when unknown. Mail labels
// are messier than HTML's: Microsoft and Japanese names that neither the
// WHATWG nor the IANA index knows are mapped first.
func lookupEncoding(label string) encoding.Encoding {
	name := normLabel(label)
	switch name {
	case "iso-2022-jp", "csiso2022jp", "iso2022jp", "iso-2022-jp-1", "iso-2022-jp-2", "iso-2022-jp-3",
		"iso-2022-jp-ms", "cp50220", "cp50221", "cp50222", "x-iso-2022-jp", "jis":
		// x/text's ISO-2022-JP also reads JIS X 0212 and half-width kana
		// escapes, which covers what the -1/-2/-3 and Microsoft variants
		// put into Japanese mail in practice.
		return japanese.ISO2022JP
	case "shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "csshiftjis", "cp932", "ms932",
		"windows-31j", "x-ms-cp932", "ibm-943", "ibm943", "shift_jisx0213", "shift_jis-2004", "x-sjis-open":
		// x/text's Shift_JIS is the WHATWG one, i.e. Microsoft's CP932
		// with NEC/IBM extensions, which is what "Shift_JIS" mail really is.
		return japanese.ShiftJIS
	case "euc-jp", "x-euc-jp", "eucjp", "euc_jp", "cseucpkdfmtjapanese", "ujis", "x-eucjp",
		"eucjp-ms", "euc-jis-2004", "cp51932":
		return japanese.EUCJP
	case "utf-16":
		// RFC 2781: big-endian unless a BOM says otherwise (WHATWG says
		// little-endian, which is right for the web but not for mail).
		return unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
	case "ks_c_5601-1987", "ks_c_5601", "cp949", "ms949", "uhc", "x-windows-949":
		return korean.EUCKR
	case "cp936", "ms936", "x-gbk", "euc-cn", "x-euc-cn", "gb_2312-80":
		return simplifiedchinese.GBK
	case "iso-8859-1", "latin1", "iso8859-1", "iso_8859-1", "l1":
		// Mail labelled Latin-1 routinely carries Windows-1252 quotes and
		// dashes in 0x80-0x9F; reading it as 1252 is what every client does.
		return charmap.Windows1252
	}
	for _, n := range []string{name, aliasLabel(name)} {
		if n == "" {
			continue
		}
		if enc, err := htmlindex.Get(n); err == nil && enc != nil {
			return enc
		}
		if enc, err := ianaindex.MIME.Encoding(n); err == nil && enc != nil {
			return enc
		}
	}
	return nil
}

// aliasLabel repairs label spellings seen in the wild ("cp1252",
// "iso8859-15", "windows1251") into index names.
func aliasLabel(name string) string {
	switch {
	case strings.HasPrefix(name, "cp125") && len(name) == 6:
		return "windows-" + name[2:]
	case strings.HasPrefix(name, "windows125") && len(name) == 11:
		return "windows-" + name[7:]
	case strings.HasPrefix(name, "iso8859-"):
		return "iso-8859-" + name[len("iso8859-"):]
	case strings.HasPrefix(name, "iso_8859-"):
		return "iso-8859-" + name[len("iso_8859-"):]
	case strings.HasPrefix(name, "iso8859_"):
		return "iso-8859-" + name[len("iso8859_"):]
	}
	return ""
}

// isUnlabeled reports labels that say nothing useful about 8-bit bytes.
func isUnlabeled(name string) bool {
	switch name {
	case "", "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us", "default",
		"unknown-8bit", "x-unknown", "unknown", "x-user-defined", "8bit", "7bit":
		return true
	}
	return false
}

func isUTF8Label(name string) bool {
	switch name {
	case "utf-8", "utf8", "unicode-1-1-utf-8", "x-utf_8j", "utf-8-sig":
		return true
	}
	return false
}

// decodeCharset converts text in the given charset to UTF-8. It never
// fails: an unknown charset is read as UTF-8 where the bytes are valid and
// each invalid sequence becomes U+FFFD, so ASCII (addresses, numbers,
// links) always survives.
func decodeCharset(b []byte, label string) string {
	name := normLabel(label)
	switch {
	case isUnlabeled(name):
		return sniff(b)
	case isUTF8Label(name):
		if hasISO2022Escape(b) {
			return decodeWith(japanese.ISO2022JP, b) // mislabelled Japanese
		}
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	enc := lookupEncoding(name)
	if enc == nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return decodeWith(enc, b)
}

func decodeWith(enc encoding.Encoding, b []byte) string {
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// strictDecode decodes only if every byte sequence is valid in enc.
func strictDecode(enc encoding.Encoding, b []byte) (string, bool) {
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil || bytes.ContainsRune(out, utf8.RuneError) || !utf8.Valid(out) {
		return "", false
	}
	return string(out), true
}

// sniff decodes text that carries no (usable) charset label: ISO-2022-JP
// is recognisable by its escapes, UTF-8 by its validity; after that, the
// Japanese 8-bit charsets are tried strictly (EUC-JP first, because
// Shift_JIS hiragana and katakana lead bytes are invalid in EUC-JP while
// EUC-JP text often happens to be valid Shift_JIS), and Windows-1252 is
// the last resort.
func sniff(b []byte) string {
	if hasISO2022Escape(b) {
		return decodeWith(japanese.ISO2022JP, b)
	}
	if utf8.Valid(b) {
		return string(b)
	}
	for _, enc := range []encoding.Encoding{japanese.EUCJP, japanese.ShiftJIS} {
		if s, ok := strictDecode(enc, b); ok {
			return s
		}
	}
	return decodeWith(charmap.Windows1252, b)
}

func hasISO2022Escape(b []byte) bool {
	i := bytes.IndexByte(b, 0x1b)
	for i >= 0 && i+2 < len(b) {
		switch string(b[i+1 : i+3]) {
		case "$B", "$@", "(J", "(I", "$(":
			return true
		}
		j := bytes.IndexByte(b[i+1:], 0x1b)
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

// headerDecoder decodes header values. hint is the charset of the message
// body, the best guess for raw 8-bit bytes in headers, which many
// Japanese and older Western clients send despite RFC 2047.
type headerDecoder struct {
	hint string
}

// raw turns a raw header value into UTF-8 without touching encoded-words.
func (d headerDecoder) raw(v string) string {
	if hasISO2022Escape([]byte(v)) {
		return decodeWith(japanese.ISO2022JP, []byte(v))
	}
	if utf8.ValidString(v) {
		return v
	}
	if name := normLabel(d.hint); !isUnlabeled(name) && !isUTF8Label(name) {
		if enc := lookupEncoding(name); enc != nil {
			if s, ok := strictDecode(enc, []byte(v)); ok {
				return s
			}
		}
	}
	return sniff([]byte(v))
}

// text fully decodes an unstructured header value.
func (d headerDecoder) text(v string) string {
	return cleanText(decodeWords(d.raw(v)))
}

// decodeWords decodes RFC 2047 encoded-words. Unlike mime.WordDecoder it
// joins adjacent words of one charset before decoding, because many
// clients split a multi-byte character (or an ISO-2022-JP escape run)
// across two words, and it also decodes words inside quoted strings and
// words not separated by spaces, which RFC 2047 forbids and clients do.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	var out strings.Builder
	var pendCS string
	var pend []byte
	active := false
	flush := func() {
		if active {
			out.WriteString(decodeCharset(pend, pendCS))
			pend, active = nil, false
		}
	}
	i := 0
	for i < len(s) {
		j := strings.Index(s[i:], "=?")
		if j < 0 {
			break
		}
		j += i
		cs, data, end, ok := parseEncodedWord(s, j)
		if !ok {
			flush()
			out.WriteString(s[i : j+2])
			i = j + 2
			continue
		}
		lit := s[i:j]
		if active && strings.TrimLeft(lit, " \t\r\n") == "" {
			// Whitespace between adjacent encoded-words is not content
			// (RFC 2047 §6.2).
			if normLabel(cs) != normLabel(pendCS) {
				flush()
				pendCS, active = cs, true
			}
			pend = append(pend, data...)
		} else {
			flush()
			out.WriteString(lit)
			pendCS, pend, active = cs, append(pend[:0], data...), true
		}
		i = end
	}
	flush()
	out.WriteString(s[i:])
	return out.String()
}

// maxWordLen bounds the search for the end of an encoded-word. RFC 2047
// allows 75 characters; real clients exceed that, but never by this much,
// and without a bound "=?" repeated without "?=" would be quadratic.
const maxWordLen = 2048

// parseEncodedWord parses "=?charset?enc?text?=" at s[j:].
func parseEncodedWord(s string, j int) (charset string, data []byte, end int, ok bool) {
	rest := s[j+2:]
	if len(rest) > maxWordLen {
		rest = rest[:maxWordLen]
	}
	q := strings.IndexByte(rest, '?')
	if q <= 0 || strings.ContainsAny(rest[:q], " \t\r\n=") {
		return "", nil, 0, false
	}
	charset = rest[:q]
	rest = rest[q+1:]
	if len(rest) < 2 || rest[1] != '?' {
		return "", nil, 0, false
	}
	enc := rest[0] | 0x20
	text := rest[2:]
	e := strings.Index(text, "?=")
	if e < 0 || strings.ContainsAny(text[:e], " \t\r\n") {
		return "", nil, 0, false
	}
	payload := text[:e]
	switch enc {
	case 'b':
		data = lenientBase64(payload)
	case 'q':
		data = qDecode(payload)
	default:
		return "", nil, 0, false
	}
	end = j + 2 + q + 1 + 2 + e + 2
	return charset, data, end, true
}

// lenientBase64 decodes what it can: an encoded-word is too small to be
// worth rejecting a header over.
func lenientBase64(p string) []byte {
	clean := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' {
			clean = append(clean, c)
		}
	}
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1]
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, _ := base64.RawStdEncoding.Decode(out, clean)
	return out[:n]
}

// qDecode decodes the "Q" encoding of RFC 2047 §4.2.
func qDecode(p string) []byte {
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '_':
			out = append(out, ' ')
		case c == '=' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]):
			out = append(out, unhex(p[i+1])<<4|unhex(p[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out
}

// cleanText makes text safe to show and to put into XMPP: valid UTF-8,
// "\n" line ends, and none of the control characters XML 1.0 forbids (C0
// except tab and newline), nor C1 controls, BOMs or non-characters, which
// only ever appear in mail as decoding debris.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	clean := true
	for _, r := range s {
		if r == '\r' || (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r < 0xa0) || r == 0xfeff || r == 0xfffe || r == 0xffff {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == '\r':
			if i < len(s) && s[i] == '\n' {
				continue
			}
			b.WriteByte('\n')
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20, r >= 0x7f && r < 0xa0, r == 0xfeff, r == 0xfffe, r == 0xffff:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// collapseSpace joins ASCII whitespace runs into one space and trims.
// Ideographic spaces are left alone: Japanese writers use them on purpose.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f' {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

// trimLines drops trailing spaces on every line, blank lines at both ends,
// and runs of more than two blank lines.
func trimLines(s string) string {
	s = cleanText(s)
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blanks := 0
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			blanks++
			if blanks > 2 || len(out) == 0 {
				continue
			}
		} else {
			blanks = 0
		}
		out = append(out, l)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n")
}
