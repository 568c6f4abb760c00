package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Hard limits. Exceeding one is a validation error, never a truncation.
const (
	MaxServices     = 10_000
	MaxTargets      = 16
	MaxProviders    = 100
	MaxHooks        = 100
	MaxTokens       = 1_000
	MaxAnswerValues = 32
	MaxWarmupURLs   = 1_000_000
	// MinTargets is the fewest targets a service can fail over between.
	MinTargets = 2
)

// Token roles.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAgent    = "agent"
)

// Bounds of the other settings. They are part of the messages, so they are
// kept here in one place.
const (
	maxNS             = 16
	maxEndpoints      = 16
	maxCommandArgs    = 256
	maxStatusCodes    = 32
	maxHeaders        = 64
	maxCacheHeaders   = 32
	maxRegexLen       = 4096
	maxTTL            = 86400
	maxFallRise       = 100
	maxMinVantages    = 1000
	maxShiftsPerHour  = 3600
	maxProbeConc      = 10_000
	maxWarmupConc     = 1000
	maxWarmupRate     = 100_000
	maxRetries        = 10
	maxDesired        = 10_000
	maxRateLimit      = 1000
	maxRetentionCount = 100_000_000
)

var (
	// NamePattern is what service, target, vantage, provider, hook and token
	// names match.
	NamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

	envNamePattern    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	headerNamePattern = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	regionPattern     = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

var (
	roles          = []string{RolePrimary, RoleBackup, RoleOrigin}
	tokenRoles     = []string{RoleViewer, RoleOperator, RoleAgent}
	providerTypes  = []string{ProviderBuiltin, ProviderRoute53, ProviderCloudflare, ProviderRFC2136}
	cloudflareMode = []string{CloudflareDNSRecord, CloudflareLoadBalancer}
	hookTypes      = []string{HookWebhook, HookExec, HookAWSAutoscaling}
	answerTypes    = []string{"A", "AAAA", "CNAME"}
	probeTypes     = []string{ProbeHTTP, ProbeTCP}
	probeMethods   = []string{"GET", "HEAD", "POST", "OPTIONS"}
	electionTypes  = []string{ElectionNone, ElectionEtcd}
	tsigAlgorithms = []string{"hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"}
	// Request headers that carry credentials: the config file is not the
	// place for them.
	secretHeaders = []string{"authorization", "proxy-authorization", "cookie"}
)

// providerFields says which provider fields belong to which types; a field
// set on a provider of another type is an error.
var providerFields = map[string][]string{
	"listen":         {ProviderBuiltin},
	"zone":           {ProviderBuiltin, ProviderRFC2136},
	"ns":             {ProviderBuiltin},
	"hosted_zone_id": {ProviderRoute53},
	"region":         {ProviderRoute53},
	"endpoint":       {ProviderRoute53, ProviderCloudflare},
	"wait_insync":    {ProviderRoute53},
	"rate_limit":     {ProviderRoute53},
	"mode":           {ProviderCloudflare},
	"zone_id":        {ProviderCloudflare},
	"account_id":     {ProviderCloudflare},
	"pool_id":        {ProviderCloudflare},
	"api_token_env":  {ProviderCloudflare},
	"api_token_file": {ProviderCloudflare},
	"server":         {ProviderRFC2136},
	"tsig":           {ProviderRFC2136},
}

// hookFields says which hook fields belong to which types.
var hookFields = map[string][]string{
	"url":              {HookWebhook},
	"secret_env":       {HookWebhook},
	"secret_file":      {HookWebhook},
	"command":          {HookExec},
	"group":            {HookAWSAutoscaling},
	"region":           {HookAWSAutoscaling},
	"endpoint":         {HookAWSAutoscaling},
	"desired_capacity": {HookAWSAutoscaling},
	"min_in_service":   {HookAWSAutoscaling},
}

// Validate checks c and returns every problem found, errors and warnings,
// sorted by path. It reads secrets to check that they are available (see
// Options.RequireSecrets) and never puts a secret in a message. It does not
// change c.
func (c *Config) Validate(opts Options) []Problem {
	list := c.validate(opts)
	sortProblems(list)
	return toProblems(list)
}

type validator struct {
	problems
	c         *Config
	opts      Options
	lookup    func(string) (string, bool)
	providers map[string]*Provider
	hooks     map[string]bool
}

func (c *Config) validate(opts Options) []problem {
	v := &validator{
		c:         c,
		opts:      opts,
		lookup:    opts.lookup(),
		providers: map[string]*Provider{},
		hooks:     map[string]bool{},
	}
	v.controller(fieldPath{}.field("controller"))
	v.auth(fieldPath{}.field("auth"))
	v.probes(fieldPath{}.field("probes"))
	v.dns(fieldPath{}.field("dns").field("providers"))
	v.hookList(fieldPath{}.field("hooks"))
	v.services(fieldPath{}.field("services"))
	return v.list
}

func (v *validator) controller(p fieldPath) {
	c := v.c.Controller
	v.hostPort(p.field("listen"), c.Listen, true)
	if c.DataDir == "" {
		v.errorf(p.field("data_dir"), "is required")
	}
	v.durRange(p.field("evaluate_every"), c.EvaluateEvery, 10*time.Millisecond, time.Minute)

	e, ep := c.Election, p.field("election")
	switch e.Backend {
	case ElectionNone:
		if len(e.Endpoints) > 0 {
			v.errorf(ep.field("endpoints"), "only valid with backend etcd")
		}
	case ElectionEtcd:
		if len(e.Endpoints) == 0 {
			v.errorf(ep.field("endpoints"), "is required with backend etcd")
		}
		v.limit(ep.field("endpoints"), "endpoints", len(e.Endpoints), maxEndpoints)
		for i, s := range e.Endpoints {
			if strings.Contains(s, "://") {
				v.url(ep.field("endpoints").index(i), s)
			} else {
				v.hostPort(ep.field("endpoints").index(i), s, false)
			}
		}
		v.durRange(ep.field("lease_ttl"), e.LeaseTTL, 2*time.Second, 5*time.Minute)
	default:
		v.oneOf(ep.field("backend"), e.Backend, electionTypes)
	}

	t, tp := c.TLS, p.field("tls")
	if t.CertFile != "" && t.KeyFile == "" {
		v.errorf(tp.field("key_file"), "is required when cert_file is set")
	}
	if t.KeyFile != "" && t.CertFile == "" {
		v.errorf(tp.field("cert_file"), "is required when key_file is set")
	}

	r, rp := c.Retention, p.field("retention")
	v.durRange(rp.field("max_age"), r.MaxAge, time.Minute, 87600*time.Hour)
	v.intRange(rp.field("max_events"), r.MaxEvents, 1, maxRetentionCount)
}

// maxTokenVantages bounds the vantages one agent token may post as.
const maxTokenVantages = 64

func (v *validator) auth(p fieldPath) {
	tp := p.field("tokens")
	v.limit(tp, "tokens", len(v.c.Auth.Tokens), MaxTokens)
	seen := map[string]int{}
	for i, t := range v.c.Auth.Tokens {
		ip := tp.index(i)
		v.name(ip.field("name"), t.Name)
		v.unique(ip.field("name"), "token", t.Name, i, seen, "auth.tokens")
		v.oneOf(ip.field("role"), t.Role, tokenRoles)
		v.secret(ip, "token_env", "token_file", t.Secret(), nil)
		if len(t.Vantages) > 0 && t.Role != "agent" {
			v.errorf(ip.field("vantages"), "only an agent token posts results as vantages, this token's role is %s", t.Role)
		}
		v.limit(ip.field("vantages"), "vantages", len(t.Vantages), maxTokenVantages)
		for j, vn := range t.Vantages {
			v.name(ip.field("vantages").index(j), vn)
		}
	}
}

func (v *validator) probes(p fieldPath) {
	pr := v.c.Probes
	switch {
	case pr.Vantage != "":
		v.name(p.field("vantage"), pr.Vantage)
	case pr.Local:
		v.errorf(p.field("vantage"), "is required when local is true")
	}
	v.durRange(p.field("interval"), pr.Interval, 100*time.Millisecond, time.Hour)
	v.timeout(p.field("timeout"), pr.Timeout)
	if pr.SourceAddr != "" {
		if _, err := netip.ParseAddr(pr.SourceAddr); err != nil {
			v.errorf(p.field("source_addr"), "must be an IP address, got %q", truncate(pr.SourceAddr))
		}
	}
	v.intRange(p.field("concurrency"), pr.Concurrency, 1, maxProbeConc)
}

// timeout checks a probe timeout: at least 10ms and less than the interval.
func (v *validator) timeout(p fieldPath, d time.Duration) {
	interval := v.c.Probes.Interval
	switch {
	case d < 10*time.Millisecond:
		v.errorf(p, "must be at least 10ms, got %s", fmtDur(d))
	case d >= interval && interval > 0:
		v.errorf(p, "must be less than probes.interval (%s), got %s", fmtDur(interval), fmtDur(d))
	}
}

func (v *validator) dns(p fieldPath) {
	v.limit(p, "providers", len(v.c.DNS.Providers), MaxProviders)
	seen := map[string]int{}
	for i := range v.c.DNS.Providers {
		pr := &v.c.DNS.Providers[i]
		ip := p.index(i)
		v.name(ip.field("name"), pr.Name)
		if v.unique(ip.field("name"), "provider", pr.Name, i, seen, "dns.providers") {
			v.providers[pr.Name] = pr
		}
		v.provider(ip, pr)
	}
}

func (v *validator) provider(p fieldPath, pr *Provider) {
	if !v.oneOf(p.field("type"), pr.Type, providerTypes) {
		return
	}
	v.foreignFields(p, reflect.ValueOf(*pr), providerFields, pr.Type, article(pr.Type)+" "+pr.Type+" provider")
	v.durRange(p.field("timeout"), pr.Timeout, 100*time.Millisecond, 5*time.Minute)
	switch pr.Type {
	case ProviderBuiltin:
		v.hostPort(p.field("listen"), pr.Listen, true)
		v.fqdn(p.field("zone"), pr.Zone)
		if len(pr.NS) == 0 {
			v.errorf(p.field("ns"), "is required: the name servers of the zone")
		}
		v.limit(p.field("ns"), "name servers", len(pr.NS), maxNS)
		for i, ns := range pr.NS {
			v.fqdn(p.field("ns").index(i), ns)
		}
	case ProviderRoute53:
		if pr.HostedZoneID == "" {
			v.errorf(p.field("hosted_zone_id"), "is required")
		}
		if pr.Region != "" && !regionPattern.MatchString(pr.Region) {
			v.errorf(p.field("region"), "must be an AWS region such as us-east-1, got %q", truncate(pr.Region))
		}
		if pr.Endpoint != "" {
			v.url(p.field("endpoint"), pr.Endpoint)
		}
		if pr.RateLimit <= 0 || pr.RateLimit > maxRateLimit {
			v.errorf(p.field("rate_limit"), "must be greater than 0 and at most %d, got %s", maxRateLimit, fmtFloat(pr.RateLimit))
		}
	case ProviderCloudflare:
		if !v.oneOf(p.field("mode"), pr.Mode, cloudflareMode) {
			break
		}
		if pr.Mode == CloudflareDNSRecord {
			if pr.ZoneID == "" {
				v.errorf(p.field("zone_id"), "is required with mode dns_record")
			}
			if pr.AccountID != "" {
				v.errorf(p.field("account_id"), "only valid with mode load_balancer")
			}
			if pr.PoolID != "" {
				v.errorf(p.field("pool_id"), "only valid with mode load_balancer")
			}
		} else {
			if pr.AccountID == "" {
				v.errorf(p.field("account_id"), "is required with mode load_balancer")
			}
			if pr.PoolID == "" {
				v.errorf(p.field("pool_id"), "is required with mode load_balancer")
			}
		}
		if pr.Endpoint != "" {
			v.url(p.field("endpoint"), pr.Endpoint)
		}
		v.secret(p, "api_token_env", "api_token_file", pr.APIToken(), nil)
	case ProviderRFC2136:
		v.hostPort(p.field("server"), pr.Server, false)
		v.fqdn(p.field("zone"), pr.Zone)
		tp := p.field("tsig")
		if pr.TSIG == nil {
			v.errorf(tp, "is required: updates are signed with a TSIG key")
			break
		}
		v.fqdn(tp.field("name"), pr.TSIG.Name)
		v.oneOf(tp.field("algorithm"), pr.TSIG.Algorithm, tsigAlgorithms)
		v.secret(tp, "secret_env", "secret_file", pr.TSIG.Secret(), func(s string) string {
			if _, err := base64.StdEncoding.DecodeString(s); err != nil {
				return "the TSIG secret is not valid base64"
			}
			return ""
		})
	}
}

func (v *validator) hookList(p fieldPath) {
	v.limit(p, "hooks", len(v.c.Hooks), MaxHooks)
	seen := map[string]int{}
	for i, h := range v.c.Hooks {
		ip := p.index(i)
		v.name(ip.field("name"), h.Name)
		if v.unique(ip.field("name"), "hook", h.Name, i, seen, "hooks") {
			v.hooks[h.Name] = true
		}
		v.hook(ip, h)
	}
}

func (v *validator) hook(p fieldPath, h Hook) {
	v.durRange(p.field("timeout"), h.Timeout, time.Second, time.Hour)
	v.intRange(p.field("retries"), h.Retries, 0, maxRetries)
	if !v.oneOf(p.field("type"), h.Type, hookTypes) {
		return
	}
	v.foreignFields(p, reflect.ValueOf(h), hookFields, h.Type, article(h.Type)+" "+h.Type+" hook")
	switch h.Type {
	case HookWebhook:
		v.url(p.field("url"), h.URL)
		v.secret(p, "secret_env", "secret_file", h.Secret(), nil)
	case HookExec:
		cp := p.field("command")
		if len(h.Command) == 0 {
			v.errorf(cp, "is required: the program and its arguments")
			break
		}
		v.limit(cp, "arguments", len(h.Command), maxCommandArgs)
		if !filepath.IsAbs(h.Command[0]) {
			v.errorf(cp.index(0), "must be an absolute path, got %q", truncate(h.Command[0]))
		}
	case HookAWSAutoscaling:
		if h.Group == "" {
			v.errorf(p.field("group"), "is required")
		}
		if h.Region == "" {
			v.errorf(p.field("region"), "is required")
		} else if !regionPattern.MatchString(h.Region) {
			v.errorf(p.field("region"), "must be an AWS region such as us-east-1, got %q", truncate(h.Region))
		}
		if h.Endpoint != "" {
			v.url(p.field("endpoint"), h.Endpoint)
		}
		v.intRange(p.field("desired_capacity"), h.DesiredCapacity, 1, maxDesired)
		if h.MinInService < 0 || (h.DesiredCapacity >= 1 && h.MinInService > h.DesiredCapacity) {
			v.errorf(p.field("min_in_service"), "must be between 0 and desired_capacity (%d), got %d", h.DesiredCapacity, h.MinInService)
		}
	}
}

func (v *validator) services(p fieldPath) {
	if len(v.c.Services) == 0 {
		v.errorf(p, "at least one service is required")
		return
	}
	v.limit(p, "services", len(v.c.Services), MaxServices)
	seen := map[string]int{}
	for i := range v.c.Services {
		s := &v.c.Services[i]
		ip := p.index(i)
		v.name(ip.field("name"), s.Name)
		v.unique(ip.field("name"), "service", s.Name, i, seen, "services")
		v.service(ip, s)
	}
}

func (v *validator) service(p fieldPath, s *Service) {
	v.fqdn(p.field("record"), s.Record)
	var prov *Provider
	switch {
	case s.Provider == "":
		v.errorf(p.field("provider"), "is required")
	case v.providers[s.Provider] == nil:
		v.errorf(p.field("provider"), "unknown provider %q", truncate(s.Provider))
	default:
		prov = v.providers[s.Provider]
	}
	v.intRange(p.field("ttl"), s.TTL, 1, maxTTL)

	tp := p.field("targets")
	switch {
	case len(s.Targets) < MinTargets:
		v.errorf(tp, "needs at least %d targets, got %d", MinTargets, len(s.Targets))
	case len(s.Targets) > MaxTargets:
		v.errorf(tp, "too many targets: %d > %d", len(s.Targets), MaxTargets)
	}
	seen := map[string]int{}
	for i := range s.Targets {
		t := &s.Targets[i]
		ip := tp.index(i)
		v.name(ip.field("name"), t.Name)
		v.unique(ip.field("name"), "target", t.Name, i, seen, "targets")
		v.target(ip, t, prov)
	}
	v.roles(tp, s.Targets)
	if prov != nil {
		v.capabilities(p, s, prov)
	}
	v.policy(p.field("policy"), s.Policy)
	v.on(p.field("on"), s.On)
}

// roles checks that there is exactly one primary and at most one origin,
// which comes last.
func (v *validator) roles(p fieldPath, targets []Target) {
	primary, origin := -1, -1
	for i, t := range targets {
		rp := p.index(i).field("role")
		switch t.Role {
		case RolePrimary:
			if primary >= 0 {
				v.errorf(rp, "a second primary (the first is targets[%d]): a service has exactly one", primary)
				continue
			}
			primary = i
		case RoleOrigin:
			if origin >= 0 {
				v.errorf(rp, "a second origin (the first is targets[%d]): a service has at most one", origin)
				continue
			}
			origin = i
			if i != len(targets)-1 {
				v.errorf(rp, "the origin must be the last target")
			}
		}
	}
	if primary < 0 && len(targets) > 0 {
		v.errorf(p, "needs a target with role primary")
	}
}

func (v *validator) target(p fieldPath, t *Target, prov *Provider) {
	v.oneOf(p.field("role"), t.Role, roles)
	v.answer(p.field("answer"), t.Answer, prov)
	v.probe(p.field("probe"), t.Probe)
	if t.Warmup != nil {
		v.warmup(p.field("warmup"), *t.Warmup)
	}
	v.hookRefs(p.field("before_shift"), t.BeforeShift)
	if t.Steps != nil {
		v.steps(p.field("steps"), t.Steps)
	}
}

func (v *validator) answer(p fieldPath, a Answer, prov *Provider) {
	lb := prov != nil && prov.Type == ProviderCloudflare && prov.Mode == CloudflareLoadBalancer
	dnsRecord := prov != nil && prov.Type == ProviderCloudflare && prov.Mode == CloudflareDNSRecord
	if a.Proxied != nil && prov != nil && !dnsRecord {
		v.errorf(p.field("proxied"), "only valid with a cloudflare provider in dns_record mode")
	}
	if a.Origin != "" && prov != nil && !lb {
		v.errorf(p.field("origin"), "only valid with a cloudflare provider in load_balancer mode")
	}
	if lb && a.Origin != "" && a.Type == "" && len(a.Values) == 0 {
		return // the pool origin is named; nothing else to publish
	}
	if !v.oneOf(p.field("type"), a.Type, answerTypes) {
		return
	}
	vp := p.field("values")
	switch {
	case len(a.Values) == 0:
		v.errorf(vp, "needs at least one value")
		return
	case len(a.Values) > MaxAnswerValues:
		v.errorf(vp, "too many values: %d > %d", len(a.Values), MaxAnswerValues)
		return
	case a.Type == "CNAME" && len(a.Values) != 1:
		v.errorf(vp, "a CNAME answer needs exactly one value, got %d", len(a.Values))
		return
	}
	seen := map[string]int{}
	for i, val := range a.Values {
		ip := vp.index(i)
		switch a.Type {
		case "A":
			if ip4, err := netip.ParseAddr(val); err != nil || !ip4.Is4() {
				v.errorf(ip, "must be an IPv4 address, got %q", truncate(val))
				continue
			}
		case "AAAA":
			if ip6, err := netip.ParseAddr(val); err != nil || !ip6.Is6() || ip6.Is4In6() || ip6.Zone() != "" {
				v.errorf(ip, "must be an IPv6 address, got %q", truncate(val))
				continue
			}
		case "CNAME":
			v.fqdn(ip, val)
		}
		key := strings.ToLower(val)
		if first, dup := seen[key]; dup {
			v.errorf(ip, "duplicate value (first at values[%d])", first)
		} else {
			seen[key] = i
		}
	}
}

func (v *validator) probe(p fieldPath, pr Probe) {
	if !v.oneOf(p.field("type"), pr.Type, probeTypes) {
		return
	}
	e, ep := pr.Expect, p.field("expect")
	u, err := url.Parse(pr.URL)
	https := err == nil && u.Scheme == "https"
	if pr.Type == ProbeHTTP {
		v.url(p.field("url"), pr.URL)
		v.oneOf(p.field("method"), pr.Method, probeMethods)
		v.limit(p.field("headers"), "headers", len(pr.Headers), maxHeaders)
		for _, name := range sortedKeys(pr.Headers) {
			hp := p.field("headers").key(name)
			switch {
			case !headerNamePattern.MatchString(name):
				v.errorf(hp, "is not a valid header name")
			case slices.Contains(secretHeaders, strings.ToLower(name)):
				v.errorf(hp, "would put a credential in the config file, which only holds references to secrets")
			}
		}
		if len(e.Status) == 0 {
			v.errorf(ep.field("status"), "needs at least one status code")
		}
		v.limit(ep.field("status"), "status codes", len(e.Status), maxStatusCodes)
		for i, code := range e.Status {
			v.intRange(ep.field("status").index(i), code, 100, 599)
		}
		v.regex(ep.field("body_regex"), e.BodyRegex)
		v.limit(ep.field("headers"), "headers", len(e.Headers), maxHeaders)
		for _, name := range sortedKeys(e.Headers) {
			hp := ep.field("headers").key(name)
			if !headerNamePattern.MatchString(name) {
				v.errorf(hp, "is not a valid header name")
				continue
			}
			v.regex(hp, e.Headers[name])
		}
	} else {
		v.hostPort(p.field("url"), pr.URL, false)
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"method", pr.Method != ""},
			{"headers", len(pr.Headers) > 0},
			{"ca_file", pr.CAFile != ""},
		} {
			if f.set {
				v.errorf(p.field(f.name), "only valid for an http probe")
			}
		}
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"status", len(e.Status) > 0},
			{"body_contains", e.BodyContains != ""},
			{"body_regex", e.BodyRegex != ""},
			{"headers", len(e.Headers) > 0},
			{"cert_valid_for", e.CertValidFor != 0},
		} {
			if f.set {
				v.errorf(ep.field(f.name), "only valid for an http probe")
			}
		}
	}
	if pr.ConnectTo != "" {
		v.hostPort(p.field("connect_to"), pr.ConnectTo, false)
	}
	if pr.Type == ProbeHTTP && !https {
		if pr.CAFile != "" {
			v.errorf(p.field("ca_file"), "only valid for an https probe")
		}
		if e.CertValidFor != 0 {
			v.errorf(ep.field("cert_valid_for"), "only valid for an https probe")
		}
	}
	timeout := v.c.Probes.Timeout
	if pr.Timeout != 0 {
		v.timeout(p.field("timeout"), pr.Timeout)
		timeout = pr.Timeout
	}
	switch {
	case e.MaxLatency < 0:
		v.errorf(ep.field("max_latency"), "must not be negative, got %s", fmtDur(e.MaxLatency))
	case e.MaxLatency > timeout:
		v.warnf(ep.field("max_latency"), "is more than the probe timeout (%s), so a slow answer is reported as a timeout, not as slow", fmtDur(timeout))
	}
	v.durRange(ep.field("cert_valid_for"), e.CertValidFor, 0, 8760*time.Hour)
}

