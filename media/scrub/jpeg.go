package scrub

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// cleanImage cleans a JPEG, PNG or GIF read from r, reporting each kind of
// metadata it drops to removed.
func cleanImage(k kind, r *bufio.Reader, w io.Writer, removed func(string)) error {
	switch k {
	case kindJPEG:
		return cleanJPEG(r, w, removed)
	case kindPNG:
		return cleanPNG(r, w, removed)
	case kindGIF:
		return cleanGIF(r, w, removed)
	}
	return fmt.Errorf("scrub: %v is not an image format", k)
}

// JPEG markers Clean treats specially (ITU T.81 table B.1).
const (
	markerSOI  = 0xD8
	markerEOI  = 0xD9
	markerSOS  = 0xDA
	markerRST0 = 0xD0
	markerRST7 = 0xD7
	markerTEM  = 0x01
	markerAPP0 = 0xE0
	markerAPP1 = 0xE1
	markerAPP2 = 0xE2
	markerAPPd = 0xED // APP13
	markerAPPe = 0xEE // APP14
	markerAPPf = 0xEF
	markerCOM  = 0xFE
)

// cleanJPEG copies a JPEG segment by segment, dropping the segments that
// carry metadata: APP1 (Exif, XMP, extended XMP), APP13 (Photoshop/IPTC),
// COM and every other APPn except APP0 JFIF (its thumbnail is dropped),
// APP2 ICC_PROFILE and APP14 Adobe, which are needed to render the colours
// right. Entropy-coded data after each SOS is copied unchanged up to the
// next marker; anything after EOI (phones append preview images, videos
// and vendor trailers there) is dropped.
func cleanJPEG(r *bufio.Reader, w io.Writer, removed func(string)) error {
	var soi [2]byte
	if _, err := io.ReadFull(r, soi[:]); err != nil {
		return err
	}
	if soi != [2]byte{0xFF, markerSOI} {
		return errors.New("no JPEG start-of-image marker")
	}
	if _, err := w.Write(soi[:]); err != nil {
		return err
	}
	// payload holds one APPn segment while it is examined; segments are
	// at most 65533 bytes.
	var payload []byte
	marker := -1 // a marker already read by the entropy-coded data scan
	for {
		if marker < 0 {
			m, err := readMarker(r)
			if err != nil {
				return err
			}
			marker = int(m)
		}
		m := byte(marker)
		marker = -1
		switch {
		case m == markerEOI:
			_, err := w.Write([]byte{0xFF, markerEOI})
			return err
		case m == markerTEM || (m >= markerRST0 && m <= markerRST7):
			// Standalone markers: no length.
			if _, err := w.Write([]byte{0xFF, m}); err != nil {
				return err
			}
			continue
		case m == markerSOI || m == 0x00:
			return fmt.Errorf("unexpected JPEG marker 0x%02X", m)
		}

		var lb [2]byte
		if _, err := io.ReadFull(r, lb[:]); err != nil {
			return err
		}
		length := int(binary.BigEndian.Uint16(lb[:]))
		if length < 2 {
			return fmt.Errorf("JPEG segment 0x%02X has length %d", m, length)
		}
		n := length - 2

		if (m >= markerAPP0 && m <= markerAPPf) || m == markerCOM {
			if cap(payload) < n {
				payload = make([]byte, n, 65535)
			}
			payload = payload[:n]
			if _, err := io.ReadFull(r, payload); err != nil {
				return err
			}
			keep, what := jpegAppSegment(m, payload)
			if what != "" {
				removed(what)
			}
			if keep != nil {
				if err := writeSegment(w, m, keep); err != nil {
					return err
				}
			}
			continue
		}

		if _, err := w.Write([]byte{0xFF, m, lb[0], lb[1]}); err != nil {
			return err
		}
		if _, err := io.CopyN(w, r, int64(n)); err != nil {
			return err
		}
		if m == markerSOS {
			next, err := copyEntropyCoded(r, w)
			if err != nil {
				return err
			}
			marker = int(next)
		}
	}
}

// readMarker reads 0xFF, any fill 0xFF bytes, and the marker code.
func readMarker(r *bufio.Reader) (byte, error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	if b != 0xFF {
		return 0, fmt.Errorf("JPEG marker expected, found byte 0x%02X", b)
	}
	for b == 0xFF {
		if b, err = r.ReadByte(); err != nil {
			return 0, err
		}
	}
	return b, nil
}

