package xmpp

import (
	"bytes"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/testenv"
)

// TestPartsOverProsody carries files, replies, corrections, retractions,
// reactions, receipts, markers and chat states both ways between the
// component and an employee's client (another XMPP implementation,
// sending as Conversations does) through a real Prosody, and re-hosts a
// file on its mod_http_file_share as a proxy address.
func TestPartsOverProsody(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prosody")
	}
	p := testenv.StartProsody(t, testenv.ProsodyOptions{OutsideHost: "unused-outside.test", Components: []string{testDomain}})
	if p.InsideUpload.Domain == "" {
		t.Fatalf("no inside upload service: %+v", p.Uploads)
	}
	p.Register(t, "hana", "corp.test", "secret-pw")
	core := &recordingCore{}
	// The inside upload service's host is given, as an operator would:
	// an employee's client may share an upload with its URL alone.
	c, err := New(Config{Network: "corp", Side: identity.Inside, Domain: testDomain, Server: p.ComponentAddr, Secret: p.Secret,
		UploadHosts: []string{p.InsideUpload.Host}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	connectAs(t, c, core)
	hana := testenv.Dial(t, p, hanaPhone, "secret-pw")

	// The gateway re-hosts a file as the proxy address: the service is
	// found by discovery and the bytes come back as they went.
	photo := bytes.Repeat([]byte("JPEG"), 50000)
	url, err := c.Upload(t.Context(), proxyAddr, gateway.Attachment{Name: "photo.jpg", MediaType: "image/jpeg", Size: int64(len(photo))}, bytes.NewReader(photo))
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	got, _, err := testenv.Fetch(url)
	if err != nil || !bytes.Equal(got, photo) {
		t.Fatalf("fetch %s: %d bytes, %v", url, len(got), err)
	}
	if !strings.HasPrefix(url, p.InsideUpload.URL) {
		t.Errorf("URL %s is not the inside upload service's (%s)", url, p.InsideUpload.URL)
	}
	// Too large for the service: refused before any byte is sent, for good.
	_, err = c.Upload(t.Context(), proxyAddr, gateway.Attachment{Name: "huge.bin", Size: p.UploadLimit + 1}, strings.NewReader(""))
	if se, _ := gateway.ClassifySend(t.Context(), err); se.Action != gateway.GiveUp || !strings.Contains(err.Error(), `"huge.bin"`) {
		t.Errorf("too large: %v", err)
	}

	// Outward to the employee: text with a reply and its quote, then the
	// file on its own stanza.
	out := &gateway.Outgoing{Kind: gateway.KindRelayed, From: proxyAddr, To: "hana@corp.test", ID: "g1", Body: "Here it is 👍",
		Refs:  []gateway.Ref{{Kind: gateway.RefReply, ID: "h-9", Author: "hana@corp.test", Quote: "Can you send the photo?"}},
		Files: []gateway.Attachment{{Name: "photo.jpg", MediaType: "image/jpeg", Size: int64(len(photo)), URL: url}}}
	if err := c.Send(t.Context(), out); err != nil {
		t.Fatal(err)
	}
	text := hana.Expect(t, 10*time.Second, func(s testenv.Stanza) bool { return s.Kind == "message" && s.ID == "g1" })
	if text.ReplyID != "h-9" || text.ReplyTo != "hana@corp.test" || text.BodyWithout(nsReply) != "Here it is 👍" ||
		!strings.HasPrefix(text.Body, "> Can you send the photo?\n") || !text.ReceiptRequest || !text.Markable || text.From != proxyAddr {
		t.Errorf("text stanza %+v", text)
	}
	file := hana.Expect(t, 10*time.Second, func(s testenv.Stanza) bool { return s.Kind == "message" && s.ID == "g1-1" })
	if file.Body != url || !slices.Equal(file.OOBURLs, []string{url}) || !file.HasChild("urn:xmpp:sfs:0", "file-sharing") || file.ReplyID != "" {
		t.Errorf("file stanza %+v", file)
	}
	for _, o := range []gateway.Outgoing{
		{ID: "g2", Refs: []gateway.Ref{{Kind: gateway.RefReact, ID: "h-9"}}, Reactions: []string{"👍"}},
		{ID: "g3", Refs: []gateway.Ref{{Kind: gateway.RefRetract, ID: "g1"}}},
		{ID: "g4", Refs: []gateway.Ref{{Kind: gateway.RefDisplayed, ID: "h-9"}}},
		{ID: "g5", ChatState: gateway.ChatComposing},
	} {
		o.From, o.To = proxyAddr, "hana@corp.test"
		if err := c.Send(t.Context(), &o); err != nil {
			t.Fatal(err)
		}
	}
	if s := hana.Expect(t, 10*time.Second, func(s testenv.Stanza) bool { return s.ID == "g2" }); s.ReactionsID != "h-9" || !slices.Equal(s.Reactions, []string{"👍"}) || s.Body != "" {
		t.Errorf("reactions %+v", s)
	}
	if s := hana.Expect(t, 10*time.Second, func(s testenv.Stanza) bool { return s.ID == "g3" }); s.RetractID != "g1" || s.BodyWithout(nsRetract) != "" {
		t.Errorf("retraction %+v", s)
	}
	if s := hana.Expect(t, 10*time.Second, func(s testenv.Stanza) bool { return s.ID == "g4" }); s.DisplayedID != "h-9" || s.Body != "" {
		t.Errorf("displayed %+v", s)
	}
	if s := hana.Expect(t, 10*time.Second, func(s testenv.Stanza) bool { return s.ID == "g5" }); s.ChatState != "composing" || s.Body != "" {
		t.Errorf("chat state %+v", s)
	}

	// Inward from the employee, as Conversations sends each.
	own, err := hana.Upload(t.Context(), p.InsideUpload.Domain, "offer.pdf", "application/pdf", []byte("%PDF-1.4 offer"))
	if err != nil {
		t.Fatal(err)
	}
	ref := func(k gateway.RefKind, id string) []gateway.Ref { return []gateway.Ref{{Kind: k, ID: id}} }
	for _, tt := range []struct {
		name string
		send func() (string, error)
		want relayed
	}{
		{"file", func() (string, error) { return hana.SendFile(proxyAddr, own, "") }, relayed{Files: []gateway.Attachment{{URL: own}}}},
		{"file with a caption", func() (string, error) { return hana.SendFile(proxyAddr, own, "the offer") },
			relayed{Body: "the offer", Files: []gateway.Attachment{{URL: own}}}},
		{"upload URL alone", func() (string, error) { return hana.SendChat(proxyAddr, own) }, relayed{Files: []gateway.Attachment{{URL: own}}}},
		{"reply", func() (string, error) {
			return hana.SendReply(proxyAddr, "g1", proxyAddr, "Here it is 👍\nsecond line", "Thanks! 日本")
		}, relayed{Body: "Thanks! 日本", Refs: ref(gateway.RefReply, "g1")}},
		{"correction", func() (string, error) { return hana.SendCorrection(proxyAddr, "h-9", "fixed") }, relayed{Body: "fixed", Refs: ref(gateway.RefCorrect, "h-9")}},
		{"retraction", func() (string, error) { return hana.SendRetraction(proxyAddr, "h-9") }, relayed{Refs: ref(gateway.RefRetract, "h-9")}},
		{"reaction", func() (string, error) { return hana.SendReaction(proxyAddr, "g1", "👍", "🎉") },
			relayed{Refs: ref(gateway.RefReact, "g1"), Reactions: []string{"👍", "🎉"}}},
		{"displayed", func() (string, error) { return hana.SendDisplayed(proxyAddr, "g1") }, relayed{Refs: ref(gateway.RefDisplayed, "g1")}},
		{"received", func() (string, error) { return hana.SendReceived(proxyAddr, "g1-1") }, relayed{Refs: ref(gateway.RefReceived, "g1-1")}},
		{"composing", func() (string, error) { return hana.SendChatState(proxyAddr, "composing") }, relayed{ChatState: gateway.ChatComposing}},
	} {
		id, err := tt.send()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		m := awaitReceived(t, core, id)
		if m == nil {
			t.Errorf("%s: did not reach the gateway", tt.name)
			continue
		}
		if got := relayedOf(m); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", tt.name, got, tt.want)
		}
		if m.From != hana.JID || m.To != proxyAddr {
			t.Errorf("%s: from %s to %s", tt.name, m.From, m.To)
		}
	}
}

// awaitReceived waits for the message with id to reach core.
func awaitReceived(t *testing.T, core *recordingCore, id string) *gateway.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		core.mu.Lock()
		for _, m := range core.received {
			if m.ID == id {
				core.mu.Unlock()
				return m
			}
		}
		core.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
