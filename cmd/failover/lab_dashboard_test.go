package main

// The dashboard against the real lab, in a real headless Chromium: the page
// follows a failover and the ramp back over its live stream, without a
// reload. Like the other lab tests it needs the lab's fixed addresses, so
// it does not run in parallel.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/failoverhq/failover/internal/browsertest"
)

// dashTab is a headless Chromium tab (package browsertest) on the lab's
// dashboard.
type dashTab struct{ *browsertest.Page }

// newDashTab starts a headless Chromium with a fresh profile that records
// what its tab does; ctx bounds everything the tab does.
func newDashTab(t *testing.T, ctx context.Context) *dashTab {
	t.Helper()
	tab := browsertest.Launch(t, ctx)
	return &dashTab{browsertest.Watch(t, tab, browsertest.ArtifactsDir(t))}
}

func (b *dashTab) eval(t *testing.T, expr string, out any) {
	t.Helper()
	s, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`JSON.stringify(`+expr+`)`))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	if err := json.Unmarshal([]byte(s), out); err != nil {
		t.Fatalf("evaluate %s: %v (%s)", expr, err, s)
	}
}

// dashJS quotes s as a JavaScript string.
func dashJS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// dashText is a predicate: the text of selector is want.
func dashText(selector, want string) string {
	return fmt.Sprintf(`(document.querySelector(%s) || {}).textContent === %s`, dashJS(selector), dashJS(want))
}

func dashAll(preds ...string) string { return "(" + strings.Join(preds, ") && (") + ")" }

// dashRecorder is installed in the page: it notes every distinct
// (state, primary weight) the www card shows, as the stream renders it.
const dashRecorder = `(() => {
  const card = document.querySelector('[data-service="www"]');
  window.__seen = [];
  const note = () => {
    const st = (card.querySelector('.state') || {}).textContent || '';
    const w = (card.querySelector('[data-weight-target="primary"]') || {}).textContent || '';
    const last = window.__seen[window.__seen.length - 1];
    if (!last || last.state !== st || last.primary !== w) window.__seen.push({state: st, primary: w});
  };
  note();
  new MutationObserver(note).observe(card, {childList: true, subtree: true, characterData: true});
  window.__notReloaded = true;
  return true;
})()`

type dashSeen struct {
	State   string `json:"state"`
	Primary string `json:"primary"`
}

