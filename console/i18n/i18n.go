// Package i18n is the web console's message catalogue, in English and
// Japanese, and the choice between them from a request's Accept-Language
// header and the language cookie.
package i18n

import (
	"fmt"
	"sort"

	"golang.org/x/text/language"
)

// Lang is a language of the console.
type Lang string

// The console's languages.
const (
	EN Lang = "en"
	JA Lang = "ja"
)

// Default is the language when nothing else decides.
const Default = EN

// Langs lists the console's languages, in the order of the language
// switch.
func Langs() []Lang { return []Lang{EN, JA} }

// Valid reports whether l is one of the console's languages.
func (l Lang) Valid() bool { return l == EN || l == JA }

// Tag is l as a BCP 47 tag, for <html lang> and Content-Language.
func (l Lang) Tag() string {
	if !l.Valid() {
		return string(Default)
	}
	return string(l)
}

// Parse returns the language named by s ("en" or "ja"), and false for
// anything else.
func Parse(s string) (Lang, bool) {
	l := Lang(s)
	return l, l.Valid()
}

var matcher = language.NewMatcher([]language.Tag{language.English, language.Japanese})

// Negotiate picks the language of a request: the cookie's value when it
// names one of the console's languages, else the best match for the
// Accept-Language header, else English.
func Negotiate(acceptLanguage, cookie string) Lang {
	if l, ok := Parse(cookie); ok {
		return l
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return Default
	}
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return Default
	}
	return Langs()[i]
}

// T returns the message key in l, with args formatted into it as by
// fmt.Sprintf. A key missing from the catalogue gives "[key]", so that
// it shows on the page and in tests. A language other than the console's
// reads English.
func (l Lang) T(key string, args ...any) string {
	m, ok := catalogue[key]
	if !ok {
		return "[" + key + "]"
	}
	s := m.en
	if l == JA {
		s = m.ja
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// Has reports whether key is in the catalogue.
func Has(key string) bool {
	_, ok := catalogue[key]
	return ok
}

// Keys lists the catalogue's keys, sorted.
func Keys() []string {
	keys := make([]string, 0, len(catalogue))
	for k := range catalogue {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// msg is one message in both languages.
type msg struct{ en, ja string }
