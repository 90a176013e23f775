package parse

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// attachMail is a multipart/mixed mail whose parts are given as raw
// (header, blank line, body) strings with "\n" line ends.
func attachMail(subject string, parts ...string) string {
	var b strings.Builder
	b.WriteString("From: Bob <bob@mail.test>\nTo: hana@contact.acme.test\nSubject: " + subject +
		"\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"mix\"\n\nThis is a multi-part message in MIME format.\n")
	for _, p := range parts {
		b.WriteString("--mix\n" + p + "\n")
	}
	b.WriteString("--mix--\n")
	return strings.ReplaceAll(b.String(), "\n", "\r\n")
}

// b64 is data as a mailer sends it: base64 in lines of 76.
func b64(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	return b.String() + s
}

func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// binary is n bytes of every value, so that a line-end or charset
// conversion anywhere would show.
func binary(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/256)
	}
	return b
}

// bothReaders parses raw with each MIME reader in turn (see readBody),
// so that what a test checks holds whichever reads a mail.
func bothReaders(t *testing.T, raw string, check func(t *testing.T, m *Mail)) {
	t.Helper()
	for _, path := range []readPath{viaGoMessage, viaLenient} {
		t.Run(path.String(), func(t *testing.T) {
			m, got, err := parseBytes([]byte(raw), Options{}, path)
			if err != nil || got != path {
				t.Fatalf("parse via %s: %v (read via %s)", path, err, got)
			}
			check(t, m)
		})
	}
}

// TestAttachmentNames: file names in every form mailers write them, the
// Japanese ones in particular.
func TestAttachmentNames(t *testing.T) {
	tests := []struct {
		name, header, want string
	}{
		{"RFC 2231 ISO-2022-JP with continuations split inside an escape sequence",
			"Content-Type: application/pdf\nContent-Disposition: attachment;\n filename*0*=iso-2022-jp'ja'%1B%24B8%2B%40Q;\n filename*1*=%3Dq%21J2~D%7BHG%21K%1B%28B2026.pdf",
			"見積書（改訂版）2026.pdf"},
		{"RFC 2231 UTF-8 in one piece",
			"Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document\nContent-Disposition: attachment;\n filename*=UTF-8''%E8%AD%B0%E4%BA%8B%E9%8C%B2%20%E7%AC%AC3%E5%9B%9E.docx",
			"議事録 第3回.docx"},
		{"RFC 2231 UTF-8 continuations, a plain section among encoded ones",
			"Content-Type: application/octet-stream\nContent-Disposition: attachment;\n filename*0*=utf-8''%E8%AD%B0%E4%BA%8B;\n filename*1*=%E9%8C%B2;\n filename*2=\" final.docx\"",
			"議事録 final.docx"},
		{"RFC 2231 Shift_JIS",
			"Content-Type: application/vnd.ms-excel\nContent-Disposition: attachment; filename*=shift_jis''%90%BF%8B%81%8F%91.xlsx",
			"請求書.xlsx"},
		{"RFC 2231 in Content-Type name only",
			"Content-Type: application/pdf; name*=utf-8''%E8%AD%B0%E4%BA%8B%E9%8C%B2.pdf",
			"議事録.pdf"},
		{"RFC 2047 ISO-2022-JP in a quoted filename (Outlook, Japanese mailers)",
			"Content-Type: application/pdf; name=\"=?ISO-2022-JP?B?GyRCSC9DbT1xGyhCLnBkZg==?=\"\nContent-Disposition: attachment; filename=\"=?ISO-2022-JP?B?GyRCSC9DbT1xGyhCLnBkZg==?=\"",
			"発注書.pdf"},
		{"RFC 2047 UTF-8 in name= only",
			"Content-Type: image/png; name=\"=?UTF-8?B?5Zuz6Z2iIEEtMS5wbmc=?=\"",
			"図面 A-1.png"},
		{"RFC 2047 Q encoding, split over two words",
			"Content-Type: text/csv\nContent-Disposition: attachment; filename=\"=?utf-8?Q?r=C3=A9sum=C3=A9?= =?utf-8?Q?_2026.csv?=\"",
			"résumé 2026.csv"},
		{"the RFC 2231 filename wins over the RFC 2047 name",
			"Content-Type: application/pdf; name=\"=?UTF-8?B?5Zuz6Z2iIEEtMS5wbmc=?=\"\nContent-Disposition: attachment; filename*=UTF-8''%E8%AD%B0%E4%BA%8B%E9%8C%B2.pdf",
			"議事録.pdf"},
		{"plain ASCII, unquoted",
			"Content-Type: application/pdf\nContent-Disposition: attachment; filename=quote-2026.pdf",
			"quote-2026.pdf"},
		{"plain ASCII with spaces, quoted",
			"Content-Type: application/pdf\nContent-Disposition: attachment; filename=\"Quote for May.pdf\"",
			"Quote for May.pdf"},
		{"a Unix path",
			"Content-Type: application/pdf\nContent-Disposition: attachment; filename=\"/home/bob/quotes/may.pdf\"",
			"may.pdf"},
		{"a Windows path in an RFC 2231 value",
			"Content-Type: application/pdf\nContent-Disposition: attachment; filename*=utf-8''C%3A%5CUsers%5Cbob%5C%E8%AD%B0%E4%BA%8B%E9%8C%B2.pdf",
			"議事録.pdf"},
		{"no name: from the type",
			"Content-Type: image/jpeg\nContent-Disposition: attachment",
			"image.jpg"},
		{"no name, unknown type",
			"Content-Type: application/x-unheard-of-format-for-sure",
			"attachment"},
		{"no name, ZIP",
			"Content-Type: application/zip",
			"attachment.zip"},
		{"winmail.dat is a file like any other",
			"Content-Type: application/ms-tnef; name=\"winmail.dat\"\nContent-Disposition: attachment; filename=\"winmail.dat\"",
			"winmail.dat"},
	}
	data := binary(300)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := attachMail("names", "Content-Type: text/plain\n\nSee the file.",
				tt.header+"\nContent-Transfer-Encoding: base64\n\n"+b64(data))
			bothReaders(t, raw, func(t *testing.T, m *Mail) {
				if len(m.Attachments) != 1 {
					t.Fatalf("attachments %+v", m.Attachments)
				}
				a := m.Attachments[0]
				if a.Name != tt.want {
					t.Errorf("Name = %q, want %q", a.Name, tt.want)
				}
				if !bytes.Equal(a.Data, data) || a.Size != int64(len(data)) {
					t.Errorf("Data: %d bytes, Size %d, hash %s; want %s", len(a.Data), a.Size, sum(a.Data), sum(data))
				}
				if m.Text != "See the file." {
					t.Errorf("Text = %q", m.Text)
				}
			})
		})
	}
}

