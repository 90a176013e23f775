package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", for the baseline

	"github.com/kakehashi/kakehashi/internal/testenv"
)

// BenchmarkMailIngest is the end-to-end mail ingest benchmark: N mails in
// the gateway's mailbox on a real Dovecot, through the gateway (parse,
// route, durable commit, move to the processed folder) to an employee's
// XMPP client on a real Prosody, against the same mails taken in the same
// run and measured the same way by the baseline: what any correct consumer
// must do (see baseline: fetch, durable write, move to a processed folder,
// a batch at a time). Both IDLE on their mailbox and are timed from the
// MOVE that fills it. The baseline on a mailbox already full (no wait for
// the server's word) and a plain fetch of the bytes alone are shown too,
// for information.
//
//	make bench-e2e    (go test ./e2e -run '^$' -bench MailIngest -benchtime 1x -v)
//
// Environment: KAKEHASHI_BENCH_MAIL_N (mails, default 2000).
func BenchmarkMailIngest(b *testing.B) {
	n := envInt("KAKEHASHI_BENCH_MAIL_N", 2000)
	w := newWorld(b, worldOptions{logLevel: envStr("KAKEHASHI_BENCH_LOG", "warn"), mail: true})
	hana := w.client("hana")
	// bob becomes hana's contact first, so every benchmark mail is routed
	// to an owner.
	w.sendMail(bobMail, hanaAddr, "Hello", "first")
	message(b, hana)

	type row struct {
		name string
		d    time.Duration
	}
	var rows []row
	var notified []time.Duration
	var cpu []cpuUse // per run: the baseline's, the gateway's
	for i := 0; i < b.N; i++ {
		// The mails go from mailbox to mailbox: each run takes them from
		// where the one before filed them.
		staging := fmt.Sprintf("Bench%d", i)
		w.stageMails(b, staging, n, i)
		rows = append(rows, row{"plain IMAP fetch (information)", w.plainFetch(b, staging, n)})
		rows = append(rows, row{"baseline, mailbox already full (information)", w.baselineFull(b, staging, staging+"A", n)})
		c0 := w.cpuNow()
		d, nt := w.baselineIdle(b, staging+"A", staging+"B", n)
		c1 := w.cpuNow()
		rows = append(rows, row{"baseline: fetch, durable write, move", d})
		notified = append(notified, nt)
		rows = append(rows, row{"gateway ingest", w.ingest(b, hana, staging+"B", n)})
		cpu = append(cpu, c1.since(c0), w.cpuNow().since(c1))
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "run\tmails\ttime\tmails/s")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%v\t%.0f\n", r.name, n, r.d.Round(time.Millisecond), float64(n)/r.d.Seconds())
	}
	tw.Flush()
	plain, full, base, gw := rows[0].d, rows[1].d, rows[2].d, rows[3].d
	fmt.Printf("baseline told of the mail by the server after %v (the gateway waits as long)\n", notified[0].Round(time.Millisecond))
	// Both include the wait for the server's word, when the machine idles.
	fmt.Printf("CPU during the baseline: %v\n", cpu[0])
	fmt.Printf("CPU during the gateway ingest: %v\n", cpu[1])
	fmt.Printf("ingest rate ratio (gateway / baseline): %.2f\n", base.Seconds()/gw.Seconds())
	fmt.Printf("ingest rate ratio (gateway / baseline on a full mailbox, information): %.2f\n", full.Seconds()/gw.Seconds())
	fmt.Printf("ingest rate ratio (gateway / plain fetch, information): %.2f\n", plain.Seconds()/gw.Seconds())
	if os.Getenv("KAKEHASHI_BENCH_LOG") == "debug" {
		for _, line := range strings.Split(w.gw.log.String(), "\n") {
			if strings.Contains(line, "mail batch") || strings.Contains(line, "imap pass") {
				fmt.Println(line)
			}
		}
	}
	b.ReportMetric(float64(n)/gw.Seconds(), "mails/s")
	b.ReportMetric(base.Seconds()/gw.Seconds(), "ratio")
}

