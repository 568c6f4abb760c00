package simulate

import (
	"slices"
	"time"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/controller"
	"github.com/failoverhq/failover/internal/health"
	"github.com/failoverhq/failover/internal/probe"
)

// epoch is the fake clock's zero: the start of every scenario.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ours drives the real health tracker and decision engine on the fake clock,
// as the controller's loop does on the real one:
//
//   - each round's results are observed at the round's time, then the engine
//     steps; it also steps every controller.evaluate_every between rounds,
//     when a simulated side effect completes, and when an override starts;
//   - SetRouting applies at once (the routing that matters is the routing
//     applied) and is reported back as DNSApplied at the next step;
//   - StartWarmup and before_shift hooks (RunHooks with Gate) complete after
//     sim.warmup and sim.hooks and are reported back then as WarmupDone and
//     HooksDone; on: hooks, alerts and events have no effect on routing;
//   - overrides are held as the loop holds an operator's request, and dropped
//     on ClearOverride.
type ours struct {
	track
	svc      string
	eng      *controller.Engine
	tr       *health.Tracker
	st       controller.State
	every    time.Duration
	sim      SimOptions
	vantages []string
	targets  []string // fallback order
	nt       int

	overrides []Override // sorted by time
	ovIdx     int
	held      *controller.Override

	pending []pendingReport // due reports, in due order
	reports []controller.Report
	nextEv  time.Duration // next evaluate_every tick
	quiet   bool          // the last step changed nothing and asked for nothing

	// summary
	phaseAt      time.Duration
	phaseSecs    map[controller.Phase]time.Duration
	visited      map[controller.Phase]bool
	transitions  int
	frozenWrites int
	alerts       int
	observeErr   error
	results      []probe.Result
}

type pendingReport struct {
	due time.Duration
	rep controller.Report
}

func newOurs(svc config.Service, eng *controller.Engine, interval, every time.Duration, sc *Scenario, targets []string) *ours {
	o := &ours{
		track:     newTrack(targets),
		svc:       svc.Name,
		eng:       eng,
		tr:        health.NewTracker(svc, interval),
		every:     every,
		sim:       sc.Sim,
		vantages:  sc.Vantages,
		targets:   targets,
		nt:        len(targets),
		overrides: slices.Clone(sc.Overrides),
		nextEv:    every,
		phaseSecs: map[controller.Phase]time.Duration{},
		visited:   map[controller.Phase]bool{},
		results:   make([]probe.Result, len(targets)),
	}
	slices.SortStableFunc(o.overrides, func(a, b Override) int { return cmpDur(a.At, b.At) })
	o.st = eng.Initial(epoch)
	o.track.state = string(o.st.Phase)
	o.visited[o.st.Phase] = true
	for i, t := range targets {
		o.results[i] = probe.Result{Service: svc.Name, Target: t}
	}
	return o
}

// round observes the round at t, then steps the engine at every moment it
// would step before next.
func (o *ours) round(t, next time.Duration, out []Outcome) {
	now := epoch.Add(t)
	for v, name := range o.vantages {
		for ti := range o.nt {
			oc := out[v*o.nt+ti]
			if oc == OutcomeMissing {
				continue
			}
			r := &o.results[ti]
			r.Time, r.OK, r.Class = now, !oc.Failed(), oc.Class()
			r.LatencyMs, r.Status, r.Error = 20, 200, ""
			switch oc {
			case OutcomeOK:
			case OutcomeSlow:
				r.LatencyMs = 5000
			case OutcomeHTTPStatus:
				r.Status = 503
			default:
				r.Status = 0
			}
			if !r.OK {
				r.Error = "simulated " + string(r.Class)
			}
			if err := o.tr.Observe(name, *r); err != nil && o.observeErr == nil {
				// Times increase and the targets are the service's: this
				// is a bug, and Run reports it.
				o.observeErr = err
			}
		}
	}
	for o.nextEv <= t {
		o.nextEv += o.every
	}
	at, stepNow := t, true
	for {
		if stepNow {
			o.step(at)
			// Side effects that complete at once are fed back at once,
			// within reason.
			for i := 0; i < 8 && len(o.pending) > 0 && o.pending[0].due <= at; i++ {
				o.step(at)
			}
		}
		nxt := min(next, o.nextEv)
		if len(o.pending) > 0 && o.pending[0].due > at {
			nxt = min(nxt, o.pending[0].due)
		}
		if o.ovIdx < len(o.overrides) && o.overrides[o.ovIdx].At > at {
			nxt = min(nxt, o.overrides[o.ovIdx].At)
		}
		if nxt >= next {
			return
		}
		evalTick := nxt == o.nextEv
		if evalTick {
			o.nextEv += o.every
		}
		at = nxt
		stepNow = !evalTick || !o.idle(at)
	}
}

