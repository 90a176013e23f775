package console

import (
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kakehashi/kakehashi/adminapi"
)

// sessionCookie names the cookie that holds a session's ID.
const sessionCookie = "kakehashi_console"

// session is a signed-in admin's state in the console. Its fields are
// guarded by Console.mu.
type session struct {
	id string
	// name is the admin's name; the admin is looked up again on every
	// request (Server.Caller), so a revocation or a change of role
	// counts at once.
	name string
	// csrf is the token every form of the session carries.
	csrf    string
	created time.Time
	seen    time.Time
	// pending are previewed actions waiting for confirmation, by key:
	// the confirmation does what was previewed, not what the form says
	// then.
	pending map[string]*pendingAction
	// flash are notices for the next page shown (after a redirect).
	flash []string
}

// maxPending bounds the previews a session keeps; the oldest goes first.
const maxPending = 20

// pendingAction is a previewed transfer or departure.
type pendingAction struct {
	at       time.Time
	transfer *adminapi.TransferRequest
	depart   *adminapi.DepartRequest
	employee string // the departing employee
	back     string // the page to go back to
}

// newSession starts a session for the admin called name, ending and
// forgetting the one the request came with (a new ID at every sign-in:
// an ID planted before it is worth nothing after).
func (c *Console) newSession(w http.ResponseWriter, r *http.Request, name string) *session {
	now := c.now()
	s := &session{id: randomID(), name: name, csrf: randomID(), created: now, seen: now, pending: map[string]*pendingAction{}}
	c.mu.Lock()
	if ck, err := r.Cookie(sessionCookie); err == nil {
		delete(c.sessions, ck.Value)
	}
	for id, old := range c.sessions {
		if c.expired(old, now) {
			delete(c.sessions, id)
		}
	}
	c.sessions[s.id] = s
	c.mu.Unlock()
	http.SetCookie(w, c.cookie(s.id, 0))
	return s
}

// cookie is the session cookie carrying id; maxAge < 0 deletes it.
func (c *Console) cookie(id string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: sessionCookie, Value: id, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, Secure: !c.insecure, SameSite: http.SameSiteStrictMode}
}

// expired reports whether s is over at now: idle too long, or signed in
// too long ago. c.mu is held.
func (c *Console) expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) > c.idle || now.Sub(s.created) > c.max
}

// errNoSession is why a request has no session: none, an unknown ID, or
// one that expired.
var errNoSession = errors.New("no session")

// session returns the request's session, unless it has none or it has
// expired (then it is forgotten), and marks it seen now.
func (c *Console) session(r *http.Request) (*session, bool, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, false, errNoSession
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sessions[ck.Value]
	if !ok {
		return nil, false, errNoSession
	}
	if c.expired(s, now) {
		delete(c.sessions, s.id)
		return nil, true, errNoSession
	}
	s.seen = now
	return s, false, nil
}

// endSession forgets s and deletes the cookie.
func (c *Console) endSession(w http.ResponseWriter, s *session) {
	c.mu.Lock()
	delete(c.sessions, s.id)
	c.mu.Unlock()
	http.SetCookie(w, c.cookie("", -1))
}

// checkCSRF refuses a form sent from elsewhere: by the browser's own
// word (Sec-Fetch-Site, Origin) and by the session's token, which only
// the console's own pages carry.
func (c *Console) checkCSRF(r *http.Request, s *session) error {
	if err := c.cop.Check(r); err != nil {
		return err
	}
	got := r.PostFormValue("csrf")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 {
		return errors.New("the form's security token is missing or wrong")
	}
	return nil
}

// addPending keeps a previewed action and returns its key.
func (c *Console) addPending(s *session, p *pendingAction) string {
	key := randomID()
	p.at = c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(s.pending) >= maxPending {
		var oldest string
		for k, v := range s.pending {
			if oldest == "" || v.at.Before(s.pending[oldest].at) {
				oldest = k
			}
		}
		delete(s.pending, oldest)
	}
	s.pending[key] = p
	return key
}

// takePending removes and returns the previewed action of key.
func (c *Console) takePending(s *session, key string) (*pendingAction, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := s.pending[key]
	delete(s.pending, key)
	return p, ok
}

// clientIP is the address the request came from: the peer's, never a
// header the client could write (put the console behind no proxy that
// hides it, or every attempt counts as one address's).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Sign-in limits: failures counted per account and per client address
// over loginWindow.
const (
	loginWindow         = 15 * time.Minute
	maxAccountFailures  = 5
	maxAddressFailures  = 20
	maxLimiterEntries   = 100_000
	maxLoginNameLen     = 200
	maxLoginPasswordLen = 1024
)

// limiter counts failed sign-ins. Its check comes before the password
// hash, so a guesser spends none of the server's time on hashing once
// limited.
type limiter struct {
	now func() time.Time

	mu        sync.Mutex
	byAccount map[string][]time.Time
	byAddress map[string][]time.Time
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, byAccount: map[string][]time.Time{}, byAddress: map[string][]time.Time{}}
}

// recent drops the failures of key older than the window and returns
// the rest.
func recent(m map[string][]time.Time, key string, now time.Time) []time.Time {
	ts := m[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= loginWindow {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(m, key)
		return nil
	}
	m[key] = ts
	return ts
}

// allow reports whether a sign-in to account from address may be tried
// now, and if not, how long until it may.
func (l *limiter) allow(account, address string) (time.Duration, bool) {
	account = strings.ToLower(account)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	if ts := recent(l.byAccount, account, now); len(ts) >= maxAccountFailures {
		wait = max(wait, ts[len(ts)-maxAccountFailures].Add(loginWindow).Sub(now))
	}
	if ts := recent(l.byAddress, address, now); len(ts) >= maxAddressFailures {
		wait = max(wait, ts[len(ts)-maxAddressFailures].Add(loginWindow).Sub(now))
	}
	return wait, wait <= 0
}

// fail counts a failed sign-in.
func (l *limiter) fail(account, address string) {
	account = strings.ToLower(account)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.byAccount)+len(l.byAddress) > maxLimiterEntries {
		// Many names or addresses: forget what has aged out.
		for k := range l.byAccount {
			recent(l.byAccount, k, now)
		}
		for k := range l.byAddress {
			recent(l.byAddress, k, now)
		}
	}
	l.byAccount[account] = append(recent(l.byAccount, account, now), now)
	l.byAddress[address] = append(recent(l.byAddress, address, now), now)
}

// succeeded forgets the failures of account: its owner knows the
// password. The address's stay counted.
func (l *limiter) succeeded(account string) {
	l.mu.Lock()
	delete(l.byAccount, strings.ToLower(account))
	l.mu.Unlock()
}

// retryAfter is the Retry-After header's value for d: whole seconds,
// rounded up.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}

// flash keeps a notice for the session's next page.
func (q *req) flash(msg string) {
	q.c.mu.Lock()
	q.s.flash = append(q.s.flash, msg)
	q.c.mu.Unlock()
}

// takeFlash returns and forgets the session's notices.
func (c *Console) takeFlash(s *session) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := s.flash
	s.flash = nil
	return f
}
