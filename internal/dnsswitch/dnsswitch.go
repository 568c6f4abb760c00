// Package dnsswitch moves traffic by publishing DNS: one narrow Provider
// interface, implemented by one folder per backend (builtin/, route53/,
// cloudflare/, rfc2136/), and a pure Plan that says what would change.
//
// Providers are level-triggered. The loop reads the actual routing, computes
// the plan against the desired routing, and applies it only when something
// differs. Apply verifies its write by reading back. A change that is only
// partly applied is returned as an error wrapping ErrPartial, never logged
// and dropped.
package dnsswitch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Routing maps target names to weights (0..100). The weights of a service sum
// to 100; a target that is absent has weight 0.
type Routing map[string]int

// Sum returns the total weight.
func (r Routing) Sum() int {
	n := 0
	for _, w := range r {
		n += w
	}
	return n
}

// Equal reports whether r and o give every target the same weight (absent
// and zero are the same).
func (r Routing) Equal(o Routing) bool {
	for k, w := range r {
		if o[k] != w {
			return false
		}
	}
	for k, w := range o {
		if r[k] != w {
			return false
		}
	}
	return true
}

// Top returns the target with the highest weight; ties go to the target that
// comes first in order (the fallback order: primary first). It returns ""
// when every weight is zero.
func (r Routing) Top(order []string) string {
	best, bw := "", 0
	for _, name := range order {
		if w := r[name]; w > bw {
			best, bw = name, w
		}
	}
	return best
}

// String renders the routing in the given order, e.g. "primary=75 backup=25".
func (r Routing) String() string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, r[k])
	}
	return b.String()
}

// Answer is what DNS publishes for one target.
type Answer struct {
	Target string   // target name, e.g. "primary"
	Type   string   // A | AAAA | CNAME
	Values []string // addresses, or one FQDN for CNAME
	// Proxied is Cloudflare's proxied flag (dns_record mode); nil leaves it unset.
	Proxied *bool
	// Origin is the pool origin's name (Cloudflare load_balancer mode).
	Origin string
}

// Service is what a provider needs to know of a service to read and write its
// records: the record name, the TTL and every target's answer, in fallback
// order (primary first, origin last).
type Service struct {
	Name    string // service name
	Record  string // fully-qualified record name, e.g. "www.example.com."
	TTL     int
	Answers []Answer
}

// Order returns the target names in fallback order.
func (s Service) Order() []string {
	out := make([]string, len(s.Answers))
	for i, a := range s.Answers {
		out[i] = a.Target
	}
	return out
}

// Answer returns the answer of the named target.
func (s Service) Answer(target string) (Answer, bool) {
	for _, a := range s.Answers {
		if a.Target == target {
			return a, true
		}
	}
	return Answer{}, false
}

// Capabilities says what a provider can express.
type Capabilities struct {
	// Weighted providers carry weights (builtin, Route 53 weighted sets,
	// Cloudflare load balancer pools). The others publish only the single
	// highest-weight target, so a ramp becomes one switch.
	Weighted bool
}

// ApplyOptions goes with every Apply.
type ApplyOptions struct {
	// Generation increases with every decision of the controller that made
	// it. It is a hook for fencing: an HA controller checks that it still
	// holds the lease for this generation before writing.
	Generation uint64
}

// Provider is one DNS backend.
type Provider interface {
	// Name is the provider's name in the config.
	Name() string
	// Capabilities says whether the provider carries weights.
	Capabilities() Capabilities
	// Read returns the routing actually published for svc. A target whose
	// answer is not published has weight 0. A service with no records at
	// all reads as an empty Routing and no error. Records under the name
	// that match no target's answer are an error wrapping ErrForeign.
	Read(ctx context.Context, svc Service) (Routing, error)
	// Apply publishes desired for svc (already reduced to what the
	// provider can express, see Effective), then reads it back. It is
	// idempotent. When only part of the change was written it returns an
	// error wrapping ErrPartial.
	Apply(ctx context.Context, svc Service, desired Routing, opts ApplyOptions) error
}

// Errors that callers tell apart with errors.Is.
var (
	// ErrRetryable marks a soft failure (throttling, a timeout, a prior
	// request not yet complete): the loop retries on its next pass.
	ErrRetryable = errors.New("retryable")
	// ErrPartial marks a change that was only partly applied.
	ErrPartial = errors.New("partly applied")
	// ErrVerify marks a write that did not read back as written.
	ErrVerify = errors.New("read-back mismatch")
	// ErrForeign marks records under a service's name that match no target.
	ErrForeign = errors.New("records that match no target")
	// ErrAuth marks a rejected credential (a wrong TSIG key, a bad token).
	ErrAuth = errors.New("authentication failed")
)

// Effective reduces desired to what a provider with caps can publish: a
// weighted provider publishes it as it is; a single-target provider publishes
// all the weight on the highest-weight target (ties to the earlier target in
// fallback order).
func Effective(caps Capabilities, svc Service, desired Routing) Routing {
	if caps.Weighted {
		out := make(Routing, len(desired))
		for k, w := range desired {
			if w > 0 {
				out[k] = w
			}
		}
		return out
	}
	top := desired.Top(svc.Order())
	if top == "" {
		return Routing{}
	}
	return Routing{top: 100}
}

// Change is one target's weight change in a plan.
type Change struct {
	Target string `json:"target"`
	From   int    `json:"from"`
	To     int    `json:"to"`
}

// Plan is what it takes to go from the actual routing to the desired one.
type Plan struct {
	Service  string   `json:"service"`
	Provider string   `json:"provider"`
	Actual   Routing  `json:"actual"`
	Desired  Routing  `json:"desired"` // as asked for
	Publish  Routing  `json:"publish"` // what the provider will publish
	Changes  []Change `json:"changes"` // in fallback order; empty when nothing changes
	// Note explains a reduction, e.g. that a single-target provider turns a
	// ramp into one switch.
	Note string `json:"note,omitempty"`
}

// Empty reports whether nothing would change.
func (p Plan) Empty() bool { return len(p.Changes) == 0 }

// ComputePlan is pure: it compares actual with desired as the provider can
// express it.
func ComputePlan(provider string, caps Capabilities, svc Service, actual, desired Routing) Plan {
	publish := Effective(caps, svc, desired)
	p := Plan{Service: svc.Name, Provider: provider, Actual: actual, Desired: desired, Publish: publish}
	if !caps.Weighted && !publish.Equal(Effective(Capabilities{Weighted: true}, svc, desired)) {
		p.Note = fmt.Sprintf("%s publishes a single target: %s gets all the weight (asked for %s)",
			provider, publish.Top(svc.Order()), desired)
	}
	for _, name := range svc.Order() {
		if actual[name] != publish[name] {
			p.Changes = append(p.Changes, Change{Target: name, From: actual[name], To: publish[name]})
		}
	}
	return p
}
