package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/api"
	"github.com/failoverhq/failover/internal/probe"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newClient returns a Client closed at the end of the test.
func newClient(t *testing.T, o Options) *Client {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// server is an httptest server whose handler counts its requests.
type server struct {
	*httptest.Server
	hits atomic.Int64
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// hangUp closes the connection without an answer: a connection error.
func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// closedURL returns the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestRequestsAndShapes(t *testing.T) {
	var got struct {
		method, path, query, auth, ctype string
		body                             []byte
	}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path, got.query = r.Method, r.URL.Path, r.URL.RawQuery
		got.auth, got.ctype = r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		got.body, _ = io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/api/v1/services":
			writeJSON(w, 200, map[string]any{"services": []map[string]any{{
				"name": "www", "state": "healthy", "routing": map[string]int{"primary": 100, "backup": 0},
			}}})
		case "/api/v1/services/www", "/api/v1/services/www/drill", "/api/v1/services/www/pin", "/api/v1/services/www/release":
			writeJSON(w, 200, map[string]any{"name": "www", "state": "manual",
				"override": map[string]any{"kind": "drill", "to": "backup", "until": "2026-01-02T03:04:05Z", "reason": "game day", "by": "ops"}})
		case "/api/v1/events":
			writeJSON(w, 200, map[string]any{"events": []map[string]any{{"id": "1", "service": "www", "type": "state", "from": "healthy", "to": "degraded"}}})
		case "/api/v1/plan":
			writeJSON(w, 200, map[string]any{"vantage": "eu-1", "interval": "1s", "timeout": "500ms", "generation": 7,
				"checks": []map[string]any{{"service": "www", "target": "primary", "probe": map[string]any{"url": "http://x/healthz"}}}})
		case "/api/v1/results":
			writeJSON(w, 200, map[string]any{"accepted": 1, "rejected": map[string]int{"unknown_target": 1}})
		case "/api/v1/lab/faults":
			w.WriteHeader(http.StatusNoContent)
		default:
			writeJSON(w, 404, map[string]string{"error": "no such endpoint"})
		}
	})
	c := newClient(t, Options{Servers: []string{srv.URL + "/"}, Token: "s3cret"})
	ctx := context.Background()

	svcs, err := c.Services(ctx)
	if err != nil || len(svcs) != 1 || svcs[0].Name != "www" || svcs[0].Routing["primary"] != 100 {
		t.Fatalf("Services: %+v, %v", svcs, err)
	}
	if got.method != "GET" || got.auth != "Bearer s3cret" {
		t.Errorf("Services sent %s with Authorization %q", got.method, got.auth)
	}

	if s, err := c.Service(ctx, "www"); err != nil || s.Override == nil || s.Override.To != "backup" {
		t.Fatalf("Service: %+v, %v", s, err)
	}

	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	evs, err := c.Events(ctx, EventQuery{Service: "www", Since: since, Limit: 50})
	if err != nil || len(evs) != 1 || evs[0].To != "degraded" {
		t.Fatalf("Events: %+v, %v", evs, err)
	}
	if got.query != "limit=50&service=www&since=2026-01-02T03%3A04%3A05Z" {
		t.Errorf("Events query %q", got.query)
	}

	s, err := c.Drill(ctx, "www", api.OverrideRequest{To: "backup", For: "10m0s", Reason: "game day"})
	if err != nil || s.Override == nil || s.Override.Until != since {
		t.Fatalf("Drill: %+v, %v", s, err)
	}
	if got.method != "POST" || got.path != "/api/v1/services/www/drill" || got.ctype != "application/json" ||
		string(got.body) != `{"to":"backup","for":"10m0s","reason":"game day","force":false}` {
		t.Errorf("Drill sent %s %s %q %s", got.method, got.path, got.ctype, got.body)
	}
	if _, err := c.Pin(ctx, "www", api.OverrideRequest{To: "backup", Reason: "r", Force: true}); err != nil ||
		got.path != "/api/v1/services/www/pin" || !strings.Contains(string(got.body), `"force":true`) {
		t.Errorf("Pin: %v %s %s", err, got.path, got.body)
	}
	if _, err := c.Release(ctx, "www"); err != nil || got.path != "/api/v1/services/www/release" || string(got.body) != "{}" {
		t.Errorf("Release: %v %s %s", err, got.path, got.body)
	}

	p, err := c.Plan(ctx, "eu-1")
	if err != nil || p.Generation != 7 || len(p.Checks) != 1 || p.Checks[0].Probe["url"] != "http://x/healthz" {
		t.Fatalf("Plan: %+v, %v", p, err)
	}
	if got.query != "vantage=eu-1" {
		t.Errorf("Plan query %q", got.query)
	}

	ack, err := c.PushResults(ctx, api.ResultsBatch{Vantage: "eu-1", Results: []probe.Result{{Service: "www", Target: "primary", OK: true, Class: probe.ClassOK}}})
	if err != nil || ack.Accepted != 1 || ack.Rejected["unknown_target"] != 1 {
		t.Fatalf("PushResults: %+v, %v", ack, err)
	}
	var batch api.ResultsBatch
	if err := json.Unmarshal(got.body, &batch); err != nil || batch.Vantage != "eu-1" || len(batch.Results) != 1 {
		t.Errorf("PushResults sent %s", got.body)
	}

	if err := c.LabFault(ctx, api.Fault{Target: "primary", Mode: "down", Vantages: []string{"lab-a"}}); err != nil {
		t.Fatal(err)
	}
	if string(got.body) != `{"target":"primary","mode":"down","vantages":["lab-a"]}` {
		t.Errorf("LabFault sent %s", got.body)
	}

	var raw json.RawMessage
	if err := c.Get(ctx, "/api/v1/services", nil, &raw); err != nil || !strings.HasPrefix(string(raw), `{"services":`) {
		t.Errorf("Get raw: %s, %v", raw, err)
	}
}

