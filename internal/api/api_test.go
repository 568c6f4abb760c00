package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/failoverhq/failover/internal/metrics"
	"github.com/failoverhq/failover/internal/probe"
	"github.com/failoverhq/failover/internal/store"
)

func TestHealthAndReady(t *testing.T) {
	fx := newFixture(t, nil)
	w := fx.do(t, req{method: "GET", path: "/healthz"})
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"status":"ok"}` {
		t.Fatalf("healthz: %d %s", w.Code, w.Body)
	}

	fx.fake.mu.Lock()
	fx.fake.ready = errors.New("providers not read yet: edge")
	fx.fake.mu.Unlock()
	w = fx.do(t, req{method: "GET", path: "/readyz"})
	if w.Code != 503 || errorOf(t, w) != "providers not read yet: edge" {
		t.Fatalf("readyz while not ready: %d %s", w.Code, w.Body)
	}

	fx.fake.mu.Lock()
	fx.fake.ready = nil
	fx.fake.mu.Unlock()
	w = fx.do(t, req{method: "GET", path: "/readyz"})
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"status":"ready"}` {
		t.Fatalf("readyz when ready: %d %s", w.Code, w.Body)
	}
}

func TestMetrics(t *testing.T) {
	m := metrics.New()
	m.Leader.Set(1)
	fx := newFixture(t, func(o *Options) {
		o.Metrics = promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
	})
	w := fx.do(t, req{method: "GET", path: "/metrics", token: viewerToken})
	if w.Code != 200 || !strings.Contains(w.Body.String(), "failover_leader 1") {
		t.Fatalf("metrics: %d %.300s", w.Code, w.Body)
	}

	fx = newFixture(t, nil) // no Metrics handler
	w = fx.do(t, req{method: "GET", path: "/metrics", token: viewerToken})
	if w.Code != 404 {
		t.Fatalf("metrics without a handler: %d %s", w.Code, w.Body)
	}
}

func TestServices(t *testing.T) {
	fx := newFixture(t, nil)
	w := fx.do(t, req{method: "GET", path: "/api/v1/services", token: viewerToken})
	if w.Code != 200 {
		t.Fatalf("services: %d %s", w.Code, w.Body)
	}
	// The exact JSON shape of CONTRACT §4.
	var raw struct {
		Services []map[string]json.RawMessage `json:"services"`
	}
	decode(t, w, &raw)
	if len(raw.Services) != 1 {
		t.Fatalf("services = %d, want 1", len(raw.Services))
	}
	svc := raw.Services[0]
	for _, k := range []string{"name", "record", "provider", "state", "since", "reason", "routing", "desired", "override", "targets"} {
		if _, ok := svc[k]; !ok {
			t.Errorf("service has no %q: %s", k, w.Body)
		}
	}
	if string(svc["override"]) != "null" || string(svc["routing"]) != `{"backup":0,"origin":0,"primary":100}` {
		t.Errorf("override = %s, routing = %s", svc["override"], svc["routing"])
	}
	var targets []map[string]json.RawMessage
	if err := json.Unmarshal(svc["targets"], &targets); err != nil || len(targets) != 3 {
		t.Fatalf("targets: %v %s", err, svc["targets"])
	}
	for _, k := range []string{"name", "role", "health", "vantages", "last_error"} {
		if _, ok := targets[0][k]; !ok {
			t.Errorf("target has no %q", k)
		}
	}
	var views map[string]map[string]any
	if err := json.Unmarshal(targets[0]["vantages"], &views); err != nil {
		t.Fatal(err)
	}
	if v := views["lab-a"]; v["ok"] != true || v["class"] != "ok" || v["latency_ms"] != 12.0 || v["at"] != "2025-03-01T11:59:59Z" {
		t.Errorf("vantage view = %v", v)
	}

	// One service.
	w = fx.do(t, req{method: "GET", path: "/api/v1/services/www", token: viewerToken})
	var one Service
	decode(t, w, &one)
	if w.Code != 200 || one.Name != "www" || one.Routing["primary"] != 100 {
		t.Fatalf("service www: %d %s", w.Code, w.Body)
	}
	for _, tc := range []struct{ path, want string }{
		{"/api/v1/services/nope", `service "nope" not found`},
		{"/api/v1/services/No_Such", `service "No_Such" not found`},
	} {
		w = fx.do(t, req{method: "GET", path: tc.path, token: viewerToken})
		if w.Code != 404 || errorOf(t, w) != tc.want {
			t.Errorf("%s: %d %s", tc.path, w.Code, w.Body)
		}
	}

	// Nil maps and slices from the backend still make the contract's shape.
	fx.fake.mu.Lock()
	fx.fake.services = []Service{{Name: "bare", Targets: []Target{{Name: "t"}}}}
	fx.fake.mu.Unlock()
	w = fx.do(t, req{method: "GET", path: "/api/v1/services/bare", token: viewerToken})
	for _, want := range []string{`"routing":{}`, `"desired":{}`, `"vantages":{}`, `"override":null`} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("bare service %s lacks %s", w.Body, want)
		}
	}
	fx.fake.mu.Lock()
	fx.fake.services = nil
	fx.fake.mu.Unlock()
	w = fx.do(t, req{method: "GET", path: "/api/v1/services", token: viewerToken})
	if strings.TrimSpace(w.Body.String()) != `{"services":[]}` {
		t.Errorf("no services: %s", w.Body)
	}
}

