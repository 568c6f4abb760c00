// Package agent is the probe agent behind `failover probe` (CONTRACT §1): a
// vantage that runs away from the controller, pulls its probe plan from it,
// probes the targets with the real probe.Scheduler and pushes the results
// back in batches.
//
// Plan. The agent pulls GET /api/v1/plan?vantage=NAME at start, retrying
// with exponential backoff until it gets a usable plan, and then every
// Options.PlanEvery. A plan that differs from the one in force (a new
// generation) replaces the scheduler's jobs with Scheduler.Update; a new
// interval restarts the scheduler. When the controller cannot be reached the
// agent keeps probing with the last plan it got.
//
// Results. Every result goes into a bounded buffer. A pusher sends the oldest
// results in batches of up to Options.BatchSize, every Options.PushEvery or
// as soon as a full batch is held. While no controller answers, the buffer
// fills up to Options.BufferSize and then drops its oldest results, counting
// them (Stats.Dropped) and logging at most once a minute. When a controller
// answers again the backlog goes out in batches, oldest first, back to back.
// A batch refused with a 4xx for its content (400, 413 with one result,
// 422, ...) is dropped and counted (Stats.Refused) rather than retried
// forever; a 413 for a larger batch halves the batch size first. A
// connection error, a 5xx, a 401/403 (a token being rotated), 408 or 429 is
// retried with backoff.
//
// Stop. Run returns when its context ends, after stopping the scheduler and
// every goroutine it started, and after one last bounded attempt
// (Options.FlushTimeout) to send what is buffered.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/client"
	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/probe"
)

// Defaults of Options.
const (
	DefaultPlanEvery    = 30 * time.Second
	DefaultPushEvery    = time.Second
	DefaultBatchSize    = 500
	DefaultBufferSize   = 100_000
	DefaultMinBackoff   = time.Second
	DefaultMaxBackoff   = 30 * time.Second
	DefaultFlushTimeout = 2 * time.Second
	// LogEvery bounds how often a recurring condition (drops, a controller
	// still unreachable, refused batches) is logged.
	LogEvery = time.Minute
)

// Controller is what the agent needs of the controller's API; a
// *client.Client is one.
type Controller interface {
	Plan(ctx context.Context, vantage string) (api.ProbePlan, error)
	PushResults(ctx context.Context, b api.ResultsBatch) (api.ResultsAck, error)
}

var _ Controller = (*client.Client)(nil)

// Options configure an Agent.
type Options struct {
	// Controller is the API the agent talks to. Required.
	Controller Controller
	// Vantage is this agent's vantage name. Required.
	Vantage string
	// SourceAddr binds the probes' connections to this local IP (the lab's
	// vantages use 127.0.20.x). Ignored when Checker is set.
	SourceAddr string
	// Checker runs the probes; nil means a probe.Prober bound to
	// SourceAddr.
	Checker probe.Checker
	// Concurrency bounds the probes in flight (probe.DefaultConcurrency
	// when zero).
	Concurrency int
	PlanEvery   time.Duration // how often the plan is pulled again
	PushEvery   time.Duration // how often buffered results are pushed
	BatchSize   int           // the most results in one push
	BufferSize  int           // the most results held while undelivered
	// MinBackoff and MaxBackoff bound the waits between failed plan pulls
	// (before the first plan) and between failed pushes.
	MinBackoff, MaxBackoff time.Duration
	// FlushTimeout bounds the last push when Run stops.
	FlushTimeout time.Duration
	// Clock drives the scheduler, the backoff and the pushes; nil means
	// the wall clock.
	Clock probe.Clock
	// Logger receives the agent's logs; nil discards them.
	Logger *slog.Logger
}

// Stats count what an Agent did since it was made.
type Stats struct {
	Generation   uint64 // of the plan in force (0 before the first)
	Jobs         int    // checks in the plan in force
	PlanFailures uint64 // plan pulls that failed or brought an unusable plan

	Added    uint64 // results the probes produced
	Buffered int    // results held, not yet delivered
	Sent     uint64 // results in batches the controller took (2xx)
	// Rejected counts the results of Sent that the controller's answer
	// says it did not take (ResultsAck.Rejected), by reason in
	// RejectedBy.
	Rejected   uint64
	RejectedBy map[string]uint64
	// Refused counts results in batches the controller refused with a 4xx
	// for their content: dropped, never retried.
	Refused uint64
	// Dropped counts results dropped, oldest first, from a full buffer and
	// never delivered.
	Dropped uint64
	// PushFailures counts pushes that failed and were retried later.
	PushFailures uint64
}

