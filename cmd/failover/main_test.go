package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = runMain(args, &out, &errb)
	return code, out.String(), errb.String()
}

// Every command of CONTRACT §1 exists and has its documented flags.
func TestCommandSurface(t *testing.T) {
	tests := []struct {
		args  []string
		flags []string
	}{
		{[]string{"run"}, []string{"--config"}},
		{[]string{"lab"}, []string{"--config", "--http", "--dns", "--data"}},
		{[]string{"lab", "fault"}, []string{"--vantage", "--server"}},
		{[]string{"probe"}, []string{"--controller", "--vantage", "--token-file"}},
		{[]string{"validate"}, []string{"--config", "--secrets"}},
		{[]string{"plan"}, []string{"--config"}},
		{[]string{"status"}, []string{"--server", "--token-file", "--output"}},
		{[]string{"drill"}, []string{"--to", "--for", "--reason", "--force", "--server"}},
		{[]string{"pin"}, []string{"--to", "--for", "--reason"}},
		{[]string{"release"}, []string{"--server"}},
		{[]string{"warmup"}, []string{"--config", "--service", "--target"}},
		{[]string{"simulate"}, []string{"--config", "--scenario", "--output"}},
		{[]string{"report"}, []string{"--server", "--service", "--since", "--output"}},
		{[]string{"version"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errs := run(t, append(tt.args, "--help")...)
			if code != 0 {
				t.Fatalf("--help exit %d: %s", code, errs)
			}
			for _, f := range tt.flags {
				if !strings.Contains(out, f) {
					t.Errorf("help does not list %s:\n%s", f, out)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "failover ") || !strings.Contains(out, "go1.") {
		t.Fatalf("version: exit %d, %q", code, out)
	}
}

func TestUnknownCommandAndFlag(t *testing.T) {
	for _, args := range [][]string{{"nope"}, {"version", "--nope"}} {
		code, _, errs := run(t, args...)
		if code == 0 {
			t.Errorf("%v: exit 0", args)
		}
		if strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.HasPrefix(errs, "failover: ") {
			t.Errorf("%v: want a one-line reason, got %q", args, errs)
		}
	}
}

func TestValidateExamples(t *testing.T) {
	files, err := filepath.Glob("../../config/*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("want at least 4 example configs, got %v (%v)", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			code, out, errs := run(t, "validate", "--config", f)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	bad := `services:
  - name: www
    record: www.example.com.
    provider: nope
    targets:
      - {name: a, role: primary, answer: {type: A, values: [192.0.2.1]}, probe: {url: "http://192.0.2.1/"}}
      - {name: b, role: backup, answer: {type: A, values: [192.0.2.2]}, probe: {url: "http://192.0.2.2/"}}
    policy: {quorum: 1.5}
`
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, "validate", "--config", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, want := range []string{
		"services[0].policy.quorum: must be in (0,1], got 1.5",
		"services[0].provider: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errs, "goroutine ") || strings.Contains(out+errs, "panic") {
		t.Errorf("output shows a panic:\n%s%s", out, errs)
	}
}

func TestValidateMissingFile(t *testing.T) {
	code, _, errs := run(t, "validate", "--config", filepath.Join(t.TempDir(), "none.yaml"))
	if code != 1 || !strings.HasPrefix(errs, "failover: ") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
}

// Usage errors exit 1: 2 is plan's "something would change".
func TestUsageErrorsExitOne(t *testing.T) {
	for _, args := range [][]string{{"plan"}, {"plan", "--bogus"}, {"validate"}, {"validate", "--bogus"}, {"simulate", "-o", "x"}} {
		if code, _, errs := run(t, args...); code != 1 {
			t.Errorf("%v: exit %d, want 1 (%q)", args, code, errs)
		}
	}
}

func TestErrorsAreOneLine(t *testing.T) {
	sc := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(sc, []byte("name: x\nservice: www\nvantages: [a]\ninterval: 1s\nduration: 1m\ntimeline:\n  - {at: 1s, outcome: nope}\n  - {at: 2s, outcome: nada}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run(t, "simulate", "--config", "../../config/lab.yaml", "--scenario", sc)
	var reasons []string
	for _, l := range strings.Split(strings.TrimSpace(errs), "\n") {
		if !strings.HasPrefix(l, "warning: ") {
			reasons = append(reasons, l)
		}
	}
	if code != 1 || len(reasons) != 1 || !strings.HasPrefix(reasons[0], "failover: ") || !strings.Contains(reasons[0], `"nada"`) {
		t.Fatalf("exit %d, want one line with every problem:\n%s", code, errs)
	}
}

func TestConfigRequired(t *testing.T) {
	for _, cmd := range []string{"run", "plan", "simulate"} {
		code, _, errs := run(t, cmd)
		if code == 0 || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, "--config") {
			t.Errorf("%s without --config: exit %d, stderr %q", cmd, code, errs)
		}
	}
}

func TestFlagsFromEnv(t *testing.T) {
	t.Setenv("FAILOVER_CONFIG", filepath.Join(t.TempDir(), "from-env.yaml"))
	code, _, errs := run(t, "validate")
	if code != 1 || !strings.Contains(errs, "from-env.yaml") {
		t.Fatalf("FAILOVER_CONFIG not used: exit %d, %q", code, errs)
	}
	// The flag wins over the variable.
	code, out, errs := run(t, "validate", "--config", "../../config/lab.yaml")
	if code != 0 {
		t.Fatalf("flag did not win: exit %d\n%s%s", code, out, errs)
	}
	// Only the contract's variables are bound: FAILOVER_OUTPUT is not.
	t.Setenv("FAILOVER_OUTPUT", "yaml")
	code, _, errs = run(t, "simulate", "--config", "a", "--scenario", "b")
	if strings.Contains(errs, `got "yaml"`) {
		t.Fatalf("FAILOVER_OUTPUT was used: exit %d, %q", code, errs)
	}
}
