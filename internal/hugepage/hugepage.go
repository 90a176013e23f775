// Package hugepage asks the kernel to back large, long-lived arrays with
// transparent huge pages.
//
// A process that loads a large state writes hundreds of MiB of fresh
// memory once. On a virtual machine each 4 KiB page fault on that memory
// costs microseconds: at a million relationships the first write of the
// records' array alone was 1.5 s of CPU. An array marked with Advise
// before it is first written faults in 2 MiB at a time instead, where the
// system's transparent huge page setting is "madvise" (Debian's default)
// or "always". The advice changes nothing else: the memory stays the Go
// heap's and is freed and returned as any other. A setting of "never", a
// kernel without transparent huge pages or another operating system
// ignore it.
package hugepage

import "unsafe"

// size is the huge page size of x86-64, and of arm64 with 4 KiB pages.
const size = 2 << 20

// Advise marks the whole huge pages inside s's backing array, up to its
// capacity, for transparent huge pages. It is meant for an array that is
// written whole soon after and kept: the pages are resident once touched.
// An array under two huge pages long is left alone.
func Advise[T any](s []T) {
	var zero T
	p := unsafe.Pointer(unsafe.SliceData(s))
	lo, hi := span(uintptr(p), uintptr(cap(s))*unsafe.Sizeof(zero))
	if hi > lo {
		advise(unsafe.Add(p, lo-uintptr(p)), hi-lo)
	}
}

// span is the range of whole huge pages inside the n bytes at start, or
// an empty one when n is under two huge pages.
func span(start, n uintptr) (lo, hi uintptr) {
	if n < 2*size {
		return 0, 0
	}
	lo = (start + size - 1) &^ (size - 1)
	hi = (start + n) &^ (size - 1)
	return lo, hi
}
