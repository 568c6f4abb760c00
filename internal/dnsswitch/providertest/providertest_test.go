package providertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

// The suite is tested two ways: a correct in-memory backend passes it, in
// both its weighted and its single-target flavour, and each of a set of
// deliberately broken backends fails the very case meant to catch its bug.

// memRecord is one published answer with its weight.
type memRecord struct {
	typ    string
	values []string
	weight int
}

// memBackend stands for a DNS service: records by name, a write counter and
// an armed fault.
type memBackend struct {
	mu      sync.Mutex
	records map[string][]memRecord
	writes  int
	fault   Failure
}

// bug names a deliberate defect of memProvider.
type bug string

const (
	bugNone         bug = ""
	bugEmptyIsError bug = "empty-is-error" // Read of a missing record fails
	bugTopOnly      bug = "top-only"       // claims weights but publishes only the top target
	bugAlwaysWrite  bug = "always-write"   // writes even when nothing changes
	bugSingleWeight bug = "single-weights" // single-target but publishes weights
	bugNoValidate   bug = "no-validate"    // publishes invalid routings
	bugMisclassify  bug = "misclassify"    // retryable faults lose their class
	bugWriteOnFail  bug = "write-on-fail"  // a failed write still changes the records
	bugNoForeign    bug = "no-foreign"     // ignores records that match no target
	bugIgnoreCtx    bug = "ignore-ctx"     // does not look at the context
	bugDropLast     bug = "drop-last"      // never publishes the last target
)

type memProvider struct {
	b        *memBackend
	weighted bool
	bug      bug
}

var _ dnsswitch.Provider = (*memProvider)(nil)

func (p *memProvider) Name() string { return "mem" }

func (p *memProvider) Capabilities() dnsswitch.Capabilities {
	return dnsswitch.Capabilities{Weighted: p.weighted}
}

func (p *memProvider) Read(ctx context.Context, svc dnsswitch.Service) (dnsswitch.Routing, error) {
	if err := ctx.Err(); err != nil && p.bug != bugIgnoreCtx {
		return nil, err
	}
	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	return p.readLocked(svc)
}

func (p *memProvider) readLocked(svc dnsswitch.Service) (dnsswitch.Routing, error) {
	recs, ok := p.b.records[svc.Record]
	if !ok && p.bug == bugEmptyIsError {
		return nil, errors.New("mem: no such record")
	}
	out := dnsswitch.Routing{}
next:
	for _, rec := range recs {
		for _, a := range svc.Answers {
			if a.Type == rec.typ && slices.Equal(a.Values, rec.values) {
				out[a.Target] += rec.weight
				continue next
			}
		}
		if p.bug != bugNoForeign {
			return nil, fmt.Errorf("mem: %s %s %v: %w", svc.Record, rec.typ, rec.values, dnsswitch.ErrForeign)
		}
	}
	return out, nil
}

func (p *memProvider) Apply(ctx context.Context, svc dnsswitch.Service, desired dnsswitch.Routing, _ dnsswitch.ApplyOptions) error {
	if err := ctx.Err(); err != nil && p.bug != bugIgnoreCtx {
		return err
	}
	if p.bug != bugNoValidate {
		if err := dnsswitch.CheckRouting(svc, desired); err != nil {
			return fmt.Errorf("mem: %w", err)
		}
	}
	publish := dnsswitch.Effective(p.Capabilities(), svc, desired)
	switch p.bug {
	case bugTopOnly:
		publish = dnsswitch.Effective(dnsswitch.Capabilities{}, svc, desired)
	case bugSingleWeight:
		publish = dnsswitch.Effective(dnsswitch.Capabilities{Weighted: true}, svc, desired)
	case bugDropLast:
		delete(publish, svc.Answers[len(svc.Answers)-1].Target)
	}

	p.b.mu.Lock()
	defer p.b.mu.Unlock()
	actual, err := p.readLocked(svc)
	if err != nil {
		return err
	}
	if actual.Equal(publish) && p.bug != bugAlwaysWrite {
		return nil
	}
	var recs []memRecord
	for _, a := range svc.Answers {
		if w := publish[a.Target]; w > 0 {
			recs = append(recs, memRecord{typ: a.Type, values: a.Values, weight: w})
		}
	}
	p.b.writes++
	switch fault := p.b.fault; fault {
	case FailRetryable, FailHard:
		p.b.fault = 0
		if p.bug == bugWriteOnFail {
			p.b.records[svc.Record] = recs
		}
		if fault == FailRetryable && p.bug != bugMisclassify {
			return fmt.Errorf("mem: throttled: %w", dnsswitch.ErrRetryable)
		}
		return errors.New("mem: change refused")
	}
	p.b.records[svc.Record] = recs
	got, err := p.readLocked(svc)
	if err != nil {
		return fmt.Errorf("mem: read back: %w", err)
	}
	if !got.Equal(publish) {
		return fmt.Errorf("mem: read back {%v}, want {%v}: %w", got, publish, dnsswitch.ErrVerify)
	}
	return nil
}

