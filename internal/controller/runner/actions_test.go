package runner

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/hooks"
	"github.com/failoverhq/failover/internal/store"
)

// With both CDNs down the origin's before_shift hooks run as a gate, then
// the origin takes the weight in its steps.
func TestGateHooksBeforeTheOrigin(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.bringUp()
	h.fault("primary", vantages...)
	h.fault("backup", vantages...)
	h.rounds(3)
	var gate *hooks.Event
	for _, ev := range h.hooks.runs() {
		if ev.Type == hooks.EventGate {
			gate = &ev
		}
	}
	if gate == nil || gate.Target != "origin" {
		t.Fatalf("no gate run for the origin: %+v", h.hooks.runs())
	}
	for i := 0; i < 10 && h.service().Routing["origin"] != 100; i++ {
		h.round()
	}
	s := h.service()
	if s.State != "failed_over" || s.Routing["origin"] != 100 {
		t.Fatalf("state %s routing %v\n%s", s.State, s.Routing, describe(h.events()))
	}
	got := applied(h.events())
	want := []string{"primary 100", "primary 75, origin 25", "primary 50, origin 50", "origin 100"}
	if !slices.Equal(got, want) {
		t.Fatalf("applied %q, want the origin's steps %q\n%s", got, want, describe(h.events()))
	}
	var gateEvents, hookEvents int
	for _, e := range h.events() {
		if e.Type == store.TypeHook && e.From == "gate" && e.To == "ok" {
			hookEvents++
		}
		if e.Type == store.TypeHook && strings.Contains(e.Message, "before_shift hooks of origin done") {
			gateEvents++
		}
	}
	if hookEvents != 1 || gateEvents != 1 {
		t.Fatalf("%d hook run events and %d gate events, want 1 and 1\n%s", hookEvents, gateEvents, describe(h.events()))
	}
	if v := testutil.ToFloat64(h.m.HookRuns.WithLabelValues("scale-origin", "ok")); v != 1 {
		t.Fatalf("hook_runs scale-origin ok = %v", v)
	}
}

// A failed gate or warm-up does not block the shift; it alerts, and the
// alert is an event.
func TestFailedWarmupAndGateAlert(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.warmer.err = errors.New("warmup: no URLs to fetch")
	h.hooks.fail["scale-origin"] = true
	h.bringUp()
	h.fault("primary", vantages...)
	h.fault("backup", vantages...)
	h.rounds(3)
	if s := h.service(); s.State != "failed_over" || s.Desired["origin"] == 0 {
		t.Fatalf("state %s desired %v\n%s", s.State, s.Desired, describe(h.events()))
	}
	var warmFailed, gateFailed bool
	for _, e := range h.events() {
		switch {
		case e.Type == store.TypeWarmup && e.To == "failed":
			warmFailed = true
		case e.Type == store.TypeHook && strings.Contains(e.Message, "before_shift hooks of origin failed"):
			gateFailed = true
		}
	}
	if !warmFailed || !gateFailed {
		t.Fatalf("warm-up failed %v, gate failed %v\n%s", warmFailed, gateFailed, describe(h.events()))
	}
	if v := testutil.ToFloat64(h.m.HookRuns.WithLabelValues("scale-origin", "error")); v != 1 {
		t.Fatalf("hook_runs scale-origin error = %v", v)
	}
}

// A vantage that fails every target while the others see them up is
// impaired: an event of type vantage, and it moves nothing.
func TestImpairedVantageIsAnEvent(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.bringUp()
	for _, target := range []string{"primary", "backup", "origin"} {
		h.fault(target, "c")
	}
	h.rounds(4)
	var impaired bool
	var alerts []string
	for _, e := range h.events() {
		if e.Type == store.TypeVantage && e.To == "impaired" && e.Evidence["vantage"] == "c" {
			impaired = true
		}
		if e.Type == store.TypeState && e.Evidence["alert"] != nil {
			alerts = append(alerts, e.Message)
		}
	}
	if !impaired {
		t.Fatalf("no vantage event\n%s", describe(h.events()))
	}
	if s := h.service(); s.Desired["primary"] != 100 || !s.Targets[0].Vantages["c"].Impaired {
		t.Fatalf("service %+v", s)
	}
	if len(alerts) != 0 {
		t.Fatalf("alerts %q", alerts)
	}
}

func TestPlan(t *testing.T) {
	h := newHarness(t)
	h.start()
	p, err := h.r.Plan("eu-1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Vantage != "eu-1" || p.Interval != "1s" || p.Timeout != "500ms" || len(p.Checks) != 3 {
		t.Fatalf("plan %+v", p)
	}
	c := p.Checks[1]
	if c.Service != "www" || c.Target != "backup" || c.Probe["url"] != "http://192.0.2.2/healthz" || c.Probe["method"] != "GET" {
		t.Fatalf("check %+v", c)
	}
	if ex, _ := c.Probe["expect"].(map[string]any); ex == nil || !slices.Equal(ex["status"].([]int), []int{200}) {
		t.Fatalf("expect %+v", c.Probe["expect"])
	}
	if _, err := h.r.Plan("Not A Name"); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("bad vantage: %v", err)
	}
}

type fakeLab struct{ faults []string }

func (l *fakeLab) SetFault(target, mode string, vantages []string) error {
	if target != "primary" {
		return errors.New("unknown target")
	}
	l.faults = append(l.faults, target+" "+mode+" "+strings.Join(vantages, ","))
	return nil
}

func TestLabFault(t *testing.T) {
	h := newHarness(t)
	lab := &fakeLab{}
	h.opts = func(o *Options) { o.Lab = lab }
	h.start()
	if err := h.r.LabFault(context.Background(), api.Fault{Target: "primary", Mode: "down", Vantages: []string{"lab-a"}}, operator("x")); err != nil {
		t.Fatal(err)
	}
	if err := h.r.LabFault(context.Background(), api.Fault{Target: "nope", Mode: "down"}, operator("x")); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("unknown target: %v", err)
	}
	if !slices.Equal(lab.faults, []string{"primary down lab-a"}) {
		t.Fatalf("faults %q", lab.faults)
	}

	h2 := newHarness(t)
	h2.start()
	if err := h2.r.LabFault(context.Background(), api.Fault{Target: "primary", Mode: "down"}, operator("x")); !errors.Is(err, api.ErrNotLab) {
		t.Fatalf("outside the lab: %v", err)
	}
}
