package compose_test

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"github.com/kakehashi/kakehashi/adapters/mail/compose"
)

var (
	hana = compose.Address{Name: "ACME Sales · Hana", Addr: "hana.sales@contact.acme.test"}
	bob  = compose.Address{Name: "Bob", Addr: "bob@mail.test"}
	when = time.Date(2025, 3, 1, 9, 30, 5, 0, time.UTC)
)

// base returns a valid message that each test case then changes.
func base() *compose.Message {
	return &compose.Message{
		From:      hana,
		To:        bob,
		Subject:   "Your quote",
		Date:      when,
		MessageID: "7f3kq2m5x9c4h8p1r6t0w2y4a3@contact.acme.test",
		Text:      "Hello Bob,\nthe quote is attached.\n",
	}
}

func build(t testing.TB, m *compose.Message) []byte {
	t.Helper()
	raw, err := compose.Build(m)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return raw
}

// rawHeader splits raw at the blank line and returns the field names in
// order and the body, failing on anything but CRLF line ends.
func rawHeader(t testing.TB, raw []byte) (names []string, body []byte) {
	t.Helper()
	head, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no blank line between header and body:\n%s", raw)
	}
	for _, line := range strings.Split(string(head), "\r\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, _, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("header line without colon: %q", line)
		}
		names = append(names, name)
	}
	return names, body
}

// parse reads raw back with go-message, the way a receiving mailer would.
func parse(t testing.TB, raw []byte) (mail.Header, string) {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("go-message cannot read the output: %v\n%s", err, raw)
	}
	body, err := io.ReadAll(e.Body)
	if err != nil {
		t.Fatalf("decoding body: %v", err)
	}
	return mail.Header{Header: e.Header}, string(body)
}

// checkLines asserts CRLF everywhere and lines of at most 78 octets.
func checkLines(t testing.TB, raw []byte) {
	t.Helper()
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		t.Errorf("output does not end with CRLF")
	}
	for i, line := range strings.Split(strings.TrimSuffix(string(raw), "\r\n"), "\r\n") {
		if strings.ContainsAny(line, "\r\n") {
			t.Errorf("line %d has a bare CR or LF: %q", i+1, line)
		}
		if len(line) > 78 {
			t.Errorf("line %d is %d octets long: %q", i+1, len(line), line)
		}
	}
}

