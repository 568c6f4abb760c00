// Command warmbench measures internal/warmup against a local caching edge:
// URLs per second and CPU per URL at concurrency 64, and how closely a
// configured rate is honoured (the achieved rate divided by the configured
// one). bench/warmup/run.sh drives it.
//
//	warmbench edge -listen 127.0.0.1:19180 -miss-delay 2ms -size 4096
//	warmbench run  -edge 127.0.0.1:19180 -n 20000 -c 64 -rate 500 -for 10s
//
// The edge runs in its own process, so the CPU that run reports is the
// warm-up's alone.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/warmup"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "warmbench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 1 {
		return fmt.Errorf("usage: warmbench edge|run [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:19180", "edge: address to serve on")
	missDelay := fs.Duration("miss-delay", 2*time.Millisecond, "edge: what a MISS costs (the trip to the origin)")
	size := fs.Int("size", 4096, "edge: object size in bytes")
	edgeAddr := fs.String("edge", "127.0.0.1:19180", "run: the edge to warm")
	n := fs.Int("n", 20000, "run: URLs in the throughput runs")
	conc := fs.Int("c", 64, "run: concurrency")
	rate := fs.Float64("rate", 500, "run: configured rate of the rate run, URLs per second")
	dur := fs.Duration("for", 10*time.Second, "run: length of the rate run")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "edge":
		return serveEdge(ctx, *listen, *missDelay, *size)
	case "run":
		return runAll(ctx, os.Stdout, *edgeAddr, *n, *conc, *rate, *dur)
	}
	return fmt.Errorf("unknown mode %q", args[0])
}

// scenario is one warm-up run of the benchmark.
type scenario struct {
	prefix string
	urls   int
	rate   float64 // 0: no limit
	label  string
}

// row is what a scenario measured.
type row struct {
	scenario
	res     warmup.Result
	elapsed time.Duration
	cpu     time.Duration
}

func runAll(ctx context.Context, out io.Writer, edge string, n, conc int, rate float64, dur time.Duration) error {
	scenarios := []scenario{
		{prefix: "objects", urls: n, label: "cold edge: every URL a MISS"},
		{prefix: "objects", urls: n, label: "hot edge: the same URLs again, HITs"},
		{prefix: "rate", urls: int(rate * dur.Seconds()), rate: rate, label: fmt.Sprintf("rate %g/s for %s", rate, dur)},
	}
	var rows []row
	for _, s := range scenarios {
		r, err := measure(ctx, edge, conc, s)
		if err != nil {
			return fmt.Errorf("%s: %w", s.label, err)
		}
		rows = append(rows, r)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "scenario\tURLs\tconc\tseconds\tURLs/s\tCPU µs/URL\thit ratio\tconfigured/s\tachieved/configured\t\n")
	for _, r := range rows {
		achieved := float64(r.res.OK+r.res.Failed) / r.elapsed.Seconds()
		ratio, configured := "-", "unlimited"
		if r.rate > 0 {
			configured = fmt.Sprintf("%g", r.rate)
			ratio = fmt.Sprintf("%.3f", achieved/r.rate)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.0f\t%.1f\t%.2f\t%s\t%s\t\n",
			r.label, r.res.OK+r.res.Failed, conc, r.elapsed.Seconds(), achieved,
			float64(r.cpu.Microseconds())/float64(max(r.res.OK+r.res.Failed, 1)),
			r.res.HitRatio, configured, ratio)
	}
	return tw.Flush()
}

// measure runs one scenario and takes its wall time and this process's CPU.
func measure(ctx context.Context, edge string, conc int, s scenario) (row, error) {
	urls := make([]string, s.urls)
	for i := range urls {
		urls[i] = fmt.Sprintf("/%s/%d", s.prefix, i)
	}
	wc := config.DefaultWarmup()
	wc.URLs = urls
	wc.Concurrency = conc
	wc.Rate = s.rate
	wc.MaxURLs = s.urls
	wc.MaxWait = 0
	wc.MaxErrorRatio = 0.1
	w, err := warmup.New(warmup.Options{
		Service: "bench",
		Target:  "edge",
		Warmup:  wc,
		Probe:   config.Probe{URL: "http://www.bench.test/healthz", ConnectTo: edge},
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return row{}, err
	}
	defer w.Close()
	cpu0, start := selfCPU(), time.Now()
	res, err := w.Run(ctx)
	elapsed, cpu := time.Since(start), selfCPU()-cpu0
	if err != nil {
		return row{}, err
	}
	if res.StoppedEarly != "" || res.Failed > 0 {
		return row{}, fmt.Errorf("the run did not go through: %s", res.Summary())
	}
	return row{scenario: s, res: res, elapsed: elapsed, cpu: cpu}, nil
}

// selfCPU returns this process's user and system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
