package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/testenv"
	"github.com/kakehashi/kakehashi/internal/testfiles"
)

// Rich messages across the gateway (issue 11), through real Prosody with
// its real upload services (mod_http_file_share) and go-xmpp clients:
// files both ways, replies, corrections, reactions, retractions, markers
// and the outbound guard.

const (
	nsReply   = "urn:xmpp:reply:0"
	hanaInner = "hana@corp.test"
)

// photo is a small JPEG whose EXIF names its author and whose XMP names
// its creator: what a phone's camera writes.
func photo(t testing.TB, author string) []byte {
	t.Helper()
	b, err := testfiles.Photo(testfiles.Gradient(24, 16), 90, author)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// upload shares data from c through the upload service, as a client does.
func upload(t testing.TB, c *testenv.Client, service testenv.UploadService, name, mediaType string, data []byte) string {
	t.Helper()
	if service.Domain == "" {
		t.Fatal("the test server has no upload service")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitShort)
	defer cancel()
	u, err := c.Upload(ctx, service.Domain, name, mediaType, data)
	if err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
	return u
}

// fetch downloads a shared file.
func fetch(t testing.TB, u string) []byte {
	t.Helper()
	b, _, err := testenv.Fetch(u)
	if err != nil {
		t.Fatalf("fetch %s: %v", u, err)
	}
	return b
}

// fileMessage waits for a message that shares a file and checks it is
// shown inline the way clients expect: the body is exactly the URL, and
// the same URL is in OOB. It returns the URL.
func fileMessage(t testing.TB, c *testenv.Client) (testenv.Stanza, string) {
	t.Helper()
	m := message(t, c)
	if m.Type == "error" {
		t.Fatalf("%s got an error instead of a file: %s", c.JID, m.Raw)
	}
	if len(m.OOBURLs) != 1 || m.OOBURLs[0] != m.Body {
		t.Fatalf("%s: want body = the one OOB URL: %s", c.JID, m.Raw)
	}
	return m, m.Body
}

func host(t testing.TB, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatalf("URL %q: %v", u, err)
	}
	return p.Hostname()
}

