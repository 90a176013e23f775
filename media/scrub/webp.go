package scrub

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// VP8X flags that announce metadata chunks.
const (
	vp8xEXIF = 0x08
	vp8xXMP  = 0x04
)

// webpKeep is the allow-list of top-level WebP chunks: image data (VP8,
// VP8L, ALPH), the extended header, animation and the ICC profile. EXIF,
// "XMP " and unknown chunks are dropped.
func webpKeep(fourCC string) bool {
	switch fourCC {
	case "VP8 ", "VP8L", "VP8X", "ALPH", "ANIM", "ANMF", "ICCP":
		return true
	}
	return false
}

// webpChunk is the header of one top-level chunk of a WebP file.
type webpChunk struct {
	fourCC string
	size   uint32 // payload size, without the pad byte
	keep   bool
}

// padded is the chunk's payload size with its pad byte.
func (c webpChunk) padded() int64 { return int64(c.size) + int64(c.size&1) }

// cleanWebP cleans a WebP file held in a seekable source of size bytes.
func cleanWebP(rs io.ReadSeeker, size int64, w io.Writer, removed func(string)) error {
	open := func() (io.Reader, error) {
		_, err := rs.Seek(0, io.SeekStart)
		return rs, err
	}
	return cleanWebPFrom(open, size, w, removed)
}

// cleanWebPFrom cleans a WebP file in two passes over what open returns:
// the first walks the chunk headers to learn which chunks stay and so the
// new RIFF size, which comes first in the output; the second copies the
// kept chunks, with the VP8X EXIF and XMP flags cleared. Only headers are
// held in memory. Bytes after the RIFF payload are dropped.
func cleanWebPFrom(open func() (io.Reader, error), size int64, w io.Writer, removed func(string)) error {
	r, err := open()
	if err != nil {
		return err
	}
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	if string(hdr[:4]) != "RIFF" || string(hdr[8:]) != "WEBP" {
		return errors.New("no RIFF WEBP header")
	}
	end := 8 + int64(binary.LittleEndian.Uint32(hdr[4:8]))
	if end > size {
		return fmt.Errorf("RIFF size says %d bytes, the file has %d", end, size)
	}

	newSize := int64(4)
	for off := int64(12); off < end; {
		c, err := readWebPChunk(r, &off, end, off == 12)
		if err != nil {
			return err
		}
		if c.keep {
			newSize += 8 + c.padded()
		} else {
			switch c.fourCC {
			case "EXIF":
				removed("EXIF (incl. orientation)")
			case "XMP ":
				removed("XMP")
			default:
				removed(fmt.Sprintf("WebP chunk %q", c.fourCC))
			}
		}
		if err := skip(r, c.padded()); err != nil {
			return err
		}
	}
	if newSize == 4 {
		return errors.New("WebP has no chunks")
	}

	if r, err = open(); err != nil {
		return err
	}
	if err := skip(r, 12); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(hdr[4:8], uint32(newSize))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	for off := int64(12); off < end; {
		c, err := readWebPChunk(r, &off, end, off == 12)
		if err != nil {
			return err
		}
		if !c.keep {
			if err := skip(r, c.padded()); err != nil {
				return err
			}
			continue
		}
		var ch [8]byte
		copy(ch[:4], c.fourCC)
		binary.LittleEndian.PutUint32(ch[4:], c.size)
		if _, err := w.Write(ch[:]); err != nil {
			return err
		}
		rest := c.padded()
		if c.fourCC == "VP8X" {
			var x [10]byte
			if _, err := io.ReadFull(r, x[:]); err != nil {
				return err
			}
			x[0] &^= vp8xEXIF | vp8xXMP
			if _, err := w.Write(x[:]); err != nil {
				return err
			}
			rest -= int64(len(x))
		}
		if _, err := io.CopyN(w, r, rest); err != nil {
			return err
		}
	}
	return nil
}

// readWebPChunk reads the header of the chunk at *off, checks it fits
// before end, and advances *off past it. Both passes of cleanWebPFrom read
// chunks with it, so they see the same chunks.
func readWebPChunk(r io.Reader, off *int64, end int64, first bool) (webpChunk, error) {
	var ch [8]byte
	if _, err := io.ReadFull(r, ch[:]); err != nil {
		return webpChunk{}, err
	}
	c := webpChunk{fourCC: string(ch[:4]), size: binary.LittleEndian.Uint32(ch[4:])}
	*off += 8 + c.padded()
	if *off > end {
		return c, fmt.Errorf("WebP chunk %q runs past the RIFF end", c.fourCC)
	}
	if first && c.fourCC != "VP8 " && c.fourCC != "VP8L" && c.fourCC != "VP8X" {
		return c, fmt.Errorf("WebP starts with chunk %q", c.fourCC)
	}
	if c.fourCC == "VP8X" && c.size < 10 {
		return c, fmt.Errorf("VP8X chunk of %d bytes", c.size)
	}
	c.keep = webpKeep(c.fourCC)
	return c, nil
}

// skip advances r by n bytes, seeking when it can.
func skip(r io.Reader, n int64) error {
	if s, ok := r.(io.Seeker); ok {
		_, err := s.Seek(n, io.SeekCurrent)
		return err
	}
	m, err := io.CopyN(io.Discard, r, n)
	if err == io.EOF && m < n {
		err = io.ErrUnexpectedEOF
	}
	return err
}
