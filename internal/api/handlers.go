package api

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/probe"
	"github.com/failoverhq/failover/internal/store"
)

// Request limits.
const (
	// MaxDrill bounds a drill's duration.
	MaxDrill = 24 * time.Hour
	// MaxReasonBytes bounds an override's reason.
	MaxReasonBytes = 1000
	// MaxResults bounds the results of one batch.
	MaxResults = 10000
	// MaxFaultVantages bounds the vantages of one lab fault.
	MaxFaultVantages = 64
	// DefaultEventLimit is the number of events returned when no limit is
	// given; store.MaxLimit is the most.
	DefaultEventLimit = 100
)

// FaultModes are the lab's fault modes (CONTRACT §6).
var FaultModes = []string{"down", "timeout", "error", "slow", "flap", "ok"}

type statusBody struct {
	Status string `json:"status"`
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ Actor) error {
	s.writeJSON(w, r, http.StatusOK, statusBody{Status: "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ Actor) error {
	if err := s.backend.Ready(); err != nil {
		s.writeJSON(w, r, http.StatusServiceUnavailable, errorBody{Error: err.Error()})
		return nil
	}
	s.writeJSON(w, r, http.StatusOK, statusBody{Status: "ready"})
	return nil
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, _ Actor) error {
	if s.metrics == nil {
		return &apiError{status: http.StatusNotFound, msg: "metrics are not served here"}
	}
	s.metrics.ServeHTTP(w, r)
	return nil
}

type servicesBody struct {
	Services []Service `json:"services"`
}

func (s *Server) listServices(w http.ResponseWriter, r *http.Request, _ Actor) error {
	svcs := s.backend.Services()
	out := make([]Service, len(svcs))
	for i, svc := range svcs {
		out[i] = normalizeService(svc)
	}
	s.writeJSON(w, r, http.StatusOK, servicesBody{Services: out})
	return nil
}

func (s *Server) getService(w http.ResponseWriter, r *http.Request, _ Actor) error {
	name, err := serviceName(r)
	if err != nil {
		return err
	}
	svc, ok := s.backend.Service(name)
	if !ok {
		return &apiError{status: http.StatusNotFound, msg: fmt.Sprintf("service %q not found", name)}
	}
	s.writeJSON(w, r, http.StatusOK, normalizeService(svc))
	return nil
}

// normalizeService gives a Service its JSON shape whatever the Backend
// left nil: {} for weights, [] for targets, {} for vantages.
func normalizeService(svc Service) Service {
	if svc.Routing == nil {
		svc.Routing = map[string]int{}
	}
	if svc.Desired == nil {
		svc.Desired = map[string]int{}
	}
	targets := make([]Target, len(svc.Targets))
	for i, t := range svc.Targets {
		if t.Vantages == nil {
			t.Vantages = map[string]VantageView{}
		}
		targets[i] = t
	}
	svc.Targets = targets
	return svc
}

type eventsBody struct {
	Events []store.Event `json:"events"`
}

// listEvents answers GET /api/v1/events?service=&since=&limit=, newest last.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, _ Actor) error {
	q, err := s.eventQuery(r)
	if err != nil {
		return err
	}
	evs, err := s.backend.Events(q)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	out := make([]store.Event, len(evs))
	for i, ev := range evs {
		out[i] = normalizeEvent(ev)
	}
	s.writeJSON(w, r, http.StatusOK, eventsBody{Events: out})
	return nil
}

func (s *Server) eventQuery(r *http.Request) (store.Query, error) {
	v := r.URL.Query()
	q := store.Query{Service: v.Get("service"), Limit: DefaultEventLimit}
	if q.Service != "" && !config.NamePattern.MatchString(q.Service) {
		return q, badRequest("service: must match %s, got %q", config.NamePattern, truncate(q.Service, 100))
	}
	if since := v.Get("since"); since != "" {
		t, err := parseSince(since, s.now())
		if err != nil {
			return q, err
		}
		q.Since = t
	}
	if ls := v.Get("limit"); ls != "" {
		n, err := strconv.Atoi(ls)
		if err != nil || n < 1 {
			return q, badRequest("limit: must be a positive integer, got %q", truncate(ls, 100))
		}
		q.Limit = min(n, store.MaxLimit)
	}
	return q, nil
}

// parseSince reads an RFC 3339 time or a duration, meaning that long before
// now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, badRequest("since: want an RFC 3339 time or a duration, got %q", truncate(s, 100))
	}
	if d < 0 {
		return time.Time{}, badRequest("since: duration must not be negative, got %q", s)
	}
	return now.Add(-d), nil
}

func normalizeEvent(ev store.Event) store.Event {
	if ev.Evidence == nil {
		ev.Evidence = map[string]any{}
	}
	return ev
}

