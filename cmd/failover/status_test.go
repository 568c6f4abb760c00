package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/store"
)

// fakeAPI is an httptest server speaking the parts of CONTRACT §4 that the
// client commands use. It records every request.
type fakeAPI struct {
	*httptest.Server
	mu       sync.Mutex
	services []api.Service
	events   []store.Event
	// token, when set, is required on every request.
	token string
	// refuse, when set, is the 409 answer of drill and pin.
	refuse string
	plan   api.ProbePlan
	reqs   []apiRequest
	got    []api.ResultsBatch
}

type apiRequest struct {
	method, path, query, auth string
	body                      []byte
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{services: fixtureServices(), events: fixtureEvents()}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	// Keep the environment of the machine out of the commands.
	for _, k := range []string{"FAILOVER_TOKEN", "FAILOVER_TOKEN_FILE", "FAILOVER_SERVER"} {
		t.Setenv(k, "")
	}
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, apiRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), body})
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		writeJSONError(w, 401, "missing or invalid token")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/api/v1/")
	switch {
	case r.Method == "GET" && path == "services":
		writeJSONBody(w, 200, map[string]any{"services": f.services})
	case r.Method == "GET" && path == "events":
		var out []store.Event
		for _, e := range f.events {
			if s := r.URL.Query().Get("service"); s == "" || e.Service == s {
				out = append(out, e)
			}
		}
		writeJSONBody(w, 200, map[string]any{"events": out})
	case r.Method == "POST" && strings.HasPrefix(path, "services/"):
		name, action, _ := strings.Cut(strings.TrimPrefix(path, "services/"), "/")
		i := f.service(name)
		if i < 0 {
			writeJSONError(w, 404, "service "+name+" not found")
			return
		}
		s := f.services[i]
		switch action {
		case "drill", "pin":
			if f.refuse != "" {
				writeJSONError(w, 409, f.refuse)
				return
			}
			var req api.OverrideRequest
			if err := json.Unmarshal(body, &req); err != nil {
				writeJSONError(w, 400, "bad body: "+err.Error())
				return
			}
			o := &api.Override{Kind: action, To: req.To, Reason: req.Reason, By: "ops"}
			if req.For != "" {
				d, err := time.ParseDuration(req.For)
				if err != nil {
					writeJSONError(w, 400, "for: "+err.Error())
					return
				}
				o.Until = time.Now().Add(d)
			}
			s.State, s.Override = "manual", o
			s.Desired = map[string]int{}
			for _, t := range s.Targets {
				s.Desired[t.Name] = 0
			}
			s.Desired[req.To] = 100
		case "release":
			s.Override, s.State, s.Desired = nil, "recovering", s.Routing
		default:
			writeJSONError(w, 404, "not found")
			return
		}
		f.services[i] = s
		writeJSONBody(w, 200, s)
	case r.Method == "GET" && path == "plan":
		writeJSONBody(w, 200, f.plan)
	case r.Method == "POST" && path == "results":
		var b api.ResultsBatch
		if err := json.Unmarshal(body, &b); err != nil {
			writeJSONError(w, 400, "results: "+err.Error())
			return
		}
		f.got = append(f.got, b)
		writeJSONBody(w, 200, api.ResultsAck{Accepted: len(b.Results)})
	case r.Method == "POST" && path == "lab/faults":
		writeJSONBody(w, 200, map[string]any{})
	default:
		writeJSONError(w, 404, "not found")
	}
}

func (f *fakeAPI) service(name string) int {
	for i, s := range f.services {
		if s.Name == name {
			return i
		}
	}
	return -1
}

func (f *fakeAPI) requests() []apiRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiRequest(nil), f.reqs...)
}

func (f *fakeAPI) last() apiRequest {
	r := f.requests()
	return r[len(r)-1]
}

func writeJSONBody(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSONBody(w, status, map[string]string{"error": msg})
}

var fixtureNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fixtureServices() []api.Service {
	seen := func(ok bool, class string, ms float64) api.VantageView {
		v := api.VantageView{OK: ok, Class: class, LatencyMs: ms, At: fixtureNow.Add(-time.Second), State: "up"}
		if !ok {
			v.State = "down"
		}
		return v
	}
	return []api.Service{
		{
			Name: "www", Record: "www.lab.test.", Provider: "edge", State: "failed_over",
			Since: fixtureNow.Add(-2*time.Minute - 5*time.Second), Reason: "primary down at 3/3 vantages",
			Routing: map[string]int{"primary": 0, "backup": 100, "origin": 0},
			Desired: map[string]int{"primary": 0, "backup": 100, "origin": 0},
			Targets: []api.Target{
				{Name: "primary", Role: "primary", Health: "unhealthy", LastError: "dial tcp 127.0.10.1:18080: connect: connection refused",
					Vantages: map[string]api.VantageView{"lab-a": seen(false, "refused", 0), "lab-b": seen(false, "refused", 0),
						"lab-c": {OK: true, Class: "ok", State: "down", LatencyMs: 3}}},
				{Name: "backup", Role: "backup", Health: "healthy",
					Vantages: map[string]api.VantageView{"lab-a": seen(true, "ok", 4), "lab-b": seen(true, "ok", 5), "lab-c": seen(true, "ok", 4)}},
				{Name: "origin", Role: "origin", Health: "healthy",
					Vantages: map[string]api.VantageView{"lab-a": seen(true, "ok", 9), "lab-b": {OK: true, Class: "ok", Impaired: true}}},
			},
		},
		{
			Name: "api", Record: "api.lab.test.", Provider: "edge", State: "healthy",
			Since: fixtureNow.Add(-3 * time.Hour), Reason: "",
			Routing:  map[string]int{"cdn": 100, "origin": 0},
			Desired:  map[string]int{"cdn": 75, "origin": 25},
			Override: &api.Override{Kind: "pin", To: "cdn", Reason: "vendor\nmaintenance", By: "alice"},
			Targets: []api.Target{
				{Name: "cdn", Role: "primary", Health: "healthy", Vantages: map[string]api.VantageView{"lab-a": seen(true, "ok", 2)}},
				{Name: "origin", Role: "origin", Health: "unknown", Vantages: map[string]api.VantageView{}},
			},
		},
	}
}

func TestWriteStatus(t *testing.T) {
	var b strings.Builder
	if err := writeStatus(&b, fixtureServices(), fixtureNow); err != nil {
		t.Fatal(err)
	}
	want := `SERVICE  STATE        SINCE      WEIGHTS                                      REASON
www      failed_over  2m05s ago  primary=0 backup=100 origin=0                primary down at 3/3 vantages
api      healthy      3h00m ago  cdn=100 origin=0 (desired cdn=75 origin=25)  -

www  www.lab.test.  (provider edge)
  TARGET   ROLE     HEALTH     lab-a    lab-b          lab-c            LAST ERROR
  primary  primary  unhealthy  refused  refused        ok (still down)  dial tcp 127.0.10.1:18080: connect: connection refused
  backup   backup   healthy    ok       ok             ok               -
  origin   origin   healthy    ok       ok (impaired)  -                -

api  api.lab.test.  (provider edge)
  pin to cdn until released, by alice: vendor maintenance
  TARGET  ROLE     HEALTH   lab-a  LAST ERROR
  cdn     primary  healthy  ok     -
  origin  origin   unknown  -      -
`
	if got := b.String(); got != want {
		t.Errorf("status output:\n%s\nwant:\n%s", got, want)
	}
}