func TestBuildHeaderSetAndOrder(t *testing.T) {
	tests := []struct {
		name   string
		change func(*compose.Message)
		want   []string
	}{
		{
			name:   "new thread",
			change: func(*compose.Message) {},
			want:   []string{"Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"},
		},
		{
			name: "reply",
			change: func(m *compose.Message) {
				m.InReplyTo = "CAKx=abc-123@mail.gmail.com"
				m.References = []string{"first@mail.test", "CAKx=abc-123@mail.gmail.com"}
			},
			want: []string{"Date", "From", "To", "Subject", "Message-ID", "In-Reply-To", "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"},
		},
		{
			name: "references without in-reply-to",
			change: func(m *compose.Message) {
				m.References = []string{"first@mail.test"}
			},
			want: []string{"Date", "From", "To", "Subject", "Message-ID", "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"},
		},
		{
			name: "gateway notice",
			change: func(m *compose.Message) {
				m.InReplyTo = "x@mail.test"
				m.References = []string{"x@mail.test"}
				m.AutoSubmitted = "Auto-Replied"
			},
			want: []string{"Date", "From", "To", "Subject", "Message-ID", "In-Reply-To", "References", "Auto-Submitted", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"},
		},
		{
			// mailto only: no List-Unsubscribe-Post (RFC 8058 one-click
			// needs an HTTPS endpoint the gateway does not have).
			name: "broadcast",
			change: func(m *compose.Message) {
				m.ListUnsubscribe = "unsub+abc.def.ghi@contact.acme.test"
			},
			want: []string{"Date", "From", "To", "Subject", "Message-ID", "List-Unsubscribe", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			tt.change(m)
			raw := build(t, m)
			names, _ := rawHeader(t, raw)
			if !slices.Equal(names, tt.want) {
				t.Fatalf("fields = %v\nwant     %v", names, tt.want)
			}

			h, _ := parse(t, raw)
			n := 0
			for f := h.Fields(); f.Next(); {
				n++
			}
			if n != len(tt.want) {
				t.Errorf("go-message sees %d fields, want %d", n, len(tt.want))
			}
			if got := h.Get("Date"); got != "Sat, 01 Mar 2025 09:30:05 +0000" {
				t.Errorf("Date = %q", got)
			}
			if d, err := h.Date(); err != nil || !d.Equal(m.Date) {
				t.Errorf("Date() = %v, %v", d, err)
			}
			checkAddr(t, h, "From", m.From)
			checkAddr(t, h, "To", m.To)
			if s, err := h.Subject(); err != nil || s != m.Subject {
				t.Errorf("Subject = %q, %v", s, err)
			}
			if id, err := h.MessageID(); err != nil || id != m.MessageID {
				t.Errorf("Message-ID = %q, %v", id, err)
			}
			irt, err := h.MsgIDList("In-Reply-To")
			if err != nil || (m.InReplyTo == "") != (len(irt) == 0) || len(irt) == 1 && irt[0] != m.InReplyTo {
				t.Errorf("In-Reply-To = %q, %v", irt, err)
			}
			refs, err := h.MsgIDList("References")
			if err != nil || !slices.Equal(refs, m.References) {
				t.Errorf("References = %q, %v", refs, err)
			}
			if got := h.Get("Auto-Submitted"); got != strings.ToLower(m.AutoSubmitted) {
				t.Errorf("Auto-Submitted = %q", got)
			}
			if got := h.Get("MIME-Version"); got != "1.0" {
				t.Errorf("MIME-Version = %q", got)
			}
			if ct, params, err := h.ContentType(); err != nil || ct != "text/plain" || params["charset"] != "utf-8" {
				t.Errorf("Content-Type = %q %v, %v", ct, params, err)
			}
			if got := h.Get("Content-Transfer-Encoding"); got != "7bit" {
				t.Errorf("Content-Transfer-Encoding = %q", got)
			}
		})
	}
}

func checkAddr(t *testing.T, h mail.Header, field string, want compose.Address) {
	t.Helper()
	got, err := h.AddressList(field)
	if err != nil || len(got) != 1 {
		t.Errorf("%s: %v, %v", field, got, err)
		return
	}
	if got[0].Name != strings.TrimSpace(want.Name) || got[0].Address != want.Addr {
		t.Errorf("%s = %q <%s>, want %q <%s>", field, got[0].Name, got[0].Address, want.Name, want.Addr)
	}
}

// TestBuildExact pins the whole output of an ASCII message, so any field,
// space or line that was not asked for shows up as a diff.
func TestBuildExact(t *testing.T) {
	m := base()
	m.From = compose.Address{Name: "ACME Sales, Hana", Addr: "hana.sales@contact.acme.test"}
	m.InReplyTo = "x1@mail.test"
	m.References = []string{"x0@mail.test", "x1@mail.test"}
	want := "Date: Sat, 01 Mar 2025 09:30:05 +0000\r\n" +
		"From: \"ACME Sales, Hana\" <hana.sales@contact.acme.test>\r\n" +
		"To: Bob <bob@mail.test>\r\n" +
		"Subject: Your quote\r\n" +
		"Message-ID: <7f3kq2m5x9c4h8p1r6t0w2y4a3@contact.acme.test>\r\n" +
		"In-Reply-To: <x1@mail.test>\r\n" +
		"References: <x0@mail.test> <x1@mail.test>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 7bit\r\n" +
		"\r\n" +
		"Hello Bob,\r\n" +
		"the quote is attached.\r\n"
	if got := string(build(t, m)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestBuildJapaneseRoundTrip(t *testing.T) {
	tests := []struct {
		name          string
		from, to      compose.Address
		subject, text string
	}{
		{
			name:    "short",
			from:    compose.Address{Name: "ACME営業・花子", Addr: "hana.sales@contact.acme.test"},
			to:      compose.Address{Name: "山田 太郎", Addr: "yamada@mail.test"},
			subject: "お見積もりの件",
			text:    "山田様\n\nお世話になっております。\n",
		},
		{
			name:    "long subject and name fold across lines",
			from:    compose.Address{Name: strings.Repeat("株式会社アクメ営業部", 5), Addr: "hana.sales@contact.acme.test"},
			to:      compose.Address{Name: "Bob (ボブ) \"the customer\"", Addr: "bob@mail.test"},
			subject: "Re: " + strings.Repeat("お見積もりの件について、ご確認いただけますでしょうか。", 4),
			text:    strings.Repeat("いつもお世話になっております。", 20) + "\r\n2行目\r\n",
		},
		{
			name:    "emoji, combining marks, half-width kana",
			from:    compose.Address{Name: "Hana 🌸", Addr: "hana.sales@contact.acme.test"},
			to:      bob,
			subject: "👍🏽 ｶﾀｶﾅ が\u3099 café",
			text:    "👨‍👩‍👧 family\n" + strings.Repeat("é", 100) + "\nend",
		},
		{
			name:    "mixed scripts, tabs, trailing spaces, From lines",
			from:    hana,
			to:      bob,
			subject: "Status\t報告 =?not-an-encoded-word?=",
			text:    "From now on:   \n\tindented 日本語 \nFrom: me\n" + strings.Repeat("x", 200) + "\n.\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			m.From, m.To, m.Subject, m.Text = tt.from, tt.to, tt.subject, tt.text
			raw := build(t, m)
			checkLines(t, raw)
			h, body := parse(t, raw)
			checkAddr(t, h, "From", tt.from)
			checkAddr(t, h, "To", tt.to)
			if s, err := h.Subject(); err != nil || s != compose.UnfoldSubject(tt.subject) {
				t.Errorf("Subject = %q, %v\nwant      %q", s, err, compose.UnfoldSubject(tt.subject))
			}
			if want := crlfBody(tt.text); body != want {
				t.Errorf("body = %q\nwant   %q", body, want)
			}
			if got := h.Get("Content-Transfer-Encoding"); got != "quoted-printable" {
				t.Errorf("Content-Transfer-Encoding = %q", got)
			}
			// Nothing 8-bit may reach the wire: no SMTPUTF8 or 8BITMIME is
			// assumed.
			for i, c := range raw {
				if c >= 0x80 {
					t.Fatalf("8-bit octet at %d", i)
				}
			}
		})
	}
}

// crlfBody is what the receiver should decode from text.
func crlfBody(text string) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	return strings.ReplaceAll(strings.TrimSuffix(text, "\n")+"\n", "\n", "\r\n")
}

func TestBuildTransferEncoding(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"ascii", "hi\n", "7bit"},
		{"no final newline", "hi", "7bit"},
		{"78 octets", strings.Repeat("a", 78), "7bit"},
		{"79 octets", strings.Repeat("a", 79), "quoted-printable"},
		{"tab", "a\tb", "7bit"},
		{"japanese", "こんにちは", "quoted-printable"},
		{"latin-1 range", "naïve", "quoted-printable"},
		{"control character", "bell\a", "quoted-printable"},
		{"mbox From line", "hi\nFrom here on", "quoted-printable"},
		{"old mac line ends", "a\rb\r", "7bit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			m.Text = tt.text
			raw := build(t, m)
			checkLines(t, raw)
			h, body := parse(t, raw)
			if got := h.Get("Content-Transfer-Encoding"); got != tt.want {
				t.Errorf("Content-Transfer-Encoding = %q, want %q", got, tt.want)
			}
			if want := crlfBody(tt.text); body != want {
				t.Errorf("body = %q, want %q", body, want)
			}
		})
	}
}

