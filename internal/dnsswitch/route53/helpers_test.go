package route53

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"go.uber.org/goleak"

	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/route53/r53fake"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const zoneID = "Z1"

// env is a provider driven by the real SDK against a fake Route 53.
type env struct {
	fake *r53fake.Server
	p    *Provider
}

// newEnv starts a fake with zone Z1 (example.com.) and a provider on it,
// with no waits between retries and no rate limit; mod adjusts the
// provider's options.
func newEnv(t *testing.T, fo r53fake.Options, mod func(*Options)) *env {
	t.Helper()
	fake := r53fake.New(fo)
	t.Cleanup(fake.Close)
	fake.AddZone(zoneID, "example.com.")
	return &env{fake: fake, p: newProvider(t, fake, mod)}
}

func newProvider(t *testing.T, fake *r53fake.Server, mod func(*Options)) *Provider {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		HTTPClient:  &http.Client{Transport: tr},
	}
	o := Options{
		Name:         "r53",
		HostedZoneID: "/hostedzone/" + zoneID,
		Endpoint:     fake.URL(),
		AWSConfig:    &cfg,
		Limiter:      &countingLimiter{},
		Backoff:      func(int) time.Duration { return 0 },
		PollInterval: time.Nanosecond,
		Logger:       slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&o)
	}
	p, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// countingLimiter lets every call through and counts them.
type countingLimiter struct {
	mu sync.Mutex
	n  int
}

func (l *countingLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	return ctx.Err()
}

func (l *countingLimiter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// cnameService has three CDN targets published as CNAMEs.
func cnameService() dnsswitch.Service {
	return dnsswitch.Service{Name: "www", Record: "www.example.com.", TTL: 60, Answers: []dnsswitch.Answer{
		{Target: "primary", Type: "CNAME", Values: []string{"www.example.com.cdn.cloudflare.net."}},
		{Target: "backup", Type: "CNAME", Values: []string{"www.example.com.global.prod.fastly.net."}},
		{Target: "origin", Type: "CNAME", Values: []string{"origin-lb.example.com."}},
	}}
}

// aService has the same targets published as addresses.
func aService() dnsswitch.Service {
	return dnsswitch.Service{Name: "www", Record: "www.example.com.", TTL: 60, Answers: []dnsswitch.Answer{
		{Target: "primary", Type: "A", Values: []string{"192.0.2.1", "192.0.2.2"}},
		{Target: "backup", Type: "A", Values: []string{"198.51.100.1"}},
		{Target: "origin", Type: "A", Values: []string{"203.0.113.1"}},
	}}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func (e *env) mustApply(t *testing.T, svc dnsswitch.Service, r dnsswitch.Routing) {
	t.Helper()
	if err := e.p.Apply(ctx(t), svc, r, dnsswitch.ApplyOptions{Generation: 1}); err != nil {
		t.Fatalf("Apply(%v): %v", r, err)
	}
}

func (e *env) mustRead(t *testing.T, svc dnsswitch.Service, want dnsswitch.Routing) {
	t.Helper()
	got, err := e.p.Read(ctx(t), svc)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if !got.Equal(want) {
		t.Fatalf("Read = {%v}, want {%v}", got, want)
	}
}

// summary renders the fake's sets under www.example.com. as
// "TYPE id weight ttl values" lines.
func (e *env) summary(name string) []string {
	var out []string
	for _, s := range e.fake.RRSets(zoneID) {
		if s.Name != name {
			continue
		}
		w := "-"
		if s.Weight != nil {
			w = fmt.Sprint(*s.Weight)
		}
		out = append(out, fmt.Sprintf("%s %s %s %d %v", s.Type, s.SetIdentifier, w, s.TTL, s.Values))
	}
	return out
}

func weight(w int64) *int64 { return &w }