// Agent is a probe agent. Make one with New and run it with Run.
type Agent struct {
	o       Options
	ctl     Controller
	checker probe.Checker
	clock   probe.Clock
	log     *slog.Logger
	buf     *buffer
	running atomic.Bool

	mu    sync.Mutex // guards the counters below, and buffer acks with them
	stats Stats
}

// New returns an Agent.
func New(o Options) (*Agent, error) {
	if o.Controller == nil {
		return nil, errors.New("agent: no controller")
	}
	if !config.NamePattern.MatchString(o.Vantage) {
		return nil, fmt.Errorf("agent: vantage %q must match %s", o.Vantage, config.NamePattern)
	}
	setDefault(&o.PlanEvery, DefaultPlanEvery)
	setDefault(&o.PushEvery, DefaultPushEvery)
	setDefault(&o.BatchSize, DefaultBatchSize)
	setDefault(&o.BufferSize, DefaultBufferSize)
	setDefault(&o.MinBackoff, DefaultMinBackoff)
	setDefault(&o.MaxBackoff, DefaultMaxBackoff)
	setDefault(&o.FlushTimeout, DefaultFlushTimeout)
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	a := &Agent{o: o, ctl: o.Controller, checker: o.Checker, clock: o.Clock, log: o.Logger}
	if a.checker == nil {
		p, err := probe.New(probe.Options{SourceAddr: o.SourceAddr})
		if err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
		a.checker = p
	}
	if a.clock == nil {
		a.clock = probe.RealClock{}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("vantage", o.Vantage)
	a.buf = newBuffer(o.BufferSize, o.BatchSize)
	a.stats.RejectedBy = map[string]uint64{}
	return a, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Stats returns a snapshot of the counters.
func (a *Agent) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.stats
	s.RejectedBy = make(map[string]uint64, len(a.stats.RejectedBy))
	for k, v := range a.stats.RejectedBy {
		s.RejectedBy[k] = v
	}
	s.Buffered, s.Added, s.Dropped = a.buf.counts()
	return s
}

// Run runs the agent until ctx ends, then returns nil once every goroutine
// it started has ended. It returns an error only when the agent is
// already running.
func (a *Agent) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("agent: already running")
	}
	defer a.running.Store(false)

	raw, cp, ok := a.firstPlan(ctx)
	if !ok {
		return nil
	}
	run, err := a.startScheduler(ctx, cp, nil)
	if err != nil {
		// compilePlan only lets through what the scheduler takes.
		return fmt.Errorf("agent: %w", err)
	}
	// Pushes are not cut off when ctx ends, which could deliver a batch
	// without the agent knowing and make it send the batch again: the one
	// in flight and the final flush get FlushTimeout more.
	pctx, release := graceful(ctx, a.o.FlushTimeout)
	defer release()
	var wg sync.WaitGroup
	wg.Go(func() { a.pushLoop(ctx, pctx) })

	run = a.planLoop(ctx, raw, run)

	run.stop()
	wg.Wait()
	a.flush(pctx)
	return nil
}

// graceful returns a context that ends grace after ctx ends (on the wall
// clock: it bounds network I/O), and a func that ends it at once and waits
// for the goroutine that watches ctx.
func graceful(ctx context.Context, grace time.Duration) (context.Context, func()) {
	g, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-ctx.Done():
		case <-g.Done():
			return
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-g.Done():
		}
	}()
	return g, func() {
		cancel()
		<-done
	}
}

// fetchPlan pulls the plan and compiles it.
func (a *Agent) fetchPlan(ctx context.Context) (api.ProbePlan, compiledPlan, error) {
	p, err := a.ctl.Plan(ctx, a.o.Vantage)
	if err != nil {
		return p, compiledPlan{}, err
	}
	cp, err := compilePlan(p)
	return p, cp, err
}

