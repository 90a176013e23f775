package qr

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/kakehashi/kakehashi/address"
	"github.com/kakehashi/kakehashi/routing"
)

func TestAddress(t *testing.T) {
	for _, tt := range []struct{ persona, source, want string }{
		{"support@contact.acme.test", "expo2026", "support+expo2026@contact.acme.test"},
		{"support@contact.acme.test", "", "support@contact.acme.test"},
		{"hana.sales@contact.acme.test", "web-2026_a.b", "hana.sales+web-2026_a.b@contact.acme.test"},
		{"support@contact.acme.test", strings.Repeat("a", 64), "support+" + strings.Repeat("a", 64) + "@contact.acme.test"},
	} {
		got, err := Address(tt.persona, tt.source)
		if err != nil || got != tt.want {
			t.Errorf("Address(%q, %q) = %q, %v; want %q", tt.persona, tt.source, got, err, tt.want)
			continue
		}
		// The gateway reads it back as the persona and the source.
		if tt.source != "" {
			if base, tag, found := routing.SplitSource(got); !found || base != tt.persona || tag != tt.source {
				t.Errorf("SplitSource(%q) = %q, %q, %v", got, base, tag, found)
			}
		}
	}
	for _, tt := range []struct{ persona, source string }{
		{"support@contact.acme.test", "Expo"},
		{"support@contact.acme.test", "expo 2026"},
		{"support@contact.acme.test", "a+b"},
		{"support@contact.acme.test", "展示会"},
		{"support@contact.acme.test", strings.Repeat("a", 65)},
		{"support+x@contact.acme.test", "expo"},
		{"contact.acme.test", "expo"},
		{"@contact.acme.test", "expo"},
	} {
		if got, err := Address(tt.persona, tt.source); err == nil {
			t.Errorf("Address(%q, %q) = %q, want an error", tt.persona, tt.source, got)
		}
	}
}

func TestURI(t *testing.T) {
	for _, tt := range []struct {
		kind                 address.Kind
		addr, source, want   string
		decodedLocal, domain string
	}{
		{address.XMPP, "support@contact.acme.test", "expo2026", "xmpp:support+expo2026@contact.acme.test?message", "support+expo2026", "contact.acme.test"},
		{"", "Support@Contact.Acme.Test", "", "xmpp:support@contact.acme.test?message", "support", "contact.acme.test"},
		{address.Mail, "support@contact.acme.test", "expo2026", "mailto:support+expo2026@contact.acme.test", "support+expo2026", "contact.acme.test"},
		// Japanese in an XMPP address is percent-encoded as UTF-8.
		{address.XMPP, "サポート@contact.acme.test", "expo2026",
			"xmpp:%E3%82%B5%E3%83%9D%E3%83%BC%E3%83%88+expo2026@contact.acme.test?message", "サポート+expo2026", "contact.acme.test"},
		{address.XMPP, "support@例え.テスト", "",
			"xmpp:support@%E4%BE%8B%E3%81%88.%E3%83%86%E3%82%B9%E3%83%88?message", "support", "例え.テスト"},
		// What a URI reserves is percent-encoded.
		{address.XMPP, "a#b?c%d@contact.acme.test", "", "xmpp:a%23b%3Fc%25d@contact.acme.test?message", "a#b?c%d", "contact.acme.test"},
		{address.Mail, "o'brien.a&b=c%d/e#f?g@contact.acme.test", "", "mailto:o'brien.a%26b%3Dc%25d%2Fe%23f%3Fg@contact.acme.test", "o'brien.a&b=c%d/e#f?g", "contact.acme.test"},
		// A mail domain is in A-labels.
		{address.Mail, "support@例え.テスト", "", "mailto:support@xn--r8jz45g.xn--zckzah", "support", "xn--r8jz45g.xn--zckzah"},
	} {
		got, err := URI("public", tt.kind, tt.addr, tt.source)
		if err != nil || got != tt.want {
			t.Errorf("URI(%q, %q, %q) = %q, %v; want %q", tt.kind, tt.addr, tt.source, got, err, tt.want)
			continue
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Errorf("%s: %v", got, err)
			continue
		}
		opaque := u.Opaque
		if u.Scheme == "xmpp" && u.RawQuery != "message" {
			t.Errorf("%s: query %q", got, u.RawQuery)
		}
		at := strings.LastIndexByte(opaque, '@')
		local, err1 := url.PathUnescape(opaque[:at])
		domain, err2 := url.PathUnescape(opaque[at+1:])
		if err1 != nil || err2 != nil || local != tt.decodedLocal || domain != tt.domain {
			t.Errorf("%s decodes to %q @ %q (%v, %v)", got, local, domain, err1, err2)
		}
	}
	for _, tt := range []struct {
		kind         address.Kind
		addr, source string
	}{
		{address.XMPP, "not an address", ""},
		{address.Mail, "サポート@contact.acme.test", ""},
		{address.XMPP, "support@contact.acme.test", "Bad Tag"},
		{"fax", "support@contact.acme.test", ""},
	} {
		if got, err := URI("public", tt.kind, tt.addr, tt.source); err == nil || !strings.Contains(err.Error(), "public") {
			t.Errorf("URI(%q, %q, %q) = %q, %v; want an error naming the network", tt.kind, tt.addr, tt.source, got, err)
		}
	}
}

