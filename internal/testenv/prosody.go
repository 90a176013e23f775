package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Defaults for ProsodyOptions. A Prosody with no Components given gets two:
// the gateway's own domain and one that stands for an external contact
// domain.
const (
	DefaultInsideHost       = "corp.test"
	DefaultOutsideHost      = "ext.test"
	DefaultGatewayComponent = "gw.corp.test"
	DefaultContactComponent = "contact.acme.test"
)

// The hosts in the URLs of the default upload services (see
// Prosody.InsideUpload). All three are loopback; each service needs its own
// host because Prosody tells them apart by the Host header.
const (
	DefaultInsideUploadHost  = "127.0.0.1"
	DefaultOutsideUploadHost = "localhost"
	DefaultContactUploadHost = "127.0.0.2"
)

// DefaultUploadLimit is the largest file the upload services take unless
// ProsodyOptions.UploadLimit says otherwise.
const DefaultUploadLimit = 64 << 20

// UploadService is a XEP-0363 HTTP upload service (Prosody's
// mod_http_file_share), a component of the server.
type UploadService struct {
	// Domain is the service's JID, to send slot requests to.
	Domain string
	// Host is the host in the service's URLs (an address or name on
	// loopback) and the Host header Prosody routes its requests by.
	Host string
	// URL is the base of its slot URLs, "http://Host:port/" (slots are
	// URL + "file_share/<id>/<name>"). Empty in ProsodyOptions.
	URL string
}

// ProsodyOptions configure StartProsody. The zero value gives the defaults.
type ProsodyOptions struct {
	// InsideHost and OutsideHost are the two virtual hosts users live on
	// (defaults DefaultInsideHost and DefaultOutsideHost).
	InsideHost, OutsideHost string
	// Components get one Component block each, all with the same secret
	// (default DefaultGatewayComponent and DefaultContactComponent).
	Components []string
	// Secret is the component secret; empty means a random one.
	Secret string
	// LogLevel is Prosody's minimum log level: debug, info (default), warn or
	// error. The log is DIR/prosody.log and is shown when a test fails.
	LogLevel string
	// Uploads replace the default upload services (Domain and Host only).
	// The defaults, as scripts/prosody.sh has them: upload.InsideHost at
	// DefaultInsideUploadHost; upload.PARENT at DefaultOutsideUploadHost,
	// where PARENT is the parent domain of the first component not under
	// InsideHost (contact.acme.test gives upload.acme.test); and
	// upload.OutsideHost at DefaultContactUploadHost.
	Uploads []UploadService
	// UploadLimit is the largest file, in bytes, each upload service takes;
	// 0 means DefaultUploadLimit.
	UploadLimit int64
}

// Prosody is a running throwaway Prosody on loopback started through
// scripts/prosody.sh. Its config, data and log live in Dir.
type Prosody struct {
	// Dir holds prosody.cfg.lua, prosody.log and the data (accounts).
	Dir string
	// C2SAddr and ComponentAddr are the 127.0.0.1:port addresses of the
	// client and XEP-0114 component listeners.
	C2SAddr, ComponentAddr string
	// HTTPAddr is the 127.0.0.1:port address of the HTTP server the upload
	// services share (it also listens on the other 127.x.y.z addresses in
	// Uploads, on the same port).
	HTTPAddr string
	// Secret is the component_secret of every component.
	Secret string
	// InsideHost, OutsideHost and Components are the domains served.
	InsideHost, OutsideHost string
	Components              []string
	// Uploads are the upload services, as scripts/prosody.sh reported
	// them.
	Uploads []UploadService
	// InsideUpload (upload.InsideHost: the employees' server's),
	// OutsideUpload (upload.acme.test with the default components: the
	// outside company's, next to its contact component) and ContactUpload
	// (upload.OutsideHost: the contacts' own server's) are those of Uploads
	// with these roles; one with no such service is the zero value.
	InsideUpload, OutsideUpload, ContactUpload UploadService
	// UploadLimit is the largest file each upload service takes, in bytes.
	UploadLimit int64

	script                           string
	logLevel                         string
	uploadArgs                       []string
	c2sPort, componentPort, httpPort int
	mu                               sync.Mutex // guards running and serialises start/stop
	running                          bool
}

