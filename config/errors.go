package config

import (
	"sort"
	"strings"
)

// KeyError is one problem with one configuration key. Load and Validate
// return KeyErrors joined with errors.Join; find them with errors.As using a
// KeyError or *KeyError target.
type KeyError struct {
	// Key is the full key path, e.g. networks.corp.xmpp.secret.
	Key string
	// Problem says what is wrong, e.g. "empty".
	Problem string
	// Fix says how to fix it, e.g. "set it, or secret_file, or env ...".
	Fix string
}

// Error returns "key: problem; fix".
func (e KeyError) Error() string {
	if e.Fix == "" {
		return e.Key + ": " + e.Problem
	}
	return e.Key + ": " + e.Problem + "; " + e.Fix
}

// As lets errors.As fill a *KeyError target as well as a KeyError one.
func (e KeyError) As(target any) bool {
	if p, ok := target.(**KeyError); ok {
		c := e
		*p = &c
		return true
	}
	return false
}

// suggest returns the known key closest to the unknown key name under
// parent (a full path), or "" if none is close. siblings are the known keys
// directly under parent; all are all known full key paths. Among keys in the
// wrong place equally close, those that prefer reports true for win: the
// same name can live in several blocks (xmpp.domain, mail.domain).
func suggest(parent, name string, siblings, all []string, prefer func(key string) bool) string {
	if best := closest(name, siblings); best != "" {
		return join(parent, best)
	}
	// Perhaps the key is right but in the wrong place, e.g. networks.corp.secret
	// for networks.corp.xmpp.secret: prefer the candidate nearest to parent.
	var cands []string
	for _, k := range all {
		if last(k) == name || editDistance(name, last(k)) <= closeEnough(name, last(k)) {
			cands = append(cands, k)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		ci, cj := commonPrefix(parent, cands[i]), commonPrefix(parent, cands[j])
		if ci != cj {
			return ci > cj
		}
		if pi, pj := prefer(cands[i]), prefer(cands[j]); pi != pj {
			return pi
		}
		return editDistance(name, last(cands[i])) < editDistance(name, last(cands[j]))
	})
	if len(cands) > 0 {
		return cands[0]
	}
	return ""
}

// closeEnough is the largest edit distance at which two names are taken for
// a typo of one another.
func closeEnough(a, b string) int {
	n := min(len(a), len(b))
	if n >= 3 && (strings.HasPrefix(a, b) || strings.HasPrefix(b, a)) {
		return max(len(a), len(b)) // a truncated or extended name
	}
	return max(1, n/3)
}

func last(key string) string {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[i+1:]
	}
	return key
}

func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of adjacent characters each
// cost one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