func (v *validator) warmup(p fieldPath, w Warmup) {
	if len(w.URLs) == 0 && w.URLsFile == "" && w.Sitemap == "" {
		v.errorf(p, "needs urls, urls_file or sitemap")
	}
	v.intRange(p.field("max_urls"), w.MaxURLs, 1, MaxWarmupURLs)
	limit := min(max(w.MaxURLs, 1), MaxWarmupURLs)
	if len(w.URLs) > limit {
		v.errorf(p.field("urls"), "too many urls: %d > max_urls %d", len(w.URLs), limit)
	} else {
		for i, u := range w.URLs {
			if strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//") {
				if _, err := url.ParseRequestURI(u); err != nil {
					v.errorf(p.field("urls").index(i), "must be an absolute http or https URL or a path starting with /")
				}
				continue
			}
			v.urlWith(p.field("urls").index(i), u, "must be an absolute http or https URL or a path starting with /")
		}
	}
	if w.URLsFile != "" {
		if st, err := os.Stat(w.URLsFile); err != nil {
			v.warnf(p.field("urls_file"), "cannot read %s: %v", w.URLsFile, pathErr(err))
		} else if st.IsDir() {
			v.errorf(p.field("urls_file"), "%s is a directory", w.URLsFile)
		}
	}
	if w.Sitemap != "" {
		v.url(p.field("sitemap"), w.Sitemap)
	}
	if w.ConnectTo != "" {
		v.hostPort(p.field("connect_to"), w.ConnectTo, false)
	}
	v.intRange(p.field("concurrency"), w.Concurrency, 1, maxWarmupConc)
	if w.Rate <= 0 || w.Rate > maxWarmupRate {
		v.errorf(p.field("rate"), "must be greater than 0 and at most %d, got %s", maxWarmupRate, fmtFloat(w.Rate))
	}
	v.durRange(p.field("timeout"), w.Timeout, 100*time.Millisecond, time.Minute)
	v.durRange(p.field("max_wait"), w.MaxWait, 0, 10*time.Minute)
	if w.MaxErrorRatio < 0 || w.MaxErrorRatio > 1 {
		v.errorf(p.field("max_error_ratio"), "must be between 0 and 1, got %s", fmtFloat(w.MaxErrorRatio))
	}
	v.limit(p.field("cache_headers"), "cache headers", len(w.CacheHeaders), maxCacheHeaders)
	for i, h := range w.CacheHeaders {
		if !headerNamePattern.MatchString(h) {
			v.errorf(p.field("cache_headers").index(i), "is not a valid header name")
		}
	}
}

