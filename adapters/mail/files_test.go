package mail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-smtp"

	"github.com/kakehashi/kakehashi/adapters/mail/parse"
	"github.com/kakehashi/kakehashi/gateway"
)

// sink is an SMTP server in the test that keeps every mail it is given.
type sink struct {
	mu    sync.Mutex
	mails [][]byte
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

type sinkSession struct{ s *sink }

func (*sinkSession) Reset()                               {}
func (*sinkSession) Logout() error                        { return nil }
func (*sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (*sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.mails = append(ss.s.mails, b)
	ss.s.mu.Unlock()
	return nil
}

// take returns the mails received since the last take, parsed.
func (s *sink) take(t *testing.T) []*parse.Mail {
	t.Helper()
	s.mu.Lock()
	raws := s.mails
	s.mails = nil
	s.mu.Unlock()
	var out []*parse.Mail
	for _, raw := range raws {
		m, err := parse.Bytes(raw, parse.Options{})
		if err != nil {
			t.Fatalf("the mail sent cannot be read back: %v\n%s", err, raw)
		}
		out = append(out, m)
	}
	return out
}

// sinkAdapter is an adapter whose mail goes to a sink in the test.
func sinkAdapter(t *testing.T, mod func(*Config)) (*Adapter, *sink) {
	return sinkAdapterMax(t, 64<<20, mod)
}

// sinkAdapterMax is sinkAdapter with a sink that announces (SMTP SIZE)
// and takes mail of at most max bytes.
func sinkAdapterMax(t *testing.T, max int64, mod func(*Config)) (*Adapter, *sink) {
	t.Helper()
	s := &sink{}
	srv := smtp.NewServer(s)
	srv.Domain = "mx.mail.test"
	srv.MaxMessageBytes = max
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	a := openTestAdapter(t)
	a.cfg.SMTP = SMTPConfig{Server: l.Addr().String(), TLS: TLSNone, HELO: a.cfg.Domain}
	if mod != nil {
		mod(&a.cfg)
	}
	return a, s
}

// bytesFile is a file the gateway hands over with its bytes.
func bytesFile(name, mediaType string, data []byte) gateway.Attachment {
	sum := sha256.Sum256(data)
	return gateway.Attachment{Name: name, MediaType: mediaType, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*13 + i/251)
	}
	return b
}

func sumOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestSendFiles: files the gateway hands over go as attachments after the
// text, byte-exact; a file it hosts elsewhere is a link line after the
// text; a copy that is not the file announced is never sent.
func TestSendFiles(t *testing.T) {
	a, s := sinkAdapter(t, nil)
	if a.AttachLimit() != 10<<20 {
		t.Errorf("AttachLimit() = %d, want the default 10 MiB", a.AttachLimit())
	}
	ctx := context.Background()
	pdf, png := pattern(300_000), pattern(4321)
	out := &gateway.Outgoing{ID: "f1", Network: "mail", From: hanaSales, To: "bob@mail.test", Nick: "Hana", Subject: "Quote",
		Body: "Here are the quote and the drawing.\n",
		Files: []gateway.Attachment{
			bytesFile("見積書 2026.pdf", "application/pdf", pdf),
			{Name: "catalogue.pdf", MediaType: "application/pdf", Size: 12_900_000, URL: "https://files.acme.example/c/9f2e/catalogue.pdf"},
			bytesFile("C:\\Users\\hana\\drawing.png", "IMAGE/PNG", png),
			{Name: "見本.zip", URL: "https://files.acme.example/c/77aa/sample.zip"},
		}}
	if err := a.Send(ctx, out); err != nil {
		t.Fatal(err)
	}
	got := s.take(t)
	if len(got) != 1 {
		t.Fatalf("%d mails", len(got))
	}
	m := got[0]
	wantText := "Here are the quote and the drawing.\n\ncatalogue.pdf (12.3 MB): https://files.acme.example/c/9f2e/catalogue.pdf\n見本.zip: https://files.acme.example/c/77aa/sample.zip"
	if m.Text != wantText {
		t.Errorf("text:\n%s\nwant\n%s", m.Text, wantText)
	}
	if len(m.Attachments) != 2 {
		t.Fatalf("attachments %+v", m.Attachments)
	}
	for i, w := range []struct {
		name, typ string
		data      []byte
	}{{"見積書 2026.pdf", "application/pdf", pdf}, {"drawing.png", "image/png", png}} {
		if at := m.Attachments[i]; at.Name != w.name || at.ContentType != w.typ || sumOf(at.Data) != sumOf(w.data) {
			t.Errorf("attachment %d: %s %s %d bytes; want %s %s %d bytes", i, at.Name, at.ContentType, at.Size, w.name, w.typ, len(w.data))
		}
	}

	// Files alone: no text part, and a subject from the first file's name.
	if err := a.Send(ctx, &gateway.Outgoing{ID: "f2", Network: "mail", From: hanaSales, To: "carol@mail.test", Nick: "Hana",
		Files: []gateway.Attachment{bytesFile("scan.pdf", "application/pdf", pdf[:100])}}); err != nil {
		t.Fatal(err)
	}
	if got := s.take(t); len(got) != 1 || got[0].Text != "" || got[0].Subject != "scan.pdf" || len(got[0].Attachments) != 1 {
		t.Errorf("files alone: %+v", got)
	}

	bad := func(f gateway.Attachment) *gateway.Outgoing {
		return &gateway.Outgoing{ID: "f3", Network: "mail", From: hanaSales, To: "bob@mail.test", Nick: "Hana", Body: "x", Files: []gateway.Attachment{f}}
	}
	truncated := bytesFile("a.pdf", "application/pdf", pdf)
	truncated.Size++
	altered := bytesFile("a.pdf", "application/pdf", pdf)
	altered.SHA256 = sumOf(png)
	longer := bytesFile("a.pdf", "application/pdf", pdf)
	longer.Size--
	unreadable := bytesFile("a.pdf", "application/pdf", pdf)
	unreadable.Open = func() (io.ReadCloser, error) { return nil, errors.New("spool: no such file") }
	for name, tc := range map[string]struct {
		f         gateway.Attachment
		permanent bool
		text      string
	}{
		"a copy shorter than its size":   {truncated, true, "bytes of"},
		"a copy longer than its size":    {longer, true, "longer than"},
		"a copy that is not its hash":    {altered, true, "does not match its hash"},
		"neither bytes nor link":         {gateway.Attachment{Name: "lost.pdf", Size: 10}, true, "neither"},
		"over the limit":                 {gateway.Attachment{Name: "big.iso", Size: 11 << 20, Open: unreadable.Open}, true, "more than the 10.0 MB"},
		"a copy that cannot be read now": {unreadable, false, "no such file"},
	} {
		t.Run(name, func(t *testing.T) {
			err := a.Send(ctx, bad(tc.f))
			var se *gateway.SendError
			if err == nil || !strings.Contains(err.Error(), tc.text) || errors.As(err, &se) != tc.permanent || tc.permanent && se.Action != gateway.GiveUp {
				t.Errorf("Send = %v (%T); want permanent %v, saying %q", err, err, tc.permanent, tc.text)
			}
			if got := s.take(t); len(got) != 0 {
				t.Errorf("sent %d mails", len(got))
			}
		})
	}
}

// TestSendAttachLimit: a configured limit holds however large the files
// say they are.
func TestSendAttachLimit(t *testing.T) {
	a, s := sinkAdapter(t, func(c *Config) { c.AttachLimit = 1000 })
	if a.AttachLimit() != 1000 {
		t.Fatalf("AttachLimit() = %d", a.AttachLimit())
	}
	ctx := context.Background()
	small := bytesFile("a.bin", "", pattern(600))
	// Two files that claim to be small, and are not together.
	lying := bytesFile("b.bin", "", pattern(600))
	lying.Size, lying.SHA256 = 0, ""
	out := &gateway.Outgoing{ID: "l1", Network: "mail", From: hanaSales, To: "bob@mail.test", Nick: "Hana", Body: "x",
		Files: []gateway.Attachment{small, lying}}
	if err := a.Send(ctx, out); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("Send over the limit = %v", err)
	}
	out.Files = out.Files[:1]
	if err := a.Send(ctx, out); err != nil {
		t.Fatal(err)
	}
	if got := s.take(t); len(got) != 1 || len(got[0].Attachments) != 1 || got[0].Attachments[0].ContentType != "application/octet-stream" {
		t.Errorf("sent %+v", got)
	}

	// The mail server takes less than the files come to in base64.
	a, s = sinkAdapterMax(t, 50_000, nil)
	out.Files = []gateway.Attachment{bytesFile("a.bin", "", pattern(40_000))}
	err := a.Send(ctx, out)
	var se *gateway.SendError
	if !errors.As(err, &se) || se.Action != gateway.GiveUp || !strings.Contains(err.Error(), "more than the 49 KB the gateway's mail server") {
		t.Errorf("Send over the server's SIZE = %v", err)
	}
	out.Files = []gateway.Attachment{bytesFile("a.bin", "", pattern(30_000))}
	if err := a.Send(ctx, out); err != nil {
		t.Errorf("Send within the server's SIZE = %v", err)
	}
	if got := s.take(t); len(got) != 1 {
		t.Errorf("sent %d mails", len(got))
	}
}