func TestBuildLineLength(t *testing.T) {
	long := strings.Repeat("word ", 40)
	tests := []struct {
		name   string
		change func(*compose.Message)
	}{
		{"long ascii subject", func(m *compose.Message) { m.Subject = long }},
		{"unbreakable ascii subject", func(m *compose.Message) { m.Subject = strings.Repeat("x", 200) }},
		{"subject with runs of spaces", func(m *compose.Message) { m.Subject = strings.Repeat("ab    cd ", 20) }},
		{"long japanese subject", func(m *compose.Message) { m.Subject = strings.Repeat("日本語の件名", 30) }},
		{"long 4-byte subject", func(m *compose.Message) { m.Subject = strings.Repeat("😀", 50) }},
		{"long atom name", func(m *compose.Message) { m.To.Name = long }},
		{"long quoted name", func(m *compose.Message) { m.To.Name = strings.Repeat("a.b ", 30) }},
		{"long unbreakable name", func(m *compose.Message) { m.To.Name = strings.Repeat("n", 90) }},
		{"long japanese name", func(m *compose.Message) { m.From.Name = strings.Repeat("営業部", 30) }},
		{"many references", func(m *compose.Message) {
			for i := range 30 {
				m.References = append(m.References, strings.Repeat("r", i+1)+"@mail.test")
			}
		}},
		{"long in-reply-to", func(m *compose.Message) {
			m.InReplyTo = strings.Repeat("i", 50) + "@" + strings.Repeat("d", 12) + ".mail.test"
		}},
		{"long body lines", func(m *compose.Message) {
			m.Text = strings.Repeat("x", 500) + "\n" + strings.Repeat("あ", 300) + "\n" + strings.Repeat("= ", 100)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			tt.change(m)
			raw := build(t, m)
			checkLines(t, raw)
			h, _ := parse(t, raw)
			if s, _ := h.Subject(); s != compose.UnfoldSubject(m.Subject) {
				t.Errorf("Subject = %q, want %q", s, compose.UnfoldSubject(m.Subject))
			}
			checkAddr(t, h, "From", m.From)
			checkAddr(t, h, "To", m.To)
			if refs, err := h.MsgIDList("References"); err != nil || !slices.Equal(refs, m.References) {
				t.Errorf("References = %q, %v", refs, err)
			}
		})
	}
}