// capabilities checks what the service's provider can express.
func (v *validator) capabilities(p fieldPath, s *Service, prov *Provider) {
	tp := p.field("targets")
	types := answerTypesOf(s.Targets)
	switch {
	case prov.Type == ProviderRoute53 && len(types) > 1:
		v.errorf(tp, "a route53 weighted record set cannot mix record types, and these targets answer %s: give every target the same answer type", joinAnd(types))
	case prov.Type == ProviderBuiltin && len(types) > 1 && slices.Contains(types, "CNAME"):
		v.errorf(tp, "a CNAME cannot share a name with other record types, and these targets answer %s: during a ramp they would be published together", joinAnd(types))
	}
	if prov.Type == ProviderBuiltin || prov.Type == ProviderRFC2136 {
		if isFQDN(s.Record) && isFQDN(prov.Zone) {
			rec, zone := strings.ToLower(s.Record), strings.ToLower(prov.Zone)
			switch {
			case rec != zone && !strings.HasSuffix(rec, "."+zone):
				v.errorf(p.field("record"), "is not inside the zone %s of provider %q", prov.Zone, prov.Name)
			case rec == zone && slices.Contains(types, "CNAME"):
				v.errorf(p.field("record"), "is the zone apex, where a CNAME is not allowed")
			}
		}
	}
	single := prov.Type == ProviderRFC2136 || (prov.Type == ProviderCloudflare && prov.Mode == CloudflareDNSRecord)
	if single && hasRamp(s) {
		v.warnf(p.field("provider"), "%s publishes only the highest-weight target, so a ramp becomes one switch", describeProvider(prov))
	}
	if prov.Type == ProviderCloudflare && prov.Mode == CloudflareLoadBalancer {
		for i, t := range s.Targets {
			if t.Answer.Origin == "" && len(t.Answer.Values) != 1 {
				v.errorf(tp.index(i).field("answer"), "a cloudflare load_balancer target needs answer.origin or exactly one value")
			}
		}
	}
	v.sameCompany(p, s, prov)
}

