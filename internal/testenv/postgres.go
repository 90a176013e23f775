package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/sqldb"
)

// Postgres is a running throwaway PostgreSQL cluster on loopback started
// through scripts/postgres.sh. Tests take a database of their own from it
// with NewDatabase.
type Postgres struct {
	// Dir holds the cluster (Dir/pgdata), its socket (Dir/run) and its log
	// (Dir/log/postgres.log).
	Dir string
	// Addr is the 127.0.0.1:port address it listens on.
	Addr string
	// URL is the URL of its initial database, as the cluster's superuser
	// (who may create and drop databases).
	URL string

	script string
	port   int
	shared bool
	mu     sync.Mutex // guards running and serialises start/stop
	// running is whether the script last started it (and nothing since
	// stopped it).
	running bool
}

// RequirePostgres skips the test (or fails it under CI=true) when
// PostgreSQL is not installed.
func RequirePostgres(t testing.TB) {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		unavailable(t, "postgresql not installed: run `bash scripts/postgres.sh install` (or make test-deps)")
	}
}

// sharedPostgres is the one cluster SharedPostgres hands out in a test
// binary. It is package state on purpose: a cluster costs seconds to
// create, and a test binary is the unit that shares it (each test still
// gets a database of its own). The script's watchdog stops it and removes
// its directory once the binary exits.
var sharedPostgres struct {
	mu sync.Mutex
	p  *Postgres
}

// SharedPostgres returns the test binary's shared PostgreSQL cluster,
// starting it on first use. Tests take databases from it (NewDatabase)
// and must not stop it; a test that stops or restarts its server takes
// one of its own from StartPostgres. If PostgreSQL is not installed, the
// test is skipped (failed under CI=true); if it is installed but does not
// start, the test fails.
func SharedPostgres(t testing.TB) *Postgres {
	t.Helper()
	RequirePostgres(t)
	sharedPostgres.mu.Lock()
	defer sharedPostgres.mu.Unlock()
	if sharedPostgres.p != nil {
		return sharedPostgres.p
	}
	p, err := startPostgres(t, true)
	if err != nil {
		t.Fatalf("testenv: postgresql is installed but failed to start: %v", err)
	}
	sharedPostgres.p = p
	return p
}

// StartPostgres starts a PostgreSQL cluster of the test's own on a free
// loopback port, in a new directory, and stops it and removes the
// directory when the test ends. It is for tests that stop, crash or
// restart the server; others share one (SharedPostgres). If PostgreSQL
// is not installed, the test is skipped (failed under CI=true); if it is
// installed but does not start, the test fails.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	RequirePostgres(t)
	p, err := startPostgres(t, false)
	if err != nil {
		t.Fatalf("testenv: postgresql is installed but failed to start: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: tail of %s:\n%s", filepath.Join(p.Dir, "log", "postgres.log"), p.LogTail(40))
		}
		p.stop(t, "fast")
		if err := os.RemoveAll(p.Dir); err != nil {
			t.Logf("testenv: remove %s: %v", p.Dir, err)
		}
	})
	return p
}

func startPostgres(t testing.TB, shared bool) (*Postgres, error) {
	// Not t.TempDir: the server runs as user postgres (it refuses root),
	// which must reach the directory, and t.TempDir's parent is private
	// to root. A short name keeps the socket's path under the Unix limit.
	dir, err := os.MkdirTemp("", "kkh-pg-")
	if err != nil {
		return nil, fmt.Errorf("postgres dir: %w", err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return nil, fmt.Errorf("postgres dir: %w", err)
	}
	p := &Postgres{
		Dir:    dir,
		script: filepath.Join(RepoRoot(t), "scripts", "postgres.sh"),
		shared: shared,
	}
	// A port picked as free can be taken before the server binds it; the
	// script refuses ports in use, so pick again.
	for attempt := 0; attempt < 5; attempt++ {
		var ports []int
		if ports, err = freePorts(1); err != nil {
			break
		}
		p.port = ports[0]
		p.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port))
		if err = p.start(); err == nil || !strings.Contains(err.Error(), "already in use") {
			break
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}

func (p *Postgres) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		return nil
	}
	args := []string{"start", "--dir", p.Dir, "--port", strconv.Itoa(p.port),
		// Let the script's watchdog stop the server if this test binary
		// dies without running its cleanups (timeout, panic, SIGKILL).
		"--parent-pid", strconv.Itoa(os.Getpid())}
	if p.shared {
		args = append(args, "--remove-dir")
	}
	out, err := p.run(args...)
	if err != nil {
		return err
	}
	var u string
	for _, f := range strings.Fields(out) {
		if v, ok := strings.CutPrefix(f, "URL="); ok {
			u = v
		}
	}
	if u == "" || !strings.Contains(u, "@"+p.Addr+"/") {
		return fmt.Errorf("postgres.sh start: unexpected output %q (want URL=postgres://…@%s/…)", out, p.Addr)
	}
	p.URL = u
	p.running = true
	return nil
}

