package parse

import (
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
)

// TestAuthResultsRealWorld reads Authentication-Results as receiving
// servers write them, folded and commented, through Parse. The trusted
// authserv-id is mx.contact.acme.test; From is at mail.test and so is the
// Return-Path. authresRefuses says that go-msgauth's parser rejects the
// header even without its comments, so the hand-written fallback is what
// reads it: when a newer authres reads one of these, the fallback can go.
func TestAuthResultsRealWorld(t *testing.T) {
	tests := []struct {
		name           string
		headers        []string // Authentication-Results values, topmost first, folded as sent
		dmarc, spf     string
		authresRefuses bool
	}{
		{
			name: "Gmail: folded, comments with colons",
			headers: []string{"mx.contact.acme.test;\r\n       dkim=pass header.i=@mail.test header.s=20230601 header.b=AbCd+/9x;\r\n" +
				"       spf=pass (google.com: domain of bob@mail.test designates 192.0.2.10 as permitted sender) smtp.mailfrom=bob@mail.test;\r\n" +
				"       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=mail.test"},
			dmarc: "pass", spf: "pass",
		},
		{
			name: "Postfix with OpenDKIM, OpenDMARC and policyd-spf: one header each, semicolons in comments",
			headers: []string{
				"mx.contact.acme.test; dmarc=pass (p=reject dis=none) header.from=mail.test",
				"mx.contact.acme.test;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=mail.test header.i=@mail.test header.b=\"AbCdEfGh\";\r\n\tdkim-atps=neutral",
				"mx.contact.acme.test; spf=pass (sender SPF authorized) smtp.mailfrom=mail.test (client-ip=192.0.2.10; helo=out.mail.test; envelope-from=bob@mail.test)",
			},
			dmarc: "pass", spf: "pass",
		},
		{
			name: "rspamd: quoted address inside a comment",
			headers: []string{"mx.contact.acme.test;\r\n\tdkim=pass header.d=mail.test header.s=dkim header.b=Q1w2E3r4;\r\n" +
				"\tspf=pass (mx.contact.acme.test: domain of \"bob@mail.test\" designates 192.0.2.10 as permitted sender) smtp.mailfrom=bob@mail.test;\r\n" +
				"\tdmarc=pass (policy=reject) header.from=mail.test"},
			dmarc: "pass", spf: "pass",
		},
		{
			name:    "a comment right after the authserv-id",
			headers: []string{"mx.contact.acme.test (Postfix); dmarc=fail (p=reject dis=quarantine) header.from=mail.test; spf=softfail smtp.mailfrom=mail.test"},
			dmarc:   "fail", spf: "softfail",
		},
		{
			name:    "upper-case authserv-id, methods, results and domains",
			headers: []string{"MX.CONTACT.ACME.TEST; SPF=PASS smtp.mailfrom=BOB@MAIL.TEST; DMARC=PASS header.from=MAIL.TEST"},
			dmarc:   "pass", spf: "pass",
		},
		{
			name:    "policy properties and a dmarc result with an action",
			headers: []string{"mx.contact.acme.test; dmarc=quarantine (p=quarantine) policy.dmarc=quarantine policy.published-domain-policy=quarantine header.from=mail.test"},
			dmarc:   "quarantine",
		},
		{
			name:    "unknown methods around the known ones",
			headers: []string{"mx.contact.acme.test; x-ms-exchange-check=pass; bimi=pass header.d=mail.test header.selector=default policy.authority=none; dmarc=pass header.from=mail.test; compauth=pass reason=100"},
			dmarc:   "pass",
		},
		{
			name:    "a method with a version",
			headers: []string{"mx.contact.acme.test; dmarc/1=pass header.from=mail.test; spf/1=neutral smtp.mailfrom=mail.test"},
			dmarc:   "pass", spf: "neutral",
		},
		{
			name:    "quoted property values",
			headers: []string{`mx.contact.acme.test; dmarc=pass header.from="mail.test"; spf=pass smtp.mailfrom="bob@mail.test"`},
			dmarc:   "pass", spf: "pass",
		},
		{
			name:    "the SPF result for HELO is not the envelope sender's",
			headers: []string{"mx.contact.acme.test; spf=pass smtp.helo=mail.test; spf=fail smtp.mailfrom=mail.test"},
			spf:     "fail",
		},
		{
			name:    "a subdomain is not the From domain",
			headers: []string{"mx.contact.acme.test; dmarc=pass header.from=news.mail.test; spf=pass smtp.mailfrom=bounces@news.mail.test"},
		},
		{
			name:    "no results at all",
			headers: []string{"mx.contact.acme.test 1; none"},
		},
		{
			name: "a forged pass from an untrusted authserv-id above ours",
			headers: []string{
				"mx.evil.test; dmarc=pass header.from=mail.test; spf=pass smtp.mailfrom=mail.test",
				"mx.contact.acme.test; dmarc=fail header.from=mail.test; spf=fail smtp.mailfrom=mail.test",
			},
			dmarc: "fail", spf: "fail",
		},
		{
			name:    "an authserv-id that only starts like ours",
			headers: []string{"mx.contact.acme.test.evil.test; dmarc=pass header.from=mail.test; spf=pass smtp.mailfrom=mail.test"},
		},
		{
			name: "a forged header of ours below the real one",
			headers: []string{
				"mx.contact.acme.test; dmarc=fail header.from=mail.test",
				"mx.contact.acme.test; dmarc=pass header.from=mail.test",
			},
			dmarc: "fail",
		},
		{
			name:    "Exchange Online writes no authserv-id: nobody vouches",
			headers: []string{"spf=pass (sender IP is 192.0.2.10) smtp.mailfrom=mail.test; dkim=pass (signature was verified) header.d=mail.test;dmarc=pass action=none header.from=mail.test;compauth=pass reason=100"},
			// authres takes "spf=pass smtp.mailfrom=mail.test" for an
			// authserv-id with a version it does not know.
			authresRefuses: true,
		},
		{
			name:    "white space around = (RFC 8601 CFWS)",
			headers: []string{"mx.contact.acme.test; dmarc = pass header.from = mail.test; spf = pass smtp.mailfrom = mail.test"},
			dmarc:   "pass", spf: "pass",
			authresRefuses: true,
		},
		{
			name:           "a semicolon inside a quoted reason",
			headers:        []string{`mx.contact.acme.test; dkim=fail reason="signature did not verify; body hash mismatch" header.d=mail.test; dmarc=fail header.from=mail.test`},
			dmarc:          "fail",
			authresRefuses: true,
		},
		{
			name:           "an authserv-id version other than 1",
			headers:        []string{"mx.contact.acme.test 2; dmarc=pass header.from=mail.test"},
			dmarc:          "pass",
			authresRefuses: true,
		},
		{
			name:    "ARC with a broken instance number before the results we need",
			headers: []string{"mx.contact.acme.test; arc=pass header.oldest-pass=0; spf=pass smtp.mailfrom=mail.test; dmarc=pass header.from=mail.test"},
			dmarc:   "pass", spf: "pass",
			authresRefuses: true,
		},
		{
			name:           "a result without a value",
			headers:        []string{"mx.contact.acme.test; dkim; dmarc=pass header.from=mail.test"},
			dmarc:          "pass",
			authresRefuses: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hs := []string{"Return-Path: <bob@mail.test>"}
			for _, v := range tc.headers {
				hs = append(hs, "Authentication-Results: "+v)
			}
			m := mustParse(t, msg(hs, "x"), trustedOpts)
			if m.DMARC != tc.dmarc || m.SPF != tc.spf {
				t.Errorf("DMARC, SPF = %q, %q; want %q, %q", m.DMARC, m.SPF, tc.dmarc, tc.spf)
			}
			refused := false
			for _, v := range tc.headers {
				h, err := readHeader([]byte("Authentication-Results: " + v + "\r\n"))
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := authres.Parse(stripComments(h.Get("Authentication-Results"))); err != nil {
					refused = true
				}
			}
			if refused != tc.authresRefuses {
				t.Errorf("authres refuses the header: %v, want %v", refused, tc.authresRefuses)
			}
		})
	}
}

