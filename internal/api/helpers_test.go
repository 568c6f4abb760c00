package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The test tokens.
const (
	viewerToken   = "viewer-secret-0123456789"
	operatorToken = "operator-secret-0123456789"
	agentToken    = "agent-secret-0123456789"
)

var testTokens = []Token{
	{Name: "watcher", Role: RoleViewer, Secret: viewerToken},
	{Name: "ops", Role: RoleOperator, Secret: operatorToken},
	{Name: "eu-agent", Role: RoleAgent, Secret: agentToken},
}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fixture is a Server on a fake backend, with its log.
type fixture struct {
	srv     *Server
	fake    *fakeBackend
	log     *syncBuffer
	dropped map[string]int
	mu      sync.Mutex
}

// newFixture makes a Server; edit adjusts the options first.
func newFixture(t testing.TB, edit func(*Options)) *fixture {
	t.Helper()
	fx := &fixture{fake: newFake(), log: &syncBuffer{}, dropped: map[string]int{}}
	opts := Options{
		Backend: fx.fake,
		Tokens:  testTokens,
		Logger:  slog.New(slog.NewTextHandler(fx.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:     func() time.Time { return t0 },
		CountDropped: func(reason string, n int) {
			fx.mu.Lock()
			defer fx.mu.Unlock()
			fx.dropped[reason] += n
		},
	}
	if edit != nil {
		edit(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(srv.Close)
	fx.srv = srv
	return fx
}

func (fx *fixture) droppedCounts() map[string]int {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	out := map[string]int{}
	for k, v := range fx.dropped {
		out[k] = v
	}
	return out
}

// req describes one request.
type req struct {
	method, path string
	token        string // "" for none
	body         string
	contentType  string // application/json when a body is given and this is ""
	header       http.Header
}

// do runs r through the handler and returns the recorded answer.
func (fx *fixture) do(t *testing.T, r req) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	if r.body != "" || r.contentType != "" {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		if ct != "-" {
			hr.Header.Set("Content-Type", ct)
		}
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, vs := range r.header {
		hr.Header[k] = vs
	}
	w := httptest.NewRecorder()
	fx.srv.Handler().ServeHTTP(w, hr)
	return w
}

// errorOf decodes an {"error": ...} answer, failing unless it is exactly
// that.
func errorOf(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error answer has content type %q, want JSON; body %q", ct, w.Body.String())
	}
	var e map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("error answer is not JSON: %v; body %q", err, w.Body.String())
	}
	msg, ok := e["error"].(string)
	if !ok || len(e) != 1 || msg == "" {
		t.Fatalf("error answer = %s, want {\"error\": \"...\"}", w.Body.String())
	}
	return msg
}

// decode decodes a JSON answer into v.
func decode(t *testing.T, w *httptest.ResponseRecorder, v any) {
	t.Helper()
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("answer is not JSON: %v; body %q", err, w.Body.String())
	}
}
