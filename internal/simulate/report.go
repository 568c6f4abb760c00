package simulate

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of one scenario: per policy metrics (JSON field names
// of CONTRACT §7), the faults they are measured against, a summary of the
// engine's states, and the scenario's expectations on ours.
type Report struct {
	Scenario  string        `json:"scenario"`
	Service   string        `json:"service"`
	DurationS float64       `json:"duration_s"`
	IntervalS float64       `json:"interval_s"`
	Vantages  []string      `json:"vantages"`
	Targets   []string      `json:"targets"` // fallback order
	Policy    PolicySummary `json:"policy"`  // the effective policy of ours
	Faults    []FaultSpan   `json:"faults"`
	Policies  Policies      `json:"policies"`
	Engine    EngineSummary `json:"engine"`
	// Expectations lists every expectation checked, met or not.
	Expectations []Expectation `json:"expectations"`
	// Failures holds the messages of the expectations that failed.
	Failures []string `json:"failures"`
}

// Policies holds the results of ours and the baselines.
type Policies struct {
	Ours       PolicyResult `json:"ours"`
	Route53    PolicyResult `json:"route53"`
	Cloudflare PolicyResult `json:"cloudflare"`
	Naive      PolicyResult `json:"naive"`
}

// PolicyNames lists the policies in report order.
var PolicyNames = []string{PolicyOurs, PolicyRoute53, PolicyCloudflare, PolicyNaive}

// Get returns the result of the named policy.
func (p *Policies) Get(name string) *PolicyResult {
	switch name {
	case PolicyOurs:
		return &p.Ours
	case PolicyRoute53:
		return &p.Route53
	case PolicyCloudflare:
		return &p.Cloudflare
	case PolicyNaive:
		return &p.Naive
	}
	return nil
}

// PolicySummary is the effective policy ours ran with.
type PolicySummary struct {
	Fall             int     `json:"fall"`
	Rise             int     `json:"rise"`
	Quorum           float64 `json:"quorum"`
	MinVantages      int     `json:"min_vantages"`
	RecoverAfterS    float64 `json:"recover_after_s"`
	FailbackSteps    []int   `json:"failback_steps"`
	FailbackHoldS    float64 `json:"failback_hold_s"`
	MaxShiftsPerHour int     `json:"max_shifts_per_hour"`
}

// FaultSpan is a period during which the primary is down at quorum; EndS is
// null when it lasts to the end.
type FaultSpan struct {
	StartS float64  `json:"start_s"`
	EndS   *float64 `json:"end_s"`
}

// EngineSummary says what the engine did besides routing.
type EngineSummary struct {
	// StatesS is the time spent in each state visited, in seconds.
	StatesS     map[string]float64 `json:"states_s"`
	Transitions int                `json:"transitions"`
	// FrozenWrites counts routing writes made while frozen (must be 0).
	FrozenWrites int    `json:"frozen_writes"`
	FinalState   string `json:"final_state"`
	Alerts       int    `json:"alerts"`
}

// Expectation is one checked expectation.
type Expectation struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

// Passed reports whether every expectation was met.
func (r *Report) Passed() bool { return len(r.Failures) == 0 }

func (r *Report) expect(name string, ok bool, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.Expectations = append(r.Expectations, Expectation{Name: name, OK: ok, Message: msg})
	if !ok {
		r.Failures = append(r.Failures, name+": "+msg)
	}
}

func (r *Report) faultName(i int) string {
	f := r.Faults[i]
	end := "end"
	if f.EndS != nil {
		end = fmtSec(*f.EndS) + "s"
	}
	return fmt.Sprintf("fault %d (%ss–%s)", i+1, fmtSec(f.StartS), end)
}

// check evaluates the scenario's expectations on ours.
func (r *Report) check(e Expect) {
	r.Expectations, r.Failures = []Expectation{}, []string{}
	o := &r.Policies.Ours
	if e.MaxShifts != nil {
		r.expect("max_shifts", o.Shifts <= *e.MaxShifts, "%d routing changes, limit %d", o.Shifts, *e.MaxShifts)
	}
	if e.MaxFalseShifts != nil {
		r.expect("max_false_shifts", o.FalseShifts <= *e.MaxFalseShifts, "%d false shifts, limit %d", o.FalseShifts, *e.MaxFalseShifts)
	}
	if e.MaxUnhealthySeconds != nil {
		r.expect("max_unhealthy_seconds", o.UnhealthySeconds <= *e.MaxUnhealthySeconds+1e-9, "%ss with weight on unhealthy targets, limit %ss", fmtSec(o.UnhealthySeconds), fmtSec(*e.MaxUnhealthySeconds))
	}
	within := func(name string, list []*float64, limit time.Duration, skip func(i int) bool, never string) {
		var bad []string
		checked, worst := 0, 0.0
		for i, d := range list {
			if skip(i) {
				continue
			}
			checked++
			switch {
			case d == nil:
				bad = append(bad, r.faultName(i)+": "+never)
			case *d > limit.Seconds()+1e-9:
				bad = append(bad, fmt.Sprintf("%s: %ss", r.faultName(i), fmtSec(*d)))
			default:
				worst = math.Max(worst, *d)
			}
		}
		switch {
		case checked == 0:
			r.expect(name, true, "no fault takes the primary down at quorum")
		case len(bad) > 0:
			r.expect(name, false, "limit %s; %s", limit, strings.Join(bad, "; "))
		default:
			r.expect(name, true, "%d of %d faults within %s (worst %ss)", checked, checked, limit, fmtSec(worst))
		}
	}
	if e.FailoverWithin != nil {
		within("failover_within", o.DetectionS, *e.FailoverWithin, func(int) bool { return false }, "weight never left the primary")
	}
	if e.RecoveryWithin != nil {
		// A fault is judged only when the primary then stays up for longer
		// than the limit: a relapse is a fault of its own.
		within("recovery_within", o.RecoveryS, *e.RecoveryWithin, func(i int) bool {
			end := r.Faults[i].EndS
			if end == nil {
				return true
			}
			next := r.DurationS
			if i+1 < len(r.Faults) {
				next = r.Faults[i+1].StartS
			}
			return next-*end <= e.RecoveryWithin.Seconds()
		}, "weight never came back to the primary")
	}
	if e.Frozen != nil {
		_, visited := r.Engine.StatesS["frozen"]
		switch {
		case *e.Frozen && !visited:
			r.expect("frozen", false, "the engine never went frozen (final state %s)", r.Engine.FinalState)
		case *e.Frozen && r.Engine.FrozenWrites > 0:
			r.expect("frozen", false, "the engine wrote routing %d times while frozen", r.Engine.FrozenWrites)
		case *e.Frozen:
			r.expect("frozen", true, "frozen for %ss with no writes", fmtSec(r.Engine.StatesS["frozen"]))
		case visited:
			r.expect("frozen", false, "the engine went frozen for %ss", fmtSec(r.Engine.StatesS["frozen"]))
		default:
			r.expect("frozen", true, "never frozen")
		}
	}
}

// fmtSec renders seconds with at most one decimal.
func fmtSec(s float64) string {
	return strconv.FormatFloat(math.Round(s*10)/10, 'f', -1, 64)
}

// fmtList summarises a detection or recovery list: the value when there is
// one fault, otherwise the worst value and how many faults; "never" for
// faults with no value; "-" for no fault.
func fmtList(list []*float64) string {
	if len(list) == 0 {
		return "-"
	}
	worst, missed := -1.0, 0
	for _, d := range list {
		if d == nil {
			missed++
		} else {
			worst = math.Max(worst, *d)
		}
	}
	switch {
	case len(list) == 1 && missed == 1:
		return "never"
	case len(list) == 1:
		return fmtSec(worst)
	case missed == len(list):
		return fmt.Sprintf("never (%d)", missed)
	case missed > 0:
		return fmt.Sprintf("max %s, %d never (%d)", fmtSec(worst), missed, len(list))
	}
	return fmt.Sprintf("max %s (%d)", fmtSec(worst), len(list))
}

// Text writes the report as a side-by-side table (rows: metrics, columns:
// policies), the faults, the engine's states and the expectations.
func (r *Report) Text(w io.Writer) error {
	var b strings.Builder
	name := r.Scenario
	if name == "" {
		name = "(unnamed)"
	}
	fmt.Fprintf(&b, "scenario %s: service %s, %ss at %ss, %d vantages, targets %s\n",
		name, r.Service, fmtSec(r.DurationS), fmtSec(r.IntervalS), len(r.Vantages), strings.Join(r.Targets, " > "))
	if len(r.Faults) == 0 {
		b.WriteString("faults: none takes the primary down at quorum\n")
	} else {
		spans := make([]string, 0, len(r.Faults))
		for i := range r.Faults {
			spans = append(spans, strings.TrimPrefix(r.faultName(i), "fault "))
			if i == 9 && len(r.Faults) > 11 {
				spans = append(spans, fmt.Sprintf("... %d more", len(r.Faults)-10))
				break
			}
		}
		fmt.Fprintf(&b, "faults: %s\n", strings.Join(spans, ", "))
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "metric\t%s\t\n", strings.Join(PolicyNames, "\t"))
	row := func(metric string, cell func(p *PolicyResult) string) {
		cells := make([]string, 0, len(PolicyNames))
		for _, n := range PolicyNames {
			cells = append(cells, cell(r.Policies.Get(n)))
		}
		fmt.Fprintf(tw, "%s\t%s\t\n", metric, strings.Join(cells, "\t"))
	}
	row("detection s", func(p *PolicyResult) string { return fmtList(p.DetectionS) })
	row("recovery s", func(p *PolicyResult) string { return fmtList(p.RecoveryS) })
	row("shifts", func(p *PolicyResult) string { return strconv.Itoa(p.Shifts) })
	row("false shifts", func(p *PolicyResult) string { return strconv.Itoa(p.FalseShifts) })
	row("unhealthy s", func(p *PolicyResult) string { return fmtSec(p.UnhealthySeconds) })
	if err := tw.Flush(); err != nil {
		return err
	}

	states := make([]string, 0, len(r.Engine.StatesS))
	for s := range r.Engine.StatesS {
		states = append(states, s)
	}
	slices.Sort(states)
	parts := make([]string, 0, len(states))
	for _, s := range states {
		parts = append(parts, fmt.Sprintf("%s %ss", s, fmtSec(r.Engine.StatesS[s])))
	}
	fmt.Fprintf(&b, "\nours: %d transitions, final state %s; time in states: %s\n", r.Engine.Transitions, r.Engine.FinalState, strings.Join(parts, ", "))
	if d := r.Policies.Ours.Decisions; len(d) > 0 {
		b.WriteString("ours routing changes:\n")
		for i, dc := range d {
			if i == 20 && len(d) > 22 {
				fmt.Fprintf(&b, "  ... %d more\n", len(d)-20)
				break
			}
			fmt.Fprintf(&b, "  %8ss  %s -> %s  %s\n", fmtSec(dc.At), dc.From, dc.To, formatRouting(dc.Routing, r.Targets))
		}
	}
	switch {
	case len(r.Expectations) == 0:
		b.WriteString("\nexpectations: none\n")
	case r.Passed():
		fmt.Fprintf(&b, "\nexpectations: all %d met\n", len(r.Expectations))
	default:
		fmt.Fprintf(&b, "\nexpectations: %d of %d FAILED\n", len(r.Failures), len(r.Expectations))
	}
	for _, e := range r.Expectations {
		mark := "ok  "
		if !e.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "  %s %s: %s\n", mark, e.Name, e.Message)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func formatRouting(r map[string]int, order []string) string {
	var parts []string
	for _, t := range order {
		if r[t] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", t, r[t]))
		}
	}
	return strings.Join(parts, ", ")
}

// MarkdownTable renders one row per report: detection seconds, false shifts,
// total shifts and unhealthy seconds, each as ours · route53 · cloudflare ·
// naive, and whether ours met the scenario's expectations.
func MarkdownTable(reports []*Report) string {
	var b strings.Builder
	b.WriteString("| scenario | detection s | false shifts | shifts | unhealthy s | expect |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range reports {
		cell := func(f func(p *PolicyResult) string) string {
			parts := make([]string, 0, len(PolicyNames))
			for _, n := range PolicyNames {
				parts = append(parts, f(r.Policies.Get(n)))
			}
			return strings.Join(parts, " · ")
		}
		expect := "met"
		switch {
		case len(r.Expectations) == 0:
			expect = "-"
		case !r.Passed():
			expect = fmt.Sprintf("**%d failed**", len(r.Failures))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", mdEscape(r.Scenario),
			cell(func(p *PolicyResult) string { return fmtList(p.DetectionS) }),
			cell(func(p *PolicyResult) string { return strconv.Itoa(p.FalseShifts) }),
			cell(func(p *PolicyResult) string { return strconv.Itoa(p.Shifts) }),
			cell(func(p *PolicyResult) string { return fmtSec(p.UnhealthySeconds) }),
			expect)
	}
	return b.String()
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
