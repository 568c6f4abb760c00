package controller

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/failoverhq/failover/internal/health"
)

// stepper carries one Step's working copy of the state and the actions it
// produces.
type stepper struct {
	e    *Engine
	st   State
	in   Input
	v    health.Verdicts
	now  time.Time
	acts []Action
	// failovers counts beginFailover calls in this step, to bound the
	// search for a fallback.
	failovers int
}

func (s *stepper) run() {
	s.vantageNotices()
	s.reports()
	s.housekeeping()
	if s.st.AwaitingEvidence {
		if !s.hasEvidence() {
			if s.now.Sub(s.st.AwaitSince) >= s.e.opts.StartupGrace {
				s.st.AwaitingEvidence = false
				s.freeze(fmt.Sprintf("no fresh evidence %s after start: %d live vantage(s), need %d",
					s.e.opts.StartupGrace, s.v.Live, s.e.pol.MinVantages))
			}
			return
		}
		s.st.AwaitingEvidence = false
		if s.st.Phase != Manual && s.st.Phase != Frozen {
			s.reconcile(fmt.Sprintf("fresh evidence from %d live vantages after start", s.v.Live))
		}
	}
	if !s.overrides() {
		s.auto()
	}
	s.retry()
}

// ---- inputs ----

func (s *stepper) vantageNotices() {
	for _, n := range s.v.Notices {
		from, to := "impaired", "live"
		if n.Impaired {
			from, to = "live", "impaired"
		}
		s.event(EventVantage, from, to, n.Message, map[string]any{
			"vantage": n.Vantage,
			"targets": slices.Clone(n.Targets),
		})
	}
}

func (s *stepper) reports() {
	for _, r := range s.in.Reports {
		detail := ""
		if r.Detail != "" {
			detail = ": " + r.Detail
		}
		switch r.Kind {
		case WarmupDone, WarmupFailed:
			status, word := WarmupStatusDone, "done"
			if r.Kind == WarmupFailed {
				status, word = WarmupStatusFailed, "failed"
			}
			if s.st.Warmups == nil {
				s.st.Warmups = make(map[string]WarmupRecord)
			}
			s.st.Warmups[r.Target] = WarmupRecord{Status: status, At: s.now}
			msg := fmt.Sprintf("warm-up of %s %s%s", r.Target, word, detail)
			s.event(EventWarmup, WarmupStatusRunning, status, msg, map[string]any{"target": r.Target})
			if r.Kind == WarmupFailed {
				s.alert(Warning, msg)
			}
		case HooksDone, HooksFailed:
			word := "done"
			if r.Kind == HooksFailed {
				word = "failed"
			}
			awaited := false
			if p := s.st.Prep; p != nil && p.Target == r.Target && p.WaitGate {
				p.GateDone = true
				awaited = true
			}
			msg := fmt.Sprintf("before_shift hooks of %s %s%s", r.Target, word, detail)
			if !awaited {
				msg += " (no shift was waiting for them)"
			}
			s.event(EventHook, "running", word, msg, map[string]any{"target": r.Target})
			if r.Kind == HooksFailed {
				s.alert(Warning, msg)
			}
		case DNSApplied:
			s.st.Applied = r.Routing.Clone()
			if r.Routing.Equal(s.st.Routing) {
				s.st.NeedWrite = false
			}
			s.event(EventDNS, "", r.Routing.Format(s.e.order), "routing applied: "+r.Routing.Format(s.e.order)+detail, nil)
		case DNSFailed:
			msg := "routing write failed (" + r.Routing.Format(s.e.order) + ")" + detail
			if r.Routing.Equal(s.st.Routing) {
				s.st.NeedWrite = true
				s.st.RetryAt = s.now.Add(s.e.opts.DNSRetry)
				msg += fmt.Sprintf("; retrying after %s", s.e.opts.DNSRetry)
			}
			s.event(EventDNS, s.st.Applied.Format(s.e.order), "", msg, nil)
			s.alert(Critical, msg)
		}
	}
}

