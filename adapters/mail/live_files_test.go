package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"strconv"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"github.com/kakehashi/kakehashi/adapters/mail/compose"
	"github.com/kakehashi/kakehashi/adapters/mail/parse"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/internal/testenv"
)

// TestLiveFilesBothWays sends a mail with two files through Postfix's
// submission port and reads it back from bob's mailbox in Dovecot,
// byte-exact by hash with the project's parser and with go-message's;
// bob's answer with two files of his own comes back through IMAP as a
// message whose files read back byte-exact and which replies to the
// gateway's message.
func TestLiveFilesBothWays(t *testing.T) {
	m := testenv.StartMail(t, testenv.MailOptions{})
	m.AddUser(t, "bob@mail.test", "bob-secret")
	a, log := liveAdapter(t, m, t.TempDir(), nil)
	ctx := context.Background()
	random := func(n int) []byte {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		return b
	}

	pdf, xlsx := random(700_000), random(123_457)
	out := &gateway.Outgoing{ID: "live1", Network: "mail", From: hanaSales, To: "bob@mail.test", Nick: "Hana Suzuki",
		Subject: "見積書", Body: "お見積書と数量表をお送りします。",
		Files: []gateway.Attachment{
			bytesFile("見積書 2026年5月（改訂版）.pdf", "application/pdf", pdf),
			bytesFile("quantities.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", xlsx),
		}}
	if err := a.Send(ctx, out); err != nil {
		t.Fatalf("Send: %v\n%s", err, m.LogTail(20))
	}
	inbox := m.WaitMail(t, "bob@mail.test", "bob-secret", "INBOX", 1, 30*time.Second)
	raw := inbox[0].Raw
	want := []struct {
		name, typ string
		data      []byte
	}{
		{"見積書 2026年5月（改訂版）.pdf", "application/pdf", pdf},
		{"quantities.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", xlsx},
	}

	pm, err := parse.Bytes(raw, parse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if pm.Text != "お見積書と数量表をお送りします。" || pm.MessageID != a.messageID("live1") || len(pm.Attachments) != 2 {
		t.Fatalf("bob got text %q, Message-ID %q, %d attachments", pm.Text, pm.MessageID, len(pm.Attachments))
	}
	for i, w := range want {
		if at := pm.Attachments[i]; at.Name != w.name || at.ContentType != w.typ || sumOf(at.Data) != sumOf(w.data) {
			t.Errorf("parse: attachment %d is %q %s %d bytes %s; want %q %s %d bytes %s", i, at.Name, at.ContentType, at.Size, sumOf(at.Data), w.name, w.typ, len(w.data), sumOf(w.data))
		}
	}
	mr, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var files int
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		h, ok := p.Header.(*gomail.AttachmentHeader)
		if !ok {
			continue
		}
		name, _ := h.Filename()
		data, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		if files >= len(want) || name != want[files].name || sumOf(data) != sumOf(want[files].data) {
			t.Errorf("go-message: file %d is %q, %d bytes %s", files, name, len(data), sumOf(data))
		}
		files++
	}
	if files != len(want) {
		t.Errorf("go-message reads %d files", files)
	}

	// bob answers with two files of his own, through the MX.
	photo, csv := random(250_000), []byte("品番,数量\r\nA-1,10\r\n")
	open := func(b []byte) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	answer, err := compose.Build(&compose.Message{
		From: compose.Address{Name: "Bob", Addr: "bob@mail.test"}, To: compose.Address{Addr: hanaSales},
		Subject: "Re: 見積書", Date: time.Now().UTC(), MessageID: "bob-live-1@mail.test",
		InReplyTo: pm.MessageID, References: []string{pm.MessageID},
		Text: "Photo and counts attached.",
		Attachments: []compose.Attachment{
			{Name: "工場 写真.jpg", MediaType: "image/jpeg", Open: open(photo)},
			{Name: "counts.csv", MediaType: "text/csv", Open: open(csv)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	m.Send(t, "bob@mail.test", []string{hanaSales}, answer)
	core := newRecordCore(hanaSales)
	run(t, a, core)
	eventually(t, "bob's answer relayed", func() (bool, string) {
		got, _, _ := core.snapshot()
		return len(got) == 1, "gateway has " + strconv.Itoa(len(got)) + "\n" + log.String()
	})
	got, _, _ := core.snapshot()
	gm := got[0]
	if gm.Body != "Photo and counts attached." || len(gm.Refs) != 1 || gm.Refs[0] != (gateway.Ref{Kind: gateway.RefReply, ID: "live1"}) {
		t.Errorf("relayed Body %q Refs %+v", gm.Body, gm.Refs)
	}
	wantBack := []struct {
		name, typ string
		data      []byte
	}{{"工場 写真.jpg", "image/jpeg", photo}, {"counts.csv", "text/csv", csv}}
	if len(gm.Files) != len(wantBack) {
		t.Fatalf("Files %+v", gm.Files)
	}
	for i, w := range wantBack {
		f := gm.Files[i]
		// The gateway reads them before it says the mail is stored; the
		// recording core did not, so the test does.
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		if f.Name != w.name || f.MediaType != w.typ || f.Size != int64(len(w.data)) || f.SHA256 != sumOf(w.data) || sumOf(data) != sumOf(w.data) {
			t.Errorf("file %d: %q %s %d bytes %s (read %s); want %q %s %d bytes %s", i, f.Name, f.MediaType, f.Size, f.SHA256, sumOf(data), w.name, w.typ, len(w.data), sumOf(w.data))
		}
	}
}
