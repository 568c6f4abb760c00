package runner

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/store"
)

// Reload puts cfg in place of the running config (see the package doc). The
// caller has validated cfg; Reload still refuses, and keeps the old config,
// when it cannot apply it: a changed data_dir, an engine, probe or provider
// that cannot be built, a DNS server that cannot start. It counts
// failover_config_reload_total{result}.
func (r *Runner) Reload(cfg *config.Config) error {
	err := r.reload(cfg)
	result := "ok"
	if err != nil {
		result = "error"
		r.log.Error("config reload refused; the running config stays", "err", err)
	}
	r.m.ConfigReload.WithLabelValues(result).Inc()
	return err
}

func (r *Runner) reload(cfg *config.Config) error {
	if cfg == nil {
		return errors.New("runner: reload: no config")
	}
	r.evalMu.Lock()
	defer r.evalMu.Unlock()

	r.mu.Lock()
	old, oldProvs, running, oldHooks := r.cfg, r.provs, r.running, r.hooks
	r.mu.Unlock()
	if cfg.Controller.DataDir != old.Controller.DataDir {
		return fmt.Errorf("runner: reload: controller.data_dir cannot change from %q to %q without a restart",
			old.Controller.DataDir, cfg.Controller.DataDir)
	}
	b, err := r.build(context.Background(), cfg, oldProvs)
	if err != nil {
		return fmt.Errorf("runner: reload: %w", err)
	}
	if running {
		if err := r.swapServers(oldProvs, b.provs); err != nil {
			return fmt.Errorf("runner: reload: %w", err)
		}
	}

	r.mu.Lock()
	now := r.clock.Now()
	var added, removed, changed []string
	services := make(map[string]*service, len(cfg.Services))
	order := make([]string, 0, len(cfg.Services))
	intervalChanged := old.Probes.Interval != cfg.Probes.Interval
	for _, sc := range cfg.Services {
		nb := b.services[sc.Name]
		s, ok := r.services[sc.Name]
		switch {
		case !ok:
			r.loadStored(nb, now)
			s = nb
			added = append(added, sc.Name)
		case reflect.DeepEqual(s.cfg, sc) && s.prov == nb.prov && !intervalChanged:
			// unchanged: keep everything
		default:
			r.update(s, nb, intervalChanged, now)
			changed = append(changed, sc.Name)
		}
		services[sc.Name] = s
		order = append(order, sc.Name)
	}
	for _, name := range r.order {
		if _, ok := services[name]; !ok {
			removed = append(removed, name)
			r.forget(name)
		}
	}
	r.cfg = cfg
	r.initSeries(cfg)
	r.provs = b.provs
	r.hooks = b.hooks
	r.jobs = b.jobs
	r.services = services
	r.order = order
	r.gen++
	gen := r.gen
	restartProber := settingsOf(old) != settingsOf(cfg)
	if r.sched != nil && !restartProber {
		if err := r.sched.Update(b.jobs); err != nil {
			// Cannot happen with jobs compiled by build; restart it anyway.
			r.log.Error("updating the local prober's jobs", "err", err)
			restartProber = true
		}
	}
	r.mu.Unlock()

	if restartProber {
		select {
		case r.proberRestart <- struct{}{}:
		default:
		}
	}
	if c, ok := oldHooks.(interface{ Close() }); ok && oldHooks != b.hooks {
		c.Close()
	}
	for _, name := range removed {
		if err := r.store.DeleteState(name); err != nil {
			r.log.Error("deleting the state of a removed service", "service", name, "err", err)
		}
	}
	msg := fmt.Sprintf("config reloaded (generation %d): %s", gen, describeChanges(added, removed, changed))
	r.log.Info("config reloaded", "generation", gen, "added", added, "removed", removed, "changed", changed)
	r.appendAndPublish([]store.Event{{Time: now, Type: store.TypeConfig, From: strconv.FormatUint(gen-1, 10),
		To: strconv.FormatUint(gen, 10), Message: msg,
		Evidence: map[string]any{"added": nonNil(added), "removed": nonNil(removed), "changed": nonNil(changed)}}})
	r.kickLoop()
	return nil
}

