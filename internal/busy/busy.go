// Package busy keeps sets of keys whose work is under way, so that work
// started from several goroutines for one key (a bounce for one message,
// clearing one relationship's mark) runs once at a time.
package busy

import "sync"

// Set is a set of keys in use. The zero Set is empty and ready.
type Set struct {
	mu sync.Mutex
	m  map[string]bool
}

// Claim reserves key; false when it is already reserved.
func (s *Set) Claim(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[key] {
		return false
	}
	if s.m == nil {
		s.m = map[string]bool{}
	}
	s.m[key] = true
	return true
}

// Release frees key for the next Claim.
func (s *Set) Release(key string) {
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}
