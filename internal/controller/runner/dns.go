package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/failoverhq/failover/internal/controller"
	"github.com/failoverhq/failover/internal/dnsswitch"
)

// DNS write results, the result label of failover_dns_changes_total.
const (
	dnsOK        = "ok"
	dnsRetryable = "retryable"
	dnsVerify    = "verify"
	dnsError     = "error"
)

// startRead reads the service's routing from its provider in a goroutine;
// finishRead resumes the service from it. Callers hold r.mu.
func (r *Runner) startRead(ctx context.Context, s *service) {
	s.reading = true
	p, dsvc, gen := s.prov.p, s.dsvc, s.readGen
	r.goTracked(func() {
		rctx, cancel := context.WithTimeout(ctx, r.opts.ReadTimeout)
		actual, err := p.Read(rctx, dsvc)
		cancel()
		if ctx.Err() != nil {
			return // stopping
		}
		r.finishRead(s, gen, actual, err)
	})
}

func (r *Runner) finishRead(s *service, gen uint64, actual dnsswitch.Routing, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.readGen != gen || r.services[s.name] != s {
		return // a reload changed or removed the service meanwhile
	}
	s.reading = false
	now := r.clock.Now()
	if err != nil {
		s.backoff = min(max(2*s.backoff, minReadBackoff), maxReadBackoff)
		s.nextRead = now.Add(s.backoff)
		s.readErr = err
		s.log.Warn("cannot read the routing from the provider; nothing is written to it until it can be read",
			"err", err, "retry_in", s.backoff)
		return
	}
	s.ready, s.readErr, s.backoff = true, nil, 0
	s.applied = dnsswitch.Routing(s.fullRouting(actual))
	s.state = s.engine.Resume(s.stored, controller.Routing(actual), now)
	s.stored = nil
	s.override = nil
	if o := s.state.Override; o != nil {
		oc := *o
		s.override = &oc
	}
	s.digest = ""
	r.setRouteWeights(s)
	s.log.Info("resumed", "state", string(s.state.Phase), "routing", s.applied.String(),
		"awaiting_evidence", s.state.AwaitingEvidence)
	r.kickLoop()
}

// startApply writes a routing through the service's provider, one write at
// a time: a routing decided while one is in flight waits for it, replacing
// any other that waits. Callers hold r.mu.
func (r *Runner) startApply(ctx context.Context, s *service, a controller.SetRouting) {
	if s.applying {
		// A routing that waits and is superseded is never written; the
		// engine only needs the outcome of the newest.
		s.pending = &a
		return
	}
	if ctx.Err() != nil {
		return
	}
	s.applying = true
	r.decisions++
	gen := r.decisions
	pe, dsvc := s.prov, s.dsvc
	caps := pe.p.Capabilities()
	desired := dnsswitch.Routing(a.Routing.Clone())
	publish := dnsswitch.Effective(caps, dsvc, desired)
	plan := dnsswitch.ComputePlan(pe.cfg.Name, caps, dsvc, s.applied, desired)
	r.goTracked(func() {
		// The provider bounds its own calls by its timeout; this is a
		// backstop above it.
		actx, cancel := context.WithTimeout(ctx, max(r.opts.ApplyTimeout, 2*pe.cfg.Timeout))
		start := time.Now()
		err := safely("apply", func() error {
			return pe.p.Apply(actx, dsvc, publish, dnsswitch.ApplyOptions{Generation: gen})
		})
		took := time.Since(start)
		var readBack dnsswitch.Routing
		if err != nil && ctx.Err() == nil {
			// What is published now is unknown: read it for the view.
			if rb, rerr := pe.p.Read(actx, dsvc); rerr == nil {
				readBack = rb
			}
		}
		cancel()
		result := dnsOK
		switch {
		case err == nil:
		case errors.Is(err, dnsswitch.ErrRetryable):
			result = dnsRetryable
		case errors.Is(err, dnsswitch.ErrVerify):
			result = dnsVerify
		default:
			result = dnsError
		}
		r.m.DNSChanges.WithLabelValues(pe.cfg.Name, result).Inc()
		r.m.DNSApplyDuration.WithLabelValues(pe.cfg.Name).Observe(took.Seconds())
		if ctx.Err() != nil {
			return // stopping: the next start reads what DNS holds
		}
		r.finishApply(ctx, s, a, publish, readBack, plan, err, took)
	})
}

