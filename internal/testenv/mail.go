package testenv

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

// Defaults for MailOptions, the same as scripts/mail.sh's.
const (
	DefaultGatewayDomain  = "contact.acme.test"
	DefaultCustomerDomain = "mail.test"
	DefaultBounceDomain   = "bounce.test"
	DefaultGatewayPass    = "gateway-secret"
)

// mailIOTimeout bounds each SMTP or IMAP session of the helpers, so a hung
// server fails the test instead of stalling it until the test timeout.
const mailIOTimeout = 30 * time.Second

// MailOptions configure StartMail. The zero value gives the defaults.
type MailOptions struct {
	// GatewayDomain is the domain every address of which lands in the
	// gateway's one mailbox (default DefaultGatewayDomain).
	GatewayDomain string
	// CustomerDomain holds mailboxes created with AddUser; mail to anyone
	// else there is rejected at RCPT time (default DefaultCustomerDomain).
	CustomerDomain string
	// BounceDomain accepts mail to any address and then bounces it with a
	// DSN to the envelope sender (default DefaultBounceDomain).
	BounceDomain string
	// GatewayPass is the password of the gateway's IMAP and SMTP AUTH login
	// (default DefaultGatewayPass).
	GatewayPass string
}

// Mail is a running throwaway Dovecot (IMAP, LMTP) and Postfix (SMTP,
// submission) on loopback, started through scripts/mail.sh. Their configs,
// mailboxes, queue and logs live in Dir.
//
// Routing: every address at GatewayDomain is delivered into the mailbox of
// GatewayUser, each copy with a Delivered-To: header naming its envelope
// recipient; CustomerDomain has the users added with AddUser and rejects
// others with a 5xx at RCPT time; BounceDomain, and any outside domain,
// accepts mail and then bounces it, so the envelope sender gets a DSN.
// The servers only prepend trace headers (Return-Path, Delivered-To,
// Received) to what a client sends: nothing is rewritten or added, not
// even a missing Date or Message-ID, and no header names the machine.
// Mail sent to SMTPAddr with an envelope sender at CustomerDomain also
// gets "Authentication-Results: mx.<GatewayDomain>; spf=pass
// smtp.mailfrom=<CustomerDomain>", as an SPF verifier on the MX would
// write (there is no DNS to verify against); other senders get none.
type Mail struct {
	// Dir holds the configs (dovecot/, postfix/), the mailboxes (mail/),
	// Postfix's queue and the logs dovecot.log and postfix.log.
	Dir string
	// IMAPAddr is Dovecot's IMAP listener (plaintext LOGIN allowed,
	// STARTTLS offered with a self-signed certificate).
	IMAPAddr string
	// SMTPAddr is Postfix's MX-like listener: it takes mail for the local
	// domains and, from loopback, relays any other.
	SMTPAddr string
	// SubmissionAddr is Postfix's submission listener: it requires
	// STARTTLS (self-signed certificate) and then AUTH PLAIN or LOGIN.
	SubmissionAddr string
	// GatewayDomain, CustomerDomain and BounceDomain are the domains
	// served, as described on Mail.
	GatewayDomain, CustomerDomain, BounceDomain string
	// GatewayUser and GatewayPass are the IMAP (and SMTP AUTH) login of the
	// mailbox that receives everything sent to GatewayDomain.
	GatewayUser, GatewayPass string

	script                                       string
	imapPort, smtpPort, submissionPort, lmtpPort int
	mu                                           sync.Mutex // guards the running flags and serialises runs of the script
	dovecotUp, postfixUp                         bool
}

// FetchedMail is one message of a mailbox as Fetch returns it.
type FetchedMail struct {
	// UID is the message's IMAP UID in its mailbox.
	UID uint32
	// Raw is the message exactly as the server returns it for BODY.PEEK[]
	// (CRLF line ends), including the trace headers the servers added.
	Raw []byte
	// Flags are the message's IMAP flags, e.g. `\Seen`, without
	// `\Recent`, which belongs to IMAP sessions rather than to the
	// message and so would come and go with the gateway's logins.
	Flags []string
}

