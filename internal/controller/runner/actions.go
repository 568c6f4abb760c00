package runner

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/controller"
	"github.com/failoverhq/failover/internal/hooks"
	"github.com/failoverhq/failover/internal/store"
	"github.com/failoverhq/failover/internal/warmup"
)

// Warmer warms a target's cache (package warmup). The target's Warmup is
// set; its MaxWait is the bound the runner wants, and ctx ends a little
// after it.
type Warmer interface {
	Warm(ctx context.Context, svc config.Service, target config.Target) (warmup.Result, error)
}

// HookRunner runs hooks by name (package hooks): one Result per name, in
// order, each within its own timeout and ctx.
type HookRunner interface {
	Run(ctx context.Context, names []string, ev hooks.Event) []hooks.Result
}

var _ HookRunner = (*hooks.Runner)(nil)

// realWarmer warms through package warmup. Its fetches are counted by the
// runner (failover_warmup_urls_total), not by the warmup package.
type realWarmer struct {
	log *slog.Logger
}

func (w *realWarmer) Warm(ctx context.Context, svc config.Service, t config.Target) (warmup.Result, error) {
	if t.Warmup == nil {
		return warmup.Result{}, fmt.Errorf("warmup: target %s has no warmup", t.Name)
	}
	wr, err := warmup.New(warmup.Options{Service: svc.Name, Target: t.Name, Warmup: *t.Warmup, Probe: t.Probe,
		Logger: w.log.With("service", svc.Name, "target", t.Name)})
	if err != nil {
		return warmup.Result{}, err
	}
	defer wr.Close()
	return wr.Run(ctx)
}

// warmSlack is how long after its own bound a warm-up's context ends, for
// the warm-up to stop and account for itself.
const warmSlack = time.Second

// startWarmup runs the warm-up of a target in a goroutine and reports its
// outcome. One warm-up per target runs at a time; a request for one that is
// running is answered by that one's report. Callers hold r.mu.
func (r *Runner) startWarmup(ctx context.Context, s *service, a controller.StartWarmup) {
	log := s.log.With("target", a.Target)
	t, ok := s.target(a.Target)
	if !ok || t.Warmup == nil {
		r.report(s, controller.Report{Kind: controller.WarmupFailed, Target: a.Target, Detail: "no warm-up configured"})
		return
	}
	if s.warming[a.Target] || ctx.Err() != nil {
		return
	}
	// The bound of the engine's wait: max_wait during a failover; before a
	// ramp back to the primary there is no urgency, so it may take longer.
	w := *t.Warmup
	if w.MaxWait <= 0 {
		w.MaxWait = r.engineOpt().DefaultMaxWait
	}
	if a.Target == s.engine.Primary() {
		w.MaxWait = max(w.MaxWait, r.engineOpt().PrimaryWarmWait)
	}
	t.Warmup = &w
	s.warming[a.Target] = true
	svc, warmer := s.cfg, r.warmer
	log.Info("warm-up started", "reason", a.Reason, "max_wait", w.MaxWait)
	r.goTracked(func() {
		wctx, cancel := context.WithTimeout(ctx, w.MaxWait+warmSlack)
		res, err := warmer.Warm(wctx, svc, t)
		cancel()
		r.countWarmup(svc.Name, t.Name, res)
		if ctx.Err() != nil {
			return
		}
		rep := controller.Report{Kind: controller.WarmupDone, Target: t.Name}
		switch {
		case err != nil:
			rep.Kind, rep.Detail = controller.WarmupFailed, err.Error()
			log.Warn("warm-up failed", "err", err)
		case res.StoppedEarly == warmup.StopErrorRatio:
			rep.Kind, rep.Detail = controller.WarmupFailed, res.Summary()
			log.Warn("warm-up stopped on errors", "summary", res.Summary())
		default:
			rep.Detail = res.Summary()
			log.Info("warm-up done", "summary", res.Summary())
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		s.warming[t.Name] = false
		if err == nil {
			s.warmed[t.Name] = res
		}
		r.report(s, rep)
	})
}

// countWarmup counts a warm-up's warm-pass fetches in
// failover_warmup_urls_total.
func (r *Runner) countWarmup(service, target string, res warmup.Result) {
	for result, n := range map[string]int{
		warmup.ResultHit: res.Hits, warmup.ResultMiss: res.Misses, warmup.ResultUncacheable: res.Uncacheable,
		warmup.ResultUnknown: res.Unknown, warmup.ResultError: res.Failed,
	} {
		if n > 0 {
			r.m.WarmupURLs.WithLabelValues(service, target, result).Add(float64(n))
		}
	}
}

// engineOpt returns the engine options with their defaults.
func (r *Runner) engineOpt() controller.Options {
	o := r.opts.Engine
	if o.DefaultMaxWait <= 0 {
		o.DefaultMaxWait = controller.DefaultMaxWait
	}
	if o.PrimaryWarmWait <= 0 {
		o.PrimaryWarmWait = controller.DefaultPrimaryWarmWait
	}
	if o.GateWait <= 0 {
		o.GateWait = controller.DefaultGateWait
	}
	return o
}

// startHooks runs hooks in a goroutine. Each run is stored as an event of
// type hook before a gate's outcome is reported. Callers hold r.mu.
func (r *Runner) startHooks(ctx context.Context, s *service, a controller.RunHooks, ev hooks.Event) {
	if ctx.Err() != nil {
		return
	}
	if a.Gate {
		ev.Type = hooks.EventGate
	}
	hr, log := r.hooks, s.log
	names := append([]string(nil), a.Hooks...)
	r.goTracked(func() {
		results := hr.Run(ctx, names, ev)
		events := make([]store.Event, 0, len(results))
		var failed []string
		for _, res := range results {
			result := res.MetricResult()
			r.m.HookRuns.WithLabelValues(res.Hook, result).Inc()
			hl := log.With("hook", res.Hook, "event", string(ev.Type), "target", ev.Target)
			if !res.OK {
				failed = append(failed, res.Hook+" "+result)
				hl.Warn("hook failed", "result", result, "err", res.Error, "duration", res.Duration,
					"attempts", res.Attempts)
			} else {
				hl.Info("hook ran", "duration", res.Duration, "attempts", res.Attempts)
			}
			msg := fmt.Sprintf("hook %s on %s: %s in %s", res.Hook, ev.Type, result, res.Duration.Round(time.Millisecond))
			if ev.Target != "" {
				msg = fmt.Sprintf("hook %s on %s of %s: %s in %s", res.Hook, ev.Type, ev.Target, result,
					res.Duration.Round(time.Millisecond))
			}
			if res.Error != "" {
				msg += ": " + res.Error
			}
			events = append(events, store.Event{Time: r.clock.Now(), Service: s.name, Type: store.TypeHook,
				From: string(ev.Type), To: result, Message: msg,
				Evidence: map[string]any{"hook": res.Hook, "event": string(ev.Type), "target": ev.Target,
					"result": res, "duration_ms": res.Duration.Milliseconds()}})
		}
		r.appendAndPublish(events)
		if !a.Gate || ctx.Err() != nil {
			return
		}
		rep := controller.Report{Kind: controller.HooksDone, Target: a.Target}
		if len(failed) > 0 {
			rep.Kind, rep.Detail = controller.HooksFailed, strings.Join(failed, ", ")
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.report(s, rep)
	})
}
