package cloudflare

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/cloudflare/cffake"
)

const rateLimitCode = 971 // "Please wait and consider throttling your request speed"

func TestRetryAfterIsHonouredThenSuccess(t *testing.T) {
	fake := newFake(t)
	f := newFixture(t, fake, ModeDNSRecord, nil)
	svc := webService()
	fake.Inject(cffake.Fault{Status: http.StatusTooManyRequests, Code: rateLimitCode, Message: "Please wait", RetryAfter: "7", Times: 2, Writes: true})

	f.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	if diff := cmp.Diff([]time.Duration{7 * time.Second, 7 * time.Second}, f.clock.Sleeps()); diff != "" {
		t.Fatalf("waits (-want +got):\n%s", diff)
	}
	// Two refused creates, then the two that went through.
	if n := fake.Calls(http.MethodPost, cffake.RouteRecords); n != 4 {
		t.Errorf("POSTs = %d, want 4", n)
	}
	if got := f.mustRead(t, svc); !got.Equal(dnsswitch.Routing{"primary": 100}) {
		t.Fatalf("Read = %v, want primary=100", got)
	}
}

func TestRetryAfterAsHTTPDate(t *testing.T) {
	fake := newFake(t)
	f := newFixture(t, fake, ModeDNSRecord, nil)
	at := f.clock.Now().Add(12 * time.Second).Format(http.TimeFormat)
	fake.Inject(cffake.Fault{Status: http.StatusTooManyRequests, Code: rateLimitCode, Message: "Please wait", RetryAfter: at})
	f.mustRead(t, webService())
	if diff := cmp.Diff([]time.Duration{12 * time.Second}, f.clock.Sleeps()); diff != "" {
		t.Fatalf("waits (-want +got):\n%s", diff)
	}
}

func TestThrottlingBeyondRetriesIsRetryable(t *testing.T) {
	fake := newFake(t)
	f := newFixture(t, fake, ModeDNSRecord, nil)
	fake.Inject(cffake.Fault{Status: http.StatusTooManyRequests, Code: rateLimitCode, Message: "Please wait", RetryAfter: "2", Times: -1})

	err := f.apply(t, webService(), dnsswitch.Routing{"primary": 100})
	if !errors.Is(err, dnsswitch.ErrRetryable) {
		t.Fatalf("Apply under constant 429s = %v, want ErrRetryable", err)
	}
	if !strings.Contains(err.Error(), "971") || !strings.Contains(err.Error(), "HTTP 429") {
		t.Errorf("error %q does not carry the status and code", err)
	}
	if n := fake.Calls(http.MethodGet, cffake.RouteRecords); n != 4 {
		t.Errorf("list attempts = %d, want 4 (Retry.Attempts)", n)
	}
	if n := len(f.clock.Sleeps()); n != 3 {
		t.Errorf("waits = %d, want 3", n)
	}
	if n := fake.Writes(); n != 0 {
		t.Errorf("writes = %d, want 0", n)
	}
}

