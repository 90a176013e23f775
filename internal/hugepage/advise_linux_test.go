package hugepage

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestAdviseMarksMapping checks with the kernel that Advise reached it:
// the mapping holding the array's whole huge pages carries the "hg"
// (MADV_HUGEPAGE) flag in /proc/self/smaps, and one that was not advised
// does not. The flag is kept whatever the system's huge page setting.
func TestAdviseMarksMapping(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
		t.Skip("this kernel has no transparent huge pages")
	}
	plain := make([]byte, 8*size)
	big := make([]byte, 8*size)
	Advise(big)
	lo, _ := span(uintptr(unsafe.Pointer(unsafe.SliceData(big))), uintptr(len(big)))
	if !hugeAdvised(t, lo) {
		t.Errorf("the advised array's mapping at %#x has no hg flag", lo)
	}
	plo, _ := span(uintptr(unsafe.Pointer(unsafe.SliceData(plain))), uintptr(len(plain)))
	if hugeAdvised(t, plo) {
		t.Errorf("an array never advised, at %#x, has the hg flag", plo)
	}
	big[len(big)-1], plain[0] = 1, 1
}

// hugeAdvised says whether the mapping holding addr has "hg" among its
// VmFlags in /proc/self/smaps.
func hugeAdvised(t *testing.T, addr uintptr) bool {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	inside := false
	for sc.Scan() {
		line := sc.Text()
		if r, _, ok := strings.Cut(line, " "); ok && strings.Contains(r, "-") && !strings.HasSuffix(r, ":") {
			a, b, _ := strings.Cut(r, "-")
			start, err1 := strconv.ParseUint(a, 16, 64)
			end, err2 := strconv.ParseUint(b, 16, 64)
			inside = err1 == nil && err2 == nil && uint64(addr) >= start && uint64(addr) < end
			continue
		}
		if flags, ok := strings.CutPrefix(line, "VmFlags:"); ok && inside {
			return strings.Contains(" "+flags+" ", " hg ")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("no mapping holds %#x", addr)
	return false
}