// TestAuthResultsTrust: only the configured authserv-ids are believed,
// spelt in any case and with or without a trailing dot; a blank entry in
// the configuration believes nothing, not even a header without an id.
func TestAuthResultsTrust(t *testing.T) {
	const header = "mx.contact.acme.test; dmarc=pass header.from=mail.test"
	tests := []struct {
		trusted []string
		value   string
		want    string
	}{
		{[]string{"mx.contact.acme.test"}, header, "pass"},
		{[]string{" MX.Contact.Acme.Test. "}, header, "pass"},
		{[]string{"other.test", "mx.contact.acme.test"}, header, "pass"},
		{[]string{"contact.acme.test"}, header, ""},
		{nil, header, ""},
		{[]string{""}, "; dmarc=pass header.from=mail.test", ""},
		{[]string{" "}, "  ; dmarc=pass header.from=mail.test", ""},
		{[]string{""}, "(comment only); dmarc=pass header.from=mail.test", ""},
	}
	for _, tc := range tests {
		if got := dmarcResult([]string{tc.value}, tc.trusted, "mail.test"); got != tc.want {
			t.Errorf("trusted %q, %q: %q, want %q", tc.trusted, tc.value, got, tc.want)
		}
	}
}

// TestParseAuthResultsKeepsEveryMethod: both parsers give the same
// results for a header either can read, so which one reads it does not
// change what the gateway believes.
func TestParseAuthResultsKeepsEveryMethod(t *testing.T) {
	v := "mx.contact.acme.test; spf=pass smtp.mailfrom=bob@mail.test; dmarc=fail header.from=mail.test; dkim=pass header.d=mail.test"
	id, viaAuthres := parseAuthResults(v)
	lid, viaFallback := lenientAuthResults(v)
	if id != "mx.contact.acme.test" || lid != id {
		t.Fatalf("ids %q, %q", id, lid)
	}
	pick := func(rs []resinfo) string {
		var b []string
		for _, r := range rs {
			switch r.method {
			case "spf":
				b = append(b, "spf="+r.result+" "+r.props["smtp.mailfrom"])
			case "dmarc":
				b = append(b, "dmarc="+r.result+" "+r.props["header.from"])
			}
		}
		return strings.Join(b, "; ")
	}
	if a, f := pick(viaAuthres), pick(viaFallback); a != f || a != "spf=pass bob@mail.test; dmarc=fail mail.test" {
		t.Errorf("authres: %q\nfallback: %q", a, f)
	}
}
