package scrub

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/kakehashi/kakehashi/internal/testfiles"
	"github.com/pdfcpu/pdfcpu/pkg/api"
)

// The fixtures are made here, not fetched: each is a real encoder's output
// (or, for WebP and PDF, a minimal file written by hand) with metadata
// naming "Hana Tanaka", her company ("ACME Internal") and her machine
// ("corp.test") spliced in where real tools put it.

// secrets are what no cleaned output may contain.
func secrets() []string { return []string{"Hana Tanaka", "corp.test", "ACME Internal"} }

// testPicture is a small image with enough detail that the JPEG entropy
// coder emits stuffed 0xFF bytes.
func testPicture(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 13), uint8((x ^ y) * 29), 255})
		}
	}
	return m
}

// segment is one JPEG marker segment.
func segment(marker byte, payload []byte) []byte {
	s := []byte{0xFF, marker, 0, 0}
	binary.BigEndian.PutUint16(s[2:], uint16(len(payload)+2))
	return append(s, payload...)
}

// exifPayload is an APP1 Exif payload: a little-endian TIFF header and one
// IFD with Orientation (6, rotate 90°), Artist "Hana Tanaka" and a GPS
// IFD pointer followed by GPS-ish bytes.
func exifPayload() []byte {
	var b bytes.Buffer
	b.WriteString("Exif\x00\x00")
	tiff := []byte("II*\x00\x08\x00\x00\x00")
	le := binary.LittleEndian
	artist := "Hana Tanaka\x00"
	ifd := make([]byte, 2+3*12+4)
	le.PutUint16(ifd[0:], 3)
	entry := func(i int, tag, typ uint16, count, value uint32) {
		e := ifd[2+12*i:]
		le.PutUint16(e[0:], tag)
		le.PutUint16(e[2:], typ)
		le.PutUint32(e[4:], count)
		le.PutUint32(e[8:], value)
	}
	dataOff := uint32(8 + len(ifd))
	entry(0, 0x0112, 3, 1, 6)                           // Orientation
	entry(1, 0x013B, 2, uint32(len(artist)), dataOff)   // Artist
	entry(2, 0x8825, 4, 1, dataOff+uint32(len(artist))) // GPS IFD
	b.Write(tiff)
	b.Write(ifd)
	b.WriteString(artist)
	b.WriteString("GPS 35.6812N 139.7671E")
	return b.Bytes()
}

const xmpPacket = `<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
<dc:creator><rdf:Seq><rdf:li>Hana Tanaka</rdf:li></rdf:Seq></dc:creator>
<xmp:CreatorTool>CorpWriter (host build.corp.test)</xmp:CreatorTool>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>`

// dirtyJPEG is image/jpeg's encoding of a picture with, after SOI: JFIF
// with a thumbnail, Exif, XMP, extended XMP, Photoshop/IPTC, an ICC
// profile and an MPF index, an Adobe segment and a comment, and a trailer
// after EOI.
func dirtyJPEG(tb testing.TB, w, h, quality int) []byte {
	tb.Helper()
	var enc bytes.Buffer
	if err := jpeg.Encode(&enc, testPicture(w, h), &jpeg.Options{Quality: quality}); err != nil {
		tb.Fatal(err)
	}
	plain := enc.Bytes()
	var b bytes.Buffer
	b.Write(plain[:2]) // SOI
	jfif := []byte("JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x02\x01")
	jfif = append(jfif, 'H', 'a', 'n', 'a', ' ', 'T') // a 2×1 RGB "thumbnail"
	b.Write(segment(markerAPP0, jfif))
	b.Write(segment(markerAPP1, exifPayload()))
	b.Write(segment(markerAPP1, []byte(xmpID+xmpPacket)))
	b.Write(segment(markerAPP1, []byte(xmpExtendedID+"0123456789ABCDEF0123456789ABCDEF\x00\x00\x01\x00\x00\x00\x00\x00<rdf:li>Hana Tanaka</rdf:li>")))
	b.Write(segment(markerAPPd, []byte(photoshopID+"8BIM\x04\x04\x00\x00\x00\x00\x00\x0f\x1c\x02\x50\x00\x0bHana Tanaka")))
	b.Write(segment(markerAPP2, []byte(iccID+"\x01\x01fake-profile-bytes")))
	b.Write(segment(markerAPP2, []byte(mpfID+"MM\x00*index of images by Hana Tanaka")))
	b.Write(segment(0xEB, []byte("JP\x00\x00JUMBF c2pa manifest, Hana Tanaka")))
	b.Write(segment(markerAPPe, []byte("Adobe\x00\x64\x00\x00\x00\x00\x01")))
	b.Write(segment(markerCOM, []byte("edited by Hana Tanaka on ws12.corp.test")))
	b.Write(plain[2:])
	b.WriteString("SEFH trailer: Hana Tanaka, ACME Internal")
	return b.Bytes()
}

