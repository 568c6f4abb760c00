package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/probe"
)

func TestCompilePlan(t *testing.T) {
	item := func(target string, p map[string]any) api.PlanItem {
		return api.PlanItem{Service: "www", Target: target, Probe: p}
	}
	good := map[string]any{"url": "http://127.0.0.1:18080/healthz"}
	cp, err := compilePlan(api.ProbePlan{Interval: "1s", Timeout: "500ms", Generation: 4, Checks: []api.PlanItem{
		item("primary", good),
		item("backup", map[string]any{"url": "https://backup.example/healthz", "connect_to": "127.0.10.2:443", "timeout": "2s"}),
		item("origin", map[string]any{"url": "http://x/", "timeout": float64(3 * time.Second)}), // nanoseconds
		item("primary", good), // duplicate
		item("Bad Name", good),
		item("nourl", map[string]any{"expect": map[string]any{"status": []any{200}}}),
		item("unknown-key", map[string]any{"url": "http://x/", "colour": "red"}),
		item("bad-regex", map[string]any{"url": "http://x/", "expect": map[string]any{"body_regex": "("}}),
		item("missing", nil),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if cp.generation != 4 || cp.interval != time.Second {
		t.Errorf("generation %d interval %s", cp.generation, cp.interval)
	}
	var keys []string
	timeouts := map[string]time.Duration{}
	for _, j := range cp.jobs {
		keys = append(keys, j.Key.String())
		timeouts[j.Key.Target] = j.Spec.Timeout()
	}
	if strings.Join(keys, " ") != "www/primary www/backup www/origin" {
		t.Errorf("jobs %v", keys)
	}
	if timeouts["primary"] != 500*time.Millisecond || timeouts["backup"] != 2*time.Second || timeouts["origin"] != 3*time.Second {
		t.Errorf("timeouts %v", timeouts)
	}
	wantProblems := []string{
		"checks[3] (www/primary): duplicate check",
		"checks[4] (www/Bad Name): service and target must be names",
		"checks[5] (www/nourl): probe.url: required",
		"checks[6] (www/unknown-key): probe: ",
		"checks[7] (www/bad-regex): probe.expect.body_regex: ",
		"checks[8] (www/missing): probe: missing",
	}
	if len(cp.problems) != len(wantProblems) {
		t.Fatalf("problems %q", cp.problems)
	}
	for i, w := range wantProblems {
		if !strings.HasPrefix(cp.problems[i], w) {
			t.Errorf("problem %d: %q, want prefix %q", i, cp.problems[i], w)
		}
	}
	if !strings.Contains(cp.problems[3], "colour") {
		t.Errorf("unknown key not named: %q", cp.problems[3])
	}
}

func TestCompilePlanErrors(t *testing.T) {
	for _, p := range []api.ProbePlan{
		{Interval: ""},
		{Interval: "0s"},
		{Interval: "-1s"},
		{Interval: "1s", Timeout: "soon"},
		{Interval: "1s", Timeout: "0s"},
	} {
		if _, err := compilePlan(p); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
}

// A plan item gets the config's defaults: GET, and status 200 expected.
func TestDecodeProbeDefaults(t *testing.T) {
	p, err := decodeProbe(map[string]any{"url": "http://x/healthz", "expect": map[string]any{"max_latency": float64(250 * time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Method != "GET" || len(p.Expect.Status) != 1 || p.Expect.Status[0] != 200 || p.Expect.MaxLatency != 250*time.Millisecond {
		t.Errorf("probe %+v", p)
	}
	tcp, err := decodeProbe(map[string]any{"type": "tcp", "connect_to": "127.0.0.1:1"})
	if err != nil || tcp.Type != "tcp" || tcp.Method != "" {
		t.Errorf("tcp probe %+v, %v", tcp, err)
	}
	if _, err := probe.Compile(tcp, probe.Defaults{}); err != nil {
		t.Errorf("tcp probe does not compile: %v", err)
	}
}
