// Package xmpp is Kakehashi's XMPP adapter: it attaches the gateway to an
// XMPP server as an external component (XEP-0114), so that the gateway owns a
// whole domain there: persona addresses on an outside network, contact proxy
// addresses (XEP-0106 escaped) on an inside network. It turns stanzas into
// gateway messages and back, and answers vCard (XEP-0054), disco, ping and
// presence subscriptions for the addresses the gateway says exist. It never
// decides who owns what.
//
// Beside text, messages carry files (XEP-0066 OOB, XEP-0447 stateless
// file sharing, XEP-0385 SIMS; written one per stanza), replies
// (XEP-0461, their quotes cut by their XEP-0428 fallbacks), corrections
// (XEP-0308), retractions (XEP-0424), reactions (XEP-0444), receipts
// (XEP-0184), markers (XEP-0333) and chat states (XEP-0085), by the IDs
// of their own side (parse.go, outgoing.go). The gateway re-hosts files on
// the server's upload service (XEP-0363) through Component.Upload.
package xmpp

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/component"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// Config configures one component connection.
type Config struct {
	Network string        // network name, e.g. "corp"
	Side    identity.Side // inside or outside
	Domain  string        // the component's domain, e.g. gw.corp.test
	Server  string        // host:port of the server's component listener
	Secret  string        // component secret shared with the server
	Logger  *slog.Logger
	// MaxBackoff caps the wait between reconnection attempts (default 30 s).
	MaxBackoff time.Duration
	// OnConnect, if set, is called after every successful handshake.
	OnConnect func()
	// Unconfirmed turns off the confirmation of written messages
	// (confirm.go): a message then counts as sent once it is on the
	// socket, and one the server had not read when its stream ended is
	// lost. For measuring what the confirmation saves.
	Unconfirmed bool

	// Upload is the address of the server's HTTP upload service
	// (XEP-0363), e.g. upload.acme.test, where the gateway re-hosts files
	// for this network. Empty: it is looked for once per connection among
	// the items of ServerDomain (disco#items, then disco#info for
	// urn:xmpp:http:upload:0).
	Upload string
	// ServerDomain is the domain of the server the component is attached
	// to, where the upload service is looked for; empty: Domain without
	// its first label (acme.test for contact.acme.test).
	ServerDomain string
	// UploadHosts are the host names the network's clients upload files
	// to (the upload service's GET URLs). Inside, a message whose body is
	// only a URL on one of them is a file; the gateway fetches files only
	// from these (see gateway.Uploader). The hosts of the URLs the upload
	// service gives the gateway are added as they are learnt.
	UploadHosts []string
}

// closeGrace bounds how long a stopping component waits for the server
// to close its side of the stream.
const closeGrace = 5 * time.Second

// Component is a running XMPP component connection. It implements
// gateway.Adapter.
type Component struct {
	cfg    Config
	log    *slog.Logger
	domain jid.JID

	mu      sync.Mutex
	session *xmpp.Session
	// ended is set once this side of session's stream is closed: the
	// server drops what would be written after it, so nothing is.
	ended bool

	// wmu orders the writes of relayed messages with the stream they go
	// on: a message is written and recorded as unconfirmed under it, and
	// a stream is replaced under it, so nothing written on an old stream
	// is taken for confirmed on a new one (confirm.go).
	wmu          sync.Mutex
	sent         unconfirmed   // messages written and not yet confirmed by the server
	probeTimeout time.Duration // how long a probe may go unanswered (defaultProbeTimeout)

	cmds commandSessions // ad-hoc command forms awaiting submission (inside only)

	upload    uploadService   // the server's upload service, as last learnt
	hosts     *hostSet        // hosts of the URLs it gave (shared by a Network's components)
	transport *http.Transport // uploads' HTTP: never through a proxy

	// bg is the work handed off the read loop (commands, bounces); Run
	// returns only once it is done.
	bg offLoop
}

