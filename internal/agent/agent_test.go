package agent

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/probe"
)

// The agent pulls its plan with its vantage name and token, probes a real
// local target and pushes the results in batches named after the vantage.
func TestPlanAndPush(t *testing.T) {
	tg := newTarget(t)
	ctl := newController(t, api.ProbePlan{Vantage: "eu-1", Interval: "30ms", Timeout: "1s", Generation: 3,
		Checks: []api.PlanItem{check("www", "primary", tg)}})
	a, err := New(fastOptions(newAPIClient(t, ctl.URL)))
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, a)
	waitFor(t, "3 results", func() bool { return ctl.count("") >= 3 })
	stop()

	ctl.mu.Lock()
	if ctl.planQuery[0] != "vantage=eu-1" {
		t.Errorf("plan query %q", ctl.planQuery[0])
	}
	for _, auth := range ctl.auth {
		if auth != "Bearer agent-token" {
			t.Errorf("Authorization %q", auth)
		}
	}
	ctl.mu.Unlock()
	got := ctl.received()
	for _, r := range got {
		res := r.result
		if r.vantage != "eu-1" || res.Service != "www" || res.Target != "primary" || !res.OK ||
			res.Class != probe.ClassOK || res.Status != 200 || res.LatencyMs <= 0 || res.Time.IsZero() {
			t.Errorf("result %+v from vantage %q", res, r.vantage)
		}
	}
	st := a.Stats()
	if st.Generation != 3 || st.Jobs != 1 || st.Sent != uint64(len(got)) || st.Dropped != 0 || st.Refused != 0 {
		t.Errorf("stats %+v, %d received", st, len(got))
	}
	if tg.hits.Load() < 3 {
		t.Errorf("target probed %d times", tg.hits.Load())
	}
}

// While no controller answers the agent keeps probing and buffers within
// its bound, dropping the oldest results and counting them; when the
// controller is back the backlog arrives oldest first.
func TestBufferWhileControllerDown(t *testing.T) {
	const bound = 10
	tg := newTarget(t)
	ctl := newController(t, api.ProbePlan{Interval: "15ms", Generation: 1,
		Checks: []api.PlanItem{check("www", "primary", tg)}})
	rec := newRecorder(t)
	var logs logBuffer
	o := fastOptions(newAPIClient(t, ctl.URL))
	o.Checker, o.BufferSize, o.BatchSize, o.Logger = rec, bound, 4, logs.logger()
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	start(t, a)

	const before, down, after = 0, 1, 2
	waitFor(t, "results before the outage", func() bool { return ctl.count("") >= 3 })
	ctl.mode.Store(modeDown)
	ctl.phase.Store(down)
	waitFor(t, "the buffer to overflow", func() bool { return a.Stats().Dropped >= 2*bound })
	if st := a.Stats(); st.Buffered != bound {
		t.Errorf("buffered %d while down, want the bound %d", st.Buffered, bound)
	}
	ctl.phase.Store(after)
	ctl.mode.Store(modeUp)
	waitFor(t, "the backlog", func() bool {
		n := 0
		for _, r := range ctl.received() {
			if r.phase == after {
				n++
			}
		}
		return n >= bound+2 && a.Stats().Buffered < bound
	})
	st := a.Stats()
	got := ctl.received()
	produced := rec.produced()

	// Arrival order is production order: the backlog went oldest first.
	index := make(map[int64]int, len(produced))
	for i, ts := range produced {
		index[ts] = i
	}
	phaseOf := map[int]int32{}
	last := -1
	for _, r := range got {
		i, ok := index[r.result.Time.UnixNano()]
		if !ok {
			t.Fatalf("received a result that was never produced: %v", r.result.Time)
		}
		if i <= last {
			t.Fatalf("result %d arrived after result %d", i, last)
		}
		last = i
		phaseOf[i] = r.phase
	}
	if phaseOf[0] != before {
		t.Fatalf("the first result arrived in phase %d", phaseOf[0])
	}
	// What is missing is one run of the oldest results of the outage.
	var missing []int
	for i := 0; i <= last; i++ {
		if _, ok := phaseOf[i]; !ok {
			missing = append(missing, i)
		}
	}
	if uint64(len(missing)) != st.Dropped {
		t.Fatalf("%d results missing, %d counted as dropped", len(missing), st.Dropped)
	}
	first, end := missing[0], missing[len(missing)-1]+1
	if end-first != len(missing) {
		t.Fatalf("missing results are not one run: %v", missing)
	}
	if phaseOf[first-1] != before {
		t.Errorf("the result before the dropped ones arrived in phase %d: newer results were dropped", phaseOf[first-1])
	}
	for i := end; i < end+bound; i++ {
		if phaseOf[i] != after {
			t.Errorf("result %d, kept in the buffer, arrived in phase %d", i, phaseOf[i])
		}
	}
	if st.Added != st.Sent+st.Refused+st.Dropped+uint64(st.Buffered) {
		t.Errorf("counters do not add up: %+v", st)
	}
	if st.PushFailures == 0 {
		t.Errorf("no push failure counted: %+v", st)
	}
	// Drops are logged once a minute, not once per drop.
	if n := logs.count("dropped the oldest results"); n != 1 {
		t.Errorf("%d drop log lines, want 1 (dropped %d)", n, st.Dropped)
	}
	if n := logs.count("cannot push results"); n != 1 {
		t.Errorf("%d push failure log lines, want 1", n)
	}
	if logs.count("pushing results again") != 1 {
		t.Error("recovery not logged")
	}
}

