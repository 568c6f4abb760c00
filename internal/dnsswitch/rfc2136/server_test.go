package rfc2136

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/providertest"
	"github.com/failoverhq/failover/internal/dnsswitch/rfc2136/dnstest"
)

// TestServers runs the provider against a real BIND 9 and a real Knot, each
// started by the test (see dnstest).
func TestServers(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			t.Run("Switches", func(t *testing.T) { testSwitches(t, b) })
			t.Run("Idempotent", func(t *testing.T) { testIdempotent(t, b) })
			t.Run("TTLChange", func(t *testing.T) { testTTLChange(t, b) })
			t.Run("RampBecomesSwitch", func(t *testing.T) { testRamp(t, b) })
			t.Run("InvalidWritesNothing", func(t *testing.T) { testInvalid(t, b) })
			t.Run("Foreign", func(t *testing.T) { testForeign(t, b) })
			t.Run("WrongSecret", func(t *testing.T) { testWrongSecret(t, b) })
			t.Run("UnknownKey", func(t *testing.T) { testUnknownKey(t, b) })
			t.Run("WrongAlgorithm", func(t *testing.T) { testWrongAlgorithm(t, b) })
			t.Run("KeyNotAllowed", func(t *testing.T) { testKeyNotAllowed(t, b) })
			t.Run("ZoneNotServed", func(t *testing.T) { testZoneNotServed(t, b) })
			t.Run("ServerStopped", func(t *testing.T) { testServerStopped(t, b) })
			t.Run("Contract", func(t *testing.T) { testContract(t, b) })
		})
	}
}

// testSwitches goes through every switch between the A, AAAA and CNAME
// answers and checks, after each, what Read says and what the server
// publishes, queried independently.
func testSwitches(t *testing.T, b backend) {
	e := newEnv(t, b)
	p := e.provider(t)
	svc := testService("www." + testZone)

	if got, err := p.Read(ctx(t), svc); err != nil || len(got) != 0 {
		t.Fatalf("Read before any Apply = {%v}, %v; want {}, nil", got, err)
	}
	// Every ordered pair of the three targets occurs once.
	steps := []string{"primary", "backup", "origin", "primary", "origin", "backup", "primary"}
	for i, target := range steps {
		before := e.proxy.Updates()
		if err := p.Apply(ctx(t), svc, dnsswitch.Routing{target: 100}, dnsswitch.ApplyOptions{Generation: uint64(i + 1)}); err != nil {
			t.Fatalf("step %d: Apply(%s=100): %v", i, target, err)
		}
		if n := e.proxy.Updates() - before; n != 1 {
			t.Errorf("step %d: Apply(%s=100) sent %d UPDATEs, want 1", i, target, n)
		}
		got, err := p.Read(ctx(t), svc)
		if err != nil {
			t.Fatalf("step %d: Read: %v", i, err)
		}
		if !got.Equal(dnsswitch.Routing{target: 100}) {
			t.Errorf("step %d: Read = {%v}, want {%s=100}", i, got, target)
		}
		if pub := published(t, e.srv.Addr, svc.Record); !slices.Equal(pub, want[target]) {
			t.Errorf("step %d: the server publishes %q, want %q", i, pub, want[target])
		}
	}
}

// testIdempotent: re-applying what is published sends no UPDATE, and the
// zone's serial does not move.
func testIdempotent(t *testing.T, b backend) {
	e := newEnv(t, b)
	p := e.provider(t)
	svc := testService("www." + testZone)
	serial0 := e.serial(t)
	if err := p.Apply(ctx(t), svc, dnsswitch.Routing{"origin": 100}, dnsswitch.ApplyOptions{Generation: 1}); err != nil {
		t.Fatal(err)
	}
	serial1, updates1 := e.serial(t), e.proxy.Updates()
	if serial1 == serial0 || updates1 != 1 {
		t.Fatalf("first Apply: serial %d -> %d, %d UPDATEs; want a new serial and 1 UPDATE", serial0, serial1, updates1)
	}
	for i, r := range []dnsswitch.Routing{
		{"origin": 100},
		{"origin": 100, "primary": 0, "backup": 0},
		{"origin": 60, "backup": 40}, // reduces to the same single target
	} {
		if err := p.Apply(ctx(t), svc, r, dnsswitch.ApplyOptions{Generation: uint64(i + 2)}); err != nil {
			t.Fatalf("re-Apply(%v): %v", r, err)
		}
	}
	if s, u := e.serial(t), e.proxy.Updates(); s != serial1 || u != updates1 {
		t.Errorf("after re-applies: serial %d (want %d), %d UPDATEs (want %d)", s, serial1, u, updates1)
	}
}

