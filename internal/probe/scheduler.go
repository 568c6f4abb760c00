package probe

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Key names a probe job: one target of one service.
type Key struct {
	Service string
	Target  string
}

func (k Key) String() string { return k.Service + "/" + k.Target }

// Job is a target to probe once per interval.
type Job struct {
	Key  Key
	Spec *Spec
}

// Checker runs one probe. *Prober is the real one.
type Checker interface {
	Probe(ctx context.Context, s *Spec) Result
}

// DefaultConcurrency bounds the probes in flight when
// SchedulerOptions.Concurrency is not set.
const DefaultConcurrency = 64

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	// Interval is how often each job runs. Required.
	Interval time.Duration
	// Concurrency bounds the probes in flight at once. Zero means
	// DefaultConcurrency.
	Concurrency int
	// MaxJitter bounds the random delay added to each planned start. Zero
	// means Interval/20, a negative value turns jitter off. It is capped at
	// the slot width Interval/N, so jobs keep their order within a round.
	MaxJitter time.Duration
	// Checker runs the probes. Nil means a Prober with zero Options; pass
	// a Prober made with Options.SourceAddr to bind a source address.
	Checker Checker
	// Deliver receives every result, with Service and Target filled in. It
	// is called from the job's goroutine, concurrently for different jobs,
	// after the probe released its concurrency slot; a slow Deliver delays
	// only the next probe of the same job. Required.
	Deliver func(Result)
	// OnStart, if set, is called as each probe starts, with the time it was
	// planned for (jitter included) and the time it actually started. The
	// difference is the scheduler's own lag.
	OnStart func(key Key, planned, actual time.Time)
	// Clock is the source of time. Nil means RealClock.
	Clock Clock
}

// Stats count what a Scheduler did since it was made.
type Stats struct {
	Started uint64 // probes started
	// Skipped counts rounds of a job that could not start before the
	// job's next round: the concurrency bound was reached, or the job's
	// previous probe was still running.
	Skipped uint64
	LagSum  time.Duration // sum over started probes of actual - planned start
	LagMax  time.Duration // the largest of them
}

// Scheduler runs each job once per interval, spread evenly: in every round
// job i of N is planned at offset i*Interval/N plus a bounded random jitter,
// so a thousand targets never fire at once. Rounds are aligned to the time
// Run started and stay aligned across Update.
//
// At most Concurrency probes run at once, and at most one per job key, even
// across an Update. A probe that finds no free slot waits for one, but no
// longer than the start of the job's next round: then the round is skipped
// and counted in Stats.Skipped, so a saturated scheduler never builds a
// queue.
type Scheduler struct {
	opts    SchedulerOptions
	clock   Clock
	checker Checker
	sem     chan struct{}
	notify  chan struct{} // an Update happened; capacity 1
	running atomic.Bool

	mu       sync.Mutex
	jobs     []Job
	version  uint64
	inflight map[Key]chan struct{} // one probe in flight per key

	started, skipped atomic.Uint64
	lagSum, lagMax   atomic.Int64
}

// NewScheduler returns a Scheduler with no jobs; give it some with Update.
func NewScheduler(opts SchedulerOptions) (*Scheduler, error) {
	if opts.Interval <= 0 {
		return nil, fmt.Errorf("scheduler: interval must be positive, got %s", opts.Interval)
	}
	if opts.Deliver == nil {
		return nil, errors.New("scheduler: Deliver is required")
	}
	if opts.Concurrency < 0 {
		return nil, fmt.Errorf("scheduler: concurrency must not be negative, got %d", opts.Concurrency)
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = DefaultConcurrency
	}
	switch {
	case opts.MaxJitter == 0:
		opts.MaxJitter = opts.Interval / 20
	case opts.MaxJitter < 0:
		opts.MaxJitter = 0
	}
	s := &Scheduler{
		opts:     opts,
		clock:    opts.Clock,
		checker:  opts.Checker,
		sem:      make(chan struct{}, opts.Concurrency),
		notify:   make(chan struct{}, 1),
		inflight: make(map[Key]chan struct{}),
	}
	if s.clock == nil {
		s.clock = RealClock{}
	}
	if s.checker == nil {
		p, err := New(Options{})
		if err != nil {
			return nil, err
		}
		s.checker = p
	}
	return s, nil
}

