// Package testfiles builds the files tests send across the gateway: photos
// and PDFs that carry their author's name in their metadata, the way
// cameras, phones and office suites write it.
package testfiles

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"strings"
)

// Gradient is a w×h image of smooth colours: it compresses well.
func Gradient(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{uint8(x * 10), uint8(y * 15), 90, 255})
		}
	}
	return img
}

// Noise is a w×h image of random pixels, seeded: it hardly compresses,
// as photos hardly do.
func Noise(w, h int, seed uint64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(seed, uint64(w)<<32|uint64(h)))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.Uint32())
	}
	return img
}

// Photo encodes img as a JPEG (quality 1-100) whose EXIF (Artist) and XMP
// (dc:creator) name author, as a phone's camera app writes them.
func Photo(img image.Image, quality int, author string) ([]byte, error) {
	var enc bytes.Buffer
	if err := jpeg.Encode(&enc, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("testfiles: %w", err)
	}
	// EXIF: a big-endian TIFF with one IFD holding Artist (0x013B).
	artist := append([]byte(author), 0)
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08")
	tiff = binary.BigEndian.AppendUint16(tiff, 1)
	tiff = binary.BigEndian.AppendUint16(tiff, 0x013B)
	tiff = binary.BigEndian.AppendUint16(tiff, 2)
	tiff = binary.BigEndian.AppendUint32(tiff, uint32(len(artist)))
	tiff = binary.BigEndian.AppendUint32(tiff, 8+2+12+4)
	tiff = binary.BigEndian.AppendUint32(tiff, 0)
	tiff = append(tiff, artist...)
	exif := append([]byte("Exif\x00\x00"), tiff...)
	xmp := append([]byte("http://ns.adobe.com/xap/1.0/\x00"), XMP(author)...)
	segment := func(marker byte, payload []byte) []byte {
		s := []byte{0xFF, marker}
		s = binary.BigEndian.AppendUint16(s, uint16(len(payload)+2))
		return append(s, payload...)
	}
	b := enc.Bytes()
	out := append([]byte{}, b[:2]...) // SOI
	out = append(out, segment(0xE1, exif)...)
	out = append(out, segment(0xE1, xmp)...)
	return append(out, b[2:]...), nil
}

// XMP is an XMP packet naming author as the document's creator.
func XMP(author string) string {
	return `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">` +
		`<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>` + author +
		`</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>`
}

// PDFObject is one indirect object of a hand-written PDF.
type PDFObject struct {
	Dict   string
	Stream string // with a stream, Dict gets its /Length
}

// PDF writes a PDF 1.7 file with a classic cross-reference table; the
// objects are numbered from 1 in order, and trailer holds the trailer
// dictionary's entries besides /Size.
func PDF(objs []PDFObject, trailer string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xE2\xE3\xCF\xD3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		if o.Stream == "" {
			fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o.Dict)
			continue
		}
		d := strings.TrimSuffix(o.Dict, ">>") + fmt.Sprintf(" /Length %d >>", len(o.Stream))
		fmt.Fprintf(&b, "%d 0 obj\n%s\nstream\n%s\nendstream\nendobj\n", i+1, d, o.Stream)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, trailer, xref)
	return b.Bytes()
}

// Quote is a one-page PDF quote whose document information and XMP name
// author and the machine it was written on, as an office suite writes
// them. Its page shows "Quote: 120,000 JPY".
func Quote(author string) []byte {
	return PDF([]PDFObject{
		{Dict: "<< /Type /Catalog /Pages 2 0 R /Metadata 5 0 R >>"},
		{Dict: "<< /Type /Pages /Kids [3 0 R] /Count 1 >>"},
		{Dict: "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R /Resources << /Font << /F1 6 0 R >> >> >>"},
		{Dict: "<< >>", Stream: "BT /F1 18 Tf 20 100 Td (Quote: 120,000 JPY) Tj ET"},
		{Dict: "<< /Type /Metadata /Subtype /XML >>", Stream: XMP(author)},
		{Dict: "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"},
		{Dict: "<< /Author (" + author + ") /Creator (CorpWriter on ws12.corp.test) /Title (Quote) >>"},
	}, "/Root 1 0 R /Info 7 0 R")
}
