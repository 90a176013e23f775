// Package testenv starts real servers for end-to-end tests: throwaway
// instances on loopback ports, configured in a temp dir, through the same
// scripts in scripts/ that the demo uses.
//
// A test that needs a server that is not installed fails when the environment
// variable CI is "true" and is skipped otherwise, with a message saying how
// to install it.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RepoRoot returns the directory holding the repository's go.mod, searching
// upwards from the working directory (a test's package directory).
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := findRepoRoot()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return root
}

func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repo root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("find repo root: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repo root: no go.mod in the working directory or any parent")
		}
		dir = parent
	}
}

// inCI reports whether missing servers are failures rather than skips.
func inCI() bool { return os.Getenv("CI") == "true" }

// unavailable ends a test that cannot get the server it needs: it fails
// under CI=true, where the server must be there, and skips otherwise.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if inCI() {
		t.Fatalf(format+" (CI=true: servers must be installed)", args...)
	}
	t.Skipf(format, args...)
}

// freePorts returns n distinct TCP ports that were free on 127.0.0.1 a moment
// ago. Holding all listeners until every port is chosen keeps them distinct;
// another process may still take one before the server binds it, which
// callers handle by retrying.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// FreeAddr returns a loopback address (127.0.0.1:port) that was free a
// moment ago, for a server the test starts (see freePorts for the race).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0])
}

// runScript runs the script (a path under scripts/) with args under bash,
// with no input and two minutes at most, and returns its combined
// output; an error names the script and shows what it printed.
func runScript(script string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", filepath.Base(script), args[0], err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// tailFile returns the last n lines of the file at path, or why there
// are none.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return lastLines(b, n)
}

// lastLines returns the last n lines of data.
func lastLines(data []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
