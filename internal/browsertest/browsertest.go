// Package browsertest runs a real headless Chromium (Debian's chromium,
// through chromedp) for the dashboard tests, and records what a page did:
// the URLs it requested and the errors it logged. Only tests import it.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Chromium finds Debian's chromium. Without it the test fails under CI=true
// (a missing tool is a failure there) and is skipped otherwise.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "chromium is not installed; install it with: apt-get install -y chromium (make deps does)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// ArtifactsDir is where screenshots go: $FAILOVER_ARTIFACTS, or a temporary
// directory.
func ArtifactsDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("FAILOVER_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Launch starts a headless Chromium with a fresh profile and returns the
// context of its first tab; parent bounds it, and the test's end stops it.
// The flags keep it off the network this machine does not have.
func Launch(t testing.TB, parent context.Context) context.Context {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent,
		chromedp.ExecPath(Chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1100),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// Page is a tab and what it did.
type Page struct {
	Ctx       context.Context
	Artifacts string

	mu       sync.Mutex
	requests []string
	problems []string
}

// Watch records the requests and errors of the tab ctx. Console errors,
// exceptions and non-network log errors (a CSP violation) are problems; a
// 4xx that a page asked for on purpose is not.
func Watch(t testing.TB, ctx context.Context, artifacts string) *Page {
	t.Helper()
	p := &Page{Ctx: ctx, Artifacts: artifacts}
	err := chromedp.Listen(ctx, func(ev any) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			p.requests = append(p.requests, ev.Request.URL)
		case *runtime.EventExceptionThrown:
			desc := ""
			if ev.ExceptionDetails.Exception != nil {
				desc = ev.ExceptionDetails.Exception.Description
			}
			p.problems = append(p.problems, "exception: "+ev.ExceptionDetails.Text+" "+desc)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				p.problems = append(p.problems, "console.error")
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError && ev.Entry.Source != log.EntrySourceNetwork {
				p.problems = append(p.problems, fmt.Sprintf("log %s: %s", ev.Entry.Source, ev.Entry.Text))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Problems returns the errors the page logged so far.
func (p *Page) Problems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.problems)
}

// CheckClean fails the test when the page loaded anything from outside
// origin, or logged an error.
func (p *Page) CheckClean(t testing.TB, origin string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.requests) == 0 {
		t.Error("no requests were seen")
	}
	for _, u := range p.requests {
		if !strings.HasPrefix(u, origin+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page requested %s, outside %s", u, origin)
		}
	}
	for _, pr := range p.problems {
		t.Errorf("page problem: %s", pr)
	}
}

// WaitFor polls a JavaScript predicate until it is true or d passes, and
// returns how long it took. On a timeout it saves a screenshot named after
// what and fails with the page's text.
func (p *Page) WaitFor(t testing.TB, what string, d time.Duration, predicate string) time.Duration {
	t.Helper()
	start := time.Now()
	_, err := chromedp.Run(p.Ctx, chromedp.Poll[bool](predicate,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(d)))
	if err != nil {
		text, _ := chromedp.Run(p.Ctx, chromedp.Evaluate[string](`document.body.innerText`))
		p.Screenshot(t, "failure-"+strings.ReplaceAll(what, " ", "-")+".png")
		t.Fatalf("waiting %s for %s: %v\npage text:\n%s\nproblems: %v", d, what, err, text, p.Problems())
	}
	return time.Since(start)
}

// Screenshot saves a full-page PNG under Artifacts and returns its path.
func (p *Page) Screenshot(t testing.TB, name string) string {
	t.Helper()
	png, err := chromedp.Run(p.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return ""
	}
	path := filepath.Join(p.Artifacts, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("screenshot: %v", err)
		return ""
	}
	t.Logf("screenshot: %s", path)
	return path
}
