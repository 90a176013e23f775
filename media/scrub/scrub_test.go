package scrub

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"image"
	"image/gif"
	"image/jpeg"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
	"golang.org/x/image/webp"
)

// clean runs Clean on data the way the gateway does.
func clean(t testing.TB, data []byte, name, claimed string, o Options) (Report, []byte, error) {
	t.Helper()
	var out bytes.Buffer
	rep, err := Clean(context.Background(), &out, bytes.NewReader(data), int64(len(data)), name, claimed, o)
	return rep, out.Bytes(), err
}

// encodings are the ways a secret may be spelled in a file: as is, in
// UTF-16 either way round (PDF and Office text strings), and in hex (PDF
// hex strings).
func encodings(s string) [][]byte {
	var be, le []byte
	for _, u := range utf16.Encode([]rune(s)) {
		be = append(be, byte(u>>8), byte(u))
		le = append(le, byte(u), byte(u>>8))
	}
	out := [][]byte{[]byte(s), be, le}
	for _, b := range [][]byte{[]byte(s), be} {
		h := hex.EncodeToString(b)
		out = append(out, []byte(h), []byte(strings.ToUpper(h)))
	}
	return out
}

// assertNoSecrets fails if data spells any secret in any encoding.
func assertNoSecrets(t *testing.T, where string, data []byte) {
	t.Helper()
	for _, s := range secrets() {
		for _, enc := range encodings(s) {
			if i := bytes.Index(data, enc); i >= 0 {
				t.Errorf("%s still contains %q (as % x) at %d", where, s, enc, i)
			}
		}
	}
}

// assertSamePixels decodes both images and compares bounds and pixels.
func assertSamePixels(t *testing.T, in, out []byte) {
	t.Helper()
	a, fa, err := image.Decode(bytes.NewReader(in))
	if err != nil {
		t.Fatalf("decode input: %v", err)
	}
	b, fb, err := image.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("decode output: %v", err)
	}
	if fa != fb || a.Bounds() != b.Bounds() {
		t.Fatalf("output is %s %v, input %s %v", fb, b.Bounds(), fa, a.Bounds())
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if a.At(x, y) != b.At(x, y) {
				t.Fatalf("pixel (%d,%d) is %v, was %v", x, y, b.At(x, y), a.At(x, y))
			}
		}
	}
}