// TestBuildLongMsgID covers msg-ids, which cannot be folded: one that fits
// a line of its own goes there, and one longer than a line (some mailers make
// them) is the single exception to 78-octet lines.
func TestBuildLongMsgID(t *testing.T) {
	tests := []struct {
		name, id, want string
	}{
		{
			name: "fits a line of its own",
			id:   strings.Repeat("i", 50) + "@" + strings.Repeat("d", 12) + ".mail.test",
			want: "In-Reply-To:\r\n <" + strings.Repeat("i", 50) + "@" + strings.Repeat("d", 12) + ".mail.test>\r\n",
		},
		{
			name: "longer than a line",
			id:   "TYCPR01MB1234567890ABCDEF1234567890ABCDEF0123@TYCPR01MB12345.jpnprd01.prod.outlook.com",
			want: "In-Reply-To: <TYCPR01MB1234567890ABCDEF1234567890ABCDEF0123@TYCPR01MB12345.jpnprd01.prod.outlook.com>\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			m.InReplyTo = tt.id
			raw := build(t, m)
			if !bytes.Contains(raw, []byte(tt.want)) {
				t.Errorf("want %q in\n%s", tt.want, raw)
			}
			h, _ := parse(t, raw)
			if got, err := h.MsgIDList("In-Reply-To"); err != nil || len(got) != 1 || got[0] != m.InReplyTo {
				t.Errorf("In-Reply-To = %q, %v", got, err)
			}
		})
	}
}

func TestBuildRejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(*compose.Message)
	}{
		{"empty from", func(m *compose.Message) { m.From.Addr = "" }},
		{"empty to", func(m *compose.Message) { m.To.Addr = "" }},
		{"no at", func(m *compose.Message) { m.To.Addr = "bob.mail.test" }},
		{"two ats", func(m *compose.Message) { m.To.Addr = "bob@x@mail.test" }},
		{"empty local", func(m *compose.Message) { m.To.Addr = "@mail.test" }},
		{"empty domain", func(m *compose.Message) { m.To.Addr = "bob@" }},
		{"leading dot", func(m *compose.Message) { m.To.Addr = ".bob@mail.test" }},
		{"double dot", func(m *compose.Message) { m.To.Addr = "b..ob@mail.test" }},
		{"space in address", func(m *compose.Message) { m.To.Addr = "bob smith@mail.test" }},
		{"angle brackets in address", func(m *compose.Message) { m.To.Addr = "<bob@mail.test>" }},
		{"comma list", func(m *compose.Message) { m.To.Addr = "bob@mail.test,eve@evil.test" }},
		{"quoted local part", func(m *compose.Message) { m.To.Addr = `"bob"@mail.test` }},
		{"unicode domain", func(m *compose.Message) { m.To.Addr = "bob@例え.jp" }},
		{"unicode local", func(m *compose.Message) { m.To.Addr = "ボブ@mail.test" }},
		{"domain literal", func(m *compose.Message) { m.To.Addr = "bob@[192.0.2.1]" }},
		{"hyphen label", func(m *compose.Message) { m.To.Addr = "bob@-mail.test" }},
		{"long local", func(m *compose.Message) { m.To.Addr = strings.Repeat("b", 65) + "@mail.test" }},
		{"long address", func(m *compose.Message) { m.To.Addr = "b@" + strings.Repeat("a.", 130) + "test" }},
		{"crlf in to address", func(m *compose.Message) { m.To.Addr = "bob@mail.test\r\nBcc: eve@evil.test" }},
		{"lf in from name", func(m *compose.Message) { m.From.Name = "Hana\nBcc: eve@evil.test" }},
		{"cr in to name", func(m *compose.Message) { m.To.Name = "Bob\rX-Injected: 1" }},
		{"c1 control in name", func(m *compose.Message) { m.To.Name = "Bob\u0085" }},
		{"invalid utf-8 subject", func(m *compose.Message) { m.Subject = "\xff\xfe" }},
		{"invalid utf-8 name", func(m *compose.Message) { m.From.Name = "Hana\xe3\x81" }},
		{"crlf in message-id", func(m *compose.Message) { m.MessageID = "a@b\r\nBcc: eve@evil.test" }},
		{"crlf in in-reply-to", func(m *compose.Message) { m.InReplyTo = "a@b\r\nBcc: eve@evil.test" }},
		{"crlf in references", func(m *compose.Message) { m.References = []string{"a@b", "c@d\r\nBcc: eve@evil.test"} }},
		{"crlf in auto-submitted", func(m *compose.Message) { m.AutoSubmitted = "auto-replied\r\nBcc: eve@evil.test" }},
		{"crlf in list-unsubscribe", func(m *compose.Message) { m.ListUnsubscribe = "u@contact.acme.test\r\nBcc: eve@evil.test" }},
		{"query in list-unsubscribe", func(m *compose.Message) { m.ListUnsubscribe = "u?cc=eve@contact.acme.test" }},
		{"no message-id", func(m *compose.Message) { m.MessageID = "" }},
		{"message-id without at", func(m *compose.Message) { m.MessageID = "abc" }},
		{"message-id with brackets", func(m *compose.Message) { m.MessageID = "<abc@mail.test>" }},
		{"message-id with space", func(m *compose.Message) { m.MessageID = "a b@mail.test" }},
		{"message-id empty right", func(m *compose.Message) { m.MessageID = "abc@" }},
		{"message-id too long", func(m *compose.Message) { m.MessageID = strings.Repeat("a", 250) + "@b" }},
		{"in-reply-to not an id", func(m *compose.Message) { m.InReplyTo = "hello" }},
		{"reference not an id", func(m *compose.Message) { m.References = []string{"a@b", "<c@d>"} }},
		{"empty reference", func(m *compose.Message) { m.References = []string{""} }},
		{"unknown auto-submitted", func(m *compose.Message) { m.AutoSubmitted = "yes" }},
		{"auto-submitted with parameters", func(m *compose.Message) { m.AutoSubmitted = "auto-generated; host=inside" }},
		{"zero date", func(m *compose.Message) { m.Date = time.Time{} }},
		{"date far future", func(m *compose.Message) { m.Date = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"empty body", func(m *compose.Message) { m.Text = "" }},
		{"blank body", func(m *compose.Message) { m.Text = " \r\n\t\n　" }},
		{"invalid utf-8 body", func(m *compose.Message) { m.Text = "hi \xc3" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			tt.change(m)
			raw, err := compose.Build(m)
			if !errors.Is(err, compose.ErrInvalid) {
				t.Fatalf("Build = %v, %q; want ErrInvalid", err, raw)
			}
			if raw != nil {
				t.Errorf("Build returned bytes with its error")
			}
		})
	}
	if _, err := compose.Build(nil); !errors.Is(err, compose.ErrInvalid) {
		t.Errorf("Build(nil) = %v", err)
	}
}

