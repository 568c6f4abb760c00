package health

import (
	"errors"
	"fmt"
	"slices"
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

// Tracker holds the evidence of one service and turns it into verdicts. The
// zero value is not usable; call NewTracker.
type Tracker struct {
	service  string
	policy   config.Policy
	interval time.Duration
	targets  []targetInfo
	index    map[string]int // target name -> position in targets

	vantages []*vantage // sorted by name
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
	if r.OK {
		c.okRun++
		c.failRun = 0
		c.failingSince = time.Time{}
		if c.okRun >= t.policy.Rise {
			c.state = StateUp
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
	if c.failRun >= t.policy.Fall {
		c.state = StateDown
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
	for j := range v.cells {
		v.cells[j].state = StatePending
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
	failingLong := 0
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
	if vd.Status != Unhealthy && vd.Counted > 0 && (vd.Down > 0 || atLeast(failingLong, p.Quorum, vd.Counted)) {
		vd.Suspect = true
	}
	if vd.Failing == 0 {
		vd.FailingSince = time.Time{}
	}
	return vd
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
