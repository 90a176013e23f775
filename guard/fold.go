package guard

import (
	"slices"
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
// (so full-width "ＨＡＮＡ" is "hana" and half-width "ﾊﾅ" is "ハナ"). Curly
// apostrophes (’ ‘ ʼ) become "'", as word processors replace one with the
// other.
// Japanese voicing marks (U+3099, U+309A) are not diacritics here: "バ" and
// "ハ" are different syllables, and folding them together would make "ハナ"
// hit "バナナ".
type folded struct {
	s string
	// segs are the segments whose folding changed their bytes, in order.
	// Everything between them is either unchanged or ASCII lower-cased, so
	// byte for byte, and the offset map only needs to record these; it is
	// nil for ASCII text.
	segs []fseg
}

// fseg is one segment whose folding changed its bytes: its original bytes
// [o, oe) folded to s[f:fe], which may be longer, shorter or empty, since
// NFKC may turn one segment into several runes ("㍻" into "平成").
type fseg struct{ f, fe, o, oe int }

// at returns the last segment starting at or before folded byte i, and
// false if there is none.
func (f *folded) at(i int) (fseg, bool) {
	k, _ := slices.BinarySearchFunc(f.segs, i, func(g fseg, i int) int {
		if g.f <= i {
			return -1
		}
		return 1
	})
	if k == 0 {
		return fseg{}, false
	}
	return f.segs[k-1], true
}

// orig maps the folded range [i, j) back to the original text. A range
// that starts or ends inside a changed segment takes all of it; elsewhere
// folded and original bytes are the same runes. Either way the result
// starts and ends between runes of the original (an invalid byte counting
// as one), so text[start:end] is always what the employee wrote.
func (f *folded) orig(i, j int) (start, end int) {
	if f.segs == nil {
		return i, j
	}
	start, end = i, j
	if g, ok := f.at(i); ok {
		if i < g.fe {
			start = g.o
		} else {
			start = i - g.fe + g.oe
		}
	}
	if g, ok := f.at(j - 1); ok {
		if j-1 < g.fe {
			end = g.oe
		} else {
			end = j - g.fe + g.oe
		}
	}
	return start, end
}

// foldText folds text and keeps the offset map.
func foldText(text string) folded {
	if isASCII(text) {
		return folded{s: lowerASCII(text)}
	}
	out := make([]byte, 0, len(text)+len(text)/4)
	var segs []fseg
	fold := cases.Fold()
	for i := 0; i < len(text); {
		if c := text[i]; c < utf8.RuneSelf && (i+1 == len(text) || text[i+1] < utf8.RuneSelf) {
			out = append(out, lowerByte(c)) // ASCII followed by ASCII: nothing can combine with it
			i++
			continue
		}
		if r, n := utf8.DecodeRuneInString(text[i:]); plainCJK(r) {
			if next, _ := utf8.DecodeRuneInString(text[i+n:]); i+n == len(text) || next < utf8.RuneSelf || plainCJK(next) {
				out = append(out, text[i:i+n]...) // a segment of its own, unchanged
				i += n
				continue
			}
		}
		seg := segment(text[i:])
		before := len(out)
		out = foldSegment(out, seg, fold)
		if string(out[before:]) != seg {
			segs = append(segs, fseg{f: before, fe: len(out), o: i, oe: i + len(seg)})
		}
		i += len(seg)
	}
	return folded{s: string(out), segs: segs}
}

// foldString folds s without the offset map: for the rules, names and
// addresses the text is compared with. It folds exactly as foldText does,
// so a needle folds to the very bytes the same words fold to in a text.
func foldString(s string) string {
	return foldText(s).s
}

// segment returns the first normalisation segment of s (never empty when
// s is not): a lone invalid byte is a segment of its own.
func segment(s string) string {
	if s[0] < utf8.RuneSelf && (len(s) == 1 || s[1] < utf8.RuneSelf) {
		return s[:1] // ASCII followed by ASCII: nothing can combine with it
	}
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size <= 1 {
		return s[:1]
	}
	// The norm tables end a segment at an invalid byte, so a segment is
	// valid UTF-8 (FuzzCheck holds this); never split the first rune.
	return s[:max(size, norm.NFKC.NextBoundaryInString(s, true))]
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
	if size == len(seg) {
		switch {
		case r == '’' || r == '‘' || r == 'ʼ':
			return append(dst, '\'') // "O’Brien" as typed by a word processor is "O'Brien"
		case unchanged(r, seg):
			return append(dst, seg...)
		}
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

// unchanged reports whether the single rune r (encoded as seg) folds to
// itself, without running the steps: kanji, kana (voiced ones too, which
// NFKC composes back), Hangul and most symbols. That holds when r is in
// NFKC and nothing in its decomposition is dropped or has case: then the
// steps amount to NFKC(NFKD(r)), which is r.
func unchanged(r rune, seg string) bool {
	if dropped(r) || unicode.SimpleFold(r) != r {
		return false
	}
	d := norm.NFKD.PropertiesString(seg).Decomposition()
	if d == nil {
		return true
	}
	for _, c := range string(d) {
		if dropped(c) || unicode.SimpleFold(c) != c {
			return false
		}
	}
	return norm.NFKC.IsNormalString(seg)
}

// plainCJK reports the runes that make up most Japanese and Chinese text
// and that folding leaves unchanged: hiragana and katakana letters (voiced
// ones too: NFKC composes them back), the prolonged sound mark, the common
// ideographs, and 、。「」『』. They are starters that compose with nothing
// before them, so one of them followed by another (or by ASCII) is a
// segment of its own, and foldText takes it without asking the norm
// tables: three times faster on Japanese text. TestPlainCJK holds this to
// the full pipeline.
func plainCJK(r rune) bool {
	return r >= 0x4E00 && r <= 0x9FFF || r >= 0x3041 && r <= 0x3096 || r >= 0x30A1 && r <= 0x30FA ||
		r == 0x30FC || r == 0x3001 || r == 0x3002 || r >= 0x300C && r <= 0x300F
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
