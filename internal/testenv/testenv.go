// Package testenv starts real servers for end-to-end tests: throwaway
// instances on loopback ports, configured in a temp dir, through the same
// scripts in scripts/ that the demo uses.
//
// A test that needs a server that is not installed fails when the environment
// variable CI is "true" and is skipped otherwise, with a message saying how
// to install it.
package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
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
