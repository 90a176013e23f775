package scrub

import (
	"bufio"
	"fmt"
	"io"
)

// GIF block introducers and extension labels (GIF89a specification).
const (
	gifExtension      = 0x21
	gifImage          = 0x2C
	gifTrailer        = 0x3B
	gifPlainText      = 0x01
	gifGraphicControl = 0xF9
	gifComment        = 0xFE
	gifApplication    = 0xFF
)

// cleanGIF copies a GIF block by block. It keeps the image descriptors and
// their data, graphic control and plain text extensions, and the
// application extensions that make animations loop (NETSCAPE2.0,
// ANIMEXTS1.0). It drops comment extensions, every other application
// extension (XMP lives in "XMP DataXMP"), unknown extensions, and anything
// after the trailer.
func cleanGIF(r *bufio.Reader, w io.Writer, removed func(string)) error {
	// Header and logical screen descriptor.
	var hdr [13]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	if s := string(hdr[:6]); s != "GIF87a" && s != "GIF89a" {
		return fmt.Errorf("no GIF signature")
	}
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	if err := copyColorTable(r, w, hdr[10]); err != nil {
		return err
	}
	for {
		b, err := r.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		switch b {
		case gifTrailer:
			_, err := w.Write([]byte{gifTrailer})
			return err
		case gifImage:
			var desc [10]byte
			desc[0] = b
			if _, err := io.ReadFull(r, desc[1:]); err != nil {
				return err
			}
			if _, err := w.Write(desc[:]); err != nil {
				return err
			}
			if err := copyColorTable(r, w, desc[9]); err != nil {
				return err
			}
			// LZW minimum code size, then the data sub-blocks.
			if _, err := io.CopyN(w, r, 1); err != nil {
				return err
			}
			if err := gifSubBlocks(r, w); err != nil {
				return err
			}
		case gifExtension:
			label, err := r.ReadByte()
			if err != nil {
				return err
			}
			switch label {
			case gifGraphicControl, gifPlainText:
				if _, err := w.Write([]byte{b, label}); err != nil {
					return err
				}
				if err := gifSubBlocks(r, w); err != nil {
					return err
				}
			case gifApplication:
				if err := gifApplicationExt(r, w, removed); err != nil {
					return err
				}
			case gifComment:
				removed("GIF comment")
				if err := gifSubBlocks(r, io.Discard); err != nil {
					return err
				}
			default:
				removed(fmt.Sprintf("GIF extension 0x%02X", label))
				if err := gifSubBlocks(r, io.Discard); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("unexpected GIF block 0x%02X", b)
		}
	}
}

// copyColorTable copies the colour table a descriptor's packed field
// announces, if any.
func copyColorTable(r io.Reader, w io.Writer, packed byte) error {
	if packed&0x80 == 0 {
		return nil
	}
	_, err := io.CopyN(w, r, 3<<(1+packed&0x07))
	return err
}

// gifApplicationExt copies or drops one application extension, whose
// label has been read: it is kept only when it is the looping extension.
func gifApplicationExt(r *bufio.Reader, w io.Writer, removed func(string)) error {
	n, err := r.ReadByte()
	if err != nil {
		return err
	}
	id := make([]byte, n)
	if _, err := io.ReadFull(r, id); err != nil {
		return err
	}
	if s := string(id); n == 11 && (s == "NETSCAPE2.0" || s == "ANIMEXTS1.0") {
		if _, err := w.Write([]byte{gifExtension, gifApplication, n}); err != nil {
			return err
		}
		if _, err := w.Write(id); err != nil {
			return err
		}
		return gifSubBlocks(r, w)
	}
	if string(id) == "XMP DataXMP" {
		removed("XMP")
	} else {
		removed(fmt.Sprintf("GIF application extension %q", id))
	}
	return gifSubBlocks(r, io.Discard)
}

// gifSubBlocks copies data sub-blocks up to and including the empty one
// that ends them.
func gifSubBlocks(r *bufio.Reader, w io.Writer) error {
	size := make([]byte, 1) // one allocation per run of sub-blocks
	for {
		n, err := r.ReadByte()
		if err != nil {
			return err
		}
		size[0] = n
		if _, err := w.Write(size); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if _, err := io.CopyN(w, r, int64(n)); err != nil {
			return err
		}
	}
}