// overrideKind tells validateOverride what is being asked for.
type overrideKind int

const (
	kindDrill overrideKind = iota
	kindPin
)

// validateOverride checks a drill or pin request: to is a name, reason is
// given and bounded, for is a positive duration (required and at most
// MaxDrill for a drill, optional for a pin).
func validateOverride(req *OverrideRequest, kind overrideKind) error {
	switch {
	case req.To == "":
		return badRequest("to: required")
	case !config.NamePattern.MatchString(req.To):
		return badRequest("to: must be a target name matching %s, got %q", config.NamePattern, truncate(req.To, 100))
	}
	req.Reason = strings.TrimSpace(req.Reason)
	switch {
	case req.Reason == "":
		return badRequest("reason: required")
	case len(req.Reason) > MaxReasonBytes:
		return badRequest("reason: at most %d bytes, got %d", MaxReasonBytes, len(req.Reason))
	case !utf8.ValidString(req.Reason) || strings.ContainsFunc(req.Reason, unicode.IsControl):
		return badRequest("reason: must be printable text")
	}
	if req.For == "" {
		if kind == kindDrill {
			return badRequest("for: required for a drill (at most %s)", MaxDrill)
		}
		return nil
	}
	d, err := time.ParseDuration(req.For)
	switch {
	case err != nil:
		return badRequest("for: invalid duration %q", truncate(req.For, 100))
	case d <= 0:
		return badRequest("for: must be positive, got %q", req.For)
	case kind == kindDrill && d > MaxDrill:
		return badRequest("for: a drill lasts at most %s, got %q", MaxDrill, req.For)
	}
	return nil
}

// serviceName returns the {name} of the path, or a 404 when it cannot be a
// service.
func serviceName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if !config.NamePattern.MatchString(name) {
		return "", &apiError{status: http.StatusNotFound, msg: fmt.Sprintf("service %q not found", truncate(name, 100))}
	}
	return name, nil
}

func (s *Server) drill(w http.ResponseWriter, r *http.Request, by Actor) error {
	return s.override(w, r, by, kindDrill)
}

func (s *Server) pin(w http.ResponseWriter, r *http.Request, by Actor) error {
	return s.override(w, r, by, kindPin)
}

func (s *Server) override(w http.ResponseWriter, r *http.Request, by Actor, kind overrideKind) error {
	name, err := serviceName(r)
	if err != nil {
		return err
	}
	var req OverrideRequest
	if err := decodeBody(w, r, s.maxBody, false, &req); err != nil {
		return err
	}
	if err := validateOverride(&req, kind); err != nil {
		return err
	}
	var svc Service
	if kind == kindDrill {
		svc, err = s.backend.Drill(r.Context(), name, req, by)
	} else {
		svc, err = s.backend.Pin(r.Context(), name, req, by)
	}
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, normalizeService(svc))
	return nil
}

// releaseRequest is the body of release: an empty object (or no body).
type releaseRequest struct{}

func (s *Server) release(w http.ResponseWriter, r *http.Request, by Actor) error {
	name, err := serviceName(r)
	if err != nil {
		return err
	}
	var req releaseRequest
	if err := decodeBody(w, r, s.maxBody, true, &req); err != nil {
		return err
	}
	svc, err := s.backend.Release(r.Context(), name, by)
	if err != nil {
		return err
	}
	s.writeJSON(w, r, http.StatusOK, normalizeService(svc))
	return nil
}

func (s *Server) plan(w http.ResponseWriter, r *http.Request, _ Actor) error {
	v := r.URL.Query().Get("vantage")
	switch {
	case v == "":
		return badRequest("vantage: required")
	case !config.NamePattern.MatchString(v):
		return badRequest("vantage: must match %s, got %q", config.NamePattern, truncate(v, 100))
	}
	p, err := s.backend.Plan(v)
	if err != nil {
		return err
	}
	if p.Checks == nil {
		p.Checks = []PlanItem{}
	}
	s.writeJSON(w, r, http.StatusOK, p)
	return nil
}

// Reasons for which the API itself refuses results (ResultsAck.Rejected
// and CountDropped).
const (
	DropOversized    = "oversized_batch" // the whole batch: larger than the limit
	DropMalformed    = "malformed_batch" // the whole batch: not a valid batch
	DropInvalidName  = "invalid_name"    // service or target is not a name
	DropInvalidClass = "invalid_class"   // class is not one of CONTRACT §4
	DropInvalidTime  = "invalid_time"    // no time
	DropInvalidValue = "invalid_result"  // ok disagrees with class, a negative latency, a bad status
)