// gatewayIMAP logs in to the gateway's mailbox.
func (w *world) gatewayIMAP(b *testing.B) *imapclient.Client {
	b.Helper()
	c, err := imapclient.DialInsecure(w.mail.IMAPAddr, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Login(w.mail.GatewayUser, w.mail.GatewayPass).Wait(); err != nil {
		b.Fatal(err)
	}
	return c
}

// stageMails appends n mails from bob to hana's persona into a mailbox the
// gateway does not read.
func (w *world) stageMails(b *testing.B, mailbox string, n, round int) {
	b.Helper()
	c := w.gatewayIMAP(b)
	defer c.Close()
	if err := c.Create(mailbox, nil).Wait(); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		raw := fmt.Sprintf("Delivered-To: %s\r\nFrom: Bob <%s>\r\nTo: %s\r\nSubject: Order %d\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n"+
			"Message-ID: <bench-%d-%d@mail.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
			"Please send 3 more boxes of item %d.\r\n\r\n-- \r\nBob\r\n", hanaAddr, bobMail, hanaAddr, i, round, i, i)
		cmd := c.Append(mailbox, int64(len(raw)), nil)
		if _, err := cmd.Write([]byte(raw)); err != nil {
			b.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			b.Fatal(err)
		}
		if _, err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// plainFetch is the baseline: log in, select and fetch every mail's bytes.
func (w *world) plainFetch(b *testing.B, mailbox string, n int) time.Duration {
	b.Helper()
	start := time.Now()
	c := w.gatewayIMAP(b)
	defer c.Close()
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		b.Fatal(err)
	}
	msgs, err := c.Fetch(all(), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		b.Fatal(err)
	}
	d := time.Since(start)
	if len(msgs) != n {
		b.Fatalf("plain fetch got %d mails, want %d", len(msgs), n)
	}
	return d
}

// baselineBatch is the baseline's batch: the adapter's default BatchSize.
const baselineBatch = 256

// baseline is the consumer the gateway's ingest is measured against: what
// any correct consumer of a mailbox must do, written plainly with go-imap
// v2. For each batch of 256 in turn it fetches the mails' bytes (UID FETCH
// BODY.PEEK[]), writes them durably (one SQLite transaction per batch,
// WAL, synchronous=FULL: the gateway's own settings) and only then moves
// them to the processed mailbox (UID MOVE), so that a crash loses
// nothing. It does nothing else: no parsing, no routing, no delivery.
type baseline struct {
	c       *imapclient.Client
	db      *sql.DB
	exists  chan struct{} // the selected mailbox has more mail (EXISTS)
	section *imap.FetchItemBodySection
}

func (w *world) newBaseline(b *testing.B) *baseline {
	b.Helper()
	bl := &baseline{exists: make(chan struct{}, 1), section: &imap.FetchItemBodySection{Peek: true}}
	c, err := imapclient.DialInsecure(w.mail.IMAPAddr, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case bl.exists <- struct{}{}:
					default:
					}
				}
			},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.Login(w.mail.GatewayUser, w.mail.GatewayPass).Wait(); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "baseline.db")+
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE mails (uid INTEGER PRIMARY KEY, raw BLOB NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	bl.c, bl.db = c, db
	return bl
}

// drain takes every mail of the selected mailbox, a batch at a time, and
// says how many.
func (bl *baseline) drain(ctx context.Context, processed string) (int, error) {
	res, err := bl.c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		return 0, err
	}
	uids := res.AllUIDs()
	stored := 0
	for len(uids) > 0 {
		batch := uids[:min(len(uids), baselineBatch)]
		uids = uids[len(batch):]
		set := imap.UIDSetNum(batch...)
		msgs, err := bl.c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{bl.section}}).Collect()
		if err != nil {
			return stored, err
		}
		if err := bl.write(ctx, msgs); err != nil {
			return stored, err
		}
		stored += len(msgs)
		if _, err := bl.c.Move(set, processed).Wait(); err != nil {
			return stored, err
		}
	}
	return stored, nil
}