// testTTLChange: the same target with a new service TTL is a change, and
// the new TTL is published.
func testTTLChange(t *testing.T, b backend) {
	e := newEnv(t, b)
	p := e.provider(t)
	svc := testService("www." + testZone)
	if err := p.Apply(ctx(t), svc, dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	svc.TTL = 30
	if err := p.Apply(ctx(t), svc, dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if u := e.proxy.Updates(); u != 2 {
		t.Errorf("%d UPDATEs, want 2", u)
	}
	wantPub := []string{"A 192.0.2.1 30", "A 192.0.2.2 30"}
	if pub := published(t, e.srv.Addr, svc.Record); !slices.Equal(pub, wantPub) {
		t.Errorf("the server publishes %q, want %q", pub, wantPub)
	}
}

// testRamp: weights become one switch to the highest-weight target, and
// the provider says so in its log.
func testRamp(t *testing.T, b backend) {
	e := newEnv(t, b)
	p := e.provider(t)
	svc := testService("www." + testZone)
	if err := p.Apply(ctx(t), svc, dnsswitch.Routing{"primary": 25, "backup": 75}, dnsswitch.ApplyOptions{Generation: 7}); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Read(ctx(t), svc); err != nil || !got.Equal(dnsswitch.Routing{"backup": 100}) {
		t.Fatalf("Read = {%v}, %v; want {backup=100}", got, err)
	}
	logs := e.logs.String()
	for _, s := range []string{"ramp becomes one switch", "target=backup", `asked="backup=75 primary=25"`, "generation=7"} {
		if !strings.Contains(logs, s) {
			t.Errorf("the log lacks %q:\n%s", s, logs)
		}
	}
	// A re-apply of the same ramp changes nothing and says nothing more.
	if err := p.Apply(ctx(t), svc, dnsswitch.Routing{"primary": 40, "backup": 60}, dnsswitch.ApplyOptions{Generation: 8}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(e.logs.String(), "ramp becomes one switch"); n != 1 {
		t.Errorf("the ramp was logged %d times, want once:\n%s", n, e.logs.String())
	}
}

// testInvalid: an invalid routing is rejected before any message is sent.
func testInvalid(t *testing.T, b backend) {
	e := newEnv(t, b)
	p := e.provider(t)
	svc := testService("www." + testZone)
	if err := p.Apply(ctx(t), svc, dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	serial := e.serial(t)
	for _, r := range []dnsswitch.Routing{{"primary": 50}, {"nope": 100}, {"primary": 150, "backup": -50}, {}} {
		err := p.Apply(ctx(t), svc, r, dnsswitch.ApplyOptions{})
		if !errors.Is(err, dnsswitch.ErrInvalid) {
			t.Errorf("Apply(%v) = %v, want an error wrapping ErrInvalid", r, err)
		}
	}
	if u, s := e.proxy.Updates(), e.serial(t); u != 1 || s != serial {
		t.Errorf("after invalid applies: %d UPDATEs (want 1), serial %d (want %d)", u, s, serial)
	}
}

// testForeign: a record that is no target's answer makes Read fail with
// ErrForeign, and Apply replaces it.
func testForeign(t *testing.T, b backend) {
	e := newEnv(t, b)
	p := e.provider(t)
	svc := testService("www." + testZone)
	if err := p.Apply(ctx(t), svc, dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	foreign, err := dns.NewRR("www.example.test. 60 IN AAAA 2001:db8::99")
	if err != nil {
		t.Fatal(err)
	}
	dnstest.Update(t, e.srv.Addr, e.key, testZone, foreign)
	_, err = p.Read(ctx(t), svc)
	if !errors.Is(err, dnsswitch.ErrForeign) || !strings.Contains(err.Error(), "2001:db8::99") {
		t.Fatalf("Read = %v, want ErrForeign naming 2001:db8::99", err)
	}
	if err := p.Apply(ctx(t), svc, dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{}); err != nil {
		t.Fatalf("Apply over a foreign record: %v", err)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "replacing records that match no target") || !strings.Contains(logs, "2001:db8::99") {
		t.Errorf("the log does not say that a foreign record was replaced:\n%s", logs)
	}
	if pub := published(t, e.srv.Addr, svc.Record); !slices.Equal(pub, want["primary"]) {
		t.Errorf("the server publishes %q, want %q", pub, want["primary"])
	}
}

// expectAuth checks that err is a clear ErrAuth error naming the key, the
// algorithm and the code, and holding no secret.
func expectAuth(t *testing.T, err error, key, alg, code string, secrets ...string) {
	t.Helper()
	if !errors.Is(err, dnsswitch.ErrAuth) {
		t.Fatalf("err = %v, want an error wrapping ErrAuth", err)
	}
	if errors.Is(err, dnsswitch.ErrRetryable) {
		t.Errorf("err = %v: an auth failure must not be retryable", err)
	}
	msg := err.Error()
	for _, s := range []string{`server refused the TSIG key "` + key + `"`, alg, code, "check the key name, algorithm and secret"} {
		if !strings.Contains(msg, s) {
			t.Errorf("err = %q, want it to contain %q", msg, s)
		}
	}
	for _, s := range secrets {
		if strings.Contains(msg, s) {
			t.Errorf("err = %q contains the secret %q", msg, s)
		}
	}
}

func testWrongSecret(t *testing.T, b backend) {
	e := newEnv(t, b)
	wrong := dnstest.NewKey(t, e.key.Name).Secret
	p := e.provider(t, func(o *Options) { o.Secret = wrong })
	serial := e.serial(t)
	err := p.Apply(ctx(t), testService("www."+testZone), dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{})
	expectAuth(t, err, "failover-key.", "hmac-sha256", "BADSIG", wrong, e.key.Secret)
	if s := e.serial(t); s != serial {
		t.Errorf("serial %d -> %d: something was written with a wrong secret", serial, s)
	}
	if logs := e.logs.String(); strings.Contains(logs, wrong) || strings.Contains(logs, e.key.Secret) {
		t.Errorf("the log holds a secret:\n%s", logs)
	}
}

func testUnknownKey(t *testing.T, b backend) {
	e := newEnv(t, b)
	p := e.provider(t, func(o *Options) { o.KeyName = "no-such-key." })
	_, err := p.Read(ctx(t), testService("www."+testZone))
	expectAuth(t, err, "no-such-key.", "hmac-sha256", "BADKEY", e.key.Secret)
}

func testWrongAlgorithm(t *testing.T, b backend) {
	e := newEnv(t, b)
	p := e.provider(t, func(o *Options) { o.Algorithm = "hmac-sha512" })
	err := p.Apply(ctx(t), testService("www."+testZone), dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{})
	expectAuth(t, err, "failover-key.", "hmac-sha512", "BADKEY", e.key.Secret)
}

// testKeyNotAllowed: a key the server knows, but that may not update the
// record, fails clearly. BIND refuses the update (a hard error); Knot
// answers as for an unknown key (an auth error).
func testKeyNotAllowed(t *testing.T, b backend) {
	e := newEnv(t, b)
	p := e.provider(t, func(o *Options) { o.KeyName, o.Secret = e.other.Name, e.other.Secret })
	svc := testService("www." + testZone)
	if got, err := p.Read(ctx(t), svc); err != nil || len(got) != 0 {
		t.Fatalf("Read with a key that may query = {%v}, %v; want {}, nil", got, err)
	}
	err := p.Apply(ctx(t), svc, dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{})
	switch b.denied {
	case "REFUSED":
		if err == nil || errors.Is(err, dnsswitch.ErrRetryable) || errors.Is(err, dnsswitch.ErrAuth) {
			t.Fatalf("Apply = %v, want a hard error that is neither retryable nor an auth failure", err)
		}
		for _, s := range []string{"update www.example.test.", "REFUSED", `"other-key."`, "may update", testZone} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("err = %q, want it to contain %q", err, s)
			}
		}
	case "BADKEY":
		expectAuth(t, err, "other-key.", "hmac-sha256", "BADKEY", e.other.Secret)
		if !strings.Contains(err.Error(), "lets this key update zone "+testZone) {
			t.Errorf("err = %q, want it to say the key may lack the right to update %s", err, testZone)
		}
	default:
		t.Fatalf("backend %s: unknown denial %q", b.name, b.denied)
	}
	if pub := published(t, e.srv.Addr, svc.Record); len(pub) != 0 {
		t.Errorf("the server publishes %q after a denied update", pub)
	}
}

// testZoneNotServed: a zone the server does not serve is a hard error.
func testZoneNotServed(t *testing.T, b backend) {
	e := newEnv(t, b)
	p := e.provider(t, func(o *Options) { o.Zone = "elsewhere.test." })
	svc := testService("www.elsewhere.test.")
	_, err := p.Read(ctx(t), svc)
	if err == nil || errors.Is(err, dnsswitch.ErrRetryable) || errors.Is(err, dnsswitch.ErrAuth) {
		t.Fatalf("Read = %v, want a hard error", err)
	}
	if !strings.Contains(err.Error(), "REFUSED") || !strings.Contains(err.Error(), "elsewhere.test.") {
		t.Errorf("err = %q, want it to name REFUSED and the zone", err)
	}
}

// testServerStopped: with the server gone, Read and Apply fail retryably.
func testServerStopped(t *testing.T, b backend) {
	e := newEnv(t, b)
	p := e.provider(t, func(o *Options) { o.Server = e.srv.Addr })
	svc := testService("www." + testZone)
	if err := p.Apply(ctx(t), svc, dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	e.srv.Stop()
	if _, err := p.Read(ctx(t), svc); !errors.Is(err, dnsswitch.ErrRetryable) {
		t.Errorf("Read with the server stopped = %v, want ErrRetryable", err)
	}
	err := p.Apply(ctx(t), svc, dnsswitch.Routing{"backup": 100}, dnsswitch.ApplyOptions{})
	if !errors.Is(err, dnsswitch.ErrRetryable) || !strings.Contains(err.Error(), e.srv.Addr) {
		t.Errorf("Apply with the server stopped = %v, want ErrRetryable naming %s", err, e.srv.Addr)
	}
}

// testContract runs the shared provider contract suite, each case on a
// freshly started server behind a proxy that counts and fails UPDATEs.
func testContract(t *testing.T, b backend) {
	var cur *env
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T) (dnsswitch.Provider, dnsswitch.Service) {
			cur = newEnv(t, b)
			return cur.provider(t), testService("www." + testZone)
		},
		Inject: func(t *testing.T, kind providertest.Failure) bool {
			switch kind {
			case providertest.FailRetryable:
				cur.proxy.FailUpdates(dns.RcodeServerFailure)
			case providertest.FailHard:
				cur.proxy.FailUpdates(dns.RcodeRefused)
			default:
				return false
			}
			return true
		},
		Writes: func() int { return cur.proxy.Updates() },
		PutForeign: func(t *testing.T, svc dnsswitch.Service) {
			rr, err := dns.NewRR(svc.Record + " 60 IN A 198.51.100.7")
			if err != nil {
				t.Fatal(err)
			}
			dnstest.Update(t, cur.srv.Addr, cur.key, testZone, rr)
		},
	})
}
