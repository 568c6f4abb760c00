package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/controller"
	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/providers"
	"github.com/failoverhq/failover/internal/hooks"
	"github.com/failoverhq/failover/internal/metrics"
	"github.com/failoverhq/failover/internal/probe"
	"github.com/failoverhq/failover/internal/store"
)

// Clock is the runner's source of time: the decision loop's ticks, the
// provider read backoff, retention and the local prober run on it. Tests
// pass a fake one. Deadlines of I/O (DNS writes, warm-ups, hooks) are real
// time.
type Clock = probe.Clock

// ProviderFactory builds a DNS provider; providers.Build is the real one.
type ProviderFactory func(ctx context.Context, p config.Provider, o providers.Options) (dnsswitch.Provider, error)

// LabFaulter sets lab faults (internal/lab.Lab); only the lab has one.
type LabFaulter interface {
	SetFault(target, mode string, vantages []string) error
}

// Defaults of Options.
const (
	DefaultApplyTimeout     = 30 * time.Second
	DefaultReadTimeout      = 30 * time.Second
	DefaultPruneEvery       = 10 * time.Minute
	DefaultSubscriberBuffer = 256
	// MaxClockSkew is how far ahead of the controller's clock a result may
	// be dated before it is dropped as future.
	MaxClockSkew = 5 * time.Second
	// MaxBatch bounds the results of one SubmitResults.
	MaxBatch = 10_000
	// MaxVantages bounds the vantages the controller keeps track of;
	// results of further new vantages are dropped as invalid.
	MaxVantages = 1000
	// minReadBackoff and maxReadBackoff bound the retries of a provider read.
	minReadBackoff = time.Second
	maxReadBackoff = time.Minute
	// vantageForget is how long a silent vantage stays in
	// failover_vantage_live (at 0) before it is forgotten.
	vantageForget = 24 * time.Hour
)

// Drop reasons of failover_results_dropped_total.
const (
	DropUnknownTarget = "unknown_target"
	DropFuture        = "future"
	DropStale         = "stale"
	DropReplay        = "replay"
	DropInvalid       = "invalid"
	// DropForbidden: an agent token bound to some vantages (auth.tokens[].vantages)
	// posted as another one.
	DropForbidden = "forbidden_vantage"
)

var dropReasons = []string{DropUnknownTarget, DropFuture, DropStale, DropReplay, DropInvalid, DropForbidden}

// Options configure a Runner. Store is required.
type Options struct {
	// Logger receives the runner's logs; nil discards them.
	Logger *slog.Logger
	// Metrics are the collectors of CONTRACT §5; nil makes a new set.
	Metrics *metrics.Metrics
	// Store keeps the events and the services' states. Required.
	Store *store.Store
	// Clock is the source of time; nil means the wall clock.
	Clock Clock
	// DataDir holds the builtin providers' state files; empty means the
	// config's controller.data_dir.
	DataDir string
	// ProviderFactory builds the DNS providers; nil means providers.Build.
	ProviderFactory ProviderFactory
	// Env looks up environment variables for providers' *_env secrets; nil
	// means os.LookupEnv.
	Env func(string) (string, bool)
	// Warmer runs warm-ups; nil means the real one (package warmup).
	Warmer Warmer
	// Hooks runs hooks; nil means a hooks.Runner built from the config's
	// hooks (and rebuilt when a reload changes them).
	Hooks HookRunner
	// Lab sets lab faults for the API's LabFault; nil outside the lab.
	Lab LabFaulter
	// Engine tunes the decision engine's bounds.
	Engine controller.Options
	// ApplyTimeout bounds one DNS write, read-back included
	// (DefaultApplyTimeout, or twice the provider's timeout when that is
	// longer).
	ApplyTimeout time.Duration
	// ReadTimeout bounds one provider read (DefaultReadTimeout).
	ReadTimeout time.Duration
	// PruneEvery is how often the store is pruned (DefaultPruneEvery).
	PruneEvery time.Duration
	// SubscriberBuffer is how many messages a stream subscriber may lag
	// behind before it is dropped (DefaultSubscriberBuffer).
	SubscriberBuffer int
}

