// Scenario files (CONTRACT §7).
//
// A scenario describes, on a fake clock, what every probe of one service sees,
// and optionally what operators do. Everything is ok unless the timeline says
// otherwise:
//
//	name: hard-outage
//	service: www                  # a service of the config; its policy is used...
//	policy: {fall: 3}             # ...with these fields overridden (failback.steps replaces the list)
//	vantages: [a, b, c, d, e]     # 1 to 64 vantage names
//	interval: 1s                  # probe round interval, >= 100ms (default: the config's probes.interval)
//	duration: 15m                 # > 0 and <= 7 days
//	seed: 42                      # seeds the noise
//	noise: {loss: 0.02}           # this fraction of probes fail at random, class timeout
//	sim: {warmup: 1s, hooks: 1s}  # how long a warm-up and a before_shift hook take (default 1s each)
//	timeline:
//	  - {at: 60s, target: primary, outcome: refused, until: 360s}      # all vantages
//	  - {at: 60s, target: primary, vantages: [a], outcome: refused}     # open-ended
//	  - {at: 0s, vantage: e, targets: all, outcome: timeout, until: 2m} # probe-side fault at e
//	  - {at: 10m, targets: [primary, backup], outcome: http_status, flap: 1s, until: 20m}
//	overrides:
//	  - {at: 60s, kind: drill, to: backup, for: 5m, reason: game day}
//	  - {at: 10m, kind: pin, to: origin}            # for: optional; without it, until released
//	  - {at: 12m, kind: release}
//	expect: {max_shifts: 2, failover_within: 5s}
//
// Timeline entries. An entry applies to the targets it names (`target: X`,
// `targets: [X, Y]` or `targets: all`) as seen from the vantages it names
// (`vantage: a`, `vantages: [a, b]`, default all), from `at` on, until `until`
// when it is given (exclusive) and to the end of the scenario otherwise. At a
// given time the outcome of one (vantage, target) pair is the outcome of the
// LAST entry, in file order, that applies to it then; with none, it is ok. So
// later entries override earlier ones where they overlap, and an entry can end
// an earlier open-ended one (`outcome: ok`).
//
// An outcome is `ok`, a failure class of CONTRACT §4 (dns refused
// connect_timeout tls timeout reset http_status body_mismatch slow
// cert_expiring other) or `missing`: the vantage sends nothing for that target,
// as when an agent dies. With `flap: P` the entry alternates between its
// outcome and ok every P, starting with its outcome at `at`.
//
// Noise. `noise.loss` makes that fraction of the probes that would have sent a
// result fail instead, with class timeout, drawn from a generator seeded by
// `seed`, so every replay of a file sees the same noise and every policy sees
// the same probes.
//
// Overrides replay operator actions (CONTRACT §1 drill, pin, release) at the
// given time. `kind: drill` needs `to` and `for` and reverts by itself;
// `kind: pin` needs `to` and takes an optional `for`; `kind: release` takes
// neither. `reason` (default "scenario") and `force` (default false, to drill
// or pin onto an unhealthy target) are optional. The baselines apply the same
// operator actions: an operator can point Route 53 or Cloudflare at a target
// by hand too, and this keeps the comparison about automatic decisions.
//
// Expectations apply to `ours`, the real engine:
//
//	max_shifts             at most this many routing changes
//	max_false_shifts       at most this many false shifts (see metrics.go)
//	max_unhealthy_seconds  at most this many unhealthy seconds
//	failover_within        every fault that takes the primary down at quorum is
//	                       detected (weight leaves the primary) within this
//	recovery_within        after every such fault that ends, all weight is back
//	                       on the primary within this (a fault followed by the
//	                       next one, or by the end, within this is not judged)
//	frozen                 true: the engine enters frozen and writes no routing
//	                       while frozen; false: it never enters frozen
//
// Limits are errors, never panics or exhaustion: the file is at most 8 MiB,
// duration at most 7 days, interval at least 100ms, at most 64 vantages,
// 10,000 timeline entries and 1,000 overrides, and rounds × vantages × targets
// at most 50,000,000 probes. YAML aliases and merge keys are refused. Every
// problem is reported with its path, for example
// `timeline[2].outcome: unknown outcome "refsed"`.
package simulate

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/failoverhq/failover/internal/probe"
)

