package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/controller"
	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/providers"
	"github.com/failoverhq/failover/internal/probe"
	"github.com/failoverhq/failover/internal/store"
)

// transitions returns the state events as "from->to".
func transitions(evs []store.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Type == store.TypeState && e.From != e.To {
			out = append(out, e.From+"->"+e.To)
		}
	}
	return out
}

// applied returns the routings DNS confirmed, in order.
func applied(evs []store.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Type == store.TypeDNS && strings.HasPrefix(e.Message, "routing applied") {
			out = append(out, e.To)
		}
	}
	return out
}

func operator(name string) api.Actor { return api.Actor{Name: name, Role: "operator"} }

// bringUp gives the controller rise rounds of good evidence, after which it
// writes the primary.
func (h *harness) bringUp() {
	h.t.Helper()
	h.rounds(3)
	if s := h.service(); s.State != "healthy" || s.Routing["primary"] != 100 {
		h.t.Fatalf("after bring-up: state %s, routing %v\n%s", s.State, s.Routing, describe(h.events()))
	}
}

func TestFullCycle(t *testing.T) {
	h := newHarness(t)
	h.start()
	if n := h.prov.Load().applies.Load(); n != 0 {
		t.Fatalf("%d DNS writes before any evidence", n)
	}
	h.bringUp()
	if got := h.dnsAnswer(); got != ips["primary"] {
		t.Fatalf("DNS answers %q, want the primary %s", got, ips["primary"])
	}

	h.fault("primary", vantages...)
	h.round()
	if s := h.state(); s != "healthy" {
		t.Fatalf("after one failed round: %s, want healthy", s)
	}
	h.round()
	if s := h.state(); s != "degraded" {
		t.Fatalf("after two failed rounds: %s, want degraded\n%s", s, describe(h.events()))
	}
	if got := h.warmer.targets(); !slices.Equal(got, []string{"backup"}) {
		t.Fatalf("warm-ups %v, want the backup warmed ahead", got)
	}
	h.round()
	s := h.service()
	if s.State != "failed_over" || s.Routing["backup"] != 100 || s.Desired["backup"] != 100 {
		t.Fatalf("after fall rounds: state %s routing %v desired %v\n%s", s.State, s.Routing, s.Desired, describe(h.events()))
	}
	if got := h.dnsAnswer(); got != ips["backup"] {
		t.Fatalf("DNS answers %q, want the backup %s", got, ips["backup"])
	}
	if s.Targets[0].Health != "unhealthy" || s.Targets[0].Vantages["a"].Class != "refused" {
		t.Fatalf("primary view: %+v", s.Targets[0])
	}

	h.clear("primary")
	for i := 0; i < 20 && h.state() != "healthy"; i++ {
		h.round()
	}
	s = h.service()
	if s.State != "healthy" || s.Routing["primary"] != 100 {
		t.Fatalf("after recovery: state %s routing %v\n%s", s.State, s.Routing, describe(h.events()))
	}
	if got := h.dnsAnswer(); got != ips["primary"] {
		t.Fatalf("DNS answers %q after recovery, want the primary", got)
	}

	evs := h.events()
	t.Logf("events:\n%s", describe(evs))
	wantT := []string{"healthy->degraded", "degraded->failing_over", "failing_over->failed_over",
		"failed_over->recovering", "recovering->healthy"}
	if got := transitions(evs); !slices.Equal(got, wantT) {
		t.Errorf("transitions %q, want %q\n%s", got, wantT, describe(evs))
	}
	wantA := []string{"primary 100", "backup 100", "primary 25, backup 75", "primary 50, backup 50", "primary 100"}
	if got := applied(evs); !slices.Equal(got, wantA) {
		t.Errorf("applied routings %q, want %q\n%s", got, wantA, describe(evs))
	}
	var warmDone, hookRuns int
	for _, e := range evs {
		if e.Type == store.TypeWarmup && e.To == controller.WarmupStatusDone {
			warmDone++
			if _, ok := e.Evidence["result"]; !ok {
				t.Errorf("warm-up event without its result: %+v", e)
			}
		}
		if e.Type == store.TypeHook {
			hookRuns++
			if e.Evidence["hook"] != "page" || e.To != "ok" {
				t.Errorf("hook event %+v", e)
			}
		}
	}
	if warmDone != 1 || hookRuns != 2 {
		t.Errorf("%d warm-up done events and %d hook events, want 1 and 2 (page on failover and recovered)\n%s",
			warmDone, hookRuns, describe(evs))
	}
	var types []string
	for _, ev := range h.hooks.runs() {
		types = append(types, string(ev.Type))
	}
	if want := []string{"failover", "recovered"}; !slices.Equal(types, want) {
		t.Errorf("hooks ran on %v, want %v", types, want)
	}

	// Metrics follow.
	m := h.m
	if v := testutil.ToFloat64(m.Transitions.WithLabelValues("www", "failing_over", "failed_over")); v != 1 {
		t.Errorf("transitions failing_over->failed_over = %v", v)
	}
	if v := testutil.ToFloat64(m.ServiceState.WithLabelValues("www", "healthy")); v != 1 {
		t.Errorf("service_state healthy = %v", v)
	}
	if v := testutil.ToFloat64(m.RouteWeight.WithLabelValues("www", "primary")); v != 100 {
		t.Errorf("route_weight primary = %v", v)
	}
	if v := testutil.ToFloat64(m.DNSChanges.WithLabelValues("edge", "ok")); v != 5 {
		t.Errorf("dns_changes ok = %v, want 5", v)
	}
	if v := testutil.ToFloat64(m.TargetHealthy.WithLabelValues("www", "primary")); v != 1 {
		t.Errorf("target_healthy primary = %v", v)
	}
	if v := testutil.ToFloat64(m.ProbeResults.WithLabelValues("www", "primary", "a", "refused")); v != 3 {
		t.Errorf("probe_results refused at a = %v, want 3", v)
	}
	if v := testutil.ToFloat64(m.VantageLive.WithLabelValues("b")); v != 1 {
		t.Errorf("vantage_live b = %v", v)
	}
	if v := testutil.ToFloat64(m.WarmupURLs.WithLabelValues("www", "backup", "hit")); v != 1 {
		t.Errorf("warmup_urls hit = %v", v)
	}
	if v := testutil.ToFloat64(m.HookRuns.WithLabelValues("page", "ok")); v != 2 {
		t.Errorf("hook_runs page ok = %v", v)
	}
}