// pngChunk is one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	c := make([]byte, 8, 12+len(data))
	binary.BigEndian.PutUint32(c, uint32(len(data)))
	copy(c[4:], typ)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// dirtyPNG is image/png's encoding of a picture with gAMA and pHYs (kept),
// tEXt Author, iTXt XMP, zTXt, eXIf, tIME and a private chunk (dropped)
// after IHDR, and a trailer after IEND.
func dirtyPNG(tb testing.TB) []byte {
	tb.Helper()
	var enc bytes.Buffer
	if err := png.Encode(&enc, testPicture(40, 30)); err != nil {
		tb.Fatal(err)
	}
	plain := enc.Bytes()
	ihdrEnd := 8 + 8 + 13 + 4
	var b bytes.Buffer
	b.Write(plain[:ihdrEnd])
	b.Write(pngChunk("gAMA", []byte{0, 0, 0xB1, 0x8F}))
	b.Write(pngChunk("pHYs", []byte{0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1}))
	b.Write(pngChunk("tEXt", []byte("Author\x00Hana Tanaka")))
	b.Write(pngChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00"+xmpPacket)))
	b.Write(pngChunk("zTXt", []byte("Comment\x00\x00x\x9c\x03\x00\x00\x00\x00\x01")))
	b.Write(pngChunk("eXIf", exifPayload()[6:]))
	b.Write(pngChunk("tIME", []byte{0x07, 0xE9, 1, 2, 3, 4, 5}))
	b.Write(pngChunk("prVt", []byte("ws12.corp.test")))
	b.Write(plain[ihdrEnd:])
	b.WriteString("ACME Internal")
	return b.Bytes()
}

// gifSubBlocksOf splits data into GIF sub-blocks with the terminator.
func gifSubBlocksOf(data []byte) []byte {
	var b []byte
	for len(data) > 0 {
		n := min(len(data), 255)
		b = append(b, byte(n))
		b = append(b, data[:n]...)
		data = data[n:]
	}
	return append(b, 0)
}

// dirtyGIF is image/gif's encoding of a two-frame looping animation with
// a comment and an XMP application extension inserted before the frames.
func dirtyGIF(tb testing.TB) []byte {
	tb.Helper()
	g := &gif.GIF{LoopCount: 0}
	for i := 0; i < 2; i++ {
		m := image.NewPaletted(image.Rect(0, 0, 20, 10), palette.Plan9)
		for x := 0; x < 20; x++ {
			m.SetColorIndex(x, i*5, uint8(x*10+i))
		}
		g.Image = append(g.Image, m)
		g.Delay = append(g.Delay, 10)
	}
	var enc bytes.Buffer
	if err := gif.EncodeAll(&enc, g); err != nil {
		tb.Fatal(err)
	}
	plain := enc.Bytes()
	at := 13
	if plain[10]&0x80 != 0 {
		at += 3 << (1 + plain[10]&7)
	}
	var b bytes.Buffer
	b.Write(plain[:at])
	b.Write([]byte{gifExtension, gifComment})
	b.Write(gifSubBlocksOf([]byte("made by Hana Tanaka at ACME Internal")))
	b.Write([]byte{gifExtension, gifApplication, 11})
	b.WriteString("XMP DataXMP")
	b.Write(gifSubBlocksOf([]byte(xmpPacket)))
	b.Write(plain[at:])
	b.WriteString("corp.test")
	return b.Bytes()
}

// bitWriter writes the least-significant-bit-first bit stream of VP8L.
type bitWriter struct {
	buf []byte
	acc uint64
	n   uint
}

func (w *bitWriter) bits(v uint64, n uint) {
	w.acc |= v << w.n
	for w.n += n; w.n >= 8; w.n -= 8 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
	}
}

