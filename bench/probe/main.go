// Command probebench measures failover's prober against Prometheus's
// blackbox_exporter on the same local targets at the same rate: CPU-seconds
// per probe for each, and the schedule jitter of ours. bench/probe/run.sh
// drives it; see bench/README.md.
//
//	probebench targets  -n 200 -port 19000            serve the targets
//	probebench ours     -n 200 -port 19000 -rate 2000 -d 20s
//	probebench blackbox -n 200 -port 19000 -rate 2000 -d 20s -exporter 127.0.0.1:9115 -pid PID
//	probebench report   -rate 2000 ours.json blackbox.json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "probebench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 1 {
		return fmt.Errorf("usage: probebench targets|ours|blackbox [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	n := fs.Int("n", 200, "number of targets")
	host := fs.String("host", "127.0.0.1", "targets' address")
	port := fs.Int("port", 19000, "first target port")
	rate := fs.Float64("rate", 2000, "probes per second")
	d := fs.Duration("d", 20*time.Second, "how long to run")
	exporter := fs.String("exporter", "127.0.0.1:9115", "blackbox_exporter address")
	pid := fs.Int("pid", 0, "blackbox_exporter's pid")
	workers := fs.Int("workers", 64, "concurrent probes at most")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	urls := make([]string, *n)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://%s:%d/healthz", *host, *port+i)
	}
	var res runResult
	var err error
	switch args[0] {
	case "report":
		if fs.NArg() != 2 {
			return fmt.Errorf("report: usage: probebench report OURS.json BLACKBOX.json")
		}
		return report(os.Stdout, fs.Arg(0), fs.Arg(1), *rate)
	case "targets":
		return serveTargets(ctx, *host, *port, *n)
	case "ours":
		res, err = oursRun(ctx, oursOpts{targets: urls, rate: *rate, d: *d, workers: *workers})
	case "blackbox":
		if *pid == 0 {
			return fmt.Errorf("blackbox: -pid is required")
		}
		res, err = blackboxRun(ctx, blackboxOpts{exporter: *exporter, pid: *pid, targets: urls, rate: *rate, d: *d, workers: *workers})
	default:
		return fmt.Errorf("unknown mode %q", args[0])
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

func percentiles(xs []time.Duration) (p50, p99 time.Duration) {
	if len(xs) == 0 {
		return 0, 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.50), at(0.99)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