func TestOneVantageFaultMovesNothing(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.bringUp()
	writes := h.prov.Load().applies.Load()
	h.fault("primary", "a")
	h.rounds(12)
	s := h.service()
	if s.Routing["primary"] != 100 || s.Desired["primary"] != 100 {
		t.Fatalf("one vantage's fault moved traffic: routing %v desired %v\n%s", s.Routing, s.Desired, describe(h.events()))
	}
	if s.State != "healthy" && s.State != "degraded" {
		t.Fatalf("state %s", s.State)
	}
	if n := h.prov.Load().applies.Load(); n != writes {
		t.Fatalf("%d DNS writes during a one-vantage fault", n-writes)
	}
	if got := h.dnsAnswer(); got != ips["primary"] {
		t.Fatalf("DNS answers %q", got)
	}
}

func TestRestartResumesWithoutWriting(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.bringUp()
	h.fault("primary", vantages...)
	h.rounds(3)
	if s := h.state(); s != "failed_over" {
		t.Fatalf("state %s", s)
	}
	h.stop()

	// A new runner on the same data directory and store.
	h2 := newHarness(t)
	h2.dir, h2.cfg, h2.faults = h.dir, h.cfg, h.faults
	h2.clk = newFakeClock(h.clk.Now().Add(10 * time.Second))
	h2.start()
	s := h2.service()
	if s.State != "failed_over" || s.Routing["backup"] != 100 || s.Desired["backup"] != 100 {
		t.Fatalf("after restart: state %s routing %v desired %v", s.State, s.Routing, s.Desired)
	}
	if got := h2.dnsAnswer(); got != ips["backup"] {
		t.Fatalf("restarted DNS server answers %q, want the backup", got)
	}
	// One vantage is not min_vantages: still nothing is written.
	h2.clear("primary")
	h2.rounds(5, "a")
	if n := h2.prov.Load().applies.Load(); n != 0 {
		t.Fatalf("%d DNS writes before evidence from min_vantages", n)
	}
	if s := h2.state(); s != "failed_over" {
		t.Fatalf("state %s before evidence", s)
	}
	// With fresh evidence from enough vantages it carries on: the primary
	// is healthy, so it ramps back, writing as it goes.
	for i := 0; i < 20 && h2.state() != "healthy"; i++ {
		h2.round()
	}
	if s := h2.service(); s.State != "healthy" || s.Routing["primary"] != 100 {
		t.Fatalf("after evidence: %s %v\n%s", s.State, s.Routing, describe(h2.events()))
	}
	if n := h2.prov.Load().applies.Load(); n != 3 {
		t.Errorf("%d DNS writes, want the 3 ramp steps", n)
	}
}