// write stores a batch durably, in one transaction.
func (bl *baseline) write(ctx context.Context, msgs []*imapclient.FetchMessageBuffer) error {
	tx, err := bl.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO mails (uid, raw) VALUES (?, ?)`)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if _, err := ins.ExecContext(ctx, int64(m.UID), m.FindBodySection(bl.section)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// baselineFull is the baseline on a mailbox that is already full: it
// selects it and takes everything, timed from the SELECT to the last
// MOVE's answer (information: no wait for the server to tell of new
// mail).
func (w *world) baselineFull(b *testing.B, mailbox, processed string, n int) time.Duration {
	b.Helper()
	bl := w.newBaseline(b)
	if err := bl.c.Create(processed, nil).Wait(); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := bl.c.Select(mailbox, nil).Wait(); err != nil {
		b.Fatal(err)
	}
	got, err := bl.drain(context.Background(), processed)
	d := time.Since(start)
	if err != nil || got != n {
		b.Fatalf("baseline stored %d of %d mails: %v", got, n, err)
	}
	return d
}

// baselineIdle is the baseline measured as the gateway is: it IDLEs on an
// empty mailbox; the staged mails are moved into it in one command, and it
// is timed from that command's answer until its own last MOVE's answer.
// notified is when the server told it of them (Dovecot waits half a second
// after a change before it tells an IDLE client, for the gateway too).
func (w *world) baselineIdle(b *testing.B, staged, processed string, n int) (d, notified time.Duration) {
	b.Helper()
	ctx := context.Background()
	bl := w.newBaseline(b)
	inbox := staged + "In"
	for _, mb := range []string{inbox, processed} {
		if err := bl.c.Create(mb, nil).Wait(); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := bl.c.Select(inbox, nil).Wait(); err != nil {
		b.Fatal(err)
	}
	mover := w.gatewayIMAP(b)
	defer mover.Close()
	if _, err := mover.Select(staged, nil).Wait(); err != nil {
		b.Fatal(err)
	}
	idle, err := bl.c.Idle()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := mover.Move(all(), inbox).Wait(); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for got := 0; got < n; {
		select {
		case <-bl.exists:
		case <-time.After(time.Minute):
			b.Fatalf("baseline stored %d of %d mails, then heard of no more", got, n)
		}
		if notified == 0 {
			notified = time.Since(start)
		}
		if err := idle.Close(); err != nil {
			b.Fatal(err)
		}
		if err := idle.Wait(); err != nil {
			b.Fatal(err)
		}
		k, err := bl.drain(ctx, processed)
		if err != nil {
			b.Fatal(err)
		}
		if got += k; got < n {
			if idle, err = bl.c.Idle(); err != nil {
				b.Fatal(err)
			}
		}
	}
	return time.Since(start), notified
}

// ingest moves the staged mails into the inbox in one command and times
// from its answer until hana's client has them all.
func (w *world) ingest(b *testing.B, hana *testenv.Client, mailbox string, n int) time.Duration {
	b.Helper()
	c := w.gatewayIMAP(b)
	defer c.Close()
	if _, err := c.Select(mailbox, nil).Wait(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := c.Move(all(), "INBOX").Wait(); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var first time.Duration
	defer func() {
		if os.Getenv("KAKEHASHI_BENCH_LOG") == "debug" {
			fmt.Printf("ingest: in the inbox at %s, first message after %v, last after %v\n",
				start.UTC().Format("15:04:05.000"), first.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		}
	}()
	for got := 0; got < n; {
		s, err := hana.Receive(ctx)
		if err != nil {
			b.Fatalf("hana received %d of %d mails: %v", got, n, err)
		}
		if s.Kind == "message" && strings.HasPrefix(s.Body, "Please send 3 more boxes") {
			if got == 0 {
				first = time.Since(start)
			}
			got++
		}
	}
	return time.Since(start)
}

// all is every message of the selected mailbox: 1:*.
func all() imap.SeqSet { return imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}} }

func envStr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
