package guard

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// folded is a text after the one normalisation every comparison in this
// package uses, with the way back to the original bytes: a hit is found in
// the folded form but must be reported, and shown to the employee, in what
// they wrote.
//
// The folding is, per normalisation segment (a starter and the marks that
// follow it): NFKD, then drop the marks that only decorate Latin, Greek and
// Cyrillic letters (so "Tánaka" is "tanaka"), then drop format characters
// and variation selectors (a soft hyphen or zero-width space pasted from a
// web page must not hide a word), then full Unicode case folding, then NFKC
// (so full-width "ＨＡＮＡ" is "hana" and half-width "ﾊﾅ" is "ハナ").
// Japanese voicing marks (U+3099, U+309A) are not diacritics here: "バ" and
// "ハ" are different syllables, and folding them together would make "ハナ"
// hit "バナナ".
type folded struct {
	s string
	// start[i] and end[i] are the original bytes that produced s[i]: the
	// whole segment, since NFKC may turn one segment into several runes
	// ("㍻" into "平成") or several into one. Both are nil when the text
	// was plain ASCII, where folding is lower-casing and offsets are equal.
	start, end []int
}

// orig maps the folded range [i, j) back to the original text. The result
// always covers whole segments, so it starts and ends on rune boundaries
// (or on an invalid byte, which is a segment of its own).
func (f *folded) orig(i, j int) (int, int) {
	if f.start == nil {
		return i, j
	}
	return f.start[i], f.end[j-1]
}

// foldText folds text and keeps the offset map.
func foldText(text string) folded {
	if isASCII(text) {
		return folded{s: lowerASCII(text)}
	}
	n := len(text) + len(text)/4
	out := make([]byte, 0, n)
	start := make([]int, 0, n)
	end := make([]int, 0, n)
	fold := cases.Fold()
	for i := 0; i < len(text); {
		seg := segment(text[i:])
		before := len(out)
		out = foldSegment(out, seg, fold)
		for k := before; k < len(out); k++ {
			start = append(start, i)
			end = append(end, i+len(seg))
		}
		i += len(seg)
	}
	return folded{s: string(out), start: start, end: end}
}

// foldString folds s without the offset map: for the rules, names and
// addresses the text is compared with. It goes segment by segment exactly
// as foldText does, so a needle folds to the very bytes the same words
// fold to in a text.
func foldString(s string) string {
	if isASCII(s) {
		return lowerASCII(s)
	}
	out := make([]byte, 0, len(s))
	fold := cases.Fold()
	for i := 0; i < len(s); {
		seg := segment(s[i:])
		out = foldSegment(out, seg, fold)
		i += len(seg)
	}
	return string(out)
}

// segment returns the first normalisation segment of s (never empty when
// s is not): a lone invalid byte is a segment of its own, and a segment
// stops before any invalid byte.
func segment(s string) string {
	if s[0] < utf8.RuneSelf && (len(s) == 1 || s[1] < utf8.RuneSelf) {
		return s[:1] // ASCII followed by ASCII: nothing can combine with it
	}
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size <= 1 {
		return s[:1]
	}
	n := norm.NFKC.NextBoundaryInString(s, true)
	if n < size {
		n = size
	}
	for k := size; k < n; {
		r, sz := utf8.DecodeRuneInString(s[k:])
		if r == utf8.RuneError && sz <= 1 {
			return s[:k]
		}
		k += sz
	}
	return s[:n]
}

// foldSegment appends the folding of one segment to dst. Invalid bytes
// become U+FFFD, which is neither a letter nor a space: it separates words
// without joining the parts of a name.
func foldSegment(dst []byte, seg string, fold cases.Caser) []byte {
	if len(seg) == 1 && seg[0] < utf8.RuneSelf {
		return append(dst, lowerByte(seg[0]))
	}
	r, size := utf8.DecodeRuneInString(seg)
	if r == utf8.RuneError && size <= 1 {
		return utf8.AppendRune(dst, utf8.RuneError)
	}
	if size == len(seg) && unicode.SimpleFold(r) == r && !dropped(r) &&
		norm.NFKD.PropertiesString(seg).Decomposition() == nil {
		// Kanji, kana, Hangul and most symbols: no case, no decomposition,
		// so every step below would return them unchanged.
		return append(dst, seg...)
	}
	d := norm.NFKD.String(seg)
	keep := make([]byte, 0, len(d))
	for _, r := range d {
		if !dropped(r) {
			keep = utf8.AppendRune(keep, r)
		}
	}
	return norm.NFKC.AppendString(dst, fold.String(string(keep)))
}

// dropped reports the runes folding removes: combining diacritics of the
// alphabetic scripts, format characters (soft hyphen, zero-width space and
// joiners, bidi marks, BOM) and variation selectors.
func dropped(r rune) bool {
	switch {
	case r >= 0x0300 && r <= 0x036F, // Combining Diacritical Marks
		r >= 0x1AB0 && r <= 0x1AFF,   // … Extended
		r >= 0x1DC0 && r <= 0x1DFF,   // … Supplement
		r >= 0x20D0 && r <= 0x20FF,   // … for Symbols
		r >= 0xFE20 && r <= 0xFE2F,   // Combining Half Marks
		r >= 0xFE00 && r <= 0xFE0F,   // Variation Selectors
		r >= 0xE0100 && r <= 0xE01EF: // … Supplement (kanji variants)
		return true
	}
	return r >= 0x80 && unicode.Is(unicode.Cf, r)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// lowerASCII lower-cases ASCII letters, returning s itself when it has no
// upper-case letter.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for k := i; k < len(b); k++ {
				b[k] = lowerByte(b[k])
			}
			return string(b)
		}
	}
	return s
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
