package gateway

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

// seenFilter answers "was a message with this dedupe key stored within
// DedupeWindow?" with "no" or "maybe", from memory: a Bloom filter of the
// keys stored, in two generations of DedupeWindow each, so that a key is
// kept for at least a window and forgotten after two. Only "maybe" costs
// a read of the queue (dupSQL); nearly every message is new, so nearly
// none does. Until the keys already stored are loaded (load), every
// answer is "maybe".
type seenFilter struct {
	mu        sync.Mutex
	seed      maphash.Seed
	cur, prev []uint64
	since     time.Time // when cur began
	ready     bool
}

// seenBits is the size of one generation: 2^23 bits (1 MiB), about 2 %
// false "maybe"s at a million messages with IDs a day.
const seenBits = 1 << 23

// seenHashes is how many bits a key sets.
const seenHashes = 4

func newSeenFilter(now time.Time) *seenFilter {
	return &seenFilter{seed: maphash.MakeSeed(), cur: make([]uint64, seenBits/64), prev: make([]uint64, seenBits/64), since: now}
}

// bits returns the positions of key's bits (double hashing).
func (f *seenFilter) bits(key string) [seenHashes]uint32 {
	h := maphash.String(f.seed, key)
	h1, h2 := uint32(h), uint32(h>>32)|1
	var b [seenHashes]uint32
	for i := range b {
		b[i] = (h1 + uint32(i)*h2) % seenBits
	}
	return b
}

// rotate starts a new generation once the current one is a window old.
// Call with mu held.
func (f *seenFilter) rotate(now time.Time) {
	if now.Sub(f.since) < DedupeWindow {
		return
	}
	f.prev, f.cur = f.cur, f.prev
	clear(f.cur)
	f.since = now
}

// add notes that a message with key was stored.
func (f *seenFilter) add(key string, now time.Time) {
	b := f.bits(key)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rotate(now)
	for _, i := range b {
		f.cur[i/64] |= 1 << (i % 64)
	}
}

// mayHave reports false only when no message with key was stored within
// DedupeWindow.
func (f *seenFilter) mayHave(key string, now time.Time) bool {
	b := f.bits(key)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.ready {
		return true
	}
	f.rotate(now)
	in := func(set []uint64) bool {
		for _, i := range b {
			if set[i/64]&(1<<(i%64)) == 0 {
				return false
			}
		}
		return true
	}
	return in(f.cur) || in(f.prev)
}

// loadSeen adds the keys of the messages stored within DedupeWindow (read
// from the queue's last commit; what commits meanwhile is added by Insert)
// and then lets the filter answer "no".
func (q *Queue) loadSeen(ctx context.Context) error {
	now := time.Now()
	rows, err := q.ro.QueryContext(ctx, `SELECT in_network, in_from, in_id, in_to, content_hash FROM messages
		WHERE in_id <> '' AND received_at > ?`, now.Add(-DedupeWindow).UnixNano())
	if err != nil {
		return fmt.Errorf("queue: load recent IDs: %w", err)
	}
	defer rows.Close()
	var r Record
	var hash string
	for rows.Next() {
		if err := rows.Scan(&r.InNetwork, &r.InFrom, &r.InID, &r.InTo, &hash); err != nil {
			return fmt.Errorf("queue: load recent IDs: %w", err)
		}
		q.seen.add(dedupeKey(&r, hash), now)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("queue: load recent IDs: %w", err)
	}
	q.seen.mu.Lock()
	q.seen.ready = true
	q.seen.mu.Unlock()
	return nil
}
