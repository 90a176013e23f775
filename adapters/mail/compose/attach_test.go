package compose_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"github.com/kakehashi/kakehashi/adapters/mail/compose"
	mailparse "github.com/kakehashi/kakehashi/adapters/mail/parse"
)

// file is an attachment of data; opened counts its Opens.
func file(name, mediaType string, data []byte, opened *int) compose.Attachment {
	return compose.Attachment{Name: name, MediaType: mediaType, Open: func() (io.ReadCloser, error) {
		if opened != nil {
			*opened++
		}
		return io.NopCloser(bytes.NewReader(data)), nil
	}}
}

// pattern is n bytes of every value.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i/256)
	}
	return b
}

// part is one MIME part as go-message reads it back.
type part struct {
	inline      bool
	contentType string
	params      map[string]string
	filename    string
	data        []byte
}

// readParts reads a mail with go-message's mail reader, as a receiving
// client would: its header and each part, decoded.
func readParts(t *testing.T, raw []byte) (mail.Header, []part) {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("go-message cannot read the mail: %v\n%s", err, raw)
	}
	var parts []part
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("go-message NextPart: %v\n%s", err, raw)
		}
		data, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatalf("go-message reading a part: %v", err)
		}
		var got part
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			got.inline = true
			got.contentType, got.params, _ = h.ContentType()
		case *mail.AttachmentHeader:
			got.contentType, got.params, _ = h.ContentType()
			if got.filename, err = h.Filename(); err != nil {
				t.Errorf("go-message Filename: %v", err)
			}
		}
		got.data = data
		parts = append(parts, got)
	}
	return r.Header, parts
}

// TestBuildAttachmentsStructure: text first, then each file in order,
// base64, named, byte-exact, as go-message reads the mail.
func TestBuildAttachmentsStructure(t *testing.T) {
	pdf, png := pattern(40_000), pattern(1234)
	m := base()
	m.Attachments = []compose.Attachment{
		file("quote.pdf", "application/pdf", pdf, nil),
		file("見積書 2026.pdf", "application/pdf", pdf[:777], nil),
		file("", "image/png", png, nil),
		file("original.eml", "message/rfc822", []byte("From: x@y.test\r\n\r\nhi\r\n"), nil),
	}
	raw := build(t, m)
	checkLines(t, raw)
	names, _ := rawHeader(t, raw)
	want := []string{"Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Type"}
	if !slices.Equal(names, want) {
		t.Errorf("fields = %v\nwant     %v", names, want)
	}
	h, parts := readParts(t, raw)
	if mt, params, err := h.ContentType(); err != nil || mt != "multipart/mixed" || !strings.HasPrefix(params["boundary"], "=_") {
		t.Errorf("Content-Type %q %v %v", mt, params, err)
	}
	if len(parts) != 5 {
		t.Fatalf("%d parts", len(parts))
	}
	if p := parts[0]; !p.inline || p.contentType != "text/plain" || p.params["charset"] != "utf-8" ||
		strings.ReplaceAll(string(p.data), "\r\n", "\n") != strings.TrimSuffix(m.Text, "\n") {
		t.Errorf("text part %+v %q", p, p.data)
	}
	wantFiles := []struct {
		name, typ string
		data      []byte
	}{
		{"quote.pdf", "application/pdf", pdf},
		{"見積書 2026.pdf", "application/pdf", pdf[:777]},
		{"", "image/png", png},
		// base64 is not allowed for message/rfc822 (RFC 2046 §5.2.1).
		{"original.eml", "application/octet-stream", []byte("From: x@y.test\r\n\r\nhi\r\n")},
	}
	for i, w := range wantFiles {
		p := parts[i+1]
		if p.inline || p.filename != w.name || p.contentType != w.typ || sha256.Sum256(p.data) != sha256.Sum256(w.data) {
			t.Errorf("part %d: inline %v %q %s %d bytes; want %q %s %d bytes", i+1, p.inline, p.filename, p.contentType, len(p.data), w.name, w.typ, len(w.data))
		}
		if w.name != "" && p.params["name"] != w.name {
			t.Errorf("part %d: Content-Type name %q, want %q", i+1, p.params["name"], w.name)
		}
	}
	if strings.Count(string(raw), "Content-Transfer-Encoding: base64") != 4 {
		t.Errorf("not every file is base64:\n%s", raw)
	}
}

