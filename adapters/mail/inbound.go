package mail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kakehashi/kakehashi/adapters/mail/parse"
	"github.com/kakehashi/kakehashi/adapters/mail/verp"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/routing"

	"github.com/kakehashi/kakehashi/internal/textclip"
)

// bounceNotice is a delivery failure to report for a message the gateway
// sent.
type bounceNotice struct {
	id, reason string
	// gone, when not empty, says the contact's address is dead.
	gone string
}

// ingest turns a batch of raw mail into gateway messages and waits until
// the gateway has stored all of them. quarantine[i] says that raw[i] is to
// be quarantined rather than filed as processed. An error means some mail
// may not be stored: nothing of the batch may leave the inbox.
func (a *Adapter) ingest(ctx context.Context, core gateway.Core, mailbox string, raws []fetched) (quarantine []bool, err error) {
	p, err := a.accept(ctx, core, mailbox, raws, a.parseAll(raws))
	if err != nil {
		return nil, err
	}
	return p.wait(ctx, core)
}

// parsed is one mail of a batch as parse read it, or why it could not.
type parsed struct {
	m   *parse.Mail
	err error
}

// parseAll parses a batch of raw mail on all cores: parsing is the one
// part of ingest that needs nothing but the mail itself. out[i] is
// raws[i]'s.
func (a *Adapter) parseAll(raws []fetched) []parsed {
	out := make([]parsed, len(raws))
	opts := parse.Options{TrustedAuthServIDs: a.cfg.TrustedAuthServIDs}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(runtime.GOMAXPROCS(0), len(raws)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(raws) {
					return
				}
				out[i].m, out[i].err = parse.Bytes(raws[i].raw, opts)
			}
		})
	}
	wg.Wait()
	return out
}

// pending is a batch handed to the gateway, whose commits are still to
// come.
type pending struct {
	network string
	raws    []fetched
	parsed  []*parse.Mail
	// quarantine[i] says that raws[i] is to be quarantined; written under
	// mu until wg is done.
	quarantine []bool
	wg         sync.WaitGroup
	mu         sync.Mutex
	errs       []error
	bounces    []bounceNotice
	unsubs     []string // IDs of the broadcasts unsubscribed from
}

