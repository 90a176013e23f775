package scrub

import (
	"bytes"
	"context"
	"io"
	"testing"
)

// BenchmarkCleanJPEG cleans a photo-sized JPEG of a few megabytes, with
// the usual metadata segments, to io.Discard.
func BenchmarkCleanJPEG(b *testing.B) {
	data := dirtyJPEG(b, 3000, 2000, 98)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		_, err := Clean(context.Background(), io.Discard, bytes.NewReader(data), int64(len(data)), "photo.jpg", "image/jpeg", Options{})
		if err != nil {
			b.Fatal(err)
		}
	}
}
