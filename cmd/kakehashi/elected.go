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
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kakehashi/kakehashi/adapters/mail"
	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/analytics"
	"github.com/kakehashi/kakehashi/config"
	"github.com/kakehashi/kakehashi/console"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
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
	named, err := identity.OpenAdminTokens(ctx, st.identity)
	if err != nil {
		return err
	}
	defer named.Close()
	tokens, err := adminapi.NewTokens(cfg.Admin.Token.Reveal(), named.Authenticate)
	if err != nil {
		return err
	}
	e := leader.New(url, leader.Options{Instance: cfg.HA.Instance, TTL: cfg.HA.TTL, Address: strings.TrimSuffix(cfg.HA.Advertise, "/"), Logger: log})
	// The admin listener, and the console's own when console.listen is
	// set: each serves the active instance's handler while this instance
	// is active, and the standby's otherwise, which forwards to the
	// active instance's admin listener (that serves the console too).
	sb := newStandby(e, tokens, log)
	h := &roleHandler{e: e, instance: e.Instance(), standby: sb}
	listeners := []listener{{"admin API", cfg.Admin.Listen, h}}
	var ch *roleHandler
	if cfg.Console.Listen != "" && !cfg.Console.Disabled {
		ch = &roleHandler{e: e, instance: e.Instance(), standby: sb}
		listeners = append(listeners, listener{"console", cfg.Console.Listen, ch})
	}
	lctx, stopListening := context.WithCancel(context.WithoutCancel(ctx))
	defer stopListening()
	served := make(chan error, len(listeners))
	if err := serveAll(lctx, listeners, served, nil); err != nil {
		return err
	}
	log.Info("kakehashi standing by", "store", sqldb.Redact(url), "admin", cfg.Admin.Listen)

	err = e.Run(ctx, func(ctx context.Context) error {
		// Only the active instance opens the stores for writing and
		// connects the adapters; everything it sends asks e.Valid first.
		in, err := openInstance(ctx, cfg, log, st, e.Valid, func() console.Instance {
			st := e.Status()
			return console.Instance{Role: st.State.String(), Term: st.Term, Active: st.Leader.Instance}
		})
		if err != nil {
			return err
		}
		defer in.close()
		h.active.Store(&activeHandler{api: in.admin, gw: in.gw, e: e})
		defer h.active.Store(nil)
		if ch != nil {
			ch.active.Store(&activeHandler{api: in.console, gw: in.gw, e: e})
			defer ch.active.Store(nil)
		}
		return in.gw.Run(ctx)
	})
	stopListening()
	for range listeners {
		err = errors.Join(err, <-served)
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("kakehashi stopped")
	return err
}

// postgresStores puts each store in its own schema of the database at
// url: identity, queue, analytics, and one per mail network.
func postgresStores(ctx context.Context, url string) (stores, error) {
	identityURL, err := sqldb.InSchema(ctx, url, "identity")
	if err != nil {
		return stores{}, err
	}
	queueURL, err := sqldb.InSchema(ctx, url, "queue")
	if err != nil {
		return stores{}, err
	}
	analyticsURL, err := sqldb.InSchema(ctx, url, analytics.SchemaName)
	if err != nil {
		return stores{}, err
	}
	return stores{identity: identityURL, queue: queueURL, analytics: analyticsURL, mail: func(network string) (string, error) {
		return sqldb.InSchema(ctx, url, mail.SchemaName(network))
	}}, nil
}

// roleHandler serves the admin listener: the active instance's API while
// this instance is active, the standby's answers otherwise. Every answer
// names the instance that gave it (InstanceHeader).
type roleHandler struct {
	e        *leader.Elector
	instance string
	active   atomic.Pointer[activeHandler]
	standby  http.Handler
}

// Headers of the admin API between instances.
const (
	// InstanceHeader names the instance that answered an admin request;
	// an answer a standby forwarded names the active instance.
	InstanceHeader = "Kakehashi-Instance"
	// forwardedHeader marks a request a standby forwarded, with its name:
	// it is never forwarded again.
	forwardedHeader = "Kakehashi-Forwarded-By"
)