func (r *Runner) finishApply(ctx context.Context, s *service, a controller.SetRouting, published, readBack dnsswitch.Routing,
	plan dnsswitch.Plan, err error, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.applying = false
	if r.services[s.name] != s {
		return // removed by a reload meanwhile
	}
	rep := controller.Report{Routing: a.Routing}
	if err == nil {
		s.softFails = 0
		s.applied = dnsswitch.Routing(s.fullRouting(published))
		rep.Kind = controller.DNSApplied
		rep.Detail = fmt.Sprintf("published %s in %s", published.String(), took.Round(time.Millisecond))
		if plan.Note != "" {
			rep.Detail += "; " + plan.Note
		}
		s.log.Info("routing applied", "routing", published.String(), "took", took, "reason", a.Reason)
	} else {
		if readBack != nil {
			s.applied = dnsswitch.Routing(s.fullRouting(readBack))
		}
		rep.Kind = controller.DNSFailed
		if errors.Is(err, dnsswitch.ErrRetryable) {
			s.softFails++
			rep.Detail = fmt.Sprintf("soft failure %d in a row: %v", s.softFails, err)
			s.log.Warn("routing write failed; will retry", "err", err, "consecutive", s.softFails,
				"routing", published.String())
		} else {
			s.softFails = 0
			rep.Detail = fmt.Sprintf("hard failure: %v", err)
			s.log.Error("routing write failed", "err", err, "routing", published.String())
		}
	}
	r.setRouteWeights(s)
	r.report(s, rep)
	if p := s.pending; p != nil {
		s.pending = nil
		r.startApply(ctx, s, *p)
	}
}

// setRouteWeights sets failover_route_weight from the applied routing.
// Callers hold r.mu.
func (r *Runner) setRouteWeights(s *service) {
	for _, t := range s.cfg.Targets {
		r.m.RouteWeight.WithLabelValues(s.name, t.Name).Set(float64(s.applied[t.Name]))
	}
}

// startServers starts the DNS servers of the providers that serve DNS
// themselves (the builtin one).
func (r *Runner) startServers(ctx context.Context) error {
	r.mu.Lock()
	var todo []*provEntry
	for _, pe := range r.provs {
		if pe.srv != nil && !pe.running {
			todo = append(todo, pe)
		}
	}
	r.mu.Unlock()
	for i, pe := range todo {
		if err := pe.srv.Start(ctx); err != nil {
			for _, started := range todo[:i] {
				r.stopServer(started)
			}
			return fmt.Errorf("runner: provider %s: start DNS server: %w", pe.cfg.Name, err)
		}
		r.mu.Lock()
		pe.running = true
		r.mu.Unlock()
	}
	return nil
}

// shutdownServers stops every running DNS server.
func (r *Runner) shutdownServers() {
	r.mu.Lock()
	var todo []*provEntry
	for _, pe := range r.provs {
		if pe.running {
			todo = append(todo, pe)
		}
	}
	r.mu.Unlock()
	for _, pe := range todo {
		r.stopServer(pe)
	}
}

func (r *Runner) stopServer(pe *provEntry) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := pe.srv.Shutdown(ctx); err != nil {
		r.log.Error("stopping the DNS server", "provider", pe.cfg.Name, "err", err)
	}
	r.mu.Lock()
	pe.running = false
	r.mu.Unlock()
}

// safely calls f and turns a panic in it (a provider or SDK bug) into an
// error, so that the write is reported as a hard failure like any other and
// the engine retries it, instead of the service waiting forever.
func safely(what string, f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: internal error in the provider: %v", what, p)
		}
	}()
	return f()
}
