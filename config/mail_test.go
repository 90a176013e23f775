package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/identity"
)

// Passwords of the mail network in mailNet and the full configuration: no
// error may ever show them.
const (
	imapPassword = "imap-secret-pw-4711"
	smtpPassword = "smtp-secret-pw-4712"
	// numericPassword is a password YAML reads as a number. Long, so that
	// no temporary path in an error can contain it by chance.
	numericPassword = "9081726354453627189"
)

// mailNet adds an outside mail network when it replaces "routing:" in base.
// Its domain is public-xmpp's component domain, as a persona keeps one
// address on XMPP and on mail.
const mailNet = `  mail:
    side: outside
    kind: mail
    mail:
      domain: contact.acme.test
      imap:
        server: imap.acme.test:993
        username: contact@acme.test
        password: ` + imapPassword + `
      smtp:
        server: smtp.acme.test:587
routing:`

// mailProxy gives corp a proxy domain for the mail network when it replaces
// corp's home_domains line.
var mailProxy = edit{"home_domains: [corp.test]", "home_domains: [corp.test]\n      proxy_domains:\n        mail: mail.gw.corp.test"}

// withMail is base with the mail network and corp's proxy domain for it,
// then edits.
func withMail(t *testing.T, edits ...edit) string {
	t.Helper()
	return apply(t, append([]edit{{"routing:", mailNet}, mailProxy}, edits...)...)
}

// withoutPublic is withMail without the outside xmpp network.
func withoutPublic(t *testing.T, edits ...edit) string {
	t.Helper()
	public := base[strings.Index(base, "  public-xmpp:"):strings.Index(base, "routing:")]
	return withMail(t, append([]edit{{public, ""}}, edits...)...)
}

// writeCA writes a PEM file holding one self-signed CA certificate.
func writeCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Kakehashi Test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
}