// Stop stops the server (fast shutdown: open transactions are rolled
// back, clients disconnected) and waits for it to exit; the data stays.
// Stopping a stopped server does nothing.
func (p *Postgres) Stop(t testing.TB) {
	t.Helper()
	p.mustOwn(t)
	p.stop(t, "fast")
}

// Crash stops the server the way a power cut would, as far as clients
// and the data can tell: immediate shutdown, no checkpoint, so the next
// Start recovers from the WAL what was committed.
func (p *Postgres) Crash(t testing.TB) {
	t.Helper()
	p.mustOwn(t)
	p.stop(t, "immediate")
}

// Start starts a stopped server again on the same port with the same
// data. Starting a running server does nothing.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	p.mustOwn(t)
	if err := p.start(); err != nil {
		t.Fatalf("testenv: restart postgres: %v", err)
	}
}

// Restart stops the server (fast shutdown) and starts it again.
func (p *Postgres) Restart(t testing.TB) {
	t.Helper()
	p.Stop(t)
	p.Start(t)
}

func (p *Postgres) mustOwn(t testing.TB) {
	t.Helper()
	if p.shared {
		t.Fatalf("testenv: the shared postgres is not to be stopped or started; take one from StartPostgres")
	}
}

func (p *Postgres) stop(t testing.TB, mode string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return
	}
	if _, err := p.run("stop", "--dir", p.Dir, "--mode", mode); err != nil {
		t.Fatalf("testenv: stop postgres: %v", err)
	}
	p.running = false
}

// NewDatabase creates an empty database of the test's own and returns its
// URL (as the superuser, sslmode=disable); it is dropped when the test
// ends, whoever is still connected.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("testenv: database name: %v", err)
	}
	name := "t_" + dbNamePart(t.Name()) + "_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.admin(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		t.Fatalf("testenv: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		p.mu.Lock()
		running := p.running
		p.mu.Unlock()
		if !running {
			return // a test that stopped its own server; it goes with it
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := p.admin(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(p.URL)
	if err != nil {
		t.Fatalf("testenv: postgres URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// NewSchema creates an empty schema of the test's own in the cluster's
// initial database and returns a URL whose connections use it (its
// search_path), as the superuser; it is dropped with everything in it
// when the test ends. A schema costs a millisecond where a database costs
// a few hundred (PostgreSQL copies and syncs a template for each): for
// tests that need an empty namespace, not a database of their own.
// Advisory locks are the database's, so such tests share them.
func (p *Postgres) NewSchema(t testing.TB) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("testenv: schema name: %v", err)
	}
	name := "t_" + dbNamePart(t.Name()) + "_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.admin(ctx, `CREATE SCHEMA "`+name+`"`); err != nil {
		t.Fatalf("testenv: create schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		p.mu.Lock()
		running := p.running
		p.mu.Unlock()
		if !running {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := p.admin(ctx, `DROP SCHEMA IF EXISTS "`+name+`" CASCADE`); err != nil {
			t.Errorf("testenv: drop schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(p.URL)
	if err != nil {
		t.Fatalf("testenv: postgres URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// dbNamePart turns a test's name into lower-case letters, digits and
// underscores, short enough to leave room in PostgreSQL's 63 bytes.
func dbNamePart(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return b.String()
}

// admin runs one statement on the cluster's initial database.
func (p *Postgres) admin(ctx context.Context, stmt string) error {
	db, err := sqldb.OpenPostgres(ctx, p.URL)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}

// run runs scripts/postgres.sh with args and returns its combined output.
func (p *Postgres) run(args ...string) (string, error) { return runScript(p.script, args...) }

// LogTail returns the last n lines of the server's log.
func (p *Postgres) LogTail(n int) string {
	return tailFile(filepath.Join(p.Dir, "log", "postgres.log"), n)
}
