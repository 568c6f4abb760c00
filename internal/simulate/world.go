package simulate

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// world is a scenario compiled against a service: what every probe sees at
// any time, and the ground truth.
//
// The timeline is cut into segments at every entry's at and until. Within a
// segment every (vantage, target) cell has one winning entry (the last in
// file order that applies), so lookups per round are O(cells), whatever the
// length of the timeline.
type world struct {
	targets  []string // fallback order: primary, backups, origin
	vantages []string
	nv, nt   int
	interval time.Duration
	duration time.Duration
	quorum   float64
	loss     float64
	seed     int64
	entries  []cEntry
	segs     []segment
	truth    []truthSeg
}

type cEntry struct {
	start, end time.Duration // end = duration when open-ended
	outcome    Outcome
	flap       time.Duration
	probeSide  bool
}

type segment struct {
	start   time.Duration
	winners []int32 // per cell (v*nt + t): entry index, -1 for none (ok)
}

// truthSeg is the ground truth from start to the next segment's start: bit t
// of down is set when target t is down at quorum.
type truthSeg struct {
	start time.Duration
	down  uint64
}

// fault is a period during which the primary is down at quorum (ground truth).
type fault struct {
	start, end time.Duration
	ended      bool
}

const maxTargets = 64

func newWorld(sc *Scenario, targets []string, interval time.Duration, quorum float64) (*world, error) {
	w := &world{
		targets: targets, vantages: sc.Vantages,
		nv: len(sc.Vantages), nt: len(targets),
		interval: interval, duration: sc.Duration, quorum: quorum,
		loss: sc.Noise.Loss, seed: sc.Seed,
	}
	if w.nt == 0 || w.nt > maxTargets {
		return nil, fmt.Errorf("service has %d targets; the simulator handles 1 to %d", w.nt, maxTargets)
	}
	if n := rounds(w.duration, interval) * int64(w.nv) * int64(w.nt); n > MaxProbes {
		return nil, &ScenarioError{Problems: []Problem{{Path: "duration", Message: fmt.Sprintf("%s at %s with %d vantages and %d targets is %d probes, more than the limit of %d", w.duration, interval, w.nv, w.nt, n, MaxProbes)}}}
	}
	tIndex := make(map[string]int, w.nt)
	for i, t := range targets {
		tIndex[t] = i
	}
	vIndex := make(map[string]int, w.nv)
	for i, v := range sc.Vantages {
		vIndex[v] = i
	}
	var problems []Problem
	cells := make([][]int, len(sc.Timeline)) // cells each entry applies to
	for i, e := range sc.Timeline {
		var ts []int
		if e.AllTargets {
			for t := range targets {
				ts = append(ts, t)
			}
		} else {
			for _, name := range e.Targets {
				t, ok := tIndex[name]
				if !ok {
					problems = append(problems, Problem{Path: fmt.Sprintf("timeline[%d].targets", i), Message: fmt.Sprintf("unknown target %q (the service has %v)", name, targets)})
					continue
				}
				ts = append(ts, t)
			}
		}
		vs := make([]int, 0, w.nv)
		if e.Vantages == nil {
			for v := range w.nv {
				vs = append(vs, v)
			}
		} else {
			for _, name := range e.Vantages {
				vs = append(vs, vIndex[name]) // checked by ParseScenario
			}
		}
		for _, v := range vs {
			for _, t := range ts {
				cells[i] = append(cells[i], v*w.nt+t)
			}
		}
		end := w.duration
		if e.HasUntil {
			end = min(e.Until, w.duration)
		}
		w.entries = append(w.entries, cEntry{
			start: e.At, end: end, outcome: e.Outcome, flap: e.Flap,
			// A probe-side fault: the entry fails every target, at some
			// vantages but not all. The same at every vantage is
			// indistinguishable from everything being down, and is taken
			// as such.
			probeSide: len(ts) == w.nt && len(vs) < w.nv && e.Outcome.Failed(),
		})
	}
	for i, o := range sc.Overrides {
		if o.To != "" {
			if _, ok := tIndex[o.To]; !ok {
				problems = append(problems, Problem{Path: fmt.Sprintf("overrides[%d].to", i), Message: fmt.Sprintf("unknown target %q (the service has %v)", o.To, targets)})
			}
		}
	}
	if len(problems) > 0 {
		return nil, &ScenarioError{Problems: problems}
	}
	w.compile(cells)
	return w, nil
}

// maxHeap of entry indices.
type maxHeap []int32