func (s *stepper) housekeeping() {
	cut := s.now.Add(-ShiftWindow)
	i := 0
	for i < len(s.st.Shifts) && !s.st.Shifts[i].After(cut) {
		i++
	}
	s.st.Shifts = s.st.Shifts[i:]
	if len(s.st.Shifts) == 0 {
		s.st.Shifts = nil
	}
	if s.st.RecoverFactor > 1 && s.now.Sub(s.st.LastRelapse) >= RelapseReset {
		s.st.RecoverFactor = 1
	}
	pv := s.verdict(s.e.primary)
	if pv.Status == health.Healthy && !pv.Suspect {
		if s.st.PrimaryHealthySince.IsZero() {
			s.st.PrimaryHealthySince = s.now
		}
	} else {
		s.st.PrimaryHealthySince = time.Time{}
	}
}

func (s *stepper) hasEvidence() bool {
	for _, t := range s.e.order {
		if s.status(t) != health.Unknown {
			return true
		}
	}
	return false
}

// ---- overrides ----

// overrides handles drills and pins. It reports true when an override is in
// force and automatic decisions are suspended for this step.
func (s *stepper) overrides() bool {
	req, cur := s.in.Override, s.st.Override
	if req == nil {
		s.st.Ended = nil
	} else if s.st.Ended != nil && req.same(s.st.Ended) {
		req = nil // ended already; the loop has not dropped it yet
	}
	if req != nil && !req.same(cur) {
		if err := s.e.ValidateOverride(*req, s.v, s.now); err != nil {
			s.refuse(req, err)
		} else {
			s.startOverride(req)
			return true
		}
	}
	cur = s.st.Override
	if cur == nil {
		return false
	}
	if s.in.Override == nil {
		s.endOverride(fmt.Sprintf("%s to %s released", cur.Kind, cur.To), false)
		return false
	}
	if !cur.Until.IsZero() && !s.now.Before(cur.Until) {
		s.endOverride(fmt.Sprintf("%s to %s expired at %s", cur.Kind, cur.To, cur.Until.Format(time.RFC3339)), true)
		return false
	}
	tv := s.verdict(cur.To)
	switch {
	case tv.Status == health.Unhealthy && !cur.Force && cur.Kind == Drill:
		msg := fmt.Sprintf("drill to %s aborted: %s is unhealthy (%s)", cur.To, cur.To, tv.Reason)
		s.alert(Critical, msg)
		s.endOverride(msg, true)
		return false
	case tv.Status == health.Unhealthy && !cur.Force && !s.st.PinAlerted:
		s.st.PinAlerted = true
		s.alert(Critical, fmt.Sprintf("%s to %s holds although %s is unhealthy (%s); release it to let failover decide",
			cur.Kind, cur.To, cur.To, tv.Reason))
	case tv.Status == health.Healthy:
		s.st.PinAlerted = false
	}
	return true
}

func (s *stepper) describe(o *Override) string {
	b := fmt.Sprintf("%s to %s", o.Kind, o.To)
	if !o.Until.IsZero() {
		b += " until " + o.Until.Format(time.RFC3339)
	}
	if o.Force {
		b += " (forced)"
	}
	if o.By != "" {
		b += " by " + o.By
	}
	if o.Reason != "" {
		b += ": " + o.Reason
	}
	return b
}

func (s *stepper) refuse(req *Override, err error) {
	msg := fmt.Sprintf("%s refused: %v", s.describe(req), err)
	s.event(EventOverride, "", "refused", msg, s.evidence(req.To))
	s.alert(Warning, msg)
	s.acts = append(s.acts, ClearOverride{Reason: msg})
	o := *req
	s.st.Ended = &o
}

func (s *stepper) startOverride(req *Override) {
	o := *req
	prev := s.st.Override
	s.st.Override = &o
	s.st.Prep = nil
	s.st.PinAlerted = false
	s.st.Held = ""
	msg := s.describe(&o) + " started"
	from := ""
	if prev != nil {
		from = prev.Kind + ":" + prev.To
	}
	s.event(EventOverride, from, o.Kind+":"+o.To, msg, s.evidence(o.To))
	s.hooks(OnOverride, msg)
	if target := AllOn(s.e.order, o.To); !target.Equal(s.st.Routing) {
		s.write(target, msg, false, false, s.evidence(o.To))
	}
	s.st.Active = ""
	if o.To != s.e.primary {
		s.st.Active = o.To
	}
	s.setPhase(Manual, msg, "", s.evidence(o.To))
}

