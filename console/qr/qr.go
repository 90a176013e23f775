// Package qr makes the QR codes of contact points: the chat link of a
// persona's address, with an optional source tag
// (support+expo2026@contact.acme.test records the source expo2026 on a
// new contact, see routing.SplitSource), as an xmpp: URI (RFC 5122) or a
// mailto: URI (RFC 6068), drawn as PNG or SVG.
package qr

import (
	"bytes"
	"fmt"
	"image/color"
	"strconv"
	"strings"

	"github.com/skip2/go-qrcode"

	"github.com/kakehashi/kakehashi/address"
	"github.com/kakehashi/kakehashi/routing"
)

// Address is the address of the persona at personaAddr with the source
// tag source: support@contact.acme.test and expo2026 give
// support+expo2026@contact.acme.test. It is the inverse of
// routing.SplitSource, which the gateway uses to find the persona and the
// source of a message, and it refuses what that would not read back: a
// source that is not 1 to 64 of a-z, 0-9, '-', '_' and '.', or a persona
// address whose local part has a '+' already. An empty source gives
// personaAddr unchanged.
func Address(personaAddr, source string) (string, error) {
	if source == "" {
		return personaAddr, nil
	}
	i := strings.LastIndexByte(personaAddr, '@')
	if i <= 0 {
		return "", fmt.Errorf("the persona address %q has no local part to add a source to", personaAddr)
	}
	a := personaAddr[:i] + "+" + source + personaAddr[i:]
	base, tag, found := routing.SplitSource(a)
	if !found || tag != source {
		if strings.Contains(personaAddr[:i], "+") {
			return "", fmt.Errorf("the persona address %q has a '+' in its local part, so it cannot carry a source", personaAddr)
		}
		return "", fmt.Errorf("the source %q is not 1 to 64 of a-z, 0-9, '-', '_' and '.'", source)
	}
	if base != personaAddr {
		return "", fmt.Errorf("the persona address %q would not be found from %q", personaAddr, a)
	}
	return a, nil
}

// URI is the chat link of the persona at addr on the named network, whose
// addresses are of kind k (empty means XMPP, as routing.Network does),
// with the source tag source (may be empty). An XMPP address gives
// xmpp:support+expo2026@contact.acme.test?message, which opens a chat in
// an XMPP client; a mail address gives
// mailto:support+expo2026@contact.acme.test. The address is first put in
// its canonical spelling; what a URI cannot carry as it is is
// percent-encoded as UTF-8 (an XMPP address keeps its Unicode domain
// that way; a mail domain is in A-labels already).
func URI(network string, k address.Kind, addr, source string) (string, error) {
	if k == "" {
		k = address.XMPP
	}
	c, err := address.Canonical(k, addr, address.Policy{AllowSpecial: true})
	if err != nil {
		return "", fmt.Errorf("network %s: %w", network, err)
	}
	a, err := Address(c, source)
	if err != nil {
		return "", fmt.Errorf("network %s: %w", network, err)
	}
	i := strings.LastIndexByte(a, '@')
	local, domain := a[:i], a[i+1:]
	switch k {
	case address.XMPP:
		// RFC 5122 §2.2: nodeid = *( unreserved / pct-encoded / nodeallow ),
		// host as an RFC 3986 reg-name.
		return "xmpp:" + escape(local, "!$()*+,;=") + "@" + escape(domain, "!$&'()*+,;=") + "?message", nil
	case address.Mail:
		// RFC 6068 §2: addr-spec of qchar = unreserved / pct-encoded /
		// some-delims, less '@' in the local part.
		return "mailto:" + escape(local, "!$'()*+,;:") + "@" + escape(domain, "!$'()*+,;:"), nil
	}
	return "", fmt.Errorf("network %s: no chat link for addresses of kind %q", network, k)
}

// escape percent-encodes the UTF-8 bytes of s other than RFC 3986's
// unreserved characters and those in keep.
func escape(s, keep string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 ||
			c < 0x80 && strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// MaxPNG is the largest PNG that PNG draws, in pixels a side.
const MaxPNG = 4096

// code is uri's QR code, with medium error correction (15 % of the code
// can be lost) and a quiet zone of four modules.
func code(uri string) (*qrcode.QRCode, error) {
	if uri == "" {
		return nil, fmt.Errorf("qr: nothing to encode")
	}
	q, err := qrcode.New(uri, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	q.BackgroundColor, q.ForegroundColor = color.White, color.Black
	return q, nil
}

// PNG draws uri's QR code as a black on white PNG of size pixels a side
// (1 to MaxPNG; a size too small for the code's modules gives the
// smallest image that fits them).
func PNG(uri string, size int) ([]byte, error) {
	if size < 1 || size > MaxPNG {
		return nil, fmt.Errorf("qr: a size of %d pixels is not between 1 and %d", size, MaxPNG)
	}
	q, err := code(uri)
	if err != nil {
		return nil, err
	}
	return q.PNG(size)
}

// SVG draws uri's QR code as a standalone SVG document: a white square
// with the quiet zone and one black path of the dark modules, a module a
// user unit (viewBox), drawn with crisp edges, 8 CSS pixels a module
// unless scaled.
func SVG(uri string) ([]byte, error) {
	q, err := code(uri)
	if err != nil {
		return nil, err
	}
	bm := q.Bitmap() // with the quiet zone
	n := len(bm)
	var d strings.Builder
	for y, row := range bm {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			run := 1
			for x+run < len(row) && row[x+run] {
				run++
			}
			fmt.Fprintf(&d, "M%d %dh%dv1h-%dz", x, y, run, run)
			x += run
		}
	}
	var b bytes.Buffer
	size := strconv.Itoa(n * 8)
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%s" height="%s" viewBox="0 0 %d %d" shape-rendering="crispEdges">`, size, size, n, n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`+"\n", n, n, d.String())
	return b.Bytes(), nil
}