// New checks cfg and returns a component that connects when Run is called.
func New(cfg Config) (*Component, error) {
	d, err := jid.Parse(cfg.Domain)
	if err != nil || d.Localpart() != "" || d.Resourcepart() != "" {
		return nil, fmt.Errorf("xmpp: component domain %q is not a domain", cfg.Domain)
	}
	if cfg.Server == "" || cfg.Secret == "" {
		return nil, fmt.Errorf("xmpp %s: server and secret are required", cfg.Network)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Upload != "" {
		if _, err := jid.Parse(cfg.Upload); err != nil {
			return nil, fmt.Errorf("xmpp %s: upload service address %q: %w", cfg.Network, cfg.Upload, err)
		}
	}
	// The upload service is the network's own: an environment's proxy
	// (HTTPS_PROXY) is never used to reach it.
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	return &Component{cfg: cfg, domain: d, log: cfg.Logger.With("network", cfg.Network, "component", cfg.Domain),
		hosts: &hostSet{}, transport: t, probeTimeout: defaultProbeTimeout}, nil
}

// Network implements gateway.Adapter.
func (c *Component) Network() string { return c.cfg.Network }

// Connected reports whether the component is connected now.
func (c *Component) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session != nil
}

// Run implements gateway.Adapter: connect, serve, and reconnect with
// exponential backoff until ctx ends.
func (c *Component) Run(ctx context.Context, core gateway.Core) error {
	gateway.Reconnect(ctx, 100*time.Millisecond, c.cfg.MaxBackoff,
		func(ctx context.Context) error { return c.serveOnce(ctx, core) },
		func(err error, wait time.Duration) {
			c.log.Warn("component connection lost; reconnecting", "in", wait.Round(time.Millisecond), "err", err)
		})
	c.bg.wg.Wait()
	return nil
}

func (c *Component) serveOnce(ctx context.Context, core gateway.Core) error {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", c.cfg.Server)
	if err != nil {
		cancel()
		return fmt.Errorf("dial %s: %w", c.cfg.Server, err)
	}
	s, err := component.NewSession(dctx, c.domain, []byte(c.cfg.Secret), conn)
	cancel()
	if err != nil {
		conn.Close()
		return fmt.Errorf("component handshake with %s: %w", c.cfg.Server, err)
	}
	// What the last stream had not confirmed goes first, before any new
	// message can be written (the session is not yet published).
	if err := c.rewrite(ctx, s); err != nil {
		s.Close()
		conn.Close()
		return err
	}
	c.mu.Lock()
	c.session, c.ended = s, false
	c.mu.Unlock()
	c.log.Info("component connected", "server", c.cfg.Server)
	// The confirmer lives as long as the stream, past ctx: a stopping
	// component still confirms what it wrote before it closes (drain).
	cctx, stopConfirm := context.WithCancel(context.WithoutCancel(ctx))
	confirmed := make(chan struct{})
	go func() {
		defer close(confirmed)
		if !c.cfg.Unconfirmed {
			c.confirm(cctx, s, func() { conn.Close() })
		}
	}()
	// A reconnect resets the reconnection backoff and wakes the messages
	// waiting for this network.
	gateway.SessionUp(ctx)
	gateway.NotifyUp(core, c.cfg.Network)
	if c.cfg.OnConnect != nil {
		c.cfg.OnConnect()
	}
	// Stopping confirms what was written, then closes our side of the
	// stream first and goes on reading: the server sends what it had
	// already routed to us, then closes its side (RFC 6120 §4.4), and
	// stanzas routed later are bounced to their senders by the server.
	// Every stanza read is handed to the gateway, under a context that
	// ends only when reading is over: the gateway stops its queue only
	// after that.
	served := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		// What was read and could not be stored is answered to its
		// author: on this stream, so before it ends.
		if st, ok := core.(gateway.Settler); ok {
			sctx, cancel := context.WithTimeout(context.Background(), closeGrace)
			st.Settle(sctx, c.cfg.Network)
			cancel()
		}
		if !c.cfg.Unconfirmed {
			if err := c.drain(closeGrace); err != nil {
				c.log.Warn("stopping", "err", err, "unconfirmed", c.sent.len())
			}
		}
		c.mu.Lock()
		c.ended = true
		c.mu.Unlock()
		s.Close()
		select {
		case <-served:
		case <-time.After(closeGrace):
			c.log.Warn("server did not close the stream; closing the connection", "after", closeGrace)
			conn.Close()
		}
	})
	defer stop()
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	err = s.Serve(xmpp.HandlerFunc(func(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		return c.handle(hctx, core, t, start)
	}))
	hcancel()
	close(served)
	s.Close()
	conn.Close() // a write blocked on the dead stream returns, and lets go of wmu
	stopConfirm()
	<-confirmed
	c.wmu.Lock()
	c.mu.Lock()
	c.session = nil
	c.mu.Unlock()
	c.wmu.Unlock()
	c.sent.lost()
	if err == nil {
		err = io.EOF
	}
	return err
}