// sameCompany warns when the DNS provider is run by the company whose CDN
// serves the primary target.
func (v *validator) sameCompany(p fieldPath, s *Service, prov *Provider) {
	var marks []string
	switch prov.Type {
	case ProviderCloudflare:
		marks = []string{"cloudflare"}
	case ProviderRoute53:
		marks = []string{"cloudfront.net", "awsglobalaccelerator.com"}
	default:
		return
	}
	for _, t := range s.Targets {
		if t.Role != RolePrimary {
			continue
		}
		names := append(slices.Clone(t.Answer.Values), t.Answer.Origin)
		if host, _, err := net.SplitHostPort(t.Probe.ConnectTo); err == nil {
			names = append(names, host)
		}
		for _, n := range names {
			for _, m := range marks {
				if strings.Contains(strings.ToLower(n), m) {
					v.warnf(p.field("provider"), "the DNS provider %q (%s) is run by the same company as the primary target %q (%s): failing away from a CDN must not depend on that CDN's API; use a DNS provider that the primary CDN does not run",
						prov.Name, prov.Type, t.Name, truncate(n))
					return
				}
			}
		}
		return
	}
}

func (v *validator) policy(p fieldPath, pol Policy) {
	v.intRange(p.field("fall"), pol.Fall, 1, maxFallRise)
	v.intRange(p.field("rise"), pol.Rise, 1, maxFallRise)
	if !(pol.Quorum > 0 && pol.Quorum <= 1) {
		v.errorf(p.field("quorum"), "must be in (0,1], got %s", fmtFloat(pol.Quorum))
	}
	v.intRange(p.field("min_vantages"), pol.MinVantages, 1, maxMinVantages)
	v.durRange(p.field("recover_after"), pol.RecoverAfter, 0, 24*time.Hour)
	v.steps(p.field("failback").field("steps"), pol.Failback.Steps)
	v.durRange(p.field("failback").field("hold"), pol.Failback.Hold, 0, 24*time.Hour)
	v.intRange(p.field("max_shifts_per_hour"), pol.MaxShiftsPerHour, 1, maxShiftsPerHour)
}

