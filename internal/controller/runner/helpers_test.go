package runner

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/controller"
	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/builtin"
	"github.com/failoverhq/failover/internal/dnsswitch/providers"
	"github.com/failoverhq/failover/internal/hooks"
	"github.com/failoverhq/failover/internal/metrics"
	"github.com/failoverhq/failover/internal/probe"
	"github.com/failoverhq/failover/internal/store"
	"github.com/failoverhq/failover/internal/warmup"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// ---- fake clock ----

type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       chan time.Time
	at      time.Time
	stopped bool
	fired   bool
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) probe.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: make(chan time.Time, 1), at: c.now.Add(d)}
	if d <= 0 {
		t.fired = true
		t.c <- c.now
		return &fakeTimerHandle{c: c, t: t}
	}
	c.timers = append(c.timers, t)
	return &fakeTimerHandle{c: c, t: t}
}

// Advance moves the clock and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.timers[:0]
	for _, t := range c.timers {
		if t.stopped {
			continue
		}
		if !t.at.After(c.now) {
			t.fired = true
			t.c <- c.now
			continue
		}
		keep = append(keep, t)
	}
	c.timers = keep
}

type fakeTimerHandle struct {
	c *fakeClock
	t *fakeTimer
}

func (h *fakeTimerHandle) C() <-chan time.Time { return h.t.c }

func (h *fakeTimerHandle) Stop() bool {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	was := !h.t.fired && !h.t.stopped
	h.t.stopped = true
	return was
}

// ---- fakes of the actions ----

type fakeWarmer struct {
	mu    sync.Mutex
	calls []string // target names
	err   error
}

func (w *fakeWarmer) Warm(_ context.Context, svc config.Service, t config.Target) (warmup.Result, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, t.Name)
	if w.err != nil {
		return warmup.Result{}, w.err
	}
	return warmup.Result{Service: svc.Name, Target: t.Name, URLs: 2,
		Pass: warmup.Pass{URLs: 2, OK: 2, Hits: 1, Misses: 1}, HitRatio: 0.5}, nil
}

func (w *fakeWarmer) targets() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.calls)
}

type fakeHooks struct {
	mu     sync.Mutex
	events []hooks.Event
	names  [][]string
	fail   map[string]bool
}

func (h *fakeHooks) Run(_ context.Context, names []string, ev hooks.Event) []hooks.Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
	h.names = append(h.names, slices.Clone(names))
	out := make([]hooks.Result, len(names))
	for i, n := range names {
		out[i] = hooks.Result{Hook: n, Type: config.HookExec, OK: !h.fail[n], Attempts: 1, Duration: 20 * time.Millisecond}
		if h.fail[n] {
			out[i].Error = "exit status 1"
		}
	}
	return out
}

func (h *fakeHooks) runs() []hooks.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

// testProvider wraps the builtin provider: it counts writes and can fail
// them.
type testProvider struct {
	*builtin.Provider
	applies  atomic.Int32
	failNext atomic.Int32 // fail this many writes
	failWith error
	// panicNext makes this many writes panic, as a buggy SDK might.
	panicNext atomic.Int32
}

func (p *testProvider) Apply(ctx context.Context, svc dnsswitch.Service, r dnsswitch.Routing, o dnsswitch.ApplyOptions) error {
	p.applies.Add(1)
	if p.panicNext.Load() > 0 {
		p.panicNext.Add(-1)
		panic("provider bug")
	}
	if p.failNext.Load() > 0 {
		p.failNext.Add(-1)
		return p.failWith
	}
	return p.Provider.Apply(ctx, svc, r, o)
}

// ---- the harness ----