// firstPlan pulls the plan until it gets a usable one, with backoff. It
// reports false when ctx ended first.
func (a *Agent) firstPlan(ctx context.Context) (api.ProbePlan, compiledPlan, bool) {
	wait := a.o.MinBackoff
	for {
		p, cp, err := a.fetchPlan(ctx)
		if ctx.Err() != nil {
			return p, cp, false
		}
		if err == nil {
			return p, cp, true
		}
		a.count(func(s *Stats) { s.PlanFailures++ })
		a.log.Warn("cannot get the probe plan; retrying", "err", err, "in", wait)
		if !a.sleep(ctx, wait) {
			return p, cp, false
		}
		wait = min(2*wait, a.o.MaxBackoff)
	}
}

// planLoop pulls the plan every PlanEvery and applies a changed one, until
// ctx ends. It returns the scheduler in force.
func (a *Agent) planLoop(ctx context.Context, last api.ProbePlan, run *schedRun) *schedRun {
	for a.sleep(ctx, a.o.PlanEvery) {
		p, cp, err := a.fetchPlan(ctx)
		if ctx.Err() != nil {
			break
		}
		if err == nil && reflect.DeepEqual(p, last) {
			continue
		}
		if err == nil {
			var next *schedRun
			if next, err = a.startScheduler(ctx, cp, run); err == nil {
				run, last = next, p
				continue
			}
		}
		a.count(func(s *Stats) { s.PlanFailures++ })
		// A controller that cannot be reached is the pusher's to report.
		if !errors.Is(err, client.ErrUnreachable) {
			a.log.Warn("cannot refresh the probe plan; keeping the one in force",
				"generation", last.Generation, "err", err)
		}
	}
	return run
}

// schedRun is a scheduler running in its own goroutine.
type schedRun struct {
	sched    *probe.Scheduler
	interval time.Duration
	cancel   context.CancelFunc
	done     chan struct{}
}

func (r *schedRun) stop() {
	r.cancel()
	<-r.done
}

// startScheduler puts plan cp in force: it updates the jobs of cur when the
// interval is unchanged, and otherwise replaces cur with a new scheduler.
func (a *Agent) startScheduler(ctx context.Context, cp compiledPlan, cur *schedRun) (*schedRun, error) {
	for _, p := range cp.problems {
		a.log.Warn("plan check left out", "generation", cp.generation, "problem", p)
	}
	inForce := func() {
		a.count(func(s *Stats) { s.Generation, s.Jobs = cp.generation, len(cp.jobs) })
	}
	if cur != nil && cur.interval == cp.interval {
		if err := cur.sched.Update(cp.jobs); err != nil {
			return cur, err
		}
		inForce()
		a.log.Info("plan updated", "generation", cp.generation, "checks", len(cp.jobs))
		return cur, nil
	}
	s, err := probe.NewScheduler(probe.SchedulerOptions{
		Interval:    cp.interval,
		Concurrency: a.o.Concurrency,
		Checker:     a.checker,
		Deliver:     a.buf.add,
		Clock:       a.clock,
	})
	if err != nil {
		return cur, err
	}
	if err := s.Update(cp.jobs); err != nil {
		return cur, err
	}
	if cur != nil {
		cur.stop()
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &schedRun{sched: s, interval: cp.interval, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		_ = s.Run(rctx) // errors only when already running; this one is new
	}()
	inForce()
	a.log.Info("plan in force", "generation", cp.generation, "checks", len(cp.jobs), "interval", cp.interval)
	return r, nil
}

// sleep waits d on the agent's clock; it reports false when ctx ended
// first.
func (a *Agent) sleep(ctx context.Context, d time.Duration) bool {
	t := a.clock.NewTimer(d)
	select {
	case <-ctx.Done():
		t.Stop()
		return false
	case <-t.C():
		return true
	}
}

func (a *Agent) count(f func(*Stats)) {
	a.mu.Lock()
	f(&a.stats)
	a.mu.Unlock()
}

// pushOutcome is what one push did.
type pushOutcome int

const (
	pushedNothing pushOutcome = iota // the buffer was empty
	pushedOK                         // taken, or refused and dropped
	pushFailed                       // to be retried
)

// pushLoop pushes buffered results, with pctx, until ctx ends.
func (a *Agent) pushLoop(ctx, pctx context.Context) {
	var (
		backoff      time.Duration // > 0 while pushes fail
		failingSince time.Time
		unreach      = limiter{every: LogEvery}
		drops        = dropLog{limiter: limiter{every: LogEvery}}
	)
	batch := a.o.BatchSize
	for {
		wait := a.o.PushEvery
		var ready <-chan struct{}
		if backoff > 0 {
			wait = backoff // a full buffer must not spin while failing
		} else {
			ready = a.buf.ready
		}
		t := a.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		case <-ready:
			t.Stop()
		}

		var failure error
		for {
			out, err := a.pushOnce(pctx, &batch)
			if out == pushFailed {
				failure = err
				break
			}
			if out == pushedNothing || ctx.Err() != nil {
				break
			}
			if held, _, _ := a.buf.counts(); held < batch {
				break // less than a batch left: wait for the next tick
			}
		}
		now := a.clock.Now()
		switch {
		case failure != nil && ctx.Err() == nil:
			a.count(func(s *Stats) { s.PushFailures++ })
			if backoff == 0 {
				failingSince = now
				backoff = a.o.MinBackoff
			} else {
				backoff = min(2*backoff, a.o.MaxBackoff)
			}
			if unreach.allow(now) {
				held, _, _ := a.buf.counts()
				a.log.Warn("cannot push results; buffering", "err", failure, "buffered", held,
					"failing_for", now.Sub(failingSince).Round(time.Second), "retry_in", backoff)
			}
		case failure == nil && backoff > 0:
			a.log.Info("pushing results again", "after", now.Sub(failingSince).Round(time.Second))
			backoff = 0
			unreach = limiter{every: LogEvery}
		}
		_, _, dropped := a.buf.counts()
		if n, ok := drops.due(now, dropped); ok {
			a.log.Warn("result buffer full: dropped the oldest results", "dropped", n, "dropped_total", dropped,
				"bound", a.o.BufferSize)
		}
	}
}