func (v *validator) on(p fieldPath, on On) {
	rv := reflect.ValueOf(on)
	for name, i := range yamlFields(rv.Type()) {
		v.hookRefs(p.field(name), rv.Field(i).Interface().([]string))
	}
}

// hookRefs checks a list of hook names.
func (v *validator) hookRefs(p fieldPath, names []string) {
	seen := map[string]int{}
	for i, n := range names {
		ip := p.index(i)
		if first, dup := seen[n]; dup {
			v.errorf(ip, "duplicate hook %q (first at [%d])", truncate(n), first)
			continue
		}
		seen[n] = i
		if !v.hooks[n] {
			v.errorf(ip, "unknown hook %q", truncate(n))
		}
	}
}

// steps checks a weight ramp: strictly increasing percentages that end at 100.
func (v *validator) steps(p fieldPath, steps []int) {
	if len(steps) == 0 {
		v.errorf(p, "must not be empty; use [100] to shift all at once")
		return
	}
	for i, s := range steps {
		switch {
		case s < 1 || s > 100:
			v.errorf(p.index(i), "must be between 1 and 100, got %d", s)
		case i > 0 && s <= steps[i-1]:
			v.errorf(p.index(i), "must be greater than the step before it (%d), got %d", steps[i-1], s)
		}
	}
	if last := steps[len(steps)-1]; last != 100 {
		v.errorf(p, "must end at 100, got %d", last)
	}
}

