package main

import (
	"fmt"
	"os"
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
	dataDir, _ := flags.GetString("data") // absent on an older command tree
	cur, running := readLabCurrent()
	tok, err := labToken(tokenFile, dataDir, os.Getenv)
	if err != nil {
		return fmt.Errorf("lab fault: %w", err)
	}
	// The running lab's API, unless --server (or FAILOVER_SERVER) says.
	if f := flags.Lookup("server"); f != nil && !f.Changed && os.Getenv("FAILOVER_SERVER") == "" && running && cur.Server != "" &&
		(dataDir == "" || dataDir == cur.DataDir) {
		server = cur.Server
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
// FAILOVER_TOKEN, else operator.token in --data's directory, else in the
// running lab's (lab.current.json), else in the default data directory.
func labToken(file, dataDir string, getenv func(string) string) (string, error) {
	tok, err := client.ResolveToken(file, getenv)
	if err != nil || tok != "" {
		return tok, err
	}
	if dataDir != "" {
		return labTokenIn(dataDir)
	}
	if cur, ok := readLabCurrent(); ok {
		return labTokenIn(cur.DataDir)
	}
	dir, err := client.DefaultLabDataDir()
	if err != nil {
		return "", err
	}
	return labTokenIn(dir)
}
