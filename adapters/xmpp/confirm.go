package xmpp

// Confirmed writes. The component protocol (XEP-0114) acknowledges
// nothing: a stanza written to the socket is lost if the server stops
// before it read it (a restart, a crash, a broken link), and the gateway
// would never know. So every component keeps the messages it wrote since
// the server last confirmed, and confirms them with a probe: a stanza the
// component addresses to its own domain, written after them on the same
// stream. A server handles a stream's stanzas in order, so when the probe
// comes back (the server routed it to the component's domain, that is,
// to us), everything written before it has been handled. Should the
// stream end first, what was not confirmed is written again, with the
// same ids and in the same order, on the next stream before anything
// else.
//
// Any XMPP server routes a stanza to a component's own domain back to
// the component: the probe needs no server module (XEP-0199 ping support,
// a host name to ask) and crosses no server-to-server link. A stanza
// from the component's own domain can only come from the component,
// since servers check the "from" of what their clients and peers send.
//
// One probe is outstanding at a time, written by the component's
// confirmer as soon as something is unconfirmed: a message is not held
// up by it, and under a burst one probe confirms everything written in
// one round trip. What a crash of the gateway itself leaves is the
// queue's business (see the README's durability contract); this closes
// the server's side of the window while the gateway lives.

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/stanza"

	"github.com/kakehashi/kakehashi/gateway"
)

// nsProbe is the namespace of the probe's payload, and probePrefix
// begins every probe's id.
const (
	nsProbe     = "urn:kakehashi:confirm:0"
	probePrefix = "kk-confirm-"
)

// Limits of the confirmation.
const (
	// maxUnconfirmed is how many messages may wait for a confirmation;
	// a Send waits for room beyond it.
	maxUnconfirmed = 4096
	// defaultProbeTimeout is how long a probe may go unanswered before
	// the stream is taken to be broken: it is closed, and what it had not
	// confirmed goes out again on the next.
	defaultProbeTimeout = 15 * time.Second
)

// written is one message written and not yet confirmed.
type written struct {
	seq uint64
	out gateway.Outgoing // a copy: the gateway's own may change once Send returns
}

// unconfirmed is what a component wrote since the server last confirmed.
// Its zero value is ready to use.
type unconfirmed struct {
	mu      sync.Mutex
	list    []written
	last    uint64        // seq of the newest message written
	probe   string        // id of the outstanding probe; "" when none
	upTo    uint64        // the last seq the outstanding probe confirms
	sentAt  time.Time     // when it was written
	changed chan struct{} // closed and replaced when the list shrinks or a probe is due
	serial  uint64        // numbers probes
}

// signal wakes whoever waits for a change. Called with mu held.
func (u *unconfirmed) signal() {
	if u.changed != nil {
		close(u.changed)
	}
	u.changed = make(chan struct{})
}

// wait returns a channel closed at the next change.
func (u *unconfirmed) wait() <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.changed == nil {
		u.changed = make(chan struct{})
	}
	return u.changed
}

// add records out as written (its stanzas are on the stream).
func (u *unconfirmed) add(out *gateway.Outgoing) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.last++
	u.list = append(u.list, written{seq: u.last, out: *out})
	if u.probe == "" {
		u.signal() // the confirmer writes a probe
	}
}

// room waits until fewer than maxUnconfirmed messages are unconfirmed.
func (u *unconfirmed) room(ctx context.Context) error {
	for {
		u.mu.Lock()
		n := len(u.list)
		u.mu.Unlock()
		if n < maxUnconfirmed {
			return nil
		}
		select {
		case <-u.wait():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// due returns the id of a probe to write, and records it as outstanding,
// when something is unconfirmed and no probe is; "" otherwise.
func (u *unconfirmed) due(now time.Time) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.probe != "" || len(u.list) == 0 {
		return ""
	}
	u.serial++
	u.probe = probePrefix + strconv.FormatUint(u.serial, 36)
	u.upTo, u.sentAt = u.last, now
	return u.probe
}

// overdue reports whether the outstanding probe has gone unanswered for
// longer than timeout.
func (u *unconfirmed) overdue(now time.Time, timeout time.Duration) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.probe != "" && now.Sub(u.sentAt) > timeout
}

// confirmed takes the answer to probe id: everything written before it
// is confirmed. It reports whether id was the outstanding probe.
func (u *unconfirmed) confirmed(id string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if id == "" || id != u.probe {
		return false
	}
	i := 0
	for i < len(u.list) && u.list[i].seq <= u.upTo {
		i++
	}
	u.list = append(u.list[:0], u.list[i:]...)
	u.probe = ""
	u.signal()
	return true
}

// lost forgets the outstanding probe: its stream has ended, and the
// answer will never come.
func (u *unconfirmed) lost() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.probe = ""
	u.signal()
}

