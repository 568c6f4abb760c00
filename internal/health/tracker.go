package health

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"time"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/probe"
)

// Errors returned by Observe. The result was ignored in every case.
var (
	// ErrUnknownTarget: the result names a target the service does not have.
	ErrUnknownTarget = errors.New("health: unknown target")
	// ErrWrongService: the result belongs to another service.
	ErrWrongService = errors.New("health: result for another service")
	// ErrReplay: the result is not newer than the last one already seen for
	// its (target, vantage) pair.
	ErrReplay = errors.New("health: result not newer than the last one (replay)")
	// ErrNoVantage: the vantage name is empty.
	ErrNoVantage = errors.New("health: empty vantage name")
)

// StaleAfter is how many probe intervals a result stays fresh.
const StaleAfter = 3

// Flap detection (see the package doc): each (target, vantage) pair keeps its
// last FlapWindow(fall) rounds, and a window in which at least FlapRatio of
// the rounds failed, in at least two separate failing runs, is flapping.
const (
	// FlapWindowFalls is the flap window's length in units of fall: the
	// window holds the last FlapWindowFalls*fall rounds (12 at fall 3).
	FlapWindowFalls = 4
	// FlapRatio is the fraction of the window's rounds that must have failed
	// for the pair to count as flapping: at least half.
	FlapRatio = 0.5
)

// FlapWindow returns the number of rounds in the flap window for fall
// (FlapWindowFalls*fall, at least FlapWindowFalls).
func FlapWindow(fall int) int { return FlapWindowFalls * max(fall, 1) }

// FlapFailures returns how many of the window's rounds must have failed for
// a pair to count as flapping: FlapRatio of FlapWindow(fall), rounded up (6
// of 12 at fall 3).
func FlapFailures(fall int) int {
	return max(1, int(math.Ceil(FlapRatio*float64(FlapWindow(fall))-1e-9)))
}

// Tracker holds the evidence of one service and turns it into verdicts. The
// zero value is not usable; call NewTracker.
type Tracker struct {
	service  string
	policy   config.Policy
	interval time.Duration
	targets  []targetInfo
	index    map[string]int // target name -> position in targets

	vantages []*vantage // sorted by name

	// Flap window, derived from the policy: its length in rounds, the words
	// of its bitset, and the failures that make it flapping.
	flapWin, flapWords, flapMin int
}

type targetInfo struct {
	name string
	role string
}

type vantage struct {
	name          string
	cells         []cell // one per target, same order as Tracker.targets
	impaired      bool
	impairedSince time.Time
}

// cell is the evidence of one (target, vantage) pair.
type cell struct {
	have         bool
	last         probe.Result
	state        VantageState
	okRun        int
	failRun      int
	failingSince time.Time // start of the current failing run
	lastError    string
	lastErrorAt  time.Time
	// The flap window: hist holds the outcome of the last filled rounds, one
	// bit per round, newest in bit 0 of word 0, set when the round failed.
	// winFails counts the set bits and winRuns the separate failing runs.
	hist     []uint64
	filled   int
	winFails int
	winRuns  int
	// flapDown: the pair went down by the flap rule rather than by fall
	// consecutive failures.
	flapDown bool
}

// push shifts the outcome of one round into the flap window of w rounds and
// recounts its failures and failing runs. It does not allocate.
func (c *cell) push(failed bool, w int) {
	var carry uint64
	if failed {
		carry = 1
	}
	h := c.hist
	for i := range h {
		next := h[i] >> 63
		h[i] = h[i]<<1 | carry
		carry = next
	}
	if r := uint(w % 64); r != 0 {
		h[len(h)-1] &= 1<<r - 1
	}
	if c.filled < w {
		c.filled++
	}
	fails, runs := 0, 0
	for i, x := range h {
		var older uint64 // bit k: round k+1 (one round older) failed
		if i+1 < len(h) {
			older = h[i+1] << 63
		}
		fails += bits.OnesCount64(x)
		runs += bits.OnesCount64(x &^ (x>>1 | older)) // the oldest round of each run
	}
	c.winFails, c.winRuns = fails, runs
}

// clearWindow forgets the flap window.
func (c *cell) clearWindow() {
	clear(c.hist)
	c.filled, c.winFails, c.winRuns, c.flapDown = 0, 0, 0, false
}

// unsteady reports whether the window's failures reach the flap threshold in
// at least two separate runs. A single run is an outage that has ended (or
// is still going on), which the rise/fall rule handles on its own.
func (t *Tracker) unsteady(c *cell) bool {
	return c.winFails >= t.flapMin && c.winRuns >= 2
}

