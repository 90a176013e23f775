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
// run by the baseline: what any correct consumer must do (see
// baselineIngest: fetch, durable write, move to a processed folder, a
// batch at a time). A plain fetch of the bytes alone is shown too, for
// information.
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
	for i := 0; i < b.N; i++ {
		staging := fmt.Sprintf("Bench%d", i)
		filed := staging + "Filed"
		w.stageMails(b, staging, n, i)
		rows = append(rows, row{"plain IMAP fetch (information)", w.plainFetch(b, staging, n)})
		// The baseline files the mails where the gateway's run takes them
		// from.
		rows = append(rows, row{"baseline: fetch, durable write, move", w.baselineIngest(b, staging, filed, n)})
		rows = append(rows, row{"gateway ingest", w.ingest(b, hana, filed, n)})
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "run\tmails\ttime\tmails/s")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%v\t%.0f\n", r.name, n, r.d.Round(time.Millisecond), float64(n)/r.d.Seconds())
	}
	tw.Flush()
	plain, base, gw := rows[0].d, rows[1].d, rows[2].d
	fmt.Printf("ingest rate ratio (gateway / baseline): %.2f\n", base.Seconds()/gw.Seconds())
	fmt.Printf("ingest rate ratio (gateway / plain fetch, information): %.2f\n", plain.Seconds()/gw.Seconds())
	if os.Getenv("KAKEHASHI_BENCH_LOG") == "debug" {
		for _, line := range strings.Split(w.gw.log.String(), "\n") {
			if strings.Contains(line, "mail batch") {
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

// baselineIngest is the baseline the gateway's ingest is measured against:
// what any correct consumer of a mailbox must do, written plainly with
// go-imap v2. Logged in and with its database open, it selects the
// mailbox, lists the UIDs (UID SEARCH ALL) and then, for each batch of 256
// in turn, fetches the mails' bytes (UID FETCH BODY.PEEK[]), writes them
// durably (one SQLite transaction per batch, WAL, synchronous=FULL, the
// gateway's own settings) and moves them to the processed mailbox (UID
// MOVE) only then, so that a crash loses nothing. It is timed from the
// SELECT to the last MOVE's answer.
func (w *world) baselineIngest(b *testing.B, mailbox, processed string, n int) time.Duration {
	b.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "baseline.db")+
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE mails (uid INTEGER PRIMARY KEY, raw BLOB NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	c := w.gatewayIMAP(b)
	defer c.Close()
	if err := c.Create(processed, nil).Wait(); err != nil {
		b.Fatal(err)
	}

	start := time.Now()
	if _, err := c.Select(mailbox, nil).Wait(); err != nil {
		b.Fatal(err)
	}
	res, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		b.Fatal(err)
	}
	uids := res.AllUIDs()
	section := &imap.FetchItemBodySection{Peek: true}
	stored := 0
	for len(uids) > 0 {
		batch := uids[:min(len(uids), baselineBatch)]
		uids = uids[len(batch):]
		set := imap.UIDSetNum(batch...)
		msgs, err := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
		if err != nil {
			b.Fatal(err)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO mails (uid, raw) VALUES (?, ?)`)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range msgs {
			if _, err := ins.ExecContext(ctx, int64(m.UID), m.FindBodySection(section)); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		stored += len(msgs)
		if _, err := c.Move(set, processed).Wait(); err != nil {
			b.Fatal(err)
		}
	}
	d := time.Since(start)
	if stored != n {
		b.Fatalf("baseline stored %d mails, want %d", stored, n)
	}
	return d
}

// ingest moves the staged mails into the inbox in one command and times
// until hana's client has them all.
func (w *world) ingest(b *testing.B, hana *testenv.Client, mailbox string, n int) time.Duration {
	b.Helper()
	c := w.gatewayIMAP(b)
	defer c.Close()
	if _, err := c.Select(mailbox, nil).Wait(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := c.Move(all(), "INBOX").Wait(); err != nil {
		b.Fatal(err)
	}
	for got := 0; got < n; {
		s, err := hana.Receive(ctx)
		if err != nil {
			b.Fatalf("hana received %d of %d mails: %v", got, n, err)
		}
		if s.Kind == "message" && strings.HasPrefix(s.Body, "Please send 3 more boxes") {
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
