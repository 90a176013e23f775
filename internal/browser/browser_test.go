package browser

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// site is a tiny site on loopback: a Japanese page with a form, the
// form's answer, and a page that sets a Secure, HttpOnly, SameSite=Strict
// cookie and one that shows whether it came back.
func site(t *testing.T) *httptest.Server {
	t.Helper()
	page := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="ja"><meta charset="utf-8"><title>テスト</title>
<body style="font-family: 'Noto Sans CJK JP', sans-serif; margin: 2em">%s</body></html>`, body)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		page(w, `<h1 id="h">顧客の引き継ぎ</h1>
<p id="al">`+html.EscapeString(r.Header.Get("Accept-Language"))+`</p>
<form method="post" action="/submit"><label>引き継ぎ先 <input name="q" id="q"></label> <button id="go">プレビュー</button></form>`)
	})
	mux.HandleFunc("POST /submit", func(w http.ResponseWriter, r *http.Request) {
		page(w, `<p id="out">受け取りました: `+html.EscapeString(r.FormValue("q"))+`</p>`)
	})
	mux.HandleFunc("GET /tall", func(w http.ResponseWriter, r *http.Request) {
		page(w, `<div style="height: 3000px; background: linear-gradient(#fff, #08c)">縦長のページ</div>`)
	})
	mux.HandleFunc("GET /set", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s3cr3t", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
		page(w, `<p id="set">set</p>`)
	})
	mux.HandleFunc("GET /check", func(w http.ResponseWriter, r *http.Request) {
		got := "none"
		if c, err := r.Cookie("sid"); err == nil {
			got = c.Value
		}
		page(w, `<p id="cookie">`+html.EscapeString(got)+`</p>`)
	})
	srv := httptest.NewUnstartedServer(mux)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// TestFormInJapanese: a page in Japanese is read, a form filled in with
// Japanese text and sent, and the answer read back; a screenshot of it
// is a PNG of the window's width.
func TestFormInJapanese(t *testing.T) {
	srv := site(t)
	ctx := NewWithLang(t, "ja")
	do(t, ctx, chromedp.Navigate(srv.URL+"/"))
	if got := text(t, ctx, "#h"); got != "顧客の引き継ぎ" {
		t.Errorf("heading %q", got)
	}
	if got := text(t, ctx, "#al"); !strings.HasPrefix(got, "ja") {
		t.Errorf("Accept-Language %q", got)
	}
	if got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.language`)); err != nil || !strings.HasPrefix(got, "ja") {
		t.Errorf("navigator.language %q, %v", got, err)
	}
	do(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#q"), "佐藤 花子さん"),
		chromedp.Click(chromedp.CSS("#go")),
		chromedp.WaitVisible(chromedp.CSS("#out")),
	)
	if got := text(t, ctx, "#out"); got != "受け取りました: 佐藤 花子さん" {
		t.Errorf("answer %q", got)
	}

	path := filepath.Join(t.TempDir(), "form.png")
	if err := Screenshot(ctx, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != Width || b.Dy() != Height {
		t.Errorf("screenshot %v, want %dx%d", b, Width, Height)
	}
	if got, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[innerWidth, innerHeight]`)); err != nil || len(got) != 2 || got[0] != Width || got[1] != Height {
		t.Errorf("viewport %v, %v", got, err)
	}

	// A page taller than the window is taken whole.
	do(t, ctx, chromedp.Navigate(srv.URL+"/tall"))
	if err := Screenshot(ctx, path); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if img, err = png.Decode(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	} else if b := img.Bounds(); b.Dx() != Width || b.Dy() < 3000 {
		t.Errorf("screenshot of a tall page %v", b)
	}
	do(t, ctx, chromedp.Navigate(srv.URL+"/"))
	Shot(t, ctx, "browser-form-ja.png")
}

// TestEnglish: New is English.
func TestEnglish(t *testing.T) {
	srv := site(t)
	ctx := New(t)
	do(t, ctx, chromedp.Navigate(srv.URL+"/"))
	if got := text(t, ctx, "#al"); !strings.HasPrefix(got, "en") {
		t.Errorf("Accept-Language %q", got)
	}
}

// TestSecureCookieOnLoopback answers whether the web console can mark its
// session cookie Secure while it is served over plain http on loopback:
// Chromium counts http://127.0.0.1 and http://localhost as secure
// contexts, keeps a Secure, HttpOnly, SameSite=Strict cookie they set
// and sends it back, and keeps it from scripts.
func TestSecureCookieOnLoopback(t *testing.T) {
	srv := site(t)
	ctx := New(t)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	for _, host := range []string{"127.0.0.1", "localhost"} {
		base := fmt.Sprintf("http://%s:%d", host, port)
		do(t, ctx, chromedp.Navigate(base+"/set"), chromedp.Navigate(base+"/check"))
		if got := text(t, ctx, "#cookie"); got != "s3cr3t" {
			t.Errorf("%s: the Secure cookie came back as %q", host, got)
		}
		if got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`)); err != nil || got != "" {
			t.Errorf("%s: document.cookie %q, %v (HttpOnly)", host, got, err)
		}
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.isSecureContext`)); err != nil || !ok {
			t.Errorf("%s: isSecureContext %v, %v", host, ok, err)
		}
		cookies, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (*network.GetCookiesResult, error) {
			r, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
			return &r, err
		})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, c := range cookies.Cookies {
			if c.Name == "sid" {
				found = true
				if !c.Secure || !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
					t.Errorf("%s: stored as %+v", host, c)
				}
			}
		}
		if !found {
			t.Errorf("%s: no cookie stored: %+v", host, cookies.Cookies)
		}
	}
}

func TestPath(t *testing.T) {
	t.Setenv(EnvChromium, "/nonexistent/chromium")
	if _, err := Path(); err == nil || !strings.Contains(err.Error(), EnvChromium) {
		t.Errorf("a missing %s: %v", EnvChromium, err)
	}
}

func TestShotWithoutFolder(t *testing.T) {
	t.Setenv(EnvScreenshots, "")
	if got := Shot(t, nil, "x.png"); got != "" {
		t.Errorf("wrote %q", got)
	}
}
