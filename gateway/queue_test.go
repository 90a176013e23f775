package gateway

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/migrate"
	"github.com/kakehashi/kakehashi/internal/sqldb"
	"github.com/kakehashi/kakehashi/internal/testenv"
	"github.com/kakehashi/kakehashi/routing"
)

func openTestQueue(t testing.TB, path string) (*Queue, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	q, err := OpenQueue(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = q.Run(ctx); close(done) }()
	return q, func() { cancel(); <-done; q.Close() }
}

func rec(from, id, body string) *Record {
	return &Record{ReceivedAt: time.Now(), InNetwork: "public-xmpp", InFrom: from, InReply: from + "/r", InTo: "p@contact.acme.test", InID: id,
		Out: Outgoing{Network: "corp", From: "x@gw", To: "hana@corp.test", ID: NewID(), Body: body}}
}

// enqueue stores r and waits for the commit.
func enqueue(t *testing.T, q *Queue, r *Record) (dup bool) {
	t.Helper()
	errc := make(chan error, 1)
	if err := q.Enqueue(context.Background(), r, func(d bool, err error) { dup = d; errc <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return dup
}

func TestQueueDurableAcrossReopenAndDeduplicated(t *testing.T) {
	forEachStore(t, func(t *testing.T, _, store string) {
		q, stop := openTestQueue(t, store)
		a := rec("bob@ext.test", "id-1", "first")
		if enqueue(t, q, a) {
			t.Fatal("first copy reported as duplicate")
		}
		if a.Seq == 0 || a.Out.Seq != a.Seq {
			t.Fatalf("seq not assigned: %d/%d", a.Seq, a.Out.Seq)
		}
		if !enqueue(t, q, rec("bob@ext.test", "id-1", "first")) {
			t.Fatal("redelivery with the same sender, ID and text was stored twice")
		}
		// Same ID from someone else is a different message; no ID is never deduplicated.
		for _, r := range []*Record{rec("carol@ext.test", "id-1", "c"), rec("bob@ext.test", "", "n1"), rec("bob@ext.test", "", "n2")} {
			if enqueue(t, q, r) {
				t.Fatalf("%q wrongly deduplicated", r.Out.Body)
			}
		}
		refused := rec("mallory@ext.test", "id-9", "x")
		refused.Out.Refusal = &routing.Refusal{Reason: routing.NotAllowed, Text: "no"}
		enqueue(t, q, refused)
		q.Mark(context.Background(), a.Seq, StateSent, "")
		stop()

		q, stop = openTestQueue(t, store)
		defer stop()
		pending, err := q.Pending(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var bodies []string
		for _, p := range pending {
			bodies = append(bodies, p.Out.Body)
		}
		want := []string{"c", "n1", "n2", "x"}
		if len(bodies) != len(want) {
			t.Fatalf("pending after reopen = %q, want %q", bodies, want)
		}
		for i := range want {
			if bodies[i] != want[i] {
				t.Fatalf("pending after reopen = %q, want %q (in order)", bodies, want)
			}
		}
		last := pending[len(pending)-1]
		if last.Out.Refusal == nil || last.Out.Refusal.Reason != routing.NotAllowed || last.InReply != "mallory@ext.test/r" {
			t.Fatalf("refusal not restored: %+v", last)
		}
		got, err := q.ByOutID(context.Background(), "corp", a.Out.ID)
		if err != nil || got == nil || got.Out.Body != "first" {
			t.Fatalf("ByOutID = %+v, %v", got, err)
		}
		st, err := q.Stats(context.Background())
		if err != nil || st[StateSent] != 1 || st[StatePending] != 4 {
			t.Fatalf("stats = %v, %v", st, err)
		}
	})
}

func TestQueueGroupCommitsConcurrentWriters(t *testing.T) {
	forEachStore(t, func(t *testing.T, _, store string) {
		q, stop := openTestQueue(t, store)
		defer stop()
		const n = 500
		var wg sync.WaitGroup
		var mu sync.Mutex
		seqs := map[int64]bool{}
		for i := 0; i < n; i++ {
			wg.Add(1)
			r := rec("bob@ext.test", "", "m")
			if err := q.Enqueue(context.Background(), r, func(dup bool, err error) {
				defer wg.Done()
				if err != nil || dup {
					t.Errorf("enqueue: dup=%v err=%v", dup, err)
				}
				mu.Lock()
				seqs[r.Seq] = true
				mu.Unlock()
			}); err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		if len(seqs) != n {
			t.Fatalf("%d distinct sequence numbers, want %d", len(seqs), n)
		}
	})
}

func BenchmarkQueueEnqueue(b *testing.B) {
	queueEnqueue(b, filepath.Join(b.TempDir(), "queue.db"))
}

// BenchmarkQueueEnqueuePostgres is BenchmarkQueueEnqueue on PostgreSQL:
// records stored before they are written, one statement each.
func BenchmarkQueueEnqueuePostgres(b *testing.B) {
	queueEnqueue(b, testenv.SharedPostgres(b).NewDatabase(b))
}

func queueEnqueue(b *testing.B, store string) {
	q, stop := openTestQueue(b, store)
	defer stop()
	var wg sync.WaitGroup
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		_ = q.Enqueue(context.Background(), rec("bob@ext.test", "", "hello"), func(bool, error) { wg.Done() })
	}
	wg.Wait()
}

// TestQueueDeduplicatesOnlyTheSameMessage: only the same sender, ID,
// recipient and text within DedupeWindow is a redelivery; a reused ID with
// anything else different is a new message, also across a restart.
func TestQueueDeduplicatesOnlyTheSameMessage(t *testing.T) {
	forEachStore(t, func(t *testing.T, _, store string) {
		q, stop := openTestQueue(t, store)
		t0 := time.Now()
		mk := func(from, id, to, subject, body string, at time.Time) *Record {
			r := rec(from, id, body)
			r.InTo, r.Out.Subject, r.ReceivedAt = to, subject, at
			return r
		}
		const hana, ken = "hana.sales@contact.acme.test", "ken.sales@contact.acme.test"
		if enqueue(t, q, mk("bob@ext.test", "1", hana, "", "hello", t0)) {
			t.Fatal("first message reported as duplicate")
		}
		for _, tt := range []struct {
			name string
			r    *Record
			dup  bool
		}{
			{"same id, other recipient", mk("bob@ext.test", "1", ken, "", "hello", t0), false},
			{"same id, other body", mk("bob@ext.test", "1", hana, "", "hello again", t0), false},
			{"same id, other subject", mk("bob@ext.test", "1", hana, "Re: quote", "hello", t0), false},
			{"same id, other sender", mk("carol@ext.test", "1", hana, "", "hello", t0), false},
			{"same id, other network", func() *Record { r := mk("bob@ext.test", "1", hana, "", "hello", t0); r.InNetwork = "mail"; return r }(), false},
			{"same message within the window", mk("bob@ext.test", "1", hana, "", "hello", t0.Add(DedupeWindow-time.Minute)), true},
			{"same message after the window", mk("bob@ext.test", "1", hana, "", "hello", t0.Add(DedupeWindow+time.Minute)), false},
			{"same message, the later copy's window", mk("bob@ext.test", "1", hana, "", "hello", t0.Add(DedupeWindow+2*time.Minute)), true},
			{"no id, same text", mk("bob@ext.test", "", hana, "", "hello", t0), false},
			{"no id, same text again", mk("bob@ext.test", "", hana, "", "hello", t0), false},
		} {
			if got := enqueue(t, q, tt.r); got != tt.dup {
				t.Errorf("%s: duplicate = %v, want %v", tt.name, got, tt.dup)
			}
		}
		stop()

		// A client whose ID counter restarted with the gateway.
		q, stop = openTestQueue(t, store)
		defer stop()
		if enqueue(t, q, mk("bob@ext.test", "1", hana, "", "a new day", t0.Add(time.Minute))) {
			t.Error("reused ID with another text after a restart was dropped")
		}
		if !enqueue(t, q, mk("bob@ext.test", "1", hana, "", "hello", t0.Add(time.Minute))) {
			t.Error("redelivery after a restart was stored again")
		}
	})
}

// TestQueueMigratesTheOldDeduplicationIndex: a queue.db from before
// content hashes loses its unique (network, sender, ID) index, and its
// rows get their hash, so their redelivery is still recognised while a
// reused ID with another text is stored.
func TestQueueMigratesTheOldDeduplicationIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(firstReleaseSchema(t)); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour).UnixNano()
	if _, err := db.Exec(`INSERT INTO messages (received_at, in_network, in_from, in_reply, in_to, in_id, relationship_id, owner_id,
		out_network, out_from, out_to, out_id, body, nick, refusal_condition, refusal_text, reply_to, notice, subscribe, state)
		VALUES (?, 'public-xmpp', 'bob@ext.test', 'bob@ext.test/r', 'p@contact.acme.test', 'id-1', '', '', 'corp', 'x@gw', 'hana@corp.test', 'o1', 'old text', '', '', '', '', 0, 0, 'sent')`, at); err != nil {
		t.Fatal(err)
	}
	db.Close()

	q, stop := openTestQueue(t, path)
	defer stop()
	var n int
	if err := q.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'messages_dedupe'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("old unique index still there (%d, %v)", n, err)
	}
	if !enqueue(t, q, rec("bob@ext.test", "id-1", "old text")) {
		t.Error("redelivery of a message stored before the upgrade was stored again")
	}
	if enqueue(t, q, rec("bob@ext.test", "id-1", "new text")) {
		t.Error("a reused ID with another text was dropped after the upgrade")
	}
}

