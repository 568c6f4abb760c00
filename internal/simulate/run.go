package simulate

import (
	"fmt"
	"slices"
	"time"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/controller"
	"github.com/failoverhq/failover/internal/health"
)

// defaultEvaluateEvery is the engine's step interval between rounds when the
// config leaves controller.evaluate_every unset (CONTRACT §2's example).
const defaultEvaluateEvery = 500 * time.Millisecond

// Run replays sc against its service in cfg: the real health tracker and
// decision engine ("ours") and the three baselines see the same rounds of
// probe outcomes. It returns an error when the scenario does not fit the
// config (an unknown service or target, limits); a scenario whose
// expectations fail is not an error: see Report.Passed.
func Run(cfg *config.Config, sc *Scenario) (*Report, error) {
	if cfg == nil || sc == nil {
		return nil, fmt.Errorf("simulate: nil config or scenario")
	}
	var svc config.Service
	found := false
	for _, s := range cfg.Services {
		if s.Name == sc.Service {
			svc, found = s, true
			break
		}
	}
	if !found {
		names := make([]string, 0, len(cfg.Services))
		for _, s := range cfg.Services {
			names = append(names, s.Name)
		}
		return nil, &ScenarioError{Problems: []Problem{{Path: "service", Message: fmt.Sprintf("no service %q in the config (it has %v)", sc.Service, names)}}}
	}
	svc.Policy = mergePolicy(svc.Policy, sc.Policy)
	pol := health.EffectivePolicy(svc.Policy)
	interval := sc.Interval
	if interval == 0 {
		interval = cfg.Probes.Interval
		if interval < MinInterval {
			return nil, &ScenarioError{Problems: []Problem{{Path: "interval", Message: fmt.Sprintf("not set, and the config's probes.interval (%s) is not at least %s", interval, MinInterval)}}}
		}
	}
	if interval > sc.Duration {
		return nil, &ScenarioError{Problems: []Problem{{Path: "interval", Message: fmt.Sprintf("%s is longer than the duration %s", interval, sc.Duration)}}}
	}
	every := cfg.Controller.EvaluateEvery
	if every <= 0 {
		every = defaultEvaluateEvery
	}
	eng, err := controller.New(svc, controller.Options{})
	if err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	targets := eng.Order()
	w, err := newWorld(sc, targets, interval, pol.Quorum)
	if err != nil {
		return nil, err
	}

	windows := overrideWindows(sc, targets)
	us := newOurs(svc, eng, interval, every, sc, targets)
	r53 := newBaseline(PolicyRoute53, w, windows)
	cf := newBaseline(PolicyCloudflare, w, windows)
	naive := newBaseline(PolicyNaive, w, windows)
	pr := w.prober()
	n := rounds(sc.Duration, interval)
	for i := range n {
		t := time.Duration(i) * interval
		next := min(t+interval, sc.Duration)
		out := pr.at(t)
		us.round(t, next, out)
		r53.round(t, next, out)
		cf.round(t, next, out)
		naive.round(t, next, out)
	}
	if us.observeErr != nil {
		return nil, fmt.Errorf("simulate: health tracker refused a result: %w", us.observeErr)
	}

	rep := &Report{
		Scenario:  sc.Name,
		Service:   svc.Name,
		DurationS: seconds(sc.Duration),
		IntervalS: seconds(interval),
		Vantages:  slices.Clone(sc.Vantages),
		Targets:   targets,
		Policy:    policySummary(pol),
		Policies: Policies{
			Ours:       measure(w, &us.track),
			Route53:    measure(w, &r53.track),
			Cloudflare: measure(w, &cf.track),
			Naive:      measure(w, &naive.track),
		},
		Engine: us.summary(sc.Duration),
	}
	for _, f := range w.faults() {
		fs := FaultSpan{StartS: seconds(f.start)}
		if f.ended {
			fs.EndS = secPtr(f.end)
		}
		rep.Faults = append(rep.Faults, fs)
	}
	if rep.Faults == nil {
		rep.Faults = []FaultSpan{}
	}
	rep.check(sc.Expect)
	return rep, nil
}

// mergePolicy returns base with the scenario's overrides applied.
func mergePolicy(base config.Policy, o PolicyOverride) config.Policy {
	p := base
	p.Failback.Steps = slices.Clone(base.Failback.Steps)
	if o.Fall != nil {
		p.Fall = *o.Fall
	}
	if o.Rise != nil {
		p.Rise = *o.Rise
	}
	if o.Quorum != nil {
		p.Quorum = *o.Quorum
	}
	if o.MinVantages != nil {
		p.MinVantages = *o.MinVantages
	}
	if o.RecoverAfter != nil {
		p.RecoverAfter = *o.RecoverAfter
	}
	if o.FailbackSteps != nil {
		p.Failback.Steps = slices.Clone(o.FailbackSteps)
	}
	if o.FailbackHold != nil {
		p.Failback.Hold = *o.FailbackHold
	}
	if o.MaxShiftsPerHour != nil {
		p.MaxShiftsPerHour = *o.MaxShiftsPerHour
	}
	return p
}

func policySummary(p config.Policy) PolicySummary {
	return PolicySummary{
		Fall: p.Fall, Rise: p.Rise, Quorum: p.Quorum, MinVantages: p.MinVantages,
		RecoverAfterS: seconds(p.RecoverAfter), FailbackSteps: slices.Clone(p.Failback.Steps),
		FailbackHoldS: seconds(p.Failback.Hold), MaxShiftsPerHour: p.MaxShiftsPerHour,
	}
}
