package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"
)

// mailFile is one attachment as a mail client shows it.
type mailFile struct {
	name string
	data []byte
}

// parseMail parses a raw mail as a mail client would: its header, its
// text and its attachments.
func parseMail(t testing.TB, raw []byte) (*gomail.Header, string, []mailFile) {
	t.Helper()
	r, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil && r == nil {
		t.Fatalf("mail does not parse: %v\n%s", err, raw)
	}
	var text strings.Builder
	var files []mailFile
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("mail part: %v\n%s", err, raw)
		}
		b, _ := io.ReadAll(p.Body)
		switch h := p.Header.(type) {
		case *gomail.InlineHeader:
			text.Write(b)
		case *gomail.AttachmentHeader:
			name, err := h.Filename()
			if err != nil {
				t.Fatalf("attachment name: %v\n%s", err, raw)
			}
			files = append(files, mailFile{name, b})
		}
	}
	return &r.Header, text.String(), files
}

// TestMailFilesBothWays: Hana's files reach a mail contact as
// attachments, one too large for the mail as a link to a copy on the
// persona's XMPP server; a contact's attachment reaches Hana as a file on
// the company's upload service, after the mail's text, byte for byte.
func TestMailFilesBothWays(t *testing.T) {
	w := newWorld(t, worldOptions{mail: true, attachLimit: 4096})
	hana := w.client("hana")

	if err := hana.Send(bobMailProxy, "Hello Bob, the price list and the catalogue follow."); err != nil {
		t.Fatal(err)
	}
	prices := []byte("item,price\nA-100,12000\nB-200,8500\n")
	catalogue := bytes.Repeat([]byte("Catalogue 2027: widgets, gadgets and parts.\n"), 300) // > 4096
	for _, f := range []struct {
		name string
		data []byte
	}{{"価格表 2027.csv", prices}, {"catalogue.txt", catalogue}} {
		u := upload(t, hana, w.inside.InsideUpload, f.name, "text/plain", f.data)
		if _, err := hana.SendFile(bobMailProxy, u, ""); err != nil {
			t.Fatal(err)
		}
	}
	got := w.mail.WaitMail(t, bobMail, password, "INBOX", 3, waitMail)
	var attached []mailFile
	var links []string
	linkRE := regexp.MustCompile(`https?://\S+`)
	for _, m := range got {
		_, text, files := parseMail(t, m.Raw)
		attached = append(attached, files...)
		links = append(links, linkRE.FindAllString(text, -1)...)
		leakScan(t, m.Raw, w.inside.InsideUpload.Host+":")
	}
	if len(attached) != 1 || attached[0].name != "価格表 2027.csv" || !bytes.Equal(attached[0].data, prices) {
		t.Fatalf("attachments %+v; want 価格表 2027.csv whole", attached)
	}
	if len(links) != 1 || host(t, links[0]) != w.outside.OutsideUpload.Host {
		t.Fatalf("links %q; want one to the catalogue on %s", links, w.outside.OutsideUpload.Host)
	}
	if b := fetch(t, links[0]); !bytes.Equal(b, catalogue) {
		t.Fatalf("the linked catalogue is %d bytes, want %d", len(b), len(catalogue))
	}

	// bob answers with a photo attached: Hana gets the text, then the
	// photo on her own company's upload service.
	data := photo(t, "Bob Brown")
	var b strings.Builder
	const boundary = "b0undary-42"
	fmt.Fprintf(&b, "From: Bob Brown <%s>\r\nTo: %s\r\nSubject: Re: parts\r\nDate: %s\r\nMessage-ID: <%d.files@mail.test>\r\nMIME-Version: 1.0\r\n",
		bobMail, hanaAddr, time.Now().Format(time.RFC1123Z), time.Now().UnixNano())
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%q\r\n\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe broken part, photographed.\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment; filename*=UTF-8''%%E9%%83%%A8%%E5%%93%%81.jpg\r\nContent-Transfer-Encoding: base64\r\n\r\n", boundary)
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	fmt.Fprintf(&b, "%s\r\n--%s--\r\n", enc, boundary)
	w.mail.Send(t, bobMail, []string{hanaAddr}, []byte(b.String()))

	text := message(t, hana)
	if bare(text.From) != bobMailProxy || !strings.Contains(text.Body, "The broken part, photographed.") || len(text.OOBURLs) != 0 {
		t.Fatalf("hana got first %s", text.Raw)
	}
	m, u := fileMessage(t, hana)
	if bare(m.From) != bobMailProxy || host(t, u) != w.inside.InsideUpload.Host {
		t.Fatalf("hana got the photo as %s", m.Raw)
	}
	if !strings.Contains(u, "%E9%83%A8%E5%93%81.jpg") && !strings.Contains(u, "部品.jpg") {
		t.Errorf("the photo's name is lost: %s", u)
	}
	if got := fetch(t, u); !bytes.Equal(got, data) {
		t.Fatalf("the inside copy of the photo differs: %d bytes, want %d", len(got), len(data))
	}
}
