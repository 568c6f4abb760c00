package controller

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/health"
)

var (
	primaryDown = hs{"primary": "down"}
	bothDown    = hs{"primary": "down", "backup": "down"}
	allDown     = hs{"primary": "down", "backup": "down", "origin": "down"}
	warmed      = []Report{{Kind: WarmupDone, Target: "backup", Detail: "120 urls, hit ratio 0.97"}}
)

// failedOverTicks take a started service to failed_over on the backup at 5s.
var failedOverTicks = []tick{
	{at: sec(1), h: primaryDown, want: FailingOver,
		acts: []string{"warmup backup", "state healthy>failing_over", "hooks failover"}},
	{at: sec(5), h: primaryDown, reports: warmed, want: FailedOver, routing: "backup 100",
		acts: []string{"route backup 100", "state failing_over>failed_over", "hooks failed_over"}},
}

// rampTicks continue from failedOverTicks: the primary is healthy again from
// 10s, so the ramp back starts at 130s (recover_after 2m).
var rampTicks = []tick{
	{at: sec(10), h: nil, want: FailedOver, reason: "ramp back after 2m0s"},
	{at: sec(129), want: FailedOver},
	{at: sec(130), want: Recovering, routing: "primary 10, backup 90",
		acts: []string{"route primary 10, backup 90", "state failed_over>recovering", "hooks recovering"}},
}

