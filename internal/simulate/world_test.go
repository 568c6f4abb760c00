package simulate

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

var lab = []string{"primary", "backup", "origin"}

func testWorld(t *testing.T, src string) *world {
	t.Helper()
	sc := mustParse(t, src)
	iv := sc.Interval
	if iv == 0 {
		iv = time.Second
	}
	w, err := newWorld(sc, lab, iv, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// outcomeAt returns the outcome of (vantage v, target tg) in the round at.
func outcomeAt(w *world, at time.Duration, v, tg int) Outcome {
	return w.prober().at(at)[v*w.nt+tg]
}

func TestTimelineLastEntryWins(t *testing.T) {
	w := testWorld(t, `
service: www
vantages: [a, b, c]
duration: 2m
timeline:
  - {at: 10s, target: primary, outcome: refused}
  - {at: 20s, until: 30s, target: primary, vantages: [a], outcome: ok}
  - {at: 25s, target: primary, vantages: [a, b], outcome: tls}
  - {at: 40s, target: primary, outcome: ok}
  - {at: 15s, until: 50s, vantage: c, targets: all, outcome: missing}
`)
	const p, b = 0, 1
	cases := []struct {
		at      time.Duration
		v, tg   int
		want    Outcome
		because string
	}{
		{5 * time.Second, 0, p, OutcomeOK, "nothing applies yet"},
		{10 * time.Second, 0, p, OutcomeRefused, "entry 0 starts at its at"},
		{20 * time.Second, 0, p, OutcomeOK, "entry 1 overrides entry 0 at a"},
		{20 * time.Second, 1, p, OutcomeRefused, "entry 1 is only at a"},
		{25 * time.Second, 0, p, OutcomeTLS, "entry 2 comes later in the file than entry 1"},
		{35 * time.Second, 1, p, OutcomeTLS, "entry 2 is open-ended"},
		{40 * time.Second, 0, p, OutcomeOK, "entry 3 ends the open-ended ones"},
		{15 * time.Second, 2, p, OutcomeMissing, "entry 4 comes last in the file"},
		{15 * time.Second, 2, b, OutcomeMissing, "targets: all"},
		{50 * time.Second, 2, b, OutcomeOK, "until is exclusive"},
		{50 * time.Second, 2, p, OutcomeOK, "entry 3 applies again at c once entry 4 ends"},
	}
	for _, c := range cases {
		if got := outcomeAt(w, c.at, c.v, c.tg); got != c.want {
			t.Errorf("at %s vantage %d target %d: %s, want %s (%s)", c.at, c.v, c.tg, got, c.want, c.because)
		}
	}
}

func TestTimelineFlap(t *testing.T) {
	w := testWorld(t, `
service: www
vantages: [a]
duration: 1m
timeline:
  - {at: 10s, until: 20s, target: primary, outcome: refused, flap: 2s}
`)
	want := "..........RRooRRooRR.........."
	var got strings.Builder
	p := w.prober()
	for s := range 30 {
		switch p.at(time.Duration(s) * time.Second)[0] {
		case OutcomeRefused:
			got.WriteByte('R')
		case OutcomeOK:
			if s >= 10 && s < 20 {
				got.WriteByte('o')
			} else {
				got.WriteByte('.')
			}
		}
	}
	if got.String() != want {
		t.Errorf("flap: %s, want %s", got.String(), want)
	}
	// The ground truth counts the whole window as down.
	if f := w.faults(); len(f) != 1 || f[0].start != 10*time.Second || f[0].end != 20*time.Second {
		t.Errorf("faults %+v, want one over [10s, 20s)", f)
	}
}

func TestGroundTruth(t *testing.T) {
	w := testWorld(t, `
service: www
vantages: [a, b, c, d]
duration: 10m
timeline:
  - {at: 1m, until: 2m, target: primary, vantages: [a], outcome: refused}
  - {at: 2m, until: 3m, target: primary, vantages: [a, b], outcome: refused}
  - {at: 3m, until: 4m, vantages: [a, b], targets: all, outcome: timeout}
  - {at: 4m, until: 5m, targets: all, outcome: timeout}
  - {at: 5m, until: 6m, vantages: [a, b], targets: all, outcome: missing}
  - {at: 5m, until: 6m, target: primary, vantage: c, outcome: reset}
  - {at: 6m, until: 7m, target: primary, vantages: [a, b, c], outcome: missing}
  - {at: 7m, until: 8m, targets: [primary, backup], vantages: [a, b, c], outcome: http_status}
`)
	cases := []struct {
		at   time.Duration
		want uint64
		why  string
	}{
		{30 * time.Second, 0, "all ok"},
		{90 * time.Second, 0, "1 of 4 down is below quorum 0.5"},
		{150 * time.Second, 1, "2 of 4 down is quorum"},
		{210 * time.Second, 0, "a probe-side fault at a and b is left out"},
		{270 * time.Second, 7, "every target failing at every vantage is an outage"},
		{330 * time.Second, 1, "missing vantages are left out: 1 of the 2 that report"},
		{390 * time.Second, 0, "the only reporting vantage sees it up"},
		{450 * time.Second, 3, "a list of targets that is not all of them is not probe-side"},
	}
	for _, c := range cases {
		if got := w.downAt(c.at); got != c.want {
			t.Errorf("at %s: down %03b, want %03b (%s)", c.at, got, c.want, c.why)
		}
	}
	f := w.faults()
	want := []fault{
		{2 * time.Minute, 3 * time.Minute, true},
		{4 * time.Minute, 6 * time.Minute, true}, // contiguous periods are one fault
		{7 * time.Minute, 8 * time.Minute, true},
	}
	if len(f) != len(want) {
		t.Fatalf("faults %+v, want %+v", f, want)
	}
	for i := range want {
		if f[i] != want[i] {
			t.Errorf("fault %d: %+v, want %+v", i, f[i], want[i])
		}
	}
}

func TestNoise(t *testing.T) {
	src := `
service: www
vantages: [a, b, c, d, e]
duration: 1h
seed: 42
noise: {loss: 0.05}
timeline:
  - {at: 0s, vantage: e, targets: all, outcome: missing}
  - {at: 0s, vantage: d, target: backup, outcome: dns}
`
	count := func(w *world) (failed, missing, dns, probes int, trace []Outcome) {
		p := w.prober()
		for s := range 3600 {
			for c, o := range p.at(time.Duration(s) * time.Second) {
				if s < 5 {
					trace = append(trace, o)
				}
				switch o {
				case OutcomeMissing:
					missing++
					continue
				case OutcomeDNS:
					dns++
				case OutcomeTimeout:
					failed++
				}
				if c/3 != 3 || c%3 != 1 { // not (d, backup)
					probes++
				}
			}
		}
		return failed, missing, dns, probes, trace
	}
	w := testWorld(t, src)
	failed, missing, dns, probes, trace := count(w)
	if rate := float64(failed) / float64(probes); math.Abs(rate-0.05) > 0.005 {
		t.Errorf("loss rate %.4f over %d probes, want 0.05", rate, probes)
	}
	if missing != 3600*3 {
		t.Errorf("%d missing, want every probe of vantage e: noise never makes a missing probe send", missing)
	}
	if dns != 3600 {
		t.Errorf("%d dns, want every probe of (d, backup): noise keeps a failure's class", dns)
	}
	_, _, _, _, again := count(testWorld(t, src))
	if !equalOutcomes(trace, again) {
		t.Error("the same seed gave different noise")
	}
	_, _, _, _, other := count(testWorld(t, strings.Replace(src, "seed: 42", "seed: 43", 1)))
	if equalOutcomes(trace, other) {
		t.Error("another seed gave the same noise")
	}
	if w.downAt(time.Minute) != 0 {
		t.Error("noise made the ground truth down")
	}
}

func equalOutcomes(a, b []Outcome) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWorldChecksTargetsAndLimits(t *testing.T) {
	sc := mustParse(t, `
service: www
vantages: [a]
duration: 1m
timeline:
  - {at: 0s, target: primry, outcome: refused}
overrides:
  - {at: 1s, kind: pin, to: bakup}
`)
	_, err := Run(testConfig(), sc)
	var se *ScenarioError
	if !errors.As(err, &se) {
		t.Fatalf("error %v, want *ScenarioError", err)
	}
	want := "timeline[0].targets: unknown target \"primry\" (the service has [primary backup origin])\n" +
		"overrides[0].to: unknown target \"bakup\" (the service has [primary backup origin])"
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}

	// 7 days at 100ms with 8 vantages passes the parser's check (48M probes
	// for one target) but not Run's, which knows there are 3 targets.
	sc = mustParse(t, "service: www\nvantages: [a, b, c, d, e, f, g, h]\ninterval: 100ms\nduration: 168h\n")
	_, err = Run(testConfig(), sc)
	if err == nil || !strings.Contains(err.Error(), "duration: 168h0m0s at 100ms with 8 vantages and 3 targets is 145152000 probes, more than the limit of 50000000") {
		t.Errorf("error %v, want the probe limit", err)
	}

	sc = mustParse(t, "service: api\nvantages: [a]\nduration: 1m\n")
	if _, err := Run(testConfig(), sc); err == nil || err.Error() != `service: no service "api" in the config (it has [www])` {
		t.Errorf("error %v, want no such service", err)
	}
}

// A hostile timeline of the maximum length, every entry overlapping every
// other, still compiles quickly.
func TestTimelineWorstCase(t *testing.T) {
	var b strings.Builder
	b.WriteString("service: www\nvantages: [a, b, c, d, e, f, g, h]\ninterval: 1s\nduration: 7h\ntimeline:\n")
	for i := range MaxTimeline {
		b.WriteString("  - {at: " + (time.Duration(i) * time.Second).String() + ", targets: all, outcome: " + outcomeNames[i%len(outcomeNames)] + "}\n")
	}
	start := time.Now()
	w := testWorld(t, b.String())
	if len(w.segs) != MaxTimeline {
		t.Errorf("%d segments, want %d", len(w.segs), MaxTimeline)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("compiling took %s", d)
	}
}