const labYAML = `
controller:
  listen: 127.0.0.1:0
  data_dir: %s
  evaluate_every: 500ms
probes:
  local: false
  vantage: local
  interval: 1s
  timeout: 500ms
dns:
  providers:
    - {name: edge, type: builtin, listen: 127.0.0.1:0, zone: test., ns: [ns1.test.]}
hooks:
  - {name: scale-origin, type: exec, command: [/bin/true], timeout: 1s}
  - {name: page, type: exec, command: [/bin/true], timeout: 1s}
services:
  - name: www
    record: www.test.
    provider: edge
    ttl: 5
    targets:
      - name: primary
        role: primary
        answer: {type: A, values: [192.0.2.1]}
        probe: {url: http://192.0.2.1/healthz}
      - name: backup
        role: backup
        answer: {type: A, values: [192.0.2.2]}
        probe: {url: http://192.0.2.2/healthz}
        warmup: {urls: [/a, /b], max_wait: 3s}
      - name: origin
        role: origin
        answer: {type: A, values: [192.0.2.3]}
        probe: {url: http://192.0.2.3/healthz}
        before_shift: [scale-origin]
        steps: [25, 50, 100]
    policy:
      fall: 3
      rise: 3
      quorum: 0.5
      min_vantages: 2
      recover_after: 5s
      failback: {steps: [25, 50, 100], hold: 3s}
      max_shifts_per_hour: 30
    on: {failover: [page], recovered: [page]}
%s`

var ips = map[string]string{"primary": "192.0.2.1", "backup": "192.0.2.2", "origin": "192.0.2.3"}

var vantages = []string{"a", "b", "c"}

func parseConfig(t *testing.T, dir, extra string) *config.Config {
	t.Helper()
	cfg, _, err := config.Parse(fmt.Appendf(nil, labYAML, dir, extra), config.Options{})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

type harness struct {
	t      *testing.T
	dir    string
	clk    *fakeClock
	cfg    *config.Config
	st     *store.Store
	m      *metrics.Metrics
	r      *Runner
	warmer *fakeWarmer
	hooks  *fakeHooks
	prov   atomic.Pointer[testProvider]
	// faults maps target -> vantages that see it fail.
	faults map[string][]string
	cancel context.CancelFunc
	done   chan error
	// prepare, if set, changes the provider before it is used.
	prepare func(*testProvider)
	opts    func(*Options)
}

func newHarness(t *testing.T) *harness {
	dir := t.TempDir()
	return &harness{t: t, dir: dir, clk: newFakeClock(t0), cfg: parseConfig(t, dir, ""), faults: map[string][]string{}}
}

// start runs a Runner until the test ends and waits until it is ready.
func (h *harness) start() {
	h.t.Helper()
	h.launch()
	h.waitFor("ready", func() bool { return h.r.Ready() == nil })
	h.settle()
}

// launch opens the store and runs a Runner until the test ends.
func (h *harness) launch() {
	t := h.t
	t.Helper()
	st, err := store.Open(h.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.st = st
	h.m = metrics.New()
	h.warmer = &fakeWarmer{}
	h.hooks = &fakeHooks{fail: map[string]bool{}}
	opts := Options{
		Logger:  testLogger(t),
		Metrics: h.m,
		Store:   st,
		Clock:   h.clk,
		ProviderFactory: func(ctx context.Context, p config.Provider, o providers.Options) (dnsswitch.Provider, error) {
			b, err := providers.Build(ctx, p, o)
			if err != nil {
				return nil, err
			}
			tp := &testProvider{Provider: b.(*builtin.Provider)}
			if h.prepare != nil {
				h.prepare(tp)
			}
			h.prov.Store(tp)
			return tp, nil
		},
		Warmer: h.warmer,
		Hooks:  h.hooks,
		Engine: controller.Options{DNSRetry: time.Second},
	}
	if h.opts != nil {
		h.opts(&opts)
	}
	r, err := New(h.cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- r.Run(ctx) }()
	t.Cleanup(h.stop)
	h.waitFor("the runner to run", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.running
	})
}

// stop stops the runner and closes the store; it may be called twice.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return")
	}
	if err := h.st.Close(); err != nil {
		h.t.Error(err)
	}
}

// waitFor polls cond until it holds, failing the test after a deadline.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			h.t.Fatalf("timed out waiting for %s\n%s", what, buf)
		}
		time.Sleep(time.Millisecond)
	}
}

