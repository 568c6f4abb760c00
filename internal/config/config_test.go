package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func exampleFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("../../config/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d example configs in config/, want at least 4", len(files))
	}
	return files
}

// TestExamples loads every shipped config where no secret is available:
// they must be valid, with at most warnings. With RequireSecrets the only
// errors left must be about secrets.
func TestExamples(t *testing.T) {
	for _, file := range exampleFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			cfg, ps, err := Load(file, Options{Env: emptyEnv})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg == nil || len(cfg.Services) == 0 {
				t.Fatal("no services")
			}
			for _, p := range ps {
				t.Logf("warning: %s", p)
			}
			_, ps, err = Load(file, Options{Env: emptyEnv, RequireSecrets: true})
			for _, p := range Errors(ps) {
				if !strings.HasSuffix(p.Path, "_env") && !strings.HasSuffix(p.Path, "_file") {
					t.Errorf("with RequireSecrets, a problem that is not about a secret: %s", p)
				}
			}
			if err != nil && len(Errors(ps)) == 0 {
				t.Errorf("error %v without error-level problems", err)
			}
		})
	}
}

// TestLab checks config/lab.yaml against the lab of CONTRACT §6.
func TestLab(t *testing.T) {
	cfg, _, err := Load("../../config/lab.yaml", Options{Env: emptyEnv})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Auth.OpenRead || cfg.Probes.Local {
		t.Errorf("open_read %v, probes.local %v; want true, false", cfg.Auth.OpenRead, cfg.Probes.Local)
	}
	if cfg.Probes.Interval != time.Second || cfg.Probes.Timeout != 500*time.Millisecond {
		t.Errorf("probes every %v with timeout %v, want 1s and 500ms", cfg.Probes.Interval, cfg.Probes.Timeout)
	}
	if len(cfg.Auth.Tokens) != 1 || cfg.Auth.Tokens[0].Role != RoleOperator || filepath.Base(cfg.Auth.Tokens[0].TokenFile) != "operator.token" {
		t.Errorf("tokens %+v, want one operator token in operator.token", cfg.Auth.Tokens)
	}
	wantProvider := Provider{Name: "edge", Type: ProviderBuiltin, Listen: "127.0.0.1:8053", Zone: "lab.test.", NS: []string{"ns1.lab.test."}, Timeout: 10 * time.Second}
	if diff := cmp.Diff([]Provider{wantProvider}, cfg.DNS.Providers); diff != "" {
		t.Errorf("providers (-want +got):\n%s", diff)
	}
	if len(cfg.Services) != 1 {
		t.Fatalf("%d services, want 1", len(cfg.Services))
	}
	s := cfg.Services[0]
	if s.Name != "www" || s.Record != "www.lab.test." || s.Provider != "edge" || s.TTL != 5 {
		t.Errorf("service %s %s via %s ttl %d", s.Name, s.Record, s.Provider, s.TTL)
	}
	wantPolicy := Policy{Fall: 3, Rise: 3, Quorum: 0.5, MinVantages: 2, RecoverAfter: 5 * time.Second,
		Failback: Failback{Steps: []int{25, 50, 100}, Hold: 3 * time.Second}, MaxShiftsPerHour: s.Policy.MaxShiftsPerHour}
	if diff := cmp.Diff(wantPolicy, s.Policy); diff != "" {
		t.Errorf("policy (-want +got):\n%s", diff)
	}
	var got []string
	for _, tg := range s.Targets {
		got = append(got, tg.Name+" "+tg.Role+" "+tg.Answer.Type+" "+strings.Join(tg.Answer.Values, ",")+" "+tg.Probe.URL)
	}
	want := []string{
		"primary primary A 127.0.10.1 http://127.0.10.1:18080/healthz",
		"backup backup A 127.0.10.2 http://127.0.10.2:18080/healthz",
		"origin origin A 127.0.10.3 http://127.0.10.3:18080/healthz",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("targets (-want +got):\n%s", diff)
	}
	w := s.Targets[1].Warmup
	if w == nil || w.MaxWait != 3*time.Second || len(w.URLs) == 0 || !strings.HasPrefix(w.URLs[0], "/assets/") {
		t.Errorf("backup warmup %+v, want /assets/N urls and max_wait 3s", w)
	}
	if diff := cmp.Diff([]string{"scale-origin"}, s.Targets[2].BeforeShift); diff != "" {
		t.Errorf("origin before_shift (-want +got):\n%s", diff)
	}
	h := cfg.Hooks[0]
	if h.Name != "scale-origin" || h.Type != HookWebhook || h.URL != "http://127.0.10.3:18080/lab/scale" || h.SecretEnv != "FAILOVER_LAB_HOOK_SECRET" {
		t.Errorf("hook %+v", h)
	}
}

