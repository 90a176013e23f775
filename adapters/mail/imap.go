package mail

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/kakehashi/kakehashi/gateway"
)

// Run implements gateway.Adapter: read the mailbox, and reconnect with
// exponential backoff until ctx ends.
func (a *Adapter) Run(ctx context.Context, core gateway.Core) error {
	gateway.Reconnect(ctx, 200*time.Millisecond, a.cfg.MaxBackoff,
		func(ctx context.Context) error {
			defer a.imapUp.Store(false)
			return a.serveIMAP(ctx, core)
		},
		func(err error, wait time.Duration) {
			a.log.Warn("imap connection lost; reconnecting", "in", wait.Round(time.Millisecond), "err", err)
		})
	return nil
}

// mailboxes are the server's names of the three mailboxes the adapter uses.
type mailboxes struct {
	inbox, processed, quarantine string
}

func (a *Adapter) serveIMAP(ctx context.Context, core gateway.Core) error {
	newMail := make(chan struct{}, 1)
	opts := &imapclient.Options{
		TLSConfig: a.tlsConfig(a.cfg.IMAP.TLSConfig, a.cfg.IMAP.Server),
		Dialer:    &net.Dialer{Timeout: 30 * time.Second},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case newMail <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	var (
		c   *imapclient.Client
		err error
	)
	switch a.cfg.IMAP.TLS {
	case TLSNone:
		c, err = imapclient.DialInsecure(a.cfg.IMAP.Server, opts)
	case TLSImplicit:
		c, err = imapclient.DialTLS(a.cfg.IMAP.Server, opts)
	default:
		c, err = imapclient.DialStartTLS(a.cfg.IMAP.Server, opts)
	}
	if err != nil {
		return fmt.Errorf("imap %s: %w", a.cfg.IMAP.Server, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.Login(a.cfg.IMAP.Username, a.cfg.IMAP.Password).Wait(); err != nil {
		return fmt.Errorf("imap login as %s: %w", a.cfg.IMAP.Username, err)
	}
	boxes, err := a.prepareMailboxes(c)
	if err != nil {
		return err
	}
	sel, err := c.Select(boxes.inbox, nil).Wait()
	if err != nil {
		return fmt.Errorf("imap select %s: %w", boxes.inbox, err)
	}
	st, err := a.store.mailbox(ctx, boxes.inbox)
	if err != nil {
		return err
	}
	if st.UIDValidity != sel.UIDValidity {
		if st.UIDValidity != 0 {
			// UIDs mean something else now. Everything still in the
			// mailbox is read again; the gateway drops what it has already
			// stored (by Message-ID), so nothing is delivered twice.
			a.log.Warn("imap UIDVALIDITY changed; reading the mailbox again", "mailbox", boxes.inbox,
				"was", st.UIDValidity, "now", sel.UIDValidity)
		}
		st = mailboxState{UIDValidity: sel.UIDValidity}
		if err := a.store.setMailbox(ctx, boxes.inbox, st); err != nil {
			return err
		}
	}
	a.imapUp.Store(true)
	// A short outage after this session is retried from the shortest wait.
	gateway.SessionUp(ctx)
	a.log.Info("imap connected", "server", a.cfg.IMAP.Server, "mailbox", boxes.inbox,
		"idle", c.Caps().Has(imap.CapIdle), "move", c.Caps().Has(imap.CapMove))
	for {
		if err := a.drain(ctx, core, c, boxes, &st); err != nil {
			return err
		}
		if err := a.wait(ctx, c, newMail); err != nil {
			return err
		}
	}
}

// prepareMailboxes maps the configured names to the server's hierarchy
// separator and creates the processed and quarantine mailboxes.
func (a *Adapter) prepareMailboxes(c *imapclient.Client) (mailboxes, error) {
	sep := "/"
	list, err := c.List("", "", nil).Collect()
	if err != nil {
		return mailboxes{}, fmt.Errorf("imap list: %w", err)
	}
	if len(list) > 0 && list[0].Delim != 0 {
		sep = string(list[0].Delim)
	}
	name := func(s string) string { return strings.ReplaceAll(s, "/", sep) }
	b := mailboxes{inbox: name(a.cfg.IMAP.Mailbox), processed: name(a.cfg.IMAP.Processed), quarantine: name(a.cfg.IMAP.Quarantine)}
	existing, err := c.List("", "*", nil).Collect()
	if err != nil {
		return b, fmt.Errorf("imap list: %w", err)
	}
	have := map[string]bool{}
	for _, m := range existing {
		have[m.Mailbox] = true
	}
	for _, mb := range []string{b.processed, b.quarantine} {
		if have[mb] {
			continue
		}
		if err := c.Create(mb, nil).Wait(); err != nil {
			var ie *imap.Error
			if !errors.As(err, &ie) || ie.Code != imap.ResponseCodeAlreadyExists {
				return b, fmt.Errorf("imap create %s: %w", mb, err)
			}
		}
	}
	return b, nil
}

// wait returns when new mail may have arrived: IDLE where the server has
// it (re-armed every IdleInterval), polling otherwise.
func (a *Adapter) wait(ctx context.Context, c *imapclient.Client, newMail <-chan struct{}) error {
	if !c.Caps().Has(imap.CapIdle) {
		select {
		case <-time.After(a.cfg.IMAP.PollInterval):
		case <-newMail:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := c.Noop().Wait(); err != nil {
			return fmt.Errorf("imap noop: %w", err)
		}
		return nil
	}
	idle, err := c.Idle()
	if err != nil {
		return fmt.Errorf("imap idle: %w", err)
	}
	t := time.NewTimer(a.cfg.IMAP.IdleInterval)
	defer t.Stop()
	select {
	case <-newMail:
	case <-t.C:
	case <-ctx.Done():
	case <-c.Closed():
	}
	if err := idle.Close(); err != nil {
		return fmt.Errorf("imap idle: %w", err)
	}
	if err := idle.Wait(); err != nil {
		return fmt.Errorf("imap idle: %w", err)
	}
	return ctx.Err()
}

// drain handles everything in the mailbox, a batch at a time. Mail at or
// below the last UID was handled before but not moved yet (a crash between
// the two): it is only moved.
func (a *Adapter) drain(ctx context.Context, core gateway.Core, c *imapclient.Client, boxes mailboxes, st *mailboxState) error {
	for {
		// One search per pass, not per batch: with a large backlog the
		// answer lists every UID in the mailbox.
		res, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			return fmt.Errorf("imap search: %w", err)
		}
		uids := res.AllUIDs()
		if len(uids) == 0 {
			return nil
		}
		slices.Sort(uids)
		var done, todo []imap.UID
		for _, u := range uids {
			if uint32(u) <= st.LastUID {
				done = append(done, u)
			} else {
				todo = append(todo, u)
			}
		}
		a.log.Debug("imap pass", "to_read", len(todo), "to_file", len(done))
		if err := move(c, done, boxes.processed); err != nil {
			return err
		}
		if err := a.pipeline(ctx, core, c, boxes, st, todo); err != nil {
			return err
		}
	}
}

// inBatch is one batch of mail on its way through the pipeline.
type inBatch struct {
	raws   []fetched
	read   []parsed
	p      *pending
	t0, t1 time.Time // the fetch began, the batch was fetched and parsed
	ta, t2 time.Time // accept began, the batch was handed to the gateway
	tf     time.Time // filing began (waiting for the gateway's commits)
}

// pipeline takes the mail of todo (UIDs, ascending) a batch at a time,
// in three stages that run at once, each on its own batch, so that the
// server, the parser and the two databases all work together:
//
//  1. fetch: the batch's sizes and bytes (FETCH), then parse it on all
//     cores;
//  2. accept: store the threads it continues and hand its messages to the
//     gateway, batch after batch in UID order, which is the order in which
//     the gateway takes them (so one sender's mail stays in order);
//  3. file: wait until the gateway has committed every message of the
//     batch, record the last UID, move the batch out of the inbox (MOVE).
//
// So the next batch's FETCH goes out while this one's MOVE is under way,
// and a mail still leaves the inbox only after the gateway's commit of
// what it produced. At most three batches are held at once. The first
// error stops every stage; a batch not filed stays in the inbox and is
// read again (the gateway drops what it has already stored).
func (a *Adapter) pipeline(ctx context.Context, core gateway.Core, c *imapclient.Client, boxes mailboxes, st *mailboxState, todo []imap.UID) error {
	if len(todo) == 0 {
		return nil
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	fail := func(err error) {
		once.Do(func() { first = err })
		cancel()
	}
	fetchedCh, acceptedCh := make(chan *inBatch), make(chan *inBatch)
	wg.Go(func() {
		defer close(fetchedCh)
		sizes := make(map[imap.UID]int64)
		for len(todo) > 0 {
			b, n, err := a.fetch(c, todo, sizes)
			if err != nil {
				fail(err)
				return
			}
			todo = todo[n:]
			select {
			case fetchedCh <- b:
			case <-ctx.Done():
				return
			}
		}
	})
	wg.Go(func() {
		defer close(acceptedCh)
		for b := range fetchedCh {
			b.ta = time.Now()
			p, err := a.accept(ctx, core, boxes.inbox, b.raws, b.read)
			if err != nil {
				fail(err)
				return
			}
			b.p, b.read, b.t2 = p, nil, time.Now()
			select {
			case acceptedCh <- b:
			case <-ctx.Done():
				return
			}
		}
	})
	for b := range acceptedCh {
		b.tf = time.Now()
		if err := a.file(ctx, core, c, boxes, st, b); err != nil {
			fail(err)
			break
		}
	}
	// Unblock the other stages (a failed filing leaves them waiting).
	cancel()
	wg.Wait()
	if first != nil {
		return first
	}
	return parent.Err()
}

// sizesAhead is how many batches' sizes one FETCH RFC822.SIZE asks for.
const sizesAhead = 16

// fetch fetches and parses the first batch of todo: at most BatchSize
// mails and BatchBytes of mail (at least one mail). n is how many of
// todo's UIDs it covers; a mail deleted meanwhile is not in the batch.
// sizes holds the sizes of mails to come, fetched sizesAhead batches at a
// time.
func (a *Adapter) fetch(c *imapclient.Client, todo []imap.UID, sizes map[imap.UID]int64) (b *inBatch, n int, err error) {
	t0 := time.Now()
	uids, err := a.bySize(c, todo, sizes)
	if err != nil {
		return nil, 0, err
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return nil, 0, fmt.Errorf("imap fetch: %w", err)
	}
	slices.SortFunc(msgs, func(x, y *imapclient.FetchMessageBuffer) int { return cmp.Compare(x.UID, y.UID) })
	raws := make([]fetched, 0, len(msgs))
	for _, m := range msgs {
		raws = append(raws, fetched{uid: m.UID, raw: m.FindBodySection(section)})
	}
	for _, u := range uids {
		delete(sizes, u)
	}
	b = &inBatch{raws: raws, read: a.parseAll(raws), t0: t0}
	b.t1 = time.Now()
	return b, len(uids), nil
}

// bySize is the first batch of todo: a prefix of at most BatchSize mails
// and BatchBytes of mail (at least one), so a batch of large mails does
// not have to fit in memory at once. It asks the server for the sizes it
// does not have in sizes yet. A mail the server no longer has counts as
// empty.
func (a *Adapter) bySize(c *imapclient.Client, todo []imap.UID, sizes map[imap.UID]int64) ([]imap.UID, error) {
	uids := todo[:min(len(todo), a.cfg.BatchSize)]
	if _, ok := sizes[uids[len(uids)-1]]; !ok {
		ask := todo[:min(len(todo), sizesAhead*a.cfg.BatchSize)]
		msgs, err := c.Fetch(imap.UIDSetNum(ask...), &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
		if err != nil {
			return nil, fmt.Errorf("imap fetch sizes: %w", err)
		}
		for _, u := range ask {
			sizes[u] = 0
		}
		for _, m := range msgs {
			sizes[m.UID] = m.RFC822Size
		}
	}
	var total int64
	for i, u := range uids {
		total += sizes[u]
		if i > 0 && total > a.cfg.BatchBytes {
			return uids[:i], nil
		}
	}
	return uids, nil
}

func move(c *imapclient.Client, uids []imap.UID, to string) error {
	if len(uids) == 0 {
		return nil
	}
	if _, err := c.Move(imap.UIDSetNum(uids...), to).Wait(); err != nil {
		return fmt.Errorf("imap move to %s: %w", to, err)
	}
	return nil
}

// file waits until the gateway has stored every mail of the batch, then
// files it. The last UID advances only after that, and mail leaves the
// inbox only after that.
func (a *Adapter) file(ctx context.Context, core gateway.Core, c *imapclient.Client, boxes mailboxes, st *mailboxState, b *inBatch) error {
	outcome, err := b.p.wait(ctx, core)
	if err != nil {
		return err
	}
	t3 := time.Now()
	defer func() {
		a.log.Debug("mail batch", "mails", len(b.raws), "fetch", b.t1.Sub(b.t0), "accept", b.t2.Sub(b.ta),
			"stored", t3.Sub(b.tf), "filed", time.Since(t3), "at", b.t0.Format("05.000"), "queued", b.ta.Sub(b.t1)+b.tf.Sub(b.t2))
	}()
	var processed, quarantined []imap.UID
	for i, f := range b.raws {
		if outcome[i] {
			quarantined = append(quarantined, f.uid)
		} else {
			processed = append(processed, f.uid)
		}
	}
	// Quarantine first: once the last UID has moved past a mail, a retry
	// would only file it as processed.
	if err := move(c, quarantined, boxes.quarantine); err != nil {
		return err
	}
	// The processed MOVE goes out while the last UID is written: the
	// gateway has stored the batch, which is all the MOVE waits for. The
	// last UID only spares a retry the work on mail that was stored but
	// is still in the inbox; a MOVE that is done before it is written
	// leaves nothing in the inbox to redo.
	var mv *imapclient.MoveCommand
	if len(processed) > 0 {
		mv = c.Move(imap.UIDSetNum(processed...), boxes.processed)
	}
	if n := len(b.raws); n > 0 {
		st.LastUID = uint32(b.raws[n-1].uid)
		err = a.store.setMailbox(ctx, boxes.inbox, *st)
	}
	if mv != nil {
		if _, merr := mv.Wait(); merr != nil {
			return fmt.Errorf("imap move to %s: %w", boxes.processed, merr)
		}
	}
	return err
}

// fetched is one raw mail from the mailbox.
type fetched struct {
	uid imap.UID
	raw []byte
}
