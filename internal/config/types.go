// Package config holds the typed configuration of failover (CONTRACT §2).
//
// Load and Parse build a Config in a fixed order: the defaults (Defaults and
// the Default* functions for list elements), then a strict decode of the
// YAML over them (unknown keys, wrong types, bad durations and duplicate
// keys are errors with their field paths), then the environment overrides,
// then Validate, which returns every problem with its field path.
//
// Environment variables override the scalar settings of the controller and
// probes sections and auth.open_read: FAILOVER_ followed by the setting's
// path in upper case with dots as underscores, for example
// FAILOVER_CONTROLLER_LISTEN or FAILOVER_PROBES_INTERVAL (see EnvVars).
// Lists (services, dns.providers, hooks, auth.tokens,
// controller.election.endpoints) cannot be overridden from the environment.
//
// Secrets are never inline: each is named by a *_env or *_file setting and
// read with SecretRef.Resolve. No message of this package contains a
// secret's value.
//
// Relative file paths (token_file, urls_file, ...) are relative to the
// working directory of the process.
package config

import "time"

// Config is the whole configuration file (CONTRACT §2).
type Config struct {
	Controller Controller `yaml:"controller"`
	Auth       Auth       `yaml:"auth"`
	Probes     Probes     `yaml:"probes"`
	DNS        DNS        `yaml:"dns"`
	Hooks      []Hook     `yaml:"hooks"`
	Services   []Service  `yaml:"services"`
}

// Controller configures the controller process itself.
type Controller struct {
	Listen        string        `yaml:"listen"`
	DataDir       string        `yaml:"data_dir"`
	EvaluateEvery time.Duration `yaml:"evaluate_every"`
	Election      Election      `yaml:"election"`
	TLS           TLS           `yaml:"tls"`
	// Retention bounds the event store.
	Retention Retention `yaml:"retention"`
}

// TLS, when CertFile is set, makes the API listen with TLS.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Retention bounds the stored events by age and count.
type Retention struct {
	MaxAge    time.Duration `yaml:"max_age"`
	MaxEvents int           `yaml:"max_events"`
}

// Election configures leader election for HA controllers.
type Election struct {
	Backend   string        `yaml:"backend"` // none | etcd
	Endpoints []string      `yaml:"endpoints"`
	LeaseTTL  time.Duration `yaml:"lease_ttl"`
	Prefix    string        `yaml:"prefix"`
}

// Auth configures the API's bearer tokens.
type Auth struct {
	OpenRead bool    `yaml:"open_read"`
	Tokens   []Token `yaml:"tokens"`
}

// Token is one bearer token. The secret itself comes from TokenEnv or
// TokenFile, never inline.
type Token struct {
	Name      string `yaml:"name"`
	Role      string `yaml:"role"` // viewer | operator | agent
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
	// Vantages, for an agent token, are the only vantage names it may post
	// results as; empty allows any. Binding each agent's token to its
	// vantages keeps one leaked token from faking a quorum.
	Vantages []string `yaml:"vantages"`
}

// Secret returns where the token's secret lives.
func (t Token) Secret() SecretRef { return SecretRef{Env: t.TokenEnv, File: t.TokenFile} }

// Probes configures the controller's local prober and the probe defaults.
type Probes struct {
	Local    bool          `yaml:"local"`
	Vantage  string        `yaml:"vantage"`
	Interval time.Duration `yaml:"interval"`
	Timeout  time.Duration `yaml:"timeout"`
	// SourceAddr binds the local prober's outgoing connections.
	SourceAddr string `yaml:"source_addr"`
	// Concurrency bounds probes in flight at once.
	Concurrency int `yaml:"concurrency"`
}

// DNS lists the DNS providers that services publish through.
type DNS struct {
	Providers []Provider `yaml:"providers"`
}

// Provider types.
const (
	ProviderBuiltin    = "builtin"
	ProviderRoute53    = "route53"
	ProviderCloudflare = "cloudflare"
	ProviderRFC2136    = "rfc2136"
)

