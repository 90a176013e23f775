package main

// This file is the composition root: it wires a configuration into a
// running gateway (stores, adapters, the gateway, outreach, analytics and
// the admin API). It is what `kakehashi serve` runs, and the one place
// that knows every package; nothing below it imports the adapters.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kakehashi/kakehashi/adapters/mail"
	"github.com/kakehashi/kakehashi/adapters/mail/compose"
	"github.com/kakehashi/kakehashi/adapters/xmpp"
	"github.com/kakehashi/kakehashi/address"
	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/analytics"
	"github.com/kakehashi/kakehashi/config"
	"github.com/kakehashi/kakehashi/console"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/guard"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/media/spool"
	"github.com/kakehashi/kakehashi/outreach"
)

// runDaemon runs the gateway described by cfg until ctx ends. With the
// default store (SQLite files in cfg.DataDir) this process is the
// gateway; with a PostgreSQL store it is one of several instances that
// share it, active or standing by (runElected).
func runDaemon(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	// How long a stop takes is part of a rolling upgrade's window: the
	// log shows where it began.
	defer context.AfterFunc(ctx, func() { log.Info("kakehashi stopping") })()
	if cfg.Store != "" {
		return runElected(ctx, cfg, log)
	}
	in, err := openInstance(ctx, cfg, log, sqliteStores(cfg), nil, nil)
	if err != nil {
		return err
	}
	defer in.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	listeners := []listener{{"admin API", cfg.Admin.Listen, in.admin}}
	if in.console != nil {
		listeners = append(listeners, listener{"console", cfg.Console.Listen, in.console})
	}
	served := make(chan error, len(listeners))
	if err := serveAll(ctx, listeners, served, cancel); err != nil {
		return err
	}
	err = in.gw.Run(ctx)
	cancel()
	for range listeners {
		err = errors.Join(err, <-served)
	}
	log.Info("kakehashi stopped")
	return err
}

// stores says where an instance's stores are: a SQLite file path or a
// PostgreSQL URL each.
type stores struct {
	identity, queue, analytics string
	// mail is the mail adapter's store of a network, by its name.
	mail func(network string) (string, error)
}

// sqliteStores are the SQLite files in cfg.DataDir.
func sqliteStores(cfg *config.Config) stores {
	return stores{
		identity: filepath.Join(cfg.DataDir, "identity.db"),
		queue:    filepath.Join(cfg.DataDir, "queue.db"),
		// Its own file: counters outlive the queue's retention, and
		// their writes stay off the queue's commits.
		analytics: filepath.Join(cfg.DataDir, analytics.FileName),
		mail: func(network string) (string, error) {
			return filepath.Join(cfg.DataDir, "mail-"+network+".db"), nil
		},
	}
}

// instance is a wired gateway: its stores, adapters, gateway, outreach
// and admin API, not yet running.
type instance struct {
	gw *gateway.Gateway
	// admin serves the admin listener: the API, and the console under
	// /console/ unless it is disabled. console serves console.listen's
	// listener (nil when it is not set or the console is disabled).
	admin, console http.Handler
	closers        []func() error
}

// close closes what openInstance opened, last opened first.
func (in *instance) close() {
	for i := len(in.closers) - 1; i >= 0; i-- {
		_ = in.closers[i]()
	}
}