// TestFileEmployeeToContactIsRehostedAndCleaned: Hana shares a photo from
// an ordinary client (upload to her own server, body and OOB the URL).
// Bob gets it on the persona's server's upload service, never the inside
// URL, and the photo has lost the EXIF and XMP that named her.
func TestFileEmployeeToContactIsRehostedAndCleaned(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, bob := w.client("hana"), w.client("bob")

	for i, caption := range []string{"", "the broken part"} {
		data := photo(t, "Hana Sato")
		inURL := upload(t, hana, w.inside.InsideUpload, "IMG_2041.jpg", "image/jpeg", data)
		if host(t, inURL) != w.inside.InsideUpload.Host {
			t.Fatalf("inside upload URL %s", inURL)
		}
		body := ""
		if caption != "" {
			// A client that sends a caption with the file: the caption
			// comes as its own message after the file.
			body = inURL
		}
		if _, err := hana.SendFile(bobProxy, inURL, body); err != nil {
			t.Fatal(err)
		}
		if caption != "" {
			if _, err := hana.SendChat(bobProxy, caption); err != nil {
				t.Fatal(err)
			}
		}
		m, outURL := fileMessage(t, bob)
		if bare(m.From) != hanaAddr {
			t.Fatalf("file %d from %s", i, m.From)
		}
		if host(t, outURL) != w.outside.OutsideUpload.Host || strings.Contains(outURL, inURL) {
			t.Fatalf("file %d: bob got %s, want a URL on the persona's upload service %s", i, outURL, w.outside.OutsideUpload.Host)
		}
		got := fetch(t, outURL)
		if bytes.Contains(got, []byte("Hana Sato")) || bytes.Contains(got, []byte("Exif")) || bytes.Contains(got, []byte("xmpmeta")) {
			t.Fatalf("file %d: the re-hosted photo still carries its metadata", i)
		}
		img, err := jpeg.Decode(bytes.NewReader(got))
		if err != nil || img.Bounds().Dx() != 24 || img.Bounds().Dy() != 16 {
			t.Fatalf("file %d: the re-hosted photo is not the photo: %v", i, err)
		}
		if caption != "" {
			if c := message(t, bob); c.Body != caption {
				t.Fatalf("caption: %s", c.Raw)
			}
		}
	}

	// A PDF: its document information and XMP go, its page stays.
	pdf := testfiles.Quote("Hana Sato")
	inURL := upload(t, hana, w.inside.InsideUpload, "Quote 2026-12.pdf", "application/pdf", pdf)
	if _, err := hana.SendFile(bobProxy, inURL, ""); err != nil {
		t.Fatal(err)
	}
	_, outURL := fileMessage(t, bob)
	got := fetch(t, outURL)
	if !bytes.HasPrefix(got, []byte("%PDF-")) || !bytes.Contains(got, []byte("Quote: 120,000 JPY")) && !bytes.Contains(got, []byte("/FlateDecode")) {
		t.Fatalf("the re-hosted PDF is not the quote:\n%.300s", got)
	}
	for _, leak := range []string{"Hana Sato", "ws12.corp.test", "CorpWriter", "xmpmeta"} {
		if bytes.Contains(got, []byte(leak)) {
			t.Errorf("the re-hosted PDF still contains %q", leak)
		}
	}
	if !strings.HasSuffix(outURL, ".pdf") {
		t.Errorf("the PDF's URL %s lost its name", outURL)
	}

	raw := bob.RawXML()
	for _, secret := range []string{"Hana Sato", "corp.test", w.inside.InsideUpload.Host + ":", hana.JID} {
		if strings.Contains(raw, secret) {
			t.Errorf("bob's client received %q:\n%s", secret, raw)
		}
	}
}

// TestFileContactToEmployeeIsRehostedInside: bob shares a file from his
// own server; Hana's client fetches it from the company's upload service
// (never from bob's server, which would learn her address), byte for
// byte.
func TestFileContactToEmployeeIsRehostedInside(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, bob := w.client("hana"), w.client("bob")
	data := photo(t, "Bob Tanaka")
	for _, name := range []string{"invoice.jpg", "請求書 (1).jpg"} {
		bobURL := upload(t, bob, w.outside.ContactUpload, name, "image/jpeg", data)
		if _, err := bob.SendFile(hanaAddr, bobURL, ""); err != nil {
			t.Fatal(err)
		}
		m, inURL := fileMessage(t, hana)
		if bare(m.From) != bobProxy {
			t.Fatalf("from %s", m.From)
		}
		if host(t, inURL) != w.inside.InsideUpload.Host || inURL == bobURL {
			t.Fatalf("hana got %s, want a URL on %s", inURL, w.inside.InsideUpload.Host)
		}
		if got := fetch(t, inURL); !bytes.Equal(got, data) {
			t.Fatalf("%s: the inside copy differs (%d bytes, want %d)", name, len(got), len(data))
		}
	}
	if strings.Contains(hana.RawXML(), w.outside.ContactUpload.Host) {
		t.Errorf("hana's client was given a URL on bob's server:\n%s", hana.RawXML())
	}
}

