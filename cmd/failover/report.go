package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/failoverhq/failover/internal/client"
	"github.com/failoverhq/failover/internal/store"
	"github.com/spf13/cobra"
)

func newReportCmd() *cobra.Command {
	var cf clientFlags
	var service, since, output string
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Print the incident timeline",
		Long: `Print the events (CONTRACT §4) as a Markdown incident timeline, with one line
per incident: a service going degraded, failing_over or failed_over, until it
is healthy again. For each incident:

  time to detect    from the first degraded/failover state event to the first
                    DNS change that takes weight off the primary;
  time to mitigate  from the same start until the service is failed_over and
                    that DNS change is applied;
  time to recovery  from the same start until the service is healthy again.

An episode that recovered without moving weight is counted, not listed.
-o json prints the events and the incidents with these figures in seconds.
At most the newest 10000 events are read: narrow --since or --service for
longer histories.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "markdown" && output != "json" {
				return exitWith(exitUsage, fmt.Errorf("report: -o must be markdown or json, got %q", output))
			}
			now := time.Now()
			from, err := parseSince(since, now)
			if err != nil {
				return exitWith(exitUsage, fmt.Errorf("report: %w", err))
			}
			c, err := cf.newClient()
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			defer c.Close()
			ctx, stop := commandContext(cmd)
			defer stop()
			events, err := c.Events(ctx, client.EventQuery{Service: service, Since: from, Limit: store.MaxLimit})
			if err != nil {
				return cf.apiFailure("report", err)
			}
			// The primaries come from the services; without them they are
			// inferred from the routing before each incident.
			primaries := map[string]string{}
			if svcs, err := c.Services(ctx); err == nil {
				for _, s := range svcs {
					for _, t := range s.Targets {
						if t.Role == "primary" {
							primaries[s.Name] = t.Name
						}
					}
				}
			}
			rep := buildReport(events, primaries)
			rep.Service, rep.Generated, rep.Truncated = service, now.UTC(), len(events) >= store.MaxLimit
			if !from.IsZero() {
				f := from.UTC()
				rep.Since = &f
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return rep.markdown(out)
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&service, "service", "", "only this service")
	cmd.Flags().StringVar(&since, "since", "", "a duration (2h) or an RFC 3339 time")
	cmd.Flags().StringVarP(&output, "output", "o", "markdown", "output format: markdown|json")
	return cmd
}

// parseSince reads --since: a positive duration back from now, or an RFC
// 3339 time. Empty means no bound.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("--since: want a positive duration, got %s", s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since: want a duration (2h) or an RFC 3339 time (2026-03-01T12:00:00Z), got %q", s)
	}
	return t, nil
}

// report is what `failover report` prints.
type report struct {
	Service   string        `json:"service,omitempty"`
	Since     *time.Time    `json:"since,omitempty"`
	Generated time.Time     `json:"generated"`
	Truncated bool          `json:"truncated"` // only the newest events were read
	Events    []store.Event `json:"events"`
	Incidents []incident    `json:"incidents"`
	// Episodes counts degraded spells that ended without weight moving.
	Episodes int `json:"episodes_without_failover"`
}

// incident is one failover: from the first degraded/failover state event to
// healthy again.
type incident struct {
	Service    string    `json:"service"`
	Start      time.Time `json:"start"`
	StartState string    `json:"start_state"`
	// Detected: the first DNS change that takes weight off the primary.
	Detected *time.Time `json:"detected"`
	// Mitigated: failed_over, with that change applied to DNS.
	Mitigated *time.Time `json:"mitigated"`
	// Recovered: healthy again, all weight back on the primary.
	Recovered      *time.Time `json:"recovered"`
	Primary        string     `json:"primary,omitempty"`
	FailedOverTo   string     `json:"failed_over_to,omitempty"`
	TimeToDetect   *float64   `json:"time_to_detect_s"`
	TimeToMitigate *float64   `json:"time_to_mitigate_s"`
	TimeToRecover  *float64   `json:"time_to_recover_s"`
	Ongoing        bool       `json:"ongoing"`
}

// incidentStates are the states that open an incident.
var incidentStates = []string{"degraded", "failing_over", "failed_over"}

// buildReport sorts the events by time and finds the incidents in them.
// primaries names each service's primary target; for a service it does not
// name, the primary is the target that held the most weight before the
// incident's first DNS change.
func buildReport(events []store.Event, primaries map[string]string) *report {
	events = slices.Clone(events)
	slices.SortStableFunc(events, func(a, b store.Event) int { return a.Time.Compare(b.Time) })
	rep := &report{Events: events, Incidents: []incident{}}
	if rep.Events == nil {
		rep.Events = []store.Event{}
	}
	type tracker struct {
		inc          *incident
		failedOverAt time.Time
		appliedAt    time.Time
	}
	open := map[string]*tracker{}
	var order []*incident // incidents in order of start, pointers into trackers
	for _, ev := range events {
		tr := open[ev.Service]
		switch ev.Type {
		case store.TypeState:
			if tr == nil {
				if !slices.Contains(incidentStates, ev.To) {
					continue
				}
				tr = &tracker{inc: &incident{Service: ev.Service, Start: ev.Time, StartState: ev.To,
					Primary: primaries[ev.Service]}}
				open[ev.Service] = tr
				order = append(order, tr.inc)
			}
			switch ev.To {
			case "failed_over":
				if tr.failedOverAt.IsZero() {
					tr.failedOverAt = ev.Time
				}
			case "healthy":
				t := ev.Time
				tr.inc.Recovered = &t
				delete(open, ev.Service)
			}
		case store.TypeDNS:
			if tr == nil || ev.To == "" {
				continue // outside an incident, or a failed write
			}
			to, ok := parseRouting(ev.To)
			if !ok {
				continue
			}
			inc := tr.inc
			if ev.From != "" { // a routing change decided
				from, ok := parseRouting(ev.From)
				if !ok {
					continue
				}
				if inc.Primary == "" {
					inc.Primary = holder(from)
				}
				if inc.Detected == nil && inc.Primary != "" && to[inc.Primary] < from[inc.Primary] {
					t := ev.Time
					inc.Detected = &t
				}
				continue
			}
			// A routing applied to DNS.
			if inc.Detected != nil && tr.appliedAt.IsZero() && to[inc.Primary] < 100 {
				tr.appliedAt = ev.Time
				inc.FailedOverTo = holder(to)
			}
		default:
			continue
		}
		if tr != nil && tr.inc.Mitigated == nil && !tr.failedOverAt.IsZero() && !tr.appliedAt.IsZero() {
			t := tr.failedOverAt
			if tr.appliedAt.After(t) {
				t = tr.appliedAt
			}
			tr.inc.Mitigated = &t
		}
	}
	for _, inc := range order {
		if inc.Detected == nil && inc.Recovered != nil {
			rep.Episodes++ // recovered without moving weight
			continue
		}
		inc.Ongoing = inc.Recovered == nil
		inc.TimeToDetect = sinceStart(inc, inc.Detected)
		inc.TimeToMitigate = sinceStart(inc, inc.Mitigated)
		inc.TimeToRecover = sinceStart(inc, inc.Recovered)
		rep.Incidents = append(rep.Incidents, *inc)
	}
	return rep
}

func sinceStart(inc *incident, t *time.Time) *float64 {
	if t == nil {
		return nil
	}
	s := t.Sub(inc.Start).Seconds()
	return &s
}

// parseRouting reads a routing as the controller writes it in events,
// "primary 25, backup 75" (targets without weight left out; "none" for
// none), or as "primary=25 backup=75".
func parseRouting(s string) (map[string]int, bool) {
	r := map[string]int{}
	s = strings.TrimSpace(s)
	if s == "none" {
		return r, true
	}
	f := strings.Fields(strings.ReplaceAll(s, ",", " "))
	for i := 0; i < len(f); i++ {
		name, w, ok := strings.Cut(f[i], "=")
		if !ok {
			if i+1 >= len(f) {
				return nil, false
			}
			i++
			w = f[i]
		}
		n, err := strconv.Atoi(w)
		if err != nil || n < 0 || n > 100 {
			return nil, false
		}
		r[name] = n
	}
	return r, len(r) > 0
}

// holder is the target with the most weight (the first by name on a tie).
func holder(r map[string]int) string {
	best, bw := "", -1
	for n, w := range r {
		if w > bw || (w == bw && n < best) {
			best, bw = n, w
		}
	}
	return best
}

// markdown writes the report as Markdown.
func (r *report) markdown(w io.Writer) error {
	ew := &errWriter{w: w}
	fmt.Fprintln(ew, "# Incident report")
	fmt.Fprintln(ew)
	scope := "All services"
	if r.Service != "" {
		scope = "Service " + r.Service
	}
	if r.Since != nil {
		scope += ", since " + stamp(*r.Since)
	}
	fmt.Fprintf(ew, "%s; generated %s. %d events.\n", scope, stamp(r.Generated), len(r.Events))
	if r.Truncated {
		fmt.Fprintf(ew, "Only the newest %d events were read: narrow --since or --service for the full picture.\n", len(r.Events))
	}
	fmt.Fprintln(ew)
	fmt.Fprintln(ew, "## Incidents")
	fmt.Fprintln(ew)
	if len(r.Incidents) == 0 {
		fmt.Fprintln(ew, "No failover in this window.")
	} else {
		fmt.Fprintln(ew, "| # | service | started | failed over to | time to detect | time to mitigate | time to recovery |")
		fmt.Fprintln(ew, "|---|---|---|---|---|---|---|")
		for i, inc := range r.Incidents {
			recovery := figure(inc.TimeToRecover)
			if inc.Ongoing {
				recovery = "ongoing"
			}
			fmt.Fprintf(ew, "| %d | %s | %s (%s) | %s | %s | %s | %s |\n", i+1, md(inc.Service), stamp(inc.Start),
				md(inc.StartState), md(orDash(inc.FailedOverTo)), figure(inc.TimeToDetect), figure(inc.TimeToMitigate), recovery)
		}
		fmt.Fprintln(ew)
		fmt.Fprintln(ew, "- Time to detect: from the first degraded or failover event to the first DNS change that takes weight off the primary.")
		fmt.Fprintln(ew, "- Time to mitigate: from the same start until the service is failed_over with that change applied.")
		fmt.Fprintln(ew, "- Time to recovery: from the same start until the service is healthy, all weight back on the primary.")
	}
	if r.Episodes > 0 {
		fmt.Fprintln(ew)
		fmt.Fprintf(ew, "%d degraded episode(s) ended without a failover.\n", r.Episodes)
	}
	fmt.Fprintln(ew)
	fmt.Fprintln(ew, "## Timeline")
	fmt.Fprintln(ew)
	if len(r.Events) == 0 {
		fmt.Fprintln(ew, "No events.")
		return ew.err
	}
	fmt.Fprintln(ew, "| time | service | type | from → to | message |")
	fmt.Fprintln(ew, "|---|---|---|---|---|")
	for _, ev := range r.Events {
		fmt.Fprintf(ew, "| %s | %s | %s | %s | %s |\n", stamp(ev.Time), md(ev.Service), md(ev.Type),
			md(transition(ev.From, ev.To)), md(ev.Message))
	}
	return ew.err
}

// transition renders an event's from and to.
func transition(from, to string) string {
	switch {
	case from == "" && to == "":
		return ""
	case from == "":
		return "→ " + to
	case to == "":
		return from + " →"
	}
	return from + " → " + to
}

// figure renders seconds as a duration to the millisecond, or "—".
func figure(s *float64) string {
	if s == nil {
		return "—"
	}
	return time.Duration(*s * float64(time.Second)).Round(time.Millisecond).String()
}

// md makes s safe in a Markdown table cell.
func md(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}