// TestSendRefs: what mail makes of references. A correction is a new mail
// in the thread that says so; a reply quotes what it answers and names it
// in In-Reply-To; a retraction is refused with words for the employee;
// reactions, receipts, read markers and typing are not sent.
func TestSendRefs(t *testing.T) {
	a, s := sinkAdapter(t, nil)
	ctx := context.Background()
	send := func(out gateway.Outgoing) error {
		out.Network, out.From, out.Nick = "mail", hanaSales, "Hana"
		if out.To == "" {
			out.To = "bob@mail.test"
		}
		return a.Send(ctx, &out)
	}
	one := func(t *testing.T) *parse.Mail {
		t.Helper()
		got := s.take(t)
		if len(got) != 1 {
			t.Fatalf("%d mails sent", len(got))
		}
		return got[0]
	}

	// A thread: Hana's g1, bob's reply, Hana's g2.
	if err := send(gateway.Outgoing{ID: "g1", Subject: "Quote", Body: "The price is 100."}); err != nil {
		t.Fatal(err)
	}
	g1 := one(t)
	core := &fakeCore{personas: map[string]bool{hanaSales: true}}
	bobReply := "Return-Path: <bob@mail.test>\r\nDelivered-To: " + hanaSales + "\r\nFrom: Bob <bob@mail.test>\r\nTo: " + hanaSales +
		"\r\nSubject: Re: Quote\r\nMessage-ID: <bob-1@mail.test>\r\nIn-Reply-To: <" + g1.MessageID + ">\r\n\r\nWhich currency?\r\n"
	if q, _ := ingestOne(t, a, core, []byte(bobReply)); q {
		t.Fatal("bob's reply quarantined")
	}
	if err := send(gateway.Outgoing{ID: "g2", Body: "Euro."}); err != nil {
		t.Fatal(err)
	}
	g2 := one(t)
	if g2.InReplyTo != "bob-1@mail.test" || g2.Subject != "Re: Quote" {
		t.Fatalf("g2 not in the thread: %+v", g2)
	}

	t.Run("correct", func(t *testing.T) {
		if err := send(gateway.Outgoing{ID: "g3", Body: "The price is 120.", Refs: []gateway.Ref{{Kind: gateway.RefCorrect, ID: "g1"}}}); err != nil {
			t.Fatal(err)
		}
		m := one(t)
		if m.FullText != "Correction to my previous message:\n\nThe price is 120." {
			t.Errorf("text %q", m.FullText)
		}
		if m.InReplyTo != g1.MessageID || m.Subject != "Re: Quote" || len(m.References) != 1 || m.References[0] != g1.MessageID {
			t.Errorf("not a reply to the corrected mail: In-Reply-To %q References %q Subject %q", m.InReplyTo, m.References, m.Subject)
		}
	})
	t.Run("reply to the contact's mail, with its quote", func(t *testing.T) {
		ref := gateway.Ref{Kind: gateway.RefReply, ID: "bob-1@mail.test " + hanaSales, Author: "bob@mail.test", Quote: "Which currency?\n\nThanks,\r\nBob"}
		if err := send(gateway.Outgoing{ID: "g4", Body: "Euro, as before.", Refs: []gateway.Ref{ref}}); err != nil {
			t.Fatal(err)
		}
		m := one(t)
		if want := "> Which currency?\n>\n> Thanks,\n> Bob\n\nEuro, as before."; m.FullText != want {
			t.Errorf("text:\n%s\nwant\n%s", m.FullText, want)
		}
		if m.InReplyTo != "bob-1@mail.test" || m.Subject != "Re: Quote" || m.References[len(m.References)-1] != "bob-1@mail.test" ||
			m.References[0] != g1.MessageID {
			t.Errorf("In-Reply-To %q References %q Subject %q", m.InReplyTo, m.References, m.Subject)
		}
	})
	t.Run("reply to an earlier mail of the gateway's, without a quote", func(t *testing.T) {
		if err := send(gateway.Outgoing{ID: "g5", Body: "About that price:", Refs: []gateway.Ref{{Kind: gateway.RefReply, ID: "g1"}}}); err != nil {
			t.Fatal(err)
		}
		m := one(t)
		if m.FullText != "About that price:" || m.InReplyTo != g1.MessageID || len(m.References) != 1 {
			t.Errorf("text %q In-Reply-To %q References %q", m.FullText, m.InReplyTo, m.References)
		}
	})
	t.Run("a reference to a mail that had no Message-ID", func(t *testing.T) {
		ref := gateway.Ref{Kind: gateway.RefReply, ID: "abc@" + noMessageID + " " + hanaSales}
		if err := send(gateway.Outgoing{ID: "g6", Body: "Noted.", Refs: []gateway.Ref{ref}}); err != nil {
			t.Fatal(err)
		}
		if m := one(t); m.Subject != "Re: Quote" || strings.Contains(strings.Join(append(m.References, m.InReplyTo), " "), noMessageID) {
			t.Errorf("Subject %q In-Reply-To %q References %q", m.Subject, m.InReplyTo, m.References)
		}
	})

	t.Run("retract", func(t *testing.T) {
		err := send(gateway.Outgoing{ID: "g7", Refs: []gateway.Ref{{Kind: gateway.RefRetract, ID: "g1"}}})
		var se *gateway.SendError
		if !errors.As(err, &se) || se.Action != gateway.GiveUp || !errors.Is(err, errRecall) ||
			!strings.Contains(err.Error(), "a mail cannot be recalled once sent; the contact still has the earlier message") {
			t.Errorf("Send = %v", err)
		}
		if got := s.take(t); len(got) != 0 {
			t.Errorf("sent %d mails", len(got))
		}
	})
	for name, out := range map[string]gateway.Outgoing{
		"react":                      {ID: "s1", Reactions: []string{"👍"}, Refs: []gateway.Ref{{Kind: gateway.RefReact, ID: "bob-1@mail.test " + hanaSales}}},
		"react with a fallback body": {ID: "s2", Body: "👍", Reactions: []string{"👍"}, Refs: []gateway.Ref{{Kind: gateway.RefReact, ID: "g1"}}},
		"withdrawn reactions":        {ID: "s3", Refs: []gateway.Ref{{Kind: gateway.RefReact, ID: "g1"}}},
		"received":                   {ID: "s4", Refs: []gateway.Ref{{Kind: gateway.RefReceived, ID: "bob-1@mail.test " + hanaSales}}},
		"displayed":                  {ID: "s5", Refs: []gateway.Ref{{Kind: gateway.RefDisplayed, ID: "bob-1@mail.test " + hanaSales}}},
		"composing":                  {ID: "s6", ChatState: gateway.ChatComposing},
		"paused":                     {ID: "s7", ChatState: gateway.ChatPaused, Body: " \n"},
	} {
		t.Run(name+" is not sent", func(t *testing.T) {
			if err := send(out); err != nil {
				t.Errorf("Send = %v", err)
			}
			if got := s.take(t); len(got) != 0 {
				t.Errorf("sent %d mails", len(got))
			}
		})
	}
	t.Run("text with a chat state is sent", func(t *testing.T) {
		if err := send(gateway.Outgoing{ID: "g8", Body: "Done.", ChatState: gateway.ChatPaused}); err != nil {
			t.Fatal(err)
		}
		if m := one(t); m.Text != "Done." {
			t.Errorf("text %q", m.Text)
		}
	})
}