// firstReleaseSchema is the queue as releases before content hashes and
// numbered migrations wrote it: migration 1, and the unique index on the
// sender's ID that migration 2 drops.
func firstReleaseSchema(t *testing.T) string {
	t.Helper()
	first, err := migrationFiles.ReadFile("migrations/0001_messages.sql")
	if err != nil {
		t.Fatal(err)
	}
	return string(first) + "CREATE UNIQUE INDEX messages_dedupe ON messages(in_network, in_from, in_id) WHERE in_id <> '';\n"
}

// TestQueueMigrations: a new queue.db gets every migration, recorded; one
// written before numbered migrations (first release, or with every
// column already) is baselined without losing a row; opening again
// applies nothing; a queue.db from a newer release is refused, naming
// both versions.
func TestQueueMigrations(t *testing.T) {
	ms, err := queueMigrations()
	if err != nil {
		t.Fatal(err)
	}
	newest := len(ms)
	versions := func(t *testing.T, path string) []int {
		t.Helper()
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []int
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	open := func(t *testing.T, path string) {
		t.Helper()
		q, err := OpenQueue(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		q.Close()
	}
	t.Run("new", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "queue.db")
		open(t, path)
		open(t, path) // again: nothing to do
		if v := versions(t, path); len(v) != newest || v[newest-1] != newest {
			t.Fatalf("recorded %v, want 1…%d", v, newest)
		}
	})
	for _, tc := range []struct{ name, ddl string }{
		{"first release", firstReleaseSchema(t)},
		{"every column", firstReleaseSchema(t) + `ALTER TABLE messages ADD COLUMN broadcast TEXT NOT NULL DEFAULT '';
			ALTER TABLE messages ADD COLUMN content_hash TEXT NOT NULL DEFAULT '';`},
		{"some columns", firstReleaseSchema(t) + `ALTER TABLE messages ADD COLUMN broadcast TEXT NOT NULL DEFAULT '';`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "queue.db")
			db, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(tc.ddl); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`INSERT INTO messages (received_at, in_network, in_from, in_reply, in_to, in_id, relationship_id, owner_id,
				out_network, out_from, out_to, out_id, body, nick, refusal_condition, refusal_text, reply_to, notice, subscribe, state)
				VALUES (1, 'public-xmpp', 'bob@ext.test', '', 'p@contact.acme.test', 'id-1', '', '', 'corp', 'x@gw', 'hana@corp.test', 'o1', 'kept', '', '', '', '', 0, 0, 'pending')`); err != nil {
				t.Fatal(err)
			}
			db.Close()
			q, err := OpenQueue(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			pending, err := q.Pending(context.Background())
			if err != nil || len(pending) != 1 || pending[0].Out.Body != "kept" {
				t.Fatalf("pending after the upgrade: %v, %v", pending, err)
			}
			if v := versions(t, path); len(v) != newest {
				t.Fatalf("recorded %v, want 1…%d", v, newest)
			}
		})
	}
	t.Run("newer", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "queue.db")
		open(t, path)
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from_the_future', 0)`, newest+1); err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err = OpenQueue(context.Background(), path)
		if !errors.Is(err, migrate.ErrNewerSchema) || !strings.Contains(err.Error(), strconv.Itoa(newest+1)) || !strings.Contains(err.Error(), strconv.Itoa(newest)) {
			t.Fatalf("opening a newer queue.db: %v", err)
		}
	})
}