// secret checks a secret reference: exactly one of the variable and the
// file, and, unless that is only a warning, that the secret is there.
// check, when not nil, says what is wrong with the secret's value; its
// message must not contain the value.
func (v *validator) secret(p fieldPath, envField, fileField string, ref SecretRef, check func(string) string) {
	switch {
	case ref.Env == "" && ref.File == "":
		v.errorf(p, "needs %s or %s", envField, fileField)
		return
	case ref.Env != "" && ref.File != "":
		v.errorf(p, "set only one of %s and %s", envField, fileField)
		return
	}
	at := p.field(envField)
	if ref.File != "" {
		at = p.field(fileField)
	}
	if ref.Env != "" && !envNamePattern.MatchString(ref.Env) {
		v.errorf(at, "must be the name of an environment variable")
		return
	}
	val, err := ref.Resolve(v.lookup)
	if err != nil {
		warn := errors.Is(err, ErrSecretUnavailable) && !v.opts.RequireSecrets
		v.add(at, strings.TrimPrefix(err.Error(), "secret: "), warn)
		return
	}
	if check != nil {
		if msg := check(val); msg != "" {
			v.errorf(at, "%s", msg)
		}
	}
}

// foreignFields reports fields set on a provider or hook of a type they do
// not belong to.
func (v *validator) foreignFields(p fieldPath, rv reflect.Value, table map[string][]string, typ, what string) {
	for name, i := range yamlFields(rv.Type()) {
		allowed, ok := table[name]
		if ok && !slices.Contains(allowed, typ) && !rv.Field(i).IsZero() {
			v.errorf(p.field(name), "not valid for %s", what)
		}
	}
}

