package parse

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// msg builds a mail from header lines and a body, with CRLF line ends.
func msg(headers []string, body string) string {
	h := strings.Join(append([]string{"From: Bob <bob@mail.test>", "To: hana@contact.acme.test"}, headers...), "\n")
	return strings.ReplaceAll(h+"\n\n"+body, "\n", "\r\n")
}

func mustParse(t *testing.T, raw string, o Options) *Mail {
	t.Helper()
	m, err := Parse(strings.NewReader(raw), o)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func TestBodyChoice(t *testing.T) {
	tests := []struct {
		name     string
		headers  []string
		body     string
		text     string
		fromHTML bool
		atts     []Attachment
	}{
		{
			name:    "single part without Content-Type",
			headers: nil,
			body:    "Hello.",
			text:    "Hello.",
		},
		{
			name:    "alternative prefers plain even when html comes first",
			headers: []string{`Content-Type: multipart/alternative; boundary="b"`},
			body:    "--b\nContent-Type: text/html\n\n<p>HTML</p>\n--b\nContent-Type: text/plain\n\nPlain\n--b--\n",
			text:    "Plain",
		},
		{
			name:    "html inside related inside alternative, inline image",
			headers: []string{`Content-Type: multipart/alternative; boundary="a"`},
			body: "--a\nContent-Type: multipart/related; boundary=\"r\"\n\n" +
				"--r\nContent-Type: text/html; charset=utf-8\n\n<p>Look <img src=\"cid:img1\"></p>\n" +
				"--r\nContent-Type: image/png\nContent-ID: <img1>\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n--r--\n" +
				"--a--\n",
			text:     "Look [image: image.png]",
			fromHTML: true,
			atts:     []Attachment{{Name: "image.png", ContentType: "image/png", Size: 5, ContentID: "img1", Inline: true}},
		},
		{
			name:    "related root chosen by start parameter",
			headers: []string{`Content-Type: multipart/related; boundary="r"; start="<root@x>"; type="text/html"`},
			body: "--r\nContent-Type: text/css\nContent-ID: <css@x>\n\np{}\n" +
				"--r\nContent-Type: text/html\nContent-ID: <root@x>\n\n<p>Root</p>\n--r--\n",
			text:     "Root",
			fromHTML: true,
			atts:     []Attachment{{Name: "text.css", ContentType: "text/css", Size: 3, ContentID: "css@x"}},
		},
		{
			name:    "plain alternative with images of the html alternative",
			headers: []string{`Content-Type: multipart/alternative; boundary="a"`},
			body: "--a\nContent-Type: text/plain\n\nPlain [image]\n" +
				"--a\nContent-Type: multipart/related; boundary=\"r\"\n\n" +
				"--r\nContent-Type: text/html\n\n<p>HTML</p>\n" +
				"--r\nContent-Type: image/jpeg; name=\"photo.jpg\"\n\nxyz\n--r--\n--a--\n",
			text: "Plain [image]",
			atts: []Attachment{{Name: "photo.jpg", ContentType: "image/jpeg", Size: 3}},
		},
		{
			name:    "signed takes the signed content, the signature is kept as a file",
			headers: []string{`Content-Type: multipart/signed; protocol="application/pgp-signature"; micalg=pgp-sha256; boundary="s"`},
			body: "--s\nContent-Type: text/plain\n\nSigned words.\n" +
				"--s\nContent-Type: application/pgp-signature; name=\"signature.asc\"\n\n-----BEGIN PGP SIGNATURE-----\n--s--\n",
			text: "Signed words.",
			atts: []Attachment{{Name: "signature.asc", ContentType: "application/pgp-signature", Size: 29}},
		},
		{
			name:    "encrypted payload is an attachment",
			headers: []string{`Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="e"`},
			body: "--e\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n" +
				"--e\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\n\n-----BEGIN PGP MESSAGE-----\n--e--\n",
			text: "",
			atts: []Attachment{
				{Name: "attachment.asc", ContentType: "application/pgp-encrypted", Size: 10},
				{Name: "encrypted.asc", ContentType: "application/octet-stream", Size: 27},
			},
		},
		{
			name:    "apple mail splits text around an image",
			headers: []string{`Content-Type: multipart/mixed; boundary="m"`},
			body: "--m\nContent-Type: text/plain\n\nBefore the photo.\n" +
				"--m\nContent-Type: image/jpeg; name=\"IMG_0001.jpeg\"\nContent-Disposition: inline; filename=\"IMG_0001.jpeg\"\nContent-Transfer-Encoding: base64\n\n/9j/\n" +
				"--m\nContent-Type: text/plain\n\nAfter the photo.\n--m--\n",
			text: "Before the photo.\n\nAfter the photo.",
			atts: []Attachment{{Name: "IMG_0001.jpeg", ContentType: "image/jpeg", Size: 3}},
		},
		{
			name:    "text attachments stay attachments",
			headers: []string{`Content-Type: multipart/mixed; boundary="m"`},
			body: "--m\nContent-Type: text/plain\n\nSee attached.\n" +
				"--m\nContent-Type: text/plain; name=\"notes.txt\"\n\nnotes\n" +
				"--m\nContent-Type: text/html\nContent-Disposition: attachment\n\n<p>page</p>\n--m--\n",
			text: "See attached.",
			atts: []Attachment{
				{Name: "notes.txt", ContentType: "text/plain", Size: 5},
				{Name: "text.html", ContentType: "text/html", Size: 11},
			},
		},
		{
			name:    "forwarded message is an attachment named by its subject",
			headers: []string{`Content-Type: multipart/mixed; boundary="m"`},
			body: "--m\nContent-Type: text/plain\n\nFYI\n" +
				"--m\nContent-Type: message/rfc822\n\nFrom: x@y\nSubject: =?UTF-8?Q?Caf=C3=A9/menu?=\n\nbody\n" +
				"--m\nContent-Type: message/rfc822\n\nFrom: x@y\n\nno subject\n--m--\n",
			text: "FYI",
			atts: []Attachment{
				{Name: "menu.eml", ContentType: "message/rfc822", Size: 54},
				{Name: "message.eml", ContentType: "message/rfc822", Size: 23},
			},
		},
		{
			name:    "digest parts default to message/rfc822",
			headers: []string{`Content-Type: multipart/digest; boundary="d"`},
			body:    "--d\n\nSubject: One\n\n1\n--d\n\nSubject: Two\n\n2\n--d--\n",
			text:    "",
			atts: []Attachment{
				{Name: "One.eml", ContentType: "message/rfc822", Size: 17},
				{Name: "Two.eml", ContentType: "message/rfc822", Size: 17},
			},
		},
		{
			name:    "top-level attachment only",
			headers: []string{`Content-Type: application/pdf; name="scan.pdf"`, "Content-Transfer-Encoding: base64"},
			body:    "JVBERi0=\n",
			text:    "",
			atts:    []Attachment{{Name: "scan.pdf", ContentType: "application/pdf", Size: 5}},
		},
		{
			name:    "path in file name is dropped",
			headers: []string{`Content-Type: multipart/mixed; boundary="m"`},
			body: "--m\nContent-Type: text/plain\n\nx\n" +
				"--m\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"C:\\Users\\bob\\..\\evil.exe\"\n\nMZ\n" +
				"--m\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"../\"\n\nMZ\n--m--\n",
			text: "x",
			atts: []Attachment{
				{Name: "evil.exe", ContentType: "application/octet-stream", Size: 2},
				{Name: "attachment.bin", ContentType: "application/octet-stream", Size: 2},
			},
		},
		{
			name:    "preamble, epilogue, LWSP after boundaries and a longer look-alike boundary",
			headers: []string{`Content-Type: multipart/mixed; boundary=abc`},
			body:    "preamble --abc\n--abcdef\n--abc  \nContent-Type: text/plain\n\nin --abc\n--abcX not a delimiter\n--abc--  \nepilogue\n",
			text:    "in --abc\n--abcX not a delimiter",
		},
		{
			name:     "html with meta charset and no charset parameter",
			headers:  []string{"Content-Type: text/html"},
			body:     "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=shift_jis\"></head><body>\x93\xfa\x96\x7b</body></html>",
			text:     "日本",
			fromHTML: true,
		},
		{
			name:    "format=flowed delsp=yes",
			headers: []string{"Content-Type: text/plain; charset=utf-8; format=flowed; delsp=yes"},
			body:    "日本語の長い文 \n章です。\n",
			text:    "日本語の長い文章です。",
		},
		{
			name:    "quoted-printable soft breaks, literal = and padding",
			headers: []string{"Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable"},
			body:    "caf=C3=A9 lo=\nng line   \n1+1=2 =ZZ=\n",
			text:    "café long line\n1+1=2 =ZZ",
		},
		{
			name:    "control characters removed, CR-only line ends",
			headers: []string{"Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64"},
			body:    "YQBiDWMbZAllwoVm77u/\n", // "a\x00b\rc\x1bd\te\u0085f\ufeff"
			text:    "ab\ncd\te" + "f",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mustParse(t, msg(append([]string{"Subject: t", "MIME-Version: 1.0"}, tc.headers...), tc.body), Options{})
			if m.Text != tc.text || m.FromHTML != tc.fromHTML {
				t.Errorf("Text, FromHTML = %q, %v; want %q, %v", m.Text, m.FromHTML, tc.text, tc.fromHTML)
			}
			if got := withoutData(t, m.Attachments, tc.atts); !reflect.DeepEqual(got, tc.atts) {
				t.Errorf("Attachments = %+v\nwant %+v", got, tc.atts)
			}
		})
	}
}

