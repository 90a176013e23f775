package parse

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message/textproto"

	"github.com/kakehashi/kakehashi/internal/textclip"
)

// header is go-message's order-preserving header: Values returns fields
// topmost first, which Return-Path and Authentication-Results depend on.
type header = textproto.Header

const (
	// maxDepth and maxParts bound the work a hostile MIME tree can cause;
	// real mail stays far below both.
	maxDepth = 32
	maxParts = 2000
)

// entity is one MIME part's header, interpreted the same way whichever
// reader reads its body.
type entity struct {
	header     header
	mediaType  string
	params     map[string]string
	disp       string
	dispParams map[string]string
	hdr        headerDecoder
}

// newEntity interprets the Content-Type and Content-Disposition of a part.
// A missing or unusable Content-Type falls back to defType, as RFC 2045
// §5.2 and RFC 2046 §5.1.5 (digest) prescribe. The parameters are read
// by parseParams, not by go-message (mime.ParseMediaType), even for the
// go-message reader: that drops RFC 2231 values in charsets other than
// UTF-8, turns raw 8-bit names into U+FFFD and reads the backslashes of a
// Windows path as escapes, all without an error to fall back on.
func newEntity(h header, defType string, hdr headerDecoder) *entity {
	e := &entity{header: h, hdr: hdr}
	mt, params := parseParams(hdr.raw(h.Get("Content-Type")))
	if !strings.Contains(mt, "/") || strings.HasPrefix(mt, "/") || strings.HasSuffix(mt, "/") {
		mt = defType
	}
	e.mediaType, e.params = mt, params
	e.disp, e.dispParams = parseParams(hdr.raw(h.Get("Content-Disposition")))
	return e
}

// filename is the part's own name: Content-Disposition filename, else the
// older Content-Type name; both may be RFC 2231 or (non-standard but
// ubiquitous) RFC 2047 encoded.
func (e *entity) filename() string {
	n := e.dispParams["filename"]
	if strings.TrimSpace(n) == "" {
		n = e.params["name"]
	}
	return sanitizeName(e.hdr.text(n))
}

// sanitizeName keeps the last path component only: senders' local paths
// ("C:\Users\bob\file.pdf") are noise and path separators are dangerous
// for whoever saves the file later.
func sanitizeName(n string) string {
	n = collapseSpace(n)
	if i := strings.LastIndexAny(n, `/\`); i >= 0 {
		n = n[i+1:]
	}
	n = strings.TrimSpace(n)
	if n == "." || n == ".." {
		return ""
	}
	return n
}

// splitHeader separates the header section from the body at the first
// empty line. Without one, everything is header.
func splitHeader(data []byte) (hdr, body []byte) {
	pos := 0
	for pos < len(data) {
		next := len(data)
		end := len(data)
		if nl := bytes.IndexByte(data[pos:], '\n'); nl >= 0 {
			end = pos + nl
			next = end + 1
		}
		line := data[pos:end]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return data[:pos], data[next:]
		}
		pos = next
	}
	return data, nil
}

// readHeader parses a header section as split by splitHeader.
func readHeader(hb []byte) (header, error) {
	br := bufio.NewReader(io.MultiReader(bytes.NewReader(hb), strings.NewReader("\r\n")))
	return textproto.ReadHeader(br)
}

// splitMultipart cuts a multipart body into its raw parts (RFC 2046 §5.1.1).
// The parts are sub-slices of body, so nesting costs no copies. A body
// without any delimiter or without the close delimiter is an error: it
// means the mail was truncated or the boundary is wrong, and whatever we
// showed would be partial.
func splitMultipart(body []byte, boundary string, limit int) ([][]byte, error) {
	delim := []byte("--" + boundary)
	var parts [][]byte
	start := -1
	pos := 0
	for pos < len(body) {
		i := bytes.Index(body[pos:], delim)
		if i < 0 {
			break
		}
		i += pos
		pos = i + len(delim)
		if i > 0 && body[i-1] != '\n' {
			continue
		}
		lineEnd, next := len(body), len(body)
		if nl := bytes.IndexByte(body[i:], '\n'); nl >= 0 {
			lineEnd, next = i+nl, i+nl+1
		}
		rest := bytes.TrimRight(body[i+len(delim):lineEnd], " \t\r")
		closing := string(rest) == "--"
		if !closing && len(rest) != 0 {
			continue // a longer boundary that merely starts like ours
		}
		if start >= 0 {
			end := i
			// The line break before a delimiter belongs to the delimiter.
			if end > start && body[end-1] == '\n' {
				end--
				if end > start && body[end-1] == '\r' {
					end--
				}
			}
			parts = append(parts, body[start:end])
			if len(parts) > limit {
				return nil, fmt.Errorf("more than %d parts", limit)
			}
		}
		if closing {
			if start < 0 {
				return nil, fmt.Errorf("close delimiter before any part")
			}
			return parts, nil
		}
		start, pos = next, next
	}
	if start < 0 {
		return nil, fmt.Errorf("boundary %q never appears", textclip.Clip(boundary, 70))
	}
	return nil, fmt.Errorf("boundary %q is never closed", textclip.Clip(boundary, 70))
}

// decodeTransfer undoes the Content-Transfer-Encoding.
func decodeTransfer(cte string, b []byte) ([]byte, error) {
	switch strings.ToLower(strings.Trim(strings.TrimSpace(stripComments(cte)), `"`)) {
	case "", "7bit", "8bit", "binary", "7-bit", "8-bit":
		return b, nil
	case "quoted-printable":
		return decodeQP(b), nil
	case "base64":
		return decodeBase64(b)
	default:
		return nil, fmt.Errorf("unknown Content-Transfer-Encoding %q", textclip.Clip(cte, 40))
	}
}

