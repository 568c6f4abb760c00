package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/providers"
	"github.com/spf13/cobra"
)

func newPlanCmd() *cobra.Command {
	var path string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "plan --config FILE",
		Short: "Read every service's records and print what would change (exit 2 when something would)",
		Long: `Read-only. Read every service's actual records from its provider and print what
would change to reach the desired routing: all weight on the primary, which is
what a controller with every target healthy publishes.

Exit 0 when nothing would change, 2 when something would, 1 on error (a
service whose records cannot be read, or that holds records matching no
target). Records with a target's data but a stale TTL read as weight 0 on
rfc2136 and route53, so the plan shows the rewrite that would follow.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Only the providers' secrets are needed here; Build reports
			// one that is missing.
			cfg, err := loadConfig(cmd.ErrOrStderr(), path, config.Options{})
			if err != nil {
				return fmt.Errorf("plan: %w", err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			changed, failed := runPlan(ctx, cmd.OutOrStdout(), cfg, timeout)
			switch {
			case failed > 0:
				return exitWith(1, fmt.Errorf("plan: %d of %d services could not be planned", failed, len(cfg.Services)))
			case changed > 0:
				return exitWith(exitChanges, nil)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "config file (YAML)")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "bound on reading one service's records")
	return cmd
}

// runPlan prints the plan of every service and returns how many would
// change and how many could not be read.
func runPlan(ctx context.Context, w io.Writer, cfg *config.Config, timeout time.Duration) (changed, failed int) {
	built := map[string]dnsswitch.Provider{}
	buildErr := map[string]error{}
	kinds := map[string]string{}
	for _, p := range cfg.DNS.Providers {
		kind := p.Type
		if p.Type == config.ProviderCloudflare {
			kind += " " + p.Mode
		}
		kinds[p.Name] = kind
		prov, err := providers.Build(ctx, p, providers.Options{DataDir: cfg.Controller.DataDir})
		if err != nil {
			buildErr[p.Name] = err
			continue
		}
		built[p.Name] = prov
	}
	for _, s := range cfg.Services {
		prov := built[s.Provider]
		fmt.Fprintf(w, "%s %s (provider %s, %s)\n", s.Name, s.Record, s.Provider, kinds[s.Provider])
		if prov == nil {
			fmt.Fprintf(w, "  error: %v\n", buildErr[s.Provider])
			failed++
			continue
		}
		svc := providers.Service(s)
		rctx, cancel := context.WithTimeout(ctx, timeout)
		actual, err := prov.Read(rctx, svc)
		cancel()
		if err != nil {
			fmt.Fprintf(w, "  error: %v\n", err)
			failed++
			continue
		}
		desired := dnsswitch.Routing{}
		for _, t := range s.Targets {
			if t.Role == config.RolePrimary {
				desired[t.Name] = 100
			}
		}
		p := dnsswitch.ComputePlan(s.Provider, prov.Capabilities(), svc, actual, desired)
		writePlan(w, svc, p)
		if !p.Empty() {
			changed++
		}
	}
	return changed, failed
}

func writePlan(w io.Writer, svc dnsswitch.Service, p dnsswitch.Plan) {
	order := svc.Order()
	fmt.Fprintf(w, "  actual:  %s\n", formatRouting(p.Actual, order))
	fmt.Fprintf(w, "  desired: %s\n", formatRouting(p.Publish, order))
	if p.Note != "" {
		fmt.Fprintf(w, "  note: %s\n", p.Note)
	}
	if p.Empty() {
		fmt.Fprintln(w, "  no change")
		return
	}
	for _, c := range p.Changes {
		fmt.Fprintf(w, "  ~ %s: %d -> %d\n", c.Target, c.From, c.To)
	}
}

// formatRouting renders every target's weight in fallback order, or "(no
// records)" when nothing is published.
func formatRouting(r dnsswitch.Routing, order []string) string {
	if r.Sum() == 0 {
		return "(no records)"
	}
	s := ""
	for i, name := range order {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s=%d", name, r[name])
	}
	return s
}
