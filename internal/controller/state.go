package controller

import (
	"time"

	"github.com/failoverhq/failover/internal/health"
)

// Phase is a service state (CONTRACT §3).
type Phase string

// The service states.
const (
	Healthy     Phase = "healthy"
	Degraded    Phase = "degraded"
	FailingOver Phase = "failing_over"
	FailedOver  Phase = "failed_over"
	Recovering  Phase = "recovering"
	Manual      Phase = "manual"
	Frozen      Phase = "frozen"
)

// Phases lists every state, for metrics that export one series per state.
var Phases = []Phase{Healthy, Degraded, FailingOver, FailedOver, Recovering, Manual, Frozen}

// State is everything the engine remembers about one service between steps.
// It is a plain value: the loop stores it (JSON) and hands it back to Step or
// Resume. Step never modifies the State it is given.
type State struct {
	Phase  Phase     `json:"state"`
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"`

	// Routing is the desired routing: what the engine last decided.
	Routing Routing `json:"routing"`
	// Applied is the routing last confirmed by DNS (a DNSApplied report, or
	// what Resume read from the provider); nil when not known.
	Applied Routing `json:"applied,omitempty"`

	// Active is the fallback that holds (or, in failing_over, is about to
	// get) the weight; empty while the weight is on the primary.
	Active string `json:"active,omitempty"`
	// Prep is a shift waiting for warm-up and before_shift gates: a
	// failover (phase failing_over) or the warming of the primary before a
	// ramp back (phase failed_over).
	Prep *Prep `json:"prep,omitempty"`
	// StepAt is when the last ramp step (failback or a stepped fallback) was
	// taken.
	StepAt time.Time `json:"step_at,omitzero"`

	// PrimaryHealthySince is when the primary's current unbroken healthy
	// streak started; zero when it is not healthy.
	PrimaryHealthySince time.Time `json:"primary_healthy_since,omitzero"`
	// RecoverFactor multiplies recover_after: 1, 2, 4 or 8 (damping).
	RecoverFactor int `json:"recover_factor"`
	// LastRelapse is when a ramp back was last aborted.
	LastRelapse time.Time `json:"last_relapse,omitzero"`
	// Shifts are the times of the automatic routing changes of the last hour.
	Shifts []time.Time `json:"shifts,omitempty"`
	// Held is non-empty while a discretionary change is held by
	// max_shifts_per_hour (the alert has been sent).
	Held string `json:"held,omitempty"`

	// Warmups records the last warm-up of each target.
	Warmups map[string]WarmupRecord `json:"warmups,omitempty"`

	// Override is the override in force (phase manual).
	Override *Override `json:"override,omitempty"`
	// Ended is the last override that ended by itself (expired, aborted or
	// refused), so that the loop handing it in again is not taken for a new
	// request.
	Ended *Override `json:"ended,omitempty"`
	// PinAlerted: the alert about a pinned target being unhealthy was sent.
	PinAlerted bool `json:"pin_alerted,omitempty"`

	// AwaitingEvidence: after a start, nothing is written until some target
	// has a verdict other than unknown. AwaitSince is when the wait began.
	AwaitingEvidence bool      `json:"awaiting_evidence,omitempty"`
	AwaitSince       time.Time `json:"await_since,omitzero"`

	// NeedWrite: Routing must be written again (a DNS failure, or DNS did
	// not hold a valid routing at start) once RetryAt has passed.
	NeedWrite bool      `json:"need_write,omitempty"`
	RetryAt   time.Time `json:"retry_at,omitzero"`
}

// Prep is a pending shift onto Target.
type Prep struct {
	Target string `json:"target"`
	// Failback: the primary is being prepared for the ramp back.
	Failback bool      `json:"failback,omitempty"`
	Started  time.Time `json:"started"`
	Deadline time.Time `json:"deadline"`
	// WaitWarmup and WaitGate say what is awaited; GateDone that the gate
	// hooks have reported.
	WaitWarmup bool `json:"wait_warmup,omitempty"`
	WaitGate   bool `json:"wait_gate,omitempty"`
	GateDone   bool `json:"gate_done,omitempty"`
}

// Warm-up statuses.
const (
	WarmupStatusRunning = "running"
	WarmupStatusDone    = "done"
	WarmupStatusFailed  = "failed"
)

// WarmupRecord is the last warm-up of a target.
type WarmupRecord struct {
	Status string    `json:"status"` // running | done | failed
	At     time.Time `json:"at"`     // when it started or ended
}

// Override kinds.
const (
	Drill = "drill"
	Pin   = "pin"
)

// Override is an operator's drill or pin.
type Override struct {
	Kind  string    `json:"kind"` // drill | pin
	To    string    `json:"to"`
	Until time.Time `json:"until,omitzero"` // zero: until released (pin only)
	// Reason and By are the operator's words and name.
	Reason string `json:"reason"`
	By     string `json:"by,omitempty"`
	// Force accepts a target that is not healthy.
	Force bool `json:"force,omitempty"`
}

func (o *Override) same(p *Override) bool {
	if o == nil || p == nil {
		return o == p
	}
	return o.Kind == p.Kind && o.To == p.To && o.Until.Equal(p.Until) &&
		o.Reason == p.Reason && o.By == p.By && o.Force == p.Force
}

// Clone returns a deep copy of s.
func (s State) Clone() State {
	c := s
	c.Routing = s.Routing.Clone()
	c.Applied = s.Applied.Clone()
	if s.Prep != nil {
		p := *s.Prep
		c.Prep = &p
	}
	c.Shifts = append([]time.Time(nil), s.Shifts...)
	if s.Warmups != nil {
		c.Warmups = make(map[string]WarmupRecord, len(s.Warmups))
		for k, v := range s.Warmups {
			c.Warmups[k] = v
		}
	}
	if s.Override != nil {
		o := *s.Override
		c.Override = &o
	}
	if s.Ended != nil {
		o := *s.Ended
		c.Ended = &o
	}
	return c
}

// Input is what the loop hands to one Step.
type Input struct {
	// Verdicts are the health verdicts of every target, evaluated at (or just
	// before) now.
	Verdicts health.Verdicts
	// Override is the override the loop holds (nil for none). A new or
	// changed one starts manual mode; nil after one was in force releases it.
	Override *Override
	// Reports are the outcomes of earlier actions.
	Reports []Report
}

// ReportKind says what a Report reports.
type ReportKind string

// The report kinds.
const (
	WarmupDone   ReportKind = "warmup_done"
	WarmupFailed ReportKind = "warmup_failed"
	// HooksDone and HooksFailed report the before_shift gate of Target.
	HooksDone   ReportKind = "hooks_done"
	HooksFailed ReportKind = "hooks_failed"
	// DNSApplied and DNSFailed report the write of Routing.
	DNSApplied ReportKind = "dns_applied"
	DNSFailed  ReportKind = "dns_failed"
)

// Report is the outcome of an action, fed back to the engine.
type Report struct {
	Kind    ReportKind
	Target  string  // warm-up and hooks
	Routing Routing // DNS
	Detail  string  // a summary or the error, for the audit trail
}
