package runner

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/builtin"
	"github.com/failoverhq/failover/internal/dnsswitch/providers"
	"github.com/failoverhq/failover/internal/metrics"
	"github.com/failoverhq/failover/internal/store"
)

// edge is an HTTP target on its own loopback address whose health the test
// switches.
func edge(t *testing.T, ip string, down *atomic.Bool) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if down != nil && down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	srv.Listener.Close()
	srv.Listener = listenOn(t, ip)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

const realYAML = `
controller:
  listen: 127.0.0.1:0
  data_dir: %s
  evaluate_every: 50ms
probes:
  local: true
  vantage: local
  interval: 100ms
  timeout: 80ms
  source_addr: 127.0.0.1
dns:
  providers:
    - {name: edge, type: builtin, listen: 127.0.0.1:0, zone: test., ns: [ns1.test.]}
services:
  - name: www
    record: www.test.
    provider: edge
    ttl: 5
    targets:
      - {name: primary, role: primary, answer: {type: A, values: [192.0.2.1]}, probe: {url: "http://%s/healthz"}}
      - {name: backup, role: backup, answer: {type: A, values: [192.0.2.2]}, probe: {url: "http://%s/healthz"}}
      - {name: origin, role: origin, answer: {type: A, values: [192.0.2.3]}, probe: {url: "http://%s/healthz"}}
    policy:
      fall: 2
      rise: 2
      quorum: 0.5
      min_vantages: 1
      recover_after: 300ms
      failback: {steps: [50, 100], hold: 200ms}
      max_shifts_per_hour: 30
`

// TestRealTime runs the runner on the wall clock with its local prober
// against real HTTP targets: a fault of the primary moves DNS to the backup,
// and its end brings DNS back through the ramp.
func TestRealTime(t *testing.T) {
	var primaryDown atomic.Bool
	pAddr := edge(t, "127.0.0.2", &primaryDown)
	bAddr := edge(t, "127.0.0.3", nil)
	oAddr := edge(t, "127.0.0.4", nil)
	dir := t.TempDir()
	cfg, _, err := config.Parse(fmt.Appendf(nil, realYAML, dir, pAddr, bAddr, oAddr), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var prov atomic.Pointer[builtin.Provider]
	h := &harness{t: t} // for waitFor and dnsAnswer
	r, err := New(cfg, Options{
		Logger:  testLogger(t),
		Metrics: metrics.New(),
		Store:   st,
		Hooks:   &fakeHooks{},
		ProviderFactory: func(ctx context.Context, p config.Provider, o providers.Options) (dnsswitch.Provider, error) {
			b, err := providers.Build(ctx, p, o)
			if err == nil {
				prov.Store(b.(*builtin.Provider))
				h.prov.Store(&testProvider{Provider: b.(*builtin.Provider)})
			}
			return b, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	poll := func(what string, limit time.Duration, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > limit {
				s, _ := r.Service("www")
				t.Fatalf("no %s within %s: state %s, reason %q, routing %v", what, limit, s.State, s.Reason, s.Routing)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return time.Since(start)
	}
	answer := func(want string) func() bool {
		return func() bool { return h.dnsAnswer() == ips[want] }
	}
	poll("readiness", 10*time.Second, func() bool { return r.Ready() == nil })
	poll("DNS on the primary", 10*time.Second, answer("primary"))

	primaryDown.Store(true)
	took := poll("failover to the backup", 10*time.Second, answer("backup"))
	t.Logf("fault to DNS answer: %s (fall 2 x interval 100ms)", took.Round(time.Millisecond))
	if s, _ := r.Service("www"); s.State != "failed_over" || s.Targets[0].Health != "unhealthy" {
		t.Fatalf("after failover: %+v", s)
	}

	primaryDown.Store(false)
	poll("recovery to the primary", 10*time.Second, func() bool {
		s, _ := r.Service("www")
		return s.State == "healthy" && s.Routing["primary"] == 100
	})
	if got := h.dnsAnswer(); got != ips["primary"] {
		t.Fatalf("DNS answers %q after recovery", got)
	}
	// The engine records the last write once it hears of it.
	var evs []store.Event
	poll("the last write in the audit trail", 5*time.Second, func() bool {
		evs, err = r.Events(store.Query{Service: "www"})
		a := applied(evs)
		return err == nil && len(a) > 0 && a[len(a)-1] == "primary 100"
	})
	got := transitions(evs)
	for _, want := range []string{"failing_over->failed_over", "failed_over->recovering", "recovering->healthy"} {
		if !slices.Contains(got, want) {
			t.Errorf("no %s among %q", want, got)
		}
	}
	if a := applied(evs); len(a) < 4 || a[len(a)-2] != "primary 50, backup 50" || a[len(a)-3] != "backup 100" {
		t.Errorf("applied routings %q, want backup 100, then the ramp through primary 50", a)
	}
}
