package scrub

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"
	"time"
)

// errNotOOXML says a zip is not an Office Open XML document; Clean then
// treats it as any other format it cannot clean.
var errNotOOXML = errors.New("scrub: not an Office Open XML document")

// maxPartSize caps the XML parts cleanOOXML reads whole ([Content_Types],
// the package relationships and the property parts); real ones are a few
// kilobytes.
const maxPartSize = 8 << 20

// maxEntries caps the entries of a zip Clean rewrites. archive/zip holds
// the central directory in memory; the largest Office documents have a
// few thousand entries.
const maxEntries = 50000

// maxImageExpansion caps how much an embedded image may inflate (plus
// 1 MiB): JPEG, PNG, GIF and WebP are compressed already, so a larger
// ratio is a zip bomb, not a picture.
const maxImageExpansion = 16

// Relationship types (by suffix, which transitional and strict OOXML
// share) of the package-level parts cleanOOXML handles.
const (
	relCore   = "/metadata/core-properties"
	relApp    = "/extended-properties"
	relCustom = "/custom-properties"
	relMain   = "/officeDocument"
)

// emptyCore is the core properties part Clean writes in place of the
// original: no creator, no last editor, no title, no dates, with the
// usual namespaces declared.
const emptyCore = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"></cp:coreProperties>`

// appDropped reports whether an element of the extended (app) properties
// is removed: the organisation, the manager, the base of relative links
// (often an intranet address) and the template (often a path on an
// internal file server).
func appDropped(local string) bool {
	switch local {
	case "Company", "Manager", "HyperlinkBase", "Template":
		return true
	}
	return false
}

// officeType maps the content type of a package's main part to a short
// format name and the package's media type.
func officeType(mainPart string) (format, mediaType string, ok bool) {
	const ox = "application/vnd.openxmlformats-officedocument."
	switch strings.ToLower(mainPart) {
	case ox + "wordprocessingml.document.main+xml":
		return "DOCX", ox + "wordprocessingml.document", true
	case ox + "wordprocessingml.template.main+xml":
		return "DOTX", ox + "wordprocessingml.template", true
	case "application/vnd.ms-word.document.macroenabled.main+xml":
		return "DOCM", "application/vnd.ms-word.document.macroEnabled.12", true
	case ox + "spreadsheetml.sheet.main+xml":
		return "XLSX", ox + "spreadsheetml.sheet", true
	case ox + "spreadsheetml.template.main+xml":
		return "XLTX", ox + "spreadsheetml.template", true
	case "application/vnd.ms-excel.sheet.macroenabled.main+xml":
		return "XLSM", "application/vnd.ms-excel.sheet.macroEnabled.12", true
	case ox + "presentationml.presentation.main+xml":
		return "PPTX", ox + "presentationml.presentation", true
	case ox + "presentationml.slideshow.main+xml":
		return "PPSX", ox + "presentationml.slideshow", true
	case ox + "presentationml.template.main+xml":
		return "POTX", ox + "presentationml.template", true
	case "application/vnd.ms-powerpoint.presentation.macroenabled.main+xml":
		return "PPTM", "application/vnd.ms-powerpoint.presentation.macroEnabled.12", true
	}
	return "", "", false
}

// ooxmlParts is what cleanOOXML learns from a package before rewriting
// it: where its property parts are (names as partName returns them).
type ooxmlParts struct {
	core, app, custom map[string]bool
	main              string
}

// partName is a zip entry name or relationship target as a package part
// name for comparison: relative to the root, cleaned, in lower case (part
// names are case-insensitive).
func partName(name string) string {
	return strings.ToLower(strings.TrimPrefix(path.Clean("/"+name), "/"))
}

