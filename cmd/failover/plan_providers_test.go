package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/failoverhq/failover/internal/config"
	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/cloudflare/cffake"
	"github.com/failoverhq/failover/internal/dnsswitch/providers"
	"github.com/failoverhq/failover/internal/dnsswitch/rfc2136/dnstest"
	"github.com/failoverhq/failover/internal/store"
)

// rewriteConfig copies an example config into a temp dir with each old
// text (given in pairs: old, new) replaced once, and returns its path. An
// old text the example lacks fails the test, so that an edit of the example
// cannot quietly leave the copy pointing at production.
func rewriteConfig(t *testing.T, example string, pairs ...string) string {
	t.Helper()
	if len(pairs)%2 != 0 {
		t.Fatal("rewriteConfig: pairs must be old, new, ...")
	}
	b, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("%s lacks %q", example, pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	path := filepath.Join(t.TempDir(), filepath.Base(example))
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeSecret writes a secret file in a temp dir and returns its path.
func writeSecret(t *testing.T, name, value string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// buildProviders loads path and builds every provider it names, as the
// controller would, keyed by name.
func buildProviders(t *testing.T, path string, o providers.Options) (*config.Config, map[string]dnsswitch.Provider) {
	t.Helper()
	cfg, _, err := config.Load(path, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]dnsswitch.Provider{}
	for _, p := range cfg.DNS.Providers {
		prov, err := providers.Build(context.Background(), p, o)
		if err != nil {
			t.Fatal(err)
		}
		out[p.Name] = prov
	}
	return cfg, out
}

// serviceNamed returns the dnsswitch.Service of the named service of cfg.
func serviceNamed(t *testing.T, cfg *config.Config, name string) dnsswitch.Service {
	t.Helper()
	for _, s := range cfg.Services {
		if s.Name == name {
			return providers.Service(s)
		}
	}
	t.Fatalf("no service %q", name)
	return dnsswitch.Service{}
}

func mustApply(t *testing.T, p dnsswitch.Provider, svc dnsswitch.Service, r dnsswitch.Routing) {
	t.Helper()
	if err := p.Apply(context.Background(), svc, r, dnsswitch.ApplyOptions{Generation: 1}); err != nil {
		t.Fatalf("apply %s {%v}: %v", svc.Name, r, err)
	}
}

// wantLines fails the test for every line of want that out lacks.
func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("plan output lacks %q:\n%s", w, out)
		}
	}
}

// The Cloudflare IDs of config/cloudflare.yaml.
const (
	cfAccount = "0123456789abcdef0123456789abcdef"
	cfPool    = "17b5962d775c646f3f9725cbc7a53df4"
	cfZone    = "023e105f4ecef8ad9ca31a8372d0c353"
	cfToken   = "cf-plan-token-7d41e09b2a"
)

const (
	shopHeader   = "shop shop.example.com. (provider lb, cloudflare load_balancer)"
	staticHeader = "static static.example.com. (provider records, cloudflare dns_record)"
)

// cloudflareConfig copies config/cloudflare.yaml with both providers'
// endpoint on fake and token as their API token: CF_API_TOKEN for lb, a
// temp file for records. The records endpoint has no final slash, as
// operators tend to write it.
func cloudflareConfig(t *testing.T, fake *cffake.Server, token string) string {
	t.Helper()
	t.Setenv("CF_API_TOKEN", token)
	tokenFile := writeSecret(t, "cloudflare-token", token)
	return rewriteConfig(t, "../../config/cloudflare.yaml",
		"      api_token_env: CF_API_TOKEN\n",
		"      api_token_env: CF_API_TOKEN\n      endpoint: "+fake.BaseURL()+"\n",
		"      api_token_file: /run/secrets/cloudflare-token\n",
		"      api_token_file: "+tokenFile+"\n      endpoint: "+strings.TrimSuffix(fake.BaseURL(), "/")+"\n",
	)
}

// shopPool is the pool of the shop service, every origin disabled:
// nothing is published.
func shopPool() cffake.Pool {
	return cffake.Pool{
		ID: cfPool, Name: "shop", Enabled: true,
		Origins: []cffake.Origin{
			{Name: "fastly", Address: "shop.example.com.global.prod.fastly.net", Weight: 1},
			{Name: "akamai", Address: "shop.example.com.edgekey.net", Weight: 1},
			{Name: "origin", Address: "203.0.113.10", Weight: 1},
		},
	}
}

