package scrub

import (
	"fmt"
	"io"
	"strings"
)

// textEncoding tells copyText how to read code units: 0 for bytes (UTF-8
// or any 8-bit charset), 1 for UTF-16BE, 2 for UTF-16LE.
func textEncoding(mediaType string) int {
	switch {
	case strings.Contains(mediaType, "utf-16be"):
		return 1
	case strings.Contains(mediaType, "utf-16le"):
		return 2
	}
	return 0
}

// copyText copies plain text unchanged, checking the whole of it, not only
// the start DetectContentType looked at, for the control characters that
// mark binary data: text with a document appended (a zip is still read
// from its end) is refused rather than let through as text.
func copyText(w io.Writer, r io.Reader, enc int) error {
	buf := make([]byte, 32<<10)
	var odd []byte // a UTF-16 code unit split between two reads
	var pos int64
	for {
		n, err := r.Read(buf)
		chunk := buf[:n]
		units := chunk
		if enc != 0 {
			units = append(odd, chunk...)
			odd = append(odd[:0:0], units[len(units)&^1:]...)
			units = units[:len(units)&^1]
		}
		if i := binaryAt(units, enc); i >= 0 {
			return &refusal{
				why:  fmt.Sprintf("starts as plain text but has binary data at byte %d", pos+int64(i)),
				todo: "send the file as what it is; if it is a document, convert it to PDF",
			}
		}
		pos += int64(len(units))
		if n > 0 {
			if _, werr := w.Write(chunk); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// binaryAt is the offset of the first code unit in p that is a control
// character text does not use (the set DetectContentType uses: all below
// 0x20 except tab, newline, form feed, carriage return and escape), or -1.
func binaryAt(p []byte, enc int) int {
	isBinary := func(c uint16) bool {
		return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1A) || (c >= 0x1C && c <= 0x1F)
	}
	switch enc {
	case 0:
		for i, c := range p {
			if isBinary(uint16(c)) {
				return i
			}
		}
	default:
		for i := 0; i+1 < len(p); i += 2 {
			u := uint16(p[i])<<8 | uint16(p[i+1])
			if enc == 2 {
				u = uint16(p[i+1])<<8 | uint16(p[i])
			}
			if isBinary(u) {
				return i
			}
		}
	}
	return -1
}
