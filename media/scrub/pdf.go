package scrub

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/validate"
)

// pdfConfig is the pdfcpu configuration Clean uses, built here rather than
// by model.NewDefaultConfiguration, which would create a pdfcpu directory
// (config.yml, fonts, certificates) under the user's configuration
// directory; nothing here needs one. Offline keeps pdfcpu off the network.
func pdfConfig() *model.Configuration {
	return &model.Configuration{
		Reader15:       true,
		ValidationMode: model.ValidationRelaxed,
		Eol:            types.EolLF,
		// Plain objects and a classic xref table: every object of the
		// output is readable as written, nothing is hidden in a compressed
		// object stream.
		WriteObjectStream: false,
		WriteXRefStream:   false,
		Offline:           true,
		Limits:            model.DefaultResourceLimits(),
	}
}

// pdfMarkupAnnot reports whether an annotation subtype is a markup
// annotation, whose T entry is the author's name (ISO 32000-1, 12.5.6.2);
// on widgets T is a field name and stays.
func pdfMarkupAnnot(subtype string) bool {
	switch subtype {
	case "Text", "FreeText", "Line", "Square", "Circle", "Polygon", "PolyLine",
		"Highlight", "Underline", "Squiggly", "StrikeOut", "Stamp", "Caret", "Ink",
		"FileAttachment", "Sound", "Redact", "Popup":
		return true
	}
	return false
}

// cleanPDF reads the whole PDF with pdfcpu, removes the document Info
// dictionary, every XMP Metadata stream (the catalog's, the pages', and
// any other object's), PieceInfo (application private data), the file
// identifiers, off-spec trailer streams and the authors of comments, and
// writes the result with pdfcpu. Encrypted and signed PDFs are refused.
func (c *cleaning) cleanPDF(w io.Writer) (err error) {
	// pdfcpu panics on some damaged files; that is a damaged file here,
	// not a crash of the gateway.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pdfcpu failed: %v", r)
		}
	}()
	ctx, err := pdfcpu.ReadWithContext(c.ctx, c.in, pdfConfig())
	if err != nil {
		if errors.Is(err, pdfcpu.ErrWrongPassword) {
			return pdfEncrypted()
		}
		return err
	}
	if ctx.Encrypt != nil || ctx.E != nil {
		return pdfEncrypted()
	}

	if ctx.Info != nil {
		if info, err := ctx.DereferenceDict(*ctx.Info); err == nil {
			keys := make([]string, 0, len(info))
			for k := range info {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				c.rep.addRemoved("PDF Info " + k)
			}
		}
	}
	ctx.ID = nil // a fresh pair is made from the time and the new Info
	ctx.AdditionalStreams = nil

	if md := ctx.RootDict.Delete("Metadata"); md != nil {
		c.rep.addRemoved("PDF XMP metadata")
	}
	nrs := make([]int, 0, len(ctx.Table))
	for nr := range ctx.Table {
		nrs = append(nrs, nr)
	}
	slices.Sort(nrs) // so that Removed comes out in a stable order
	s := pdfScrubber{c: c}
	for _, nr := range nrs {
		s.maxRef = max(s.maxRef, nr)
		e := ctx.Table[nr]
		if e == nil || e.Free || e.Object == nil {
			continue
		}
		if e.Object, err = s.object(e.Object, 0); err != nil {
			return err
		}
	}

	// A fresh, empty Info, which pdfcpu fills with only its own Producer
	// and the time of writing. It is numbered past every object and every
	// reference: left to itself, pdfcpu would reuse a free number, which a
	// damaged file may still refer to (as its page content, say).
	*ctx.Size = max(*ctx.Size, s.maxRef+1)
	nr, err := ctx.InsertObject(types.NewDict())
	if err != nil {
		return err
	}
	ctx.Info = types.NewIndirectRef(nr, 0)

	if err := validate.XRefTable(ctx); err != nil {
		return err
	}
	return api.WriteContext(ctx, w)
}

// pdfEncrypted is the refusal for an encrypted PDF.
func pdfEncrypted() error {
	return &refusal{
		why:  "is an encrypted PDF, which cannot be cleaned of author metadata",
		todo: "remove its password protection (or print it to a new PDF) and resend it",
	}
}

// maxPDFDepth bounds the walk into nested direct objects.
const maxPDFDepth = 100

// pdfScrubber removes metadata from the objects of one PDF.
type pdfScrubber struct {
	c      *cleaning
	maxRef int // the highest object number seen, as an object or a reference
}

// object removes metadata from one object and the direct objects nested
// in it, and returns it (a stream dict is a value, so it may be a changed
// copy). Indirect objects are not followed: cleanPDF visits each.
func (s *pdfScrubber) object(o types.Object, depth int) (types.Object, error) {
	if depth > maxPDFDepth {
		return nil, errors.New("PDF objects nested too deep")
	}
	switch o := o.(type) {
	case types.LazyObjectStreamObject:
		// An object inside a compressed object stream, which pdfcpu
		// would write from the stream's bytes: decode it so that what is
		// written is the scrubbed object.
		d, err := o.DecodedObject(s.c.ctx)
		if err != nil {
			return nil, err
		}
		return s.object(d, depth)
	case types.IndirectRef:
		s.maxRef = max(s.maxRef, o.ObjectNumber.Value())
	case types.Dict:
		return o, s.dict(o, depth)
	case types.StreamDict:
		if err := s.dict(o.Dict, depth); err != nil {
			return nil, err
		}
		if t := o.Type(); t != nil && *t == "Metadata" {
			// An XMP stream still referenced from somewhere unusual:
			// empty it.
			s.c.rep.addRemoved("PDF XMP metadata on pages or objects")
			o.Delete("Filter")
			o.Delete("DecodeParms")
			o.FilterPipeline = nil
			o.Raw, o.Content = []byte{}, nil
			n := int64(0)
			o.StreamLength = &n
			o.Update("Length", types.Integer(0))
		}
		return o, nil
	case types.Array:
		for i, v := range o {
			v, err := s.object(v, depth+1)
			if err != nil {
				return nil, err
			}
			o[i] = v
		}
	}
	return o, nil
}

// dict removes metadata entries from one dictionary, and refuses a
// signature: it names the signer, and rewriting would break it anyway.
func (s *pdfScrubber) dict(d types.Dict, depth int) error {
	if t := d.Type(); (t != nil && (*t == "Sig" || *t == "DocTimeStamp")) || d["ByteRange"] != nil {
		return &refusal{
			why:  "is a digitally signed PDF: its signature names the signer and cannot be kept in a cleaned copy",
			todo: "send an unsigned copy",
		}
	}
	if d.Delete("Metadata") != nil {
		s.c.rep.addRemoved("PDF XMP metadata on pages or objects")
	}
	if d.Delete("PieceInfo") != nil {
		s.c.rep.addRemoved("PDF PieceInfo (application data)")
	}
	if st := d.Subtype(); st != nil && pdfMarkupAnnot(*st) {
		if d.Delete("T") != nil {
			s.c.rep.addRemoved("PDF comment authors")
		}
	}
	for k, v := range d {
		v, err := s.object(v, depth+1)
		if err != nil {
			return err
		}
		d[k] = v
	}
	return nil
}
