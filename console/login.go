package console

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/console/i18n"
)

// langCookie keeps the language chosen with the switch.
const langCookie = "lang"

// language is the request's language: the one chosen with the switch,
// else the browser's Accept-Language.
func (c *Console) language(r *http.Request) i18n.Lang {
	var chosen string
	if ck, err := r.Cookie(langCookie); err == nil {
		chosen = ck.Value
	}
	return i18n.Negotiate(r.Header.Get("Accept-Language"), chosen)
}

// langCode is l's language tag, for <html lang> and the cookie.
func langCode(l i18n.Lang) string { return l.Tag() }

// setLang keeps the language of ?lang= in a cookie and goes back to the
// page (?back=, a console path) in it. A GET: it changes nothing but the
// browser's own preference, so it needs no session or token.
func (c *Console) setLang(w http.ResponseWriter, r *http.Request) {
	l := i18n.Negotiate("", r.URL.Query().Get("lang"))
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: langCode(l), Path: Prefix, MaxAge: 365 * 24 * 3600,
		Secure: !c.insecure, SameSite: http.SameSiteLaxMode, HttpOnly: true})
	redirect(w, r, safeBack(r.URL.Query().Get("back")))
}

// safeBack returns back if it is a path of the console, else the
// overview: the switch sends nobody elsewhere.
func safeBack(back string) string {
	if !strings.HasPrefix(back, Prefix) || strings.ContainsAny(back, "\\\r\n") || strings.Contains(back, "//") {
		return Prefix
	}
	return back
}

// loginData is the sign-in form.
type loginData struct {
	Name string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, _, err := c.session(r); err == nil {
		redirect(w, r, Prefix)
		return
	}
	v := c.frame(r, c.language(r), "login")
	v.Data = loginData{}
	if r.URL.Query().Get("expired") != "" {
		v.Notices = append(v.Notices, v.T("error.session_expired"))
	}
	if r.URL.Query().Get("out") != "" {
		v.Notices = append(v.Notices, v.T("login.signed_out"))
	}
	c.render(w, http.StatusOK, "login", v)
}

// login signs an admin in: the rate limit first (before any hashing),
// then the password, then a new session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	lang := c.language(r)
	v := c.frame(r, lang, "login")
	v.Data = loginData{}
	fail := func(status int, key string, args ...any) {
		v.Errors = []string{v.T(key, args...)}
		c.render(w, status, "login", v)
	}
	if err := c.cop.Check(r); err != nil {
		c.log.Warn("console: sign-in form from another site refused", "address", clientIP(r), "err", err)
		fail(http.StatusForbidden, "error.csrf")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	name := strings.TrimSpace(r.PostFormValue("name"))
	password := r.PostFormValue("password")
	v.Data = loginData{Name: name}
	if name == "" || password == "" || len(name) > maxLoginNameLen || len(password) > maxLoginPasswordLen {
		fail(http.StatusBadRequest, "login.missing")
		return
	}
	addr := clientIP(r)
	if wait, ok := c.limiter.allow(name, addr); !ok {
		c.log.Warn("console: sign-in refused, too many failures", "name", name, "address", addr, "retry_after", wait.Round(time.Second))
		w.Header().Set("Retry-After", retryAfter(wait))
		fail(http.StatusTooManyRequests, "error.too_many_attempts", int((wait+time.Minute-1)/time.Minute))
		return
	}
	ctx, cancel := background(r)
	defer cancel()
	who, err := c.api.SignIn(ctx, name, password)
	if err != nil {
		if !errors.Is(err, adminapi.ErrSignIn) {
			c.log.Error("console: sign-in", "name", name, "address", addr, "err", err)
			fail(http.StatusInternalServerError, "error.internal")
			return
		}
		c.limiter.fail(name, addr)
		c.log.Warn("console: sign-in failed", "name", name, "address", addr)
		fail(http.StatusUnauthorized, "login.failed")
		return
	}
	c.limiter.succeeded(name)
	c.newSession(w, r, name)
	c.log.Info("console: signed in", "admin", who.Actor, "role", who.Role, "address", addr)
	redirect(w, r, Prefix)
}

func (q *req) logout() error {
	q.c.endSession(q.w, q.s)
	redirect(q.w, q.r, "/console/login?out=1")
	return nil
}