// TestBuildAttachmentNames: names in any script round-trip through the
// project's own parser and go-message; ASCII names go plain; every
// header line, however long the name, stays within 78 octets.
func TestBuildAttachmentNames(t *testing.T) {
	names := []string{
		"見積書 2026.pdf",
		"report.pdf",
		"Quote for May (final).pdf",
		`odd "quoted" name.txt`,
		"a=?b?=c.txt", // ASCII that reads like an encoded-word
		"résumé.docx",
		"😀 emoji.png",
		strings.Repeat("長い名前", 20) + ".xlsx",
		strings.Repeat("long-ascii-name-", 12) + ".txt",
		strings.Repeat("x", 200) + ".bin", // no space to fold at
		"ｶﾀｶﾅ　全角スペース.pdf",
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			data := pattern(300)
			m := base()
			m.Attachments = []compose.Attachment{file(name, "application/octet-stream", data, nil)}
			raw := build(t, m)
			checkLines(t, raw)

			_, parts := readParts(t, raw)
			if len(parts) != 2 || parts[1].filename != name || parts[1].params["name"] != name || !bytes.Equal(parts[1].data, data) {
				t.Errorf("go-message reads filename %q name %q (%d bytes)", parts[1].filename, parts[1].params["name"], len(parts[1].data))
			}
			pm, err := mailparse.Bytes(raw, mailparse.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(pm.Attachments) != 1 || pm.Attachments[0].Name != name || !bytes.Equal(pm.Attachments[0].Data, data) {
				t.Errorf("parse reads %+v", pm.Attachments)
			}
		})
	}

	// ASCII names are written plain, nothing encoded.
	m := base()
	m.Attachments = []compose.Attachment{file("report.pdf", "application/pdf", []byte("%PDF"), nil)}
	raw := string(build(t, m))
	for _, want := range []string{"Content-Type: application/pdf; name=\"report.pdf\"\r\n", "Content-Disposition: attachment; filename=\"report.pdf\"\r\n"} {
		if !strings.Contains(raw, want) {
			t.Errorf("no %q in\n%s", want, raw)
		}
	}
	// A Japanese name is RFC 2231 in Content-Disposition and RFC 2047 in
	// Content-Type.
	m.Attachments[0].Name = "見積書 2026.pdf"
	raw = string(build(t, m))
	for _, want := range []string{"filename*=utf-8''%E8%A6%8B%E7%A9%8D%E6%9B%B8%202026.pdf", `name="=?UTF-8?B?`} {
		if !strings.Contains(raw, want) {
			t.Errorf("no %q in\n%s", want, raw)
		}
	}
}

// TestBuildLongMediaType: a media type longer than fits beside its
// field name moves to a line of its own.
func TestBuildLongMediaType(t *testing.T) {
	m := base()
	mt := "application/vnd.openxmlformats-officedocument.presentationml.presentation"
	m.Attachments = []compose.Attachment{file("deck.pptx", mt, []byte("PK"), nil)}
	raw := build(t, m)
	checkLines(t, raw)
	if _, parts := readParts(t, raw); parts[1].contentType != mt || parts[1].filename != "deck.pptx" {
		t.Errorf("part %+v", parts[1])
	}
}

// TestBuildOnlyFiles: a mail of files and no text has no text part.
func TestBuildOnlyFiles(t *testing.T) {
	m := base()
	m.Text = " \n"
	m.Attachments = []compose.Attachment{file("scan.pdf", "application/pdf", pattern(100), nil)}
	raw := build(t, m)
	_, parts := readParts(t, raw)
	if len(parts) != 1 || parts[0].filename != "scan.pdf" {
		t.Errorf("parts %+v", parts)
	}
	pm, err := mailparse.Bytes(raw, mailparse.Options{})
	if err != nil || pm.Text != "" || len(pm.Attachments) != 1 {
		t.Errorf("parse: %v %q %+v", err, pm.Text, pm.Attachments)
	}
}

// TestBuildBoundary: the boundary is the Message-ID's digest: the same
// mail twice is the same bytes, another mail has another boundary, and a
// text that holds the boundary is encoded so that it cannot end a part.
func TestBuildBoundary(t *testing.T) {
	opened := 0
	m := base()
	m.Attachments = []compose.Attachment{file("a.txt", "text/plain", []byte("a"), &opened)}
	a, b := build(t, m), build(t, m)
	if !bytes.Equal(a, b) || opened != 2 {
		t.Errorf("two builds differ (opened %d times)", opened)
	}
	h, _ := readParts(t, a)
	_, params, _ := h.ContentType()
	boundary := params["boundary"]
	if len(boundary) < 32 {
		t.Errorf("boundary %q is short", boundary)
	}
	m2 := base()
	m2.MessageID = "other@contact.acme.test"
	m2.Attachments = m.Attachments
	h2, _ := readParts(t, build(t, m2))
	if _, p2, _ := h2.ContentType(); p2["boundary"] == boundary {
		t.Errorf("two mails share the boundary %q", boundary)
	}

	// The text quotes the boundary, as if to end the part early.
	m.Text = "Hello\n--" + boundary + "\nContent-Type: text/html\n\n<b>injected</b>\n--" + boundary + "--\n"
	raw := build(t, m)
	if !strings.Contains(string(raw), "Content-Transfer-Encoding: quoted-printable") {
		t.Errorf("a text holding the boundary went out 7bit:\n%s", raw)
	}
	_, parts := readParts(t, raw)
	if len(parts) != 2 || !strings.Contains(string(parts[0].data), "<b>injected</b>") || parts[1].filename != "a.txt" {
		t.Errorf("parts %+v", parts)
	}
}