// flapping reports whether the flap rule calls the pair down: the window is
// full and unsteady.
func (t *Tracker) flapping(c *cell) bool {
	return c.filled == t.flapWin && t.unsteady(c)
}

// warning reports whether the window shows an early flap, for Suspect: at
// least fall failures in at least two separate runs.
func (t *Tracker) warning(c *cell) bool {
	return c.winFails >= t.policy.Fall && c.winRuns >= 2
}

// NewTracker returns a tracker for svc whose vantages probe every interval.
// A non-positive interval is treated as 5s (the contract's default).
func NewTracker(svc config.Service, interval time.Duration) *Tracker {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	t := &Tracker{
		service:  svc.Name,
		policy:   EffectivePolicy(svc.Policy),
		interval: interval,
		index:    make(map[string]int, len(svc.Targets)),
	}
	t.flapWin = FlapWindow(t.policy.Fall)
	t.flapWords = (t.flapWin + 63) / 64
	t.flapMin = FlapFailures(t.policy.Fall)
	for _, tg := range svc.Targets {
		if _, dup := t.index[tg.Name]; dup {
			continue
		}
		t.index[tg.Name] = len(t.targets)
		t.targets = append(t.targets, targetInfo{name: tg.Name, role: tg.Role})
	}
	return t
}

// Policy returns the effective policy the tracker applies.
func (t *Tracker) Policy() config.Policy { return t.policy }

// Observe records one probe result of vantage. It returns an error, and
// changes nothing, for a result of an unknown target or another service, and
// for a replay (a result not newer than the pair's last one).
func (t *Tracker) Observe(vantageName string, r probe.Result) error {
	if vantageName == "" {
		return ErrNoVantage
	}
	if r.Service != "" && t.service != "" && r.Service != t.service {
		return fmt.Errorf("%w: %q, want %q", ErrWrongService, r.Service, t.service)
	}
	ti, ok := t.index[r.Target]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTarget, r.Target)
	}
	v := t.vantage(vantageName)
	c := &v.cells[ti]
	if c.have && !r.Time.After(c.last.Time) {
		return fmt.Errorf("%w: %s/%s at %s", ErrReplay, r.Target, vantageName, r.Time.Format(time.RFC3339Nano))
	}
	c.have = true
	c.last = r
	c.push(!r.OK, t.flapWin)
	if r.OK {
		c.okRun++
		c.failRun = 0
		c.failingSince = time.Time{}
		switch {
		case c.okRun >= t.policy.Rise && !t.unsteady(c):
			c.state, c.flapDown = StateUp, false
		case c.state != StateDown && t.flapping(c):
			// The window filled up on a good round.
			c.state, c.flapDown = StateDown, true
		}
		return nil
	}
	if c.failRun == 0 {
		c.failingSince = r.Time
	}
	c.failRun++
	c.okRun = 0
	c.lastError = describeFailure(r)
	c.lastErrorAt = r.Time
	if c.state != StateDown && (c.failRun >= t.policy.Fall || t.flapping(c)) {
		c.state, c.flapDown = StateDown, c.failRun < t.policy.Fall
	}
	return nil
}

// vantage returns the named vantage, creating it in sorted position.
func (t *Tracker) vantage(name string) *vantage {
	i, found := slices.BinarySearchFunc(t.vantages, name, func(v *vantage, n string) int {
		switch {
		case v.name < n:
			return -1
		case v.name > n:
			return 1
		}
		return 0
	})
	if found {
		return t.vantages[i]
	}
	v := &vantage{name: name, cells: make([]cell, len(t.targets))}
	hist := make([]uint64, len(t.targets)*t.flapWords)
	for j := range v.cells {
		v.cells[j].state = StatePending
		v.cells[j].hist = hist[j*t.flapWords : (j+1)*t.flapWords : (j+1)*t.flapWords]
	}
	t.vantages = slices.Insert(t.vantages, i, v)
	return v
}

func describeFailure(r probe.Result) string {
	class := r.Class
	if class == "" || class == probe.ClassOK {
		class = probe.ClassOther
	}
	if r.Error != "" {
		return string(class) + ": " + r.Error
	}
	if r.Status != 0 {
		return fmt.Sprintf("%s: status %d", class, r.Status)
	}
	return string(class)
}

func (t *Tracker) fresh(c *cell, now time.Time) bool {
	return c.have && now.Sub(c.last.Time) <= StaleAfter*t.interval
}

