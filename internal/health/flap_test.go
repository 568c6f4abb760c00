package health

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/probe"
)

func TestFlapWindowSize(t *testing.T) {
	for _, tt := range []struct{ fall, win, fails int }{
		{0, 4, 2}, {1, 4, 2}, {2, 8, 4}, {3, 12, 6}, {5, 20, 10}, {16, 64, 32}, {17, 68, 34}, {100, 400, 200},
	} {
		if w, f := FlapWindow(tt.fall), FlapFailures(tt.fall); w != tt.win || f != tt.fails {
			t.Errorf("fall %d: window %d of which %d failed, want %d of %d", tt.fall, w, f, tt.win, tt.fails)
		}
	}
}

// flapModel is the reference for one pair: the rules of the package doc,
// written over the whole history instead of a bitset.
type flapModel struct {
	fall, rise int
	hist       []bool // true: failed; newest last
	state      VantageState
}

func (m *flapModel) window() (rounds, fails, runs int) {
	w := FlapWindow(m.fall)
	h := m.hist[max(0, len(m.hist)-w):]
	for i, failed := range h {
		if failed {
			fails++
			if i == 0 || !h[i-1] {
				runs++
			}
		}
	}
	return len(h), fails, runs
}

func (m *flapModel) observe(failed bool) {
	m.hist = append(m.hist, failed)
	rounds, fails, runs := m.window()
	unsteady := fails >= FlapFailures(m.fall) && runs >= 2
	flapping := unsteady && rounds == FlapWindow(m.fall)
	run := 0
	for i := len(m.hist) - 1; i >= 0 && m.hist[i] == failed; i-- {
		run++
	}
	switch {
	case failed && (run >= m.fall || flapping):
		m.state = StateDown
	case !failed && run >= m.rise && !unsteady:
		m.state = StateUp
	case !failed && flapping:
		m.state = StateDown
	}
}

// flapTracker returns a tracker of one service with targets primary and
// backup, and the given fall and rise.
func flapTracker(fall, rise int) *Tracker {
	svc := service("primary", "backup")
	svc.Policy = config.Policy{Fall: fall, Rise: rise, Quorum: 0.5, MinVantages: 2}
	return NewTracker(svc, interval)
}

// pairEvidence returns vantage a's evidence of the primary.
func pairEvidence(t *testing.T, tr *Tracker, at time.Time) VantageEvidence {
	t.Helper()
	pv, _ := tr.Evaluate(at).Target("primary")
	for _, e := range pv.Vantages {
		if e.Vantage == "a" {
			return e
		}
	}
	t.Fatal("no evidence of vantage a")
	return VantageEvidence{}
}