func TestCleanFormats(t *testing.T) {
	tests := []struct {
		name      string
		file      func(testing.TB) []byte
		fileName  string
		claimed   string
		format    string
		mediaType string
		removed   []string
		check     func(t *testing.T, in, out []byte)
	}{
		{
			name: "JPEG", file: func(tb testing.TB) []byte { return dirtyJPEG(tb, 64, 48, 90) },
			fileName: "photo.jpg", claimed: "image/jpeg",
			format: "JPEG", mediaType: "image/jpeg",
			removed: []string{"JFIF thumbnail", "EXIF (orientation kept)", "XMP", "XMP (extended)",
				"Photoshop/IPTC", "MPF (index of appended images)", "JPEG APP11", "JPEG comment"},
			check: func(t *testing.T, in, out []byte) {
				assertSamePixels(t, in, out)
				for _, keep := range []string{iccID + "\x01\x01fake-profile-bytes", "Adobe\x00\x64", "\xFF\xE0\x00\x10JFIF\x00"} {
					if !bytes.Contains(out, []byte(keep)) {
						t.Errorf("output lost %q", keep)
					}
				}
				if !bytes.HasSuffix(out, []byte{0xFF, markerEOI}) {
					t.Error("output does not end at EOI")
				}
			},
		},
		{
			name: "JPEG named and sent as text", file: func(tb testing.TB) []byte { return dirtyJPEG(tb, 16, 16, 75) },
			fileName: "notes.txt", claimed: "text/plain",
			format: "JPEG", mediaType: "image/jpeg",
			removed: []string{"EXIF (orientation kept)", "XMP"},
			check:   assertSamePixels,
		},
		{
			name: "PNG", file: dirtyPNG, fileName: "chart.png", claimed: "image/png",
			format: "PNG", mediaType: "image/png",
			removed: []string{"PNG text (tEXt)", "XMP", "PNG text (zTXt)", "EXIF (incl. orientation)",
				"PNG modification time (tIME)", "PNG chunk prVt"},
			check: func(t *testing.T, in, out []byte) {
				assertSamePixels(t, in, out)
				for _, keep := range []string{"gAMA", "pHYs", "IEND"} {
					if !bytes.Contains(out, []byte(keep)) {
						t.Errorf("output lost the %s chunk", keep)
					}
				}
				if !bytes.HasSuffix(out, pngChunk("IEND", nil)) {
					t.Error("output does not end with IEND")
				}
			},
		},
		{
			name: "GIF", file: dirtyGIF, fileName: "wave.gif", claimed: "image/gif",
			format: "GIF", mediaType: "image/gif",
			removed: []string{"GIF comment", "XMP"},
			check: func(t *testing.T, in, out []byte) {
				a, err := gif.DecodeAll(bytes.NewReader(in))
				if err != nil {
					t.Fatal(err)
				}
				b, err := gif.DecodeAll(bytes.NewReader(out))
				if err != nil {
					t.Fatalf("decode output: %v", err)
				}
				if len(a.Image) != len(b.Image) || a.LoopCount != b.LoopCount || !slices.Equal(a.Delay, b.Delay) {
					t.Errorf("animation changed: %d frames loop %d, was %d frames loop %d", len(b.Image), b.LoopCount, len(a.Image), a.LoopCount)
				}
				for i := range a.Image {
					if !bytes.Equal(a.Image[i].Pix, b.Image[i].Pix) {
						t.Errorf("frame %d changed", i)
					}
				}
				if !bytes.Contains(out, []byte("NETSCAPE2.0")) {
					t.Error("output lost the looping extension")
				}
			},
		},
		{
			name: "WebP", file: func(testing.TB) []byte { return dirtyWebP() }, fileName: "sticker.webp", claimed: "image/webp",
			format: "WebP", mediaType: "image/webp",
			removed: []string{"EXIF (incl. orientation)", "XMP", `WebP chunk "prVt"`},
			check: func(t *testing.T, in, out []byte) {
				m, err := webp.Decode(bytes.NewReader(out))
				if err != nil {
					t.Fatalf("decode output: %v", err)
				}
				if m.Bounds() != image.Rect(0, 0, 5, 3) {
					t.Errorf("bounds %v", m.Bounds())
				}
				r, g, b, _ := m.At(4, 2).RGBA()
				want := webpColor()
				if uint8(r>>8) != want.R || uint8(g>>8) != want.G || uint8(b>>8) != want.B {
					t.Errorf("pixel %v, want %v", m.At(4, 2), want)
				}
				if got := binary.LittleEndian.Uint32(out[4:8]); int(got) != len(out)-8 {
					t.Errorf("RIFF size %d for %d bytes", got, len(out))
				}
				if flags := out[20]; flags&(vp8xEXIF|vp8xXMP) != 0 {
					t.Errorf("VP8X flags still 0x%02X", flags)
				}
			},
		},
		{
			name: "PDF", file: func(testing.TB) []byte { return dirtyPDF() }, fileName: "quote.pdf", claimed: "application/pdf",
			format: "PDF", mediaType: "application/pdf",
			removed: []string{"PDF Info Author", "PDF Info CreationDate", "PDF Info Creator", "PDF Info Keywords",
				"PDF Info Producer", "PDF Info Subject", "PDF Info Title", "PDF XMP metadata",
				"PDF XMP metadata on pages or objects", "PDF PieceInfo (application data)", "PDF comment authors"},
			check: checkPDF,
		},
		{
			name: "PDF with object streams", file: compressedPDF, fileName: "quote.pdf", claimed: "application/pdf",
			format: "PDF", mediaType: "application/pdf",
			removed: []string{"PDF Info Author", "PDF Info Creator", "PDF XMP metadata", "PDF comment authors"},
			check:   checkPDF,
		},
		{
			name: "PDF with an incremental update", file: func(testing.TB) []byte { return updatedPDF() }, fileName: "quote.pdf",
			claimed: "application/pdf", format: "PDF", mediaType: "application/pdf",
			removed: []string{"PDF Info Title", "PDF XMP metadata"},
			check: func(t *testing.T, in, out []byte) {
				if !bytes.Contains(in, []byte("(Hana Tanaka)")) {
					t.Fatal("the fixture lost its first revision")
				}
				checkPDF(t, in, out)
			},
		},
		{
			name: "DOCX sent as octet-stream", file: dirtyDOCX, fileName: "quote.docx", claimed: "application/octet-stream",
			format:    "DOCX",
			mediaType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
			removed: []string{"zip comment", "word/media/image1.jpeg: EXIF (orientation kept)", "word/media/image1.jpeg: XMP",
				"Office core title", "Office core creator", "Office core lastModifiedBy", "Office core created",
				"Office app Template", "Office app Manager", "Office app Company", "Office app HyperlinkBase",
				"Office custom properties"},
			check: checkDOCX,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := tt.file(t)
			rep, out, err := clean(t, in, tt.fileName, tt.claimed, Options{})
			if err != nil {
				t.Fatalf("Clean: %v", err)
			}
			if rep.Format != tt.format || rep.MediaType != tt.mediaType || rep.Unchanged {
				t.Errorf("report %+v, want format %s, media type %s, changed", rep, tt.format, tt.mediaType)
			}
			for _, r := range tt.removed {
				if !slices.Contains(rep.Removed, r) {
					t.Errorf("Removed lacks %q: %q", r, rep.Removed)
				}
			}
			if tt.format != "DOCX" { // compressed: checkDOCX looks inside
				assertNoSecrets(t, "output", out)
			}
			tt.check(t, in, out)

			// Cleaning is idempotent: a clean file has nothing left to remove.
			rep2, out2, err := clean(t, out, tt.fileName, tt.claimed, Options{})
			if err != nil {
				t.Fatalf("Clean of the clean output: %v", err)
			}
			if tt.format != "PDF" && len(rep2.Removed) > 0 {
				t.Errorf("second Clean removed %q", rep2.Removed)
			}
			if tt.format != "PDF" && tt.format != "DOCX" && !bytes.Equal(out, out2) {
				t.Error("second Clean changed the output")
			}
		})
	}
}