func TestNoTokenSendsNoAuthorization(t *testing.T) {
	var auth atomic.Value
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Values("Authorization"))
		writeJSON(w, 200, map[string]any{"services": []any{}})
	})
	c := newClient(t, Options{Servers: []string{srv.URL}})
	if _, err := c.Services(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := auth.Load().([]string); len(v) != 0 {
		t.Errorf("Authorization sent without a token: %q", v)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    string
		wantSts int
	}{
		{"api error verbatim", 409, `{"error":"drill refused: target backup is unhealthy"}`,
			"controller: 409: drill refused: target backup is unhealthy", 409},
		{"unauthorized", 401, `{"error":"missing or invalid token"}`, "controller: 401: missing or invalid token", 401},
		{"not json", 500, "boom\nsecond line\n", "controller: 500: Internal Server Error: boom second line", 500},
		{"empty body", 404, "", "controller: 404: Not Found", 404},
		{"json without error", 400, `{"message":"x"}`, `controller: 400: Bad Request: {"message":"x"}`, 400},
		{"long body is cut", 500, strings.Repeat("x", 1000), "controller: 500: Internal Server Error: " + strings.Repeat("x", maxMessage) + "...", 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			})
			c := newClient(t, Options{Servers: []string{srv.URL}})
			_, err := c.Services(context.Background())
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if StatusOf(err) != tt.wantSts {
				t.Errorf("StatusOf = %d, want %d", StatusOf(err), tt.wantSts)
			}
		})
	}
}

func TestFailoverOnConnectionErrors(t *testing.T) {
	dead := newServer(t, hangUp)
	live := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]any{"services": []any{}})
	})
	c := newClient(t, Options{Servers: []string{closedURL(t), dead.URL, live.URL}})
	ctx := context.Background()
	if _, err := c.Services(ctx); err != nil {
		t.Fatalf("with one server up: %v", err)
	}
	if dead.hits.Load() != 1 || live.hits.Load() != 1 {
		t.Fatalf("hits dead=%d live=%d, want 1 and 1", dead.hits.Load(), live.hits.Load())
	}
	// The server that answered is asked first next time.
	if _, err := c.Services(ctx); err != nil {
		t.Fatal(err)
	}
	if dead.hits.Load() != 1 || live.hits.Load() != 2 {
		t.Errorf("second call: hits dead=%d live=%d, want 1 and 2", dead.hits.Load(), live.hits.Load())
	}
}

func TestFailoverOnUnavailableNotOn4xx(t *testing.T) {
	okHandler := func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]any{"services": []any{}})
	}
	t.Run("503 tries the next", func(t *testing.T) {
		standby := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, 503, map[string]string{"error": "not the leader"})
		})
		live := newServer(t, okHandler)
		c := newClient(t, Options{Servers: []string{standby.URL, live.URL}})
		if _, err := c.Services(context.Background()); err != nil || live.hits.Load() != 1 {
			t.Fatalf("err %v, live hits %d", err, live.hits.Load())
		}
	})
	t.Run("4xx is an answer", func(t *testing.T) {
		first := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, 404, map[string]string{"error": "service nope not found"})
		})
		second := newServer(t, okHandler)
		c := newClient(t, Options{Servers: []string{first.URL, second.URL}})
		_, err := c.Service(context.Background(), "nope")
		if StatusOf(err) != 404 || second.hits.Load() != 0 {
			t.Fatalf("err %v, second hits %d", err, second.hits.Load())
		}
	})
	t.Run("every server 503", func(t *testing.T) {
		a := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, 503, map[string]string{"error": "not ready: store"})
		})
		c := newClient(t, Options{Servers: []string{closedURL(t), a.URL}})
		_, err := c.Services(context.Background())
		if err == nil || err.Error() != "controller: 503: not ready: store" {
			t.Fatalf("err %v", err)
		}
	})
}

