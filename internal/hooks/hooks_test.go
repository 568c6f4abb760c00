package hooks

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/failoverhq/failover/internal/config"
)

func TestRunnerRunsHooksConcurrently(t *testing.T) {
	// The receiver holds each request until both webhooks have arrived:
	// run one after the other, the first would give up and fail.
	var mu sync.Mutex
	ids := map[string]bool{}
	both := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids[r.Header.Get(HeaderID)] = true
		if len(ids) == 2 {
			close(both)
		}
		mu.Unlock()
		select {
		case <-both:
			w.WriteHeader(http.StatusAccepted)
		case <-time.After(5 * time.Second):
			w.WriteHeader(http.StatusServiceUnavailable)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)

	reg := prometheus.NewRegistry()
	secret := newSecret(t)
	r, err := New(Options{
		Hooks: []config.Hook{
			{Name: "notify-a", Type: config.HookWebhook, URL: srv.URL, SecretFile: "/run/secrets/a", Timeout: 10 * time.Second},
			{Name: "notify-b", Type: config.HookWebhook, URL: srv.URL, SecretFile: "/run/secrets/b", Timeout: 10 * time.Second},
			{Name: "page", Type: config.HookExec, Command: sh(`echo "$FAILOVER_EVENT_ID"; exit 1`), Timeout: 10 * time.Second},
		},
		Secret:     func(config.SecretRef) (string, error) { return secret, nil },
		Registerer: reg,
		Logger:     quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	ev := testEvent()
	ev.ID, ev.Time = "", time.Time{}
	results := r.Run(context.Background(), []string{"notify-a", "page", "missing", "notify-b"}, ev)

	if len(results) != 4 {
		t.Fatalf("%d results", len(results))
	}
	want := []struct {
		hook, typ string
		ok        bool
	}{
		{"notify-a", config.HookWebhook, true},
		{"page", config.HookExec, false},
		{"missing", "", false},
		{"notify-b", config.HookWebhook, true},
	}
	for i, w := range want {
		got := results[i]
		if got.Hook != w.hook || got.Type != w.typ || got.OK != w.ok {
			t.Errorf("result %d: %+v, want %s %s ok=%v", i, got, w.hook, w.typ, w.ok)
		}
		if got.Duration <= 0 && w.typ != "" {
			t.Errorf("result %d: no duration", i)
		}
	}
	if !strings.Contains(results[2].Error, `unknown hook "missing"`) {
		t.Errorf("unknown hook: %q", results[2].Error)
	}
	// Every hook saw the same event ID, which the Runner made up.
	eventID := strings.TrimSpace(results[1].Output)
	if !strings.HasPrefix(eventID, "evt_") || len(eventID) != 36 {
		t.Fatalf("exec hook saw event id %q", eventID)
	}
	mu.Lock()
	if !ids[eventID+".notify-a"] || !ids[eventID+".notify-b"] {
		t.Errorf("webhook ids %v, want %s.notify-a and %s.notify-b", ids, eventID, eventID)
	}
	mu.Unlock()

	for _, c := range []struct {
		hook, result string
		want         float64
	}{
		{"notify-a", ResultOK, 1}, {"notify-b", ResultOK, 1}, {"page", ResultError, 1}, {"missing", ResultError, 1},
	} {
		if got := testutil.ToFloat64(r.runs.WithLabelValues(c.hook, c.result)); got != c.want {
			t.Errorf("failover_hook_runs_total{hook=%s,result=%s} = %v, want %v", c.hook, c.result, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(reg, "failover_hook_runs_total"); n != 4 {
		t.Errorf("%d series, want 4", n)
	}
	// A second Runner on the same registry (a reload) shares the counter.
	r2, err := New(Options{Registerer: reg, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r2.Run(context.Background(), []string{"missing"}, ev)
	if got := testutil.ToFloat64(r.runs.WithLabelValues("missing", ResultError)); got != 2 {
		t.Errorf("after a second Runner: %v, want 2", got)
	}
}

func TestNewRejects(t *testing.T) {
	secret := func(config.SecretRef) (string, error) { return "whsec_c2VjcmV0", nil }
	tests := []struct {
		name  string
		hooks []config.Hook
		want  string
	}{
		{"duplicate name", []config.Hook{
			{Name: "x", Type: config.HookExec, Command: []string{"/bin/true"}},
			{Name: "x", Type: config.HookExec, Command: []string{"/bin/true"}},
		}, `"x" is empty or used twice`},
		{"unknown type", []config.Hook{{Name: "x", Type: "carrier_pigeon"}}, `x: unknown type "carrier_pigeon"`},
		{"webhook without a secret", []config.Hook{{Name: "x", Type: config.HookWebhook, URL: "https://ops.test/"}}, "x: a webhook needs secret_env or secret_file"},
		{"webhook url", []config.Hook{{Name: "x", Type: config.HookWebhook, URL: "ops.test/hook", SecretEnv: "S"}}, "x: url: must be an absolute"},
		{"exec without command", []config.Hook{{Name: "x", Type: config.HookExec}}, "x: command"},
		{"negative retries", []config.Hook{{Name: "x", Type: config.HookExec, Command: []string{"/bin/true"}, Retries: -1}}, "x: retries"},
		{"autoscaling without group", []config.Hook{{Name: "x", Type: config.HookAWSAutoscaling, DesiredCapacity: 2, Region: "us-east-1"}}, "x: group and desired_capacity"},
		{"min above desired", []config.Hook{{Name: "x", Type: config.HookAWSAutoscaling, Group: "g", DesiredCapacity: 2, MinInService: 3, Region: "us-east-1"}}, "x: min_in_service 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Options{Hooks: tt.hooks, Secret: secret, Logger: quiet})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want %q", err, tt.want)
			}
		})
	}
}

func TestResultJSON(t *testing.T) {
	code := 0
	r := Result{Hook: "page", Type: config.HookExec, OK: true, Duration: 1500 * time.Millisecond, Attempts: 1, ExitCode: &code}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["duration_ms"] != 1500.0 || m["hook"] != "page" || m["ok"] != true || m["exit_code"] != 0.0 || m["attempts"] != 1.0 {
		t.Errorf("JSON %s", b)
	}
	if _, ok := m["stderr"]; ok {
		t.Errorf("empty fields are left out: %s", b)
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	for n, ceiling := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 40: time.Second} {
		for range 200 {
			if d := b.delay(n); d < ceiling/2 || d > ceiling {
				t.Fatalf("delay(%d) = %s, want between %s and %s", n, d, ceiling/2, ceiling)
			}
		}
	}
}