// checkPDF validates the cleaned PDF with pdfcpu and looks inside every
// stream, decoded, for the secrets; the text and the comment stay.
func checkPDF(t *testing.T, _, out []byte) {
	t.Helper()
	if err := api.Validate(bytes.NewReader(out), pdfConfig()); err != nil {
		t.Fatalf("pdfcpu validation of the output: %v", err)
	}
	ctx, err := pdfcpu.Read(bytes.NewReader(out), pdfConfig())
	if err != nil {
		t.Fatal(err)
	}
	var content []byte
	for nr, e := range ctx.Table {
		sd, ok := e.Object.(types.StreamDict)
		if !ok {
			continue
		}
		if err := sd.Decode(); err != nil {
			t.Fatalf("object %d: %v", nr, err)
		}
		assertNoSecrets(t, "a decoded stream", sd.Content)
		content = append(content, sd.Content...)
	}
	if !bytes.Contains(content, []byte("Hello customer")) {
		t.Error("the page text is gone")
	}
	if !bytes.Contains(out, []byte("Please check the price")) {
		t.Error("the comment is gone")
	}
	info, err := ctx.DereferenceDict(*ctx.Info)
	if err != nil {
		t.Fatal(err)
	}
	for k := range info {
		if k != "Producer" && k != "CreationDate" && k != "ModDate" {
			t.Errorf("Info still has %s", k)
		}
	}
	if ctx.RootDict["Metadata"] != nil {
		t.Error("catalog still has Metadata")
	}
}

// readEntry is a zip entry's content.
func readEntry(t *testing.T, f *zip.File) []byte {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("%s: %v", f.Name, err)
	}
	return b
}

// children are the local names of the root element's children.
func children(t *testing.T, doc []byte) (root string, names []string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return root, names
		}
		if err != nil {
			t.Fatalf("invalid XML: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 {
				root = tok.Name.Local
			} else if depth == 2 {
				names = append(names, tok.Name.Local)
			}
		case xml.EndElement:
			depth--
		}
	}
}

// checkDOCX opens the cleaned document and looks at each part.
func checkDOCX(t *testing.T, in, out []byte) {
	t.Helper()
	zin, err := zip.NewReader(bytes.NewReader(in), int64(len(in)))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(out), int64(len(out)))
	if err != nil {
		t.Fatalf("output is not a zip: %v", err)
	}
	if zr.Comment != "" {
		t.Errorf("archive comment %q", zr.Comment)
	}
	var names []string
	parts := map[string][]byte{}
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Comment != "" {
			t.Errorf("%s has comment %q", f.Name, f.Comment)
		}
		parts[f.Name] = readEntry(t, f)
		assertNoSecrets(t, f.Name, parts[f.Name])
	}
	want := []string{"[Content_Types].xml", "_rels/.rels", "word/document.xml", "word/_rels/document.xml.rels",
		"word/media/image1.jpeg", "docProps/core.xml", "docProps/app.xml"}
	if !slices.Equal(names, want) {
		t.Errorf("entries %q, want %q", names, want)
	}

	// The document itself is copied raw: same compressed bytes.
	raw := func(r *zip.Reader) []byte {
		for _, f := range r.File {
			if f.Name == "word/document.xml" {
				rr, err := f.OpenRaw()
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(rr)
				return b
			}
		}
		return nil
	}
	if !bytes.Equal(raw(zin), raw(zr)) || string(parts["word/document.xml"]) != docxDocument {
		t.Error("word/document.xml changed")
	}

	if root, kids := children(t, parts["docProps/core.xml"]); root != "coreProperties" || len(kids) != 0 {
		t.Errorf("core.xml: root %s with %q", root, kids)
	}
	if !bytes.Contains(parts["docProps/core.xml"], []byte(`xmlns:dc="http://purl.org/dc/elements/1.1/"`)) {
		t.Error("core.xml lost its namespaces")
	}
	root, kids := children(t, parts["docProps/app.xml"])
	if wantKids := []string{"TotalTime", "Pages", "Words", "Application", "DocSecurity", "TitlesOfParts", "AppVersion"}; root != "Properties" || !slices.Equal(kids, wantKids) {
		t.Errorf("app.xml: root %s with %q, want %q", root, kids, wantKids)
	}
	if !bytes.Contains(parts["docProps/app.xml"], []byte(`<vt:lpstr>Quote</vt:lpstr>`)) {
		t.Error("app.xml lost its vt: prefix")
	}
	for _, p := range []string{"[Content_Types].xml", "_rels/.rels"} {
		if bytes.Contains(parts[p], []byte("custom")) {
			t.Errorf("%s still mentions the custom properties:\n%s", p, parts[p])
		}
		children(t, parts[p]) // still well-formed
	}
	m, err := jpeg.Decode(bytes.NewReader(parts["word/media/image1.jpeg"]))
	if err != nil || m.Bounds() != image.Rect(0, 0, 32, 24) {
		t.Errorf("embedded image: %v, %v", err, m)
	}
}