// decodeQP decodes quoted-printable leniently, as RFC 2045 §6.7 (note 1)
// recommends: an "=" that starts no valid escape is kept literally, since
// hand-written and badly generated QP is common and still readable.
func decodeQP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch c {
		case '=':
			j := i + 1
			for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
				j++
			}
			if j == len(b) {
				return out // soft break at the very end
			}
			if b[j] == '\n' {
				i = j
				continue
			}
			if b[j] == '\r' && j+1 < len(b) && b[j+1] == '\n' {
				i = j + 1
				continue
			}
			if i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]) {
				out = append(out, unhex(b[i+1])<<4|unhex(b[i+2]))
				i += 2
				continue
			}
			out = append(out, c)
		case ' ', '\t':
			// Unencoded whitespace at a line end is transport padding
			// (RFC 2045 §6.7 rule 3); encoded trailing spaces (=20), which
			// format=flowed relies on, were handled above.
			j := i
			for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
				j++
			}
			if j == len(b) || b[j] == '\n' || (b[j] == '\r' && j+1 < len(b) && b[j+1] == '\n') {
				i = j - 1
				continue
			}
			out = append(out, b[i:j]...)
			i = j - 1
		default:
			out = append(out, c)
		}
	}
	return out
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// decodeBase64 tolerates line breaks, whitespace and missing padding, and
// padding in the middle (concatenated encoder output), but not foreign
// characters: those mean the part is corrupt, not just sloppily wrapped.
func decodeBase64(b []byte) ([]byte, error) {
	out := make([]byte, 0, len(b)*3/4)
	chunk := make([]byte, 0, 1024)
	flush := func() error {
		if len(chunk)%4 == 1 {
			return fmt.Errorf("truncated base64")
		}
		start := len(out)
		out = append(out, make([]byte, base64.RawStdEncoding.DecodedLen(len(chunk)))...)
		n, err := base64.RawStdEncoding.Decode(out[start:], chunk)
		out = out[:start+n]
		chunk = chunk[:0]
		return err
	}
	for _, c := range b {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
			chunk = append(chunk, c)
			if len(chunk) == cap(chunk) && len(chunk)%4 == 0 {
				if err := flush(); err != nil {
					return nil, err
				}
			}
		case c == '=':
			if err := flush(); err != nil {
				return nil, err
			}
		case c == ' ', c == '\t', c == '\r', c == '\n':
		default:
			return nil, fmt.Errorf("invalid base64 byte %#x", c)
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}
