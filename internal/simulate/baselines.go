package simulate

import (
	"slices"
	"time"
)

// The baselines replay the same rounds of probe outcomes as ours, each
// sampling them at its own interval: a sample at time s sees the outcomes of
// the latest round at or before s. A missing outcome is no sample: the
// checker keeps what it last said. Every baseline puts all the weight on one
// target (they have no ramps) and applies the scenario's overrides as an
// operator would by hand (see scenario.go).
//
//   - route53: every 10 s; FailureThreshold 3 both ways per checker (3
//     consecutive failed samples: the checker says unhealthy; 3 consecutive
//     good: healthy); a target is healthy while more than 18% of the checkers
//     say healthy. Failover routing: the first healthy target in fallback
//     order; when none is healthy Route 53 treats them all as healthy (it
//     fails open), so the primary.
//   - cloudflare: every 10 s; consecutive_down 1 and consecutive_up 1 (a
//     vantage's view is its latest sample); a target is healthy when a
//     majority of the vantages see it up; the first healthy pool in order;
//     when none is healthy, the fallback pool, the last (the origin).
//   - naive: every round; a target is bad in a round where any vantage
//     reports a failure and good when every vantage that reports says ok; all
//     weight on the first good target, staying put when none is. So it fails
//     over on the first failure and fails back on the first clean round.
//
// The real services' checkers are not synchronised with each other. The
// 10 s baselines spread theirs evenly over the period: vantage k of n samples
// at k×10s/n, then every 10 s. This matters: with every checker sampling at
// the same instant, a fault that starts exactly on a sample would be seen at
// once, which no real deployment can count on.

// Baseline names.
const (
	PolicyOurs       = "ours"
	PolicyRoute53    = "route53"
	PolicyCloudflare = "cloudflare"
	PolicyNaive      = "naive"
)

// BaselinePeriod is the sampling interval of the route53 and cloudflare
// baselines: the fastest that each documents.
const BaselinePeriod = 10 * time.Second

const (
	route53Threshold = 3
	route53Healthy   = 0.18
)

// Service states used for the baselines' decisions.
const (
	stateHealthy    = "healthy"
	stateFailedOver = "failed_over"
	stateManual     = "manual"
)

// track records a policy's routing and the changes to it.
type track struct {
	targets   []string
	weights   []int
	state     string
	decisions []decision
}

type decision struct {
	at       time.Duration
	from, to string
	weights  []int
	// override: the change was an operator action (drill, pin, release),
	// never a false shift.
	override bool
}

func newTrack(targets []string) track {
	w := make([]int, len(targets))
	w[0] = 100
	return track{targets: targets, weights: w, state: stateHealthy}
}

// set applies weights at time at, recording a decision when they change.
func (k *track) set(at time.Duration, weights []int, state string, override bool) {
	if !slices.Equal(weights, k.weights) {
		k.decisions = append(k.decisions, decision{at: at, from: k.state, to: state, weights: slices.Clone(weights), override: override})
		copy(k.weights, weights)
	}
	k.state = state
}

// window is an override in force over [start, end) on target.
type window struct {
	start, end time.Duration
	target     int
}

// overrideWindows turns the scenario's operator actions into windows: a new
// override replaces the one in force, a release ends it, a drill (and a pin
// with for) expires by itself.
func overrideWindows(sc *Scenario, targets []string) []window {
	ovs := slices.Clone(sc.Overrides)
	slices.SortStableFunc(ovs, func(a, b Override) int { return cmpDur(a.At, b.At) })
	var out []window
	for _, o := range ovs {
		if n := len(out); n > 0 && out[n-1].end > o.At {
			out[n-1].end = o.At
			if out[n-1].end <= out[n-1].start {
				out = out[:n-1]
			}
		}
		if o.Kind == OverrideRelease {
			continue
		}
		end := sc.Duration
		if o.For > 0 {
			end = min(o.At+o.For, sc.Duration)
		}
		out = append(out, window{start: o.At, end: end, target: slices.Index(targets, o.To)})
	}
	return out
}

func cmpDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type baseline struct {
	track
	kind    string
	nv, nt  int
	windows []window
	own     int // the target the policy itself chooses
	// 10 s samplers
	period time.Duration
	next   []time.Duration // next sample time per vantage
	fails  []int           // per cell: consecutive failed samples
	oks    []int           // per cell: consecutive good samples
	up     []bool          // per cell: what the checker says
	// naive
	good []bool // per target
	// scratch
	events []bEvent
	wts    []int
}

type bEvent struct {
	at      time.Duration
	vantage int // -1: an override boundary
}

