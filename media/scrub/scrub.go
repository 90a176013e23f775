package scrub

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// ErrUnsupported is wrapped by every error that means "this file cannot be
// cleaned safely": a format Clean does not know how to rewrite, an
// encrypted or signed PDF, a file whose content contradicts the image type
// it was sent as, or a damaged file (see ErrMalformed). The caller then
// holds the file back and shows the error text to the employee: it names
// the format and says what to do, so it is written for them, not for logs.
var ErrUnsupported = errors.New("scrub: this kind of file cannot be cleaned of author metadata")

// ErrMalformed is wrapped, together with ErrUnsupported, when the content
// is truncated or damaged (a JPEG segment runs past the end, a PNG chunk
// fails its CRC, a zip entry does not inflate…). A damaged file cannot be
// cleaned safely either, so a caller that only checks ErrUnsupported
// already holds it back; ErrMalformed lets it say "damaged" instead.
var ErrMalformed = errors.New("scrub: the file is damaged")

// Options are the operator's choices for Clean. The zero value cleans what
// can be cleaned and refuses everything else.
type Options struct {
	// PassThrough lists media types (exact, like "video/mp4", or a whole
	// top-level type, like "video/*") that are sent unchanged because the
	// operator accepts that they may carry metadata Clean cannot remove.
	// It is matched against the type sniffed from the content, never the
	// claimed one, and only consulted for formats Clean cannot clean: a
	// JPEG is always cleaned, even when "image/*" is listed. Default none.
	PassThrough []string
}

// Report says what Clean did, so the caller can label the cleaned file
// and audit what was taken out.
type Report struct {
	// Format is a short name of the format the content was sniffed as:
	// "JPEG", "PNG", "GIF", "WebP", "PDF", "DOCX" (or another Office Open
	// XML kind such as "XLSX", "PPTX"), "text", or, for a file passed
	// through, its sniffed media type.
	Format string
	// MediaType is the media type sniffed from the content. Send the
	// cleaned file under this type, not the claimed one: the content
	// decided how it was cleaned.
	MediaType string
	// Removed names each kind of metadata that was removed, once, in the
	// order first met, for example "EXIF (incl. orientation)", "XMP",
	// "PDF Info Author" or "Office core creator". Entries inside an Office
	// file's embedded images are prefixed with the entry's name.
	Removed []string
	// Unchanged reports that dst is a byte-for-byte copy of src: plain
	// text (which has no metadata container) or a type listed in
	// Options.PassThrough. When false the file was rewritten, even if
	// Removed is empty because there was nothing to remove.
	Unchanged bool
}

// Clean writes to dst a copy of src with author metadata removed.
//
// name and mediaType are what the sender claimed; name is used only in
// error messages and mediaType only to refuse a file sent as an image
// that is not one. Clean sniffs the content itself (net/http's
// DetectContentType plus magic numbers) and cleans by what it finds: a
// JPEG named .txt is still cleaned as JPEG.
//
// size is src's length in bytes, or -1 to let Clean find it by seeking;
// Clean reads src from its start whatever its current offset. Every
// format but PDF is streamed: memory use does not grow with the file,
// except for an Office file's zip directory and small XML property parts
// (both capped). A PDF is read into memory by pdfcpu, so the caller must
// cap the sizes it accepts.
//
// Clean checks ctx between segments, chunks and entries, and on every
// read of src. On error dst may hold a partial copy, which the caller must
// discard; errors that mean the file cannot be cleaned wrap ErrUnsupported
// (and ErrMalformed if it is damaged), while failures to read src or write
// dst and ctx's error are returned wrapped as they are.
func Clean(ctx context.Context, dst io.Writer, src io.ReadSeeker, size int64, name, mediaType string, o Options) (Report, error) {
	if err := ctx.Err(); err != nil {
		return Report{}, fmt.Errorf("scrub: %w", err)
	}
	end, err := src.Seek(0, io.SeekEnd)
	if err != nil {
		return Report{}, fmt.Errorf("scrub: reading %q: %w", name, err)
	}
	if size >= 0 && size != end {
		return Report{}, fmt.Errorf("scrub: %q holds %d bytes but its size was given as %d", name, end, size)
	}
	in := &source{ctx: ctx, r: src}
	out := &sink{w: dst}
	c := &cleaning{ctx: ctx, name: name, in: in}

	err = c.run(out, end, mediaType, o)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("scrub: %w", ctx.Err())
		case out.err != nil:
			err = fmt.Errorf("scrub: writing the cleaned copy of %q: %w", name, out.err)
		case in.err != nil:
			err = fmt.Errorf("scrub: reading %q: %w", name, in.err)
		default:
			var fe *formatError
			var rf *refusal
			switch {
			case errors.As(err, &fe):
			case errors.As(err, &rf):
				err = &formatError{msg: fmt.Sprintf("scrub: %q %s: %s", name, rf.why, rf.todo)}
			default:
				err = c.damaged(err)
			}
		}
		return Report{}, err
	}
	return c.rep, nil
}

