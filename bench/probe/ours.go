package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/probe"
)

type oursOpts struct {
	targets []string
	rate    float64
	d       time.Duration
	workers int
}

// oursRun runs failover's real scheduler and prober over the targets so
// that the total rate is rate probes per second: each target is probed once
// per len(targets)/rate seconds. It returns probes done and failed, this
// process's CPU time over the run, and the scheduler's start jitter.
func oursRun(ctx context.Context, o oursOpts) (runResult, error) {
	interval := time.Duration(float64(len(o.targets)) / o.rate * float64(time.Second))
	jobs := make([]probe.Job, len(o.targets))
	for i, u := range o.targets {
		spec, err := probe.Compile(config.Probe{
			URL:    u,
			Expect: config.Expect{Status: []int{200}},
		}, probe.Defaults{Timeout: 2 * time.Second})
		if err != nil {
			return runResult{}, fmt.Errorf("ours: %w", err)
		}
		jobs[i] = probe.Job{Key: probe.Key{Service: "bench", Target: fmt.Sprintf("t%d", i)}, Spec: spec}
	}
	var probes, failed atomic.Int64
	var mu sync.Mutex
	lags := make([]time.Duration, 0, int(o.rate*o.d.Seconds())+len(o.targets))
	s, err := probe.NewScheduler(probe.SchedulerOptions{
		Interval:    interval,
		Concurrency: o.workers,
		Deliver: func(r probe.Result) {
			probes.Add(1)
			if !r.OK {
				failed.Add(1)
			}
		},
		OnStart: func(_ probe.Key, planned, actual time.Time) {
			mu.Lock()
			lags = append(lags, actual.Sub(planned))
			mu.Unlock()
		},
	})
	if err != nil {
		return runResult{}, fmt.Errorf("ours: %w", err)
	}
	if err := s.Update(jobs); err != nil {
		return runResult{}, fmt.Errorf("ours: %w", err)
	}
	runCtx, cancel := context.WithTimeout(ctx, o.d)
	defer cancel()
	cpu0, start := selfCPU(), time.Now()
	if err := s.Run(runCtx); err != nil {
		return runResult{}, fmt.Errorf("ours: %w", err)
	}
	wall, cpu := time.Since(start), selfCPU()-cpu0
	mu.Lock()
	p50, p99 := percentiles(lags)
	mu.Unlock()
	st := s.Stats()
	if st.Skipped > 0 {
		fmt.Fprintf(os.Stderr, "ours: %d rounds skipped (concurrency bound reached)\n", st.Skipped)
	}
	return runResult{
		Probes: probes.Load(), Failed: failed.Load(),
		CPUSec: cpu.Seconds(), WallSec: wall.Seconds(),
		JitterP50Ms: ms(p50), JitterP99Ms: ms(p99),
	}, nil
}
