package identity

import (
	"strings"
	"unsafe"
)

// stringArena copies many small strings that live as long as each other
// (the IDs and addresses of a store being loaded) into shared blocks: one
// allocation per block instead of one per string, no rounding up to a size
// class, and blocks that hold nothing else, so the garbage made beside
// them while loading leaves whole spans free instead of sharing spans with
// records that stay. A string keeps its whole block alive.
//
// The zero value is ready to use. Bytes once handed out are never written
// again, which is what makes the strings immutable.
type stringArena struct {
	block []byte // the unused tail of the current block
}

const (
	// arenaBlock is the size of a block.
	arenaBlock = 64 << 10
	// arenaMax is the longest string copied into a block; longer ones get
	// an allocation of their own.
	arenaMax = 1 << 10
)

// clone returns a copy of s.
func (a *stringArena) clone(s string) string {
	n := len(s)
	switch {
	case n == 0:
		return ""
	case n > arenaMax:
		return strings.Clone(s)
	case n > len(a.block):
		a.block = make([]byte, arenaBlock)
	}
	copy(a.block, s)
	out := unsafe.String(&a.block[0], n)
	a.block = a.block[n:]
	return out
}