func (w *bitWriter) bytes() []byte {
	if w.n > 0 {
		return append(w.buf, byte(w.acc))
	}
	return w.buf
}

// vp8lSolid is a lossless WebP bitstream of a w×h image of one colour:
// five one-symbol prefix codes, so each pixel takes no bits at all.
func vp8lSolid(w, h int, c color.NRGBA) []byte {
	bw := &bitWriter{}
	bw.bits(0x2f, 8) // signature
	bw.bits(uint64(w-1), 14)
	bw.bits(uint64(h-1), 14)
	bw.bits(0, 1) // alpha is not used
	bw.bits(0, 3) // version
	bw.bits(0, 1) // no transform
	bw.bits(0, 1) // no colour cache
	bw.bits(0, 1) // no meta prefix codes
	for _, sym := range []uint8{c.G, c.R, c.B, c.A, 0} {
		bw.bits(1, 1) // simple code
		bw.bits(0, 1) // one symbol
		bw.bits(1, 1) // of eight bits
		bw.bits(uint64(sym), 8)
	}
	return bw.bytes()
}

// riffChunk is one RIFF chunk, padded to even length.
func riffChunk(fourCC string, data []byte) []byte {
	c := make([]byte, 8, 9+len(data))
	copy(c, fourCC)
	binary.LittleEndian.PutUint32(c[4:], uint32(len(data)))
	c = append(c, data...)
	if len(data)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

// webpColor is the colour of dirtyWebP's pixels.
func webpColor() color.NRGBA { return color.NRGBA{R: 200, G: 100, B: 50, A: 255} }

// dirtyWebP is an extended-format WebP (VP8X with the EXIF and XMP flags,
// a lossless VP8L image) followed by EXIF, XMP and a private chunk, and a
// trailer after the RIFF payload.
func dirtyWebP() []byte {
	const w, h = 5, 3
	vp8x := []byte{vp8xEXIF | vp8xXMP, 0, 0, 0, w - 1, 0, 0, h - 1, 0, 0}
	var body []byte
	body = append(body, "WEBP"...)
	body = append(body, riffChunk("VP8X", vp8x)...)
	body = append(body, riffChunk("VP8L", vp8lSolid(w, h, webpColor()))...)
	body = append(body, riffChunk("EXIF", exifPayload()[6:])...)
	body = append(body, riffChunk("XMP ", []byte(xmpPacket))...)
	body = append(body, riffChunk("prVt", []byte("ws12.corp.test!"))...)
	out := []byte("RIFF\x00\x00\x00\x00")
	binary.LittleEndian.PutUint32(out[4:], uint32(len(body)))
	out = append(out, body...)
	return append(out, "ACME Internal"...)
}

// utf16BE is s as a PDF UTF-16BE text string, with its byte order mark.
func utf16BE(s string) []byte {
	b := []byte{0xFE, 0xFF}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}

// pdfObject is one indirect object of a hand-written PDF.
type pdfObject struct {
	dict   string
	stream string // with a stream, dict gets its /Length
}

// buildPDF writes a PDF 1.7 file with a classic xref table; objects are
// numbered from 1 in order, and trailer is the trailer dict's entries.
func buildPDF(objs []pdfObject, trailer string) []byte {
	out := make([]testfiles.PDFObject, len(objs))
	for i, o := range objs {
		out[i] = testfiles.PDFObject{Dict: o.dict, Stream: o.stream}
	}
	return testfiles.PDF(out, trailer)
}

// dirtyPDFObjects are the objects of dirtyPDF: a one-page document with
// text, a comment by Hana, XMP on the catalog and the page, PieceInfo,
// and an Info dictionary naming her, her tool and host. extra objects
// follow them.
func dirtyPDFObjects(extra ...pdfObject) []pdfObject {
	// The title is a UTF-16BE text string, written as hex.
	title := fmt.Sprintf("<%X>", utf16BE("Quote by Hana Tanaka"))
	objs := []pdfObject{
		{dict: "<< /Type /Catalog /Pages 2 0 R /Metadata 5 0 R >>"},
		{dict: "<< /Type /Pages /Kids [3 0 R] /Count 1 >>"},
		{dict: "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R " +
			"/Resources << /Font << /F1 6 0 R >> >> /Metadata 7 0 R /Annots [8 0 R] " +
			"/PieceInfo << /CorpWriter << /LastModified (D:20250101000000Z) /Private (ws12.corp.test) >> >> >>"},
		{dict: "<< >>", stream: "BT /F1 18 Tf 20 100 Td (Hello customer) Tj ET"},
		{dict: "<< /Type /Metadata /Subtype /XML >>", stream: xmpPacket},
		{dict: "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"},
		{dict: "<< /Type /Metadata /Subtype /XML >>", stream: xmpPacket},
		{dict: "<< /Type /Annot /Subtype /Text /Rect [10 10 30 30] /Contents (Please check the price) /T (Hana Tanaka) >>"},
		{dict: "<< /Author (Hana Tanaka) /Creator (CorpWriter \\(host build.corp.test\\)) /Producer (ACME Internal PDF) " +
			"/Title " + title + " /Subject (For ACME Internal use) /Keywords (quote) " +
			"/CreationDate (D:20250101090000+09'00') >>"},
	}
	return append(objs, extra...)
}

const pdfTrailer = "/Root 1 0 R /Info 9 0 R /ID [<48616E612054616E616B61> <48616E612054616E616B61>]"

// dirtyPDF is the hand-written PDF of dirtyPDFObjects.
func dirtyPDF() []byte {
	return buildPDF(dirtyPDFObjects(), pdfTrailer)
}

// compressedPDF is dirtyPDF rewritten by pdfcpu with object streams and
// an xref stream, as PDF 1.5 writers do: the Info dictionary and the
// annotation sit inside a compressed object stream.
func compressedPDF(tb testing.TB) []byte {
	tb.Helper()
	conf := pdfConfig()
	conf.WriteObjectStream, conf.WriteXRefStream = true, true
	var out bytes.Buffer
	if err := api.Optimize(bytes.NewReader(dirtyPDF()), &out, conf); err != nil {
		tb.Fatal(err)
	}
	if bytes.Contains(out.Bytes(), []byte("Please check the price")) {
		tb.Fatal("compressedPDF is not compressed")
	}
	return out.Bytes()
}

// updatedPDF is dirtyPDF with an incremental update that replaces its
// Info by one without the author: the old one is still in the file, as
// after "save" in many editors.
func updatedPDF() []byte {
	base := dirtyPDF()
	prev := bytes.LastIndex(base, []byte("startxref\n")) + len("startxref\n")
	prevXref := strings.TrimSpace(strings.TrimSuffix(string(base[prev:]), "%%EOF\n"))
	var b bytes.Buffer
	b.Write(base)
	off := b.Len()
	b.WriteString("9 0 obj\n<< /Title (Quote) >>\nendobj\n")
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n9 1\n%010d 00000 n \ntrailer\n<< /Size 10 /Root 1 0 R /Info 9 0 R /Prev %s >>\nstartxref\n%d\n%%%%EOF\n", off, prevXref, xref)
	return b.Bytes()
}

// signedPDF is dirtyPDF with a signature field whose value names Hana.
func signedPDF() []byte {
	objs := dirtyPDFObjects(
		pdfObject{dict: "<< /FT /Sig /T (Signature1) /V 11 0 R /Type /Annot /Subtype /Widget /Rect [0 0 0 0] /P 3 0 R >>"},
		pdfObject{dict: "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /adbe.pkcs7.detached /ByteRange [0 10 20 10] /Contents <00> /Name (Hana Tanaka) >>"},
	)
	objs[0].dict = "<< /Type /Catalog /Pages 2 0 R /Metadata 5 0 R /AcroForm << /Fields [10 0 R] /SigFlags 3 >> >>"
	return buildPDF(objs, pdfTrailer)
}

// OOXML fixture parts.
const (
	docxContentTypes = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Default Extension="jpeg" ContentType="image/jpeg"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/><Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/><Override PartName="/docProps/custom.xml" ContentType="application/vnd.openxmlformats-officedocument.custom-properties+xml"/></Types>`

	docxRels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/><Relationship Id="rId4" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties" Target="docProps/custom.xml"/></Relationships>`

	docxDocument = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><w:body><w:p><w:r><w:t>Dear customer, here is the quote you asked for.</w:t></w:r></w:p></w:body></w:document>`

	docxDocumentRels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" Target="media/image1.jpeg"/></Relationships>`

	docxCore = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:title>Quote</dc:title><dc:creator>Hana Tanaka</dc:creator><cp:lastModifiedBy>Hana Tanaka</cp:lastModifiedBy><cp:revision>3</cp:revision><dcterms:created xsi:type="dcterms:W3CDTF">2025-01-01T09:00:00Z</dcterms:created><dcterms:modified xsi:type="dcterms:W3CDTF">2025-01-02T09:00:00Z</dcterms:modified></cp:coreProperties>`

	docxApp = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"><Template>\\fs1.corp.test\templates\Quote.dotx</Template><TotalTime>12</TotalTime><Pages>1</Pages><Words>9</Words><Application>Microsoft Office Word</Application><DocSecurity>0</DocSecurity><TitlesOfParts><vt:vector size="1" baseType="lpstr"><vt:lpstr>Quote</vt:lpstr></vt:vector></TitlesOfParts><Manager>Hana Tanaka</Manager><Company>ACME Internal</Company><HyperlinkBase>http://intranet.corp.test/</HyperlinkBase><AppVersion>16.0000</AppVersion></Properties>`

	docxCustom = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"><property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="Department"><vt:lpwstr>ACME Internal sales</vt:lpwstr></property></Properties>`
)

// zipEntry is one entry of a test zip.
type zipEntry struct {
	name, data string
	store      bool
}

// buildZip writes entries in order, with a comment on each and on the
// archive naming Hana.
func buildZip(tb testing.TB, entries []zipEntry) []byte {
	tb.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		fh := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Comment: "packed by Hana Tanaka"}
		if e.store {
			fh.Method = zip.Store
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write([]byte(e.data)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.SetComment("ACME Internal build"); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// dirtyDOCX is a Word document with core, app and custom properties
// naming Hana and ACME, and an embedded photo with EXIF.
func dirtyDOCX(tb testing.TB) []byte {
	tb.Helper()
	return buildZip(tb, []zipEntry{
		{name: "[Content_Types].xml", data: docxContentTypes},
		{name: "_rels/.rels", data: docxRels},
		{name: "word/document.xml", data: docxDocument},
		{name: "word/_rels/document.xml.rels", data: docxDocumentRels},
		{name: "word/media/image1.jpeg", data: string(dirtyJPEG(tb, 32, 24, 80)), store: true},
		{name: "docProps/core.xml", data: docxCore},
		{name: "docProps/app.xml", data: docxApp},
		{name: "docProps/custom.xml", data: docxCustom},
	})
}

// odtFile is the start of an OpenDocument text: a stored mimetype entry
// first, then content naming Hana.
func odtFile(tb testing.TB) []byte {
	tb.Helper()
	return buildZip(tb, []zipEntry{
		{name: "mimetype", data: "application/vnd.oasis.opendocument.text", store: true},
		{name: "meta.xml", data: "<office:meta><meta:initial-creator>Hana Tanaka</meta:initial-creator></office:meta>"},
	})
}

// mp4File is enough of an MP4 for DetectContentType.
func mp4File() []byte {
	b := []byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
	return append(b, []byte("\x00\x00\x00\x10udta\xa9ART Hana Tanaka")...)
}