// TestIngestFilesAndReplyRefs: a contact's mail brings its files, with
// their bytes until the gateway has stored them, and its In-Reply-To as a
// reference the gateway knows: its own ID for the mail it sent, the ID of
// the contact's own earlier mail; a Message-ID of no mail of this
// conversation makes none.
func TestIngestFilesAndReplyRefs(t *testing.T) {
	a, s := sinkAdapter(t, nil)
	ctx := context.Background()
	out := &gateway.Outgoing{ID: "gw77", Network: "mail", From: hanaSales, To: "bob@mail.test", Nick: "Hana", Subject: "Drawings", Body: "Please check."}
	if err := a.Send(ctx, out); err != nil {
		t.Fatal(err)
	}
	sent := s.take(t)[0]

	pdf, png := pattern(50_000), pattern(777)
	b64 := func(b []byte) string {
		s := base64.StdEncoding.EncodeToString(b)
		var w strings.Builder
		for len(s) > 76 {
			w.WriteString(s[:76] + "\r\n")
			s = s[76:]
		}
		return w.String() + s + "\r\n"
	}
	mail := func(id, inReplyTo, body string) []byte {
		return []byte("Return-Path: <bob@mail.test>\r\nDelivered-To: " + hanaSales + "\r\nFrom: Bob <bob@mail.test>\r\nTo: " + hanaSales +
			"\r\nSubject: Re: Drawings\r\nMessage-ID: <" + id + ">\r\nIn-Reply-To: <" + inReplyTo + ">\r\nMIME-Version: 1.0\r\n" + body)
	}
	withFiles := "Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n" +
		"--m\r\nContent-Type: multipart/related; boundary=\"r\"\r\n\r\n" +
		"--r\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Checked, see<img src=\"cid:mark@mail.test\">and the PDF.</p>\r\n" +
		"--r\r\nContent-Type: image/png\r\nContent-ID: <mark@mail.test>\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(png) +
		"--r--\r\n" +
		"--m\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment;\r\n filename*0*=iso-2022-jp''%1B%24B8%2B%40Q%3Dq%1B%28B;\r\n filename*1=.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(pdf) +
		"--m\r\nContent-Type: message/rfc822\r\n\r\nFrom: carol@other.test\r\nSubject: Old drawings\r\n\r\nSee attached.\r\n" +
		"--m--\r\n"
	core := &fakeCore{personas: map[string]bool{hanaSales: true}}
	if q, log := ingestOne(t, a, core, mail("bob-2@mail.test", sent.MessageID, withFiles)); q {
		t.Fatalf("quarantined:\n%s", log)
	}
	m := core.got[0]
	if m.Body != "Checked, see [image: image.png] and the PDF." {
		t.Errorf("Body %q", m.Body)
	}
	if len(m.Refs) != 1 || m.Refs[0] != (gateway.Ref{Kind: gateway.RefReply, ID: "gw77"}) {
		t.Errorf("Refs %+v, want a reply to gw77", m.Refs)
	}
	wantFiles := []struct {
		name, typ string
		data      []byte
	}{
		{"image.png", "image/png", png},
		{"見積書.pdf", "application/pdf", pdf},
		{"Old drawings.eml", "message/rfc822", []byte("From: carol@other.test\r\nSubject: Old drawings\r\n\r\nSee attached.")},
	}
	if len(m.Files) != len(wantFiles) {
		t.Fatalf("Files %+v", m.Files)
	}
	for i, w := range wantFiles {
		f := m.Files[i]
		if f.Name != w.name || f.MediaType != w.typ || f.Size != int64(len(w.data)) || f.SHA256 != sumOf(w.data) || f.URL != "" {
			t.Errorf("file %d: %+v; want %s %s %d bytes", i, f, w.name, w.typ, len(w.data))
			continue
		}
		for range 2 { // the gateway may open it again after a failed try
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(got, w.data) {
				t.Errorf("file %d reads %d bytes, not its own", i, len(got))
			}
		}
	}

	// bob answers his own mail; then a mail in answer to one nobody here
	// has seen; then one with files only.
	onlyFile := "Content-Type: application/pdf; name=\"scan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(pdf[:10])
	for _, raw := range [][]byte{
		mail("bob-3@mail.test", "bob-2@mail.test", "\r\nAnd one more thing.\r\n"),
		mail("bob-4@mail.test", "elsewhere@other.test", "\r\nHello?\r\n"),
		mail("bob-5@mail.test", "bob-3@mail.test", onlyFile),
	} {
		if q, log := ingestOne(t, a, core, raw); q {
			t.Fatalf("quarantined:\n%s", log)
		}
	}
	if r := core.got[1].Refs; len(r) != 1 || r[0] != (gateway.Ref{Kind: gateway.RefReply, ID: "bob-2@mail.test " + hanaSales}) || r[0].ID != core.got[0].ID {
		t.Errorf("a reply to bob's own mail: Refs %+v, want his mail's ID %q", r, core.got[0].ID)
	}
	if r := core.got[2].Refs; len(r) != 0 {
		t.Errorf("a reply to an unknown mail: Refs %+v", r)
	}
	if m := core.got[3]; m.Body != "" || len(m.Files) != 1 || m.Files[0].Name != "scan.pdf" {
		t.Errorf("files only: Body %q Files %+v", m.Body, m.Files)
	}

	// carol answers bob's mail (forwarded to her): not her conversation.
	carol := []byte("Return-Path: <carol@other.test>\r\nDelivered-To: " + hanaSales + "\r\nFrom: carol@other.test\r\nTo: " + hanaSales +
		"\r\nSubject: Re: Drawings\r\nMessage-ID: <carol-1@other.test>\r\nIn-Reply-To: <" + sent.MessageID + ">\r\n\r\nMe too.\r\n")
	if q, _ := ingestOne(t, a, core, carol); q || len(core.got[4].Refs) != 0 {
		t.Errorf("another contact's reply: quarantined %v Refs %+v", q, core.got[4].Refs)
	}
}

