package xmpp

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
)

// relayed is what of a gateway.Message the parse tests compare: its
// content, not its addresses.
type relayed struct {
	Body, Subject, Thread string
	Files                 []gateway.Attachment
	Refs                  []gateway.Ref
	Reactions             []string
	ChatState             gateway.ChatState
}

func relayedOf(m *gateway.Message) relayed {
	return relayed{Body: m.Body, Subject: m.Subject, Thread: m.Thread, Files: m.Files, Refs: m.Refs, Reactions: m.Reactions, ChatState: m.ChatState}
}

// Hashes of test files: sha256("photo"), as SFS and SIMS write it
// (base64) and as the gateway keeps it (hex).
const (
	photoHash64  = "VcZND81vnV98goCThX4/39poR4u06b0k1IHvORx4BOg="
	photoHashHex = "55c64d0fcd6f9d5f7c828093857e3fdfda68478bb4e9bd24d481ef391c7804e8"
)

// TestParseMessageParts reads stanzas as clients send them (Conversations,
// Dino, Gajim, Monal, Cheogram, as the server hands them to a component)
// into the envelope: text with fallbacks cut, files, references by their
// wire IDs, reactions and chat states.
func TestParseMessageParts(t *testing.T) {
	const (
		upURL   = "https://upload.ext.test/Xk3a9/photo.jpg"
		insideU = "https://share.corp.test:5281/file_share/7f3a/report.pdf"
	)
	ref := func(k gateway.RefKind, id string) gateway.Ref { return gateway.Ref{Kind: k, ID: id} }
	for _, tt := range []struct {
		name  string
		side  identity.Side
		inner string
		want  *relayed // nil: nothing reaches the gateway
	}{
		{"plain text (Gajim)", identity.Outside,
			`<body>Hello there</body><active xmlns="http://jabber.org/protocol/chatstates"/><request xmlns="urn:xmpp:receipts"/><markable xmlns="urn:xmpp:chat-markers:0"/><origin-id xmlns="urn:xmpp:sid:0" id="o-1"/>`,
			&relayed{Body: "Hello there"}},
		{"OOB with the URL as body (Conversations)", identity.Outside,
			`<body>` + upURL + `</body><request xmlns="urn:xmpp:receipts"/><markable xmlns="urn:xmpp:chat-markers:0"/><x xmlns="jabber:x:oob"><url>` + upURL + `</url></x>`,
			&relayed{Files: []gateway.Attachment{{URL: upURL}}}},
		{"OOB with a description and text beside it", identity.Outside,
			`<body>here it is</body><x xmlns="jabber:x:oob"><url>` + upURL + `</url><desc> the photo </desc></x>`,
			&relayed{Body: "here it is", Files: []gateway.Attachment{{URL: upURL, Description: "the photo"}}}},
		{"two OOB files (Monal)", identity.Outside,
			`<body>` + upURL + `</body><x xmlns="jabber:x:oob"><url>` + upURL + `</url></x><x xmlns="jabber:x:oob"><url>https://upload.ext.test/b/c.pdf</url></x>`,
			&relayed{Files: []gateway.Attachment{{URL: upURL}, {URL: "https://upload.ext.test/b/c.pdf"}}}},
		{"OOB that is no web URL stays text", identity.Outside,
			`<body>aesgcm://upload.ext.test/a/b.jpg#00ff</body><x xmlns="jabber:x:oob"><url>aesgcm://upload.ext.test/a/b.jpg#00ff</url></x>`,
			&relayed{Body: "aesgcm://upload.ext.test/a/b.jpg#00ff"}},
		{"SFS with OOB and body (Dino)", identity.Outside,
			`<body>` + upURL + `</body><x xmlns="jabber:x:oob"><url>` + upURL + `</url></x>` +
				`<file-sharing xmlns="urn:xmpp:sfs:0" id="fs1"><file xmlns="urn:xmpp:file:metadata:0">` +
				`<name>photo.jpg</name><media-type>image/JPEG; q=1</media-type><size>48213</size><date>2024-05-01T10:00:00Z</date><width>800</width>` +
				`<hash xmlns="urn:xmpp:hashes:2" algo="sha-512">AAAA</hash><hash xmlns="urn:xmpp:hashes:2" algo="sha-256">` + photoHash64 + `</hash>` +
				`<thumbnail xmlns="urn:xmpp:thumbs:1" uri="data:image/png;base64,AAAA" media-type="image/png"/></file>` +
				`<sources><url-data xmlns="http://jabber.org/protocol/url-data" target="` + upURL + `"/></sources></file-sharing>` +
				`<active xmlns="http://jabber.org/protocol/chatstates"/><markable xmlns="urn:xmpp:chat-markers:0"/>`,
			&relayed{Files: []gateway.Attachment{{URL: upURL, Name: "photo.jpg", MediaType: "image/jpeg", Size: 48213, SHA256: photoHashHex}}}},
		{"SFS alone, a bad size and a path for a name", identity.Outside,
			`<file-sharing xmlns="urn:xmpp:sfs:0"><file xmlns="urn:xmpp:file:metadata:0"><name>../../etc/passwd</name><size>lots</size><desc>caption</desc>` +
				`<hash xmlns="urn:xmpp:hashes:2" algo="sha-256">not base64!</hash></file>` +
				`<sources><url-data xmlns="http://jabber.org/protocol/url-data" target="ftp://x.test/a"/><url-data xmlns="http://jabber.org/protocol/url-data" target="` + upURL + `"/></sources></file-sharing>`,
			&relayed{Files: []gateway.Attachment{{URL: upURL, Name: "passwd", Description: "caption"}}}},
		{"SIMS with OOB and body (Cheogram)", identity.Outside,
			`<body>` + upURL + `</body><x xmlns="jabber:x:oob"><url>` + upURL + `</url><desc>look</desc></x>` +
				`<reference xmlns="urn:xmpp:reference:0" type="data"><media-sharing xmlns="urn:xmpp:sims:1">` +
				`<file xmlns="urn:xmpp:jingle:apps:file-transfer:5"><media-type>image/jpeg</media-type><name>IMG_2041.jpg</name><size>48213</size>` +
				`<hash xmlns="urn:xmpp:hashes:2" algo="sha-256">` + photoHash64 + `</hash></file>` +
				`<sources><reference xmlns="urn:xmpp:reference:0" type="data" uri="cid:sha256+55c6@bob.xmpp.org"/><reference xmlns="urn:xmpp:reference:0" type="data" uri="` + upURL + `"/></sources>` +
				`</media-sharing></reference>`,
			&relayed{Files: []gateway.Attachment{{URL: upURL, Name: "IMG_2041.jpg", MediaType: "image/jpeg", Size: 48213, SHA256: photoHashHex, Description: "look"}}}},
		{"SIMS source in the SIMS namespace", identity.Outside,
			`<reference xmlns="urn:xmpp:reference:0" type="data"><media-sharing xmlns="urn:xmpp:sims:1"><file xmlns="urn:xmpp:jingle:apps:file-transfer:5"><name>a.jpg</name></file>` +
				`<sources><reference type="data" uri="` + upURL + `"/></sources></media-sharing></reference>`,
			&relayed{Files: []gateway.Attachment{{URL: upURL, Name: "a.jpg"}}}},
		{"a mention reference is no file", identity.Outside,
			`<body>hi Hana</body><reference xmlns="urn:xmpp:reference:0" type="mention" begin="3" end="7" uri="xmpp:hana@contact.acme.test"/>`,
			&relayed{Body: "hi Hana"}},
		{"inside: an upload URL alone in the body", identity.Inside,
			`<body> ` + insideU + "\n" + `</body><active xmlns="http://jabber.org/protocol/chatstates"/>`,
			&relayed{Files: []gateway.Attachment{{URL: insideU}}}},
		{"inside: an upload URL in a sentence is text", identity.Inside,
			`<body>see ` + insideU + `</body>`,
			&relayed{Body: "see " + insideU}},
		{"inside: a URL on another host is text", identity.Inside,
			`<body>https://example.org/report.pdf</body>`,
			&relayed{Body: "https://example.org/report.pdf"}},
		{"outside: an upload host means nothing", identity.Outside,
			`<body>` + insideU + `</body>`,
			&relayed{Body: insideU}},
		{"reply with its quote (Conversations)", identity.Outside,
			`<body>&gt; Can you send the quote?` + "\n" + `Yes, attached.</body>` +
				`<reply xmlns="urn:xmpp:reply:0" to="hana.sales@contact.acme.test" id="m-17"/>` +
				`<fallback xmlns="urn:xmpp:fallback:0" for="urn:xmpp:reply:0"><body start="0" end="26"/></fallback>`,
			&relayed{Body: "Yes, attached.", Refs: []gateway.Ref{ref(gateway.RefReply, "m-17")}}},
		{"reply quoting Japanese (Dino)", identity.Inside,
			`<body>&gt; 見積もりを送っていただけますか？` + "\n" + `はい、添付します。</body>` +
				`<reply xmlns="urn:xmpp:reply:0" to="bob\40ext.test@gw.corp.test" id="q9"/>` +
				`<fallback xmlns="urn:xmpp:fallback:0" for="urn:xmpp:reply:0"><body start="0" end="19"/></fallback>`,
			&relayed{Body: "はい、添付します。", Refs: []gateway.Ref{ref(gateway.RefReply, "q9")}}},
		{"reply with an emoji before the quote", identity.Outside,
			`<body>🙂 &gt; 了解です 👍🏽` + "\n" + `OK</body><reply xmlns="urn:xmpp:reply:0" id="r1"/>` +
				`<fallback xmlns="urn:xmpp:fallback:0" for="urn:xmpp:reply:0"><body start="2" end="12"/></fallback>`,
			&relayed{Body: "🙂 OK", Refs: []gateway.Ref{ref(gateway.RefReply, "r1")}}},
		{"reply quoting a family emoji over two lines (Cheogram)", identity.Outside,
			`<body>&gt; Hana wrote:` + "\n" + `&gt; 👨‍👩‍👧 family photo?` + "\n" + `Yes!</body><reply xmlns="urn:xmpp:reply:0" to="hana.sales@contact.acme.test" id="r2"/>` +
				`<fallback xmlns="urn:xmpp:fallback:0" for="urn:xmpp:reply:0"><body start="0" end="36"/></fallback>` +
				`<html xmlns="http://jabber.org/protocol/xhtml-im"><body xmlns="http://www.w3.org/1999/xhtml"><blockquote>Hana wrote</blockquote>Yes!</body></html>`,
			&relayed{Body: "Yes!", Refs: []gateway.Ref{ref(gateway.RefReply, "r2")}}},
		{"reply with an offset past the end: the body as it is", identity.Outside,
			`<body>&gt; x` + "\n" + `y</body><reply xmlns="urn:xmpp:reply:0" id="r3"/><fallback xmlns="urn:xmpp:fallback:0" for="urn:xmpp:reply:0"><body start="0" end="99"/></fallback>`,
			&relayed{Body: "> x\ny", Refs: []gateway.Ref{ref(gateway.RefReply, "r3")}}},
		{"reply with a malformed offset: the body as it is", identity.Outside,
			`<body>&gt; x` + "\n" + `y</body><reply xmlns="urn:xmpp:reply:0" id="r4"/><fallback xmlns="urn:xmpp:fallback:0" for="urn:xmpp:reply:0"><body start="zero" end="4"/></fallback>`,
			&relayed{Body: "> x\ny", Refs: []gateway.Ref{ref(gateway.RefReply, "r4")}}},
		{"a fallback for another extension is kept", identity.Outside,
			`<body>[encrypted]</body><fallback xmlns="urn:xmpp:fallback:0" for="urn:xmpp:spoiler:0"><body start="0" end="11"/></fallback>`,
			&relayed{Body: "[encrypted]"}},
		{"correction (Conversations)", identity.Outside,
			`<body>Thursday, not Tuesday</body><replace xmlns="urn:xmpp:message-correct:0" id="c-1"/><origin-id xmlns="urn:xmpp:sid:0" id="c-2"/>`,
			&relayed{Body: "Thursday, not Tuesday", Refs: []gateway.Ref{ref(gateway.RefCorrect, "c-1")}}},
		{"correction of a reply (Cheogram)", identity.Inside,
			`<body>&gt; When?` + "\n" + `Thursday</body><reply xmlns="urn:xmpp:reply:0" to="bob\40ext.test@gw.corp.test" id="w1"/>` +
				`<fallback xmlns="urn:xmpp:fallback:0" for="urn:xmpp:reply:0"><body start="0" end="8"/></fallback>` +
				`<replace xmlns="urn:xmpp:message-correct:0" id="w2"/>`,
			&relayed{Body: "Thursday", Refs: []gateway.Ref{ref(gateway.RefReply, "w1"), ref(gateway.RefCorrect, "w2")}}},
		{"retraction v1 (Conversations, Gajim)", identity.Outside,
			`<retract xmlns="urn:xmpp:message-retract:1" id="o-5"/><fallback xmlns="urn:xmpp:fallback:0" for="urn:xmpp:message-retract:1"/>` +
				`<body>/me retracted a previous message, but it's unsupported by your client.</body><store xmlns="urn:xmpp:hints"/>`,
			&relayed{Refs: []gateway.Ref{ref(gateway.RefRetract, "o-5")}}},
		{"retraction v0 (Monal)", identity.Inside,
			`<apply-to xmlns="urn:xmpp:fasten:0" id="o-6"><retract xmlns="urn:xmpp:message-retract:0"/></apply-to><fallback xmlns="urn:xmpp:fallback:0"/>` +
				`<body>This person attempted to retract a previous message, but it's unsupported by your client.</body><store xmlns="urn:xmpp:hints"/>`,
			&relayed{Refs: []gateway.Ref{ref(gateway.RefRetract, "o-6")}}},
		{"retraction in both versions", identity.Outside,
			`<apply-to xmlns="urn:xmpp:fasten:0" id="o-7"><retract xmlns="urn:xmpp:message-retract:0"/></apply-to><retract xmlns="urn:xmpp:message-retract:1" id="o-7"/>` +
				`<fallback xmlns="urn:xmpp:fallback:0" for="urn:xmpp:message-retract:0"/><body>retracted</body>`,
			&relayed{Refs: []gateway.Ref{ref(gateway.RefRetract, "o-7")}}},
		{"fastening without a retraction is nothing", identity.Outside,
			`<apply-to xmlns="urn:xmpp:fasten:0" id="o-8"><external xmlns="urn:xmpp:fasten:0" name="body"/></apply-to>`,
			nil},
		{"reactions (Gajim)", identity.Outside,
			`<reactions xmlns="urn:xmpp:reactions:0" id="m-3"><reaction>👍</reaction><reaction> ❤️ </reaction><reaction>👍</reaction><reaction></reaction>` +
				`<reaction>` + strings.Repeat("x", 33) + `</reaction></reactions><store xmlns="urn:xmpp:hints"/>`,
			&relayed{Refs: []gateway.Ref{ref(gateway.RefReact, "m-3")}, Reactions: []string{"👍", "❤️"}}},
		{"reactions with a fallback body (Conversations)", identity.Inside,
			`<body>👍</body><reactions xmlns="urn:xmpp:reactions:0" id="m-4"><reaction>👍</reaction></reactions>` +
				`<fallback xmlns="urn:xmpp:fallback:0" for="urn:xmpp:reactions:0"/><store xmlns="urn:xmpp:hints"/>`,
			&relayed{Refs: []gateway.Ref{ref(gateway.RefReact, "m-4")}, Reactions: []string{"👍"}}},
		{"reactions withdrawn", identity.Outside,
			`<reactions xmlns="urn:xmpp:reactions:0" id="m-5"/>`,
			&relayed{Refs: []gateway.Ref{ref(gateway.RefReact, "m-5")}, Reactions: []string{}}},
		{"reactions without an ID are nothing", identity.Outside,
			`<reactions xmlns="urn:xmpp:reactions:0"><reaction>👍</reaction></reactions>`,
			nil},
		{"receipt (Gajim)", identity.Outside,
			`<received xmlns="urn:xmpp:receipts" id="g-1"/>`,
			&relayed{Refs: []gateway.Ref{ref(gateway.RefReceived, "g-1")}}},
		{"receipt and received marker for one message (Conversations)", identity.Inside,
			`<received xmlns="urn:xmpp:chat-markers:0" id="g-2"/><received xmlns="urn:xmpp:receipts" id="g-2"/><store xmlns="urn:xmpp:hints"/>`,
			&relayed{Refs: []gateway.Ref{ref(gateway.RefReceived, "g-2")}}},
		{"displayed marker (Dino)", identity.Outside,
			`<displayed xmlns="urn:xmpp:chat-markers:0" id="g-3"/><store xmlns="urn:xmpp:hints"/>`,
			&relayed{Refs: []gateway.Ref{ref(gateway.RefDisplayed, "g-3")}}},
		{"acknowledged marker", identity.Outside,
			`<acknowledged xmlns="urn:xmpp:chat-markers:0" id="g-4"/>`,
			&relayed{Refs: []gateway.Ref{ref(gateway.RefDisplayed, "g-4")}}},
		{"composing alone", identity.Outside,
			`<composing xmlns="http://jabber.org/protocol/chatstates"/><no-store xmlns="urn:xmpp:hints"/>`,
			&relayed{ChatState: gateway.ChatComposing}},
		{"paused alone", identity.Inside,
			`<paused xmlns="http://jabber.org/protocol/chatstates"/>`,
			&relayed{ChatState: gateway.ChatPaused}},
		{"active alone is nothing", identity.Outside,
			`<active xmlns="http://jabber.org/protocol/chatstates"/>`,
			nil},
		{"gone alone is nothing", identity.Inside,
			`<gone xmlns="http://jabber.org/protocol/chatstates"/>`,
			nil},
		{"look-alikes in other namespaces are nothing", identity.Outside,
			`<composing xmlns="urn:example"/><received xmlns="urn:example" id="x"/><reply xmlns="urn:example" id="x"/><x xmlns="urn:example"><url>` + upURL + `</url></x>`,
			nil},
		{"receipt request alone is nothing", identity.Outside,
			`<request xmlns="urn:xmpp:receipts"/>`,
			nil},
		{"subject and thread with text", identity.Inside,
			`<subject>Quote</subject><body>hi</body><thread>t-1</thread>`,
			&relayed{Body: "hi", Subject: "Quote", Thread: "t-1"}},
		{"the outside's thread is dropped", identity.Outside,
			`<body>hi</body><thread>t-1</thread>`,
			&relayed{Body: "hi"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestComponent(t, tt.side)
			c.cfg.UploadHosts = []string{"Share.Corp.Test"}
			core := &recordingCore{}
			from, to := "bob@ext.test/phone", "hana.sales@contact.acme.test"
			if tt.side == identity.Inside {
				from, to = hanaPhone, proxyAddr
			}
			if out := handleRaw(t, c, core, msgXML("chat", from, to, "in-1", tt.inner)); len(out) != 0 {
				t.Errorf("answered: %s", renderTokens(out))
			}
			if tt.want == nil {
				if len(core.received) != 0 {
					t.Fatalf("relayed %+v", relayedOf(core.received[0]))
				}
				return
			}
			if len(core.received) != 1 {
				t.Fatalf("%d messages reached the gateway", len(core.received))
			}
			m := core.received[0]
			if got := relayedOf(m); !reflect.DeepEqual(got, *tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, *tt.want)
			}
			if m.From != from || m.To != to || m.ID != "in-1" || m.ReplyTo != from || m.Network != "corp" {
				t.Errorf("addressed %+v", m)
			}
		})
	}
}

