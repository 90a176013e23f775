package compose_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/kakehashi/kakehashi/adapters/mail/compose"
)

// rsaKey is generated once: 2048-bit generation is slow under -race.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func ed25519Key(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// verify checks raw with msgauth, serving the public key of signer for
// sel._domainkey.acme.test and nothing else.
func verify(t *testing.T, raw []byte, signer crypto.Signer) *dkim.Verification {
	t.Helper()
	record, err := compose.DKIMRecord(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	opts := &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if name != "sel._domainkey.acme.test" {
				return nil, errors.New("no such record: " + name)
			}
			return []string{record}, nil
		},
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), opts)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(vs) != 1 {
		t.Fatalf("%d signatures, want 1", len(vs))
	}
	return vs[0]
}

func TestDKIMSignVerify(t *testing.T) {
	keys := map[string]crypto.Signer{
		"rsa":     rsaKey(),
		"ed25519": ed25519Key(t),
	}
	for name, key := range keys {
		t.Run(name, func(t *testing.T) {
			d := &compose.DKIM{Domain: "acme.test", Selector: "sel", Signer: key}
			m := base()
			m.Subject = "お見積もりの件"
			m.InReplyTo = "x1@mail.test"
			m.References = []string{"x0@mail.test", "x1@mail.test"}
			m.AutoSubmitted = "auto-replied"
			m.Text = strings.Repeat("いつもお世話になっております。", 10)
			raw := build(t, m)
			signed, err := d.Sign(raw)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if !bytes.HasPrefix(signed, []byte("DKIM-Signature: ")) || !bytes.HasSuffix(signed, raw) {
				t.Fatalf("signed message is not the signature followed by the message")
			}
			// msgauth cannot fold its h= tag; every other line must fit.
			var short []string
			for _, l := range strings.Split(string(signed), "\r\n") {
				if !strings.HasPrefix(l, " h=") {
					short = append(short, l)
				} else if len(l) > 998 {
					t.Errorf("h= line is %d octets", len(l))
				}
			}
			checkLines(t, []byte(strings.Join(short, "\r\n")))

			v := verify(t, signed, key)
			if v.Err != nil {
				t.Fatalf("verification failed: %v", v.Err)
			}
			if v.Domain != "acme.test" {
				t.Errorf("d= %q", v.Domain)
			}
			var got []string
			for _, k := range v.HeaderKeys {
				got = append(got, strings.ToLower(k))
			}
			count := func(k string) int {
				n := 0
				for _, g := range got {
					if g == k {
						n++
					}
				}
				return n
			}
			for _, k := range []string{"from", "to", "subject", "date", "message-id", "in-reply-to", "references"} {
				if count(k) != 2 {
					t.Errorf("%s signed %d times, want 2 (present and sealed)", k, count(k))
				}
			}
			for _, k := range []string{"mime-version", "content-type", "content-transfer-encoding", "auto-submitted"} {
				if count(k) != 1 {
					t.Errorf("%s signed %d times, want 1", k, count(k))
				}
			}
			for _, k := range []string{"reply-to", "cc", "list-unsubscribe"} {
				if count(k) != 1 {
					t.Errorf("absent %s sealed %d times, want 1", k, count(k))
				}
			}
			if len(got) != 21 {
				t.Errorf("h= has %d entries: %v", len(got), got)
			}
			sig, _, _ := bytes.Cut(signed, []byte("\r\n\r\n"))
			for _, tag := range []string{"a=" + name + "-sha256", "c=relaxed/relaxed"} {
				if !bytes.Contains(sig, []byte(tag)) {
					t.Errorf("signature lacks %q", tag)
				}
			}

			// Relays may re-fold and re-space; relaxed must survive it.
			refolded := bytes.Replace(signed, []byte("Subject: "), []byte("Subject:    "), 1)
			if v := verify(t, refolded, key); v.Err != nil {
				t.Errorf("white space change broke the signature: %v", v.Err)
			}

			tampered := map[string][]byte{
				"subject changed":     bytes.Replace(signed, []byte("Subject: =?UTF-8?B?"), []byte("Subject: =?UTF-8?B?X"), 1),
				"body changed":        append(bytes.Clone(signed), "P.S. send money\r\n"...),
				"reply-to added":      bytes.Replace(signed, []byte("\r\nDate: "), []byte("\r\nReply-To: eve@evil.test\r\nDate: "), 1),
				"cc added":            append([]byte("Cc: eve@evil.test\r\n"), signed...),
				"second from on top":  append([]byte("From: Boss <ceo@acme.test>\r\n"), signed...),
				"second subject":      bytes.Replace(signed, []byte("\r\nMIME-Version: "), []byte("\r\nSubject: urgent\r\nMIME-Version: "), 1),
				"references replaced": bytes.Replace(signed, []byte("<x0@mail.test>"), []byte("<y0@mail.test>"), 1),
			}
			for what, msg := range tampered {
				if bytes.Equal(msg, signed) {
					t.Fatalf("%s: tampering did nothing", what)
				}
				if v := verify(t, msg, key); v.Err == nil {
					t.Errorf("%s: signature still verifies", what)
				}
			}
		})
	}
}