// TestAttachmentsInOrderByteExact: several files, in every transfer
// encoding, come out in MIME order with exactly the bytes sent.
func TestAttachmentsInOrderByteExact(t *testing.T) {
	pdf := binary(5000)
	csv := []byte("品番,数量\r\nA-1,10\r\nB-2,5\r\n")
	notes := []byte("line one\nline two\n")
	raw := attachMail("files",
		"Content-Type: text/plain; charset=utf-8\n\nThree files.",
		"Content-Type: application/pdf; name=\"a.pdf\"\nContent-Disposition: attachment; filename=\"a.pdf\"\nContent-Transfer-Encoding: base64\n\n"+b64(pdf),
		// Quoted-printable keeps its CRLFs encoded; the decoded bytes are
		// the file's.
		"Content-Type: text/csv; charset=utf-8; name=\"b.csv\"\nContent-Transfer-Encoding: quoted-printable\n\n=E5=93=81=E7=95=AA,=E6=95=B0=E9=87=8F=0D=0AA-1,10=0D=0AB-2,5=0D=0A",
		"Content-Type: text/plain; name=\"c.txt\"\nContent-Disposition: attachment\nContent-Transfer-Encoding: base64\n\n"+b64(notes),
	)
	bothReaders(t, raw, func(t *testing.T, m *Mail) {
		want := []struct {
			name, typ string
			data      []byte
		}{{"a.pdf", "application/pdf", pdf}, {"b.csv", "text/csv", csv}, {"c.txt", "text/plain", notes}}
		if len(m.Attachments) != len(want) {
			t.Fatalf("attachments %+v", m.Attachments)
		}
		for i, w := range want {
			a := m.Attachments[i]
			if a.Name != w.name || a.ContentType != w.typ || sum(a.Data) != sum(w.data) || a.Size != int64(len(w.data)) || a.Inline {
				t.Errorf("attachment %d: %s %s %d bytes inline %v; want %s %s %d bytes", i, a.Name, a.ContentType, len(a.Data), a.Inline, w.name, w.typ, len(w.data))
			}
		}
		if m.Text != "Three files." {
			t.Errorf("Text = %q", m.Text)
		}
	})
}