// TestParseRulesKept: the rules for what is not relayed hold for the new
// parts too: a groupchat's file or reaction reaches no one, an invalid
// sender is dropped whatever the message carries.
func TestParseRulesKept(t *testing.T) {
	for _, tt := range []struct {
		name string
		side identity.Side
		raw  string
	}{
		{"outside groupchat reaction", identity.Outside, msgXML("groupchat", "room@muc.ext.test/bob", "hana.sales@contact.acme.test", "g1",
			`<reactions xmlns="urn:xmpp:reactions:0" id="m"><reaction>👍</reaction></reactions>`)},
		{"outside headline file", identity.Outside, msgXML("headline", "news.ext.test", "hana.sales@contact.acme.test", "h1",
			`<x xmlns="jabber:x:oob"><url>https://news.ext.test/a.pdf</url></x>`)},
		{"invalid sender with a file", identity.Outside, msgXML("chat", "a@@ext.test", "hana.sales@contact.acme.test", "i1",
			`<x xmlns="jabber:x:oob"><url>https://x.test/a.pdf</url></x>`)},
		{"invalid recipient with a receipt", identity.Outside, msgXML("chat", "bob@ext.test", "a@@contact.acme.test", "i2",
			`<received xmlns="urn:xmpp:receipts" id="x"/>`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestComponent(t, tt.side)
			core := &recordingCore{}
			handleRaw(t, c, core, tt.raw)
			if len(core.received) != 0 {
				t.Errorf("relayed %+v", relayedOf(core.received[0]))
			}
		})
	}
}

