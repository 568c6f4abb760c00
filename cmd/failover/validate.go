package main

import (
	"errors"
	"fmt"

	"github.com/failoverhq/failover/internal/config"
	"github.com/spf13/cobra"
)

func newValidateCmd() *cobra.Command {
	var (
		path    string
		secrets bool
	)
	cmd := &cobra.Command{
		Use:   "validate --config FILE [--secrets]",
		Short: "Check a config file; print one line per problem as path.to.field: message",
		Long: `Check a config file. Exit 0 when it is valid; otherwise exit 1 and print one line
per problem, as path.to.field: message, on standard output. Warnings go to
standard error prefixed with "warning: " and do not fail the check.

A secret that is not available (an unset env var, a missing file) is only a
warning unless --secrets is given, because configs are often validated where
the secrets do not live.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return exitWith(exitUsage, errors.New("validate: --config is required"))
			}
			cfg, problems, err := config.Load(path, config.Options{RequireSecrets: secrets})
			for _, p := range problems {
				if p.Warning {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", p)
				}
			}
			var verr *config.ValidationError
			if errors.As(err, &verr) {
				for _, p := range verr.Problems {
					if !p.Warning {
						fmt.Fprintln(cmd.OutOrStdout(), p.String())
					}
				}
				return exitWith(1, fmt.Errorf("%s: invalid config (%d %s)", path, len(verr.Problems), plural(len(verr.Problems), "problem", "problems")))
			}
			if err != nil {
				return exitWith(1, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d %s, %d %s)\n", path,
				len(cfg.Services), plural(len(cfg.Services), "service", "services"),
				len(cfg.DNS.Providers), plural(len(cfg.DNS.Providers), "provider", "providers"))
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "config file (YAML)")
	cmd.Flags().BoolVar(&secrets, "secrets", false, "fail when a secret is not available")
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