// RequireMail skips the test (or fails it under CI=true) when Dovecot or
// Postfix is not installed, or the test does not run as root (their
// masters must).
func RequireMail(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"dovecot", "postfix", "postmap"} {
		if _, err := exec.LookPath(bin); err != nil {
			unavailable(t, "dovecot/postfix not installed (%s missing): run `bash scripts/mail.sh install` (or make test-deps)", bin)
		}
	}
	for _, f := range []string{"/usr/lib/dovecot/imap", "/usr/lib/dovecot/lmtp"} {
		if _, err := os.Stat(f); err != nil {
			unavailable(t, "dovecot's imap or lmtp is not installed (%v): run `bash scripts/mail.sh install` (or make test-deps)", err)
		}
	}
	if os.Geteuid() != 0 {
		unavailable(t, "the mail servers need root to start (Postfix's and Dovecot's masters switch users): run the tests as root")
	}
}

// StartMail starts Dovecot and Postfix on free loopback ports with their
// files in a new directory, and stops them and removes the directory when
// the test ends. If the servers are not installed or the test does not run
// as root, the test is skipped (failed under CI=true); if they are
// installed but do not start, the test fails.
func StartMail(t testing.TB, o MailOptions) *Mail {
	t.Helper()
	RequireMail(t)
	m := &Mail{
		GatewayDomain:  o.GatewayDomain,
		CustomerDomain: o.CustomerDomain,
		BounceDomain:   o.BounceDomain,
		GatewayPass:    o.GatewayPass,
		script:         filepath.Join(RepoRoot(t), "scripts", "mail.sh"),
	}
	if m.GatewayDomain == "" {
		m.GatewayDomain = DefaultGatewayDomain
	}
	if m.CustomerDomain == "" {
		m.CustomerDomain = DefaultCustomerDomain
	}
	if m.BounceDomain == "" {
		m.BounceDomain = DefaultBounceDomain
	}
	if m.GatewayPass == "" {
		m.GatewayPass = DefaultGatewayPass
	}
	m.GatewayUser = "gateway@" + m.GatewayDomain

	// Not t.TempDir: the servers' unprivileged users (postfix, mail,
	// dovecot) must be able to reach the directory, and t.TempDir's parent
	// is private to root. A short name also keeps Dovecot's socket paths
	// under the Unix limit.
	dir, err := os.MkdirTemp("", "kkh-mail-")
	if err != nil {
		t.Fatalf("testenv: mail dir: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("testenv: remove %s: %v", dir, err)
		}
	})
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatalf("testenv: mail dir: %v", err)
	}
	m.Dir = dir

	// A port picked as free can be taken before a server binds it; the
	// script refuses ports in use (and undoes a half start), so pick again.
	for attempt := 0; attempt < 5; attempt++ {
		var ports []int
		if ports, err = freePorts(4); err != nil {
			break
		}
		m.setPorts(ports[0], ports[1], ports[2], ports[3])
		if err = m.start(""); err == nil || !isMailPortConflict(err) {
			break
		}
	}
	if err != nil {
		// RequireMail passed, so the servers are installed and we are
		// root: not starting is a failure, never a skip.
		t.Fatalf("testenv: dovecot/postfix are installed but failed to start: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: mail server logs:\n%s", m.LogTail(40))
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if _, err := m.run("stop", "--dir", m.Dir); err != nil {
			t.Errorf("testenv: stop mail servers: %v", err)
		}
		m.dovecotUp, m.postfixUp = false, false
	})
	return m
}

func (m *Mail) setPorts(imapPort, smtpPort, submissionPort, lmtpPort int) {
	m.imapPort, m.smtpPort, m.submissionPort, m.lmtpPort = imapPort, smtpPort, submissionPort, lmtpPort
	m.IMAPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(imapPort))
	m.SMTPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(smtpPort))
	m.SubmissionAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(submissionPort))
}