// cleanOOXML rewrites an Office Open XML package entry by entry, in the
// original order: the core properties become empty, the app properties
// lose Company, Manager, HyperlinkBase and Template, the custom properties
// are dropped with their relationship and content-type override, embedded
// JPEG, PNG, GIF and WebP images are cleaned as such, and every other
// entry is copied raw (still compressed) with its comment and extra fields
// dropped; so is the archive comment.
func (c *cleaning) cleanOOXML(w io.Writer, size int64) error {
	zr, err := zip.NewReader(c.in, size)
	if err != nil {
		return err
	}
	if len(zr.File) > maxEntries {
		return &refusal{
			why:  fmt.Sprintf("is a zip of %d entries, more than any document has", len(zr.File)),
			todo: "send fewer files at a time, or convert it to PDF",
		}
	}
	byName := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		n := partName(f.Name)
		if byName[n] != nil {
			return fmt.Errorf("zip has two entries named %q", f.Name)
		}
		byName[n] = f
	}
	ctFile, relsFile := byName["[content_types].xml"], byName["_rels/.rels"]
	if ctFile == nil || relsFile == nil {
		if mt := declaredType(zr); mt != "" {
			c.rep.MediaType = mt
		}
		return errNotOOXML
	}
	for _, f := range zr.File {
		if f.Flags&0x1 != 0 {
			return &refusal{
				why:  "is a zip with encrypted entries, which cannot be cleaned of author metadata",
				todo: "remove the password protection and resend it",
			}
		}
	}
	contentTypes, err := readPart(ctFile)
	if err != nil {
		return err
	}
	rels, err := readPart(relsFile)
	if err != nil {
		return err
	}
	parts, err := packageParts(rels)
	if err != nil {
		return err
	}
	mainType, err := partContentType(contentTypes, parts.main)
	if err != nil {
		return err
	}
	format, mediaType, ok := officeType(mainType)
	if !ok {
		return errNotOOXML
	}
	c.rep.Format, c.rep.MediaType = format, mediaType

	contentTypes, err = dropElements(contentTypes, func(depth int, se xml.StartElement) bool {
		if depth != 2 || se.Name.Local != "Override" {
			return false
		}
		return parts.custom[partName(attr(se, "PartName"))]
	})
	if err != nil {
		return err
	}
	rels, err = dropElements(rels, func(depth int, se xml.StartElement) bool {
		return depth == 2 && se.Name.Local == "Relationship" && strings.HasSuffix(attr(se, "Type"), relCustom)
	})
	if err != nil {
		return err
	}

	zw := zip.NewWriter(w)
	if zr.Comment != "" {
		c.rep.addRemoved("zip comment")
	}
	for _, f := range zr.File {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		n := partName(f.Name)
		switch {
		case f == ctFile:
			err = writeEntry(zw, f, contentTypes)
		case f == relsFile:
			err = writeEntry(zw, f, rels)
		case parts.core[n]:
			err = c.cleanCore(zw, f)
		case parts.app[n]:
			err = c.cleanApp(zw, f)
		case parts.custom[n]:
			c.rep.addRemoved("Office custom properties")
		default:
			err = c.copyEntry(zw, f)
		}
		if err != nil {
			return err
		}
	}
	return zw.Close()
}

// declaredType is the media type a zip-based format other than OOXML
// (OpenDocument, EPUB) declares in the stored "mimetype" entry it puts
// first, or "".
func declaredType(zr *zip.Reader) string {
	if len(zr.File) == 0 || zr.File[0].Name != "mimetype" || zr.File[0].UncompressedSize64 > 100 {
		return ""
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 100))
	if err != nil {
		return ""
	}
	mt, _, err := mime.ParseMediaType(string(b))
	if err != nil {
		return ""
	}
	return mt
}