// openInstance connects one adapter per network, then opens the stores
// at st and wires the gateway, outreach and the admin API. The adapters
// wait for the gateway's Run to take what they read. maySend, when not
// nil, is asked before every send (gateway.Options.MaySend); role, when
// not nil, says the instance's role for the console's health page.
func openInstance(ctx context.Context, cfg *config.Config, log *slog.Logger, st stores, maySend func() bool, role func() console.Instance) (in *instance, err error) {
	in = &instance{}
	resume := pauseGC()
	defer func() {
		if err != nil {
			in.close()
			resume()
		}
	}()
	t0 := time.Now()
	top, err := topologyFromConfig(cfg)
	if err != nil {
		return nil, err
	}
	var adapters []gateway.Adapter
	for _, name := range slices.Sorted(maps.Keys(cfg.Networks)) {
		n := cfg.Networks[name]
		switch n.Kind {
		case config.KindMail:
			ms, err := st.mail(name)
			if err != nil {
				return nil, err
			}
			a, err := openMail(ctx, cfg, n, ms, log)
			if err != nil {
				return nil, err
			}
			in.closers = append(in.closers, a.Close)
			adapters = append(adapters, a)
		default:
			// One component per domain (an inside network's further proxy
			// domains included), on the same server.
			var cfgs []xmpp.Config
			for _, domain := range n.XMPP.ComponentDomains() {
				cfgs = append(cfgs, xmpp.Config{Network: name, Side: n.Side, Domain: domain, Server: n.XMPP.Server,
					Secret: n.XMPP.Secret.Reveal(), Logger: log,
					Upload: n.XMPP.Upload, UploadHosts: n.XMPP.UploadHostsOrDefault(), ServerDomain: n.XMPP.ServerDomainOrDefault(),
					Unconfirmed: !orTrue(n.XMPP.ConfirmWrites)})
			}
			a, err := xmpp.NewNetwork(cfgs...)
			if err != nil {
				return nil, err
			}
			adapters = append(adapters, a)
		}
	}
	og, err := outboundGuard(cfg)
	if err != nil {
		return nil, err
	}
	files, err := spool.Open(filepath.Join(cfg.DataDir, "files"))
	if err != nil {
		return nil, err
	}
	// The networks connect first and the state loads after: meanwhile
	// what they deliver waits in the connections, where the server would
	// otherwise bounce it for want of a component (a takeover, a restart).
	pre := gateway.Prestart(ctx, adapters)
	in.closers = append(in.closers, func() error { pre.Stop(); return nil })
	store, err := identity.OpenStore(ctx, st.identity)
	if err != nil {
		return nil, err
	}
	in.closers = append(in.closers, store.Close)
	state, err := identity.Open(ctx, store, time.Now)
	if err != nil {
		return nil, err
	}
	queue, err := gateway.OpenQueue(ctx, st.queue)
	if err != nil {
		return nil, err
	}
	in.closers = append(in.closers, queue.Close)
	stats, err := analytics.Open(ctx, st.analytics)
	if err != nil {
		return nil, err
	}
	in.closers = append(in.closers, stats.Close)
	gw, err := gateway.New(gateway.Options{Topology: top, State: state, Queue: queue, Prestarted: pre, Logger: log, Events: stats,
		Retention: cfg.Limits.MessageRetention,
		Files: &gateway.FileOptions{Spool: files, MaxFiles: cfg.Files.MaxFiles, MaxFileBytes: cfg.Files.MaxFileBytes,
			AllowPrivate: cfg.Files.AllowPrivate, PassThrough: cfg.Files.PassThrough,
			MaxFilesPerDay: cfg.Files.MaxFilesPerDay, MaxBytesPerDay: cfg.Files.MaxBytesPerDay},
		Signals: gateway.SignalPolicy{HideReceived: !orTrue(cfg.Signals.Received), ShowDisplayed: cfg.Signals.Displayed,
			HideChatStates: !orTrue(cfg.Signals.ChatStates)},
		Guard: og, MaySend: maySend})
	if err != nil {
		return nil, err
	}
	out, err := outreach.New(ctx, gw, outreach.Options{Logger: log,
		Caps: &outreach.BroadcastCaps{PerDay: cfg.Limits.BroadcastsPerDay, PerMonth: cfg.Limits.BroadcastsPerMonth}})
	if err != nil {
		return nil, err
	}
	api, err := adminapi.NewServer(gw, out, cfg.Admin.Token.Reveal(), log)
	if err != nil {
		return nil, err
	}
	api.SetAnalytics(stats)
	in.gw, in.admin = gw, api.Handler()
	if !cfg.Console.Disabled {
		idle, most := cfg.Console.Sessions()
		c, err := console.New(console.Options{API: api, Log: log, SessionIdle: idle, SessionMax: most, Topology: top, Instance: role})
		if err != nil {
			return nil, err
		}
		in.admin = withConsole(in.admin, c.Handler())
		if cfg.Console.Listen != "" {
			in.console = withConsole(http.NotFoundHandler(), c.Handler())
		}
	}
	log.Info("kakehashi starting", "data_dir", cfg.DataDir, "admin", cfg.Admin.Listen, "state_loaded_in", time.Since(t0).Round(time.Millisecond))
	// Beside the start, not before it: it takes a collection (0.1 s at a
	// million relationships).
	go func() {
		resume()
		settleMemory(log)
	}()
	return in, nil
}