// Limits on a scenario file.
const (
	MaxScenarioBytes = 8 << 20
	MaxDuration      = 7 * 24 * time.Hour
	MinInterval      = 100 * time.Millisecond
	MaxVantages      = 64
	MaxTimeline      = 10000
	MaxOverrides     = 1000
	MaxProbes        = 50_000_000
	maxProblems      = 50
	maxSimDelay      = time.Hour
)

// Outcome is what one probe sees: ok, a failure class, or missing.
type Outcome uint8

// Outcomes. The failure classes follow probe.Classes after ok.
const (
	OutcomeOK Outcome = iota
	OutcomeDNS
	OutcomeRefused
	OutcomeConnectTimeout
	OutcomeTLS
	OutcomeTimeout
	OutcomeReset
	OutcomeHTTPStatus
	OutcomeBodyMismatch
	OutcomeSlow
	OutcomeCertExpiring
	OutcomeOther
	OutcomeMissing
)

// outcomeNames is indexed by Outcome; the classes are probe.Classes in order.
var outcomeNames = func() []string {
	names := make([]string, 0, len(probe.Classes)+1)
	for _, c := range probe.Classes {
		names = append(names, string(c))
	}
	return append(names, "missing")
}()

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Class is the probe class of a sent result; it is meaningless for missing.
func (o Outcome) Class() probe.Class { return probe.Classes[o] }

// Failed reports whether a probe with this outcome sent a failed result.
func (o Outcome) Failed() bool { return o != OutcomeOK && o != OutcomeMissing }

// ParseOutcome returns the outcome with the given name.
func ParseOutcome(s string) (Outcome, bool) {
	for i, n := range outcomeNames {
		if n == s {
			return Outcome(i), true
		}
	}
	return 0, false
}

// Scenario is a parsed scenario file. Durations are offsets from the start.
type Scenario struct {
	Name     string
	Service  string
	Policy   PolicyOverride
	Vantages []string
	// Interval is zero when the file does not set it: Run then uses the
	// config's probes.interval.
	Interval  time.Duration
	Duration  time.Duration
	Seed      int64
	Noise     Noise
	Sim       SimOptions
	Timeline  []Entry
	Overrides []Override
	Expect    Expect
}

// PolicyOverride holds the policy fields a scenario sets; nil means unset.
type PolicyOverride struct {
	Fall             *int
	Rise             *int
	Quorum           *float64
	MinVantages      *int
	RecoverAfter     *time.Duration
	FailbackSteps    []int
	FailbackHold     *time.Duration
	MaxShiftsPerHour *int
}

// Noise is random probe loss.
type Noise struct {
	Loss float64
}

// SimOptions are how long simulated side effects take.
type SimOptions struct {
	Warmup time.Duration
	Hooks  time.Duration
}

// Entry is one timeline entry.
type Entry struct {
	At       time.Duration
	Until    time.Duration // 0 when open-ended (HasUntil false)
	HasUntil bool
	// Targets lists the targets; nil with AllTargets for `targets: all`.
	Targets    []string
	AllTargets bool
	// Vantages lists the vantages; nil means all of the scenario's.
	Vantages []string
	Outcome  Outcome
	Flap     time.Duration
}

// Override kinds.
const (
	OverrideDrill   = "drill"
	OverridePin     = "pin"
	OverrideRelease = "release"
)

// Override is an operator action replayed at a time.
type Override struct {
	At     time.Duration
	Kind   string // drill | pin | release
	To     string
	For    time.Duration // 0: no expiry (pin) / unset
	Reason string
	Force  bool
}

// Expect holds the expectations on `ours`; nil means not checked.
type Expect struct {
	MaxShifts           *int
	MaxFalseShifts      *int
	MaxUnhealthySeconds *float64
	FailoverWithin      *time.Duration
	RecoveryWithin      *time.Duration
	Frozen              *bool
}

