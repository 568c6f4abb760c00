package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/failoverhq/failover/internal/config"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// at is t0 plus ms milliseconds.
func at(ms int64) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// third is the slot width of three jobs at a 1s interval.
const third = time.Second / 3

// start is one probe start seen by OnStart.
type start struct {
	Key     string
	Planned time.Time
	Actual  time.Time
}

// recorder collects starts and results.
type recorder struct {
	mu      sync.Mutex
	starts  []start
	results []Result
}

func (r *recorder) onStart(k Key, planned, actual time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts = append(r.starts, start{k.Target, planned, actual})
}

func (r *recorder) deliver(res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, res)
}

func (r *recorder) counts() (starts, results int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.starts), len(r.results)
}

func (r *recorder) snapshot() []start {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.starts)
}

// gateChecker is a Checker whose probes of a gated spec block until the
// gate lets them through (a value sent, or the gate closed).
type gateChecker struct {
	mu    sync.Mutex
	gates map[*Spec]chan struct{}
}

func (g *gateChecker) gate(s *Spec) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gates == nil {
		g.gates = make(map[*Spec]chan struct{})
	}
	ch := make(chan struct{})
	g.gates[s] = ch
	return ch
}

func (g *gateChecker) Probe(ctx context.Context, s *Spec) Result {
	g.mu.Lock()
	gate := g.gates[s]
	g.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return Result{Class: ClassOther, Error: "canceled"}
		}
	}
	return Result{OK: true, Class: ClassOK}
}

// testJobs returns jobs of service www named by targets, each with a spec of
// its own (the fake checkers never dial them).
func testJobs(t testing.TB, targets ...string) []Job {
	jobs := make([]Job, len(targets))
	for i, name := range targets {
		jobs[i] = Job{
			Key:  Key{Service: "www", Target: name},
			Spec: compile(t, config.Probe{Type: "tcp", ConnectTo: fmt.Sprintf("127.0.0.1:%d", i+1)}),
		}
	}
	return jobs
}