// endOverride ends the override in force and returns to automatic control:
// straight back to the primary when it is healthy, otherwise to the state
// the current routing implies (the automatic logic then takes over in the
// same step). clear: tell the loop to drop the override.
func (s *stepper) endOverride(why string, clear bool) {
	o := s.st.Override
	s.st.Override = nil
	s.st.PinAlerted = false
	if clear {
		s.acts = append(s.acts, ClearOverride{Reason: why})
		s.st.Ended = o
	}
	s.event(EventOverride, o.Kind+":"+o.To, "", why, s.evidence(o.To, s.e.primary))
	s.hooks(OnOverride, why)
	pv := s.verdict(s.e.primary)
	if pv.Status == health.Healthy && !pv.Suspect {
		reason := why + "; back to the healthy primary " + s.e.primary
		if target := AllOn(s.e.order, s.e.primary); !target.Equal(s.st.Routing) {
			s.write(target, reason, false, false, s.evidence(s.e.primary))
		}
		s.st.Active = ""
		s.setPhase(Healthy, reason, "", s.evidence(s.e.primary))
		return
	}
	s.reconcile(why)
}

// ValidateOverride checks an override request against the service and the
// current verdicts. It is what the API calls before accepting a drill or
// pin, and what Step applies to a new override. The errors wrap
// ErrInvalidOverride or ErrTargetNotHealthy.
func (e *Engine) ValidateOverride(o Override, v health.Verdicts, now time.Time) error {
	switch o.Kind {
	case Drill, Pin:
	default:
		return fmt.Errorf("%w: kind must be drill or pin, got %q", ErrInvalidOverride, o.Kind)
	}
	if _, ok := e.targets[o.To]; !ok {
		return fmt.Errorf("%w: service %q has no target %q", ErrInvalidOverride, e.svc.Name, o.To)
	}
	if strings.TrimSpace(o.Reason) == "" {
		return fmt.Errorf("%w: a reason is required", ErrInvalidOverride)
	}
	if o.Kind == Drill && o.Until.IsZero() {
		return fmt.Errorf("%w: a drill needs a duration", ErrInvalidOverride)
	}
	if !o.Until.IsZero() && !o.Until.After(now) {
		return fmt.Errorf("%w: it would end at %s, which is not in the future", ErrInvalidOverride, o.Until.Format(time.RFC3339))
	}
	if o.Force {
		return nil
	}
	if vd, ok := v.Target(o.To); !ok || vd.Status != health.Healthy {
		why := "no verdict"
		status := health.Unknown
		if ok {
			why, status = vd.Reason, vd.Status
		}
		return fmt.Errorf("%w: %s is %s (%s); force it to override anyway", ErrTargetNotHealthy, o.To, status, why)
	}
	return nil
}

// ---- automatic control ----

func (s *stepper) auto() {
	if s.v.Live < s.e.pol.MinVantages {
		s.freeze(fmt.Sprintf("insufficient data: %d live vantage(s), need %d", s.v.Live, s.e.pol.MinVantages))
		return
	}
	if !s.anyHealthy() {
		s.freeze("no healthy target (" + s.summary() + ")")
		return
	}
	switch s.st.Phase {
	case Frozen:
		s.reconcile("unfrozen: " + s.summary())
	case Manual: // a stored manual state without its override
		s.reconcile("no override in force")
	}
	switch s.st.Phase {
	case Healthy, Degraded:
		s.onPrimary()
	case FailingOver:
		s.failingOver()
	case FailedOver:
		s.failedOver()
	case Recovering:
		s.recovering()
	}
}

// reconcile derives the phase from the routing: healthy when the primary has
// all the weight, failed_over on the fallback with the most weight otherwise.
// It writes nothing and runs no hooks.
func (s *stepper) reconcile(reason string) {
	s.st.Prep = nil
	if s.st.Routing[s.e.primary] == 100 {
		s.st.Active = ""
		s.setPhase(Healthy, reason, "", s.evidence(s.e.primary))
		return
	}
	best, bw := "", 0
	for _, t := range s.e.order[1:] {
		if s.st.Routing[t] > bw {
			best, bw = t, s.st.Routing[t]
		}
	}
	s.st.Active = best
	s.st.StepAt = s.now
	s.setPhase(FailedOver, fmt.Sprintf("%s; weight is on %s", reason, s.st.Routing.Format(s.e.order)), "",
		s.evidence(s.e.primary, best))
}