// Update replaces the job set, before or while Run runs. Jobs run in the
// order given. A running scheduler re-spreads the new set over the same
// round boundaries: a job that stays may then run once a little early or
// late, but never concurrently with its own previous probe. Probes already
// in flight finish and are delivered.
func (s *Scheduler) Update(jobs []Job) error {
	seen := make(map[Key]bool, len(jobs))
	for _, j := range jobs {
		if j.Spec == nil {
			return fmt.Errorf("scheduler: job %s has no spec", j.Key)
		}
		if seen[j.Key] {
			return fmt.Errorf("scheduler: duplicate job %s", j.Key)
		}
		seen[j.Key] = true
	}
	s.mu.Lock()
	s.jobs = append([]Job(nil), jobs...)
	s.version++
	for k := range s.inflight {
		if !seen[k] {
			delete(s.inflight, k)
		}
	}
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (s *Scheduler) Stats() Stats {
	return Stats{
		Started: s.started.Load(),
		Skipped: s.skipped.Load(),
		LagSum:  time.Duration(s.lagSum.Load()),
		LagMax:  time.Duration(s.lagMax.Load()),
	}
}

// Run probes the jobs until ctx is cancelled, then cancels the probes in
// flight, waits for every goroutine it started and returns nil. Results of
// probes cut short by the cancellation are not delivered. Run returns an
// error only if the scheduler is already running.
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("scheduler: already running")
	}
	defer s.running.Store(false)

	epoch := s.clock.Now()
	var wg sync.WaitGroup
	stop := func() {}
	defer func() {
		stop()
		wg.Wait()
	}()
	var seen uint64
	for first := true; ; first = false {
		s.mu.Lock()
		jobs, version := s.jobs, s.version
		s.mu.Unlock()
		if first || version != seen {
			seen = version
			// The previous set stops planning rounds; its probes in
			// flight finish on ctx.
			stop()
			genCtx, cancel := context.WithCancel(ctx)
			stop = cancel
			// Every job of the set starts from the same instant, so
			// the time it takes to start the goroutines cannot push
			// a job due now into the next round.
			from := epoch
			if !first {
				from = s.clock.Now()
			}
			pl := s.plan(epoch, len(jobs))
			for i, j := range jobs {
				tok := s.token(j.Key)
				wg.Go(func() { s.loop(ctx, genCtx, pl, i, j, tok, from) })
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.notify:
		}
	}
}

// token returns the key's in-flight token, a channel of capacity one.
func (s *Scheduler) token(k Key) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.inflight[k]
	if !ok {
		tok = make(chan struct{}, 1)
		s.inflight[k] = tok
	}
	return tok
}

// loop runs job i of a job set, from its first round at or after from,
// until genCtx ends. Probes run on probeCtx, so an Update does not cut them
// short.
func (s *Scheduler) loop(probeCtx, genCtx context.Context, pl plan, i int, j Job, tok chan struct{}, from time.Time) {
	r := pl.nextRound(i, from)
	for {
		planned := pl.base(i, r).Add(pl.drawJitter())
		if !s.sleepUntil(genCtx, planned) {
			return
		}
		if s.acquire(genCtx, tok, pl.base(i, r+1)) {
			actual := s.clock.Now()
			s.recordStart(j.Key, planned, actual)
			res := s.probe(probeCtx, j.Spec)
			<-s.sem
			<-tok
			if probeCtx.Err() != nil {
				return
			}
			res.Service, res.Target = j.Key.Service, j.Key.Target
			s.opts.Deliver(res)
		} else {
			if genCtx.Err() != nil {
				return
			}
			s.skipped.Add(1)
		}
		// Rounds whose window closed meanwhile are skipped; a round whose
		// window is still open starts late rather than not at all.
		next := r + 1
		if cur := pl.window(i, s.clock.Now()); cur > next {
			s.skipped.Add(uint64(cur - next))
			next = cur
		}
		r = next
	}
}