// With two controller URLs, results keep flowing when the first one goes
// away, and nothing is lost on the way.
func TestFailoverBetweenControllers(t *testing.T) {
	tg := newTarget(t)
	plan := api.ProbePlan{Interval: "15ms", Generation: 1, Checks: []api.PlanItem{check("www", "primary", tg)}}
	first, second := newController(t, plan), newController(t, plan)
	rec := newRecorder(t)
	o := fastOptions(newAPIClient(t, first.URL, second.URL))
	o.Checker = rec
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	start(t, a)
	waitFor(t, "results at the first controller", func() bool { return first.count("") >= 2 })
	if second.count("") != 0 {
		t.Fatal("the second controller got results while the first was up")
	}
	first.mode.Store(modeDown)
	waitFor(t, "results at the second controller", func() bool { return second.count("") >= 3 })

	got := map[int64]bool{}
	for _, r := range append(first.received(), second.received()...) {
		got[r.result.Time.UnixNano()] = true
	}
	produced := rec.produced()
	last := -1
	for i, ts := range produced {
		if got[ts] {
			last = i
		}
	}
	for i := 0; i <= last; i++ {
		if !got[produced[i]] {
			t.Errorf("result %d of %d was lost in the failover", i, last)
		}
	}
	if st := a.Stats(); st.Dropped != 0 || st.Refused != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A batch refused with a 400 is dropped and counted, never sent again.
func TestRefusedBatchIsDropped(t *testing.T) {
	tg := newTarget(t)
	ctl := newController(t, api.ProbePlan{Interval: "15ms", Generation: 1,
		Checks: []api.PlanItem{check("www", "primary", tg)}})
	ctl.mode.Store(modeReject)
	var logs logBuffer
	o := fastOptions(newAPIClient(t, ctl.URL))
	o.Logger = logs.logger()
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, a)
	waitFor(t, "refused results", func() bool { return a.Stats().Refused >= 5 })
	stop()
	st := a.Stats()
	if st.Sent != 0 || st.PushFailures != 0 || st.Buffered != 0 {
		t.Errorf("stats %+v", st)
	}
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	total := 0
	for ts, n := range ctl.attempts {
		total += n
		if n != 1 {
			t.Errorf("result %d was sent %d times", ts, n)
		}
	}
	if uint64(total) != st.Refused {
		t.Errorf("controller saw %d results, agent counted %d refused", total, st.Refused)
	}
	if logs.count("malformed batch") == 0 {
		t.Error("the controller's reason is not logged")
	}
}

