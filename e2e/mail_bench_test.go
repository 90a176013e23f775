package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

// BenchmarkMailIngest is the end-to-end mail ingest benchmark: N mails in
// the gateway's mailbox on a real Dovecot, through the gateway (parse,
// route, durable commit, move to the processed folder) to an employee's
// XMPP client on a real Prosody, against a plain IMAP fetch of the same
// mails in the same run.
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
		w.stageMails(b, staging, n, i)
		rows = append(rows, row{"plain IMAP fetch", w.plainFetch(b, staging, n)})
		rows = append(rows, row{"gateway ingest", w.ingest(b, hana, staging, n)})
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "run\tmails\ttime\tmails/s")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%v\t%.0f\n", r.name, n, r.d.Round(time.Millisecond), float64(n)/r.d.Seconds())
	}
	tw.Flush()
	plain, gw := rows[0].d, rows[1].d
	fmt.Printf("ingest rate ratio (gateway / plain fetch): %.2f\n", plain.Seconds()/gw.Seconds())
	if os.Getenv("KAKEHASHI_BENCH_LOG") == "debug" {
		for _, line := range strings.Split(w.gw.log.String(), "\n") {
			if strings.Contains(line, "mail batch") {
				fmt.Println(line)
			}
		}
	}
	b.ReportMetric(float64(n)/gw.Seconds(), "mails/s")
	b.ReportMetric(plain.Seconds()/gw.Seconds(), "ratio")
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