// copyEntropyCoded copies the entropy-coded data after an SOS segment,
// with its stuffed bytes (FF 00) and restart markers, and returns the
// marker that ends it, consumed but not written.
func copyEntropyCoded(r *bufio.Reader, w io.Writer) (byte, error) {
	pair := make([]byte, 2) // one allocation per scan, not per stuffed byte
	pair[0] = 0xFF
	for {
		chunk, err := r.ReadSlice(0xFF)
		switch err {
		case bufio.ErrBufferFull:
			if _, err := w.Write(chunk); err != nil {
				return 0, err
			}
			continue
		case nil:
		default:
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		// chunk ends in 0xFF: write what precedes it, then look at what follows.
		if _, err := w.Write(chunk[:len(chunk)-1]); err != nil {
			return 0, err
		}
		b, err := r.ReadByte()
		for err == nil && b == 0xFF { // fill bytes before a marker
			b, err = r.ReadByte()
		}
		if err != nil {
			return 0, err
		}
		if b == 0x00 || (b >= markerRST0 && b <= markerRST7) {
			pair[1] = b
			if _, err := w.Write(pair); err != nil {
				return 0, err
			}
			continue
		}
		return b, nil
	}
}

// writeSegment writes one marker segment with its length.
func writeSegment(w io.Writer, m byte, payload []byte) error {
	hdr := []byte{0xFF, m, 0, 0}
	binary.BigEndian.PutUint16(hdr[2:], uint16(len(payload)+2))
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// JPEG application segment identifiers.
const (
	jfifID        = "JFIF\x00"
	jfxxID        = "JFXX\x00"
	exifID        = "Exif\x00"
	xmpID         = "http://ns.adobe.com/xap/1.0/\x00"
	xmpExtendedID = "http://ns.adobe.com/xmp/extension/\x00"
	iccID         = "ICC_PROFILE\x00"
	mpfID         = "MPF\x00"
	photoshopID   = "Photoshop 3.0\x00"
	adobeID       = "Adobe"
)

// jpegAppSegment decides about one APPn or COM segment: the payload to
// keep (nil to drop it), and what is removed, if anything.
func jpegAppSegment(m byte, p []byte) (keep []byte, removed string) {
	has := func(id string) bool { return bytes.HasPrefix(p, []byte(id)) }
	switch m {
	case markerAPP0:
		if has(jfifID) && len(p) >= 14 {
			if p[12] == 0 || p[13] == 0 {
				return p[:14], ""
			}
			// Keep version, units and density; drop the thumbnail, a
			// picture of the image as it was before any crop.
			keep := bytes.Clone(p[:14])
			keep[12], keep[13] = 0, 0
			return keep, "JFIF thumbnail"
		}
		if has(jfxxID) {
			return nil, "JFXX thumbnail"
		}
	case markerAPP1:
		switch {
		case has(exifID):
			// The orientation says how to turn the pixels to show the
			// photo upright; it names no one, so it alone stays.
			// The header is "Exif" and two NULs; the TIFF structure follows.
			if o := exifOrientation(bytes.TrimPrefix(p, []byte(exifID+"\x00"))); o >= 2 && o <= 8 {
				keep := orientationOnlyExif(o)
				if bytes.Equal(p, keep) {
					return p, "" // cleaned before
				}
				return keep, "EXIF (orientation kept)"
			}
			return nil, "EXIF (incl. orientation)"
		case has(xmpID):
			return nil, "XMP"
		case has(xmpExtendedID):
			return nil, "XMP (extended)"
		}
	case markerAPP2:
		switch {
		case has(iccID):
			return p, ""
		case has(mpfID):
			return nil, "MPF (index of appended images)"
		}
	case markerAPPd:
		if has(photoshopID) {
			return nil, "Photoshop/IPTC"
		}
	case markerAPPe:
		if has(adobeID) {
			return p, ""
		}
	case markerCOM:
		return nil, "JPEG comment"
	}
	return nil, fmt.Sprintf("JPEG APP%d", m-markerAPP0)
}

// exifOrientation returns the Orientation (0x0112) of IFD0 of the TIFF
// structure in an EXIF segment, 0 when there is none or it cannot be read.
func exifOrientation(tiff []byte) uint16 {
	if len(tiff) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(tiff[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	if bo.Uint16(tiff[2:]) != 42 {
		return 0
	}
	ifd := int64(bo.Uint32(tiff[4:]))
	if ifd < 8 || ifd+2 > int64(len(tiff)) {
		return 0
	}
	n := int64(bo.Uint16(tiff[ifd:]))
	for i := range n {
		e := ifd + 2 + 12*i
		if e+12 > int64(len(tiff)) {
			return 0
		}
		// Tag 0x0112, type SHORT (3), count 1: the value sits in the
		// first two bytes of the value field.
		if bo.Uint16(tiff[e:]) == 0x0112 && bo.Uint16(tiff[e+2:]) == 3 && bo.Uint32(tiff[e+4:]) == 1 {
			return bo.Uint16(tiff[e+8:])
		}
	}
	return 0
}

// orientationOnlyExif is an EXIF segment's payload holding nothing but
// the Orientation o.
func orientationOnlyExif(o uint16) []byte {
	b := []byte(exifID + "\x00")
	b = append(b, "MM\x00\x2a\x00\x00\x00\x08"...)
	b = binary.BigEndian.AppendUint16(b, 1)      // one entry
	b = binary.BigEndian.AppendUint16(b, 0x0112) // Orientation
	b = binary.BigEndian.AppendUint16(b, 3)      // SHORT
	b = binary.BigEndian.AppendUint32(b, 1)      // one value
	b = binary.BigEndian.AppendUint16(b, o)
	b = binary.BigEndian.AppendUint16(b, 0)    // padding of the value field
	return binary.BigEndian.AppendUint32(b, 0) // no next IFD
}