func isMailPortConflict(err error) bool {
	return strings.Contains(strings.ToLower(err.Error()), "already in use")
}

// start runs mail.sh start for both servers (only == "") or one of them
// ("dovecot", "postfix"); a server already running is left alone.
func (m *Mail) start(only string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	wantDovecot := only != "postfix" && !m.dovecotUp
	wantPostfix := only != "dovecot" && !m.postfixUp
	switch {
	case !wantDovecot && !wantPostfix:
		return nil
	case !wantDovecot:
		only = "postfix"
	case !wantPostfix:
		only = "dovecot"
	default:
		only = ""
	}
	args := []string{"start",
		"--dir", m.Dir,
		"--imap-port", strconv.Itoa(m.imapPort),
		"--smtp-port", strconv.Itoa(m.smtpPort),
		"--submission-port", strconv.Itoa(m.submissionPort),
		"--lmtp-port", strconv.Itoa(m.lmtpPort),
		"--gateway-domain", m.GatewayDomain,
		"--customer-domain", m.CustomerDomain,
		"--bounce-domain", m.BounceDomain,
		"--gateway-pass", m.GatewayPass,
		// Let the script's watchdog stop the servers if this test binary
		// dies without running its cleanups (timeout, panic, SIGKILL).
		"--parent-pid", strconv.Itoa(os.Getpid()),
	}
	if only != "" {
		args = append(args, "--only", only)
	}
	out, err := m.run(args...)
	if err != nil {
		return err
	}
	want := fmt.Sprintf("IMAP=%s SMTP=%s SUBMISSION=%s ", m.IMAPAddr, m.SMTPAddr, m.SubmissionAddr)
	if !strings.Contains(out, want) {
		return fmt.Errorf("mail.sh start: unexpected output %q (want %q...)", out, want)
	}
	if wantDovecot {
		m.dovecotUp = true
	}
	if wantPostfix {
		m.postfixUp = true
	}
	return nil
}

func (m *Mail) stop(t testing.TB, only string) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	up := &m.dovecotUp
	if only == "postfix" {
		up = &m.postfixUp
	}
	if !*up {
		return
	}
	if _, err := m.run("stop", "--dir", m.Dir, "--only", only); err != nil {
		t.Fatalf("testenv: stop %s: %v", only, err)
	}
	*up = false
}

// StopDovecot stops Dovecot (IMAP and LMTP) and waits for it to exit;
// mailboxes stay in Dir. Postfix keeps running and queues what it cannot
// deliver, retrying every few seconds. Stopping it twice does nothing.
func (m *Mail) StopDovecot(t testing.TB) {
	t.Helper()
	m.stop(t, "dovecot")
}

// StartDovecot starts a stopped Dovecot again on the same ports with the
// same Dir. Starting it while it runs does nothing.
func (m *Mail) StartDovecot(t testing.TB) {
	t.Helper()
	if err := m.start("dovecot"); err != nil {
		t.Fatalf("testenv: restart dovecot: %v", err)
	}
}

// StopPostfix stops Postfix (SMTP and submission) and waits for it to
// exit; its queue stays in Dir. Stopping it twice does nothing.
func (m *Mail) StopPostfix(t testing.TB) {
	t.Helper()
	m.stop(t, "postfix")
}

// StartPostfix starts a stopped Postfix again on the same ports with the
// same Dir, which also delivers what was left in its queue. Starting it
// while it runs does nothing.
func (m *Mail) StartPostfix(t testing.TB) {
	t.Helper()
	if err := m.start("postfix"); err != nil {
		t.Fatalf("testenv: restart postfix: %v", err)
	}
}

