// Package fetch is the HTTP client the gateway downloads and uploads files
// with. The URLs it is given come from other people—a customer's server, or
// an employee's inside upload service—so the client is guarded against
// server-side request forgery: unless told otherwise it reaches only public
// addresses, checked on the address actually dialled (so neither a redirect
// nor a DNS answer that changes between look-ups can lead it inside), it
// ignores proxy settings from the environment (a proxy would hide the real
// target from that check), follows few redirects and re-checks every one,
// caps how much it reads, and keeps tokens out of its error texts.
package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
)

// Defaults and fixed limits. The dial and header timeouts are fixed: they
// bound the steps a slow or hostile server can stretch, under the overall
// Options.Timeout.
const (
	defaultMaxBytes     = 100 << 20
	defaultTimeout      = 2 * time.Minute
	defaultMaxRedirects = 5
	defaultUserAgent    = "Kakehashi"
	dialTimeout         = 10 * time.Second
	tlsTimeout          = 10 * time.Second
	headerTimeout       = 30 * time.Second
	// drainBytes is how much of an unwanted body (an error page, an
	// upload's answer) is read so the connection can be reused.
	drainBytes = 4 << 10
)

// Options configures a Client. The zero value is the setting for URLs from
// outside: public addresses only, any host, the default limits.
type Options struct {
	// AllowPrivate lets the client reach loopback, private (RFC 1918,
	// fc00::/7), link-local, CGNAT (100.64/10), unspecified, multicast and
	// other special addresses. Off by default: a URL an outside party gave
	// must not reach the company's own network. Tests and inside upload
	// services turn it on.
	AllowPrivate bool
	// Hosts, when not empty, is the only host names the client will fetch
	// from (case-insensitive; "name" allows any port, "name:port" that port
	// only). Used for the inside, where the gateway fetches only from the
	// company's upload service. Checked on the first URL and every redirect.
	Hosts []string
	// MaxBytes caps a body; a larger one fails with ErrTooLarge, detected
	// from Content-Length before reading and by counting while streaming.
	// Default (0 or less) 100 MiB.
	MaxBytes int64
	// Timeout bounds a whole request including the body. Default (0 or
	// less) 2 minutes. Dialling is also bounded by 10 s and the wait for
	// response headers by 30 s.
	Timeout time.Duration
	// MaxRedirects is how many redirects Get follows, each re-checked
	// against scheme, Hosts and address. Default (0) 5; negative follows
	// none.
	MaxRedirects int
	// UserAgent is sent with every request. Default "Kakehashi": it must
	// not tell a server which host or software version the gateway runs.
	UserAgent string
}

// Client fetches and uploads files under the guards its Options set. It is
// safe for concurrent use and reuses connections, so one Client per
// destination class (outside, inside) should live as long as the gateway.
type Client struct {
	allowPrivate bool
	hosts        []hostRule
	maxBytes     int64
	timeout      time.Duration
	maxRedirects int
	userAgent    string
	get, put     *http.Client
	// exempt, when set, lets an address through the address check. Only
	// this package's tests set it, to stand a loopback test server in for
	// a public one.
	exempt func(netip.AddrPort) bool
}

// New returns a Client for o, with defaults filled in.
func New(o Options) *Client {
	c := &Client{
		allowPrivate: o.AllowPrivate,
		maxBytes:     o.MaxBytes,
		timeout:      o.Timeout,
		maxRedirects: o.MaxRedirects,
		userAgent:    o.UserAgent,
	}
	for _, h := range o.Hosts {
		c.hosts = append(c.hosts, parseHostRule(h))
	}
	if c.maxBytes <= 0 {
		c.maxBytes = defaultMaxBytes
	}
	if c.timeout <= 0 {
		c.timeout = defaultTimeout
	}
	if c.maxRedirects == 0 {
		c.maxRedirects = defaultMaxRedirects
	}
	if c.userAgent == "" {
		c.userAgent = defaultUserAgent
	}
	tr := &http.Transport{
		Proxy:                 nil, // never from the environment: a proxy would hide the real target from the address check
		DialContext:           c.dial,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   tlsTimeout,
		ResponseHeaderTimeout: headerTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          32,
		// Files are relayed byte for byte: no transparent gzip, whose
		// decoded bytes would not be the file the sender hashed.
		DisableCompression: true,
	}
	c.get = &http.Client{Transport: tr, CheckRedirect: c.checkRedirect}
	// An upload is never redirected: for 301, 302 and 303 net/http would
	// turn the PUT into a GET and report the GET's 200 as success.
	c.put = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	return c
}