func TestDrillRevertsByItself(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.bringUp()
	s, err := h.r.Drill(context.Background(), "www", api.OverrideRequest{To: "backup", For: "4s", Reason: "game day"}, operator("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if s.State != "manual" || s.Override == nil || s.Override.By != "alice" || s.Desired["backup"] != 100 {
		t.Fatalf("drill answer: %+v", s)
	}
	h.settle()
	if got := h.dnsAnswer(); got != ips["backup"] {
		t.Fatalf("DNS answers %q during the drill", got)
	}
	// Stored in the state, so a restart keeps it.
	raw, ok, err := h.st.LoadState("www")
	if err != nil || !ok || !strings.Contains(string(raw), `"kind":"drill"`) {
		t.Fatalf("stored state %s, %v, %v", raw, ok, err)
	}
	h.rounds(5)
	s = h.service()
	if s.State != "healthy" || s.Routing["primary"] != 100 || s.Override != nil {
		t.Fatalf("after the drill's end: %s %v %+v\n%s", s.State, s.Routing, s.Override, describe(h.events()))
	}
	var overrides []string
	for _, e := range h.events() {
		if e.Type == store.TypeOverride {
			overrides = append(overrides, e.Message)
		}
	}
	if len(overrides) != 2 || !strings.Contains(overrides[0], "by alice") || !strings.Contains(overrides[1], "expired") {
		t.Fatalf("override events %q", overrides)
	}
}

func TestPinRefusedUnlessForced(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.fault("origin", vantages...)
	h.bringUp()
	_, err := h.r.Pin(context.Background(), "www", api.OverrideRequest{To: "origin", Reason: "test"}, operator("bob"))
	if !errors.Is(err, api.ErrConflict) || !strings.Contains(err.Error(), "unhealthy") {
		t.Fatalf("pin to an unhealthy target: %v, want a conflict", err)
	}
	if _, err := h.r.Pin(context.Background(), "www", api.OverrideRequest{To: "nowhere", Reason: "x"}, operator("bob")); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("pin to an unknown target: %v", err)
	}
	if _, err := h.r.Pin(context.Background(), "nope", api.OverrideRequest{To: "backup", Reason: "x"}, operator("bob")); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("pin of an unknown service: %v", err)
	}
	if _, err := h.r.Release(context.Background(), "www", operator("bob")); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("release without an override: %v", err)
	}
	s, err := h.r.Pin(context.Background(), "www", api.OverrideRequest{To: "origin", Reason: "scale test", Force: true}, operator("bob"))
	if err != nil {
		t.Fatal(err)
	}
	if s.State != "manual" || s.Desired["origin"] != 100 {
		t.Fatalf("forced pin: %+v", s)
	}
	h.rounds(3) // a pin holds although its target is unhealthy
	if s := h.service(); s.State != "manual" || s.Routing["origin"] != 100 {
		t.Fatalf("pin did not hold: %s %v", s.State, s.Routing)
	}
	s, err = h.r.Release(context.Background(), "www", operator("carol"))
	if err != nil {
		t.Fatal(err)
	}
	if s.State != "healthy" || s.Desired["primary"] != 100 {
		t.Fatalf("after release: %+v", s)
	}
	h.settle()
	evs := h.events()
	var refused, releasedBy bool
	for _, e := range evs {
		if e.Type == store.TypeOverride && e.To == "refused" && strings.Contains(e.Message, "bob") {
			refused = true
		}
		if e.Type == store.TypeOverride && strings.Contains(e.Message, "released by carol") {
			releasedBy = true
		}
	}
	if !refused || !releasedBy {
		t.Fatalf("override events lack the refusal or the releaser\n%s", describe(evs))
	}
}