func TestEvents(t *testing.T) {
	fx := newFixture(t, nil)
	for i := range 5 {
		fx.fake.addEvent(store.Event{Time: t0.Add(time.Duration(i-4) * time.Hour), Service: "www", Type: store.TypeState,
			From: "healthy", To: "degraded", Message: fmt.Sprintf("event %d", i)})
	}
	fx.fake.addEvent(store.Event{Time: t0, Type: store.TypeConfig, Message: "reloaded"})

	lastQuery := func() store.Query {
		fx.fake.mu.Lock()
		defer fx.fake.mu.Unlock()
		return fx.fake.queries[len(fx.fake.queries)-1]
	}
	for _, tc := range []struct {
		name, query string
		want        store.Query
		ids         []string
	}{
		{"all", "", store.Query{Limit: DefaultEventLimit}, []string{"1", "2", "3", "4", "5", "6"}},
		{"service", "?service=www", store.Query{Service: "www", Limit: DefaultEventLimit}, []string{"1", "2", "3", "4", "5"}},
		{"limit", "?limit=2", store.Query{Limit: 2}, []string{"5", "6"}},
		{"limit clamped", "?limit=99999999", store.Query{Limit: store.MaxLimit}, []string{"1", "2", "3", "4", "5", "6"}},
		{"since duration", "?since=90m", store.Query{Since: t0.Add(-90 * time.Minute), Limit: DefaultEventLimit}, []string{"4", "5", "6"}},
		{"since time", "?since=2025-03-01T10:00:00Z&service=www", store.Query{Service: "www", Since: t0.Add(-2 * time.Hour), Limit: DefaultEventLimit}, []string{"3", "4", "5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := fx.do(t, req{method: "GET", path: "/api/v1/events" + tc.query, token: viewerToken})
			if w.Code != 200 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if q := lastQuery(); q.Service != tc.want.Service || !q.Since.Equal(tc.want.Since) || q.Limit != tc.want.Limit || q.After != "" {
				t.Errorf("query = %+v, want %+v", q, tc.want)
			}
			var body struct {
				Events []map[string]any `json:"events"`
			}
			decode(t, w, &body)
			var ids []string
			for _, ev := range body.Events {
				id, _ := ev["id"].(string)
				n, _ := strconv.Atoi(id)
				ids = append(ids, strconv.Itoa(n))
				for _, k := range []string{"id", "time", "service", "type", "from", "to", "message", "evidence"} {
					if _, ok := ev[k]; !ok {
						t.Errorf("event lacks %q: %v", k, ev)
					}
				}
				if ev["evidence"] == nil {
					t.Errorf("evidence is null, want {}")
				}
			}
			if strings.Join(ids, ",") != strings.Join(tc.ids, ",") {
				t.Errorf("ids = %v, want %v (newest last)", ids, tc.ids)
			}
		})
	}
	for _, tc := range []struct{ query, want string }{
		{"?since=10x", `since: want an RFC 3339 time or a duration, got "10x"`},
		{"?since=-5m", `since: duration must not be negative, got "-5m"`},
		{"?since=2025-13-01", `since: want an RFC 3339 time or a duration, got "2025-13-01"`},
		{"?limit=0", `limit: must be a positive integer, got "0"`},
		{"?limit=ten", `limit: must be a positive integer, got "ten"`},
		{"?service=Bad_Name", `service: must match ^[a-z0-9][a-z0-9-]{0,62}$, got "Bad_Name"`},
	} {
		t.Run(tc.query, func(t *testing.T) {
			w := fx.do(t, req{method: "GET", path: "/api/v1/events" + tc.query, token: viewerToken})
			if w.Code != 400 || errorOf(t, w) != tc.want {
				t.Fatalf("%d %s, want 400 %q", w.Code, w.Body, tc.want)
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		w := fx.do(t, req{method: "GET", path: "/api/v1/events?service=nothing-here", token: viewerToken})
		if strings.TrimSpace(w.Body.String()) != `{"events":[]}` {
			t.Fatalf("%s", w.Body)
		}
	})
}

func TestOverrides(t *testing.T) {
	fx := newFixture(t, nil)
	post := func(path, body string) (int, string) {
		w := fx.do(t, req{method: "POST", path: path, token: operatorToken, body: body})
		return w.Code, w.Body.String()
	}

	code, body := post("/api/v1/services/www/drill", `{"to":"backup","for":"10m","reason":"  game day  "}`)
	var svc Service
	if err := json.Unmarshal([]byte(body), &svc); err != nil || code != 200 {
		t.Fatalf("drill: %d %s", code, body)
	}
	if svc.State != "manual" || svc.Override == nil || svc.Override.Kind != "drill" || svc.Override.To != "backup" || svc.Override.By != "ops" {
		t.Errorf("drill answer = %s", body)
	}
	if !strings.Contains(body, `"until":"2025-03-01T12:10:00Z"`) {
		t.Errorf("drill answer has no until: %s", body)
	}
	calls := fx.fake.callsMade()
	if len(calls) != 1 || calls[0].Req.Reason != "game day" {
		t.Errorf("the reason reached the backend as %q, want it trimmed", calls[0].Req.Reason)
	}

	code, body = post("/api/v1/services/www/pin", `{"to":"origin","reason":"cdn contract ended"}`)
	if code != 200 || !strings.Contains(body, `"kind":"pin"`) || !strings.Contains(body, `"until":null`) {
		t.Errorf("pin without for: %d %s", code, body)
	}
	code, body = post("/api/v1/services/www/pin", `{"to":"origin","for":"72h","reason":"a long pin is fine"}`)
	if code != 200 {
		t.Errorf("pin for 72h: %d %s", code, body)
	}

	for _, b := range []string{`{}`, " { } ", "  \n"} {
		code, body = post("/api/v1/services/www/release", b)
		if code != 200 || !strings.Contains(body, `"name":"www"`) {
			t.Errorf("release with body %q: %d %s", b, code, body)
		}
	}
	w := fx.do(t, req{method: "POST", path: "/api/v1/services/www/release", token: operatorToken, contentType: "application/json"})
	if w.Code != 200 {
		t.Errorf("release without a body: %d %s", w.Code, w.Body)
	}
	if n := len(fx.fake.callsMade()); n != 7 {
		t.Errorf("backend calls = %d, want 7", n)
	}

	code, body = post("/api/v1/services/nope/drill", `{"to":"backup","for":"10m","reason":"x"}`)
	if code != 404 || !strings.Contains(body, `not found: service \"nope\"`) {
		t.Errorf("drill of an unknown service: %d %s", code, body)
	}
	code, body = post("/api/v1/services/BAD/drill", `{"to":"backup","for":"10m","reason":"x"}`)
	if code != 404 || !strings.Contains(body, `service \"BAD\" not found`) {
		t.Errorf("drill of a bad name: %d %s", code, body)
	}
}

// TestBackendErrors checks that the Backend's sentinel errors keep their
// message and map to their status, and that anything else is a logged 500
// that tells the client nothing.
func TestBackendErrors(t *testing.T) {
	for _, tc := range []struct {
		err     error
		code    int
		msg     string
		logged  bool
		loggedV string
	}{
		{fmt.Errorf("%w: target backup is unhealthy", ErrConflict), 409, "refused: target backup is unhealthy", false, ""},
		{fmt.Errorf("%w: no target %q", ErrInvalid, "x"), 400, `invalid request: no target "x"`, false, ""},
		{fmt.Errorf("%w: service gone", ErrNotFound), 404, "not found: service gone", false, ""},
		{fmt.Errorf("%w: not the leader", ErrNotReady), 503, "not ready: not the leader", false, ""},
		{fmt.Errorf("%w: drills are off", ErrForbidden), 403, "not allowed: drills are off", false, ""},
		{ErrNotLab, 404, "only in the lab", false, ""},
		{errors.New("bolt: disk I/O error at /var/lib/failover"), 500, "internal error", true, "disk I/O error"},
	} {
		t.Run(tc.msg, func(t *testing.T) {
			fx := newFixture(t, func(o *Options) { o.Lab = true })
			fx.fake.err = tc.err
			for _, r := range []req{
				{method: "POST", path: "/api/v1/services/www/drill", body: `{"to":"backup","for":"1m","reason":"r"}`, token: operatorToken},
				{method: "POST", path: "/api/v1/services/www/pin", body: `{"to":"backup","reason":"r"}`, token: operatorToken},
				{method: "POST", path: "/api/v1/services/www/release", body: `{}`, token: operatorToken},
				{method: "POST", path: "/api/v1/results", body: okBatch, token: agentToken},
				{method: "POST", path: "/api/v1/lab/faults", body: `{"target":"primary","mode":"down"}`, token: operatorToken},
			} {
				w := fx.do(t, r)
				if w.Code != tc.code || errorOf(t, w) != tc.msg {
					t.Errorf("%s: %d %s, want %d %q", r.path, w.Code, w.Body, tc.code, tc.msg)
				}
			}
			logged := strings.Count(fx.log.String(), "api: request failed")
			if tc.logged && logged != 5 || !tc.logged && logged != 0 {
				t.Errorf("logged %d errors, want one per request only for unexpected errors:\n%s", logged, fx.log)
			}
			if tc.logged && !strings.Contains(fx.log.String(), tc.loggedV) {
				t.Errorf("the log does not have the error: %s", fx.log)
			}
		})
	}
	t.Run("events", func(t *testing.T) {
		fx := newFixture(t, nil)
		fx.fake.eventsErr = errors.New("store: closed")
		w := fx.do(t, req{method: "GET", path: "/api/v1/events", token: viewerToken})
		if w.Code != 500 || errorOf(t, w) != "internal error" || !strings.Contains(fx.log.String(), "store: closed") {
			t.Fatalf("%d %s; log %s", w.Code, w.Body, fx.log)
		}
	})
	t.Run("unencodable answer", func(t *testing.T) {
		fx := newFixture(t, nil)
		svc := wwwService(map[string]int{"primary": 100})
		svc.Targets[0].Vantages["lab-a"] = VantageView{LatencyMs: math.NaN()}
		fx.fake.services = []Service{svc}
		w := fx.do(t, req{method: "GET", path: "/api/v1/services", token: viewerToken})
		if w.Code != 500 || errorOf(t, w) != "internal error" || strings.Count(fx.log.String(), "api: encode answer") != 1 {
			t.Fatalf("%d %s; log %s", w.Code, w.Body, fx.log)
		}
	})
}

func TestPlan(t *testing.T) {
	fx := newFixture(t, nil)
	w := fx.do(t, req{method: "GET", path: "/api/v1/plan?vantage=eu-1", token: agentToken})
	var p ProbePlan
	decode(t, w, &p)
	if w.Code != 200 || p.Vantage != "eu-1" || p.Generation != 7 || len(p.Checks) != 1 || p.Checks[0].Probe["url"] != "http://127.0.10.1:18080/healthz" {
		t.Fatalf("plan: %d %s", w.Code, w.Body)
	}
	for _, tc := range []struct {
		query string
		code  int
		msg   string
	}{
		{"", 400, "vantage: required"},
		{"?vantage=EU_1", 400, `vantage: must match ^[a-z0-9][a-z0-9-]{0,62}$, got "EU_1"`},
		{"?vantage=nowhere", 404, `not found: vantage "nowhere" is not known`},
	} {
		w := fx.do(t, req{method: "GET", path: "/api/v1/plan" + tc.query, token: agentToken})
		if w.Code != tc.code || errorOf(t, w) != tc.msg {
			t.Errorf("plan%s: %d %s, want %d %q", tc.query, w.Code, w.Body, tc.code, tc.msg)
		}
	}
}

// result is a valid result, as JSON, with fields replaced by edit.
func result(edit func(map[string]any)) map[string]any {
	r := map[string]any{"service": "www", "target": "primary", "time": "2025-03-01T11:59:59Z", "ok": true, "class": "ok",
		"status": 200, "latency_ms": 12.5, "phases": map[string]any{"dns_ms": 0, "connect_ms": 1, "tls_ms": 0, "ttfb_ms": 11}}
	if edit != nil {
		edit(r)
	}
	return r
}

func batchJSON(t *testing.T, vantage string, results ...map[string]any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"vantage": vantage, "results": results})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestResults(t *testing.T) {
	fx := newFixture(t, nil)
	post := func(body string) (int, string) {
		w := fx.do(t, req{method: "POST", path: "/api/v1/results", token: agentToken, body: body})
		return w.Code, w.Body.String()
	}

	code, body := post(batchJSON(t, "eu-1", result(nil), result(func(r map[string]any) { r["target"] = "backup" })))
	if code != 202 || strings.TrimSpace(body) != `{"accepted":2}` {
		t.Fatalf("good batch: %d %s", code, body)
	}
	calls := fx.fake.callsMade()
	if len(calls) != 1 || calls[0].Batch.Vantage != "eu-1" || len(calls[0].Batch.Results) != 2 || calls[0].By.Name != "eu-agent" {
		t.Fatalf("backend got %+v", calls)
	}
	if r := calls[0].Batch.Results[0]; r.Class != probe.ClassOK || r.LatencyMs != 12.5 || r.Phases.TTFBMs != 11 || !r.Time.Equal(t0.Add(-time.Second)) {
		t.Errorf("result reached the backend as %+v", r)
	}

	// The malformed results are dropped and counted, the rest go on; the
	// backend's own rejections are merged in.
	fx.fake.mu.Lock()
	fx.fake.ack = ResultsAck{Accepted: 1, Rejected: map[string]int{"unknown_target": 1, "invalid_class": 1}}
	fx.fake.mu.Unlock()
	code, body = post(batchJSON(t, "eu-1",
		result(nil),
		result(func(r map[string]any) { r["class"] = "exploded"; r["ok"] = false }),
		result(func(r map[string]any) { r["target"] = "Not A Name" }),
		result(func(r map[string]any) { delete(r, "time") }),
		result(func(r map[string]any) { r["ok"] = false }),
		result(func(r map[string]any) { r["latency_ms"] = -1 }),
		result(func(r map[string]any) { r["target"] = "gone" }),
	))
	if code != 202 {
		t.Fatalf("mixed batch: %d %s", code, body)
	}
	var ack ResultsAck
	if err := json.Unmarshal([]byte(body), &ack); err != nil {
		t.Fatal(err)
	}
	wantRejected := map[string]int{"unknown_target": 1, DropInvalidClass: 2, DropInvalidName: 1, DropInvalidTime: 1, DropInvalidValue: 2}
	if ack.Accepted != 1 || fmt.Sprint(ack.Rejected) != fmt.Sprint(wantRejected) {
		t.Errorf("ack = %+v, want accepted 1, rejected %v", ack, wantRejected)
	}
	calls = fx.fake.callsMade()
	if got := len(calls[1].Batch.Results); got != 2 {
		t.Errorf("backend got %d results, want the 2 well-formed ones", got)
	}
	if fx.fake.ack.Rejected["invalid_class"] != 1 {
		t.Error("the API changed the backend's map")
	}
	if d := fx.droppedCounts(); fmt.Sprint(d) != fmt.Sprint(map[string]int{DropInvalidClass: 1, DropInvalidName: 1, DropInvalidTime: 1, DropInvalidValue: 2}) {
		t.Errorf("dropped = %v", d)
	}

	// An empty batch is fine: nothing to take.
	fx.fake.mu.Lock()
	fx.fake.ack = ResultsAck{Accepted: -1}
	fx.fake.mu.Unlock()
	if code, body = post(`{"vantage":"eu-1","results":[]}`); code != 202 || strings.TrimSpace(body) != `{"accepted":0}` {
		t.Errorf("empty batch: %d %s", code, body)
	}

	many := make([]map[string]any, MaxResults+1)
	for i := range many {
		many[i] = map[string]any{}
	}
	for _, tc := range []struct{ name, body, msg string }{
		{"all malformed", batchJSON(t, "eu-1", result(func(r map[string]any) { r["class"] = "weird" }), result(func(r map[string]any) { r["class"] = "" })),
			`results[0].class: unknown class "weird" (all 2 results are malformed)`},
		{"no vantage", batchJSON(t, "", result(nil)), "vantage: required"},
		{"bad vantage", batchJSON(t, "-eu", result(nil)), `vantage: must match ^[a-z0-9][a-z0-9-]{0,62}$, got "-eu"`},
		{"too many", batchJSON(t, "eu-1", many...), "results: at most 10000 per batch, got 10001"},
		{"unknown field", `{"vantage":"eu-1","results":[{"service":"www","colour":"red"}]}`, `unknown field "colour"`},
		{"bad time", `{"vantage":"eu-1","results":[{"service":"www","time":"yesterday"}]}`, ""},
		{"string latency", `{"vantage":"eu-1","results":[{"latency_ms":"12"}]}`, "results.latency_ms: must be a number, got string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := fx.do(t, req{method: "POST", path: "/api/v1/results", token: agentToken, body: tc.body})
			msg := errorOf(t, w)
			if w.Code != 400 || tc.msg != "" && msg != tc.msg {
				t.Fatalf("%d %q, want 400 %q", w.Code, msg, tc.msg)
			}
		})
	}
	if n := len(fx.fake.callsMade()); n != 3 {
		t.Errorf("backend calls = %d, want 3: no malformed batch reaches it", n)
	}
}

