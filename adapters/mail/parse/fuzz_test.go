package parse

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func corpus(tb testing.TB) map[string][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no corpus: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// FuzzParse checks that no input panics and that every accepted mail
// yields text the gateway can put into XMPP as it is.
func FuzzParse(f *testing.F) {
	for _, b := range corpus(f) {
		f.Add(b)
	}
	f.Add([]byte("From: a@b\n\n"))
	f.Add([]byte("From: a@b\nContent-Type: multipart/alternative; boundary=x\n\n--x\nContent-Type: text/html\n\n<blockquote>q</blockquote>\n--x--\n"))
	f.Add([]byte("From: =?ISO-2022-JP?B?GyRC?= <a@b>\nSubject: =?UTF-8?B?5pc=?=\nContent-Type: text/plain; charset=iso-2022-jp\n\n\x1b$B\x1b(B\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		o := Options{TrustedAuthServIDs: []string{"mx.contact.acme.test"}, MaxBytes: 1 << 20}
		m, err := Parse(bytes.NewReader(data), o)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if m != nil {
				t.Fatal("mail returned with an error")
			}
			return
		}
		texts := []string{m.Text, m.FullText, m.Subject, m.From.Name, m.From.Addr, m.MessageID, m.DMARC, m.Automatic}
		for _, a := range m.Attachments {
			texts = append(texts, a.Name)
		}
		if m.Bounce != nil {
			for _, r := range m.Bounce.Recipients {
				texts = append(texts, r.Addr, r.Diagnostic)
			}
		}
		for _, s := range texts {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8: %q", s)
			}
			if strings.ContainsAny(s, "\r\x00\x1b") {
				t.Fatalf("control character left in %q", s)
			}
		}
		if m.From.Addr == "" {
			t.Fatal("accepted a mail without From address")
		}
		if (m.Text == "") != (m.FullText == "") {
			t.Fatalf("Text %q vs FullText %q", m.Text, m.FullText)
		}
	})
}

// FuzzStripQuote checks the never-empty promise of both strippers.
func FuzzStripQuote(f *testing.F) {
	f.Add("Yes.\n\nOn Fri, Hana wrote:\n> q\n")
	f.Add("a\n-- \nb\n")
	f.Add("2026年11月21日(土) 10:00 鈴木 <\nh@x>:\n> q\n")
	f.Add("From: a\nSent: b\nTo: c\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, strip := range []func(string) (string, bool){StripQuote, StripSignature} {
			kept, removed := strip(s)
			if strings.TrimSpace(cleanText(s)) != "" && strings.TrimSpace(kept) == "" {
				t.Fatalf("%q stripped to nothing", s)
			}
			if !removed && kept != cleanText(s) {
				t.Fatalf("not removed but changed: %q -> %q", s, kept)
			}
		}
	})
}

// FuzzHTMLToText checks that rendering never panics and yields valid text.
func FuzzHTMLToText(f *testing.F) {
	f.Add("<p>a<br>b</p><ul><li>x</ul><table><tr><td>1<td>2</table><a href=x>y</a>")
	f.Add("<blockquote><pre>\n a</pre></blockquote><ol start=99999999999><li>z")
	f.Fuzz(func(t *testing.T, s string) {
		out, err := HTMLToText(strings.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.ValidString(out) || strings.ContainsRune(out, '\r') {
			t.Fatalf("bad output %q", out)
		}
	})
}

// BenchmarkParse parses every fixture of the corpus once per iteration.
func BenchmarkParse(b *testing.B) {
	c := corpus(b)
	var total int64
	for _, m := range c {
		total += int64(len(m))
	}
	b.SetBytes(total)
	b.ReportAllocs()
	o := Options{TrustedAuthServIDs: []string{"mx.contact.acme.test"}}
	for b.Loop() {
		for _, m := range c {
			_, _ = Parse(bytes.NewReader(m), o)
		}
	}
}