// cleaning is one call of Clean: what it reads, and the report it builds.
type cleaning struct {
	ctx  context.Context
	name string
	in   *source
	rep  Report
}

// run sniffs the content and hands it to the matching cleaner.
func (c *cleaning) run(out *sink, size int64, claimed string, o Options) error {
	if _, err := c.in.Seek(0, io.SeekStart); err != nil {
		c.in.err = err
		return err
	}
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(c.in, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return err
	}
	head = head[:n]
	if _, err := c.in.Seek(0, io.SeekStart); err != nil {
		c.in.err = err
		return err
	}

	k, sniffed := sniff(head)
	c.rep.Format, c.rep.MediaType = k.String(), sniffed
	if claimedType := baseType(claimed); strings.HasPrefix(claimedType, "image/") && !strings.HasPrefix(sniffed, "image/") {
		return &formatError{msg: fmt.Sprintf(
			"scrub: %q was sent as %s but its content is %s, so it is held back rather than sent as something it is not: send it as what it is",
			c.name, claimedType, sniffed)}
	}

	// Cleaners write through a buffer: they copy in small pieces.
	bw := bufio.NewWriterSize(out, 64<<10)
	switch k {
	case kindJPEG, kindPNG, kindGIF:
		err = cleanImage(k, bufio.NewReaderSize(c.in, 64<<10), bw, c.rep.addRemoved)
	case kindWebP:
		err = cleanWebP(c.in, size, bw, c.rep.addRemoved)
	case kindPDF:
		err = c.cleanPDF(bw)
	case kindZip:
		err = c.cleanOOXML(bw, size)
		if errors.Is(err, errNotOOXML) {
			return c.other(out, c.rep.MediaType, o)
		}
	case kindText:
		c.rep.Unchanged = true
		err = copyText(bw, c.in, textEncoding(sniffed))
	default:
		return c.other(out, sniffed, o)
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

// other handles a format Clean cannot clean: passed through unchanged if
// the operator allows its type, refused otherwise.
func (c *cleaning) other(out io.Writer, sniffed string, o Options) error {
	c.rep.Format = sniffed
	if !passThrough(o.PassThrough, sniffed) {
		return c.unsupported(sniffed)
	}
	if _, err := c.in.Seek(0, io.SeekStart); err != nil {
		c.in.err = err
		return err
	}
	c.rep.Unchanged = true
	_, err := io.Copy(out, c.in)
	return err
}

// unsupported is the error for a type Clean cannot clean.
func (c *cleaning) unsupported(mediaType string) error {
	convert := "PDF or an image"
	if strings.HasPrefix(mediaType, "image/") {
		convert = "JPEG or PNG"
	}
	return &formatError{msg: fmt.Sprintf(
		"scrub: %q is %s, which cannot be cleaned of author metadata: convert it to %s, or ask an admin to allow %s",
		c.name, mediaType, convert, mediaType)}
}

// damaged is the error for content that does not parse as the format it
// was sniffed as.
func (c *cleaning) damaged(cause error) error {
	detail := cause.Error()
	if cause == io.ErrUnexpectedEOF || cause == io.EOF {
		detail = "it ends too early"
	}
	return &formatError{malformed: true, err: cause, msg: fmt.Sprintf(
		"scrub: %q looks like %s but is damaged (%s), so its metadata cannot be removed safely: save or export it again and resend it, or convert it to PDF or an image",
		c.name, c.rep.Format, detail)}
}

// formatError is an error about the file itself; it wraps ErrUnsupported,
// and ErrMalformed when the file is damaged. Its text is for the employee.
type formatError struct {
	malformed bool
	msg       string
	err       error
}

func (e *formatError) Error() string { return e.msg }

func (e *formatError) Unwrap() error { return e.err }

// Is makes errors.Is(err, ErrUnsupported) hold for every formatError, and
// errors.Is(err, ErrMalformed) for damaged files.
func (e *formatError) Is(target error) bool {
	return target == ErrUnsupported || (e.malformed && target == ErrMalformed)
}

// refusal is a cleaner's reason to hold a file back although it parses:
// why, as a phrase that follows the file's name, and what the employee can
// do. Clean turns it into a formatError that names the file.
type refusal struct {
	why, todo string
}

func (r *refusal) Error() string { return r.why + ": " + r.todo }

// addRemoved records one kind of removed metadata, once.
func (r *Report) addRemoved(what string) {
	for _, s := range r.Removed {
		if s == what {
			return
		}
	}
	r.Removed = append(r.Removed, what)
}

// passThrough reports whether mediaType matches one of the operator's
// patterns: exactly (parameters and case ignored) or as "type/*".
func passThrough(patterns []string, mediaType string) bool {
	mt := baseType(mediaType)
	for _, p := range patterns {
		p = baseType(p)
		if p == mt {
			return true
		}
		if top, ok := strings.CutSuffix(p, "/*"); ok && strings.HasPrefix(mt, top+"/") {
			return true
		}
	}
	return false
}

// baseType is a media type without parameters, in lower case.
func baseType(mediaType string) string {
	if mt, _, err := mime.ParseMediaType(mediaType); err == nil {
		return mt
	}
	mt, _, _ := strings.Cut(mediaType, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// sniffLen is how much of the start Clean looks at, as DetectContentType.
const sniffLen = 512

// kind is a format Clean knows by its content.
type kind int

const (
	kindOther kind = iota
	kindJPEG
	kindPNG
	kindGIF
	kindWebP
	kindPDF
	kindZip
	kindText
)

func (k kind) String() string {
	switch k {
	case kindJPEG:
		return "JPEG"
	case kindPNG:
		return "PNG"
	case kindGIF:
		return "GIF"
	case kindWebP:
		return "WebP"
	case kindPDF:
		return "PDF"
	case kindZip:
		return "zip"
	case kindText:
		return "text"
	}
	return "unknown"
}

const pngSignature = "\x89PNG\r\n\x1a\n"

// sniff names the format of a file from its first bytes, and the media
// type it has. Magic numbers come first where DetectContentType is too
// strict (a WebP whose first chunk it does not know), too loose (an RTF
// file is "text/plain" to it, yet carries an \author) or too coarse (an
// OpenDocument file is just "application/zip").
func sniff(head []byte) (kind, string) {
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return kindJPEG, "image/jpeg"
	case bytes.HasPrefix(head, []byte(pngSignature)):
		return kindPNG, "image/png"
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return kindGIF, "image/gif"
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return kindWebP, "image/webp"
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return kindPDF, "application/pdf"
	case bytes.HasPrefix(head, []byte("{\\rtf")):
		return kindOther, "application/rtf"
	case bytes.HasPrefix(head, []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")):
		// OLE2: .doc, .xls, .ppt, .msg, and password-protected OOXML.
		return kindOther, "application/x-ole-storage"
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return kindOther, "image/tiff"
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		switch string(head[8:12]) {
		case "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1":
			return kindOther, "image/heic"
		case "avif", "avis":
			return kindOther, "image/avif"
		}
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		// cleanOOXML reads the directory: an Office document is cleaned,
		// another zip may name its type in a "mimetype" entry.
		return kindZip, "application/zip"
	}
	mt := http.DetectContentType(head)
	if strings.HasPrefix(mt, "text/plain") && bytes.HasPrefix(bytes.TrimSpace(head), []byte("<")) &&
		bytes.Contains(bytes.ToLower(head), []byte("<svg")) {
		// To DetectContentType, SVG is text; it is an image, whose
		// metadata (and editor's file paths) Clean does not remove.
		return kindOther, "image/svg+xml"
	}
	if strings.HasPrefix(mt, "text/plain") {
		if strings.Contains(mt, "utf-16") {
			return kindText, mt
		}
		// DetectContentType says utf-8 for any text without binary bytes.
		return kindText, "text/plain"
	}
	return kindOther, baseType(mt)
}

// source is src as Clean reads it: it checks ctx before each read and
// remembers the first error src itself returns (not io.EOF), so that a
// failing disk is not reported to the employee as a damaged file.
type source struct {
	ctx context.Context
	r   io.ReadSeeker
	err error
}

func (s *source) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// Seek does not record errors: a parser seeking out of bounds (pdfcpu on
// a damaged PDF) is the file's problem, not src's.
func (s *source) Seek(offset int64, whence int) (int64, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	return s.r.Seek(offset, whence)
}

// ReadAt lets archive/zip read src. It uses src's own ReadAt when it has
// one; otherwise it seeks and reads, which is correct because one Clean
// reads src from one goroutine.
func (s *source) ReadAt(p []byte, off int64) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	var err error
	if ra, ok := s.r.(io.ReaderAt); ok {
		n, err = ra.ReadAt(p, off)
	} else if _, err = s.r.Seek(off, io.SeekStart); err == nil {
		n, err = io.ReadFull(s.r, p)
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
	}
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// sink is dst as Clean writes it: it remembers the first write error, so
// that it is not mistaken for a problem with the file.
type sink struct {
	w   io.Writer
	err error
}

func (s *sink) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		s.err = err
	}
	return n, err
}
