package simulate

import (
	"strings"
	"testing"
)

// The simulated warm-up delay is fed back to the engine: a slow warm-up
// delays the shift (bounded by the backup's max_wait of 3s), a quick one
// does not.
func TestSimulatedWarmupDelay(t *testing.T) {
	detect := func(warmup string) float64 {
		rep := mustRun(t, strings.Replace(hardOutage, "interval: 1s", "interval: 1s\nsim: {warmup: "+warmup+"}", 1))
		d := rep.Policies.Ours.DetectionS
		if len(d) != 1 || d[0] == nil {
			t.Fatalf("warm-up %s: detection %s", warmup, fmtList(d))
		}
		return *d[0]
	}
	quick, slow, stuck := detect("0s"), detect("4s"), detect("1h")
	if quick != 2 {
		t.Errorf("with an instant warm-up: detection %vs, want 2", quick)
	}
	if slow <= quick || slow > 2+3 {
		t.Errorf("with a 4s warm-up: detection %vs, want more than %v and at most 5", slow, quick)
	}
	if stuck > 2+3 {
		t.Errorf("with a warm-up that never ends: detection %vs, want the shift at max_wait (at most 5)", stuck)
	}
}

// Falling through to the origin waits for its before_shift hook.
func TestSimulatedHookDelay(t *testing.T) {
	src := `
service: www
vantages: [a, b, c]
interval: 1s
duration: 10m
timeline:
  - {at: 60s, targets: [primary, backup], outcome: refused, until: 300s}
`
	shiftAt := func(hooks string) float64 {
		rep := mustRun(t, strings.Replace(src, "interval: 1s", "interval: 1s\nsim: {hooks: "+hooks+"}", 1))
		for _, d := range rep.Policies.Ours.Decisions {
			if d.Routing["origin"] > 0 {
				return d.At
			}
		}
		t.Fatalf("hooks %s: ours never moved to the origin: %v", hooks, rep.Policies.Ours.Decisions)
		return 0
	}
	fast, slow := shiftAt("0s"), shiftAt("5s")
	if slow-fast < 4 {
		t.Errorf("origin shift at %vs with instant hooks, %vs with 5s hooks: the hook delay is not awaited", fast, slow)
	}
}

// A pin without for holds until released; the engine tracks health
// underneath and comes back to the primary on release.
func TestOverridesReachTheEngine(t *testing.T) {
	rep := mustRun(t, `
service: www
vantages: [a, b, c]
interval: 1s
duration: 10m
overrides:
  - {at: 60s, kind: pin, to: origin, reason: maintenance}
  - {at: 200s, kind: release}
  - {at: 300s, kind: drill, to: backup, for: 1m}
`)
	if got, want := decisionsOf(&rep.Policies.Ours), "60:origin 200:primary 300:backup 360:primary"; got != want {
		t.Errorf("ours: %q, want %q", got, want)
	}
	if rep.Policies.Ours.FalseShifts != 0 || rep.Engine.StatesS["manual"] != 200 {
		t.Errorf("%d false shifts, %vs manual", rep.Policies.Ours.FalseShifts, rep.Engine.StatesS["manual"])
	}
}