// TestFlapRuleAgainstModel replays sequences into one pair and compares its
// state and window with the reference model after every round.
func TestFlapRuleAgainstModel(t *testing.T) {
	seqs := map[string]string{
		"flapping every round":    strings.Repeat("o", 12) + strings.Repeat("xo", 30) + strings.Repeat("o", 20),
		"flapping every 2 rounds": strings.Repeat("o", 12) + strings.Repeat("xxoo", 15) + strings.Repeat("o", 20),
		"flapping every 3 rounds": strings.Repeat("o", 12) + strings.Repeat("xxxooo", 10) + strings.Repeat("o", 20),
		"solid outage":            strings.Repeat("o", 12) + strings.Repeat("x", 40) + strings.Repeat("o", 20),
		"from the first round":    strings.Repeat("ox", 20),
		"one in four":             strings.Repeat("o", 12) + strings.Repeat("xooo", 20),
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 20 {
		var b strings.Builder
		p := rng.Float64()
		for range 300 {
			if rng.Float64() < p {
				b.WriteByte('x')
			} else {
				b.WriteByte('o')
			}
		}
		seqs["random "+string(rune('a'+i))] = b.String()
	}
	for _, fr := range [][2]int{{3, 3}, {1, 1}, {2, 5}, {20, 2}} { // fall 20: a window of 80 bits, two words
		for name, seq := range seqs {
			tr := flapTracker(fr[0], fr[1])
			m := &flapModel{fall: fr[0], rise: fr[1], state: StatePending}
			for i, c := range seq {
				at := t0.Add(time.Duration(i) * interval)
				class := probe.ClassOK
				if c == 'x' {
					class = probe.ClassRefused
				}
				if err := tr.Observe("a", result("primary", at, class)); err != nil {
					t.Fatal(err)
				}
				m.observe(c == 'x')
				e := pairEvidence(t, tr, at)
				rounds, fails, _ := m.window()
				if e.State != m.state || e.WindowRounds != rounds || e.WindowFailed != fails {
					t.Fatalf("fall %d rise %d, %s, round %d (%s): state %s, window %d of %d failed; model %s, %d of %d",
						fr[0], fr[1], name, i, seq[max(0, i-15):i+1], e.State, e.WindowFailed, e.WindowRounds, m.state, fails, rounds)
				}
			}
		}
	}
}

// flapRounds feeds the sequence to vantages a, b and c for the primary (the
// backup stays ok), starting at round start, and returns the round after the
// last one.
func flapRounds(t *testing.T, tr *Tracker, start int, seq string, each func(round int, v Verdicts)) int {
	t.Helper()
	vs := []string{"a", "b", "c"}
	targets := []string{"primary", "backup"}
	for i, c := range seq {
		at := t0.Add(time.Duration(start+i) * interval)
		var faults round
		if c == 'x' {
			faults = round{"a": {"primary": probe.ClassRefused}, "b": {"primary": probe.ClassRefused}, "c": {"primary": probe.ClassRefused}}
		}
		feed(t, tr, at, vs, targets, faults)
		if each != nil {
			each(start+i, tr.Evaluate(at))
		}
	}
	return start + len(seq)
}

func TestFlappingGoesDown(t *testing.T) {
	tests := []struct {
		name    string
		pattern string // repeated after 12 good rounds
		down    int    // the round (counted from the pattern's start) from which the primary stays unhealthy
		suspect int    // the first round at which it is suspect
		reason  string // in the verdict's reason from then on
	}{
		// x o x o x: 3 failures in 3 runs at round 4 (the flap warning);
		// the 12-round window holds 6 failures at round 10.
		{"every round", "xo", 10, 4, "flapping: a 6 of 12 rounds failed, b 6 of 12 rounds failed, c 6 of 12 rounds failed"},
		// xx oo xx oo xx: suspect by the fall/2 rule at round 1; 6
		// failures in the window at round 9.
		{"every 2 rounds", "xxoo", 9, 1, "flapping: a 6 of 12 rounds failed"},
		// xxx: down by the fall rule at round 2, up again by rise at round
		// 5 (one failing run is an outage that ended); down again at round
		// 8, and from then on the window (6 of 12 in two runs) keeps it
		// down through every rise good rounds.
		{"every 3 rounds", "xxxooo", 8, 1, "3 of 3 live vantages down (a, b, c; quorum 0.5); flapping: a 6 of 12 rounds failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := flapTracker(3, 3)
			start := flapRounds(t, tr, 0, strings.Repeat("o", 12), nil)
			down, suspect := -1, -1
			flapRounds(t, tr, start, strings.Repeat(tt.pattern, 60/len(tt.pattern)), func(r int, v Verdicts) {
				pv, _ := v.Target("primary")
				if pv.Suspect && suspect < 0 {
					suspect = r - start
				}
				switch {
				case pv.Status == Unhealthy && down < 0:
					down = r - start
				case pv.Status != Unhealthy:
					down = -1
				}
				if down >= 0 && r-start >= tt.down && !strings.Contains(pv.Reason, tt.reason) {
					t.Errorf("round %d: reason %q, want it to contain %q", r-start, pv.Reason, tt.reason)
				}
				if bv, _ := v.Target("backup"); bv.Status != Healthy || bv.Suspect {
					t.Fatalf("round %d: backup %s suspect %v", r-start, bv.Status, bv.Suspect)
				}
			})
			if down != tt.down || suspect != tt.suspect {
				t.Errorf("unhealthy for good from round %d, suspect from %d; want %d and %d", down, suspect, tt.down, tt.suspect)
			}
		})
	}
}