func (s *stepper) onPrimary() {
	p := s.e.primary
	if s.st.Routing[p] != 100 {
		s.reconcile("weight is not all on the primary")
		if s.st.Phase == FailedOver {
			s.failedOver()
		}
		return
	}
	pv := s.verdict(p)
	switch {
	case pv.Status == health.Unhealthy:
		s.beginFailover(p, fmt.Sprintf("primary %s unhealthy: %s", p, pv.Reason))
	case pv.Suspect:
		if s.st.Phase != Degraded {
			s.setPhase(Degraded, fmt.Sprintf("primary %s failing on %s without quorum yet: %s",
				p, joinOrNone(pv.FailingVantages()), pv.Reason), OnDegraded, s.evidence(p))
		}
		if c := s.firstHealthy(p); c != "" {
			s.warm(c, "primary "+p+" degraded: warming "+c+" ahead")
		}
	case pv.Status == health.Healthy && s.st.Phase == Degraded:
		s.setPhase(Healthy, fmt.Sprintf("primary %s recovered before failover: %s", p, pv.Reason), "", s.evidence(p))
	}
}

// beginFailover prepares a shift away from the target from (the primary, or
// the active fallback) onto the first healthy target in fallback order.
func (s *stepper) beginFailover(from, why string) {
	next := s.firstHealthy(from)
	if s.failovers++; s.failovers > len(s.e.order) {
		next = ""
	}
	if next == "" {
		s.freeze(why + "; no healthy target to fail over to (" + s.summary() + ")")
		return
	}
	hook := HookEvent("")
	if from == s.e.primary && s.st.Routing[s.e.primary] == 100 && s.st.Phase != FailingOver {
		hook = OnFailover
	}
	t := s.e.targets[next]
	p := &Prep{Target: next, Started: s.now}
	var wait time.Duration
	if t.Warmup != nil {
		p.WaitWarmup = s.warm(next, why)
		wait = s.e.maxWait(next)
	}
	if len(t.BeforeShift) > 0 {
		p.WaitGate = true
		s.acts = append(s.acts, RunHooks{Gate: true, Target: next, Hooks: slices.Clone(t.BeforeShift),
			Reason: "before shifting weight to " + next})
		wait = max(wait, s.e.opts.GateWait)
	}
	p.Deadline = s.now.Add(wait)
	s.st.Prep = p
	s.st.Active = next
	s.setPhase(FailingOver, fmt.Sprintf("%s; failing over to %s", why, next), hook, s.evidence(from, next))
	s.failingOver()
}

func (e *Engine) maxWait(target string) time.Duration {
	if w := e.targets[target].Warmup; w != nil && w.MaxWait > 0 {
		return w.MaxWait
	}
	return e.opts.DefaultMaxWait
}

func (s *stepper) failingOver() {
	p := s.st.Prep
	if p == nil {
		s.reconcile("no shift pending")
		return
	}
	target := p.Target
	from := s.st.Routing.holder(s.e.order)
	if fv := s.verdict(from); from != target && fv.Status == health.Healthy && !fv.Suspect {
		s.reconcile(fmt.Sprintf("%s recovered before the shift (%s); failover to %s cancelled", from, fv.Reason, target))
		if s.st.Phase == FailedOver {
			s.failedOver()
		}
		return
	}
	if tv := s.verdict(target); tv.Status != health.Healthy {
		s.st.Prep = nil
		s.beginFailover(from, fmt.Sprintf("%s is %s (%s)", target, tv.Status, tv.Reason))
		return
	}
	warmDone := !p.WaitWarmup || s.warmStatus(target) != WarmupStatusRunning
	gateDone := !p.WaitGate || p.GateDone
	if !(warmDone && gateDone) {
		if s.now.Before(p.Deadline) {
			s.st.Reason = fmt.Sprintf("failing over to %s: waiting for %s until %s",
				target, waitingFor(warmDone, gateDone), p.Deadline.Format(time.RFC3339))
			return
		}
		s.alert(Warning, fmt.Sprintf("shifting to %s before its %s finished: the %s bound elapsed",
			target, waitingFor(warmDone, gateDone), p.Deadline.Sub(p.Started)))
	}
	next := AllOn(s.e.order, target)
	if steps, ok := s.e.steps[target]; ok && target != s.e.primary {
		next = Blend(s.e.order, s.st.Routing, target, steps[0])
	}
	reason := fmt.Sprintf("weight moved to %s (%s)", target, next.Format(s.e.order))
	if !s.propose(next, reason, s.evidence(from, target)) {
		return
	}
	s.st.Prep = nil
	s.st.StepAt = s.now
	if target == s.e.primary {
		s.st.Active = ""
		s.setPhase(Healthy, reason, OnRecovered, s.evidence(target))
		return
	}
	s.st.Active = target
	s.setPhase(FailedOver, reason, OnFailedOver, s.evidence(from, target))
}

