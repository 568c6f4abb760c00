package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// report reads the two runs' JSON and prints the comparison.
func report(w io.Writer, oursFile, bbFile string, rate float64) error {
	var ours, bb runResult
	for _, f := range []struct {
		path string
		into *runResult
	}{{oursFile, &ours}, {bbFile, &bb}} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if err := json.Unmarshal(b, f.into); err != nil {
			return fmt.Errorf("report: %s: %w", f.path, err)
		}
	}
	if ours.Probes == 0 || bb.Probes == 0 || ours.CPUSec == 0 || bb.CPUSec == 0 {
		return fmt.Errorf("report: a run did no work (ours %d probes, blackbox %d)", ours.Probes, bb.Probes)
	}
	perOurs := ours.CPUSec / float64(ours.Probes)
	perBB := bb.CPUSec / float64(bb.Probes)
	fmt.Fprintf(w, "target rate: %.0f probes/s, fresh connection per probe\n\n", rate)
	fmt.Fprintf(w, "| prober | probes | failed | achieved/s | CPU s | CPU µs/probe | probes per CPU-s | jitter p50 ms | jitter p99 ms |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|\n")
	row := func(name string, r runResult, per float64, jitter bool) {
		j50, j99 := "n/a", "n/a"
		if jitter {
			j50, j99 = fmt.Sprintf("%.2f", r.JitterP50Ms), fmt.Sprintf("%.2f", r.JitterP99Ms)
		}
		fmt.Fprintf(w, "| %s | %d | %d | %.0f | %.2f | %.1f | %.0f | %s | %s |\n",
			name, r.Probes, r.Failed, float64(r.Probes)/r.WallSec, r.CPUSec, per*1e6, 1/per, j50, j99)
	}
	row("failover", ours, perOurs, true)
	row("blackbox_exporter", bb, perBB, false)
	fmt.Fprintf(w, "\nCPU-seconds per probe, blackbox_exporter / failover: %.2fx\n", perBB/perOurs)
	return nil
}
