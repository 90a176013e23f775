// Package mail is Kakehashi's e-mail adapter: it attaches the gateway to an
// outside mail network. Mail for the personas arrives in one IMAP mailbox
// (a catch-all for the gateway's mail domain); the adapter reads it with
// IDLE, turns each mail into a gateway message, and moves it to a
// processed folder once the gateway has stored it durably. What employees
// write goes out over SMTP as ordinary mail from their persona, built from
// an allowlist of headers, threaded with Message-ID, In-Reply-To and
// References, with a signed, expiring return path so that bounces come
// back to the right message. It never decides who owns what.
//
// Files cross both ways: a mail's attachments, inline images and
// forwarded messages become the message's files, and the files of an
// employee's message are attached (up to Config.AttachLimit; the gateway
// links larger ones). References cross as mail can carry them: a
// contact's In-Reply-To becomes a reply reference, and an employee's
// reply or correction is a mail In-Reply-To the one it answers or
// corrects. Mail has no retraction, reactions, receipts or typing: a
// retraction fails with words for the employee, the rest is not sent.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kakehashi/kakehashi/adapters/mail/compose"
	"github.com/kakehashi/kakehashi/adapters/mail/verp"
	"github.com/kakehashi/kakehashi/address"
	"github.com/kakehashi/kakehashi/gateway"
)

// TLS modes of a mail connection.
const (
	TLSNone     = "none"     // plain text: loopback only
	TLSStartTLS = "starttls" // upgrade after connecting
	TLSImplicit = "tls"      // TLS from the first byte
)

// IMAPConfig says where mail for the personas is read.
type IMAPConfig struct {
	Server    string // host:port
	TLS       string // TLSNone, TLSStartTLS or TLSImplicit
	TLSConfig *tls.Config
	Username  string
	Password  string
	// Mailbox is read; handled mail moves to Processed, mail that cannot be
	// shown (unparseable, spoofed, a bounce the gateway did not cause) to
	// Quarantine. Names use "/" as the hierarchy separator; the server's
	// own separator replaces it.
	Mailbox, Processed, Quarantine string
	// PollInterval is how often to look for mail when the server has no
	// IDLE; IdleInterval is how long one IDLE runs before it is re-armed.
	PollInterval, IdleInterval time.Duration
}

// SMTPConfig says where outgoing mail is submitted.
type SMTPConfig struct {
	Server    string // host:port
	TLS       string
	TLSConfig *tls.Config
	Username  string // empty: no AUTH
	Password  string
	HELO      string // EHLO name; defaults to the mail domain
}

// Config configures one mail network.
type Config struct {
	Network string
	// Domain is the mail domain of the personas' addresses.
	Domain string
	IMAP   IMAPConfig
	SMTP   SMTPConfig
	// DKIM, when set, signs every outgoing mail.
	DKIM *compose.DKIM
	// TrustedAuthServIDs name the receiving MTA whose
	// Authentication-Results headers are believed. Only mail that passed
	// SPF or DMARC there is ever answered (refused, told it failed).
	TrustedAuthServIDs []string
	// Addresses says which otherwise refused outside addresses (IP
	// literals, localhost, .invalid) a mail may come from (config
	// routing.allow_special_addresses).
	Addresses address.Policy
	// DataDir holds the adapter's state file, mail-<network>.db, unless
	// Store says where the state is.
	DataDir string
	// Store, when set, is where the adapter's state is: a file path or a
	// store URL (sqldb.Parse: "sqlite:PATH", "postgres://…"). On
	// PostgreSQL the tables are in the schema the URL's search_path names
	// (sqldb.InSchema), or in mail_<network> when it names none.
	Store  string
	Logger *slog.Logger
	// MaxBackoff caps the wait between reconnection attempts (default 30 s).
	MaxBackoff time.Duration
	// BatchSize bounds how many mails are fetched and stored together
	// (default 256), and BatchBytes their total size (default 32 MiB; a
	// single larger mail is still fetched alone). Ingest works on up to
	// three batches at once (one fetched, one handed to the gateway, one
	// waiting for its commits), so up to three times BatchBytes of mail
	// may be held.
	BatchSize  int
	BatchBytes int64
	// AttachLimit is the largest total of file bytes one outgoing mail
	// carries as attachments (default 10 MiB, DefaultAttachLimit); the
	// gateway sends larger files as links (see gateway.Attacher). Base64
	// grows them by a third: a mail at the default limit is some 14 MB,
	// which the submission server must take (Postfix's default
	// message_size_limit, 10,240,000 bytes, does not). A mail larger than
	// the server announces (SMTP SIZE) fails at once, saying so.
	AttachLimit int64
	Now         func() time.Time
}

// DefaultAttachLimit is Config.AttachLimit's default.
const DefaultAttachLimit = 10 << 20

// threadWindow is how long a conversation without a subject of its own
// continues the previous mail thread.
const threadWindow = 30 * 24 * time.Hour

// unsubscribeTTL is how long the unsubscribe address of a broadcast
// works: people unsubscribe from old mail too.
const unsubscribeTTL = 365 * 24 * time.Hour