func (h *roleHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(InstanceHeader, h.instance)
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
	// Active names the active instance, as a standby last read it.
	Active string `json:"active,omitempty"`
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

// standby answers admin requests for a standby instance: /healthz says
// so (200: the process is well) and names the active instance, /metrics
// has the election's gauges, and every other request is forwarded to the
// active instance's ha.advertise address, which authenticates, checks
// and audits it as if it had been sent there. The identity state lives
// in the active instance's memory, and every write to it is decided
// there, so a standby forwards rather than writing the store itself.
type standby struct {
	e        *leader.Elector
	instance string
	tokens   *adminapi.Tokens // the bootstrap token and the named ones, read from the store
	mux      *http.ServeMux
	client   *http.Transport
	log      *slog.Logger
}

func newStandby(e *leader.Elector, tokens *adminapi.Tokens, log *slog.Logger) *standby {
	s := &standby{e: e, instance: e.Instance(), tokens: tokens, log: log, mux: http.NewServeMux(),
		client: &http.Transport{
			Proxy:                 nil, // instances talk directly, whatever the environment says
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       time.Minute,
			ExpectContinueTimeout: time.Second,
		}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kakehashi_leader_active",
		Help: "1 while this instance is the active one of those sharing the store, 0 while it stands by."},
		func() float64 {
			if e.Valid() {
				return 1
			}
			return 0
		}))
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	s.mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if s.authenticate(w, r) {
			metrics.ServeHTTP(w, r)
		}
	})
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		st := e.Status()
		writeHealth(w, http.StatusOK, roleHealth{Health: gateway.Health{Status: "standby"}, Role: "standby", Term: st.Term,
			Active: st.Leader.Instance})
	})
	s.mux.HandleFunc("/", s.forward)
	return s
}

func (s *standby) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// authenticate accepts the bootstrap token or a named admin's of a role
// that reads everything (admin, auditor: as the active instance's
// /metrics does); otherwise it answers 401, 403 for a lead, or 503 when
// the named tokens cannot be read.
func (s *standby) authenticate(w http.ResponseWriter, r *http.Request) bool {
	_, role, status, err := s.tokens.Authenticate(r)
	if err == nil && role == identity.RoleLead {
		status, err = http.StatusForbidden, errors.New("role lead may not read the metrics: they concern every team")
	}
	if err == nil {
		return true
	}
	if status != http.StatusUnauthorized {
		s.log.Error("standby: checking an admin token", "err", err)
		status, err = http.StatusServiceUnavailable, fmt.Errorf("the admin credentials cannot be read now: %w", err)
	}
	adminapi.Refuse(w, status, err)
	return false
}

// forward sends r to the active instance and its answer back. Nothing is
// retried: a change the active instance may have made is not made twice.
func (s *standby) forward(w http.ResponseWriter, r *http.Request) {
	l := s.e.Status().Leader
	switch {
	case r.Header.Get(forwardedHeader) != "":
		// Another standby took this one for the active instance: the
		// election's record is behind, during a takeover.
		w.Header().Set("Retry-After", "1")
		standbyError(w, http.StatusServiceUnavailable, fmt.Sprintf(
			"%s forwarded this request to %s, which stands by too: an instance is taking over; try again in a moment", r.Header.Get(forwardedHeader), s.instance))
		return
	case l.Instance == "" || l.Instance == s.instance:
		w.Header().Set("Retry-After", "1")
		standbyError(w, http.StatusServiceUnavailable, "no instance is active at the moment (one takes over within ha.ttl): try again in a moment")
		return
	case l.Address == "":
		w.Header().Set("Retry-After", "1")
		standbyError(w, http.StatusServiceUnavailable, fmt.Sprintf(
			"this instance is standing by and %s, the active one, gave no ha.advertise address to forward to: send admin requests to it (its /healthz says \"role\": \"active\")", l.Instance))
		return
	}
	target, err := url.Parse(l.Address)
	if err != nil {
		standbyError(w, http.StatusInternalServerError, fmt.Sprintf("the active instance %s advertises %q: %v", l.Instance, l.Address, err))
		return
	}
	p := &httputil.ReverseProxy{
		Transport: s.client,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Header.Set(forwardedHeader, s.instance)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.Header().Set(InstanceHeader, s.instance)
			var oe *net.OpError
			if errors.As(err, &oe) && oe.Op == "dial" {
				// Nothing was sent: asking again is safe.
				w.Header().Set("Retry-After", "1")
				standbyError(w, http.StatusServiceUnavailable, fmt.Sprintf(
					"the active instance %s (%s) does not answer: %v; a standby takes over within ha.ttl, try again in a moment", l.Instance, l.Address, err))
				return
			}
			s.log.Warn("standby: forwarding an admin request", "active", l.Instance, "path", r.URL.Path, "err", err)
			standbyError(w, http.StatusBadGateway, fmt.Sprintf(
				"the active instance %s stopped answering during the request (%v): a change may or may not have been made; read the audit log (GET /v1/audit) before trying again", l.Instance, err))
		},
	}
	w.Header().Del(InstanceHeader) // the answer names the active instance
	p.ServeHTTP(w, r)
}

// standbyError writes the admin API's error body.
func standbyError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeHealth(w http.ResponseWriter, code int, h roleHealth) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(h)
}