func newCloudflareFake(t *testing.T) *cffake.Server {
	t.Helper()
	fake := cffake.New(t, cfToken)
	fake.AddZone(cfZone, "example.com")
	fake.AddPool(cfAccount, shopPool())
	return fake
}

// TestPlanCloudflare runs `failover plan` on config/cloudflare.yaml against
// the wire-level Cloudflare fake, through the real SDK: the load_balancer
// service (shop) and the dns_record service (static).
func TestPlanCloudflare(t *testing.T) {
	fake := newCloudflareFake(t)
	path := cloudflareConfig(t, fake, cfToken)

	// Nothing is published: the pool's origins are all disabled and there
	// is no record.
	code, out, errs := run(t, "plan", "--config", path)
	if code != 2 {
		t.Fatalf("nothing published: exit %d, want 2\n%s%s", code, out, errs)
	}
	wantLines(t, out,
		shopHeader+"\n  actual:  (no records)\n  desired: fastly=100 akamai=0 origin=0\n  ~ fastly: 0 -> 100\n",
		staticHeader+"\n  actual:  (no records)\n  desired: akamai=100 fastly=0\n  ~ akamai: 0 -> 100\n",
	)
	if fake.Writes() != 0 {
		t.Fatalf("plan wrote %d times to Cloudflare", fake.Writes())
	}

	// The steady state, published through the providers: nothing to do,
	// and plan writes nothing.
	cfg, provs := buildProviders(t, path, providers.Options{})
	shop, static := serviceNamed(t, cfg, "shop"), serviceNamed(t, cfg, "static")
	mustApply(t, provs["lb"], shop, dnsswitch.Routing{"fastly": 100})
	mustApply(t, provs["records"], static, dnsswitch.Routing{"akamai": 100})
	writes := fake.Writes()
	code, out, errs = run(t, "plan", "--config", path)
	if code != 0 || strings.Count(out, "  no change\n") != 2 {
		t.Fatalf("steady state: exit %d, want 0 and two unchanged services\n%s%s", code, out, errs)
	}
	wantLines(t, out,
		shopHeader+"\n  actual:  fastly=100 akamai=0 origin=0\n  desired: fastly=100 akamai=0 origin=0\n  no change\n",
		staticHeader+"\n  actual:  akamai=100 fastly=0\n  desired: akamai=100 fastly=0\n  no change\n",
	)
	if fake.Writes() != writes {
		t.Fatalf("plan wrote %d times to Cloudflare", fake.Writes()-writes)
	}
	if strings.Contains(out, "note:") {
		t.Errorf("a plan to the primary alone needs no single-target note:\n%s", out)
	}

	// Failed over to the backup: the pool mid-ramp, the records on the
	// backup (a ramp given to dns_record publishes its top target).
	mustApply(t, provs["lb"], shop, dnsswitch.Routing{"fastly": 25, "akamai": 75})
	mustApply(t, provs["records"], static, dnsswitch.Routing{"akamai": 25, "fastly": 75})
	if recs := fake.Records(cfZone); len(recs) != 1 || recs[0].Content != "static.example.com.global.prod.fastly.net" {
		t.Fatalf("records after a ramp to fastly: %+v", recs)
	}
	writes = fake.Writes()
	code, out, errs = run(t, "plan", "--config", path)
	if code != 2 {
		t.Fatalf("failed over: exit %d, want 2\n%s%s", code, out, errs)
	}
	wantLines(t, out,
		shopHeader+"\n  actual:  fastly=25 akamai=75 origin=0\n  desired: fastly=100 akamai=0 origin=0\n"+
			"  ~ fastly: 25 -> 100\n  ~ akamai: 75 -> 0\n",
		staticHeader+"\n  actual:  akamai=0 fastly=100\n  desired: akamai=100 fastly=0\n"+
			"  ~ akamai: 0 -> 100\n  ~ fastly: 100 -> 0\n",
	)
	if fake.Writes() != writes {
		t.Fatalf("plan wrote %d times to Cloudflare", fake.Writes()-writes)
	}

	// The pool all on the origin, the way a double CDN failure leaves it.
	mustApply(t, provs["lb"], shop, dnsswitch.Routing{"origin": 100})
	code, out, _ = run(t, "plan", "--config", path)
	if code != 2 {
		t.Fatalf("on the origin: exit %d, want 2\n%s", code, out)
	}
	wantLines(t, out, shopHeader+"\n  actual:  fastly=0 akamai=0 origin=100\n  desired: fastly=100 akamai=0 origin=0\n"+
		"  ~ fastly: 0 -> 100\n  ~ origin: 100 -> 0\n")
}