// TestBounceOfAPart: a stanza written for one file of a message bounces
// with its part ID; the gateway is told the message's own ID.
func TestBounceOfAPart(t *testing.T) {
	c := newTestComponent(t, identity.Outside)
	core := &recordingCore{}
	handleRaw(t, c, core, msgXML("error", "bob@ext.test", "hana.sales@contact.acme.test", gateway.PartID("k7xq2", 2),
		`<error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`))
	if len(core.failed) != 1 || !strings.HasPrefix(core.failed[0], "k7xq2|") {
		t.Errorf("Failed(%q)", core.failed)
	}
}

func TestCutFallbacks(t *testing.T) {
	rng := func(start, end string) fallback {
		return fallback{For: nsReply, Body: []fallbackRange{{Start: start, End: end}}}
	}
	for _, tt := range []struct {
		body string
		fbs  []fallback
		want string
	}{
		{"> a\nb", []fallback{rng("0", "4")}, "b"},
		{"> a\nb", []fallback{rng("0", "5")}, ""},
		{"> a\nb", []fallback{rng("0", "6")}, "> a\nb"},
		{"> a\nb", []fallback{rng("-1", "4")}, "> a\nb"},
		{"> a\nb", []fallback{rng("3", "2")}, "> a\nb"},
		{"> a\nb", []fallback{rng("", "4")}, "> a\nb"},
		{"> a\nb", []fallback{rng("2", "2")}, "> a\nb"},
		{"x> ü\ny> ö\nz", []fallback{{For: nsReply, Body: []fallbackRange{{Start: "6", End: "10"}, {Start: "1", End: "5"}}}}, "xyz"},
		{"x> ü\ny", []fallback{rng("1", "5"), rng("3", "6")}, "x"}, // overlapping
		{"ab", []fallback{{For: nsReactions}}, ""},
		{"ab", []fallback{{For: "urn:example"}}, "ab"},
		{"ab", []fallback{{}}, "ab"},
	} {
		if got := cutFallbacks(tt.body, tt.fbs); got != tt.want {
			t.Errorf("cutFallbacks(%q, %+v) = %q, want %q", tt.body, tt.fbs, got, tt.want)
		}
	}
}

