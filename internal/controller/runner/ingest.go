package runner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/health"
	"github.com/failoverhq/failover/internal/probe"
)

// SubmitResults takes a batch of an agent's results (api.Backend). Each
// result is accepted or dropped for one of the reasons of the package doc;
// the ack counts both. A batch that is malformed as a whole (too many
// results, a bad vantage name), or of which nothing was accepted for a reason
// that is the sender's fault (invalid, unknown_target, future), is also an
// error wrapping api.ErrInvalid.
func (r *Runner) SubmitResults(_ context.Context, batch api.ResultsBatch, by api.Actor) (api.ResultsAck, error) {
	if len(batch.Results) > MaxBatch {
		r.drop(DropInvalid, len(batch.Results))
		return api.ResultsAck{Rejected: map[string]int{DropInvalid: len(batch.Results)}},
			fmt.Errorf("%w: %d results in one batch, at most %d", api.ErrInvalid, len(batch.Results), MaxBatch)
	}
	if !config.NamePattern.MatchString(batch.Vantage) {
		r.drop(DropInvalid, len(batch.Results))
		return api.ResultsAck{Rejected: map[string]int{DropInvalid: len(batch.Results)}},
			fmt.Errorf("%w: vantage %q is not a valid name", api.ErrInvalid, batch.Vantage)
	}
	if !r.mayPostAs(by, batch.Vantage) {
		r.drop(DropForbidden, len(batch.Results))
		return api.ResultsAck{Rejected: map[string]int{DropForbidden: len(batch.Results)}},
			fmt.Errorf("%w: token %s may not post results as vantage %s", api.ErrForbidden, by.Name, batch.Vantage)
	}
	ack := r.ingest(batch.Vantage, batch.Results)
	if ack.Accepted == 0 && len(batch.Results) > 0 {
		for _, reason := range []string{DropInvalid, DropUnknownTarget, DropFuture} {
			if ack.Rejected[reason] > 0 {
				return ack, fmt.Errorf("%w: no result accepted (%s)", api.ErrInvalid, formatCounts(ack.Rejected))
			}
		}
	}
	return ack, nil
}

// mayPostAs reports whether the token by may post results as vantage: any
// vantage unless the config binds the token to a list (auth.tokens[].vantages).
// A caller with no token name (in-process) may post as any.
func (r *Runner) mayPostAs(by api.Actor, vantage string) bool {
	if by.Name == "" {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.cfg.Auth.Tokens {
		if t.Name == by.Name {
			return len(t.Vantages) == 0 || slices.Contains(t.Vantages, vantage)
		}
	}
	return true
}

func (r *Runner) drop(reason string, n int) {
	if n > 0 {
		r.m.ResultsDropped.WithLabelValues(reason).Add(float64(n))
	}
}

// ingest feeds results of one vantage to the services' trackers.
func (r *Runner) ingest(vantage string, results []probe.Result) api.ResultsAck {
	ack := api.ResultsAck{}
	reject := func(reason string) {
		if ack.Rejected == nil {
			ack.Rejected = make(map[string]int)
		}
		ack.Rejected[reason]++
		r.m.ResultsDropped.WithLabelValues(reason).Inc()
	}
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, known := r.lastSeen[vantage]; !known && len(r.lastSeen) >= MaxVantages {
		for range results {
			reject(DropInvalid)
		}
		return ack
	}
	oldest := now.Add(-health.StaleAfter * r.interval())
	for _, res := range results {
		s := r.services[res.Service]
		if s == nil {
			reject(DropUnknownTarget)
			continue
		}
		if _, ok := s.target(res.Target); !ok {
			reject(DropUnknownTarget)
			continue
		}
		switch {
		case res.Time.IsZero() || !res.Class.Valid() || res.OK != (res.Class == probe.ClassOK) ||
			res.LatencyMs < 0 || len(res.Error) > maxErrorLen:
			reject(DropInvalid)
			continue
		case res.Time.After(now.Add(MaxClockSkew)):
			reject(DropFuture)
			continue
		case res.Time.Before(oldest):
			reject(DropStale)
			continue
		}
		if err := s.tracker.Observe(vantage, res); err != nil {
			switch {
			case errors.Is(err, health.ErrReplay):
				reject(DropReplay)
			case errors.Is(err, health.ErrUnknownTarget), errors.Is(err, health.ErrWrongService):
				reject(DropUnknownTarget)
			default:
				reject(DropInvalid)
			}
			continue
		}
		ack.Accepted++
		r.m.ProbeResults.WithLabelValues(res.Service, res.Target, vantage, string(res.Class)).Inc()
		r.m.ProbeDuration.WithLabelValues(res.Service, res.Target, vantage).Observe(res.LatencyMs / 1000)
		if res.Time.After(r.lastSeen[vantage]) {
			r.lastSeen[vantage] = res.Time
		}
	}
	return ack
}

// maxErrorLen bounds a result's error text.
const maxErrorLen = 4096

func formatCounts(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// proberSettings are the settings that need a new scheduler when they
// change.
type proberSettings struct {
	local       bool
	interval    time.Duration
	sourceAddr  string
	concurrency int
}

func settingsOf(cfg *config.Config) proberSettings {
	p := cfg.Probes
	return proberSettings{local: p.Local, interval: p.Interval, sourceAddr: p.SourceAddr, concurrency: p.Concurrency}
}

// proberLoop runs the local prober, a probe.Scheduler over every service's
// targets, and replaces it when a reload changes its settings.
func (r *Runner) proberLoop(ctx context.Context) {
	defer r.wg.Done()
	for {
		sched := r.newScheduler()
		var stop context.CancelFunc = func() {}
		done := make(chan struct{})
		if sched != nil {
			sctx, cancel := context.WithCancel(ctx)
			stop = cancel
			go func() {
				defer close(done)
				if err := sched.Run(sctx); err != nil {
					r.log.Error("local prober", "err", err)
				}
			}()
		} else {
			close(done)
		}
		select {
		case <-ctx.Done():
		case <-r.proberRestart:
		}
		stop()
		<-done
		r.mu.Lock()
		if r.sched == sched {
			r.sched = nil
		}
		r.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
	}
}

// newScheduler makes the local prober for the current config, or returns
// nil when probes.local is false.
func (r *Runner) newScheduler() *probe.Scheduler {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.cfg.Probes
	if !p.Local {
		return nil
	}
	log := r.log.With("vantage", p.Vantage)
	checker, err := probe.New(probe.Options{SourceAddr: p.SourceAddr, Now: r.clock.Now})
	if err != nil {
		log.Error("local prober: not probing", "err", err)
		return nil
	}
	sched, err := probe.NewScheduler(probe.SchedulerOptions{
		Interval:    r.interval(),
		Concurrency: p.Concurrency,
		Checker:     checker,
		Clock:       r.clock,
		Deliver:     r.deliverLocal,
	})
	if err != nil {
		log.Error("local prober: not probing", "err", err)
		return nil
	}
	if err := sched.Update(r.jobs); err != nil {
		log.Error("local prober: not probing", "err", err)
		return nil
	}
	r.sched = sched
	log.Info("local prober started", "jobs", len(r.jobs), "interval", r.interval(), "source_addr", p.SourceAddr)
	return sched
}

// deliverLocal takes a result of the local prober, as the vantage
// probes.vantage.
func (r *Runner) deliverLocal(res probe.Result) {
	r.mu.Lock()
	vantage := r.cfg.Probes.Vantage
	r.mu.Unlock()
	r.ingest(vantage, []probe.Result{res})
}