func TestBuildAccepts(t *testing.T) {
	tests := []struct {
		name   string
		change func(*compose.Message)
	}{
		{"no display names", func(m *compose.Message) { m.From.Name, m.To.Name = "", "" }},
		{"blank display name", func(m *compose.Message) { m.To.Name = "   " }},
		{"atext specials in local part", func(m *compose.Message) { m.To.Addr = "bob+tag.o'neil/x=y@mail.test" }},
		{"single label domain", func(m *compose.Message) { m.To.Addr = "bob@localhost" }},
		{"empty subject", func(m *compose.Message) { m.Subject = "" }},
		{"literal message-id", func(m *compose.Message) { m.InReplyTo = "abc@[192.0.2.1]" }},
		{"name with quotes and backslash", func(m *compose.Message) { m.To.Name = `Bob "the \ customer"` }},
		{"name like an encoded-word", func(m *compose.Message) { m.To.Name = "=?UTF-8?B?RXZl?=" }},
		{"upper-case auto-submitted", func(m *compose.Message) { m.AutoSubmitted = "AUTO-GENERATED" }},
		{"body with NUL", func(m *compose.Message) { m.Text = "a\x00b" }},
		{"non-utc date", func(m *compose.Message) { m.Date = time.Date(2025, 3, 1, 18, 30, 5, 0, time.FixedZone("JST", 9*3600)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			tt.change(m)
			raw := build(t, m)
			checkLines(t, raw)
			h, body := parse(t, raw)
			checkAddr(t, h, "To", m.To)
			if s, _ := h.Subject(); s != m.Subject {
				t.Errorf("Subject = %q, want %q", s, m.Subject)
			}
			if d, _ := h.Date(); !d.Equal(m.Date) {
				t.Errorf("Date = %v, want %v", d, m.Date)
			}
			if body != crlfBody(m.Text) {
				t.Errorf("body = %q", body)
			}
		})
	}
}

// TestBuildLeaksNothing checks that every word on the wire is either fixed
// MIME syntax or something the caller gave; nothing of the machine, the
// program or its language.
func TestBuildLeaksNothing(t *testing.T) {
	m := base()
	m.InReplyTo = "x1@mail.test"
	m.References = []string{"x0@mail.test", "x1@mail.test"}
	m.AutoSubmitted = "auto-replied"
	m.ListUnsubscribe = "unsub+abc.def.ghi@contact.acme.test"
	raw := build(t, m)

	allowed := map[string]bool{
		"Date:": true, "From:": true, "To:": true, "Subject:": true, "Message-ID:": true,
		"In-Reply-To:": true, "References:": true, "Auto-Submitted:": true,
		"List-Unsubscribe:": true, "mailto:unsub+abc.def.ghi@contact.acme.test?subject=unsubscribe": true,
		"MIME-Version:": true, "1.0": true, "Content-Type:": true, "text/plain;": true,
		"charset=utf-8": true, "Content-Transfer-Encoding:": true, "7bit": true,
	}
	given := strings.Join([]string{
		m.From.Name, m.From.Addr, m.To.Name, m.To.Addr, m.Subject,
		m.Date.Format(time.RFC1123Z), m.MessageID, m.InReplyTo,
		strings.Join(m.References, " "), m.AutoSubmitted, m.Text,
	}, "\n")
	var dec mime.WordDecoder
	for _, w := range strings.Fields(string(raw)) {
		if strings.HasPrefix(w, "=?") {
			var err error
			if w, err = dec.Decode(w); err != nil {
				t.Errorf("undecodable encoded-word %q: %v", w, err)
			}
		}
		w = strings.Trim(w, `<>"`)
		if !allowed[w] && !strings.Contains(given, w) {
			t.Errorf("output contains %q, which nobody asked for", w)
		}
	}
	forbidden := []string{"kakehashi", "Kakehashi", "Go", "golang", "go-message", "X-", "User-Agent", "Received"}
	if host, err := os.Hostname(); err == nil && host != "" {
		forbidden = append(forbidden, host)
	}
	for _, f := range forbidden {
		if bytes.Contains(raw, []byte(f)) {
			t.Errorf("output contains %q", f)
		}
	}
}

func TestBuildDeterministic(t *testing.T) {
	m := base()
	m.Subject = "日本語"
	a, b := build(t, m), build(t, m)
	if !bytes.Equal(a, b) {
		t.Errorf("two builds of one message differ")
	}
}

func TestNewMessageID(t *testing.T) {
	const domain = "contact.acme.test"
	seen := map[string]bool{}
	for range 1000 {
		id := compose.NewMessageID(domain)
		local, dom, ok := strings.Cut(id, "@")
		if !ok || dom != domain {
			t.Fatalf("NewMessageID = %q, want …@%s", id, domain)
		}
		// 160 bits in base32 is 32 characters.
		if len(local) != 32 {
			t.Errorf("local part %q has %d characters", local, len(local))
		}
		for _, c := range local {
			if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
				t.Fatalf("local part %q has %q", local, c)
			}
		}
		if seen[id] {
			t.Fatalf("NewMessageID repeated %q", id)
		}
		seen[id] = true
	}
	// Every position should take many values if the bits are random.
	for pos := range 32 {
		vals := map[byte]bool{}
		for id := range seen {
			vals[id[pos]] = true
		}
		if len(vals) < 20 {
			t.Errorf("position %d took only %d values in 1000 ids", pos, len(vals))
		}
	}
	m := base()
	m.MessageID = compose.NewMessageID(domain)
	build(t, m)
}

