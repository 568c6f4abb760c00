package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configures New.
type Options struct {
	// Backend is the running controller; required.
	Backend Backend
	// Tokens are the bearer tokens, with their secrets resolved (see
	// TokensFromConfig).
	Tokens []Token
	// OpenRead lets GET endpoints be used without a token (the lab sets
	// it). GET /api/v1/plan still needs an agent token.
	OpenRead bool
	// Metrics serves GET /metrics (promhttp for the metrics registry);
	// /metrics answers 404 when nil.
	Metrics http.Handler
	// Logger gets one line per unexpected error; nothing is logged when
	// nil. Tokens are never logged.
	Logger *slog.Logger
	// MaxBodyBytes bounds a POST /api/v1/results body
	// (DefaultMaxResultsBytes when 0). Every other body is bounded by
	// MaxBodyBytes (the constant), or by this when smaller.
	MaxBodyBytes int64
	// Lab enables POST /api/v1/lab/faults; without it that path is 404.
	Lab bool
	// Now is the clock for relative times (events?since=10m); time.Now
	// when nil.
	Now func() time.Time
	// CountDropped, when set, is told of the results that the API itself
	// refuses before they reach the Backend, by reason and number; a
	// caller wires it to failover_results_dropped_total. (The Backend
	// counts the results it rejects itself.)
	CountDropped func(reason string, n int)
}

// Server is the HTTP API. Its handler is safe for concurrent use.
type Server struct {
	backend      Backend
	keys         *keyring
	openRead     bool
	metrics      http.Handler
	log          *slog.Logger
	maxResults   int64
	maxBody      int64
	lab          bool
	now          func() time.Time
	countDropped func(reason string, n int)
	handler      http.Handler

	// heartbeat is the interval of the stream's keep-alive comments.
	heartbeat time.Duration
	// streams bounds the concurrent SSE streams.
	streams chan struct{}
	// done is closed by Close, which ends every stream.
	done      chan struct{}
	closeOnce sync.Once
}

// Stream limits.
const (
	// HeartbeatInterval is how often an idle stream sends a comment, so
	// that proxies and clients see the connection is alive.
	HeartbeatInterval = 15 * time.Second
	// MaxStreams bounds the concurrent SSE streams; one more gets 503.
	MaxStreams = 1000
	// streamWriteTimeout drops a stream whose client does not read.
	streamWriteTimeout = 10 * time.Second
)

// New makes the API server. It fails on a missing Backend or on tokens that
// are unusable (no name, an unknown role, an empty or shared secret).
func New(opts Options) (*Server, error) {
	if opts.Backend == nil {
		return nil, errors.New("api: no backend")
	}
	if opts.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("api: MaxBodyBytes must not be negative, got %d", opts.MaxBodyBytes)
	}
	keys, err := newKeyring(opts.Tokens)
	if err != nil {
		return nil, fmt.Errorf("api: tokens: %w", err)
	}
	s := &Server{
		backend:      opts.Backend,
		keys:         keys,
		openRead:     opts.OpenRead,
		metrics:      opts.Metrics,
		log:          opts.Logger,
		maxResults:   opts.MaxBodyBytes,
		maxBody:      MaxBodyBytes,
		lab:          opts.Lab,
		now:          opts.Now,
		countDropped: opts.CountDropped,
		heartbeat:    HeartbeatInterval,
		streams:      make(chan struct{}, MaxStreams),
		done:         make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxResults == 0 {
		s.maxResults = DefaultMaxResultsBytes
	}
	s.maxBody = min(s.maxBody, s.maxResults)
	if s.now == nil {
		s.now = time.Now
	}
	if s.countDropped == nil {
		s.countDropped = func(string, int) {}
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the API's handler. The caller runs the http.Server (and
// TLS); it should call Close when shutting down (for example with
// http.Server.RegisterOnShutdown), since Shutdown does not end streams.
func (s *Server) Handler() http.Handler { return s.handler }

// Close ends every open SSE stream, now and later. The other endpoints keep
// working.
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.done) }) }

// handlerFunc is a route's handler: it writes its answer on success and
// returns an error otherwise, which serve maps to a status.
type handlerFunc func(w http.ResponseWriter, r *http.Request, by Actor) error

type route struct {
	method, pattern string
	access          access
	h               handlerFunc
}