// TestFlappingStaysDown: a flapping target comes back only when it has been
// steady for rise rounds and its window has cleared.
func TestFlappingStaysDown(t *testing.T) {
	tests := []struct {
		name  string
		flaps string // after 12 good rounds and 40 rounds of "xo"
		up    int    // the steady round (from 0) at which it is healthy again
		clear int    // and the one at which it is no longer suspect
	}{
		// Rise binds: the window (xoxo...xo) falls to 5 of 12 at the
		// first steady round, the good run reaches 3 at the second.
		// Suspect while the window holds fall (3) failures or more: until
		// only 2 of xoxo are left, at steady round 6.
		{"rise binds", "", 1, 6},
		// Good runs of 4 >= rise while the window keeps 6 of 12 failed:
		// down throughout; the first steady round drops it to 5 of 12, and
		// the good run is long enough already.
		// Suspect while xoxx... is left: clear at round 4 (oxxoooo + 5 o).
		{"rise good rounds inside the flap", strings.Repeat("xxoxxoxxoooo", 5), 0, 4},
		// The window binds: xxoxxoxxoxxo holds 8 of 12; it takes 4 steady
		// rounds to get below 6 (xoxxoxxo + oooo).
		// Suspect while xoxxo is left: clear at round 7 (oxxo + 8 o).
		{"the window binds", strings.Repeat("xxo", 12), 3, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := flapTracker(3, 3)
			r := flapRounds(t, tr, 0, strings.Repeat("o", 12)+strings.Repeat("xo", 20), nil)
			r = flapRounds(t, tr, r, tt.flaps, nil)
			// The first 2 rounds of "xo" and the last one of the flaps
			// aside, it is unhealthy from then on through the flaps.
			if s := tr.Evaluate(t0.Add(time.Duration(r-1) * interval)).Status("primary"); s != Unhealthy {
				t.Fatalf("primary %s after flapping, want unhealthy", s)
			}
			up, clear := -1, -1
			flapRounds(t, tr, r, strings.Repeat("o", 12), func(round int, v Verdicts) {
				pv, _ := v.Target("primary")
				switch {
				case pv.Status == Healthy && up < 0:
					up = round - r
				case pv.Status != Healthy && up >= 0:
					t.Errorf("steady round %d: %s again (%s)", round-r, pv.Status, pv.Reason)
				}
				switch {
				case pv.Status == Healthy && pv.Suspect && !strings.Contains(pv.Reason, "; flapping: a "):
					t.Errorf("steady round %d: suspect without the flap in its reason: %s", round-r, pv.Reason)
				case pv.Status == Healthy && !pv.Suspect && clear < 0:
					clear = round - r
				case pv.Suspect && clear >= 0:
					t.Errorf("steady round %d: suspect again (%s)", round-r, pv.Reason)
				}
			})
			if up != tt.up || clear != tt.clear {
				t.Errorf("healthy at steady round %d and no longer suspect at %d, want %d and %d", up, clear, tt.up, tt.clear)
			}
		})
	}
	// Between the "xo" flaps and the steady rounds, the flaps of "rise good
	// rounds inside the flap" never bring the primary back.
	tr := flapTracker(3, 3)
	r := flapRounds(t, tr, 0, strings.Repeat("o", 12)+strings.Repeat("xo", 20), nil)
	flapRounds(t, tr, r, strings.Repeat("xxoxxoxxoooo", 5), func(round int, v Verdicts) {
		if pv, _ := v.Target("primary"); pv.Status != Unhealthy {
			t.Fatalf("round %d: primary %s (%s), want unhealthy while it flaps", round-r, pv.Status, pv.Reason)
		}
	})
}

// TestSolidOutageRecovery: a long outage that ends comes up after rise good
// rounds, as before the flap rule: its failures are one run.
func TestSolidOutageRecovery(t *testing.T) {
	tr := flapTracker(3, 3)
	r := flapRounds(t, tr, 0, strings.Repeat("o", 12)+strings.Repeat("x", 60), nil)
	up := -1
	flapRounds(t, tr, r, strings.Repeat("o", 12), func(round int, v Verdicts) {
		pv, _ := v.Target("primary")
		if pv.Status == Healthy && up < 0 {
			up = round - r
			if pv.Suspect {
				t.Errorf("healthy again but suspect: %s", pv.Reason)
			}
		}
	})
	if up != 2 {
		t.Errorf("healthy after %d good rounds, want rise (3)", up+1)
	}
}

// TestRandomLossNeverDown: 5% independent loss at five vantages for 100k
// rounds never calls the target down at quorum, and the flap rule calls a
// single vantage down at most a handful of times.
func TestRandomLossNeverDown(t *testing.T) {
	rounds := 100_000
	if testing.Short() {
		rounds = 20_000
	}
	const loss = 0.05
	vs := []string{"a", "b", "c", "d", "e"}
	tr := flapTracker(3, 3)
	rng := rand.New(rand.NewPCG(2025, 11))
	flapDowns, suspects, wasSuspect := 0, 0, false
	prevFlap := map[string]bool{}
	for i := range rounds {
		at := t0.Add(time.Duration(i) * interval)
		for _, v := range vs {
			for _, tg := range []string{"primary", "backup"} {
				class := probe.ClassOK
				if rng.Float64() < loss {
					class = probe.ClassTimeout
				}
				if err := tr.Observe(v, result(tg, at, class)); err != nil {
					t.Fatal(err)
				}
			}
		}
		v := tr.Evaluate(at)
		for _, pv := range v.Targets {
			if pv.Status == Unhealthy {
				t.Fatalf("round %d: %s unhealthy under %g loss: %s", i, pv.Target, loss, pv.Reason)
			}
		}
		pv, _ := v.Target("primary")
		if pv.Suspect && !wasSuspect {
			suspects++
		}
		wasSuspect = pv.Suspect
		for _, e := range pv.Vantages {
			fd := e.State == StateDown && e.FailRun < 3 && e.WindowFailed >= FlapFailures(3)
			if fd && !prevFlap[e.Vantage] {
				flapDowns++
			}
			prevFlap[e.Vantage] = fd
		}
	}
	t.Logf("%d rounds at %g loss: %d vantage downs by the flap rule, %d suspect episodes of the primary", rounds, loss, flapDowns, suspects)
	// Expected about 1e-5 per vantage and round: ~5 in 500k vantage-rounds.
	if flapDowns > 15 {
		t.Errorf("%d vantage downs by the flap rule, want a handful at most", flapDowns)
	}
}

