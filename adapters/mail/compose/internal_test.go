package compose

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"mime/quotedprintable"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestWriteQP(t *testing.T) {
	tests := [][]string{
		{"plain"},
		{strings.Repeat("あ", 60)},
		{strings.Repeat("x", 74) + "あいう"},
		{strings.Repeat("😀", 40)},
		{"trailing space ", "trailing tab\t", " ", ""},
		{strings.Repeat("a ", 60)},
		{"From here", "Fromage", "=", "=3D"},
		{strings.Repeat("=", 100)},
	}
	for _, lines := range tests {
		t.Run(fmt.Sprintf("%.20q", lines[0]), func(t *testing.T) {
			var b bytes.Buffer
			writeQP(&b, lines)
			enc := b.String()
			for _, l := range strings.Split(strings.TrimSuffix(enc, "\r\n"), "\r\n") {
				if len(l) > qpMax {
					t.Errorf("encoded line of %d octets: %q", len(l), l)
				}
				if strings.HasSuffix(l, " ") || strings.HasSuffix(l, "\t") {
					t.Errorf("encoded line ends in white space: %q", l)
				}
				if strings.HasPrefix(l, "From ") {
					t.Errorf("encoded line starts with From: %q", l)
				}
				// Each physical line decodes to whole characters.
				dec, err := decodeQP(strings.TrimSuffix(l, "="))
				if err != nil || !utf8.ValidString(dec) {
					t.Errorf("line %q splits a character (%v)", l, err)
				}
			}
			dec, err := decodeQP(enc)
			want := strings.Join(lines, "\r\n") + "\r\n"
			if err != nil || dec != want {
				t.Errorf("decoded %q, %v; want %q", dec, err, want)
			}
		})
	}
}

func decodeQP(s string) (string, error) {
	var out bytes.Buffer
	_, err := out.ReadFrom(quotedprintable.NewReader(strings.NewReader(s)))
	return out.String(), err
}

func TestEncodedWords(t *testing.T) {
	for _, s := range []string{"a", "日本語", strings.Repeat("日本語", 40), strings.Repeat("😀", 30), strings.Repeat("é", 80)} {
		for _, room := range []int{0, 10, 20, 69, 75, 200} {
			words := encodedWords(s, room)
			var joined strings.Builder
			for i, w := range words {
				limit := min(room, ewMax)
				if i > 0 || ewBytes(room) < utf8.UTFMax {
					limit = ewMax
				}
				if len(w) > limit {
					t.Errorf("room %d: word %d is %d long: %s", room, i, len(w), w)
				}
				var dec string
				if _, err := fmt.Sscanf(w, "=?UTF-8?B?%s", &dec); err != nil {
					t.Fatal(err)
				}
				raw, err := b64(strings.TrimSuffix(dec, "?="))
				if err != nil || !utf8.ValidString(raw) {
					t.Errorf("word %s is not whole characters", w)
				}
				joined.WriteString(raw)
			}
			if joined.String() != s {
				t.Errorf("room %d: words decode to %q", room, joined.String())
			}
		}
	}
}

func TestCheckDKIMKeySize(t *testing.T) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrDKIMKey, fmt.Sprintf(format, args...))
	}
	for bits, ok := range map[int]bool{512: false, 1023: false, 1024: true, 2048: true, 4096: true, 4097: false, 8192: false} {
		n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
		_, err := checkDKIMKey(&rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: 65537}}, bad)
		if (err == nil) != ok {
			t.Errorf("%d bits: %v", bits, err)
		}
		if err != nil && !errors.Is(err, ErrDKIMKey) {
			t.Errorf("%d bits: %v does not wrap ErrDKIMKey", bits, err)
		}
	}
}

func b64(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	return string(b), err
}
