package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/client"
	"github.com/failoverhq/failover/internal/probe"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Modes of the fake controller's results endpoint.
const (
	modeUp     int32 = iota // take batches
	modeDown                // hang up: a connection error
	modeReject              // 400
	modeAuth                // 401
)

// received is one result as the controller got it.
type received struct {
	vantage string
	result  probe.Result
	phase   int32 // the controller's phase when it arrived
}

// controller is an httptest server speaking the agent endpoints of
// CONTRACT §4.
type controller struct {
	*httptest.Server
	mode  atomic.Int32
	phase atomic.Int32 // a label the test sets, recorded with each result

	mu        sync.Mutex
	plan      api.ProbePlan
	planCalls int
	planQuery []string
	auth      []string
	got       []received
	attempts  map[int64]int // result time -> pushes that carried it
}

func newController(t *testing.T, plan api.ProbePlan) *controller {
	t.Helper()
	c := &controller{plan: plan, attempts: map[int64]int{}}
	c.Server = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.Close)
	return c
}

func (c *controller) serve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.auth = append(c.auth, r.Header.Get("Authorization"))
	c.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/plan":
		c.mu.Lock()
		c.planCalls++
		c.planQuery = append(c.planQuery, r.URL.RawQuery)
		p := c.plan
		c.mu.Unlock()
		writeJSON(w, 200, p)
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/results":
		mode := c.mode.Load()
		if mode == modeDown {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		var b api.ResultsBatch
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
			writeJSON(w, 400, map[string]string{"error": "results: " + err.Error()})
			return
		}
		c.mu.Lock()
		for _, res := range b.Results {
			c.attempts[res.Time.UnixNano()]++
		}
		c.mu.Unlock()
		switch mode {
		case modeReject:
			writeJSON(w, 400, map[string]string{"error": "results: malformed batch"})
			return
		case modeAuth:
			writeJSON(w, 401, map[string]string{"error": "missing or invalid token"})
			return
		}
		phase := c.phase.Load()
		c.mu.Lock()
		for _, res := range b.Results {
			c.got = append(c.got, received{vantage: b.Vantage, result: res, phase: phase})
		}
		c.mu.Unlock()
		writeJSON(w, 200, api.ResultsAck{Accepted: len(b.Results)})
	default:
		writeJSON(w, 404, map[string]string{"error": "not found"})
	}
}

func (c *controller) setPlan(p api.ProbePlan) {
	c.mu.Lock()
	c.plan = p
	c.mu.Unlock()
}

func (c *controller) received() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

func (c *controller) count(target string) int {
	n := 0
	for _, r := range c.received() {
		if target == "" || r.result.Target == target {
			n++
		}
	}
	return n
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// target is a local HTTP target that answers /healthz with "ok".
type target struct {
	*httptest.Server
	hits atomic.Int64
}

func newTarget(t *testing.T) *target {
	t.Helper()
	tg := &target{}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		_, _ = io.WriteString(w, "ok\n")
	}))
	t.Cleanup(tg.Close)
	return tg
}

// check returns a plan item that probes tg's /healthz.
func check(service, targetName string, tg *target) api.PlanItem {
	return api.PlanItem{Service: service, Target: targetName, Probe: map[string]any{
		"url":    tg.URL + "/healthz",
		"expect": map[string]any{"status": []any{200}, "body_contains": "ok"},
	}}
}

// recorder wraps a Checker and records the time of every result it
// produces, in order.
type recorder struct {
	probe.Checker
	mu    sync.Mutex
	times []int64
}

func (r *recorder) Probe(ctx context.Context, s *probe.Spec) probe.Result {
	res := r.Checker.Probe(ctx, s)
	r.mu.Lock()
	r.times = append(r.times, res.Time.UnixNano())
	r.mu.Unlock()
	return res
}

func (r *recorder) produced() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.times)
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	p, err := probe.New(probe.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &recorder{Checker: p}
}

// newAPIClient returns a client of the given controller URLs.
func newAPIClient(t *testing.T, urls ...string) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{Servers: urls, Token: "agent-token", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// fastOptions are Options with short periods for tests on the real clock.
func fastOptions(ctl Controller) Options {
	return Options{
		Controller: ctl,
		Vantage:    "eu-1",
		PlanEvery:  50 * time.Millisecond,
		PushEvery:  10 * time.Millisecond,
		MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 40 * time.Millisecond,
		BatchSize:  50,
	}
}

// start runs a on its own goroutine; the returned func stops it and checks
// that Run returned nil promptly.
func start(t *testing.T, a *Agent) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
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
	t.Cleanup(stop)
	return stop
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), substr)
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fakeClock is a probe.Clock that moves only when the test says so.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	pending map[*fakeTimer]bool
}

type fakeTimer struct {
	c     chan time.Time
	d     time.Duration
	when  time.Time
	clock *fakeClock
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), pending: map[*fakeTimer]bool{}}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) probe.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: make(chan time.Time, 1), d: d, when: c.now.Add(d), clock: c}
	if d <= 0 {
		t.c <- c.now
		return t
	}
	c.pending[t] = true
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := t.clock.pending[t]
	delete(t.clock.pending, t)
	return was
}

// advance moves the clock by d and fires the timers that are due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.pending {
		if !t.when.After(c.now) {
			delete(c.pending, t)
			t.c <- c.now
		}
	}
}

// pending returns the durations the pending timers were made with, sorted.
func (c *fakeClock) pendingDurations() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for t := range c.pending {
		out = append(out, t.d)
	}
	slices.Sort(out)
	return out
}
