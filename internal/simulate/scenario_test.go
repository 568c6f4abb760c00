package simulate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const validScenario = `
name: one-vantage-outage
service: www
policy: {fall: 4, quorum: 0.6, failback: {steps: [50, 100], hold: 2s}}
vantages: [a, b, c, d, e]
interval: 1s
duration: 15m
seed: 42
noise: {loss: 0.02}
sim: {warmup: 2s}
timeline:
  - {at: 60s, target: primary, vantages: [a], outcome: refused}
  - {at: 300s, target: primary, vantages: [a], outcome: ok}
  - {at: 400s, target: primary, outcome: http_status, until: 700s}
  - {at: 0s, vantage: e, outcome: timeout, targets: all, until: 120s}
  - {at: 1m, targets: [backup, origin], outcome: missing, flap: 2s}
overrides:
  - {at: 60s, kind: drill, to: backup, for: 5m}
  - {at: 8m, kind: pin, to: origin, reason: maintenance, force: true}
  - {at: 9m, kind: release}
expect: {max_shifts: 2, failover_within: 5s, max_false_shifts: 0, max_unhealthy_seconds: 1.5, recovery_within: 30s, frozen: false}
`

func TestParseScenarioValid(t *testing.T) {
	sc, err := ParseScenario([]byte(validScenario))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"name", sc.Name, "one-vantage-outage"},
		{"service", sc.Service, "www"},
		{"fall", *sc.Policy.Fall, 4},
		{"quorum", *sc.Policy.Quorum, 0.6},
		{"rise unset", sc.Policy.Rise == nil, true},
		{"steps", fmt.Sprint(sc.Policy.FailbackSteps), "[50 100]"},
		{"hold", *sc.Policy.FailbackHold, 2 * time.Second},
		{"vantages", len(sc.Vantages), 5},
		{"interval", sc.Interval, time.Second},
		{"duration", sc.Duration, 15 * time.Minute},
		{"seed", sc.Seed, int64(42)},
		{"loss", sc.Noise.Loss, 0.02},
		{"sim warmup", sc.Sim.Warmup, 2 * time.Second},
		{"sim hooks default", sc.Sim.Hooks, time.Second},
		{"timeline", len(sc.Timeline), 5},
		{"entry 0 vantages", fmt.Sprint(sc.Timeline[0].Vantages), "[a]"},
		{"entry 0 open-ended", sc.Timeline[0].HasUntil, false},
		{"entry 2 all vantages", sc.Timeline[2].Vantages == nil, true},
		{"entry 2 until", sc.Timeline[2].Until, 700 * time.Second},
		{"entry 2 outcome", sc.Timeline[2].Outcome, OutcomeHTTPStatus},
		{"entry 3 all targets", sc.Timeline[3].AllTargets, true},
		{"entry 3 vantage", fmt.Sprint(sc.Timeline[3].Vantages), "[e]"},
		{"entry 4 targets", fmt.Sprint(sc.Timeline[4].Targets), "[backup origin]"},
		{"entry 4 flap", sc.Timeline[4].Flap, 2 * time.Second},
		{"entry 4 missing", sc.Timeline[4].Outcome, OutcomeMissing},
		{"overrides", len(sc.Overrides), 3},
		{"drill", sc.Overrides[0], Override{At: time.Minute, Kind: OverrideDrill, To: "backup", For: 5 * time.Minute, Reason: "scenario"}},
		{"pin", sc.Overrides[1], Override{At: 8 * time.Minute, Kind: OverridePin, To: "origin", Reason: "maintenance", Force: true}},
		{"release", sc.Overrides[2].Kind, OverrideRelease},
		{"max_shifts", *sc.Expect.MaxShifts, 2},
		{"failover_within", *sc.Expect.FailoverWithin, 5 * time.Second},
		{"max_false_shifts", *sc.Expect.MaxFalseShifts, 0},
		{"max_unhealthy_seconds", *sc.Expect.MaxUnhealthySeconds, 1.5},
		{"recovery_within", *sc.Expect.RecoveryWithin, 30 * time.Second},
		{"frozen", *sc.Expect.Frozen, false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseScenarioErrors(t *testing.T) {
	const head = "service: www\nvantages: [a, b]\ninterval: 1s\nduration: 10m\n"
	cases := []struct {
		name string
		src  string
		want []string // every line of the error, in order
	}{
		{"unknown outcome", head + "timeline:\n  - {at: 1s, target: p, outcome: ok}\n  - {at: 2s, target: p, outcome: ok}\n  - {at: 3s, target: p, outcome: refsed}\n",
			[]string{`timeline[2].outcome: unknown outcome "refsed" (want ok, missing, or a class: dns refused connect_timeout tls timeout reset http_status body_mismatch slow cert_expiring other)`}},
		{"unknown top-level key", head + "tmeline: []\n", []string{"tmeline: unknown field"}},
		{"unknown entry key", head + "timeline:\n  - {at: 1s, target: p, outcome: ok, untill: 5s}\n", []string{"timeline[0].untill: unknown field"}},
		{"unknown nested key", head + "policy: {failback: {step: [100]}}\n", []string{"policy.failback.step: unknown field"}},
		{"unknown expect key", head + "expect: {max_shift: 1}\n", []string{"expect.max_shift: unknown field"}},
		{"missing required", "name: x\n", []string{"service: is required", "vantages: is required: list 1 to 64 vantage names", "duration: is required"}},
		{"duration too long", "service: www\nvantages: [a]\nduration: 169h\n", []string{"duration: must be at most 168h0m0s, got 169h"}},
		{"duration zero", "service: www\nvantages: [a]\nduration: 0s\n", []string{"duration: must be positive"}},
		{"interval too short", "service: www\nvantages: [a]\ninterval: 50ms\nduration: 1m\n", []string{"interval: must be at least 100ms, got 50ms"}},
		{"interval longer than duration", "service: www\nvantages: [a]\ninterval: 2m\nduration: 1m\n", []string{"interval: 2m0s is longer than the duration 1m0s"}},
		{"bare number duration", "service: www\nvantages: [a]\nduration: 60\n", []string{`duration: invalid duration "60" (use Go syntax such as 90s or 5m)`}},
		{"negative duration", head + "timeline:\n  - {at: -1s, target: p, outcome: ok}\n", []string{"timeline[0].at: must not be negative, got -1s"}},
		{"too many probes", "service: www\nvantages: [a, b, c, d, e, f, g, h, i, j]\ninterval: 100ms\nduration: 168h\n", []string{"duration: 168h0m0s at 100ms with 10 vantages is more than 50000000 probes"}},
		{"too many vantages", "service: www\nvantages: [" + strings.Repeat("v, ", 64) + "v]\nduration: 1m\n", []string{"vantages: has 65 items, more than the limit of 64"}},
		{"duplicate vantage", "service: www\nvantages: [a, a]\nduration: 1m\n", []string{`vantages[1]: duplicate "a"`}},
		{"bad name", "service: WWW\nvantages: [a]\nduration: 1m\n", []string{`service: invalid name "WWW" (want lower-case letters, digits and dashes)`}},
		{"unknown vantage", head + "timeline:\n  - {at: 1s, target: p, vantages: [a, z], outcome: ok}\n", []string{`timeline[0].vantages: unknown vantage "z" (not in the scenario's vantages)`}},
		{"target and targets", head + "timeline:\n  - {at: 1s, target: p, targets: all, outcome: ok}\n", []string{"timeline[0].targets: give target or targets, not both"}},
		{"no target", head + "timeline:\n  - {at: 1s, outcome: ok}\n", []string{"timeline[0]: target or targets is required (targets: all for every target)"}},
		{"entry missing fields", head + "timeline:\n  - {target: p}\n", []string{"timeline[0].at: is required", "timeline[0].outcome: is required"}},
		{"until before at", head + "timeline:\n  - {at: 5s, until: 5s, target: p, outcome: ok}\n", []string{"timeline[0].until: 5s is not after at 5s"}},
		{"at after end", head + "timeline:\n  - {at: 10m, target: p, outcome: ok}\n", []string{"timeline[0].at: 10m0s is not before the end of the scenario (10m0s)"}},
		{"until after end", head + "timeline:\n  - {at: 1m, until: 11m, target: p, outcome: ok}\n", []string{"timeline[0].until: 11m0s is after the end of the scenario (10m0s); leave until out to last to the end"}},
		{"entry not a mapping", head + "timeline:\n  - refused\n", []string{`timeline[0]: must be a mapping, got "refused"`}},
		{"timeline not a list", head + "timeline: {at: 1s}\n", []string{"timeline: must be a list, got a mapping"}},
		{"loss out of range", head + "noise: {loss: 1}\n", []string{"noise.loss: must be in [0, 1), got 1"}},
		{"loss not a number", head + "noise: {loss: lots}\n", []string{`noise.loss: must be a number, got "lots"`}},
		{"quorum out of range", head + "policy: {quorum: 1.5}\n", []string{"policy.quorum: must be in (0,1], got 1.5"}},
		{"fall zero", head + "policy: {fall: 0}\n", []string{"policy.fall: must be in [1, 1000], got 0"}},
		{"steps not ending at 100", head + "policy: {failback: {steps: [10, 50]}}\n", []string{"policy.failback.steps: must end at 100"}},
		{"steps decreasing", head + "policy: {failback: {steps: [50, 10, 100]}}\n", []string{"policy.failback.steps[1]: steps must increase, got 10 after 50"}},
		{"drill without for", head + "overrides:\n  - {at: 1m, kind: drill, to: backup}\n", []string{"overrides[0].for: is required for a drill"}},
		{"release with target", head + "overrides:\n  - {at: 1m, kind: release, to: backup}\n", []string{"overrides[0].to: a release takes no target"}},
		{"unknown override kind", head + "overrides:\n  - {at: 1m, kind: freeze}\n", []string{`overrides[0].kind: unknown kind "freeze" (want drill, pin or release)`}},
		{"frozen not bool", head + "expect: {frozen: yes}\n", []string{`expect.frozen: must be true or false, got "yes"`}},
		{"duplicate key", head + "seed: 1\nseed: 2\n", []string{"seed: duplicate key"}},
		{"alias", head + "x: &a 1s\ntimeline:\n  - {at: *a, target: p, outcome: ok}\n", []string{"x: unknown field", "timeline[0].at: YAML aliases are not supported"}},
		{"merge key", head + "expect:\n  <<: {max_shifts: 1}\n", []string{"expect.<<: YAML merge keys are not supported"}},
		{"not a mapping", "- 1\n- 2\n", []string{"must be a mapping, got a list"}},
		{"empty", "", []string{"empty scenario"}},
		{"syntax", "service: [www\n", []string{"yaml: line 1: did not find expected ',' or ']'"}},
		{"too large", strings.Repeat("#", MaxScenarioBytes+1), []string{fmt.Sprintf("scenario is %d bytes, more than the limit of %d", MaxScenarioBytes+1, MaxScenarioBytes)}},
		{"timeline too long", head + "timeline:\n" + strings.Repeat("  - {at: 1s, target: p, outcome: ok}\n", MaxTimeline+1), []string{"timeline: has 10001 items, more than the limit of 10000"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc, err := ParseScenario([]byte(c.src))
			if err == nil {
				t.Fatalf("no error; scenario %+v", sc)
			}
			var se *ScenarioError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v, want *ScenarioError", err, err)
			}
			if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("error:\n%s\nwant:\n%s", err, strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestParseScenarioCapsProblems(t *testing.T) {
	src := "service: www\nvantages: [a]\nduration: 1m\ntimeline:\n" + strings.Repeat("  - {at: 1s, target: p, outcome: nope}\n", 200)
	_, err := ParseScenario([]byte(src))
	var se *ScenarioError
	if !errors.As(err, &se) {
		t.Fatalf("error %v, want *ScenarioError", err)
	}
	if len(se.Problems) != maxProblems || se.More != 200-maxProblems {
		t.Errorf("%d problems and %d more, want %d and %d", len(se.Problems), se.More, maxProblems, 200-maxProblems)
	}
	if !strings.HasSuffix(err.Error(), "... and 150 more problems") {
		t.Errorf("error does not end with the count of the rest: %q", err.Error()[len(err.Error())-60:])
	}
}

func TestOutcomeNames(t *testing.T) {
	for _, name := range []string{"ok", "dns", "refused", "connect_timeout", "tls", "timeout", "reset", "http_status", "body_mismatch", "slow", "cert_expiring", "other", "missing"} {
		o, ok := ParseOutcome(name)
		if !ok || o.String() != name {
			t.Errorf("ParseOutcome(%q) = %v, %v", name, o, ok)
		}
		if got, want := o.Failed(), name != "ok" && name != "missing"; got != want {
			t.Errorf("%s.Failed() = %v", name, got)
		}
		if name != "missing" && string(o.Class()) != name {
			t.Errorf("%s.Class() = %s", name, o.Class())
		}
	}
}

// FuzzParseScenario checks that no input makes the parser panic, and that
// whatever it accepts respects the limits.
func FuzzParseScenario(f *testing.F) {
	f.Add([]byte(validScenario))
	files, _ := filepath.Glob("../../config/scenarios/*.yaml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("service: www\nvantages: [a]\nduration: 1m\ntimeline:\n  - {at: *a, target: p, outcome: ok}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := ParseScenario(data)
		if err != nil {
			if sc != nil {
				t.Fatal("a scenario and an error")
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if sc.Duration <= 0 || sc.Duration > MaxDuration {
			t.Fatalf("duration %s accepted", sc.Duration)
		}
		if sc.Interval != 0 && (sc.Interval < MinInterval || sc.Interval > sc.Duration) {
			t.Fatalf("interval %s accepted", sc.Interval)
		}
		if len(sc.Vantages) == 0 || len(sc.Vantages) > MaxVantages || len(sc.Timeline) > MaxTimeline {
			t.Fatalf("%d vantages, %d entries accepted", len(sc.Vantages), len(sc.Timeline))
		}
		for i, e := range sc.Timeline {
			if e.At < 0 || e.At >= sc.Duration || (e.HasUntil && (e.Until <= e.At || e.Until > sc.Duration)) {
				t.Fatalf("timeline[%d] %+v accepted", i, e)
			}
		}
		// A replay of what was accepted must not panic either, when it is
		// small enough to run in a fuzz iteration.
		iv := sc.Interval
		if iv == 0 {
			iv = time.Second
		}
		// The engine also steps every 500ms between rounds when busy.
		if rounds(sc.Duration, iv)*int64(len(sc.Vantages)) <= 20000 && sc.Duration <= 30*time.Minute {
			if _, err := Run(testConfig(), sc); err != nil {
				var se *ScenarioError
				if !errors.As(err, &se) {
					t.Fatalf("Run: %v", err)
				}
			}
		}
	})
}
