package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/kakehashi/kakehashi/adapters/mail/compose"
	"github.com/kakehashi/kakehashi/gateway"
)

// smtpConn is one SMTP session to the relay, kept open between messages.
type smtpConn struct {
	conn   net.Conn
	client *smtp.Client
}

func (s *smtpConn) close() {
	_ = s.client.Quit()
	_ = s.client.Close()
}

// Send implements gateway.Adapter: build the mail and submit it. A 5xx
// answer is permanent; 4xx answers and connection trouble are retried by
// the gateway.
func (a *Adapter) Send(ctx context.Context, out *gateway.Outgoing) error {
	var (
		raw      []byte
		envFrom  string
		finished func(ctx context.Context) error
		err      error
	)
	switch {
	case out.Kind.FromGateway():
		raw, err = a.buildNotice(out)
		envFrom = "" // null sender: an answer to an answer can never loop
	default:
		raw, finished, err = a.buildReply(ctx, out)
		if err == nil {
			envFrom, err = a.verp.Address(out.ID, a.cfg.Now())
		}
	}
	if err != nil {
		return a.sendError(ctx, err)
	}
	if a.cfg.DKIM != nil {
		if raw, err = a.cfg.DKIM.Sign(raw); err != nil {
			return gateway.Permanent(fmt.Errorf("dkim: %w", err))
		}
	}
	if err := a.submit(ctx, envFrom, out.To, raw); err != nil {
		return err
	}
	if finished != nil {
		if err := finished(ctx); err != nil {
			// The mail is out; only the thread bookkeeping is missing, so a
			// later reply may start a new thread. Not worth a resend.
			a.log.Warn("mail sent, but its thread was not recorded", "err", err)
		}
	}
	return nil
}

// errStore marks an error of the adapter's own state file: the message is
// fine, the disk or the database is not.
var errStore = errors.New("local storage")

// sendError classifies a failure to build a mail. Only a message that
// cannot become mail (compose.ErrInvalid, an address the gateway cannot
// sign a return path for) is permanent. A send cut short by shutdown
// (ctx ended) and a failure of the adapter's own state are not the
// message's fault: they are gateway.NotConnected, so the message
// stays pending and is sent once the gateway runs again or the state
// recovers, and its author is told nothing.
func (a *Adapter) sendError(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return gateway.NotConnected(fmt.Errorf("mail %s: stopped before sending: %w", a.cfg.Network, context.Cause(ctx)))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return gateway.NotConnected(fmt.Errorf("mail %s: %w", a.cfg.Network, err))
	case errors.Is(err, errStore):
		return gateway.NotConnected(fmt.Errorf("mail %s: %w", a.cfg.Network, err))
	}
	return gateway.Permanent(err)
}

// buildReply builds an employee's message as mail in the conversation's
// thread, and returns what to record once it is sent.
func (a *Adapter) buildReply(ctx context.Context, out *gateway.Outgoing) ([]byte, func(context.Context) error, error) {
	persona, contact := threadPersona(lowerAddr(out.From)), lowerAddr(out.To)
	now := a.cfg.Now().UTC()
	tx, err := a.store.begin(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errStore, err)
	}
	defer tx.Rollback()
	var th *thread
	if out.Thread != "" {
		if th, err = tx.byID(ctx, out.Thread); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errStore, err)
		}
		if th != nil && (th.Persona != persona || th.Contact != contact) {
			th = nil // a token for another conversation: ignore it
		}
	}
	if th == nil {
		if th, err = tx.latest(ctx, persona, contact, now.Add(-threadWindow)); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errStore, err)
		}
	}
	// A chat client's subject may hold line breaks; the mail's is one line.
	subject := compose.UnfoldSubject(out.Subject)
	if th != nil && subject != "" && normSubject(subject) != normSubject(th.Subject) {
		th = nil // the employee set a new subject: a new conversation
	}
	msgID := a.messageID(out.ID)
	m := &compose.Message{
		From:      compose.Address{Name: out.Nick, Addr: lowerAddr(out.From)},
		To:        compose.Address{Addr: contact},
		Date:      now,
		MessageID: msgID,
		Text:      out.Body,
	}
	switch {
	case out.Kind == gateway.KindBroadcast:
		// Written by the employee, sent to many: one click on the mail
		// client's Unsubscribe button marks the contact gone, so later
		// broadcasts skip them.
		if m.ListUnsubscribe, err = a.unsub.Address(out.ID, now); err != nil {
			return nil, nil, fmt.Errorf("unsubscribe address: %w", err)
		}
	case out.Kind.Automatic():
		// Written by the gateway on the persona's behalf: robots must not
		// answer it (RFC 3834).
		m.AutoSubmitted = "auto-generated"
	}
	if th == nil {
		if subject == "" {
			subject = compose.SubjectFromText(out.Body, 60)
		}
		if subject == "" {
			subject = "Message from " + out.Nick
		}
		m.Subject = subject
		th = a.newThread(persona, contact, msgID, subject)
	} else {
		m.Subject = compose.ReplySubject(th.Subject)
		m.InReplyTo = th.last()
		m.References = append([]string(nil), th.Refs...)
	}
	raw, err := compose.Build(m)
	if err != nil {
		return nil, nil, fmt.Errorf("build mail: %w", err)
	}
	finished := func(ctx context.Context) error {
		tx, err := a.store.begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		// Read again: a reply may have arrived while this one was out.
		cur, err := tx.byID(ctx, th.ID)
		if err != nil {
			return err
		}
		if cur == nil {
			cur = th
		}
		cur.add(msgID)
		cur.Updated = a.cfg.Now()
		tx.save(cur, msgID, refOutbound)
		return tx.Commit(ctx)
	}
	return raw, finished, nil
}