func TestUnchangedText(t *testing.T) {
	tests := []struct {
		name, claimed, mediaType string
		data                     []byte
	}{
		{"UTF-8", "text/plain", "text/plain", []byte("Hello,\r\nthe quote is attached.\tThanks\n")},
		{"CSV", "text/csv", "text/plain", []byte("item,price\nwidget,12\n")},
		{"Shift_JIS", "text/plain", "text/plain", []byte{0x82, 0xb1, 0x82, 0xf1, 0x82, 0xc9, 0x82, 0xbf, 0x82, 0xcd, '\n'}},
		{"UTF-16LE", "text/plain", "text/plain; charset=utf-16le", append([]byte{0xFF, 0xFE}, 'h', 0, 'i', 0, '\n', 0)},
		{"long", "text/plain", "text/plain", bytes.Repeat([]byte("a line of text that goes on\n"), 10000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep, out, err := clean(t, tt.data, "notes.txt", tt.claimed, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, tt.data) || !rep.Unchanged || rep.Format != "text" || rep.MediaType != tt.mediaType || len(rep.Removed) != 0 {
				t.Errorf("report %+v; output equal: %v", rep, bytes.Equal(out, tt.data))
			}
		})
	}
}

func TestRefused(t *testing.T) {
	textThenZip := append(bytes.Repeat([]byte("looks like text\n"), 64), dirtyDOCX(t)...)
	tests := []struct {
		name      string
		data      []byte
		claimed   string
		o         Options
		malformed bool
		says      []string
	}{
		{name: "plain zip", data: buildZip(t, []zipEntry{{name: "a.txt", data: "Hana Tanaka"}}), claimed: "application/zip",
			says: []string{"application/zip", "convert it to PDF or an image", "ask an admin to allow application/zip"}},
		{name: "OpenDocument", data: odtFile(t), claimed: "application/vnd.oasis.opendocument.text",
			says: []string{"application/vnd.oasis.opendocument.text", "ask an admin"}},
		{name: "MP4", data: mp4File(), claimed: "video/mp4", says: []string{"video/mp4"}},
		{name: "HEIC", data: []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), claimed: "image/heic",
			says: []string{"image/heic", "convert it to JPEG or PNG, or ask an admin to allow image/heic"}},
		{name: "RTF", data: []byte(`{\rtf1{\info{\author Hana Tanaka}}Hello}`), claimed: "text/plain", says: []string{"application/rtf"}},
		{name: "HTML", data: []byte(`<html><head><meta name="author" content="Hana Tanaka"></head></html>`), claimed: "text/html", says: []string{"text/html"}},
		{name: "zip sent as JPEG", data: dirtyDOCX(t), claimed: "image/jpeg", o: Options{PassThrough: []string{"application/zip"}},
			says: []string{"sent as image/jpeg", "application/zip"}},
		{name: "text sent as PNG", data: []byte("hello"), claimed: "image/png", says: []string{"sent as image/png"}},
		{name: "text with a zip after it", data: textThenZip, claimed: "text/plain", says: []string{"binary data"}},
		{name: "encrypted PDF", data: encryptedPDF(t, "user"), claimed: "application/pdf", says: []string{"encrypted PDF", "password"}},
		{name: "PDF with only an owner password", data: encryptedPDF(t, ""), claimed: "application/pdf", says: []string{"encrypted PDF"}},
		{name: "signed PDF", data: signedPDF(), claimed: "application/pdf", says: []string{"signed PDF", "unsigned copy"}},
		{name: "PNG with an unknown critical chunk", data: pngWithChunk(t, "CRIT"), claimed: "image/png", says: []string{`"CRIT"`}},
		{name: "JPEG without EOI", data: dirtyJPEG(t, 16, 16, 75)[:400], claimed: "image/jpeg", malformed: true,
			says: []string{"looks like JPEG but is damaged", "ends too early"}},
		{name: "PNG with a bad CRC", data: corruptPNG(t), claimed: "image/png", malformed: true, says: []string{"CRC"}},
		{name: "not a PDF after all", data: []byte("%PDF-1.7\nnothing else"), claimed: "application/pdf", malformed: true,
			says: []string{"looks like PDF but is damaged"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep, _, err := clean(t, tt.data, "file.bin", tt.claimed, tt.o)
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("err = %v, want ErrUnsupported (report %+v)", err, rep)
			}
			if errors.Is(err, ErrMalformed) != tt.malformed {
				t.Errorf("errors.Is(err, ErrMalformed) = %v: %v", !tt.malformed, err)
			}
			for _, s := range append(tt.says, `"file.bin"`) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}

// encryptedPDF is dirtyPDF encrypted with AES-256 by pdfcpu.
func encryptedPDF(t *testing.T, userPW string) []byte {
	t.Helper()
	conf := pdfConfig()
	conf.UserPW, conf.OwnerPW = userPW, "owner"
	conf.EncryptUsingAES, conf.EncryptKeyLength = true, 256
	conf.Permissions = 0xF0C3
	var out bytes.Buffer
	if err := api.Encrypt(bytes.NewReader(dirtyPDF()), &out, conf); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// pngWithChunk is dirtyPNG with one more chunk after IHDR.
func pngWithChunk(t *testing.T, typ string) []byte {
	t.Helper()
	p := dirtyPNG(t)
	at := 8 + 8 + 13 + 4
	return slices.Concat(p[:at], pngChunk(typ, []byte("data")), p[at:])
}

// corruptPNG is dirtyPNG with one bit of image data flipped.
func corruptPNG(t *testing.T) []byte {
	t.Helper()
	p := bytes.Clone(dirtyPNG(t))
	i := bytes.Index(p, []byte("IDAT"))
	p[i+10] ^= 1
	return p
}

func TestPassThrough(t *testing.T) {
	mp4 := mp4File()
	tests := []struct {
		name     string
		data     []byte
		patterns []string
		format   string
	}{
		{"exact", mp4, []string{"video/mp4"}, "video/mp4"},
		{"wildcard", mp4, []string{"audio/*", "VIDEO/*"}, "video/mp4"},
		{"with parameters", odtFile(t), []string{"application/vnd.oasis.opendocument.text; version=1.3"}, "application/vnd.oasis.opendocument.text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep, out, err := clean(t, tt.data, "clip", "application/octet-stream", Options{PassThrough: tt.patterns})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Unchanged || rep.Format != tt.format || !bytes.Equal(out, tt.data) {
				t.Errorf("report %+v; output unchanged: %v", rep, bytes.Equal(out, tt.data))
			}
		})
	}

	t.Run("does not skip cleaning", func(t *testing.T) {
		t.Parallel()
		rep, out, err := clean(t, dirtyJPEG(t, 16, 16, 75), "a.jpg", "image/jpeg", Options{PassThrough: []string{"image/*", "image/jpeg"}})
		if err != nil || rep.Unchanged {
			t.Fatalf("report %+v, err %v", rep, err)
		}
		assertNoSecrets(t, "output", out)
	})
	t.Run("not a prefix match", func(t *testing.T) {
		t.Parallel()
		_, _, err := clean(t, mp4, "clip", "video/mp4", Options{PassThrough: []string{"video/mp", "vid*", "*"}})
		if !errors.Is(err, ErrUnsupported) {
			t.Fatalf("err = %v", err)
		}
	})
}

