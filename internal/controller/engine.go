package controller

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/health"
)

// Options tunes the engine's bounds that the config does not set. Zero
// fields take the defaults below.
type Options struct {
	// GateWait bounds the wait for before_shift hooks during a failover
	// (default 10s). The wait for a failover is the longer of this (when the
	// target has before_shift hooks) and the target's warm-up max_wait.
	GateWait time.Duration
	// DefaultMaxWait bounds a warm-up whose max_wait is not set (default 10s).
	DefaultMaxWait time.Duration
	// PrimaryWarmWait bounds the warming of the primary before a ramp back;
	// there is no urgency then (default 2m).
	PrimaryWarmWait time.Duration
	// StartupGrace is how long a started engine waits for evidence before it
	// goes frozen and alerts (default 30s).
	StartupGrace time.Duration
	// WarmupValid is how long a finished warm-up counts as warm, and how long
	// one that never reported counts as running (default 10m).
	WarmupValid time.Duration
	// DNSRetry is the wait before a failed DNS write is retried (default 5s).
	DNSRetry time.Duration
}

// The defaults of Options.
const (
	DefaultGateWait        = 10 * time.Second
	DefaultMaxWait         = 10 * time.Second
	DefaultPrimaryWarmWait = 2 * time.Minute
	DefaultStartupGrace    = 30 * time.Second
	DefaultWarmupValid     = 10 * time.Minute
	DefaultDNSRetry        = 5 * time.Second
)

// Damping constants.
const (
	// MaxRecoverFactor caps the multiplier of recover_after.
	MaxRecoverFactor = 8
	// RelapseReset is how long without a relapse resets the multiplier.
	RelapseReset = 24 * time.Hour
	// ShiftWindow is the sliding window of max_shifts_per_hour.
	ShiftWindow = time.Hour
)

func (o Options) withDefaults() Options {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&o.GateWait, DefaultGateWait)
	set(&o.DefaultMaxWait, DefaultMaxWait)
	set(&o.PrimaryWarmWait, DefaultPrimaryWarmWait)
	set(&o.StartupGrace, DefaultStartupGrace)
	set(&o.WarmupValid, DefaultWarmupValid)
	set(&o.DNSRetry, DefaultDNSRetry)
	return o
}

// Engine decides for one service. It holds only the service's configuration
// and is safe for concurrent use; all changing data lives in State.
type Engine struct {
	svc     config.Service
	pol     config.Policy
	opts    Options
	primary string
	order   []string // fallback order: primary, backups, origins
	targets map[string]config.Target
	steps   map[string][]int // cleaned target steps (targets with steps only)
	back    []int            // cleaned failback steps, ending at 100
}

// ErrBadService is returned by New for a service the engine cannot run.
var ErrBadService = errors.New("controller: unusable service")

// New returns the engine of svc. It fails when svc has no targets or
// duplicate target names. Policy fields that are zero take the defaults of
// health.EffectivePolicy. The primary is the target with role primary, or
// the first target when none has it.
func New(svc config.Service, opts Options) (*Engine, error) {
	if len(svc.Targets) == 0 {
		return nil, fmt.Errorf("%w: service %q has no targets", ErrBadService, svc.Name)
	}
	e := &Engine{
		svc:     svc,
		pol:     health.EffectivePolicy(svc.Policy),
		opts:    opts.withDefaults(),
		targets: make(map[string]config.Target, len(svc.Targets)),
		steps:   make(map[string][]int),
	}
	for _, t := range svc.Targets {
		if _, dup := e.targets[t.Name]; dup {
			return nil, fmt.Errorf("%w: service %q: duplicate target %q", ErrBadService, svc.Name, t.Name)
		}
		e.targets[t.Name] = t
		if s := cleanSteps(t.Steps); len(s) > 1 {
			e.steps[t.Name] = s
		}
	}
	for _, t := range svc.Targets {
		if t.Role == config.RolePrimary {
			e.primary = t.Name
			break
		}
	}
	if e.primary == "" {
		e.primary = svc.Targets[0].Name
	}
	e.order = append(e.order, e.primary)
	for _, role := range []string{config.RoleBackup, config.RoleOrigin} {
		for _, t := range svc.Targets {
			if t.Role == role && t.Name != e.primary {
				e.order = append(e.order, t.Name)
			}
		}
	}
	for _, t := range svc.Targets { // unknown roles go last, in config order
		if !slices.Contains(e.order, t.Name) {
			e.order = append(e.order, t.Name)
		}
	}
	e.back = cleanSteps(e.pol.Failback.Steps)
	return e, nil
}