// TestReferencesMapBothWays: replies, corrections, reactions, markers and
// retractions cross with the IDs each side knows; neither side ever sees
// the other's IDs, and a reply still finds its message after the contact
// moved to Ken.
func TestReferencesMapBothWays(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, bob, ken := w.client("hana"), w.client("bob"), w.client("ken")

	hanaID, err := hana.SendChat(bobProxy, "The quote is attached.")
	if err != nil {
		t.Fatal(err)
	}
	first := message(t, bob)
	if first.ID == "" || first.ID == hanaID {
		t.Fatalf("bob's copy has id %q (hana's was %q)", first.ID, hanaID)
	}

	// bob replies with a quote, as Conversations does.
	if _, err := bob.SendReply(hanaAddr, first.ID, hanaAddr, "The quote is attached.", "Thanks, received."); err != nil {
		t.Fatal(err)
	}
	r := message(t, hana)
	if r.ReplyID != hanaID || bare(r.ReplyTo) != hanaInner || r.BodyWithout(nsReply) != "Thanks, received." {
		t.Fatalf("hana got the reply as %s", r.Raw)
	}
	if !strings.Contains(r.Body, "The quote is attached.") {
		t.Fatalf("the quote was not rebuilt: %s", r.Raw)
	}

	// Hana answers bob's reply with a quote of her own; bob sees his
	// message's ID and his own name for himself, not the proxy's.
	if _, err := hana.SendReply(bobProxy, r.ID, bobProxy, "Thanks, received.", "You are welcome."); err != nil {
		t.Fatal(err)
	}
	r2 := message(t, bob)
	if r2.ReplyID == "" || r2.ReplyID == r.ID || r2.BodyWithout(nsReply) != "You are welcome." || strings.Contains(r2.ReplyTo, "corp.test") {
		t.Fatalf("bob got hana's reply as %s", r2.Raw)
	}

	// Hana corrects her first message: bob's client replaces his copy.
	if _, err := hana.SendCorrection(bobProxy, hanaID, "The quote (v2) is attached."); err != nil {
		t.Fatal(err)
	}
	c := message(t, bob)
	if c.ReplaceID != first.ID || c.Body != "The quote (v2) is attached." {
		t.Fatalf("bob got the correction as %s", c.Raw)
	}

	// bob reacts and reads; Hana sees both on her own message.
	if _, err := bob.SendReaction(hanaAddr, first.ID, "👍"); err != nil {
		t.Fatal(err)
	}
	re := hana.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.ReactionsID != "" })
	if re.ReactionsID != hanaID || len(re.Reactions) != 1 || re.Reactions[0] != "👍" {
		t.Fatalf("hana got the reaction as %s", re.Raw)
	}
	if _, err := bob.SendDisplayed(hanaAddr, first.ID); err != nil {
		t.Fatal(err)
	}
	d := hana.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.DisplayedID != "" })
	if d.DisplayedID != hanaID {
		t.Fatalf("hana got the read marker as %s", d.Raw)
	}
	// A reference to an ID the map does not know is dropped, never passed
	// through: the text arrives without it.
	if _, err := bob.SendReply(hanaAddr, "made-up-id", hanaAddr, "", "About something else"); err != nil {
		t.Fatal(err)
	}
	if u := message(t, hana); u.ReplyID != "" || u.Body != "About something else" {
		t.Fatalf("an unknown reference crossed: %s", u.Raw)
	}

	// Hana withdraws her first message.
	if _, err := hana.SendRetraction(bobProxy, hanaID); err != nil {
		t.Fatal(err)
	}
	x := bob.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.RetractID != "" })
	if x.RetractID != first.ID {
		t.Fatalf("bob got the retraction as %s", x.Raw)
	}

	// After a transfer, bob's reply to Hana's message reaches Ken with
	// the ID the inside knows.
	w.gw.CLI("contacts", "transfer", "--from", "hana", "--to", "ken", "--reason", "Hana moved to the Osaka office")
	if _, err := bob.SendReply(hanaAddr, c.ID, hanaAddr, "The quote (v2) is attached.", "Can we meet?"); err != nil {
		t.Fatal(err)
	}
	k := message(t, ken)
	if k.BodyWithout(nsReply) != "Can we meet?" || k.ReplyID == "" || k.ReplyID == c.ID {
		t.Fatalf("ken got the reply as %s", k.Raw)
	}

	raw := bob.RawXML()
	for _, secret := range []string{hanaID, r.ID, "corp.test"} {
		if strings.Contains(raw, secret) {
			t.Errorf("bob's client received %q", secret)
		}
	}
}

