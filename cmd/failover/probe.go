package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/failoverhq/failover/internal/agent"
	"github.com/failoverhq/failover/internal/client"
	"github.com/spf13/cobra"
)

func newProbeCmd() *cobra.Command {
	var controllers []string
	var vantage, tokenFile, sourceAddr string
	cmd := &cobra.Command{
		Use:   "probe --controller URL[,URL...] --vantage NAME",
		Short: "Run a probe agent that pulls its plan from the controller and pushes results",
		Long: `Run a probe agent: a vantage away from the controller. It pulls its probe plan
(GET /api/v1/plan?vantage=NAME) at start and every 30s, probes the targets, and
pushes the results in batches (POST /api/v1/results) every second.

With several controller URLs, a request goes to the next one when a controller
cannot be reached. With none reachable the agent keeps probing with the last
plan and buffers up to 100000 results, dropping the oldest first and counting
the drops; the backlog goes out, oldest first, when a controller is back.

The token (an agent token) comes from --token-file (env FAILOVER_TOKEN_FILE) or
FAILOVER_TOKEN. Stops cleanly on SIGINT or SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var urls []string
			for _, c := range controllers {
				if c = strings.TrimSpace(c); c != "" {
					urls = append(urls, c)
				}
			}
			if len(urls) == 0 {
				return exitWith(exitUsage, errors.New("probe: --controller is required"))
			}
			if vantage == "" {
				return exitWith(exitUsage, errors.New("probe: --vantage is required"))
			}
			tok, err := client.ResolveToken(tokenFile, nil)
			if err != nil {
				return fmt.Errorf("probe: %w", err)
			}
			c, err := client.New(client.Options{Servers: urls, Token: tok, UserAgent: "failover-probe"})
			if err != nil {
				return exitWith(exitUsage, fmt.Errorf("probe: %w", err))
			}
			defer c.Close()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			a, err := agent.New(agent.Options{Controller: c, Vantage: vantage, SourceAddr: sourceAddr, Logger: log})
			if err != nil {
				return exitWith(exitUsage, fmt.Errorf("probe: %w", err))
			}
			ctx, stop := commandContext(cmd)
			defer stop()
			log.Info("probe agent starting", "vantage", vantage, "controllers", strings.Join(c.Servers(), ","))
			if err := a.Run(ctx); err != nil {
				return fmt.Errorf("probe: %w", err)
			}
			st := a.Stats()
			log.Info("probe agent stopped", "vantage", vantage, "sent", st.Sent, "dropped", st.Dropped,
				"refused", st.Refused, "undelivered", st.Buffered)
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&controllers, "controller", nil, "controller URL(s), comma-separated, tried in order")
	cmd.Flags().StringVar(&vantage, "vantage", "", "this agent's vantage name")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "file holding the agent token (or env FAILOVER_TOKEN)")
	cmd.Flags().StringVar(&sourceAddr, "source-addr", "", "local IP address to bind the probes to (the lab's vantages use 127.0.20.x)")
	return cmd
}
