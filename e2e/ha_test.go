package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/sqldb"
	"github.com/kakehashi/kakehashi/internal/testenv"
)

// instance starts another gateway instance sharing w's PostgreSQL store
// (worldOptions.store), named name, with its own admin listener and data
// directory, as on another host. It stands by while w.gw is active.
func (w *world) instance(name string) *Gateway {
	w.t.Helper()
	raw, err := os.ReadFile(w.gw.cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	dir := w.t.TempDir()
	admin := testenv.FreeAddr(w.t)
	oldAdmin := strings.TrimPrefix(w.gw.adminURL, "http://")
	cfg := strings.ReplaceAll(string(raw), oldAdmin, admin) // admin.listen and ha.advertise
	cfg = strings.Replace(cfg, "instance: gw-1", "instance: "+name, 1)
	cfg = strings.Replace(cfg, "data_dir: "+filepath.Dir(filepath.Dir(w.gw.cfg)), "data_dir: "+dir, 1)
	path := filepath.Join(dir, "kakehashi.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		w.t.Fatal(err)
	}
	g := &Gateway{t: w.t, bin: w.gw.bin, cfg: path, adminURL: "http://" + admin, cliToken: w.gw.cliToken, standby: true}
	g.Start()
	w.t.Cleanup(g.Stop)
	return g
}

// role is what the instance's /healthz says it is: "active", "standby",
// or "" when it does not answer.
func (g *Gateway) role() string {
	resp, err := http.Get(g.adminURL + "/healthz")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var h struct{ Role string }
	if json.NewDecoder(resp.Body).Decode(&h) != nil {
		return ""
	}
	return h.Role
}

// TestFailoverAfterKill: two instances share a PostgreSQL store. The
// active one is killed (SIGKILL) five times while an employee writes to a
// contact every 20 ms; each time the standby takes over and relays
// again, and the killed one comes back as the standby. Every message is
// either delivered once or bounced back to the employee by the server
// (the component was away): none twice, and none lost but those the
// server wrote to the dead component between the kill and the takeover
// (XEP-0114 acknowledges nothing).
func TestFailoverAfterKill(t *testing.T) {
	failover(t, (*Gateway).Kill, "kill -9", false)
}

// TestFailoverAfterStop: as TestFailoverAfterKill, with a graceful stop
// (SIGTERM, a rolling upgrade): the stopping instance drains, the
// standby takes over, and nothing at all is lost or delivered twice; the
// messages written while neither is connected are bounced to their
// author by the server.
func TestFailoverAfterStop(t *testing.T) {
	failover(t, (*Gateway).Stop, "SIGTERM", true)
}

// TestAdminThroughStandby: every instance serves the admin API. A
// standby forwards what it is asked to the active instance, which makes
// the change and relays by it at once (a transfer's notice, the next
// reply), and audits it under the credential that asked; after a
// takeover the old active instance, back as a standby, forwards to the
// new one.
func TestAdminThroughStandby(t *testing.T) {
	url := testenv.SharedPostgres(t).NewDatabase(t)
	w := newWorld(t, worldOptions{store: url})
	a, b := w.gw, w.instance("gw-2")
	hana, bob, ken := w.client("hana"), w.client("bob"), w.client("ken")
	startConversation(t, hana, bob)

	var tr adminapi.TransferResult
	b.JSON(&tr, "contacts", "transfer", "--from", "hana", "--to", "ken", "--notify", "--reason", "asked of the standby")
	if n := message(t, bob); bare(n.From) != kenAddr || !strings.Contains(n.Body, "ACME Sales · Ken") {
		t.Fatalf("transfer notice: %s", n.Raw)
	}
	if err := bob.Send(kenAddr, "hello, Ken"); err != nil {
		t.Fatal(err)
	}
	if got := message(t, ken); got.Body != "hello, Ken" {
		t.Fatalf("ken got %s", got.Raw)
	}
	var audit []identity.AuditEntry
	b.JSON(&audit, "audit", "--action", identity.ActionContactsTransfer)
	if len(audit) != 1 || audit[0].Actor != "admin:e2e-admin" || audit[0].Reason != "asked of the standby" {
		t.Fatalf("audit read through the standby: %+v", audit)
	}
	// A refusal comes back as the active instance gave it.
	if out, err := b.TryCLI("contacts", "transfer", "--from", "nobody", "--to", "ken", "--reason", "x"); err == nil || !strings.Contains(out, "nobody") {
		t.Fatalf("a refused transfer through the standby: %v\n%s", err, out)
	}

	a.Stop()
	for deadline := time.Now().Add(10 * time.Second); b.role() != "active"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("gw-2 did not take over")
		}
	}
	a.standby = true
	a.Start()
	out := a.CLI("transfers", "revert", tr.ID, "--reason", "asked of the old active instance")
	if !strings.Contains(out, tr.ID) {
		t.Fatalf("revert through gw-1, now standing by: %s", out)
	}
	n := message(t, bob)
	if bare(n.From) != hanaAddr {
		t.Fatalf("revert notice: %s", n.Raw)
	}
	if a.role() != "standby" || b.role() != "active" {
		t.Fatalf("roles: gw-1 %q, gw-2 %q", a.role(), b.role())
	}
}

