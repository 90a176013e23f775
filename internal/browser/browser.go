// Package browser drives Debian's Chromium, headless, from tests through
// the DevTools protocol (chromedp): for tests of the web console that
// click through its pages as a person would, and for the screenshots in
// the README.
//
// Chromium is /usr/bin/chromium (Debian's package "chromium"), else
// "chromium" on PATH, or the program named by KAKEHASHI_CHROMIUM. Without
// it a test is skipped, or fails under CI=true, where .ci/run installs
// it. Each New starts a browser of its own with a fresh profile in a
// temporary folder, which are gone when the test ends.
package browser

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Window is the size of the browser's window, in CSS pixels.
const (
	Width  = 1280
	Height = 900
)

// EnvChromium names the Chromium to use instead of the one found;
// EnvScreenshots names the folder that Shot writes screenshots to.
const (
	EnvChromium    = "KAKEHASHI_CHROMIUM"
	EnvScreenshots = "KAKEHASHI_SCREENSHOTS"
)

// Path finds Chromium: the program named by KAKEHASHI_CHROMIUM when set
// (an error if it cannot be run), else /usr/bin/chromium, else
// "chromium" on PATH.
func Path() (string, error) {
	if p := os.Getenv(EnvChromium); p != "" {
		found, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvChromium, p, err)
		}
		return found, nil
	}
	if found, err := exec.LookPath("/usr/bin/chromium"); err == nil {
		return found, nil
	}
	found, err := exec.LookPath("chromium")
	if err != nil {
		return "", errors.New("no Chromium: install Debian's package chromium (apt-get install chromium fonts-noto-cjk) or set " + EnvChromium)
	}
	return found, nil
}

// Flags are the command-line flags Chromium is started with, besides its
// profile folder, the window's size and the language.
var Flags = []string{
	"--headless",
	"--no-sandbox", // tests run as root in CI, where the sandbox cannot start
	"--disable-gpu",
	"--disable-quic",
	"--no-first-run",
	"--no-default-browser-check",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	"--disable-dev-shm-usage",
	"--hide-scrollbars",
	"--mute-audio",
	"--password-store=basic",
	"--use-mock-keychain",
}

// New starts Chromium for the test, in English, and returns the context
// of its first tab for chromedp.Run. The browser is closed and its
// profile removed when the test ends. Without Chromium the test is
// skipped, or fails under CI=true.
func New(t testing.TB) context.Context { return NewWithLang(t, "en") }

// NewWithLang is New with the browser's language lang (such as "ja"):
// its UI and JavaScript locale (--lang) and the Accept-Language header
// it sends.
func NewWithLang(t testing.TB, lang string) context.Context {
	t.Helper()
	exe, err := Path()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser: %v", err)
		}
		t.Skipf("browser: %v", err)
	}
	profile, err := os.MkdirTemp("", "kakehashi-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(Width, Height),
		chromedp.Flag("lang", lang),
		chromedp.Flag("accept-lang", lang),
		chromedp.Env("LANGUAGE=" + lang),
	}
	for _, f := range Flags {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if hasValue {
			opts = append(opts, chromedp.Flag(name, value))
		} else {
			opts = append(opts, chromedp.Flag(name, true))
		}
	}

	parent := context.Background()
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, ok := d.Deadline(); ok {
			var cancel context.CancelFunc
			parent, cancel = context.WithDeadline(parent, deadline.Add(-5*time.Second))
			t.Cleanup(cancel)
		}
	}
	log := &logger{t: t}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(log.logf))
	t.Cleanup(func() {
		log.stop()
		cancelTab()   // closes the browser
		cancelAlloc() // and waits for its process to end
		removeAll(t, profile)
	})
	// Start it now, so that a browser that cannot start says so here.
	err = chromedp.Do(ctx,
		Call(network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": lang}}),
		Call(emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: lang}),
		// The window's decorations take some of its height; the page gets
		// all of it, for screenshots of the same size anywhere.
		Call(emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: Width, Height: Height, DeviceScaleFactor: 1}),
	)
	if err != nil {
		t.Fatalf("browser: starting %s: %v", exe, err)
	}
	return ctx
}

// Call is an action that sends a DevTools protocol command without a
// result (such as network.SetExtraHTTPHeaders) to the tab.
func Call[P any](c cdp.Command[P, cdp.Empty], params P) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, c, params)
		return err
	})
}

// logger passes chromedp's errors to the test's log until the test ends,
// after which logging would panic.
type logger struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (l *logger) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Logf("chromedp: "+format, args...)
	}
}

func (l *logger) stop() {
	l.mu.Lock()
	l.done = true
	l.mu.Unlock()
}

// removeAll removes the profile, giving Chromium's helper processes a
// moment to let go of it.
func removeAll(t testing.TB, dir string) {
	var err error
	for range 20 {
		if err = os.RemoveAll(dir); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("browser: removing the profile: %v", err)
}

// Screenshot writes a PNG of the whole page in the tab of ctx to path: the
// window's width and height, or more where the page is larger.
func Screenshot(ctx context.Context, path string) error {
	png, err := chromedp.Run(ctx, fullPage)
	if err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	return nil
}

// fullPage captures the page as PNG, as far as its content goes.
func fullPage(ctx context.Context, t *chromedp.Target) ([]byte, error) {
	m, err := cdp.Call(ctx, t, page.GetLayoutMetrics, cdp.Empty{})
	if err != nil {
		return nil, err
	}
	w, h := float64(Width), float64(Height)
	if c := m.CSSContentSize; c != nil {
		w, h = max(w, math.Ceil(c.Width)), max(h, math.Ceil(c.Height))
	}
	yes := true
	r, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{
		Format:                page.CaptureScreenshotFormatPng,
		Clip:                  &page.Viewport{Width: w, Height: h, Scale: 1},
		FromSurface:           &yes,
		CaptureBeyondViewport: &yes,
	})
	if err != nil {
		return nil, err
	}
	return r.Data, nil
}

// Shot writes a screenshot of the whole page to name (such as
// "overview-ja.png") in the folder named by KAKEHASHI_SCREENSHOTS, for
// the README; without it, it does nothing. It returns the file written,
// or "".
func Shot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	dir := os.Getenv(EnvScreenshots)
	if dir == "" {
		return ""
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, filepath.Base(name))
	if err := Screenshot(ctx, path); err != nil {
		t.Fatal(err)
	}
	t.Logf("browser: screenshot %s", path)
	return path
}

// Do runs steps in the tab of ctx within 30 seconds, failing t on an
// error with the page's address and the start of its text, which is
// what a failed step on the wrong page needs to be understood.
func Do(t testing.TB, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("at %s: %v\n%.3000s", loc, err, body)
	}
}

// Eval evaluates the JavaScript expression js in the tab of ctx within
// 30 seconds, failing t on an error.
func Eval[T any](t testing.TB, ctx context.Context, js string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](js, opts...))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// Text is the visible text of the first element sel (a CSS selector)
// matches, trimmed; "" when none does.
func Text(t testing.TB, ctx context.Context, sel string) string {
	t.Helper()
	return strings.TrimSpace(Eval[string](t, ctx, fmt.Sprintf(`(document.querySelector(%q) || {innerText: ""}).innerText`, sel)))
}