// Cloudflare modes.
const (
	CloudflareDNSRecord    = "dns_record"
	CloudflareLoadBalancer = "load_balancer"
)

// Provider is one DNS backend. Which fields apply depends on Type.
type Provider struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"` // builtin | route53 | cloudflare | rfc2136

	// builtin
	Listen string   `yaml:"listen"`
	Zone   string   `yaml:"zone"` // builtin, rfc2136
	NS     []string `yaml:"ns"`

	// route53
	HostedZoneID string  `yaml:"hosted_zone_id"`
	Region       string  `yaml:"region"`
	Endpoint     string  `yaml:"endpoint"` // route53, cloudflare: API base URL override
	WaitInsync   bool    `yaml:"wait_insync"`
	RateLimit    float64 `yaml:"rate_limit"` // requests per second, account-wide

	// cloudflare
	Mode         string `yaml:"mode"` // dns_record | load_balancer
	ZoneID       string `yaml:"zone_id"`
	AccountID    string `yaml:"account_id"`
	PoolID       string `yaml:"pool_id"`
	APITokenEnv  string `yaml:"api_token_env"`
	APITokenFile string `yaml:"api_token_file"`

	// rfc2136
	Server string `yaml:"server"`
	TSIG   *TSIG  `yaml:"tsig"`

	// Timeout bounds one API call or DNS exchange.
	Timeout time.Duration `yaml:"timeout"`
}

// APIToken returns where the Cloudflare API token lives.
func (p Provider) APIToken() SecretRef { return SecretRef{Env: p.APITokenEnv, File: p.APITokenFile} }

// TSIG is an RFC 2845 transaction signature key.
type TSIG struct {
	Name       string `yaml:"name"`
	Algorithm  string `yaml:"algorithm"`
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
}

// Secret returns where the TSIG key's base64 secret lives.
func (t TSIG) Secret() SecretRef { return SecretRef{Env: t.SecretEnv, File: t.SecretFile} }

// Hook types.
const (
	HookWebhook        = "webhook"
	HookExec           = "exec"
	HookAWSAutoscaling = "aws_autoscaling"
)

