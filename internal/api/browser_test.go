package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/failoverhq/failover/internal/browsertest"
	"github.com/failoverhq/failover/internal/store"
)

// browser is a headless Chromium tab (package browsertest) with this
// package's helpers.
type browser struct{ *browsertest.Page }

// newBrowser starts a headless Chromium; its tabs come from tab.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	ctx := browsertest.Launch(t, context.Background())
	return &browser{&browsertest.Page{Ctx: ctx, Artifacts: browsertest.ArtifactsDir(t)}}
}

// tab opens a new tab that records its requests and console errors.
func (b *browser) tab(t *testing.T) *browser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.Ctx)
	t.Cleanup(cancel)
	return &browser{browsertest.Watch(t, ctx, b.Artifacts)}
}

// waitFor polls a JavaScript predicate until it is true, for 20s at most.
func (b *browser) waitFor(t *testing.T, what, predicate string) {
	t.Helper()
	b.WaitFor(t, what, 20*time.Second, predicate)
}

func (b *browser) text(t *testing.T, selector string) string {
	t.Helper()
	s, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](
		fmt.Sprintf(`(document.querySelector(%q) || {textContent: "<missing>"}).textContent`, selector)))
	if err != nil {
		t.Fatalf("text of %s: %v", selector, err)
	}
	return s
}

func (b *browser) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.Ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) screenshot(t *testing.T, name string) string { return b.Screenshot(t, name) }

func (b *browser) checkClean(t *testing.T, origin string) { b.CheckClean(t, origin) }

// js quotes s as a JavaScript string.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// textIs is a predicate: the text of selector is want.
func textIs(selector, want string) string {
	return fmt.Sprintf(`(document.querySelector(%s) || {}).textContent === %s`, js(selector), js(want))
}

func all(preds ...string) string { return "(" + strings.Join(preds, ") && (") + ")" }