func TestResultsSizeLimit(t *testing.T) {
	fx := newFixture(t, func(o *Options) { o.MaxBodyBytes = 4096 })
	var rs []map[string]any
	for range 40 {
		rs = append(rs, result(nil))
	}
	body := batchJSON(t, "eu-1", rs...)
	if len(body) <= 4096 {
		t.Fatalf("test batch is only %d bytes", len(body))
	}
	w := fx.do(t, req{method: "POST", path: "/api/v1/results", token: agentToken, body: body})
	if w.Code != 413 || errorOf(t, w) != "body is larger than 4096 bytes" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if d := fx.droppedCounts(); d[DropOversized] != 1 {
		t.Errorf("dropped = %v", d)
	}
	// Under the limit, and the limit of other bodies follows it down.
	w = fx.do(t, req{method: "POST", path: "/api/v1/results", token: agentToken, body: batchJSON(t, "eu-1", rs[:5]...)})
	if w.Code != 202 {
		t.Fatalf("small batch: %d %s", w.Code, w.Body)
	}
	w = fx.do(t, req{method: "POST", path: "/api/v1/services/www/pin", token: operatorToken,
		body: `{"to":"backup","reason":"` + strings.Repeat("x", 5000) + `"}`})
	if w.Code != 413 {
		t.Fatalf("pin over the lowered limit: %d %s", w.Code, w.Body)
	}
}