// TestGuardHoldsThenSendAnyway: a message naming an inside term is held
// and its author told how to send it anyway; "!send " sends it without
// the marker.
func TestGuardHoldsThenSendAnyway(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, bob := w.client("hana"), w.client("bob")
	for _, body := range []string{
		"The " + guardTerm + " schedule slipped.",
		"the " + strings.ToUpper(guardTerm) + " schedule",
		"Regards, Hana Sato",
		"write to hana@corp.test",
	} {
		if _, err := hana.SendChat(bobProxy, body); err != nil {
			t.Fatal(err)
		}
		e := message(t, hana)
		if e.Type != "error" || !strings.Contains(e.ErrorText, "!send") {
			t.Fatalf("%q: hana got %s", body, e.Raw)
		}
	}
	silent(t, bob, quiet)

	if _, err := hana.SendChat(bobProxy, "!send The "+guardTerm+" schedule slipped."); err != nil {
		t.Fatal(err)
	}
	if m := message(t, bob); m.Body != "The "+guardTerm+" schedule slipped." {
		t.Fatalf("bob got %s", m.Raw)
	}
	var audit []struct {
		Actor, Action string
	}
	w.gw.JSON(&audit, "audit")
	var held, released int
	for _, a := range audit {
		switch {
		case a.Action == "guard.hold" && a.Actor == "employee:hana":
			held++
		case a.Action == "guard.release" && a.Actor == "employee:hana":
			released++
		}
	}
	if held != 4 || released != 1 {
		t.Fatalf("audit: %d held, %d released; want 4 and 1: %+v", held, released, audit)
	}
}

// TestCrashDuringFileRelay: the gateway is killed (SIGKILL) at different
// moments while it relays a 16 MiB file (fetching, cleaning, uploading,
// sending); after a restart bob gets the file once, whole. What was
// written to the wire just before the kill may be written again after
// the restart with the same stanza ID (the component protocol confirms
// nothing; issue 12), which clients take as one message: so the check is
// one distinct message ID, and the bytes behind it are exactly the file.
func TestCrashDuringFileRelay(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, bob := w.client("hana"), w.client("bob")
	if _, err := hana.SendChat(bobProxy, "The drawings follow."); err != nil {
		t.Fatal(err)
	}
	message(t, bob)
	interrupted := 0
	for i, after := range []time.Duration{20 * time.Millisecond, 120 * time.Millisecond, 350 * time.Millisecond} {
		var b bytes.Buffer
		for b.Len() < 16<<20 {
			fmt.Fprintf(&b, "drawing %d, line %08d: 0123456789 abcdefghijklmnopqrstuvwxyz\n", i, b.Len())
		}
		data := b.Bytes()
		u := upload(t, hana, w.inside.InsideUpload, fmt.Sprintf("drawing-%d.txt", i), "text/plain", data)
		if _, err := hana.SendFile(bobProxy, u, ""); err != nil {
			t.Fatal(err)
		}
		time.Sleep(after)
		w.gw.Kill()
		w.gw.Start()
		if strings.Contains(w.gw.log.String(), "replaying messages pending") {
			interrupted++
		}

		ids := map[string]bool{}
		m, got := fileMessage(t, bob)
		ids[m.ID] = true
		if b := fetch(t, got); !bytes.Equal(b, data) {
			t.Fatalf("kill after %v: bob's file is %d bytes, want %d", after, len(b), len(data))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		for {
			s, err := bob.Receive(ctx)
			if err != nil {
				break
			}
			if s.Kind == "message" && s.Body != "" {
				ids[s.ID] = true
			}
		}
		cancel()
		if len(ids) != 1 {
			t.Fatalf("kill after %v: bob got the file as %d messages", after, len(ids))
		}
	}
	t.Logf("%d of 3 kills came while the file was pending", interrupted)
	if interrupted == 0 {
		t.Fatal("no kill came while the file was pending: the test proved nothing")
	}
}