// openMail opens the adapter of a mail network.
func openMail(ctx context.Context, cfg *config.Config, n *config.Network, store string, log *slog.Logger) (*mail.Adapter, error) {
	m := n.Mail
	key := "networks." + n.Name + ".mail."
	imapTLS, err := tlsConfig(m.IMAP.CAFile, key+"imap.ca_file")
	if err != nil {
		return nil, err
	}
	smtpTLS, err := tlsConfig(m.SMTP.CAFile, key+"smtp.ca_file")
	if err != nil {
		return nil, err
	}
	var dkim *compose.DKIM
	if m.DKIM != nil {
		signer, err := compose.LoadDKIMKey(m.DKIM.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%sdkim.key_file: %w", key, err)
		}
		dkim = &compose.DKIM{Domain: m.Domain, Selector: m.DKIM.Selector, Signer: signer}
	}
	return mail.Open(ctx, mail.Config{
		Network: n.Name,
		Domain:  m.Domain,
		IMAP: mail.IMAPConfig{
			Server: m.IMAP.Server, TLS: m.IMAP.TLS, TLSConfig: imapTLS,
			Username: m.IMAP.Username, Password: m.IMAP.Password.Reveal(),
			Mailbox: m.IMAP.Mailbox, Processed: m.IMAP.ProcessedMailbox, Quarantine: m.IMAP.QuarantineMailbox,
			PollInterval: m.IMAP.PollInterval, IdleInterval: m.IMAP.IdleInterval,
		},
		SMTP: mail.SMTPConfig{
			Server: m.SMTP.Server, TLS: m.SMTP.TLS, TLSConfig: smtpTLS,
			Username: m.SMTP.Username, Password: m.SMTP.Password.Reveal(), HELO: m.SMTP.HELO,
		},
		DKIM:               dkim,
		TrustedAuthServIDs: m.TrustedAuthServIDs,
		Addresses:          address.Policy{AllowSpecial: cfg.Routing.AllowSpecialAddresses},
		DataDir:            cfg.DataDir,
		Store:              store,
		AttachLimit:        m.AttachLimit,
		Logger:             log,
	})
}

// tlsConfig trusts the CA certificates in file instead of the system's,
// when file is set.
func tlsConfig(file, key string) (*tls.Config, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: %s holds no PEM certificate", key, file)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// orTrue is a yes/no setting that defaults to yes.
func orTrue(b *bool) bool { return b == nil || *b }

// outboundGuard builds the outbound guard from the configured terms and
// every domain that names something inside: the inside networks' home
// and component domains, their upload services, and the extra domains
// configured. Nil when guard.off is set.
func outboundGuard(cfg *config.Config) (*guard.Guard, error) {
	if cfg.Guard.Off {
		return nil, nil
	}
	domains := slices.Clone(cfg.Guard.InsideDomains)
	for _, n := range cfg.Inside() {
		if n.XMPP == nil {
			continue
		}
		domains = append(domains, n.XMPP.HomeDomains...)
		domains = append(domains, n.XMPP.ComponentDomains()...)
		if n.XMPP.Upload != "" {
			domains = append(domains, n.XMPP.Upload)
		}
		for _, h := range n.XMPP.UploadHosts {
			if net.ParseIP(h) == nil && h != "localhost" {
				domains = append(domains, h)
			}
		}
	}
	g, err := guard.New(guard.Rules{InsideDomains: domains, Terms: cfg.Guard.Terms})
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	return g, nil
}
