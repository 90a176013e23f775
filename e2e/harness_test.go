// Package e2e holds Kakehashi's end-to-end tests: the real kakehashi binary
// between real Prosody servers (started by scripts/prosody.sh through
// internal/testenv), with employees and customers logged in as ordinary
// clients of an independent XMPP implementation (github.com/xmppo/go-xmpp).
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

const (
	password  = "test-password"
	token     = "e2e-admin-token-0123456789"
	bobProxy  = `bob\40ext.test@gw.corp.test`
	hanaAddr  = "hana.sales@contact.acme.test"
	kenAddr   = "ken.sales@contact.acme.test"
	waitShort = 10 * time.Second
)

// build compiles the kakehashi binary once per test process: with the race
// detector for the tests, without it for benchmarks.
func build(race bool) (string, error) {
	dir, err := os.MkdirTemp("", "kakehashi-e2e-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "kakehashi")
	// -buildvcs=false: VCS stamping runs git, which refuses a checkout
	// owned by another user (safe.directory); the tests need no stamp.
	args := []string{"build", "-buildvcs=false", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/kakehashi")...)
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

var (
	raceBinary  = sync.OnceValues(func() (string, error) { return build(true) })
	benchBinary = sync.OnceValues(func() (string, error) { return build(false) })
)

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}

func binary(t testing.TB) string {
	t.Helper()
	get := raceBinary
	if _, ok := t.(*testing.B); ok {
		get = benchBinary
	}
	bin, err := get()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Gateway is a kakehashi process under test.
type Gateway struct {
	t        testing.TB
	bin      string
	cfg      string
	adminURL string
	cmd      *exec.Cmd
	done     chan struct{}
	log      *syncBuffer
	// cliToken is the named admin token CLI and TryCLI use (see newWorld);
	// empty: config's bootstrap token.
	cliToken string
	// standby: Start waits for the instance to stand by rather than be
	// active (an instance that shares its store with an active one).
	standby bool
}

// world is one test's servers, gateway and clients.
type world struct {
	t               testing.TB
	inside, outside *testenv.Prosody // the same server unless split
	mail            *testenv.Mail    // Dovecot and Postfix, with the mail option
	gw              *Gateway
}

// guardTerm is the word the harness's gateway keeps inside (guard.terms).
const guardTerm = "Project Sakura"

type worldOptions struct {
	// server is the XMPP server: "prosody" or "ejabberd"; empty takes
	// $KAKEHASHI_E2E_SERVER, else prosody (see ejabberd_test.go).
	server string
	// split runs the inside and the outside on two separate Prosody
	// servers, as in production, so one side can fail alone.
	split bool
	// fallback overrides routing.fallback_employee (default ken).
	fallback string
	// logLevel is the gateway's log level (default debug).
	logLevel string
	// mail adds an outside mail network on real Dovecot and Postfix.
	mail bool
	// attachLimit is the mail network's mail.attach_limit (default the
	// gateway's).
	attachLimit int64
	// unconfirmed turns off the outside component's confirmation of
	// what it writes (xmpp.confirm_writes: false), for measurement.
	unconfirmed bool
	// store is a PostgreSQL URL for the store (config's store), making
	// the gateway instance gw-1 of those that share it (see
	// world.instance); empty: SQLite files in the data directory.
	store string
}

func newWorld(t testing.TB, o worldOptions) *world {
	t.Helper()
	w := &world{t: t}
	start := serverStarter(t, o.server)
	if o.split {
		w.inside = start(t, testenv.ProsodyOptions{OutsideHost: "unused-outside.test", Components: []string{"gw.corp.test"}})
		w.outside = start(t, testenv.ProsodyOptions{InsideHost: "unused-inside.test", Components: []string{"contact.acme.test"}})
	} else {
		po := testenv.ProsodyOptions{}
		if o.mail {
			po.Components = []string{"gw.corp.test", "contact.acme.test", mailProxyDomain}
		}
		w.inside = start(t, po)
		w.outside = w.inside
	}
	for _, u := range []string{"hana", "ken", "desk"} {
		w.inside.Register(t, u, "corp.test", password)
	}
	for _, u := range []string{"bob", "alice", "carol"} {
		w.outside.Register(t, u, "ext.test", password)
	}
	if o.logLevel == "" {
		o.logLevel = "debug"
	}
	if o.fallback == "" {
		o.fallback = "ken"
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "kakehashi.yaml")
	admin := testenv.FreeAddr(t)
	proxies, mailNet := "", ""
	if o.mail {
		w.mail = testenv.StartMail(t, testenv.MailOptions{})
		for _, u := range []string{"bob", "carol", "dave"} {
			w.mail.AddUser(t, u+"@mail.test", password)
		}
		proxies = ", proxy_domains: {mail: " + mailProxyDomain + "}"
		mailNet = fmt.Sprintf(`  mail:
    side: outside
    kind: mail
    mail:
      domain: contact.acme.test
      trusted_authserv_ids: [mx.contact.acme.test]
      attach_limit: %d
      imap: {server: %q, tls: none, username: %q, password: %q, poll_interval: 1s}
      smtp: {server: %q, tls: starttls, ca_file: %q, username: %q, password: %q}
`, o.attachLimit, w.mail.IMAPAddr, w.mail.GatewayUser, w.mail.GatewayPass,
			w.mail.SubmissionAddr, filepath.Join(w.mail.Dir, "tls", "cert.pem"), w.mail.GatewayUser, w.mail.GatewayPass)
	}
	yaml := fmt.Sprintf(`data_dir: %s
log: {level: %s}
admin: {listen: %q, token: %q}
networks:
  corp:
    side: inside
    kind: xmpp
    xmpp: {domain: gw.corp.test, server: %q, secret: %q, home_domains: [corp.test], proxy_for: public-xmpp%s,
      upload: %q, upload_hosts: [%q]}
  public-xmpp:
    side: outside
    kind: xmpp
    xmpp: {domain: contact.acme.test, server: %q, secret: %q, upload: %q, confirm_writes: %t}
%srouting: {fallback_employee: %s, fallback_address: desk@corp.test}
limits: {max_body_bytes: 4096}
files: {allow_private: true}
guard: {terms: [%q]}
`, filepath.Join(dir, "data"), o.logLevel, admin, token, w.inside.ComponentAddr, w.inside.Secret, proxies,
		w.inside.InsideUpload.Domain, w.inside.InsideUpload.Host,
		w.outside.ComponentAddr, w.outside.Secret, w.outside.OutsideUpload.Domain, !o.unconfirmed, mailNet, o.fallback, guardTerm)
	if o.store != "" {
		yaml += fmt.Sprintf("store: %q\nha: {instance: gw-1, ttl: 1s, advertise: \"http://%s\"}\n", o.store, admin)
	}
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	w.gw = &Gateway{t: t, bin: binary(t), cfg: cfg, adminURL: "http://" + admin}
	w.gw.Start()
	t.Cleanup(w.gw.Stop)
	// Tests act as a named admin, as people do: the audit log names
	// "admin:e2e-admin" (config's token is "admin:bootstrap").
	w.gw.cliToken = w.gw.AddAdmin("e2e-admin", "admin")
	w.gw.CLI("directory", "import", filepath.Join(repoRoot(), "examples", "directory.yaml"))
	return w
}

// Start runs the gateway and waits until every network is connected.
func (g *Gateway) Start() {
	g.t.Helper()
	if g.log == nil {
		g.log = &syncBuffer{}
		g.t.Cleanup(func() {
			if g.t.Failed() || os.Getenv("KAKEHASHI_E2E_LOGS") != "" {
				g.t.Logf("gateway log (%s):\n%s", g.cfg, g.log.String())
			}
		})
	} else {
		// A restart: the log goes on, so that a failure shows every run.
		fmt.Fprintf(g.log, "--- restarted at %s\n", time.Now().Format(time.RFC3339Nano))
	}
	args := []string{"serve", "--config", g.cfg}
	if p := os.Getenv("KAKEHASHI_BENCH_CPUPROFILE"); p != "" {
		args = append(args, "--cpuprofile", p)
	}
	g.cmd = exec.Command(g.bin, args...)
	g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.done = make(chan struct{})
	go func() { _ = g.cmd.Wait(); close(g.done) }()
	g.WaitHealthy()
}

// WaitHealthy waits until /healthz says every network is connected.
func (g *Gateway) WaitHealthy() {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-g.done:
			g.t.Fatalf("gateway exited:\n%s", g.log.String())
		default:
		}
		resp, err := http.Get(g.adminURL + "/healthz")
		if err == nil {
			var h struct{ Role string }
			_ = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			// An instance sharing a PostgreSQL store is healthy standing
			// by; the one a world starts with must become active.
			if resp.StatusCode == http.StatusOK && (h.Role != "standby" || g.standby) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.t.Fatalf("gateway not healthy after 30s:\n%s", g.log.String())
}

// Stop stops the gateway gracefully (SIGTERM).
func (g *Gateway) Stop() { g.signal(syscall.SIGTERM) }

// Kill crashes the gateway (SIGKILL): nothing is flushed.
func (g *Gateway) Kill() { g.signal(syscall.SIGKILL) }

func (g *Gateway) signal(sig syscall.Signal) {
	if g.cmd == nil || g.cmd.Process == nil {
		return
	}
	select {
	case <-g.done:
		return
	default:
	}
	_ = g.cmd.Process.Signal(sig)
	select {
	case <-g.done:
	case <-time.After(20 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
		g.t.Errorf("gateway did not stop on %v", sig)
	}
}

// CLI runs a kakehashi admin subcommand against the gateway and returns its
// output; it fails the test on error.
func (g *Gateway) CLI(args ...string) string {
	g.t.Helper()
	out, err := g.TryCLI(args...)
	if err != nil {
		g.t.Fatalf("kakehashi %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TryCLI runs a kakehashi subcommand and returns its output and error.
func (g *Gateway) TryCLI(args ...string) (string, error) {
	args = append(args, "--config", g.cfg)
	if g.cliToken != "" {
		args = append(args, "--token", g.cliToken)
	}
	cmd := exec.Command(g.bin, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// JSON runs an admin subcommand with --json and decodes its output.
func (g *Gateway) JSON(v any, args ...string) {
	g.t.Helper()
	out := g.CLI(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		g.t.Fatalf("kakehashi %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// client logs user in on the side's server.
func (w *world) client(user string) *testenv.Client {
	w.t.Helper()
	host := "ext.test"
	p := w.outside
	if user == "hana" || user == "ken" || user == "desk" {
		host, p = "corp.test", w.inside
	}
	return testenv.Dial(w.t, p, user+"@"+host, password)
}

// message waits for a chat message with a body, skipping presence and the rest.
func message(t testing.TB, c *testenv.Client) testenv.Stanza {
	t.Helper()
	return c.Expect(t, waitShort, func(s testenv.Stanza) bool {
		return s.Kind == "message" && (s.Body != "" || s.Type == "error")
	})
}

// silent asserts that c receives no message with a body for d.
func silent(t testing.TB, c *testenv.Client, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		s, err := c.Receive(ctx)
		if err != nil {
			return
		}
		if s.Kind == "message" && s.Body != "" {
			t.Fatalf("%s unexpectedly received %s", c.JID, s.Raw)
		}
	}
}

func bare(a string) string {
	if i := strings.IndexByte(a, '/'); i >= 0 {
		return a[:i]
	}
	return a
}
