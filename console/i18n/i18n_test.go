package i18n

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// verbs returns the verb used for each argument of the fmt format s,
// by argument number (1-based), following explicit indexes like %[2]s.
func verbs(t *testing.T, key, s string) map[int]byte {
	t.Helper()
	got := map[int]byte{}
	arg := 1
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		i++
		if i < len(s) && s[i] == '%' {
			continue
		}
		for i < len(s) && strings.IndexByte("+-# 0", s[i]) >= 0 {
			i++
		}
		if i < len(s) && s[i] == '[' {
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				t.Fatalf("%s: unclosed index in %q", key, s)
			}
			n, err := strconv.Atoi(s[i+1 : i+j])
			if err != nil || n < 1 {
				t.Fatalf("%s: bad index in %q", key, s)
			}
			arg = n
			i += j + 1
		}
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i >= len(s) {
			t.Fatalf("%s: %q ends inside a verb", key, s)
		}
		if strings.IndexByte("vdsqfgxt", s[i]) < 0 {
			t.Fatalf("%s: unexpected verb %%%c in %q", key, s[i], s)
		}
		got[arg] = s[i]
		arg++
	}
	return got
}

func TestEveryKeyHasBothLanguages(t *testing.T) {
	if len(Keys()) < 150 {
		t.Fatalf("only %d keys", len(Keys()))
	}
	for _, k := range Keys() {
		m := catalogue[k]
		if strings.TrimSpace(m.en) == "" || strings.TrimSpace(m.ja) == "" {
			t.Errorf("%s: en %q, ja %q", k, m.en, m.ja)
		}
		if !utf8.ValidString(m.en) || !utf8.ValidString(m.ja) {
			t.Errorf("%s: not UTF-8", k)
		}
		if strings.TrimSpace(m.en) != m.en || strings.TrimSpace(m.ja) != m.ja {
			t.Errorf("%s: surrounding space", k)
		}
	}
}

func TestPlaceholdersMatch(t *testing.T) {
	for _, k := range Keys() {
		m := catalogue[k]
		en, ja := verbs(t, k, m.en), verbs(t, k, m.ja)
		if !reflect.DeepEqual(en, ja) {
			t.Errorf("%s: en uses %v, ja uses %v", k, en, ja)
		}
		for n := 1; n <= len(en); n++ {
			if _, ok := en[n]; !ok {
				t.Errorf("%s: argument %d unused in %q", k, n, m.en)
			}
		}
		if len(en) == 0 && (strings.Contains(m.en, "%") || strings.Contains(m.ja, "%")) {
			t.Errorf("%s: a message without arguments has a percent sign", k)
		}
		// Formatting with as many arguments as it takes leaves no
		// %!verb(...) mistakes.
		args := make([]any, len(en))
		for n, v := range en {
			if v == 'd' {
				args[n-1] = 7
			} else {
				args[n-1] = "X"
			}
		}
		for _, l := range Langs() {
			if s := l.T(k, args...); len(args) > 0 && strings.Contains(s, "%!") {
				t.Errorf("%s (%s): %q", k, l, s)
			}
		}
	}
}

func TestT(t *testing.T) {
	if got := EN.T("nav.overview"); got != "Overview" {
		t.Errorf("en: %q", got)
	}
	if got := JA.T("nav.overview"); got != "概要" {
		t.Errorf("ja: %q", got)
	}
	if got := JA.T("contacts.transfer.preview", 3, "佐藤", JA.T("common.yes")); got != "佐藤に3件の顧客を引き継ぎます（顧客への通知: あり）" {
		t.Errorf("ja preview: %q", got)
	}
	if got := EN.T("contacts.transfer.preview", 3, "Sato", EN.T("common.no")); got != "3 contacts to Sato, notified: no" {
		t.Errorf("en preview: %q", got)
	}
	if got := EN.T("overview.reply_rate.value", 3, 4, 75); got != "3 of 4 conversations answered (75%)" {
		t.Errorf("percent: %q", got)
	}
	if got := Lang("fr").T("nav.overview"); got != "Overview" {
		t.Errorf("unknown language: %q", got)
	}
}

// TestUnknownKey: a key missing from the catalogue shows as [key], which
// a page test can look for.
func TestUnknownKey(t *testing.T) {
	for _, l := range Langs() {
		if got := l.T("nav.nonexistent", 1); got != "[nav.nonexistent]" {
			t.Errorf("%s: %q", l, got)
		}
	}
	if Has("nav.nonexistent") || !Has("nav.overview") {
		t.Error("Has")
	}
}

func TestKeysSortedAndNamespaced(t *testing.T) {
	keys := Keys()
	for i, k := range keys {
		if i > 0 && keys[i-1] >= k {
			t.Errorf("not sorted at %q", k)
		}
		if !strings.Contains(k, ".") || strings.ToLower(k) != k || strings.ContainsAny(k, " \t") {
			t.Errorf("key %q is not lower-case dotted", k)
		}
	}
	for _, k := range []string{"nav.overview", "login.title", "contacts.transfer.preview", "error.csrf", "lang.switch"} {
		if !Has(k) {
			t.Errorf("missing %s", k)
		}
	}
}

func TestNegotiate(t *testing.T) {
	for _, tt := range []struct {
		accept, cookie string
		want           Lang
	}{
		{"ja-JP", "", JA},
		{"ja", "", JA},
		{"ja;q=0.9,en;q=0.8", "", JA},
		{"en;q=0.8,ja;q=0.9", "", JA},
		{"ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7", "", JA},
		{"en-US", "", EN},
		{"en-GB,en;q=0.9", "", EN},
		{"fr", "", EN},
		{"fr-FR,ja;q=0.5", "", JA},
		{"", "", EN},
		{"*", "", EN},
		{"garbage;;;q=abc,,", "", EN},
		{"\x00\xff", "", EN},
		{strings.Repeat("x", 5000), "", EN},
		{"ja-JP", "en", EN},
		{"en-US", "ja", JA},
		{"", "ja", JA},
		{"ja", "fr", JA},
		{"en", "JA", EN},
		{"ja", "", JA},
	} {
		if got := Negotiate(tt.accept, tt.cookie); got != tt.want {
			t.Errorf("Negotiate(%q, %q) = %q, want %q", tt.accept, tt.cookie, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, l := range Langs() {
		if got, ok := Parse(string(l)); !ok || got != l {
			t.Errorf("Parse(%q)", l)
		}
		if l.Tag() != string(l) {
			t.Errorf("Tag %q", l)
		}
		if !Has("lang." + string(l)) {
			t.Errorf("no name for %s in the language switch", l)
		}
	}
	if _, ok := Parse("de"); ok {
		t.Error("de")
	}
	if Lang("de").Tag() != "en" {
		t.Error("Tag of an unknown language")
	}
}

func ExampleLang_T() {
	l := Negotiate("ja,en;q=0.8", "")
	fmt.Println(l.T("nav.contacts"), l.T("contacts.selected", 12))
	// Output: 顧客 12件選択中
}
