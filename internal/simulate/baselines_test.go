package simulate

import (
	"fmt"
	"strings"
	"testing"
)

// decisionsOf renders decisions as "at:target" for the target holding all
// (or most) of the weight, for compact comparisons.
func decisionsOf(p *PolicyResult) string {
	parts := make([]string, 0, len(p.Decisions))
	for _, d := range p.Decisions {
		best, bw := "", -1
		for _, t := range lab {
			if d.Routing[t] > bw {
				best, bw = t, d.Routing[t]
			}
		}
		parts = append(parts, fmt.Sprintf("%s:%s", fmtSec(d.At), best))
	}
	return strings.Join(parts, " ")
}

func TestBaselines(t *testing.T) {
	cases := []struct {
		name     string
		scenario string
		want     map[string]string // policy -> decisions
		false    map[string]int    // policy -> false shifts, when not 0
	}{
		{
			name: "hard outage, 3 vantages",
			scenario: `
vantages: [a, b, c]
duration: 10m
timeline:
  - {at: 60s, target: primary, outcome: refused, until: 300s}
`,
			want: map[string]string{
				// Checkers at phases 0, 3.3 and 6.7 s each need 3 failed
				// samples; the last one decides (only > 18% healthy needed).
				// Back once one checker has 3 good samples (1 of 3 > 18%).
				PolicyRoute53: "86.7:backup 320:primary",
				// A majority (2 of 3) down: the second checker's first
				// failed sample; back once 2 of 3 see it up.
				PolicyCloudflare: "63.3:backup 303.3:primary",
				PolicyNaive:      "60:backup 300:primary",
			},
		},
		{
			name: "hard outage, 5 vantages",
			scenario: `
vantages: [a, b, c, d, e]
duration: 10m
timeline:
  - {at: 60s, target: primary, outcome: refused, until: 300s}
`,
			want: map[string]string{
				PolicyRoute53:    "88:backup 320:primary",
				PolicyCloudflare: "64:backup 304:primary",
				PolicyNaive:      "60:backup 300:primary",
			},
		},
		{
			name: "one vantage of three",
			scenario: `
vantages: [a, b, c]
duration: 5m
timeline:
  - {at: 60s, target: primary, vantage: a, outcome: refused, until: 120s}
`,
			want: map[string]string{
				PolicyRoute53:    "",
				PolicyCloudflare: "",
				PolicyNaive:      "60:backup 120:primary",
			},
			false: map[string]int{PolicyNaive: 1},
		},
		{
			name: "everything down",
			scenario: `
vantages: [a, b, c]
duration: 5m
timeline:
  - {at: 60s, targets: [primary, backup, origin], outcome: timeout, until: 120s}
`,
			want: map[string]string{
				PolicyRoute53:    "",                          // fails open: the primary
				PolicyCloudflare: "63.3:origin 123.3:primary", // the fallback pool
				PolicyNaive:      "",                          // nothing good: stays put
			},
		},
		{
			name: "backup also down",
			scenario: `
vantages: [a, b, c]
duration: 5m
timeline:
  - {at: 60s, target: primary, outcome: refused, until: 200s}
  - {at: 100s, target: backup, outcome: refused, until: 250s}
`,
			want: map[string]string{
				PolicyRoute53:    "86.7:backup 126.7:origin 220:primary",
				PolicyCloudflare: "63.3:backup 103.3:origin 203.3:primary",
				PolicyNaive:      "60:backup 100:origin 200:primary",
			},
		},
		{
			name: "missing samples change nothing",
			scenario: `
vantages: [a, b, c]
duration: 5m
timeline:
  - {at: 30s, vantages: [a, b], targets: all, outcome: missing}
  - {at: 60s, target: primary, vantage: c, outcome: refused}
`,
			want: map[string]string{
				// a and b keep saying healthy: 2 of 3 > 18%, and a majority.
				PolicyRoute53:    "",
				PolicyCloudflare: "",
				// c is the only one reporting, and it fails.
				PolicyNaive: "60:backup",
			},
		},
		{
			name: "operator drill",
			scenario: `
vantages: [a, b, c]
duration: 5m
overrides:
  - {at: 30s, kind: drill, to: origin, for: 1m}
  - {at: 2m, kind: pin, to: backup}
  - {at: 150s, kind: release}
`,
			want: map[string]string{
				PolicyRoute53:    "30:origin 90:primary 120:backup 150:primary",
				PolicyCloudflare: "30:origin 90:primary 120:backup 150:primary",
				PolicyNaive:      "30:origin 90:primary 120:backup 150:primary",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := mustRun(t, "service: www\ninterval: 1s\n"+c.scenario)
			for policy, want := range c.want {
				p := rep.Policies.Get(policy)
				if got := decisionsOf(p); got != want {
					t.Errorf("%s: %q, want %q", policy, got, want)
				}
				if p.FalseShifts != c.false[policy] {
					t.Errorf("%s: %d false shifts, want %d", policy, p.FalseShifts, c.false[policy])
				}
			}
		})
	}
}

// Route 53's FailureThreshold counts consecutive samples: a fault shorter
// than three samples at a checker never turns it unhealthy.
func TestRoute53NeedsConsecutiveFailures(t *testing.T) {
	rep := mustRun(t, `
service: www
vantages: [a]
interval: 1s
duration: 5m
timeline:
  - {at: 60s, target: primary, outcome: refused, until: 80s}
  - {at: 90s, target: primary, outcome: refused, until: 110s}
  - {at: 120s, target: primary, outcome: refused, until: 150s}
`)
	// Samples at 60 and 70 fail, 80 is good, 90 and 100 fail, 110 good, then
	// 120, 130 and 140 fail: unhealthy at 140; good again at 150, 160, 170.
	if got, want := decisionsOf(&rep.Policies.Route53), "140:backup 170:primary"; got != want {
		t.Errorf("route53: %q, want %q", got, want)
	}
	// Moving off the primary at 140 is not false: it is down then. Coming
	// back is never false.
	if rep.Policies.Route53.FalseShifts != 0 {
		t.Errorf("%d false shifts", rep.Policies.Route53.FalseShifts)
	}
}

// A probe-side fault at two of three vantages makes every target look down
// to Cloudflare's majority rule, which then sends everything to the fallback
// pool: a false shift, since nothing is wrong with the primary.
func TestProbeSideFaultIsAFalseShiftForCloudflare(t *testing.T) {
	rep := mustRun(t, `
service: www
vantages: [a, b, c]
interval: 1s
duration: 5m
timeline:
  - {at: 60s, vantages: [a, b], targets: all, outcome: timeout, until: 120s}
`)
	cf := &rep.Policies.Cloudflare
	if got, want := decisionsOf(cf), "63.3:origin 120:primary"; got != want {
		t.Errorf("cloudflare: %q, want %q", got, want)
	}
	if cf.FalseShifts != 1 || len(cf.DetectionS) != 0 {
		t.Errorf("cloudflare: %d false shifts and %d faults, want 1 and 0", cf.FalseShifts, len(cf.DetectionS))
	}
	if n := rep.Policies.Route53.Shifts + rep.Policies.Naive.Shifts + rep.Policies.Ours.Shifts; n != 0 {
		t.Errorf("route53, naive and ours made %d shifts, want 0", n)
	}
}
