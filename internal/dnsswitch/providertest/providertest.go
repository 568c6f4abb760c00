// Package providertest is the one contract test suite that every DNS backend
// of dnsswitch runs (builtin, rfc2136 on a real BIND or Knot, route53 and
// cloudflare on wire-level fakes driven by the real SDKs), in the spirit of
// litestream's RunWithReplicaClient.
//
// A backend's test builds a Harness and calls Run:
//
//	func TestContract(t *testing.T) {
//		providertest.Run(t, providertest.Harness{
//			New:    func(t *testing.T) (dnsswitch.Provider, dnsswitch.Service) { ... },
//			Inject: func(t *testing.T, kind providertest.Failure) bool { ... },
//			Writes: func() int { ... },
//		})
//	}
//
// Every case is a subtest that calls New for a provider on a fresh, empty
// zone, so cases never see each other's records. The subtests run one after
// the other, never in parallel: Inject, Writes and PutForeign act on the
// backend behind the provider that New returned most recently.
//
// The service returned by New must have at least three targets in fallback
// order (primary, backup, origin); their answers may be of any type the
// backend supports. The suite checks, for every backend:
//
//   - ReadEmpty: reading a service that has no records gives an empty Routing
//     and no error, and writes nothing.
//   - ApplyReadBack: after Apply, Read returns Effective(caps, svc, desired).
//   - Sequence: the ramp 100/0/0, 75/25/0, 0/100/0, 0/0/100 and back to
//     100/0/0, each step read back.
//   - Idempotent: applying what is already published succeeds and, when
//     Writes is set, writes nothing (also when desired differs only in ways
//     the provider cannot express, or by explicit zero weights).
//   - Weights: weights {primary:30, backup:70} read back as they are on a
//     weighted provider and as {backup:100} on a single-target one.
//   - Invalid: weights that do not sum to 100, are out of 0..100, or name an
//     unknown target are rejected by Apply with an error that is not
//     retryable, nothing is written, and the previous routing stays.
//   - Failures: with Inject, a retryable failure (throttling, a 429,
//     SERVFAIL) comes back from Apply wrapping dnsswitch.ErrRetryable, and a
//     hard one (a refused update, a rejected change batch) does not; either
//     way the previous routing still reads back.
//   - Foreign: with PutForeign, a record under the service's name that
//     matches no target makes Read fail with dnsswitch.ErrForeign.
//   - Cancelled: Read and Apply under a context that is already cancelled
//     return promptly with an error wrapping context.Canceled, and Apply
//     writes nothing.
package providertest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

// Failure is a kind of backend failure that Harness.Inject arms.
type Failure int

const (
	// FailRetryable is a soft failure of the backend: throttling, an HTTP
	// 429, a DNS SERVFAIL, a prior request not yet complete. Apply must
	// return an error wrapping dnsswitch.ErrRetryable.
	FailRetryable Failure = iota + 1
	// FailHard is a failure that retrying will not cure: a refused update,
	// an invalid change batch, a 400. Apply must return an error that does
	// not wrap dnsswitch.ErrRetryable.
	FailHard
)

func (f Failure) String() string {
	switch f {
	case FailRetryable:
		return "retryable"
	case FailHard:
		return "hard"
	}
	return fmt.Sprintf("Failure(%d)", int(f))
}

// Harness plugs one backend into the suite.
type Harness struct {
	// New returns a provider on a fresh, empty zone, and the service to test
	// with (the suite may also derive variants from it). The service has at
	// least three targets. New registers its own cleanup with t.Cleanup.
	New func(t *testing.T) (dnsswitch.Provider, dnsswitch.Service)
	// Inject makes the provider's next write fail the way its real backend
	// fails (throttling, a 429, SERVFAIL, a refused update...). It returns
	// false if kind is not supported. When the provider retries soft
	// failures by itself, the fault must outlast those retries (or the
	// harness builds the provider with retries off), so that the next Apply
	// as a whole fails. The suite does not write again through a provider
	// after injecting a fault into it.
	Inject func(t *testing.T, kind Failure) bool
	// Writes, if set, returns how many write calls reached the backend so
	// far (to prove idempotence). Reads do not count.
	Writes func() int
	// PutForeign, if set, publishes a record under the service's name that
	// matches no target, behind the provider's back.
	PutForeign func(t *testing.T, svc dnsswitch.Service)
}

// opTimeout bounds every provider call, so that a hung backend fails the
// test rather than stalling it until the global test timeout.
const opTimeout = 30 * time.Second

// prompt is how soon a call under a cancelled context must return.
const prompt = 5 * time.Second

// Run runs the contract suite against the backend h describes.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("providertest: Harness.New is required")
	}
	s := &suite{h: h}
	t.Run("ReadEmpty", s.readEmpty)
	t.Run("ApplyReadBack", s.applyReadBack)
	t.Run("Sequence", s.sequence)
	t.Run("Idempotent", s.idempotent)
	t.Run("Weights", s.weights)
	t.Run("Invalid", s.invalid)
	t.Run("Failures", s.failures)
	t.Run("Foreign", s.foreign)
	t.Run("Cancelled", s.cancelled)
}

