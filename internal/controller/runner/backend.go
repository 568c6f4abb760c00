package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/controller"
	"github.com/failoverhq/failover/internal/health"
	"github.com/failoverhq/failover/internal/store"
)

// Ready reports whether the config is loaded, the store open and every
// service's provider read; the error (wrapping api.ErrNotReady) says what is
// missing.
func (r *Runner) Ready() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.running {
		return fmt.Errorf("%w: the controller is not running", api.ErrNotReady)
	}
	var missing []string
	for _, name := range r.order {
		s := r.services[name]
		if s.ready {
			continue
		}
		if s.readErr != nil {
			missing = append(missing, fmt.Sprintf("service %s: provider %s cannot be read: %v", name, s.cfg.Provider, s.readErr))
		} else {
			missing = append(missing, fmt.Sprintf("service %s: reading provider %s", name, s.cfg.Provider))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", api.ErrNotReady, strings.Join(missing, "; "))
	}
	return nil
}

// Services returns every service, in config order.
func (r *Runner) Services() []api.Service {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]api.Service, 0, len(r.order))
	for _, name := range r.order {
		out = append(out, r.view(r.services[name]))
	}
	return out
}

// Service returns one service.
func (r *Runner) Service(name string) (api.Service, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.services[name]
	if !ok {
		return api.Service{}, false
	}
	return r.view(s), true
}

// Events queries the store.
func (r *Runner) Events(q store.Query) ([]store.Event, error) {
	evs, err := r.store.Events(q)
	if errors.Is(err, store.ErrInvalid) {
		return nil, fmt.Errorf("%w: %v", api.ErrInvalid, err)
	}
	return evs, err
}

// view is the API's view of s. Callers hold r.mu.
func (r *Runner) view(s *service) api.Service {
	st := s.state
	v := api.Service{
		Name: s.name, Record: s.cfg.Record, Provider: s.cfg.Provider,
		State: string(st.Phase), Since: st.Since, Reason: st.Reason,
		Routing: s.fullRouting(s.applied),
		Desired: s.fullRouting(st.Routing),
	}
	if !s.ready && s.readErr != nil {
		v.Reason = fmt.Sprintf("waiting to read the routing from provider %s: %v", s.cfg.Provider, s.readErr)
	}
	o := st.Override
	if o == nil {
		o = s.override
	}
	if o != nil {
		v.Override = &api.Override{Kind: o.Kind, To: o.To, Until: o.Until, Reason: o.Reason, By: o.By}
	}
	for _, t := range s.cfg.Targets {
		tv := api.Target{Name: t.Name, Role: t.Role, Health: string(health.Unknown),
			Vantages: map[string]api.VantageView{}}
		if vd, ok := s.verdicts.Target(t.Name); ok {
			tv.Health = string(vd.Status)
			tv.LastError = vd.LastError
			for _, e := range vd.Vantages {
				tv.Vantages[e.Vantage] = api.VantageView{OK: e.OK, Class: string(e.Class), LatencyMs: e.LatencyMs,
					At: e.At, State: string(e.State), Impaired: e.Impaired}
			}
		}
		v.Targets = append(v.Targets, tv)
	}
	return v
}

// viewIfChanged returns the view of s and whether it changed in a way the
// stream shows (anything but latencies and times) since it was last
// published. Callers hold r.mu.
func (r *Runner) viewIfChanged(s *service) (api.Service, bool) {
	v := r.view(s)
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%s|%v|%v|", v.State, v.Since, v.Reason, v.Routing, v.Desired)
	if v.Override != nil {
		fmt.Fprintf(&b, "%+v|", *v.Override)
	}
	for _, t := range v.Targets {
		fmt.Fprintf(&b, "%s:%s:%s;", t.Name, t.Health, t.LastError)
		for _, name := range sortedKeys(t.Vantages) {
			e := t.Vantages[name]
			fmt.Fprintf(&b, "%s=%t/%s/%s/%t,", name, e.OK, e.Class, e.State, e.Impaired)
		}
	}
	d := b.String()
	if d == s.digest {
		return v, false
	}
	s.digest = d
	return v, true
}

// Drill moves all of a service's weight to req.To for req.For.
func (r *Runner) Drill(ctx context.Context, name string, req api.OverrideRequest, by api.Actor) (api.Service, error) {
	return r.setOverride(ctx, name, controller.Drill, req, by)
}

// Pin moves all of a service's weight to req.To until released, or for
// req.For.
func (r *Runner) Pin(ctx context.Context, name string, req api.OverrideRequest, by api.Actor) (api.Service, error) {
	return r.setOverride(ctx, name, controller.Pin, req, by)
}

