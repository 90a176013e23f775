package mail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/kakehashi/kakehashi/adapters/mail/parse"
	"github.com/kakehashi/kakehashi/adapters/mail/verp"
	"github.com/kakehashi/kakehashi/gateway"
)

// bounceNotice is a delivery failure to report for a message the gateway
// sent.
type bounceNotice struct {
	id, reason string
}

// ingest turns a batch of raw mail into gateway messages and waits until
// the gateway has stored all of them. quarantine[i] says that raw[i] is to
// be quarantined rather than filed as processed. An error means some mail
// may not be stored: nothing of the batch may leave the inbox.
func (a *Adapter) ingest(ctx context.Context, core gateway.Core, mailbox string, raws []fetched) (quarantine []bool, err error) {
	quarantine = make([]bool, len(raws))
	parsed := make([]*parse.Mail, len(raws))
	opts := parse.Options{TrustedAuthServIDs: a.cfg.TrustedAuthServIDs}
	for i, f := range raws {
		m, err := parse.Parse(bytes.NewReader(f.raw), opts)
		if err != nil {
			a.quarantine(mailbox, f, nil, "cannot be read: "+err.Error())
			quarantine[i] = true
			continue
		}
		parsed[i] = m
	}

	tx, err := a.store.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var known []string
	for _, m := range parsed {
		if m != nil {
			known = append(append(known, m.MessageID, m.InReplyTo), m.References...)
		}
	}
	if err := tx.preload(ctx, known); err != nil {
		return nil, err
	}
	var msgs []*gateway.Message
	var bounces []bounceNotice
	for i, m := range parsed {
		if m == nil {
			continue
		}
		f := raws[i]
		if ret, ok := a.returnPath(m); ok || m.Bounce != nil {
			b, why := a.bounce(m, ret, ok)
			if why != "" {
				a.quarantine(mailbox, f, m, why)
				quarantine[i] = true
				continue
			}
			bounces = append(bounces, b)
			continue
		}
		if strings.EqualFold(m.DMARC, "fail") {
			a.quarantine(mailbox, f, m, "DMARC failed for the sender's domain "+domainOf(m.From.Addr)+": the mail is probably forged")
			quarantine[i] = true
			continue
		}
		if loop, err := a.isLoop(ctx, tx, m); err != nil {
			return nil, err
		} else if loop {
			a.log.Info("mail from the gateway itself dropped (mail loop)", "mailbox", mailbox, "uid", f.uid, "message_id", m.MessageID)
			continue
		}
		rcpts := a.recipients(m)
		if len(rcpts) == 0 {
			a.quarantine(mailbox, f, m, "no recipient at "+a.cfg.Domain+" (neither Delivered-To nor To/Cc names one)")
			quarantine[i] = true
			continue
		}
		for _, rcpt := range rcpts {
			gm, err := a.message(ctx, tx, m, f.raw, rcpt)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, gm)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, gm := range msgs {
		wg.Add(1)
		if err := core.Accept(ctx, gm, func(err error) {
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			wg.Done()
		}); err != nil {
			wg.Done()
			wg.Wait()
			return nil, err
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("the gateway did not store every mail: %w", err)
	}
	for _, b := range bounces {
		core.Failed(ctx, a.cfg.Network, b.id, b.reason)
	}
	return quarantine, nil
}

// quarantine logs why a mail is set aside; the caller moves it.
func (a *Adapter) quarantine(mailbox string, f fetched, m *parse.Mail, why string) {
	attrs := []any{"mailbox", mailbox, "uid", f.uid, "to_mailbox", a.cfg.IMAP.Quarantine, "reason", why}
	if m != nil {
		attrs = append(attrs, "message_id", m.MessageID, "from", m.From.Addr, "subject", m.Subject)
	}
	a.log.Warn("mail quarantined", attrs...)
}

// returnPath finds one of the gateway's bounce addresses among the
// envelope recipients.
func (a *Adapter) returnPath(m *parse.Mail) (string, bool) {
	for _, r := range m.DeliveredTo {
		if strings.HasPrefix(r, "bounces+") && strings.HasSuffix(r, "@"+a.cfg.Domain) {
			return r, true
		}
	}
	for _, t := range m.To {
		if strings.HasPrefix(t.Addr, "bounces+") && strings.HasSuffix(t.Addr, "@"+a.cfg.Domain) {
			return t.Addr, true
		}
	}
	return "", false
}

// bounce checks a bounce and words it for the person whose message it
// was; a non-empty why says it must be quarantined instead.
func (a *Adapter) bounce(m *parse.Mail, ret string, hasRet bool) (bounceNotice, string) {
	if !hasRet {
		return bounceNotice{}, "a delivery report that is not addressed to one of the gateway's return paths"
	}
	id, err := a.verp.Parse(ret, a.cfg.Now())
	switch {
	case errors.Is(err, verp.ErrExpired):
		return bounceNotice{}, "a bounce for a return path that has expired"
	case err != nil:
		return bounceNotice{}, "a bounce for a return path the gateway did not issue (" + err.Error() + ")"
	}
	if m.Bounce == nil {
		// Mail to a return path that is not a delivery report: an
		// auto-reply sent to the envelope sender, say. Nothing failed.
		return bounceNotice{}, "mail to a return path that is not a delivery report"
	}
	var parts []string
	for _, r := range m.Bounce.Recipients {
		if !strings.EqualFold(r.Action, "failed") && r.Action != "" {
			continue
		}
		p := r.Addr
		if r.Status != "" {
			p += ": " + r.Status
		}
		if r.Diagnostic != "" {
			p += " " + r.Diagnostic
		}
		parts = append(parts, strings.TrimSpace(p))
	}
	if len(parts) == 0 {
		if len(m.Bounce.Recipients) > 0 {
			// Only delays or successes reported: not a failure.
			return bounceNotice{}, "a delivery report that reports no failure"
		}
		parts = append(parts, "the recipient's mail server returned it")
	}
	return bounceNotice{id: id, reason: "bounced: " + clip(strings.Join(parts, "; "), 300)}, ""
}

// isLoop reports whether m is the gateway's own mail come back.
func (a *Adapter) isLoop(ctx context.Context, tx *threadTx, m *parse.Mail) (bool, error) {
	if domainOf(m.From.Addr) == a.cfg.Domain {
		return true, nil
	}
	if m.MessageID == "" {
		return false, nil
	}
	_, outbound, err := tx.byMessageID(ctx, m.MessageID)
	return outbound, err
}

// recipients are the persona addresses a mail was delivered for: the
// envelope recipient the receiving server stamped, or failing that the
// addresses at the gateway's domain in To and Cc.
func (a *Adapter) recipients(m *parse.Mail) []string {
	suffix := "@" + a.cfg.Domain
	for _, r := range m.DeliveredTo {
		if strings.HasSuffix(r, suffix) {
			return []string{r}
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, list := range [][]parse.Address{m.To, m.Cc} {
		for _, ad := range list {
			if strings.HasSuffix(ad.Addr, suffix) && !seen[ad.Addr] {
				seen[ad.Addr] = true
				out = append(out, ad.Addr)
			}
		}
	}
	return out
}

// message builds the gateway message for one recipient of m and records
// it in its thread.
func (a *Adapter) message(ctx context.Context, tx *threadTx, m *parse.Mail, raw []byte, rcpt string) (*gateway.Message, error) {
	contact := lowerAddr(m.From.Addr)
	msgID := m.MessageID
	if msgID == "" {
		sum := sha256.Sum256(raw)
		msgID = b32(sum[:15]) + "@no-message-id.invalid"
	}
	th, err := a.threadOf(ctx, tx, m, rcpt, contact)
	if err != nil {
		return nil, err
	}
	gm := &gateway.Message{
		Network: a.cfg.Network, From: contact, To: rcpt,
		// One stored message per recipient: the same mail to two personas
		// is two messages, and a redelivered copy is the same one again.
		ID:        msgID + " " + rcpt,
		Nick:      m.From.Name,
		Body:      render(m),
		Thread:    "",
		Automatic: m.Automatic,
	}
	isNew := th == nil
	if isNew {
		th = &thread{ID: a.store.mac(10, "thread", rcpt, contact, msgID), Persona: rcpt, Contact: contact, Subject: m.Subject}
	}
	if isNew || (m.Subject != "" && normSubject(m.Subject) != normSubject(th.Subject)) {
		gm.Subject = m.Subject
		th.Subject = m.Subject
	}
	gm.Thread = th.ID
	th.add(m.MessageID)
	th.Updated = a.cfg.Now()
	if err := tx.save(ctx, th, m.MessageID, false); err != nil {
		return nil, err
	}
	return gm, nil
}

// threadOf finds the conversation m continues: by In-Reply-To, then
// References, newest first.
func (a *Adapter) threadOf(ctx context.Context, tx *threadTx, m *parse.Mail, persona, contact string) (*thread, error) {
	ids := make([]string, 0, 1+len(m.References))
	if m.InReplyTo != "" {
		ids = append(ids, m.InReplyTo)
	}
	for i := len(m.References) - 1; i >= 0; i-- {
		ids = append(ids, m.References[i])
	}
	if m.MessageID != "" {
		ids = append(ids, m.MessageID) // a redelivered mail
	}
	for _, id := range ids {
		th, _, err := tx.byMessageID(ctx, id)
		if err != nil {
			return nil, err
		}
		if th != nil && th.Persona == persona && th.Contact == contact {
			return th, nil
		}
	}
	return nil, nil
}

// render is what the employee reads: what the contact wrote, the list of
// attachments, and a note when a machine wrote it.
func render(m *parse.Mail) string {
	var b strings.Builder
	if m.Automatic != "" {
		fmt.Fprintf(&b, "[automatic message: %s]\n", m.Automatic)
	}
	text := strings.TrimSpace(m.Text)
	switch {
	case text != "":
		b.WriteString(text)
	case len(m.Attachments) == 0:
		b.WriteString("(no text)")
	}
	if len(m.Attachments) > 0 {
		if text != "" {
			b.WriteString("\n\n")
		}
		b.WriteString("Attachments:")
		for _, at := range m.Attachments {
			fmt.Fprintf(&b, "\n- %s (%s)", at.Name, humanSize(at.Size))
		}
	}
	return b.String()
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", (n+1023)>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

func domainOf(addr string) string {
	_, d, _ := strings.Cut(addr, "@")
	return strings.ToLower(d)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