func TestIngestRejections(t *testing.T) {
	h := newHarness(t)
	h.start()
	now := h.clk.Now()
	ok := func(target string, at time.Time) probe.Result {
		return probe.Result{Service: "www", Target: target, Time: at, OK: true, Class: probe.ClassOK}
	}
	unknownSvc := ok("primary", now)
	unknownSvc.Service = "nope"
	badClass := ok("backup", now)
	badClass.Class = "weird"
	inconsistent := ok("origin", now)
	inconsistent.OK = false
	batch := []probe.Result{
		ok("primary", now),
		ok("primary", now), // replay
		unknownSvc,
		ok("nope", now),
		ok("backup", now.Add(10*time.Second)), // future
		ok("backup", now.Add(-4*time.Second)), // stale: older than 3 intervals
		ok("origin", now.Add(4*time.Second)),  // within the skew
		badClass,
		inconsistent,
	}
	ack, err := h.r.SubmitResults(context.Background(), api.ResultsBatch{Vantage: "a", Results: batch}, api.Actor{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{DropReplay: 1, DropUnknownTarget: 2, DropFuture: 1, DropStale: 1, DropInvalid: 2}
	if ack.Accepted != 2 || fmt.Sprint(ack.Rejected) != fmt.Sprint(want) {
		t.Fatalf("ack %+v, want 2 accepted and %v", ack, want)
	}
	_, err = h.r.SubmitResults(context.Background(), api.ResultsBatch{Vantage: "Bad Name", Results: batch[:2]}, api.Actor{})
	if !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("bad vantage: %v", err)
	}
	ack, err = h.r.SubmitResults(context.Background(), api.ResultsBatch{Vantage: "b", Results: []probe.Result{ok("nope", now)}}, api.Actor{})
	if !errors.Is(err, api.ErrInvalid) || ack.Rejected[DropUnknownTarget] != 1 {
		t.Fatalf("all unknown: %+v %v", ack, err)
	}
	want[DropInvalid] += 2
	want[DropUnknownTarget]++
	for reason, n := range want {
		if got := testutil.ToFloat64(h.m.ResultsDropped.WithLabelValues(reason)); got != float64(n) {
			t.Errorf("results_dropped{%s} = %v, want %d", reason, got, n)
		}
	}
	if got := testutil.ToFloat64(h.m.ProbeResults.WithLabelValues("www", "primary", "a", "ok")); got != 1 {
		t.Errorf("probe_results = %v", got)
	}
}

func TestReload(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.bringUp()
	h.fault("primary", vantages...)
	h.rounds(3)
	if s := h.state(); s != "failed_over" {
		t.Fatalf("state %s", s)
	}
	plan, err := h.r.Plan("a")
	if err != nil {
		t.Fatal(err)
	}

	// A second service and new hooks for www: www keeps its state.
	extra := `  - name: api
    record: api.test.
    provider: edge
    targets:
      - {name: primary, role: primary, answer: {type: A, values: [192.0.2.11]}, probe: {url: http://192.0.2.11/}}
      - {name: backup, role: backup, answer: {type: A, values: [192.0.2.12]}, probe: {url: http://192.0.2.12/}}
`
	cfg := parseConfig(t, h.dir, extra)
	cfg.Services[0].On.FailedOver = []string{"page"}
	if err := h.r.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	h.settle()
	if s := h.service(); s.State != "failed_over" || s.Routing["backup"] != 100 {
		t.Fatalf("after reload: %s %v", s.State, s.Routing)
	}
	if _, ok := h.r.Service("api"); !ok {
		t.Fatal("the added service is missing")
	}
	plan2, _ := h.r.Plan("a")
	if plan2.Generation == plan.Generation || len(plan2.Checks) != 5 {
		t.Fatalf("plan after reload: generation %d (was %d), %d checks", plan2.Generation, plan.Generation, len(plan2.Checks))
	}
	// The kept tracker still has the evidence: the next round keeps
	// failed_over without awaiting evidence again.
	h.round()
	if s := h.state(); s != "failed_over" {
		t.Fatalf("state %s after a round", s)
	}

	// One that cannot be applied is refused; the running config stays.
	bad := parseConfig(t, h.dir, "")
	bad.Controller.DataDir = t.TempDir()
	if err := h.r.Reload(bad); err == nil {
		t.Fatal("a changed data_dir was accepted")
	}
	bad = parseConfig(t, h.dir, "")
	bad.DNS.Providers[0].Type = "bogus"
	if err := h.r.Reload(bad); err == nil {
		t.Fatal("an unbuildable provider was accepted")
	}
	if _, ok := h.r.Service("api"); !ok {
		t.Fatal("a refused reload changed the services")
	}
	if p, _ := h.r.Plan("a"); p.Generation != plan2.Generation {
		t.Fatal("a refused reload changed the generation")
	}
	if got := testutil.ToFloat64(h.m.ConfigReload.WithLabelValues("ok")); got != 1 {
		t.Errorf("reload ok = %v", got)
	}
	if got := testutil.ToFloat64(h.m.ConfigReload.WithLabelValues("error")); got != 2 {
		t.Errorf("reload error = %v", got)
	}
	cfgEvents, err := h.r.Events(store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range cfgEvents {
		if e.Type == store.TypeConfig && strings.Contains(e.Message, "added api") {
			found = true
		}
	}
	if !found {
		t.Errorf("no config event for the reload\n%s", describe(cfgEvents))
	}

	// Removing the service again drops it and its state.
	if err := h.r.Reload(parseConfig(t, h.dir, "")); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.r.Service("api"); ok {
		t.Fatal("the removed service is still there")
	}
	if s := h.state(); s != "failed_over" {
		t.Fatalf("www state %s after the removal of api", s)
	}
}

func TestDNSFailureIsAnEventAndRetried(t *testing.T) {
	h := newHarness(t)
	h.prepare = func(p *testProvider) {
		p.failWith = fmt.Errorf("edge: throttled: %w", dnsswitch.ErrRetryable)
	}
	h.start()
	h.bringUp()
	p := h.prov.Load()
	p.failNext.Store(2)
	h.fault("primary", vantages...)
	h.rounds(3)
	// Two soft failures, then the engine's retry (DNSRetry 1s) gets through.
	for i := 0; i < 5 && h.service().Routing["backup"] != 100; i++ {
		h.round()
	}
	s := h.service()
	if s.State != "failed_over" || s.Routing["backup"] != 100 {
		t.Fatalf("state %s routing %v\n%s", s.State, s.Routing, describe(h.events()))
	}
	var failures int
	for _, e := range h.events() {
		if e.Type == store.TypeDNS && strings.Contains(e.Message, "write failed") {
			failures++
			if !strings.Contains(e.Message, "soft failure") {
				t.Errorf("failure event without its kind: %s", e.Message)
			}
		}
	}
	if failures != 2 {
		t.Errorf("%d DNS failure events, want 2\n%s", failures, describe(h.events()))
	}
	if got := testutil.ToFloat64(h.m.DNSChanges.WithLabelValues("edge", "retryable")); got != 2 {
		t.Errorf("dns_changes retryable = %v", got)
	}

	// A hard failure is an event too.
	p.failWith = fmt.Errorf("edge: %w", dnsswitch.ErrAuth)
	p.failNext.Store(1)
	h.clear("primary")
	for i := 0; i < 20 && h.state() != "healthy"; i++ {
		h.round()
	}
	var hard bool
	for _, e := range h.events() {
		if e.Type == store.TypeDNS && strings.Contains(e.Message, "hard failure") {
			hard = true
		}
	}
	if !hard || h.service().Routing["primary"] != 100 {
		t.Fatalf("hard failure not recorded or not recovered from\n%s", describe(h.events()))
	}
	if got := testutil.ToFloat64(h.m.DNSChanges.WithLabelValues("edge", "error")); got != 1 {
		t.Errorf("dns_changes error = %v", got)
	}
}

// A provider that panics on a write does not take the controller down: the
// write is a hard failure, an event, and the engine's retry gets through.
func TestProviderPanicIsAFailedWrite(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.bringUp()
	p := h.prov.Load()
	p.panicNext.Store(1)
	h.fault("primary", vantages...)
	h.rounds(3)
	for i := 0; i < 10 && h.service().Routing["backup"] != 100; i++ {
		h.round()
	}
	if s := h.service(); s.State != "failed_over" || s.Routing["backup"] != 100 {
		t.Fatalf("state %s routing %v\n%s", s.State, s.Routing, describe(h.events()))
	}
	var found bool
	for _, e := range h.events() {
		if e.Type == store.TypeDNS && strings.Contains(e.Message, "internal error in the provider: provider bug") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no event for the panic\n%s", describe(h.events()))
	}
}

func TestSlowSubscriberIsDropped(t *testing.T) {
	h := newHarness(t)
	h.opts = func(o *Options) { o.SubscriberBuffer = 4 }
	h.start()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := h.r.Subscribe(ctx)
	fast := h.r.Subscribe(ctx)
	got := make(chan int)
	go func() {
		n := 0
		for range fast {
			n++
		}
		got <- n
	}()
	h.bringUp()
	h.fault("primary", vantages...)
	h.rounds(3) // many events and service changes, never read by slow
	n := 0
	for range slow { // it was closed when it fell behind
		n++
	}
	if n > 4 {
		t.Fatalf("slow subscriber got %d messages, more than its buffer", n)
	}
	cancel()
	if m := <-got; m <= 4 {
		t.Fatalf("the fast subscriber got only %d messages", m)
	}
	// A subscriber whose context ends is closed.
	ctx2, cancel2 := context.WithCancel(context.Background())
	c := h.r.Subscribe(ctx2)
	cancel2()
	for range c {
	}
}

func TestReadinessWaitsForProvider(t *testing.T) {
	h := newHarness(t)
	// The record holds an answer that matches no target: the provider read
	// fails with ErrForeign, and the service must not be written.
	foreign := h.cfg.Services[0]
	foreign.Targets = slices.Clone(foreign.Targets)
	foreign.Targets[0].Answer.Values = []string{"198.51.100.9"}
	h.prepare = func(p *testProvider) {
		if err := p.Provider.Apply(context.Background(), providers.Service(foreign), dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	h.launch()
	h.waitFor("the read to fail", func() bool {
		err := h.r.Ready()
		return err != nil && strings.Contains(err.Error(), "cannot be read")
	})
	if err := h.r.Ready(); !errors.Is(err, api.ErrNotReady) {
		t.Fatalf("Ready: %v", err)
	}
	h.rounds(4)
	if n := h.prov.Load().applies.Load(); n != 0 {
		t.Fatalf("%d writes to a provider that cannot be read", n)
	}
	if s := h.service(); !strings.Contains(s.Reason, "waiting to read") {
		t.Fatalf("reason %q", s.Reason)
	}
	if _, err := h.r.Drill(context.Background(), "www", api.OverrideRequest{To: "backup", For: "1m", Reason: "x"}, operator("x")); !errors.Is(err, api.ErrNotReady) {
		t.Fatalf("drill before the read: %v", err)
	}
	// Once the records are fixed the retry (with backoff) gets through.
	if err := h.prov.Load().Provider.Apply(context.Background(), providers.Service(h.cfg.Services[0]), dnsswitch.Routing{"backup": 100}, dnsswitch.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10 && h.r.Ready() != nil; i++ {
		h.round()
	}
	if err := h.r.Ready(); err != nil {
		t.Fatal(err)
	}
	if s := h.service(); s.Routing["backup"] != 100 {
		t.Fatalf("resumed with routing %v, want what DNS holds", s.Routing)
	}
}

// The counters alerts watch exist at 0 from the start, for every provider and
// hook, so that increase() sees the first error.
func TestAlertedCountersStartAtZero(t *testing.T) {
	h := newHarness(t)
	h.start()
	mfs, err := h.m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		`failover_dns_changes_total{provider="edge",result="error"}`:     false,
		`failover_dns_changes_total{provider="edge",result="retryable"}`: false,
	}
	for _, hk := range h.cfg.Hooks {
		want[`failover_hook_runs_total{hook="`+hk.Name+`",result="error"}`] = false
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName() + "{"
			for i, l := range m.GetLabel() {
				if i > 0 {
					key += ","
				}
				key += l.GetName() + `="` + l.GetValue() + `"`
			}
			key += "}"
			if _, ok := want[key]; ok {
				want[key] = true
			}
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("%s is not exposed at start", k)
		}
	}
}

// An agent token bound to vantages (auth.tokens[].vantages) may post only as
// those: one leaked token cannot fake a quorum.
func TestTokenBoundToVantages(t *testing.T) {
	h := newHarness(t)
	h.cfg.Auth.Tokens = append(h.cfg.Auth.Tokens,
		config.Token{Name: "eu-agent", Role: config.RoleAgent, TokenEnv: "EU_AGENT_TOKEN", Vantages: []string{"a"}})
	h.start()
	now := h.clk.Now()
	res := probe.Result{Service: "www", Target: "primary", Time: now, OK: true, Class: probe.ClassOK}
	eu := api.Actor{Name: "eu-agent", Role: config.RoleAgent}
	_, err := h.r.SubmitResults(context.Background(), api.ResultsBatch{Vantage: "b", Results: []probe.Result{res}}, eu)
	if !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("posting as another vantage: err %v, want ErrForbidden", err)
	}
	if got := testutil.ToFloat64(h.m.ResultsDropped.WithLabelValues(DropForbidden)); got != 1 {
		t.Errorf("results_dropped{forbidden_vantage} = %v, want 1", got)
	}
	ack, err := h.r.SubmitResults(context.Background(), api.ResultsBatch{Vantage: "a", Results: []probe.Result{res}}, eu)
	if err != nil || ack.Accepted != 1 {
		t.Fatalf("posting as its own vantage: %+v, %v", ack, err)
	}
	// A token with no list may post as any vantage.
	ack, err = h.r.SubmitResults(context.Background(), api.ResultsBatch{Vantage: "c", Results: []probe.Result{res}}, api.Actor{Name: "other", Role: config.RoleAgent})
	if err != nil || ack.Accepted != 1 {
		t.Fatalf("unbound token: %+v, %v", ack, err)
	}
}