func waitingFor(warmDone, gateDone bool) string {
	switch {
	case !warmDone && !gateDone:
		return "warm-up and before_shift hooks"
	case !warmDone:
		return "warm-up"
	}
	return "before_shift hooks"
}

func (s *stepper) failedOver() {
	active := s.st.Active
	if active == "" || s.st.Routing[active] == 0 {
		s.reconcile("active fallback unclear")
		if s.st.Phase != FailedOver {
			s.onPrimary()
			return
		}
		active = s.st.Active
	}
	tv := s.verdict(active)
	switch tv.Status {
	case health.Unhealthy:
		s.st.Prep = nil
		s.beginFailover(active, fmt.Sprintf("active fallback %s unhealthy: %s", active, tv.Reason))
		return
	case health.Unknown:
		s.st.Reason = fmt.Sprintf("holding on %s: its health is unknown (%s)", active, tv.Reason)
		return
	}
	if s.st.Routing[active] < 100 && s.unhealthyWeight(s.st.Routing) > 0 {
		// Weight left on dead targets: a stepped fallback takes it in steps,
		// any other at once.
		steps, stepped := s.e.steps[active]
		if stepped && s.now.Sub(s.st.StepAt) < s.e.pol.Failback.Hold {
			return
		}
		w := 100
		if stepped {
			w = nextStep(steps, s.st.Routing[active])
		}
		next := Blend(s.e.order, s.st.Routing, active, w)
		reason := fmt.Sprintf("%s healthy: it takes more weight (%s)", active, next.Format(s.e.order))
		if s.propose(next, reason, s.evidence(active)) {
			s.st.StepAt = s.now
			s.st.Reason = reason
		}
		return
	}
	s.failback()
}

// failback starts the ramp back once the primary has been healthy long
// enough, after warming it.
func (s *stepper) failback() {
	prim := s.e.primary
	pv := s.verdict(prim)
	p := s.st.Prep
	if pv.Status != health.Healthy || pv.Suspect {
		if p != nil && p.Failback {
			s.st.Prep = nil
			s.st.Reason = fmt.Sprintf("on %s; primary %s not healthy any more (%s): ramp back postponed", s.st.Active, prim, pv.Reason)
		}
		return
	}
	need := s.e.pol.RecoverAfter * time.Duration(s.st.RecoverFactor)
	healthyFor := s.now.Sub(s.st.PrimaryHealthySince)
	if p == nil {
		if healthyFor < need {
			s.st.Reason = fmt.Sprintf("on %s; primary %s healthy for %s, ramp back after %s", s.st.Active, prim,
				healthyFor.Round(time.Second), need)
			return
		}
		t := s.e.targets[prim]
		p = &Prep{Target: prim, Failback: true, Started: s.now, Deadline: s.now.Add(s.e.opts.PrimaryWarmWait)}
		if t.Warmup != nil {
			p.WaitWarmup = s.warm(prim, "warming the primary before the ramp back")
		}
		if len(t.BeforeShift) > 0 {
			p.WaitGate = true
			s.acts = append(s.acts, RunHooks{Gate: true, Target: prim, Hooks: slices.Clone(t.BeforeShift),
				Reason: "before shifting weight back to " + prim})
		}
		s.st.Prep = p
	}
	warmDone := !p.WaitWarmup || s.warmStatus(prim) != WarmupStatusRunning
	gateDone := !p.WaitGate || p.GateDone
	if !(warmDone && gateDone) && s.now.Before(p.Deadline) {
		s.st.Reason = fmt.Sprintf("on %s; primary %s healthy for %s: waiting for its %s before the ramp back",
			s.st.Active, prim, healthyFor.Round(time.Second), waitingFor(warmDone, gateDone))
		return
	}
	w := nextStep(s.e.back, s.st.Routing[prim])
	next := Blend(s.e.order, s.st.Routing, prim, w)
	reason := fmt.Sprintf("primary %s healthy for %s (recover_after %s x%d): ramp back %s",
		prim, healthyFor.Round(time.Second), s.e.pol.RecoverAfter, s.st.RecoverFactor, next.Format(s.e.order))
	if !s.propose(next, reason, s.evidence(prim, s.st.Active)) {
		return
	}
	s.st.Prep = nil
	s.st.StepAt = s.now
	if next[prim] == 100 {
		s.st.Active = ""
		s.setPhase(Healthy, reason, OnRecovered, s.evidence(prim))
		return
	}
	s.setPhase(Recovering, reason, OnRecovering, s.evidence(prim, s.st.Active))
}