// steady is an employee's steady traffic to a contact, one message every
// 20 ms, with what became of each message.
type steady struct {
	mu         sync.Mutex
	sent       []string
	sentAt     map[string]time.Time
	byID       map[string]string // stanza ID → body
	received   map[string]int
	bouncedIDs map[string]bool // bounces name the message's ID, which may come back before SendChat returned it
	stop       chan struct{}
	writing    chan struct{}
}

// startSteady has from write to its conversation with to (bobProxy)
// every 20 ms until finish.
func startSteady(from, to *testenv.Client) *steady {
	s := &steady{sentAt: map[string]time.Time{}, byID: map[string]string{}, received: map[string]int{},
		bouncedIDs: map[string]bool{}, stop: make(chan struct{}), writing: make(chan struct{})}
	go func() {
		defer close(s.writing)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			body := "steady " + strconv.Itoa(i)
			at := time.Now()
			id, err := from.SendChat(bobProxy, body)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.sent = append(s.sent, body)
			s.sentAt[body] = at
			s.byID[id] = body
			s.mu.Unlock()
		}
	}()
	go func() {
		for {
			m, err := to.Receive(context.Background())
			if err != nil {
				return
			}
			if m.Kind == "message" && strings.HasPrefix(m.Body, "steady ") {
				s.mu.Lock()
				s.received[m.Body]++
				s.mu.Unlock()
			}
		}
	}()
	go func() {
		for {
			m, err := from.Receive(context.Background())
			if err != nil {
				return
			}
			if m.Kind == "message" && m.Type == "error" {
				s.mu.Lock()
				s.bouncedIDs[m.ID] = true
				s.mu.Unlock()
			}
		}
	}()
	return s
}

// relayedSince waits up to 20 s for the first message written after
// since to be delivered, and returns when it saw it (zero if none came).
func (s *steady) relayedSince(since time.Time) time.Time {
	for deadline := since.Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		s.mu.Lock()
		for body := range s.received {
			if s.sentAt[body].After(since) {
				s.mu.Unlock()
				return time.Now()
			}
		}
		s.mu.Unlock()
	}
	return time.Time{}
}

// bouncedAfter returns how many messages written from since on have been
// bounced, and how long after since the last of them was written: the
// window in which the server had no component to give them to.
func (s *steady) bouncedAfter(since time.Time) (n int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, body := range s.byID {
		if at := s.sentAt[body]; s.bouncedIDs[id] && !at.Before(since) {
			n++
			window = max(window, at.Sub(since))
		}
	}
	return n, window
}

// outcome is what became of the messages of a steady traffic.
type outcome struct {
	sent, delivered, bounced, twice int
	// lost are the messages neither delivered nor bounced, with when
	// they were written.
	lost map[string]time.Time
}

// finish stops the traffic, waits for the last answers, and says what
// became of every message.
func (s *steady) finish() outcome {
	close(s.stop)
	<-s.writing
	time.Sleep(2 * time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	bounced := map[string]bool{}
	for id, body := range s.byID {
		bounced[body] = s.bouncedIDs[id]
	}
	o := outcome{sent: len(s.sent), delivered: len(s.received), lost: map[string]time.Time{}}
	for _, body := range s.sent {
		if bounced[body] {
			o.bounced++
		}
		switch {
		case s.received[body] > 1:
			o.twice++
		case s.received[body] == 0 && !bounced[body]:
			o.lost[body] = s.sentAt[body]
		}
	}
	return o
}

func (o outcome) String() string {
	return fmt.Sprintf("%d messages: %d delivered, %d bounced, %d lost, %d twice", o.sent, o.delivered, o.bounced, len(o.lost), o.twice)
}

// failover runs five takeovers, each after end(active), under an
// employee's steady traffic; how names end in the log, and drains says
// that the ended instance relays what it reads until its streams close.
func failover(t *testing.T, end func(*Gateway), how string, drains bool) {
	url := testenv.SharedPostgres(t).NewDatabase(t)
	w := newWorld(t, worldOptions{store: url, logLevel: "info"})
	a, b := w.gw, w.instance("gw-2")
	if a.role() != "active" || b.role() != "standby" {
		t.Fatalf("roles: gw-1 %q, gw-2 %q", a.role(), b.role())
	}
	hana, bob := w.client("hana"), w.client("bob")
	startConversation(t, hana, bob)
	traffic := startSteady(hana, bob)

	const rounds = 5
	var took, bouncing []time.Duration
	var kills []time.Time
	for round := range rounds {
		time.Sleep(500 * time.Millisecond)
		killed := time.Now()
		kills = append(kills, killed)
		// Stop returns once the process has exited, which may be after
		// the standby took over: the window is measured from the signal.
		ended := make(chan struct{})
		go func() { defer close(ended); end(a) }()
		// Relaying again: the first message Bob gets that was written
		// after the kill.
		back := traffic.relayedSince(killed)
		if back.IsZero() {
			t.Fatalf("round %d: nothing relayed after the kill; gw-2 is %q", round, b.role())
		}
		took = append(took, back.Sub(killed))
		// After a kill only the standby can have relayed it. A stopping
		// instance relays what it reads until it has closed its streams,
		// so after a stop the message may be the old one's last: the
		// standby must then take over within the bound relaying again is
		// held to.
		for deadline := time.Now().Add(3 * time.Second); b.role() != "active"; time.Sleep(10 * time.Millisecond) {
			if !drains || time.Now().After(deadline) {
				t.Fatalf("round %d: a message written after the %s was relayed, but gw-2 says it is %q", round, how, b.role())
			}
		}
		<-ended
		time.Sleep(300 * time.Millisecond) // the last bounces
		_, window := traffic.bouncedAfter(killed)
		bouncing = append(bouncing, window)
		a.standby = true
		a.Start() // back as the standby
		a, b = b, a
	}
	o := traffic.finish()
	windows := slices.Clone(took) // by round, before sorting
	slices.Sort(took)
	slices.Sort(bouncing)
	t.Logf("relaying again after %s of the active instance: p50 %v, max %v; bouncing for p50 %v, max %v (%d failovers)",
		how, took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond),
		bouncing[len(bouncing)/2].Round(time.Millisecond), bouncing[len(bouncing)-1].Round(time.Millisecond), rounds)
	if took[len(took)-1] > 3*time.Second {
		t.Errorf("relaying again took up to %v", took[len(took)-1])
	}
	for body, at := range o.lost {
		// The component protocol's loss: written to the gateway's socket
		// by the server around the kill, before anyone could take over.
		inWindow, near := false, time.Duration(1<<62)
		for i, k := range kills {
			if at.After(k.Add(-100*time.Millisecond)) && at.Before(k.Add(windows[i])) {
				inWindow = true
			}
			if d := at.Sub(k); d.Abs() < near.Abs() {
				near = d
			}
		}
		if !inWindow || how != "kill -9" {
			t.Errorf("lost %q, written %v from the nearest %s; stored as %s", body, near.Round(time.Millisecond), how, storedAs(t, url, body))
		}
	}
	t.Log(o)
	if o.twice > 0 {
		t.Errorf("%d messages delivered twice", o.twice)
	}
}