// quiescent reports that nothing is in flight or waiting in the runner.
func (r *Runner) quiescent() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inflight > 0 || len(r.kick) > 0 || r.evalsStarted != r.evalsDone {
		return false
	}
	for _, s := range r.services {
		if len(s.reports) > 0 || s.reading {
			return false
		}
	}
	return true
}

// settle waits until the runner is quiescent.
func (h *harness) settle() {
	h.t.Helper()
	h.waitFor("the runner to settle", h.r.quiescent)
}

// tick advances the clock by half a second (evaluate_every), waits for the
// evaluation it triggers and for everything that evaluation started.
func (h *harness) tick() {
	h.t.Helper()
	h.settle()
	h.r.mu.Lock()
	before := h.r.evalsDone
	h.r.mu.Unlock()
	h.clk.Advance(500 * time.Millisecond)
	h.waitFor("an evaluation", func() bool {
		h.r.mu.Lock()
		defer h.r.mu.Unlock()
		return h.r.evalsDone > before
	})
	h.settle()
}

// round has every vantage of vs probe every target once, as the faults say,
// and lets a probe interval (two evaluations) pass.
func (h *harness) round(vs ...string) {
	h.t.Helper()
	if len(vs) == 0 {
		vs = vantages
	}
	now := h.clk.Now()
	for _, v := range vs {
		var batch []probe.Result
		for _, target := range []string{"primary", "backup", "origin"} {
			res := probe.Result{Service: "www", Target: target, Time: now, OK: true, Class: probe.ClassOK, Status: 200, LatencyMs: 12}
			if slices.Contains(h.faults[target], v) {
				res = probe.Result{Service: "www", Target: target, Time: now, Class: probe.ClassRefused, LatencyMs: 1,
					Error: "connect: connection refused"}
			}
			batch = append(batch, res)
		}
		ack, err := h.r.SubmitResults(context.Background(), api.ResultsBatch{Vantage: v, Results: batch}, api.Actor{Name: "agent-" + v, Role: config.RoleAgent})
		if err != nil || ack.Accepted != len(batch) {
			h.t.Fatalf("submit %s: ack %+v, err %v", v, ack, err)
		}
	}
	h.tick()
	h.tick()
}

func (h *harness) rounds(n int, vs ...string) {
	h.t.Helper()
	for range n {
		h.round(vs...)
	}
}

func (h *harness) fault(target string, vs ...string) { h.faults[target] = vs }

func (h *harness) clear(target string) { delete(h.faults, target) }

func (h *harness) service() api.Service {
	h.t.Helper()
	s, ok := h.r.Service("www")
	if !ok {
		h.t.Fatal("no service www")
	}
	return s
}

func (h *harness) state() string { return h.service().State }

// events returns the stored events of www.
func (h *harness) events() []store.Event {
	h.t.Helper()
	evs, err := h.r.Events(store.Query{Service: "www"})
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

// dnsAnswer asks the builtin server for www.test.'s A record.
func (h *harness) dnsAnswer() string {
	h.t.Helper()
	addr := h.prov.Load().Addr()
	if addr == "" {
		h.t.Fatal("the builtin DNS server is not listening")
	}
	m := new(dns.Msg)
	m.SetQuestion("www.test.", dns.TypeA)
	c := &dns.Client{Timeout: 2 * time.Second}
	in, _, err := c.Exchange(m, addr)
	if err != nil {
		h.t.Fatalf("dns query: %v", err)
	}
	var got []string
	for _, rr := range in.Answer {
		if a, ok := rr.(*dns.A); ok {
			got = append(got, a.A.String())
		}
	}
	return strings.Join(got, ",")
}

// testLogger writes the runner's logs to the test's output with -v.
func testLogger(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// listenOn returns a listener on ip:0. Where the address cannot be bound
// the test is skipped, except in CI, where that is a failure.
func listenOn(t *testing.T, ip string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot bind %s: %v", ip, err)
		}
		t.Skipf("cannot bind %s: %v", ip, err)
	}
	return ln
}

// messages of event types, in order, for failure output.
func describe(evs []store.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %s %s %s->%s: %s\n", e.Time.Format("15:04:05.000"), e.Type, e.From, e.To, e.Message)
	}
	return b.String()
}