func TestDKIMSignErrors(t *testing.T) {
	raw := build(t, base())
	key := ed25519Key(t)
	tests := []struct {
		name string
		d    *compose.DKIM
		raw  []byte
	}{
		{"nil", nil, raw},
		{"no key", &compose.DKIM{Domain: "acme.test", Selector: "sel"}, raw},
		{"no domain", &compose.DKIM{Selector: "sel", Signer: key}, raw},
		{"no selector", &compose.DKIM{Domain: "acme.test", Signer: key}, raw},
		{"bad selector", &compose.DKIM{Domain: "acme.test", Selector: "a b", Signer: key}, raw},
		{"no from", &compose.DKIM{Domain: "acme.test", Selector: "sel", Signer: key}, []byte("To: bob@mail.test\r\n\r\nhi\r\n")},
		{"no header end", &compose.DKIM{Domain: "acme.test", Selector: "sel", Signer: key}, []byte("From: a@b")},
		{"ecdsa key", &compose.DKIM{Domain: "acme.test", Selector: "sel", Signer: ecdsaKey(t)}, raw},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if out, err := tt.d.Sign(tt.raw); err == nil {
				t.Errorf("Sign = %q, want an error", out)
			}
		})
	}
}

func ecdsaKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// shortRSAKey is a 512-bit key, which crypto/rsa no longer generates.
const shortRSAKey = `-----BEGIN RSA PRIVATE KEY-----
MIIBOQIBAAJBAK7RHfra6PPIgXwFyS5eFdy1EXXwGxtxqHyFUS7KRtlQQti8KU+b
/PxbZ0HMCbrOSVf78n1RgJqNuKm+LFQzvAkCAwEAAQJABzA+aDmu9VJP/8Bxp7xS
8BDKg2Pgi3n6nIczYcYL0IT+xl7+bhsZOnknCMCESpZv32olHu17mMi905IpNWI3
QQIhAMA9EaF/qRIKTrk9aoQxYjYQt1iT5hWTuEI7Uokmx6TBAiEA6MzG3q0GChXQ
jBC/zNgv40W/EgCi1WJORifvbbDhAUkCIGZxJLAXQ5WlgIYeQGDpoBiHl+zQA9CD
w7Enw7fqvoEBAiBR9MWOXxthMYzZwovDcdhqCoPZsp+gv5sO18BSvZJ5AQIgBoVU
JLixonSI+3xAfH5VOly/s8Qjuu9cTZDZHvPJyEE=
-----END RSA PRIVATE KEY-----
`

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func mustPKCS8(t testing.TB, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestLoadDKIMKey(t *testing.T) {
	rk := rsaKey()
	ek := ed25519Key(t)
	ecKey := ecdsaKey(t)
	ecDER, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(rk.Public())
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk))

	good := []struct {
		name, content string
		want          crypto.PublicKey
	}{
		{"pkcs1 rsa", pkcs1, rk.Public()},
		{"pkcs8 rsa", pemOf("PRIVATE KEY", mustPKCS8(t, rk)), rk.Public()},
		{"pkcs8 ed25519", pemOf("PRIVATE KEY", mustPKCS8(t, ek)), ek.Public()},
		{"text and certificate before the key", "a comment\n" + pemOf("CERTIFICATE", []byte{1, 2, 3}) + pkcs1, rk.Public()},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dkim.pem")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := compose.LoadDKIMKey(path)
			if err != nil {
				t.Fatalf("LoadDKIMKey: %v", err)
			}
			type equaler interface{ Equal(crypto.PublicKey) bool }
			if !s.Public().(equaler).Equal(tt.want) {
				t.Errorf("loaded a different key")
			}
			// The loaded key must sign something msgauth verifies.
			d := &compose.DKIM{Domain: "acme.test", Selector: "sel", Signer: s}
			signed, err := d.Sign(build(t, base()))
			if err != nil {
				t.Fatal(err)
			}
			if v := verify(t, signed, s); v.Err != nil {
				t.Errorf("verification: %v", v.Err)
			}
		})
	}

	encrypted := "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\n" +
		strings.SplitN(pkcs1, "\n", 2)[1]
	bad := []struct {
		name, content, want string
		sentinel            bool
	}{
		{"empty", "", "not PEM", true},
		{"not pem", "MIIBOQIBAAJBAK7RHfra6PPIgXwFyS5eFdy1EXXwGxtxqHyFUS7KRtlQQ", "not PEM", true},
		{"der instead of pem", string(x509.MarshalPKCS1PrivateKey(rk)), "not PEM", true},
		{"public key only", pemOf("PUBLIC KEY", pubDER), "no private key among the PEM blocks PUBLIC KEY", true},
		{"sec1 ec key", pemOf("EC PRIVATE KEY", ecDER), "unsupported key type", true},
		{"pkcs8 ec key", pemOf("PRIVATE KEY", mustPKCS8(t, ecKey)), "unsupported key type *ecdsa.PrivateKey", true},
		{"encrypted pkcs8", pemOf("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}), "encrypted", true},
		{"encrypted pkcs1", encrypted, "encrypted", true},
		{"malformed pkcs1", pemOf("RSA PRIVATE KEY", []byte("garbage")), "malformed PKCS#1", true},
		{"malformed pkcs8", pemOf("PRIVATE KEY", []byte("garbage")), "PKCS#8", true},
		{"pkcs8 in pkcs1 block", pemOf("RSA PRIVATE KEY", mustPKCS8(t, rk)), "malformed PKCS#1", true},
		{"512-bit rsa", shortRSAKey, "too short", true},
		{"unreadable", "", "no such file", false},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dkim.pem")
			if tt.name != "unreadable" {
				if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s, err := compose.LoadDKIMKey(path)
			if err == nil {
				t.Fatalf("LoadDKIMKey = %T, want an error", s)
			}
			msg := err.Error()
			if !strings.Contains(msg, path) {
				t.Errorf("error %q does not name the file", msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not say %q", msg, tt.want)
			}
			if errors.Is(err, compose.ErrDKIMKey) != tt.sentinel {
				t.Errorf("errors.Is(err, ErrDKIMKey) = %v", !tt.sentinel)
			}
			if !tt.sentinel && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("read error not wrapped: %v", err)
			}
			// No run of key material may appear in the message.
			for _, line := range strings.Split(tt.content, "\n") {
				for i := 0; i+12 <= len(line); i++ {
					if !strings.HasPrefix(line, "-----") && strings.Contains(msg, line[i:i+12]) {
						t.Fatalf("error %q quotes the file", msg)
					}
				}
			}
		})
	}
}

func TestDKIMRecord(t *testing.T) {
	ek := ed25519Key(t)
	rec, err := compose.DKIMRecord(ek.Public())
	if err != nil || !strings.HasPrefix(rec, "v=DKIM1; k=ed25519; p=") {
		t.Errorf("ed25519 record = %q, %v", rec, err)
	}
	rec, err = compose.DKIMRecord(rsaKey().Public())
	if err != nil || !strings.HasPrefix(rec, "v=DKIM1; k=rsa; p=MII") {
		t.Errorf("rsa record = %q, %v", rec, err)
	}
	if _, err := compose.DKIMRecord(ecdsaKey(t).Public()); err == nil {
		t.Errorf("ecdsa record accepted")
	}
}
