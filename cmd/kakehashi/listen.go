package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/kakehashi/kakehashi/console"
)

// listener is one HTTP listener of kakehashi serve: the admin API's
// (admin.listen) or the console's own (console.listen).
type listener struct {
	what, addr string
	h          http.Handler
}

// serveAll opens every listener of ls, or none if one cannot be opened,
// then serves each until ctx ends and gives the requests under way up to
// 5 seconds to finish. done receives each one's error when it stops;
// onError, if not nil, is called when one fails while serving.
func serveAll(ctx context.Context, ls []listener, done chan<- error, onError func()) error {
	lns := make([]net.Listener, 0, len(ls))
	for _, l := range ls {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", l.addr)
		if err != nil {
			for _, ln := range lns {
				_ = ln.Close()
			}
			return fmt.Errorf("%s: listen on %s: %w", l.what, l.addr, err)
		}
		lns = append(lns, ln)
	}
	for i, l := range ls {
		srv := &http.Server{Handler: l.h, ReadHeaderTimeout: 10 * time.Second}
		context.AfterFunc(ctx, func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		})
		go func() {
			err := srv.Serve(lns[i])
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			} else {
				err = fmt.Errorf("%s: %w", l.what, err)
				if onError != nil {
					onError()
				}
			}
			done <- err
		}()
	}
	return nil
}

// withConsole serves the console's pages (c, under console.Prefix) and
// sends a browser that asks for "/" there; other requests go to h.
func withConsole(h, c http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, c)
	mux.Handle("GET /{$}", http.RedirectHandler(console.Prefix, http.StatusSeeOther))
	mux.Handle("/", h)
	return mux
}