// cancelAfter is a source that cancels its context after n reads.
type cancelAfter struct {
	io.ReadSeeker
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n--; c.n == 0 {
		c.cancel()
	}
	return c.ReadSeeker.Read(p[:min(len(p), 512)])
}

func TestContextCancel(t *testing.T) {
	big := dirtyJPEG(t, 400, 300, 95)
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"JPEG", big},
		{"DOCX", dirtyDOCX(t)},
		{"PDF", dirtyPDF()},
		{"text", bytes.Repeat([]byte("text\n"), 100000)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src := &cancelAfter{ReadSeeker: bytes.NewReader(tt.data), n: 3, cancel: cancel}
			_, err := Clean(ctx, io.Discard, src, -1, "f", "", Options{})
			if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnsupported) {
				t.Fatalf("err = %v, want context.Canceled only", err)
			}
		})
	}
	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Clean(ctx, io.Discard, bytes.NewReader(big), -1, "f", "", Options{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}

// failingWriter fails every write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// failingReader fails after its first bytes.
type failingReader struct{ *bytes.Reader }

func (r failingReader) Read(p []byte) (int, error) {
	if int64(r.Len()) < r.Size()-600 {
		return 0, errors.New("I/O error")
	}
	return r.Reader.Read(p[:min(len(p), 100)])
}

func TestIOErrorsAreNotBlamedOnTheFile(t *testing.T) {
	jpg := dirtyJPEG(t, 64, 48, 90)
	_, err := Clean(context.Background(), failingWriter{}, bytes.NewReader(jpg), -1, "a.jpg", "image/jpeg", Options{})
	if err == nil || errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("write failure: %v", err)
	}
	_, err = Clean(context.Background(), io.Discard, failingReader{bytes.NewReader(jpg)}, -1, "a.jpg", "image/jpeg", Options{})
	if err == nil || errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "I/O error") {
		t.Errorf("read failure: %v", err)
	}
	_, err = Clean(context.Background(), io.Discard, bytes.NewReader(jpg), int64(len(jpg))+1, "a.jpg", "image/jpeg", Options{})
	if err == nil || errors.Is(err, ErrUnsupported) {
		t.Errorf("wrong size: %v", err)
	}
}

