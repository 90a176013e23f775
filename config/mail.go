package config

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// TLS modes for mail connections (mail.imap.tls, mail.smtp.tls).
const (
	// TLSNone is plain text. Only allowed to a loopback address, where the
	// password and the mail never cross the network.
	TLSNone = "none"
	// TLSStartTLS connects in plain text and upgrades with STARTTLS before
	// logging in; the upgrade is required, never optional.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (IMAP port 993, SMTP 465).
	TLSImplicit = "tls"
)

// Defaults applied to mail networks by [Load] and [Mail.SetDefaults].
const (
	DefaultIMAPMailbox       = "INBOX"
	DefaultProcessedMailbox  = "Kakehashi/Processed"
	DefaultQuarantineMailbox = "Kakehashi/Quarantine"
	DefaultPollInterval      = 30 * time.Second
	DefaultIdleInterval      = 5 * time.Minute
)

// Bounds of the IMAP intervals checked by [Config.Validate].
const (
	MinPollInterval = time.Second
	MaxPollInterval = time.Hour
	MinIdleInterval = 10 * time.Second
	// MaxIdleInterval is RFC 2177's limit: servers may drop a client that
	// stays in IDLE for 30 minutes, so IDLE is re-issued before that.
	MaxIdleInterval = 29 * time.Minute
)

// mailProto describes IMAP or SMTP for connProblems. The well-known ports
// fix the TLS mode: a mismatch there is a mistake, not a taste, and would
// otherwise show up only as a hung or failed connection at run time.
type mailProto struct {
	name         string
	implicitPort string   // TLS from the first byte
	plainPorts   []string // plain text first, then STARTTLS
}

var (
	imapProto = mailProto{name: "IMAP", implicitPort: "993", plainPorts: []string{"143"}}
	smtpProto = mailProto{name: "SMTP", implicitPort: "465", plainPorts: []string{"587", "25"}}
)

// Mail configures a network of kind mail: contacts write to persona
// addresses in Domain; Kakehashi reads that mail from one IMAP mailbox and
// sends as the personas through one SMTP server.
type Mail struct {
	// Domain is the domain of persona mail addresses, e.g.
	// contact.acme.test (mail.domain). It also names Message-IDs, bounce
	// return paths, and is the default EHLO name. It may equal an xmpp
	// network's component domain, so a persona keeps one address on both.
	Domain string `mapstructure:"domain" example:"contact.acme.test"`
	// IMAP configures where incoming mail is read (mail.imap.*).
	IMAP IMAP `mapstructure:"imap"`
	// SMTP configures where outgoing mail is sent (mail.smtp.*).
	SMTP SMTP `mapstructure:"smtp"`
	// DKIM configures signing of outgoing mail (mail.dkim.*); nil when not
	// configured.
	DKIM *DKIM `mapstructure:"dkim"`
	// TrustedAuthServIDs are the authserv-ids of the receiving MTA whose
	// Authentication-Results headers are believed, e.g. for DMARC
	// (mail.trusted_authserv_ids). Anyone can write such a header, so only
	// the ones the receiving MTA adds may count (it must remove any that
	// arrive with the mail under its own name, RFC 8601 §5). The gateway
	// answers a mail (a refusal, a failure notice) only when SPF or DMARC
	// passed there; with none listed it never answers mail. Default: none.
	TrustedAuthServIDs []string `mapstructure:"trusted_authserv_ids" example:"mx.acme.test"`
	// AttachLimit is how many bytes of files one mail carries as
	// attachments (mail.attach_limit), default DefaultAttachLimit.
	AttachLimit int64 `mapstructure:"attach_limit" example:"10485760"`
}