// withoutData is got with each Data left out where want (same index)
// gives none, once it is checked to be Size bytes long: tables list
// names and types, and give the bytes only where they are the point.
func withoutData(t *testing.T, got, want []Attachment) []Attachment {
	t.Helper()
	if got == nil {
		return nil
	}
	out := append([]Attachment(nil), got...)
	for i := range out {
		if int64(len(out[i].Data)) != out[i].Size {
			t.Errorf("attachment %d (%s): %d bytes of Data, Size %d", i, out[i].Name, len(out[i].Data), out[i].Size)
		}
		if i >= len(want) || want[i].Data == nil {
			out[i].Data = nil
		}
	}
	return out
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		opts Options
		is   error
		text string
	}{
		{"empty input", "", Options{}, ErrMalformed, "empty header section"},
		{"body only", "\r\nJust a body.", Options{}, ErrMalformed, "empty header section"},
		{"no From", "To: hana@x.test\r\nSubject: hi\r\n\r\nbody", Options{}, ErrMalformed, "no From"},
		{"From without address", "From: Bob Tanaka\r\n\r\nbody", Options{}, ErrMalformed, "unparseable From"},
		{"header starting with a space", " From: bob@x.test\r\n\r\nbody", Options{}, ErrMalformed, "header section"},
		{"binary header key", "Fr\x00om: bob@x.test\r\n\r\nbody", Options{}, ErrMalformed, "header section"},
		{"unknown transfer encoding", msg([]string{"Content-Transfer-Encoding: x-uuencode"}, "begin 644 a\n"), Options{}, ErrMalformed, "x-uuencode"},
		{"invalid base64", msg([]string{"Content-Transfer-Encoding: base64"}, "aGVs*bG8=\n"), Options{}, ErrMalformed, "invalid base64"},
		{"truncated base64", msg([]string{"Content-Transfer-Encoding: base64"}, "aGVsb\n"), Options{}, ErrMalformed, "truncated base64"},
		{"broken part header", msg([]string{`Content-Type: multipart/mixed; boundary="b"`}, "--b\nnot a header\n\nx\n--b--\n"), Options{}, ErrMalformed, "part header"},
		{"no delimiter at all", msg([]string{`Content-Type: multipart/mixed; boundary="b"`}, "nothing here\n"), Options{}, ErrMalformed, "never appears"},
		{"empty boundary", msg([]string{`Content-Type: multipart/mixed; boundary=""`}, "--\n"), Options{}, ErrMalformed, "without boundary"},
		{"too large", msg(nil, strings.Repeat("x", 200)), Options{MaxBytes: 100}, ErrTooLarge, "more than 100 bytes"},
		{
			"too deep",
			msg([]string{`Content-Type: multipart/mixed; boundary="b0"`}, nested(40)),
			Options{}, ErrMalformed, "nesting deeper",
		},
		{
			"too many parts",
			msg([]string{`Content-Type: multipart/mixed; boundary="b"`}, strings.Repeat("--b\n\nx\n", 2500)+"--b--\n"),
			Options{}, ErrMalformed, "more than 2000",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(strings.NewReader(tc.raw), tc.opts)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.is, tc.text)
			}
			if m != nil {
				t.Errorf("mail = %+v, want nil", m)
			}
		})
	}
}

