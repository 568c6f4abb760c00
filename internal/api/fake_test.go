package api

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/failoverhq/failover/internal/store"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// call is one mutating call that reached the fake backend.
type call struct {
	Method  string // Drill, Pin, Release, SubmitResults, LabFault
	Service string
	Req     OverrideRequest
	Batch   ResultsBatch
	Fault   Fault
	By      Actor
}

// fakeBackend is an in-memory Backend. Mutating calls are recorded (and
// sent on calls, when set); err, when set, is what they return.
type fakeBackend struct {
	mu        sync.Mutex
	ready     error
	services  []Service
	events    []store.Event
	plan      ProbePlan
	ack       ResultsAck
	err       error
	recorded  []call
	queries   []store.Query
	subs      map[chan StreamMessage]struct{}
	calls     chan call // optional; never blocks the backend
	eventsErr error
}

func newFake() *fakeBackend {
	return &fakeBackend{
		services: []Service{wwwService(map[string]int{"primary": 100, "backup": 0, "origin": 0})},
		plan: ProbePlan{Vantage: "lab-a", Interval: "1s", Timeout: "500ms", Generation: 7, Checks: []PlanItem{
			{Service: "www", Target: "primary", Probe: map[string]any{"url": "http://127.0.10.1:18080/healthz"}},
		}},
		ack:  ResultsAck{Accepted: -1}, // -1: accept all that arrive
		subs: map[chan StreamMessage]struct{}{},
	}
}

// wwwService is the lab's service with the given routing.
func wwwService(routing map[string]int) Service {
	view := func(ok bool, class string, ms float64) VantageView {
		return VantageView{OK: ok, Class: class, LatencyMs: ms, At: t0.Add(-time.Second), State: map[bool]string{true: "up", false: "down"}[ok]}
	}
	return Service{
		Name: "www", Record: "www.lab.test.", Provider: "edge", State: "healthy", Since: t0.Add(-time.Hour),
		Reason: "the primary is healthy at quorum", Routing: routing, Desired: routing,
		Targets: []Target{
			{Name: "primary", Role: "primary", Health: "healthy", Vantages: map[string]VantageView{
				"lab-a": view(true, "ok", 12), "lab-b": view(true, "ok", 14), "lab-c": view(true, "ok", 11),
			}},
			{Name: "backup", Role: "backup", Health: "healthy", Vantages: map[string]VantageView{
				"lab-a": view(true, "ok", 21), "lab-b": view(true, "ok", 19), "lab-c": view(true, "ok", 23),
			}},
			{Name: "origin", Role: "origin", Health: "healthy", Vantages: map[string]VantageView{
				"lab-a": view(true, "ok", 48), "lab-b": view(true, "ok", 51), "lab-c": view(true, "ok", 47),
			}},
		},
	}
}

func (f *fakeBackend) Ready() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}

func (f *fakeBackend) Services() []Service {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.services)
}

func (f *fakeBackend) Service(name string) (Service, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// Events filters like the store does: service, since, after, then the
// newest (or, with Oldest, the oldest) Limit of them, in id order.
func (f *fakeBackend) Events(q store.Query) ([]store.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	if f.eventsErr != nil {
		return nil, f.eventsErr
	}
	after, err := store.ParseID(q.After)
	if err != nil {
		return nil, err
	}
	var out []store.Event
	for _, ev := range f.events {
		seq, _ := store.ParseID(ev.ID)
		if (q.Service == "" || ev.Service == q.Service) && !ev.Time.Before(q.Since) && seq > after {
			out = append(out, ev)
		}
	}
	limit := q.Limit
	if limit <= 0 || limit > store.MaxLimit {
		limit = store.MaxLimit
	}
	if len(out) > limit {
		if q.Oldest {
			out = out[:limit]
		} else {
			out = out[len(out)-limit:]
		}
	}
	return out, nil
}

func (f *fakeBackend) Subscribe(ctx context.Context) <-chan StreamMessage {
	ch := make(chan StreamMessage, 64)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.subs[ch]; ok {
			delete(f.subs, ch)
			close(ch)
		}
	}()
	return ch
}

// publish sends m to every subscriber.
func (f *fakeBackend) publish(m StreamMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		ch <- m
	}
}

