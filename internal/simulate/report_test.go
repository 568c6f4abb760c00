package simulate

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

const hardOutage = `
name: hard
service: www
vantages: [a, b, c]
interval: 1s
duration: 10m
timeline:
  - {at: 60s, target: primary, outcome: refused, until: 300s}
`

func TestReportJSON(t *testing.T) {
	rep := mustRun(t, hardOutage+"expect: {max_shifts: 1, failover_within: 3.5s}\n")
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	policies, _ := doc["policies"].(map[string]any)
	keys := func(m map[string]any) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	if got := keys(policies); !slices.Equal(got, []string{"cloudflare", "naive", "ours", "route53"}) {
		t.Fatalf("policies %v", got)
	}
	for name, p := range policies {
		p := p.(map[string]any)
		want := []string{"decisions", "detection_s", "false_shifts", "recovery_s", "shifts", "unhealthy_seconds"}
		if got := keys(p); !slices.Equal(got, want) {
			t.Errorf("%s fields %v, want exactly %v", name, got, want)
		}
		ds := p["decisions"].([]any)
		if len(ds) == 0 {
			t.Fatalf("%s: no decisions", name)
		}
		d := ds[0].(map[string]any)
		if got := keys(d); !slices.Equal(got, []string{"at", "from", "routing", "to"}) {
			t.Errorf("%s decision fields %v", name, got)
		}
		if _, ok := d["at"].(float64); !ok {
			t.Errorf("%s: at is %T, want a number of seconds", name, d["at"])
		}
		r := d["routing"].(map[string]any)
		if r["backup"] != 100.0 || r["primary"] != 0.0 || r["origin"] != 0.0 {
			t.Errorf("%s: first routing %v, want all on the backup", name, r)
		}
	}
	ours := policies["ours"].(map[string]any)
	if ours["detection_s"].([]any)[0] != 2.0 || ours["shifts"] != 4.0 {
		t.Errorf("ours detection %v, shifts %v", ours["detection_s"], ours["shifts"])
	}
	if got := doc["failures"].([]any); len(got) != 1 || got[0] != "max_shifts: 4 routing changes, limit 1" {
		t.Errorf("failures %v", got)
	}

	// An undetected fault is null.
	rep = mustRun(t, strings.Replace(hardOutage, "until: 300s", "until: 62s", 1))
	data, _ = json.Marshal(rep.Policies.Ours)
	if !strings.Contains(string(data), `"detection_s":[null]`) || !strings.Contains(string(data), `"decisions":[]`) {
		t.Errorf("ours: %s", data)
	}
}

func TestReportText(t *testing.T) {
	rep := mustRun(t, hardOutage+"expect: {max_shifts: 1, failover_within: 3.5s}\n")
	var b bytes.Buffer
	if err := rep.Text(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"scenario hard: service www, 600s at 1s, 3 vantages, targets primary > backup > origin\n",
		"faults: 1 (60s–300s)\n",
		"metric        ours  route53  cloudflare  naive  \n",
		"detection s   2     26.7     3.3         0      \n",
		"shifts        4     2        2           2      \n",
		"false shifts  0     0        0           0      \n",
		"unhealthy s   2     26.7     3.3         0      \n",
		"       62s  degraded -> failed_over  backup 100\n",
		"expectations: 1 of 2 FAILED\n",
		"  FAIL max_shifts: 4 routing changes, limit 1\n",
		"  ok   failover_within: 1 of 1 faults within 3.5s (worst 2s)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
}

func TestMarkdownTable(t *testing.T) {
	a := mustRun(t, hardOutage+"expect: {failover_within: 3.5s}\n")
	b := mustRun(t, strings.Replace(hardOutage, "name: hard", "name: a|b", 1)+"expect: {max_shifts: 0}\n")
	got := MarkdownTable([]*Report{a, b})
	want := "| scenario | detection s | false shifts | shifts | unhealthy s | expect |\n" +
		"|---|---|---|---|---|---|\n" +
		"| hard | 2 · 26.7 · 3.3 · 0 | 0 · 0 · 0 · 0 | 4 · 2 · 2 · 2 | 2 · 26.7 · 3.3 · 0 | met |\n" +
		"| a\\|b | 2 · 26.7 · 3.3 · 0 | 0 · 0 · 0 · 0 | 4 · 2 · 2 · 2 | 2 · 26.7 · 3.3 · 0 | **1 failed** |\n"
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestFmtList(t *testing.T) {
	nan := func() *float64 { return nil }()
	two, three := 2.0, 3.04
	cases := []struct {
		in   []*float64
		want string
	}{
		{nil, "-"},
		{[]*float64{nan}, "never"},
		{[]*float64{&two}, "2"},
		{[]*float64{&two, &three}, "max 3 (2)"},
		{[]*float64{nan, nan}, "never (2)"},
		{[]*float64{&two, nan, &three}, "max 3, 1 never (3)"},
	}
	for _, c := range cases {
		if got := fmtList(c.in); got != c.want {
			t.Errorf("fmtList(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestExpectations(t *testing.T) {
	rep := mustRun(t, hardOutage+`expect:
  max_shifts: 3
  max_false_shifts: 0
  max_unhealthy_seconds: 1
  failover_within: 1s
  recovery_within: 5s
  frozen: true
`)
	want := []string{
		"max_shifts: 4 routing changes, limit 3",
		"max_unhealthy_seconds: 2s with weight on unhealthy targets, limit 1s",
		"failover_within: limit 1s; fault 1 (60s–300s): 2s",
		"recovery_within: limit 5s; fault 1 (60s–300s): 13s",
		"frozen: the engine never went frozen (final state healthy)",
	}
	if !slices.Equal(rep.Failures, want) {
		t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(rep.Failures, "\n"), strings.Join(want, "\n"))
	}
	if rep.Passed() || len(rep.Expectations) != 6 {
		t.Errorf("passed %v with %d expectations", rep.Passed(), len(rep.Expectations))
	}
	ok := mustRun(t, hardOutage+"expect: {max_shifts: 4, failover_within: 2s, recovery_within: 13s, frozen: false}\n")
	if !ok.Passed() {
		t.Errorf("failures: %v", ok.Failures)
	}
}

func TestRunIsDeterministic(t *testing.T) {
	src := `
service: www
vantages: [a, b, c, d, e]
interval: 1s
duration: 2h
seed: 3
noise: {loss: 0.1}
timeline:
  - {at: 10m, target: primary, outcome: timeout, until: 20m}
overrides:
  - {at: 30m, kind: drill, to: origin, for: 10m}
`
	a, _ := json.Marshal(mustRun(t, src))
	b, _ := json.Marshal(mustRun(t, src))
	if !bytes.Equal(a, b) {
		t.Error("two runs of the same scenario differ")
	}
}
