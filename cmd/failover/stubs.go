package main

// The commands below have their full flag surface (CONTRACT §1) but answer
// "not implemented yet" (exit 1) until the issue that builds them lands. Each
// moves to a file of its own when it is implemented.

import (
	"fmt"

	"github.com/spf13/cobra"
)

func notImplemented(name string) func(*cobra.Command, []string) error {
	return func(*cobra.Command, []string) error {
		return fmt.Errorf("%s: %w", name, errNotImplemented)
	}
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
		RunE:  runLabFault,
	}
	fault.Flags().StringArray("vantage", nil, "limit the fault to this vantage (repeatable)")
	var cf clientFlags
	cf.register(fault)
	cmd.AddCommand(fault)
	return cmd
}
