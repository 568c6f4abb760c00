package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/failoverhq/failover/internal/api"
	"github.com/spf13/cobra"
)

func newDrillCmd() *cobra.Command {
	var cf clientFlags
	var to, reason string
	var dur time.Duration
	var force bool
	cmd := &cobra.Command{
		Use:   "drill SERVICE --to TARGET --for DURATION --reason TEXT",
		Short: "Move all of a service's weight to TARGET for DURATION, then revert",
		Long: `Move all of a service's weight to TARGET for DURATION; the controller reverts
it by itself afterwards. The controller refuses a drill to an unhealthy target
(exit 1, with its reason) unless --force is given.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case to == "":
				return exitWith(exitUsage, errors.New("drill: --to is required"))
			case dur <= 0:
				return exitWith(exitUsage, errors.New("drill: --for is required and must be positive"))
			case reason == "":
				return exitWith(exitUsage, errors.New("drill: --reason is required"))
			}
			return override(cmd, &cf, "drill", args[0], api.OverrideRequest{To: to, For: dur.String(), Reason: reason, Force: force})
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&to, "to", "", "target to move the weight to")
	cmd.Flags().DurationVar(&dur, "for", 0, "how long the drill lasts")
	cmd.Flags().StringVar(&reason, "reason", "", "why (kept in the audit trail)")
	cmd.Flags().BoolVar(&force, "force", false, "allow a drill to an unhealthy target")
	return cmd
}

func newPinCmd() *cobra.Command {
	var cf clientFlags
	var to, reason string
	var dur time.Duration
	var force bool
	cmd := &cobra.Command{
		Use:   "pin SERVICE --to TARGET [--for DURATION] --reason TEXT",
		Short: "Pin a service's weight to TARGET until released (or for DURATION)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case to == "":
				return exitWith(exitUsage, errors.New("pin: --to is required"))
			case dur < 0:
				return exitWith(exitUsage, errors.New("pin: --for must be positive"))
			case reason == "":
				return exitWith(exitUsage, errors.New("pin: --reason is required"))
			}
			req := api.OverrideRequest{To: to, Reason: reason, Force: force}
			if dur > 0 {
				req.For = dur.String()
			}
			return override(cmd, &cf, "pin", args[0], req)
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&to, "to", "", "target to pin the weight to")
	cmd.Flags().DurationVar(&dur, "for", 0, "how long the pin lasts (default: until released)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (kept in the audit trail)")
	cmd.Flags().BoolVar(&force, "force", false, "allow a pin to an unhealthy target")
	return cmd
}

func newReleaseCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "release SERVICE",
		Short: "Release a drill or pin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return override(cmd, &cf, "release", args[0], api.OverrideRequest{})
		},
	}
	cf.register(cmd)
	return cmd
}

// override sends a drill, pin or release and prints the service as the
// controller answered it.
func override(cmd *cobra.Command, cf *clientFlags, kind, service string, req api.OverrideRequest) error {
	what := kind + " " + service
	c, err := cf.newClient()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer c.Close()
	ctx, stop := commandContext(cmd)
	defer stop()
	var s api.Service
	switch kind {
	case "drill":
		s, err = c.Drill(ctx, service, req)
	case "pin":
		s, err = c.Pin(ctx, service, req)
	default:
		s, err = c.Release(ctx, service)
	}
	if err != nil {
		return cf.apiFailure(what, err)
	}
	if s.Name == "" {
		s.Name = service
	}
	return writeOverride(cmd.OutOrStdout(), kind, s, time.Now())
}

// writeOverride prints the outcome of a drill, pin or release:
//
//	www: drill to backup until 2026-03-01T12:10:00.000Z (in 10m00s), by ops: game day
//	state manual, routing primary=100 backup=0 origin=0 (desired primary=0 backup=100 origin=0)
func writeOverride(w io.Writer, kind string, s api.Service, now time.Time) error {
	ew := &errWriter{w: w}
	switch {
	case s.Override != nil:
		fmt.Fprintf(ew, "%s: %s\n", s.Name, describeOverride(s.Override, now))
	case kind == "release":
		fmt.Fprintf(ew, "%s: released\n", s.Name)
	default:
		fmt.Fprintf(ew, "%s: %s accepted\n", s.Name, kind)
	}
	line := "state " + orDash(s.State) + ", routing " + formatWeights(s.Routing, s)
	if len(s.Desired) > 0 && !sameWeights(s.Routing, s.Desired) {
		line += " (desired " + formatWeights(s.Desired, s) + ")"
	}
	fmt.Fprintln(ew, line)
	return ew.err
}