func (s *stepper) recovering() {
	prim, active := s.e.primary, s.st.Active
	pv, tv := s.verdict(prim), s.verdict(active)
	if pv.Status == health.Unhealthy || pv.Suspect {
		why := fmt.Sprintf("ramp back aborted: primary %s failing again (%s)", prim, pv.Reason)
		if tv.Status == health.Healthy {
			if !s.propose(AllOn(s.e.order, active), why, s.evidence(prim, active)) {
				return
			}
			s.relapse()
			s.setPhase(FailedOver, fmt.Sprintf("%s; all weight back on %s; next recover_after x%d",
				why, active, s.st.RecoverFactor), OnFailedOver, s.evidence(prim, active))
			return
		}
		if pv.Status == health.Unhealthy {
			s.relapse()
			s.beginFailover(prim, why+"; "+active+" is "+string(tv.Status))
			return
		}
		s.st.Reason = fmt.Sprintf("ramp back held: primary %s suspect and %s is %s", prim, active, tv.Status)
		return
	}
	if tv.Status == health.Unhealthy && pv.Status == health.Healthy {
		reason := fmt.Sprintf("%s unhealthy during the ramp back (%s): all weight to the healthy primary %s", active, tv.Reason, prim)
		if s.propose(AllOn(s.e.order, prim), reason, s.evidence(prim, active)) {
			s.st.Active = ""
			s.st.StepAt = s.now
			s.setPhase(Healthy, reason, OnRecovered, s.evidence(prim, active))
		}
		return
	}
	if pv.Status != health.Healthy {
		s.st.Reason = fmt.Sprintf("ramp back held at %s: primary health unknown (%s)", s.st.Routing.Format(s.e.order), pv.Reason)
		return
	}
	if s.now.Sub(s.st.StepAt) < s.e.pol.Failback.Hold {
		return
	}
	w := nextStep(s.e.back, s.st.Routing[prim])
	next := Blend(s.e.order, s.st.Routing, prim, w)
	reason := fmt.Sprintf("ramp back: %s", next.Format(s.e.order))
	if !s.propose(next, reason, s.evidence(prim, active)) {
		return
	}
	s.st.StepAt = s.now
	if next[prim] == 100 {
		s.st.Active = ""
		s.setPhase(Healthy, fmt.Sprintf("all weight back on the primary %s", prim), OnRecovered, s.evidence(prim))
		return
	}
	s.st.Reason = reason
}

func (s *stepper) relapse() {
	s.st.RecoverFactor = min(s.st.RecoverFactor*2, MaxRecoverFactor)
	s.st.LastRelapse = s.now
	s.st.PrimaryHealthySince = time.Time{}
}

// nextStep returns the first step above cur, or 100.
func nextStep(steps []int, cur int) int {
	for _, s := range steps {
		if s > cur {
			return s
		}
	}
	return 100
}

