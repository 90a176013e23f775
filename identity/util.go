package identity

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Errors returned by State, for errors.Is. The returned errors wrap them
// with a message that names the record and what is wrong.
var (
	// ErrNotFound: a named employee, persona, contact or relationship does
	// not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the request is malformed or not allowed in the current
	// state (e.g. a missing reason, transferring to a departed employee).
	ErrInvalid = errors.New("invalid")
	// ErrConflict: the request collides with existing records (e.g. an
	// address already used by another persona).
	ErrConflict = errors.New("conflict")
)

// idEncoding is lower-case base32 without padding: IDs stay short, survive
// case folding and never need escaping in addresses.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// idRandomChars is the number of random characters in generated IDs: 60
// bits, so a million IDs collide with probability around 1e-6; callers
// still check for collisions.
const idRandomChars = 12

// newID returns prefix + "-" + 12 random base32 characters.
func newID(prefix string) string {
	var b [8]byte
	// crypto/rand.Read never returns an error (it aborts the program
	// instead when the system's generator fails).
	_, _ = rand.Read(b[:])
	return prefix + "-" + idEncoding.EncodeToString(b[:])[:idRandomChars]
}

// MaxIDLen is the longest accepted ID.
const MaxIDLen = 128

// checkID validates an employee, persona or other caller-chosen ID: IDs are
// parts of index keys joined with NUL bytes and may be shown in admin
// tools, so they are printable and contain no spaces.
func checkID(kind, id string) error {
	if id == "" {
		return fmt.Errorf("%w: %s ID is empty", ErrInvalid, kind)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%w: %s ID %.20q… is longer than %d bytes", ErrInvalid, kind, id, MaxIDLen)
	}
	if !utf8.ValidString(id) || strings.IndexFunc(id, func(r rune) bool {
		return unicode.IsSpace(r) || !unicode.IsPrint(r)
	}) >= 0 {
		return fmt.Errorf("%w: %s ID %q must be printable and contain no spaces", ErrInvalid, kind, id)
	}
	return nil
}

// NormalizeAddress returns a with surrounding space removed and both parts
// in lower case, the form in which addresses are stored and looked up.
func NormalizeAddress(a Address) Address {
	return Address{
		Network: strings.ToLower(strings.TrimSpace(a.Network)),
		Addr:    strings.ToLower(strings.TrimSpace(a.Addr)),
	}
}

func checkAddress(what string, a Address) error {
	if a.Network == "" || a.Addr == "" {
		return fmt.Errorf("%w: %s address %q on network %q: network and address are required", ErrInvalid, what, a.Addr, a.Network)
	}
	if strings.ContainsRune(a.Network, 0) || strings.ContainsRune(a.Addr, 0) ||
		!utf8.ValidString(a.Network) || !utf8.ValidString(a.Addr) {
		return fmt.Errorf("%w: %s address %q on network %q contains invalid characters", ErrInvalid, what, a.Addr, a.Network)
	}
	return nil
}

// Canonicalizer returns the one spelling of an address on its network by
// the network's protocol, or an error saying why no one can be reached
// there. The gateway builds it from its topology (routing.Topology's
// Canonical).
type Canonicalizer func(Address) (Address, error)

// SetCanonical makes every address the State is given (employees' inside
// addresses, personas' addresses, new contacts) take its canonical
// spelling through f, refusing those f refuses, so that one contact is one
// contact however an admin, the directory or the traffic spells it.
// Call it once, before the State is used; without it addresses are only
// trimmed and lower-cased.
func (s *State) SetCanonical(f Canonicalizer) { s.canon = f }

// canonical normalises and validates one address.
func (s *State) canonical(what string, a Address) (Address, error) {
	a = NormalizeAddress(a)
	if err := checkAddress(what, a); err != nil {
		return a, err
	}
	if s.canon == nil {
		return a, nil
	}
	c, err := s.canon(a)
	if err != nil {
		return a, fmt.Errorf("%w: %s address on %s: %w", ErrInvalid, what, a.Network, err)
	}
	return NormalizeAddress(c), nil
}

// normalizeAddresses normalises, validates and de-duplicates l.
func (s *State) normalizeAddresses(what string, l []Address) ([]Address, error) {
	out := make([]Address, 0, len(l))
	for _, a := range l {
		a, err := s.canonical(what, a)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

func cloneEmployee(e Employee) Employee {
	e.InsideAddrs = slices.Clone(e.InsideAddrs)
	return e
}

func clonePersona(p Persona) Persona {
	p.Members = slices.Clone(p.Members)
	p.Addresses = slices.Clone(p.Addresses)
	return p
}

func cloneRelationship(r *Relationship) *Relationship {
	c := *r
	c.FormerPersonaIDs = slices.Clone(r.FormerPersonaIDs)
	c.Tags = slices.Clone(r.Tags)
	return &c
}

// addrKey is the index key of an address: network, NUL, address.
func addrKey(a Address) string {
	return a.Network + "\x00" + a.Addr
}