// Adapter is a running mail network. It implements gateway.Adapter.
type Adapter struct {
	cfg   Config
	log   *slog.Logger
	store *store
	verp  *verp.Codec
	// unsub makes and reads the List-Unsubscribe addresses of broadcasts
	// (unsub+<id>.<expiry>.<mac>@domain), with a key of its own.
	unsub *verp.Codec

	imapUp atomic.Bool
	smtpMu sync.Mutex // one SMTP session at a time
	smtp   *smtpConn
}

// Open checks cfg, opens the adapter's state and returns an adapter that
// connects when Run is called. Close it after Run has returned.
func Open(ctx context.Context, cfg Config) (*Adapter, error) {
	if cfg.Network == "" || cfg.Domain == "" {
		return nil, errors.New("mail: network and domain are required")
	}
	if cfg.IMAP.Server == "" || cfg.SMTP.Server == "" {
		return nil, fmt.Errorf("mail %s: imap and smtp servers are required", cfg.Network)
	}
	cfg.Domain = address.DomainKey(cfg.Domain) // as addresses spell it: A-labels, no trailing dot
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 256
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 32 << 20
	}
	if cfg.AttachLimit <= 0 {
		cfg.AttachLimit = DefaultAttachLimit
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SMTP.HELO == "" {
		cfg.SMTP.HELO = cfg.Domain
	}
	i := &cfg.IMAP
	if i.Mailbox == "" {
		i.Mailbox = "INBOX"
	}
	if i.Processed == "" {
		i.Processed = "Kakehashi/Processed"
	}
	if i.Quarantine == "" {
		i.Quarantine = "Kakehashi/Quarantine"
	}
	if i.PollInterval <= 0 {
		i.PollInterval = 30 * time.Second
	}
	if i.IdleInterval <= 0 {
		i.IdleInterval = 5 * time.Minute
	}
	where := cfg.Store
	if where == "" {
		where = filepath.Join(cfg.DataDir, "mail-"+cfg.Network+".db")
	}
	st, err := openStore(ctx, where, cfg.Network)
	if err != nil {
		return nil, err
	}
	// Return paths are bounces+…@domain and stay valid for verp.DefaultTTL:
	// long enough for the slowest MTA's retry schedule to end in a bounce.
	codec, err := verp.NewCodec(st.secret, verp.DefaultLocal, cfg.Domain, verp.DefaultTTL)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("mail %s: %w", cfg.Network, err)
	}
	unsub, err := verp.NewCodec([]byte(st.mac(32, "unsubscribe")), "unsub", cfg.Domain, unsubscribeTTL)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("mail %s: %w", cfg.Network, err)
	}
	return &Adapter{cfg: cfg, log: cfg.Logger.With("network", cfg.Network), store: st, verp: codec, unsub: unsub}, nil
}

// Close closes the adapter's state and any SMTP session.
func (a *Adapter) Close() error {
	a.smtpMu.Lock()
	if a.smtp != nil {
		a.smtp.close()
		a.smtp = nil
	}
	a.smtpMu.Unlock()
	return a.store.Close()
}

// Network implements gateway.Adapter.
func (a *Adapter) Network() string { return a.cfg.Network }

// Connected reports whether the IMAP side is connected (sending connects
// on demand).
func (a *Adapter) Connected() bool { return a.imapUp.Load() }

// AttachLimit implements gateway.Attacher: the files of one mail, in
// all, as Config.AttachLimit says.
func (a *Adapter) AttachLimit() int64 { return a.cfg.AttachLimit }

// messageID is the Message-ID of the mail that carries the gateway message
// id: derived, so that a retried send repeats it and the recipient's
// client drops the copy; keyed, so it says nothing about the inside.
func (a *Adapter) messageID(id string) string {
	return a.store.mac(16, "message-id", id) + "@" + a.cfg.Domain
}

// newThread starts a conversation between persona and contact whose first
// message is msgID. Its ID is derived, so that the same first message
// always starts the same thread.
func (a *Adapter) newThread(persona, contact, msgID, subject string) *thread {
	return &thread{ID: a.store.mac(10, "thread", persona, contact, msgID), Persona: persona, Contact: contact, Subject: subject}
}

// lowerAddr is for the addresses the gateway hands over in Outgoing,
// which are canonical already: conversation key parts are lower-case bare
// addresses.
func lowerAddr(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// canonical is the one spelling of an outside mail address entering
// here (From, Return-Path, a DSN's recipient), or an error naming what is
// wrong with it (address.Canonical, with the configured policy).
func (a *Adapter) canonical(s string) (string, error) {
	return address.Canonical(address.Mail, s, a.cfg.Addresses)
}

// canonicalOwn is canonical for an address at the gateway's own domain
// (an envelope recipient): that domain is configured, so the policy for
// outside addresses does not apply to it.
func (a *Adapter) canonicalOwn(s string) (string, error) {
	return address.Canonical(address.Mail, s, address.Policy{AllowSpecial: true})
}

var (
	_ gateway.Adapter  = (*Adapter)(nil)
	_ gateway.Attacher = (*Adapter)(nil)
)