func TestRetryAfterBeyondTheBoundGivesUpAtOnce(t *testing.T) {
	fake := newFake(t)
	f := newFixture(t, fake, ModeDNSRecord, func(o *Options) { o.Retry.MaxWait = 30 * time.Second })
	fake.Inject(cffake.Fault{Status: http.StatusTooManyRequests, Code: rateLimitCode, Message: "Please wait", RetryAfter: "300"})

	_, err := f.p.Read(ctx(t), webService())
	if !errors.Is(err, dnsswitch.ErrRetryable) || !strings.Contains(err.Error(), "5m0s") {
		t.Fatalf("Read = %v, want ErrRetryable naming the 5m0s asked for", err)
	}
	if n := fake.Total(); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
	if s := f.clock.Sleeps(); len(s) != 0 {
		t.Errorf("waited %v, want no wait", s)
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	fake := newFake(t)
	f := newFixture(t, fake, ModeDNSRecord, nil)
	fake.Inject(cffake.Fault{Status: http.StatusServiceUnavailable, Code: 10001, Message: "service unavailable", Times: 2})
	f.mustApply(t, webService(), dnsswitch.Routing{"primary": 100})
	sleeps := f.clock.Sleeps()
	if len(sleeps) != 2 {
		t.Fatalf("waits = %v, want 2", sleeps)
	}
	// Backoff 500ms, then 1s, each with its upper half random.
	for i, max := range []time.Duration{500 * time.Millisecond, time.Second} {
		if sleeps[i] < max/2 || sleeps[i] > max {
			t.Errorf("wait %d = %v, want within [%v, %v]", i, sleeps[i], max/2, max)
		}
	}

	fake.Inject(cffake.Fault{Status: http.StatusBadGateway, Code: 10002, Message: "bad gateway", Times: -1})
	err := f.apply(t, webService(), dnsswitch.Routing{"backup": 100})
	if !errors.Is(err, dnsswitch.ErrRetryable) {
		t.Fatalf("Apply under constant 502s = %v, want ErrRetryable", err)
	}
}

func TestTransportErrorsAreRetryable(t *testing.T) {
	fake := newFake(t)
	f := newFixture(t, fake, ModeDNSRecord, nil)
	fake.Close() // connections are refused from now on
	_, err := f.p.Read(ctx(t), webService())
	if !errors.Is(err, dnsswitch.ErrRetryable) {
		t.Fatalf("Read from a closed server = %v, want ErrRetryable", err)
	}
	if n := len(f.clock.Sleeps()); n != 3 {
		t.Errorf("waits = %d, want 3", n)
	}
}

// A request that outlasts Options.Timeout is retried like a transport error.
func TestRequestTimeoutIsRetried(t *testing.T) {
	fake := newFake(t)
	f := newFixture(t, fake, ModeDNSRecord, func(o *Options) { o.Timeout = 50 * time.Millisecond })
	fake.Inject(cffake.Fault{Hang: true})
	if got := f.mustRead(t, webService()); !got.Equal(dnsswitch.Routing{}) {
		t.Fatalf("Read = %v, want empty", got)
	}
	if n := fake.Total(); n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}

	fake.Inject(cffake.Fault{Hang: true, Times: -1})
	_, err := f.p.Read(ctx(t), webService())
	if !errors.Is(err, dnsswitch.ErrRetryable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read from a server that never answers = %v, want ErrRetryable wrapping DeadlineExceeded", err)
	}
}

func TestRejectedTokenIsErrAuth(t *testing.T) {
	fake := newFake(t)
	const wrong = "cf-wrong-token-1c4e8a0b7f"
	f := newFixture(t, fake, ModeDNSRecord, func(o *Options) { o.APIToken = wrong })

	_, err := f.p.Read(ctx(t), webService())
	if !errors.Is(err, dnsswitch.ErrAuth) || errors.Is(err, dnsswitch.ErrRetryable) {
		t.Fatalf("Read with a wrong token = %v, want ErrAuth, not retryable", err)
	}
	if !strings.Contains(err.Error(), "10000") || !strings.Contains(err.Error(), "Authentication error") {
		t.Errorf("error %q does not carry Cloudflare's code and message", err)
	}
	err = f.apply(t, webService(), dnsswitch.Routing{"primary": 100})
	if !errors.Is(err, dnsswitch.ErrAuth) {
		t.Fatalf("Apply with a wrong token = %v, want ErrAuth", err)
	}
	if n := fake.Total(); n != 2 {
		t.Errorf("requests = %d, want 2: a rejected token is not retried", n)
	}
	for _, text := range []string{err.Error(), f.logs.String()} {
		if strings.Contains(text, wrong) {
			t.Fatalf("the token leaks: %q", text)
		}
	}
}