// Send implements gateway.Adapter.
func (c *Component) Send(ctx context.Context, out *gateway.Outgoing) error {
	msgs, err := encodeOutgoing(out, c.cfg.Side)
	if err != nil {
		return gateway.Permanent(err)
	}
	if !c.Connected() {
		return gateway.NotConnected(nil)
	}
	if err := c.sent.room(ctx); err != nil { // a server that confirms nothing holds its writers up
		return gateway.NotConnected(err)
	}
	c.wmu.Lock()
	c.mu.Lock()
	s, ended := c.session, c.ended
	c.mu.Unlock()
	if s == nil || ended {
		c.wmu.Unlock()
		return gateway.NotConnected(nil)
	}
	// A message with files is several stanzas (outgoing.go). Should the
	// connection break between them, the whole message is sent again
	// once it is back: a client may show the parts written before twice,
	// which is better than a file lost.
	for _, msg := range msgs {
		if err := s.Send(ctx, msg); err != nil {
			c.wmu.Unlock()
			return gateway.NotConnected(err)
		}
	}
	if !c.cfg.Unconfirmed {
		c.sent.add(out)
	}
	c.wmu.Unlock()
	if out.Subscribe && out.Kind == gateway.KindRelayed {
		// The contact's client shows the persona's name in the request.
		// encodeOutgoing has checked both addresses.
		if err := c.send(ctx, presence(stanza.SubscribePresence, verbatim(out.From), verbatim(out.To), out.Nick)); err != nil {
			c.log.Warn("could not send a subscription request", "err", err)
		}
	}
	return nil
}

// condition maps a routing reason to the RFC 6120 stanza error condition
// an XMPP sender's client understands.
func condition(r routing.Reason) stanza.Condition {
	switch r {
	case routing.NoSuchAddress:
		return stanza.ItemNotFound
	case routing.NotAllowed:
		return stanza.Forbidden
	case routing.TooLarge:
		return stanza.NotAcceptable
	case routing.Unreachable:
		return stanza.JIDMalformed
	case routing.GatewayFailure:
		return stanza.InternalServerError
	default:
		return stanza.ServiceUnavailable
	}
}

// errorType is the error type RFC 6120 §8.3 gives cond, as the gateway
// means it.
func errorType(cond stanza.Condition) stanza.ErrorType {
	switch cond {
	case stanza.Forbidden:
		return stanza.Auth
	case stanza.NotAcceptable, stanza.PolicyViolation, stanza.BadRequest:
		return stanza.Modify
	case stanza.InternalServerError:
		return stanza.Wait // the gateway's own trouble: trying again may work
	default:
		// service-unavailable, item-not-found, jid-malformed and the rest:
		// the same message would be refused again (RFC 6120 §8.3).
		return stanza.Cancel
	}
}

// send writes one stanza on the current session.
func (c *Component) send(ctx context.Context, st xml.TokenReader) error {
	c.mu.Lock()
	s, ended := c.session, c.ended
	c.mu.Unlock()
	if s == nil || ended {
		return gateway.ErrNotConnected
	}
	if err := s.Send(ctx, st); err != nil {
		return fmt.Errorf("xmpp: send: %w", err)
	}
	return nil
}
