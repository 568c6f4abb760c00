package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// blackboxRun drives a running blackbox_exporter at rate probes per second
// for d: each probe is a GET /probe?module=http_2xx&target=URL, as Prometheus
// would scrape it. It returns the number of probes done and failed, and the
// exporter's CPU time over the run.
type blackboxOpts struct {
	exporter string // host:port of the exporter
	pid      int
	targets  []string
	rate     float64
	d        time.Duration
	workers  int
}

type runResult struct {
	Probes  int64   `json:"probes"`
	Failed  int64   `json:"failed"`
	CPUSec  float64 `json:"cpu_s"`
	WallSec float64 `json:"wall_s"`
	// Scheduling jitter of probe starts against their planned times.
	JitterP50Ms float64 `json:"jitter_p50_ms"`
	JitterP99Ms float64 `json:"jitter_p99_ms"`
}

func blackboxRun(ctx context.Context, o blackboxOpts) (runResult, error) {
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: o.workers, MaxConnsPerHost: o.workers},
	}
	defer client.CloseIdleConnections()
	cpu0, err := procCPU(o.pid)
	if err != nil {
		return runResult{}, err
	}
	var probes, failed atomic.Int64
	work := make(chan string, o.workers)
	var wg sync.WaitGroup
	for w := 0; w < o.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				ok := blackboxProbe(ctx, client, o.exporter, t)
				probes.Add(1)
				if !ok {
					failed.Add(1)
				}
			}
		}()
	}
	start := time.Now()
	period := time.Duration(float64(time.Second) / o.rate)
	var jit []time.Duration
	n := 0
loop:
	for {
		planned := start.Add(time.Duration(n) * period)
		if planned.Sub(start) >= o.d {
			break
		}
		if wait := time.Until(planned); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				break loop
			}
		}
		select {
		case work <- o.targets[n%len(o.targets)]:
			jit = append(jit, time.Since(planned))
		case <-ctx.Done():
			break loop
		}
		n++
	}
	close(work)
	wg.Wait()
	wall := time.Since(start)
	cpu1, err := procCPU(o.pid)
	if err != nil {
		return runResult{}, err
	}
	p50, p99 := percentiles(jit)
	return runResult{
		Probes: probes.Load(), Failed: failed.Load(),
		CPUSec: (cpu1 - cpu0).Seconds(), WallSec: wall.Seconds(),
		JitterP50Ms: ms(p50), JitterP99Ms: ms(p99),
	}, nil
}

func blackboxProbe(ctx context.Context, c *http.Client, exporter, target string) bool {
	u := fmt.Sprintf("http://%s/probe?module=http_2xx&target=%s", exporter, url.QueryEscape(target))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return false
	}
	return strings.Contains(string(b), "\nprobe_success 1")
}
