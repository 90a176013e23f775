package fetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// sentinel is the type of this package's error values. Being a string
// constant rather than a variable, none of them can be reassigned: the
// package keeps no mutable state.
type sentinel string

// Error returns the text of the sentinel.
func (e sentinel) Error() string { return string(e) }

const (
	// ErrForbidden means the URL's scheme, host or address is not one the
	// client may reach, directly or through a redirect. Retrying cannot
	// help: the refusal is the guard against request forgery doing its job.
	ErrForbidden = sentinel("destination not allowed")
	// ErrTooLarge means the body is larger than Options.MaxBytes, by its
	// declared Content-Length or by what arrived. Retrying cannot help.
	ErrTooLarge = sentinel("file too large")
	// ErrBadURL means the URL could not be parsed or names no host.
	// Retrying cannot help.
	ErrBadURL = sentinel("malformed URL")
	// ErrTooManyRedirects means the server redirected more than
	// Options.MaxRedirects times, which usually is a loop. Retrying cannot
	// help.
	ErrTooManyRedirects = sentinel("too many redirects")
)

// forbiddenError says which host was refused and why. It names the host as
// the URL gave it, never the address the host resolved to: the text may
// travel back to an outside party, who must learn nothing of the inside
// network from it.
type forbiddenError struct {
	host   string
	reason string
}

// Error names the refused host and the reason.
func (e *forbiddenError) Error() string {
	if e.host == "" {
		return string(ErrForbidden) + ": " + e.reason
	}
	return string(ErrForbidden) + ": " + e.host + ": " + e.reason
}

// Unwrap makes errors.Is(err, ErrForbidden) hold.
func (e *forbiddenError) Unwrap() error { return ErrForbidden }

// StatusError is a response with a status other than 2xx. Its text has the
// status only, never the URL, which may carry a token.
type StatusError struct {
	// Code is the HTTP status code the server answered.
	Code int
}

// Error gives the status code and its standard text. The server's own
// reason phrase is left out: it is the server's to choose and may say
// anything.
func (e *StatusError) Error() string {
	if t := http.StatusText(e.Code); t != "" {
		return fmt.Sprintf("server answered %d %s", e.Code, t)
	}
	return fmt.Sprintf("server answered %d", e.Code)
}

// Permanent reports whether asking again cannot change the answer: true for
// 4xx except 408 Request Timeout, 425 Too Early and 429 Too Many Requests,
// and for a redirect the client did not follow; false for 5xx, which are
// the server's passing trouble.
func (e *StatusError) Permanent() bool {
	switch {
	case e.Code == http.StatusRequestTimeout, e.Code == http.StatusTooEarly, e.Code == http.StatusTooManyRequests:
		return false
	case e.Code >= 500:
		return false
	}
	return true
}

// Permanent reports whether retrying the same request cannot help, so a
// caller gives up at once instead of backing off: true for ErrForbidden,
// ErrTooLarge, ErrBadURL, ErrTooManyRedirects and permanent statuses; false
// for timeouts, refused or reset connections, DNS failures, 5xx, and nil.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrForbidden) || errors.Is(err, ErrTooLarge) ||
		errors.Is(err, ErrBadURL) || errors.Is(err, ErrTooManyRedirects) {
		return true
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Permanent()
	}
	return false
}

// requestError is what Get and Put return when they fail. Its text names the
// method and a redacted URL (scheme, host and last path segment; no
// userinfo, query, fragment or inner path, where tokens live) and a
// description of the cause without resolved addresses; Unwrap gives the
// cause for errors.Is and errors.As.
type requestError struct {
	method string
	url    string
	msg    string
	err    error
}

// Error is "fetch: METHOD redacted-URL: cause".
func (e *requestError) Error() string {
	return "fetch: " + e.method + " " + e.url + ": " + e.msg
}

// Unwrap returns the cause.
func (e *requestError) Unwrap() error { return e.err }

// Timeout reports whether the request ran out of time, for callers that ask
// the net.Error way.
func (e *requestError) Timeout() bool {
	var ne net.Error
	return errors.Is(e.err, context.DeadlineExceeded) || (errors.As(e.err, &ne) && ne.Timeout())
}

// redact shows u as scheme://host/last-segment, with "/.../" standing for
// any inner path segments. Userinfo, query and fragment are dropped, and the
// inner path too: upload services put their secret in any of them.
func redact(u *url.URL) string {
	if u == nil {
		return "(invalid URL)"
	}
	p := u.EscapedPath()
	last := p[strings.LastIndexByte(p, '/')+1:]
	mid := ""
	if strings.Count(p, "/") > 1 {
		mid = ".../"
	}
	return u.Scheme + "://" + u.Host + "/" + mid + last
}

// describe gives err's text without the URL (which url.Error adds, query
// and all) and without the local or remote addresses net.OpError and
// net.DNSError add.
func describe(err error) string {
	var fe *forbiddenError
	if errors.As(err, &fe) {
		return fe.Error()
	}
	for {
		switch e := err.(type) {
		case *url.Error:
			err = e.Err
			continue
		case *net.OpError:
			return e.Op + ": " + describe(e.Err)
		case *net.DNSError:
			return "lookup " + e.Name + ": " + e.Err
		case *os.SyscallError:
			return e.Err.Error()
		}
		return err.Error()
	}
}
