package guard

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

func TestFoldString(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Hana TANAKA", "hana tanaka"},
		{"ＨＡＮＡ", "hana"},                         // full-width
		{"Tánaka Ta\u0301naka", "tanaka tanaka"}, // precomposed and combining accents
		{"Straße", "strasse"},                    // full case folding
		{"İstanbul", "istanbul"},                 // dotted capital I
		{"Nguyễn", "nguyen"},                     // stacked diacritics
		{"ﾊﾅ ｶﾞ ﾊﾟ", "ハナ ガ パ"},                   // half-width kana, voicing marks composed
		{"バナナ", "バナナ"},                           // voicing marks kept: not diacritics
		{"㍻", "平成"},                              // one segment, two runes
		{"soft\u00adhy\u200bphen", "softhyphen"}, // format characters dropped
		{"葛\U000E0100", "葛"},                     // ideographic variation selector dropped
		{"Ωμέγα ΣΊΣΥΦΟΣ", "ωμεγα σισυφοσ"},       // Greek, with final sigma folded alike
		{"Йошкар", "иошкар"},                     // Cyrillic breve is a diacritic here
		{"a\xffb", "a\uFFFDb"},                   // invalid bytes become U+FFFD
		{"\u0301x", "x"},                         // a mark with nothing to sit on
		{"", ""},
	} {
		if got := foldString(tt.in); got != tt.want {
			t.Errorf("foldString(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// foldText and foldString agree, and the offset map covers whole segments
// of the original, in order.
func TestFoldTextMap(t *testing.T) {
	for _, text := range []string{
		"plain ASCII Text",
		"ＨＡＮＡ　ＴＡＮＡＫＡ",
		"Ta\u0301naka ㍻ ﾊﾟ\xff\xfe end",
		"\u0301\u0301abc",
		strings.Repeat("a\u0301", 40) + strings.Repeat("\u0302", 50),
	} {
		f := foldText(text)
		if f.s != foldString(text) {
			t.Errorf("foldText(%q) = %q; foldString = %q", text, f.s, foldString(text))
		}
		if !utf8.ValidString(f.s) {
			t.Errorf("foldText(%q) is not valid UTF-8", text)
		}
		prevStart := 0
		for i := 0; i < len(f.s); i++ {
			s, e := f.orig(i, i+1)
			if s < prevStart || s >= e || e > len(text) {
				t.Fatalf("foldText(%q): byte %d maps to [%d,%d)", text, i, s, e)
			}
			prevStart = s
		}
	}
	f := foldText("x㍻y")
	i := strings.Index(f.s, "成")
	if s, e := f.orig(i, i+len("成")); s != 1 || e != 1+len("㍻") {
		t.Errorf("成 inside ㍻ maps to [%d,%d); want the whole ㍻ [1,4)", s, e)
	}
}

func TestUnspaced(t *testing.T) {
	for r, want := range map[rune]bool{
		'a': false, 'é': false, 'Ж': false, '1': false,
		'田': true, 'は': true, 'ハ': true, 'ー': true, '々': true, '한': true, 'ก': true,
	} {
		if got := unspaced(r); got != want {
			t.Errorf("unspaced(%q) = %v", r, got)
		}
	}
}

// Every plainCJK rune folds to itself by the full pipeline and is a
// segment of its own before another plainCJK rune or ASCII, as the fast
// path in foldText assumes.
func TestPlainCJK(t *testing.T) {
	fold := cases.Fold()
	n := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !plainCJK(r) {
			continue
		}
		n++
		s := string(r)
		if got := string(foldSegment(nil, s, fold)); got != s {
			t.Fatalf("%U folds to %q", r, got)
		}
		if got := norm.NFKC.String(fold.String(norm.NFKD.String(s))); got != s {
			t.Fatalf("%U: NFKC(fold(NFKD)) = %q", r, got)
		}
		for _, next := range []string{"a", "あ", "ア", "一", "ー", "」"} {
			if b := norm.NFKC.NextBoundaryInString(s+next, true); b != len(s) {
				t.Fatalf("no segment boundary between %U and %q", r, next)
			}
		}
	}
	if n < 20000 {
		t.Fatalf("only %d plainCJK runes", n)
	}
}