func TestLabFaults(t *testing.T) {
	fx := newFixture(t, nil) // not the lab
	w := fx.do(t, req{method: "POST", path: "/api/v1/lab/faults", token: operatorToken, body: `{"target":"primary","mode":"down"}`})
	if w.Code != 404 {
		t.Fatalf("outside the lab: %d %s", w.Code, w.Body)
	}

	fx = newFixture(t, func(o *Options) { o.Lab = true })
	w = fx.do(t, req{method: "POST", path: "/api/v1/lab/faults", token: operatorToken, body: `{"target":"primary","mode":"down","vantages":["lab-a","lab-b"]}`})
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"target":"primary","mode":"down","vantages":["lab-a","lab-b"]}` {
		t.Fatalf("fault: %d %s", w.Code, w.Body)
	}
	w = fx.do(t, req{method: "POST", path: "/api/v1/lab/faults", token: operatorToken, body: `{"target":"primary","mode":"ok"}`})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"vantages":[]`) {
		t.Fatalf("clear: %d %s", w.Code, w.Body)
	}
	calls := fx.fake.callsMade()
	if len(calls) != 2 || calls[0].Fault.Mode != "down" || len(calls[0].Fault.Vantages) != 2 || calls[1].Fault.Mode != "ok" || calls[0].By.Name != "ops" {
		t.Fatalf("backend got %+v", calls)
	}
	for _, tc := range []struct{ body, msg string }{
		{`{"mode":"down"}`, "target: required"},
		{`{"target":"primary"}`, "mode: required, one of down, timeout, error, slow, flap, ok"},
		{`{"target":"primary","mode":"melt"}`, `mode: must be one of down, timeout, error, slow, flap, ok, got "melt"`},
		{`{"target":"primary","mode":"down","vantages":["lab-a","lab-a"]}`, `vantages[1]: "lab-a" is listed twice`},
		{`{"target":"primary","mode":"down","vantages":["Lab A"]}`, `vantages[0]: must match ^[a-z0-9][a-z0-9-]{0,62}$, got "Lab A"`},
	} {
		w := fx.do(t, req{method: "POST", path: "/api/v1/lab/faults", token: operatorToken, body: tc.body})
		if w.Code != 400 || errorOf(t, w) != tc.msg {
			t.Errorf("%s: %d %s, want %q", tc.body, w.Code, w.Body, tc.msg)
		}
	}
}

