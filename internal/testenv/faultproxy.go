package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// FaultProxy is a TCP proxy on loopback between a client and a real
// server, which a test tells to fail the way links and servers do: to
// swallow what the client writes (a server that stopped reading, or died
// with bytes unread in its socket) and to cut every connection. New
// connections are always forwarded faithfully.
type FaultProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns map[*proxied]struct{}
	wg    sync.WaitGroup
}

// proxied is one client connection and its server side.
type proxied struct {
	client, server net.Conn

	mu      sync.Mutex
	swallow bool // drop what the client writes instead of forwarding it
}

// StartFaultProxy listens on a free loopback port and forwards each
// connection to target until the test ends.
func StartFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fault proxy: %v", err)
	}
	p := &FaultProxy{ln: ln, target: target, conns: map[*proxied]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// Addr is the host:port clients connect to instead of the server's.
func (p *FaultProxy) Addr() string { return p.ln.Addr().String() }

// Conns is how many connections are open through the proxy.
func (p *FaultProxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Swallow makes every open connection drop what its client writes from
// now on, as a server that stopped reading it would; what the server
// writes still reaches the client.
func (p *FaultProxy) Swallow() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.mu.Lock()
		c.swallow = true
		c.mu.Unlock()
	}
}

// Cut closes every open connection, both sides, at once.
func (p *FaultProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.client.Close()
		c.server.Close()
	}
}

func (p *FaultProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		c := &proxied{client: client, server: server}
		p.mu.Lock()
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			c.forward()
			client.Close()
			server.Close()
			p.mu.Lock()
			delete(p.conns, c)
			p.mu.Unlock()
		}()
		go func() {
			defer p.wg.Done()
			io.Copy(client, server) //nolint:errcheck // ends when either side closes
			client.Close()
			server.Close()
		}()
	}
}

// forward copies what the client writes to the server, or drops it once
// the connection swallows.
func (c *proxied) forward() {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.client.Read(buf)
		if n > 0 {
			c.mu.Lock()
			drop := c.swallow
			c.mu.Unlock()
			if !drop {
				if _, werr := c.server.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}