// TestPlanCloudflareNote: the dns_record service publishes one target, so
// its plan shows what it can publish. `failover plan` always asks for the
// primary alone, which a single-target provider can publish as it is, so no
// note is due; the note is the one ComputePlan gives a ramp.
func TestPlanCloudflareNote(t *testing.T) {
	fake := newCloudflareFake(t)
	path := cloudflareConfig(t, fake, cfToken)
	_, out, _ := run(t, "plan", "--config", path)
	if strings.Contains(out, "note:") {
		t.Errorf("plan to the primary alone printed a note:\n%s", out)
	}
	cfg, provs := buildProviders(t, path, providers.Options{})
	static := serviceNamed(t, cfg, "static")
	p := dnsswitch.ComputePlan("records", provs["records"].Capabilities(), static,
		dnsswitch.Routing{}, dnsswitch.Routing{"akamai": 25, "fastly": 75})
	var b strings.Builder
	writePlan(&b, static, p)
	wantLines(t, b.String(),
		"  desired: akamai=0 fastly=100\n",
		"  note: records publishes a single target: fastly gets all the weight (asked for akamai=25 fastly=75)\n",
		"  ~ fastly: 0 -> 100\n",
	)
}

// TestPlanCloudflareForeign: an origin or a record that stands for no
// target is an error, exit 1, for that service alone.
func TestPlanCloudflareForeign(t *testing.T) {
	fake := newCloudflareFake(t)
	pool := shopPool()
	pool.Origins = append(pool.Origins, cffake.Origin{Name: "intruder", Address: "evil.example.net", Enabled: true, Weight: 1})
	fake.AddPool(cfAccount, pool)
	if _, err := fake.AddRecord(cfZone, cffake.Record{Name: "static.example.com", Type: "CNAME", Content: "evil.example.net", TTL: 60}); err != nil {
		t.Fatal(err)
	}
	path := cloudflareConfig(t, fake, cfToken)
	code, out, errs := run(t, "plan", "--config", path)
	if code != 1 {
		t.Fatalf("foreign records: exit %d, want 1\n%s%s", code, out, errs)
	}
	wantLines(t, out,
		shopHeader+"\n  error: ",
		`origin "intruder" (evil.example.net) of pool `+cfPool+" stands for no target",
		staticHeader+"\n  error: ",
		"static.example.com CNAME evil.example.net is no target's value",
	)
	wantLines(t, errs, "plan: 2 of 2 services could not be planned")
	if fake.Writes() != 0 {
		t.Fatalf("plan wrote %d times to Cloudflare", fake.Writes())
	}

	// With the pool clean again, the records' error does not hide shop's
	// plan, and the exit status is still 1.
	fake.AddPool(cfAccount, shopPool())
	code, out, errs = run(t, "plan", "--config", path)
	if code != 1 {
		t.Fatalf("one foreign service: exit %d, want 1\n%s%s", code, out, errs)
	}
	wantLines(t, out, shopHeader+"\n  actual:  (no records)\n  desired: fastly=100 akamai=0 origin=0\n  ~ fastly: 0 -> 100\n")
	wantLines(t, errs, "plan: 1 of 2 services could not be planned")
}

// TestPlanCloudflareToken: a rejected token is exit 1 with Cloudflare's
// reason, and no token text, right or wrong, is printed; a missing one
// names where it was looked for.
func TestPlanCloudflareToken(t *testing.T) {
	fake := newCloudflareFake(t)
	const wrong = "cf-wrong-token-0c9e6f3a51"
	path := cloudflareConfig(t, fake, wrong)
	code, out, errs := run(t, "plan", "--config", path)
	if code != 1 {
		t.Fatalf("wrong token: exit %d, want 1\n%s%s", code, out, errs)
	}
	if n := strings.Count(out, "HTTP 401: code 10000: Authentication error"); n != 2 {
		t.Errorf("wrong token: %d services say the token was rejected, want 2:\n%s", n, out)
	}
	wantLines(t, out, shopHeader+"\n  error: ", staticHeader+"\n  error: ")
	for _, secret := range []string{wrong, cfToken} {
		if strings.Contains(out+errs, secret) {
			t.Errorf("the output holds a token %q:\n%s%s", secret, out, errs)
		}
	}
	if fake.Writes() != 0 {
		t.Fatalf("plan wrote %d times to Cloudflare", fake.Writes())
	}

	// No token at all: Build says where it looked.
	t.Setenv("CF_API_TOKEN", "")
	code, out, errs = run(t, "plan", "--config", path)
	if code != 1 {
		t.Fatalf("no token: exit %d, want 1\n%s%s", code, out, errs)
	}
	wantLines(t, out, shopHeader+"\n  error: provider lb: api token: secret: environment variable CF_API_TOKEN is not set\n")
}