// IMAP configures the mailbox Kakehashi reads incoming mail from.
type IMAP struct {
	// Server is host:port of the IMAP server (mail.imap.server).
	Server string `mapstructure:"server" example:"mail.acme.test:993"`
	// TLS is TLSNone, TLSStartTLS or TLSImplicit (mail.imap.tls). Default:
	// TLSImplicit on port 993, else TLSStartTLS.
	TLS string `mapstructure:"tls" example:"tls"`
	// CAFile is a PEM file of CA certificates to trust instead of the
	// system's (mail.imap.ca_file); empty for the system's.
	CAFile string `mapstructure:"ca_file" example:"/etc/kakehashi/mail-ca.pem"`
	// Username is the IMAP login (mail.imap.username).
	Username string `mapstructure:"username" example:"contact@acme.test"`
	// Password is the IMAP password (mail.imap.password, or read from
	// mail.imap.password_file).
	Password Secret `mapstructure:"password" example:"<secret>"`
	// PasswordFile is the file Password was read from, if any
	// (mail.imap.password_file).
	PasswordFile string `mapstructure:"password_file" example:"/etc/kakehashi/imap.password"`
	// Mailbox is where new mail arrives (mail.imap.mailbox). Default: INBOX.
	Mailbox string `mapstructure:"mailbox" example:"INBOX"`
	// ProcessedMailbox is where handled mail is moved
	// (mail.imap.processed_mailbox). Default: Kakehashi/Processed.
	ProcessedMailbox string `mapstructure:"processed_mailbox" example:"Kakehashi/Processed"`
	// QuarantineMailbox is where mail goes that cannot be parsed or fails
	// sender authentication (mail.imap.quarantine_mailbox). Default:
	// Kakehashi/Quarantine.
	QuarantineMailbox string `mapstructure:"quarantine_mailbox" example:"Kakehashi/Quarantine"`
	// PollInterval is how often Mailbox is checked when the server has no
	// IDLE (mail.imap.poll_interval), MinPollInterval..MaxPollInterval.
	// Default: 30s.
	PollInterval time.Duration `mapstructure:"poll_interval" example:"30s"`
	// IdleInterval is how long one IDLE lasts before it is re-issued
	// (mail.imap.idle_interval), MinIdleInterval..MaxIdleInterval. Default:
	// 5m, well inside RFC 2177's 29 minutes, so that a connection silently
	// dropped by a NAT or firewall is noticed soon.
	IdleInterval time.Duration `mapstructure:"idle_interval" example:"5m"`
}

// SMTP configures the server Kakehashi sends mail through.
type SMTP struct {
	// Server is host:port of the SMTP server (mail.smtp.server).
	Server string `mapstructure:"server" example:"mail.acme.test:465"`
	// TLS is TLSNone, TLSStartTLS or TLSImplicit (mail.smtp.tls). Default:
	// TLSImplicit on port 465, else TLSStartTLS.
	TLS string `mapstructure:"tls" example:"tls"`
	// CAFile is a PEM file of CA certificates to trust instead of the
	// system's (mail.smtp.ca_file); empty for the system's.
	CAFile string `mapstructure:"ca_file" example:"/etc/kakehashi/mail-ca.pem"`
	// Username is the SMTP login (mail.smtp.username); empty to send
	// without authentication. Set together with Password.
	Username string `mapstructure:"username" example:"contact@acme.test"`
	// Password is the SMTP password (mail.smtp.password, or read from
	// mail.smtp.password_file).
	Password Secret `mapstructure:"password" example:"<secret>"`
	// PasswordFile is the file Password was read from, if any
	// (mail.smtp.password_file).
	PasswordFile string `mapstructure:"password_file" example:"/etc/kakehashi/smtp.password"`
	// HELO is the name given in EHLO (mail.smtp.helo). Default: the mail
	// Domain. Never the machine's host name, which would leak an internal
	// name into every message's Received header.
	HELO string `mapstructure:"helo" example:"contact.acme.test"`
}

// DKIM configures DKIM signing of outgoing mail.
type DKIM struct {
	// Selector is the DKIM selector: the public key is published at
	// <selector>._domainkey.<domain> (mail.dkim.selector).
	Selector string `mapstructure:"selector" example:"k2025"`
	// KeyFile is the PEM file of the private signing key
	// (mail.dkim.key_file). Load checks that it is readable, not what it
	// holds: the mail adapter parses it.
	KeyFile string `mapstructure:"key_file" example:"/etc/kakehashi/dkim.pem"`
}