// results takes a batch of an agent's results: the API checks its shape,
// drops the results that are malformed, and passes the others on.
func (s *Server) results(w http.ResponseWriter, r *http.Request, by Actor) error {
	var batch ResultsBatch
	if err := decodeBody(w, r, s.maxResults, false, &batch); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusRequestEntityTooLarge {
			s.countDropped(DropOversized, 1)
		} else {
			s.countDropped(DropMalformed, 1)
		}
		return err
	}
	switch {
	case batch.Vantage == "":
		s.countDropped(DropMalformed, 1)
		return badRequest("vantage: required")
	case !config.NamePattern.MatchString(batch.Vantage):
		s.countDropped(DropMalformed, 1)
		return badRequest("vantage: must match %s, got %q", config.NamePattern, truncate(batch.Vantage, 100))
	case len(batch.Results) > MaxResults:
		s.countDropped(DropMalformed, 1)
		return badRequest("results: at most %d per batch, got %d", MaxResults, len(batch.Results))
	}
	rejected := map[string]int{}
	kept := batch.Results[:0]
	var first string
	for i, res := range batch.Results {
		reason, msg := checkResult(res)
		if reason == "" {
			kept = append(kept, res)
			continue
		}
		rejected[reason]++
		if first == "" {
			first = fmt.Sprintf("results[%d].%s", i, msg)
		}
	}
	for reason, n := range rejected {
		s.countDropped(reason, n)
	}
	if len(kept) == 0 && len(batch.Results) > 0 {
		return badRequest("%s (all %d results are malformed)", first, len(batch.Results))
	}
	batch.Results = kept
	ack, err := s.backend.SubmitResults(r.Context(), batch, by)
	if err != nil {
		return err
	}
	if len(rejected) > 0 {
		merged := maps.Clone(ack.Rejected) // the Backend's map stays its own
		if merged == nil {
			merged = map[string]int{}
		}
		for reason, n := range rejected {
			merged[reason] += n
		}
		ack.Rejected = merged
	}
	s.writeJSON(w, r, http.StatusAccepted, ack)
	return nil
}

// checkResult returns why res is malformed ("" when it is not) and a
// message that names the field.
func checkResult(res probe.Result) (reason, msg string) {
	switch {
	case !config.NamePattern.MatchString(res.Service):
		return DropInvalidName, fmt.Sprintf("service: must match %s, got %q", config.NamePattern, truncate(res.Service, 100))
	case !config.NamePattern.MatchString(res.Target):
		return DropInvalidName, fmt.Sprintf("target: must match %s, got %q", config.NamePattern, truncate(res.Target, 100))
	case !res.Class.Valid():
		return DropInvalidClass, fmt.Sprintf("class: unknown class %q", truncate(string(res.Class), 100))
	case res.Time.IsZero():
		return DropInvalidTime, "time: required"
	case res.OK != (res.Class == probe.ClassOK):
		return DropInvalidValue, fmt.Sprintf("ok: %t disagrees with class %q", res.OK, res.Class)
	case res.LatencyMs < 0 || res.Phases.DNSMs < 0 || res.Phases.ConnectMs < 0 || res.Phases.TLSMs < 0 || res.Phases.TTFBMs < 0:
		return DropInvalidValue, "latency_ms: must not be negative"
	case res.Status < 0 || res.Status > 999:
		return DropInvalidValue, fmt.Sprintf("status: must be an HTTP status, got %d", res.Status)
	}
	return "", ""
}

func (s *Server) labFault(w http.ResponseWriter, r *http.Request, by Actor) error {
	var f Fault
	if err := decodeBody(w, r, s.maxBody, false, &f); err != nil {
		return err
	}
	switch {
	case f.Target == "":
		return badRequest("target: required")
	case !config.NamePattern.MatchString(f.Target):
		return badRequest("target: must match %s, got %q", config.NamePattern, truncate(f.Target, 100))
	case f.Mode == "":
		return badRequest("mode: required, one of %s", strings.Join(FaultModes, ", "))
	case !slices.Contains(FaultModes, f.Mode):
		return badRequest("mode: must be one of %s, got %q", strings.Join(FaultModes, ", "), truncate(f.Mode, 100))
	case len(f.Vantages) > MaxFaultVantages:
		return badRequest("vantages: at most %d, got %d", MaxFaultVantages, len(f.Vantages))
	}
	seen := map[string]bool{}
	for i, v := range f.Vantages {
		if !config.NamePattern.MatchString(v) {
			return badRequest("vantages[%d]: must match %s, got %q", i, config.NamePattern, truncate(v, 100))
		}
		if seen[v] {
			return badRequest("vantages[%d]: %q is listed twice", i, v)
		}
		seen[v] = true
	}
	if err := s.backend.LabFault(r.Context(), f, by); err != nil {
		return err
	}
	if f.Vantages == nil {
		f.Vantages = []string{}
	}
	s.writeJSON(w, r, http.StatusOK, f)
	return nil
}
