package simulate

import (
	"sort"
	"time"
)

// Metrics, per policy (CONTRACT §7). Times are seconds from the start of the
// scenario, as JSON numbers.
//
// Ground truth. Whether a target is down "at quorum" at time t comes from the
// scenario alone, never from a policy's own view: over the vantages whose
// outcome for the target at t is not missing and not a probe-side fault, the
// target is down when at least `quorum` (the effective policy's) of them fail.
// Noise is left out. A probe-side fault is a timeline entry that fails every
// target of the service at some of the vantages but not all of them; the same
// at every vantage is indistinguishable from a real outage and counts as one.
// A flapping entry counts as failing for the whole of its window. A target on
// which no vantage reports is not down.
//
//   - A fault is a maximal period during which the primary is down at quorum.
//   - detection_s, one entry per fault: seconds from the fault's start to the
//     first routing change during the fault that lowers the primary's weight;
//     0 when the primary already had no weight when the fault started; null
//     when weight stayed on the primary for the whole fault.
//   - recovery_s, one entry per fault: seconds from the fault's end to the
//     first moment all weight is on the primary again; 0 when it never left;
//     null when the fault lasts to the end of the scenario, or the weight
//     does not come back before the scenario ends or the next fault starts.
//   - shifts: the number of routing changes (each step of a ramp is one).
//   - false_shifts: automatic routing changes that lower the primary's weight
//     while the primary is not down at quorum. Moving weight back to the
//     primary is never false; neither is an operator's drill, pin or release.
//   - unhealthy_seconds: the integral over time of the weight fraction on
//     targets that are down at quorum: 30 s with half the weight on a dead
//     target count 15. Everything down counts fully whatever the routing.

// Decision is one routing change: when (seconds from the start, a JSON
// number), the service state before and after it (CONTRACT §3; the baselines
// only know healthy, failed_over and manual), and the weights applied.
type Decision struct {
	At      float64        `json:"at"` // seconds from the start
	From    string         `json:"from"`
	To      string         `json:"to"`
	Routing map[string]int `json:"routing"`
}

// PolicyResult is the outcome of one policy on one scenario.
type PolicyResult struct {
	Decisions        []Decision `json:"decisions"`
	Shifts           int        `json:"shifts"`
	DetectionS       []*float64 `json:"detection_s"`
	RecoveryS        []*float64 `json:"recovery_s"`
	FalseShifts      int        `json:"false_shifts"`
	UnhealthySeconds float64    `json:"unhealthy_seconds"`
}

func seconds(d time.Duration) float64 { return d.Seconds() }

func secPtr(d time.Duration) *float64 {
	s := seconds(d)
	return &s
}

// measure computes a policy's metrics from its routing changes and the
// scenario's ground truth.
func measure(w *world, k *track) PolicyResult {
	res := PolicyResult{Decisions: make([]Decision, 0, len(k.decisions)), Shifts: len(k.decisions)}
	for _, d := range k.decisions {
		r := make(map[string]int, len(w.targets))
		for i, t := range w.targets {
			r[t] = d.weights[i]
		}
		res.Decisions = append(res.Decisions, Decision{At: seconds(d.at), From: d.from, To: d.to, Routing: r})
	}
	// primaryBefore[i] is the primary's weight before decision i.
	primary := 100
	primaryBefore := make([]int, len(k.decisions))
	for i, d := range k.decisions {
		primaryBefore[i] = primary
		if d.weights[0] < primary && !d.override && w.downAt(d.at)&1 == 0 {
			res.FalseShifts++
		}
		primary = d.weights[0]
	}
	// nextLower[i] and nextFull[i]: the first decision at or after i that
	// lowers the primary's weight, or puts all weight on it (n for none).
	n := len(k.decisions)
	nextLower, nextFull := make([]int, n+1), make([]int, n+1)
	nextLower[n], nextFull[n] = n, n
	for i := n - 1; i >= 0; i-- {
		nextLower[i], nextFull[i] = nextLower[i+1], nextFull[i+1]
		if k.decisions[i].weights[0] < primaryBefore[i] {
			nextLower[i] = i
		}
		if k.decisions[i].weights[0] == 100 {
			nextFull[i] = i
		}
	}
	// weightAt returns the primary's weight in force just before time at, and
	// the index of the first decision at or after at.
	weightAt := func(at time.Duration) (int, int) {
		i := sort.Search(n, func(i int) bool { return k.decisions[i].at >= at })
		if i == 0 {
			return 100, 0
		}
		return k.decisions[i-1].weights[0], i
	}
	res.DetectionS = []*float64{}
	res.RecoveryS = []*float64{}
	faults := w.faults()
	for fi, f := range faults {
		end := w.duration
		if f.ended {
			end = f.end
		}
		var det *float64
		if p, i := weightAt(f.start); p == 0 {
			det = secPtr(0)
		} else if j := nextLower[i]; j < n && k.decisions[j].at < end {
			det = secPtr(k.decisions[j].at - f.start)
		}
		res.DetectionS = append(res.DetectionS, det)
		var rec *float64
		if f.ended {
			if p, i := weightAt(f.end); p == 100 {
				rec = secPtr(0)
			} else if j := nextFull[i]; j < n && (fi+1 == len(faults) || k.decisions[j].at < faults[fi+1].start) {
				rec = secPtr(k.decisions[j].at - f.end)
			}
		}
		res.RecoveryS = append(res.RecoveryS, rec)
	}
	res.UnhealthySeconds = unhealthySeconds(w, k)
	return res
}

// unhealthySeconds integrates the weight on down targets over the scenario,
// walking the truth segments and the routing changes together.
func unhealthySeconds(w *world, k *track) float64 {
	weights := make([]int, w.nt)
	weights[0] = 100
	var total float64 // in weight-percent × nanoseconds / 1e9
	di := 0
	for si, seg := range w.truth {
		end := w.duration
		if si+1 < len(w.truth) {
			end = w.truth[si+1].start
		}
		t := seg.start
		for t < end {
			for di < len(k.decisions) && k.decisions[di].at <= t {
				copy(weights, k.decisions[di].weights)
				di++
			}
			next := end
			if di < len(k.decisions) && k.decisions[di].at < next {
				next = k.decisions[di].at
			}
			if seg.down != 0 {
				pct := 0
				for i, wt := range weights {
					if seg.down&(1<<i) != 0 {
						pct += wt
					}
				}
				total += float64(pct) * (next - t).Seconds()
			}
			t = next
		}
	}
	return total / 100
}