// decode reads a QR code from an image as a phone would.
func decode(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_CHARACTER_SET: "UTF-8"}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return res.GetText()
}

var uris = []string{
	"xmpp:support+expo2026@contact.acme.test?message",
	"mailto:support+expo2026@contact.acme.test",
	"xmpp:%E3%82%B5%E3%83%9D%E3%83%BC%E3%83%88+expo2026@%E4%BE%8B%E3%81%88.%E3%83%86%E3%82%B9%E3%83%88?message",
	"xmpp:" + strings.Repeat("a", 300) + "@contact.acme.test?message",
}

func TestPNGRoundTrip(t *testing.T) {
	for _, u := range uris {
		for _, size := range []int{256, 512, 1} {
			b, err := PNG(u, size)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if w := img.Bounds().Dx(); w != img.Bounds().Dy() || size > 1 && w != size {
				t.Errorf("size %d gave %v", size, img.Bounds())
			}
			if size == 1 {
				continue // the smallest image, a pixel a module: too small to read reliably
			}
			if got := decode(t, img); got != u {
				t.Errorf("PNG of %q reads %q", u, got)
			}
		}
	}
	for _, size := range []int{0, -8, MaxPNG + 1} {
		if _, err := PNG(uris[0], size); err == nil {
			t.Errorf("size %d accepted", size)
		}
	}
	if _, err := PNG("", 256); err == nil {
		t.Error("empty URI accepted")
	}
	if _, err := PNG(strings.Repeat("x", 5000), 256); err == nil {
		t.Error("a URI too long for a QR code accepted")
	}
}

// svgModules reads the SVG back into its modules: the viewBox's size and
// the path's dark squares.
func svgModules(t *testing.T, b []byte) [][]bool {
	t.Helper()
	var doc struct {
		XMLName        xml.Name `xml:"svg"`
		ViewBox        string   `xml:"viewBox,attr"`
		ShapeRendering string   `xml:"shape-rendering,attr"`
		Rect           []struct {
			Width string `xml:"width,attr"`
			Fill  string `xml:"fill,attr"`
		} `xml:"rect"`
		Path []struct {
			D    string `xml:"d,attr"`
			Fill string `xml:"fill,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var n int
	if _, err := fmt.Sscanf(doc.ViewBox, "0 0 %d %d", &n, &n); err != nil || n < 21+8 {
		t.Fatalf("viewBox %q", doc.ViewBox)
	}
	if doc.ShapeRendering != "crispEdges" || len(doc.Path) != 1 || len(doc.Rect) != 1 || doc.Rect[0].Fill != "#fff" || doc.Path[0].Fill != "#000" {
		t.Fatalf("svg %+v", doc)
	}
	m := make([][]bool, n)
	for i := range m {
		m[i] = make([]bool, n)
	}
	re := regexp.MustCompile(`^M(\d+) (\d+)h(\d+)v1h-(\d+)z`)
	for d := doc.Path[0].D; d != ""; {
		g := re.FindStringSubmatch(d)
		if g == nil {
			t.Fatalf("path at %.40q", d)
		}
		x, _ := strconv.Atoi(g[1])
		y, _ := strconv.Atoi(g[2])
		w, _ := strconv.Atoi(g[3])
		if g[3] != g[4] || x+w > n || y >= n {
			t.Fatalf("segment %q", g[0])
		}
		for i := x; i < x+w; i++ {
			m[y][i] = true
		}
		d = d[len(g[0]):]
	}
	return m
}

func TestSVGRoundTrip(t *testing.T) {
	for _, u := range uris {
		b, err := SVG(u)
		if err != nil {
			t.Fatal(err)
		}
		m := svgModules(t, b)
		n := len(m)
		// A quiet zone of four modules all round.
		for i := 0; i < n; i++ {
			for j := 0; j < 4; j++ {
				if m[i][j] || m[j][i] || m[i][n-1-j] || m[n-1-j][i] {
					t.Fatalf("%s: dark module in the quiet zone", u)
				}
			}
		}
		// Rasterise, 6 pixels a module, and read it.
		const px = 6
		img := image.NewGray(image.Rect(0, 0, n*px, n*px))
		for y := range n * px {
			for x := range n * px {
				c := color.Gray{Y: 255}
				if m[y/px][x/px] {
					c = color.Gray{}
				}
				img.SetGray(x, y, c)
			}
		}
		if got := decode(t, img); got != u {
			t.Errorf("SVG of %q reads %q", u, got)
		}
	}
	if _, err := SVG(""); err == nil {
		t.Error("empty URI accepted")
	}
}

// TestContactPointQR: from a persona and a source to a code that a phone
// reads as the link, which the gateway reads as that persona and source.
func TestContactPointQR(t *testing.T) {
	u, err := URI("public", address.XMPP, "サポート@contact.acme.test", "expo2026")
	if err != nil {
		t.Fatal(err)
	}
	b, err := PNG(u, 384)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, img)
	p, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	jid, err := url.PathUnescape(p.Opaque)
	if err != nil {
		t.Fatal(err)
	}
	base, tag, found := routing.SplitSource(jid)
	if !found || base != "サポート@contact.acme.test" || tag != "expo2026" {
		t.Errorf("%q → %q: %q, %q, %v", got, jid, base, tag, found)
	}
}