func newBaseline(kind string, w *world, windows []window) *baseline {
	b := &baseline{
		track: newTrack(w.targets), kind: kind, nv: w.nv, nt: w.nt, windows: windows,
		wts: make([]int, w.nt),
	}
	switch kind {
	case PolicyNaive:
		b.good = make([]bool, w.nt)
		for i := range b.good {
			b.good[i] = true
		}
	default:
		b.period = BaselinePeriod
		b.next = make([]time.Duration, w.nv)
		for v := range b.next {
			b.next[v] = time.Duration(int64(v) * int64(b.period) / int64(w.nv))
		}
		b.fails = make([]int, w.nv*w.nt)
		b.oks = make([]int, w.nv*w.nt)
		b.up = make([]bool, w.nv*w.nt)
		for i := range b.up {
			b.up[i] = true
		}
	}
	return b
}

// round handles the policy's own events in [t, next) with the outcomes of
// the round at t.
func (b *baseline) round(t, next time.Duration, out []Outcome) {
	b.events = b.events[:0]
	for _, wd := range b.windows {
		if wd.start >= t && wd.start < next {
			b.events = append(b.events, bEvent{wd.start, -1})
		}
		if wd.end >= t && wd.end < next {
			b.events = append(b.events, bEvent{wd.end, -1})
		}
	}
	if b.kind == PolicyNaive {
		b.events = append(b.events, bEvent{t, -2})
	} else {
		for v := range b.next {
			for b.next[v] < next {
				b.events = append(b.events, bEvent{b.next[v], v})
				b.next[v] += b.period
			}
		}
	}
	slices.SortStableFunc(b.events, func(x, y bEvent) int { return cmpDur(x.at, y.at) })
	for i := 0; i < len(b.events); {
		at := b.events[i].at
		for ; i < len(b.events) && b.events[i].at == at; i++ {
			switch v := b.events[i].vantage; {
			case v == -2:
				b.naiveSample(out)
			case v >= 0:
				b.sample(v, out)
			}
		}
		b.decide(at)
	}
}

func (b *baseline) naiveSample(out []Outcome) {
	for t := range b.nt {
		reported, failed := false, false
		for v := range b.nv {
			switch o := out[v*b.nt+t]; {
			case o == OutcomeMissing:
			case o.Failed():
				reported, failed = true, true
			default:
				reported = true
			}
		}
		if reported {
			b.good[t] = !failed
		}
	}
}

func (b *baseline) sample(v int, out []Outcome) {
	for t := range b.nt {
		c := v*b.nt + t
		o := out[c]
		if o == OutcomeMissing {
			continue
		}
		if b.kind == PolicyCloudflare {
			b.up[c] = !o.Failed()
			continue
		}
		if o.Failed() {
			b.fails[c]++
			b.oks[c] = 0
			if b.fails[c] >= route53Threshold {
				b.up[c] = false
			}
		} else {
			b.oks[c]++
			b.fails[c] = 0
			if b.oks[c] >= route53Threshold {
				b.up[c] = true
			}
		}
	}
}

// healthy says what the policy thinks of target t.
func (b *baseline) healthy(t int) bool {
	if b.kind == PolicyNaive {
		return b.good[t]
	}
	up := 0
	for v := range b.nv {
		if b.up[v*b.nt+t] {
			up++
		}
	}
	if b.kind == PolicyRoute53 {
		return float64(up) > route53Healthy*float64(b.nv)
	}
	return 2*up > b.nv
}

func (b *baseline) decide(at time.Duration) {
	chosen := -1
	for t := range b.nt {
		if b.healthy(t) {
			chosen = t
			break
		}
	}
	if chosen < 0 {
		switch b.kind {
		case PolicyRoute53:
			chosen = 0 // fails open: all treated as healthy
		case PolicyCloudflare:
			chosen = b.nt - 1 // the fallback pool
		default:
			chosen = b.own // naive stays put
		}
	}
	b.own = chosen
	target, state, override := chosen, stateHealthy, false
	if chosen != 0 {
		state = stateFailedOver
	}
	if wd, ok := b.overrideAt(at); ok {
		target, state = wd.target, stateManual
	}
	if b.state == stateManual || state == stateManual {
		override = true // the start, the end, or a change of an override
	}
	clear(b.wts)
	b.wts[target] = 100
	b.set(at, b.wts, state, override)
}

func (b *baseline) overrideAt(at time.Duration) (window, bool) {
	for _, wd := range b.windows {
		if at >= wd.start && at < wd.end && wd.target >= 0 {
			return wd, true
		}
	}
	return window{}, false
}