// TestTruncated cuts every fixture at many lengths: each gives an error
// (PDF: or a valid PDF, since pdfcpu repairs some damage), never a panic.
func TestTruncated(t *testing.T) {
	files := map[string][]byte{
		"JPEG": dirtyJPEG(t, 32, 32, 80),
		"PNG":  dirtyPNG(t),
		"GIF":  dirtyGIF(t),
		"WebP": dirtyWebP(),
		"PDF":  dirtyPDF(),
		"DOCX": dirtyDOCX(t),
	}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			end := len(data)
			switch name { // the trailers after the end are not needed
			case "JPEG":
				end = bytes.LastIndex(data, []byte{0xFF, markerEOI}) + 2
			case "PNG":
				end = bytes.LastIndex(data, []byte("IEND")) + 8
			case "GIF":
				end = bytes.LastIndexByte(data, gifTrailer) + 1
			case "WebP":
				end = 8 + int(binary.LittleEndian.Uint32(data[4:8]))
			}
			step := max(1, end/150)
			for n := 12; n < end; n += step { // 12: enough to sniff
				_, out, err := clean(t, data[:n], "cut", "", Options{})
				if err == nil && name != "PDF" {
					t.Errorf("%d of %d bytes: no error", n, end)
				}
				if err == nil && name == "PDF" {
					if verr := api.Validate(bytes.NewReader(out), pdfConfig()); verr != nil {
						t.Errorf("%d bytes: cleaned into an invalid PDF: %v", n, verr)
					}
				}
			}
		})
	}
}

// TestNoPDFCPUConfigDir checks that cleaning a PDF does not create
// pdfcpu's configuration directory.
func TestNoPDFCPUConfigDir(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("HOME", dir)
	if _, _, err := clean(t, dirtyPDF(), "a.pdf", "", Options{}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Errorf("config dir holds %v (%v)", entries, err)
	}
}