func (r *Runner) setOverride(ctx context.Context, name, kind string, req api.OverrideRequest, by api.Actor) (api.Service, error) {
	now := r.clock.Now()
	o := controller.Override{Kind: kind, To: req.To, Reason: req.Reason, By: by.Name, Force: req.Force}
	if req.For != "" {
		d, err := time.ParseDuration(req.For)
		if err != nil || d <= 0 {
			return api.Service{}, fmt.Errorf("%w: for: %q is not a positive duration", api.ErrInvalid, req.For)
		}
		o.Until = now.Add(d)
	}
	r.mu.Lock()
	s, ok := r.services[name]
	if !ok {
		r.mu.Unlock()
		return api.Service{}, fmt.Errorf("%w: service %q", api.ErrNotFound, name)
	}
	if !s.ready || !r.running {
		r.mu.Unlock()
		return api.Service{}, fmt.Errorf("%w: service %s has not been resumed from its provider yet", api.ErrNotReady, name)
	}
	if err := s.engine.ValidateOverride(o, s.verdicts, now); err != nil {
		log := s.log
		r.mu.Unlock()
		msg := fmt.Sprintf("%s to %s by %s refused: %v", kind, o.To, by.Name, err)
		log.Warn("override refused", "kind", kind, "to", o.To, "by", by.Name, "err", err)
		r.appendAndPublish([]store.Event{{Time: now, Service: name, Type: store.TypeOverride, To: "refused",
			Message: msg, Evidence: map[string]any{"by": by.Name, "kind": kind, "to": o.To, "reason": o.Reason}}})
		if errors.Is(err, controller.ErrTargetNotHealthy) {
			return api.Service{}, fmt.Errorf("%w: %v", api.ErrConflict, err)
		}
		return api.Service{}, fmt.Errorf("%w: %v", api.ErrInvalid, err)
	}
	s.override = &o
	s.log.Info("override requested", "kind", kind, "to", o.To, "until", o.Until, "by", by.Name, "force", o.Force,
		"reason", o.Reason)
	want := r.evalsStarted + 1
	r.mu.Unlock()
	r.kickLoop()
	if err := r.waitEvaluated(ctx, want); err != nil {
		return api.Service{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur := s.state.Override; cur == nil || !sameOverride(*cur, o) {
		// The engine refused it after all (the verdicts changed), or a
		// newer request replaced it.
		return r.view(s), fmt.Errorf("%w: %s to %s not in force: %s", api.ErrConflict, kind, o.To, s.state.Reason)
	}
	return r.view(s), nil
}

// Release ends the drill or pin in force.
func (r *Runner) Release(ctx context.Context, name string, by api.Actor) (api.Service, error) {
	r.mu.Lock()
	s, ok := r.services[name]
	if !ok {
		r.mu.Unlock()
		return api.Service{}, fmt.Errorf("%w: service %q", api.ErrNotFound, name)
	}
	if s.override == nil && s.state.Override == nil {
		r.mu.Unlock()
		return api.Service{}, fmt.Errorf("%w: service %s has no drill or pin in force", api.ErrConflict, name)
	}
	s.override = nil
	s.releasedBy = by.Name
	s.log.Info("override released", "by", by.Name)
	want := r.evalsStarted + 1
	r.mu.Unlock()
	r.kickLoop()
	if err := r.waitEvaluated(ctx, want); err != nil {
		return api.Service{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.view(s), nil
}

// Plan returns the probe plan of an agent: every target's probe, the
// interval and timeout, and the config's generation.
func (r *Runner) Plan(vantage string) (api.ProbePlan, error) {
	if !config.NamePattern.MatchString(vantage) {
		return api.ProbePlan{}, fmt.Errorf("%w: vantage %q is not a valid name", api.ErrInvalid, vantage)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg := r.cfg
	plan := api.ProbePlan{Vantage: vantage, Interval: r.interval().String(), Timeout: cfg.Probes.Timeout.String(),
		Generation: r.gen, Checks: []api.PlanItem{}}
	for _, s := range cfg.Services {
		for _, t := range s.Targets {
			plan.Checks = append(plan.Checks, api.PlanItem{Service: s.Name, Target: t.Name, Probe: probeMap(t.Probe)})
		}
	}
	return plan, nil
}

// probeMap renders a probe's config as the map of its YAML keys, leaving out
// what is unset. Durations are Go duration strings.
func probeMap(p config.Probe) map[string]any {
	m := map[string]any{}
	put := func(k string, v any, set bool) {
		if set {
			m[k] = v
		}
	}
	put("type", p.Type, p.Type != "")
	put("url", p.URL, p.URL != "")
	put("connect_to", p.ConnectTo, p.ConnectTo != "")
	put("method", p.Method, p.Method != "")
	put("headers", p.Headers, len(p.Headers) > 0)
	put("ca_file", p.CAFile, p.CAFile != "")
	put("timeout", p.Timeout.String(), p.Timeout > 0)
	e := p.Expect
	ex := map[string]any{}
	if len(e.Status) > 0 {
		ex["status"] = e.Status
	}
	if e.BodyContains != "" {
		ex["body_contains"] = e.BodyContains
	}
	if e.BodyRegex != "" {
		ex["body_regex"] = e.BodyRegex
	}
	if len(e.Headers) > 0 {
		ex["headers"] = e.Headers
	}
	if e.MaxLatency > 0 {
		ex["max_latency"] = e.MaxLatency.String()
	}
	if e.CertValidFor > 0 {
		ex["cert_valid_for"] = e.CertValidFor.String()
	}
	put("expect", ex, len(ex) > 0)
	return m
}

// LabFault sets a lab fault; api.ErrNotLab outside the lab.
func (r *Runner) LabFault(_ context.Context, f api.Fault, by api.Actor) error {
	if r.opts.Lab == nil {
		return api.ErrNotLab
	}
	if err := r.opts.Lab.SetFault(f.Target, f.Mode, f.Vantages); err != nil {
		return fmt.Errorf("%w: %v", api.ErrInvalid, err)
	}
	r.log.Info("lab fault set", "target", f.Target, "mode", f.Mode, "vantages", f.Vantages, "by", by.Name)
	return nil
}

func sameOverride(a, b controller.Override) bool {
	return a.Kind == b.Kind && a.To == b.To && a.Until.Equal(b.Until) && a.Reason == b.Reason && a.By == b.By &&
		a.Force == b.Force
}