func (s *stepper) freeze(reason string) {
	reason += "; routing stays " + s.st.Routing.Format(s.e.order)
	if s.st.Phase == Frozen {
		s.st.Reason = reason
		return
	}
	s.st.Prep = nil
	s.setPhase(Frozen, reason, OnFrozen, s.evidence(s.e.order...))
	s.alert(Critical, fmt.Sprintf("service %s frozen: %s", s.e.svc.Name, reason))
}

// ---- routing changes ----

// propose makes an automatic routing change, subject to the damping of
// max_shifts_per_hour (emergency moves are exempt). It reports whether the
// change was made.
func (s *stepper) propose(next Routing, reason string, ev map[string]any) bool {
	cur := s.st.Routing
	if next.Equal(cur) {
		return true
	}
	for _, t := range s.e.order {
		if next[t] > cur[t] && s.status(t) != health.Healthy {
			s.alert(Critical, fmt.Sprintf("refusing to move weight onto %s, which is %s (%s)", t, s.status(t), reason))
			return false
		}
	}
	emergency := s.unhealthyWeight(next) < s.unhealthyWeight(cur)
	if limit := s.e.pol.MaxShiftsPerHour; !emergency && len(s.st.Shifts) >= limit {
		held := fmt.Sprintf("holding: %d automatic routing changes in the last hour (max_shifts_per_hour %d); not doing: %s",
			len(s.st.Shifts), limit, reason)
		if s.st.Held == "" {
			s.alert(Warning, held)
		}
		s.st.Held = reason
		s.st.Reason = held
		return false
	}
	s.st.Held = ""
	s.st.Shifts = append(s.st.Shifts, s.now)
	s.write(next, reason, true, emergency, ev)
	return true
}

// write sets the desired routing and asks the loop to apply it.
func (s *stepper) write(next Routing, reason string, automatic, emergency bool, ev map[string]any) {
	prev := s.st.Routing
	s.st.Routing = next.Clone()
	s.st.NeedWrite = false
	s.acts = append(s.acts, SetRouting{Routing: next.Clone(), Previous: prev.Clone(), Reason: reason,
		Automatic: automatic, Emergency: emergency})
	s.event(EventDNS, prev.Format(s.e.order), next.Format(s.e.order), "routing change: "+reason, ev)
}

// retry writes the desired routing again after a failed write, or after a
// start that found DNS in an unusable state, once it is safe: every target
// that would gain weight over what DNS holds is healthy.
func (s *stepper) retry() {
	if !s.st.NeedWrite || s.st.Phase == Frozen || s.st.AwaitingEvidence || s.now.Before(s.st.RetryAt) {
		return
	}
	for _, t := range s.e.order {
		if s.st.Routing[t] > s.st.Applied[t] && s.status(t) != health.Healthy {
			return
		}
	}
	s.st.NeedWrite = false
	s.acts = append(s.acts, SetRouting{Routing: s.st.Routing.Clone(), Previous: s.st.Applied.Clone(),
		Reason: "writing the desired routing again"})
	s.event(EventDNS, s.st.Applied.Format(s.e.order), s.st.Routing.Format(s.e.order),
		"routing write retried: "+s.st.Routing.Format(s.e.order), nil)
}

func (s *stepper) unhealthyWeight(r Routing) int {
	sum := 0
	for _, t := range s.e.order {
		if s.status(t) == health.Unhealthy {
			sum += r[t]
		}
	}
	return sum
}

// ---- helpers ----

// warm starts target's warm-up unless it is running or fresh. It reports
// whether there is a warm-up to wait for.
func (s *stepper) warm(target, reason string) bool {
	if s.e.targets[target].Warmup == nil {
		return false
	}
	if rec, ok := s.st.Warmups[target]; ok && s.now.Sub(rec.At) < s.e.opts.WarmupValid {
		return rec.Status == WarmupStatusRunning
	}
	if s.st.Warmups == nil {
		s.st.Warmups = make(map[string]WarmupRecord)
	}
	s.st.Warmups[target] = WarmupRecord{Status: WarmupStatusRunning, At: s.now}
	s.acts = append(s.acts, StartWarmup{Target: target, Reason: reason})
	s.event(EventWarmup, "", WarmupStatusRunning, fmt.Sprintf("warm-up of %s started: %s", target, reason),
		map[string]any{"target": target})
	return true
}