// waitDone collects the outcome of n callbacks.
type outcomes struct {
	mu   sync.Mutex
	errs map[string]error
	wg   sync.WaitGroup
}

func newOutcomes() *outcomes { return &outcomes{errs: map[string]error{}} }

func (o *outcomes) cb(name string) func(bool, error) {
	o.wg.Add(1)
	return func(_ bool, err error) {
		o.mu.Lock()
		o.errs[name] = err
		o.mu.Unlock()
		o.wg.Done()
	}
}

func stateOf(t *testing.T, q *Queue, seq int64) string {
	t.Helper()
	var st string
	if err := q.ro.QueryRowContext(context.Background(), `SELECT state FROM messages WHERE seq = ?`, seq).Scan(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestQueueFailedOperationFailsAlone: when one operation of a batch cannot
// be written (an insert a trigger refuses, as a full disk would; an Exec
// whose statement fails), the other inserts and marks of the batch are
// committed; a mark that fails is kept and committed with a later batch.
func TestQueueFailedOperationFailsAlone(t *testing.T) {
	forEachStore(t, func(t *testing.T, _, path string) {
		ctx := context.Background()
		q, stop := openTestQueue(t, path)
		dialect := q.Dialect()
		sent1, sent2 := rec("bob@ext.test", "s1", "sent 1"), rec("bob@ext.test", "s2", "sent 2")
		enqueue(t, q, sent1)
		enqueue(t, q, sent2)
		stop()
		stmts := []string{
			`CREATE TABLE fail_marks (seq INTEGER)`,
			`CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.body LIKE 'poison%' BEGIN SELECT RAISE(ABORT, 'database or disk is full (test)'); END`,
			`CREATE TRIGGER mark_fails BEFORE UPDATE ON messages WHEN NEW.seq IN (SELECT seq FROM fail_marks) BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END`,
		}
		if dialect == sqldb.Postgres {
			stmts = []string{
				`CREATE TABLE fail_marks (seq BIGINT)`,
				`CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
					IF NEW.body LIKE 'poison%' THEN RAISE EXCEPTION 'could not extend file (test)'; END IF; RETURN NEW; END $$`,
				`CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION poison()`,
				`CREATE FUNCTION mark_fails() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
					IF NEW.seq IN (SELECT seq FROM fail_marks) THEN RAISE EXCEPTION 'I/O error (test)'; END IF; RETURN NEW; END $$`,
				`CREATE TRIGGER mark_fails BEFORE UPDATE ON messages FOR EACH ROW EXECUTE FUNCTION mark_fails()`,
			}
		}
		for _, stmt := range stmts {
			if err := execOn(path, stmt); err != nil {
				t.Fatal(err)
			}
		}
		if err := execOn(path, `INSERT INTO fail_marks VALUES (?)`, sent2.Seq); err != nil {
			t.Fatal(err)
		}

		// Hand everything over before the queue runs: it is one batch.
		q, err := OpenQueue(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		out := newOutcomes()
		a, poison, b := rec("bob@ext.test", "a", "before"), rec("bob@ext.test", "p", "poison"), rec("bob@ext.test", "b", "after")
		mustHand := func(err error) {
			if err != nil {
				t.Fatal(err)
			}
		}
		mustHand(q.Enqueue(ctx, a, out.cb("a")))
		q.MarkThen(ctx, sent1.Seq, StateSent, "", func(err error) { out.cb("mark1")(false, err) })
		mustHand(q.hand(ctx, queueOp{exec: func(ctx context.Context, tx *Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO no_such_table VALUES (1)`)
			return err
		}, done: out.cb("exec")}))
		mustHand(q.Enqueue(ctx, poison, out.cb("poison")))
		q.MarkThen(ctx, sent2.Seq, StateSent, "", nil) // fails until fail_marks is emptied
		mustHand(q.Enqueue(ctx, b, out.cb("b")))
		if n := len(q.ops); n != 6 {
			t.Fatalf("%d operations waiting, want 6 in one batch", n)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = q.Run(rctx); close(done) }()
		defer func() { cancel(); <-done }()
		out.wg.Wait()

		for name, wantErr := range map[string]bool{"a": false, "mark1": false, "exec": true, "poison": true, "b": false} {
			if got := out.errs[name] != nil; got != wantErr {
				t.Errorf("%s: err = %v, want error: %v", name, out.errs[name], wantErr)
			}
		}
		if a.Seq == 0 || b.Seq == 0 {
			t.Fatalf("inserts around the failure got no sequence: %d %d", a.Seq, b.Seq)
		}
		for _, r := range []*Record{a, b} {
			if st := stateOf(t, q, r.Seq); st != StatePending {
				t.Errorf("%q: state %q, want stored as pending", r.Out.Body, st)
			}
		}
		if st := stateOf(t, q, sent1.Seq); st != StateSent {
			t.Errorf("mark in the failed batch: state %q, want sent", st)
		}
		if q.StoreError() == nil {
			t.Error("StoreError is nil after a failed commit")
		}
		if st := stateOf(t, q, sent2.Seq); st != StatePending {
			t.Fatalf("the refused mark: state %q", st)
		}
		// The disk has room again: the kept mark goes with the next commit.
		if _, err := q.db.Exec(`DELETE FROM fail_marks`); err != nil {
			t.Fatal(err)
		}
		enqueue(t, q, rec("bob@ext.test", "c", "later"))
		if st := stateOf(t, q, sent2.Seq); st != StateSent {
			t.Errorf("the kept mark was not committed later: state %q", st)
		}
		if err := q.StoreError(); err != nil {
			t.Errorf("StoreError after a good commit: %v", err)
		}
	})
}

// execOn runs stmt on the queue's database at store (an OpenQueue
// argument), on a connection of its own.
func execOn(store, stmt string, args ...any) error {
	src, err := sqldb.Parse(store)
	if err != nil {
		return err
	}
	var db *sql.DB
	if src.Dialect == sqldb.Postgres {
		db, err = sqldb.OpenPostgres(context.Background(), src.URL)
	} else {
		db, err = sql.Open("sqlite", "file:"+src.Path+"?_pragma=busy_timeout(10000)")
	}
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(sqldb.Rebind(src.Dialect, stmt), args...)
	return err
}

// TestQueueStopCommitsEverythingHandedOver: operations handed over while
// the queue is being stopped are all committed, and those handed over
// after are refused with an error: none is silently lost.
func TestQueueStopCommitsEverythingHandedOver(t *testing.T) {
	for _, kind := range testStores {
		t.Run(kind.name, func(t *testing.T) {
			for round := 0; round < 3; round++ {
				ctx, cancel := context.WithCancel(context.Background())
				q, err := OpenQueue(context.Background(), kind.new(t, t.TempDir()))
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan struct{})
				go func() { _ = q.Run(ctx); close(done) }()
				var wg sync.WaitGroup
				var mu sync.Mutex
				accepted, committed := 0, 0
				for w := 0; w < 4; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < 200; i++ {
							err := q.Enqueue(context.Background(), rec("bob@ext.test", "", "m"), func(_ bool, err error) {
								if err == nil {
									mu.Lock()
									committed++
									mu.Unlock()
								}
							})
							if err != nil {
								if !errors.Is(err, errQueueStopped) {
									t.Errorf("enqueue: %v", err)
								}
								return
							}
							mu.Lock()
							accepted++
							mu.Unlock()
						}
					}()
				}
				time.Sleep(time.Duration(round) * 5 * time.Millisecond)
				cancel()
				wg.Wait()
				<-done
				st, err := q.Stats(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				q.Close()
				if committed != accepted || st[StatePending] != int64(accepted) {
					t.Fatalf("round %d: %d handed over, %d reported committed, %d stored", round, accepted, committed, st[StatePending])
				}
			}
		})
	}
}

// TestQueueReadsDoNotWaitForTheWriter: Stats, Pending and ByOutID answer
// while a write transaction is open, and the read connection writes
// nothing.
func TestQueueReadsDoNotWaitForTheWriter(t *testing.T) {
	forEachStore(t, func(t *testing.T, _, store string) {
		q, stop := openTestQueue(t, store)
		defer stop()
		r := rec("bob@ext.test", "", "stored")
		enqueue(t, q, r)
		inTx, release := make(chan struct{}), make(chan struct{})
		execDone := make(chan error, 1)
		go func() {
			execDone <- q.Exec(context.Background(), func(ctx context.Context, tx *Tx) error {
				if _, err := tx.ExecContext(ctx, `UPDATE messages SET nick = 'x'`); err != nil {
					return err
				}
				close(inTx)
				<-release
				return nil
			})
		}()
		<-inTx
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := q.Stats(ctx)
		if err != nil || st[StatePending] != 1 {
			t.Errorf("Stats during a write: %v, %v", st, err)
		}
		if p, err := q.Pending(ctx); err != nil || len(p) != 1 {
			t.Errorf("Pending during a write: %d, %v", len(p), err)
		}
		if got, err := q.ByOutID(ctx, "corp", r.Out.ID); err != nil || got == nil {
			t.Errorf("ByOutID during a write: %v, %v", got, err)
		}
		close(release)
		if err := <-execDone; err != nil {
			t.Fatal(err)
		}
		if _, err := q.ro.Exec(`DELETE FROM messages`); err == nil {
			t.Error("the read connection deleted rows")
		}
	})
}

// BenchmarkQueueEnqueueWithIDs is BenchmarkQueueEnqueue for messages that
// carry a sender's ID, so each insert first looks for a redelivery.
func BenchmarkQueueEnqueueWithIDs(b *testing.B) {
	q, stop := openTestQueue(b, filepath.Join(b.TempDir(), "queue.db"))
	defer stop()
	var wg sync.WaitGroup
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		_ = q.Enqueue(context.Background(), rec("bob@ext.test", strconv.Itoa(i), "hello"), func(bool, error) { wg.Done() })
	}
	wg.Wait()
}

// TestQueueProbeWrites: the write a failing store is probed with (probe)
// commits on either database, again and again.
func TestQueueProbeWrites(t *testing.T) {
	forEachStore(t, func(t *testing.T, _, store string) {
		q, stop := openTestQueue(t, store)
		defer stop()
		for range 2 {
			if err := q.Exec(context.Background(), probe); err != nil {
				t.Fatal(err)
			}
		}
		var n int
		if err := q.ro.QueryRowContext(context.Background(), `SELECT count(*) FROM probe WHERE id = ?`, 1).Scan(&n); err != nil || n != 1 {
			t.Fatalf("probe rows: %d, %v", n, err)
		}
	})
}
