package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/providers"
	"github.com/failoverhq/failover/internal/store"
	"github.com/spf13/cobra"
)

func newPlanCmd() *cobra.Command {
	var path string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "plan --config FILE",
		Short: "Read every service's records and print what would change (exit 2 when something would)",
		Long: `Read-only. Read every service's actual records from its provider and print what
would change to reach the desired routing: the controller's last decision, as
stored in controller.data_dir, or the steady state (all weight on the primary)
when there is none or a running controller holds the store.

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
	stored, source := storedDesired(cfg.Controller.DataDir)
	fmt.Fprintf(w, "desired routing: %s\n", source)
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
		desired, ok := stored[s.Name]
		if !ok || !validDesired(desired, s) {
			desired = dnsswitch.Routing{}
			for _, t := range s.Targets {
				if t.Role == config.RolePrimary {
					desired[t.Name] = 100
				}
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

// storedDesired reads every service's desired routing from the controller's
// store in dataDir, and says where the desired routing comes from. plan stays
// read-only: a data dir with no store is not given one, and a store locked by
// a running controller is not waited for; then the steady state (all weight
// on the primary) is the desired routing.
func storedDesired(dataDir string) (map[string]dnsswitch.Routing, string) {
	const steady = "the steady state, all weight on the primary"
	if dataDir == "" {
		return nil, steady + " (no data dir)"
	}
	if _, err := os.Stat(filepath.Join(dataDir, store.FileName)); err != nil {
		return nil, steady + " (no stored state in " + dataDir + ")"
	}
	st, err := store.Open(dataDir, store.Options{LockTimeout: 200 * time.Millisecond})
	if errors.Is(err, store.ErrLocked) {
		return nil, steady + " (a running controller holds the store; `failover status` shows its routing)"
	}
	if err != nil {
		return nil, fmt.Sprintf("%s (the store cannot be read: %v)", steady, err)
	}
	defer st.Close()
	raw, err := st.LoadAllStates()
	if err != nil {
		return nil, fmt.Sprintf("%s (the stored states cannot be read: %v)", steady, err)
	}
	out := make(map[string]dnsswitch.Routing, len(raw))
	for name, b := range raw {
		var s struct {
			Routing dnsswitch.Routing `json:"routing"`
		}
		if json.Unmarshal(b, &s) == nil && len(s.Routing) > 0 {
			out[name] = s.Routing
		}
	}
	return out, "the controller's stored decisions in " + dataDir
}

// validDesired reports whether r is a routing of svc's targets summing to 100.
func validDesired(r dnsswitch.Routing, svc config.Service) bool {
	if r.Sum() != 100 {
		return false
	}
	for name := range r {
		if !slices.ContainsFunc(svc.Targets, func(t config.Target) bool { return t.Name == name }) {
			return false
		}
	}
	return true
}