// Evaluate computes the verdict of every target at now. It also updates which
// vantages are impaired and reports each change in Verdicts.Notices.
func (t *Tracker) Evaluate(now time.Time) Verdicts {
	out := Verdicts{Service: t.service, At: now}
	out.Notices = t.updateImpaired(now)

	for _, v := range t.vantages {
		if v.impaired {
			out.Impaired = append(out.Impaired, v.name)
			continue
		}
		for j := range v.cells {
			if t.fresh(&v.cells[j], now) {
				out.Live++
				break
			}
		}
	}

	out.Targets = make([]Verdict, len(t.targets))
	for i := range t.targets {
		out.Targets[i] = t.verdict(i, now)
	}
	return out
}

// updateImpaired marks and clears impaired vantages (see the package doc).
func (t *Tracker) updateImpaired(now time.Time) []Notice {
	var notices []Notice
	for _, v := range t.vantages {
		if v.impaired {
			if ok, target := t.seesAnyOK(v, now); ok {
				v.impaired = false
				for j := range v.cells {
					c := &v.cells[j]
					c.state, c.okRun, c.failRun, c.failingSince = StatePending, 0, 0, time.Time{}
					c.clearWindow() // its failures were the vantage's own
				}
				notices = append(notices, Notice{
					Vantage: v.name, Impaired: false, At: now, Targets: []string{target},
					Message: fmt.Sprintf("vantage %s recovered: it sees %s ok again (impaired since %s)",
						v.name, target, v.impairedSince.Format(time.RFC3339)),
				})
				v.impairedSince = time.Time{}
			}
			continue
		}
		if failed, classes := t.failsEverything(v, now); failed != nil {
			v.impaired = true
			v.impairedSince = now
			notices = append(notices, Notice{
				Vantage: v.name, Impaired: true, At: now, Targets: failed,
				Message: fmt.Sprintf("vantage %s impaired: it fails every target it probes (%s: %s) while other vantages see them up; excluded from quorum",
					v.name, joinNames(failed), classes),
			})
		}
	}
	return notices
}

func (t *Tracker) seesAnyOK(v *vantage, now time.Time) (bool, string) {
	for j := range v.cells {
		c := &v.cells[j]
		if t.fresh(c, now) && c.last.OK {
			return true, t.targets[j].name
		}
	}
	return false, ""
}

// failsEverything returns the targets v fails when v qualifies as impaired,
// and a summary of the failure classes; nil when it does not qualify.
func (t *Tracker) failsEverything(v *vantage, now time.Time) ([]string, string) {
	var failed []string
	var classes []string
	for j := range v.cells {
		c := &v.cells[j]
		if !t.fresh(c, now) {
			continue
		}
		if c.last.OK {
			return nil, ""
		}
		if !t.othersSeeOK(v, j, c.failingSince, now) {
			return nil, ""
		}
		failed = append(failed, t.targets[j].name)
		cl := string(c.last.Class)
		if cl == "" {
			cl = string(probe.ClassOther)
		}
		if !slices.Contains(classes, cl) {
			classes = append(classes, cl)
		}
	}
	if len(failed) < 2 {
		return nil, ""
	}
	return failed, joinNames(classes)
}

// othersSeeOK reports whether the counted vantages other than self (at
// least one) see target j good by the quorum rule, with results no older
// than since: they saw it ok while self was failing it. Requiring results
// from after self's first failure keeps an outage that reaches the vantages
// one after the other from looking like a probe-side fault.
func (t *Tracker) othersSeeOK(self *vantage, j int, since, now time.Time) bool {
	n, ok := 0, 0
	for _, o := range t.vantages {
		if o == self || o.impaired {
			continue
		}
		c := &o.cells[j]
		if !t.fresh(c, now) {
			continue
		}
		n++
		if c.last.OK && !c.last.Time.Before(since) {
			ok++
		}
	}
	return n > 0 && moreThan(ok, 1-t.policy.Quorum, n)
}

// atLeast reports k >= q*n, with a tolerance for float rounding.
func atLeast(k int, q float64, n int) bool { return float64(k) >= q*float64(n)-1e-9 }

// moreThan reports k > q*n, with a tolerance for float rounding.
func moreThan(k int, q float64, n int) bool { return float64(k) > q*float64(n)+1e-9 }