// Problem is one thing wrong with a scenario, at a path such as
// "timeline[2].outcome".
type Problem struct {
	Path    string
	Message string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ScenarioError lists every problem found in a scenario, in file order.
type ScenarioError struct {
	Problems []Problem
	// More counts problems left out beyond the first few dozen.
	More int
}

func (e *ScenarioError) Error() string {
	lines := make([]string, 0, len(e.Problems)+1)
	for _, p := range e.Problems {
		lines = append(lines, p.String())
	}
	if e.More > 0 {
		lines = append(lines, fmt.Sprintf("... and %d more problems", e.More))
	}
	return strings.Join(lines, "\n")
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ParseScenario decodes and checks a scenario file strictly: unknown keys,
// wrong types and values out of range are errors, all reported at once as a
// *ScenarioError. Target names are checked against the service by Run.
func ParseScenario(data []byte) (*Scenario, error) {
	if len(data) > MaxScenarioBytes {
		return nil, &ScenarioError{Problems: []Problem{{Message: fmt.Sprintf("scenario is %d bytes, more than the limit of %d", len(data), MaxScenarioBytes)}}}
	}
	var doc yaml.Node
	if err := safeUnmarshal(data, &doc); err != nil {
		return nil, &ScenarioError{Problems: []Problem{{Message: "yaml: " + strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &ScenarioError{Problems: []Problem{{Message: "empty scenario"}}}
	}
	d := &decoder{}
	sc := d.scenario(doc.Content[0])
	if err := d.err(); err != nil {
		return nil, err
	}
	return sc, nil
}

// safeUnmarshal turns a panic inside the YAML library into an error: a
// hostile file must never take the process down.
func safeUnmarshal(data []byte, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot parse: %v", r)
		}
	}()
	return yaml.Unmarshal(data, n)
}

type decoder struct {
	problems []Problem
	more     int
	paths    map[string]bool // every path with a problem, kept or not
}

func (d *decoder) add(path, format string, args ...any) {
	if d.paths == nil {
		d.paths = map[string]bool{}
	}
	d.paths[path] = true
	if len(d.problems) >= maxProblems {
		d.more++
		return
	}
	d.problems = append(d.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (d *decoder) err() error {
	if len(d.problems) == 0 {
		return nil
	}
	return &ScenarioError{Problems: d.problems, More: d.more}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// kindName names a node kind for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// usable refuses aliases and anchors-by-reference, which scenarios do not need
// and which would let a small file describe a huge one.
func (d *decoder) usable(path string, n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		d.add(path, "YAML aliases are not supported")
		return false
	}
	return true
}

// fields walks a mapping, calling set for each key; unknown keys and
// duplicates are problems. set returns false for an unknown key.
func (d *decoder) fields(path string, n *yaml.Node, set func(key, path string, v *yaml.Node) bool) bool {
	if !d.usable(path, n) {
		return false
	}
	if n.Kind != yaml.MappingNode {
		d.add(path, "must be a mapping, got %s", kindName(n))
		return false
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.add(path, "keys must be plain strings")
			continue
		}
		p := join(path, k.Value)
		if k.Value == "<<" {
			d.add(p, "YAML merge keys are not supported")
			continue
		}
		if seen[k.Value] {
			d.add(p, "duplicate key")
			continue
		}
		seen[k.Value] = true
		if !d.usable(p, v) {
			continue
		}
		if !set(k.Value, p, v) {
			d.add(p, "unknown field")
		}
	}
	return true
}

func (d *decoder) scalar(path string, n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.add(path, "must be a value, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) str(path string, n *yaml.Node) string {
	s, _ := d.scalar(path, n)
	return s
}

func (d *decoder) name(path string, n *yaml.Node) string {
	s, ok := d.scalar(path, n)
	if ok && !nameRE.MatchString(s) {
		d.add(path, "invalid name %q (want lower-case letters, digits and dashes)", s)
	}
	return s
}

func (d *decoder) integer(path string, n *yaml.Node, lo, hi int64) (int64, bool) {
	s, ok := d.scalar(path, n)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		d.add(path, "must be an integer, got %q", s)
		return 0, false
	}
	if v < lo || v > hi {
		d.add(path, "must be in [%d, %d], got %d", lo, hi, v)
		return 0, false
	}
	return v, true
}

func (d *decoder) intPtr(path string, n *yaml.Node, lo, hi int64) *int {
	v, ok := d.integer(path, n, lo, hi)
	if !ok {
		return nil
	}
	i := int(v)
	return &i
}

func (d *decoder) float(path string, n *yaml.Node) (float64, bool) {
	s, ok := d.scalar(path, n)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		d.add(path, "must be a number, got %q", s)
		return 0, false
	}
	return v, true
}

func (d *decoder) boolean(path string, n *yaml.Node) (bool, bool) {
	s, ok := d.scalar(path, n)
	if !ok {
		return false, false
	}
	switch s {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	d.add(path, "must be true or false, got %q", s)
	return false, false
}

// duration parses a Go duration within [0, max].
func (d *decoder) duration(path string, n *yaml.Node, max time.Duration) (time.Duration, bool) {
	s, ok := d.scalar(path, n)
	if !ok {
		return 0, false
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.add(path, "invalid duration %q (use Go syntax such as 90s or 5m)", s)
		return 0, false
	}
	if v < 0 {
		d.add(path, "must not be negative, got %s", s)
		return 0, false
	}
	if v > max {
		d.add(path, "must be at most %s, got %s", max, s)
		return 0, false
	}
	return v, true
}

func (d *decoder) durPtr(path string, n *yaml.Node, max time.Duration) *time.Duration {
	v, ok := d.duration(path, n, max)
	if !ok {
		return nil
	}
	return &v
}

// list walks a sequence of at most limit items.
func (d *decoder) list(path string, n *yaml.Node, limit int, each func(i int, path string, v *yaml.Node)) {
	if n.Kind != yaml.SequenceNode {
		d.add(path, "must be a list, got %s", kindName(n))
		return
	}
	if len(n.Content) > limit {
		d.add(path, "has %d items, more than the limit of %d", len(n.Content), limit)
		return
	}
	for i, v := range n.Content {
		p := index(path, i)
		if d.usable(p, v) {
			each(i, p, v)
		}
	}
}

// names decodes a list of unique names.
func (d *decoder) names(path string, n *yaml.Node, limit int) []string {
	var out []string
	seen := map[string]bool{}
	d.list(path, n, limit, func(_ int, p string, v *yaml.Node) {
		s := d.name(p, v)
		if s == "" {
			return
		}
		if seen[s] {
			d.add(p, "duplicate %q", s)
			return
		}
		seen[s] = true
		out = append(out, s)
	})
	return out
}

func (d *decoder) scenario(n *yaml.Node) *Scenario {
	sc := &Scenario{Sim: SimOptions{Warmup: time.Second, Hooks: time.Second}}
	var timeline, overrides *yaml.Node
	var timelinePath, overridesPath string
	var haveDuration bool
	ok := d.fields("", n, func(key, p string, v *yaml.Node) bool {
		switch key {
		case "name":
			sc.Name = d.str(p, v)
		case "service":
			sc.Service = d.name(p, v)
		case "policy":
			d.policy(p, v, &sc.Policy)
		case "vantages":
			sc.Vantages = d.names(p, v, MaxVantages)
		case "interval":
			if iv, ok := d.duration(p, v, MaxDuration); ok {
				if iv < MinInterval {
					d.add(p, "must be at least %s, got %s", MinInterval, iv)
				} else {
					sc.Interval = iv
				}
			}
		case "duration":
			if dv, ok := d.duration(p, v, MaxDuration); ok {
				if dv == 0 {
					d.add(p, "must be positive")
				} else {
					sc.Duration, haveDuration = dv, true
				}
			}
		case "seed":
			if s, ok := d.integer(p, v, math.MinInt64, math.MaxInt64); ok {
				sc.Seed = s
			}
		case "noise":
			d.fields(p, v, func(key, p string, v *yaml.Node) bool {
				if key != "loss" {
					return false
				}
				if f, ok := d.float(p, v); ok {
					if f < 0 || f >= 1 {
						d.add(p, "must be in [0, 1), got %v", f)
					} else {
						sc.Noise.Loss = f
					}
				}
				return true
			})
		case "sim":
			d.fields(p, v, func(key, p string, v *yaml.Node) bool {
				switch key {
				case "warmup":
					if dv, ok := d.duration(p, v, maxSimDelay); ok {
						sc.Sim.Warmup = dv
					}
				case "hooks":
					if dv, ok := d.duration(p, v, maxSimDelay); ok {
						sc.Sim.Hooks = dv
					}
				default:
					return false
				}
				return true
			})
		case "timeline":
			timeline, timelinePath = v, p
		case "overrides":
			overrides, overridesPath = v, p
		case "expect":
			d.expect(p, v, &sc.Expect)
		default:
			return false
		}
		return true
	})
	if !ok {
		return sc
	}
	if sc.Service == "" && !d.has("service") {
		d.add("service", "is required")
	}
	if len(sc.Vantages) == 0 && !d.has("vantages") {
		d.add("vantages", "is required: list 1 to %d vantage names", MaxVantages)
	}
	if !haveDuration && !d.has("duration") {
		d.add("duration", "is required")
	}
	if sc.Interval > 0 && sc.Duration > 0 && sc.Interval > sc.Duration {
		d.add("interval", "%s is longer than the duration %s", sc.Interval, sc.Duration)
	}
	if sc.Interval > 0 && sc.Duration > 0 && len(sc.Vantages) > 0 {
		// Targets are not known yet: Run checks the full product.
		if rounds(sc.Duration, sc.Interval)*int64(len(sc.Vantages)) > MaxProbes {
			d.add("duration", "%s at %s with %d vantages is more than %d probes", sc.Duration, sc.Interval, len(sc.Vantages), MaxProbes)
		}
	}
	if timeline != nil {
		d.list(timelinePath, timeline, MaxTimeline, func(_ int, p string, v *yaml.Node) {
			if e, ok := d.entry(p, v, sc); ok {
				sc.Timeline = append(sc.Timeline, e)
			}
		})
	}
	if overrides != nil {
		d.list(overridesPath, overrides, MaxOverrides, func(_ int, p string, v *yaml.Node) {
			if o, ok := d.override(p, v, sc); ok {
				sc.Overrides = append(sc.Overrides, o)
			}
		})
	}
	return sc
}

// has reports whether a problem was already recorded at path, so that a
// missing-field message does not repeat a bad-value one.
func (d *decoder) has(path string) bool { return d.paths[path] }

func (d *decoder) policy(path string, n *yaml.Node, po *PolicyOverride) {
	d.fields(path, n, func(key, p string, v *yaml.Node) bool {
		switch key {
		case "fall":
			po.Fall = d.intPtr(p, v, 1, 1000)
		case "rise":
			po.Rise = d.intPtr(p, v, 1, 1000)
		case "quorum":
			if f, ok := d.float(p, v); ok {
				if f <= 0 || f > 1 {
					d.add(p, "must be in (0,1], got %v", f)
				} else {
					po.Quorum = &f
				}
			}
		case "min_vantages":
			po.MinVantages = d.intPtr(p, v, 1, MaxVantages)
		case "recover_after":
			po.RecoverAfter = d.durPtr(p, v, MaxDuration)
		case "max_shifts_per_hour":
			po.MaxShiftsPerHour = d.intPtr(p, v, 1, 3600)
		case "failback":
			d.fields(p, v, func(key, p string, v *yaml.Node) bool {
				switch key {
				case "steps":
					po.FailbackSteps = d.steps(p, v)
				case "hold":
					po.FailbackHold = d.durPtr(p, v, MaxDuration)
				default:
					return false
				}
				return true
			})
		default:
			return false
		}
		return true
	})
}

// steps decodes failback steps: increasing weights in [1, 100] ending at 100.
func (d *decoder) steps(path string, n *yaml.Node) []int {
	var out []int
	bad := false
	d.list(path, n, 100, func(_ int, p string, v *yaml.Node) {
		w, ok := d.integer(p, v, 1, 100)
		if !ok {
			bad = true
			return
		}
		if len(out) > 0 && int(w) <= out[len(out)-1] {
			d.add(p, "steps must increase, got %d after %d", w, out[len(out)-1])
			bad = true
		}
		out = append(out, int(w))
	})
	if bad {
		return nil
	}
	if len(out) == 0 || out[len(out)-1] != 100 {
		d.add(path, "must end at 100")
		return nil
	}
	return out
}

func (d *decoder) expect(path string, n *yaml.Node, e *Expect) {
	d.fields(path, n, func(key, p string, v *yaml.Node) bool {
		switch key {
		case "max_shifts":
			e.MaxShifts = d.intPtr(p, v, 0, math.MaxInt32)
		case "max_false_shifts":
			e.MaxFalseShifts = d.intPtr(p, v, 0, math.MaxInt32)
		case "max_unhealthy_seconds":
			if f, ok := d.float(p, v); ok {
				if f < 0 {
					d.add(p, "must not be negative, got %v", f)
				} else {
					e.MaxUnhealthySeconds = &f
				}
			}
		case "failover_within":
			e.FailoverWithin = d.durPtr(p, v, MaxDuration)
		case "recovery_within":
			e.RecoveryWithin = d.durPtr(p, v, MaxDuration)
		case "frozen":
			if b, ok := d.boolean(p, v); ok {
				e.Frozen = &b
			}
		default:
			return false
		}
		return true
	})
}

// oneOrList decodes `single: x` or `plural: [x, y]` (or `plural: all` when
// allowAll); it reports the key it read.
type oneOrList struct {
	single, plural string
	allowAll       bool
	names          []string
	all            bool
	set            bool
}

func (d *decoder) oneOrListField(o *oneOrList, key, p string, v *yaml.Node) bool {
	switch key {
	case o.single:
		if o.set {
			d.add(p, "give %s or %s, not both", o.single, o.plural)
			return true
		}
		o.set = true
		if s := d.name(p, v); s != "" {
			o.names = []string{s}
		}
	case o.plural:
		if o.set {
			d.add(p, "give %s or %s, not both", o.single, o.plural)
			return true
		}
		o.set = true
		if o.allowAll && v.Kind == yaml.ScalarNode && v.Value == "all" {
			o.all = true
			return true
		}
		o.names = d.names(p, v, math.MaxInt32)
		if len(o.names) == 0 && v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
			d.add(p, "must not be empty")
		}
	default:
		return false
	}
	return true
}

func (d *decoder) entry(path string, n *yaml.Node, sc *Scenario) (Entry, bool) {
	var e Entry
	before := len(d.problems) + d.more
	targets := oneOrList{single: "target", plural: "targets", allowAll: true}
	vantages := oneOrList{single: "vantage", plural: "vantages"}
	var haveAt, haveOutcome bool
	var vantagesPath string
	ok := d.fields(path, n, func(key, p string, v *yaml.Node) bool {
		switch key {
		case "at":
			e.At, haveAt = d.duration(p, v, MaxDuration)
		case "until":
			e.Until, e.HasUntil = d.duration(p, v, MaxDuration)
		case "outcome":
			if s, ok := d.scalar(p, v); ok {
				if o, ok := ParseOutcome(s); ok {
					e.Outcome, haveOutcome = o, true
				} else {
					d.add(p, "unknown outcome %q (want ok, missing, or a class: %s)", s, strings.Join(outcomeNames[1:len(outcomeNames)-1], " "))
				}
			}
		case "flap":
			if f, ok := d.duration(p, v, MaxDuration); ok {
				if f < time.Millisecond {
					d.add(p, "must be at least 1ms, got %s", f)
				} else {
					e.Flap = f
				}
			}
		default:
			if key == "vantage" || key == "vantages" {
				vantagesPath = p
			}
			return d.oneOrListField(&targets, key, p, v) || d.oneOrListField(&vantages, key, p, v)
		}
		return true
	})
	if !ok {
		return e, false
	}
	if !haveAt && !d.has(join(path, "at")) {
		d.add(join(path, "at"), "is required")
	}
	if !haveOutcome && !d.has(join(path, "outcome")) {
		d.add(join(path, "outcome"), "is required")
	}
	if !targets.set {
		d.add(path, "target or targets is required (targets: all for every target)")
	}
	e.Targets, e.AllTargets = targets.names, targets.all
	e.Vantages = vantages.names
	if len(sc.Vantages) > 0 {
		known := map[string]bool{}
		for _, v := range sc.Vantages {
			known[v] = true
		}
		for _, v := range e.Vantages {
			if !known[v] {
				d.add(vantagesPath, "unknown vantage %q (not in the scenario's vantages)", v)
			}
		}
	}
	if haveAt && e.HasUntil && e.Until <= e.At {
		d.add(join(path, "until"), "%s is not after at %s", e.Until, e.At)
	}
	if sc.Duration > 0 {
		if haveAt && e.At >= sc.Duration {
			d.add(join(path, "at"), "%s is not before the end of the scenario (%s)", e.At, sc.Duration)
		}
		if e.HasUntil && e.Until > sc.Duration {
			d.add(join(path, "until"), "%s is after the end of the scenario (%s); leave until out to last to the end", e.Until, sc.Duration)
		}
	}
	return e, len(d.problems)+d.more == before
}

func (d *decoder) override(path string, n *yaml.Node, sc *Scenario) (Override, bool) {
	o := Override{Reason: "scenario"}
	before := len(d.problems) + d.more
	var haveAt, haveTo, haveFor bool
	ok := d.fields(path, n, func(key, p string, v *yaml.Node) bool {
		switch key {
		case "at":
			o.At, haveAt = d.duration(p, v, MaxDuration)
		case "kind":
			if s, ok := d.scalar(p, v); ok {
				switch s {
				case OverrideDrill, OverridePin, OverrideRelease:
					o.Kind = s
				default:
					d.add(p, "unknown kind %q (want drill, pin or release)", s)
				}
			}
		case "to":
			o.To = d.name(p, v)
			haveTo = true
		case "for":
			if f, ok := d.duration(p, v, MaxDuration); ok {
				if f == 0 {
					d.add(p, "must be positive")
				} else {
					o.For, haveFor = f, true
				}
			}
		case "reason":
			o.Reason = d.str(p, v)
		case "force":
			o.Force, _ = d.boolean(p, v)
		default:
			return false
		}
		return true
	})
	if !ok {
		return o, false
	}
	if !haveAt && !d.has(join(path, "at")) {
		d.add(join(path, "at"), "is required")
	}
	switch o.Kind {
	case "":
		if !d.has(join(path, "kind")) {
			d.add(join(path, "kind"), "is required (drill, pin or release)")
		}
	case OverrideDrill:
		if !haveTo {
			d.add(join(path, "to"), "is required for a drill")
		}
		if !haveFor && !d.has(join(path, "for")) {
			d.add(join(path, "for"), "is required for a drill")
		}
	case OverridePin:
		if !haveTo {
			d.add(join(path, "to"), "is required for a pin")
		}
	case OverrideRelease:
		if haveTo {
			d.add(join(path, "to"), "a release takes no target")
		}
		if haveFor {
			d.add(join(path, "for"), "a release takes no duration")
		}
	}
	if sc.Duration > 0 && haveAt && o.At >= sc.Duration {
		d.add(join(path, "at"), "%s is not before the end of the scenario (%s)", o.At, sc.Duration)
	}
	return o, len(d.problems)+d.more == before
}

// rounds is the number of probe rounds: one at 0, interval, 2×interval...
// strictly before duration.
func rounds(duration, interval time.Duration) int64 {
	if interval <= 0 {
		return 0
	}
	return int64((duration + interval - 1) / interval)
}
