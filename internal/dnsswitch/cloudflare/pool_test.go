package cloudflare

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/cloudflare/cffake"
)

// lbService's targets are the origins of the test pool. The primary's
// origin has a name of its own.
func lbService() dnsswitch.Service {
	return dnsswitch.Service{
		Name:   "www",
		Record: "www.example.com.",
		TTL:    60,
		Answers: []dnsswitch.Answer{
			{Target: "primary", Type: "A", Values: []string{"192.0.2.1"}, Origin: "primary-edge"},
			{Target: "backup", Type: "CNAME", Values: []string{"www.example.com.cdn.example.net."}},
			{Target: "origin", Type: "A", Values: []string{"198.51.100.7"}},
		},
	}
}

// lbPool is a hand-made pool for lbService: every origin at Cloudflare's
// default weight 1, the origin disabled, a Host header on the backup.
func lbPool() cffake.Pool {
	return cffake.Pool{
		ID:             testPool,
		Name:           "www-pool",
		Enabled:        true,
		MinimumOrigins: 1,
		Origins: []cffake.Origin{
			{Name: "primary-edge", Address: "192.0.2.1", Enabled: true, Weight: 1},
			{Name: "backup", Address: "www.example.com.cdn.example.net", Enabled: true, Weight: 1,
				Header: map[string][]string{"Host": {"www.example.com"}}, Port: 8443},
			{Name: "origin", Address: "198.51.100.7", Enabled: false, Weight: 1},
		},
	}
}

func newPoolFixture(t *testing.T, pool cffake.Pool) (*fixture, *cffake.Server) {
	t.Helper()
	fake := newFake(t)
	fake.AddPool(testAccount, pool)
	return newFixture(t, fake, ModeLoadBalancer, nil), fake
}

func storedPool(t *testing.T, fake *cffake.Server) cffake.Pool {
	t.Helper()
	p, ok := fake.Pool(testAccount, testPool)
	if !ok {
		t.Fatal("the pool is gone")
	}
	return p
}

// origins summarises the pool as "name enabled weight".
type originState struct {
	Name    string
	Enabled bool
	Weight  float64
}

func originStates(p cffake.Pool) []originState {
	var out []originState
	for _, o := range p.Origins {
		out = append(out, originState{o.Name, o.Enabled, o.Weight})
	}
	return out
}

func TestPoolReadsSharesOfTraffic(t *testing.T) {
	f, _ := newPoolFixture(t, lbPool())
	// Two enabled origins at weight 1 each share the traffic evenly.
	if got := f.mustRead(t, lbService()); !got.Equal(dnsswitch.Routing{"primary": 50, "backup": 50}) {
		t.Fatalf("Read = %v, want primary=50 backup=50", got)
	}
	if !f.p.Capabilities().Weighted {
		t.Fatal("load_balancer mode must be weighted")
	}
}

func TestPoolAppliesWeightsWithOnePatch(t *testing.T) {
	f, fake := newPoolFixture(t, lbPool())
	svc := lbService()

	f.mustApply(t, svc, dnsswitch.Routing{"primary": 75, "backup": 25})
	// The origin was disabled already: weight 0 as it stands, left alone.
	want := []originState{{"primary-edge", true, 0.75}, {"backup", true, 0.25}, {"origin", false, 1}}
	if diff := cmp.Diff(want, originStates(storedPool(t, fake))); diff != "" {
		t.Fatalf("origins (-want +got):\n%s", diff)
	}
	if got := f.mustRead(t, svc); !got.Equal(dnsswitch.Routing{"primary": 75, "backup": 25}) {
		t.Fatalf("Read = %v, want primary=75 backup=25", got)
	}

	// Weight 0 disables the origin, so no traffic reaches it.
	f.mustApply(t, svc, dnsswitch.Routing{"origin": 100})
	want = []originState{{"primary-edge", false, 0}, {"backup", false, 0}, {"origin", true, 1}}
	if diff := cmp.Diff(want, originStates(storedPool(t, fake))); diff != "" {
		t.Fatalf("origins (-want +got):\n%s", diff)
	}

	f.mustApply(t, svc, dnsswitch.Routing{"primary": 33, "backup": 33, "origin": 34})
	if got := f.mustRead(t, svc); !got.Equal(dnsswitch.Routing{"primary": 33, "backup": 33, "origin": 34}) {
		t.Fatalf("Read = %v, want 33/33/34", got)
	}

	if n := fake.Calls(http.MethodPatch, cffake.RoutePool); n != 3 {
		t.Errorf("PATCHes = %d, want 3", n)
	}
	if n := fake.Calls(http.MethodPut, cffake.RoutePool); n != 0 {
		t.Errorf("PUTs = %d, want 0: a PUT would disable the pool", n)
	}
	if !storedPool(t, fake).Enabled {
		t.Fatal("the pool was disabled")
	}
}

// Apply sends the origins as read: fields it does not manage survive, and
// so do the pool's own settings.
func TestPoolKeepsWhatItDoesNotManage(t *testing.T) {
	f, fake := newPoolFixture(t, lbPool())
	f.mustApply(t, lbService(), dnsswitch.Routing{"backup": 100})
	p := storedPool(t, fake)
	b := p.Origins[1]
	if b.Port != 8443 || !cmp.Equal(b.Header, map[string][]string{"Host": {"www.example.com"}}) || b.Address != "www.example.com.cdn.example.net" {
		t.Fatalf("backup origin = %+v, want its port, Host header and address kept", b)
	}
	if p.Name != "www-pool" || p.MinimumOrigins != 1 || !p.Enabled {
		t.Fatalf("pool = %+v, want name, minimum_origins and enabled kept", p)
	}
}