func (t *Tracker) verdict(j int, now time.Time) Verdict {
	p := t.policy
	ti := t.targets[j]
	vd := Verdict{Target: ti.name, Role: ti.role, Status: Unknown,
		Vantages: make([]VantageEvidence, 0, len(t.vantages))}
	suspectRun := (p.Fall + 1) / 2
	// warned: counted vantages whose window shows a flap; flapDown: those
	// of them that the flap rule calls or holds down.
	failingLong, warned, flapDown := 0, 0, 0
	for _, v := range t.vantages {
		c := &v.cells[j]
		if !c.have {
			continue
		}
		live := t.fresh(c, now)
		ev := VantageEvidence{
			Vantage:      v.name,
			State:        c.state,
			Live:         live,
			Impaired:     v.impaired,
			OK:           c.last.OK,
			Class:        c.last.Class,
			LatencyMs:    c.last.LatencyMs,
			At:           c.last.Time,
			OKRun:        c.okRun,
			FailRun:      c.failRun,
			FailingSince: c.failingSince,
			LastError:    c.lastError,
			WindowRounds: c.filled,
			WindowFailed: c.winFails,
			Flapping:     t.warning(c),
		}
		if ev.Class == "" {
			if ev.OK {
				ev.Class = probe.ClassOK
			} else {
				ev.Class = probe.ClassOther
			}
		}
		vd.Vantages = append(vd.Vantages, ev)
		if c.lastErrorAt.After(vd.LastErrorAt) {
			vd.LastError, vd.LastErrorAt = c.lastError, c.lastErrorAt
		}
		if !live || v.impaired {
			continue
		}
		vd.Counted++
		if ev.Flapping {
			warned++
			if c.state == StateDown && (c.flapDown || t.unsteady(c)) {
				flapDown++
			}
		}
		switch c.state {
		case StateUp:
			vd.Up++
		case StateDown:
			vd.Down++
		}
		if !c.last.OK {
			vd.Failing++
			if c.failRun >= suspectRun {
				failingLong++
			}
			if vd.FailingSince.IsZero() || c.failingSince.Before(vd.FailingSince) {
				vd.FailingSince = c.failingSince
			}
		}
	}

	pending := vd.Counted - vd.Up - vd.Down
	switch {
	case vd.Counted < p.MinVantages:
		vd.Reason = fmt.Sprintf("insufficient data: %d live vantage(s), need %d", vd.Counted, p.MinVantages)
	case atLeast(vd.Down, p.Quorum, vd.Counted):
		vd.Status = Unhealthy
		vd.Reason = fmt.Sprintf("%d of %d live vantages down (%s; quorum %g)",
			vd.Down, vd.Counted, joinNames(vd.namesIn(StateDown)), p.Quorum)
	case moreThan(vd.Up, 1-p.Quorum, vd.Counted):
		vd.Status = Healthy
		vd.Reason = fmt.Sprintf("%d of %d live vantages up", vd.Up, vd.Counted)
		if vd.Down > 0 {
			vd.Reason += fmt.Sprintf(", %d down (%s)", vd.Down, joinNames(vd.namesIn(StateDown)))
		}
	default:
		vd.Reason = fmt.Sprintf("no quorum either way: %d up, %d down, %d pending of %d live vantages",
			vd.Up, vd.Down, pending, vd.Counted)
	}
	flapQuorum := warned > 0 && atLeast(warned, p.Quorum, vd.Counted)
	if vd.Status != Unhealthy && vd.Counted > 0 &&
		(vd.Down > 0 || atLeast(failingLong, p.Quorum, vd.Counted) || flapQuorum) {
		vd.Suspect = true
	}
	if flapDown > 0 || flapQuorum {
		vd.Reason += vd.flapReason()
	}
	if vd.Failing == 0 {
		vd.FailingSince = time.Time{}
	}
	return vd
}

// flapReason describes the counted vantages whose flap window shows a flap:
// "; flapping: a 6 of 12 rounds failed, b 7 of 12 rounds failed".
func (v *Verdict) flapReason() string {
	b := []byte("; flapping: ")
	first := true
	for _, e := range v.Vantages {
		if !e.Counts() || !e.Flapping {
			continue
		}
		if !first {
			b = append(b, ", "...)
		}
		first = false
		b = append(b, e.Vantage...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(e.WindowFailed), 10)
		b = append(b, " of "...)
		b = strconv.AppendInt(b, int64(e.WindowRounds), 10)
		b = append(b, " rounds failed"...)
	}
	return string(b)
}

func joinNames(names []string) string {
	switch len(names) {
	case 0:
		return "none"
	case 1:
		return names[0]
	}
	n := 0
	for _, s := range names {
		n += len(s) + 2
	}
	b := make([]byte, 0, n)
	for i, s := range names {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, s...)
	}
	return string(b)
}