// cleanSteps keeps the increasing weights within 1..100 and ends the list at
// 100.
func cleanSteps(in []int) []int {
	var out []int
	for _, s := range in {
		if s > 0 && s <= 100 && (len(out) == 0 || s > out[len(out)-1]) {
			out = append(out, s)
		}
	}
	if len(out) == 0 || out[len(out)-1] != 100 {
		out = append(out, 100)
	}
	return out
}

// Order returns the fallback order: the primary, backups, then origins.
func (e *Engine) Order() []string { return slices.Clone(e.order) }

// Primary returns the primary target's name.
func (e *Engine) Primary() string { return e.primary }

// Policy returns the effective policy.
func (e *Engine) Policy() config.Policy { return e.pol }

// Initial returns the state of a service seen for the first time, with all
// weight on the primary as applied routing. It awaits evidence like Resume.
func (e *Engine) Initial(now time.Time) State {
	return e.Resume(nil, AllOn(e.order, e.primary), now)
}

// Resume returns the state to continue from after a restart: stored is the
// state loaded from the store (nil if none) and actual the routing read from
// the DNS provider (nil if it could not be read). The actual routing wins
// over the stored one. Nothing is written until fresh evidence exists; if
// actual is not a valid routing the desired one is written then.
func (e *Engine) Resume(stored *State, actual Routing, now time.Time) State {
	st := State{Phase: Healthy, Since: now, Reason: "started"}
	if stored != nil {
		st = stored.Clone()
	}
	if st.RecoverFactor < 1 {
		st.RecoverFactor = 1
	}
	if a, ok := e.normalize(actual); ok {
		st.Routing, st.Applied, st.NeedWrite = a, a.Clone(), false
	} else {
		if st.Routing.Validate(e.order) != nil {
			st.Routing = AllOn(e.order, e.primary)
		}
		st.Applied, st.NeedWrite, st.RetryAt = nil, true, time.Time{}
	}
	st.Prep = nil
	st.Held = ""
	st.PrimaryHealthySince = time.Time{}
	st.AwaitingEvidence = true
	st.AwaitSince = now
	if st.Phase == Manual && st.Override == nil {
		st.Phase = Healthy
	}
	return st
}

// normalize turns a routing read from DNS into a valid one: zero entries of
// unknown targets are dropped and missing targets get 0. A provider that
// publishes a single target reads as that target with all the weight.
func (e *Engine) normalize(actual Routing) (Routing, bool) {
	if actual == nil {
		return nil, false
	}
	out := make(Routing, len(e.order))
	for _, t := range e.order {
		out[t] = actual[t]
	}
	for name, w := range actual {
		if _, known := e.targets[name]; !known && w != 0 {
			return nil, false
		}
	}
	if out.Validate(e.order) == nil {
		return out, true
	}
	return nil, false
}

// Step advances the state of the service by one evaluation at now. It is
// pure: the same arguments always give the same result, and st is not
// modified.
func (e *Engine) Step(st State, in Input, now time.Time) (State, []Action) {
	s := &stepper{e: e, st: st.Clone(), in: in, v: in.Verdicts, now: now}
	if s.st.Routing.Validate(e.order) != nil {
		// A state from an older config, or a zero State: keep what can be
		// kept and write nothing until it is reconciled.
		s.st.Routing = repairRouting(e.order, s.st.Routing, e.primary)
	}
	if s.st.RecoverFactor < 1 {
		s.st.RecoverFactor = 1
	}
	s.run()
	return s.st, s.acts
}

// repairRouting returns r restricted to targets if it is a valid routing
// there, and all weight on fallback otherwise.
func repairRouting(targets []string, r Routing, fallback string) Routing {
	out := make(Routing, len(targets))
	for _, t := range targets {
		out[t] = r[t]
	}
	if out.Validate(targets) == nil {
		return out
	}
	return AllOn(targets, fallback)
}