// AddUser creates the mailbox addr with password pass (or resets its
// password). addr must be at CustomerDomain (or at GatewayDomain, to give
// that one address a mailbox of its own). It works while the servers run:
// once it returns (within about a second; the servers notice changed files
// by their mtime), IMAP logins and new SMTP connections see the account.
func (m *Mail) AddUser(t testing.TB, addr, pass string) {
	t.Helper()
	// The script rewrites the account files; one run at a time.
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.run("adduser", "--dir", m.Dir, addr, pass); err != nil {
		t.Fatalf("testenv: add mail user %s: %v", addr, err)
	}
}

// run runs scripts/mail.sh with args and returns its combined output.
func (m *Mail) run(args ...string) (string, error) { return runScript(m.script, args...) }

// Send sends raw by SMTP to SMTPAddr with the envelope sender from ("" for
// the null sender <>) and recipients to, and fails the test if the server
// does not accept it. raw is sent as it is (LF line ends become CRLF).
func (m *Mail) Send(t testing.TB, from string, to []string, raw []byte) {
	t.Helper()
	if err := m.SendErr(from, to, raw); err != nil {
		t.Fatalf("testenv: send mail from <%s> to %v: %v", from, to, err)
	}
}

// SendErr is Send returning the error, for tests that expect the server
// to refuse: a refusal is a *smtp.SMTPError carrying the reply code (e.g.
// 550 for an unknown recipient).
func (m *Mail) SendErr(from string, to []string, raw []byte) error {
	conn, err := net.DialTimeout("tcp", m.SMTPAddr, mailIOTimeout)
	if err != nil {
		return fmt.Errorf("smtp connect: %w", err)
	}
	// An absolute deadline for the whole session: go-smtp's own timeouts
	// do not cover the greeting.
	_ = conn.SetDeadline(time.Now().Add(mailIOTimeout))
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.SendMail(from, to, bytes.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}

// imapSession logs in as user and runs f, closing the connection after
// mailIOTimeout at the latest so a hung server cannot block the test.
func (m *Mail) imapSession(user, pass string, f func(c *imapclient.Client) error) error {
	conn, err := net.DialTimeout("tcp", m.IMAPAddr, mailIOTimeout)
	if err != nil {
		return fmt.Errorf("imap connect: %w", err)
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	timer := time.AfterFunc(mailIOTimeout, func() { c.Close() })
	defer timer.Stop()
	if err := c.Login(user, pass).Wait(); err != nil {
		return fmt.Errorf("imap login as %s: %w", user, err)
	}
	if err := f(c); err != nil {
		return err
	}
	if err := c.Logout().Wait(); err != nil {
		return fmt.Errorf("imap logout: %w", err)
	}
	return nil
}

// fetch returns all messages of mailbox, looked at read-only (EXAMINE, and
// BODY.PEEK so that \Seen is not set).
func (m *Mail) fetch(user, pass, mailbox string) ([]FetchedMail, error) {
	var mails []FetchedMail
	err := m.imapSession(user, pass, func(c *imapclient.Client) error {
		sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			return fmt.Errorf("imap examine %s: %w", mailbox, err)
		}
		if sel.NumMessages == 0 {
			return nil
		}
		body := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
			UID:         true,
			Flags:       true,
			BodySection: []*imap.FetchItemBodySection{body},
		}).Collect()
		if err != nil {
			return fmt.Errorf("imap fetch %s: %w", mailbox, err)
		}
		for _, msg := range msgs {
			fm := FetchedMail{UID: uint32(msg.UID), Raw: msg.FindBodySection(body)}
			for _, f := range msg.Flags {
				if !strings.EqualFold(string(f), `\Recent`) {
					fm.Flags = append(fm.Flags, string(f))
				}
			}
			mails = append(mails, fm)
		}
		return nil
	})
	slices.SortFunc(mails, func(a, b FetchedMail) int { return cmp.Compare(a.UID, b.UID) })
	return mails, err
}

// Fetch returns every message in mailbox of user, oldest first, without
// changing it (no \Seen, no \Recent taken). It fails the test on any error.
func (m *Mail) Fetch(t testing.TB, user, pass, mailbox string) []FetchedMail {
	t.Helper()
	mails, err := m.fetch(user, pass, mailbox)
	if err != nil {
		t.Fatalf("testenv: fetch %s of %s: %v\n%s", mailbox, user, err, m.LogTail(20))
	}
	return mails
}

