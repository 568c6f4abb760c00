package main

import (
	"io"

	"github.com/spf13/cobra"
)

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "failover",
		Short:         "Multi-CDN failover controller",
		Long:          "failover keeps a site up when its CDN goes down: it probes the primary CDN from several vantages, shifts DNS to a warmed backup CDN or a scaled origin on a quorum-agreed failure, and shifts back in steps once the primary has recovered.",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := bindEnv(cmd); err != nil {
			return exitWith(exitUsage, err)
		}
		return nil
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return exitWith(exitUsage, err)
	})
	root.AddCommand(
		newVersionCmd(),
		newValidateCmd(),
		newRunCmd(),
		newLabCmd(),
		newProbeCmd(),
		newPlanCmd(),
		newStatusCmd(),
		newDrillCmd(),
		newPinCmd(),
		newReleaseCmd(),
		newWarmupCmd(),
		newSimulateCmd(),
		newReportCmd(),
	)
	return root
}

// clientFlags are the flags every API client command takes.
type clientFlags struct {
	server    string
	tokenFile string
}

func (c *clientFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.server, "server", "http://127.0.0.1:8080", "controller URL (env FAILOVER_SERVER)")
	cmd.Flags().StringVar(&c.tokenFile, "token-file", "", "file holding the API token (or env FAILOVER_TOKEN)")
}