// pending returns a copy of what is unconfirmed, oldest first.
func (u *unconfirmed) pending() []written {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]written(nil), u.list...)
}

// len is how many messages are unconfirmed.
func (u *unconfirmed) len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.list)
}

// probe is the probe: a message from the component's domain to itself,
// carrying only an element in the gateway's own namespace. It is a
// message, not an IQ, so that nobody owes it an answer.
func (c *Component) probe(id string) xml.TokenReader {
	m := stanza.Message{ID: id, Type: stanza.NormalMessage, From: c.domain, To: c.domain}
	return m.Wrap(xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsProbe, Local: "probe"}}))
}

// isProbe reports whether the message start begins is one of the
// component's own probes coming back, and confirms what it covers if it
// is the one outstanding; a probe from an earlier stream is dropped. A
// probe comes to the component's domain, from it or (Prosody drops a
// "from" equal to the host) from no one: a client's or a peer's stanza
// always carries its sender, which its server checks.
func (c *Component) isProbe(start *xml.StartElement) bool {
	var id, from, to string
	for _, a := range start.Attr {
		switch a.Name.Local {
		case "id":
			id = a.Value
		case "from":
			from = a.Value
		case "to":
			to = a.Value
		}
	}
	if !strings.HasPrefix(id, probePrefix) || (from != "" && from != c.domain.String()) || to != c.domain.String() {
		return false
	}
	c.sent.confirmed(id)
	return true
}

// confirm writes a probe on s whenever something written is unconfirmed
// and none is outstanding, until ctx ends. A probe unanswered for
// c.probeTimeout closes the connection: the stream is taken to be broken.
func (c *Component) confirm(ctx context.Context, s *xmpp.Session, closeConn func()) {
	tick := time.NewTicker(c.probeTimeout / 4)
	defer tick.Stop()
	for {
		changed := c.sent.wait()
		if id := c.sent.due(time.Now()); id != "" {
			c.wmu.Lock()
			err := s.Send(ctx, c.probe(id))
			c.wmu.Unlock()
			if err != nil {
				return // the stream is ending; the next one writes again
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case now := <-tick.C:
			if c.sent.overdue(now, c.probeTimeout) {
				c.log.Warn("the server confirmed nothing for a while; reconnecting", "after", c.probeTimeout,
					"unconfirmed", c.sent.len())
				closeConn()
				return
			}
		}
	}
}

// rewrite writes again, on a new stream and before anything else, what
// the last one had not confirmed, with the same ids and in the same
// order.
func (c *Component) rewrite(ctx context.Context, s *xmpp.Session) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	again := c.sent.pending()
	for _, w := range again {
		msgs, err := encodeOutgoing(&w.out, c.cfg.Side)
		if err != nil {
			continue // it was encoded once; cannot happen
		}
		for _, msg := range msgs {
			if err := s.Send(ctx, msg); err != nil {
				return fmt.Errorf("write again what was not confirmed: %w", err)
			}
		}
	}
	if len(again) > 0 {
		c.log.Info("wrote again what the server had not confirmed", "messages", len(again))
	}
	return nil
}

// drain waits, for at most grace, until everything written is confirmed;
// a stopping component calls it before closing its stream.
func (c *Component) drain(grace time.Duration) error {
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	for {
		changed := c.sent.wait()
		n := c.sent.len()
		if n == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return errors.New("not all written messages were confirmed before the stop")
		}
	}
}
