package testenv

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestSendHelpers sends each kind of message the helpers make between two
// clients through Prosody and checks the receiver parses back what was
// sent.
func TestSendHelpers(t *testing.T) {
	p := StartProsody(t, ProsodyOptions{})
	p.Register(t, "alice", "corp.test", "pw")
	p.Register(t, "bob", "ext.test", "pw")
	alice := Dial(t, p, "alice@corp.test", "pw")
	bob := Dial(t, p, "bob@ext.test", "pw")
	const to = "bob@ext.test"

	recv := func(what, id string, err error) Stanza {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if id == "" {
			t.Fatalf("%s: no id", what)
		}
		s := bob.Expect(t, wait, func(s Stanza) bool { return s.Kind == "message" && s.ID == id })
		if !strings.HasPrefix(s.From, "alice@corp.test/") || s.Type != "chat" {
			t.Errorf("%s: from %q type %q", what, s.From, s.Type)
		}
		if !strings.Contains(bob.RawXML(), s.Raw) || !strings.HasPrefix(s.Raw, "<message") {
			t.Errorf("%s: Raw is not the message as received: %s", what, s.Raw)
		}
		return s
	}

	// A plain chat message, as Conversations sends it.
	first, err := alice.SendChat(to, "first <message> & more")
	m := recv("chat", first, err)
	if m.Body != "first <message> & more" || m.OriginID != first || !m.ReceiptRequest || !m.Markable ||
		m.ReplyID != "" || m.ReplaceID != "" || m.ChatState != "" || m.OOBURLs != nil || m.Fallbacks != nil {
		t.Errorf("chat: %#v", m)
	}

	// A file with a caption instead of the URL as body.
	const url = "http://127.0.0.1:1/file_share/x/a%20b.png"
	id, err := alice.SendFile(to, url, "look at this")
	m = recv("file", id, err)
	if m.Body != "look at this" || !reflect.DeepEqual(m.OOBURLs, []string{url}) || !m.ReceiptRequest {
		t.Errorf("file: %#v", m)
	}

	// A reply quoting two lines, one with characters outside the BMP, so
	// code points and bytes differ.
	quoted := "first line\nsecond 👋 ï"
	id, err = alice.SendReply(to, first, "bob@ext.test", quoted, "my answer")
	m = recv("reply", id, err)
	q := "> first line\n> second 👋 ï\n"
	if m.Body != q+"my answer" || m.ReplyID != first || m.ReplyTo != "bob@ext.test" ||
		!reflect.DeepEqual(m.Fallbacks, []Fallback{{For: nsReply, Start: 0, End: utf8.RuneCountInString(q)}}) ||
		m.BodyWithout(nsReply) != "my answer" || m.BodyWithout(nsRetract) != m.Body {
		t.Errorf("reply: %#v (without fallback %q)", m, m.BodyWithout(nsReply))
	}
	// Without a quote: no fallback.
	id, err = alice.SendReply(to, first, "", "", "bare answer")
	m = recv("bare reply", id, err)
	if m.Body != "bare answer" || m.ReplyID != first || m.ReplyTo != "" || m.Fallbacks != nil {
		t.Errorf("bare reply: %#v", m)
	}

	id, err = alice.SendCorrection(to, first, "first, corrected")
	m = recv("correction", id, err)
	if m.Body != "first, corrected" || m.ReplaceID != first || m.OriginID != id {
		t.Errorf("correction: %#v", m)
	}

	id, err = alice.SendRetraction(to, first)
	m = recv("retraction", id, err)
	if m.RetractID != first || m.Body != RetractFallback ||
		!reflect.DeepEqual(m.Fallbacks, []Fallback{{For: nsRetract, Start: -1, End: -1}}) ||
		m.BodyWithout(nsRetract) != "" || !m.HasChild(nsHints, "store") {
		t.Errorf("retraction: %#v", m)
	}

	id, err = alice.SendReaction(to, first, "👍", "🐢")
	m = recv("reaction", id, err)
	if m.ReactionsID != first || !reflect.DeepEqual(m.Reactions, []string{"👍", "🐢"}) || m.Body != "" {
		t.Errorf("reaction: %#v", m)
	}
	id, err = alice.SendReaction(to, first)
	m = recv("reactions withdrawn", id, err)
	if m.ReactionsID != first || m.Reactions != nil {
		t.Errorf("reactions withdrawn: %#v", m)
	}

	id, err = alice.SendDisplayed(to, first)
	m = recv("displayed", id, err)
	if m.DisplayedID != first || m.ReceivedID != "" || m.Body != "" || m.Markable {
		t.Errorf("displayed: %#v", m)
	}

	id, err = alice.SendReceived(to, first)
	m = recv("received", id, err)
	if m.ReceivedID != first || m.DisplayedID != "" || m.ReceiptRequest {
		t.Errorf("received: %#v", m)
	}

	for _, state := range []string{"composing", "paused", "active", "inactive", "gone"} {
		id, err = alice.SendChatState(to, state)
		m = recv(state, id, err)
		if m.ChatState != state || m.Body != "" || !m.HasChild(nsHints, "no-store") {
			t.Errorf("chat state %s: %#v", state, m)
		}
	}
	if _, err := alice.SendChatState(to, "typing"); err == nil {
		t.Error("SendChatState accepted typing")
	}
}
