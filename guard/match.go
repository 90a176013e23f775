package guard

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// sepMode says what may stand between the parts of a pattern.
type sepMode uint8

const (
	// sepSpace: one or more white-space characters. Configured terms of
	// several words ("Project Phoenix") match across any spacing or a line
	// break, but not written together.
	sepSpace sepMode = iota
	// sepName: nothing, white space, a comma with any white space around
	// it, or one of . _ - ・ alone. Names are written "Hana Tanaka",
	// "TANAKA, Hana", "hana.tanaka", "hana_tanaka", "田中花子", "田中　花子",
	// "ハナ・タナカ".
	sepName
)

// pattern is one folded needle of one or more parts.
type pattern struct {
	parts []string
	sep   sepMode
	why   Why
	// term is the configured spelling reported in the hit; empty means the
	// hit reports the text as found.
	term string
	// wordStart and wordEnd say whether the pattern's first and last runes
	// need a word boundary beside them: true for letters and digits of
	// scripts written with spaces, false for CJK and other scripts written
	// without them (and for punctuation), where a word is found as a
	// substring.
	wordStart, wordEnd bool
	// plural lets one "s" follow a pattern that ends in a Latin letter
	// before the word boundary ("the Tanakas", "Phoenixs").
	plural bool
}

// newPattern builds a pattern from folded, non-empty parts.
func newPattern(parts []string, sep sepMode, why Why, term string) pattern {
	first, _ := utf8.DecodeRuneInString(parts[0])
	last, _ := utf8.DecodeLastRuneInString(parts[len(parts)-1])
	return pattern{
		parts:     parts,
		sep:       sep,
		why:       why,
		term:      term,
		wordStart: isWordRune(first),
		wordEnd:   isWordRune(last),
		plural:    unicode.Is(unicode.Latin, last),
	}
}

// find appends a candidate for every occurrence of p in f.
func (p *pattern) find(f *folded, text string, out []Hit) []Hit {
	s := f.s
	head := p.parts[0]
	for from := 0; from < len(s); {
		i := strings.Index(s[from:], head)
		if i < 0 {
			break
		}
		i += from
		from = i + 1
		if p.wordStart && i > 0 {
			if r, _ := utf8.DecodeLastRuneInString(s[:i]); isWordRune(r) {
				continue
			}
		}
		j, ok := p.rest(s, i+len(head))
		if !ok {
			continue
		}
		if p.wordEnd && !p.endsWord(s, j) {
			continue
		}
		out = append(out, newCandidate(f, text, i, j, p.why, p.term))
	}
	return out
}

// rest matches the parts after the first from position j, returning where
// the match ends.
func (p *pattern) rest(s string, j int) (int, bool) {
	for _, part := range p.parts[1:] {
		j = skipSep(s, j, p.sep)
		if j < 0 || !strings.HasPrefix(s[j:], part) {
			return 0, false
		}
		j += len(part)
	}
	return j, true
}

// endsWord reports whether a word ends at s[j], allowing one plural "s".
func (p *pattern) endsWord(s string, j int) bool {
	if j >= len(s) {
		return true
	}
	r, n := utf8.DecodeRuneInString(s[j:])
	if !isWordRune(r) {
		return true
	}
	if p.plural && r == 's' {
		if j+n >= len(s) {
			return true
		}
		r, _ = utf8.DecodeRuneInString(s[j+n:])
		return !isWordRune(r)
	}
	return false
}

// skipSep skips a separator as mode allows, returning -1 when there is
// none where one is needed.
func skipSep(s string, j int, mode sepMode) int {
	k := skipSpace(s, j)
	if mode == sepSpace {
		if k == j {
			return -1
		}
		return k
	}
	if k < len(s) && s[k] == ',' {
		return skipSpace(s, k+1) // "Tanaka, Hana"
	}
	if k == j && k < len(s) {
		// Joined as in an identifier: "hana.tanaka", "hana_tanaka",
		// "hana-tanaka", "ハナ・タナカ". Not with spaces around, so that
		// "…Hana. Tanaka here" is two sentences (and "Tanaka" a hit alone).
		switch s[k] {
		case '.', '_', '-':
			return k + 1
		}
		if strings.HasPrefix(s[k:], "・") {
			return k + len("・")
		}
	}
	return k
}

func skipSpace(s string, j int) int {
	for j < len(s) {
		r, n := utf8.DecodeRuneInString(s[j:])
		if !unicode.IsSpace(r) {
			break
		}
		j += n
	}
	return j
}

// isWordRune reports whether r is part of a word in a script that separates
// words with spaces: letters, digits and marks. "Hanako" is one word, so
// "Hana" does not hit it; "Tanaka-san", "Tanaka's" and "/tanaka/" end the
// word. Letters of scripts written without spaces are not word runes, so
// "Tanakaさん" still ends the word "Tanaka".
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)) && !unspaced(r)
}

// unspaced reports whether r belongs to a script written without spaces
// between words, where a name or term is found as a substring.
func unspaced(r rune) bool {
	if r < 0x0E00 {
		return false
	}
	if r >= 0x3000 && r <= 0x303F || r == 0x30FC { // CJK symbols (々, 〆), prolonged sound mark
		return true
	}
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul,
		unicode.Bopomofo, unicode.Yi, unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar,
		unicode.Tibetan)
}
