package main

import (
	"encoding/json"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/store"
)

// fixtureEvents is a morning in the life of a controller: www fails over
// and recovers, api has a blip that moves nothing, img fails over with its
// DNS write landing before the state does, www is drilled, and www fails
// again with a DNS write that fails.
func fixtureEvents() []store.Event {
	t0 := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	ms := time.Millisecond
	ev := func(d time.Duration, svc, typ, from, to, msg string) store.Event {
		return store.Event{Time: at(d), Service: svc, Type: typ, From: from, To: to, Message: msg, Evidence: map[string]any{}}
	}
	evs := []store.Event{
		ev(0, "www", "state", "healthy", "degraded", "primary failing at lab-a"),
		ev(500*ms, "api", "state", "healthy", "degraded", "cdn failing at lab-b"),
		ev(2*time.Second, "www", "state", "degraded", "failing_over", "primary down at 3/3 vantages"),
		ev(2*time.Second, "www", "warmup", "", "running", "warm-up of backup started: primary down"),
		ev(2500*ms, "www", "hook", "running", "ok", "before_shift hooks of backup ok"),
		ev(3*time.Second, "www", "dns", "primary 100", "backup 100", "routing change: primary down at 3/3 vantages"),
		ev(3*time.Second, "www", "state", "failing_over", "failed_over", "weight on backup"),
		ev(3400*ms, "www", "dns", "", "backup 100", "routing applied: backup 100"),
		ev(4*time.Second, "api", "state", "degraded", "healthy", "cdn recovered at lab-b"),
		ev(60*time.Second, "www", "state", "failed_over", "recovering", "primary healthy for 5s"),
		ev(60*time.Second, "www", "dns", "backup 100", "primary 25, backup 75", "routing change: shift back 25"),
		ev(60200*ms, "www", "dns", "", "primary 25, backup 75", "routing applied: primary 25, backup 75"),
		ev(63*time.Second, "www", "dns", "primary 25, backup 75", "primary 100", "routing change: shift back 100"),
		ev(63300*ms, "www", "dns", "", "primary 100", "routing applied: primary 100"),
		ev(63300*ms, "www", "state", "recovering", "healthy", "all weight on primary"),
		// img: the primary is not in the services list; it is inferred.
		ev(120*time.Second, "img", "state", "healthy", "failing_over", "cdn down | at quorum"),
		ev(121*time.Second, "img", "dns", "cdn 100", "origin 100", "routing change: cdn down"),
		ev(121500*ms, "img", "dns", "", "origin 100", "routing applied: origin 100"),
		ev(122*time.Second, "img", "state", "failing_over", "failed_over", "weight on origin"),
		ev(130*time.Second, "img", "state", "failed_over", "healthy", "cdn back"),
		// A drill is not an incident.
		ev(180*time.Second, "www", "override", "", "drill", "drill to backup for 1m by ops: game day"),
		ev(180*time.Second, "www", "state", "healthy", "manual", "drill to backup"),
		ev(180*time.Second, "www", "dns", "primary 100", "backup 100", "routing change: drill"),
		ev(180300*ms, "www", "dns", "", "backup 100", "routing applied: backup 100"),
		ev(240*time.Second, "www", "state", "manual", "healthy", "drill ended"),
		// www again: the DNS write fails; the incident is still open.
		ev(300*time.Second, "www", "state", "healthy", "degraded", "primary failing\nat lab-c"),
		ev(303*time.Second, "www", "dns", "primary 100", "backup 100", "routing change: primary down"),
		ev(303500*ms, "www", "dns", "primary 100", "", "routing write failed (backup 100): throttled"),
	}
	for i := range evs {
		evs[i].ID = store.FormatID(uint64(i + 1))
	}
	return evs
}

func secs(f *float64) string {
	if f == nil {
		return "nil"
	}
	return time.Duration(math.Round(*f * 1000)).String() // in ms units, printed as ns
}

func TestBuildReport(t *testing.T) {
	// Shuffle the input: the report sorts by time.
	evs := fixtureEvents()
	evs[0], evs[5] = evs[5], evs[0]
	rep := buildReport(evs, map[string]string{"www": "primary", "api": "cdn"})
	if len(rep.Events) != len(evs) || rep.Events[0].Message != "primary failing at lab-a" {
		t.Fatalf("events not sorted: first %+v", rep.Events[0])
	}
	if rep.Episodes != 1 {
		t.Errorf("episodes %d, want 1 (api)", rep.Episodes)
	}
	type figures struct {
		service, start, primary, to string
		ttd, ttm, ttr               string // milliseconds, as time.Duration of ns
		ongoing                     bool
	}
	var got []figures
	for _, inc := range rep.Incidents {
		got = append(got, figures{inc.Service, inc.StartState, inc.Primary, inc.FailedOverTo,
			secs(inc.TimeToDetect), secs(inc.TimeToMitigate), secs(inc.TimeToRecover), inc.Ongoing})
	}
	want := []figures{
		{"www", "degraded", "primary", "backup", "3µs", "3.4µs", "63.3µs", false},
		{"img", "failing_over", "cdn", "origin", "1µs", "2µs", "10µs", false},
		{"www", "degraded", "primary", "", "3µs", "nil", "nil", true},
	}
	if len(got) != len(want) {
		t.Fatalf("incidents %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("incident %d: %+v, want %+v", i+1, got[i], want[i])
		}
	}
}