// update puts the config of nb (freshly built) into the running service s,
// keeping its state, override and, where it still applies, its tracker.
// Callers hold r.mu.
func (r *Runner) update(s, nb *service, intervalChanged bool, now time.Time) {
	oldCfg, oldProv, oldDsvc := s.cfg, s.prov, s.dsvc
	s.cfg, s.dsvc, s.engine, s.prov, s.log = nb.cfg, nb.dsvc, nb.engine, nb.prov, nb.log
	if intervalChanged || !sameTracking(oldCfg, nb.cfg) {
		s.tracker = nb.tracker
		s.verdicts = nb.verdicts
	}
	if o := s.override; o != nil {
		if _, ok := s.target(o.To); !ok {
			s.log.Warn("the override's target is gone from the config; releasing it", "to", o.To)
			s.override = nil
			s.releasedBy = "config reload"
		}
	}
	s.digest = ""
	if s.prov != oldProv || !reflect.DeepEqual(s.dsvc, oldDsvc) {
		// The records or where they live changed: read them again before
		// anything is written.
		if s.ready {
			st := s.state.Clone()
			s.stored = &st
		}
		s.ready, s.reading, s.readErr, s.backoff, s.nextRead = false, false, nil, 0, now
		s.readGen++
		s.pending = nil // decided for the old records
		return
	}
	if s.ready {
		st := s.state
		s.state = s.engine.Resume(&st, st.Applied, now)
	}
}

// sameTracking reports whether a tracker built for a still fits b: same
// targets and roles, same policy.
func sameTracking(a, b config.Service) bool {
	if !reflect.DeepEqual(a.Policy, b.Policy) || len(a.Targets) != len(b.Targets) {
		return false
	}
	for i := range a.Targets {
		if a.Targets[i].Name != b.Targets[i].Name || a.Targets[i].Role != b.Targets[i].Role {
			return false
		}
	}
	return true
}

// forget drops the metrics series of a removed service. Callers hold r.mu.
func (r *Runner) forget(name string) {
	l := prometheus.Labels{"service": name}
	r.m.TargetHealthy.DeletePartialMatch(l)
	r.m.RouteWeight.DeletePartialMatch(l)
	r.m.ServiceState.DeletePartialMatch(l)
	r.m.Transitions.DeletePartialMatch(l)
	r.m.ProbeResults.DeletePartialMatch(l)
	r.m.ProbeDuration.DeletePartialMatch(l)
	r.m.WarmupURLs.DeletePartialMatch(l)
}

// swapServers stops the DNS servers of providers that the new config
// replaces or drops, and starts those of the new ones. When a new one cannot
// start, it puts the old ones back.
func (r *Runner) swapServers(oldProvs, newProvs map[string]*provEntry) error {
	var stop, start []*provEntry
	for name, pe := range oldProvs {
		if pe.running && newProvs[name] != pe {
			stop = append(stop, pe)
		}
	}
	for _, pe := range newProvs {
		if pe.srv != nil && !pe.running {
			start = append(start, pe)
		}
	}
	for _, pe := range stop {
		r.stopServer(pe)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, pe := range start {
		if err := pe.srv.Start(ctx); err != nil {
			for _, started := range start[:i] {
				r.stopServer(started)
			}
			for _, pe := range stop {
				if rerr := pe.srv.Start(ctx); rerr != nil {
					r.log.Error("restarting the previous DNS server", "provider", pe.cfg.Name, "err", rerr)
					continue
				}
				r.setRunning(pe, true)
			}
			return fmt.Errorf("provider %s: start DNS server: %w", pe.cfg.Name, err)
		}
		r.setRunning(pe, true)
	}
	return nil
}

func (r *Runner) setRunning(pe *provEntry, running bool) {
	r.mu.Lock()
	pe.running = running
	r.mu.Unlock()
}

func describeChanges(added, removed, changed []string) string {
	var parts []string
	for _, c := range []struct {
		word  string
		names []string
	}{{"added", added}, {"removed", removed}, {"changed", changed}} {
		if len(c.names) > 0 {
			parts = append(parts, c.word+" "+strings.Join(c.names, ", "))
		}
	}
	if len(parts) == 0 {
		return "no service changed"
	}
	return strings.Join(parts, "; ")
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

// equal reports whether two provider configs are the same.
func equal(a, b config.Provider) bool { return reflect.DeepEqual(a, b) }
