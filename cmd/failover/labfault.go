package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/client"
	"github.com/failoverhq/failover/internal/lab"
	"github.com/spf13/cobra"
)

// runLabFault is the RunE of `failover lab fault TARGET MODE`: it sets a
// lab fault through POST /api/v1/lab/faults. The token is --token-file's,
// else FAILOVER_TOKEN, else the operator token the lab wrote to its default
// data directory.
func runLabFault(cmd *cobra.Command, args []string) error {
	target, mode := args[0], args[1]
	if !slices.Contains(lab.Modes, mode) {
		return exitWith(exitUsage, fmt.Errorf("lab fault: MODE must be one of %s, got %q", strings.Join(lab.Modes, "|"), mode))
	}
	flags := cmd.Flags()
	vantages, err := flags.GetStringArray("vantage")
	if err != nil {
		return exitWith(exitUsage, fmt.Errorf("lab fault: %w", err))
	}
	if len(vantages) == 0 {
		vantages = nil // every vantage
	}
	server, err := flags.GetString("server")
	if err != nil {
		return exitWith(exitUsage, fmt.Errorf("lab fault: %w", err))
	}
	tokenFile, err := flags.GetString("token-file")
	if err != nil {
		return exitWith(exitUsage, fmt.Errorf("lab fault: %w", err))
	}
	tok, err := labToken(tokenFile, os.Getenv)
	if err != nil {
		return fmt.Errorf("lab fault: %w", err)
	}
	c, err := client.New(client.Options{Servers: strings.Split(server, ","), Token: tok})
	if err != nil {
		return fmt.Errorf("lab fault: %w", err)
	}
	defer c.Close()
	ctx, stop := commandContext(cmd)
	defer stop()
	if err := c.LabFault(ctx, api.Fault{Target: target, Mode: mode, Vantages: vantages}); err != nil {
		return fmt.Errorf("lab fault: %w", err)
	}
	where := "every vantage"
	if len(vantages) > 0 {
		where = strings.Join(vantages, ", ")
	}
	if mode == lab.ModeOK {
		_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: fault cleared at %s\n", target, where)
	} else {
		_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: %s at %s\n", target, mode, where)
	}
	return err
}

// labToken finds the token for `lab fault`: the file given, else
// FAILOVER_TOKEN, else operator.token in the lab's default data directory.
func labToken(file string, getenv func(string) string) (string, error) {
	tok, err := client.ResolveToken(file, getenv)
	if err != nil || tok != "" {
		return tok, err
	}
	dir, err := client.DefaultLabDataDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, client.LabTokenFile)
	tok, err = client.ReadTokenFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no operator token in %s (is the lab running with its default --data?): give --token-file or set %s", path, client.TokenEnv)
	}
	return tok, err
}