// SetDefaults fills the keys left empty with the defaults Load applies, for
// configurations built in code. An IMAP or SMTP left entirely zero stays
// zero, so that Validate reports it missing rather than half filled.
func (m *Mail) SetDefaults() { m.setDefaults(m.IMAP != (IMAP{}), m.SMTP != (SMTP{})) }

// setDefaults fills the IMAP and SMTP defaults of the blocks given: Load
// fills a block written in the file even when all its keys are missing, so
// that Validate names each missing key.
func (m *Mail) setDefaults(imap, smtp bool) {
	if imap {
		i := &m.IMAP
		if i.TLS == "" {
			i.TLS = defaultTLS(i.Server, imapProto.implicitPort)
		}
		setIfEmpty(&i.Mailbox, DefaultIMAPMailbox)
		setIfEmpty(&i.ProcessedMailbox, DefaultProcessedMailbox)
		setIfEmpty(&i.QuarantineMailbox, DefaultQuarantineMailbox)
		if i.PollInterval == 0 {
			i.PollInterval = DefaultPollInterval
		}
		if i.IdleInterval == 0 {
			i.IdleInterval = DefaultIdleInterval
		}
	}
	if m.AttachLimit == 0 {
		m.AttachLimit = DefaultAttachLimit
	}
	if smtp {
		if m.SMTP.TLS == "" {
			m.SMTP.TLS = defaultTLS(m.SMTP.Server, smtpProto.implicitPort)
		}
		setIfEmpty(&m.SMTP.HELO, m.Domain)
	}
}

