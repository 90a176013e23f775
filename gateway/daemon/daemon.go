// Package daemon wires a configuration into a running gateway: stores,
// adapters, the gateway and its admin API. It is what `kakehashi serve`
// runs.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/kakehashi/kakehashi/adapters/xmpp"
	"github.com/kakehashi/kakehashi/config"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
)

// Run runs the gateway described by cfg until ctx ends: it opens the
// identity store and the message queue in cfg.DataDir, connects one adapter
// per network, and serves the admin API.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	t0 := time.Now()
	store, err := identity.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "identity.db"))
	if err != nil {
		return err
	}
	defer store.Close()
	state, err := identity.Open(ctx, store, time.Now)
	if err != nil {
		return err
	}
	queue, err := gateway.OpenQueue(ctx, filepath.Join(cfg.DataDir, "queue.db"))
	if err != nil {
		return err
	}
	defer queue.Close()
	top, err := gateway.TopologyFromConfig(cfg)
	if err != nil {
		return err
	}
	var adapters []gateway.Adapter
	for name, n := range cfg.Networks {
		c, err := xmpp.New(xmpp.Config{
			Network: name, Side: n.Side, Domain: n.XMPP.Domain, Server: n.XMPP.Server,
			Secret: n.XMPP.Secret.Reveal(), Logger: log,
		})
		if err != nil {
			return err
		}
		adapters = append(adapters, c)
	}
	gw, err := gateway.New(gateway.Options{Topology: top, State: state, Queue: queue, Adapters: adapters, Logger: log})
	if err != nil {
		return err
	}
	api, err := gateway.NewAdminAPI(gw, cfg.Admin.Token.Reveal(), log)
	if err != nil {
		return err
	}
	log.Info("kakehashi starting", "data_dir", cfg.DataDir, "admin", cfg.Admin.Listen, "state_loaded_in", time.Since(t0).Round(time.Millisecond))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	apiErr := make(chan error, 1)
	go func() {
		err := api.Serve(ctx, cfg.Admin.Listen, nil)
		if err != nil {
			cancel()
		}
		apiErr <- err
	}()
	err = gw.Run(ctx)
	cancel()
	err = errors.Join(err, <-apiErr)
	log.Info("kakehashi stopped")
	return err
}