// TestInlineImages: images an HTML body shows by cid: are marked inline
// and leave "[image: name]" where they stood; an inline part with a
// Content-ID is inline too; a mere attachment is not.
func TestInlineImages(t *testing.T) {
	logo, chart, photo := binary(120), binary(700), binary(64)
	raw := "From: Bob <bob@mail.test>\r\nTo: hana@contact.acme.test\r\nSubject: chart\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n" +
		"--mix\r\nContent-Type: multipart/related; boundary=\"rel\"; type=\"text/html\"\r\n\r\n" +
		"--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		"<html><body><p>Here is the chart:<img src=\"cid:chart%40mail.test\" alt=\"chart\">as promised.</p>" +
		"<p><a href=\"https://mail.test/\"><img src=\"CID:logo.png@01DA0000\"></a></p>" +
		"<p><img src=\"https://tracker.test/pixel.gif\" alt=\"\"></p><div style=\"background:url(cid:bg@x)\">x</div></body></html>\r\n" +
		"--rel\r\nContent-Type: image/png; name=\"chart.png\"\r\nContent-ID: <chart@mail.test>\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(chart) + "\r\n" +
		// Outlook's Content-ID without angle brackets.
		"--rel\r\nContent-Type: image/png; name=\"image001.png\"\r\nContent-Disposition: inline; filename=\"image001.png\"\r\nContent-ID: logo.png@01DA0000\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(logo) + "\r\n" +
		"--rel--\r\n" +
		"--mix\r\nContent-Type: image/jpeg; name=\"photo.jpg\"\r\nContent-Disposition: inline; filename=\"photo.jpg\"\r\nContent-ID: <photo@mail.test>\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(photo) + "\r\n" +
		"--mix\r\nContent-Type: application/pdf; name=\"spec.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(photo) + "\r\n" +
		"--mix--\r\n"
	bothReaders(t, raw, func(t *testing.T, m *Mail) {
		want := "Here is the chart: [image: chart.png] as promised.\n\n[image: image001.png] (https://mail.test/)\n\nx"
		if m.Text != want || !m.FromHTML {
			t.Errorf("Text = %q\nwant   %q", m.Text, want)
		}
		wantAtts := []Attachment{
			{Name: "chart.png", ContentType: "image/png", Size: int64(len(chart)), Data: chart, ContentID: "chart@mail.test", Inline: true},
			{Name: "image001.png", ContentType: "image/png", Size: int64(len(logo)), Data: logo, ContentID: "logo.png@01DA0000", Inline: true},
			// Not shown by the HTML, but marked inline by its sender.
			{Name: "photo.jpg", ContentType: "image/jpeg", Size: int64(len(photo)), Data: photo, ContentID: "photo@mail.test", Inline: true},
			{Name: "spec.pdf", ContentType: "application/pdf", Size: int64(len(photo)), Data: photo},
		}
		if len(m.Attachments) != len(wantAtts) {
			t.Fatalf("attachments %+v", m.Attachments)
		}
		for i, w := range wantAtts {
			a := m.Attachments[i]
			if a.Name != w.Name || a.ContentType != w.ContentType || a.Size != w.Size || !bytes.Equal(a.Data, w.Data) ||
				a.ContentID != w.ContentID || a.Inline != w.Inline {
				t.Errorf("attachment %d: %s %s %d %q inline %v\nwant %s %s %d %q inline %v", i,
					a.Name, a.ContentType, a.Size, a.ContentID, a.Inline, w.Name, w.ContentType, w.Size, w.ContentID, w.Inline)
			}
		}
	})
}

// TestInlineImageOfAHiddenHTMLAlternative: when the plain text is what
// is shown, the HTML alternative's images are still its inline images.
func TestInlineImageOfAHiddenHTMLAlternative(t *testing.T) {
	img := binary(90)
	raw := "From: Bob <bob@mail.test>\r\nTo: hana@contact.acme.test\r\nSubject: x\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n" +
		"--alt\r\nContent-Type: text/plain\r\n\r\nThe plan [cid:plan]\r\n" +
		"--alt\r\nContent-Type: multipart/related; boundary=\"rel\"\r\n\r\n" +
		"--rel\r\nContent-Type: text/html\r\n\r\n<p>The plan <img src='cid:plan'></p>\r\n" +
		"--rel\r\nContent-Type: image/gif\r\nContent-ID: <plan>\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(img) + "\r\n--rel--\r\n--alt--\r\n"
	bothReaders(t, raw, func(t *testing.T, m *Mail) {
		if m.Text != "The plan [cid:plan]" || m.FromHTML {
			t.Errorf("Text = %q (from HTML %v)", m.Text, m.FromHTML)
		}
		if len(m.Attachments) != 1 || !m.Attachments[0].Inline || m.Attachments[0].Name != "image.gif" || !bytes.Equal(m.Attachments[0].Data, img) {
			t.Errorf("attachments %+v", m.Attachments)
		}
	})
}

