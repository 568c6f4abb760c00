package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/warmup"
	"github.com/spf13/cobra"
)

func newWarmupCmd() *cobra.Command {
	var path, service, target string
	cmd := &cobra.Command{
		Use:   "warmup --config FILE --service S --target T",
		Short: "Run a service's cache warm-up against one target now",
		Long: `Fetch the target's warm-up URLs through it now (dialling its connect_to, keeping
the Host header and TLS SNI), within the configured concurrency, rate and
max_wait. A progress bar is drawn on a terminal; a summary ends the run.

Exit 0 when the warm-up ran (failed URLs are counted in the summary), 1 when
it could not run or stopped early on too many errors.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if service == "" || target == "" {
				return exitWith(exitUsage, errors.New("warmup: --service and --target are required"))
			}
			cfg, err := loadConfig(cmd.ErrOrStderr(), path, config.Options{})
			if err != nil {
				return fmt.Errorf("warmup: %w", err)
			}
			tgt, err := findWarmTarget(cfg, service, target)
			if err != nil {
				return fmt.Errorf("warmup: %w", err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			bar := newProgressBar(cmd.ErrOrStderr())
			w, err := warmup.New(warmup.Options{
				Service: service, Target: target, Warmup: *tgt.Warmup, Probe: tgt.Probe,
				Progress: bar.update,
				Logger:   slog.New(slog.DiscardHandler), // the summary says it all
			})
			if err != nil {
				return fmt.Errorf("warmup: %w", err)
			}
			defer w.Close()
			res, err := w.Run(ctx)
			bar.done()
			if err != nil {
				return fmt.Errorf("warmup: %w", err)
			}
			writeWarmupSummary(cmd.OutOrStdout(), &res)
			if res.StoppedEarly == warmup.StopErrorRatio {
				return exitWith(1, fmt.Errorf("warmup: stopped early: too many errors (%d of %d failed)", res.Failed, res.OK+res.Failed))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "config file (YAML)")
	cmd.Flags().StringVar(&service, "service", "", "service name")
	cmd.Flags().StringVar(&target, "target", "", "target name")
	return cmd
}

func findWarmTarget(cfg *config.Config, service, target string) (*config.Target, error) {
	for i := range cfg.Services {
		s := &cfg.Services[i]
		if s.Name != service {
			continue
		}
		for j := range s.Targets {
			t := &s.Targets[j]
			if t.Name != target {
				continue
			}
			if t.Warmup == nil {
				return nil, fmt.Errorf("service %s: target %s has no warmup section", service, target)
			}
			return t, nil
		}
		return nil, fmt.Errorf("service %s: no target %q", service, target)
	}
	return nil, fmt.Errorf("no service %q", service)
}

func writeWarmupSummary(w io.Writer, r *warmup.Result) {
	fmt.Fprintf(w, "warm-up %s/%s: %s\n", r.Service, r.Target, r.Summary())
	fmt.Fprintf(w, "  urls       %d\n", r.URLs)
	fmt.Fprintf(w, "  ok         %d\n", r.OK)
	fmt.Fprintf(w, "  failed     %d", r.Failed)
	if len(r.Failures) > 0 {
		parts := make([]string, 0, len(r.Failures))
		for reason, n := range r.Failures {
			parts = append(parts, fmt.Sprintf("%s=%d", reason, n))
		}
		fmt.Fprintf(w, " (%s)", strings.Join(slices.Sorted(slices.Values(parts)), ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  hit ratio  %.2f (%d hits, %d misses)\n", r.HitRatio, r.Hits, r.Misses)
	if r.Verify != nil {
		fmt.Fprintf(w, "  verify     %.2f hit ratio on a second pass\n", r.VerifyHitRatio)
	}
	fmt.Fprintf(w, "  duration   %s\n", r.Duration.Round(time.Millisecond))
	if r.StoppedEarly != "" {
		fmt.Fprintf(w, "  stopped    early: %s\n", r.StoppedEarly)
	}
}

// progressBar draws on a terminal only, at most ten times a second.
type progressBar struct {
	w     io.Writer
	tty   bool
	last  time.Time
	drawn bool
}

func newProgressBar(w io.Writer) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil {
			tty = st.Mode()&os.ModeCharDevice != 0
		}
	}
	return &progressBar{w: w, tty: tty}
}

func (b *progressBar) update(p warmup.Progress) {
	if !b.tty || p.Total == 0 {
		return
	}
	now := time.Now()
	if p.Done != p.Total && now.Sub(b.last) < 100*time.Millisecond {
		return
	}
	b.last = now
	const width = 30
	filled := p.Done * width / p.Total
	fmt.Fprintf(b.w, "\r%-6s [%s%s] %d/%d", p.Phase, strings.Repeat("#", filled), strings.Repeat(".", width-filled), p.Done, p.Total)
	b.drawn = true
}

func (b *progressBar) done() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}
