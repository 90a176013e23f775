package mail

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/kakehashi/kakehashi/adapters/mail/compose"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/internal/textclip"
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
// the gateway. What mail cannot carry is settled first (see notMail).
func (a *Adapter) Send(ctx context.Context, out *gateway.Outgoing) error {
	if done, err := a.notMail(out); done {
		return err
	}
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

// errFile marks a file the gateway handed over that could not be opened
// or read: the disk, not the message, is at fault, so the send is tried
// again (and its author told once the gateway gives up). A copy that is
// not the file announced (size, hash) is permanent.
var errFile = errors.New("file")

// errRecall is what an employee is told who retracts a message sent as
// mail.
var errRecall = errors.New("a mail cannot be recalled once sent; the contact still has the earlier message")

// correctionLead starts the text of a correction: mail cannot replace
// what it sent, so the corrected text goes as a new mail in the thread,
// saying what it is.
const correctionLead = "Correction to my previous message:"

// maxQuote bounds the quote of the message a reply answers: enough to
// tell which one, not a copy of a long mail.
const maxQuote = 1000

// notMail settles what mail cannot carry before anything is built; done
// is false for a message to write as mail. Mail cannot be recalled, so a
// retraction fails permanently, and the gateway tells its author that
// the contact still has the message. Mail has no reactions, no delivery
// receipts or read markers to give and no typing notifications: those
// are not sent at all (done, nil), and a receipt or typing state that
// came with text or files leaves the text and files to send.
func (a *Adapter) notMail(out *gateway.Outgoing) (done bool, err error) {
	signal := out.ChatState != ""
	for _, r := range out.Refs {
		switch r.Kind {
		case gateway.RefRetract:
			return true, gateway.Permanent(errRecall)
		case gateway.RefReact:
			// A reaction's text, if any, is only its fallback.
			a.log.Debug("reaction not sent: mail has none", "id", out.ID)
			return true, nil
		case gateway.RefReceived, gateway.RefDisplayed:
			signal = true
		}
	}
	if signal && strings.TrimSpace(out.Body) == "" && len(out.Files) == 0 {
		a.log.Debug("receipt or chat state not sent: mail has none", "id", out.ID)
		return true, nil
	}
	return false, nil
}

// answered is the reference out answers or corrects, and the Message-ID
// of the mail that carried that message; zero when there is none, or
// when that mail had no Message-ID of its own.
func (a *Adapter) answered(out *gateway.Outgoing) (gateway.Ref, string) {
	// A correction first: it says what the mail is.
	var found gateway.Ref
	for _, r := range out.Refs {
		switch {
		case r.Kind == gateway.RefCorrect && found.Kind != gateway.RefCorrect,
			r.Kind == gateway.RefReply && found.Kind == 0:
			found = r
		}
	}
	if found.Kind == 0 {
		return gateway.Ref{}, ""
	}
	id := a.mailIDOf(found.ID)
	if id == "" {
		return gateway.Ref{}, ""
	}
	return found, id
}

// mailIDOf is the Message-ID of the mail that carried the message the
// mail side knows as id: a contact's mail by the ID ingest gave it
// ("<Message-ID> <persona>"), a mail the gateway sent by the gateway's
// own ID, of which messageID is the Message-ID. "" for a mail that had
// no Message-ID, or none Build could write.
func (a *Adapter) mailIDOf(id string) string {
	if id == "" {
		return ""
	}
	msgID, _, theirs := strings.Cut(id, " ")
	if !theirs {
		return a.messageID(id)
	}
	if strings.HasSuffix(msgID, "@"+noMessageID) || !compose.ValidMsgID(msgID) {
		return ""
	}
	return msgID
}

// referencesTo is the References of a reply to msgID in a thread whose
// known Message-IDs are refs (oldest first): those up to msgID, which a
// reader takes for its ancestors, or all of them and then msgID.
func referencesTo(refs []string, msgID string) []string {
	if i := slices.Index(refs, msgID); i >= 0 {
		return slices.Clone(refs[:i+1])
	}
	return append(slices.Clone(refs), msgID)
}

// quoted is q as a quote block, "> " before each line.
func quoted(q string) string {
	q = strings.ReplaceAll(strings.ReplaceAll(q, "\r\n", "\n"), "\r", "\n")
	lines := strings.Split(textclip.Clip(strings.TrimSpace(q), maxQuote), "\n")
	for i, l := range lines {
		if l = strings.TrimRight(l, " \t"); l == "" {
			lines[i] = ">"
		} else {
			lines[i] = "> " + l
		}
	}
	return strings.Join(lines, "\n")
}

// mailBody is the text and the attachments of the mail for out: the
// corrected or quoted text as ref says, a link line for each file the
// gateway hosts elsewhere (too large for mail), and each file it hands
// over to attach, read through fileReader.
func (a *Adapter) mailBody(out *gateway.Outgoing, ref gateway.Ref) (string, []compose.Attachment, error) {
	var parts []string
	switch {
	case ref.Kind == gateway.RefCorrect:
		parts = append(parts, correctionLead)
	case ref.Kind == gateway.RefReply && strings.TrimSpace(ref.Quote) != "":
		parts = append(parts, quoted(ref.Quote))
	}
	if body := strings.TrimRight(out.Body, " \t\r\n"); strings.TrimSpace(body) != "" {
		parts = append(parts, body)
	}
	var links []string
	var atts []compose.Attachment
	var total int64
	budget := &fileBudget{left: a.cfg.AttachLimit, limit: a.cfg.AttachLimit}
	for i := range out.Files {
		f := &out.Files[i]
		name := fileName(f)
		switch {
		case f.Open != nil:
			total += f.Size
			atts = append(atts, compose.Attachment{Name: name, MediaType: mediaType(f.MediaType), Open: fileReader(f, budget)})
		case f.URL != "":
			if f.Size > 0 {
				links = append(links, fmt.Sprintf("%s (%s): %s", name, humanSize(f.Size), f.URL))
			} else {
				links = append(links, name+": "+f.URL)
			}
		default:
			return "", nil, fmt.Errorf("the file %q has neither its bytes nor a link to them", name)
		}
	}
	if total > a.cfg.AttachLimit {
		// The gateway keeps to AttachLimit; a mail over it would be
		// refused by the recipient's server, or silently not delivered.
		return "", nil, fmt.Errorf("the files come to %s, more than the %s one mail may carry", humanSize(total), humanSize(a.cfg.AttachLimit))
	}
	if len(links) > 0 {
		parts = append(parts, strings.Join(links, "\n"))
	}
	return strings.Join(parts, "\n\n"), atts, nil
}

// fileName is the name a file goes out under: the name the gateway gave
// it, without directories and control characters, at most 255 octets
// (what file systems take) with its extension kept; or one from its
// type.
func fileName(f *gateway.Attachment) string {
	n := strings.ReplaceAll(f.Name, "\\", "/")
	n = n[strings.LastIndexByte(n, '/')+1:]
	n = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == utf8.RuneError {
			return -1
		}
		return r
	}, strings.ToValidUTF8(n, ""))
	n = strings.TrimSpace(n)
	if len(n) > 255 {
		ext := path.Ext(n)
		if len(ext) > 16 {
			ext = ""
		}
		stem, k := n[:len(n)-len(ext)], 255-len(ext)
		for k > 0 && !utf8.RuneStart(stem[k]) {
			k--
		}
		n = stem[:k] + ext
	}
	if n == "" || n == "." || n == ".." {
		return "file"
	}
	return n
}