// TestPlanBIND runs `failover plan` on config/bind.yaml against a real BIND
// 9, with the TSIG key of the example config.
func TestPlanBIND(t *testing.T) {
	key := dnstest.NewKey(t, "failover-key.")
	srv := dnstest.StartBIND(t, dnstest.Config{ // skips, or fails with CI=true, when named is missing
		Keys:  []dnstest.Key{key},
		Zones: []dnstest.Zone{{Name: "example.com.", Grants: []dnstest.Grant{{Key: key.Name}}}},
	})
	bindConfig := func(secret string) string {
		return rewriteConfig(t, "../../config/bind.yaml",
			"server: 192.0.2.53:53", "server: "+srv.Addr,
			"secret_file: /etc/failover/tsig.key", "secret_file: "+writeSecret(t, "tsig.key", secret),
		)
	}
	path := bindConfig(key.Secret)
	const header = "portal portal.example.com. (provider bind, rfc2136)"

	// An empty zone.
	serial := srv.Serial(t, "example.com.")
	code, out, errs := run(t, "plan", "--config", path)
	if code != 2 {
		t.Fatalf("empty zone: exit %d, want 2\n%s%s", code, out, errs)
	}
	wantLines(t, out, header+"\n  actual:  (no records)\n  desired: cdn-a=100 cdn-b=0 origin=0\n  ~ cdn-a: 0 -> 100\n")
	if s := srv.Serial(t, "example.com."); s != serial {
		t.Fatalf("plan changed the zone: serial %d -> %d", serial, s)
	}

	// The primary, published through the provider.
	cfg, provs := buildProviders(t, path, providers.Options{})
	portal := serviceNamed(t, cfg, "portal")
	mustApply(t, provs["bind"], portal, dnsswitch.Routing{"cdn-a": 100})
	serial = srv.Serial(t, "example.com.")
	code, out, errs = run(t, "plan", "--config", path)
	if code != 0 {
		t.Fatalf("steady state: exit %d, want 0\n%s%s", code, out, errs)
	}
	wantLines(t, out, header+"\n  actual:  cdn-a=100 cdn-b=0 origin=0\n  desired: cdn-a=100 cdn-b=0 origin=0\n  no change\n")
	if strings.Contains(out, "note:") {
		t.Errorf("a plan to the primary alone needs no single-target note:\n%s", out)
	}
	if s := srv.Serial(t, "example.com."); s != serial {
		t.Fatalf("plan changed the zone: serial %d -> %d", serial, s)
	}

	// Failed over: a ramp given to rfc2136 publishes its top target, the
	// backup.
	mustApply(t, provs["bind"], portal, dnsswitch.Routing{"cdn-a": 25, "cdn-b": 75})
	code, out, errs = run(t, "plan", "--config", path)
	if code != 2 {
		t.Fatalf("failed over: exit %d, want 2\n%s%s", code, out, errs)
	}
	wantLines(t, out, header+"\n  actual:  cdn-a=0 cdn-b=100 origin=0\n  desired: cdn-a=100 cdn-b=0 origin=0\n"+
		"  ~ cdn-a: 0 -> 100\n  ~ cdn-b: 100 -> 0\n")

	// A wrong TSIG secret: exit 1, with the server's reason and no secret.
	wrong := dnstest.NewKey(t, key.Name).Secret
	code, out, errs = run(t, "plan", "--config", bindConfig(wrong))
	if code != 1 {
		t.Fatalf("wrong secret: exit %d, want 1\n%s%s", code, out, errs)
	}
	wantLines(t, out, header+"\n  error: ", `TSIG key "failover-key."`, "BADSIG", "check the")
	wantLines(t, errs, "plan: 1 of 1 services could not be planned")
	for _, secret := range []string{wrong, key.Secret} {
		if strings.Contains(out+errs, secret) {
			t.Errorf("the output holds a TSIG secret:\n%s%s", out, errs)
		}
	}

	// A record that is no target's answer, added behind the provider's
	// back: exit 1.
	dnstest.Update(t, srv.Addr, key, "example.com.", &dns.A{
		Hdr: dns.RR_Header{Name: "portal.example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30},
		A:   []byte{192, 0, 2, 99},
	})
	code, out, errs = run(t, "plan", "--config", path)
	if code != 1 {
		t.Fatalf("foreign record: exit %d, want 1\n%s%s", code, out, errs)
	}
	wantLines(t, out, header+"\n  error: ", "no target's answer")
}

// TestPlanLab runs `failover plan` on config/lab.yaml: the builtin
// provider's state file in the data dir is what it reads.
func TestPlanLab(t *testing.T) {
	dataDir := t.TempDir()
	path := rewriteConfig(t, "../../config/lab.yaml", "  data_dir: ./data/lab\n", "  data_dir: "+dataDir+"\n")
	const header = "www www.lab.test. (provider edge, builtin)"

	code, out, errs := run(t, "plan", "--config", path)
	if code != 2 {
		t.Fatalf("nothing published: exit %d, want 2\n%s%s", code, out, errs)
	}
	wantLines(t, out, header+"\n  actual:  (no records)\n  desired: primary=100 backup=0 origin=0\n  ~ primary: 0 -> 100\n")
	if _, err := os.Stat(providers.BuiltinStateFile(dataDir, "edge")); !os.IsNotExist(err) {
		t.Fatalf("plan wrote the state file: %v", err)
	}

	cfg, provs := buildProviders(t, path, providers.Options{DataDir: dataDir})
	www := serviceNamed(t, cfg, "www")
	mustApply(t, provs["edge"], www, dnsswitch.Routing{"primary": 100})
	code, out, errs = run(t, "plan", "--config", path)
	if code != 0 {
		t.Fatalf("steady state: exit %d, want 0\n%s%s", code, out, errs)
	}
	wantLines(t, out, header+"\n  actual:  primary=100 backup=0 origin=0\n  desired: primary=100 backup=0 origin=0\n  no change\n")

	// Mid-failback: the builtin server carries weights.
	mustApply(t, provs["edge"], www, dnsswitch.Routing{"primary": 25, "backup": 75})
	code, out, errs = run(t, "plan", "--config", path)
	if code != 2 {
		t.Fatalf("failed over: exit %d, want 2\n%s%s", code, out, errs)
	}
	wantLines(t, out, header+"\n  actual:  primary=25 backup=75 origin=0\n  desired: primary=100 backup=0 origin=0\n"+
		"  ~ primary: 25 -> 100\n  ~ backup: 75 -> 0\n")
}

// plan compares with the controller's stored decision when there is one, and
// falls back to the steady state, saying so, when a running controller holds
// the store.
func TestPlanStoredDesired(t *testing.T) {
	dataDir := t.TempDir()
	path := rewriteConfig(t, "../../config/lab.yaml", "  data_dir: ./data/lab\n", "  data_dir: "+dataDir+"\n")
	cfg, provs := buildProviders(t, path, providers.Options{DataDir: dataDir})
	www := serviceNamed(t, cfg, "www")
	mustApply(t, provs["edge"], www, dnsswitch.Routing{"backup": 100})

	st, err := store.Open(dataDir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveState("www", []byte(`{"state":"failed_over","routing":{"primary":0,"backup":100,"origin":0}}`)); err != nil {
		t.Fatal(err)
	}
	// While the store is held (a running controller), plan does not wait
	// for it and compares with the steady state.
	code, out, errs := run(t, "plan", "--config", path)
	if code != 2 || !strings.Contains(out, "a running controller holds the store") || !strings.Contains(out, "~ backup: 100 -> 0") {
		t.Fatalf("locked store: exit %d\n%s%s", code, out, errs)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// The stored decision is failed over to the backup, as published.
	code, out, errs = run(t, "plan", "--config", path)
	if code != 0 || !strings.Contains(out, "desired routing: the controller's stored decisions in "+dataDir) ||
		!strings.Contains(out, "  desired: primary=0 backup=100 origin=0\n  no change\n") {
		t.Fatalf("stored decision: exit %d, want 0\n%s%s", code, out, errs)
	}
}