func TestRouting(t *testing.T) {
	fx := newFixture(t, nil)
	for _, tc := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{"DELETE", "/api/v1/services", 405, "GET, HEAD"},
		{"GET", "/api/v1/services/www/drill", 405, "POST"},
		{"PUT", "/api/v1/results", 405, "POST"},
		{"POST", "/healthz", 405, "GET, HEAD"},
		{"GET", "/api/v1/nothing", 404, ""},
		{"GET", "/api/v2/services", 404, ""},
		{"GET", "/ui/missing.js", 404, ""},
		{"GET", "/ui/index.html", 404, ""},
		{"GET", "/favicon.ico", 404, ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			w := fx.do(t, req{method: tc.method, path: tc.path, token: operatorToken})
			errorOf(t, w)
			if w.Code != tc.code || w.Header().Get("Allow") != tc.allow {
				t.Fatalf("%d Allow %q, want %d %q; %s", w.Code, w.Header().Get("Allow"), tc.code, tc.allow, w.Body)
			}
		})
	}
	w := fx.do(t, req{method: "HEAD", path: "/api/v1/services", token: viewerToken})
	if w.Code != 200 {
		t.Errorf("HEAD services: %d", w.Code)
	}
}

func TestSecurityHeaders(t *testing.T) {
	fx := newFixture(t, nil)
	for _, r := range []req{
		{method: "GET", path: "/healthz"},
		{method: "GET", path: "/api/v1/services", token: viewerToken},
		{method: "GET", path: "/api/v1/services"}, // 401
		{method: "POST", path: "/api/v1/services/www/drill", token: operatorToken, body: `{`},
		{method: "GET", path: "/nowhere"},
	} {
		w := fx.do(t, r)
		h := w.Header()
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" ||
			h.Get("Content-Security-Policy") != "default-src 'none'; frame-ancestors 'none'" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s %s (%d): headers %v", r.method, r.path, w.Code, h)
		}
	}
	for _, p := range []string{"/", "/ui/app.js", "/ui/style.css"} {
		w := fx.do(t, req{method: "GET", path: p})
		csp := w.Header().Get("Content-Security-Policy")
		if w.Header().Get("X-Content-Type-Options") != "nosniff" || csp != dashboardCSP {
			t.Errorf("%s: headers %v", p, w.Header())
		}
		for _, bad := range []string{"http:", "https:", "*", "'unsafe-inline'", "'unsafe-eval'"} {
			if strings.Contains(csp, bad) {
				t.Errorf("CSP %q allows %s", csp, bad)
			}
		}
	}
}