// mediaType is the type a file is attached as: the gateway's, when it is
// one Build takes, else application/octet-stream (compose's default).
func mediaType(mt string) string {
	mt = strings.ToLower(strings.TrimSpace(mt))
	if base, _, err := mime.ParseMediaType(mt); err == nil && strings.Count(base, "/") == 1 && base == mt {
		return mt
	}
	return ""
}

// fileBudget is what is left of the bytes one mail's files may come to
// (AttachLimit), shared by their readers: whatever the files' sizes say,
// a mail never holds more.
type fileBudget struct{ left, limit int64 }

// fileReader opens f for Build and checks what it reads: no more than
// the budget leaves, exactly f.Size bytes when known, hashing to
// f.SHA256 when known, so a copy that is not is never sent cut short or
// altered. Errors opening or reading wrap errFile.
func fileReader(f *gateway.Attachment, budget *fileBudget) func() (io.ReadCloser, error) {
	open, size, sum := f.Open, f.Size, strings.ToLower(f.SHA256)
	return func() (io.ReadCloser, error) {
		rc, err := open()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errFile, err)
		}
		return &checkedFile{rc: rc, budget: budget, size: size, sum: sum, h: sha256.New()}, nil
	}
}

// checkedFile is fileReader's reader.
type checkedFile struct {
	rc     io.ReadCloser
	budget *fileBudget
	size   int64
	sum    string
	h      hash.Hash
	n      int64
}

