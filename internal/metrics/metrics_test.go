package metrics

import (
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The names are CONTRACT §5's, exactly.
func TestNames(t *testing.T) {
	m := New()
	m.ProbeResults.WithLabelValues("www", "primary", "lab-a", "ok").Inc()
	m.ProbeDuration.WithLabelValues("www", "primary", "lab-a").Observe(0.01)
	m.TargetHealthy.WithLabelValues("www", "primary").Set(1)
	m.RouteWeight.WithLabelValues("www", "primary").Set(100)
	m.SetState("www", "healthy")
	m.Transitions.WithLabelValues("www", "healthy", "degraded").Inc()
	m.DNSChanges.WithLabelValues("edge", "ok").Inc()
	m.DNSApplyDuration.WithLabelValues("edge").Observe(0.001)
	m.WarmupURLs.WithLabelValues("www", "backup", "hit").Inc()
	m.HookRuns.WithLabelValues("scale-origin", "ok").Inc()
	m.VantageLive.WithLabelValues("lab-a").Set(1)
	m.Leader.Set(1)
	m.ResultsDropped.WithLabelValues("future").Inc()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "failover_") {
			got = append(got, mf.GetName())
		}
	}
	want := []string{
		"failover_config_reload_total", "failover_dns_apply_duration_seconds", "failover_dns_changes_total",
		"failover_hook_runs_total", "failover_leader", "failover_probe_duration_seconds",
		"failover_probe_results_total", "failover_results_dropped_total", "failover_route_weight",
		"failover_service_state", "failover_target_healthy", "failover_transitions_total",
		"failover_vantage_live", "failover_warmup_urls_total",
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("metric names:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSetState(t *testing.T) {
	m := New()
	m.SetState("www", "degraded")
	m.SetState("www", "failed_over")
	for _, s := range States {
		want := 0.0
		if s == "failed_over" {
			want = 1
		}
		if got := testutil.ToFloat64(m.ServiceState.WithLabelValues("www", s)); got != want {
			t.Errorf("state %s = %v, want %v", s, got, want)
		}
	}
}

func TestHealthValue(t *testing.T) {
	for in, want := range map[string]float64{"healthy": 1, "unhealthy": 0, "unknown": -1, "": -1} {
		if got := HealthValue(in); got != want {
			t.Errorf("HealthValue(%q) = %v, want %v", in, got, want)
		}
	}
}
