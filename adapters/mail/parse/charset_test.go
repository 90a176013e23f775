package parse

import (
	"testing"
)

func TestDecodeWords(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"=?UTF-8?B?5pel5pys6Kqe?=", "日本語"},
		{"=?utf-8?q?caf=C3=A9_au_lait?=", "café au lait"},
		// The space between adjacent words is not content.
		{"=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab"},
		// ...but the space next to plain text is.
		{"Re: =?UTF-8?Q?caf=C3=A9?= order", "Re: café order"},
		// A multi-byte character split across two words (日 = E6 97 A5).
		{"=?UTF-8?B?5pc=?= =?UTF-8?B?pQ==?=", "日"},
		{"=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=", "日本語"},
		{"=?ISO-2022-JP*ja?B?GyRCRnxLXDhsGyhC?=", "日本語"},
		{"=?Shift_JIS?B?k/qWe4zq?=", "日本語"},
		{"=?EUC-JP?B?xvzL3Ljs?=", "日本語"},
		{"=?windows-1252?Q?=93quoted=94?=", "\u201cquoted\u201d"},
		{"=?iso-8859-1?Q?Jos=E9?=", "José"},
		// Different charsets side by side.
		{"=?UTF-8?Q?a?= =?ISO-8859-1?Q?=E9?=", "aé"},
		// Words glued together without a space.
		{"=?UTF-8?Q?a?==?UTF-8?Q?b?=", "ab"},
		// Broken words stay as they are.
		{"=?UTF-8?X?abc?=", "=?UTF-8?X?abc?="},
		{"=?UTF-8?B?abc", "=?UTF-8?B?abc"},
		{"50% =? off", "50% =? off"},
		{"=?unknown-cs?Q?ok_=FF?=", "ok \uFFFD"},
	}
	for _, tc := range tests {
		if got := decodeWords(tc.in); got != tc.want {
			t.Errorf("decodeWords(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHeaderDecoderRaw(t *testing.T) {
	tests := []struct {
		hint, in, want string
	}{
		{"", "plain ascii", "plain ascii"},
		{"", "already UTF-8 日本語", "already UTF-8 日本語"},
		// Raw ISO-2022-JP in a header, as old Japanese mailers send it.
		{"", "\x1b$BF|K\\8l\x1b(B", "日本語"},
		// Raw 8-bit with the body charset as the hint.
		{"shift_jis", "\x93\xfa\x96\x7b\x8c\xea", "日本語"},
		// Without a hint: EUC-JP, then Shift_JIS, then Windows-1252.
		{"", "\xc6\xfc\xcb\xdc\xb8\xec", "日本語"},
		{"", "\x83\x5c\x83\x74\x83\x67", "ソフト"},
		{"", "Jos\xe9", "José"},
	}
	for _, tc := range tests {
		if got := (headerDecoder{hint: tc.hint}).raw(tc.in); got != tc.want {
			t.Errorf("raw(%q, hint %q) = %q, want %q", tc.in, tc.hint, got, tc.want)
		}
	}
}

func TestDecodeCharset(t *testing.T) {
	tests := []struct {
		label string
		in    []byte
		want  string
	}{
		{"utf-8", []byte("ok ✓"), "ok ✓"},
		{"UTF-8", []byte("bad \xff byte"), "bad \uFFFD byte"},
		// Labelled UTF-8 (or nothing) but really ISO-2022-JP.
		{"utf-8", []byte("\x1b$BF|K\\8l\x1b(B"), "日本語"},
		{"us-ascii", []byte("\x1b$BF|K\\8l\x1b(B"), "日本語"},
		{"ISO-2022-JP", []byte("\x1b$BF|K\\8l\x1b(B"), "日本語"},
		// Half-width katakana escape (ESC ( I) as CP50221 sends it.
		{"iso-2022-jp", []byte("\x1b(I6E\x1b(B"), "ｶﾅ"},
		{"x-sjis", []byte("\x93\xfa\x96\x7b\x8c\xea"), "日本語"},
		{"cp932", []byte("\x87\x40"), "①"},
		{"Windows-31J", []byte("\x93\xfa"), "日"},
		{"euc-jp", []byte("\xc6\xfc\xcb\xdc\xb8\xec"), "日本語"},
		{"iso-8859-1", []byte("\x93smart\x94"), "\u201csmart\u201d"},
		{"iso-8859-15", []byte("\xa4"), "€"},
		{"windows-1251", []byte("\xcf\xf0\xe8\xe2\xe5\xf2"), "Привет"},
		{"cp1252", []byte("\x80"), "€"},
		{"utf-16", []byte("\x00h\x00i"), "hi"},
		{"utf-16", []byte("\xff\xfeh\x00i\x00"), "hi"},
		{"ks_c_5601-1987", []byte("\xc7\xd1"), "한"},
		{"x-unknown-thing", []byte("ASCII stays, caf\xe9 does not"), "ASCII stays, caf\uFFFD does not"},
		{"", []byte("unlabelled caf\xe9"), "unlabelled café"},
	}
	for _, tc := range tests {
		if got := decodeCharset(tc.in, tc.label); got != tc.want {
			t.Errorf("decodeCharset(%q, %q) = %q, want %q", tc.in, tc.label, got, tc.want)
		}
	}
}

func TestParseParams(t *testing.T) {
	tests := []struct {
		in        string
		wantValue string
		want      map[string]string
	}{
		{`text/plain; charset="UTF-8"; format=flowed`, "text/plain", map[string]string{"charset": "UTF-8", "format": "flowed"}},
		{`TEXT/HTML ; CHARSET = iso-2022-jp`, "text/html", map[string]string{"charset": "iso-2022-jp"}},
		{`attachment; filename*=UTF-8''%E8%A6%8B%E7%A9%8D.pdf`, "attachment", map[string]string{"filename": "見積.pdf"}},
		// RFC 2231 in a charset mime.ParseMediaType does not support.
		{`attachment; filename*=ISO-2022-JP''%1B%24BF%7CK%5C%1B%28B.txt`, "attachment", map[string]string{"filename": "日本.txt"}},
		{`attachment; filename*=shift_jis'ja'%93%FA%96%7B.txt`, "attachment", map[string]string{"filename": "日本.txt"}},
		// Continuations out of order, mixing encoded and plain sections.
		{`attachment; filename*1="b.pdf"; filename*0*=UTF-8''%E6%97%A5`, "attachment", map[string]string{"filename": "日b.pdf"}},
		// The RFC 2231 form wins over the plain one.
		{`attachment; filename="fallback.pdf"; filename*=UTF-8''real.pdf`, "attachment", map[string]string{"filename": "real.pdf"}},
		// Sloppy but common: unquoted spaces, Windows paths, stray semicolons.
		{`attachment; filename=My File.pdf;;`, "attachment", map[string]string{"filename": "My File.pdf"}},
		{`attachment; filename="C:\tmp\a.pdf"`, "attachment", map[string]string{"filename": `C:\tmp\a.pdf`}},
		{`attachment; filename="say \"hi\".txt"`, "attachment", map[string]string{"filename": `say "hi".txt`}},
		{`multipart/mixed; boundary="----=_Part_1"; junk`, "multipart/mixed", map[string]string{"boundary": "----=_Part_1"}},
		{`multipart/mixed; boundary="unterminated`, "multipart/mixed", map[string]string{"boundary": "unterminated"}},
		{``, "", map[string]string{}},
	}
	for _, tc := range tests {
		v, p := parseParams(tc.in)
		if v != tc.wantValue || !mapsEqual(p, tc.want) {
			t.Errorf("parseParams(%q) = %q, %v; want %q, %v", tc.in, v, p, tc.wantValue, tc.want)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestAddressList(t *testing.T) {
	tests := []struct {
		in   string
		want []Address
	}{
		{"Bob <Bob@Mail.Test>", []Address{{"Bob", "bob@mail.test"}}},
		{`"Tanaka, Bob" <bob@mail.test>, carol@mail.test`, []Address{{"Tanaka, Bob", "bob@mail.test"}, {"", "carol@mail.test"}}},
		{"bob@mail.test (Bob Tanaka)", []Address{{"Bob Tanaka", "bob@mail.test"}}},
		{`bob@mail.test (Bob \(Sales\) (JP))`, []Address{{"Bob (Sales) (JP)", "bob@mail.test"}}},
		{`"Bob (Sales)" <bob@mail.test>`, []Address{{"Bob (Sales)", "bob@mail.test"}}},
		{"Bob K. Tanaka <bob@mail.test>", []Address{{"Bob K. Tanaka", "bob@mail.test"}}},
		{"=?UTF-8?B?55Sw5LitIOS4gOmDjg==?= <bob@mail.test>", []Address{{"田中 一郎", "bob@mail.test"}}},
		{`"=?UTF-8?B?55Sw5Lit?=" <bob@mail.test>`, []Address{{"田中", "bob@mail.test"}}},
		{"田中 一郎 <bob@mail.test>", []Address{{"田中 一郎", "bob@mail.test"}}},
		{"Team: a@x.test, b@x.test;, c@x.test", []Address{{"", "a@x.test"}, {"", "b@x.test"}, {"", "c@x.test"}}},
		{"undisclosed-recipients:;", nil},
		{"<@relay.test:bob@mail.test>", []Address{{"", "bob@mail.test"}}},
		{"'Bob' <bob@mail.test>", []Address{{"Bob", "bob@mail.test"}}},
		{"<bob@mail.test", []Address{{"", "bob@mail.test"}}},
		{"Just A Name", nil},
		{"MAILER-DAEMON", []Address{{"", "mailer-daemon"}}},
		// Folding white space around dots and the @ goes; between words
		// it makes no address.
		{"Bob <bob . tanaka @\r\n mail.test>", []Address{{"Bob", "bob.tanaka@mail.test"}}},
		{"Bob <bob x@mail.test>", nil},
		{"bob x@mail.test", nil},
		{"", nil},
	}
	for _, tc := range tests {
		got := headerDecoder{}.addressList(tc.in)
		if len(got) != len(tc.want) {
			t.Errorf("addressList(%q) = %v, want %v", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("addressList(%q)[%d] = %v, want %v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

func TestMsgIDs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"<a@x>", []string{"a@x"}},
		{"<a@x> <b@y>\t<c@z>", []string{"a@x", "b@y", "c@z"}},
		{"<a@x> (Bob's message of Friday)", []string{"a@x"}},
		{`("<fake@x>" (nested)) <a@x>`, []string{"a@x"}},
		{`"quoted (not a comment)" <a@x>`, []string{"a@x"}},
		{"a@x", []string{"a@x"}},
		{"a@x b@y", []string{"a@x", "b@y"}},
		{"< a@x >", []string{"a@x"}},
		{"<>", nil},
		{"", nil},
	}
	for _, tc := range tests {
		got := msgIDs(tc.in)
		if len(got) != len(tc.want) {
			t.Errorf("msgIDs(%q) = %q, want %q", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("msgIDs(%q) = %q, want %q", tc.in, got, tc.want)
			}
		}
	}
}

func TestDMARCResult(t *testing.T) {
	trusted := []string{"mx.contact.acme.test"}
	tests := []struct {
		name   string
		values []string
		from   string
		want   string
	}{
		{"pass", []string{"mx.contact.acme.test; dmarc=pass header.from=mail.test"}, "mail.test", "pass"},
		{"case and trailing dot", []string{"MX.Contact.Acme.Test.; DMARC=Fail header.from=Mail.Test"}, "mail.test", "fail"},
		{"version and spaces around =", []string{"mx.contact.acme.test 1; dmarc = none (p=none) header.from = mail.test"}, "mail.test", "none"},
		{"comment containing a semicolon", []string{"mx.contact.acme.test (a; b); dmarc=fail header.from=mail.test"}, "mail.test", "fail"},
		{"quoted reason with semicolon", []string{`mx.contact.acme.test; dmarc=fail reason="x; y" header.from=mail.test`}, "mail.test", "fail"},
		{"other domain", []string{"mx.contact.acme.test; dmarc=pass header.from=other.test"}, "mail.test", ""},
		{"untrusted", []string{"mx.evil.test; dmarc=pass header.from=mail.test"}, "mail.test", ""},
		{"untrusted above trusted", []string{"mx.evil.test; dmarc=pass header.from=mail.test", "mx.contact.acme.test; dmarc=fail header.from=mail.test"}, "mail.test", "fail"},
		{"topmost trusted wins", []string{"mx.contact.acme.test; dmarc=fail header.from=mail.test", "mx.contact.acme.test; dmarc=pass header.from=mail.test"}, "mail.test", "fail"},
		{"no dmarc in topmost", []string{"mx.contact.acme.test; spf=pass", "mx.contact.acme.test; dmarc=pass header.from=mail.test"}, "mail.test", "pass"},
		{"none result", []string{"mx.contact.acme.test; none"}, "mail.test", ""},
		{"whole address as header.from", []string{"mx.contact.acme.test; dmarc=pass header.from=bob@mail.test"}, "mail.test", "pass"},
	}
	for _, tc := range tests {
		if got := dmarcResult(tc.values, trusted, tc.from); got != tc.want {
			t.Errorf("%s: dmarcResult = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := dmarcResult([]string{"mx.contact.acme.test; dmarc=pass header.from=mail.test"}, nil, "mail.test"); got != "" {
		t.Errorf("with no trusted ids: %q", got)
	}
}

func TestSPFResult(t *testing.T) {
	trusted := []string{"mx.contact.acme.test"}
	tests := []struct {
		name   string
		values []string
		domain string
		want   string
	}{
		{"pass for the domain", []string{"mx.contact.acme.test; spf=pass smtp.mailfrom=mail.test"}, "mail.test", "pass"},
		{"pass for an address", []string{"mx.contact.acme.test; spf=pass (designates 192.0.2.1) smtp.mailfrom=bob@mail.test"}, "mail.test", "pass"},
		{"among other methods", []string{"mx.contact.acme.test; dkim=pass header.d=x.test; spf=softfail smtp.mailfrom=mail.test; dmarc=pass header.from=x.test"}, "mail.test", "softfail"},
		{"another domain", []string{"mx.contact.acme.test; spf=pass smtp.mailfrom=attacker.test"}, "mail.test", ""},
		{"helo only", []string{"mx.contact.acme.test; spf=pass smtp.helo=mail.test"}, "mail.test", ""},
		{"untrusted", []string{"mx.evil.test; spf=pass smtp.mailfrom=mail.test"}, "mail.test", ""},
		{"untrusted above trusted", []string{"mx.evil.test; spf=pass smtp.mailfrom=mail.test", "mx.contact.acme.test; spf=fail smtp.mailfrom=mail.test"}, "mail.test", "fail"},
		{"no return path", []string{"mx.contact.acme.test; spf=pass smtp.mailfrom=mail.test"}, "", ""},
	}
	for _, tc := range tests {
		if got := spfResult(tc.values, trusted, tc.domain); got != tc.want {
			t.Errorf("%s: spfResult = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestUnflow(t *testing.T) {
	tests := []struct {
		in    string
		delSp bool
		want  string
	}{
		{"one \ntwo\nthree", false, "one two\nthree"},
		{"one\ntwo", false, "one\ntwo"},
		{"ab \ncd", true, "abcd"},
		{"> quoted \n> more\nown", false, "> quoted more\nown"},
		{">> deep \n> shallow", false, ">> deep \n> shallow"},
		{"text \n-- \nsig", false, "text -- \nsig"},
		{"-- \nsig", false, "-- \nsig"},
		{" >stuffed", false, ">stuffed"},
		{"ends soft ", false, "ends soft "},
	}
	for _, tc := range tests {
		if got := unflow(tc.in, tc.delSp); got != tc.want {
			t.Errorf("unflow(%q, %v) = %q, want %q", tc.in, tc.delSp, got, tc.want)
		}
	}
}