func nested(depth int) string {
	var b strings.Builder
	for i := 0; i < depth; i++ {
		b.WriteString("--b" + itoa(i) + "\nContent-Type: multipart/mixed; boundary=\"b" + itoa(i+1) + "\"\n\n")
	}
	b.WriteString("--b" + itoa(depth) + "\n\nleaf\n--b" + itoa(depth) + "--\n")
	for i := depth - 1; i >= 0; i-- {
		b.WriteString("--b" + itoa(i) + "--\n")
	}
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestSizeLimit(t *testing.T) {
	raw := msg(nil, "body")
	if _, err := Parse(strings.NewReader(raw), Options{MaxBytes: int64(len(raw))}); err != nil {
		t.Errorf("exactly at the limit: %v", err)
	}
	if _, err := Parse(strings.NewReader(raw), Options{MaxBytes: int64(len(raw) - 1)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("one byte over: %v", err)
	}
	// The default limit reads no more than 25 MiB + 1 byte.
	r := &countingReader{r: io.LimitReader(zeroReader{}, 30<<20)}
	if _, err := Parse(r, Options{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("30 MiB: %v", err)
	}
	if r.n != DefaultMaxBytes+1 {
		t.Errorf("read %d bytes, want %d", r.n, DefaultMaxBytes+1)
	}

	// Bytes applies the same limit to a mail already in memory.
	if _, err := Bytes([]byte(raw), Options{MaxBytes: int64(len(raw))}); err != nil {
		t.Errorf("Bytes, exactly at the limit: %v", err)
	}
	if _, err := Bytes([]byte(raw), Options{MaxBytes: int64(len(raw) - 1)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Bytes, one byte over: %v", err)
	}
	if _, err := Bytes(make([]byte, DefaultMaxBytes+1), Options{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Bytes, over the default limit: %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Parse(io.MultiReader(strings.NewReader("From: a@b\r\n"), iotest.ErrReader(boom)), Options{})
	if !errors.Is(err, boom) || errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want the read error", err)
	}
}

func TestHeaders(t *testing.T) {
	raw := "From bob@mail.test Sat Nov 21 10:00:00 2026\n" + // mbox separator
		"Return-Path: <>\n" +
		"Delivered-To: Hana@Contact.Acme.Test\n" +
		"X-Original-To: alias@contact.acme.test\n" +
		"Return-Path: <bob@mail.test>\n" +
		"Delivered-To: relay@contact.acme.test\n" +
		"From: Bob <bob@mail.test>, Carol <carol@mail.test>\n" +
		"Reply-To: =?UTF-8?Q?Bob_=E2=9C=93?= <reply@mail.test>, not an address\n" +
		"Subject: =?UTF-8?B?44GC?=\n =?UTF-8?B?44GE?=\t and\n\tmore   spaces\n" +
		"Date: Sat, 21 Nov 2026 10:00:00 +0900 (JST)\n" +
		"Message-ID: bare-id@mail.test\n" +
		"In-Reply-To: <first@x> <second@x>\n" +
		"\n" +
		"Body"
	m := mustParse(t, raw, Options{})
	if m.From != (Address{"Bob", "bob@mail.test"}) {
		t.Errorf("From = %+v", m.From)
	}
	if want := []Address{{"Bob ✓", "reply@mail.test"}}; !reflect.DeepEqual(m.ReplyTo, want) {
		t.Errorf("ReplyTo = %+v, want %+v", m.ReplyTo, want)
	}
	if want := []string{"hana@contact.acme.test", "relay@contact.acme.test", "alias@contact.acme.test"}; !reflect.DeepEqual(m.DeliveredTo, want) {
		t.Errorf("DeliveredTo = %q, want %q", m.DeliveredTo, want)
	}
	if !m.NullSender || m.ReturnPath != "" {
		t.Errorf("NullSender, ReturnPath = %v, %q; the topmost Return-Path is <>", m.NullSender, m.ReturnPath)
	}
	if m.Subject != "あい and more spaces" {
		t.Errorf("Subject = %q", m.Subject)
	}
	if m.Date.IsZero() || m.Date.Hour() != 10 {
		t.Errorf("Date = %v", m.Date)
	}
	if m.MessageID != "bare-id@mail.test" || m.InReplyTo != "first@x" || m.References != nil {
		t.Errorf("ids = %q %q %q", m.MessageID, m.InReplyTo, m.References)
	}
	if m.Automatic != "Return-Path: <>" {
		t.Errorf("Automatic = %q", m.Automatic)
	}

	m = mustParse(t, msg([]string{"Date: yesterday-ish", "From : spaced@mail.test"}, "x"), Options{})
	if !m.Date.IsZero() {
		t.Errorf("unparseable Date = %v, want zero", m.Date)
	}
}

func TestAutomatic(t *testing.T) {
	tests := []struct {
		headers []string
		want    string
	}{
		{nil, ""},
		{[]string{"Auto-Submitted: no"}, ""},
		{[]string{"Auto-Submitted: auto-generated (daily report)"}, "Auto-Submitted: auto-generated"},
		{[]string{"Auto-Submitted: Auto-Replied; owner-email=\"x@y\""}, "Auto-Submitted: auto-replied"},
		{[]string{"X-Autoreply: yes"}, "X-Autoreply: yes"},
		{[]string{"X-Autorespond: Vacation"}, "X-Autorespond: Vacation"},
		{[]string{"Precedence: list"}, "Precedence: list"},
		{[]string{"Precedence: JUNK"}, "Precedence: junk"},
		{[]string{"Precedence: first-class"}, ""},
		{[]string{"List-Unsubscribe: <mailto:leave@x>"}, "mailing list"},
		{[]string{"List-Id: <news.x>", "Auto-Submitted: auto-generated"}, "Auto-Submitted: auto-generated"},
		{
			[]string{`Content-Type: multipart/report; report-type=disposition-notification; boundary="r"`},
			"report: disposition-notification",
		},
	}
	for _, tc := range tests {
		body := "x"
		if len(tc.headers) > 0 && strings.Contains(tc.headers[0], "multipart/report") {
			body = "--r\nContent-Type: text/plain\n\nRead.\n--r\nContent-Type: message/disposition-notification\n\nDisposition: manual-action/MDN-sent-manually; displayed\n--r--\n"
		}
		m := mustParse(t, msg(tc.headers, body), Options{})
		if m.Automatic != tc.want {
			t.Errorf("%q: Automatic = %q, want %q", tc.headers, m.Automatic, tc.want)
		}
	}
}

func TestBounceFromPersonIsNotABounce(t *testing.T) {
	// A person forwarding a delivery report is not a bounce: only the
	// report structure or a null-sender daemon makes one.
	m := mustParse(t, msg([]string{`Content-Type: multipart/mixed; boundary="m"`},
		"--m\nContent-Type: text/plain\n\nWhat does this mean?\n--m\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; x@y\nAction: failed\n--m--\n"), Options{})
	if m.Bounce != nil {
		t.Errorf("Bounce = %+v, want nil", m.Bounce)
	}
}

func TestDMARCFromDomain(t *testing.T) {
	raw := msg([]string{"Authentication-Results: mx.contact.acme.test; dmarc=fail header.from=other.test",
		"Authentication-Results: mx.contact.acme.test; dmarc=quarantine header.from=mail.test"}, "x")
	m := mustParse(t, raw, trustedOpts)
	if m.DMARC != "quarantine" {
		t.Errorf("DMARC = %q: the result about another domain must be skipped", m.DMARC)
	}
}

func TestTextNeverEmpty(t *testing.T) {
	m := mustParse(t, msg(nil, "On Fri, Hana wrote:\n> Only a quote.\n"), Options{})
	if m.Text == "" || m.QuoteRemoved {
		t.Errorf("Text = %q, QuoteRemoved = %v", m.Text, m.QuoteRemoved)
	}
	m = mustParse(t, msg(nil, "-- \nBob\n"), Options{})
	if m.Text != "--\nBob" || m.SignatureRemoved {
		t.Errorf("Text = %q, SignatureRemoved = %v", m.Text, m.SignatureRemoved)
	}
}

func TestParseDoesNotRetainInput(t *testing.T) {
	raw := []byte(msg([]string{"Subject: keep"}, "body text"))
	m, err := Parse(bytes.NewReader(raw), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		raw[i] = 'X'
	}
	if m.Subject != "keep" || m.Text != "body text" {
		t.Errorf("result changed with the input buffer: %q %q", m.Subject, m.Text)
	}
}

// TestHostileInputsLinear feeds inputs built to trigger quadratic
// behaviour; each must finish quickly.
func TestHostileInputsLinear(t *testing.T) {
	const n = 1 << 20
	tests := map[string]string{
		"encoded-word openers": msg([]string{"Subject: " + strings.Repeat("=?a?q?xx", n/8)}, "x"),
		"group colons":         "From: @" + strings.Repeat(":", n) + "\r\n\r\nx",
		"A-R spaces":           msg([]string{"Authentication-Results: mx.contact.acme.test; dmarc" + strings.Repeat(" ", n) + "x"}, "x"),
		"DSN continuations": msg([]string{`Content-Type: multipart/report; report-type=delivery-status; boundary="r"`},
			"--r\n\nx\n--r\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@b\nDiagnostic-Code: smtp; x\n"+
				strings.Repeat(" y\n", n/3)+"--r--\n"),
		"quote lines":  msg(nil, "Hi\n"+strings.Repeat("> q\n\nOn x wrote:\n", n/16)),
		"html nesting": msg([]string{"Content-Type: text/html"}, strings.Repeat("<a href=x><li><blockquote><td>", n/32)),
		"params":       msg([]string{"Content-Type: text/plain; " + strings.Repeat("name*1*=%41;", n/12)}, "x"),
		"boundary lookalike": msg([]string{`Content-Type: multipart/mixed; boundary="b"`},
			strings.Repeat("--bx\n", n/5)+"--b\n\nx\n--b--\n"),
		"qp equals":        msg([]string{"Content-Transfer-Encoding: quoted-printable"}, strings.Repeat("= ", n/2)),
		"comment nesting":  msg([]string{"Message-ID: " + strings.Repeat("(", n/2) + strings.Repeat(")", n/2)}, "x"),
		"long header line": msg([]string{"Subject: " + strings.Repeat("a", n)}, "x"),
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = Parse(strings.NewReader(raw), Options{TrustedAuthServIDs: []string{"mx.contact.acme.test"}})
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("still parsing after 30s: super-linear behaviour")
			}
		})
	}
}