// pushOnce sends the oldest batch.
func (a *Agent) pushOnce(ctx context.Context, batch *int) (pushOutcome, error) {
	rs, first := a.buf.peek(*batch)
	if len(rs) == 0 {
		return pushedNothing, nil
	}
	ack, err := a.ctl.PushResults(ctx, api.ResultsBatch{Vantage: a.o.Vantage, Results: rs})
	if err == nil {
		a.mu.Lock()
		a.buf.ack(first, len(rs))
		a.stats.Sent += uint64(len(rs))
		for reason, n := range ack.Rejected {
			if n > 0 {
				a.stats.Rejected += uint64(n)
				a.stats.RejectedBy[reason] += uint64(n)
			}
		}
		a.mu.Unlock()
		if len(ack.Rejected) > 0 {
			a.log.Debug("controller rejected results", "rejected", ack.Rejected)
		}
		return pushedOK, nil
	}
	status := client.StatusOf(err)
	if status == http.StatusRequestEntityTooLarge && len(rs) > 1 {
		*batch = max(1, len(rs)/2)
		a.log.Warn("controller refused the batch as too large; halving the batch size", "batch", *batch)
		return pushedOK, nil
	}
	if refusedForContent(status) {
		a.mu.Lock()
		a.buf.ack(first, len(rs))
		a.stats.Refused += uint64(len(rs))
		a.mu.Unlock()
		a.log.Warn("controller refused a batch; dropped it", "results", len(rs), "err", err)
		return pushedOK, nil
	}
	return pushFailed, err
}

// refusedForContent reports whether a status means the batch itself is
// unacceptable, so sending it again cannot help.
func refusedForContent(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestTimeout, http.StatusTooManyRequests:
		return false
	}
	return status >= 400 && status < 500
}

// flush makes one last attempt, within ctx, to send what is buffered.
func (a *Agent) flush(ctx context.Context) {
	batch := a.o.BatchSize
	for ctx.Err() == nil {
		out, err := a.pushOnce(ctx, &batch)
		if out == pushedNothing {
			return
		}
		if out == pushFailed {
			held, _, _ := a.buf.counts()
			a.log.Warn("stopping with results undelivered", "buffered", held, "err", err)
			return
		}
	}
}

// limiter lets an action happen at most once per period.
type limiter struct {
	every time.Duration
	last  time.Time
}

func (l *limiter) allow(now time.Time) bool {
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		return false
	}
	l.last = now
	return true
}

// dropLog decides when to log drops: at most once per period, with the
// drops since the last log.
type dropLog struct {
	limiter
	logged uint64
}

// due returns the drops not yet logged when a log is due.
func (d *dropLog) due(now time.Time, dropped uint64) (uint64, bool) {
	if dropped <= d.logged || !d.allow(now) {
		return 0, false
	}
	n := dropped - d.logged
	d.logged = dropped
	return n, true
}