func (s *Server) routes() http.Handler {
	rs := []route{
		{"GET", "/healthz", accessPublic, s.healthz},
		{"GET", "/readyz", accessPublic, s.readyz},
		{"GET", "/metrics", accessRead, s.serveMetrics},
		{"GET", "/{$}", accessPublic, s.dashboard},
		{"GET", "/ui/{file}", accessPublic, s.asset},
		{"GET", "/api/v1/services", accessRead, s.listServices},
		{"GET", "/api/v1/services/{name}", accessRead, s.getService},
		{"GET", "/api/v1/events", accessRead, s.listEvents},
		{"GET", "/api/v1/stream", accessRead, s.stream},
		{"POST", "/api/v1/services/{name}/drill", accessOperate, s.drill},
		{"POST", "/api/v1/services/{name}/pin", accessOperate, s.pin},
		{"POST", "/api/v1/services/{name}/release", accessOperate, s.release},
		{"GET", "/api/v1/plan", accessAgent, s.plan},
		{"POST", "/api/v1/results", accessAgent, s.results},
	}
	if s.lab {
		rs = append(rs, route{"POST", "/api/v1/lab/faults", accessOperate, s.labFault})
	}
	mux := http.NewServeMux()
	methods := map[string][]string{}
	var order []string
	for _, rt := range rs {
		mux.Handle(rt.method+" "+rt.pattern, s.serve(rt))
		if methods[rt.pattern] == nil {
			order = append(order, rt.pattern)
		}
		methods[rt.pattern] = append(methods[rt.pattern], rt.method)
	}
	// The same paths with any other method: 405 with Allow.
	for _, p := range order {
		allow := methods[p]
		if slices.Contains(allow, "GET") {
			allow = append(allow, "HEAD")
		}
		allowed := strings.Join(allow, ", ")
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allowed)
			s.writeError(w, r, &apiError{status: http.StatusMethodNotAllowed,
				msg: fmt.Sprintf("method %s is not allowed here; use %s", r.Method, allowed)})
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, &apiError{status: http.StatusNotFound, msg: "no such path: " + truncate(r.URL.Path, 200)})
	})
	return s.secure(mux)
}

// serve wraps a route's handler with authorization and error mapping.
func (s *Server) serve(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		by, err := s.authorize(r, rt.access)
		if err == nil {
			err = rt.h(w, r, by)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

// Content security policies: the dashboard may load its own script, style
// and data and nothing else; an API answer may load nothing.
const (
	dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	apiCSP = "default-src 'none'; frame-ancestors 'none'"
)

// secure sets the security headers of every response and turns a panic
// into a logged 500.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if isDashboardPath(r.URL.Path) {
			h.Set("Content-Security-Policy", dashboardCSP)
			h.Set("Cache-Control", "no-cache")
		} else {
			h.Set("Content-Security-Policy", apiCSP)
			h.Set("Cache-Control", "no-store")
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("api: panic in handler", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
				// The status may already be out; then this write is
				// refused, and the client sees a cut answer.
				s.writeJSON(w, r, http.StatusInternalServerError, errorBody{Error: "internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func isDashboardPath(p string) bool { return p == "/" || strings.HasPrefix(p, "/ui/") }

type errorBody struct {
	Error string `json:"error"`
}

// writeError answers {"error": ...} with the status that err maps to. A
// Backend's sentinel errors keep their message; anything unexpected is
// logged here, once, and the client gets a generic 500.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := s.classify(err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="failover"`)
	}
	if status >= 500 && status != http.StatusServiceUnavailable {
		if r.Context().Err() != nil {
			// The client left; nothing to tell it, nothing wrong here.
			return
		}
		s.log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	s.writeJSON(w, r, status, errorBody{Error: msg})
}

func (s *Server) classify(err error) (int, string) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, ae.msg
	}
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNotLab):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, ErrConflict):
		return http.StatusConflict, err.Error()
	case errors.Is(err, ErrNotReady):
		return http.StatusServiceUnavailable, err.Error()
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "timed out"
	}
	return http.StatusInternalServerError, "internal error"
}

// writeJSON answers v as JSON with status. A value that cannot be encoded
// (a NaN from the Backend, say) is logged and answered with a 500.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("api: encode answer", "method", r.Method, "path", r.URL.Path, "err", err)
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) // a failed write means the client left
}
