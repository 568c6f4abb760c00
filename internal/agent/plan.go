package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/probe"
)

// compiledPlan is a probe plan made ready for the scheduler.
type compiledPlan struct {
	generation uint64
	interval   time.Duration
	jobs       []probe.Job
	// problems name the checks that were left out, one line each
	// ("www/primary: url: required").
	problems []string
}

// compilePlan checks a plan and compiles its checks. A plan without a
// usable interval or timeout is an error; a check that does not compile is
// left out and named in problems, so one bad check does not stop the
// others.
func compilePlan(p api.ProbePlan) (compiledPlan, error) {
	cp := compiledPlan{generation: p.Generation}
	iv, err := time.ParseDuration(p.Interval)
	if err != nil || iv <= 0 {
		return cp, fmt.Errorf("plan generation %d: interval: want a positive duration, got %q", p.Generation, p.Interval)
	}
	cp.interval = iv
	var defaults probe.Defaults
	if p.Timeout != "" {
		to, err := time.ParseDuration(p.Timeout)
		if err != nil || to <= 0 {
			return cp, fmt.Errorf("plan generation %d: timeout: want a positive duration, got %q", p.Generation, p.Timeout)
		}
		defaults.Timeout = to
	}
	seen := make(map[probe.Key]bool, len(p.Checks))
	for i, c := range p.Checks {
		key := probe.Key{Service: c.Service, Target: c.Target}
		where := fmt.Sprintf("checks[%d] (%s)", i, key)
		switch {
		case !config.NamePattern.MatchString(c.Service) || !config.NamePattern.MatchString(c.Target):
			cp.problems = append(cp.problems, where+": service and target must be names")
			continue
		case seen[key]:
			cp.problems = append(cp.problems, where+": duplicate check")
			continue
		}
		seen[key] = true
		pc, err := decodeProbe(c.Probe)
		if err != nil {
			cp.problems = append(cp.problems, fmt.Sprintf("%s: probe: %v", where, err))
			continue
		}
		spec, err := probe.Compile(pc, defaults)
		if err != nil {
			cp.problems = append(cp.problems, fmt.Sprintf("%s: probe.%v", where, err))
			continue
		}
		cp.jobs = append(cp.jobs, probe.Job{Key: key, Spec: spec})
	}
	return cp, nil
}

// durationKeys are the duration fields of a probe spec, by the path of the
// map that holds them.
var durationKeys = map[string][]string{
	"":       {"timeout"},
	"expect": {"max_latency", "cert_valid_for"},
}

// decodeProbe turns a plan item's probe map (the target's probe section of
// the controller's config, with the config's field names) into a
// config.Probe with the strictness of the config decoder, and fills in the
// defaults the way a config file gets them (method GET, status 200).
// Durations may be strings ("2s") or, as some encoders write them, numbers
// of nanoseconds.
func decodeProbe(m map[string]any) (config.Probe, error) {
	if m == nil {
		return config.Probe{}, errors.New("missing")
	}
	m = maps.Clone(m)
	for sub, keys := range durationKeys {
		target := m
		if sub != "" {
			inner, ok := m[sub].(map[string]any)
			if !ok {
				continue
			}
			target = maps.Clone(inner)
			m[sub] = target
		}
		for _, k := range keys {
			if n, ok := target[k].(float64); ok && n != 0 {
				target[k] = time.Duration(n).String()
			}
		}
	}
	data, err := json.Marshal(m)
	if err != nil {
		return config.Probe{}, err
	}
	p := config.DefaultTarget().Probe
	if err := config.Unmarshal(data, &p); err != nil {
		return config.Probe{}, err
	}
	cfg := config.Config{Services: []config.Service{{Targets: []config.Target{{Probe: p}}}}}
	cfg.FillDefaults()
	return cfg.Services[0].Targets[0].Probe, nil
}