// packageParts reads the package relationships (_rels/.rels) for the
// property parts and the main part. The usual docProps names count too,
// so a part left out of the relationships is not missed.
func packageParts(rels []byte) (ooxmlParts, error) {
	p := ooxmlParts{
		core:   map[string]bool{"docprops/core.xml": true},
		app:    map[string]bool{"docprops/app.xml": true},
		custom: map[string]bool{"docprops/custom.xml": true},
	}
	d := xml.NewDecoder(bytes.NewReader(rels))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return p, err
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "Relationship" || attr(se, "TargetMode") == "External" {
			continue
		}
		typ, target := attr(se, "Type"), partName(attr(se, "Target"))
		switch {
		case strings.HasSuffix(typ, relCore):
			p.core[target] = true
		case strings.HasSuffix(typ, relApp):
			p.app[target] = true
		case strings.HasSuffix(typ, relCustom):
			p.custom[target] = true
		case strings.HasSuffix(typ, relMain):
			p.main = target
		}
	}
	if p.main == "" {
		return p, errNotOOXML
	}
	return p, nil
}

// partContentType looks a part's content type up in [Content_Types].xml:
// its Override, else the Default for its extension.
func partContentType(contentTypes []byte, part string) (string, error) {
	ext := strings.TrimPrefix(path.Ext(part), ".")
	var byDefault string
	d := xml.NewDecoder(bytes.NewReader(contentTypes))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return byDefault, nil
		}
		if err != nil {
			return "", err
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "Override":
			if partName(attr(se, "PartName")) == part {
				return attr(se, "ContentType"), nil
			}
		case "Default":
			if strings.EqualFold(attr(se, "Extension"), ext) {
				byDefault = attr(se, "ContentType")
			}
		}
	}
}

// cleanCore replaces the core properties with emptyCore, reporting the
// properties that had a value.
func (c *cleaning) cleanCore(zw *zip.Writer, f *zip.File) error {
	data, err := readPart(f)
	if err != nil {
		return err
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	depth := 0
	var local string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 {
				local = t.Name.Local
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 2 && len(bytes.TrimSpace(t)) > 0 {
				c.rep.addRemoved("Office core " + local)
			}
		}
	}
	return writeEntry(zw, f, []byte(emptyCore))
}

// cleanApp removes the appDropped elements from the app properties,
// leaving the rest byte for byte.
func (c *cleaning) cleanApp(zw *zip.Writer, f *zip.File) error {
	data, err := readPart(f)
	if err != nil {
		return err
	}
	data, err = dropElements(data, func(depth int, se xml.StartElement) bool {
		if depth == 2 && appDropped(se.Name.Local) {
			c.rep.addRemoved("Office app " + se.Name.Local)
			return true
		}
		return false
	})
	if err != nil {
		return err
	}
	return writeEntry(zw, f, data)
}

// copyEntry copies one entry: cleaned if it is an image Clean knows, raw
// otherwise.
func (c *cleaning) copyEntry(zw *zip.Writer, f *zip.File) error {
	k, err := entryImage(f)
	if err != nil {
		return err
	}
	fh := entryHeader(f)
	if k != kindOther {
		return c.cleanEntryImage(zw, f, k, &fh)
	}
	dw, err := zw.CreateRaw(&fh)
	if err != nil {
		return err
	}
	raw, err := f.OpenRaw()
	if err != nil {
		return err
	}
	_, err = io.Copy(dw, raw)
	return err
}

// entryImage sniffs an entry for the image formats Clean cleans; entries
// it cannot decompress are copied raw.
func entryImage(f *zip.File) (kind, error) {
	if f.Mode().IsDir() || f.UncompressedSize64 < 12 {
		return kindOther, nil
	}
	rc, err := f.Open()
	if err != nil {
		return kindOther, nil
	}
	defer rc.Close()
	var head [12]byte
	if _, err := io.ReadFull(rc, head[:]); err != nil {
		return kindOther, fmt.Errorf("entry %q: %w", f.Name, err)
	}
	switch k, _ := sniff(head[:]); k {
	case kindJPEG, kindPNG, kindGIF, kindWebP:
		return k, nil
	}
	return kindOther, nil
}

