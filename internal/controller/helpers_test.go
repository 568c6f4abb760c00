package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/health"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

var targets = []string{"primary", "backup", "origin"}

// testService is the lab-like service the tests run: a primary, a backup
// with a warm-up, an origin with a before_shift gate and steps.
func testService() config.Service {
	return config.Service{
		Name: "www",
		Targets: []config.Target{
			{Name: "primary", Role: config.RolePrimary},
			{Name: "backup", Role: config.RoleBackup, Warmup: &config.Warmup{MaxWait: 10 * time.Second}},
			{Name: "origin", Role: config.RoleOrigin, BeforeShift: []string{"scale-origin"}, Steps: []int{25, 50, 100}},
		},
		Policy: config.Policy{
			Fall: 3, Rise: 3, Quorum: 0.5, MinVantages: 2,
			RecoverAfter:     2 * time.Minute,
			Failback:         config.Failback{Steps: []int{10, 25, 50, 100}, Hold: time.Minute},
			MaxShiftsPerHour: 6,
		},
		On: config.On{
			Degraded: []string{"page"}, Failover: []string{"page"}, FailedOver: []string{"page"},
			Recovering: []string{"page"}, Recovered: []string{"page"}, Frozen: []string{"page"},
			Override: []string{"page"},
		},
	}
}

func newEngine(t testing.TB, svc config.Service) *Engine {
	t.Helper()
	e, err := New(svc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// health specs: up (healthy), down (unhealthy), unknown, suspect (healthy but
// failing somewhere).
type hs map[string]string

// verdicts builds the verdicts of a spec; targets not named are up.
func verdicts(spec hs, live int) health.Verdicts {
	v := health.Verdicts{Service: "www", Live: live}
	for _, t := range targets {
		vd := health.Verdict{Target: t, Status: health.Healthy, Counted: live, Up: live, Reason: "all up"}
		ev := func(ok bool, state health.VantageState) []health.VantageEvidence {
			var out []health.VantageEvidence
			for i := range live {
				e := health.VantageEvidence{Vantage: fmt.Sprintf("v%d", i+1), Live: true, OK: ok, State: state,
					At: t0, Class: "ok"}
				if !ok {
					e.Class = "refused"
					e.FailingSince = t0
				}
				out = append(out, e)
			}
			return out
		}
		vd.Vantages = ev(true, health.StateUp)
		switch spec[t] {
		case "down":
			vd.Status, vd.Up, vd.Down, vd.Reason = health.Unhealthy, 0, live, "all down"
			vd.Vantages = ev(false, health.StateDown)
			vd.FailingSince, vd.LastError = t0, "refused: connection refused"
		case "unknown":
			vd.Status, vd.Up, vd.Reason = health.Unknown, 0, "no quorum"
			vd.Vantages = ev(true, health.StatePending)
		case "suspect":
			vd.Suspect, vd.Reason = true, "one vantage down"
			if len(vd.Vantages) > 0 {
				vd.Vantages[0].OK, vd.Vantages[0].State, vd.Vantages[0].Class = false, health.StateDown, "timeout"
			}
		}
		if live < 2 {
			vd.Status, vd.Reason = health.Unknown, "insufficient data"
		}
		v.Targets = append(v.Targets, vd)
	}
	return v
}

// summary renders the actions that matter for a test: routing changes,
// warm-ups, hooks, alerts, state and override events, override clears.
// dns, warmup and hook events are bookkeeping and left out.
func summary(acts []Action) []string {
	var out []string
	for _, a := range acts {
		switch a := a.(type) {
		case SetRouting:
			out = append(out, "route "+a.Routing.Format(targets))
		case StartWarmup:
			out = append(out, "warmup "+a.Target)
		case RunHooks:
			if a.Gate {
				out = append(out, "gate "+a.Target)
			} else {
				out = append(out, "hooks "+string(a.Event))
			}
		case Alert:
			out = append(out, "alert "+a.Severity)
		case Event:
			switch a.Type {
			case EventState:
				out = append(out, "state "+a.From+">"+a.To)
			case EventOverride, EventVantage:
				out = append(out, a.Type)
			}
		case ClearOverride:
			out = append(out, "clear")
		}
	}
	return out
}

// tick is one Step of a scripted scenario.
type tick struct {
	at       time.Duration // since t0
	h        hs            // health; nil: all up
	live     int           // live vantages; 0 means 3
	reports  []Report
	override *Override
	notices  []health.Notice

	want    Phase
	routing string   // expected routing (Format); "" means unchanged from before
	acts    []string // expected summary of the actions
	reason  string   // a substring of the reason, when set
}

// play runs ticks from st and checks each; it returns the final state.
func play(t *testing.T, e *Engine, st State, ticks []tick) State {
	t.Helper()
	for i, tk := range ticks {
		live := tk.live
		if live == 0 {
			live = 3
		}
		in := Input{Verdicts: verdicts(tk.h, live), Override: tk.override, Reports: tk.reports}
		in.Verdicts.Notices = tk.notices
		now := t0.Add(tk.at)
		in.Verdicts.At = now
		before := st.Clone()
		next, acts := e.Step(st, in, now)
		if diff := cmp.Diff(before, st); diff != "" {
			t.Fatalf("tick %d (%s): Step modified its input state:\n%s", i, tk.at, diff)
		}
		if err := next.Routing.Validate(targets); err != nil {
			t.Fatalf("tick %d (%s): %v", i, tk.at, err)
		}
		wantRouting := tk.routing
		if wantRouting == "" {
			wantRouting = st.Routing.Format(targets)
		}
		got := []any{next.Phase, next.Routing.Format(targets), summary(acts)}
		want := []any{tk.want, wantRouting, tk.acts}
		if tk.acts == nil {
			want[2] = []string(nil)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("tick %d (%s): phase, routing, actions (-want +got):\n%s\nreason: %s", i, tk.at, diff, next.Reason)
		}
		if tk.reason != "" && !strings.Contains(next.Reason, tk.reason) {
			t.Fatalf("tick %d (%s): reason %q does not contain %q", i, tk.at, next.Reason, tk.reason)
		}
		for _, a := range acts {
			if ev, ok := a.(Event); ok && (ev.Message == "" || ev.Service != "www" || !ev.Time.Equal(now)) {
				t.Fatalf("tick %d: incomplete event %+v", i, ev)
			}
			if ev, ok := a.(Event); ok && ev.Type == EventState && ev.Evidence == nil {
				t.Fatalf("tick %d: state event without evidence: %+v", i, ev)
			}
		}
		st = next
	}
	return st
}

// started returns a state past the start-up wait, healthy on the primary.
func started(t *testing.T, e *Engine) State {
	t.Helper()
	st, _ := e.Step(e.Initial(t0.Add(-time.Second)), Input{Verdicts: verdicts(nil, 3)}, t0.Add(-time.Second))
	if st.Phase != Healthy || st.AwaitingEvidence {
		t.Fatalf("start: %s awaiting %v", st.Phase, st.AwaitingEvidence)
	}
	return st
}

func sec(n int) time.Duration { return time.Duration(n) * time.Second }

func routes(acts []Action) []SetRouting {
	var out []SetRouting
	for _, a := range acts {
		if r, ok := a.(SetRouting); ok {
			out = append(out, r)
		}
	}
	return out
}