// TestLoadMailNetwork loads a configuration with an inside xmpp network, an
// outside xmpp network and an outside mail network with every key set, and
// checks every field.
func TestLoadMailNetwork(t *testing.T) {
	cleanEnv(t)
	ca := writeCA(t)
	dkimKey := writeFile(t, "dkim.pem", "-----BEGIN PRIVATE KEY-----\nnot parsed here\n-----END PRIVATE KEY-----\n")
	smtpPass := writeFile(t, "smtp.password", smtpPassword+"\n")
	yaml := fmt.Sprintf(`admin:
  token: test-token-0123456789abcdef
networks:
  corp:
    side: inside
    kind: xmpp
    xmpp:
      domain: gw.corp.test
      server: 127.0.0.1:5347
      secret: corp-secret
      home_domains: [corp.test]
      proxy_for: public-xmpp
      proxy_domains:
        mail: mail.gw.corp.test
  public-xmpp:
    side: outside
    kind: xmpp
    xmpp:
      domain: contact.acme.test
      server: 127.0.0.1:5347
      secret: public-secret
  mail:
    side: outside
    kind: mail
    mail:
      domain: contact.acme.test
      imap:
        server: imap.acme.test:143
        tls: starttls
        ca_file: %[1]s
        username: contact@acme.test
        password: %[4]s
        mailbox: Gateway
        processed_mailbox: Gateway/Done
        quarantine_mailbox: Gateway/Suspect
        poll_interval: 2m
        idle_interval: 10m
      smtp:
        server: smtp.acme.test:465
        tls: tls
        ca_file: %[1]s
        username: contact@acme.test
        password_file: %[3]s
        helo: out.acme.test
      dkim:
        selector: k2025
        key_file: %[2]s
      trusted_authserv_ids: [mx1.acme.test, mx2.acme.test]
routing:
  fallback_employee: ken
`, ca, dkimKey, smtpPass, imapPassword)
	c := mustLoad(t, yaml)
	corp, m := c.Networks["corp"], c.Networks["mail"]
	dkim := m.Mail.DKIM
	if dkim == nil {
		t.Fatal("DKIM is nil")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Inside", names(c.Inside()), "corp"},
		{"Outside", names(c.Outside()), "mail,public-xmpp"},
		{"corp proxy_for", corp.XMPP.ProxyFor, "public-xmpp"},
		{"corp proxy_domains", fmt.Sprint(corp.XMPP.ProxyDomains), "map[mail:mail.gw.corp.test]"},
		{"corp Proxies", fmt.Sprint(corp.XMPP.Proxies()), "map[mail:mail.gw.corp.test public-xmpp:gw.corp.test]"},
		{"corp ComponentDomains", strings.Join(corp.XMPP.ComponentDomains(), ","), "gw.corp.test,mail.gw.corp.test"},
		{"mail name", m.Name, "mail"},
		{"mail side", m.Side, identity.Outside},
		{"mail kind", m.Kind, KindMail},
		{"mail xmpp", m.XMPP == nil, true},
		{"domain", m.Mail.Domain, "contact.acme.test"},
		{"imap server", m.Mail.IMAP.Server, "imap.acme.test:143"},
		{"imap tls", m.Mail.IMAP.TLS, TLSStartTLS},
		{"imap ca_file", m.Mail.IMAP.CAFile, ca},
		{"imap username", m.Mail.IMAP.Username, "contact@acme.test"},
		{"imap password", m.Mail.IMAP.Password.Reveal(), imapPassword},
		{"imap password_file", m.Mail.IMAP.PasswordFile, ""},
		{"imap mailbox", m.Mail.IMAP.Mailbox, "Gateway"},
		{"imap processed", m.Mail.IMAP.ProcessedMailbox, "Gateway/Done"},
		{"imap quarantine", m.Mail.IMAP.QuarantineMailbox, "Gateway/Suspect"},
		{"imap poll", m.Mail.IMAP.PollInterval, 2 * time.Minute},
		{"imap idle", m.Mail.IMAP.IdleInterval, 10 * time.Minute},
		{"smtp server", m.Mail.SMTP.Server, "smtp.acme.test:465"},
		{"smtp tls", m.Mail.SMTP.TLS, TLSImplicit},
		{"smtp ca_file", m.Mail.SMTP.CAFile, ca},
		{"smtp username", m.Mail.SMTP.Username, "contact@acme.test"},
		{"smtp password", m.Mail.SMTP.Password.Reveal(), smtpPassword},
		{"smtp password_file", m.Mail.SMTP.PasswordFile, smtpPass},
		{"smtp helo", m.Mail.SMTP.HELO, "out.acme.test"},
		{"dkim selector", dkim.Selector, "k2025"},
		{"dkim key_file", dkim.KeyFile, dkimKey},
		{"trusted_authserv_ids", strings.Join(m.Mail.TrustedAuthServIDs, ","), "mx1.acme.test,mx2.acme.test"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate after Load: %v", err)
	}
}

// TestMailDefaults loads the smallest mail network and checks every default.
func TestMailDefaults(t *testing.T) {
	cleanEnv(t)
	c := mustLoad(t, withMail(t))
	corp, m := c.Networks["corp"].XMPP, c.Networks["mail"].Mail
	checks := []struct {
		name      string
		got, want any
	}{
		{"proxy_for (the only outside xmpp network)", corp.ProxyFor, "public-xmpp"},
		{"imap tls (port 993)", m.IMAP.TLS, TLSImplicit},
		{"imap ca_file", m.IMAP.CAFile, ""},
		{"imap mailbox", m.IMAP.Mailbox, "INBOX"},
		{"imap processed", m.IMAP.ProcessedMailbox, "Kakehashi/Processed"},
		{"imap quarantine", m.IMAP.QuarantineMailbox, "Kakehashi/Quarantine"},
		{"imap poll", m.IMAP.PollInterval, 30 * time.Second},
		{"imap idle", m.IMAP.IdleInterval, 5 * time.Minute},
		{"smtp tls (port 587)", m.SMTP.TLS, TLSStartTLS},
		{"smtp ca_file", m.SMTP.CAFile, ""},
		{"smtp username", m.SMTP.Username, ""},
		{"smtp password", m.SMTP.Password.Reveal(), ""},
		{"smtp helo (the mail domain)", m.SMTP.HELO, "contact.acme.test"},
		{"dkim", m.DKIM == nil, true},
		{"trusted_authserv_ids", m.TrustedAuthServIDs == nil, true},
		{"attach_limit", m.AttachLimit, int64(DefaultAttachLimit)},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestMailTLSDefault(t *testing.T) {
	tests := []struct {
		imap, smtp         string
		wantIMAP, wantSMTP string
	}{
		{"imap.acme.test:993", "smtp.acme.test:465", TLSImplicit, TLSImplicit},
		{"imap.acme.test:143", "smtp.acme.test:587", TLSStartTLS, TLSStartTLS},
		{"imap.acme.test:1143", "smtp.acme.test:25", TLSStartTLS, TLSStartTLS},
		{`"[2001:db8::1]:993"`, "smtp.acme.test:2525", TLSImplicit, TLSStartTLS},
	}
	for _, tt := range tests {
		t.Run(tt.imap+" "+tt.smtp, func(t *testing.T) {
			cleanEnv(t)
			c := mustLoad(t, withMail(t, edit{"imap.acme.test:993", tt.imap}, edit{"smtp.acme.test:587", tt.smtp}))
			m := c.Networks["mail"].Mail
			if m.IMAP.TLS != tt.wantIMAP || m.SMTP.TLS != tt.wantSMTP {
				t.Errorf("tls = %s/%s, want %s/%s", m.IMAP.TLS, m.SMTP.TLS, tt.wantIMAP, tt.wantSMTP)
			}
		})
	}
}

// TestMailHappy loads variants that must be accepted.
func TestMailHappy(t *testing.T) {
	ca := writeCA(t)
	tests := []struct {
		name  string
		yaml  func(t *testing.T) string
		check func(c *Config) (got, want any)
	}{
		{"tls none to 127.0.0.1", func(t *testing.T) string {
			return withMail(t, edit{"imap.acme.test:993", "127.0.0.1:1143\n        tls: none"},
				edit{"smtp.acme.test:587", "127.0.0.1:2525\n        tls: none"})
		}, func(c *Config) (any, any) {
			return c.Networks["mail"].Mail.IMAP.TLS + "/" + c.Networks["mail"].Mail.SMTP.TLS, "none/none"
		}},
		{"tls none to ::1 and localhost", func(t *testing.T) string {
			return withMail(t, edit{"imap.acme.test:993", "\"[::1]:1143\"\n        tls: none"},
				edit{"smtp.acme.test:587", "localhost:2525\n        tls: none"})
		}, func(c *Config) (any, any) { return c.Networks["mail"].Mail.SMTP.Server, "localhost:2525" }},
		{"tls none to 127.8.9.10", func(t *testing.T) string {
			return withMail(t, edit{"imap.acme.test:993", "127.8.9.10:1143\n        tls: none"})
		}, func(c *Config) (any, any) { return c.Networks["mail"].Mail.IMAP.TLS, "none" }},
		{"ca_file", func(t *testing.T) string {
			return withMail(t, edit{"imap.acme.test:993", "imap.acme.test:993\n        ca_file: " + ca})
		}, func(c *Config) (any, any) { return c.Networks["mail"].Mail.IMAP.CAFile, ca }},
		{"smtp login", func(t *testing.T) string {
			return withMail(t, edit{"smtp.acme.test:587", "smtp.acme.test:587\n        username: relay\n        password: " + smtpPassword})
		}, func(c *Config) (any, any) {
			return c.Networks["mail"].Mail.SMTP.Username + " " + c.Networks["mail"].Mail.SMTP.Password.Reveal(), "relay " + smtpPassword
		}},
		{"helo address literal", func(t *testing.T) string {
			return withMail(t, edit{"smtp.acme.test:587", "smtp.acme.test:587\n        helo: \"[192.0.2.1]\""})
		}, func(c *Config) (any, any) { return c.Networks["mail"].Mail.SMTP.HELO, "[192.0.2.1]" }},
		{"mail domain differs from xmpp", func(t *testing.T) string {
			return withMail(t, edit{"mail:\n      domain: contact.acme.test", "mail:\n      domain: mail.acme.test"})
		}, func(c *Config) (any, any) { return c.Networks["mail"].Mail.Domain, "mail.acme.test" }},
		{"proxy_for defaults to the only outside network, of kind mail", func(t *testing.T) string {
			return withoutPublic(t, edit{"\n      proxy_domains:\n        mail: mail.gw.corp.test", ""})
		}, func(c *Config) (any, any) {
			return fmt.Sprint(c.Networks["corp"].XMPP.Proxies()), "map[mail:gw.corp.test]"
		}},
		{"proxy_for defaults to the outside network without a proxy domain", func(t *testing.T) string {
			return withMail(t, edit{"mail: mail.gw.corp.test", "public-xmpp: public.gw.corp.test"})
		}, func(c *Config) (any, any) {
			return fmt.Sprint(c.Networks["corp"].XMPP.Proxies()), "map[mail:gw.corp.test public-xmpp:public.gw.corp.test]"
		}},
		{"proxy_for names the mail network", func(t *testing.T) string {
			return withMail(t, edit{"mail: mail.gw.corp.test", "public-xmpp: public.gw.corp.test"},
				edit{"home_domains: [corp.test]", "home_domains: [corp.test]\n      proxy_for: mail"})
		}, func(c *Config) (any, any) { return c.Networks["corp"].XMPP.ProxyFor, "mail" }},
		{"mailboxes distinct from INBOX", func(t *testing.T) string {
			return withMail(t, edit{"username: contact@acme.test", "username: contact@acme.test\n        processed_mailbox: INBOX.done\n        quarantine_mailbox: INBOX.bad"})
		}, func(c *Config) (any, any) { return c.Networks["mail"].Mail.IMAP.ProcessedMailbox, "INBOX.done" }},
		{"interval bounds", func(t *testing.T) string {
			return withMail(t, edit{"username: contact@acme.test", "username: contact@acme.test\n        poll_interval: 1h\n        idle_interval: 29m"})
		}, func(c *Config) (any, any) {
			return c.Networks["mail"].Mail.IMAP.PollInterval + c.Networks["mail"].Mail.IMAP.IdleInterval, time.Hour + 29*time.Minute
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			c := mustLoad(t, tt.yaml(t))
			if got, want := tt.check(c); got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestMailEnvOverrides(t *testing.T) {
	passFile := writeFile(t, "imap.password", "imap-from-file\n")
	keyFile := writeFile(t, "dkim.pem", "key")
	mail := func(c *Config) *Mail { return c.Networks["mail"].Mail }
	tests := []struct {
		name  string
		edits []edit
		env   map[string]string
		check func(c *Config) (got, want any)
	}{
		{"imap password", nil, map[string]string{"KAKEHASHI_NETWORKS_MAIL_MAIL_IMAP_PASSWORD": "env-imap-pw"},
			func(c *Config) (any, any) { return mail(c).IMAP.Password.Reveal(), "env-imap-pw" }},
		{"imap password absent from file", []edit{remove("        password: " + imapPassword)},
			map[string]string{"KAKEHASHI_NETWORKS_MAIL_MAIL_IMAP_PASSWORD": "env-imap-pw"},
			func(c *Config) (any, any) { return mail(c).IMAP.Password.Reveal(), "env-imap-pw" }},
		{"imap password_file", []edit{remove("        password: " + imapPassword)},
			map[string]string{"KAKEHASHI_NETWORKS_MAIL_MAIL_IMAP_PASSWORD_FILE": passFile},
			func(c *Config) (any, any) {
				return mail(c).IMAP.Password.Reveal() + "|" + mail(c).IMAP.PasswordFile, "imap-from-file|" + passFile
			}},
		{"smtp login", nil, map[string]string{"KAKEHASHI_NETWORKS_MAIL_MAIL_SMTP_USERNAME": "relay", "KAKEHASHI_NETWORKS_MAIL_MAIL_SMTP_PASSWORD": "env-smtp-pw"},
			func(c *Config) (any, any) {
				return mail(c).SMTP.Username + " " + mail(c).SMTP.Password.Reveal(), "relay env-smtp-pw"
			}},
		{"mail domain, and helo follows it", nil, map[string]string{"KAKEHASHI_NETWORKS_MAIL_MAIL_DOMAIN": "mail.acme.test"},
			func(c *Config) (any, any) {
				return mail(c).Domain + " " + mail(c).SMTP.HELO, "mail.acme.test mail.acme.test"
			}},
		{"imap tls and server", nil, map[string]string{"KAKEHASHI_NETWORKS_MAIL_MAIL_IMAP_SERVER": "127.0.0.1:1143", "KAKEHASHI_NETWORKS_MAIL_MAIL_IMAP_TLS": "none"},
			func(c *Config) (any, any) { return mail(c).IMAP.Server + " " + mail(c).IMAP.TLS, "127.0.0.1:1143 none" }},
		{"smtp server changes the tls default", nil, map[string]string{"KAKEHASHI_NETWORKS_MAIL_MAIL_SMTP_SERVER": "smtp.acme.test:465"},
			func(c *Config) (any, any) { return mail(c).SMTP.TLS, TLSImplicit }},
		{"intervals", nil, map[string]string{"KAKEHASHI_NETWORKS_MAIL_MAIL_IMAP_POLL_INTERVAL": "2m", "KAKEHASHI_NETWORKS_MAIL_MAIL_IMAP_IDLE_INTERVAL": "90s"},
			func(c *Config) (any, any) {
				return mail(c).IMAP.PollInterval + mail(c).IMAP.IdleInterval, 3*time.Minute + 30*time.Second
			}},
		{"mailboxes", nil, map[string]string{"KAKEHASHI_NETWORKS_MAIL_MAIL_IMAP_MAILBOX": "Gateway", "KAKEHASHI_NETWORKS_MAIL_MAIL_IMAP_PROCESSED_MAILBOX": "Done",
			"KAKEHASHI_NETWORKS_MAIL_MAIL_IMAP_QUARANTINE_MAILBOX": "Suspect"},
			func(c *Config) (any, any) {
				return mail(c).IMAP.Mailbox + mail(c).IMAP.ProcessedMailbox + mail(c).IMAP.QuarantineMailbox, "GatewayDoneSuspect"
			}},
		{"trusted_authserv_ids", nil, map[string]string{"KAKEHASHI_NETWORKS_MAIL_MAIL_TRUSTED_AUTHSERV_IDS": "mx1.acme.test, mx2.acme.test"},
			func(c *Config) (any, any) {
				return strings.Join(mail(c).TrustedAuthServIDs, "|"), "mx1.acme.test|mx2.acme.test"
			}},
		{"dkim absent from file", nil, map[string]string{"KAKEHASHI_NETWORKS_MAIL_MAIL_DKIM_SELECTOR": "k1", "KAKEHASHI_NETWORKS_MAIL_MAIL_DKIM_KEY_FILE": keyFile},
			func(c *Config) (any, any) { return fmt.Sprint(*mail(c).DKIM), "{k1 " + keyFile + "}" }},
		{"proxy domain", nil, map[string]string{"KAKEHASHI_NETWORKS_CORP_XMPP_PROXY_DOMAINS_MAIL": "m.gw.corp.test"},
			func(c *Config) (any, any) { return c.Networks["corp"].XMPP.ProxyDomains["mail"], "m.gw.corp.test" }},
		{"proxy domain absent from file", []edit{{"\n      proxy_domains:\n        mail: mail.gw.corp.test", ""}},
			map[string]string{"KAKEHASHI_NETWORKS_CORP_XMPP_PROXY_DOMAINS_MAIL": "m.gw.corp.test"},
			func(c *Config) (any, any) {
				return fmt.Sprint(c.Networks["corp"].XMPP.ProxyDomains), "map[mail:m.gw.corp.test]"
			}},
		{"kind", []edit{{"    kind: mail\n", "    kind: xmpp\n"}}, map[string]string{"KAKEHASHI_NETWORKS_MAIL_KIND": "mail"},
			func(c *Config) (any, any) { return c.Networks["mail"].Kind, KindMail }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c := mustLoad(t, withMail(t, tt.edits...))
			if got, want := tt.check(c); got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

// mailErrorCases are broken configurations, each with the KeyError it must
// give. TestMailErrors checks them and TestMailPasswordNeverShown checks
// that none of their errors shows a password.
func mailErrorCases(t *testing.T) []struct {
	name string
	yaml string
	env  map[string]string
	key  string
	want []string
} {
	ca := writeCA(t)
	notPEM := writeFile(t, "not.pem", "hello\n")
	dir := t.TempDir()
	imap := func(line string) edit {
		return edit{"username: contact@acme.test", "username: contact@acme.test\n        " + line}
	}
	smtp := func(line string) edit { return edit{"smtp.acme.test:587", "smtp.acme.test:587\n        " + line} }
	mailKey := func(line string) edit {
		return edit{"      smtp:\n        server: smtp.acme.test:587", "      " + line + "\n      smtp:\n        server: smtp.acme.test:587"}
	}
	const (
		n    = "networks.mail"
		m    = "networks.mail.mail"
		corp = "networks.corp.xmpp"
	)
	type tc = struct {
		name string
		yaml string
		env  map[string]string
		key  string
		want []string
	}
	return []tc{
		// Network level.
		{"inside mail network", withMail(t, edit{"    side: outside\n    kind: mail", "    side: inside\n    kind: mail"}), nil,
			n + ".side", []string{"mail networks are outside networks: employees stay on XMPP", "set side: outside"}},
		{"no mail block", withMail(t, edit{"    kind: mail\n    mail:", "    kind: mail\n    mailx:"}), nil,
			n + ".mail", []string{"missing", "add a mail block"}},
		{"xmpp block on a mail network", withMail(t, edit{"    kind: mail\n", "    kind: mail\n    xmpp:\n      domain: x.acme.test\n"}), nil,
			n + ".xmpp", []string{"set on a network of kind mail", "remove it, or set kind: xmpp"}},
		{"mail block on an xmpp network", withMail(t, edit{"      secret: public-secret\n", "      secret: public-secret\n    mail:\n      domain: contact.acme.test\n"}), nil,
			"networks.public-xmpp.mail", []string{"set on a network of kind xmpp", "set kind: mail"}},
		{"same mail domain on two mail networks", withMail(t, edit{"routing:", strings.Replace(strings.Replace(mailNet, "  mail:\n    side", "  mail2:\n    side", 1), "imap.acme.test", "imap2.acme.test", 1)},
			edit{"mail: mail.gw.corp.test", "mail: mail.gw.corp.test\n        mail2: mail2.gw.corp.test"}), nil,
			"networks.mail2.mail.domain", []string{"also the mail domain of network mail", "its own domain"}},

		// Mail domain.
		{"no domain", withMail(t, edit{"mail:\n      domain: contact.acme.test\n", "mail:\n"}), nil, m + ".domain", []string{"empty", "contact.acme.test"}},
		{"bad domain", withMail(t, edit{"mail:\n      domain: contact.acme.test", "mail:\n      domain: Contact.acme.test"}), nil,
			m + ".domain", []string{`"Contact.acme.test" is not a valid domain`, "lower-case"}},

		// Connections.
		{"imap tls none to the network", withMail(t, imap("tls: none")), nil,
			m + ".imap.tls", []string{"imap.acme.test is not a loopback address", "password", "clear text", "tls: starttls or tls", "127.0.0.1"}},
		{"smtp tls none to the network", withMail(t, smtp("tls: none")), nil,
			m + ".smtp.tls", []string{"smtp.acme.test is not a loopback address", "clear text", "tls: starttls or tls"}},
		{"smtp tls none to a private address", withMail(t, edit{"smtp.acme.test:587", "10.0.0.25:25\n        tls: none"}), nil,
			m + ".smtp.tls", []string{"10.0.0.25 is not a loopback address"}},
		{"tls mode unknown", withMail(t, imap("tls: ssl")), nil,
			m + ".imap.tls", []string{`"ssl" is not a TLS mode`, "tls (TLS from the first byte, port 993), starttls (port 143) or none"}},
		{"tls mode from env", withMail(t), map[string]string{"KAKEHASHI_NETWORKS_MAIL_MAIL_SMTP_TLS": "STARTTLS"},
			m + ".smtp.tls", []string{`"STARTTLS" is not a TLS mode`}},
		{"starttls on 993", withMail(t, imap("tls: starttls")), nil,
			m + ".imap.tls", []string{"starttls on port 993", "TLS from the first byte", "port 143"}},
		{"starttls on 465", withMail(t, edit{"smtp.acme.test:587", "smtp.acme.test:465\n        tls: starttls"}), nil,
			m + ".smtp.tls", []string{"starttls on port 465", "set tls: tls"}},
		{"tls on 587", withMail(t, smtp("tls: tls")), nil,
			m + ".smtp.tls", []string{"tls on port 587", "plain text first", "set tls: starttls"}},
		{"no imap server", withMail(t, remove("        server: imap.acme.test:993")), nil, m + ".imap.server", []string{"empty", "host:port"}},
		{"imap server without port", withMail(t, edit{"imap.acme.test:993", "imap.acme.test"}), nil,
			m + ".imap.server", []string{`"imap.acme.test" is not host:port`, "mail.acme.test:993"}},
		{"smtp server bad port", withMail(t, edit{"smtp.acme.test:587", "smtp.acme.test:smtp"}), nil,
			m + ".smtp.server", []string{"not host:port", "mail.acme.test:465"}},
		{"ca_file missing", withMail(t, imap("ca_file: "+dir+"/nope.pem")), nil,
			m + ".imap.ca_file", []string{"cannot read it", "nope.pem", "fix the path"}},
		{"ca_file a directory", withMail(t, smtp("ca_file: "+dir)), nil,
			m + ".smtp.ca_file", []string{"cannot read it"}},
		{"ca_file not PEM", withMail(t, imap("ca_file: "+notPEM)), nil,
			m + ".imap.ca_file", []string{"holds no PEM certificate", "BEGIN CERTIFICATE"}},
		{"ca_file with tls none", withMail(t, edit{"imap.acme.test:993", "127.0.0.1:1143\n        tls: none\n        ca_file: " + ca}), nil,
			m + ".imap.ca_file", []string{"tls is none", "remove ca_file"}},

		// Logins.
		{"no imap username", withMail(t, remove("        username: contact@acme.test")), nil, m + ".imap.username", []string{"empty", "IMAP login"}},
		{"no imap password", withMail(t, remove("        password: "+imapPassword)), nil,
			m + ".imap.password", []string{"empty", "password_file", "KAKEHASHI_NETWORKS_MAIL_MAIL_IMAP_PASSWORD"}},
		{"imap password and password_file", withMail(t, imap("password_file: "+notPEM)), nil,
			m + ".imap.password_file", []string{"both " + m + ".imap.password and " + m + ".imap.password_file", "keep only one"}},
		{"imap password_file unreadable", withMail(t, edit{"        password: " + imapPassword, "        password_file: " + dir + "/nope"}), nil,
			m + ".imap.password_file", []string{"cannot read it", "nope"}},
		{"smtp username without password", withMail(t, smtp("username: relay")), nil,
			m + ".smtp.password", []string{"empty, but " + m + ".smtp.username is set", "KAKEHASHI_NETWORKS_MAIL_MAIL_SMTP_PASSWORD", "remove username"}},
		{"smtp password without username", withMail(t, smtp("password: "+smtpPassword)), nil,
			m + ".smtp.username", []string{"empty, but " + m + ".smtp.password is set", "remove the password"}},
		{"smtp password of the wrong type", withMail(t, smtp("username: relay\n        password: "+numericPassword)), nil,
			m + ".smtp.password", []string{"expected a string, got a number"}},
		{"bad helo", withMail(t, smtp("helo: my host")), nil, m + ".smtp.helo", []string{`"my host" is not a domain`, "contact.acme.test"}},

		// Mailboxes and intervals.
		{"processed is the mailbox", withMail(t, imap("processed_mailbox: INBOX")), nil,
			m + ".imap.processed_mailbox", []string{`"INBOX" is also ` + m + ".imap.mailbox", "read or moved again"}},
		{"processed is the mailbox, in another case", withMail(t, imap("processed_mailbox: inbox")), nil,
			m + ".imap.processed_mailbox", []string{"also " + m + ".imap.mailbox"}},
		{"quarantine is processed", withMail(t, imap("quarantine_mailbox: Kakehashi/Processed")), nil,
			m + ".imap.quarantine_mailbox", []string{"also " + m + ".imap.processed_mailbox", "Kakehashi/Quarantine"}},
		{"poll interval not a duration", withMail(t, imap("poll_interval: soon")), nil,
			m + ".imap.poll_interval", []string{`"soon" is not a duration`, "30s, 2m or 1m30s"}},
		{"poll interval without unit", withMail(t, imap("poll_interval: 30")), nil,
			m + ".imap.poll_interval", []string{"a number (30) is not a duration", "a bare number has no unit"}},
		{"poll interval too short", withMail(t, imap("poll_interval: 500ms")), nil,
			m + ".imap.poll_interval", []string{"500ms is out of range", "from 1s to 1h (default 30s)"}},
		{"poll interval negative", withMail(t, imap("poll_interval: -1m")), nil,
			m + ".imap.poll_interval", []string{"-1m is out of range"}},
		{"idle interval too long", withMail(t, imap("idle_interval: 30m")), nil,
			m + ".imap.idle_interval", []string{"30m is out of range", "from 10s to 29m (default 5m)", "RFC 2177"}},
		{"idle interval too short", withMail(t, imap("idle_interval: 5s")), nil,
			m + ".imap.idle_interval", []string{"5s is out of range", "from 10s"}},
		{"idle interval from env", withMail(t), map[string]string{"KAKEHASHI_NETWORKS_MAIL_MAIL_IMAP_IDLE_INTERVAL": "forever"},
			m + ".imap.idle_interval", []string{`"forever" is not a duration`}},

		// Blocks.
		{"no imap block", withMail(t, edit{"      imap:\n        server: imap.acme.test:993\n        username: contact@acme.test\n        password: " + imapPassword + "\n", ""}), nil,
			m + ".imap", []string{"missing or empty", "server, username and password"}},
		// viper drops empty mappings: {} is as good as absent.
		{"empty imap block", withMail(t, edit{"      imap:\n        server: imap.acme.test:993\n        username: contact@acme.test\n        password: " + imapPassword + "\n", "      imap: {}\n"}), nil,
			m + ".imap", []string{"missing or empty"}},
		{"imap block with only a bad key", withMail(t, edit{"      imap:\n        server: imap.acme.test:993\n        username: contact@acme.test\n        password: " + imapPassword + "\n", "      imap:\n        server: 993\n"}), nil,
			m + ".imap.username", []string{"empty"}},
		{"no smtp block", withMail(t, edit{"      smtp:\n        server: smtp.acme.test:587\n", ""}), nil,
			m + ".smtp", []string{"missing or empty", "server"}},
		{"imap as scalar", withMail(t, edit{"      imap:\n        server: imap.acme.test:993\n        username: contact@acme.test\n        password: " + imapPassword + "\n", "      imap: imap.acme.test\n"}), nil,
			m + ".imap", []string{"expected a mapping", "password", "server"}},

		// DKIM and Authentication-Results.
		{"dkim without selector", withMail(t, mailKey("dkim:\n        key_file: "+notPEM)), nil,
			m + ".dkim.selector", []string{"empty", "._domainkey.contact.acme.test"}},
		{"dkim bad selector", withMail(t, mailKey("dkim:\n        selector: K 1\n        key_file: "+notPEM)), nil,
			m + ".dkim.selector", []string{`"K 1" is not a valid selector`}},
		{"dkim without key_file", withMail(t, mailKey("dkim:\n        selector: k1")), nil,
			m + ".dkim.key_file", []string{"empty", "PEM file", "remove the dkim block"}},
		{"dkim key_file unreadable", withMail(t, mailKey("dkim:\n        selector: k1\n        key_file: "+dir+"/dkim.pem")), nil,
			m + ".dkim.key_file", []string{"cannot read it", "dkim.pem"}},
		{"authserv-id with a space", withMail(t, mailKey("trusted_authserv_ids: [mx.acme.test, \"mx two\"]")), nil,
			m + ".trusted_authserv_ids[1]", []string{`"mx two" is not an authserv-id`, "Authentication-Results"}},
		{"authserv-ids as mapping", withMail(t, mailKey("trusted_authserv_ids: {a: b}")), nil,
			m + ".trusted_authserv_ids", []string{"expected a list"}},

		// Unknown keys.
		{"typo under mail.imap", withMail(t, edit{"        password: " + imapPassword, "        pasword: " + imapPassword}), nil,
			m + ".imap.pasword", []string{"unknown key", "did you mean " + m + ".imap.password?"}},
		{"typo in an interval", withMail(t, imap("poll_intervall: 1m")), nil,
			m + ".imap.poll_intervall", []string{"did you mean " + m + ".imap.poll_interval?"}},
		{"imap key in the mail block", withMail(t, mailKey("mailbox: INBOX")), nil,
			m + ".mailbox", []string{"did you mean " + m + ".imap.mailbox?"}},
		{"domain at network level", withMail(t, edit{"    kind: mail\n", "    kind: mail\n    domain: contact.acme.test\n"}), nil,
			n + ".domain", []string{"did you mean " + m + ".domain?"}},
		{"dkim typo", withMail(t, mailKey("dkim:\n        selecter: k1\n        key_file: "+notPEM)), nil,
			m + ".dkim.selecter", []string{"did you mean " + m + ".dkim.selector?"}},

		// Proxy domains.
		{"no proxy domain for the mail network", withMail(t, edit{"\n      proxy_domains:\n        mail: mail.gw.corp.test", ""}), nil,
			corp + ".proxy_domains", []string{"no proxy domain for outside network mail", `add "mail: mail.gw.corp.test"`, `Component "mail.gw.corp.test"`}},
		{"proxy_domains on an outside network", withMail(t, edit{"      secret: public-secret", "      secret: public-secret\n      proxy_domains:\n        mail: m.acme.test"}), nil,
			"networks.public-xmpp.xmpp.proxy_domains", []string{"set on an outside network", "remove it"}},
		{"proxy domain for no network", withMail(t, edit{"mail: mail.gw.corp.test", "mail: mail.gw.corp.test\n        mial: mial.gw.corp.test"}), nil,
			corp + ".proxy_domains.mial", []string{`there is no network "mial"`, "did you mean mail?", "outside network: mail"}},
		{"proxy domain for the inside network", withMail(t, edit{"mail: mail.gw.corp.test", "mail: mail.gw.corp.test\n        corp: self.gw.corp.test"}), nil,
			corp + ".proxy_domains.corp", []string{"corp is not an outside network"}},
		{"proxy domain for proxy_for", withMail(t, edit{"mail: mail.gw.corp.test", "mail: mail.gw.corp.test\n        public-xmpp: public.gw.corp.test"},
			edit{"home_domains: [corp.test]", "home_domains: [corp.test]\n      proxy_for: public-xmpp"}), nil,
			corp + ".proxy_domains.public-xmpp", []string{"public-xmpp is also proxy_for", "gw.corp.test already lead there", "remove this entry"}},
		{"proxy domain invalid", withMail(t, edit{"mail: mail.gw.corp.test", "mail: mail_gw.corp.test"}), nil,
			corp + ".proxy_domains.mail", []string{`"mail_gw.corp.test" is not a valid domain`, "mail.gw.corp.test"}},
		{"proxy domain empty", withMail(t, edit{"mail: mail.gw.corp.test", `mail: ""`}), nil,
			corp + ".proxy_domains.mail", []string{"empty", "mail.gw.corp.test"}},
		{"proxy domain is the network's domain", withMail(t, edit{"mail: mail.gw.corp.test", "mail: gw.corp.test"}), nil,
			corp + ".proxy_domains.mail", []string{"gw.corp.test is also the domain of network corp", "Component block"}},
		{"proxy domain is another network's domain", withMail(t, edit{"mail: mail.gw.corp.test", "mail: contact.acme.test"}), nil,
			corp + ".proxy_domains.mail", []string{"contact.acme.test is also the domain of network public-xmpp"}},
		{"proxy domain is a home domain", withMail(t, edit{"mail: mail.gw.corp.test", "mail: corp.test"}), nil,
			corp + ".proxy_domains.mail", []string{"corp.test is also a home domain of network corp", "mail.gw.corp.test"}},
		{"two proxy domains alike", apply(t, edit{"routing:", strings.TrimSuffix(mailNet, "routing:") + anotherOutside},
			edit{"home_domains: [corp.test]", "home_domains: [corp.test]\n      proxy_domains:\n        mail: p.gw.corp.test\n        partners: p.gw.corp.test\n      proxy_for: public-xmpp"}), nil,
			corp + ".proxy_domains.partners", []string{"p.gw.corp.test is also the proxy domain for mail of network corp"}},
		{"proxy domain of the wrong type", withMail(t, edit{"mail: mail.gw.corp.test", "mail: 7"}), nil,
			corp + ".proxy_domains.mail", []string{"expected a string", "mail.gw.corp.test"}},
		{"proxy_domains as a list", withMail(t, edit{"proxy_domains:\n        mail: mail.gw.corp.test", "proxy_domains: [mail.gw.corp.test]"}), nil,
			corp + ".proxy_domains", []string{"expected a mapping", `e.g. mail: mail.gw.corp.test`}},

		// proxy_for.
		{"proxy_for names no network", withMail(t, edit{"home_domains: [corp.test]", "home_domains: [corp.test]\n      proxy_for: nowhere"}), nil,
			corp + ".proxy_for", []string{`there is no network "nowhere"`, "one of: mail, public-xmpp"}},
		{"proxy_for with several outside networks, none xmpp", withoutPublic(t,
			edit{"routing:", strings.Replace(strings.Replace(mailNet, "  mail:\n    side", "  mail2:\n    side", 1), "contact.acme.test", "c2.acme.test", 1)},
			edit{"\n      proxy_domains:\n        mail: mail.gw.corp.test", ""}), nil,
			corp + ".proxy_for", []string{"several outside networks: mail, mail2", "give the others proxy_domains"}},
		{"proxy_for with every outside network in proxy_domains", withoutPublic(t), nil,
			corp + ".proxy_for", []string{"every outside network is in proxy_domains", "remove that one from proxy_domains"}},
	}
}

func TestMailErrors(t *testing.T) {
	for _, tt := range mailErrorCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := load(t, tt.yaml)
			wantKeyError(t, err, tt.key, tt.want...)
		})
	}
}

// TestMailErrorsAlone checks that a problem is reported once, without
// follow-on noise from the same cause.
func TestMailErrorsAlone(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		keys []string
	}{
		{"proxy domain of the wrong type is still a proxy domain",
			withMail(t, edit{"mail: mail.gw.corp.test", "mail: 7"}), []string{"networks.corp.xmpp.proxy_domains.mail"}},
		{"a wrong proxy_for does not make the rest unreachable",
			withMail(t, edit{"home_domains: [corp.test]", "home_domains: [corp.test]\n      proxy_for: nowhere"}), []string{"networks.corp.xmpp.proxy_for"}},
		{"a bad interval is not also out of range",
			withMail(t, edit{"username: contact@acme.test", "username: contact@acme.test\n        poll_interval: soon"}), []string{"networks.mail.mail.imap.poll_interval"}},
		{"an unreadable password file is not also an empty password",
			withMail(t, edit{"        password: " + imapPassword, "        password_file: /nonexistent/pw"}), []string{"networks.mail.mail.imap.password_file"}},
		{"an empty mail domain is not also an empty helo",
			withMail(t, edit{"mail:\n      domain: contact.acme.test\n", "mail:\n"}), []string{"networks.mail.mail.domain"}},
		{"an xmpp block on a mail network is not checked further",
			withMail(t, edit{"    kind: mail\n", "    kind: mail\n    xmpp:\n      domain: x.acme.test\n"}), []string{"networks.mail.xmpp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			_, err := load(t, tt.yaml)
			var got []string
			for _, ke := range keyErrors(err) {
				got = append(got, ke.Key)
			}
			if !slices.Equal(got, tt.keys) {
				t.Errorf("errors for %v, want only %v:\n%v", got, tt.keys, err)
			}
		})
	}
}

func TestMailPasswordNeverShown(t *testing.T) {
	for _, tt := range mailErrorCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := load(t, tt.yaml)
			if err == nil {
				t.Fatal("no error")
			}
			for _, pw := range []string{imapPassword, smtpPassword, numericPassword} {
				if strings.Contains(err.Error(), pw) {
					t.Errorf("error shows password %q:\n%v", pw, err)
				}
			}
		})
	}
}

func TestMailRedaction(t *testing.T) {
	cleanEnv(t)
	c := mustLoad(t, withMail(t, edit{"smtp.acme.test:587", "smtp.acme.test:587\n        username: relay\n        password: " + smtpPassword}))
	m := c.Networks["mail"]
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("loaded", "network", m, "mail", m.Mail, "networks", c.Networks)
	outs := []string{buf.String()}
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		outs = append(outs, fmt.Sprintf(verb, *m.Mail), fmt.Sprintf(verb, m.Mail.IMAP), fmt.Sprintf(verb, &m.Mail.SMTP))
	}
	for _, out := range outs {
		for _, pw := range []string{imapPassword, smtpPassword} {
			if strings.Contains(out, pw) {
				t.Errorf("shows password %q: %s", pw, out)
			}
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("does not say [redacted]: %s", out)
		}
	}
}

func TestProxies(t *testing.T) {
	x := &XMPP{Domain: "gw.corp.test", ProxyFor: "public-xmpp", ProxyDomains: map[string]string{"mail": "mail.gw.corp.test", "b2b": "b2b.gw.corp.test"}}
	got := x.Proxies()
	want := map[string]string{"public-xmpp": "gw.corp.test", "mail": "mail.gw.corp.test", "b2b": "b2b.gw.corp.test"}
	if !maps.Equal(got, want) {
		t.Errorf("Proxies() = %v, want %v", got, want)
	}
	got["x"] = "y"
	if _, ok := x.ProxyDomains["x"]; ok {
		t.Error("Proxies() returned ProxyDomains itself")
	}
	if got := strings.Join(x.ComponentDomains(), ","); got != "gw.corp.test,b2b.gw.corp.test,mail.gw.corp.test" {
		t.Errorf("ComponentDomains() = %s", got)
	}
	if got := (&XMPP{Domain: "gw.corp.test"}).Proxies(); len(got) != 0 {
		t.Errorf("Proxies() without proxy_for = %v", got)
	}
	var none *XMPP
	if none.Proxies() != nil || none.ComponentDomains() != nil {
		t.Error("nil XMPP has proxies")
	}
}

func TestSupportedKinds(t *testing.T) {
	if got := SupportedKinds(); !slices.Equal(got, []string{KindMail, KindXMPP}) {
		t.Errorf("SupportedKinds() = %v", got)
	}
}

func TestValidateBuiltMailConfig(t *testing.T) {
	good := func() *Config {
		m := &Mail{
			Domain: "contact.acme.test",
			IMAP:   IMAP{Server: "imap.acme.test:993", Username: "contact", Password: "pw"},
			SMTP:   SMTP{Server: "smtp.acme.test:587"},
		}
		m.SetDefaults()
		return &Config{
			DataDir: "./data",
			Log:     Log{Level: "info", Format: "text"},
			Admin:   Admin{Listen: "127.0.0.1:8765", Token: "0123456789abcdef"},
			Networks: map[string]*Network{
				"corp": {Name: "corp", Side: identity.Inside, Kind: KindXMPP, XMPP: &XMPP{
					Domain: "gw.corp.test", Server: "127.0.0.1:5347", Secret: "s", HomeDomains: []string{"corp.test"},
					ProxyFor: "mail"}},
				"mail": {Name: "mail", Side: identity.Outside, Kind: KindMail, Mail: m},
			},
			Routing: Routing{FallbackEmployee: "ken"},
			Limits:  Limits{MaxBodyBytes: 1},
		}
	}
	c := good()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate(good) = %v", err)
	}
	if i := c.Networks["mail"].Mail.IMAP; i.TLS != TLSImplicit || i.Mailbox != DefaultIMAPMailbox || i.PollInterval != DefaultPollInterval ||
		i.IdleInterval != DefaultIdleInterval || c.Networks["mail"].Mail.SMTP.HELO != "contact.acme.test" {
		t.Errorf("SetDefaults: %+v", c.Networks["mail"].Mail)
	}
	tests := []struct {
		name   string
		mutate func(*Mail)
		key    string
	}{
		{"no tls", func(m *Mail) { m.IMAP.TLS = "" }, "networks.mail.mail.imap.tls"},
		{"no mailbox", func(m *Mail) { m.IMAP.QuarantineMailbox = "" }, "networks.mail.mail.imap.quarantine_mailbox"},
		{"no poll interval", func(m *Mail) { m.IMAP.PollInterval = 0 }, "networks.mail.mail.imap.poll_interval"},
		{"no helo", func(m *Mail) { m.SMTP.HELO = "" }, "networks.mail.mail.smtp.helo"},
		{"no imap", func(m *Mail) { m.IMAP = IMAP{} }, "networks.mail.mail.imap"},
		{"no smtp", func(m *Mail) { m.SMTP = SMTP{} }, "networks.mail.mail.smtp"},
		{"empty dkim", func(m *Mail) { m.DKIM = &DKIM{} }, "networks.mail.mail.dkim.selector"},
		{"empty authserv-id", func(m *Mail) { m.TrustedAuthServIDs = []string{""} }, "networks.mail.mail.trusted_authserv_ids[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.mutate(c.Networks["mail"].Mail)
			wantKeyError(t, c.Validate(), tt.key)
		})
	}
	c = good()
	c.Networks["corp"].XMPP.ProxyFor = ""
	wantKeyError(t, c.Validate(), "networks.corp.xmpp.proxy_for", "empty", "set it to mail")
	c = good()
	c.Networks["mail"].Mail = nil
	wantKeyError(t, c.Validate(), "networks.mail.mail", "missing")
}