// runScheduler runs s until the test ends, and checks that Run returns.
func runScheduler(t testing.TB, s *Scheduler) (cancel func()) {
	ctx, cancelCtx := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	cancel = func() {
		once.Do(func() {
			cancelCtx()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(cancel)
	return cancel
}

func newTestScheduler(t testing.TB, opts SchedulerOptions) *Scheduler {
	t.Helper()
	s, err := NewScheduler(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSchedulerSpreadsJobs: four jobs at a 1s interval run 250ms apart,
// round after round, exactly on time on the fake clock.
func TestSchedulerSpreadsJobs(t *testing.T) {
	clk := newFakeClock(t0)
	rec := &recorder{}
	s := newTestScheduler(t, SchedulerOptions{
		Interval: time.Second, MaxJitter: -1, Checker: &gateChecker{},
		Deliver: rec.deliver, OnStart: rec.onStart, Clock: clk,
	})
	if err := s.Update(testJobs(t, "a", "b", "c", "d")); err != nil {
		t.Fatal(err)
	}
	cancel := runScheduler(t, s)
	clk.waitTimers(t, 4) // a ran at t0; a, b, c and d wait for their next start
	for step := 1; step < 8; step++ {
		clk.advanceTo(at(250 * int64(step)))
		clk.waitTimers(t, 4)
	}
	cancel()

	var want []start
	for step := range 8 {
		tm := at(250 * int64(step))
		want = append(want, start{string(rune('a' + step%4)), tm, tm})
	}
	if diff := cmp.Diff(want, rec.snapshot()); diff != "" {
		t.Errorf("starts (-want +got):\n%s", diff)
	}
	for _, r := range rec.results {
		if r.Service != "www" || r.Target == "" || !r.OK {
			t.Errorf("result %+v: want Service www, a Target and ok", r)
		}
	}
	if st := s.Stats(); st.Started != 8 || st.Skipped != 0 || st.LagMax != 0 {
		t.Errorf("stats = %+v, want 8 started, none skipped, no lag", st)
	}
}

// TestSchedulerJitter: with jitter, each start stays within its slot and
// each job still runs once per round.
func TestSchedulerJitter(t *testing.T) {
	clk := newFakeClock(t0)
	rec := &recorder{}
	s := newTestScheduler(t, SchedulerOptions{
		Interval: time.Second, MaxJitter: 100 * time.Millisecond, Checker: &gateChecker{},
		Deliver: rec.deliver, OnStart: rec.onStart, Clock: clk,
	})
	if err := s.Update(testJobs(t, "a", "b", "c", "d")); err != nil {
		t.Fatal(err)
	}
	cancel := runScheduler(t, s)
	clk.waitTimers(t, 4)
	const step = 5 * time.Millisecond
	for now := t0.Add(step); now.Before(at(3000)); now = now.Add(step) {
		clk.advanceTo(now)
		clk.waitTimers(t, 4)
	}
	cancel()

	starts := rec.snapshot()
	perRound := map[string]map[int64]int{}
	distinct := map[time.Duration]bool{}
	for _, st := range starts {
		i := int(st.Key[0] - 'a')
		off := st.Planned.Sub(t0) - time.Duration(i)*250*time.Millisecond
		round := int64(off / time.Second)
		jitter := off - time.Duration(round)*time.Second
		if jitter < 0 || jitter >= 100*time.Millisecond {
			t.Errorf("%s planned at +%s: jitter %s outside [0, 100ms)", st.Key, st.Planned.Sub(t0), jitter)
		}
		distinct[jitter] = true
		if lag := st.Actual.Sub(st.Planned); lag < 0 || lag >= step {
			t.Errorf("%s started %s after its plan, want less than one clock step", st.Key, lag)
		}
		if perRound[st.Key] == nil {
			perRound[st.Key] = map[int64]int{}
		}
		perRound[st.Key][round]++
	}
	// Rounds 0 to 2 are over for every job by +2995ms: the latest start
	// is d's at +2750ms plus under 100ms of jitter.
	for _, k := range []string{"a", "b", "c", "d"} {
		for r := int64(0); r < 3; r++ {
			if perRound[k][r] != 1 {
				t.Errorf("job %s ran %d times in round %d, want once", k, perRound[k][r], r)
			}
		}
	}
	if len(distinct) < 3 {
		t.Errorf("jitter took only %d distinct values over %d starts", len(distinct), len(starts))
	}
}

// TestSchedulerSaturated: with one slot, a probe waits for the slot, but not
// past its next round: then the round is skipped and counted, and so are the
// rounds a long probe overran.
func TestSchedulerSaturated(t *testing.T) {
	clk := newFakeClock(t0)
	rec := &recorder{}
	g := &gateChecker{}
	jobs := testJobs(t, "a", "b") // a at +0ms, b at +500ms in every round
	gateA := g.gate(jobs[0].Spec)
	s := newTestScheduler(t, SchedulerOptions{
		Interval: time.Second, Concurrency: 1, MaxJitter: -1, Checker: g,
		Deliver: rec.deliver, OnStart: rec.onStart, Clock: clk,
	})
	if err := s.Update(jobs); err != nil {
		t.Fatal(err)
	}
	cancel := runScheduler(t, s)
	waitStarts := func(n int) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%d starts", n), func() bool { st, _ := rec.counts(); return st == n })
	}
	waitIdle := func(timers int) {
		t.Helper()
		waitFor(t, "deliveries", func() bool { st, res := rec.counts(); return st == res })
		clk.waitTimers(t, timers)
	}

	waitStarts(1)
	clk.waitTimers(t, 1) // a holds the slot; b sleeps until +500ms
	clk.advanceTo(at(500))
	clk.waitTimers(t, 1) // b waits for the slot until its next round, +1500ms
	if st := s.Stats(); st.Started != 1 || st.Skipped != 0 {
		t.Fatalf("stats at +500ms = %+v", st)
	}
	clk.advanceTo(at(1500))
	clk.waitTimers(t, 1) // b's round 0 is skipped; its round 1 waits until +2500ms
	if st := s.Stats(); st.Skipped != 1 {
		t.Fatalf("stats at +1500ms = %+v, want b's round 0 skipped", st)
	}

	// a's probe ends: b takes the slot at once, then a starts its round 1
	// late, and blocks again.
	gateA <- struct{}{}
	waitStarts(3)
	waitFor(t, "b's delivery", func() bool { _, res := rec.counts(); return res == 2 })
	clk.waitTimers(t, 1) // b sleeps until +2500ms

	// a's round-1 probe overruns rounds 2 and 3; b's round 2 waits and is
	// skipped at +3500ms, then its round 3 waits and gets the slot when a
	// ends at +4200ms.
	clk.advanceTo(at(2500))
	clk.waitTimers(t, 1)
	clk.advanceTo(at(4200))
	clk.waitTimers(t, 1)
	close(gateA)
	waitStarts(5)
	waitIdle(2) // a sleeps until +5000ms, b until +4500ms
	cancel()

	got := rec.snapshot()
	slices.SortStableFunc(got, func(x, y start) int {
		if c := x.Actual.Compare(y.Actual); c != 0 {
			return c
		}
		return strings.Compare(x.Key, y.Key)
	})
	want := []start{
		{"a", at(0), at(0)},
		{"a", at(1000), at(1500)}, // waited for the slot b had
		{"b", at(1500), at(1500)},
		{"a", at(4000), at(4200)},
		{"b", at(3500), at(4200)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("starts (-want +got):\n%s", diff)
	}
	// Skipped: b's rounds 0 and 2 (no slot before the next round), a's
	// rounds 2 and 3 (its round-1 probe still ran).
	st := s.Stats()
	if st.Started != 5 || st.Skipped != 4 {
		t.Errorf("stats = %+v, want 5 started and 4 skipped", st)
	}
	if st.LagMax != 700*time.Millisecond || st.LagSum != (500+200+700)*time.Millisecond {
		t.Errorf("lag max %s sum %s, want 700ms and 1.4s", st.LagMax, st.LagSum)
	}
}

// TestSchedulerUpdate: a new job set is spread over the same round
// boundaries; removed jobs stop, new ones start.
func TestSchedulerUpdate(t *testing.T) {
	clk := newFakeClock(t0)
	rec := &recorder{}
	s := newTestScheduler(t, SchedulerOptions{
		Interval: time.Second, MaxJitter: -1, Checker: &gateChecker{},
		Deliver: rec.deliver, OnStart: rec.onStart, Clock: clk,
	})
	if err := s.Update(testJobs(t, "a", "b")); err != nil {
		t.Fatal(err)
	}
	cancel := runScheduler(t, s)
	clk.waitTimers(t, 2)
	clk.advanceTo(at(500))
	clk.waitTimers(t, 2) // a sleeps until +1000ms, b until +1500ms
	clk.advanceTo(at(600))

	// b stays, a goes, c and d come: offsets 0, 333ms and 666ms.
	if err := s.Update(testJobs(t, "b", "c", "d")); err != nil {
		t.Fatal(err)
	}
	want := []time.Time{t0.Add(2 * third), at(1000), t0.Add(time.Second + third)}
	waitFor(t, "the new job set", func() bool {
		ds, stopped := clk.state()
		return stopped == 2 && slices.Equal(ds, want)
	})
	for _, d := range []time.Duration{2 * third, time.Second, time.Second + third, time.Second + 2*third, 2 * time.Second} {
		clk.advanceTo(t0.Add(d))
		clk.waitTimers(t, 3)
	}
	cancel()

	var keys []string
	for _, st := range rec.snapshot() {
		if !st.Actual.Equal(st.Planned) {
			t.Errorf("%+v started late", st)
		}
		keys = append(keys, fmt.Sprintf("%s@%d", st.Key, st.Actual.Sub(t0).Milliseconds()))
	}
	wantKeys := []string{"a@0", "b@500", "d@666", "b@1000", "c@1333", "d@1666", "b@2000"}
	if diff := cmp.Diff(wantKeys, keys); diff != "" {
		t.Errorf("starts (-want +got):\n%s", diff)
	}
}

func TestPlanArithmetic(t *testing.T) {
	pl := plan{epoch: t0, interval: time.Second, n: 3}
	for i, want := range []time.Duration{0, 333333333, 666666666} {
		if got := pl.offset(i); got != want {
			t.Errorf("offset(%d) = %s, want %s", i, got, want)
		}
	}
	// Large sets and intervals must not overflow.
	big := plan{epoch: t0, interval: 24 * time.Hour, n: 1_000_000}
	if got, want := big.offset(999_999), 24*time.Hour-24*time.Hour/1_000_000; got != want {
		t.Errorf("offset of the last of a million jobs = %s, want %s", got, want)
	}

	tests := []struct {
		i          int
		t          time.Time
		next, wind int64
	}{
		{0, at(0), 0, 0},
		{0, at(1), 1, 0},
		{1, at(0), 0, -1},
		{1, t0.Add(third), 0, 0},
		{1, at(1000), 1, 0},
		{1, t0.Add(time.Second + third), 1, 1},
		{2, at(5700), 6, 5},
	}
	for _, tt := range tests {
		if got := pl.nextRound(tt.i, tt.t); got != tt.next {
			t.Errorf("nextRound(%d, +%s) = %d, want %d", tt.i, tt.t.Sub(t0), got, tt.next)
		}
		if got := pl.window(tt.i, tt.t); got != tt.wind {
			t.Errorf("window(%d, +%s) = %d, want %d", tt.i, tt.t.Sub(t0), got, tt.wind)
		}
	}

	// Jitter is capped at the slot width, so jobs keep their order.
	s := newTestScheduler(t, SchedulerOptions{Interval: time.Second, Deliver: func(Result) {}})
	if got := s.plan(t0, 10).jitter; got != 50*time.Millisecond {
		t.Errorf("default jitter for 10 jobs = %s, want Interval/20 = 50ms", got)
	}
	if got := s.plan(t0, 1000).jitter; got != time.Millisecond {
		t.Errorf("jitter for 1000 jobs = %s, want the 1ms slot", got)
	}
	j := s.plan(t0, 10)
	for range 1000 {
		if d := j.drawJitter(); d < 0 || d >= 50*time.Millisecond {
			t.Fatalf("jitter %s outside [0, 50ms)", d)
		}
	}
}

func TestSchedulerOptionsAndJobs(t *testing.T) {
	deliver := func(Result) {}
	for _, opts := range []SchedulerOptions{
		{Deliver: deliver},
		{Interval: -time.Second, Deliver: deliver},
		{Interval: time.Second},
		{Interval: time.Second, Deliver: deliver, Concurrency: -1},
	} {
		if _, err := NewScheduler(opts); err == nil {
			t.Errorf("NewScheduler(%+v) succeeded", opts)
		}
	}
	s := newTestScheduler(t, SchedulerOptions{Interval: time.Second, Deliver: deliver})
	jobs := testJobs(t, "a", "b")
	if err := s.Update(append(jobs, jobs[0])); err == nil || !strings.Contains(err.Error(), "duplicate job www/a") {
		t.Errorf("duplicate key: %v", err)
	}
	if err := s.Update([]Job{{Key: Key{"www", "x"}}}); err == nil {
		t.Error("a job without a spec was accepted")
	}
}

func TestSchedulerRunTwice(t *testing.T) {
	clk := newFakeClock(t0)
	s := newTestScheduler(t, SchedulerOptions{Interval: time.Second, Deliver: func(Result) {}, Clock: clk})
	runScheduler(t, s)
	waitFor(t, "Run to start", s.running.Load)
	if err := s.Run(context.Background()); err == nil {
		t.Error("a second Run did not fail")
	}
}

// TestSchedulerRealClock is the smoke test of the real clock and the real
// prober: three targets at a short interval each deliver results.
func TestSchedulerRealClock(t *testing.T) {
	srv := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	var (
		mu  sync.Mutex
		got = map[Key]int{}
		bad []Result
	)
	s := newTestScheduler(t, SchedulerOptions{
		Interval: 100 * time.Millisecond,
		Checker:  newProber(t, Options{SourceAddr: "127.0.20.1"}),
		Deliver: func(r Result) {
			mu.Lock()
			defer mu.Unlock()
			got[Key{r.Service, r.Target}]++
			if !r.OK {
				bad = append(bad, r)
			}
		},
	})
	var jobs []Job
	for _, name := range []string{"primary", "backup", "origin"} {
		jobs = append(jobs, Job{Key: Key{"www", name}, Spec: compile(t, config.Probe{URL: srv.URL + "/healthz"})})
	}
	if err := s.Update(jobs); err != nil {
		t.Fatal(err)
	}
	cancel := runScheduler(t, s)
	waitFor(t, "two results per target", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, j := range jobs {
			if got[j.Key] < 2 {
				return false
			}
		}
		return true
	})
	cancel()
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("failed results: %+v", bad)
	}
	if st := s.Stats(); st.Started < 6 {
		t.Errorf("stats = %+v", st)
	}
}

// TestSchedulerCancelInFlight: cancelling Run aborts a probe in flight, Run
// returns promptly, and the aborted probe's result is not delivered.
func TestSchedulerCancelInFlight(t *testing.T) {
	var accepted atomic.Int32
	silent := rawServer(t, func(c net.Conn) {
		accepted.Add(1)
		_ = readRequestHead(c)
		buf := make([]byte, 1)
		_, _ = c.Read(buf) // until the probe or the cleanup closes c
	})
	var delivered atomic.Int32
	s := newTestScheduler(t, SchedulerOptions{
		Interval:  time.Hour,
		MaxJitter: -1, // start at once
		Deliver:   func(Result) { delivered.Add(1) },
	})
	spec := compile(t, config.Probe{URL: "http://" + silent + "/", Timeout: time.Minute})
	if err := s.Update([]Job{{Key: Key{"www", "primary"}, Spec: spec}}); err != nil {
		t.Fatal(err)
	}
	cancel := runScheduler(t, s)
	waitFor(t, "the probe to connect", func() bool { return accepted.Load() == 1 })
	start := time.Now()
	cancel()
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Run took %s to return", elapsed)
	}
	if n := delivered.Load(); n != 0 {
		t.Errorf("%d results delivered from a cancelled probe", n)
	}
}