func (c *checkedFile) Read(p []byte) (int, error) {
	if int64(len(p)) > c.budget.left+1 {
		p = p[:c.budget.left+1] // one byte more tells "at the limit" from "over it"
	}
	n, err := c.rc.Read(p)
	c.n += int64(n)
	c.budget.left -= int64(n)
	c.h.Write(p[:n])
	switch {
	// The gateway's copy is not the file it announced: sent again, it
	// would be the same (permanent, see sendError).
	case c.budget.left < 0:
		return n, fmt.Errorf("the files come to more than the %s one mail may carry", humanSize(c.budget.limit))
	case c.size > 0 && c.n > c.size:
		return n, fmt.Errorf("the gateway's copy is longer than its %d bytes", c.size)
	case err == io.EOF && c.size > 0 && c.n != c.size:
		return n, fmt.Errorf("the gateway's copy has %d bytes of %d", c.n, c.size)
	case err == io.EOF && c.sum != "" && hex.EncodeToString(c.h.Sum(nil)) != c.sum:
		return n, errors.New("the gateway's copy does not match its hash")
	// It could not be read for now.
	case err != nil && err != io.EOF:
		return n, fmt.Errorf("%w: %w", errFile, err)
	}
	return n, err
}

func (c *checkedFile) Close() error { return c.rc.Close() }

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
	case errors.Is(err, errFile):
		return fmt.Errorf("mail %s: %w", a.cfg.Network, err) // RetryLater
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
	ref, refMsgID := a.answered(out)
	var th *thread
	if refMsgID != "" {
		// The conversation of the message answered or corrected.
		if th, _, err = tx.byMessageID(ctx, refMsgID); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errStore, err)
		}
		if th != nil && (th.Persona != persona || th.Contact != contact) {
			th = nil
		}
	}
	if th == nil && out.Thread != "" {
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
	text, atts, err := a.mailBody(out, ref)
	if err != nil {
		return nil, nil, err
	}
	m := &compose.Message{
		From:        compose.Address{Name: out.Nick, Addr: lowerAddr(out.From)},
		To:          compose.Address{Addr: contact},
		Date:        now,
		MessageID:   msgID,
		Text:        text,
		Attachments: atts,
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
		if subject == "" && len(out.Files) > 0 {
			subject = fileName(&out.Files[0])
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
	if refMsgID != "" {
		// Answering, or correcting, that very mail, even when it is not
		// the thread's latest (or a new subject started a new thread).
		m.InReplyTo = refMsgID
		m.References = referencesTo(m.References, refMsgID)
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
		tx.saveSent(cur, msgID, out.ID)
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
		if max, ok := a.smtp.client.MaxMessageSize(); ok && max > 0 && len(raw) > max {
			// Known before a byte is sent (RFC 1870): as the server would
			// answer at the end, but said plainly, and the server's
			// limit is not the recipient's.
			return gateway.Permanent(fmt.Errorf("the mail with its files comes to %s, more than the %s the gateway's mail server %s takes",
				humanSize(int64(len(raw))), humanSize(int64(max)), a.cfg.SMTP.Server))
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
	if err := c.client.Mail(from, &smtp.MailOptions{Size: int64(len(raw))}); err != nil {
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