// WaitMail polls mailbox of user until it holds at least n messages and
// returns them all (oldest first). On timeout it fails the test, showing
// what the mailbox holds and the servers' logs. Errors while polling (the
// mailbox not there yet, Dovecot restarting) count as not there yet.
func (m *Mail) WaitMail(t testing.TB, user, pass, mailbox string, n int, timeout time.Duration) []FetchedMail {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		mails, err := m.fetch(user, pass, mailbox)
		if err == nil && len(mails) >= n {
			return mails
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			fmt.Fprintf(&b, "testenv: %s of %s: want %d messages within %v, have %d", mailbox, user, n, timeout, len(mails))
			if err != nil {
				fmt.Fprintf(&b, " (last error: %v)", err)
			}
			for i, fm := range mails {
				fmt.Fprintf(&b, "\n--- message %d (uid %d, flags %v) ---\n%s", i+1, fm.UID, fm.Flags, headerOf(fm.Raw))
			}
			fmt.Fprintf(&b, "\n--- logs ---\n%s", m.LogTail(30))
			t.Fatal(b.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// headerOf returns the header block of a raw message, which is what tells
// one message from another in a failure message.
func headerOf(raw []byte) string {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return string(raw[:i])
	}
	return string(raw)
}

// Mailboxes returns the names of all mailboxes of user (LIST "" "*").
func (m *Mail) Mailboxes(t testing.TB, user, pass string) []string {
	t.Helper()
	var names []string
	err := m.imapSession(user, pass, func(c *imapclient.Client) error {
		list, err := c.List("", "*", nil).Collect()
		if err != nil {
			return fmt.Errorf("imap list: %w", err)
		}
		for _, l := range list {
			names = append(names, l.Mailbox)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("testenv: mailboxes of %s: %v", user, err)
	}
	return names
}

// Append stores raw in mailbox of user by IMAP APPEND, creating the
// mailbox if needed: a way to put mail straight into a mailbox without
// going through SMTP (and so without trace headers or Delivered-To).
func (m *Mail) Append(t testing.TB, user, pass, mailbox string, raw []byte) {
	t.Helper()
	err := m.imapSession(user, pass, func(c *imapclient.Client) error {
		err := appendMail(c, mailbox, raw)
		var ierr *imap.Error
		if errors.As(err, &ierr) && ierr.Code == imap.ResponseCodeTryCreate {
			if err := c.Create(mailbox, nil).Wait(); err != nil {
				return fmt.Errorf("imap create %s: %w", mailbox, err)
			}
			err = appendMail(c, mailbox, raw)
		}
		return err
	})
	if err != nil {
		t.Fatalf("testenv: append to %s of %s: %v", mailbox, user, err)
	}
}

func appendMail(c *imapclient.Client, mailbox string, raw []byte) error {
	cmd := c.Append(mailbox, int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		_ = cmd.Close()
		return fmt.Errorf("imap append %s: %w", mailbox, err)
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("imap append %s: %w", mailbox, err)
	}
	if _, err := cmd.Wait(); err != nil {
		return fmt.Errorf("imap append %s: %w", mailbox, err)
	}
	return nil
}

// LogTail returns the last n lines of Postfix's and of Dovecot's log (and
// of their startup output, if any), for failure messages.
func (m *Mail) LogTail(n int) string {
	var b strings.Builder
	for _, name := range []string{"postfix.stdout", "postfix.log", "dovecot.stdout", "dovecot.log"} {
		data, err := os.ReadFile(filepath.Join(m.Dir, name))
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		fmt.Fprintf(&b, "--- %s ---\n%s\n", name, lastLines(data, n))
	}
	if b.Len() == 0 {
		return "(no mail server logs in " + m.Dir + ")"
	}
	return strings.TrimRight(b.String(), "\n")
}