func TestStatusCommand(t *testing.T) {
	f := newFakeAPI(t)
	code, out, errs := run(t, "status", "--server", f.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		"primary=0 backup=100 origin=0",
		"primary down at 3/3 vantages",
		"  primary  primary  unhealthy  refused",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^www +failed_over +\S+ ago +primary=0`).MatchString(out) {
		t.Errorf("no relative since:\n%s", out)
	}
	if r := f.last(); r.method != "GET" || r.path != "/api/v1/services" || r.auth != "" {
		t.Errorf("request %+v", r)
	}
}

// -o json prints the API's answer as it is.
func TestStatusJSON(t *testing.T) {
	f := newFakeAPI(t)
	code, out, errs := run(t, "status", "--server", f.URL, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want, _ := json.Marshal(map[string]any{"services": fixtureServices()})
	if strings.TrimSpace(out) != string(want) {
		t.Errorf("json output:\n%s\nwant:\n%s", out, want)
	}
}

func TestStatusFromEnvAndToken(t *testing.T) {
	f := newFakeAPI(t)
	f.token = "viewer-token"
	t.Setenv("FAILOVER_SERVER", f.URL)
	code, _, errs := run(t, "status")
	if code != 1 || errs != "failover: status: controller: 401: missing or invalid token (no token: give --token-file or set FAILOVER_TOKEN)\n" {
		t.Fatalf("without a token: exit %d, %q", code, errs)
	}
	t.Setenv("FAILOVER_TOKEN", "viewer-token")
	if code, _, errs := run(t, "status"); code != 0 {
		t.Fatalf("with FAILOVER_TOKEN: exit %d, %s", code, errs)
	}
	t.Setenv("FAILOVER_TOKEN", "")
	tf := writeToken(t, "viewer-token\n")
	t.Setenv("FAILOVER_TOKEN_FILE", tf)
	if code, _, errs := run(t, "status"); code != 0 {
		t.Fatalf("with FAILOVER_TOKEN_FILE: exit %d, %s", code, errs)
	}
	if r := f.last(); r.auth != "Bearer viewer-token" {
		t.Errorf("Authorization %q", r.auth)
	}
}

func TestClientCommandFailures(t *testing.T) {
	newFakeAPI(t) // clears the environment
	down := "http://" + closedAddr(t)
	tests := []struct {
		name string
		args []string
		code int
		want string // a prefix of the one-line reason
	}{
		{"status unreachable", []string{"status", "--server", down}, 1, "failover: status: controller: no controller reachable: "},
		{"status bad output", []string{"status", "-o", "yaml"}, exitUsage, `failover: status: -o must be table or json, got "yaml"`},
		{"missing token file", []string{"status", "--server", down, "--token-file", "/nonexistent/token"}, 1, "failover: status: token file: open /nonexistent/token"},
		{"report unreachable", []string{"report", "--server", down}, 1, "failover: report: controller: no controller reachable: "},
		{"report bad since", []string{"report", "--since", "yesterday"}, exitUsage, `failover: report: --since: want a duration (2h) or an RFC 3339 time`},
		{"report negative since", []string{"report", "--since", "-1h"}, exitUsage, "failover: report: --since: want a positive duration"},
		{"report bad output", []string{"report", "-o", "html"}, exitUsage, "failover: report: -o must be markdown or json"},
		{"drill unreachable", []string{"drill", "www", "--to", "backup", "--for", "1m", "--reason", "x", "--server", down}, 1, "failover: drill www: controller: no controller reachable"},
		{"drill without to", []string{"drill", "www", "--for", "1m", "--reason", "x"}, exitUsage, "failover: drill: --to is required"},
		{"drill without for", []string{"drill", "www", "--to", "backup", "--reason", "x"}, exitUsage, "failover: drill: --for is required"},
		{"drill without reason", []string{"drill", "www", "--to", "backup", "--for", "1m"}, exitUsage, "failover: drill: --reason is required"},
		{"drill bad duration", []string{"drill", "www", "--to", "backup", "--for", "soon", "--reason", "x"}, exitUsage, "failover: invalid argument"},
		{"pin without reason", []string{"pin", "www", "--to", "backup"}, exitUsage, "failover: pin: --reason is required"},
		{"release without service", []string{"release"}, 1, "failover: accepts 1 arg(s), received 0"},
		{"lab fault bad mode", []string{"lab", "fault", "primary", "broken"}, exitUsage, `failover: lab fault: MODE must be one of ok|down|timeout|error|slow|flap, got "broken"`},
		{"probe without controller", []string{"probe", "--vantage", "eu-1"}, exitUsage, "failover: probe: --controller is required"},
		{"probe without vantage", []string{"probe", "--controller", down}, exitUsage, "failover: probe: --vantage is required"},
		{"probe bad vantage", []string{"probe", "--controller", down, "--vantage", "EU 1"}, exitUsage, `failover: probe: agent: vantage "EU 1" must match`},
		{"probe bad source", []string{"probe", "--controller", down, "--vantage", "eu-1", "--source-addr", "nope"}, exitUsage, `failover: probe: agent: probe: source address "nope" is not an IP address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := run(t, tt.args...)
			if code != tt.code || !strings.HasPrefix(errs, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, errs, tt.code, tt.want)
			}
			if strings.Count(errs, "\n") != 1 {
				t.Errorf("not one line: %q", errs)
			}
		})
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestCompact(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                 "0s",
		1499 * time.Millisecond:           "1s",
		59 * time.Second:                  "59s",
		61 * time.Second:                  "1m01s",
		time.Hour + 59*time.Minute:        "1h59m",
		50*time.Hour + 10*time.Minute:     "2d02h",
		23*time.Hour + 59*time.Minute + 1: "23h59m",
	} {
		if got := compact(d); got != want {
			t.Errorf("compact(%s) = %q, want %q", d, got, want)
		}
	}
	if got := ago(fixtureNow, time.Time{}); got != "-" {
		t.Errorf("ago(zero) = %q", got)
	}
	if got := ago(fixtureNow, fixtureNow.Add(time.Second)); got != "just now" {
		t.Errorf("ago(future) = %q", got)
	}
	if got := until(fixtureNow, fixtureNow.Add(-time.Second)); got != "ended" {
		t.Errorf("until(past) = %q", got)
	}
}
