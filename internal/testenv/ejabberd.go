package testenv

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// EjabberdOptions configure StartEjabberd. They are ProsodyOptions because
// scripts/ejabberd.sh takes prosody.sh's options and gives them the same
// meaning (LogLevel "warn" is ejabberd's "warning").
type EjabberdOptions = ProsodyOptions

// EjabberdLog is the path, relative to the server's Dir, of ejabberd's main
// log.
const EjabberdLog = "logs/ejabberd.log"

// RequireEjabberd skips the test (or fails it under CI=true) when ejabberd
// is not installed.
func RequireEjabberd(t testing.TB) {
	t.Helper()
	if err := ejabberdInstalled(); err != nil {
		unavailable(t, "ejabberd not installed (%v): run `bash scripts/ejabberd.sh install`", err)
	}
}

// ejabberdInstalled reports why ejabberd cannot run here, or nil: it needs
// the Erlang runtime and Debian's ejabberd code (what scripts/ejabberd.sh
// looks for).
func ejabberdInstalled() error {
	if _, err := exec.LookPath("erl"); err != nil {
		return err
	}
	for _, pattern := range []string{"/usr/lib/*/ejabberd-*/ebin/ejabberd.app", "/usr/lib/ejabberd-*/ebin/ejabberd.app"} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return nil
		}
	}
	return errors.New("no ejabberd-*/ebin/ejabberd.app under /usr/lib")
}

// StartEjabberd starts an ejabberd on free loopback ports with its files in
// a new t.TempDir, and stops it when the test ends; it skips or fails like
// StartProsody when ejabberd is missing or does not start.
//
// The server it returns is a *Prosody: that type drives a server through
// its script, and scripts/ejabberd.sh takes prosody.sh's commands and
// prints the same lines, so every field and method means the same
// (addresses, secret, domains, upload services, Register, Stop, Start), and
// tests written against Prosody run on ejabberd unchanged. Dir holds
// ejabberd.yml, the Mnesia spool (accounts) and logs/; LogTail reads
// EjabberdLog (Dir/prosody.log is a link to it). Unlike Prosody's, Register
// needs the server running.
func StartEjabberd(t testing.TB, o EjabberdOptions) *Prosody {
	t.Helper()
	RequireEjabberd(t)
	p := newServer(t, o, "ejabberd.sh")
	// LogTail reads Dir/prosody.log.
	if err := os.Symlink(EjabberdLog, filepath.Join(p.Dir, "prosody.log")); err != nil {
		t.Fatalf("testenv: ejabberd log link: %v", err)
	}
	p.launch(t, "ejabberd", EjabberdLog)
	return p
}
