package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeLabToken puts an operator token where the lab writes it by default.
func writeLabToken(t *testing.T, token string) string {
	t.Helper()
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	dir := filepath.Join(state, "failover", "lab")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "operator.token")
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLabFault(t *testing.T) {
	f := newFakeAPI(t)
	f.token = "lab-operator"
	writeLabToken(t, "lab-operator")

	code, out, errs := run(t, "lab", "fault", "primary", "down", "--vantage", "lab-a", "--vantage", "lab-b", "--server", f.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	r := f.last()
	if r.method != "POST" || r.path != "/api/v1/lab/faults" || r.auth != "Bearer lab-operator" ||
		string(r.body) != `{"target":"primary","mode":"down","vantages":["lab-a","lab-b"]}` {
		t.Errorf("request %s %s %q %s", r.method, r.path, r.auth, r.body)
	}
	if out != "primary: down at lab-a, lab-b\n" {
		t.Errorf("output %q", out)
	}

	code, out, errs = run(t, "lab", "fault", "primary", "ok", "--server", f.URL)
	if code != 0 || out != "primary: fault cleared at every vantage\n" {
		t.Fatalf("clear: exit %d, %q, %s", code, out, errs)
	}
	if r := f.last(); string(r.body) != `{"target":"primary","mode":"ok","vantages":null}` {
		t.Errorf("clear body %s", r.body)
	}
}

func TestLabFaultTokenSources(t *testing.T) {
	f := newFakeAPI(t)
	f.token = "from-flag"
	writeLabToken(t, "from-lab-dir")
	// --token-file wins over the lab's file.
	tf := writeToken(t, "from-flag")
	if code, _, errs := run(t, "lab", "fault", "backup", "slow", "--server", f.URL, "--token-file", tf); code != 0 {
		t.Fatalf("--token-file: exit %d: %s", code, errs)
	}
	// So does FAILOVER_TOKEN.
	f.token = "from-env"
	t.Setenv("FAILOVER_TOKEN", "from-env")
	if code, _, errs := run(t, "lab", "fault", "backup", "slow", "--server", f.URL); code != 0 {
		t.Fatalf("FAILOVER_TOKEN: exit %d: %s", code, errs)
	}
	t.Setenv("FAILOVER_TOKEN", "")
	// A wrong token is the controller's 401, verbatim.
	code, _, errs := run(t, "lab", "fault", "backup", "slow", "--server", f.URL)
	if code != 1 || errs != "failover: lab fault: controller: 401: missing or invalid token\n" {
		t.Errorf("wrong token: exit %d, %q", code, errs)
	}
	// No token anywhere: say where it was looked for.
	empty := t.TempDir()
	t.Setenv("XDG_STATE_HOME", empty)
	code, _, errs = run(t, "lab", "fault", "backup", "slow", "--server", f.URL)
	want := "failover: lab fault: no operator token in " + filepath.Join(empty, "failover", "lab", "operator.token")
	if code != 1 || !strings.HasPrefix(errs, want) || strings.Count(errs, "\n") != 1 {
		t.Errorf("no token: exit %d, %q", code, errs)
	}
}