func TestDashboardFiles(t *testing.T) {
	fx := newFixture(t, nil)
	for _, tc := range []struct{ path, ctype, has string }{
		{"/", "text/html; charset=utf-8", `<script src="ui/app.js" defer></script>`},
		{"/ui/app.js", "text/javascript; charset=utf-8", "new EventSource('api/v1/stream')"},
		{"/ui/style.css", "text/css; charset=utf-8", ".state-failed_over"},
	} {
		w := fx.do(t, req{method: "GET", path: tc.path})
		if w.Code != 200 || w.Header().Get("Content-Type") != tc.ctype || !strings.Contains(w.Body.String(), tc.has) {
			t.Errorf("%s: %d %q, body lacks %q", tc.path, w.Code, w.Header().Get("Content-Type"), tc.has)
		}
		// Nothing is loaded from another origin.
		for _, ext := range []string{"http://", "https://", "//cdn", "@import"} {
			if strings.Contains(w.Body.String(), ext) {
				t.Errorf("%s refers to %q", tc.path, ext)
			}
		}
		etag := w.Header().Get("ETag")
		w2 := fx.do(t, req{method: "GET", path: tc.path, header: http.Header{"If-None-Match": {etag}}})
		if etag == "" || w2.Code != http.StatusNotModified {
			t.Errorf("%s: ETag %q, revalidation %d", tc.path, etag, w2.Code)
		}
	}
}

// TestPanicIsA500 checks the last line of defence: a panicking Backend
// gives the client a 500 and the log one line.
func TestPanicIsA500(t *testing.T) {
	fx := newFixture(t, nil)
	fx.srv.backend = panicky{fx.fake}
	w := fx.do(t, req{method: "GET", path: "/api/v1/services", token: viewerToken})
	if w.Code != 500 || errorOf(t, w) != "internal error" || strings.Count(fx.log.String(), "panic in handler") != 1 {
		t.Fatalf("%d %s; log %s", w.Code, w.Body, fx.log)
	}
}

type panicky struct{ *fakeBackend }

func (panicky) Services() []Service { panic("boom") }