func (v *validator) name(p fieldPath, s string) {
	switch {
	case s == "":
		v.errorf(p, "is required")
	case !NamePattern.MatchString(s):
		v.errorf(p, "must match %s, got %q", NamePattern, truncate(s))
	}
}

// unique records name at index i in seen and reports a duplicate. It
// returns whether this is the first use of the name.
func (v *validator) unique(p fieldPath, what, name string, i int, seen map[string]int, list string) bool {
	if name == "" {
		return false
	}
	if first, dup := seen[name]; dup {
		v.errorf(p, "duplicate %s name %q (first at %s[%d])", what, truncate(name), list, first)
		return false
	}
	seen[name] = i
	return true
}

// oneOf reports whether s is one of allowed, and reports a problem if not.
func (v *validator) oneOf(p fieldPath, s string, allowed []string) bool {
	switch {
	case slices.Contains(allowed, s):
		return true
	case s == "":
		v.errorf(p, "is required: one of %s", strings.Join(allowed, ", "))
	default:
		v.errorf(p, "must be one of %s, got %q", strings.Join(allowed, ", "), truncate(s))
	}
	return false
}

func (v *validator) limit(p fieldPath, what string, n, max int) {
	if n > max {
		v.errorf(p, "too many %s: %d > %d", what, n, max)
	}
}