func setIfEmpty(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

// defaultTLS is implicit TLS on the port meant for it and STARTTLS
// elsewhere: never plain text unless asked for.
func defaultTLS(server, implicitPort string) string {
	if _, port, err := net.SplitHostPort(server); err == nil && port == implicitPort {
		return TLSImplicit
	}
	return TLSStartTLS
}

// mailProblems checks the mail block of network n at key.
func mailProblems(p *problems, n *Network, key string) {
	m := n.Mail
	switch {
	case m.Domain == "":
		p.add(key+".domain", "empty", "set it to the domain of the personas' mail addresses, e.g. contact.acme.test")
	case !validDomain(m.Domain):
		p.add(key+".domain", strconv.Quote(m.Domain)+" is not a valid domain", "use a lower-case domain name, e.g. contact.acme.test")
	}

	if m.AttachLimit < 0 || m.AttachLimit > 1<<30 {
		p.add(key+".attach_limit", fmt.Sprintf("%d is out of range", m.AttachLimit),
			fmt.Sprintf("set it to how many bytes of files one mail may carry, up to 1 GiB (default %d); larger files go as a link", DefaultAttachLimit))
	}

	i, ik := m.IMAP, key+".imap"
	if i == (IMAP{}) {
		p.add(ik, "missing or empty", "add an imap block with server, username and password: where contacts' mail is read")
	} else {
		connProblems(p, ik, imapProto, i.Server, i.TLS, i.CAFile)
		if i.Username == "" {
			p.add(ik+".username", "empty", "set it to the IMAP login of the mailbox that receives the personas' mail")
		}
		if i.Password == "" {
			p.add(ik+".password", "empty", "set it, or password_file, or env "+EnvName(ik+".password"))
		}
		mailboxProblems(p, ik, i)
		durationProblems(p, ik+".poll_interval", i.PollInterval, MinPollInterval, MaxPollInterval, DefaultPollInterval, "")
		durationProblems(p, ik+".idle_interval", i.IdleInterval, MinIdleInterval, MaxIdleInterval, DefaultIdleInterval,
			" (RFC 2177: IDLE must be re-issued within 29 minutes)")
	}

	s, sk := m.SMTP, key+".smtp"
	if s == (SMTP{}) {
		p.add(sk, "missing or empty", "add an smtp block with server (and username and password if the server wants a login): where replies are sent")
	} else {
		connProblems(p, sk, smtpProto, s.Server, s.TLS, s.CAFile)
		switch {
		case s.Username != "" && s.Password == "":
			p.add(sk+".password", "empty, but "+sk+".username is set",
				"set it, or password_file, or env "+EnvName(sk+".password")+"; or remove username to send without logging in")
		case s.Username == "" && s.Password != "":
			p.add(sk+".username", "empty, but "+sk+".password is set",
				"set it to the SMTP login, or remove the password to send without logging in")
		}
		if s.HELO == "" {
			if m.Domain != "" { // else the empty domain is the problem
				p.add(sk+".helo", "empty", "set it to the name to give in EHLO, e.g. "+exampleOr(m.Domain, "contact.acme.test"))
			}
		} else if s.HELO != m.Domain && !validHELO(s.HELO) {
			p.add(sk+".helo", strconv.Quote(s.HELO)+" is not a domain or an address literal",
				"set it to a lower-case domain, e.g. "+exampleOr(m.Domain, "contact.acme.test")+", or leave it out to use mail.domain")
		}
	}

	if k := m.DKIM; k != nil {
		dk := key + ".dkim"
		switch {
		case k.Selector == "":
			p.add(dk+".selector", "empty", "set it to the selector the public key is published under, e.g. k2025 for k2025._domainkey."+exampleOr(m.Domain, "contact.acme.test"))
		case !validDomain(k.Selector):
			p.add(dk+".selector", strconv.Quote(k.Selector)+" is not a valid selector", "use lower-case letters, digits and '-', e.g. k2025")
		}
		if k.KeyFile == "" {
			p.add(dk+".key_file", "empty", "set it to the PEM file of the DKIM private key, or remove the dkim block to send unsigned")
		} else if data, err := os.ReadFile(k.KeyFile); err != nil {
			p.add(dk+".key_file", "cannot read it: "+err.Error(), "fix the path or the file's permissions for the user Kakehashi runs as")
		} else if strings.TrimSpace(string(data)) == "" {
			p.add(dk+".key_file", "file "+k.KeyFile+" is empty", "write the PEM private key into it")
		}
	}

	for idx, id := range m.TrustedAuthServIDs {
		if id == "" || strings.ContainsFunc(id, func(r rune) bool { return isSpace(r) || r == ';' }) {
			p.add(fmt.Sprintf("%s.trusted_authserv_ids[%d]", key, idx), quoteOrEmpty(id)+" is not an authserv-id",
				"use the name your MTA writes first in its Authentication-Results headers, e.g. mx.acme.test")
		}
	}
}

// connProblems checks the server, TLS mode and CA file of an IMAP or SMTP
// connection at key.
func connProblems(p *problems, key string, proto mailProto, server, mode, caFile string) {
	example := "mail.acme.test:" + proto.implicitPort
	host, port := "", ""
	if server == "" {
		p.add(key+".server", "empty", "set it to host:port of the "+proto.name+" server, e.g. "+example)
	} else if h, pt, err := net.SplitHostPort(server); err != nil || h == "" || !validPort(pt, false) {
		p.add(key+".server", strconv.Quote(server)+" is not host:port", "set it to host:port of the "+proto.name+" server, e.g. "+example)
	} else {
		host, port = h, pt
	}
	modes := "set it to tls (TLS from the first byte, port " + proto.implicitPort + "), starttls (port " +
		proto.plainPorts[0] + ") or none (servers on a loopback address only)"
	switch {
	case mode == "":
		p.add(key+".tls", "empty", modes)
	case !oneOf(mode, TLSNone, TLSStartTLS, TLSImplicit):
		p.add(key+".tls", strconv.Quote(mode)+" is not a TLS mode", modes)
	case mode == TLSNone && host != "" && !isLoopback(host):
		p.add(key+".tls", "none, but "+host+" is not a loopback address: the password and the mail would cross the network in clear text",
			"use tls: starttls or tls; tls: none is only for a server (or a TLS-terminating relay) on 127.0.0.1, ::1 or localhost")
	case port == proto.implicitPort && mode != TLSImplicit:
		p.add(key+".tls", mode+" on port "+port+", where the "+proto.name+" server speaks TLS from the first byte",
			"set tls: tls, or use port "+proto.plainPorts[0]+" for starttls")
	case oneOf(port, proto.plainPorts...) && mode == TLSImplicit:
		p.add(key+".tls", "tls on port "+port+", where the "+proto.name+" server speaks plain text first and offers STARTTLS",
			"set tls: starttls, or use port "+proto.implicitPort+" for tls")
	}
	if caFile == "" {
		return
	}
	if mode == TLSNone {
		p.add(key+".ca_file", "set, but tls is none: there is no certificate to check", "remove ca_file, or use tls: starttls or tls")
		return
	}
	data, err := os.ReadFile(caFile)
	switch {
	case err != nil:
		p.add(key+".ca_file", "cannot read it: "+err.Error(), "fix the path or the file's permissions, or remove ca_file to trust the system's CAs")
	case !x509.NewCertPool().AppendCertsFromPEM(data):
		p.add(key+".ca_file", caFile+" holds no PEM certificate", "point it at a PEM file of CA certificates (-----BEGIN CERTIFICATE-----)")
	}
}

// mailboxProblems checks the three mailboxes: they must be distinct, or
// handled mail would be read again and handled twice.
func mailboxProblems(p *problems, ik string, i IMAP) {
	boxes := []struct{ name, value, def string }{
		{"mailbox", i.Mailbox, DefaultIMAPMailbox},
		{"processed_mailbox", i.ProcessedMailbox, DefaultProcessedMailbox},
		{"quarantine_mailbox", i.QuarantineMailbox, DefaultQuarantineMailbox},
	}
	for j, b := range boxes {
		if b.value == "" {
			p.add(ik+"."+b.name, "empty", "set it to a mailbox name, e.g. "+b.def+" (the default)")
			continue
		}
		for _, prev := range boxes[:j] {
			if prev.value != "" && sameMailbox(prev.value, b.value) {
				p.add(ik+"."+b.name, strconv.Quote(b.value)+" is also "+ik+"."+prev.name+": mail moved there would be read or moved again",
					"give each mailbox its own name, e.g. "+b.def)
				break
			}
		}
	}
}

// sameMailbox compares mailbox names as IMAP does: INBOX in any case is
// INBOX (RFC 3501), other names are case-sensitive.
func sameMailbox(a, b string) bool {
	if strings.EqualFold(a, "INBOX") {
		return strings.EqualFold(b, "INBOX")
	}
	return a == b
}

func durationProblems(p *problems, key string, d, lo, hi, def time.Duration, why string) {
	if d < lo || d > hi {
		p.add(key, shortDuration(d)+" is out of range",
			fmt.Sprintf("set it from %s to %s (default %s)%s", shortDuration(lo), shortDuration(hi), shortDuration(def), why))
	}
}

// shortDuration writes d as a user would, 29m rather than 29m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// validHELO reports whether s may follow EHLO: a domain or an address
// literal such as [192.0.2.1].
func validHELO(s string) bool {
	if lit, ok := strings.CutPrefix(s, "["); ok {
		if lit, ok = strings.CutSuffix(lit, "]"); !ok {
			return false
		}
		v6, isV6 := strings.CutPrefix(lit, "IPv6:")
		if isV6 {
			ip := net.ParseIP(v6)
			return ip != nil && ip.To4() == nil
		}
		ip := net.ParseIP(lit)
		return ip != nil && ip.To4() != nil && !strings.Contains(lit, ":")
	}
	return validDomain(s)
}

func exampleOr(s, example string) string {
	if validDomain(s) {
		return s
	}
	return example
}
