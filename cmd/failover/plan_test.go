package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/providers"
	"github.com/failoverhq/failover/internal/dnsswitch/route53/r53fake"
)

// withEndpoint copies an example config into a temp dir with the given
// provider line's endpoint pointed at url.
func withEndpoint(t *testing.T, example, providerLine, url string) string {
	t.Helper()
	b, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.Contains(s, providerLine) {
		t.Fatalf("%s lacks %q", example, providerLine)
	}
	s = strings.Replace(s, providerLine, providerLine+", endpoint: "+url, 1)
	path := filepath.Join(t.TempDir(), filepath.Base(example))
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPlanRoute53 runs `failover plan` on config/route53.yaml against the
// wire-level Route 53 fake, through the real SDK.
func TestPlanRoute53(t *testing.T) {
	fake := r53fake.New(r53fake.Options{PageSize: 2})
	defer fake.Close()
	fake.AddZone("Z0123456789ABCDEFGHIJ", "example.com.")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	path := withEndpoint(t, "../../config/route53.yaml", "hosted_zone_id: Z0123456789ABCDEFGHIJ", fake.URL())

	// Nothing is published yet: both services would change.
	code, out, errs := run(t, "plan", "--config", path)
	if code != 2 {
		t.Fatalf("empty zone: exit %d, want 2\n%s%s", code, out, errs)
	}
	for _, want := range []string{
		"www www.example.com. (provider r53, route53)",
		"  actual:  (no records)",
		"  desired: cloudflare=100 fastly=0 origin=0",
		"  ~ cloudflare: 0 -> 100",
		"api api.example.com. (provider r53, route53)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}

	// Publish the steady state through the provider: nothing to change.
	cfg, _, err := config.Load(path, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := providers.Build(context.Background(), cfg.DNS.Providers[0], providers.Options{})
	if err != nil {
		t.Fatal(err)
	}
	www, api := providers.Service(cfg.Services[0]), providers.Service(cfg.Services[1])
	ctx := context.Background()
	if err := prov.Apply(ctx, www, dnsswitch.Routing{"cloudflare": 100}, dnsswitch.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := prov.Apply(ctx, api, dnsswitch.Routing{"cloudflare": 100}, dnsswitch.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	changes := fake.Calls(r53fake.OpChange)
	code, out, errs = run(t, "plan", "--config", path)
	if code != 0 || strings.Count(out, "  no change") != 2 {
		t.Fatalf("steady state: exit %d, want 0 and two unchanged services\n%s%s", code, out, errs)
	}
	if fake.Calls(r53fake.OpChange) != changes {
		t.Fatal("plan wrote to Route 53")
	}

	// A failed-over service shows the way back.
	if err := prov.Apply(ctx, www, dnsswitch.Routing{"cloudflare": 25, "fastly": 75}, dnsswitch.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, "plan", "--config", path)
	if code != 2 {
		t.Fatalf("failed over: exit %d, want 2\n%s", code, out)
	}
	for _, want := range []string{
		"  actual:  cloudflare=25 fastly=75 origin=0",
		"  ~ cloudflare: 25 -> 100",
		"  ~ fastly: 75 -> 0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}

	// A record that matches no target is an error, exit 1.
	if err := fake.Put("Z0123456789ABCDEFGHIJ", r53fake.RRSet{
		Name: "api.example.com.", Type: "CNAME", SetIdentifier: "intruder", Weight: ptr(int64(1)),
		TTL: 30, Values: []string{"evil.example.net."},
	}); err != nil {
		t.Fatal(err)
	}
	code, out, errs = run(t, "plan", "--config", path)
	if code != 1 || !strings.Contains(out, "api api.example.com.") || !strings.Contains(out, "  error: ") {
		t.Fatalf("foreign record: exit %d, want 1 with the error\n%s%s", code, out, errs)
	}
}

func ptr[T any](v T) *T { return &v }
