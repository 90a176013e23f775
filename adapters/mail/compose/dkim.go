package compose

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-msgauth/dkim"

	"github.com/kakehashi/kakehashi/adapters/mail/internal/hostname"
)

// ErrDKIMKey is wrapped by every error LoadDKIMKey returns about the
// content of a key file, as opposed to reading it.
var ErrDKIMKey = errors.New("compose: unusable DKIM key")

// DKIM signs outgoing mail for a domain. Domain should be the persona
// domain, or a parent of it, so the signature aligns with From for DMARC.
type DKIM struct {
	// Domain is the d= tag: where receivers look the key up.
	Domain string
	// Selector is the s= tag: the key's name under _domainkey.Domain.
	Selector string
	// Signer is an RSA or Ed25519 private key, see LoadDKIMKey.
	Signer crypto.Signer
}

// Sign returns raw with a DKIM-Signature field prepended: rsa-sha256 or
// ed25519-sha256 by the key, relaxed/relaxed canonicalization, which
// survives the re-folding and white-space changes relays make, and t= from
// the clock.
//
// It signs every field Build writes that raw has, and lists From, To,
// Subject, Date, Message-ID, In-Reply-To, References, Reply-To and Cc once
// more than they occur, so the signature breaks if any of them is added
// later. Lines fit 78 octets except h=, which msgauth cannot fold.
func (d *DKIM) Sign(raw []byte) ([]byte, error) {
	if d == nil || d.Signer == nil {
		return nil, errors.New("compose: DKIM: no signing key")
	}
	if why := hostname.Problem(d.Domain); why != "" {
		return nil, fmt.Errorf("compose: DKIM: domain %q %s", d.Domain, why)
	}
	if why := hostname.Problem(d.Selector); why != "" {
		return nil, fmt.Errorf("compose: DKIM: selector %q %s", d.Selector, why)
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, fmt.Errorf("compose: DKIM: reading the header: %w", err)
	}
	if !h.Has("From") {
		return nil, errors.New("compose: DKIM: message has no From field")
	}
	// Covered when present: all that Build writes.
	signed := []string{
		"From", "To", "Subject", "Date", "Message-ID", "In-Reply-To",
		"References", "MIME-Version", "Content-Type",
		"Content-Transfer-Encoding", "Auto-Submitted", "List-Unsubscribe",
	}
	// Listed once more than they occur, present or not, so the signature
	// breaks if anyone adds one (RFC 6376 section 8.15): a second From or
	// Subject shown instead of ours, a Reply-To or Cc that diverts the
	// answer, threading fields that graft the mail onto another thread,
	// an unsubscribe address of someone else's.
	sealed := []string{
		"From", "To", "Subject", "Date", "Message-ID", "In-Reply-To",
		"References", "Reply-To", "Cc", "List-Unsubscribe",
	}
	var keys []string
	for _, k := range signed {
		for range h.Values(k) {
			keys = append(keys, k)
		}
	}
	keys = append(keys, sealed...)
	opts := &dkim.SignOptions{
		Domain:                 d.Domain,
		Selector:               d.Selector,
		Signer:                 d.Signer,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             keys,
	}
	s, err := dkim.NewSigner(opts)
	if err != nil {
		return nil, fmt.Errorf("compose: DKIM: %w", err)
	}
	if _, err := s.Write(raw); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("compose: DKIM: %w", err)
	}
	if err := s.Close(); err != nil {
		return nil, fmt.Errorf("compose: DKIM: %w", err)
	}
	// msgauth folds without counting the field name, so lines reach 82
	// octets. Folding again at the same white space is safe: relaxed
	// canonicalization sees any run of it, folded or not, as one space.
	// The h= tag stays one long line (still far below RFC 5322's 998):
	// folding inside it would add white space the signature did not cover.
	name, value, _ := strings.Cut(s.Signature(), ":")
	var out bytes.Buffer
	out.Grow(len(raw) + len(value) + 64)
	headerWriter{b: &out}.field(name, strings.Fields(value)...)
	out.Write(raw)
	return out.Bytes(), nil
}

// DKIM RSA key bounds in bits. RFC 8301 section 3.2 forbids signing with
// less than 1024 and has verifiers reject it; Go's crypto/rsa refuses such
// keys too. Verifiers need only handle up to 4096, so a larger key would
// fail at some receivers without anyone noticing here.
const (
	minRSABits = 1024
	maxRSABits = 4096
)

// LoadDKIMKey reads a PEM private key for DKIM from path: RSA in PKCS#1
// ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE KEY"), or Ed25519 in PKCS#8.
// Errors name the file and the problem but never quote its content.
func LoadDKIMKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("compose: DKIM key: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %s: %s", ErrDKIMKey, path, fmt.Sprintf(format, args...))
	}
	rest := data
	var seen []string
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		seen = append(seen, block.Type)
		// Legacy OpenSSL encryption marks the block, not the type.
		if strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") || block.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, bad("the key is encrypted; store it unencrypted with restricted file permissions")
		}
		var key any
		switch block.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				// The parser's message describes the structure, not the
				// key, but say it plainly anyway.
				return nil, bad("malformed PKCS#1 RSA private key")
			}
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, bad("malformed or unsupported PKCS#8 private key")
			}
		case "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "DSA PRIVATE KEY":
			return nil, bad("unsupported key type %q: DKIM signs with RSA or Ed25519 only", block.Type)
		default:
			continue
		}
		return checkDKIMKey(key, bad)
	}
	if len(seen) == 0 {
		return nil, bad("not PEM")
	}
	return nil, bad("no private key among the PEM blocks %s", strings.Join(seen, ", "))
}

func checkDKIMKey(key any, bad func(string, ...any) error) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < minRSABits {
			return nil, bad("RSA key of %d bits is too short: DKIM requires at least %d (RFC 8301), 2048 recommended", bits, minRSABits)
		} else if bits > maxRSABits {
			return nil, bad("RSA key of %d bits is too long: receivers only have to verify up to %d (RFC 8301)", bits, maxRSABits)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, bad("unsupported key type %T: DKIM signs with RSA or Ed25519 only", key)
	}
}

// DKIMRecord returns the DNS TXT record that publishes pub for DKIM, to be
// placed at Selector._domainkey.Domain.
func DKIMRecord(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", fmt.Errorf("compose: DKIM record: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	default:
		return "", fmt.Errorf("compose: DKIM record: unsupported key type %T", pub)
	}
}
