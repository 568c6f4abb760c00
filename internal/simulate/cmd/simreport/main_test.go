package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunWritesTheReport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "docs", "decisions.md")
	var stderr bytes.Buffer
	err := run([]string{
		"-config", "../../../../config/lab.yaml",
		"-scenarios", "../../../../config/scenarios/hard-outage.yaml",
		"-o", out,
	}, &stderr)
	if err != nil {
		t.Fatalf("run: %v (%s)", err, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# Decisions: ours against the baselines\n",
		"| scenario | detection s | false shifts | shifts | unhealthy s | expect |\n",
		"| hard-outage | 2 · 28 · 4 · 0 | 0 · 0 · 0 · 0 | 4 · 2 · 2 · 2 | 2 · 28 · 4 · 0 | met |\n",
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("report lacks %q:\n%s", want, data)
		}
	}
	if strings.Contains(string(data), "Expectations not met") {
		t.Errorf("report lists failures for a scenario that meets its expectations")
	}
	if !strings.Contains(stderr.String(), "wrote "+out+" (1 scenarios, 0 expectations not met)") {
		t.Errorf("stderr: %s", stderr.String())
	}
}

func TestRunFailsOnABadScenario(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("service: www\nvantages: [a]\nduration: 1m\ntimeline:\n  - {at: 1s, target: nope, outcome: ok}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run([]string{"-config", "../../../../config/lab.yaml", "-scenarios", bad, "-o", filepath.Join(dir, "out.md")}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `timeline[0].targets: unknown target "nope"`) {
		t.Errorf("error %v, want the unknown target", err)
	}
	if _, statErr := os.Stat(filepath.Join(dir, "out.md")); statErr == nil {
		t.Error("a report was written despite the error")
	}
}
