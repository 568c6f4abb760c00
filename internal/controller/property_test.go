package controller

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/health"
)

// trace drives the engine through a random but seeded sequence of verdicts,
// overrides and (possibly late, failed or missing) reports, and checks the
// invariants at every step.
type trace struct {
	t      *testing.T
	rng    *rand.Rand
	e      *Engine
	policy config.Policy
	st     State
	now    time.Time
	health map[string]string
	live   int
	over   *Override
	queue  []queued

	// what the checks accumulate
	automatic []time.Time // times of automatic routing changes
	phases    map[Phase]int
	emergency int
	held      int
	log       []any // everything observable, for the determinism check
}

type queued struct {
	at time.Time
	r  Report
}

func newTrace(t *testing.T, svc config.Service, seed uint64) *trace {
	e := newEngine(t, svc)
	tr := &trace{
		t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), e: e, policy: e.Policy(),
		now: t0, live: 3, health: map[string]string{}, phases: map[Phase]int{},
	}
	tr.st = e.Initial(t0)
	return tr
}

func (tr *trace) pick(weights map[string]int) string {
	keys := make([]string, 0, len(weights))
	total := 0
	for k, w := range weights {
		keys = append(keys, k)
		total += w
	}
	slices.Sort(keys) // map order must not leak into the trace
	n := tr.rng.IntN(total)
	for _, k := range keys {
		if n < weights[k] {
			return k
		}
		n -= weights[k]
	}
	return keys[len(keys)-1]
}

func (tr *trace) mutate() {
	if tr.rng.IntN(50) == 0 {
		tr.now = tr.now.Add(time.Duration(5+tr.rng.IntN(25)) * time.Minute)
	} else {
		tr.now = tr.now.Add(time.Duration(1+tr.rng.IntN(20)) * time.Second)
	}
	for _, t := range targets {
		if tr.rng.IntN(10) == 0 {
			tr.health[t] = tr.pick(map[string]int{"up": 50, "down": 30, "unknown": 10, "suspect": 10})
		}
	}
	switch {
	case tr.live == 3 && tr.rng.IntN(150) == 0:
		tr.live = 1 // agents die
	case tr.live == 1 && tr.rng.IntN(10) == 0:
		tr.live = 3
	}
	switch n := tr.rng.IntN(400); {
	case n < 2:
		tr.over = &Override{Kind: Drill, To: targets[tr.rng.IntN(3)], Reason: "game day",
			Until: tr.now.Add(time.Duration(1+tr.rng.IntN(20)) * time.Minute)}
	case n < 3:
		tr.over = &Override{Kind: Pin, To: targets[tr.rng.IntN(3)], Reason: "maintenance"}
	case n < 6:
		tr.over = nil
	}
}

func (tr *trace) due() []Report {
	var out []Report
	keep := tr.queue[:0]
	for _, q := range tr.queue {
		if !q.at.After(tr.now) {
			out = append(out, q.r)
		} else {
			keep = append(keep, q)
		}
	}
	tr.queue = keep
	return out
}

func (tr *trace) later(max time.Duration, r Report) {
	tr.queue = append(tr.queue, queued{at: tr.now.Add(time.Duration(tr.rng.Int64N(int64(max) + 1))), r: r})
}

func (tr *trace) step(i int) {
	t := tr.t
	tr.mutate()
	v := verdicts(hs(tr.health), tr.live)
	in := Input{Verdicts: v, Override: tr.over, Reports: tr.due()}
	before := tr.st.Clone()
	next, acts := tr.e.Step(tr.st, in, tr.now)
	if !reflect.DeepEqual(before, tr.st) {
		t.Fatalf("step %d: Step modified its input:\n%s", i, cmp.Diff(before, tr.st))
	}
	tr.log = append(tr.log, next.Phase, next.Reason, next.Routing, acts)
	tr.phases[next.Phase]++

	// Invariant: every routing sums to 100 over the service's targets.
	if err := next.Routing.Validate(targets); err != nil {
		t.Fatalf("step %d: state routing: %v", i, err)
	}
	status := func(t string) health.Status { return v.Status(t) }
	unhealthy := func(r Routing) int {
		sum := 0
		for _, t := range targets {
			if status(t) == health.Unhealthy {
				sum += r[t]
			}
		}
		return sum
	}
	for _, a := range routes(acts) {
		if err := a.Routing.Validate(targets); err != nil {
			t.Fatalf("step %d: SetRouting: %v", i, err)
		}
		// Invariant: weight only moves onto healthy targets (so never onto
		// one unhealthy at quorum, nor onto an unknown one).
		for _, tg := range targets {
			if a.Routing[tg] > a.Previous[tg] && status(tg) != health.Healthy {
				t.Fatalf("step %d: weight moved onto %s, which is %s: %s -> %s (%s)", i, tg, status(tg),
					a.Previous.Format(targets), a.Routing.Format(targets), a.Reason)
			}
		}
		// Invariant: no write while frozen, nor while awaiting evidence.
		if next.Phase == Frozen || next.AwaitingEvidence {
			t.Fatalf("step %d: routing written in state %s (awaiting evidence %v): %s", i, next.Phase, next.AwaitingEvidence, a.Reason)
		}
		if !a.Automatic {
			continue
		}
		// Invariant: an emergency move lowers the weight on unhealthy
		// targets; every other automatic change respects the hourly cap.
		emergency := unhealthy(a.Routing) < unhealthy(a.Previous)
		if emergency != a.Emergency {
			t.Fatalf("step %d: change %s -> %s flagged emergency=%v, want %v", i,
				a.Previous.Format(targets), a.Routing.Format(targets), a.Emergency, emergency)
		}
		inHour := 0
		for _, at := range tr.automatic {
			if at.After(tr.now.Add(-time.Hour)) {
				inHour++
			}
		}
		if emergency {
			tr.emergency++
		} else if inHour >= tr.policy.MaxShiftsPerHour {
			t.Fatalf("step %d: discretionary change %s with %d automatic changes in the last hour (max %d)",
				i, a.Reason, inHour, tr.policy.MaxShiftsPerHour)
		}
		tr.automatic = append(tr.automatic, tr.now)
	}
	// Invariant: frozen means routing unchanged.
	if tr.st.Phase == Frozen && next.Phase == Frozen && !next.Routing.Equal(tr.st.Routing) {
		t.Fatalf("step %d: routing changed while frozen", i)
	}
	// Invariant: manual means all weight on the override's target.
	if next.Phase == Manual && (next.Override == nil || next.Routing[next.Override.To] != 100) {
		t.Fatalf("step %d: manual with override %+v and routing %s", i, next.Override, next.Routing.Format(targets))
	}
	if next.Held != "" {
		tr.held++
	}

	for _, a := range acts {
		switch a := a.(type) {
		case SetRouting:
			kind := DNSApplied
			if tr.rng.IntN(10) == 0 {
				kind = DNSFailed
			}
			tr.later(3*time.Second, Report{Kind: kind, Routing: a.Routing})
		case StartWarmup:
			kind := WarmupDone
			if tr.rng.IntN(5) == 0 {
				kind = WarmupFailed
			}
			tr.later(15*time.Second, Report{Kind: kind, Target: a.Target})
		case RunHooks:
			if a.Gate && tr.rng.IntN(10) != 0 { // some gates never answer
				tr.later(15*time.Second, Report{Kind: HooksDone, Target: a.Target})
			}
		case ClearOverride:
			tr.over = nil
		}
	}
	tr.st = next
}