func concat(parts ...[]tick) []tick {
	var out []tick
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestTransitions(t *testing.T) {
	noWarmup := testService()
	noWarmup.Targets[1].Warmup = nil
	warmPrimary := testService()
	warmPrimary.Targets[0].Warmup = &config.Warmup{MaxWait: 5 * time.Second}
	capped := testService()
	capped.Policy.MaxShiftsPerHour = 2
	quiet := noWarmup
	quiet.On = config.On{}

	tests := []struct {
		name  string
		svc   *config.Service
		ticks []tick
	}{
		{name: "degraded warms the backup ahead and returns to healthy", ticks: []tick{
			{at: sec(1), h: hs{"primary": "suspect"}, want: Degraded,
				acts: []string{"state healthy>degraded", "hooks degraded", "warmup backup"}},
			{at: sec(2), h: hs{"primary": "suspect"}, want: Degraded},
			{at: sec(3), want: Healthy, acts: []string{"state degraded>healthy"}, reason: "recovered before failover"},
		}},
		{name: "degraded with no healthy fallback warms nothing", ticks: []tick{
			{at: sec(1), h: hs{"primary": "suspect", "backup": "down", "origin": "unknown"}, want: Degraded,
				acts: []string{"state healthy>degraded", "hooks degraded"}},
		}},
		{name: "failover waits for the warm-up, then shifts", ticks: failedOverTicks},
		{name: "no on: hooks configured, no hooks run", svc: &quiet, ticks: []tick{
			{at: sec(1), h: primaryDown, want: FailedOver, routing: "backup 100",
				acts: []string{"state healthy>failing_over", "route backup 100", "state failing_over>failed_over"}},
		}},
		{name: "freezing during a failover drops it; the thaw starts it again", ticks: []tick{
			failedOverTicks[0],
			{at: sec(2), h: allDown, want: Frozen, acts: []string{"state failing_over>frozen", "hooks frozen", "alert critical"}},
			{at: sec(3), h: allDown, reports: warmed, want: Frozen},
			{at: sec(4), h: primaryDown, want: FailedOver, routing: "backup 100",
				acts: []string{"state frozen>healthy", "state healthy>failing_over", "hooks failover", "route backup 100",
					"state failing_over>failed_over", "hooks failed_over"}},
		}},
		{name: "failover shifts anyway when max_wait elapses", ticks: []tick{
			failedOverTicks[0],
			{at: sec(10), h: primaryDown, want: FailingOver, reason: "waiting for warm-up"},
			{at: sec(11), h: primaryDown, want: FailedOver, routing: "backup 100",
				acts: []string{"alert warning", "route backup 100", "state failing_over>failed_over", "hooks failed_over"}},
		}},
		{name: "degraded then failover reuses the running warm-up", ticks: []tick{
			{at: sec(1), h: hs{"primary": "suspect"}, want: Degraded,
				acts: []string{"state healthy>degraded", "hooks degraded", "warmup backup"}},
			{at: sec(2), h: primaryDown, want: FailingOver, acts: []string{"state degraded>failing_over", "hooks failover"}},
			{at: sec(3), h: primaryDown, reports: warmed, want: FailedOver, routing: "backup 100",
				acts: []string{"route backup 100", "state failing_over>failed_over", "hooks failed_over"}},
		}},
		{name: "a failed warm-up does not hold the shift", ticks: []tick{
			failedOverTicks[0],
			{at: sec(2), h: primaryDown, reports: []Report{{Kind: WarmupFailed, Target: "backup", Detail: "timeout"}},
				want: FailedOver, routing: "backup 100",
				acts: []string{"alert warning", "route backup 100", "state failing_over>failed_over", "hooks failed_over"}},
		}},
		{name: "failover is cancelled when the primary recovers before the shift", ticks: []tick{
			failedOverTicks[0],
			{at: sec(2), want: Healthy, acts: []string{"state failing_over>healthy"}, reason: "cancelled"},
		}},
		{name: "a backup without warm-up or gates takes the weight at once", svc: &noWarmup, ticks: []tick{
			{at: sec(1), h: primaryDown, want: FailedOver, routing: "backup 100",
				acts: []string{"state healthy>failing_over", "hooks failover", "route backup 100",
					"state failing_over>failed_over", "hooks failed_over"}},
		}},
		{name: "the chosen fallback dies during the wait: the next one is prepared", ticks: []tick{
			failedOverTicks[0],
			{at: sec(3), h: bothDown, want: FailingOver, acts: []string{"gate origin"}, reason: "failing over to origin"},
			{at: sec(4), h: bothDown, reports: []Report{{Kind: HooksDone, Target: "origin"}}, want: FailedOver,
				routing: "primary 75, origin 25",
				acts:    []string{"route primary 75, origin 25", "state failing_over>failed_over", "hooks failed_over"}},
		}},
		{name: "the active backup dies: the origin takes the weight in steps behind its gate", ticks: concat(failedOverTicks, []tick{
			{at: sec(60), h: bothDown, want: FailingOver, acts: []string{"gate origin", "state failed_over>failing_over"}},
			{at: sec(62), h: bothDown, reports: []Report{{Kind: HooksDone, Target: "origin"}}, want: FailedOver,
				routing: "backup 75, origin 25",
				acts:    []string{"route backup 75, origin 25", "state failing_over>failed_over", "hooks failed_over"}},
			{at: sec(121), h: bothDown, want: FailedOver},
			{at: sec(122), h: bothDown, want: FailedOver, routing: "backup 50, origin 50",
				acts: []string{"route backup 50, origin 50"}},
			{at: sec(150), h: bothDown, want: FailedOver},
			{at: sec(182), h: bothDown, want: FailedOver, routing: "origin 100", acts: []string{"route origin 100"}},
			{at: sec(300), h: bothDown, want: FailedOver},
		})},
		{name: "origin steps pause while the origin's health is unknown", ticks: concat(failedOverTicks, []tick{
			{at: sec(60), h: bothDown, want: FailingOver, acts: []string{"gate origin", "state failed_over>failing_over"}},
			{at: sec(62), h: bothDown, reports: []Report{{Kind: HooksDone, Target: "origin"}}, want: FailedOver,
				routing: "backup 75, origin 25",
				acts:    []string{"route backup 75, origin 25", "state failing_over>failed_over", "hooks failed_over"}},
			{at: sec(122), h: hs{"primary": "down", "backup": "down", "origin": "unknown"}, want: Frozen,
				acts: []string{"state failed_over>frozen", "hooks frozen", "alert critical"}},
		})},
		{name: "a gate that never reports is bounded by the gate wait", ticks: concat(failedOverTicks, []tick{
			{at: sec(60), h: bothDown, want: FailingOver, acts: []string{"gate origin", "state failed_over>failing_over"}},
			{at: sec(69), h: bothDown, want: FailingOver, reason: "before_shift hooks"},
			{at: sec(70), h: bothDown, want: FailedOver, routing: "backup 75, origin 25",
				acts: []string{"alert warning", "route backup 75, origin 25", "state failing_over>failed_over", "hooks failed_over"}},
		})},
		{name: "everything down freezes without writing, and thaws", ticks: []tick{
			{at: sec(1), h: allDown, want: Frozen, acts: []string{"state healthy>frozen", "hooks frozen", "alert critical"},
				reason: "no healthy target"},
			{at: sec(2), h: allDown, want: Frozen},
			{at: sec(3), want: Healthy, acts: []string{"state frozen>healthy"}},
		}},
		{name: "frozen while failed over thaws onto the fallback", ticks: concat(failedOverTicks, []tick{
			{at: sec(20), h: allDown, want: Frozen, acts: []string{"state failed_over>frozen", "hooks frozen", "alert critical"}},
			{at: sec(30), h: primaryDown, want: FailedOver, acts: []string{"state frozen>failed_over"}},
		})},
		{name: "fewer live vantages than min_vantages freezes", ticks: []tick{
			{at: sec(1), live: 1, want: Frozen, acts: []string{"state healthy>frozen", "hooks frozen", "alert critical"},
				reason: "insufficient data"},
			{at: sec(2), live: 1, h: primaryDown, want: Frozen},
			{at: sec(3), want: Healthy, acts: []string{"state frozen>healthy"}},
		}},
		{name: "shift-back ramps through the steps holding each", ticks: concat(failedOverTicks, rampTicks, []tick{
			{at: sec(189), want: Recovering},
			{at: sec(190), want: Recovering, routing: "primary 25, backup 75", acts: []string{"route primary 25, backup 75"}},
			{at: sec(250), want: Recovering, routing: "primary 50, backup 50", acts: []string{"route primary 50, backup 50"}},
			{at: sec(310), want: Healthy, routing: "primary 100",
				acts: []string{"route primary 100", "state recovering>healthy", "hooks recovered"}},
		})},
		{name: "a primary failure breaks the recover_after streak", ticks: concat(failedOverTicks, []tick{
			{at: sec(10), want: FailedOver},
			{at: sec(100), h: hs{"primary": "suspect"}, want: FailedOver},
			{at: sec(101), want: FailedOver},
			{at: sec(130), want: FailedOver, reason: "healthy for 29s"},
			{at: sec(221), want: Recovering, routing: "primary 10, backup 90",
				acts: []string{"route primary 10, backup 90", "state failed_over>recovering", "hooks recovering"}},
		})},
		{name: "a relapse during the ramp aborts it and doubles recover_after", ticks: concat(failedOverTicks, rampTicks, []tick{
			{at: sec(150), h: hs{"primary": "suspect"}, want: FailedOver, routing: "backup 100",
				acts: []string{"route backup 100", "state recovering>failed_over", "hooks failed_over"}, reason: "x2"},
			{at: sec(151), want: FailedOver, reason: "ramp back after 4m0s"},
			{at: sec(390), want: FailedOver},
			{at: sec(391), want: Recovering, routing: "primary 10, backup 90",
				acts: []string{"route primary 10, backup 90", "state failed_over>recovering", "hooks recovering"}},
		})},
		{name: "a primary going down during the ramp goes back to the fallback", ticks: concat(failedOverTicks, rampTicks, []tick{
			{at: sec(150), h: primaryDown, want: FailedOver, routing: "backup 100",
				acts: []string{"route backup 100", "state recovering>failed_over", "hooks failed_over"}},
		})},
		{name: "the fallback dying during the ramp sends all weight to the healthy primary", ticks: concat(failedOverTicks, rampTicks, []tick{
			{at: sec(150), h: hs{"backup": "down"}, want: Healthy, routing: "primary 100",
				acts: []string{"route primary 100", "state recovering>healthy", "hooks recovered"}},
		})},
		{name: "the fallback dying with the primary healthy but not yet for recover_after goes straight back", ticks: concat(failedOverTicks, []tick{
			{at: sec(10), want: FailedOver},
			{at: sec(20), h: hs{"backup": "down"}, want: Healthy, routing: "primary 100",
				acts: []string{"state failed_over>failing_over", "route primary 100", "state failing_over>healthy", "hooks recovered"}},
		})},
		{name: "the primary is warmed before the ramp", svc: &warmPrimary, ticks: concat(failedOverTicks, []tick{
			{at: sec(10), want: FailedOver},
			{at: sec(130), want: FailedOver, acts: []string{"warmup primary"}, reason: "waiting for its warm-up"},
			{at: sec(140), want: FailedOver},
			{at: sec(141), reports: []Report{{Kind: WarmupDone, Target: "primary"}}, want: Recovering,
				routing: "primary 10, backup 90",
				acts:    []string{"route primary 10, backup 90", "state failed_over>recovering", "hooks recovering"}},
		})},
		{name: "max_shifts_per_hour holds ramp steps but not emergency moves", svc: &capped, ticks: concat(failedOverTicks, rampTicks, []tick{
			{at: sec(190), want: Recovering, acts: []string{"alert warning"}, reason: "holding: 2 automatic routing changes"},
			{at: sec(250), want: Recovering},
			{at: sec(260), h: primaryDown, want: FailedOver, routing: "backup 100",
				acts: []string{"route backup 100", "state recovering>failed_over", "hooks failed_over"}},
			// The three shifts of 5s, 130s and 260s leave the window one by one;
			// the recover_after is now 4m.
			{at: sec(261), want: FailedOver},
			{at: sec(3605), want: FailedOver, acts: []string{"alert warning"}, reason: "holding"},
			{at: sec(3731), want: Recovering, routing: "primary 10, backup 90",
				acts: []string{"route primary 10, backup 90", "state failed_over>recovering", "hooks recovering"}},
		})},
		{name: "a vantage notice becomes a vantage event", ticks: []tick{
			{at: sec(1), notices: []health.Notice{{Vantage: "v4", Impaired: true, Message: "vantage v4 impaired"}},
				want: Healthy, acts: []string{"vantage"}},
		}},
		{name: "a DNS write failure alerts and is retried", ticks: concat(failedOverTicks, []tick{
			{at: sec(6), h: primaryDown, reports: []Report{{Kind: DNSFailed, Routing: AllOn(targets, "backup"), Detail: "throttled"}},
				want: FailedOver, acts: []string{"alert critical"}},
			{at: sec(10), h: primaryDown, want: FailedOver},
			{at: sec(11), h: primaryDown, want: FailedOver, acts: []string{"route backup 100"}},
			{at: sec(12), h: primaryDown, reports: []Report{{Kind: DNSApplied, Routing: AllOn(targets, "backup")}}, want: FailedOver},
			{at: sec(30), h: primaryDown, want: FailedOver},
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := testService()
			if tt.svc != nil {
				svc = *tt.svc
			}
			e := newEngine(t, svc)
			play(t, e, started(t, e), tt.ticks)
		})
	}
}

func TestOverrides(t *testing.T) {
	drill := &Override{Kind: Drill, To: "backup", Until: t0.Add(10 * time.Minute), Reason: "game day", By: "ops"}
	pin := &Override{Kind: Pin, To: "backup", Reason: "primary maintenance", By: "ops"}
	forced := &Override{Kind: Drill, To: "backup", Until: t0.Add(10 * time.Minute), Reason: "test", Force: true}
	pinOrigin := &Override{Kind: Pin, To: "origin", Reason: "bypass CDNs"}
	started := []string{"override", "hooks override", "route backup 100", "state healthy>manual"}

	tests := []struct {
		name  string
		ticks []tick
	}{
		{name: "a drill reverts by itself at expiry", ticks: []tick{
			{at: sec(1), override: drill, want: Manual, routing: "backup 100", acts: started},
			{at: sec(100), override: drill, want: Manual},
			{at: sec(599), override: drill, h: primaryDown, want: Manual},
			{at: sec(600), override: drill, want: Healthy, routing: "primary 100",
				acts: []string{"clear", "override", "hooks override", "route primary 100", "state manual>healthy"}},
			{at: sec(601), override: drill, want: Healthy}, // the loop has not dropped it yet
			{at: sec(602), want: Healthy},
		}},
		{name: "a pin stays until released", ticks: []tick{
			{at: sec(1), override: pin, want: Manual, routing: "backup 100", acts: started},
			{at: 48 * time.Hour, override: pin, want: Manual},
			{at: 48*time.Hour + time.Second, want: Healthy, routing: "primary 100",
				acts: []string{"override", "hooks override", "route primary 100", "state manual>healthy"}},
		}},
		{name: "a drill to an unhealthy target is refused", ticks: []tick{
			{at: sec(1), h: hs{"backup": "down"}, override: drill, want: Healthy,
				acts: []string{"override", "alert warning", "clear"}},
			{at: sec(2), h: hs{"backup": "down"}, override: drill, want: Healthy},
			{at: sec(3), want: Healthy},
		}},
		{name: "a pin to a target of unknown health is refused", ticks: []tick{
			{at: sec(1), h: hs{"origin": "unknown"}, override: pinOrigin, want: Healthy,
				acts: []string{"override", "alert warning", "clear"}},
		}},
		{name: "a forced drill to an unhealthy target is accepted and holds", ticks: []tick{
			{at: sec(1), h: hs{"backup": "down"}, override: forced, want: Manual, routing: "backup 100", acts: started},
			{at: sec(2), h: hs{"backup": "down"}, override: forced, want: Manual},
		}},
		{name: "release returns to the state the verdicts imply", ticks: []tick{
			{at: sec(1), override: pin, want: Manual, routing: "backup 100", acts: started},
			{at: sec(2), h: primaryDown, override: pin, want: Manual},
			{at: sec(3), h: primaryDown, want: FailedOver, acts: []string{"override", "hooks override", "state manual>failed_over"}},
			{at: sec(4), want: FailedOver},
			{at: sec(124), want: Recovering, routing: "primary 10, backup 90",
				acts: []string{"route primary 10, backup 90", "state failed_over>recovering", "hooks recovering"}},
		}},
		{name: "release onto a dead pin target fails over to the healthy one", ticks: []tick{
			{at: sec(1), override: pinOrigin, want: Manual, routing: "origin 100",
				acts: []string{"override", "hooks override", "route origin 100", "state healthy>manual"}},
			{at: sec(2), h: hs{"primary": "down", "origin": "down"}, override: pinOrigin, want: Manual,
				acts: []string{"alert critical"}},
			{at: sec(3), h: hs{"primary": "down", "origin": "down"}, override: pinOrigin, want: Manual},
			{at: sec(4), h: hs{"primary": "down", "origin": "down"}, want: FailingOver,
				acts: []string{"override", "hooks override", "state manual>failed_over", "warmup backup", "state failed_over>failing_over"}},
		}},
		{name: "a drill whose target dies is aborted", ticks: []tick{
			{at: sec(1), override: drill, want: Manual, routing: "backup 100", acts: started},
			{at: sec(2), h: hs{"backup": "down"}, override: drill, want: Healthy, routing: "primary 100",
				acts: []string{"alert critical", "clear", "override", "hooks override", "route primary 100", "state manual>healthy"}},
		}},
		{name: "an override keeps manual even with too few vantages", ticks: []tick{
			{at: sec(1), override: pin, want: Manual, routing: "backup 100", acts: started},
			{at: sec(2), live: 1, override: pin, want: Manual},
			{at: sec(3), live: 1, want: Frozen,
				acts: []string{"override", "hooks override", "state manual>failed_over", "state failed_over>frozen", "hooks frozen", "alert critical"}},
		}},
		{name: "a new override replaces the one in force", ticks: []tick{
			{at: sec(1), override: pin, want: Manual, routing: "backup 100", acts: started},
			{at: sec(2), override: pinOrigin, want: Manual, routing: "origin 100",
				acts: []string{"override", "hooks override", "route origin 100"}},
		}},
		{name: "an override interrupts a failover in progress", ticks: []tick{
			failedOverTicks[0],
			{at: sec(2), h: primaryDown, override: pinOrigin, want: Manual, routing: "origin 100",
				acts: []string{"override", "hooks override", "route origin 100", "state failing_over>manual"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, testService())
			play(t, e, startedState(t, e), tt.ticks)
		})
	}
}

func startedState(t *testing.T, e *Engine) State { return started(t, e) }

func TestValidateOverride(t *testing.T) {
	e := newEngine(t, testService())
	v := verdicts(hs{"backup": "down", "origin": "unknown"}, 3)
	tests := []struct {
		name string
		o    Override
		want error
		msg  string
	}{
		{"healthy drill", Override{Kind: Drill, To: "primary", Until: t0.Add(time.Minute), Reason: "r"}, nil, ""},
		{"pin without expiry", Override{Kind: Pin, To: "primary", Reason: "r"}, nil, ""},
		{"unhealthy target", Override{Kind: Drill, To: "backup", Until: t0.Add(time.Minute), Reason: "r"},
			ErrTargetNotHealthy, "backup is unhealthy (all down)"},
		{"unknown health", Override{Kind: Pin, To: "origin", Reason: "r"}, ErrTargetNotHealthy, "origin is unknown"},
		{"forced onto an unhealthy target", Override{Kind: Pin, To: "backup", Reason: "r", Force: true}, nil, ""},
		{"no such target", Override{Kind: Pin, To: "akamai", Reason: "r"}, ErrInvalidOverride, `no target "akamai"`},
		{"bad kind", Override{Kind: "freeze", To: "primary", Reason: "r"}, ErrInvalidOverride, "kind"},
		{"no reason", Override{Kind: Pin, To: "primary"}, ErrInvalidOverride, "reason"},
		{"drill without duration", Override{Kind: Drill, To: "primary", Reason: "r"}, ErrInvalidOverride, "duration"},
		{"already over", Override{Kind: Pin, To: "primary", Until: t0, Reason: "r"}, ErrInvalidOverride, "not in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.ValidateOverride(tt.o, v, t0)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
}

func TestRestart(t *testing.T) {
	svc := testService()
	stored := State{Phase: FailedOver, Since: t0.Add(-time.Hour), Reason: "x", Routing: AllOn(targets, "backup"),
		Active: "backup", RecoverFactor: 4, LastRelapse: t0.Add(-time.Hour), Shifts: []time.Time{t0.Add(-time.Minute)}}
	unknown := hs{"primary": "unknown", "backup": "unknown", "origin": "unknown"}
	tests := []struct {
		name   string
		stored *State
		actual Routing
		ticks  []tick
	}{
		{name: "resumes from the stored state and DNS, writing nothing until there is evidence",
			stored: &stored, actual: AllOn(targets, "backup"), ticks: []tick{
				{at: sec(1), h: unknown, want: FailedOver},
				{at: sec(2), h: unknown, live: 1, want: FailedOver},
				{at: sec(3), h: primaryDown, want: FailedOver},
				{at: sec(4), want: FailedOver, reason: "ramp back after 8m0s"},
			}},
		{name: "DNS wins over the stored state", stored: &stored, actual: AllOn(targets, "primary"), ticks: []tick{
			{at: sec(1), h: unknown, want: FailedOver},
			{at: sec(2), want: Healthy, acts: []string{"state failed_over>healthy"}},
		}},
		{name: "unreadable DNS is written once the desired target is healthy", stored: nil, actual: nil, ticks: []tick{
			{at: sec(1), h: unknown, want: Healthy},
			{at: sec(2), h: primaryDown, live: 3, want: FailingOver,
				acts: []string{"warmup backup", "state healthy>failing_over", "hooks failover"}},
			{at: sec(3), h: primaryDown, reports: warmed, want: FailedOver, routing: "backup 100",
				acts: []string{"route backup 100", "state failing_over>failed_over", "hooks failed_over"}},
		}},
		{name: "unreadable DNS with a healthy primary is written", stored: nil, actual: Routing{"primary": 60, "backup": 60}, ticks: []tick{
			{at: sec(1), h: unknown, want: Healthy},
			{at: sec(2), want: Healthy, acts: []string{"route primary 100"}},
			{at: sec(3), want: Healthy},
		}},
		{name: "no evidence within the start-up grace freezes", stored: nil, actual: AllOn(targets, "primary"), ticks: []tick{
			{at: sec(29), h: unknown, live: 1, want: Healthy},
			{at: sec(30), h: unknown, live: 1, want: Frozen, acts: []string{"state healthy>frozen", "hooks frozen", "alert critical"},
				reason: "no fresh evidence"},
			{at: sec(31), want: Healthy, acts: []string{"state frozen>healthy"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t, svc)
			st := e.Resume(tt.stored, tt.actual, t0)
			if !st.AwaitingEvidence {
				t.Fatal("resumed state does not await evidence")
			}
			play(t, e, st, tt.ticks)
		})
	}
}

func TestDampingResetsAfterADay(t *testing.T) {
	e := newEngine(t, testService())
	st := started(t, e)
	st.RecoverFactor, st.LastRelapse = 8, t0
	tests := []struct {
		name string
		at   time.Duration
		want int
	}{
		{"kept within the day", 24*time.Hour - time.Second, 8},
		{"reset after a clean day", 24 * time.Hour, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, _ := e.Step(st, Input{Verdicts: verdicts(nil, 3)}, t0.Add(tt.at))
			if next.RecoverFactor != tt.want {
				t.Errorf("factor %d, want %d", next.RecoverFactor, tt.want)
			}
		})
	}
}

func TestRecoverFactorIsCapped(t *testing.T) {
	svc := testService()
	svc.Policy.MaxShiftsPerHour = 100
	e := newEngine(t, svc)
	st := play(t, e, started(t, e), concat(failedOverTicks, rampTicks))
	now := 130 * time.Second
	for i, want := range []int{2, 4, 8, 8} {
		// Abort the ramp, then wait out the recover_after and ramp again.
		now += sec(10)
		st, _ = e.Step(st, Input{Verdicts: verdicts(primaryDown, 3)}, t0.Add(now))
		if st.Phase != FailedOver || st.RecoverFactor != want {
			t.Fatalf("relapse %d: %s x%d, want failed_over x%d", i, st.Phase, st.RecoverFactor, want)
		}
		now += sec(1)
		st, _ = e.Step(st, Input{Verdicts: verdicts(nil, 3)}, t0.Add(now))
		now += 2 * time.Minute * time.Duration(want)
		st, _ = e.Step(st, Input{Verdicts: verdicts(nil, 3)}, t0.Add(now))
		if st.Phase != Recovering {
			t.Fatalf("relapse %d: %s after %s, want recovering (%s)", i, st.Phase, 2*time.Minute*time.Duration(want), st.Reason)
		}
	}
}

func TestEventsCarryEvidence(t *testing.T) {
	e := newEngine(t, testService())
	st := started(t, e)
	v := verdicts(primaryDown, 3)
	_, acts := e.Step(st, Input{Verdicts: v}, t0)
	var ev *Event
	for _, a := range acts {
		if x, ok := a.(Event); ok && x.Type == EventState {
			ev = &x
		}
	}
	if ev == nil {
		t.Fatal("no state event")
	}
	p, ok := ev.Evidence["primary"].(map[string]any)
	if !ok {
		t.Fatalf("no primary evidence in %v", ev.Evidence)
	}
	want := map[string]any{
		"health":        "unhealthy",
		"reason":        "all down",
		"up":            []string(nil),
		"down":          []string{"v1", "v2", "v3"},
		"failing":       []string{"v1", "v2", "v3"},
		"classes":       map[string]int{"refused": 3},
		"failing_since": t0,
		"last_error":    "refused: connection refused",
		"last_error_at": time.Time{},
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("primary evidence (-want +got):\n%s", diff)
	}
	if !strings.Contains(ev.Message, "primary primary unhealthy: all down") || ev.From != "healthy" || ev.To != "failing_over" {
		t.Errorf("event %q %s>%s", ev.Message, ev.From, ev.To)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name  string
		svc   config.Service
		order []string
		err   bool
	}{
		{name: "fallback order is primary, backups in config order, origin", svc: config.Service{Targets: []config.Target{
			{Name: "o", Role: config.RoleOrigin}, {Name: "b1", Role: config.RoleBackup},
			{Name: "p", Role: config.RolePrimary}, {Name: "b2", Role: config.RoleBackup}}},
			order: []string{"p", "b1", "b2", "o"}},
		{name: "without a primary role the first target is primary", svc: config.Service{Targets: []config.Target{
			{Name: "a"}, {Name: "b", Role: config.RoleBackup}}}, order: []string{"a", "b"}},
		{name: "no targets", svc: config.Service{Name: "x"}, err: true},
		{name: "duplicate targets", svc: config.Service{Targets: []config.Target{{Name: "a"}, {Name: "a"}}}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(tt.svc, Options{})
			if tt.err {
				if !errors.Is(err, ErrBadService) {
					t.Fatalf("got %v, want ErrBadService", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.order, e.Order()); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
		})
	}
}
