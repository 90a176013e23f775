package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Prestarted are adapters connected before their gateway exists. An
// instance that takes over connects its networks first and loads its
// state after, so that while it loads, what the networks deliver waits
// in the connection (the adapter holds the message it read until the
// gateway takes it) instead of being bounced by the server for want of a
// component. New adopts them (Options.Prestarted) and Run hands them the
// gateway; until then every call an adapter makes on its Core waits.
type Prestarted struct {
	adapters []Adapter
	core     *deferredCore
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	errs     chan error
	running  atomic.Bool // a gateway's Run has them, and stops them in its order
}

// Prestart runs each adapter until Stop, or ctx's end before a gateway
// runs them, with a Core that waits for that gateway.
func Prestart(ctx context.Context, adapters []Adapter) *Prestarted {
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &Prestarted{adapters: adapters, cancel: cancel, errs: make(chan error, len(adapters)),
		core: &deferredCore{ready: make(chan struct{}), stopped: actx.Done()}}
	stopWithCtx := context.AfterFunc(ctx, func() {
		if !p.running.Load() {
			cancel()
		}
	})
	for _, a := range adapters {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if err := a.Run(actx, p.core); err != nil && !errors.Is(err, context.Canceled) {
				p.errs <- fmt.Errorf("adapter %s: %w", a.Network(), err)
			}
		}()
	}
	go func() { p.wg.Wait(); stopWithCtx() }()
	return p
}

// Stop stops adapters no gateway runs (the state could not be loaded,
// say) and waits for them. It does nothing once a gateway's Run has them:
// it stops them, in its order.
func (p *Prestarted) Stop() {
	if p == nil || p.running.Load() {
		return
	}
	p.cancel()
	p.wg.Wait()
}

// run hands the adapters g and returns what stops them (after the
// senders' writes) and what waits for them and collects their errors.
func (p *Prestarted) run(g *Gateway) (stop func(), wait func() []error) {
	p.running.Store(true)
	p.core.attach(g)
	return p.cancel, func() []error {
		p.wg.Wait()
		close(p.errs)
		return collect(p.errs)
	}
}

// deferredCore is the Core prestarted adapters get: each call waits for
// the gateway (or the adapters' stop), then is the gateway's.
type deferredCore struct {
	ready   chan struct{}
	stopped <-chan struct{}
	g       *Gateway
}

func (d *deferredCore) attach(g *Gateway) {
	d.g = g
	close(d.ready)
}

// gateway waits for the gateway; nil once ctx or the adapters stopped.
func (d *deferredCore) gateway(ctx context.Context) *Gateway {
	select {
	case <-d.ready:
		return d.g
	default:
	}
	select {
	case <-d.ready:
		return d.g
	case <-ctx.Done():
	case <-d.stopped:
	}
	return nil
}

var errNotTaken = errors.New("gateway: stopped before it took messages")

func (d *deferredCore) Receive(ctx context.Context, m *Message) error {
	g := d.gateway(ctx)
	if g == nil {
		return errNotTaken
	}
	return g.Receive(ctx, m)
}

func (d *deferredCore) Accept(ctx context.Context, m *Message, stored func(error)) error {
	g := d.gateway(ctx)
	if g == nil {
		return errNotTaken
	}
	return g.Accept(ctx, m, stored)
}

func (d *deferredCore) Profile(network, addr string) (Profile, bool) {
	g := d.gateway(context.Background())
	if g == nil {
		return Profile{}, false
	}
	return g.Profile(network, addr)
}

func (d *deferredCore) Failed(ctx context.Context, b Bounce) {
	if g := d.gateway(ctx); g != nil {
		g.Failed(ctx, b)
	}
}

// NetworkUp does not wait: before the gateway runs, no message waits for
// a network.
func (d *deferredCore) NetworkUp(network string) {
	select {
	case <-d.ready:
		d.g.NetworkUp(network)
	default:
	}
}

// Settle does not wait for a gateway that is not there: nothing was
// handed over yet.
func (d *deferredCore) Settle(ctx context.Context, network string) {
	select {
	case <-d.ready:
		d.g.Settle(ctx, network)
	default:
	}
}

func (d *deferredCore) Commands(network, from string) []Command {
	g := d.gateway(context.Background())
	if g == nil {
		return nil
	}
	return g.Commands(network, from)
}

func (d *deferredCore) CommandForm(ctx context.Context, network, from, node string) (Command, error) {
	g := d.gateway(ctx)
	if g == nil {
		return Command{}, errNotTaken
	}
	return g.CommandForm(ctx, network, from, node)
}

func (d *deferredCore) RunCommand(ctx context.Context, network, from, node string, values map[string][]string) (CommandResult, error) {
	g := d.gateway(ctx)
	if g == nil {
		return CommandResult{}, errNotTaken
	}
	return g.RunCommand(ctx, network, from, node, values)
}

func (d *deferredCore) ActiveEmployee(network, from string) bool {
	g := d.gateway(context.Background())
	return g != nil && g.ActiveEmployee(network, from)
}

func (d *deferredCore) ContactGone(ctx context.Context, e ContactEvent) {
	if g := d.gateway(ctx); g != nil {
		g.ContactGone(ctx, e)
	}
}

func (d *deferredCore) ContactBack(ctx context.Context, e ContactEvent) {
	if g := d.gateway(ctx); g != nil {
		g.ContactBack(ctx, e)
	}
}

func (d *deferredCore) ContactUnreachable(ctx context.Context, network, id, why string) {
	if g := d.gateway(ctx); g != nil {
		g.ContactUnreachable(ctx, network, id, why)
	}
}

// The deferred core offers all the gateway does.
var (
	_ Core            = (*deferredCore)(nil)
	_ Commander       = (*deferredCore)(nil)
	_ Insider         = (*deferredCore)(nil)
	_ ContactTracker  = (*deferredCore)(nil)
	_ ConnectNotifier = (*deferredCore)(nil)
	_ Core            = (*Gateway)(nil)
	_ Commander       = (*Gateway)(nil)
	_ Insider         = (*Gateway)(nil)
	_ ContactTracker  = (*Gateway)(nil)
	_ ConnectNotifier = (*Gateway)(nil)
)