// idle reports whether stepping at an evaluation tick between rounds can be
// skipped: the engine is healthy with nothing in flight and no override due,
// and its last step did nothing. Then only new evidence, which comes with
// the next round, can change its mind. This halves the cost of long quiet
// replays; freshness is still judged at every round.
func (o *ours) idle(at time.Duration) bool {
	return o.quiet && o.st.Phase == controller.Healthy && !o.st.AwaitingEvidence &&
		o.held == nil && len(o.pending) == 0 && len(o.reports) == 0 &&
		(o.ovIdx >= len(o.overrides) || o.overrides[o.ovIdx].At > at)
}

func (o *ours) step(at time.Duration) {
	now := epoch.Add(at)
	for o.ovIdx < len(o.overrides) && o.overrides[o.ovIdx].At <= at {
		ov := o.overrides[o.ovIdx]
		o.ovIdx++
		switch ov.Kind {
		case OverrideRelease:
			o.held = nil
		default:
			h := &controller.Override{Kind: ov.Kind, To: ov.To, Reason: ov.Reason, By: "scenario", Force: ov.Force}
			if ov.For > 0 {
				h.Until = epoch.Add(ov.At + ov.For)
			}
			o.held = h
		}
	}
	for len(o.pending) > 0 && o.pending[0].due <= at {
		o.reports = append(o.reports, o.pending[0].rep)
		o.pending = o.pending[1:]
	}
	before := o.st.Phase
	st, acts := o.eng.Step(o.st, controller.Input{
		Verdicts: o.tr.Evaluate(now),
		Override: o.held,
		Reports:  o.reports,
	}, now)
	o.reports = nil // the engine may keep what it was given
	o.quiet = len(acts) == 0 && st.Phase == before
	o.st = st
	if st.Phase != before {
		o.transitions++
		o.phaseSecs[before] += at - o.phaseAt
		o.phaseAt = at
		o.visited[st.Phase] = true
	}
	for _, a := range acts {
		switch a := a.(type) {
		case controller.SetRouting:
			if st.Phase == controller.Frozen {
				o.frozenWrites++
			}
			w := make([]int, o.nt)
			for i, t := range o.targets {
				w[i] = a.Routing[t]
			}
			o.set(at, w, string(st.Phase), !a.Automatic)
			o.reports = append(o.reports, controller.Report{Kind: controller.DNSApplied, Routing: a.Routing.Clone()})
		case controller.StartWarmup:
			o.later(at+o.sim.Warmup, controller.Report{Kind: controller.WarmupDone, Target: a.Target, Detail: "simulated"})
		case controller.RunHooks:
			if a.Gate {
				o.later(at+o.sim.Hooks, controller.Report{Kind: controller.HooksDone, Target: a.Target, Detail: "simulated"})
			}
		case controller.ClearOverride:
			o.held = nil
		case controller.Alert:
			o.alerts++
		}
	}
	o.track.state = string(st.Phase)
}

func (o *ours) later(due time.Duration, rep controller.Report) {
	i := len(o.pending)
	for i > 0 && o.pending[i-1].due > due {
		i--
	}
	o.pending = slices.Insert(o.pending, i, pendingReport{due: due, rep: rep})
}

// summary closes the phase accounting at the end of the scenario.
func (o *ours) summary(end time.Duration) EngineSummary {
	o.phaseSecs[o.st.Phase] += end - o.phaseAt
	o.phaseAt = end
	s := EngineSummary{
		StatesS:      map[string]float64{},
		Transitions:  o.transitions,
		FrozenWrites: o.frozenWrites,
		FinalState:   string(o.st.Phase),
		Alerts:       o.alerts,
	}
	for p, d := range o.phaseSecs {
		if d > 0 || o.visited[p] {
			s.StatesS[string(p)] = seconds(d)
		}
	}
	for p := range o.visited {
		if _, ok := s.StatesS[string(p)]; !ok {
			s.StatesS[string(p)] = 0
		}
	}
	return s
}
