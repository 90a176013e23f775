// Package verp makes and reads the return paths (envelope senders) of
// outgoing mail, so that a bounce arriving days later can be tied to the
// message it is about.
//
// A return path looks like
//
//	bounces+<id>.<expiry>.<mac>@<domain>
//
// where id is the gateway's own ID of the message, expiry is when the
// address stops being honoured (Unix minutes, base 36) and mac is an
// HMAC-SHA256 over id, expiry and domain, cut to 80 bits and written in
// base32. Everything is lower-case letters, digits, '+' and '.', which every
// MTA passes through unchanged except perhaps for case, and Parse ignores
// case. The address reveals nothing but an opaque ID and a date.
//
// Without the MAC anyone could send the gateway fake bounces for guessed
// IDs and have a customer's conversation marked undeliverable; without the
// expiry one leaked return path would work for that forever.
package verp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/adapters/mail/internal/hostname"
)

// Sentinel errors. Parse wraps ErrNotVERP, ErrForged or ErrExpired for an
// address it rejects; ErrInvalid is for bad arguments and configuration.
var (
	// ErrNotVERP: the address is not a return path of this codec (another
	// mailbox of the domain, or another domain).
	ErrNotVERP = errors.New("verp: not a return path of this gateway")
	// ErrForged: the address claims to be a return path but its tag is
	// malformed or its MAC is wrong.
	ErrForged = errors.New("verp: return path does not authenticate")
	// ErrExpired: a genuine return path used after its expiry.
	ErrExpired = errors.New("verp: return path has expired")
	// ErrInvalid: a bad argument to NewCodec or Address, or a Codec whose
	// fields were set to bad values.
	ErrInvalid = errors.New("verp: invalid argument")
)

const (
	// DefaultLocal is the local-part prefix NewCodec uses for "".
	DefaultLocal = "bounces"
	// DefaultTTL is the lifetime NewCodec uses for 0. MTAs give up on a
	// message after 5 days by default and rarely later than 7, and a
	// delayed DSN comes within that; twice the longest common queue lifetime
	// keeps every real bounce while a leaked address is soon useless.
	DefaultTTL = 14 * 24 * time.Hour
	// MinSecretLen is the shortest HMAC key NewCodec accepts (128 bits).
	MinSecretLen = 16

	// maxLocalLen is RFC 5321's limit on a local part.
	maxLocalLen = 64
	maxIDLen    = 32
	// The MAC keeps 80 bits (macBytes), macLen characters of base32:
	// forging one address takes 2^79 tries on average, and every try is a
	// mail the gateway sees.
	macBytes = 10
	macLen   = 16
	// The expiry is Unix minutes in base 36: six digits (below maxExpiry)
	// last until the year 6100.
	maxExpiryLen = 6
	maxExpiry    = 36 * 36 * 36 * 36 * 36 * 36
	// maxPrefixLen is what remains of maxLocalLen for the prefix when id,
	// expiry and MAC are as long as they get, with "+" and two dots.
	maxPrefixLen = maxLocalLen - maxIDLen - maxExpiryLen - macLen - 3
	minTTL       = time.Minute
	maxTTL       = 365 * 24 * time.Hour
)

// Codec makes and reads return paths for one mail domain. Its methods only
// read it, so it may be shared by goroutines. Use NewCodec; a Codec filled
// in by hand is checked on every call.
type Codec struct {
	// Secret is the HMAC key, at least MinSecretLen bytes. Changing it
	// invalidates every return path out there, so bounces for mail sent
	// before the change come back as ErrForged.
	Secret []byte
	// Local is the local-part prefix, 1 to 7 lower-case letters or digits.
	Local string
	// Domain is the mail domain of the return paths, in ASCII.
	Domain string
	// TTL is how long a return path stays valid, at least a minute and at
	// most a year.
	TTL time.Duration
}

