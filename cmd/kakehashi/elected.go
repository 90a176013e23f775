package main

// Several instances over one PostgreSQL store: each campaigns (package
// leader); the active one opens the stores and runs the gateway, the
// others answer /healthz as standby and wait. The admin listener is
// bound once, for the process's life, and its handler follows the
// instance's role, so a takeover does not wait for a port.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kakehashi/kakehashi/adapters/mail"
	"github.com/kakehashi/kakehashi/config"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/internal/sqldb"
	"github.com/kakehashi/kakehashi/leader"
)

// runElected runs this process as one instance of several sharing the
// PostgreSQL store of cfg.Store, until ctx ends.
func runElected(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	url := cfg.Store.Reveal()
	st, err := postgresStores(ctx, url)
	if err != nil {
		return err
	}
	e := leader.New(url, leader.Options{Instance: cfg.HA.Instance, TTL: cfg.HA.TTL, Logger: log})
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Admin.Listen)
	if err != nil {
		return fmt.Errorf("admin API: listen on %s: %w", cfg.Admin.Listen, err)
	}
	h := &roleHandler{e: e, standby: standbyHandler(e)}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("kakehashi standing by", "store", sqldb.Redact(url), "admin", cfg.Admin.Listen)

	err = e.Run(ctx, func(ctx context.Context) error {
		// Only the active instance opens the stores for writing and
		// connects the adapters; everything it sends asks e.Valid first.
		in, err := openInstance(ctx, cfg, log, st, e.Valid)
		if err != nil {
			return err
		}
		defer in.close()
		h.active.Store(&activeHandler{api: in.api.Handler(), gw: in.gw, e: e})
		defer h.active.Store(nil)
		return in.gw.Run(ctx)
	})
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("admin API: %w", serr))
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("kakehashi stopped")
	return err
}

// postgresStores puts each store in its own schema of the database at
// url: identity, queue, and one per mail network.
func postgresStores(ctx context.Context, url string) (stores, error) {
	identityURL, err := sqldb.InSchema(ctx, url, "identity")
	if err != nil {
		return stores{}, err
	}
	queueURL, err := sqldb.InSchema(ctx, url, "queue")
	if err != nil {
		return stores{}, err
	}
	return stores{identity: identityURL, queue: queueURL, mail: func(network string) (string, error) {
		return sqldb.InSchema(ctx, url, mail.SchemaName(network))
	}}, nil
}

// roleHandler serves the admin listener: the active instance's API while
// this instance is active, the standby's answers otherwise.
type roleHandler struct {
	e       *leader.Elector
	active  atomic.Pointer[activeHandler]
	standby http.Handler
}

func (h *roleHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a := h.active.Load(); a != nil {
		a.ServeHTTP(w, r)
		return
	}
	h.standby.ServeHTTP(w, r)
}

// roleHealth is /healthz of an instance that shares its store.
type roleHealth struct {
	gateway.Health
	// Role is "active" or "standby".
	Role string `json:"role"`
	// Term is the election's term this instance is active in, or last was.
	Term int64 `json:"term,omitempty"`
}

// activeHandler is the admin API of the active instance, whose /healthz
// also says it is active.
type activeHandler struct {
	api http.Handler
	gw  *gateway.Gateway
	e   *leader.Elector
}

func (a *activeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/healthz" {
		a.api.ServeHTTP(w, r)
		return
	}
	st := a.e.Status()
	h := roleHealth{Health: a.gw.Health(), Role: st.State.String(), Term: st.Term}
	code := http.StatusOK
	if h.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	writeHealth(w, code, h)
}

// standbyHandler answers for a standby instance: /healthz says so (200:
// the process is well), /metrics has the election's gauges, and every
// other request is refused with 503 and where to go.
func standbyHandler(e *leader.Elector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kakehashi_leader_active",
		Help: "1 while this instance is the active one of those sharing the store, 0 while it stands by."},
		func() float64 {
			if e.Valid() {
				return 1
			}
			return 0
		}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeHealth(w, http.StatusOK, roleHealth{Health: gateway.Health{Status: "standby"}, Role: "standby", Term: e.Status().Term})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{
			"error": "this instance is standing by: send admin requests to the active instance (its /healthz says \"role\": \"active\")"})
	})
	return mux
}

func writeHealth(w http.ResponseWriter, code int, h roleHealth) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(h)
}
