package hugepage

import "testing"

func TestSpan(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		name           string
		start, n       uintptr
		wantLo, wantHi uintptr
	}{
		{"aligned, two pages", 4 * size, 2 * size, 4 * size, 6 * size},
		{"aligned, a tail", 4 * size, 2*size + mib, 4 * size, 6 * size},
		{"unaligned start keeps only whole pages", 4*size + 8192, 3 * size, 5 * size, 7 * size},
		{"unaligned, one whole page inside", 4*size + 8192, 2 * size, 5 * size, 6 * size},
		{"under two pages", 4 * size, 2*size - 1, 0, 0},
		{"empty", 0, 0, 0, 0},
	} {
		lo, hi := span(c.start, c.n)
		if lo != c.wantLo || hi != c.wantHi {
			t.Errorf("%s: span(%#x, %#x) = [%#x, %#x), want [%#x, %#x)", c.name, c.start, c.n, lo, hi, c.wantLo, c.wantHi)
		}
		if hi > lo && (lo < c.start || hi > c.start+c.n || lo%size != 0 || hi%size != 0) {
			t.Errorf("%s: [%#x, %#x) is not whole pages inside [%#x, %#x)", c.name, lo, hi, c.start, c.start+c.n)
		}
	}
}

// Advise must leave an array's contents alone, for any element type, on
// an array already written (a wrong advice such as MADV_DONTNEED would
// zero it) and on one too small to advise.
func TestAdviseKeepsContents(t *testing.T) {
	small := []int{1, 2, 3}
	Advise(small)
	if small[0] != 1 || small[2] != 3 {
		t.Fatalf("small array changed: %v", small)
	}
	type rec struct {
		id string
		n  int64
	}
	big := make([]rec, 3*size/16)
	for i := range big {
		big[i] = rec{"x", int64(i)}
	}
	Advise(big)
	for i, r := range big {
		if r.n != int64(i) || r.id != "x" {
			t.Fatalf("record %d = %+v after Advise", i, r)
		}
	}
	var none []byte
	Advise(none)
}
