package testenv

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestListenersCountsSharedPorts holds scripts/lib.sh's listeners, which
// mail.sh uses to tell that Postfix (binding with SO_REUSEPORT) shares its
// port with another server, to the sockets really listening: two on a
// shared port, one on a port of its own, none on a closed one, for IPv4
// and IPv6.
func TestListenersCountsSharedPorts(t *testing.T) {
	reuse := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	listen := func(network, addr string) net.Listener {
		t.Helper()
		l, err := reuse.Listen(context.Background(), network, addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	port := func(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }

	shared := listen("tcp4", "127.0.0.1:0")
	listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port(shared)))
	single := listen("tcp4", "127.0.0.1:0")
	gone, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := port(gone)
	gone.Close()
	want := map[int]int{port(shared): 2, port(single): 1, closed: 0}
	if l, err := reuse.Listen(context.Background(), "tcp6", "[::1]:0"); err == nil {
		t.Cleanup(func() { l.Close() })
		listen("tcp6", fmt.Sprintf("[::1]:%d", port(l)))
		want[port(l)] = 2
	}

	lib := filepath.Join(RepoRoot(t), "scripts", "lib.sh")
	for p, n := range want {
		if got := listenersOf(t, lib, p); got != n {
			t.Errorf("listeners %d = %d, want %d", p, got, n)
		}
	}
}

// listenersOf runs lib.sh's listeners for port p.
func listenersOf(t *testing.T, lib string, p int) int {
	t.Helper()
	out, err := exec.Command("bash", "-c", `prog=test; source "$1"; listeners "$2"`, "bash", lib, strconv.Itoa(p)).CombinedOutput()
	if err != nil {
		t.Fatalf("listeners %d: %v\n%s", p, err, out)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("listeners %d printed %q", p, out)
	}
	return n
}