func TestReportMarkdown(t *testing.T) {
	rep := buildReport(fixtureEvents(), map[string]string{"www": "primary"})
	since := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	rep.Since, rep.Generated = &since, fixtureNow
	var b strings.Builder
	if err := rep.markdown(&b); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"# Incident report\n\nAll services, since 2026-03-01T10:00:00.000Z; generated 2026-03-01T12:00:00.000Z. 28 events.\n",
		"| # | service | started | failed over to | time to detect | time to mitigate | time to recovery |\n|---|---|---|---|---|---|---|\n" +
			"| 1 | www | 2026-03-01T11:00:00.000Z (degraded) | backup | 3s | 3.4s | 1m3.3s |\n" +
			"| 2 | img | 2026-03-01T11:02:00.000Z (failing_over) | origin | 1s | 2s | 10s |\n" +
			"| 3 | www | 2026-03-01T11:05:00.000Z (degraded) | - | 3s | — | ongoing |\n",
		"1 degraded episode(s) ended without a failover.",
		"| time | service | type | from → to | message |\n|---|---|---|---|---|\n" +
			"| 2026-03-01T11:00:00.000Z | www | state | healthy → degraded | primary failing at lab-a |\n",
		"| 2026-03-01T11:00:03.400Z | www | dns | → backup 100 | routing applied: backup 100 |\n",
		"| 2026-03-01T11:02:00.000Z | img | state | healthy → failing_over | cdn down \\| at quorum |\n",
		"| 2026-03-01T11:05:00.000Z | www | state | healthy → degraded | primary failing at lab-c |\n",
		"| 2026-03-01T11:05:03.500Z | www | dns | primary 100 → | routing write failed (backup 100): throttled |\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("markdown lacks:\n%s\n--- in:\n%s", want, got)
		}
	}
}

func TestReportCommand(t *testing.T) {
	f := newFakeAPI(t)
	before := time.Now()
	code, out, errs := run(t, "report", "--server", f.URL, "--since", "2h", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var evReq *apiRequest
	for _, r := range f.requests() {
		if r.path == "/api/v1/events" {
			evReq = &r
		}
	}
	if evReq == nil {
		t.Fatal("no events request")
	}
	q, _ := url.ParseQuery(evReq.query)
	since, err := time.Parse(time.RFC3339Nano, q.Get("since"))
	if err != nil || since.Before(before.Add(-2*time.Hour-time.Second)) || since.After(time.Now().Add(-2*time.Hour)) {
		t.Errorf("since %q (%v)", q.Get("since"), err)
	}
	if q.Get("limit") != "10000" {
		t.Errorf("limit %q", q.Get("limit"))
	}
	var rep struct {
		Events    []store.Event `json:"events"`
		Incidents []struct {
			Service        string   `json:"service"`
			TimeToDetect   *float64 `json:"time_to_detect_s"`
			TimeToMitigate *float64 `json:"time_to_mitigate_s"`
			TimeToRecover  *float64 `json:"time_to_recover_s"`
			Ongoing        bool     `json:"ongoing"`
		} `json:"incidents"`
		Episodes int `json:"episodes_without_failover"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(rep.Events) != len(fixtureEvents()) || len(rep.Incidents) != 3 || rep.Episodes != 1 {
		t.Fatalf("report: %d events, %d incidents, %d episodes", len(rep.Events), len(rep.Incidents), rep.Episodes)
	}
	first := rep.Incidents[0]
	if first.Service != "www" || *first.TimeToDetect != 3 || math.Abs(*first.TimeToMitigate-3.4) > 1e-9 ||
		math.Abs(*first.TimeToRecover-63.3) > 1e-9 || first.Ongoing {
		t.Errorf("first incident %+v", first)
	}
	if last := rep.Incidents[2]; last.TimeToMitigate != nil || last.TimeToRecover != nil || !last.Ongoing {
		t.Errorf("last incident %+v", last)
	}

	// Markdown for one service, with an RFC 3339 --since.
	code, out, errs = run(t, "report", "--server", f.URL, "--service", "img", "--since", "2026-03-01T10:00:00Z")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.HasPrefix(out, "# Incident report\n\nService img, since 2026-03-01T10:00:00.000Z; generated ") ||
		!strings.Contains(out, "| 1 | img | 2026-03-01T11:02:00.000Z (failing_over) | origin | 1s | 2s | 10s |") {
		t.Errorf("markdown:\n%s", out)
	}
	if r := f.requests(); !strings.Contains(r[len(r)-2].query, "service=img") {
		t.Errorf("events query %q", r[len(r)-2].query)
	}
}

func TestReportEmpty(t *testing.T) {
	rep := buildReport(nil, nil)
	rep.Generated = fixtureNow
	var b strings.Builder
	if err := rep.markdown(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "No failover in this window.") || !strings.Contains(b.String(), "No events.") {
		t.Errorf("%s", b.String())
	}
	data, _ := json.Marshal(rep)
	if !strings.Contains(string(data), `"events":[]`) || !strings.Contains(string(data), `"incidents":[]`) {
		t.Errorf("json %s", data)
	}
}

func TestParseRouting(t *testing.T) {
	tests := map[string]map[string]int{
		"primary 100":           {"primary": 100},
		"primary 25, backup 75": {"primary": 25, "backup": 75},
		"primary=0 backup=100":  {"primary": 0, "backup": 100},
		"none":                  {},
	}
	for in, want := range tests {
		got, ok := parseRouting(in)
		if !ok || len(got) != len(want) {
			t.Errorf("%q: %v %v", in, got, ok)
			continue
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%q: %v", in, got)
			}
		}
	}
	for _, bad := range []string{"", "primary", "primary x", "primary 101"} {
		if _, ok := parseRouting(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
