package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// This file is what the gateway offers the packages beside it (outreach,
// the admin API): a way to send what the company writes itself through the
// durable queue, and read access to what the relay path knows. They reach
// the gateway through these methods, never its fields.

// Post stores a message the gateway writes itself (what names it in the
// log) and hands it to its sender after the commit.
//
// It reports whether the message was handed to the queue. What the
// gateway writes itself (a failure notice, a handover) is owed whatever
// the caller's context does meanwhile: only a stopped queue refuses it.
func (g *Gateway) Post(ctx context.Context, rec *Record, what string) bool {
	if err := g.queue.Enqueue(context.WithoutCancel(ctx), rec, func(dup bool, err error) {
		if err != nil {
			g.log.Error("could not queue "+what, "err", err)
			return
		}
		if !dup {
			g.dispatch(rec)
		}
	}); err != nil {
		g.log.Error("could not queue "+what, "err", err)
		return false
	}
	return true
}

// PostBatch runs fn in one of the queue's write transactions (see
// Queue.Exec) and, once it is committed, hands the records fn returns
// (inserted through tx.Insert) to their senders. Whatever fn writes
// besides, in tables of the caller's own, commits or fails with them.
func (g *Gateway) PostBatch(ctx context.Context, fn func(ctx context.Context, tx *Tx) ([]*Record, error)) error {
	var posted []*Record
	var audited bool
	err := g.queue.Exec(ctx, func(ctx context.Context, tx *Tx) error {
		var err error
		posted, err = fn(ctx, tx)
		audited = tx.audited
		return err
	})
	if err != nil {
		return err
	}
	for _, r := range posted {
		g.dispatch(r)
	}
	if audited {
		g.flushOutbox(context.WithoutCancel(ctx))
	}
	return nil
}

// Canonical is addr's one spelling on network (see package address).
func (g *Gateway) Canonical(network, addr string) (string, error) { return g.canonical(network, addr) }

// Sends reports whether the gateway has a sender for network.
func (g *Gateway) Sends(network string) bool {
	_, ok := g.senders[network]
	return ok
}

// Now is the gateway's clock (Options.Now).
func (g *Gateway) Now() time.Time { return g.now() }

// Topology is the networks the gateway routes between.
func (g *Gateway) Topology() *routing.Topology { return g.top }

// Queue is the gateway's durable queue, for reads.
func (g *Gateway) Queue() *Queue { return g.queue }

// Go runs f in the background; Run waits for it before the queue stops.
// False (f not run) once the gateway is stopping.
func (g *Gateway) Go(f func()) bool { return g.bg.Go(f) }

// AfterFunc runs f after d in the background, as Go.
func (g *Gateway) AfterFunc(d time.Duration, f func()) bool { return g.bg.AfterFunc(d, f) }

// EmployeeAt returns the active employee at an inside address, and the
// snapshot it was read from.
func (g *Gateway) EmployeeAt(network, from string) (*identity.Employee, *identity.Snapshot, bool) {
	if net, ok := g.top.Networks[network]; !ok || net.Side != identity.Inside {
		return nil, nil, false
	}
	snap := g.state.Snapshot()
	from, _ = g.canonical(network, from)
	e, ok := snap.EmployeeByInsideAddr(identity.Address{Network: network, Addr: from})
	if !ok || e.Status != identity.Active {
		return nil, nil, false
	}
	return e, snap, true
}

// ActiveEmployee implements Insider.
func (g *Gateway) ActiveEmployee(network, from string) bool {
	_, _, ok := g.EmployeeAt(network, from)
	return ok
}

// NewID returns an opaque message ID: it reveals nothing of the inside
// message it stands for. Its first six bytes are the time in
// milliseconds and the other six are random, in an alphabet that sorts
// as the bytes do, so that IDs made later sort later: the queue's index
// on out IDs then grows at its end instead of touching a random page of
// it for every message (the recipient knows when it arrived anyway).
func NewID() string {
	var b [12]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:])
	// base32's extended hex alphabet (RFC 4648 §7) sorts as its bytes do.
	return strings.ToLower(base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}
