package cloudflare

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/cloudflare/cffake"
)

const (
	testToken   = "cf-test-token-9f3b2c7d5e1a"
	testZone    = "023e105f4ecef8ad9ca31a8372d0c353"
	testAccount = "01a7362d577a6c3019a474fd6f485823"
	testPool    = "17b5962d775c646f3f9725cbc7a53df4"
)

// newFake starts a fake with the test zone (example.com) and nothing in it.
func newFake(t *testing.T) *cffake.Server {
	t.Helper()
	s := cffake.New(t, testToken)
	s.AddZone(testZone, "example.com")
	return s
}

// fixture is a provider on a fake, with its clocks and its log.
type fixture struct {
	fake   *cffake.Server
	p      *Provider
	clock  *fakeClock // retry waits
	budget *Budget
	logs   *syncBuffer
}

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

// newFixture makes a provider in mode on fake; edit adjusts the options.
func newFixture(t *testing.T, fake *cffake.Server, mode Mode, edit func(*Options)) *fixture {
	t.Helper()
	f := &fixture{fake: fake, clock: newFakeClock(), logs: &syncBuffer{}}
	var err error
	// The budget has a clock of its own, so that the provider's clock
	// records only the waits between retries.
	f.budget, err = NewBudget(DefaultBudgetRequests, DefaultBudgetPer, DefaultBudgetBurst, newFakeClock())
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Name:      "cf",
		Mode:      mode,
		ZoneID:    testZone,
		AccountID: testAccount,
		PoolID:    testPool,
		APIToken:  testToken,
		BaseURL:   fake.BaseURL(),
		Timeout:   5 * time.Second,
		Logger:    slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Budget:    f.budget,
		Clock:     f.clock,
	}
	if edit != nil {
		edit(&opts)
	}
	f.p, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.p.Close() })
	return f
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func (f *fixture) apply(t *testing.T, svc dnsswitch.Service, r dnsswitch.Routing) error {
	t.Helper()
	return f.p.Apply(ctx(t), svc, r, dnsswitch.ApplyOptions{Generation: 1})
}

func (f *fixture) mustApply(t *testing.T, svc dnsswitch.Service, r dnsswitch.Routing) {
	t.Helper()
	if err := f.apply(t, svc, r); err != nil {
		t.Fatalf("Apply(%v): %v", r, err)
	}
}

func (f *fixture) mustRead(t *testing.T, svc dnsswitch.Service) dnsswitch.Routing {
	t.Helper()
	r, err := f.p.Read(ctx(t), svc)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return r
}

func boolPtr(v bool) *bool { return &v }

// webService has a primary on two A records, a backup behind a CNAME and an
// origin on IPv6.
func webService() dnsswitch.Service {
	return dnsswitch.Service{
		Name:   "www",
		Record: "www.example.com.",
		TTL:    60,
		Answers: []dnsswitch.Answer{
			{Target: "primary", Type: "A", Values: []string{"192.0.2.1", "192.0.2.2"}},
			{Target: "backup", Type: "CNAME", Values: []string{"www.example.com.cdn.example.net."}},
			{Target: "origin", Type: "AAAA", Values: []string{"2001:db8::7"}},
		},
	}
}
