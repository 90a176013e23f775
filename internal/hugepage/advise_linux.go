package hugepage

import (
	"syscall"
	"unsafe"
)

// advise is madvise(MADV_HUGEPAGE) on the n bytes at p. An error (a
// kernel built without transparent huge pages) leaves the memory as it
// was, which is all the advice could change.
func advise(p unsafe.Pointer, n uintptr) {
	_ = syscall.Madvise(unsafe.Slice((*byte)(p), n), syscall.MADV_HUGEPAGE)
}