// Info is what Get learned about the file it fetched.
type Info struct {
	// Size is the number of bytes written to the writer.
	Size int64
	// SHA256 is the hex SHA-256 of those bytes, so the caller can store
	// the file by its content without reading it again.
	SHA256 string
	// MediaType is the Content-Type without parameters, lower-case; ""
	// when the server sent none or an unreadable one.
	MediaType string
	// Name is the file name to show: Content-Disposition's filename* or
	// filename, else the last segment of the requested URL's path,
	// percent-decoded; directory parts and control characters removed; ""
	// when there is none.
	Name string
}

// Get streams the body of rawURL to w and returns what it learned. Only
// http and https URLs without userinfo are fetched. On error w may have
// received part of the body (never more than MaxBytes): a caller writing to
// storage discards it. Errors wrap ErrForbidden, ErrTooLarge, ErrBadURL,
// ErrTooManyRedirects, *StatusError or the network's error; Permanent says
// whether a retry can help.
func (c *Client) Get(ctx context.Context, rawURL string, w io.Writer) (Info, error) {
	const method = http.MethodGet
	u, err := c.checkURL(rawURL)
	if err != nil {
		return Info{}, &requestError{method: method, url: redact(u), msg: describe(err), err: err}
	}
	tctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(tctx, method, u.String(), nil)
	if err != nil {
		return Info{}, c.fail(ctx, tctx, method, u, ErrBadURL)
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.get.Do(req)
	if err != nil {
		return Info{}, c.fail(ctx, tctx, method, u, err)
	}
	defer resp.Body.Close()
	final := resp.Request.URL
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.CopyN(io.Discard, resp.Body, drainBytes)
		return Info{}, c.fail(ctx, tctx, method, final, &StatusError{Code: resp.StatusCode})
	}
	if resp.ContentLength > c.maxBytes {
		return Info{}, c.fail(ctx, tctx, method, final, ErrTooLarge)
	}
	h := sha256.New()
	sw := &sinkWriter{w: w}
	n, err := io.Copy(io.MultiWriter(sw, h), io.LimitReader(resp.Body, c.maxBytes))
	if err == nil && n == c.maxBytes {
		// Exactly at the cap: one more byte means the body is over it.
		var one [1]byte
		if k, _ := io.ReadFull(resp.Body, one[:]); k > 0 {
			err = ErrTooLarge
		}
	}
	if err != nil {
		if sw.err != nil {
			err = &writeError{sw.err}
		}
		return Info{}, c.fail(ctx, tctx, method, final, err)
	}
	return Info{
		Size:      n,
		SHA256:    hex.EncodeToString(h.Sum(nil)),
		MediaType: mediaType(resp.Header.Get("Content-Type")),
		Name:      fileName(resp.Header.Get("Content-Disposition"), u),
	}, nil
}

// Put uploads size bytes from r to rawURL, as an XEP-0363 upload slot
// wants. Of header only Authorization, Cookie and Expires are sent (the
// headers XEP-0363 lets a slot ask for), with newlines removed from their
// values; Content-Type (mediaType, or application/octet-stream) and
// Content-Length are set here. The guards are Get's, and an upload larger
// than MaxBytes is refused with ErrTooLarge. A 2xx answer is success; a
// redirect is not followed and fails as a permanent *StatusError, since
// the body cannot be sent twice.
func (c *Client) Put(ctx context.Context, rawURL string, header http.Header, r io.Reader, size int64, mediaType string) error {
	const method = http.MethodPut
	u, err := c.checkURL(rawURL)
	if err != nil {
		return &requestError{method: method, url: redact(u), msg: describe(err), err: err}
	}
	if size < 0 {
		err := errors.New("negative size " + strconv.FormatInt(size, 10))
		return &requestError{method: method, url: redact(u), msg: err.Error(), err: err}
	}
	if size > c.maxBytes {
		return &requestError{method: method, url: redact(u), msg: describe(ErrTooLarge), err: ErrTooLarge}
	}
	tctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader = http.NoBody
	if size > 0 {
		body = io.LimitReader(r, size)
	}
	req, err := http.NewRequestWithContext(tctx, method, u.String(), body)
	if err != nil {
		return c.fail(ctx, tctx, method, u, ErrBadURL)
	}
	req.ContentLength = size
	for _, k := range []string{"Authorization", "Cookie", "Expires"} {
		for _, v := range header.Values(k) {
			req.Header.Add(k, strings.NewReplacer("\r", "", "\n", "").Replace(v))
		}
	}
	if mediaType == "" {
		mediaType = "application/octet-stream"
	}
	req.Header.Set("Content-Type", mediaType)
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.put.Do(req)
	if err != nil {
		return c.fail(ctx, tctx, method, u, err)
	}
	_, _ = io.CopyN(io.Discard, resp.Body, drainBytes)
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.fail(ctx, tctx, method, u, &StatusError{Code: resp.StatusCode})
	}
	return nil
}