// accept turns a parsed batch of raw mail into gateway messages, one mail
// after the other in the batch's order: it stores the threads they
// continue (before the gateway may relay anything that names them) and
// hands the messages to the gateway in that order, which the gateway
// keeps. It does not wait for the gateway's commits: wait does. An error
// means some mail may not be stored: nothing of the batch may leave the
// inbox.
func (a *Adapter) accept(ctx context.Context, core gateway.Core, mailbox string, raws []fetched, read []parsed) (*pending, error) {
	p := &pending{network: a.cfg.Network, raws: raws, quarantine: make([]bool, len(raws)), parsed: make([]*parse.Mail, len(raws))}
	quarantine, parsed := p.quarantine, p.parsed
	for i, r := range read {
		if r.err != nil {
			a.quarantine(mailbox, raws[i], nil, "cannot be read: "+r.err.Error())
			quarantine[i] = true
			continue
		}
		parsed[i] = r.m
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
	var of []int // of[k] is the index in raws of msgs[k]
	for i, m := range parsed {
		if m == nil {
			continue
		}
		f := raws[i]
		a.envelopeRecipients(m)
		if addr, ok := a.ownAddress(m, a.unsub.Local+"+"); ok && m.Bounce == nil {
			id, err := a.unsub.Parse(addr, a.cfg.Now())
			if err != nil {
				a.quarantine(mailbox, f, m, "an unsubscribe request to an address the gateway did not issue or that expired ("+err.Error()+")")
				quarantine[i] = true
				continue
			}
			p.unsubs = append(p.unsubs, id)
			continue
		}
		if ret, ok := a.ownAddress(m, a.verp.Local+"+"); ok || m.Bounce != nil {
			b, why := a.bounce(m, ret, ok)
			if why != "" {
				a.quarantine(mailbox, f, m, why)
				quarantine[i] = true
				continue
			}
			p.bounces = append(p.bounces, b)
			continue
		}
		if strings.EqualFold(m.DMARC, "fail") {
			a.quarantine(mailbox, f, m, "DMARC failed for the sender's domain "+domainOf(m.From.Addr)+": the mail is probably forged")
			quarantine[i] = true
			continue
		}
		// One spelling per contact: a From that has none never becomes one.
		from, err := a.canonical(m.From.Addr)
		if err != nil {
			a.quarantine(mailbox, f, m, "the sender's address (From) cannot be used: "+err.Error())
			quarantine[i] = true
			continue
		}
		if loop, err := a.isLoop(ctx, tx, m, from); err != nil {
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
		replyTo, silent := a.answerTo(m, from)
		if replyTo == "" && m.Automatic == "" {
			// Mail for an address nobody has would only be refused, and a
			// refusal may not go out: set it aside for a person to see
			// rather than drop it. (Automatic mail the gateway drops
			// itself, as ever.)
			rcpts = a.known(core, m, f, mailbox, rcpts, silent)
			if len(rcpts) == 0 {
				a.quarantine(mailbox, f, m, "for an address nobody has here, and not to be answered: "+silent)
				quarantine[i] = true
				continue
			}
		}
		files := files(m)
		for _, rcpt := range rcpts {
			gm, err := a.message(ctx, tx, m, f.raw, from, rcpt)
			if err != nil {
				return nil, err
			}
			gm.ReplyTo = replyTo
			gm.Files = slices.Clone(files)
			msgs = append(msgs, gm)
			of = append(of, i)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}

	for k, gm := range msgs {
		p.wg.Add(1)
		if err := core.Accept(ctx, gm, func(err error) {
			defer p.wg.Done()
			var unanswered *gateway.UnansweredError
			switch {
			case errors.As(err, &unanswered):
				// Refused, and its sender may not be told: a person looks
				// at it in quarantine rather than nobody ever.
				a.quarantine(mailbox, raws[of[k]], parsed[of[k]], "refused ("+unanswered.Refusal.Text+"), and its sender is not vouched for, so not told")
				p.mu.Lock()
				quarantine[of[k]] = true
				p.mu.Unlock()
			case err != nil:
				p.mu.Lock()
				p.errs = append(p.errs, err)
				p.mu.Unlock()
			}
		}); err != nil {
			p.wg.Done()
			p.wg.Wait()
			return nil, err
		}
	}
	return p, nil
}

// wait waits until the gateway has stored every message of the batch,
// then reports its bounces and unsubscriptions. quarantine[i] says that
// the batch's raws[i] is to be quarantined rather than filed as
// processed. An error means some mail may not be stored: nothing of the
// batch may leave the inbox. When ctx ends first, wait gives up: the
// mail stays in the inbox and is read again (the gateway drops what it
// has stored already).
func (p *pending) wait(ctx context.Context, core gateway.Core) (quarantine []bool, err error) {
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := errors.Join(p.errs...); err != nil {
		return nil, fmt.Errorf("the gateway did not store every mail: %w", err)
	}
	for _, b := range p.bounces {
		core.Failed(ctx, gateway.Bounce{Network: p.network, ID: b.id, Reason: b.reason, Gone: b.gone})
	}
	if tracker, ok := core.(gateway.ContactTracker); ok {
		for _, id := range p.unsubs {
			tracker.ContactUnreachable(ctx, p.network, id, "unsubscribed from your mail")
		}
	}
	return p.quarantine, nil
}

// quarantine logs why a mail is set aside; the caller moves it.
func (a *Adapter) quarantine(mailbox string, f fetched, m *parse.Mail, why string) {
	attrs := []any{"mailbox", mailbox, "uid", f.uid, "to_mailbox", a.cfg.IMAP.Quarantine, "reason", why}
	if m != nil {
		attrs = append(attrs, "message_id", m.MessageID, "from", m.From.Addr, "subject", m.Subject)
	}
	a.log.Warn("mail quarantined", attrs...)
}

// isRobot reports whether addr's local part belongs to a mail system, not
// a person (RFC 3834 §2, and the lists' and senders' own conventions):
// the gateway never answers one.
func isRobot(addr string) bool {
	local, _, _ := strings.Cut(addr, "@")
	switch local {
	case "mailer-daemon", "listserv", "majordomo", "noreply", "no-reply", "donotreply", "do-not-reply":
		return true
	}
	return strings.HasPrefix(local, "owner-") || strings.HasSuffix(local, "-request") ||
		strings.HasSuffix(local, "-owner") || strings.HasSuffix(local, "-bounces")
}

// answerTo says where the gateway may answer m (refuse it, report that
// it could not be delivered): its envelope sender, never the From header
// (anyone can write any From, and the answer would go to whoever they
// name: backscatter). Only when the envelope sender is a person's
// address that a trusted receiving server vouched for: SPF passed for its
// domain, or DMARC passed for the From domain. Otherwise to is "" and why
// says why not.
func (a *Adapter) answerTo(m *parse.Mail, from string) (to, why string) {
	switch {
	case m.NullSender:
		return "", "its envelope sender is null (<>)"
	case m.ReturnPath == "":
		return "", "it has no envelope sender (Return-Path)"
	case m.Automatic != "":
		return "", "a machine sent it (" + m.Automatic + ")"
	}
	rp, err := a.canonical(m.ReturnPath)
	switch {
	case err != nil:
		return "", "its envelope sender cannot be written to: " + err.Error()
	case domainOf(rp) == a.cfg.Domain:
		return "", "its envelope sender " + rp + " is the gateway's own"
	case isRobot(rp) || isRobot(from):
		return "", "its sender " + rp + " is a mail system, not a person (RFC 3834)"
	}
	spf := strings.EqualFold(m.SPF, "pass")
	// DMARC vouches for the From domain, not for the envelope sender: it
	// speaks for the Return-Path only when that is in the same domain
	// (RFC 7489 relaxed alignment). Otherwise a sender with DMARC on a
	// domain of their own could have the answer sent to anyone.
	dmarc := strings.EqualFold(m.DMARC, "pass") && aligned(domainOf(rp), domainOf(from))
	if !spf && !dmarc {
		if len(a.cfg.TrustedAuthServIDs) == 0 {
			return "", "no trusted receiving server is configured (trusted_authserv_ids) to vouch for its sender"
		}
		return "", fmt.Sprintf("neither SPF for %s (%s) nor DMARC for %s (%s, aligned with the envelope sender: %v) passed at %s",
			domainOf(rp), orNone(m.SPF), domainOf(from), orNone(m.DMARC), aligned(domainOf(rp), domainOf(from)), strings.Join(a.cfg.TrustedAuthServIDs, ", "))
	}
	return rp, ""
}

// aligned reports whether two domains are the same or one is below the
// other: what DMARC's relaxed alignment accepts, without a public suffix
// list (so it is stricter: example.co.uk and other.co.uk are not aligned
// here, nor are a.example.com and b.example.com).
func aligned(a, b string) bool {
	return a == b || strings.HasSuffix(a, "."+b) || strings.HasSuffix(b, "."+a)
}

func orNone(result string) string {
	if result == "" {
		return "no result"
	}
	return result
}

// known keeps the recipients of m someone answers at, and logs the
// others, which are not relayed and, as m may not be answered (why), not
// refused either.
func (a *Adapter) known(core gateway.Core, m *parse.Mail, f fetched, mailbox string, rcpts []string, why string) []string {
	var out []string
	for _, r := range rcpts {
		if _, ok := core.Profile(a.cfg.Network, r); ok {
			out = append(out, r)
			continue
		}
		a.log.Warn("mail for an address nobody has is not answered", "mailbox", mailbox, "uid", f.uid,
			"message_id", m.MessageID, "from", m.From.Addr, "to", r, "why", why)
	}
	return out
}

// envelopeRecipients puts m's envelope recipients (Delivered-To) in their
// one spelling, and drops those that have none.
func (a *Adapter) envelopeRecipients(m *parse.Mail) {
	out := m.DeliveredTo[:0]
	for _, r := range m.DeliveredTo {
		if c, err := a.canonicalOwn(r); err == nil {
			out = append(out, c)
		}
	}
	m.DeliveredTo = out
}

// ownAddress finds a recipient at the gateway's domain whose local part
// starts with prefix, in Delivered-To, else in To: one of the gateway's
// return paths (a.verp.Local+"+") or unsubscribe addresses
// (a.unsub.Local+"+").
func (a *Adapter) ownAddress(m *parse.Mail, prefix string) (string, bool) {
	for _, r := range m.DeliveredTo {
		if strings.HasPrefix(r, prefix) && strings.HasSuffix(r, "@"+a.cfg.Domain) {
			return r, true
		}
	}
	for _, t := range m.To {
		addr, err := a.canonicalOwn(t.Addr)
		if err == nil && strings.HasPrefix(addr, prefix) && strings.HasSuffix(addr, "@"+a.cfg.Domain) {
			return addr, true
		}
	}
	return "", false
}

// deadAddress reads a status code (RFC 3463), a DSN's or an SMTP
// answer's, for what it says about the recipient's address itself. It
// tells two things apart for the author of the message:
//
//   - the address is wrong: 5.1.0 (an address problem), 5.1.1 (no such
//     mailbox), 5.1.2 (no such domain), 5.1.3 (not a valid address),
//     5.1.10 (the domain accepts no mail, RFC 7505). A relationship that
//     never worked has nothing to lose: the gateway tells the author and
//     marks nothing.
//   - the contact is gone: 5.2.1 (mailbox disabled) and 5.1.6 (mailbox
//     moved, no forwarding address): an address that worked is closed.
//
// plain says it in a few words for the failure notice; gone is the same
// worded to follow the contact's address ("bob@x has an address that does
// not exist (5.1.1)"), for SendError.Gone and Core.Failed. ok is
// false for everything else: a full mailbox (5.2.2), a rejection for
// content or policy (5.7.x), a problem with the sender's own address
// (5.1.7, 5.1.8), a network problem say nothing about the address.
func deadAddress(status string) (plain, gone string, ok bool) {
	switch status {
	case "5.1.0", "5.1.1":
		return "the address does not exist", "has an address that does not exist (" + status + ")", true
	case "5.1.2":
		return "the address's domain does not exist", "has an address whose domain does not exist (" + status + ")", true
	case "5.1.3":
		return "the address is not a valid mail address", "has an address that is not a valid mail address (" + status + ")", true
	case "5.1.10":
		return "the address's domain accepts no mail", "has an address whose domain accepts no mail (" + status + ")", true
	case "5.2.1":
		return "the contact closed their account (mailbox disabled)", "closed their account: their mailbox is disabled (" + status + ")", true
	case "5.1.6":
		return "the contact closed their account (mailbox moved, no new address given)", "closed their account: their mailbox has moved and left no new address (" + status + ")", true
	}
	return "", "", false
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
	plain, gone := "", ""
	for _, r := range m.Bounce.Recipients {
		if !strings.EqualFold(r.Action, "failed") && r.Action != "" {
			continue
		}
		if gone == "" {
			plain, gone, _ = deadAddress(r.Status)
		}
		p := r.Addr
		if c, err := a.canonical(r.Addr); err == nil {
			p = c
		}
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
	reason := "bounced: " + textclip.Clip(strings.Join(parts, "; "), 300)
	if plain != "" {
		reason = plain + " (" + reason + ")"
	}
	return bounceNotice{id: id, reason: reason, gone: gone}, ""
}

// isLoop reports whether m, from from, is the gateway's own mail come
// back.
func (a *Adapter) isLoop(ctx context.Context, tx *threadTx, m *parse.Mail, from string) (bool, error) {
	if domainOf(from) == a.cfg.Domain {
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
			addr, err := a.canonicalOwn(ad.Addr)
			if err == nil && strings.HasSuffix(addr, suffix) && !seen[addr] {
				seen[addr] = true
				out = append(out, addr)
			}
		}
	}
	return out
}

// noMessageID is the domain of the Message-IDs ingest makes up for mail
// that has none: no mail can answer one.
const noMessageID = "no-message-id.invalid"

// message builds the gateway message from contact (m's From, canonical)
// for one recipient of m and records it in its thread.
func (a *Adapter) message(ctx context.Context, tx *threadTx, m *parse.Mail, raw []byte, contact, rcpt string) (*gateway.Message, error) {
	msgID := m.MessageID
	if msgID == "" {
		sum := sha256.Sum256(raw)
		msgID = b32(sum[:15]) + "@" + noMessageID
	}
	// Threads are the persona's: a mail to sales+expo2026@ continues in
	// the persona's answers from sales@.
	persona := threadPersona(rcpt)
	th, err := a.threadOf(ctx, tx, m, persona, contact)
	if err != nil {
		return nil, err
	}
	refs, err := a.replyRefs(ctx, tx, m, persona, contact, rcpt)
	if err != nil {
		return nil, err
	}
	gm := &gateway.Message{
		Network: a.cfg.Network, From: contact, To: rcpt,
		Refs: refs,
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
		th = a.newThread(persona, contact, msgID, m.Subject)
	}
	show := isNew || (m.Subject != "" && normSubject(m.Subject) != normSubject(th.Subject))
	if r := tx.ref(m.MessageID); r.threadID == th.ID && r.kind != refOutbound {
		// This mail again (it was stored, but not moved out of the inbox):
		// the same message as the first time, subject or not, so that the
		// gateway knows it for the duplicate it is.
		show = r.kind == refInboundSubject
	}
	kind := int64(refInbound)
	if show {
		gm.Subject = m.Subject
		th.Subject = m.Subject
		kind = refInboundSubject
	}
	gm.Thread = th.ID
	th.add(m.MessageID)
	th.Updated = a.cfg.Now()
	tx.save(th, m.MessageID, kind)
	return gm, nil
}

// replyRefs is the reference m's In-Reply-To makes, by the ID the gateway
// knows the answered message by: for a mail the gateway sent, the
// gateway's own ID of it (kept beside its Message-ID, a keyed digest of
// that ID which cannot be read back); for the contact's own earlier mail,
// the ID message gave it (its Message-ID and the persona address, as
// Message.ID is here). A Message-ID of another conversation or one this
// adapter never saw makes none: the gateway would only drop it.
func (a *Adapter) replyRefs(ctx context.Context, tx *threadTx, m *parse.Mail, persona, contact, rcpt string) ([]gateway.Ref, error) {
	id := m.InReplyTo
	if id == "" || id == m.MessageID {
		return nil, nil
	}
	th, _, err := tx.byMessageID(ctx, id)
	if err != nil || th == nil || th.Persona != persona || th.Contact != contact {
		return nil, err
	}
	r := tx.ref(id)
	if r.kind != refOutbound {
		return []gateway.Ref{{Kind: gateway.RefReply, ID: id + " " + rcpt}}, nil
	}
	if r.gatewayID == "" {
		return nil, nil // sent before the adapter kept the gateway's IDs
	}
	return []gateway.Ref{{Kind: gateway.RefReply, ID: r.gatewayID}}, nil
}

// files are m's attachments as the gateway carries them: every part that
// is not the body, in MIME order. Inline images (the text says "[image:
// name]" where the HTML showed one), forwarded messages (named after their
// subject), signatures (smime.p7s, signature.asc) and winmail.dat are
// files too: the gateway passes on what the contact sent and does not
// judge it. Open reads the bytes parse found in the raw mail, which ingest
// keeps until the gateway has stored the message and, with it, the files
// in its spool; SHA256 lets the spool check its copy.
func files(m *parse.Mail) []gateway.Attachment {
	if len(m.Attachments) == 0 {
		return nil
	}
	out := make([]gateway.Attachment, 0, len(m.Attachments))
	for _, at := range m.Attachments {
		data := at.Data
		sum := sha256.Sum256(data)
		out = append(out, gateway.Attachment{
			Name: at.Name, MediaType: at.ContentType, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]),
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		})
	}
	return out
}

// threadPersona is the address a persona's threads are filed under: its
// own, without a source tag.
func threadPersona(addr string) string {
	base, _, _ := routing.SplitSource(addr)
	return base
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

// render is what the employee reads: what the contact wrote, and a note
// when a machine wrote it. The attachments are not listed: they cross as
// the message's files. A mail of files alone has no text.
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
	return strings.TrimSuffix(b.String(), "\n")
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