func runTrace(t *testing.T, svc config.Service, seed uint64, steps int) *trace {
	tr := newTrace(t, svc, seed)
	for i := range steps {
		tr.step(i)
	}
	return tr
}

func propertyServices() map[string]config.Service {
	fast := testService()
	fast.Policy.RecoverAfter = 20 * time.Second
	fast.Policy.Failback.Hold = 10 * time.Second
	fast.Policy.MaxShiftsPerHour = 6
	capped := fast
	capped.Policy.MaxShiftsPerHour = 2
	return map[string]config.Service{"lab-like": testService(), "fast": fast, "capped": capped}
}

func TestPropertiesOverRandomTraces(t *testing.T) {
	for _, name := range []string{"lab-like", "fast", "capped"} {
		svc := propertyServices()[name]
		for _, seed := range []uint64{1, 2, 3, 42} {
			t.Run(fmt.Sprintf("%s/seed-%d", name, seed), func(t *testing.T) {
				tr := runTrace(t, svc, seed, 4000)
				// The trace must have exercised the machine, or the
				// invariants above prove little.
				for _, p := range Phases {
					if tr.phases[p] == 0 {
						t.Errorf("phase %s never visited: %v", p, tr.phases)
					}
				}
				if len(tr.automatic) < 20 || tr.emergency == 0 {
					t.Errorf("only %d automatic changes, %d emergency", len(tr.automatic), tr.emergency)
				}
				if name == "capped" && tr.held == 0 {
					t.Error("the cap never held a change")
				}
				t.Logf("phases %v, %d automatic changes (%d emergency), %d held steps",
					tr.phases, len(tr.automatic), tr.emergency, tr.held)
			})
		}
	}
}

func TestDeterministic(t *testing.T) {
	svc := propertyServices()["fast"]
	for _, seed := range []uint64{7, 8} {
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			a := runTrace(t, svc, seed, 3000)
			b := runTrace(t, svc, seed, 3000)
			if !reflect.DeepEqual(a.log, b.log) {
				t.Fatalf("two runs of seed %d differ:\n%s", seed, cmp.Diff(a.log, b.log))
			}
			c := runTrace(t, svc, seed+100, 3000)
			if reflect.DeepEqual(a.log, c.log) {
				t.Fatal("different seeds gave identical traces; the trace is not random")
			}
		})
	}
}

func BenchmarkStep(b *testing.B) {
	e := newEngine(b, testService())
	st, _ := e.Step(e.Initial(t0), Input{Verdicts: verdicts(nil, 5)}, t0)
	v := verdicts(nil, 5)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(500 * time.Millisecond)
		st, _ = e.Step(st, Input{Verdicts: v}, now)
	}
	if st.Phase != Healthy {
		b.Fatal(st.Phase)
	}
}

func BenchmarkStepFailover(b *testing.B) {
	e := newEngine(b, testService())
	start, _ := e.Step(e.Initial(t0), Input{Verdicts: verdicts(nil, 5)}, t0)
	down := verdicts(primaryDown, 5)
	b.ReportAllocs()
	for b.Loop() {
		st, acts := e.Step(start, Input{Verdicts: down}, t0.Add(time.Second))
		if st.Phase != FailingOver || len(acts) == 0 {
			b.Fatal(st.Phase)
		}
	}
}
