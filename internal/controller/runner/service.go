package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/controller"
	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/providers"
	"github.com/failoverhq/failover/internal/health"
	"github.com/failoverhq/failover/internal/hooks"
	"github.com/failoverhq/failover/internal/probe"
	"github.com/failoverhq/failover/internal/warmup"
)

// service is one service's running state. Its fields are guarded by the
// Runner's mu, except savedKey, which only evaluations (under evalMu) use.
type service struct {
	name    string
	cfg     config.Service
	dsvc    dnsswitch.Service
	engine  *controller.Engine
	tracker *health.Tracker
	prov    *provEntry
	log     *slog.Logger

	// The provider read that resumes the service.
	ready    bool
	reading  bool
	readGen  uint64 // a read of an older generation is ignored
	readErr  error
	nextRead time.Time
	backoff  time.Duration
	stored   *controller.State // the basis of Resume

	state    controller.State
	savedKey []byte // the last saved state, less its reason
	verdicts health.Verdicts
	// override is what the runner hands the engine: the operator's drill
	// or pin, until released or cleared by the engine.
	override   *controller.Override
	releasedBy string
	reports    []controller.Report
	// applied is the routing as published: read from the provider at
	// start, then what each successful write published.
	applied   dnsswitch.Routing
	applying  bool
	pending   *controller.SetRouting
	softFails int
	warming   map[string]bool
	warmed    map[string]warmup.Result
	digest    string // of the last published view
}

// provEntry is a built provider.
type provEntry struct {
	cfg     config.Provider
	p       dnsswitch.Provider
	srv     server // nil unless the provider serves DNS itself
	running bool
}

// server is a provider that serves DNS itself (the builtin one).
type server interface {
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// built is what a config turns into before it is put in place.
type built struct {
	provs    map[string]*provEntry
	hooks    HookRunner
	jobs     []probe.Job
	services map[string]*service
}

// build turns cfg into providers, hooks, probe jobs and services. Providers
// of old whose config is the same are reused rather than built again.
func (r *Runner) build(ctx context.Context, cfg *config.Config, old map[string]*provEntry) (*built, error) {
	b := &built{provs: make(map[string]*provEntry, len(cfg.DNS.Providers)), services: make(map[string]*service)}
	for _, pc := range cfg.DNS.Providers {
		if pe, ok := old[pc.Name]; ok && equal(pe.cfg, pc) {
			b.provs[pc.Name] = pe
			continue
		}
		pe, err := r.buildProvider(ctx, cfg, pc)
		if err != nil {
			return nil, err
		}
		b.provs[pc.Name] = pe
	}
	jobs, err := compileJobs(cfg)
	if err != nil {
		return nil, err
	}
	b.jobs = jobs
	b.hooks = r.opts.Hooks
	if b.hooks == nil {
		hr, err := hooks.New(hooks.Options{Hooks: cfg.Hooks, Logger: r.log.With("component", "hooks")})
		if err != nil {
			return nil, fmt.Errorf("runner: hooks: %w", err)
		}
		b.hooks = hr
	}
	for _, sc := range cfg.Services {
		if _, dup := b.services[sc.Name]; dup {
			return nil, fmt.Errorf("runner: duplicate service %q", sc.Name)
		}
		pe, ok := b.provs[sc.Provider]
		if !ok {
			return nil, fmt.Errorf("runner: service %s: no provider %q", sc.Name, sc.Provider)
		}
		s, err := r.newService(sc, pe, cfg.Probes.Interval)
		if err != nil {
			return nil, err
		}
		b.services[sc.Name] = s
	}
	return b, nil
}

func (r *Runner) buildProvider(ctx context.Context, cfg *config.Config, pc config.Provider) (*provEntry, error) {
	dir := r.opts.DataDir
	if dir == "" {
		dir = cfg.Controller.DataDir
	}
	p, err := r.factory(ctx, pc, providers.Options{DataDir: dir, Env: r.opts.Env, Logger: r.log})
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	pe := &provEntry{cfg: pc, p: p}
	if srv, ok := p.(server); ok {
		pe.srv = srv
	}
	return pe, nil
}

// newService makes the engine and tracker of sc.
func (r *Runner) newService(sc config.Service, pe *provEntry, interval time.Duration) (*service, error) {
	eng, err := controller.New(sc, r.opts.Engine)
	if err != nil {
		return nil, fmt.Errorf("runner: service %s: %w", sc.Name, err)
	}
	return &service{
		name:    sc.Name,
		cfg:     sc,
		dsvc:    providers.Service(sc),
		engine:  eng,
		tracker: health.NewTracker(sc, interval),
		prov:    pe,
		log:     r.log.With("service", sc.Name, "provider", sc.Provider),
		warming: make(map[string]bool),
		warmed:  make(map[string]warmup.Result),
	}, nil
}

// compileJobs compiles every target's probe.
func compileJobs(cfg *config.Config) ([]probe.Job, error) {
	var jobs []probe.Job
	for i, sc := range cfg.Services {
		for j, t := range sc.Targets {
			spec, err := probe.Compile(t.Probe, probe.Defaults{Timeout: cfg.Probes.Timeout})
			if err != nil {
				return nil, fmt.Errorf("runner: services[%d].targets[%d].probe: %w", i, j, err)
			}
			jobs = append(jobs, probe.Job{Key: probe.Key{Service: sc.Name, Target: t.Name}, Spec: spec})
		}
	}
	return jobs, nil
}

// target returns the named target's config.
func (s *service) target(name string) (config.Target, bool) {
	for _, t := range s.cfg.Targets {
		if t.Name == name {
			return t, true
		}
	}
	return config.Target{}, false
}

// stateKey is the state as it is compared to decide whether to save it: the
// reason, which changes with every evaluation while a clock runs ("healthy
// for 12s"), is left out. Saving only on other changes keeps the store from
// syncing once per service per evaluation; Run saves the full state when it
// stops.
func stateKey(st controller.State) []byte {
	st.Reason = ""
	b, err := json.Marshal(st)
	if err != nil {
		return nil
	}
	return b
}

// fullRouting returns r with an entry for every target of s.
func (s *service) fullRouting(r map[string]int) map[string]int {
	out := make(map[string]int, len(s.cfg.Targets))
	for _, t := range s.cfg.Targets {
		out[t.Name] = r[t.Name]
	}
	return out
}
