package identity

import (
	"strings"
	"testing"
	"unsafe"
)

func TestStringArena(t *testing.T) {
	var a stringArena
	if got := a.clone(""); got != "" {
		t.Fatalf("clone(\"\") = %q", got)
	}
	// Many strings spanning several blocks come back equal and do not
	// share bytes with their source.
	src := make([]byte, 0, 64)
	var got []string
	var want []string
	for i := range 3 * arenaBlock / 20 {
		src = append(src[:0], strings.Repeat("x", i%17)...)
		src = append(src, byte('a'+i%26), byte('0'+i%10))
		want = append(want, string(src))
		s := a.clone(string(src))
		if len(s) > 0 && unsafe.StringData(s) == unsafe.SliceData(src) {
			t.Fatal("clone shares its argument's bytes")
		}
		got = append(got, s)
		for k := range src {
			src[k] = 0 // the copies must not change
		}
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("string %d = %q, want %q", i, got[i], want[i])
		}
	}
	// Consecutive short strings share a block; a long one does not use it.
	x, y := a.clone("abc"), a.clone("def")
	if unsafe.StringData(y) != (*byte)(unsafe.Add(unsafe.Pointer(unsafe.StringData(x)), 3)) {
		t.Error("consecutive clones are not adjacent in the block")
	}
	long := strings.Repeat("L", arenaMax+1)
	before := len(a.block)
	if c := a.clone(long); c != long {
		t.Error("long clone differs")
	}
	if len(a.block) != before {
		t.Error("a long string was copied into the block")
	}
}