// TestMailAttachLimit: the cap on a mail's attachments is read as bytes
// from the file and the environment, and out-of-range values are errors.
func TestMailAttachLimit(t *testing.T) {
	cleanEnv(t)
	c := mustLoad(t, withMail(t, edit{"      domain: contact.acme.test\n      imap:", "      domain: contact.acme.test\n      attach_limit: 2097152\n      imap:"}))
	if got := c.Networks["mail"].Mail.AttachLimit; got != 2<<20 {
		t.Errorf("attach_limit %d", got)
	}
	t.Setenv("KAKEHASHI_NETWORKS_MAIL_MAIL_ATTACH_LIMIT", "3145728")
	if got := mustLoad(t, withMail(t)).Networks["mail"].Mail.AttachLimit; got != 3<<20 {
		t.Errorf("attach_limit from the environment %d", got)
	}
	t.Setenv("KAKEHASHI_NETWORKS_MAIL_MAIL_ATTACH_LIMIT", "")
	for _, v := range []string{"-1", "2147483648"} {
		_, err := load(t, withMail(t, edit{"      domain: contact.acme.test\n      imap:", "      domain: contact.acme.test\n      attach_limit: " + v + "\n      imap:"}))
		wantKeyError(t, err, "networks.mail.mail.attach_limit", "out of range")
	}
}
