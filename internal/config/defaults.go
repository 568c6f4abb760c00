package config

import "time"

// Defaults returns the configuration that a file overrides field by field.
// Lists (services, providers, hooks, tokens) start empty; each element that a
// file adds starts from DefaultService, DefaultTarget, DefaultProvider or
// DefaultHook.
func Defaults() Config {
	return Config{
		Controller: Controller{
			Listen:        "127.0.0.1:8080",
			DataDir:       "./data",
			EvaluateEvery: 500 * time.Millisecond,
			Election:      Election{Backend: ElectionNone, LeaseTTL: 10 * time.Second},
			Retention:     Retention{MaxAge: 720 * time.Hour, MaxEvents: 100_000},
		},
		Probes: Probes{
			Local:       true,
			Vantage:     "local",
			Interval:    5 * time.Second,
			Timeout:     2 * time.Second,
			Concurrency: 64,
		},
	}
}

// Election backends.
const (
	ElectionNone = "none"
	ElectionEtcd = "etcd"
)

// DefaultPolicy is the decision policy of a service that sets none.
func DefaultPolicy() Policy {
	return Policy{
		Fall:             3,
		Rise:             3,
		Quorum:           0.5,
		MinVantages:      2,
		RecoverAfter:     2 * time.Minute,
		Failback:         Failback{Steps: []int{10, 25, 50, 100}, Hold: time.Minute},
		MaxShiftsPerHour: 6,
	}
}

// DefaultService is what each service in a file starts from.
func DefaultService() Service {
	return Service{TTL: 60, Policy: DefaultPolicy()}
}

// DefaultTarget is what each target in a file starts from. The defaults that
// depend on the probe type (method, expected status) are filled in by
// FillDefaults after decoding.
func DefaultTarget() Target {
	return Target{Probe: Probe{Type: ProbeHTTP}}
}

// DefaultWarmup is what a target's warmup section starts from.
func DefaultWarmup() Warmup {
	return Warmup{
		Concurrency:   32,
		Rate:          200,
		Timeout:       5 * time.Second,
		MaxWait:       10 * time.Second,
		MaxURLs:       10_000,
		MaxErrorRatio: 0.5,
		CacheHeaders:  []string{"X-Cache", "CF-Cache-Status", "Age"},
	}
}

// DefaultProvider is what each DNS provider in a file starts from. The
// defaults that depend on the type are filled in by FillDefaults.
func DefaultProvider() Provider {
	return Provider{Timeout: 10 * time.Second}
}

// DefaultHook is what each hook in a file starts from.
func DefaultHook() Hook {
	return Hook{Timeout: 10 * time.Second, Retries: 3}
}

// Defaults that depend on another field.
const (
	defaultRoute53RateLimit = 5
	defaultProbeMethod      = "GET"
)

// FillDefaults fills the zero-valued fields whose default depends on another
// field: a route53 provider's rate_limit, a cloudflare provider's mode, and
// an http probe's method and expected status. Load and Parse call it after
// decoding; a Config built in code can call it before Validate.
func (c *Config) FillDefaults() {
	for i := range c.DNS.Providers {
		p := &c.DNS.Providers[i]
		switch p.Type {
		case ProviderRoute53:
			if p.RateLimit == 0 {
				p.RateLimit = defaultRoute53RateLimit
			}
		case ProviderCloudflare:
			if p.Mode == "" {
				p.Mode = CloudflareDNSRecord
			}
		}
	}
	for i := range c.Services {
		for j := range c.Services[i].Targets {
			pr := &c.Services[i].Targets[j].Probe
			if pr.Type == "" {
				pr.Type = ProbeHTTP
			}
			if pr.Type != ProbeHTTP {
				continue
			}
			if pr.Method == "" {
				pr.Method = defaultProbeMethod
			}
			if len(pr.Expect.Status) == 0 {
				pr.Expect.Status = []int{200}
			}
		}
	}
}