func (h maxHeap) Len() int           { return len(h) }
func (h maxHeap) Less(i, j int) bool { return h[i] > h[j] }
func (h maxHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *maxHeap) Push(x any)        { *h = append(*h, x.(int32)) }
func (h *maxHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// compile sweeps the entries' starts and ends in time order, keeping per cell
// a max-heap of the active entries (removal is lazy), and records each
// segment's winners and ground truth.
func (w *world) compile(cells [][]int) {
	ncell := w.nv * w.nt
	type event struct {
		at    time.Duration
		entry int32
		start bool
	}
	var events []event
	for i, e := range w.entries {
		if e.start >= e.end {
			continue
		}
		events = append(events, event{e.start, int32(i), true}, event{e.end, int32(i), false})
	}
	slices.SortStableFunc(events, func(a, b event) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	})
	heaps := make([]maxHeap, ncell)
	active := make([]bool, len(w.entries))
	cur := make([]int32, ncell)
	for i := range cur {
		cur[i] = -1
	}
	emit := func(at time.Duration) {
		if at >= w.duration {
			return
		}
		if n := len(w.segs); n > 0 && w.segs[n-1].start == at {
			w.segs = w.segs[:n-1]
			w.truth = w.truth[:len(w.truth)-1]
		}
		if n := len(w.segs); n > 0 && slices.Equal(w.segs[n-1].winners, cur) {
			return
		}
		seg := segment{start: at, winners: slices.Clone(cur)}
		w.segs = append(w.segs, seg)
		w.truth = append(w.truth, truthSeg{start: at, down: w.truthOf(seg.winners)})
	}
	emit(0)
	for i := 0; i < len(events); {
		at := events[i].at
		for ; i < len(events) && events[i].at == at; i++ {
			ev := events[i]
			active[ev.entry] = ev.start
			for _, c := range cells[ev.entry] {
				if ev.start {
					heap.Push(&heaps[c], ev.entry)
				}
			}
		}
		// Recompute the winners of the cells touched at this instant.
		for j := i - 1; j >= 0 && events[j].at == at; j-- {
			for _, c := range cells[events[j].entry] {
				h := &heaps[c]
				for h.Len() > 0 && !active[(*h)[0]] {
					heap.Pop(h)
				}
				if h.Len() > 0 {
					cur[c] = (*h)[0]
				} else {
					cur[c] = -1
				}
			}
		}
		emit(at)
	}
}

// truthOf computes which targets are down at quorum given the cells'
// winning entries. It ignores noise; it leaves out the vantages whose cell is
// missing or under a probe-side fault; a flapping entry counts as its outcome
// for the whole of its window (a target that fails half of its answers is
// not healthy). A target no vantage reports on is not down.
func (w *world) truthOf(winners []int32) uint64 {
	var down uint64
	for t := range w.nt {
		live, failed := 0, 0
		for v := range w.nv {
			o := OutcomeOK
			if e := winners[v*w.nt+t]; e >= 0 {
				ce := w.entries[e]
				if ce.probeSide {
					continue
				}
				o = ce.outcome
			}
			if o == OutcomeMissing {
				continue
			}
			live++
			if o.Failed() {
				failed++
			}
		}
		if live > 0 && float64(failed) >= w.quorum*float64(live)-1e-9 {
			down |= 1 << t
		}
	}
	return down
}

// faults returns the periods during which the primary (target 0) is down at
// quorum.
func (w *world) faults() []fault {
	var out []fault
	for i, s := range w.truth {
		isDown := s.down&1 != 0
		open := len(out) > 0 && !out[len(out)-1].ended
		switch {
		case isDown && !open:
			out = append(out, fault{start: s.start})
		case !isDown && open:
			out[len(out)-1].end, out[len(out)-1].ended = w.truth[i].start, true
		}
	}
	return out
}

// downAt returns the truth bits at time at.
func (w *world) downAt(at time.Duration) uint64 {
	i, found := slices.BinarySearchFunc(w.truth, at, func(s truthSeg, at time.Duration) int {
		switch {
		case s.start < at:
			return -1
		case s.start > at:
			return 1
		}
		return 0
	})
	if !found {
		i--
	}
	if i < 0 {
		return 0
	}
	return w.truth[i].down
}

// prober yields the outcomes of each round in turn, with noise.
type prober struct {
	w     *world
	seg   int
	rng   *rand.Rand
	round []Outcome
}

func (w *world) prober() *prober {
	return &prober{
		w:     w,
		rng:   rand.New(rand.NewPCG(uint64(w.seed), 0x5eed_f417_0e7e)),
		round: make([]Outcome, w.nv*w.nt),
	}
}

// at fills and returns the outcomes (cell v*nt+t) of the round at time t.
// Calls must come in increasing time order. The slice is reused.
func (p *prober) at(t time.Duration) []Outcome {
	w := p.w
	for p.seg+1 < len(w.segs) && w.segs[p.seg+1].start <= t {
		p.seg++
	}
	winners := w.segs[p.seg].winners
	for c, e := range winners {
		o := OutcomeOK
		if e >= 0 {
			ce := &w.entries[e]
			o = ce.outcome
			if ce.flap > 0 && ((t-ce.start)/ce.flap)%2 == 1 {
				o = OutcomeOK
			}
		}
		if w.loss > 0 {
			// One draw per cell and round, whatever the outcome, so the
			// noise does not depend on the timeline.
			if p.rng.Float64() < w.loss && o == OutcomeOK {
				o = OutcomeTimeout
			}
		}
		p.round[c] = o
	}
	return p.round
}
