// Package api is the controller's HTTP API (CONTRACT §4): JSON endpoints
// under /api/v1, the SSE stream, token auth with roles, /healthz, /readyz,
// /metrics and the embedded dashboard at /.
//
// The API holds no state of its own. It reads and acts through a Backend,
// which the running controller (package controller/runner) implements; tests use a
// fake Backend.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/failoverhq/failover/internal/probe"
	"github.com/failoverhq/failover/internal/store"
)

// Service is one service as the API shows it (CONTRACT §4).
type Service struct {
	Name     string         `json:"name"`
	Record   string         `json:"record"`
	Provider string         `json:"provider"`
	State    string         `json:"state"`
	Since    time.Time      `json:"since"`
	Reason   string         `json:"reason"`
	Routing  map[string]int `json:"routing"` // weights as applied to DNS
	Desired  map[string]int `json:"desired"`
	Override *Override      `json:"override"`
	Targets  []Target       `json:"targets"`
}

// Override is an active drill or pin.
type Override struct {
	Kind   string    `json:"kind"` // drill | pin
	To     string    `json:"to"`
	Until  time.Time `json:"until"` // null for a pin until released
	Reason string    `json:"reason"`
	By     string    `json:"by"`
}

// MarshalJSON writes until as null when the override has no end (a pin
// until released), so the key is always there.
func (o Override) MarshalJSON() ([]byte, error) {
	type plain Override
	var until *time.Time
	if !o.Until.IsZero() {
		until = &o.Until
	}
	return json.Marshal(struct {
		plain
		Until *time.Time `json:"until"`
	}{plain(o), until})
}

// Target is one target's health.
type Target struct {
	Name      string                 `json:"name"`
	Role      string                 `json:"role"`
	Health    string                 `json:"health"` // healthy | unhealthy | unknown
	Vantages  map[string]VantageView `json:"vantages"`
	LastError string                 `json:"last_error"`
}

// VantageView is what one vantage last saw of a target.
type VantageView struct {
	OK        bool      `json:"ok"`
	Class     string    `json:"class"`
	LatencyMs float64   `json:"latency_ms"`
	At        time.Time `json:"at"`
	// State is the vantage's rise/fall verdict: up | down | unknown;
	// Impaired marks a vantage excluded as a probe-side fault.
	State    string `json:"state,omitempty"`
	Impaired bool   `json:"impaired,omitempty"`
}

// OverrideRequest is the body of drill and pin.
type OverrideRequest struct {
	To     string `json:"to"`
	For    string `json:"for"` // a Go duration; required for a drill
	Reason string `json:"reason"`
	Force  bool   `json:"force"`
}

// ProbePlan is what an agent probes: GET /api/v1/plan?vantage=NAME.
type ProbePlan struct {
	Vantage  string     `json:"vantage"`
	Interval string     `json:"interval"` // Go duration
	Timeout  string     `json:"timeout"`
	Checks   []PlanItem `json:"checks"`
	// Generation changes whenever the plan does, so an agent can tell.
	Generation uint64 `json:"generation"`
}

// PlanItem is one target to probe; Probe is the target's probe spec as in
// the config (url, connect_to, expect, ...). URLs come only from the
// controller's config.
type PlanItem struct {
	Service string         `json:"service"`
	Target  string         `json:"target"`
	Probe   map[string]any `json:"probe"`
}

// ResultsBatch is the body of POST /api/v1/results.
type ResultsBatch struct {
	Vantage string         `json:"vantage"`
	Results []probe.Result `json:"results"`
}

// ResultsAck answers a batch: how many results were taken and why others
// were not.
type ResultsAck struct {
	Accepted int            `json:"accepted"`
	Rejected map[string]int `json:"rejected,omitempty"` // reason -> count
}

// Fault is the body of POST /api/v1/lab/faults.
type Fault struct {
	Target   string   `json:"target"`
	Mode     string   `json:"mode"`
	Vantages []string `json:"vantages"`
}

// StreamMessage is one server-sent event: Type "service" carries a Service,
// Type "event" a store.Event.
type StreamMessage struct {
	Type string // service | event
	ID   string // the event id, for Last-Event-ID (events only)
	Data any
}

// Actor is who made a request: the token's name and role.
type Actor struct {
	Name string
	Role string
}

// Backend is what the API needs of the running controller.
type Backend interface {
	// Ready reports whether the config is loaded, the store is open and
	// the providers were read; the error says what is missing.
	Ready() error
	Services() []Service
	Service(name string) (Service, bool)
	Events(q store.Query) ([]store.Event, error)
	// Subscribe streams service changes and new events until ctx ends.
	Subscribe(ctx context.Context) <-chan StreamMessage
	Drill(ctx context.Context, service string, req OverrideRequest, by Actor) (Service, error)
	Pin(ctx context.Context, service string, req OverrideRequest, by Actor) (Service, error)
	Release(ctx context.Context, service string, by Actor) (Service, error)
	Plan(vantage string) (ProbePlan, error)
	SubmitResults(ctx context.Context, batch ResultsBatch, by Actor) (ResultsAck, error)
	// LabFault sets a lab fault; ErrNotLab outside the lab.
	LabFault(ctx context.Context, f Fault, by Actor) error
}

// Errors a Backend returns, mapped to HTTP statuses by the API.
var (
	ErrNotFound  = errors.New("not found")       // 404
	ErrInvalid   = errors.New("invalid request") // 400
	ErrConflict  = errors.New("refused")         // 409: e.g. a drill to an unhealthy target
	ErrNotLab    = errors.New("only in the lab") // 404
	ErrNotReady  = errors.New("not ready")       // 503
	ErrForbidden = errors.New("not allowed")     // 403
)