// TestForwardedMessageIsAFile: a forwarded message/rfc822 part is a file
// named after its subject, holding the forwarded mail as it was.
func TestForwardedMessageIsAFile(t *testing.T) {
	inner := "From: Carol <carol@other.test>\r\nTo: bob@mail.test\r\nSubject: =?UTF-8?B?5rOo5paH5pu4?= / May\r\nMessage-ID: <inner@other.test>\r\n\r\nPlease send 10 units.\r\n"
	raw := attachMail("Fwd: order",
		"Content-Type: text/plain\n\nSee Carol's order below.",
		"Content-Type: message/rfc822\nContent-Disposition: inline\n\n"+strings.ReplaceAll(inner, "\r\n", "\n"))
	bothReaders(t, raw, func(t *testing.T, m *Mail) {
		if len(m.Attachments) != 1 {
			t.Fatalf("attachments %+v", m.Attachments)
		}
		a := m.Attachments[0]
		// The "/" of the subject would be a directory: the name keeps
		// what follows it, as for any file name.
		if a.Name != "May.eml" || a.ContentType != "message/rfc822" || a.Inline {
			t.Errorf("forwarded: %s %s inline %v", a.Name, a.ContentType, a.Inline)
		}
		if got := strings.ReplaceAll(string(a.Data), "\r\n", "\n"); got != strings.ReplaceAll(inner, "\r\n", "\n") {
			t.Errorf("forwarded bytes:\n%q\nwant\n%q", got, inner)
		}
	})
	raw = attachMail("Fwd: order", "Content-Type: text/plain\n\nFYI",
		"Content-Type: message/rfc822\n\nFrom: carol@other.test\nSubject: =?ISO-2022-JP?B?GyRCJSslPyVtJTAbKEI=?= 2027\n\nbody")
	bothReaders(t, raw, func(t *testing.T, m *Mail) {
		if len(m.Attachments) != 1 || m.Attachments[0].Name != "カタログ 2027.eml" {
			t.Errorf("attachments %+v", m.Attachments)
		}
	})
}

// TestOnlyAnAttachment: a mail that is one file and no text.
func TestOnlyAnAttachment(t *testing.T) {
	pdf := binary(1000)
	for name, raw := range map[string]string{
		"single part": "From: Bob <bob@mail.test>\r\nTo: hana@contact.acme.test\r\nSubject: scan\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: application/pdf; name=\"scan.pdf\"\r\nContent-Disposition: attachment; filename=\"scan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(pdf) + "\r\n",
		"multipart without a text part": attachMail("scan",
			"Content-Type: application/pdf; name=\"scan.pdf\"\nContent-Transfer-Encoding: base64\n\n"+b64(pdf)),
	} {
		t.Run(name, func(t *testing.T) {
			bothReaders(t, raw, func(t *testing.T, m *Mail) {
				if m.Text != "" || len(m.Attachments) != 1 || m.Attachments[0].Name != "scan.pdf" || !bytes.Equal(m.Attachments[0].Data, pdf) {
					t.Errorf("Text %q attachments %+v", m.Text, m.Attachments)
				}
			})
		})
	}
}

// TestSignaturesAreFiles: an S/MIME signature (multipart/signed) and a
// PGP signature are kept as files beside what they sign.
func TestSignaturesAreFiles(t *testing.T) {
	sig := binary(400)
	raw := "From: Bob <bob@mail.test>\r\nTo: hana@contact.acme.test\r\nSubject: signed\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"sig\"\r\n\r\n" +
		"--sig\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSigned and sealed.\r\n" +
		"--sig\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(sig) + "\r\n" +
		"--sig--\r\n"
	bothReaders(t, raw, func(t *testing.T, m *Mail) {
		if m.Text != "Signed and sealed." || len(m.Attachments) != 1 || m.Attachments[0].Name != "smime.p7s" || !bytes.Equal(m.Attachments[0].Data, sig) {
			t.Errorf("Text %q attachments %+v", m.Text, m.Attachments)
		}
	})
}

// TestAttachmentDataIsReadOnlyView: Bytes leaves the mail as it was,
// whatever the attachments' Data point into.
func TestAttachmentDataIsReadOnlyView(t *testing.T) {
	raw := []byte(attachMail("x", "Content-Type: text/plain\n\nx", "Content-Type: application/octet-stream; name=\"a.bin\"\n\nraw bytes"))
	before := append([]byte(nil), raw...)
	m, err := Bytes(raw, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, before) || len(m.Attachments) != 1 || string(m.Attachments[0].Data) != "raw bytes" {
		t.Errorf("attachments %+v", m.Attachments)
	}
}
