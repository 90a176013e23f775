package testfiles

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"strconv"
	"strings"
	"testing"
)

// TestPhotoCarriesItsAuthor: the photo decodes as the image it was made
// from, and its metadata names the author twice (EXIF and XMP), so a test
// that finds the name gone after cleaning has proved something.
func TestPhotoCarriesItsAuthor(t *testing.T) {
	for _, img := range []struct {
		name string
		w, h int
	}{{name: "gradient", w: 24, h: 16}, {name: "noise", w: 40, h: 30}} {
		src := Gradient(img.w, img.h)
		if img.name == "noise" {
			src = Noise(img.w, img.h, 3)
		}
		b, err := Photo(src, 90, "Hana Sato")
		if err != nil {
			t.Fatal(err)
		}
		dec, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil || dec.Bounds() != src.Bounds() {
			t.Fatalf("%s: decodes as %v, %v", img.name, dec, err)
		}
		if n := bytes.Count(b, []byte("Hana Sato")); n != 2 {
			t.Errorf("%s: the author is named %d times, want 2 (EXIF, XMP)", img.name, n)
		}
	}
	if bytes.Equal(Noise(8, 8, 1).Pix, Noise(8, 8, 2).Pix) || !bytes.Equal(Noise(8, 8, 1).Pix, Noise(8, 8, 1).Pix) {
		t.Error("Noise is not seeded")
	}
}

// TestQuoteIsAWellFormedPDF: the cross-reference table points at each
// object, so a PDF reader takes the file as it is.
func TestQuoteIsAWellFormedPDF(t *testing.T) {
	b := Quote("Hana Sato")
	s := string(b)
	if !strings.HasPrefix(s, "%PDF-1.7") || !strings.HasSuffix(s, "%%EOF\n") || strings.Count(s, "Hana Sato") != 2 {
		t.Fatalf("quote:\n%s", s)
	}
	xref := strings.Index(s, "xref\n")
	for i, line := range strings.Split(s[xref:], "\n")[3:10] {
		var off int
		if _, err := fmt.Sscanf(line, "%010d", &off); err != nil {
			t.Fatalf("xref line %q: %v", line, err)
		}
		if want := strings.TrimSpace(s[off : off+8]); !strings.HasPrefix(want, strconv.Itoa(i+1)+" 0 obj") {
			t.Errorf("object %d: offset %d points at %q", i+1, off, want)
		}
	}
}