// TestPostgresRestartUnderTraffic: the database restarts while an
// employee writes to a contact every 20 ms. The active instance's term
// ends (it cannot renew), an instance is active again once the database
// is back, and every message is delivered once or bounced or answered to
// its author, none twice, but for a few the server routed to the
// stopping instance after it ended its stream.
func TestPostgresRestartUnderTraffic(t *testing.T) {
	pg := testenv.StartPostgres(t)
	url := pg.NewDatabase(t)
	w := newWorld(t, worldOptions{store: url, logLevel: "info"})
	a, b := w.gw, w.instance("gw-2")
	hana, bob := w.client("hana"), w.client("bob")
	startConversation(t, hana, bob)
	traffic := startSteady(hana, bob)
	time.Sleep(500 * time.Millisecond)
	restarted := time.Now()
	pg.Restart(t)
	up := time.Now()
	back := traffic.relayedSince(up)
	if back.IsZero() {
		t.Fatalf("nothing relayed after the restart; gw-1 is %q, gw-2 %q", a.role(), b.role())
	}
	time.Sleep(500 * time.Millisecond)
	o := traffic.finish()
	t.Logf("the database was down and starting for %v; relaying again %v after it was back; %s",
		up.Sub(restarted).Round(time.Millisecond), back.Sub(up).Round(time.Millisecond), o)
	if roles := []string{a.role(), b.role()}; !slices.Contains(roles, "active") || !slices.Contains(roles, "standby") {
		t.Errorf("roles after the restart: gw-1 %q, gw-2 %q", roles[0], roles[1])
	}
	// The loss left: messages the server routes to the stopping instance
	// in the milliseconds after it ended its stream (the server's
	// reaction time), which the failing store cannot keep and the ended
	// stream cannot answer. Bounded, and shown.
	for body, at := range o.lost {
		t.Logf("lost %q, written %v after the restart began", body, at.Sub(restarted).Round(time.Millisecond))
	}
	if len(o.lost) > 10 {
		t.Errorf("%d messages neither stored nor answered", len(o.lost))
	}
	if o.twice > 0 {
		t.Errorf("%d messages delivered twice", o.twice)
	}
}

// storedAs says how the queue in the PostgreSQL store at url holds the
// message with body: its state and last error, or that it is not there.
func storedAs(t *testing.T, url, body string) string {
	ctx := context.Background()
	u, err := sqldb.InSchema(ctx, url, "queue")
	if err != nil {
		return err.Error()
	}
	db, err := sqldb.OpenPostgres(ctx, u)
	if err != nil {
		return err.Error()
	}
	defer db.Close()
	var state, lastErr string
	err = db.QueryRowContext(ctx, `SELECT state, last_error FROM messages WHERE body = $1 ORDER BY seq DESC LIMIT 1`, body).Scan(&state, &lastErr)
	if err != nil {
		return "not stored (" + err.Error() + ")"
	}
	return state + " " + strconv.Quote(lastErr)
}
