package mail

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

// BenchmarkIngestBatch is the adapter's own share of mail ingest, without
// a server: a batch of 256 small mails from one contact (as
// BenchmarkMailIngest in e2e sends) parsed, threaded, committed to the
// adapter's store and handed to a gateway that stores at once. Reported
// per mail.
func BenchmarkIngestBatch(b *testing.B) {
	ingestBatch(b, "")
}

// BenchmarkIngestBatchPostgres is BenchmarkIngestBatch with the
// adapter's store on PostgreSQL.
func BenchmarkIngestBatchPostgres(b *testing.B) {
	ingestBatch(b, testenv.SharedPostgres(b).NewDatabase(b))
}

// ingestBatch runs BenchmarkIngestBatch with the store at store (empty:
// the SQLite file in a temporary directory).
func ingestBatch(b *testing.B, store string) {
	a, err := Open(context.Background(), Config{
		Network: "mail", Domain: "contact.acme.test", DataDir: b.TempDir(), Store: store,
		IMAP: IMAPConfig{Server: "127.0.0.1:1"}, SMTP: SMTPConfig{Server: "127.0.0.1:1"},
		Now: func() time.Time { return time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	core := newRecordCore(hanaSales)
	const n = 256
	round := 0
	batch := func() []fetched {
		round++
		raws := make([]fetched, n)
		for i := range raws {
			raws[i] = fetched{uid: imap.UID(round*n + i), raw: fmt.Appendf(nil,
				"Delivered-To: %s\r\nFrom: Bob <bob@mail.test>\r\nTo: %s\r\nSubject: Order %d\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n"+
					"Message-ID: <bench-%d-%d@mail.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
					"Please send 3 more boxes of item %d.\r\n\r\n-- \r\nBob\r\n", hanaSales, hanaSales, i, round, i, i)}
		}
		return raws
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		raws := batch()
		core.note(func() { core.got = core.got[:0] })
		b.StartTimer()
		if _, err := a.ingest(context.Background(), core, "INBOX", raws); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/mail")
}