// checkURL parses rawURL and applies the checks that need no network:
// scheme, userinfo and Hosts. It returns the parsed URL even with an error
// when there is one, so the error can name it redacted.
func (c *Client) checkURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, ErrBadURL
	}
	return u, c.checkTarget(u)
}

// checkTarget refuses what may not be fetched whatever its address: a
// scheme other than http and https, credentials in the URL (they would be
// sent as Basic authentication to wherever the URL leads), and hosts outside
// Options.Hosts.
func (c *Client) checkTarget(u *url.URL) error {
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return &forbiddenError{host: u.Hostname(), reason: "scheme " + strconv.Quote(u.Scheme) + " not allowed"}
	}
	if u.Hostname() == "" {
		return ErrBadURL
	}
	if u.User != nil {
		return &forbiddenError{host: u.Hostname(), reason: "credentials in URL not allowed"}
	}
	if !hostAllowed(c.hosts, u) {
		return &forbiddenError{host: u.Hostname(), reason: "host not allowed"}
	}
	return nil
}

// checkRedirect is Get's http.Client.CheckRedirect: it bounds the number of
// redirects and checks each new URL as the first one was. The address is
// checked again when the new connection is dialled.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > c.maxRedirects {
		return ErrTooManyRedirects
	}
	return c.checkTarget(req.URL)
}

// dial is the Transport's DialContext. Its Control hook sees every address
// the host resolved to just before connecting, after DNS, so the check
// holds whatever the DNS answer was when the URL was checked.
func (c *Client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	if !c.allowPrivate {
		d.ControlContext = func(_ context.Context, _, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &forbiddenError{host: host, reason: "unreadable address"}
			}
			if isPublic(ap.Addr()) || (c.exempt != nil && c.exempt(ap)) {
				return nil
			}
			return &forbiddenError{host: host, reason: "private or special address"}
		}
	}
	return d.DialContext(ctx, network, addr)
}

// fail wraps err for a request to u: a redacted URL (the redirect target
// the failure happened at, when net/http names one), a cause without the
// URL or addresses, and "timed out" when it was this client's Timeout, not the
// caller's context, that ended the request.
func (c *Client) fail(parent, tctx context.Context, method string, u *url.URL, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if pu, perr := url.Parse(ue.URL); perr == nil {
			u = pu
		}
		// The url.Error's own text has the full URL, query and all: it
		// is left out of the chain, so even a caller printing the
		// unwrapped cause cannot show a token.
		err = ue.Err
	}
	msg := describe(err)
	var fe *forbiddenError
	if !errors.As(err, &fe) {
		switch {
		case parent.Err() != nil:
			msg = "canceled: " + msg
		case errors.Is(tctx.Err(), context.DeadlineExceeded):
			msg = "timed out after " + c.timeout.String() + ": " + msg
		}
	}
	return &requestError{method: method, url: redact(u), msg: msg, err: err}
}

// sinkWriter passes writes to w and remembers w's error, so Get can tell a
// failing destination from a failing download.
type sinkWriter struct {
	w   io.Writer
	err error
}

// Write passes p to the destination.
func (s *sinkWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil {
		s.err = err
	}
	return n, err
}

// writeError is a failure of Get's destination writer, not of the download.
type writeError struct{ err error }

// Error says the destination failed.
func (e *writeError) Error() string { return "writing: " + e.err.Error() }

// Unwrap returns the writer's error.
func (e *writeError) Unwrap() error { return e.err }

// mediaType reads a Content-Type header: the type alone, lower-case; "" when
// absent or unreadable.
func mediaType(ct string) string {
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		return ""
	}
	return strings.ToLower(mt)
}

// fileName picks the name to show for a download: Content-Disposition's
// filename* (RFC 5987, decoded by mime.ParseMediaType) or filename, else
// the last segment of u's path.
func fileName(disposition string, u *url.URL) string {
	if disposition != "" {
		if _, params, err := mime.ParseMediaType(disposition); err == nil {
			if n := cleanName(params["filename"]); n != "" {
				return n
			}
		}
	}
	p := u.EscapedPath()
	seg := p[strings.LastIndexByte(p, '/')+1:]
	dec, err := url.PathUnescape(seg)
	if err != nil {
		return ""
	}
	return cleanName(dec)
}

// cleanName makes a sender's file name safe to show and to store under:
// directory parts (either slash) and control characters go, invalid UTF-8
// is replaced, and "." and ".." mean no name.
func cleanName(n string) string {
	n = strings.ReplaceAll(n, `\`, "/")
	n = path.Base("/" + n)
	n = strings.ToValidUTF8(n, "\uFFFD")
	n = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, n)
	n = strings.TrimSpace(n)
	if n == "/" || n == "." || n == ".." {
		return ""
	}
	return n
}
