package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/adapters/mail/parse"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/internal/testenv"
)

// syncLog is a log buffer the adapter's goroutines may write while the
// test reads it.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// liveAdapter opens an adapter on the servers of m: IMAP in plain text on
// loopback, SMTP on the submission port with STARTTLS (verified against
// the servers' own CA) and AUTH, as the gateway's configuration has it.
func liveAdapter(t *testing.T, m *testenv.Mail, dataDir string, mod func(*Config)) (*Adapter, *syncLog) {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(m.Dir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in cert.pem")
	}
	log := &syncLog{}
	cfg := Config{
		Network: "mail", Domain: m.GatewayDomain, DataDir: dataDir,
		IMAP: IMAPConfig{Server: m.IMAPAddr, TLS: TLSNone, Username: m.GatewayUser, Password: m.GatewayPass,
			PollInterval: 200 * time.Millisecond, IdleInterval: 2 * time.Second},
		SMTP: SMTPConfig{Server: m.SubmissionAddr, TLS: TLSStartTLS, TLSConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			Username: m.GatewayUser, Password: m.GatewayPass},
		TrustedAuthServIDs: []string{"mx." + m.GatewayDomain},
		Logger:             slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MaxBackoff:         time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, log
}

// run runs a until the returned stop is called (or the test ends).
func run(t *testing.T, a *Adapter, core gateway.Core) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, core) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// eventually waits until cond holds, failing the test after 30 s with
// what still differs.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s after 30s", what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mailboxNamed is the server's name of the mailbox whose configured name
// ends in suffix ("/" may be another separator there).
func mailboxNamed(t *testing.T, m *testenv.Mail, suffix string) string {
	t.Helper()
	for _, name := range m.Mailboxes(t, m.GatewayUser, m.GatewayPass) {
		if strings.HasPrefix(name, "Kakehashi") && strings.HasSuffix(name, suffix) {
			return name
		}
	}
	t.Fatalf("no mailbox for %s among %v", suffix, m.Mailboxes(t, m.GatewayUser, m.GatewayPass))
	return ""
}

func counts(t *testing.T, m *testenv.Mail, boxes ...string) []int {
	n := make([]int, len(boxes))
	for i, b := range boxes {
		n[i] = len(m.Fetch(t, m.GatewayUser, m.GatewayPass, b))
	}
	return n
}

// TestLiveIMAPReadsFilesAndQuarantines runs the adapter against Dovecot
// and Postfix: mail waiting before it connects and mail arriving while it
// idles reaches the gateway and is filed as processed; mail that cannot
// be read is filed in quarantine; the two mailboxes are created; after a
// restart only new mail is read.
func TestLiveIMAPReadsFilesAndQuarantines(t *testing.T) {
	m := testenv.StartMail(t, testenv.MailOptions{})
	dataDir := t.TempDir()
	mail := func(subject string) []byte {
		return []byte("From: Bob <bob@mail.test>\r\nTo: " + hanaSales + "\r\nSubject: " + subject +
			"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@mail.test>\r\n\r\nAbout " + subject + ".\r\n")
	}
	// Waiting before the adapter connects: one unreadable (no From), two
	// fine, read one batch at a time (BatchBytes 1).
	m.Append(t, m.GatewayUser, m.GatewayPass, "INBOX", []byte("Subject: who wrote this?\r\n\r\nNobody knows.\r\n"))
	m.Send(t, "bob@mail.test", []string{hanaSales}, mail("first quote"))
	m.Send(t, "bob@mail.test", []string{hanaSales}, mail("second quote"))
	m.WaitMail(t, m.GatewayUser, m.GatewayPass, "INBOX", 3, 30*time.Second)

	a, log := liveAdapter(t, m, dataDir, func(c *Config) { c.BatchBytes = 1 })
	core := newRecordCore(hanaSales)
	stop := run(t, a, core)
	eventually(t, "the waiting mail relayed", func() (bool, string) {
		got, _, _ := core.snapshot()
		return len(got) == 2, "gateway has " + strconv.Itoa(len(got))
	})
	processed, quarantine := mailboxNamed(t, m, "Processed"), mailboxNamed(t, m, "Quarantine")
	eventually(t, "the waiting mail filed", func() (bool, string) {
		n := counts(t, m, "INBOX", processed, quarantine)
		return n[0] == 0 && n[1] == 2 && n[2] == 1, "INBOX, processed, quarantine = " + strconv.Itoa(n[0]) + ", " + strconv.Itoa(n[1]) + ", " + strconv.Itoa(n[2])
	})
	if !a.Connected() {
		t.Error("not Connected while reading")
	}
	if !strings.Contains(log.String(), "cannot be read") {
		t.Errorf("the quarantine's reason is not logged:\n%s", log.String())
	}

	// Arriving while the adapter idles.
	m.Send(t, "bob@mail.test", []string{hanaSales}, mail("third quote"))
	eventually(t, "mail arriving while idle relayed", func() (bool, string) {
		got, _, _ := core.snapshot()
		return len(got) == 3, "gateway has " + strconv.Itoa(len(got))
	})
	got, _, _ := core.snapshot()
	for _, g := range got {
		// The MX vouched for bob's envelope sender (SPF pass): the
		// gateway may answer him.
		if g.From != "bob@mail.test" || g.To != hanaSales || g.ReplyTo != "bob@mail.test" {
			t.Errorf("relayed %+v", g)
		}
	}
	// Postfix may deliver the first two in either order; the third came
	// after both were read.
	if first := got[0].Subject + ", " + got[1].Subject; (first != "first quote, second quote" && first != "second quote, first quote") ||
		got[2].Subject != "third quote" {
		t.Errorf("relayed %q, %q, %q", got[0].Subject, got[1].Subject, got[2].Subject)
	}
	stop()
	if a.Connected() {
		t.Error("Connected after Run returned")
	}
	a.Close()

	// Restarted on the same state: only what came in since is read.
	m.Send(t, "bob@mail.test", []string{hanaSales}, mail("fourth quote"))
	m.WaitMail(t, m.GatewayUser, m.GatewayPass, "INBOX", 1, 30*time.Second)
	a2, _ := liveAdapter(t, m, dataDir, nil)
	core2 := newRecordCore(hanaSales)
	run(t, a2, core2)
	eventually(t, "the new mail relayed after a restart", func() (bool, string) {
		got, _, _ := core2.snapshot()
		return len(got) == 1 && got[0].Subject == "fourth quote", "gateway has " + strconv.Itoa(len(got))
	})
	eventually(t, "filed after a restart", func() (bool, string) {
		n := counts(t, m, "INBOX", processed)
		return n[0] == 0 && n[1] == 4, "INBOX, processed = " + strconv.Itoa(n[0]) + ", " + strconv.Itoa(n[1])
	})
}