// Hook is an action run on an event (`on:`) or awaited before a target gets
// weight (`before_shift`).
type Hook struct {
	Name    string        `yaml:"name"`
	Type    string        `yaml:"type"` // webhook | exec | aws_autoscaling
	Timeout time.Duration `yaml:"timeout"`
	Retries int           `yaml:"retries"`

	// webhook
	URL        string `yaml:"url"`
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`

	// exec
	Command []string `yaml:"command"`

	// aws_autoscaling
	Group           string `yaml:"group"`
	Region          string `yaml:"region"`
	Endpoint        string `yaml:"endpoint"`
	DesiredCapacity int    `yaml:"desired_capacity"`
	MinInService    int    `yaml:"min_in_service"`
}

// Secret returns where the webhook signing secret lives.
func (h Hook) Secret() SecretRef { return SecretRef{Env: h.SecretEnv, File: h.SecretFile} }

// Service is one DNS name whose traffic failover steers.
type Service struct {
	Name     string   `yaml:"name"`
	Record   string   `yaml:"record"`
	Provider string   `yaml:"provider"`
	TTL      int      `yaml:"ttl"`
	Targets  []Target `yaml:"targets"`
	Policy   Policy   `yaml:"policy"`
	On       On       `yaml:"on"`
}

// Target roles.
const (
	RolePrimary = "primary"
	RoleBackup  = "backup"
	RoleOrigin  = "origin"
)

// Target is one place traffic can go: the primary CDN, a backup, the origin.
type Target struct {
	Name        string   `yaml:"name"`
	Role        string   `yaml:"role"` // primary | backup | origin
	Answer      Answer   `yaml:"answer"`
	Probe       Probe    `yaml:"probe"`
	Warmup      *Warmup  `yaml:"warmup"`
	BeforeShift []string `yaml:"before_shift"`
	// Steps, for a target that takes weight in steps (the origin), for
	// example [25, 50, 100]. Empty means all at once.
	Steps []int `yaml:"steps"`
}

// Answer is what DNS publishes for a target.
type Answer struct {
	Type   string   `yaml:"type"` // A | AAAA | CNAME
	Values []string `yaml:"values"`
	// Proxied is Cloudflare's orange-cloud flag in dns_record mode.
	Proxied *bool `yaml:"proxied"`
	// Origin is the pool origin's name in Cloudflare load_balancer mode.
	Origin string `yaml:"origin"`
}

// Probe kinds.
const (
	ProbeHTTP = "http"
	ProbeTCP  = "tcp"
)

// Probe describes how to check a target.
type Probe struct {
	Type      string            `yaml:"type"` // http (default) | tcp
	URL       string            `yaml:"url"`
	ConnectTo string            `yaml:"connect_to"` // host:port to dial, keeping Host and SNI from URL
	Method    string            `yaml:"method"`
	Headers   map[string]string `yaml:"headers"`
	Expect    Expect            `yaml:"expect"`
	CAFile    string            `yaml:"ca_file"`
	Timeout   time.Duration     `yaml:"timeout"` // overrides probes.timeout
}

// Expect lists what a good answer looks like.
type Expect struct {
	Status       []int             `yaml:"status"`
	BodyContains string            `yaml:"body_contains"`
	BodyRegex    string            `yaml:"body_regex"`
	Headers      map[string]string `yaml:"headers"` // header name -> regular expression
	MaxLatency   time.Duration     `yaml:"max_latency"`
	CertValidFor time.Duration     `yaml:"cert_valid_for"`
}

// Warmup configures the cache warm-up of a target. URLs (inline, in
// URLsFile or from Sitemap) are absolute http(s) URLs, or paths starting
// with "/" that are fetched with the host of the target's probe URL.
type Warmup struct {
	URLs          []string      `yaml:"urls"`
	URLsFile      string        `yaml:"urls_file"`
	Sitemap       string        `yaml:"sitemap"`
	ConnectTo     string        `yaml:"connect_to"` // default: the target's probe connect_to
	Concurrency   int           `yaml:"concurrency"`
	Rate          float64       `yaml:"rate"` // requests per second
	Timeout       time.Duration `yaml:"timeout"`
	MaxWait       time.Duration `yaml:"max_wait"`
	MaxURLs       int           `yaml:"max_urls"`
	MaxErrorRatio float64       `yaml:"max_error_ratio"`
	Verify        bool          `yaml:"verify"`
	CacheHeaders  []string      `yaml:"cache_headers"`
}

// Policy tunes the decision engine for one service.
type Policy struct {
	Fall             int           `yaml:"fall"`
	Rise             int           `yaml:"rise"`
	Quorum           float64       `yaml:"quorum"`
	MinVantages      int           `yaml:"min_vantages"`
	RecoverAfter     time.Duration `yaml:"recover_after"`
	Failback         Failback      `yaml:"failback"`
	MaxShiftsPerHour int           `yaml:"max_shifts_per_hour"`
}

// Failback is the ramp back to the primary.
type Failback struct {
	Steps []int         `yaml:"steps"`
	Hold  time.Duration `yaml:"hold"`
}

// On maps hook events to the hooks run on them.
type On struct {
	Degraded   []string `yaml:"degraded"`
	Failover   []string `yaml:"failover"`
	FailedOver []string `yaml:"failed_over"`
	Recovering []string `yaml:"recovering"`
	Recovered  []string `yaml:"recovered"`
	Frozen     []string `yaml:"frozen"`
	Override   []string `yaml:"override"`
}

// SecretRef says where a secret lives: an environment variable or a file.
type SecretRef struct {
	Env  string
	File string
}