func (v *validator) intRange(p fieldPath, n, lo, hi int) {
	if n < lo || n > hi {
		v.errorf(p, "must be between %d and %d, got %d", lo, hi, n)
	}
}

func (v *validator) durRange(p fieldPath, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		v.errorf(p, "must be between %s and %s, got %s", fmtDur(lo), fmtDur(hi), fmtDur(d))
	}
}

func (v *validator) fqdn(p fieldPath, s string) {
	switch {
	case s == "":
		v.errorf(p, "is required")
	case !isFQDN(s):
		v.errorf(p, "must be a fully-qualified DNS name ending in \".\", got %q", truncate(s))
	}
}

// hostPort checks a host:port address. listen addresses may leave the host
// empty (all interfaces) and use port 0 (any free port).
func (v *validator) hostPort(p fieldPath, s string, listen bool) {
	if s == "" {
		v.errorf(p, "is required")
		return
	}
	host, port, err := net.SplitHostPort(s)
	n, perr := strconv.Atoi(port)
	ok := err == nil && perr == nil && n >= 0 && n <= 65535 && (listen || n > 0) &&
		(host == "" && listen || isHost(host))
	if !ok {
		v.errorf(p, "must be host:port, got %q", truncate(s))
	}
}

// url checks an absolute http or https URL. It does not echo the URL, which
// could hold credentials.
func (v *validator) url(p fieldPath, s string) bool {
	return v.urlWith(p, s, "must be an absolute http or https URL")
}

func (v *validator) urlWith(p fieldPath, s, msg string) bool {
	if s == "" {
		v.errorf(p, "is required")
		return false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" || !isHost(u.Hostname()) {
		v.errorf(p, "%s", msg)
		return false
	}
	if u.User != nil {
		v.errorf(p, "must not contain credentials; secrets come from *_env or *_file settings")
		return false
	}
	return true
}

func (v *validator) regex(p fieldPath, s string) {
	if s == "" {
		return
	}
	if len(s) > maxRegexLen {
		v.errorf(p, "is too long: %d > %d characters", len(s), maxRegexLen)
		return
	}
	if _, err := regexp.Compile(s); err != nil {
		v.errorf(p, "does not compile: %v", err)
	}
}

// isFQDN reports whether s is a DNS name ending in a dot, with labels of 1
// to 63 letters, digits, hyphens and underscores, not starting or ending
// with a hyphen.
func isFQDN(s string) bool {
	if len(s) < 2 || len(s) > 254 || !strings.HasSuffix(s, ".") {
		return false
	}
	return validLabels(s[:len(s)-1])
}

// isHost reports whether s is an IP address or a host name (with or
// without its final dot).
func isHost(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	s = strings.TrimSuffix(s, ".")
	return s != "" && len(s) <= 253 && validLabels(s)
}

func validLabels(s string) bool {
	for l := range strings.SplitSeq(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range []byte(l) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func answerTypesOf(targets []Target) []string {
	var types []string
	for _, t := range targets {
		if t.Answer.Type != "" && slices.Contains(answerTypes, t.Answer.Type) && !slices.Contains(types, t.Answer.Type) {
			types = append(types, t.Answer.Type)
		}
	}
	slices.Sort(types)
	return types
}

// hasRamp reports whether the service ever shifts weight in more than one
// step.
func hasRamp(s *Service) bool {
	if len(s.Policy.Failback.Steps) > 1 {
		return true
	}
	return slices.ContainsFunc(s.Targets, func(t Target) bool { return len(t.Steps) > 1 })
}

func describeProvider(p *Provider) string {
	if p.Type == ProviderCloudflare {
		return fmt.Sprintf("provider %q (cloudflare, mode %s)", p.Name, p.Mode)
	}
	return fmt.Sprintf("provider %q (%s)", p.Name, p.Type)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// fmtDur prints a duration as Go syntax without trailing zero units:
// 1m rather than 1m0s.
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// joinAnd joins words as a list in a sentence: "A, AAAA and CNAME".
func joinAnd(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// article is the indefinite article before a type name, as it is read out.
func article(typ string) string {
	if strings.IndexByte("aeio", typ[0]) >= 0 || strings.HasPrefix(typ, "rfc") {
		return "an"
	}
	return "a"
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
