package health

import (
	"time"

	"github.com/failoverhq/failover/internal/probe"
)

// Status is a target's verdict (CONTRACT §4 "health").
type Status string

// The verdicts.
const (
	Healthy   Status = "healthy"
	Unhealthy Status = "unhealthy"
	Unknown   Status = "unknown"
)

// VantageState is what one vantage currently says about one target.
type VantageState string

// The per-vantage states. StatePending is the state of a fresh pair that has
// reached neither the rise nor the fall threshold yet.
const (
	StateUp      VantageState = "up"
	StateDown    VantageState = "down"
	StatePending VantageState = "unknown"
)

// Verdicts is the outcome of one Evaluate.
type Verdicts struct {
	Service string
	At      time.Time
	// Live counts the live vantages that are not impaired.
	Live int
	// Impaired lists the impaired vantages, sorted.
	Impaired []string
	// Targets has one verdict per target, in config order.
	Targets []Verdict
	// Notices reports vantages that became impaired or recovered during this
	// Evaluate; the caller records each as an event of type "vantage".
	Notices []Notice
}

// Target returns the verdict of the named target.
func (v Verdicts) Target(name string) (Verdict, bool) {
	for i := range v.Targets {
		if v.Targets[i].Target == name {
			return v.Targets[i], true
		}
	}
	return Verdict{}, false
}

// Status returns the named target's status, Unknown when it has none.
func (v Verdicts) Status(name string) Status {
	if vd, ok := v.Target(name); ok {
		return vd.Status
	}
	return Unknown
}

// Verdict is one target's verdict with the evidence behind it.
type Verdict struct {
	Target string
	Role   string
	Status Status
	// Suspect: not unhealthy, but failing somewhere (see the package doc).
	Suspect bool
	// Reason says in words why the verdict is what it is.
	Reason string
	// Counted is the number of vantages the quorum was taken over (fresh and
	// not impaired); Up, Down and Failing count among them the vantages
	// that call the target up, down, and whose latest result failed.
	Counted, Up, Down, Failing int
	// FailingSince is the earliest start of a current failing run among the
	// counted vantages; zero when none is failing.
	FailingSince time.Time
	// LastError is the newest failure seen by any vantage, live or not.
	LastError   string
	LastErrorAt time.Time
	// Vantages is the evidence of every vantage that ever probed the target,
	// sorted by vantage name.
	Vantages []VantageEvidence
}

// VantageEvidence is what one vantage saw of one target.
type VantageEvidence struct {
	Vantage  string
	State    VantageState
	Live     bool // the newest result is fresh
	Impaired bool // the vantage is impaired, so it is not counted
	// The newest result.
	OK        bool
	Class     probe.Class
	LatencyMs float64
	At        time.Time
	// OKRun and FailRun are the current consecutive good and failed rounds.
	OKRun, FailRun int
	// FailingSince is when the current failing run started.
	FailingSince time.Time
	LastError    string
	// WindowRounds is how many of the last FlapWindow(fall) rounds the pair
	// has seen (the window is full when it reaches FlapWindow), and
	// WindowFailed how many of them failed.
	WindowRounds, WindowFailed int
	// Flapping: the window shows a flap, that is at least fall failed rounds
	// in at least two separate failing runs (see the package doc). It makes
	// the target Suspect at quorum; the pair is called down by the flap rule
	// once the window is full and at least FlapRatio of it failed.
	Flapping bool
}

// Counts reports whether the vantage's evidence counts towards the quorum.
func (e VantageEvidence) Counts() bool { return e.Live && !e.Impaired }

// Names returns the counted vantages in state s, sorted.
func (v Verdict) Names(s VantageState) []string { return v.namesIn(s) }

func (v Verdict) namesIn(s VantageState) []string {
	var out []string
	for _, e := range v.Vantages {
		if e.Counts() && e.State == s {
			out = append(out, e.Vantage)
		}
	}
	return out
}

// FailingVantages returns the counted vantages whose newest result failed.
func (v Verdict) FailingVantages() []string {
	var out []string
	for _, e := range v.Vantages {
		if e.Counts() && !e.OK {
			out = append(out, e.Vantage)
		}
	}
	return out
}

// Classes counts the failure classes of the counted vantages' newest
// results; nil when none failed.
func (v Verdict) Classes() map[probe.Class]int {
	var out map[probe.Class]int
	for _, e := range v.Vantages {
		if e.Counts() && !e.OK {
			if out == nil {
				out = make(map[probe.Class]int)
			}
			out[e.Class]++
		}
	}
	return out
}

// Notice reports a vantage that became impaired or recovered.
type Notice struct {
	Vantage  string
	Impaired bool // true: became impaired; false: recovered
	At       time.Time
	Targets  []string // the targets it failed, or the one it sees ok again
	Message  string
}