// RequireProsody skips the test (or fails it under CI=true) when Prosody is
// not installed.
func RequireProsody(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"prosody", "prosodyctl"} {
		if _, err := exec.LookPath(bin); err != nil {
			unavailable(t, "prosody not installed: run `bash scripts/prosody.sh install` (or make test-deps)")
		}
	}
}

// StartProsody starts a Prosody on free loopback ports with its files in a
// new t.TempDir, and stops it when the test ends. If the server is not
// installed, the test is skipped (failed under CI=true); if it is installed
// but does not start, the test fails.
func StartProsody(t testing.TB, o ProsodyOptions) *Prosody {
	t.Helper()
	RequireProsody(t)
	p := newServer(t, o, "prosody.sh")
	p.launch(t, "prosody", "prosody.log")
	return p
}

// newServer fills in o's defaults for a server that the script (in
// scripts/) drives; Dir is a new t.TempDir.
func newServer(t testing.TB, o ProsodyOptions, script string) *Prosody {
	t.Helper()
	p := &Prosody{
		Dir:         t.TempDir(),
		Secret:      o.Secret,
		InsideHost:  o.InsideHost,
		OutsideHost: o.OutsideHost,
		Components:  append([]string(nil), o.Components...),
		UploadLimit: o.UploadLimit,
		script:      filepath.Join(RepoRoot(t), "scripts", script),
		logLevel:    o.LogLevel,
	}
	for _, u := range o.Uploads {
		p.uploadArgs = append(p.uploadArgs, "--upload", u.Domain+"="+u.Host)
	}
	if p.UploadLimit == 0 {
		p.UploadLimit = DefaultUploadLimit
	}
	if p.InsideHost == "" {
		p.InsideHost = DefaultInsideHost
	}
	if p.OutsideHost == "" {
		p.OutsideHost = DefaultOutsideHost
	}
	if len(p.Components) == 0 {
		p.Components = []string{DefaultGatewayComponent, DefaultContactComponent}
	}
	if p.Secret == "" {
		var b [12]byte
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatalf("testenv: component secret: %v", err)
		}
		p.Secret = hex.EncodeToString(b[:])
	}
	if p.logLevel == "" {
		p.logLevel = "info"
	}
	return p
}

// launch starts the server named name on free loopback ports and stops
// it when the test ends, showing the tail of its log (logFile, in Dir) if
// the test failed. The Require function has passed, so the server is
// installed: not starting is a failure, never a skip.
func (p *Prosody) launch(t testing.TB, name, logFile string) {
	t.Helper()
	// A port picked as free can be taken before the server binds it
	// (parallel tests do this all the time); the script refuses ports in
	// use, so pick again.
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var ports []int
		if ports, err = freePorts(3); err != nil {
			break
		}
		p.setPorts(ports[0], ports[1], ports[2])
		if err = p.start(); err == nil || !isPortConflict(err) {
			break
		}
	}
	if err != nil {
		t.Fatalf("testenv: %s is installed but failed to start: %v", name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: tail of %s:\n%s", filepath.Join(p.Dir, logFile), p.LogTail(40))
		}
		p.Stop(t)
	})
}

func (p *Prosody) setPorts(c2s, component, http int) {
	p.c2sPort, p.componentPort, p.httpPort = c2s, component, http
	p.C2SAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(c2s))
	p.ComponentAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(component))
	p.HTTPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(http))
}

// Upload returns the upload service with JID domain, and whether there is
// one.
func (p *Prosody) Upload(domain string) (UploadService, bool) {
	for _, u := range p.Uploads {
		if u.Domain == domain {
			return u, true
		}
	}
	return UploadService{}, false
}