// cleanEntryImage writes an embedded image cleaned, recompressed with the
// entry's method.
func (c *cleaning) cleanEntryImage(zw *zip.Writer, f *zip.File, k kind, fh *zip.FileHeader) error {
	if f.UncompressedSize64 > maxImageExpansion*f.CompressedSize64+1<<20 {
		return &refusal{
			why:  fmt.Sprintf("has an embedded image (%s) that inflates %d times, which is not a real image", f.Name, f.UncompressedSize64/max(f.CompressedSize64, 1)),
			todo: "save the document again and resend it",
		}
	}
	if fh.Method != zip.Store {
		fh.Method = zip.Deflate
	}
	dw, err := zw.CreateHeader(fh)
	if err != nil {
		return err
	}
	removed := func(what string) { c.rep.addRemoved(f.Name + ": " + what) }
	var open []io.Closer
	defer func() {
		for _, rc := range open {
			rc.Close()
		}
	}()
	openEntry := func() (io.Reader, error) {
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		open = append(open, rc)
		return rc, nil
	}
	if k == kindWebP {
		err = cleanWebPFrom(openEntry, int64(f.UncompressedSize64), dw, removed)
	} else {
		var r io.Reader
		if r, err = openEntry(); err == nil {
			err = cleanImage(k, bufio.NewReaderSize(r, 32<<10), dw, removed)
		}
	}
	if err != nil {
		var rf *refusal
		if errors.As(err, &rf) {
			return &refusal{why: "has an embedded image (" + f.Name + ") which " + rf.why, todo: rf.todo}
		}
		return fmt.Errorf("embedded image %s: %w", f.Name, err)
	}
	return nil
}

// entryHeader is the header an entry is written with: the original one
// without its comment and extra fields (which can hold owner IDs and
// precise timestamps). The MS-DOS date and time stay as they were:
// Modified is cleared so that archive/zip writes them as given.
func entryHeader(f *zip.File) zip.FileHeader {
	fh := f.FileHeader
	fh.Comment = ""
	fh.Extra = nil
	fh.Modified = time.Time{}
	return fh
}

// writeEntry writes a rewritten part under the original entry's name,
// time and compression method.
func writeEntry(zw *zip.Writer, f *zip.File, data []byte) error {
	fh := entryHeader(f)
	if fh.Method != zip.Store {
		fh.Method = zip.Deflate
	}
	dw, err := zw.CreateHeader(&fh)
	if err != nil {
		return err
	}
	_, err = dw.Write(data)
	return err
}

// readPart reads a small XML part whole, refusing one over maxPartSize.
func readPart(f *zip.File) ([]byte, error) {
	if f.UncompressedSize64 > maxPartSize {
		return nil, &refusal{
			why:  fmt.Sprintf("has a %s part of %d bytes, far larger than such a part is", f.Name, f.UncompressedSize64),
			todo: "save the document again and resend it",
		}
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("entry %q: %w", f.Name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxPartSize+1))
	if err != nil {
		return nil, fmt.Errorf("entry %q: %w", f.Name, err)
	}
	return data, nil
}

// attr is the value of an element's attribute with this local name.
func attr(se xml.StartElement, local string) string {
	for _, a := range se.Attr {
		if a.Name.Local == local && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// dropElements returns doc without the elements drop chooses (given their
// depth, the root being 1), each removed with its content, and every
// other byte as it was: re-encoding with encoding/xml would rewrite the
// namespace prefixes.
func dropElements(doc []byte, drop func(depth int, se xml.StartElement) bool) ([]byte, error) {
	d := xml.NewDecoder(bytes.NewReader(doc))
	var out []byte
	last, depth := int64(0), 0
	for {
		start := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if drop(depth, t) {
				if err := d.Skip(); err != nil {
					return nil, err
				}
				depth--
				out = append(out, doc[last:start]...)
				last = d.InputOffset()
			}
		case xml.EndElement:
			depth--
		}
	}
	if out == nil {
		return doc, nil
	}
	return append(out, doc[last:]...), nil
}