// A server that echoes the token back in its error does not make it leak.
func TestTokenEchoedByTheServerIsRedacted(t *testing.T) {
	fake := newFake(t)
	f := newFixture(t, fake, ModeDNSRecord, nil)
	fake.Inject(cffake.Fault{Status: http.StatusForbidden, Code: 9109, Message: "Invalid access token " + testToken})
	_, err := f.p.Read(ctx(t), webService())
	if !errors.Is(err, dnsswitch.ErrAuth) {
		t.Fatalf("Read = %v, want ErrAuth", err)
	}
	if strings.Contains(err.Error(), testToken) || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("error %q: want the token redacted", err)
	}

	fake.Inject(cffake.Fault{Status: http.StatusServiceUnavailable, Code: 1, Message: "overloaded, token " + testToken, Times: 2})
	if _, err := f.p.Read(ctx(t), webService()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(f.logs.String(), testToken) {
		t.Fatalf("the logged retries carry the token:\n%s", f.logs.String())
	}
	if !strings.Contains(f.logs.String(), "retrying") {
		t.Fatalf("the retries were not logged:\n%s", f.logs.String())
	}
}

func TestHardErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault cffake.Fault
		want  string
	}{
		{"validation", cffake.Fault{Status: http.StatusBadRequest, Code: 1004, Message: "DNS Validation Error", Writes: true}, "code 1004: DNS Validation Error"},
		{"missing record", cffake.Fault{Status: http.StatusNotFound, Code: 81044, Message: "Record does not exist.", Method: http.MethodPatch}, "code 81044: Record does not exist."},
		{"success false under a 200", cffake.Fault{Status: http.StatusOK, Code: 1004, Message: "DNS Validation Error", Writes: true}, "HTTP 200: code 1004"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fake := newFake(t)
			mustAdd(t, fake, cffake.Record{Name: "www.example.com", Type: "CNAME", Content: "www.example.com.cdn.example.net", TTL: 60})
			f := newFixture(t, fake, ModeDNSRecord, nil)
			svc := webService()
			fake.Inject(c.fault)
			err := f.apply(t, svc, dnsswitch.Routing{"origin": 100})
			if err == nil || errors.Is(err, dnsswitch.ErrRetryable) || errors.Is(err, dnsswitch.ErrPartial) {
				t.Fatalf("Apply = %v, want a hard error, neither retryable nor partial", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
			if n := fake.Writes(); n != 1 {
				t.Errorf("writes = %d, want 1: a hard error is not retried", n)
			}
			if got := f.mustRead(t, svc); !got.Equal(dnsswitch.Routing{"backup": 100}) {
				t.Fatalf("Read after the failure = %v, want backup=100 still", got)
			}
		})
	}
}

func TestPartlyAppliedChangeIsErrPartial(t *testing.T) {
	fake := newFake(t)
	f := newFixture(t, fake, ModeDNSRecord, nil)
	svc := webService()
	f.mustApply(t, svc, dnsswitch.Routing{"backup": 100})
	// Back to primary: edit the CNAME into an A, then create the second A,
	// which fails.
	fake.Inject(cffake.Fault{Status: http.StatusBadRequest, Code: 1004, Message: "DNS Validation Error", Writes: true, After: 1})
	err := f.apply(t, svc, dnsswitch.Routing{"primary": 100})
	if !errors.Is(err, dnsswitch.ErrPartial) || errors.Is(err, dnsswitch.ErrRetryable) {
		t.Fatalf("Apply = %v, want ErrPartial, not retryable", err)
	}
	if !strings.Contains(err.Error(), "1 of 2") {
		t.Errorf("error %q does not say how far it got", err)
	}
	// What is there is half the primary; the next pass completes it.
	f.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	want := []string{"A 192.0.2.1 proxied=false ttl=60", "A 192.0.2.2 proxied=false ttl=60"}
	if diff := cmp.Diff(want, published(fake)); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
}