// A 401 is not the batch's fault: it is retried, not dropped.
func TestUnauthorizedIsRetried(t *testing.T) {
	tg := newTarget(t)
	ctl := newController(t, api.ProbePlan{Interval: "15ms", Generation: 1,
		Checks: []api.PlanItem{check("www", "primary", tg)}})
	ctl.mode.Store(modeAuth)
	a, err := New(fastOptions(newAPIClient(t, ctl.URL)))
	if err != nil {
		t.Fatal(err)
	}
	start(t, a)
	waitFor(t, "retries", func() bool { return a.Stats().PushFailures >= 3 })
	ctl.mode.Store(modeUp)
	waitFor(t, "delivery", func() bool { return a.Stats().Sent > 0 })
	if st := a.Stats(); st.Refused != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A new plan generation replaces the jobs; a new interval restarts the
// scheduler.
func TestPlanGenerationUpdatesJobs(t *testing.T) {
	ta, tb := newTarget(t), newTarget(t)
	ctl := newController(t, api.ProbePlan{Interval: "15ms", Generation: 1,
		Checks: []api.PlanItem{check("www", "a", ta)}})
	a, err := New(fastOptions(newAPIClient(t, ctl.URL)))
	if err != nil {
		t.Fatal(err)
	}
	start(t, a)
	waitFor(t, "results of a", func() bool { return ctl.count("a") >= 2 })

	ctl.setPlan(api.ProbePlan{Interval: "15ms", Generation: 2, Checks: []api.PlanItem{check("www", "b", tb)}})
	waitFor(t, "generation 2 and results of b", func() bool { return a.Stats().Generation == 2 && ctl.count("b") >= 2 })
	hitsA, nb := ta.hits.Load(), ctl.count("b")
	waitFor(t, "more results of b", func() bool { return ctl.count("b") >= nb+5 })
	if n := ta.hits.Load() - hitsA; n > 1 {
		t.Errorf("a was probed %d more times after it left the plan", n)
	}

	ctl.setPlan(api.ProbePlan{Interval: "25ms", Generation: 3,
		Checks: []api.PlanItem{check("www", "a", ta), check("www", "b", tb)}})
	na, nb := ctl.count("a"), ctl.count("b")
	waitFor(t, "generation 3 probing both", func() bool {
		return a.Stats().Generation == 3 && ctl.count("a") >= na+2 && ctl.count("b") >= nb+2
	})
	if st := a.Stats(); st.Jobs != 2 {
		t.Errorf("jobs %d, want 2", st.Jobs)
	}
}

// A plan that cannot be used is not put in force; the old one stays.
func TestBadPlanKeepsTheOldOne(t *testing.T) {
	tg := newTarget(t)
	ctl := newController(t, api.ProbePlan{Interval: "15ms", Generation: 1,
		Checks: []api.PlanItem{check("www", "primary", tg)}})
	var logs logBuffer
	o := fastOptions(newAPIClient(t, ctl.URL))
	o.Logger = logs.logger()
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	start(t, a)
	waitFor(t, "results", func() bool { return ctl.count("") >= 2 })
	ctl.setPlan(api.ProbePlan{Interval: "never", Generation: 2})
	waitFor(t, "the bad plan to be seen", func() bool { return a.Stats().PlanFailures >= 2 })
	n := ctl.count("")
	waitFor(t, "probing to go on", func() bool { return ctl.count("") >= n+3 })
	if st := a.Stats(); st.Generation != 1 || st.Jobs != 1 {
		t.Errorf("stats %+v", st)
	}
	if logs.count(`interval: want a positive duration, got \"never\"`) == 0 {
		t.Errorf("bad plan not logged")
	}
}

// Before it has a plan the agent retries with exponential backoff, capped.
func TestFirstPlanBackoff(t *testing.T) {
	clock := newFakeClock()
	ctl := &fakeController{failPlans: 3, plan: api.ProbePlan{Interval: "1s", Generation: 5}}
	a, err := New(Options{Controller: ctl, Vantage: "eu-1", Clock: clock, MinBackoff: time.Second,
		MaxBackoff: 3 * time.Second, PlanEvery: time.Hour, PushEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	start(t, a)
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
		waitFor(t, "a backoff timer", func() bool {
			return ctl.planCalls() == i+1 && len(clock.pendingDurations()) == 1
		})
		if got := clock.pendingDurations()[0]; got != want {
			t.Fatalf("wait %d: %s, want %s", i+1, got, want)
		}
		if a.Stats().Generation != 0 {
			t.Fatal("a generation before any plan")
		}
		clock.advance(want - time.Millisecond)
		if ctl.planCalls() != i+1 {
			t.Fatalf("retried before the backoff ended")
		}
		clock.advance(time.Millisecond)
	}
	waitFor(t, "the plan", func() bool { return a.Stats().Generation == 5 })
	if st := a.Stats(); st.PlanFailures != 3 {
		t.Errorf("plan failures %d, want 3", st.PlanFailures)
	}
}

// Results still buffered when the agent stops are sent once more.
func TestStopFlushes(t *testing.T) {
	tg := newTarget(t)
	ctl := newController(t, api.ProbePlan{Interval: "10ms", Generation: 1,
		Checks: []api.PlanItem{check("www", "primary", tg)}})
	o := fastOptions(newAPIClient(t, ctl.URL))
	o.PushEvery, o.BatchSize = time.Hour, 1000
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, a)
	waitFor(t, "buffered results", func() bool { return a.Stats().Buffered >= 3 })
	if ctl.count("") != 0 {
		t.Fatal("pushed before the push period")
	}
	stop()
	st := a.Stats()
	if st.Buffered != 0 || uint64(ctl.count("")) != st.Added || st.Sent != st.Added {
		t.Errorf("after stop: %+v, controller got %d", st, ctl.count(""))
	}
}

func TestRunTwice(t *testing.T) {
	clock := newFakeClock()
	ctl := &fakeController{plan: api.ProbePlan{Interval: "1s", Generation: 1}}
	a, err := New(Options{Controller: ctl, Vantage: "eu-1", Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	start(t, a)
	waitFor(t, "the plan", func() bool { return a.Stats().Generation == 1 })
	if err := a.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	ctl := &fakeController{}
	for name, o := range map[string]Options{
		"no controller": {Vantage: "eu-1"},
		"bad vantage":   {Controller: ctl, Vantage: "EU 1"},
		"bad source":    {Controller: ctl, Vantage: "eu-1", SourceAddr: "not-an-ip"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// fakeController answers plans from memory and fails the first failPlans.
type fakeController struct {
	mu        sync.Mutex
	failPlans int
	calls     int
	plan      api.ProbePlan
}

func (f *fakeController) Plan(context.Context, string) (api.ProbePlan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.failPlans {
		return api.ProbePlan{}, errors.New("controller: 503: not ready")
	}
	return f.plan, nil
}

func (f *fakeController) PushResults(_ context.Context, b api.ResultsBatch) (api.ResultsAck, error) {
	return api.ResultsAck{Accepted: len(b.Results)}, nil
}

func (f *fakeController) planCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}
