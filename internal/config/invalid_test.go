package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.want from the current output (review the diff!)")

// testSecret is what every non-FAILOVER_ variable holds in the tests. It is
// valid base64, so it also serves as a TSIG secret.
const testSecret = "c2VjcmV0LXZhbHVlLTQy"

// testEnv is an environment where every secret variable is set and no
// FAILOVER_* override is.
func testEnv(name string) (string, bool) {
	if strings.HasPrefix(name, EnvPrefix+"_") {
		return "", false
	}
	return testSecret, true
}

// emptyEnv is an environment with nothing set.
func emptyEnv(string) (string, bool) { return "", false }

// lines renders problems as the .want files hold them.
func lines(ps []Problem) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if p.Warning {
			out = append(out, "warning: "+p.String())
		} else {
			out = append(out, p.String())
		}
	}
	return out
}

// checkInvalid parses data and compares every problem with want.
func checkInvalid(t *testing.T, data []byte, want []string) {
	t.Helper()
	cfg, ps, err := Parse(data, Options{Env: testEnv})
	if err == nil {
		t.Fatalf("Parse succeeded; want errors:\n%s", strings.Join(want, "\n"))
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is a %T, want *ValidationError", err, err)
	}
	if cfg != nil {
		t.Error("Parse returned a config along with errors")
	}
	if diff := cmp.Diff(want, lines(ps)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Errors(ps), ve.Problems); diff != "" {
		t.Errorf("ValidationError.Problems is not the errors of the problems (-want +got):\n%s", diff)
	}
}

func TestInvalidFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("found %d invalid-*.yaml files, want at least 25", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			wantFile := strings.TrimSuffix(file, ".yaml") + ".want"
			if *update {
				_, ps, _ := Parse(data, Options{Env: testEnv})
				if err := os.WriteFile(wantFile, []byte(strings.Join(lines(ps), "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wantData, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Split(strings.TrimRight(string(wantData), "\n"), "\n")
			checkInvalid(t, data, want)
		})
	}
}

// validService is one valid service in YAML, as a flow mapping; %d makes
// its name and record unique.
const validService = `{name: s%d, record: s%d.lab.test., provider: edge, targets: [` +
	`{name: primary, role: primary, answer: {type: A, values: [127.0.10.1]}, probe: {url: "http://127.0.10.1:18080/healthz"}}, ` +
	`{name: backup, role: backup, answer: {type: A, values: [127.0.10.2]}, probe: {url: "http://127.0.10.2:18080/healthz"}}]}`

const edgeProvider = `{name: edge, type: builtin, listen: "127.0.0.1:8053", zone: lab.test., ns: [ns1.lab.test.]}`

func TestLimits(t *testing.T) {
	tests := []struct {
		name string
		yaml func() string
		want []string
	}{
		{
			name: "services",
			yaml: func() string {
				var b strings.Builder
				b.WriteString("dns: {providers: [" + edgeProvider + "]}\nservices:\n")
				for i := range MaxServices + 1 {
					fmt.Fprintf(&b, "  - "+validService+"\n", i, i)
				}
				return b.String()
			},
			want: []string{"services: too many services: 10001 > 10000"},
		},
		{
			name: "providers",
			yaml: func() string {
				var b strings.Builder
				b.WriteString("dns:\n  providers:\n    - " + edgeProvider + "\n")
				for i := range MaxProviders {
					fmt.Fprintf(&b, "    - {name: p%d, type: route53, hosted_zone_id: Z%d}\n", i, i)
				}
				return b.String() + "services:\n  - " + fmt.Sprintf(validService, 0, 0) + "\n"
			},
			want: []string{"dns.providers: too many providers: 101 > 100"},
		},
		{
			name: "hooks",
			yaml: func() string {
				var b strings.Builder
				b.WriteString("dns: {providers: [" + edgeProvider + "]}\nhooks:\n")
				for i := range MaxHooks + 1 {
					fmt.Fprintf(&b, "  - {name: h%d, type: exec, command: [/bin/true]}\n", i)
				}
				return b.String() + "services:\n  - " + fmt.Sprintf(validService, 0, 0) + "\n"
			},
			want: []string{"hooks: too many hooks: 101 > 100"},
		},
		{
			name: "tokens",
			yaml: func() string {
				var b strings.Builder
				b.WriteString("dns: {providers: [" + edgeProvider + "]}\nauth:\n  tokens:\n")
				for i := range MaxTokens + 1 {
					fmt.Fprintf(&b, "    - {name: t%d, role: viewer, token_env: TOKEN_%d}\n", i, i)
				}
				return b.String() + "services:\n  - " + fmt.Sprintf(validService, 0, 0) + "\n"
			},
			want: []string{"auth.tokens: too many tokens: 1001 > 1000"},
		},
		{
			name: "targets",
			yaml: func() string {
				var b strings.Builder
				b.WriteString("dns: {providers: [" + edgeProvider + "]}\nservices:\n  - name: www\n    record: www.lab.test.\n    provider: edge\n    targets:\n")
				for i := range MaxTargets + 1 {
					role := "backup"
					if i == 0 {
						role = "primary"
					}
					fmt.Fprintf(&b, "      - {name: t%d, role: %s, answer: {type: A, values: [127.0.10.%d]}, probe: {url: \"http://127.0.10.%d:18080/healthz\"}}\n", i, role, i+1, i+1)
				}
				return b.String()
			},
			want: []string{"services[0].targets: too many targets: 17 > 16"},
		},
		{
			name: "answer values",
			yaml: func() string {
				vals := make([]string, MaxAnswerValues+1)
				for i := range vals {
					vals[i] = fmt.Sprintf("192.0.2.%d", i+1)
				}
				s := strings.Replace(fmt.Sprintf(validService, 0, 0), "[127.0.10.1]", "["+strings.Join(vals, ", ")+"]", 1)
				return "dns: {providers: [" + edgeProvider + "]}\nservices:\n  - " + s + "\n"
			},
			want: []string{"services[0].targets[0].answer.values: too many values: 33 > 32"},
		},
		{
			name: "file size",
			yaml: func() string {
				s := "dns: {providers: [" + edgeProvider + "]}\nservices:\n  - " + fmt.Sprintf(validService, 0, 0) + "\n"
				return s + "#" + strings.Repeat("x", MaxFileSize-len(s)-1) + "\n"
			},
			want: []string{"the config file is too large: 16777217 bytes > 16777216"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkInvalid(t, []byte(tt.yaml()), tt.want)
		})
	}
}

// TestLimitsAreExact checks that each limit itself is allowed, so that the
// limits above are not off by one. It builds the config in code: the YAML
// path is covered above.
func TestLimitsAreExact(t *testing.T) {
	cfg := Defaults()
	cfg.DNS.Providers = make([]Provider, MaxProviders)
	for i := range cfg.DNS.Providers {
		p := DefaultProvider()
		p.Name, p.Type, p.Listen, p.Zone, p.NS = fmt.Sprintf("p%d", i), ProviderBuiltin, "127.0.0.1:8053", "lab.test.", []string{"ns1.lab.test."}
		cfg.DNS.Providers[i] = p
	}
	for i := range MaxHooks {
		h := DefaultHook()
		h.Name, h.Type, h.Command = fmt.Sprintf("h%d", i), HookExec, []string{"/bin/true"}
		cfg.Hooks = append(cfg.Hooks, h)
	}
	for i := range MaxTokens {
		cfg.Auth.Tokens = append(cfg.Auth.Tokens, Token{Name: fmt.Sprintf("t%d", i), Role: RoleViewer, TokenEnv: "TOKEN"})
	}
	values := make([]string, MaxAnswerValues)
	for i := range values {
		values[i] = fmt.Sprintf("192.0.2.%d", i+1)
	}
	targets := make([]Target, MaxTargets)
	for i := range targets {
		tg := DefaultTarget()
		tg.Name, tg.Role = fmt.Sprintf("t%d", i), RoleBackup
		tg.Answer = Answer{Type: "A", Values: values}
		tg.Probe.URL = "http://www.lab.test/healthz"
		targets[i] = tg
	}
	targets[0].Role = RolePrimary
	// The first service has the most targets and values; the others are
	// small, to keep the test quick.
	for i := range MaxServices {
		s := DefaultService()
		s.Name, s.Record, s.Provider = fmt.Sprintf("s%d", i), fmt.Sprintf("s%d.lab.test.", i), "p0"
		s.Targets = targets
		if i > 0 {
			s.Targets = []Target{targets[0], targets[1]}
			s.Targets[0].Answer.Values = values[:1]
			s.Targets[1].Answer.Values = values[1:2]
		}
		cfg.Services = append(cfg.Services, s)
	}
	cfg.FillDefaults()
	if ps := cfg.Validate(Options{Env: testEnv}); len(ps) != 0 {
		t.Errorf("%d problems, the first: %v", len(ps), ps[0])
	}
}

func TestLoadTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, make([]byte, MaxFileSize+10), 0o644); err != nil {
		t.Fatal(err)
	}
	_, ps, err := Load(path, Options{Env: testEnv})
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Load: %v, want a *ValidationError", err)
	}
	want := []string{fmt.Sprintf("the config file is too large: %d bytes > %d", MaxFileSize+10, MaxFileSize)}
	if diff := cmp.Diff(want, lines(ps)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