// TestFileNameTypeAndReferences: the small rules of outgoing files and
// threads.
func TestFileNameTypeAndReferences(t *testing.T) {
	long := strings.Repeat("見積", 50) + ".pdf" // 304 octets
	for in, want := range map[string]string{
		`C:\Users\hana\a.pdf`:           "a.pdf",
		"/home/hana/b.pdf":              "b.pdf",
		"a\x00b\x1b.txt\u0085":          "ab.txt",
		"bad\xffutf8.txt":               "badutf8.txt",
		"":                              "file",
		"..":                            "file",
		"  spaced name.doc  ":           "spaced name.doc",
		long:                            strings.Repeat("見積", 41) + "見.pdf",
		strings.Repeat("x", 300):        strings.Repeat("x", 255),
		"a." + strings.Repeat("y", 298): "a." + strings.Repeat("y", 253),
	} {
		got := fileName(&gateway.Attachment{Name: in})
		if got != want || len(got) > 255 || !utf8.ValidString(got) {
			t.Errorf("fileName(%q) = %q (%d octets), want %q", in, got, len(got), want)
		}
	}
	for in, want := range map[string]string{
		"image/png": "image/png", "IMAGE/PNG ": "image/png", "": "", "pdf": "", "text/plain; charset=utf-8": "", "a/b/c": "",
	} {
		if got := mediaType(in); got != want {
			t.Errorf("mediaType(%q) = %q, want %q", in, got, want)
		}
	}
	refs := []string{"a@x", "b@x", "c@x"}
	for _, tt := range []struct {
		refs []string
		id   string
		want []string
	}{
		{refs, "b@x", []string{"a@x", "b@x"}},
		{refs, "c@x", refs},
		{refs, "z@x", []string{"a@x", "b@x", "c@x", "z@x"}},
		{nil, "z@x", []string{"z@x"}},
	} {
		got := referencesTo(tt.refs, tt.id)
		if !slices.Equal(got, tt.want) {
			t.Errorf("referencesTo(%q, %q) = %q, want %q", tt.refs, tt.id, got, tt.want)
		}
		if len(got) > 0 && len(tt.refs) > 0 && &got[0] == &tt.refs[0] {
			t.Error("referencesTo shares the thread's slice")
		}
	}
	if got := quoted(strings.Repeat("x", 2000)); len(got) > maxQuote+10 || !strings.HasSuffix(got, "…") {
		t.Errorf("a long quote is %d octets: %q…", len(got), got[:20])
	}
}