// A disabled pool stays disabled: Apply never sends the pool's own flag.
func TestPoolEnabledFlagIsNotTouched(t *testing.T) {
	pool := lbPool()
	pool.Enabled = false
	f, fake := newPoolFixture(t, pool)
	f.mustApply(t, lbService(), dnsswitch.Routing{"primary": 100})
	if storedPool(t, fake).Enabled {
		t.Fatal("Apply enabled a disabled pool")
	}
	if n := fake.Calls(http.MethodPut, cffake.RoutePool); n != 0 {
		t.Errorf("PUTs = %d, want 0", n)
	}
}

func TestPoolIdempotent(t *testing.T) {
	f, fake := newPoolFixture(t, lbPool())
	svc := lbService()
	f.mustApply(t, svc, dnsswitch.Routing{"primary": 80, "backup": 20})
	before := fake.Writes()
	f.mustApply(t, svc, dnsswitch.Routing{"primary": 80, "backup": 20, "origin": 0})
	f.mustApply(t, svc, dnsswitch.Routing{"primary": 80, "backup": 20})
	if n := fake.Writes() - before; n != 0 {
		t.Fatalf("re-Applies wrote %d times, want 0", n)
	}
}

func TestPoolForeignOrigins(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*cffake.Pool)
		want string
	}{
		{"unknown origin", func(p *cffake.Pool) {
			p.Origins = append(p.Origins, cffake.Origin{Name: "stranger", Address: "203.0.113.5", Enabled: true, Weight: 1})
		}, `"stranger"`},
		{"another address", func(p *cffake.Pool) { p.Origins[0].Address = "203.0.113.5" }, "203.0.113.5"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pool := lbPool()
			c.edit(&pool)
			f, fake := newPoolFixture(t, pool)
			_, err := f.p.Read(ctx(t), lbService())
			if !errors.Is(err, dnsswitch.ErrForeign) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Read = %v, want ErrForeign naming %s", err, c.want)
			}
			err = f.apply(t, lbService(), dnsswitch.Routing{"primary": 100})
			if !errors.Is(err, dnsswitch.ErrForeign) {
				t.Fatalf("Apply = %v, want ErrForeign", err)
			}
			if n := fake.Writes(); n != 0 {
				t.Fatalf("writes = %d, want 0", n)
			}
		})
	}
}

func TestPoolWithoutTheTargetsOrigin(t *testing.T) {
	pool := lbPool()
	pool.Origins = pool.Origins[:2] // no origin for the target "origin"
	f, fake := newPoolFixture(t, pool)
	svc := lbService()
	f.mustApply(t, svc, dnsswitch.Routing{"primary": 100}) // fine: "origin" gets 0
	err := f.apply(t, svc, dnsswitch.Routing{"origin": 100})
	if !errors.Is(err, errConfig) || !strings.Contains(err.Error(), `no origin "origin"`) {
		t.Fatalf("Apply = %v, want a configuration error", err)
	}
	if n := fake.Calls(http.MethodPatch, cffake.RoutePool); n != 1 {
		t.Fatalf("PATCHes = %d, want 1", n)
	}
}

func TestPoolThrottledPatchIsRetried(t *testing.T) {
	f, fake := newPoolFixture(t, lbPool())
	fake.Inject(cffake.Fault{Status: http.StatusTooManyRequests, Code: rateLimitCode, Message: "Please wait", RetryAfter: "5", Method: http.MethodPatch})
	f.mustApply(t, lbService(), dnsswitch.Routing{"backup": 100})
	if n := fake.Calls(http.MethodPatch, cffake.RoutePool); n != 2 {
		t.Errorf("PATCHes = %d, want 2", n)
	}
	if got := f.mustRead(t, lbService()); !got.Equal(dnsswitch.Routing{"backup": 100}) {
		t.Fatalf("Read = %v, want backup=100", got)
	}
}

func TestShares(t *testing.T) {
	order := []string{"a", "b", "c"}
	for _, c := range []struct {
		in   map[string]float64
		want dnsswitch.Routing
	}{
		{map[string]float64{}, dnsswitch.Routing{}},
		{map[string]float64{"a": 1}, dnsswitch.Routing{"a": 100}},
		{map[string]float64{"a": 0.3, "b": 0.7}, dnsswitch.Routing{"a": 30, "b": 70}},
		{map[string]float64{"a": 1, "b": 1, "c": 1}, dnsswitch.Routing{"a": 34, "b": 33, "c": 33}},
		{map[string]float64{"a": 0.33, "b": 0.33, "c": 0.34}, dnsswitch.Routing{"a": 33, "b": 33, "c": 34}},
		{map[string]float64{"a": 0.001, "b": 0.999}, dnsswitch.Routing{"b": 100}},
	} {
		if got := shares(c.in, order); !got.Equal(c.want) || got.Sum() != c.want.Sum() {
			t.Errorf("shares(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
