package scrub

import (
	"bytes"
	"testing"
)

// fuzzClean cleans data and checks the invariants that hold for any
// input: no panic, an error or an output no larger than the input (the
// image cleaners only ever drop bytes, or shorten a JFIF segment), and an
// output that cleans again to itself.
func fuzzClean(t *testing.T, data []byte) {
	rep, out, err := clean(t, data, "fuzz", "", Options{})
	if err != nil {
		return
	}
	if rep.Format == "JPEG" || rep.Format == "PNG" {
		if len(out) > len(data) {
			t.Fatalf("%s output of %d bytes from %d", rep.Format, len(out), len(data))
		}
		_, again, err := clean(t, out, "fuzz", "", Options{})
		if err != nil {
			t.Fatalf("cleaned %s does not clean again: %v", rep.Format, err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("cleaning a cleaned %s changed it", rep.Format)
		}
	}
}

func FuzzCleanJPEG(f *testing.F) {
	f.Add(dirtyJPEG(f, 16, 8, 50))
	f.Add(dirtyJPEG(f, 8, 8, 100)[:300])
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0x12, 0xFF, 0x00, 0xFF, 0xD0, 0xFF, 0xFF, 0xD9})
	f.Fuzz(fuzzClean)
}

func FuzzCleanPNG(f *testing.F) {
	f.Add(dirtyPNG(f))
	f.Add(pngChunk("IHDR", make([]byte, 13)))
	f.Add(append([]byte(pngSignature), pngChunk("IHDR", make([]byte, 13))...))
	f.Fuzz(fuzzClean)
}