// TestDashboardInChromium loads the dashboard in a real headless Chromium
// against a fake backend: it shows the state and the weights, follows a new
// routing over the stream without a reload, and starts a drill with an
// operator token.
func TestDashboardInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("a browser test")
	}
	fx := newFixture(t, func(o *Options) { o.OpenRead = true })
	fx.fake.calls = make(chan call, 8)
	fx.fake.addEvent(store.Event{Time: t0.Add(-time.Hour), Service: "www", Type: store.TypeConfig, Message: "controller started"})
	ts := newServer(t, fx.srv.Handler())
	b := newBrowser(t).tab(t)
	const www = `[data-service="www"] `

	// 1. The page shows the service as the backend has it.
	b.do(t, "load", chromedp.Navigate(ts.URL+"/"))
	b.waitFor(t, "the healthy service", all(
		textIs(www+".state", "healthy"),
		textIs(www+`[data-weight-target="primary"]`, "100"),
		textIs(www+`[data-weight-target="backup"]`, "0"),
		textIs(www+`[data-weight-target="origin"]`, "0"),
		`document.querySelector('#conn').dataset.conn === 'live'`,
		`!!document.querySelector('[data-service="www"] .events [data-event-id="00000000000000000001"]')`,
	))
	if got := b.text(t, www+`[data-cell="primary/lab-a"]`); got != "ok12 ms" { // 12 ms: whole above 10
		t.Errorf("matrix cell primary/lab-a = %q", got)
	}
	if got := b.text(t, www+".reason"); got != "the primary is healthy at quorum" {
		t.Errorf("reason = %q", got)
	}
	hidden, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`document.querySelector('[data-service="www"] .override-banner').hidden`))
	if err != nil || !hidden {
		t.Errorf("the override banner shows without an override (%v)", err)
	}
	// A mark that a reload would wipe.
	b.do(t, "mark the page", chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true`))

	// 2. The backend fails over: the page follows the stream.
	failed := wwwService(map[string]int{"primary": 0, "backup": 100, "origin": 0})
	failed.State, failed.Reason, failed.Since = "failed_over", "primary down at quorum (3 of 3 vantages)", t0
	failed.Targets[0].Health, failed.Targets[0].LastError = "unhealthy", "dial tcp 127.0.10.1:18080: connect: connection refused"
	for _, v := range []string{"lab-a", "lab-b"} {
		failed.Targets[0].Vantages[v] = VantageView{Class: "refused", LatencyMs: 0.4, At: t0, State: "down"}
	}
	c := failed.Targets[0].Vantages["lab-c"]
	c.Impaired = true
	failed.Targets[0].Vantages["lab-c"] = c
	fx.fake.setService(failed)
	fx.fake.addEvent(store.Event{Time: t0, Service: "www", Type: store.TypeState, From: "failing_over", To: "failed_over",
		Message: "all weight on backup"})
	b.waitFor(t, "the failover", all(
		textIs(www+".state", "failed_over"),
		textIs(www+`[data-weight-target="primary"]`, "0"),
		textIs(www+`[data-weight-target="backup"]`, "100"),
		`!!document.querySelector('[data-service="www"] .events [data-event-id="00000000000000000002"]')`,
	))
	if got := b.text(t, www+`[data-cell="primary/lab-a"]`); got != "refused0.4 ms" {
		t.Errorf("matrix cell primary/lab-a = %q, want refused and 0.4 ms", got)
	}
	if got := b.text(t, www+`th[data-vantage="lab-c"]`); got != "lab-cimpaired" {
		t.Errorf("impaired vantage header = %q", got)
	}
	if got := b.text(t, www+".events li:first-child .msg"); got != "all weight on backup" {
		t.Errorf("newest event = %q, want it first", got)
	}
	if ok, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`window.__notReloaded === true`)); err != nil || !ok {
		t.Fatalf("the page was reloaded (%v)", err)
	}
	b.screenshot(t, "dashboard-failed-over.png")

	// 3. Without a token, an action is refused in the page and nothing
	// reaches the backend.
	b.do(t, "drill without a token", chromedp.Click(chromedp.CSS(www+`button[data-action="drill"]`)))
	b.waitFor(t, "the no-token message", textIs(www+".action-status", "An operator token is needed: enter it above."))

	// 4. An operator drills to origin.
	b.do(t, "enter the operator token",
		chromedp.SendKeys(chromedp.ID("token"), operatorToken),
		chromedp.Click(chromedp.ID("token-save")),
	)
	b.waitFor(t, "the token", textIs("#token-status", "token set"))
	stored, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`sessionStorage.getItem('failover.token')`))
	if err != nil || stored != operatorToken {
		t.Errorf("sessionStorage token = %q (%v)", stored, err)
	}
	b.do(t, "fill the drill form",
		chromedp.SetValue(chromedp.CSS(www+`select[name="to"]`), "origin"),
		chromedp.SetValue(chromedp.CSS(www+`input[name="for"]`), "15m"),
		chromedp.SendKeys(chromedp.CSS(www+`input[name="reason"]`), "game day"),
		chromedp.Click(chromedp.CSS(www+`button[data-action="drill"]`)),
	)
	select {
	case got := <-fx.fake.calls:
		want := call{Method: "Drill", Service: "www", Req: OverrideRequest{To: "origin", For: "15m", Reason: "game day"}, By: Actor{Name: "ops", Role: RoleOperator}}
		if got.Method != want.Method || got.Service != want.Service || got.Req != want.Req || got.By != want.By {
			t.Fatalf("backend got %+v, want %+v", got, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the drill did not reach the backend; page problems %v", b.Problems())
	}
	b.waitFor(t, "the drill in the page", all(
		textIs(www+".action-status", "drill to origin started"),
		textIs(www+".state", "manual"),
		`!document.querySelector('[data-service="www"] .override-banner').hidden`,
		textIs(www+".override-banner [data-override-to]", "origin"),
		textIs(www+`[data-desired-target="origin"]`, "100"),
	))
	if got := b.text(t, www+".override-banner"); !strings.HasPrefix(got, "DRILL all weight on origin until ") || !strings.Contains(got, "game day (by ops)") {
		t.Errorf("override banner = %q", got)
	}
	b.screenshot(t, "dashboard-drill.png")

	// 5. With a token the stream runs over fetch; it follows the backend
	// too: a ramp back with routing and desired apart.
	ramp := wwwService(map[string]int{"primary": 25, "backup": 75, "origin": 0})
	ramp.State, ramp.Reason = "recovering", "shift-back step 25 of [25 50 100]"
	ramp.Desired = map[string]int{"primary": 50, "backup": 50, "origin": 0}
	fx.fake.setService(ramp)
	b.waitFor(t, "the ramp", all(
		textIs(www+".state", "recovering"),
		textIs(www+`[data-weight-target="primary"]`, "25"),
		textIs(www+`[data-weight-target="backup"]`, "75"),
		textIs(www+`[data-desired-target="primary"]`, "50"),
		`!document.querySelector('[data-service="www"] .desired-row').hidden`,
		`document.querySelector('[data-service="www"] .override-banner').hidden`,
		`document.querySelector('#conn').dataset.conn === 'live'`,
	))
	b.screenshot(t, "dashboard-recovering.png")

	// The failed-over picture is the one to look at; keep it under the
	// plain name too.
	fx.fake.setService(failed)
	b.waitFor(t, "the failover again", textIs(www+".state", "failed_over"))
	b.screenshot(t, "dashboard.png")
	b.checkClean(t, ts.URL)
}

// TestDashboardNeedsToken: without open_read the page asks for a token,
// then shows the services with a viewer token, whose actions the API
// refuses.
func TestDashboardNeedsToken(t *testing.T) {
	if testing.Short() {
		t.Skip("a browser test")
	}
	fx := newFixture(t, nil)
	ts := newServer(t, fx.srv.Handler())
	b := newBrowser(t).tab(t)
	const www = `[data-service="www"] `

	b.do(t, "load", chromedp.Navigate(ts.URL+"/"))
	b.waitFor(t, "the token notice", `!document.querySelector('#notice').hidden && document.querySelector('#notice').textContent.startsWith('A token is needed')`)
	if n, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-service]').length`)); err != nil || n != 0 {
		t.Fatalf("services shown without a token: %d (%v)", n, err)
	}
	b.do(t, "enter the viewer token",
		chromedp.SendKeys(chromedp.ID("token"), viewerToken),
		chromedp.Click(chromedp.ID("token-save")),
	)
	b.waitFor(t, "the service", all(
		textIs(www+".state", "healthy"),
		textIs(www+`[data-weight-target="primary"]`, "100"),
		`document.querySelector('#notice').hidden`,
		`document.querySelector('#conn').dataset.conn === 'live'`,
	))
	// The authenticated stream follows the backend.
	fx.fake.setService(wwwService(map[string]int{"primary": 0, "backup": 100, "origin": 0}))
	b.waitFor(t, "the update", textIs(www+`[data-weight-target="backup"]`, "100"))

	b.do(t, "pin as a viewer",
		chromedp.SendKeys(chromedp.CSS(www+`input[name="reason"]`), "should not work"),
		chromedp.Click(chromedp.CSS(www+`button[data-action="pin"]`)),
	)
	b.waitFor(t, "the refusal", textIs(www+".action-status", "pin failed: token watcher has role viewer, which may not do this"))
	if calls := fx.fake.callsMade(); len(calls) != 0 {
		t.Fatalf("backend calls %+v", calls)
	}
	b.checkClean(t, ts.URL)
}
