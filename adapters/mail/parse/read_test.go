package parse

import (
	"bytes"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// alternative is a well-formed multipart/alternative as mail clients send
// it: quoted-printable UTF-8 text and base64 HTML.
var alternative = msg([]string{"Subject: Lunch", "MIME-Version: 1.0", `Content-Type: multipart/alternative; boundary="alt"`},
	"--alt\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: quoted-printable\n\n"+
		"Caf=C3=A9 at noon? The one with the long =\nterrace.\n\n-- \nBob\n"+
		"--alt\nContent-Type: text/html; charset=UTF-8\nContent-Transfer-Encoding: base64\n\n"+
		"PHA+Q2Fmw6kgYXQgbm9vbj88L3A+\n--alt--\n")

// TestReadPath shows which reader reads a sample's MIME tree: go-message
// for what it reads, the lenient reader when go-message fails (goErr says
// how), and what comes of it.
func TestReadPath(t *testing.T) {
	mixed := func(parts ...string) string {
		return msg([]string{"Subject: t", "MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="m"`}, strings.Join(parts, "")+"--m--\n")
	}
	tests := []struct {
		name  string
		raw   string
		path  readPath
		goErr string // part of go-message's error, when it fails
		text  string // the resulting Text, when parsing succeeds
		err   string // part of the resulting error, when it fails
	}{
		{
			name: "well-formed multipart/alternative",
			raw:  alternative,
			path: viaGoMessage,
			text: "Café at noon? The one with the long terrace.",
		},
		{
			name: "text in a charset go-message knows",
			raw:  msg([]string{"Content-Type: text/plain; charset=ISO-2022-JP"}, "\x1b$B$3$s$K$A$O\x1b(B"),
			path: viaGoMessage,
			text: "こんにちは",
		},
		{
			name: "HTML labelled only by its meta tag",
			raw:  msg([]string{"Content-Type: text/html"}, "<meta charset=\"shift_jis\"><p>\x93\xfa\x96\x7b</p>"),
			path: viaGoMessage,
			text: "日本",
		},
		{
			name:  "missing close delimiter: refused either way",
			raw:   msg([]string{`Content-Type: multipart/mixed; boundary="m"`}, "--m\nContent-Type: text/plain\n\nHello\n--m\nContent-Type: application/pdf\n\n%PDF"),
			path:  viaLenient,
			goErr: "unexpected EOF",
			err:   "never closed",
		},
		{
			name:  "close delimiter before any part",
			raw:   msg([]string{`Content-Type: multipart/mixed; boundary="m"`}, "--m--\n"),
			path:  viaLenient,
			goErr: "without parts",
			err:   "close delimiter before any part",
		},
		{
			name:  "delimiters in mixed line ends",
			raw:   "From: bob@mail.test\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n--m\nContent-Type: text/plain\n\nHello\r\n--m--\r\n",
			path:  viaLenient,
			goErr: "expecting a new Part",
			text:  "Hello",
		},
		{
			name:  "base64 without padding",
			raw:   mixed("--m\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQ\n"),
			path:  viaLenient,
			goErr: "unexpected EOF",
			text:  "hello world",
		},
		{
			name:  "base64 of two encoder runs, padding mid-way",
			raw:   mixed("--m\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8=\nIHdvcmxk\n"),
			path:  viaLenient,
			goErr: "illegal base64 data",
			text:  "hello world",
		},
		{
			name:  "base64 with foreign bytes: refused either way",
			raw:   mixed("--m\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVs*bG8=\n"),
			path:  viaLenient,
			goErr: "illegal base64 data",
			err:   "invalid base64 byte",
		},
		{
			name: "quoted-printable with raw 8-bit bytes",
			raw:  msg([]string{"Content-Type: text/plain; charset=iso-8859-1", "Content-Transfer-Encoding: quoted-printable"}, "caf\xe9 cr=E8me =ZZ\n"),
			path: viaGoMessage,
			text: "café crème =ZZ",
		},
		{
			name:  "quoted-printable line longer than go-message reads",
			raw:   msg([]string{"Content-Transfer-Encoding: quoted-printable"}, strings.Repeat("a", 5000)+"\n"),
			path:  viaLenient,
			goErr: "buffer full",
			text:  strings.Repeat("a", 5000),
		},
		{
			name:  "unknown transfer encoding: refused either way",
			raw:   msg([]string{"Content-Transfer-Encoding: x-uuencode"}, "begin 644 a\n"),
			path:  viaLenient,
			goErr: "unhandled encoding",
			err:   "x-uuencode",
		},
		{
			name:  "unknown charset",
			raw:   msg([]string{"Content-Type: text/plain; charset=x-klingon"}, "caf\xe9 ok"),
			path:  viaLenient,
			goErr: "invalid encoding name",
			text:  "caf\uFFFD ok",
		},
		{
			name:  "a Japanese charset alias go-message does not know",
			raw:   msg([]string{"Content-Type: text/plain; charset=cp932"}, "\x93\xfa\x96\x7b"),
			path:  viaLenient,
			goErr: "invalid encoding name",
			text:  "日本",
		},
		{
			name:  "ISO-8859-1 label on Windows-1252 quotes",
			raw:   msg([]string{"Content-Type: text/plain; charset=iso-8859-1"}, "\x93Quoted\x94 \x96 caf\xe9"),
			path:  viaLenient,
			goErr: "C1 control",
			text:  "“Quoted” – café",
		},
		{
			name:  "ISO-2022-JP labelled UTF-8",
			raw:   msg([]string{"Content-Type: text/plain; charset=utf-8"}, "\x1b$B$3$s$K$A$O\x1b(B"),
			path:  viaLenient,
			goErr: "ISO-2022 escape",
			text:  "こんにちは",
		},
		{
			name:  "unlabelled Shift_JIS",
			raw:   msg([]string{"Content-Type: text/plain"}, "\x93\xfa\x96\x7b\x8c\xea"),
			path:  viaLenient,
			goErr: "not valid UTF-8",
			text:  "日本語",
		},
		{
			name:  "bytes invalid in their charset",
			raw:   msg([]string{"Content-Type: text/plain; charset=utf-8"}, "ok \xff"),
			path:  viaLenient,
			goErr: "invalid in the charset",
			text:  "ok \uFFFD",
		},
		{
			// Header fields are decoded by the header decoder whichever
			// reader reads the body: a raw Shift_JIS subject takes the
			// body's charset.
			name: "non-UTF-8 header above a well-formed body",
			raw:  msg([]string{"Subject: \x93\xfa\x96\x7b", "Content-Type: text/plain; charset=shift_jis"}, "\x93\xfa\x96\x7b"),
			path: viaGoMessage,
			text: "日本",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, path, err := parseBytes([]byte(tc.raw), Options{}, 0)
			if path != tc.path {
				t.Errorf("read %v, want %v", path, tc.path)
			}
			_, _, goErr := parseBytes([]byte(tc.raw), Options{}, viaGoMessage)
			switch {
			case tc.goErr == "" && goErr != nil:
				t.Errorf("go-message failed: %v", goErr)
			case tc.goErr != "" && (goErr == nil || !strings.Contains(goErr.Error(), tc.goErr)):
				t.Errorf("go-message error %v, want one containing %q", goErr, tc.goErr)
			}
			if tc.err != "" {
				if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want ErrMalformed containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Text != tc.text {
				t.Errorf("Text = %q, want %q", m.Text, tc.text)
			}
		})
	}
}

// TestReadersAgree: for every well-formed message both readers give the
// same mail, so go-message reading first changes nothing the gateway
// shows. The samples are the fixture corpus plus messages built to touch
// every MIME feature the walker knows.
func TestReadersAgree(t *testing.T) {
	samples := map[string]string{"alternative": alternative}
	for name, raw := range corpus(t) {
		samples[name] = string(raw)
		samples[name+" (CRLF)"] = string(bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n")))
	}
	for name, mp := range map[string]struct{ ct, body string }{
		"related with start": {`multipart/related; boundary="r"; start="<root@x>"`,
			"--r\nContent-Type: image/png\nContent-ID: <img@x>\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n" +
				"--r\nContent-Type: text/html; charset=iso-8859-15\nContent-ID: <root@x>\nContent-Transfer-Encoding: quoted-printable\n\n<p>Prix: 5 =A4</p>\n--r--\n"},
		"signed": {`multipart/signed; protocol="application/pgp-signature"; boundary="s"`,
			"--s\nContent-Type: text/plain; charset=us-ascii; format=flowed\n\nSigned and \nflowed.\n--s\nContent-Type: application/pgp-signature\n\nsig\n--s--\n"},
		"encrypted": {`multipart/encrypted; protocol="application/pgp-encrypted"; boundary="e"`,
			"--e\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n--e\nContent-Type: application/octet-stream\n\nPGP\n--e--\n"},
		"digest": {`multipart/digest; boundary="d"`, "--d\n\nSubject: One\n\n1\n--d\n\nSubject: Two\n\n2\n--d--\n"},
		"report with headers": {`multipart/report; report-type=delivery-status; boundary="r"`,
			"--r\nContent-Type: text/plain\n\nFailed.\n--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.test\n\n" +
				"Final-Recipient: rfc822; a@mail.test\nAction: failed\nStatus: 5.1.1\n--r\nContent-Type: text/rfc822-headers\n\nMessage-ID: <o@x>\nTo: a@mail.test\n--r--\n"},
		"nested with epilogues": {`multipart/mixed; boundary="o"`,
			"preamble\n--o\nContent-Type: multipart/alternative; boundary=\"i\"\n\n--i\nContent-Type: text/plain; charset=koi8-r\n\n\xf0\xd2\xc9\xd7\xc5\xd4\n" +
				"--i\nContent-Type: text/html\n\n<p>hidden</p>\n--i--\ninner epilogue\n" +
				"--o\nContent-Type: text/plain; name=\"notes.txt\"\nContent-Disposition: attachment; filename*=UTF-8''%E3%83%A1%E3%83%A2.txt\n\nnotes\n--o--\nepilogue\n"},
	} {
		samples[name] = msg([]string{"Subject: t", "MIME-Version: 1.0", "Content-Type: " + mp.ct}, mp.body)
	}
	var refused []string
	for name, raw := range samples {
		gm, _, err := parseBytes([]byte(raw), trustedOpts, viaGoMessage)
		if err != nil {
			refused = append(refused, name) // the lenient reader alone reads it
			continue
		}
		lm, _, err := parseBytes([]byte(raw), trustedOpts, viaLenient)
		if err != nil {
			t.Errorf("%s: go-message reads it, the lenient reader fails: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(gm, lm) {
			t.Errorf("%s: the readers disagree:\ngo-message %+v\nlenient    %+v", name, gm, lm)
		}
	}
	sort.Strings(refused)
	want := []string{"malformed.eml", "malformed.eml (CRLF)", "malformed_header.eml", "malformed_header.eml (CRLF)",
		"malformed_unclosed.eml", "malformed_unclosed.eml (CRLF)", "unknown_charset.eml", "unknown_charset.eml (CRLF)"}
	if !reflect.DeepEqual(refused, want) {
		t.Errorf("go-message refused %q\nwant %q", refused, want)
	}
}
