package storecopy_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/adapters/mail"
	"github.com/kakehashi/kakehashi/analytics"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/gateway/gatewaytest"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/sqldb"
	"github.com/kakehashi/kakehashi/internal/testenv"
	"github.com/kakehashi/kakehashi/outreach"
	"github.com/kakehashi/kakehashi/storecopy"
)

// relationships is how many relationships the installation holds beside
// those its messages start.
const relationships = 20_000

// installation builds a realistic data_dir in dir: employees, personas,
// contacts and relationships (bulk, some still in the relationship log),
// relationships started by messages, a transfer, tags and a remark, an
// admin, audit entries, messages sent and still queued, replies with
// references, a broadcast, and a mail network's threads.
func installation(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	store, err := identity.OpenSQLite(ctx, filepath.Join(dir, "identity.db"))
	if err != nil {
		t.Fatal(err)
	}
	ds := identity.GenerateDataset(relationships, 20)
	if err := store.Commit(ctx, &identity.Changeset{Employees: ds.Employees, Personas: ds.Personas}); err != nil {
		t.Fatal(err)
	}
	rels := make([]*identity.Relationship, len(ds.Relationships))
	for i := range ds.Relationships {
		rels[i] = &ds.Relationships[i]
	}
	if err := store.Commit(ctx, &identity.Changeset{Contacts: ds.Contacts, Relationships: rels}); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	stats, err := analytics.Open(ctx, filepath.Join(dir, analytics.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer stats.Close()
	var out *outreach.Service
	w := gatewaytest.Start(t, dir, func(g *gateway.Gateway) {
		if out, err = outreach.New(ctx, g, outreach.Options{}); err != nil {
			t.Fatal(err)
		}
	}, func(o *gateway.Options) { o.Events = stats })
	stopped := false
	defer func() {
		if !stopped {
			w.Stop()
		}
	}()
	st := w.State()
	if err := st.UpsertEmployee(ctx, "admin:t", "hired", identity.Employee{ID: "ken", Name: "Ken Mori",
		InsideAddrs: []identity.Address{{Network: "corp", Addr: "ken@corp.test"}}, DefaultPersona: "ken.sales"}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertPersona(ctx, "admin:t", "hired", identity.Persona{ID: "ken.sales", DisplayName: "ACME Sales · Ken",
		Kind: identity.Personal, EmployeeID: "ken",
		Addresses: []identity.Address{{Network: "public-xmpp", Addr: "ken.sales@contact.acme.test"}}}); err != nil {
		t.Fatal(err)
	}
	// Contacts write to hana; she answers, replying to their message.
	for i := range 6 {
		from := fmt.Sprintf("cust%d@example.net", i)
		if err := w.Receive(ctx, &gateway.Message{Network: "public-xmpp", From: from + "/phone", ReplyTo: from + "/phone",
			To: "hana.sales@contact.acme.test", ID: fmt.Sprintf("in-%d", i), Body: fmt.Sprintf("hello %d, naïve café ☕", i),
			Subject: "Order"}); err != nil {
			t.Fatal(err)
		}
		in := gatewaytest.Recv(t, w.Inside.Sent)
		proxy := strings.Replace(from, "@", `\40`, 1) + "@gw.corp.test"
		if err := w.Receive(ctx, &gateway.Message{Network: "corp", From: "hana@corp.test/pc", ReplyTo: "hana@corp.test/pc",
			To: proxy, ID: fmt.Sprintf("out-%d", i), Body: "thanks " + fmt.Sprint(i),
			Refs: []gateway.Ref{{Kind: gateway.RefReply, ID: in.ID, Quote: "hello"}}}); err != nil {
			t.Fatal(err)
		}
		gatewaytest.Recv(t, w.Outside.Sent)
	}
	snap := st.Snapshot()
	c, _ := snap.ContactByAddr(identity.Address{Network: "public-xmpp", Addr: "cust0@example.net"})
	rel, _ := snap.RelationshipFor(c.ID, "hana.sales")
	if _, err := st.SetTags(ctx, "admin:t", "vip", rel.ID, []string{"vip", "2026"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetRemark(ctx, "admin:t", "note", rel.ID, "prefers mornings\nno calls"); err != nil {
		t.Fatal(err)
	}
	if _, err := out.SendBroadcast(ctx, outreach.BroadcastRequest{Actor: "admin:t", Reason: "news", OwnerID: "hana",
		Tag: "vip", Subject: "News", Body: "Our spring catalogue is out."}); err != nil {
		t.Fatal(err)
	}
	gatewaytest.Recv(t, w.Outside.Sent)
	if _, err := st.Transfer(ctx, identity.TransferRequest{Actor: "admin:t", Reason: "rotation", From: "emp-0003", To: "ken"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Transfer(ctx, identity.TransferRequest{Actor: "admin:t", Reason: "rotation", From: "hana", To: "ken",
		Filter: identity.RelationshipFilter{Tag: "vip"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AddAdmin(ctx, "admin:bootstrap", "ops", "Mia", identity.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordAudit(ctx, "admin:t", "test.note", "a note", "x", map[string]any{"n": 1, "s": "‘quoted’"}); err != nil {
		t.Fatal(err)
	}
	// Written while the outside network is down: still queued.
	w.Outside.SetDown(true)
	for i := range 3 {
		if err := w.Receive(ctx, &gateway.Message{Network: "corp", From: "ken@corp.test/pc", ReplyTo: "ken@corp.test/pc",
			To: `cust0\40example.net@gw.corp.test`, ID: fmt.Sprintf("q-%d", i), Body: "queued " + fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	w.Settle(t)
	stopped = true
	w.Stop()

	// A mail network's state: its schema from the adapter, rows as the
	// adapter writes them.
	mailDB := filepath.Join(dir, "mail-mail.db")
	if err := mail.MigrateStore(ctx, mailDB, "mail"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", mailDB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i * 7)
	}
	stmts := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO meta (key, value) VALUES ('secret', ?)`, []any{secret}},
		{`INSERT INTO mailbox_state VALUES ('INBOX', 1700000000, 4294967295)`, nil},
		{`INSERT INTO threads VALUES ('t1', 'hana.sales', 'bob@example.org', 'Re: Quote', '<a@x> <b@y>', ?)`, []any{time.Now().UnixNano()}},
		{`INSERT INTO threads VALUES ('t2', 'ken.sales', 'amy@example.org', '', '', 0)`, nil},
		{`INSERT INTO message_ids VALUES ('<a@x>', 't1', 0), ('<b@y>', 't1', 1)`, nil},
		{`INSERT INTO sent_ids VALUES ('<b@y>', 'gw-42')`, nil},
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s.q, s.args...); err != nil {
			t.Fatal(err)
		}
	}
}

// loadSQLite reads what the gateway would read from the SQLite files.
func loadSQLite(t *testing.T, dir string) (*identity.Snapshot, []identity.AuditEntry, map[string]int64) {
	t.Helper()
	ctx := context.Background()
	snap, audit := loadIdentity(t, filepath.Join(dir, "identity.db"))
	q, err := gateway.OpenQueue(ctx, filepath.Join(dir, "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	stats, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return snap, audit, stats
}

func loadIdentity(t *testing.T, where string) (*identity.Snapshot, []identity.AuditEntry) {
	t.Helper()
	ctx := context.Background()
	store, err := identity.OpenStore(ctx, where)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st, err := identity.Open(ctx, store, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	audit, err := st.Audit(ctx, identity.AuditQuery{Limit: identity.MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	return st.Snapshot(), audit
}

// analyticsOf reads today's numbers and waiting list from the analytics
// store at where, as JSON.
func analyticsOf(t *testing.T, where string) string {
	t.Helper()
	ctx := context.Background()
	s, err := analytics.Open(ctx, where)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	o, err := s.Overview(ctx, time.Now(), time.Now(), analytics.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Waiting(ctx, analytics.WaitingQuery{Now: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(struct {
		O *analytics.Overview
		W []analytics.Waiting
	}{o, w}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCopyInstallation(t *testing.T) {
	pg := testenv.SharedPostgres(t)
	ctx := context.Background()
	dir := t.TempDir()
	installation(t, dir)
	// The newest message is gone (as retention may delete rows): its
	// number, kept by AUTOINCREMENT, must not be handed out again.
	qdb, err := sql.Open("sqlite", filepath.Join(dir, "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	var usedSeq int64
	if err := qdb.QueryRowContext(ctx, `DELETE FROM messages WHERE seq = (SELECT max(seq) FROM messages) RETURNING seq`).Scan(&usedSeq); err != nil {
		t.Fatal(err)
	}
	qdb.Close()
	wantSnap, wantAudit, wantStats := loadSQLite(t, dir)
	wantNumbers := analyticsOf(t, filepath.Join(dir, analytics.FileName))

	to := pg.NewDatabase(t)
	t0 := time.Now()
	rep, err := storecopy.Copy(ctx, storecopy.Options{From: dir, To: to, MailNetworks: []string{"mail"}, BatchRows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("copied %d relationships in %s", wantSnap.RelationshipCount(), time.Since(t0).Round(time.Millisecond))
	var b strings.Builder
	if err := rep.Write(&b); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", b.String())
	if !rep.OK() {
		t.Fatal("report has a mismatch")
	}
	rows := map[string]int64{}
	for _, tr := range rep.Tables {
		rows[tr.Store+"."+tr.Table] = tr.Rows
	}
	for _, table := range []string{"identity.employees", "identity.personas", "identity.contacts", "identity.audit", "identity.admins",
		"queue.messages", "queue.broadcasts", "mail-mail.threads", "mail-mail.meta", "mail-mail.message_ids", "mail-mail.sent_ids",
		"analytics.daily", "analytics.relationships", "analytics.response_hist"} {
		if rows[table] == 0 {
			t.Errorf("%s: no rows copied (report %v)", table, rows)
		}
	}
	if rows["identity.relationships"]+rows["identity.relationship_log"] == 0 {
		t.Error("no relationships copied")
	}

	// The PostgreSQL stores, opened as the gateway opens them, hold the
	// same.
	idURL, err := sqldb.InSchema(ctx, to, "identity")
	if err != nil {
		t.Fatal(err)
	}
	gotSnap, gotAudit := loadIdentity(t, idURL)
	if g, w := gotSnap.RelationshipCount(), wantSnap.RelationshipCount(); g != w || w < relationships {
		t.Fatalf("relationships: %d, want %d", g, w)
	}
	for _, r := range wantSnap.Relationships() {
		g, ok := gotSnap.Relationship(r.ID)
		if !ok {
			t.Fatalf("relationship %s missing", r.ID)
		}
		if g.OwnerID != r.OwnerID || g.PersonaID != r.PersonaID || g.Version != r.Version || g.Remark != r.Remark ||
			!slices.Equal(g.Tags, r.Tags) || !g.UpdatedAt.Equal(r.UpdatedAt) {
			t.Fatalf("relationship %s: %+v, want %+v", r.ID, g, r)
		}
	}
	if g, w := len(gotSnap.Employees()), len(wantSnap.Employees()); g != w {
		t.Errorf("employees: %d, want %d", g, w)
	}
	if g, w := len(gotSnap.Personas()), len(wantSnap.Personas()); g != w {
		t.Errorf("personas: %d, want %d", g, w)
	}
	if g, w := gotSnap.ContactCount(), wantSnap.ContactCount(); g != w {
		t.Errorf("contacts: %d, want %d", g, w)
	}
	if len(gotAudit) != len(wantAudit) || len(wantAudit) < 5 {
		t.Fatalf("audit: %d entries, want %d", len(gotAudit), len(wantAudit))
	}
	var maxSeq uint64
	for i := range wantAudit {
		g, w := gotAudit[i], wantAudit[i]
		if g.Seq != w.Seq || g.Action != w.Action || g.Actor != w.Actor || !g.At.Equal(w.At) || string(g.Details) != string(w.Details) {
			t.Fatalf("audit entry %d: %+v, want %+v", i, g, w)
		}
		maxSeq = max(maxSeq, w.Seq)
	}

	// The numbers read the same from PostgreSQL.
	aURL, err := sqldb.InSchema(ctx, to, analytics.SchemaName)
	if err != nil {
		t.Fatal(err)
	}
	if got := analyticsOf(t, aURL); got != wantNumbers || !strings.Contains(wantNumbers, `"in": 6`) {
		t.Errorf("analytics copied:\n%s\nwant\n%s", got, wantNumbers)
	}

	// New rows are numbered after the copied ones.
	store, err := identity.OpenStore(ctx, idURL)
	if err != nil {
		t.Fatal(err)
	}
	st, err := identity.Open(ctx, store, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if admins, err := st.Admins(ctx); err != nil || len(admins) != 1 || admins[0].Name != "Mia" {
		t.Errorf("admins: %+v, %v", admins, err)
	}
	if err := st.RecordAudit(ctx, "admin:t", "test.after", "after the copy", "", nil); err != nil {
		t.Fatal(err)
	}
	after, err := st.Audit(ctx, identity.AuditQuery{Action: "test.after"})
	if err != nil || len(after) != 1 || after[0].Seq <= maxSeq {
		t.Fatalf("new audit entry: %+v, %v; want a seq above %d", after, err, maxSeq)
	}
	store.Close()

	qURL, err := sqldb.InSchema(ctx, to, "queue")
	if err != nil {
		t.Fatal(err)
	}
	q, err := gateway.OpenQueue(ctx, qURL)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	gotStats, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(gotStats) != fmt.Sprint(wantStats) || wantStats["pending"] == 0 || wantStats["sent"] == 0 {
		t.Errorf("queue stats: %v, want %v (with pending and sent ones)", gotStats, wantStats)
	}
	pgdb, err := sqldb.OpenPostgres(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	defer pgdb.Close()
	var maxMsg, next int64
	if err := pgdb.QueryRowContext(ctx, `SELECT max(seq) FROM queue.messages`).Scan(&maxMsg); err != nil {
		t.Fatal(err)
	}
	if err := pgdb.QueryRowContext(ctx, `INSERT INTO queue.messages (received_at, in_network, in_from, in_reply, in_to, in_id,
		relationship_id, owner_id, out_network, out_from, out_to, out_id, body, nick, refusal_condition, refusal_text, reply_to,
		notice, subscribe, state) VALUES (0, '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', 0, 0, 'sent') RETURNING seq`).Scan(&next); err != nil {
		t.Fatal(err)
	}
	if next <= maxMsg || next <= usedSeq {
		t.Errorf("new message numbered %d, not above the copied %d and the deleted %d", next, maxMsg, usedSeq)
	}
	var parts int
	if err := pgdb.QueryRowContext(ctx, `SELECT count(*) FROM queue.messages WHERE parts <> ''`).Scan(&parts); err != nil || parts == 0 {
		t.Errorf("messages with references: %d, %v", parts, err)
	}
	var secret []byte
	if err := pgdb.QueryRowContext(ctx, `SELECT value FROM mail_mail.meta WHERE key = 'secret'`).Scan(&secret); err != nil ||
		len(secret) != 32 || secret[1] != 7 {
		t.Errorf("mail secret: %x, %v; want the source's", secret, err)
	}

	// A second copy into the same database is refused, naming a table.
	_, err = storecopy.Copy(ctx, storecopy.Options{From: dir, To: to, MailNetworks: []string{"mail"}})
	if !errors.Is(err, storecopy.ErrNotEmpty) || !strings.Contains(err.Error(), "table identity.") {
		t.Fatalf("second copy: %v, want ErrNotEmpty naming a table", err)
	}
}

func TestCopyEmptyDataDir(t *testing.T) {
	pg := testenv.SharedPostgres(t)
	ctx := context.Background()
	dir := t.TempDir()
	to := pg.NewDatabase(t)
	rep, err := storecopy.Copy(ctx, storecopy.Options{From: dir, To: to, MailNetworks: []string{"mail"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Tables) != 0 || len(rep.Stores) != 4 || !rep.OK() {
		t.Fatalf("report: %+v", rep)
	}
	for _, s := range rep.Stores {
		if !s.Absent {
			t.Errorf("store %s: not absent", s.Name)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("the copy wrote into the data_dir: %v", m)
	}
	// The schemas are there, migrated: the gateway opens them.
	idURL, err := sqldb.InSchema(ctx, to, "identity")
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := loadIdentity(t, idURL)
	if snap.RelationshipCount() != 0 {
		t.Error("relationships in an empty copy")
	}
	// Nothing was written, so a copy of a real installation may follow.
	other := t.TempDir()
	if err := mail.MigrateStore(ctx, filepath.Join(other, "mail-mail.db"), "mail"); err != nil {
		t.Fatal(err)
	}
	if _, err := storecopy.Copy(ctx, storecopy.Options{From: other, To: to, MailNetworks: []string{"mail"}}); err != nil {
		t.Fatal(err)
	}
}

func TestCopyRefusesBadDestination(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, to := range []string{
		"postgres://kakehashi:hunter2@127.0.0.1:1/kakehashi?connect_timeout=2",
		"postgres://kakehashi:hunter2@/kakehashi?host=/nonexistent",
		"mysql://kakehashi:hunter2@db/kakehashi",
		"sqlite:/tmp/x.db",
	} {
		_, err := storecopy.Copy(ctx, storecopy.Options{From: dir, To: to})
		if err == nil {
			t.Fatalf("%s: copied", to)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", to, err)
		}
		t.Logf("%v", err)
	}
	if _, err := storecopy.Copy(ctx, storecopy.Options{From: filepath.Join(dir, "missing"), To: "postgres://u:hunter2@127.0.0.1:1/d"}); err == nil ||
		strings.Contains(err.Error(), "hunter2") {
		t.Errorf("missing data_dir: %v", err)
	}
}

func TestCopyRefusesWhatDoesNotFit(t *testing.T) {
	pg := testenv.SharedPostgres(t)
	ctx := context.Background()
	to := pg.NewDatabase(t)
	// The destination's schemas, made by an empty copy.
	if _, err := storecopy.Copy(ctx, storecopy.Options{From: t.TempDir(), To: to}); err != nil {
		t.Fatal(err)
	}
	pgdb, err := sqldb.OpenPostgres(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	defer pgdb.Close()
	if _, err := pgdb.ExecContext(ctx, `ALTER TABLE identity.employees ADD COLUMN photo BYTEA`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, alter, want string
	}{
		{"missing column", `ALTER TABLE contacts ADD COLUMN nickname TEXT`, "table contacts: column nickname: the destination has no such column"},
		{"type", `ALTER TABLE employees ADD COLUMN photo INTEGER`, "table employees: column photo: SQLite INTEGER (INTEGER) cannot be copied into PostgreSQL bytea"},
		{"NUL in text", `UPDATE employees SET doc = '{"id":"nul' || char(0) || '"}' WHERE id = 'hana'`, "table employees: column doc, row 1: text"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			store, err := identity.OpenSQLite(ctx, filepath.Join(dir, "identity.db"))
			if err != nil {
				t.Fatal(err)
			}
			if err := store.Commit(ctx, &identity.Changeset{Employees: []identity.Employee{{ID: "hana", Name: "Hana"}}}); err != nil {
				t.Fatal(err)
			}
			store.Close()
			db, err := sql.Open("sqlite", filepath.Join(dir, "identity.db"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, c.alter); err != nil {
				t.Fatal(err)
			}
			db.Close()
			_, err = storecopy.Copy(ctx, storecopy.Options{From: dir, To: to})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("copy: %v, want an error with %q", err, c.want)
			}
			var n int
			if err := pgdb.QueryRowContext(ctx, `SELECT count(*) FROM identity.employees`).Scan(&n); err != nil || n != 0 {
				t.Errorf("employees in the destination after a refusal: %d, %v", n, err)
			}
		})
	}
}