// buildNotice builds the gateway's own answer to a mail sender: a refusal
// or a delivery failure. It is marked automatic so that no robot answers
// it (RFC 3834).
func (a *Adapter) buildNotice(out *gateway.Outgoing) ([]byte, error) {
	var body strings.Builder
	if out.Kind == gateway.KindRefusal && out.Refusal != nil {
		fmt.Fprintf(&body, "Your message to %s was not delivered: %s.\n", out.From, strings.TrimSuffix(out.Refusal.Text, "."))
	} else {
		body.WriteString(out.Body + "\n")
	}
	body.WriteString("\nThis is an automatic message; replies to it are not read.\n")
	subject := "Undelivered: " + out.Subject
	if out.Subject == "" {
		subject = "Your message was not delivered"
	}
	if out.Kind == gateway.KindNotice {
		subject = "Delivery problem"
	}
	m := &compose.Message{
		From:          compose.Address{Name: out.Nick, Addr: lowerAddr(out.From)},
		To:            compose.Address{Addr: lowerAddr(out.To)},
		Subject:       subject,
		Date:          a.cfg.Now().UTC(),
		MessageID:     a.messageID(out.ID),
		Text:          body.String(),
		AutoSubmitted: "auto-replied",
	}
	if id, _, ok := strings.Cut(out.ReplyTo, " "); ok && strings.Contains(id, "@") {
		m.InReplyTo = id
		m.References = []string{id}
	}
	return compose.Build(m)
}

// enhancedCode is an SMTP answer's enhanced status code (RFC 3463),
// "5.1.1", or "" when it has none.
func enhancedCode(se *smtp.SMTPError) string {
	c := se.EnhancedCode
	if c == (smtp.EnhancedCode{}) || c == smtp.NoEnhancedCode {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", c[0], c[1], c[2])
}

// submit hands one mail to the relay, reusing the open session.
func (a *Adapter) submit(ctx context.Context, from, to string, raw []byte) error {
	a.smtpMu.Lock()
	defer a.smtpMu.Unlock()
	for attempt := 0; ; attempt++ {
		fresh := a.smtp == nil
		if fresh {
			c, err := a.dialSMTP(ctx)
			if err != nil {
				return gateway.NotConnected(fmt.Errorf("smtp %s: %w", a.cfg.SMTP.Server, err))
			}
			a.smtp = c
		}
		err := a.transaction(ctx, a.smtp, from, to, raw)
		if err == nil {
			return nil
		}
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			// The session is fine; the server answered this message.
			_ = a.smtp.client.Reset()
			if se.Code >= 500 {
				perm := gateway.Permanent(fmt.Errorf("the recipient's mail server refused it: %d %s", se.Code, se.Message))
				if plain, gone, ok := deadAddress(enhancedCode(se)); ok {
					// Plainly first: the author reads "the address does
					// not exist", not only the server's code.
					perm.Err = fmt.Errorf("%s (%w)", plain, perm.Err)
					perm.Gone = gone
				}
				return perm
			}
			return fmt.Errorf("smtp %s: temporary failure: %w", a.cfg.SMTP.Server, err)
		}
		a.smtp.close()
		a.smtp = nil
		if fresh || attempt > 0 {
			return gateway.NotConnected(fmt.Errorf("smtp %s: %w", a.cfg.SMTP.Server, err))
		}
		// A kept session may have timed out at the server: try once anew.
	}
}

func (a *Adapter) transaction(ctx context.Context, c *smtpConn, from, to string, raw []byte) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.conn.SetDeadline(dl)
	} else {
		_ = c.conn.SetDeadline(time.Now().Add(2 * time.Minute))
	}
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := c.client.Mail(from, nil); err != nil {
		return err
	}
	if err := c.client.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.client.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		return err
	}
	return w.Close()
}

func (a *Adapter) dialSMTP(ctx context.Context) (*smtpConn, error) {
	cfg := a.cfg.SMTP
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", cfg.Server)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	tlsCfg := a.tlsConfig(cfg.TLSConfig, cfg.Server)
	var c *smtp.Client
	switch cfg.TLS {
	case TLSImplicit:
		tc := tls.Client(conn, tlsCfg)
		conn = tc
		c = smtp.NewClient(tc)
	case TLSNone:
		c = smtp.NewClient(conn)
	default:
		// go-smtp greets as "localhost" before STARTTLS; the name that
		// counts (and that ends up in Received headers) is given after.
		if c, err = smtp.NewClientStartTLS(conn, tlsCfg); err != nil {
			conn.Close()
			return nil, fmt.Errorf("starttls: %w", err)
		}
	}
	if err := c.Hello(cfg.HELO); err != nil {
		c.Close()
		return nil, fmt.Errorf("ehlo: %w", err)
	}
	if cfg.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", cfg.Username, cfg.Password)); err != nil {
			c.Close()
			return nil, fmt.Errorf("auth as %s: %w", cfg.Username, err)
		}
	}
	return &smtpConn{conn: conn, client: c}, nil
}

// tlsConfig returns cfg (or a default) with the server name set.
func (a *Adapter) tlsConfig(cfg *tls.Config, server string) *tls.Config {
	var c *tls.Config
	if cfg != nil {
		c = cfg.Clone()
	} else {
		c = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if c.ServerName == "" {
		host, _, _ := net.SplitHostPort(server)
		c.ServerName = host
	}
	return c
}

// normSubject is a subject as conversations compare it: without reply
// prefixes, case and spacing, so "Re: Re: quote  for May" is "Quote for May".
func normSubject(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(compose.BaseSubject(s)), " "))
}