func TestLostWriteIsErrVerify(t *testing.T) {
	fake := newFake(t)
	f := newFixture(t, fake, ModeDNSRecord, nil)
	fake.Inject(cffake.Fault{Ignore: true, Writes: true, Times: -1})
	err := f.apply(t, webService(), dnsswitch.Routing{"primary": 100})
	if !errors.Is(err, dnsswitch.ErrVerify) {
		t.Fatalf("Apply whose writes are lost = %v, want ErrVerify", err)
	}
}

func TestCancelledContext(t *testing.T) {
	fake := newFake(t)
	f := newFixture(t, fake, ModeDNSRecord, nil)
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.p.Read(c, webService()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read = %v, want Canceled", err)
	}
	if err := f.p.Apply(c, webService(), dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply = %v, want Canceled", err)
	}
	if n := fake.Total(); n != 0 {
		t.Fatalf("requests = %d, want 0", n)
	}
}

// Every request, retries included, takes a token from the budget.
func TestEveryRequestPassesTheBudget(t *testing.T) {
	fake := newFake(t)
	f := newFixture(t, fake, ModeDNSRecord, nil)
	fake.Inject(cffake.Fault{Status: http.StatusTooManyRequests, Code: rateLimitCode, Message: "Please wait", RetryAfter: "1", Times: 2})
	fake.Inject(cffake.Fault{Status: http.StatusInternalServerError, Code: 10001, Message: "oops", Times: 1, Writes: true})
	f.mustApply(t, webService(), dnsswitch.Routing{"primary": 100})
	f.mustApply(t, webService(), dnsswitch.Routing{"backup": 100})
	if got, want := f.budget.taken, int64(fake.Total()); got != want || want < 10 {
		t.Fatalf("budget tokens = %d, requests = %d: want equal (and at least 10)", got, want)
	}
}

// A budget shared by two providers (one token) is spent by both, and a
// drained budget makes requests wait.
func TestSharedBudgetThrottles(t *testing.T) {
	fake := newFake(t)
	clk := newFakeClock()
	b, err := NewBudget(4, time.Second, 1, clk) // 1 at once, then one per 1/3 s
	if err != nil {
		t.Fatal(err)
	}
	f1 := newFixture(t, fake, ModeDNSRecord, func(o *Options) { o.Budget = b })
	f2 := newFixture(t, fake, ModeDNSRecord, func(o *Options) { o.Budget = b })
	f1.mustRead(t, webService())
	f2.mustRead(t, webService())
	f1.mustRead(t, webService())
	sleeps := clk.Sleeps()
	if len(sleeps) != 2 {
		t.Fatalf("budget waits = %v, want 2", sleeps)
	}
	for _, s := range sleeps {
		if s < 333*time.Millisecond || s > 334*time.Millisecond {
			t.Errorf("budget wait %v, want 1/3 s", s)
		}
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{"1.5", 1500 * time.Millisecond},
		{"-1", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	} {
		if got := retryAfter(c.in, now); got != c.want {
			t.Errorf("retryAfter(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestNewValidatesOptions(t *testing.T) {
	base := Options{Name: "cf", Mode: ModeDNSRecord, ZoneID: testZone, APIToken: testToken}
	for _, c := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no name", func(o *Options) { o.Name = "" }, "name is empty"},
		{"bad mode", func(o *Options) { o.Mode = "dns" }, `mode "dns"`},
		{"no zone", func(o *Options) { o.ZoneID = "" }, "zone_id"},
		{"lb without pool", func(o *Options) { o.Mode = ModeLoadBalancer; o.AccountID = testAccount }, "pool_id"},
		{"lb without account", func(o *Options) { o.Mode = ModeLoadBalancer; o.PoolID = testPool }, "account_id"},
		{"no token", func(o *Options) { o.APIToken = " " }, "token is empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := base
			c.edit(&o)
			_, err := New(o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, want an error containing %q", err, c.want)
			}
		})
	}
	p, err := New(base)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Name() != "cf" || p.Capabilities().Weighted {
		t.Fatalf("Name, Capabilities = %q, %+v", p.Name(), p.Capabilities())
	}
}