func (s *stepper) warmStatus(target string) string {
	rec, ok := s.st.Warmups[target]
	if !ok {
		return ""
	}
	if rec.Status == WarmupStatusRunning && s.now.Sub(rec.At) >= s.e.opts.WarmupValid {
		return WarmupStatusFailed // never reported: stop waiting for it
	}
	return rec.Status
}

func (s *stepper) setPhase(p Phase, reason string, hook HookEvent, ev map[string]any) {
	if p != s.st.Phase {
		s.event(EventState, string(s.st.Phase), string(p), reason, ev)
		s.st.Phase = p
		s.st.Since = s.now
		s.st.Held = "" // a later hold is a new episode, with its own alert
	}
	s.st.Reason = reason
	if hook != "" {
		s.hooks(hook, reason)
	}
}

func (s *stepper) hooks(ev HookEvent, reason string) {
	if names := s.e.onHooks(ev); len(names) > 0 {
		s.acts = append(s.acts, RunHooks{Event: ev, Hooks: slices.Clone(names), Reason: reason})
	}
}

func (e *Engine) onHooks(ev HookEvent) []string {
	on := e.svc.On
	switch ev {
	case OnDegraded:
		return on.Degraded
	case OnFailover:
		return on.Failover
	case OnFailedOver:
		return on.FailedOver
	case OnRecovering:
		return on.Recovering
	case OnRecovered:
		return on.Recovered
	case OnFrozen:
		return on.Frozen
	case OnOverride:
		return on.Override
	}
	return nil
}

func (s *stepper) alert(severity, msg string) {
	s.acts = append(s.acts, Alert{Severity: severity, Message: fmt.Sprintf("%s: %s", s.e.svc.Name, msg)})
}

func (s *stepper) event(typ, from, to, msg string, ev map[string]any) {
	s.acts = append(s.acts, Event{Time: s.now, Service: s.e.svc.Name, Type: typ, From: from, To: to,
		Message: msg, Evidence: ev})
}

func (s *stepper) verdict(t string) health.Verdict {
	if vd, ok := s.v.Target(t); ok {
		return vd
	}
	return health.Verdict{Target: t, Status: health.Unknown, Reason: "no verdict"}
}

func (s *stepper) status(t string) health.Status { return s.v.Status(t) }

func (s *stepper) anyHealthy() bool {
	for _, t := range s.e.order {
		if s.status(t) == health.Healthy {
			return true
		}
	}
	return false
}

// firstHealthy returns the first healthy target in fallback order other than
// except, or "".
func (s *stepper) firstHealthy(except string) string {
	for _, t := range s.e.order {
		if t != except && s.status(t) == health.Healthy {
			return t
		}
	}
	return ""
}

// summary lists every target's status, for reasons.
func (s *stepper) summary() string {
	parts := make([]string, 0, len(s.e.order))
	for _, t := range s.e.order {
		parts = append(parts, t+" "+string(s.status(t)))
	}
	return strings.Join(parts, ", ")
}

// evidence collects the verdict evidence of targets for an event.
func (s *stepper) evidence(targets ...string) map[string]any {
	ev := map[string]any{"live_vantages": s.v.Live}
	if len(s.v.Impaired) > 0 {
		ev["impaired_vantages"] = slices.Clone(s.v.Impaired)
	}
	for _, t := range targets {
		if t == "" {
			continue
		}
		vd := s.verdict(t)
		m := map[string]any{
			"health": string(vd.Status),
			"reason": vd.Reason,
			"up":     vd.Names(health.StateUp),
			"down":   vd.Names(health.StateDown),
		}
		if f := vd.FailingVantages(); len(f) > 0 {
			m["failing"] = f
		}
		if c := vd.Classes(); c != nil {
			classes := make(map[string]int, len(c))
			for k, n := range c {
				classes[string(k)] = n
			}
			m["classes"] = classes
		}
		if !vd.FailingSince.IsZero() {
			m["failing_since"] = vd.FailingSince
		}
		if vd.LastError != "" {
			m["last_error"] = vd.LastError
			m["last_error_at"] = vd.LastErrorAt
		}
		ev[t] = m
	}
	return ev
}

func joinOrNone(names []string) string {
	if len(names) == 0 {
		return "no vantage"
	}
	return strings.Join(names, ", ")
}