func TestUnreachable(t *testing.T) {
	c := newClient(t, Options{Servers: []string{closedURL(t), closedURL(t)}, Token: "s3cret"})
	_, err := c.Services(context.Background())
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err %v, want ErrUnreachable", err)
	}
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error leaks the token or spans lines: %q", err)
	}
}

func TestAttemptTimeoutMovesOn(t *testing.T) {
	hung := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // answers only when the client gives up
	})
	live := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]any{"services": []any{}})
	})
	c := newClient(t, Options{Servers: []string{hung.URL, live.URL}, Timeout: 200 * time.Millisecond})
	if _, err := c.Services(context.Background()); err != nil {
		t.Fatal(err)
	}
	if live.hits.Load() != 1 {
		t.Errorf("live hits %d", live.hits.Load())
	}
}

func TestContextCancelStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hung := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		cancel() // the caller gives up while the request is in flight
		<-r.Context().Done()
	})
	other := newServer(t, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]any{}) })
	c := newClient(t, Options{Servers: []string{hung.URL, other.URL}})
	_, err := c.Services(ctx)
	if !errors.Is(err, context.Canceled) || other.hits.Load() != 0 {
		t.Fatalf("err %v, other hits %d", err, other.hits.Load())
	}
}

func TestResponseSizeLimit(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"services":[`+strings.Repeat(`{},`, 1000)+`{}]}`)
	})
	c := newClient(t, Options{Servers: []string{srv.URL}, MaxResponseBytes: 1000})
	_, err := c.Services(context.Background())
	if err == nil || !strings.Contains(err.Error(), "larger than 1000 bytes") {
		t.Fatalf("err %v", err)
	}
	big := newClient(t, Options{Servers: []string{srv.URL}})
	if s, err := big.Services(context.Background()); err != nil || len(s) != 1001 {
		t.Fatalf("default limit: %d services, %v", len(s), err)
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no server", Options{}, "no controller URL"},
		{"bad scheme", Options{Servers: []string{"ftp://x"}}, "scheme must be http or https"},
		{"no host", Options{Servers: []string{"http://"}}, "has no host"},
		{"query", Options{Servers: []string{"http://x/?a=b"}}, "only scheme, host and path"},
		{"user info", Options{Servers: []string{"http://u:pw@x/"}}, "only scheme, host and path"},
		{"token with newline", Options{Servers: []string{"http://x"}, Token: "a\nb"}, "whitespace or control"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "pw") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
	c := newClient(t, Options{Servers: []string{"127.0.0.1:8080", "https://a.example/base/"}})
	if got := strings.Join(c.Servers(), " "); got != "http://127.0.0.1:8080 https://a.example/base" {
		t.Errorf("Servers() = %q", got)
	}
}

func TestBasePath(t *testing.T) {
	var path atomic.Value
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		path.Store(r.URL.Path)
		writeJSON(w, 200, map[string]any{"services": []any{}})
	})
	c := newClient(t, Options{Servers: []string{srv.URL + "/failover/"}})
	if _, err := c.Services(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p := path.Load(); p != "/failover/api/v1/services" {
		t.Errorf("path %v", p)
	}
}

func TestTokens(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "  tok-123\n")
	if tok, err := ReadTokenFile(good); err != nil || tok != "tok-123" {
		t.Errorf("ReadTokenFile = %q, %v", tok, err)
	}
	for name, content := range map[string]string{"empty": " \n", "inner space": "two words\n"} {
		p := write(name, content)
		_, err := ReadTokenFile(p)
		if err == nil || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "words") {
			t.Errorf("%s: err %v", name, err)
		}
	}
	if _, err := ReadTokenFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}

	env := func(v string) func(string) string {
		return func(k string) string {
			if k == TokenEnv {
				return v
			}
			return ""
		}
	}
	if tok, err := ResolveToken(good, env("from-env")); err != nil || tok != "tok-123" {
		t.Errorf("file wins over env: %q, %v", tok, err)
	}
	if tok, err := ResolveToken("", env(" from-env ")); err != nil || tok != "from-env" {
		t.Errorf("env: %q, %v", tok, err)
	}
	if tok, err := ResolveToken("", env("")); err != nil || tok != "" {
		t.Errorf("none: %q, %v", tok, err)
	}
	if _, err := ResolveToken("", env("a b")); err == nil {
		t.Error("env token with a space: no error")
	}
}

func TestDefaultLabDataDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_STATE_HOME", "/var/state")
	if d, err := DefaultLabDataDir(); err != nil || d != "/var/state/failover/lab" {
		t.Errorf("with XDG_STATE_HOME: %q, %v", d, err)
	}
	want := filepath.Join(home, ".local", "state", "failover", "lab")
	for _, xdg := range []string{"", "relative/dir"} {
		t.Setenv("XDG_STATE_HOME", xdg)
		if d, err := DefaultLabDataDir(); err != nil || d != want {
			t.Errorf("XDG_STATE_HOME=%q: %q, %v (want %q)", xdg, d, err, want)
		}
	}
}