// TestLabDashboard opens the real lab's dashboard in headless Chromium,
// faults the primary through the CLI, and checks that the page, without a
// reload, shows the backup taking all the weight with the primary's matrix
// cells refused; then clears the fault and checks that the page follows
// the ramp back to the primary.
func TestLabDashboard(t *testing.T) {
	lp := startLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	b := newDashTab(t, ctx)
	origin := "http://" + lp.http
	const www = `[data-service="www"] `
	vantages := []string{"lab-a", "lab-b", "lab-c"}

	// 1. The page shows www healthy on the primary.
	if err := chromedp.Do(b.Ctx, chromedp.Navigate(origin+"/")); err != nil {
		t.Fatalf("load %s: %v", origin, err)
	}
	healthy := []string{
		dashText(www+".state", "healthy"),
		dashText(www+`[data-weight-target="primary"]`, "100"),
		dashText(www+`[data-weight-target="backup"]`, "0"),
		dashText(www+`[data-weight-target="origin"]`, "0"),
		`document.querySelector('#conn').dataset.conn === 'live'`,
	}
	for _, v := range vantages {
		healthy = append(healthy, fmt.Sprintf(`(document.querySelector(%s) || {dataset: {}}).dataset.class === 'ok'`,
			dashJS(www+`[data-cell="primary/`+v+`"]`)))
	}
	took := b.WaitFor(t, "the healthy lab", 30*time.Second, dashAll(healthy...))
	t.Logf("page shows www healthy on primary 100 after %s", took.Round(10*time.Millisecond))
	if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](dashRecorder)); err != nil {
		t.Fatalf("install the recorder: %v", err)
	}

	// 2. Fault the primary for every vantage: the page follows the stream
	// to the backup, and the matrix shows the primary refused.
	start := time.Now()
	lp.cli(t, "lab", "fault", "primary", "down")
	failed := []string{
		dashText(www+".state", "failed_over"),
		dashText(www+`[data-weight-target="primary"]`, "0"),
		dashText(www+`[data-weight-target="backup"]`, "100"),
		dashText(www+`[data-weight-target="origin"]`, "0"),
		`window.__notReloaded === true`,
	}
	for _, v := range vantages {
		failed = append(failed, fmt.Sprintf(`(() => { const c = document.querySelector(%s);
			return !!c && c.classList.contains('fail') && c.dataset.class === 'refused'; })()`,
			dashJS(www+`[data-cell="primary/`+v+`"]`)))
	}
	// fall × interval + warm-up max_wait + 1 s, with room for the stream.
	b.WaitFor(t, "the failover", 20*time.Second, dashAll(failed...))
	t.Logf("fault to page showing backup 100, failed_over, primary refused: %s", time.Since(start).Round(10*time.Millisecond))

	var page struct {
		Reason, Health, LastError, Conn string
		Events                          []string
		Cells                           map[string]string
	}
	b.eval(t, `(() => {
		const c = document.querySelector('[data-service="www"]');
		const cells = {};
		for (const td of c.querySelectorAll('[data-cell]')) cells[td.dataset.cell] = td.textContent;
		return {
			Reason: c.querySelector('.reason').textContent,
			Health: c.querySelector('tr[data-target="primary"] .health').textContent,
			LastError: c.querySelector('tr[data-target="primary"] .last-error').textContent,
			Conn: document.querySelector('#conn').dataset.conn,
			Events: [...c.querySelectorAll('.events li')].map((li) => li.textContent),
			Cells: cells,
		};
	})()`, &page)
	t.Logf("reason %q; primary health %q, last error %q", page.Reason, page.Health, page.LastError)
	if page.Health != "unhealthy" {
		t.Errorf("primary health in the matrix = %q, want unhealthy", page.Health)
	}
	if !strings.Contains(page.LastError, "refused") {
		t.Errorf("primary last error = %q, want a refused connection", page.LastError)
	}
	for _, tgt := range []string{"backup", "origin"} {
		for _, v := range vantages {
			if cell := page.Cells[tgt+"/"+v]; !strings.HasPrefix(cell, "ok") {
				t.Errorf("matrix cell %s/%s = %q, want ok", tgt, v, cell)
			}
		}
	}
	if !slices.ContainsFunc(page.Events, func(e string) bool { return strings.Contains(e, "→ failed_over") }) {
		t.Errorf("the events list lacks the move to failed_over:\n%s", strings.Join(page.Events, "\n"))
	}
	shot := b.Screenshot(t, "lab-dashboard-failed-over.png")
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10_000 {
		t.Errorf("screenshot %s: %v (too small?)", shot, err)
	}

	// 3. Clear the fault: the page follows the ramp back to primary 100.
	var before []dashSeen
	b.eval(t, `window.__seen`, &before)
	t.Logf("the page showed, up to the failover: %+v", before)
	start = time.Now()
	lp.cli(t, "lab", "fault", "primary", "ok")
	// recover_after 5 s + rise, then steps 25, 50, 100 held 3 s each.
	b.WaitFor(t, "the return to the primary", 60*time.Second, dashAll(
		dashText(www+".state", "healthy"),
		dashText(www+`[data-weight-target="primary"]`, "100"),
		dashText(www+`[data-weight-target="backup"]`, "0"),
		dashText(www+`[data-weight-target="origin"]`, "0"),
		`window.__notReloaded === true`,
		`document.querySelector('#conn').dataset.conn === 'live'`,
	))
	t.Logf("fault cleared to page showing healthy on primary 100: %s", time.Since(start).Round(10*time.Millisecond))
	var seen []dashSeen
	b.eval(t, `window.__seen`, &seen)
	// From the last picture before the clear (failed_over, primary 0).
	after := seen[len(before)-1:]
	var weights []string
	for _, s := range after {
		if len(weights) == 0 || weights[len(weights)-1] != s.Primary {
			weights = append(weights, s.Primary)
		}
	}
	t.Logf("the page showed, after the clear: %+v", after)
	// The ramp as the page showed it: 0 then each step, in order.
	if want := []string{"0", "25", "50", "100"}; !slices.Equal(weights, want) {
		t.Errorf("primary weights shown after the clear = %v, want %v", weights, want)
	}
	if !slices.ContainsFunc(after, func(s dashSeen) bool { return s.State == "recovering" }) {
		t.Errorf("the page never showed the recovering state: %+v", after)
	}
	b.Screenshot(t, "lab-dashboard-recovered.png")

	// The page loaded nothing from elsewhere and logged no error.
	b.CheckClean(t, origin)
}
