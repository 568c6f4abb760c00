package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/simulate"
	"github.com/spf13/cobra"
)

// maxScenarioBytes bounds a scenario file read before parsing.
const maxScenarioBytes = 4 << 20

func newSimulateCmd() *cobra.Command {
	var cfgPath, scPath, output string
	cmd := &cobra.Command{
		Use:   "simulate --config FILE --scenario FILE",
		Short: "Replay a scenario through the decision engine beside the baselines",
		Long: `Replay a scenario (config/scenarios/*.yaml) through the real decision engine on
a fake clock, side by side with the route53, cloudflare and naive baselines,
which replay the same probe outcomes at their own intervals.

Exit 0 when the scenario's expect block is met, 1 when it is not or on error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfgPath == "" || scPath == "" {
				return exitWith(exitUsage, errors.New("simulate: --config and --scenario are required"))
			}
			if output != "text" && output != "json" {
				return exitWith(exitUsage, fmt.Errorf("simulate: -o must be text or json, got %q", output))
			}
			cfg, err := loadConfig(cmd.ErrOrStderr(), cfgPath, config.Options{})
			if err != nil {
				return fmt.Errorf("simulate: %w", err)
			}
			data, err := readBounded(scPath, maxScenarioBytes)
			if err != nil {
				return fmt.Errorf("simulate: %w", err)
			}
			sc, err := simulate.ParseScenario(data)
			if err != nil {
				return fmt.Errorf("simulate: %s: %w", scPath, err)
			}
			rep, err := simulate.Run(cfg, sc)
			if err != nil {
				return fmt.Errorf("simulate: %w", err)
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				err = enc.Encode(rep)
			} else {
				err = rep.Text(out)
			}
			if err != nil {
				return err
			}
			if !rep.Passed() {
				return exitWith(1, fmt.Errorf("simulate: %s: %d expectation(s) not met", sc.Name, len(rep.Failures)))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "config file (YAML)")
	cmd.Flags().StringVar(&scPath, "scenario", "", "scenario file (YAML)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text|json")
	return cmd
}

// readBounded reads a file, refusing one larger than limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: file too large: more than %d bytes", path, limit)
	}
	return data, nil
}