// NewCodec checks its arguments and returns a Codec, applying DefaultLocal
// for an empty local and DefaultTTL for a zero ttl. It keeps a copy of
// secret. Local and domain are lower-cased; local must fit in 7 characters
// so that the longest return path stays within 64 octets.
func NewCodec(secret []byte, local, domain string, ttl time.Duration) (*Codec, error) {
	if local == "" {
		local = DefaultLocal
	}
	if ttl == 0 {
		ttl = DefaultTTL
	}
	c := &Codec{
		Secret: append([]byte(nil), secret...),
		Local:  asciiLower(local),
		Domain: strings.TrimSuffix(asciiLower(domain), "."),
		TTL:    ttl,
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Codec) check() error {
	switch {
	case c == nil:
		return fmt.Errorf("%w: nil Codec", ErrInvalid)
	case len(c.Secret) < MinSecretLen:
		return fmt.Errorf("%w: secret of %d bytes, need at least %d", ErrInvalid, len(c.Secret), MinSecretLen)
	case c.Local == "" || len(c.Local) > maxPrefixLen || !isLowerAlnum(c.Local):
		return fmt.Errorf("%w: local-part prefix %q is not 1 to %d lower-case letters or digits", ErrInvalid, c.Local, maxPrefixLen)
	case c.TTL < minTTL || c.TTL > maxTTL:
		return fmt.Errorf("%w: TTL %v is not between %v and %v", ErrInvalid, c.TTL, minTTL, maxTTL)
	}
	if why := hostname.Problem(c.Domain); why != "" {
		return fmt.Errorf("%w: domain %q %s", ErrInvalid, c.Domain, why)
	}
	if c.Domain != asciiLower(c.Domain) {
		return fmt.Errorf("%w: domain %q is not lower-case", ErrInvalid, c.Domain)
	}
	return nil
}

// Address returns the return path for the message with the given id, valid
// from now for at least TTL (the expiry is rounded up to the minute). id is
// the gateway's own message ID: 1 to 32 lower-case letters or digits;
// anything else is refused rather than escaped, because an escaped form is
// what some MTA would mangle.
func (c *Codec) Address(id string, now time.Time) (string, error) {
	if err := c.check(); err != nil {
		return "", err
	}
	if id == "" || len(id) > maxIDLen || !isLowerAlnum(id) {
		return "", fmt.Errorf("%w: message ID %q is not 1 to %d lower-case letters or digits", ErrInvalid, id, maxIDLen)
	}
	exp := now.Add(c.TTL)
	minutes := exp.Unix() / 60
	if exp.After(time.Unix(minutes*60, 0)) {
		minutes++
	}
	if minutes <= 0 || minutes >= maxExpiry {
		return "", fmt.Errorf("%w: expiry %v out of range", ErrInvalid, exp)
	}
	return c.format(id, strconv.FormatInt(minutes, 36)), nil
}

// format assembles a return path from its parts; expiry is in canonical
// base 36.
func (c *Codec) format(id, expiry string) string {
	return c.Local + "+" + id + "." + expiry + "." + c.mac(id, expiry) + "@" + c.Domain
}

// mac authenticates id and expiry for this domain. The fields are joined
// with NUL, which none of them can contain, so no two inputs collide; the
// domain is covered so a secret shared between domains does not let an
// address move between them.
func (c *Codec) mac(id, expiry string) string {
	h := hmac.New(sha256.New, c.Secret)
	h.Write([]byte("verp-v1\x00" + id + "\x00" + expiry + "\x00" + c.Domain))
	sum := h.Sum(nil)
	return strings.ToLower(base32.StdEncoding.EncodeToString(sum[:macBytes]))
}

// Parse returns the message ID of a return path made by Address, if it is
// still valid at now. It accepts the address in any case and in angle
// brackets, as it may appear in a DSN or a Return-Path field. For another
// address it returns an error wrapping ErrNotVERP; for one with this
// codec's prefix and domain whose tag does not authenticate, ErrForged; for
// a genuine one past its expiry, ErrExpired.
func (c *Codec) Parse(addr string, now time.Time) (id string, err error) {
	if err := c.check(); err != nil {
		return "", err
	}
	s := strings.TrimSpace(addr)
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		s = s[1 : len(s)-1]
	}
	s = asciiLower(s)
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", fmt.Errorf("%w: %q has no domain", ErrNotVERP, addr)
	}
	local, domain := s[:at], s[at+1:]
	if domain != c.Domain {
		return "", fmt.Errorf("%w: %q is not in domain %s", ErrNotVERP, addr, c.Domain)
	}
	tag, ok := strings.CutPrefix(local, c.Local+"+")
	if !ok {
		return "", fmt.Errorf("%w: %q does not start with %s+", ErrNotVERP, addr, c.Local)
	}
	forged := func() error { return fmt.Errorf("%w: %q", ErrForged, addr) }
	if len(local) > maxLocalLen {
		return "", forged()
	}
	id, rest, ok1 := strings.Cut(tag, ".")
	expiry, mac, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 ||
		id == "" || len(id) > maxIDLen || !isLowerAlnum(id) ||
		expiry == "" || len(expiry) > maxExpiryLen || expiry[0] == '0' || !isLowerAlnum(expiry) ||
		len(mac) != macLen {
		return "", forged()
	}
	if !hmac.Equal([]byte(mac), []byte(c.mac(id, expiry))) {
		return "", forged()
	}
	// The MAC vouches for expiry, so it parses; checking anyway costs
	// nothing.
	minutes, err := strconv.ParseInt(expiry, 36, 64)
	if err != nil {
		return "", forged()
	}
	if until := time.Unix(minutes*60, 0); now.After(until) {
		return "", fmt.Errorf("%w: %q was valid until %s", ErrExpired, addr, until.UTC().Format(time.RFC3339))
	}
	return id, nil
}

// asciiLower folds ASCII letters only: Unicode folding would let a Kelvin
// sign pass for a 'k', and no MTA changes case that way.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

func isLowerAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
