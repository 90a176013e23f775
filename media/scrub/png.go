package scrub

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// pngKeep is the allow-list of PNG chunks Clean copies: the critical ones,
// transparency, colour (iCCP, gAMA, cHRM, sRGB, sBIT, cICP, mDCv, cLLi),
// background, histogram, pixel size (pHYs) and APNG animation. Everything
// else is dropped: text (tEXt, zTXt, iTXt, where XMP lives), eXIf, tIME,
// and chunks Clean does not know, such as content-credential (caBX) or
// private ones, which may name the author.
func pngKeep(typ string) bool {
	switch typ {
	case "IHDR", "PLTE", "IDAT", "IEND",
		"tRNS", "cHRM", "gAMA", "iCCP", "sBIT", "sRGB", "cICP", "mDCv", "cLLi",
		"bKGD", "hIST", "pHYs",
		"acTL", "fcTL", "fdAT":
		return true
	}
	return false
}

// pngRemoved names a dropped chunk for the report.
func pngRemoved(typ string, data []byte) string {
	switch typ {
	case "eXIf":
		return "EXIF (incl. orientation)"
	case "iTXt":
		if bytes.HasPrefix(data, []byte("XML:com.adobe.xmp\x00")) {
			return "XMP"
		}
		return "PNG text (iTXt)"
	case "tEXt", "zTXt":
		return "PNG text (" + typ + ")"
	case "tIME":
		return "PNG modification time (tIME)"
	}
	return "PNG chunk " + typ
}

// maxPNGChunk is the largest chunk length PNG allows (2^31-1).
const maxPNGChunk = 1<<31 - 1

// cleanPNG copies a PNG chunk by chunk, keeping the chunks pngKeep allows
// byte for byte, CRC included (each CRC is checked on the way), and
// dropping the others and anything after IEND.
func cleanPNG(r *bufio.Reader, w io.Writer, removed func(string)) error {
	var sig [8]byte
	if _, err := io.ReadFull(r, sig[:]); err != nil {
		return err
	}
	if string(sig[:]) != pngSignature {
		return fmt.Errorf("no PNG signature")
	}
	if _, err := w.Write(sig[:]); err != nil {
		return err
	}
	for first := true; ; first = false {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		length := binary.BigEndian.Uint32(hdr[:4])
		typ := string(hdr[4:])
		if length > maxPNGChunk {
			return fmt.Errorf("PNG chunk %q is %d bytes long", typ, length)
		}
		for _, c := range hdr[4:] {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				return fmt.Errorf("PNG chunk type %q is not four letters", typ)
			}
		}
		if first && typ != "IHDR" {
			return fmt.Errorf("PNG starts with chunk %q, not IHDR", typ)
		}

		if !pngKeep(typ) {
			if typ[0] >= 'A' && typ[0] <= 'Z' {
				// A critical chunk Clean does not know: decoders need it,
				// and Clean cannot tell what it holds.
				return &refusal{
					why:  fmt.Sprintf("is a PNG with a chunk (%q) that cannot be dropped and is not known, so its metadata cannot be removed safely", typ),
					todo: "convert it to an ordinary PNG or JPEG and resend it",
				}
			}
			peek, _ := r.Peek(min(int(length), 64))
			removed(pngRemoved(typ, peek))
			if _, err := r.Discard(int(length) + 4); err != nil {
				return err
			}
			continue
		}

		if _, err := w.Write(hdr[:]); err != nil {
			return err
		}
		crc := crc32.NewIEEE()
		crc.Write(hdr[4:])
		if _, err := io.CopyN(io.MultiWriter(w, crc), r, int64(length)); err != nil {
			return err
		}
		var sum [4]byte
		if _, err := io.ReadFull(r, sum[:]); err != nil {
			return err
		}
		if binary.BigEndian.Uint32(sum[:]) != crc.Sum32() {
			return fmt.Errorf("PNG chunk %q fails its CRC", typ)
		}
		if _, err := w.Write(sum[:]); err != nil {
			return err
		}
		if typ == "IEND" {
			return nil
		}
	}
}