// Runner runs the controller: see the package doc.
type Runner struct {
	opts    Options
	log     *slog.Logger
	clock   Clock
	m       *metrics.Metrics
	store   *store.Store
	factory ProviderFactory
	warmer  Warmer

	// evalMu serialises evaluations, reloads and the final save, so that
	// each sees the services as a whole.
	evalMu sync.Mutex

	mu       sync.Mutex
	cfg      *config.Config
	gen      uint64 // the probe plan's generation
	services map[string]*service
	order    []string // service names in config order
	provs    map[string]*provEntry
	hooks    HookRunner
	jobs     []probe.Job
	sched    *probe.Scheduler
	lastSeen map[string]time.Time // vantage -> newest accepted result
	started  bool
	running  bool
	inflight int // goroutines carrying out actions or reads
	// evalsStarted and evalsDone count evaluations; evalCh is closed (and
	// replaced) whenever one ends.
	evalsStarted, evalsDone uint64
	evalCh                  chan struct{}
	decisions               uint64 // the generation of DNS writes

	kick          chan struct{}
	proberRestart chan struct{}
	wg            sync.WaitGroup

	subMu      sync.Mutex
	subs       map[*subscriber]struct{}
	subsClosed bool
}

var _ api.Backend = (*Runner)(nil)

// New checks cfg and builds the runner: the providers (contacting nothing),
// one engine and tracker per service, with the state stored for it, and the
// local prober's probes. It starts nothing; see Run.
func New(cfg *config.Config, opts Options) (*Runner, error) {
	if cfg == nil {
		return nil, errors.New("runner: no config")
	}
	if opts.Store == nil {
		return nil, errors.New("runner: no store")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New()
	}
	if opts.Clock == nil {
		opts.Clock = probe.RealClock{}
	}
	if opts.ProviderFactory == nil {
		opts.ProviderFactory = providers.Build
	}
	if opts.ApplyTimeout <= 0 {
		opts.ApplyTimeout = DefaultApplyTimeout
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if opts.PruneEvery <= 0 {
		opts.PruneEvery = DefaultPruneEvery
	}
	if opts.SubscriberBuffer <= 0 {
		opts.SubscriberBuffer = DefaultSubscriberBuffer
	}
	r := &Runner{
		opts:          opts,
		log:           opts.Logger,
		clock:         opts.Clock,
		m:             opts.Metrics,
		store:         opts.Store,
		factory:       opts.ProviderFactory,
		warmer:        opts.Warmer,
		gen:           1,
		lastSeen:      make(map[string]time.Time),
		evalCh:        make(chan struct{}),
		kick:          make(chan struct{}, 1),
		proberRestart: make(chan struct{}, 1),
		subs:          make(map[*subscriber]struct{}),
	}
	if r.warmer == nil {
		r.warmer = &realWarmer{log: r.log}
	}
	for _, reason := range dropReasons {
		r.m.ResultsDropped.WithLabelValues(reason)
	}
	b, err := r.build(context.Background(), cfg, nil)
	if err != nil {
		return nil, err
	}
	r.cfg = cfg
	r.initSeries(cfg)
	r.provs = b.provs
	r.hooks = b.hooks
	r.jobs = b.jobs
	r.services = make(map[string]*service, len(cfg.Services))
	now := r.clock.Now()
	for _, sc := range cfg.Services {
		s := b.services[sc.Name]
		r.loadStored(s, now)
		r.services[sc.Name] = s
		r.order = append(r.order, sc.Name)
	}
	return r, nil
}

// loadStored gives a new service the state stored for it, as the basis of
// its Resume and as what the API shows until then.
func (r *Runner) loadStored(s *service, now time.Time) {
	s.state = controller.State{Phase: controller.Healthy, Since: now,
		Routing: controller.AllOn(s.engine.Order(), s.engine.Primary())}
	raw, ok, err := r.store.LoadState(s.name)
	switch {
	case err != nil:
		s.log.Error("loading stored state; starting without it", "err", err)
	case ok:
		var st controller.State
		if err := json.Unmarshal(raw, &st); err != nil {
			s.log.Error("stored state is unreadable; starting without it", "err", err)
			break
		}
		s.stored = &st
		s.state = st.Clone()
	}
	s.state.Reason = "starting: reading the routing from provider " + s.cfg.Provider
}

// Run starts the builtin DNS servers and the local prober, resumes every
// service from its provider and the store, and runs the decision loop until
// ctx is cancelled. It returns once every goroutine it started has stopped,
// the servers are shut down and the states are saved. A Runner runs once.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("runner: already started")
	}
	r.started = true
	r.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := r.startServers(ctx); err != nil {
		r.closeSubscribers()
		return err
	}
	// The timers start before anything else can be observed, so that the
	// first tick is due one period after the start.
	next := r.clock.Now().Add(r.every())
	tick := r.clock.NewTimer(r.every())
	pruneTimer := r.clock.NewTimer(r.opts.PruneEvery)
	r.mu.Lock()
	r.running = true
	n := len(r.order)
	r.mu.Unlock()
	r.appendAndPublish([]store.Event{{Time: r.clock.Now(), Type: store.TypeConfig, To: "started",
		Message: fmt.Sprintf("controller started with %d %s", n, plural(n, "service", "services"))}})

	r.wg.Add(1)
	go r.proberLoop(ctx)

	r.evaluate(ctx)
	r.prune()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C():
			// The next tick is set before this one's evaluation, so that
			// it is due whatever happens meanwhile.
			now := r.clock.Now()
			next = next.Add(r.every())
			if !next.After(now) { // fell behind: do not catch up in a burst
				next = now.Add(r.every())
			}
			tick = r.clock.NewTimer(next.Sub(now))
			r.evaluate(ctx)
		case <-r.kick:
			r.evaluate(ctx)
		case <-pruneTimer.C():
			r.prune()
			pruneTimer = r.clock.NewTimer(r.opts.PruneEvery)
		}
	}
	tick.Stop()
	pruneTimer.Stop()
	cancel()
	r.wg.Wait()

	r.mu.Lock()
	r.running = false
	r.mu.Unlock()
	r.shutdownServers()
	r.saveAll()
	r.closeSubscribers()
	return nil
}

