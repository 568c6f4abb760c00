package main

// The commands below have their full flag surface (CONTRACT §1) but answer
// "not implemented yet" (exit 1) until the issue that builds them lands. Each
// moves to a file of its own when it is implemented.

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func notImplemented(name string) func(*cobra.Command, []string) error {
	return func(*cobra.Command, []string) error {
		return fmt.Errorf("%s: %w", name, errNotImplemented)
	}
}

func newRunCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Run the controller: API, dashboard, metrics, prober, decisions, DNS switching",
		Args:  cobra.NoArgs,
		RunE:  notImplemented("run"),
	}
	cmd.Flags().String("config", "", "config file (YAML)")
	return cmd
}

func newLabCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Run the lab: the controller on the lab config, simulated CDN edges and three vantages",
		Args:  cobra.NoArgs,
		RunE:  notImplemented("lab"),
	}
	cmd.Flags().String("config", "", "config file (default: the built-in lab config)")
	cmd.Flags().String("http", "127.0.0.1:8080", "API and dashboard address")
	cmd.Flags().String("dns", "127.0.0.1:8053", "built-in DNS server address")
	cmd.Flags().String("data", "", "data directory (default: under the user's state directory)")
	fault := &cobra.Command{
		Use:   "fault TARGET MODE",
		Short: "Set a lab fault on a target (MODE: down|timeout|error|slow|flap|ok)",
		Args:  cobra.ExactArgs(2),
		RunE:  notImplemented("lab fault"),
	}
	fault.Flags().StringArray("vantage", nil, "limit the fault to this vantage (repeatable)")
	var cf clientFlags
	cf.register(fault)
	cmd.AddCommand(fault)
	return cmd
}

func newProbeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "probe --controller URL[,URL...] --vantage NAME",
		Short: "Run a probe agent that pulls its plan from the controller and pushes results",
		Args:  cobra.NoArgs,
		RunE:  notImplemented("probe"),
	}
	cmd.Flags().StringSlice("controller", nil, "controller URL(s), comma-separated")
	cmd.Flags().String("vantage", "", "this agent's vantage name")
	cmd.Flags().String("token-file", "", "file holding the agent token (or env FAILOVER_TOKEN)")
	return cmd
}

func newStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show services, states, weights and target health",
		Args:  cobra.NoArgs,
		RunE:  notImplemented("status"),
	}
	var cf clientFlags
	cf.register(cmd)
	cmd.Flags().StringP("output", "o", "table", "output format: table|json")
	return cmd
}

func newDrillCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drill SERVICE --to TARGET --for DURATION --reason TEXT",
		Short: "Move all of a service's weight to TARGET for DURATION, then revert",
		Args:  cobra.ExactArgs(1),
		RunE:  notImplemented("drill"),
	}
	var cf clientFlags
	cf.register(cmd)
	cmd.Flags().String("to", "", "target to move the weight to")
	cmd.Flags().Duration("for", 0, "how long the drill lasts")
	cmd.Flags().String("reason", "", "why (kept in the audit trail)")
	cmd.Flags().Bool("force", false, "allow a drill to an unhealthy target")
	return cmd
}

func newPinCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pin SERVICE --to TARGET [--for DURATION] --reason TEXT",
		Short: "Pin a service's weight to TARGET until released (or for DURATION)",
		Args:  cobra.ExactArgs(1),
		RunE:  notImplemented("pin"),
	}
	var cf clientFlags
	cf.register(cmd)
	cmd.Flags().String("to", "", "target to pin the weight to")
	cmd.Flags().Duration("for", time.Duration(0), "how long the pin lasts (default: until released)")
	cmd.Flags().String("reason", "", "why (kept in the audit trail)")
	cmd.Flags().Bool("force", false, "allow a pin to an unhealthy target")
	return cmd
}

func newReleaseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release SERVICE",
		Short: "Release a drill or pin",
		Args:  cobra.ExactArgs(1),
		RunE:  notImplemented("release"),
	}
	var cf clientFlags
	cf.register(cmd)
	return cmd
}

func newWarmupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "warmup --config FILE --service S --target T",
		Short: "Run a service's cache warm-up against one target now",
		Args:  cobra.NoArgs,
		RunE:  notImplemented("warmup"),
	}
	cmd.Flags().String("config", "", "config file (YAML)")
	cmd.Flags().String("service", "", "service name")
	cmd.Flags().String("target", "", "target name")
	return cmd
}

func newReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Print the incident timeline",
		Args:  cobra.NoArgs,
		RunE:  notImplemented("report"),
	}
	var cf clientFlags
	cf.register(cmd)
	cmd.Flags().String("service", "", "only this service")
	cmd.Flags().String("since", "", "a duration (2h) or an RFC 3339 time")
	cmd.Flags().StringP("output", "o", "markdown", "output format: markdown|json")
	return cmd
}