// FuzzParseMessage: no stanza makes the parser panic, and nothing but
// what a stanza says reaches the gateway: every file is at a web URL,
// every reference has an ID and there are never too many reactions.
func FuzzParseMessage(f *testing.F) {
	f.Add(`<body>&gt; x` + "\n" + `y</body><reply xmlns="urn:xmpp:reply:0" id="r"/><fallback xmlns="urn:xmpp:fallback:0" for="urn:xmpp:reply:0"><body start="0" end="4"/></fallback>`)
	f.Add(`<x xmlns="jabber:x:oob"><url>https://a.test/b</url></x><reactions xmlns="urn:xmpp:reactions:0" id="m"><reaction>👍</reaction></reactions>`)
	f.Add(`<file-sharing xmlns="urn:xmpp:sfs:0"><file xmlns="urn:xmpp:file:metadata:0"><size>-1</size></file><sources><url-data xmlns="http://jabber.org/protocol/url-data" target="http://x"/></sources></file-sharing>`)
	f.Fuzz(func(t *testing.T, inner string) {
		c := newTestComponent(t, identity.Inside)
		c.cfg.UploadHosts = []string{"a.test"}
		core := &recordingCore{}
		handleRaw(t, c, core, msgXML("chat", hanaPhone, proxyAddr, "f1", inner))
		for _, m := range core.received {
			for _, file := range m.Files {
				if webURL(file.URL) != file.URL || file.Size < 0 {
					t.Errorf("file %+v", file)
				}
			}
			for _, r := range m.Refs {
				if r.ID == "" || r.Author != "" || r.Quote != "" {
					t.Errorf("ref %+v", r)
				}
			}
			if len(m.Reactions) > maxReactions {
				t.Errorf("%d reactions", len(m.Reactions))
			}
		}
	})
}