func TestFlapEvidence(t *testing.T) {
	tr := flapTracker(3, 3)
	r := flapRounds(t, tr, 0, strings.Repeat("o", 12)+"xoxox", nil)
	pv, _ := tr.Evaluate(t0.Add(time.Duration(r-1) * interval)).Target("primary")
	if pv.Status != Healthy || !pv.Suspect {
		t.Fatalf("primary %s suspect %v, want healthy and suspect (a flap warning)", pv.Status, pv.Suspect)
	}
	if want := "3 of 3 live vantages up; flapping: a 3 of 12 rounds failed, b 3 of 12 rounds failed, c 3 of 12 rounds failed"; pv.Reason != want {
		t.Errorf("reason %q, want %q", pv.Reason, want)
	}
	for _, e := range pv.Vantages {
		if !e.Flapping || e.WindowRounds != 12 || e.WindowFailed != 3 {
			t.Errorf("%s: flapping %v, window %d of %d failed", e.Vantage, e.Flapping, e.WindowFailed, e.WindowRounds)
		}
	}

	// Two lost probes at one vantage: not suspect, no flap in the reason.
	tr = flapTracker(3, 3)
	vs := []string{"a", "b", "c"}
	targets := []string{"primary", "backup"}
	for i := range 20 {
		var faults round
		if i == 14 || i == 17 {
			faults = round{"a": {"primary": probe.ClassTimeout}}
		}
		feed(t, tr, t0.Add(time.Duration(i)*interval), vs, targets, faults)
	}
	pv, _ = tr.Evaluate(t0.Add(19 * interval)).Target("primary")
	if pv.Suspect || strings.Contains(pv.Reason, "flapping") {
		t.Errorf("two lost probes: suspect %v, reason %q", pv.Suspect, pv.Reason)
	}
}

// TestImpairedRecoveryClearsWindow: the failures of a vantage's own fault
// do not count as a flap once it recovers.
func TestImpairedRecoveryClearsWindow(t *testing.T) {
	targets := []string{"primary", "backup"}
	vs := []string{"a", "b", "c"}
	tr := flapTracker(3, 3)
	i := 0
	for ; i < 12; i++ {
		feed(t, tr, t0.Add(time.Duration(i)*interval), vs, targets, nil)
	}
	all := map[string]probe.Class{"primary": probe.ClassTimeout, "backup": probe.ClassTimeout}
	for ; i < 24; i++ {
		at := t0.Add(time.Duration(i) * interval)
		var faults round
		if i%2 == 0 {
			faults = round{"a": all}
		}
		feed(t, tr, at, vs, targets, faults)
		tr.Evaluate(at)
	}
	at := t0.Add(time.Duration(i-1) * interval)
	pv, _ := tr.Evaluate(at).Target("primary")
	for _, e := range pv.Vantages {
		if e.Vantage == "a" && (e.WindowFailed != 0 || e.Flapping) {
			t.Errorf("vantage a after impairment: window %d of %d failed, flapping %v", e.WindowFailed, e.WindowRounds, e.Flapping)
		}
	}
}

func TestObserveAllocs(t *testing.T) {
	tr := flapTracker(3, 3)
	r := result("primary", t0, probe.ClassOK)
	if err := tr.Observe("a", r); err != nil {
		t.Fatal(err)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		i++
		r.Time = t0.Add(time.Duration(i) * interval)
		r.OK = i%2 == 0
		if err := tr.Observe("a", r); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Observe allocates %.1f times per result", allocs)
	}
}

func BenchmarkObserve(b *testing.B) {
	tr := flapTracker(3, 3)
	r := result("primary", t0, probe.ClassOK)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		r.Time = t0.Add(time.Duration(i) * interval)
		r.OK = i%3 != 0
		if err := tr.Observe("a", r); err != nil {
			b.Fatal(err)
		}
	}
}
