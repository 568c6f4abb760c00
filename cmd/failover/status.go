package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/client"
	"github.com/spf13/cobra"
)

// newClient returns the API client of a command: --server (a URL, or
// several separated by commas, tried in order) and the token from
// --token-file or FAILOVER_TOKEN.
func (c *clientFlags) newClient() (*client.Client, error) {
	tok, err := client.ResolveToken(c.tokenFile, nil)
	if err != nil {
		return nil, err
	}
	return client.New(client.Options{Servers: strings.Split(c.server, ","), Token: tok})
}

// apiFailure turns a failed API call into the command's one-line reason,
// with a hint when the controller wants a token and none was given.
func (c *clientFlags) apiFailure(what string, err error) error {
	if client.StatusOf(err) == 401 && c.tokenFile == "" && os.Getenv(client.TokenEnv) == "" {
		return fmt.Errorf("%s: %w (no token: give --token-file or set %s)", what, err, client.TokenEnv)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// commandContext is the command's context, ended by SIGINT or SIGTERM.
func commandContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}

func newStatusCmd() *cobra.Command {
	var cf clientFlags
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show services, states, weights and target health",
		Long: `Show every service: its state and since when, the weights as applied to DNS,
the reason, and a target x vantage grid of what each vantage last saw.

-o json prints the API's answer ({"services":[...]}) as it is.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return exitWith(exitUsage, fmt.Errorf("status: -o must be table or json, got %q", output))
			}
			c, err := cf.newClient()
			if err != nil {
				return fmt.Errorf("status: %w", err)
			}
			defer c.Close()
			ctx, stop := commandContext(cmd)
			defer stop()
			var raw json.RawMessage
			if err := c.Get(ctx, "/api/v1/services", nil, &raw); err != nil {
				return cf.apiFailure("status", err)
			}
			var list client.ServiceList
			if err := json.Unmarshal(raw, &list); err != nil {
				return fmt.Errorf("status: the controller's answer is not a service list: %w", err)
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				_, err := fmt.Fprintf(out, "%s\n", raw)
				return err
			}
			return writeStatus(out, list.Services, time.Now())
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table|json")
	return cmd
}

// writeStatus prints the services table, then each service's target x
// vantage grid.
func writeStatus(w io.Writer, svcs []api.Service, now time.Time) error {
	ew := &errWriter{w: w}
	if len(svcs) == 0 {
		fmt.Fprintln(ew, "no services")
		return ew.err
	}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTATE\tSINCE\tWEIGHTS\tREASON")
	for _, s := range svcs {
		weights := formatWeights(s.Routing, s)
		if len(s.Desired) > 0 && !sameWeights(s.Routing, s.Desired) {
			weights += " (desired " + formatWeights(s.Desired, s) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.State, ago(now, s.Since), weights, cell(s.Reason))
	}
	tw.Flush()
	for _, s := range svcs {
		fmt.Fprintln(ew)
		head := s.Name
		if s.Record != "" {
			head += "  " + s.Record
		}
		if s.Provider != "" {
			head += "  (provider " + s.Provider + ")"
		}
		fmt.Fprintln(ew, head)
		if o := s.Override; o != nil {
			fmt.Fprintf(ew, "  %s\n", describeOverride(o, now))
		}
		writeGrid(ew, s)
	}
	return ew.err
}

// writeGrid prints the target x vantage grid of one service.
func writeGrid(w io.Writer, s api.Service) {
	if len(s.Targets) == 0 {
		fmt.Fprintln(w, "  no targets")
		return
	}
	var vantages []string
	for _, t := range s.Targets {
		for v := range t.Vantages {
			if !slices.Contains(vantages, v) {
				vantages = append(vantages, v)
			}
		}
	}
	sort.Strings(vantages)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "  TARGET\tROLE\tHEALTH")
	for _, v := range vantages {
		fmt.Fprint(tw, "\t"+v)
	}
	fmt.Fprintln(tw, "\tLAST ERROR")
	for _, t := range s.Targets {
		fmt.Fprintf(tw, "  %s\t%s\t%s", t.Name, t.Role, orDash(t.Health))
		for _, v := range vantages {
			vv, ok := t.Vantages[v]
			fmt.Fprint(tw, "\t"+vantageCell(vv, ok))
		}
		fmt.Fprintf(tw, "\t%s\n", cell(shorten(t.LastError, 80)))
	}
	tw.Flush()
}

// vantageCell is what one vantage last saw of a target: the failure class,
// marked when the vantage's verdict has not followed it yet or when the
// vantage is excluded as impaired.
func vantageCell(v api.VantageView, ok bool) string {
	if !ok {
		return "-"
	}
	c := orDash(v.Class)
	switch {
	case v.Impaired:
		c += " (impaired)"
	case v.State == "down" && v.OK:
		c += " (still down)"
	case v.State == "up" && !v.OK:
		c += " (still up)"
	}
	return c
}

// formatWeights renders weights in the service's target order, then any
// others by name: "primary=100 backup=0 origin=0".
func formatWeights(r map[string]int, s api.Service) string {
	if len(r) == 0 {
		return "-"
	}
	var names []string
	for _, t := range s.Targets {
		names = append(names, t.Name)
	}
	var extra []string
	for n := range r {
		if !slices.Contains(names, n) {
			extra = append(extra, n)
		}
	}
	sort.Strings(extra)
	var parts []string
	for _, n := range append(names, extra...) {
		parts = append(parts, fmt.Sprintf("%s=%d", n, r[n]))
	}
	return strings.Join(parts, " ")
}

func sameWeights(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// describeOverride renders an override on one line.
func describeOverride(o *api.Override, now time.Time) string {
	s := fmt.Sprintf("%s to %s", o.Kind, o.To)
	if o.Until.IsZero() {
		s += " until released"
	} else {
		s += fmt.Sprintf(" until %s (%s)", stamp(o.Until), until(now, o.Until))
	}
	if o.By != "" {
		s += ", by " + o.By
	}
	if o.Reason != "" {
		s += ": " + oneLine(o.Reason)
	}
	return s
}

// ago renders how long ago t was: "42s ago", "3m05s ago", "2h10m ago".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < 0 {
		return "just now" // a clock ahead of ours
	}
	return compact(d) + " ago"
}

// until renders how long until t: "in 9m12s", or "ended" once past.
func until(now, t time.Time) string {
	d := t.Sub(now)
	if d <= 0 {
		return "ended"
	}
	return "in " + compact(d)
}

// compact renders d to the second in at most two units.
func compact(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// stamp renders a time in UTC to the millisecond.
func stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cell makes s fit a table cell: one line, no tabs, "-" when empty.
func cell(s string) string { return orDash(oneLine(s)) }

// oneLine folds whitespace runs (newlines and tabs included) into spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// errWriter remembers the first write error, so that printing code can
// check once at the end.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}