// endSubscriptions closes every subscription, as a Backend that stops does.
func (f *fakeBackend) endSubscriptions() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		delete(f.subs, ch)
		close(ch)
	}
}

func (f *fakeBackend) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// setService replaces (or adds) a service and publishes it.
func (f *fakeBackend) setService(s Service) {
	f.mu.Lock()
	i := slices.IndexFunc(f.services, func(x Service) bool { return x.Name == s.Name })
	if i < 0 {
		f.services = append(f.services, s)
	} else {
		f.services[i] = s
	}
	f.mu.Unlock()
	f.publish(StreamMessage{Type: "service", Data: s})
}

// addEvent stores an event with the next id and publishes it.
func (f *fakeBackend) addEvent(ev store.Event) store.Event {
	f.mu.Lock()
	ev.ID = store.FormatID(uint64(len(f.events) + 1))
	if ev.Time.IsZero() {
		ev.Time = t0
	}
	f.events = append(f.events, ev)
	f.mu.Unlock()
	f.publish(StreamMessage{Type: "event", ID: ev.ID, Data: ev})
	return ev
}

func (f *fakeBackend) record(c call) error {
	f.mu.Lock()
	f.recorded = append(f.recorded, c)
	err, ch := f.err, f.calls
	f.mu.Unlock()
	if ch != nil {
		select {
		case ch <- c:
		default:
		}
	}
	return err
}

func (f *fakeBackend) callsMade() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.recorded)
}

// override answers a drill or pin: the service in manual state with all
// weight on req.To.
func (f *fakeBackend) override(kind, service string, req OverrideRequest, by Actor) (Service, error) {
	svc, ok := f.Service(service)
	if !ok {
		return Service{}, fmt.Errorf("%w: service %q", ErrNotFound, service)
	}
	routing := map[string]int{}
	for _, t := range svc.Targets {
		routing[t.Name] = 0
	}
	routing[req.To] = 100
	svc.State, svc.Reason, svc.Desired = "manual", kind+" by "+by.Name, routing
	o := &Override{Kind: kind, To: req.To, Reason: req.Reason, By: by.Name}
	if d, err := time.ParseDuration(req.For); err == nil {
		o.Until = t0.Add(d)
	}
	svc.Override = o
	f.setService(svc) // as the controller would: stored and streamed
	return svc, nil
}

func (f *fakeBackend) Drill(_ context.Context, service string, req OverrideRequest, by Actor) (Service, error) {
	if err := f.record(call{Method: "Drill", Service: service, Req: req, By: by}); err != nil {
		return Service{}, err
	}
	return f.override("drill", service, req, by)
}

func (f *fakeBackend) Pin(_ context.Context, service string, req OverrideRequest, by Actor) (Service, error) {
	if err := f.record(call{Method: "Pin", Service: service, Req: req, By: by}); err != nil {
		return Service{}, err
	}
	return f.override("pin", service, req, by)
}

func (f *fakeBackend) Release(_ context.Context, service string, by Actor) (Service, error) {
	if err := f.record(call{Method: "Release", Service: service, By: by}); err != nil {
		return Service{}, err
	}
	svc, ok := f.Service(service)
	if !ok {
		return Service{}, fmt.Errorf("%w: service %q", ErrNotFound, service)
	}
	return svc, nil
}

func (f *fakeBackend) Plan(vantage string) (ProbePlan, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if vantage == "nowhere" {
		return ProbePlan{}, fmt.Errorf("%w: vantage %q is not known", ErrNotFound, vantage)
	}
	p := f.plan
	p.Vantage = vantage
	return p, nil
}

func (f *fakeBackend) SubmitResults(_ context.Context, batch ResultsBatch, by Actor) (ResultsAck, error) {
	if err := f.record(call{Method: "SubmitResults", Batch: batch, By: by}); err != nil {
		return ResultsAck{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ack := f.ack
	ack.Rejected = maps.Clone(ack.Rejected)
	if ack.Accepted < 0 {
		ack.Accepted = len(batch.Results)
	}
	return ack, nil
}

func (f *fakeBackend) LabFault(_ context.Context, fault Fault, by Actor) error {
	return f.record(call{Method: "LabFault", Fault: fault, By: by})
}

var _ Backend = (*fakeBackend)(nil)