// TestLiveSMTPSendAndBounce sends through Postfix's submission port: the
// mail arrives from the persona with a return path that names the
// message, a second one continues the thread over the same session, a
// refused recipient is a permanent failure worded for the author, a
// bounce coming back through IMAP fails the message it returns, and a
// restarted or unreachable Postfix is a network away, not a failure.
func TestLiveSMTPSendAndBounce(t *testing.T) {
	m := testenv.StartMail(t, testenv.MailOptions{})
	m.AddUser(t, "bob@mail.test", "bob-secret")
	a, log := liveAdapter(t, m, t.TempDir(), nil)
	ctx := context.Background()
	out := func(id, to, body string) *gateway.Outgoing {
		return &gateway.Outgoing{ID: id, Network: "mail", From: hanaSales, To: to, Nick: "Hana Suzuki", Body: body, Subject: "Quote"}
	}

	if err := a.Send(ctx, out("q1", "bob@mail.test", "Here is the quote.")); err != nil {
		t.Fatalf("Send: %v\n%s", err, m.LogTail(20))
	}
	if err := a.Send(ctx, out("q2", "bob@mail.test", "And the delivery date.")); err != nil {
		t.Fatalf("second Send: %v", err)
	}
	inbox := m.WaitMail(t, "bob@mail.test", "bob-secret", "INBOX", 2, 30*time.Second)
	var got []*parse.Mail
	for _, f := range inbox {
		pm, err := parse.Bytes(f.Raw, parse.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, pm)
	}
	first, second := got[0], got[1]
	if first.From != (parse.Address{Name: "Hana Suzuki", Addr: hanaSales}) || first.Subject != "Quote" ||
		first.MessageID != a.messageID("q1") || first.Text != "Here is the quote." {
		t.Errorf("first mail: %+v", first)
	}
	if id, err := a.verp.Parse(first.ReturnPath, a.cfg.Now()); err != nil || id != "q1" {
		t.Errorf("return path %q names %q (%v), want q1", first.ReturnPath, id, err)
	}
	if second.InReplyTo != a.messageID("q1") || second.Subject != "Re: Quote" {
		t.Errorf("second mail does not continue the thread: In-Reply-To %q, Subject %q", second.InReplyTo, second.Subject)
	}

	// Postfix refuses an unknown user of its own domain at RCPT.
	err := a.Send(ctx, out("q3", "nobody@mail.test", "Hello?"))
	if err == nil || errors.Is(err, gateway.ErrNotConnected) ||
		!strings.Contains(err.Error(), "the address does not exist") || !strings.Contains(err.Error(), "550") {
		t.Errorf("Send to an unknown user: %v", err)
	}

	// An outside address is taken, then bounced back to the return path.
	if err := a.Send(ctx, out("q4", "x@bounce.test", "Will this arrive?")); err != nil {
		t.Fatalf("Send to the bounce domain: %v", err)
	}
	core := newRecordCore(hanaSales)
	run(t, a, core)
	eventually(t, "the bounce reported", func() (bool, string) {
		_, failed, _ := core.snapshot()
		return len(failed) == 1, "failures: " + strconv.Itoa(len(failed)) + "\n" + log.String()
	})
	msgs, failed, _ := core.snapshot()
	if f := failed[0]; f.id != "q4" || !strings.Contains(f.reason, "x@bounce.test") {
		t.Errorf("failure %+v", f)
	}
	if len(msgs) != 0 {
		t.Errorf("the bounce was relayed as a message: %+v", msgs[0])
	}

	// The kept session dies with Postfix: while it is down the network is
	// away; once it is back a send dials anew.
	m.StopPostfix(t)
	if err := a.Send(ctx, out("q5", "bob@mail.test", "Anyone there?")); !errors.Is(err, gateway.ErrNotConnected) {
		t.Errorf("Send with Postfix down: %v", err)
	}
	m.StartPostfix(t)
	if err := a.Send(ctx, out("q6", "bob@mail.test", "Back again.")); err != nil {
		t.Errorf("Send after Postfix restarted: %v", err)
	}
	m.WaitMail(t, "bob@mail.test", "bob-secret", "INBOX", 3, 30*time.Second)

	bad, _ := liveAdapter(t, m, t.TempDir(), func(c *Config) { c.SMTP.Password = "wrong" })
	if err := bad.Send(ctx, out("q7", "bob@mail.test", "x")); !errors.Is(err, gateway.ErrNotConnected) || !strings.Contains(err.Error(), "auth") {
		t.Errorf("Send with a wrong password: %v", err)
	}
}