// every is the decision loop's period.
func (r *Runner) every() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d := r.cfg.Controller.EvaluateEvery; d > 0 {
		return d
	}
	return config.Defaults().Controller.EvaluateEvery
}

// kickLoop asks the loop for an evaluation now.
func (r *Runner) kickLoop() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// initSeries creates the counters that alerts watch at 0 for every configured
// provider and hook, so that Prometheus's increase() sees their first error
// (a series that appears with its first event has no earlier sample).
func (r *Runner) initSeries(cfg *config.Config) {
	for _, p := range cfg.DNS.Providers {
		for _, res := range []string{dnsOK, dnsRetryable, dnsVerify, dnsError} {
			r.m.DNSChanges.WithLabelValues(p.Name, res)
		}
	}
	for _, h := range cfg.Hooks {
		for _, res := range []string{hooks.ResultOK, hooks.ResultTimeout, hooks.ResultError} {
			r.m.HookRuns.WithLabelValues(h.Name, res)
		}
	}
}

// goTracked runs f in a goroutine that Run waits for, counted as in flight
// until f returns. Callers hold r.mu. A panic in f (a provider's SDK, a
// hook) is logged with its stack and does not take the controller down: the
// engine's own bounds (DNS retry, max_wait) cover the report that never comes.
func (r *Runner) goTracked(f func()) {
	r.inflight++
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			r.inflight--
			r.mu.Unlock()
		}()
		defer func() {
			if p := recover(); p != nil {
				r.log.Error("internal error in a background action; the controller goes on",
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			}
		}()
		f()
	}()
}

// waitEvaluated waits until an evaluation that started at or after the
// want'th has ended, or ctx ends, or the runner stops.
func (r *Runner) waitEvaluated(ctx context.Context, want uint64) error {
	for {
		r.mu.Lock()
		done, ch, running := r.evalsDone, r.evalCh, r.running
		r.mu.Unlock()
		if done >= want {
			return nil
		}
		if !running {
			return fmt.Errorf("%w: the controller is not running", api.ErrNotReady)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// prune enforces controller.retention on the store.
func (r *Runner) prune() {
	r.mu.Lock()
	ret := r.cfg.Controller.Retention
	r.mu.Unlock()
	if ret.MaxAge <= 0 && ret.MaxEvents <= 0 {
		return
	}
	n, err := r.store.Prune(r.clock.Now(), ret.MaxAge, ret.MaxEvents)
	if err != nil {
		r.log.Error("pruning the event store", "err", err)
		return
	}
	if n > 0 {
		r.log.Info("pruned the event store", "removed", n, "max_age", ret.MaxAge, "max_events", ret.MaxEvents)
	}
}

// saveAll saves the full state of every resumed service, so that a restart
// sees its latest reason too.
func (r *Runner) saveAll() {
	r.evalMu.Lock()
	defer r.evalMu.Unlock()
	r.mu.Lock()
	type save struct {
		s    *service
		data []byte
	}
	var saves []save
	for _, name := range r.order {
		s := r.services[name]
		if !s.ready {
			continue
		}
		data, err := json.Marshal(s.state)
		if err != nil {
			s.log.Error("encoding state", "err", err)
			continue
		}
		saves = append(saves, save{s, data})
	}
	r.mu.Unlock()
	for _, sv := range saves {
		if err := r.store.SaveState(sv.s.name, sv.data); err != nil {
			sv.s.log.Error("saving state at shutdown", "err", err)
		}
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
