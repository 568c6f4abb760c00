// Package metrics defines failover's Prometheus metrics, with exactly the
// names and labels of CONTRACT §5, on a registry of their own (never the
// global one).
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// States lists the service states, for failover_service_state.
var States = []string{"healthy", "degraded", "failing_over", "failed_over", "recovering", "manual", "frozen"}

// Metrics are the controller's collectors.
type Metrics struct {
	Registry *prometheus.Registry

	ProbeResults     *prometheus.CounterVec   // service, target, vantage, class
	ProbeDuration    *prometheus.HistogramVec // service, target, vantage
	TargetHealthy    *prometheus.GaugeVec     // service, target: 1, 0, -1 unknown
	RouteWeight      *prometheus.GaugeVec     // service, target
	ServiceState     *prometheus.GaugeVec     // service, state
	Transitions      *prometheus.CounterVec   // service, from, to
	DNSChanges       *prometheus.CounterVec   // provider, result
	DNSApplyDuration *prometheus.HistogramVec // provider
	WarmupURLs       *prometheus.CounterVec   // service, target, result
	HookRuns         *prometheus.CounterVec   // hook, result
	VantageLive      *prometheus.GaugeVec     // vantage
	Leader           prometheus.Gauge
	ConfigReload     *prometheus.CounterVec // result
	ResultsDropped   *prometheus.CounterVec // reason
}

// New makes the collectors and registers them, with the Go and process
// collectors, on a new registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		ProbeResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "failover_probe_results_total", Help: "Probe results by failure class.",
		}, []string{"service", "target", "vantage", "class"}),
		ProbeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "failover_probe_duration_seconds", Help: "Probe duration, all phases.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 5, 10},
		}, []string{"service", "target", "vantage"}),
		TargetHealthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "failover_target_healthy", Help: "Target verdict: 1 healthy, 0 unhealthy, -1 unknown.",
		}, []string{"service", "target"}),
		RouteWeight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "failover_route_weight", Help: "Weight of a target as applied to DNS (0-100).",
		}, []string{"service", "target"}),
		ServiceState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "failover_service_state", Help: "1 on the service's current state, 0 on the others.",
		}, []string{"service", "state"}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "failover_transitions_total", Help: "State transitions.",
		}, []string{"service", "from", "to"}),
		DNSChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "failover_dns_changes_total", Help: "DNS writes by result (ok, error, retryable, verify).",
		}, []string{"provider", "result"}),
		DNSApplyDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "failover_dns_apply_duration_seconds", Help: "Duration of a DNS apply, read-back included.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"provider"}),
		WarmupURLs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "failover_warmup_urls_total", Help: "Warm-up fetches by result.",
		}, []string{"service", "target", "result"}),
		HookRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "failover_hook_runs_total", Help: "Hook runs by result.",
		}, []string{"hook", "result"}),
		VantageLive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "failover_vantage_live", Help: "1 while a vantage's results are fresh, 0 otherwise.",
		}, []string{"vantage"}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "failover_leader", Help: "1 while this controller is the leader and may write DNS.",
		}),
		ConfigReload: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "failover_config_reload_total", Help: "Config loads and reloads by result (ok, error).",
		}, []string{"result"}),
		ResultsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "failover_results_dropped_total", Help: "Probe results dropped, by reason.",
		}, []string{"reason"}),
	}
	m.Registry.MustRegister(
		m.ProbeResults, m.ProbeDuration, m.TargetHealthy, m.RouteWeight, m.ServiceState,
		m.Transitions, m.DNSChanges, m.DNSApplyDuration, m.WarmupURLs, m.HookRuns,
		m.VantageLive, m.Leader, m.ConfigReload, m.ResultsDropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Counters that alerts watch start at zero rather than absent.
	for _, r := range []string{"ok", "error"} {
		m.ConfigReload.WithLabelValues(r)
	}
	return m
}

// SetState sets failover_service_state for a service: 1 on state, 0 on the
// others.
func (m *Metrics) SetState(service, state string) {
	for _, s := range States {
		v := 0.0
		if s == state {
			v = 1
		}
		m.ServiceState.WithLabelValues(service, s).Set(v)
	}
}

// HealthValue maps a verdict to failover_target_healthy's value.
func HealthValue(health string) float64 {
	switch health {
	case "healthy":
		return 1
	case "unhealthy":
		return 0
	}
	return -1
}