// setUploads records the upload services from the UPLOAD= lines of
// prosody.sh's output and picks out the three roles.
func (p *Prosody) setUploads(out string) error {
	var ups []UploadService
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "UPLOAD=")
		if !ok {
			continue
		}
		domain, url, ok := strings.Cut(rest, " URL=")
		host := strings.TrimPrefix(url, "http://")
		host, port, okHost := strings.Cut(strings.TrimSuffix(host, "/"), ":")
		if !ok || !okHost || port != strconv.Itoa(p.httpPort) || domain == "" || host == "" {
			return fmt.Errorf("prosody.sh start: bad upload line %q", line)
		}
		ups = append(ups, UploadService{Domain: domain, Host: host, URL: url})
	}
	p.Uploads = ups
	p.InsideUpload, _ = p.Upload("upload." + p.InsideHost)
	p.ContactUpload, _ = p.Upload("upload." + p.OutsideHost)
	p.OutsideUpload = UploadService{}
	for _, c := range p.Components {
		if strings.HasSuffix(c, "."+p.InsideHost) {
			continue
		}
		if _, parent, ok := strings.Cut(c, "."); ok {
			p.OutsideUpload, _ = p.Upload("upload." + parent)
		}
		break
	}
	return nil
}

func isPortConflict(err error) bool {
	s := err.Error()
	return strings.Contains(s, "already in use") || strings.Contains(s, "Failed to open server port")
}

// Register creates the account user@host with password pass (or resets its
// password). It works while the server runs.
func (p *Prosody) Register(t testing.TB, user, host, pass string) {
	t.Helper()
	if _, err := p.run("register", "--dir", p.Dir, user, host, pass); err != nil {
		t.Fatalf("testenv: register %s@%s: %v", user, host, err)
	}
}

// Stop stops the server and waits for it to exit; accounts stay in Dir. Clients
// see their connections closed. Stopping a stopped server does nothing.
func (p *Prosody) Stop(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return
	}
	if _, err := p.run("stop", "--dir", p.Dir); err != nil {
		t.Fatalf("testenv: stop prosody: %v", err)
	}
	p.running = false
}

// Start starts a stopped server again on the same ports with the same Dir,
// for tests of outages and reconnection. Starting a running server does
// nothing.
func (p *Prosody) Start(t testing.TB) {
	t.Helper()
	if err := p.start(); err != nil {
		t.Fatalf("testenv: restart prosody: %v", err)
	}
}

func (p *Prosody) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		return nil
	}
	args := []string{"start",
		"--dir", p.Dir,
		"--c2s-port", strconv.Itoa(p.c2sPort),
		"--component-port", strconv.Itoa(p.componentPort),
		"--http-port", strconv.Itoa(p.httpPort),
		"--upload-limit", strconv.FormatInt(p.UploadLimit, 10),
		"--secret", p.Secret,
		"--inside", p.InsideHost,
		"--outside", p.OutsideHost,
		"--log-level", p.logLevel,
		// Let the script's watchdog stop the server if this test binary dies
		// without running its cleanups (timeout, panic, SIGKILL).
		"--parent-pid", strconv.Itoa(os.Getpid()),
	}
	for _, c := range p.Components {
		args = append(args, "--component", c)
	}
	args = append(args, p.uploadArgs...)
	out, err := p.run(args...)
	if err != nil {
		return err
	}
	want := fmt.Sprintf("C2S=%s COMPONENT=%s HTTP=%s ", p.C2SAddr, p.ComponentAddr, p.HTTPAddr)
	if !strings.Contains(out, want) {
		return fmt.Errorf("prosody.sh start: unexpected output %q (want %q...)", out, want)
	}
	if err := p.setUploads(out); err != nil {
		return err
	}
	p.running = true
	return nil
}

// run runs scripts/prosody.sh with args and returns its combined output.
func (p *Prosody) run(args ...string) (string, error) { return runScript(p.script, args...) }

// LogTail returns the last n lines of the server's log.
func (p *Prosody) LogTail(n int) string { return tailFile(filepath.Join(p.Dir, "prosody.log"), n) }