func TestSniff(t *testing.T) {
	for _, tt := range []struct {
		head []byte
		kind kind
		mt   string
	}{
		{[]byte{0xFF, 0xD8, 0xFF, 0xE0}, kindJPEG, "image/jpeg"},
		{[]byte(pngSignature), kindPNG, "image/png"},
		{[]byte("GIF87a"), kindGIF, "image/gif"},
		{[]byte("RIFF\x00\x00\x00\x00WEBPVP8L"), kindWebP, "image/webp"},
		{[]byte("%PDF-2.0"), kindPDF, "application/pdf"},
		{[]byte("PK\x03\x04"), kindZip, "application/zip"},
		{[]byte("\x00\x01\x02"), kindOther, "application/octet-stream"},
		{[]byte("BM\x00\x00"), kindOther, "image/bmp"},
		{[]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), kindOther, "image/heic"},
		{[]byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00"), kindOther, "image/avif"},
		{[]byte("MM\x00*\x00\x00\x00\x08"), kindOther, "image/tiff"},
		{[]byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00"), kindOther, "application/x-ole-storage"},
		{[]byte("\n<!DOCTYPE svg>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), kindOther, "image/svg+xml"},
		{[]byte("<3 see you soon"), kindText, "text/plain"},
		{nil, kindText, "text/plain"},
	} {
		if k, mt := sniff(tt.head); k != tt.kind || mt != tt.mt {
			t.Errorf("sniff(%q) = %v %s, want %v %s", tt.head, k, mt, tt.kind, tt.mt)
		}
	}
}

func TestDropElements(t *testing.T) {
	doc := []byte(`<?xml version="1.0"?>` + "\n" + `<a xmlns="u" xmlns:p="v"><b/><p:c>x<b>y</b></p:c><b>z</b><d/></a>`)
	got, err := dropElements(doc, func(depth int, se xml.StartElement) bool { return depth == 2 && se.Name.Local == "b" })
	if err != nil {
		t.Fatal(err)
	}
	if want := `<?xml version="1.0"?>` + "\n" + `<a xmlns="u" xmlns:p="v"><p:c>x<b>y</b></p:c><d/></a>`; string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := dropElements([]byte("<a><b></a>"), func(int, xml.StartElement) bool { return false }); err == nil {
		t.Error("no error for broken XML")
	}
}

// seekOnly hides a source's ReadAt, as a plain file stream would.
type seekOnly struct{ io.ReadSeeker }

func TestOfficeKindsAndEmbeddedImages(t *testing.T) {
	var gifBuf, pngBuf bytes.Buffer
	gifBuf.Write(dirtyGIF(t))
	pngBuf.Write(dirtyPNG(t))
	ct := func(main string) string {
		return `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="xml" ContentType="application/xml"/><Override PartName="/x/main.xml" ContentType="` + main + `"/></Types>`
	}
	rels := `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
		`<Relationship Id="rId1" Type="http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument" Target="/x/main.xml"/>` +
		`<Relationship Id="rId2" Type="http://purl.oclc.org/ooxml/officeDocument/relationships/metadata/core-properties" Target="meta/core1.xml"/></Relationships>`
	for _, tt := range []struct{ format, main, mediaType string }{
		{"XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		{"PPTX", "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
		{"DOCM", "application/vnd.ms-word.document.macroEnabled.main+xml", "application/vnd.ms-word.document.macroEnabled.12"},
	} {
		t.Run(tt.format, func(t *testing.T) {
			t.Parallel()
			in := buildZip(t, []zipEntry{
				{name: "[Content_Types].xml", data: ct(tt.main)},
				{name: "_rels/.rels", data: rels},
				{name: "x/main.xml", data: "<main/>"},
				{name: "meta/core1.xml", data: docxCore},
				{name: "x/media/a.gif", data: gifBuf.String()},
				{name: "x/media/b.png", data: pngBuf.String()},
				{name: "x/media/c.webp", data: string(dirtyWebP())},
				{name: "x/media/", data: ""},
			})
			var out bytes.Buffer
			rep, err := Clean(context.Background(), &out, seekOnly{bytes.NewReader(in)}, -1, "book", "", Options{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Format != tt.format || rep.MediaType != tt.mediaType {
				t.Errorf("report %+v", rep)
			}
			for _, r := range []string{"x/media/a.gif: GIF comment", "x/media/b.png: XMP", "x/media/c.webp: EXIF (incl. orientation)", "Office core creator"} {
				if !slices.Contains(rep.Removed, r) {
					t.Errorf("Removed lacks %q: %q", r, rep.Removed)
				}
			}
			zr, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range zr.File {
				b := readEntry(t, f)
				assertNoSecrets(t, f.Name, b)
				switch path := f.Name; {
				case strings.HasSuffix(path, ".gif"), strings.HasSuffix(path, ".png"):
					if _, _, err := image.Decode(bytes.NewReader(b)); err != nil {
						t.Errorf("%s: %v", path, err)
					}
				case strings.HasSuffix(path, ".webp"):
					if _, err := webp.Decode(bytes.NewReader(b)); err != nil {
						t.Errorf("%s: %v", path, err)
					}
				}
			}
		})
	}
}

func TestZipBombImageRefused(t *testing.T) {
	bomb := append([]byte{0xFF, markerSOI, 0xFF}, make([]byte, 8<<20)...)
	in := buildZip(t, []zipEntry{
		{name: "[Content_Types].xml", data: docxContentTypes},
		{name: "_rels/.rels", data: docxRels},
		{name: "word/document.xml", data: docxDocument},
		{name: "word/media/image1.jpeg", data: string(bomb)},
	})
	_, _, err := clean(t, in, "bomb.docx", "", Options{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "word/media/image1.jpeg") {
		t.Fatalf("err = %v", err)
	}
}

// TestJPEGSegments runs a synthetic JPEG through cleanJPEG: stuffed bytes,
// restart markers and fill bytes in the entropy-coded data, two scans, a
// segment between them, and garbage after EOI.
func TestJPEGSegments(t *testing.T) {
	sos := segment(markerSOS, []byte{1, 1, 0, 0, 63, 0})
	dht := segment(0xC4, []byte{0, 1, 2})
	scan1 := []byte{0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56}
	scan2 := []byte{0x78, 0xFF, 0x00}
	var in, want bytes.Buffer
	in.Write([]byte{0xFF, markerSOI})
	want.Write([]byte{0xFF, markerSOI})
	in.Write(segment(markerAPP1, exifPayload()))
	// Only the orientation stays of the EXIF, in an IFD of its own.
	want.Write(segment(markerAPP1, []byte("Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00")))
	in.Write([]byte{0xFF, 0xFF}) // fill before a marker
	in.Write(segment(markerAPP0, []byte("JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x00\x00")))
	want.Write(segment(markerAPP0, []byte("JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x00\x00")))
	for _, b := range []*bytes.Buffer{&in, &want} {
		b.Write(sos)
		b.Write(scan1)
	}
	in.Write([]byte{0xFF, 0xFF, 0xFF}) // fill, then the next marker
	in.Write(segment(markerCOM, []byte("Hana Tanaka")))
	for _, b := range []*bytes.Buffer{&in, &want} {
		b.Write(dht)
		b.Write(sos)
		b.Write(scan2)
		b.Write([]byte{0xFF, markerEOI})
	}
	in.WriteString("trailing Hana Tanaka")

	var out bytes.Buffer
	var removed []string
	err := cleanJPEG(bufio.NewReaderSize(bytes.NewReader(in.Bytes()), 16), &out, func(s string) { removed = append(removed, s) })
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) {
		t.Errorf("got  % x\nwant % x", out.Bytes(), want.Bytes())
	}
	if !slices.Equal(removed, []string{"EXIF (orientation kept)", "JPEG comment"}) {
		t.Errorf("removed %q", removed)
	}
}

// TestJPEGOrientation: of an EXIF segment only a rotating orientation
// stays (both byte orders); upright, missing or unreadable, the segment
// goes whole; a truncated or lying IFD never reads past the segment.
func TestJPEGOrientation(t *testing.T) {
	tiff := func(order string, orientation uint16, count uint16) []byte {
		var bo interface {
			binary.ByteOrder
			binary.AppendByteOrder
		} = binary.LittleEndian
		if order == "MM" {
			bo = binary.BigEndian
		}
		b := append([]byte("Exif\x00\x00"+order), 0, 0, 0, 0, 0, 0)
		bo.PutUint16(b[8:], 42)
		bo.PutUint32(b[10:], 8)
		b = bo.AppendUint16(b, count)
		for _, e := range [][3]uint32{{0x013B, 2, 0}, {0x0112, 3, uint32(orientation)}} {
			b = bo.AppendUint16(b, uint16(e[0]))
			b = bo.AppendUint16(b, uint16(e[1]))
			b = bo.AppendUint32(b, 1)
			b = bo.AppendUint16(b, uint16(e[2]))
			b = bo.AppendUint16(b, 0)
		}
		return append(bo.AppendUint32(b, 0), "Hana Tanaka"...)
	}
	for _, tc := range []struct {
		name    string
		payload []byte
		want    uint16 // 0: dropped
	}{
		{"II rotated", tiff("II", 6, 2), 6},
		{"MM mirrored", tiff("MM", 2, 2), 2},
		{"upright", tiff("II", 1, 2), 0},
		{"out of range", tiff("MM", 9, 2), 0},
		{"IFD count past the end", tiff("II", 6, 500)[:34], 0},
		{"IFD count past the end, orientation within", tiff("II", 6, 500)[:40], 6},
		{"not TIFF", []byte("Exif\x00\x00XX\x2a\x00"), 0},
		{"short", []byte("Exif\x00\x00"), 0},
	} {
		keep, what := jpegAppSegment(markerAPP1, tc.payload)
		switch {
		case tc.want == 0 && (keep != nil || what != "EXIF (incl. orientation)"):
			t.Errorf("%s: kept % x (%q)", tc.name, keep, what)
		case tc.want != 0 && (!bytes.Equal(keep, orientationOnlyExif(tc.want)) || what != "EXIF (orientation kept)"):
			t.Errorf("%s: kept % x (%q), want orientation %d alone", tc.name, keep, what, tc.want)
		case bytes.Contains(keep, []byte("Hana")):
			t.Errorf("%s: the artist stayed", tc.name)
		}
		if tc.want != 0 {
			if again, what := jpegAppSegment(markerAPP1, keep); !bytes.Equal(again, keep) || what != "" {
				t.Errorf("%s: a second pass changed it (%q)", tc.name, what)
			}
		}
	}
}

func TestGIFExtensions(t *testing.T) {
	g := dirtyGIF(t)
	at := 13
	if g[10]&0x80 != 0 {
		at += 3 << (1 + g[10]&7)
	}
	var in bytes.Buffer
	in.Write(g[:at])
	in.Write([]byte{gifExtension, gifPlainText})
	in.Write([]byte{12, 0, 0, 0, 0, 0x10, 0, 0x10, 0, 8, 8, 1, 0}) // grid and colours
	in.Write(gifSubBlocksOf([]byte("visible text")))
	in.Write([]byte{gifExtension, 0x42})
	in.Write(gifSubBlocksOf([]byte("Hana Tanaka")))
	in.Write([]byte{gifExtension, gifApplication, 11})
	in.WriteString("ICCRGBG1012")
	in.Write(gifSubBlocksOf([]byte("profile")))
	in.Write(g[at:])
	rep, out, err := clean(t, in.Bytes(), "a.gif", "image/gif", Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertNoSecrets(t, "output", out)
	if !bytes.Contains(out, []byte("visible text")) {
		t.Error("plain text extension dropped")
	}
	for _, r := range []string{"GIF extension 0x42", `GIF application extension "ICCRGBG1012"`} {
		if !slices.Contains(rep.Removed, r) {
			t.Errorf("Removed lacks %q: %q", r, rep.Removed)
		}
	}
	if _, err := gif.DecodeAll(bytes.NewReader(out)); err != nil {
		t.Error(err)
	}
}