const minimal = `
dns:
  providers:
    - {name: edge, type: builtin, listen: 127.0.0.1:8053, zone: lab.test., ns: [ns1.lab.test.]}
    - {name: r53, type: route53, hosted_zone_id: Z1}
    - {name: cf, type: cloudflare, zone_id: z, api_token_env: CF}
hooks:
  - {name: page, type: exec, command: [/bin/true]}
services:
  - name: www
    record: www.lab.test.
    provider: edge
    targets:
      - {name: primary, role: primary, answer: {type: A, values: [127.0.10.1]}, probe: {url: http://127.0.10.1:18080/healthz}}
      - {name: backup, role: backup, answer: {type: A, values: [127.0.10.2]}, probe: {url: http://127.0.10.2:18080/healthz}, warmup: {urls: [/]}}
      - {name: origin, role: origin, answer: {type: A, values: [127.0.10.3]}, probe: {type: tcp, url: "127.0.10.3:18080"}}
`

func mustParse(t *testing.T, data string, opts Options) (*Config, []Problem) {
	t.Helper()
	if opts.Env == nil {
		opts.Env = testEnv
	}
	cfg, ps, err := Parse([]byte(data), opts)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg, ps
}

func TestDefaults(t *testing.T) {
	cfg, ps := mustParse(t, minimal, Options{})
	if len(ps) != 0 {
		t.Errorf("problems: %v", lines(ps))
	}
	want := Defaults()
	if diff := cmp.Diff(want.Controller, cfg.Controller); diff != "" {
		t.Errorf("controller (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.Probes, cfg.Probes); diff != "" {
		t.Errorf("probes (-want +got):\n%s", diff)
	}
	// The documented values, spelled out once, so that Defaults() itself is
	// checked too.
	wantController := Controller{Listen: "127.0.0.1:8080", DataDir: "./data", EvaluateEvery: 500 * time.Millisecond,
		Election:  Election{Backend: "none", LeaseTTL: 10 * time.Second},
		Retention: Retention{MaxAge: 720 * time.Hour, MaxEvents: 100000}}
	if diff := cmp.Diff(wantController, want.Controller); diff != "" {
		t.Errorf("Defaults().Controller (-want +got):\n%s", diff)
	}
	wantProbes := Probes{Local: true, Vantage: "local", Interval: 5 * time.Second, Timeout: 2 * time.Second, Concurrency: 64}
	if diff := cmp.Diff(wantProbes, want.Probes); diff != "" {
		t.Errorf("Defaults().Probes (-want +got):\n%s", diff)
	}

	wantPolicy := Policy{Fall: 3, Rise: 3, Quorum: 0.5, MinVantages: 2, RecoverAfter: 2 * time.Minute,
		Failback: Failback{Steps: []int{10, 25, 50, 100}, Hold: time.Minute}, MaxShiftsPerHour: 6}
	s := cfg.Services[0]
	if diff := cmp.Diff(wantPolicy, s.Policy); diff != "" {
		t.Errorf("policy (-want +got):\n%s", diff)
	}
	if s.TTL != 60 {
		t.Errorf("ttl %d, want 60", s.TTL)
	}
	wantProbe := Probe{Type: "http", URL: "http://127.0.10.1:18080/healthz", Method: "GET", Expect: Expect{Status: []int{200}}}
	if diff := cmp.Diff(wantProbe, s.Targets[0].Probe); diff != "" {
		t.Errorf("http probe (-want +got):\n%s", diff)
	}
	wantTCP := Probe{Type: "tcp", URL: "127.0.10.3:18080"}
	if diff := cmp.Diff(wantTCP, s.Targets[2].Probe); diff != "" {
		t.Errorf("tcp probe (-want +got):\n%s", diff)
	}
	wantWarmup := &Warmup{URLs: []string{"/"}, Concurrency: 32, Rate: 200, Timeout: 5 * time.Second, MaxWait: 10 * time.Second,
		MaxURLs: 10000, MaxErrorRatio: 0.5, CacheHeaders: []string{"X-Cache", "CF-Cache-Status", "Age"}}
	if diff := cmp.Diff(wantWarmup, s.Targets[1].Warmup); diff != "" {
		t.Errorf("warmup (-want +got):\n%s", diff)
	}
	if s.Targets[0].Warmup != nil {
		t.Error("a target without warmup got one")
	}
	if h := cfg.Hooks[0]; h.Timeout != 10*time.Second || h.Retries != 3 {
		t.Errorf("hook timeout %v retries %d, want 10s and 3", h.Timeout, h.Retries)
	}
	for _, p := range cfg.DNS.Providers {
		if p.Timeout != 10*time.Second {
			t.Errorf("provider %s timeout %v, want 10s", p.Name, p.Timeout)
		}
	}
	if got := cfg.DNS.Providers[1].RateLimit; got != 5 {
		t.Errorf("route53 rate_limit %v, want 5", got)
	}
	if got := cfg.DNS.Providers[0].RateLimit; got != 0 {
		t.Errorf("builtin rate_limit %v, want 0 (not a route53 setting)", got)
	}
	if got := cfg.DNS.Providers[2].Mode; got != CloudflareDNSRecord {
		t.Errorf("cloudflare mode %q, want dns_record", got)
	}
}

// TestDecodeOverDefaults checks that the file overrides the defaults field by
// field, and that null leaves a default in place.
func TestDecodeOverDefaults(t *testing.T) {
	data := minimal + `    ttl: ~
    policy: {fall: 5, failback: {hold: 10s}}
controller: {listen: "127.0.0.1:9000", election: ~}
`
	cfg, _ := mustParse(t, data, Options{})
	s := cfg.Services[0]
	if s.TTL != 60 || s.Policy.Fall != 5 || s.Policy.Rise != 3 || s.Policy.Failback.Hold != 10*time.Second ||
		!cmp.Equal(s.Policy.Failback.Steps, []int{10, 25, 50, 100}) {
		t.Errorf("service %+v", s)
	}
	if cfg.Controller.Listen != "127.0.0.1:9000" || cfg.Controller.DataDir != "./data" || cfg.Controller.Election.Backend != "none" {
		t.Errorf("controller %+v", cfg.Controller)
	}
}

func TestMergeKeys(t *testing.T) {
	data := `
dns:
  providers:
    - &edge {name: edge, type: builtin, listen: 127.0.0.1:8053, zone: lab.test., ns: [ns1.lab.test.]}
    - {<<: *edge, name: edge2, listen: 127.0.0.1:8054}
services:
  - name: www
    record: www.lab.test.
    provider: edge2
    targets:
      - {name: primary, role: primary, answer: {type: A, values: [127.0.10.1]}, probe: &probe {url: http://x.lab.test/healthz, method: HEAD}}
      - {name: backup, role: backup, answer: {type: A, values: [127.0.10.2]}, probe: {<<: [{connect_to: "127.0.10.2:80"}, *probe], url: http://y.lab.test/healthz}}
`
	cfg, _ := mustParse(t, data, Options{})
	p := cfg.DNS.Providers[1]
	if p.Name != "edge2" || p.Listen != "127.0.0.1:8054" || p.Zone != "lab.test." {
		t.Errorf("merged provider %+v", p)
	}
	pr := cfg.Services[0].Targets[1].Probe
	if pr.URL != "http://y.lab.test/healthz" || pr.Method != "HEAD" || pr.ConnectTo != "127.0.10.2:80" {
		t.Errorf("merged probe %+v", pr)
	}
}

// TestAliasBomb checks that aliases that expand exponentially are stopped
// by the node budget rather than eating the machine: 200 services of 200
// targets of 200 values each would be 8 million nodes.
func TestAliasBomb(t *testing.T) {
	repeat := func(s string) string { return strings.TrimSuffix(strings.Repeat(s+", ", 200), ", ") }
	data := "v: &v 192.0.2.1\n" +
		"t: &t {name: t, role: backup, answer: {type: A, values: [" + repeat("*v") + "]}}\n" +
		"s: &s {name: s, targets: [" + repeat("*t") + "]}\n" +
		"services: [" + repeat("*s") + "]\n"
	start := time.Now()
	_, ps, err := Parse([]byte(data), Options{Env: testEnv})
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v", d)
	}
	want := []string{
		"v: unknown field",
		"t: unknown field",
		"s: unknown field",
		fmt.Sprintf("the document has more than %d nodes after expanding aliases", minDecodeNodes),
	}
	if diff := cmp.Diff(want, lines(ps)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestDecodeOrderFollowsDocument(t *testing.T) {
	// server comes before zone in the file, after it in the struct.
	data := `
dns:
  providers:
    - name: bind
      type: rfc2136
      server: nowhere
      zone: example.com
      tsig: {name: k., algorithm: hmac-sha256, secret_env: TSIG}
services: []
`
	_, ps, _ := Parse([]byte(data), Options{Env: testEnv})
	want := []string{
		`dns.providers[0].server: must be host:port, got "nowhere"`,
		`dns.providers[0].zone: must be a fully-qualified DNS name ending in ".", got "example.com"`,
		`services: at least one service is required`,
	}
	if diff := cmp.Diff(want, lines(ps)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestEnvOverrides(t *testing.T) {
	env := map[string]string{
		"FAILOVER_CONTROLLER_LISTEN":             "0.0.0.0:9090",
		"FAILOVER_CONTROLLER_ELECTION_LEASE_TTL": "15s",
		"FAILOVER_CONTROLLER_RETENTION_MAX_AGE":  "48h",
		"FAILOVER_AUTH_OPEN_READ":                "true",
		"FAILOVER_PROBES_INTERVAL":               "3s",
		"FAILOVER_PROBES_LOCAL":                  "0",
		"FAILOVER_PROBES_VANTAGE":                "eu-1",
		"FAILOVER_PROBES_CONCURRENCY":            "8",
		"FAILOVER_PROBES_TIMEOUT":                "", // empty: ignored
		"FAILOVER_SERVICES":                      "[]",
		"CF":                                     "token",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	// The file sets probes.interval; the environment wins. The other keys
	// are absent from the file and come from the environment anyway.
	cfg, ps := mustParse(t, minimal+"probes: {interval: 10s}\n", Options{Env: lookup})
	if cfg.Probes.Interval != 3*time.Second {
		t.Errorf("probes.interval %v, want 3s from the environment", cfg.Probes.Interval)
	}
	if len(ps) != 0 {
		t.Errorf("problems: %v", lines(ps))
	}
	got := []any{cfg.Controller.Listen, cfg.Controller.Election.LeaseTTL, cfg.Controller.Retention.MaxAge, cfg.Auth.OpenRead,
		cfg.Probes.Interval, cfg.Probes.Local, cfg.Probes.Vantage, cfg.Probes.Concurrency, cfg.Probes.Timeout, len(cfg.Services)}
	want := []any{"0.0.0.0:9090", 15 * time.Second, 48 * time.Hour, true, 3 * time.Second, false, "eu-1", 8, 2 * time.Second, 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestEnvOverrideProblems(t *testing.T) {
	env := map[string]string{
		"FAILOVER_PROBES_INTERVAL":    "soon",
		"FAILOVER_AUTH_OPEN_READ":     "maybe",
		"FAILOVER_PROBES_CONCURRENCY": "lots",
		"FAILOVER_PROBES_TIMEOUT":     "9s", // valid duration, but not below the interval
		"CF":                          "token",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	_, ps, err := Parse([]byte(minimal), Options{Env: lookup})
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	want := []string{
		`auth.open_read: from FAILOVER_AUTH_OPEN_READ: must be true or false, got "maybe"`,
		`probes.interval: from FAILOVER_PROBES_INTERVAL: must be a duration like 1s or 250ms, got "soon"`,
		`probes.timeout: must be less than probes.interval (5s), got 9s`,
		`probes.concurrency: from FAILOVER_PROBES_CONCURRENCY: must be an integer, got "lots"`,
	}
	if diff := cmp.Diff(want, lines(ps)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestEnvVars(t *testing.T) {
	vars := EnvVars()
	for key, env := range map[string]string{
		"controller.listen":               "FAILOVER_CONTROLLER_LISTEN",
		"controller.data_dir":             "FAILOVER_CONTROLLER_DATA_DIR",
		"controller.election.backend":     "FAILOVER_CONTROLLER_ELECTION_BACKEND",
		"controller.tls.cert_file":        "FAILOVER_CONTROLLER_TLS_CERT_FILE",
		"controller.retention.max_events": "FAILOVER_CONTROLLER_RETENTION_MAX_EVENTS",
		"auth.open_read":                  "FAILOVER_AUTH_OPEN_READ",
		"probes.interval":                 "FAILOVER_PROBES_INTERVAL",
		"probes.source_addr":              "FAILOVER_PROBES_SOURCE_ADDR",
	} {
		if vars[key] != env {
			t.Errorf("EnvVars()[%q] = %q, want %q", key, vars[key], env)
		}
	}
	for _, key := range []string{"controller.election.endpoints", "auth.tokens", "services", "hooks", "dns.providers"} {
		if _, ok := vars[key]; ok {
			t.Errorf("%s is a list and must not be overridable", key)
		}
	}
	if len(vars) != 17 {
		t.Errorf("%d overridable keys, want 17: %v", len(vars), vars)
	}
}

func TestLoadErrors(t *testing.T) {
	_, _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), Options{})
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "config: read: ") {
		t.Errorf("Load of a missing file: %v", err)
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		t.Error("an I/O error is not a ValidationError")
	}
	dir := t.TempDir()
	_, _, err = Load(dir, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "config: read: ") {
		t.Errorf("Load of a directory: %v", err)
	}
}

func TestProblemString(t *testing.T) {
	ve := &ValidationError{Problems: []Problem{
		{Path: "services[0].policy.quorum", Message: "must be in (0,1], got 1.5"},
		{Message: "the config file is empty"},
	}}
	want := "services[0].policy.quorum: must be in (0,1], got 1.5\nthe config file is empty"
	if ve.Error() != want {
		t.Errorf("Error() = %q, want %q", ve.Error(), want)
	}
	ps := []Problem{{Path: "a", Message: "w", Warning: true}, {Path: "b", Message: "e"}}
	if !HasErrors(ps) || HasErrors(ps[:1]) || len(Errors(ps)) != 1 || Errors(ps)[0].Path != "b" {
		t.Error("HasErrors/Errors do not tell warnings from errors")
	}
}

// TestValidateIsDeterministic validates a config built in code (no
// document) with many problems and checks the order is stable and
// structural.
func TestValidateIsDeterministic(t *testing.T) {
	cfg := Defaults()
	bad, exec := DefaultHook(), DefaultHook()
	bad.Name, bad.Type = "Bad", HookWebhook
	exec.Name, exec.Type = "x", HookExec
	cfg.Hooks = []Hook{bad, exec}
	svc := DefaultService()
	svc.Name = "www"
	svc.Targets = []Target{DefaultTarget()}
	svc.On.Frozen = []string{"nope"}
	svc.On.Degraded = []string{"nope"}
	cfg.Services = []Service{svc}
	cfg.FillDefaults()
	first := cfg.Validate(Options{Env: testEnv})
	for range 20 {
		if diff := cmp.Diff(first, cfg.Validate(Options{Env: testEnv})); diff != "" {
			t.Fatalf("Validate is not deterministic:\n%s", diff)
		}
	}
	// Without a document, problems come in struct order: a path before the
	// paths under it.
	want := []string{
		`hooks[0]: needs secret_env or secret_file`,
		`hooks[0].name: must match ^[a-z0-9][a-z0-9-]{0,62}$, got "Bad"`,
		`hooks[0].url: is required`,
		`hooks[1].command: is required: the program and its arguments`,
		`services[0].record: is required`,
		`services[0].provider: is required`,
		`services[0].targets: needs at least 2 targets, got 1`,
		`services[0].targets: needs a target with role primary`,
		`services[0].targets[0].name: is required`,
		`services[0].targets[0].role: is required: one of primary, backup, origin`,
		`services[0].targets[0].answer.type: is required: one of A, AAAA, CNAME`,
		`services[0].targets[0].probe.url: is required`,
		`services[0].on.degraded[0]: unknown hook "nope"`,
		`services[0].on.frozen[0]: unknown hook "nope"`,
	}
	if diff := cmp.Diff(want, lines(first)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUnmarshal(t *testing.T) {
	type scenario struct {
		Name     string        `yaml:"name"`
		Interval time.Duration `yaml:"interval"`
		Policy   Policy        `yaml:"policy"`
		Seeds    []int         `yaml:"seeds"`
	}
	sc := scenario{Name: "default", Policy: DefaultPolicy()}
	err := Unmarshal([]byte("interval: 2s\npolicy: {fall: 5}\nseeds: [1, 2]\n"), &sc)
	if err != nil {
		t.Fatal(err)
	}
	want := scenario{Name: "default", Interval: 2 * time.Second, Policy: DefaultPolicy(), Seeds: []int{1, 2}}
	want.Policy.Fall = 5
	if diff := cmp.Diff(want, sc); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	err = Unmarshal([]byte("interval: soon\npolicy: {fal: 5}\nname: a\nname: b\n"), &sc)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Unmarshal: %v, want a *ValidationError", err)
	}
	wantLines := []string{
		`interval: must be a duration like 1s or 250ms, got "soon"`,
		`policy.fal: unknown field`,
		`name: duplicate key (first at line 3)`,
	}
	if diff := cmp.Diff(wantLines, lines(ve.Problems)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := Unmarshal([]byte("a: 1"), sc); err == nil {
		t.Error("Unmarshal into a non-pointer succeeded")
	}
}