// TestBuildAttachmentsLeakNothing: a file's part says its name and type
// and nothing else: no dates, sizes, host names or software.
func TestBuildAttachmentsLeakNothing(t *testing.T) {
	m := base()
	m.Attachments = []compose.Attachment{file("見積書.pdf", "application/pdf", []byte("%PDF-1.7"), nil)}
	raw := build(t, m)
	forbidden := []string{"kakehashi", "Kakehashi", "golang", "go-message", "X-", "User-Agent", "date=", "size=", "creation-date", "modification-date"}
	if host, err := os.Hostname(); err == nil && host != "" {
		forbidden = append(forbidden, host)
	}
	for _, f := range forbidden {
		if bytes.Contains(raw, []byte(f)) {
			t.Errorf("output contains %q", f)
		}
	}
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mr := e.MultipartReader()
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for f := p.Header.Fields(); f.Next(); {
			switch f.Key() {
			case "Content-Type", "Content-Disposition", "Content-Transfer-Encoding":
			default:
				t.Errorf("part field %s: %s", f.Key(), f.Value())
			}
		}
	}
}

// TestWriteStreams: Write gives Build's bytes, reading each file as it
// goes; a file that cannot be opened or read is an error naming it that
// is not ErrInvalid; a refused message writes nothing.
func TestWriteStreams(t *testing.T) {
	m := base()
	m.Attachments = []compose.Attachment{file("a.bin", "", pattern(100_000), nil)}
	var w bytes.Buffer
	if err := compose.Write(&w, m); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.Bytes(), build(t, m)) {
		t.Error("Write and Build differ")
	}
	if _, parts := readParts(t, w.Bytes()); parts[1].contentType != "application/octet-stream" {
		t.Errorf("a file without a type is %q", parts[1].contentType)
	}

	boom := errors.New("spool unreadable")
	for name, open := range map[string]func() (io.ReadCloser, error){
		"open": func() (io.ReadCloser, error) { return nil, boom },
		"read": func() (io.ReadCloser, error) {
			return io.NopCloser(io.MultiReader(bytes.NewReader(pattern(5000)), iotest.ErrReader(boom))), nil
		},
		"close": func() (io.ReadCloser, error) { return errCloser{bytes.NewReader(nil), boom}, nil },
	} {
		m.Attachments = []compose.Attachment{{Name: "x.pdf", Open: open}}
		_, err := compose.Build(m)
		if !errors.Is(err, boom) || errors.Is(err, compose.ErrInvalid) || !strings.Contains(err.Error(), "x.pdf") {
			t.Errorf("%s: %v", name, err)
		}
	}

	var out bytes.Buffer
	m.Attachments = []compose.Attachment{{Name: "x.pdf"}}
	if err := compose.Write(&out, m); !errors.Is(err, compose.ErrInvalid) || out.Len() != 0 {
		t.Errorf("no Open: %v, wrote %d bytes", err, out.Len())
	}
}

type errCloser struct {
	io.Reader
	err error
}

func (c errCloser) Close() error { return c.err }

// TestBuildRejectsAttachments: what a file part could not say safely.
func TestBuildRejectsAttachments(t *testing.T) {
	ok := func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("x")), nil }
	for name, a := range map[string]compose.Attachment{
		"no Open":             {Name: "a.pdf"},
		"directory":           {Name: "docs/a.pdf", Open: ok},
		"Windows directory":   {Name: `C:\docs\a.pdf`, Open: ok},
		"line break":          {Name: "a\r\nBcc: x@y.test", Open: ok},
		"control character":   {Name: "a\x07.pdf", Open: ok},
		"invalid UTF-8":       {Name: "a\xff.pdf", Open: ok},
		"too long":            {Name: strings.Repeat("a", 256), Open: ok},
		"parameters":          {Name: "a.txt", MediaType: "text/plain; charset=utf-8", Open: ok},
		"no subtype":          {Name: "a.txt", MediaType: "text", Open: ok},
		"header in the type":  {Name: "a.txt", MediaType: "text/plain\r\nBcc: x@y.test", Open: ok},
		"non-ASCII in a type": {Name: "a.txt", MediaType: "text/plaın", Open: ok},
	} {
		m := base()
		m.Attachments = []compose.Attachment{a}
		if _, err := compose.Build(m); !errors.Is(err, compose.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	m := base()
	m.Text = ""
	if _, err := compose.Build(m); !errors.Is(err, compose.ErrInvalid) {
		t.Errorf("no text and no files: %v", err)
	}
}