func TestReplySubject(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"   ", ""},
		{"Quote", "Re: Quote"},
		{"  Quote  ", "Re: Quote"},
		{"Re: Quote", "Re: Quote"},
		{"RE: Quote", "RE: Quote"},
		{"re: quote", "re: quote"},
		{"Re:Quote", "Re:Quote"},
		{"Re[2]: Quote", "Re[2]: Quote"},
		{"Re(3): Quote", "Re(3): Quote"},
		{"Re^2: Quote", "Re^2: Quote"},
		{"AW: Angebot", "AW: Angebot"},
		{"Aw: Angebot", "Aw: Angebot"},
		{"SV: Offert", "SV: Offert"},
		{"VS: Tarjous", "VS: Tarjous"},
		{"Antw: Offerte", "Antw: Offerte"},
		{"Réf : Devis", "Réf : Devis"},
		{"RÉF: Devis", "RÉF: Devis"},
		{"Re\u0301f: Devis", "Re\u0301f: Devis"},
		{"RE : Devis", "RE : Devis"},
		{"返信: お見積もり", "返信: お見積もり"},
		{"返信：お見積もり", "返信：お見積もり"},
		{"Ｒｅ：お見積もり", "Ｒｅ：お見積もり"},
		{"ＲＥ：お見積もり", "ＲＥ：お見積もり"},
		{"Re：お見積もり", "Re：お見積もり"},
		{"回复: 报价", "回复: 报价"},
		{"お見積もり", "Re: お見積もり"},
		{"Fwd: Quote", "Re: Fwd: Quote"},
		{"Rebooting the server", "Re: Rebooting the server"},
		{"Re Quote", "Re: Re Quote"},
		{"Re[]: Quote", "Re: Re[]: Quote"},
		{"Re[2: Quote", "Re: Re[2: Quote"},
		{"Regarding: Quote", "Re: Regarding: Quote"},
		{"[Ticket 5] Re: Quote", "Re: [Ticket 5] Re: Quote"},
		{":Re", "Re: :Re"},
	}
	for _, tt := range tests {
		if got := compose.ReplySubject(tt.in); got != tt.want {
			t.Errorf("ReplySubject(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSubjectFromText(t *testing.T) {
	tests := []struct {
		text string
		max  int
		want string
	}{
		{"", 40, ""},
		{"\n \r\n\t\n", 40, ""},
		{"Hello", 40, "Hello"},
		{"Hello", 0, ""},
		{"Hello", 5, "Hello"},
		{"Hello", 4, "Hel…"},
		{"Hello", 1, "…"},
		{"\n\n  first line  \nsecond", 40, "first line"},
		{"first\r\nsecond", 40, "first"},
		{"first\rsecond", 40, "first"},
		{"tabs\tand   spaces", 40, "tabs and spaces"},
		{"bell\a inside", 40, "bell inside"},
		{"\a\x1b\nreal line", 40, "real line"},
		{"The quick brown fox jumps over the lazy dog", 20, "The quick brown fox…"},
		{"The quick brown fox jumps over the lazy dog", 19, "The quick brown…"},
		{"Hello, world and more", 10, "Hello…"},
		{"a supercalifragilisticexpialidocious word", 12, "a supercali…"},
		{"supercalifragilisticexpialidocious", 10, "supercali…"},
		{"お見積もりの件についてご相談があります", 10, "お見積もりの件につ…"},
		{"お見積もりの件、ご確認ください", 8, "お見積もりの件…"},
		{"明日の会議 about the quote は延期", 12, "明日の会議 about…"},
		{"こんにちは", 5, "こんにちは"},
		{"ｶﾀｶﾅの件です", 4, "ｶﾀｶ…"},
		{"e\u0301e\u0301e\u0301e\u0301", 4, "e\u0301…"},
		{"👨\u200d👩\u200d👧 family", 3, "…"},
		{"👍🏽👍🏽👍🏽", 4, "👍🏽…"},
		{"が\u3099が\u3099が\u3099", 4, "が\u3099…"},
	}
	for _, tt := range tests {
		got := compose.SubjectFromText(tt.text, tt.max)
		if got != tt.want {
			t.Errorf("SubjectFromText(%q, %d) = %q, want %q", tt.text, tt.max, got, tt.want)
		}
		if tt.max > 0 && utf8.RuneCountInString(got) > tt.max {
			t.Errorf("SubjectFromText(%q, %d) = %q is longer than %d runes", tt.text, tt.max, got, tt.max)
		}
	}
}

func BenchmarkBuild(b *testing.B) {
	cases := map[string]*compose.Message{"ascii": base()}
	ja := base()
	ja.From.Name = "ACME営業・花子"
	ja.Subject = "Re: お見積もりの件について"
	ja.InReplyTo = "CAKx=abc-123@mail.gmail.com"
	ja.References = []string{"first@mail.test", "CAKx=abc-123@mail.gmail.com"}
	ja.Text = strings.Repeat("いつもお世話になっております。お見積もりをお送りします。\n", 20)
	cases["japanese"] = ja
	for name, m := range cases {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(m.Text)))
			for b.Loop() {
				if _, err := compose.Build(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzBuild checks that whatever a chat delivers either is refused as
// ErrInvalid or comes out as mail that reads back to exactly the input
// (the subject unfolded), within the line limit.
func FuzzBuild(f *testing.F) {
	f.Add("ACME Sales · Hana", "Bob", "Your quote", "Hello Bob,\nthe quote.\n")
	f.Add("営業", "山田 太郎", "Re: お見積もり", "山田様\r\nよろしく。")
	f.Add(`a "b" \c`, "=?UTF-8?B?RXZl?=", "a  b   c", "From x\n.\n\n")
	f.Add("x\r\nBcc: y", "", "\x00", "")
	f.Add(strings.Repeat("n ", 60), strings.Repeat("😀", 40), strings.Repeat("w", 100), strings.Repeat("é", 100))
	f.Fuzz(func(t *testing.T, fromName, toName, subject, text string) {
		m := base()
		m.From.Name, m.To.Name, m.Subject, m.Text = fromName, toName, subject, text
		raw, err := compose.Build(m)
		if err != nil {
			if !errors.Is(err, compose.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		checkLines(t, raw)
		h, body := parse(t, raw)
		checkAddr(t, h, "From", m.From)
		checkAddr(t, h, "To", m.To)
		if s, err := h.Subject(); err != nil || s != compose.UnfoldSubject(subject) {
			t.Errorf("Subject = %q, %v; want %q", s, err, compose.UnfoldSubject(subject))
		}
		if body != crlfBody(text) {
			t.Errorf("body = %q, want %q", body, crlfBody(text))
		}
	})
}

// TestBuildUnfoldsSubject: a subject typed in a chat client may hold line
// breaks of every kind; the mail goes out with them unfolded, never fails,
// and nothing after a break becomes a header field.
func TestBuildUnfoldsSubject(t *testing.T) {
	long := strings.Repeat("line one\nline two ", 100)
	tests := []struct{ name, subject, want string }{
		{"lf", "Quote\nfor May", "Quote for May"},
		{"crlf", "Quote\r\nfor May", "Quote for May"},
		{"cr", "Quote\rfor May", "Quote for May"},
		{"blank lines", "\n\nQuote\n\n\nfor May\n\n", "Quote for May"},
		{"tab", "a\tb", "a b"},
		{"runs of spaces", "a  \t \n  b", "a b"},
		{"nel", "Quote\u0085for May", "Quote for May"},
		{"line separator", "Quote\u2028for\u2029May", "Quote for May"},
		{"vertical tab and form feed", "a\vb\fc", "a b c"},
		{"header injection", "hi\r\nBcc: eve@evil.test", "hi Bcc: eve@evil.test"},
		{"body injection", "hi\r\n\r\nbody", "hi body"},
		{"nul and escape", "hi\x00 \x1b[31mred", "hi [31mred"},
		{"japanese", "お見積もり\nの件", "お見積もり の件"},
		{"ideographic space kept", "お見積もり\u3000の件", "お見積もり\u3000の件"},
		{"only breaks", "\r\n\n\t", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			m.Subject = tt.subject
			raw := build(t, m)
			checkLines(t, raw)
			h, _ := parse(t, raw)
			if s, _ := h.Subject(); s != tt.want {
				t.Errorf("Subject = %q, want %q", s, tt.want)
			}
			if h.Has("Bcc") {
				t.Errorf("a line break in the subject made a header:\n%s", raw)
			}
			if got := compose.UnfoldSubject(tt.subject); got != tt.want {
				t.Errorf("UnfoldSubject = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("very long", func(t *testing.T) {
		m := base()
		m.Subject = long
		raw := build(t, m)
		checkLines(t, raw)
		h, _ := parse(t, raw)
		s, _ := h.Subject()
		if n := utf8.RuneCountInString(s); n > compose.MaxSubject || n < compose.MaxSubject/2 {
			t.Errorf("Subject has %d runes, want at most %d: %q", n, compose.MaxSubject, s)
		}
		if !strings.HasPrefix(s, "line one line two line one") || !strings.HasSuffix(s, "…") || strings.ContainsAny(s, "\r\n") {
			t.Errorf("Subject = %q", s)
		}
	})
}