func testService() dnsswitch.Service {
	return dnsswitch.Service{
		Name:   "www",
		Record: "www.example.test.",
		TTL:    60,
		Answers: []dnsswitch.Answer{
			{Target: "primary", Type: "A", Values: []string{"192.0.2.1"}},
			{Target: "backup", Type: "A", Values: []string{"192.0.2.2", "192.0.2.3"}},
			{Target: "origin", Type: "CNAME", Values: []string{"origin.example.test."}},
		},
	}
}

func memHarness(weighted bool, b bug) Harness {
	var cur *memBackend
	return Harness{
		New: func(t *testing.T) (dnsswitch.Provider, dnsswitch.Service) {
			cur = &memBackend{records: map[string][]memRecord{}}
			return &memProvider{b: cur, weighted: weighted, bug: b}, testService()
		},
		Inject: func(t *testing.T, kind Failure) bool {
			cur.mu.Lock()
			defer cur.mu.Unlock()
			cur.fault = kind
			return true
		},
		Writes: func() int {
			cur.mu.Lock()
			defer cur.mu.Unlock()
			return cur.writes
		},
		PutForeign: func(t *testing.T, svc dnsswitch.Service) {
			cur.mu.Lock()
			defer cur.mu.Unlock()
			cur.records[svc.Record] = append(cur.records[svc.Record],
				memRecord{typ: "A", values: []string{"198.51.100.7"}, weight: 100})
		},
	}
}

func TestRunWeighted(t *testing.T) { Run(t, memHarness(true, bugNone)) }

func TestRunSingleTarget(t *testing.T) { Run(t, memHarness(false, bugNone)) }

// TestRunMinimalHarness checks that the optional hooks may be left out.
func TestRunMinimalHarness(t *testing.T) {
	h := memHarness(true, bugNone)
	h.Inject, h.Writes, h.PutForeign = nil, nil, nil
	Run(t, h)
}

const bugEnv = "PROVIDERTEST_BUG"

// TestHelperBuggy runs the suite against a broken backend. It only runs as
// the child process of TestSuiteCatchesBugs, which expects it to fail.
func TestHelperBuggy(t *testing.T) {
	spec, ok := os.LookupEnv(bugEnv)
	if !ok {
		t.Skip("run by TestSuiteCatchesBugs")
	}
	kind, b, _ := strings.Cut(spec, ":")
	Run(t, memHarness(kind == "weighted", bug(b)))
}

func TestSuiteCatchesBugs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process per bug")
	}
	tests := []struct {
		bug      bug
		weighted bool
		failing  string // the subtest that must fail
	}{
		{bugEmptyIsError, true, "ReadEmpty"},
		{bugTopOnly, true, "ApplyReadBack"},
		{bugDropLast, true, "Sequence"},
		{bugAlwaysWrite, true, "Idempotent"},
		{bugSingleWeight, false, "Weights"},
		{bugNoValidate, true, "Invalid"},
		{bugMisclassify, true, "Failures/retryable"},
		{bugWriteOnFail, true, "Failures/hard"},
		{bugNoForeign, true, "Foreign"},
		{bugIgnoreCtx, true, "Cancelled"},
	}
	for _, tt := range tests {
		t.Run(string(tt.bug), func(t *testing.T) {
			t.Parallel()
			kind := "single"
			if tt.weighted {
				kind = "weighted"
			}
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperBuggy$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), bugEnv+"="+kind+":"+string(tt.bug))
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the suite passed (or did not run: %v) against a backend with bug %q:\n%s", err, tt.bug, out)
			}
			if want := "--- FAIL: TestHelperBuggy/" + tt.failing; !strings.Contains(string(out), want) {
				t.Fatalf("output lacks %q:\n%s", want, out)
			}
		})
	}
}