type suite struct {
	h Harness
}

// fixture is one fresh provider and its service.
type fixture struct {
	p     dnsswitch.Provider
	svc   dnsswitch.Service
	caps  dnsswitch.Capabilities
	order []string // target names, primary first
	gen   uint64
}

func (s *suite) fresh(t *testing.T) *fixture {
	t.Helper()
	p, svc := s.h.New(t)
	if p == nil {
		t.Fatal("providertest: Harness.New returned a nil provider")
	}
	if p.Name() == "" {
		t.Error("Name() is empty")
	}
	order := svc.Order()
	if len(order) < 3 {
		t.Fatalf("providertest: the service needs at least 3 targets, got %d (%v)", len(order), order)
	}
	seen := map[string]bool{}
	for _, name := range order {
		if name == "" || seen[name] {
			t.Fatalf("providertest: target names must be unique and non-empty, got %v", order)
		}
		seen[name] = true
	}
	return &fixture{p: p, svc: svc, caps: p.Capabilities(), order: order}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// routing builds a Routing from weights given in fallback order.
func (f *fixture) routing(weights ...int) dnsswitch.Routing {
	r := dnsswitch.Routing{}
	for i, w := range weights {
		r[f.order[i]] = w
	}
	return r
}

func (f *fixture) apply(ctx context.Context, desired dnsswitch.Routing) error {
	f.gen++
	return f.p.Apply(ctx, f.svc, desired, dnsswitch.ApplyOptions{Generation: f.gen})
}

// mustApply applies desired and fails the test on error.
func (f *fixture) mustApply(t *testing.T, desired dnsswitch.Routing) {
	t.Helper()
	if err := f.apply(ctxFor(t), desired); err != nil {
		t.Fatalf("Apply(%v): %v", desired, err)
	}
}

// expectRead reads the service back and compares it with want.
func (f *fixture) expectRead(t *testing.T, want dnsswitch.Routing, when string) {
	t.Helper()
	got, err := f.p.Read(ctxFor(t), f.svc)
	if err != nil {
		t.Fatalf("%s: Read: %v", when, err)
	}
	if !got.Equal(want) {
		t.Fatalf("%s: Read = {%v}, want {%v}", when, got, want)
	}
}

func (s *suite) writes() (int, bool) {
	if s.h.Writes == nil {
		return 0, false
	}
	return s.h.Writes(), true
}

// expectNoWrites fails when writes happened since before (as returned by
// s.writes).
func (s *suite) expectNoWrites(t *testing.T, before int, what string) {
	t.Helper()
	if after, ok := s.writes(); ok && after != before {
		t.Errorf("%s: %d write(s) reached the backend, want none", what, after-before)
	}
}

func (s *suite) readEmpty(t *testing.T) {
	f := s.fresh(t)
	before, _ := s.writes()
	got, err := f.p.Read(ctxFor(t), f.svc)
	if err != nil {
		t.Fatalf("Read of an empty zone: %v", err)
	}
	if !got.Equal(dnsswitch.Routing{}) {
		t.Fatalf("Read of an empty zone = {%v}, want an empty routing", got)
	}
	s.expectNoWrites(t, before, "Read")
}

func (s *suite) applyReadBack(t *testing.T) {
	f := s.fresh(t)
	desired := f.routing(60, 40, 0)
	f.mustApply(t, desired)
	f.expectRead(t, dnsswitch.Effective(f.caps, f.svc, desired), "after Apply")
	if w, ok := s.writes(); ok && w == 0 {
		t.Error("Apply reported success but no write reached the backend")
	}
}

func (s *suite) sequence(t *testing.T) {
	f := s.fresh(t)
	steps := [][]int{{100, 0, 0}, {75, 25, 0}, {0, 100, 0}, {0, 0, 100}, {100, 0, 0}}
	for i, weights := range steps {
		desired := f.routing(weights...)
		f.mustApply(t, desired)
		f.expectRead(t, dnsswitch.Effective(f.caps, f.svc, desired), fmt.Sprintf("step %d {%v}", i+1, desired))
	}
}

func (s *suite) idempotent(t *testing.T) {
	f := s.fresh(t)
	desired := f.routing(80, 20, 0)
	f.mustApply(t, desired)
	want := dnsswitch.Effective(f.caps, f.svc, desired)

	// The same routing again; then with explicit zeros; then, on a
	// single-target provider, a routing that reduces to the same target.
	again := []dnsswitch.Routing{f.routing(80, 20, 0), {f.order[0]: 80, f.order[1]: 20}}
	if !f.caps.Weighted {
		again = append(again, f.routing(70, 30, 0))
	}
	for _, r := range again {
		before, _ := s.writes()
		f.mustApply(t, r)
		s.expectNoWrites(t, before, fmt.Sprintf("re-Apply(%v)", r))
		f.expectRead(t, want, fmt.Sprintf("after re-Apply(%v)", r))
	}
}

func (s *suite) weights(t *testing.T) {
	f := s.fresh(t)
	primary, backup := f.order[0], f.order[1]
	f.mustApply(t, f.routing(100, 0, 0))
	desired := dnsswitch.Routing{primary: 30, backup: 70}
	f.mustApply(t, desired)
	want := dnsswitch.Routing{primary: 30, backup: 70}
	if !f.caps.Weighted {
		// A single-target provider publishes the highest weight only.
		want = dnsswitch.Routing{backup: 100}
	}
	f.expectRead(t, want, fmt.Sprintf("Apply(%v) with Weighted=%v", desired, f.caps.Weighted))
}

func (s *suite) invalid(t *testing.T) {
	f := s.fresh(t)
	valid := f.routing(100, 0, 0)
	f.mustApply(t, valid)
	want := dnsswitch.Effective(f.caps, f.svc, valid)

	cases := []struct {
		name    string
		desired dnsswitch.Routing
	}{
		{"sum below 100", f.routing(50, 20, 0)},
		{"sum above 100", f.routing(90, 20, 0)},
		{"all zero", f.routing(0, 0, 0)},
		{"empty", dnsswitch.Routing{}},
		{"negative weight", f.routing(120, -20, 0)},
		{"weight above 100", f.routing(0, 101, -1)},
		{"unknown target", dnsswitch.Routing{"no-such-target": 100}},
		{"unknown target beside known ones", dnsswitch.Routing{f.order[0]: 50, "no-such-target": 50}},
		{"unknown target with weight 0", dnsswitch.Routing{f.order[0]: 100, "no-such-target": 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, _ := s.writes()
			err := f.apply(ctxFor(t), c.desired)
			if err == nil {
				t.Fatalf("Apply(%v) = nil, want an error", c.desired)
			}
			if errors.Is(err, dnsswitch.ErrRetryable) {
				t.Errorf("Apply(%v) = %v: an invalid routing must not be retryable", c.desired, err)
			}
			s.expectNoWrites(t, before, fmt.Sprintf("rejected Apply(%v)", c.desired))
			f.expectRead(t, want, "after the rejected Apply")
		})
	}
}

func (s *suite) failures(t *testing.T) {
	for _, kind := range []Failure{FailRetryable, FailHard} {
		t.Run(kind.String(), func(t *testing.T) {
			if s.h.Inject == nil {
				t.Skip("the harness cannot inject failures")
			}
			f := s.fresh(t)
			prev := f.routing(100, 0, 0)
			f.mustApply(t, prev)
			if !s.h.Inject(t, kind) {
				t.Skipf("the backend cannot inject a %v failure", kind)
			}
			next := f.routing(0, 100, 0)
			err := f.apply(ctxFor(t), next)
			if err == nil {
				t.Fatalf("Apply(%v) with an injected %v failure = nil, want an error", next, kind)
			}
			if got, want := errors.Is(err, dnsswitch.ErrRetryable), kind == FailRetryable; got != want {
				t.Errorf("Apply with an injected %v failure = %q; errors.Is(err, ErrRetryable) = %v, want %v",
					kind, err, got, want)
			}
			f.expectRead(t, dnsswitch.Effective(f.caps, f.svc, prev), "after the failed Apply")
		})
	}
}

func (s *suite) foreign(t *testing.T) {
	if s.h.PutForeign == nil {
		t.Skip("the harness cannot publish foreign records")
	}
	f := s.fresh(t)
	s.h.PutForeign(t, f.svc)
	got, err := f.p.Read(ctxFor(t), f.svc)
	if !errors.Is(err, dnsswitch.ErrForeign) {
		t.Fatalf("Read with a foreign record = {%v}, %v; want an error wrapping ErrForeign", got, err)
	}
}

func (s *suite) cancelled(t *testing.T) {
	f := s.fresh(t)
	f.mustApply(t, f.routing(100, 0, 0))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	// A backend that ignores the context would hang here; the guard turns
	// that into a failure instead of a stalled test run.
	call := func(what string, fn func() error) {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- fn() }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s with a cancelled context = nil, want an error", what)
			} else if !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a cancelled context = %v, want an error wrapping context.Canceled", what, err)
			}
		case <-time.After(prompt):
			t.Fatalf("%s with a cancelled context did not return within %v", what, prompt)
		}
	}
	call("Read", func() error {
		_, err := f.p.Read(ctx, f.svc)
		return err
	})
	before, _ := s.writes()
	call("Apply", func() error {
		f.gen++
		return f.p.Apply(ctx, f.svc, f.routing(0, 100, 0), dnsswitch.ApplyOptions{Generation: f.gen})
	})
	s.expectNoWrites(t, before, "Apply with a cancelled context")
	f.expectRead(t, dnsswitch.Effective(f.caps, f.svc, f.routing(100, 0, 0)), "after the cancelled Apply")
}