// probe runs one probe, bounded by the spec's timeout whatever the Checker.
func (s *Scheduler) probe(ctx context.Context, spec *Spec) Result {
	ctx, cancel := context.WithTimeout(ctx, spec.Timeout())
	defer cancel()
	return s.checker.Probe(ctx, spec)
}

// sleepUntil waits until t. It reports false if ctx ended first.
func (s *Scheduler) sleepUntil(ctx context.Context, t time.Time) bool {
	d := t.Sub(s.clock.Now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := s.clock.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C():
		return true
	case <-ctx.Done():
		return false
	}
}

// acquire takes the key's token and a concurrency slot, waiting no later
// than deadline. It reports whether it got both.
func (s *Scheduler) acquire(ctx context.Context, tok chan struct{}, deadline time.Time) bool {
	var timer Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	take := func(ch chan struct{}) bool {
		select {
		case ch <- struct{}{}:
			return true
		default:
		}
		if timer == nil {
			d := deadline.Sub(s.clock.Now())
			if d <= 0 {
				return false
			}
			timer = s.clock.NewTimer(d)
		}
		select {
		case ch <- struct{}{}:
			return true
		case <-timer.C():
			return false
		case <-ctx.Done():
			return false
		}
	}
	if !take(tok) {
		return false
	}
	if !take(s.sem) {
		<-tok
		return false
	}
	return true
}

func (s *Scheduler) recordStart(k Key, planned, actual time.Time) {
	s.started.Add(1)
	lag := int64(actual.Sub(planned))
	s.lagSum.Add(lag)
	for {
		old := s.lagMax.Load()
		if lag <= old || s.lagMax.CompareAndSwap(old, lag) {
			break
		}
	}
	if s.opts.OnStart != nil {
		s.opts.OnStart(k, planned, actual)
	}
}

// plan is the arithmetic of spreading n jobs over an interval.
type plan struct {
	epoch    time.Time
	interval time.Duration
	n        int
	jitter   time.Duration // bound of the random jitter, below the slot width
}

func (s *Scheduler) plan(epoch time.Time, n int) plan {
	pl := plan{epoch: epoch, interval: s.opts.Interval, n: n, jitter: s.opts.MaxJitter}
	if n > 0 && pl.jitter > pl.interval/time.Duration(n) {
		pl.jitter = pl.interval / time.Duration(n)
	}
	return pl
}

// offset is job i's offset within a round, i*interval/n, computed without
// overflow.
func (pl plan) offset(i int) time.Duration {
	hi, lo := bits.Mul64(uint64(pl.interval), uint64(i))
	q, _ := bits.Div64(hi, lo, uint64(pl.n))
	return time.Duration(q)
}

// base is the planned start of job i in round r, before jitter.
func (pl plan) base(i int, r int64) time.Time {
	return pl.epoch.Add(time.Duration(r)*pl.interval + pl.offset(i))
}

// nextRound is the first round of job i whose base is at or after t.
func (pl plan) nextRound(i int, t time.Time) int64 {
	d := t.Sub(pl.epoch) - pl.offset(i)
	if d <= 0 {
		return 0
	}
	return int64((d + pl.interval - 1) / pl.interval)
}

// window is the round of job i whose window [base(r), base(r+1)) holds t,
// or -1 before the first.
func (pl plan) window(i int, t time.Time) int64 {
	d := t.Sub(pl.epoch) - pl.offset(i)
	if d < 0 {
		return -1
	}
	return int64(d / pl.interval)
}

// drawJitter returns a random delay in [0, pl.jitter).
func (pl plan) drawJitter() time.Duration {
	if pl.jitter <= 0 {
		return 0
	}
	return rand.N(pl.jitter)
}
