package route53

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/route53/r53fake"
)

func TestApplyReadBack(t *testing.T) {
	e := newEnv(t, r53fake.Options{}, nil)
	svc := cnameService()
	e.mustRead(t, svc, dnsswitch.Routing{})

	e.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	want := []string{
		"CNAME backup 0 60 [www.example.com.global.prod.fastly.net.]",
		"CNAME origin 0 60 [origin-lb.example.com.]",
		"CNAME primary 100 60 [www.example.com.cdn.cloudflare.net.]",
	}
	if got := e.summary("www.example.com."); !slices.Equal(got, want) {
		t.Errorf("sets\n got %q\nwant %q", got, want)
	}
	e.mustRead(t, svc, dnsswitch.Routing{"primary": 100})

	e.mustApply(t, svc, dnsswitch.Routing{"primary": 25, "backup": 75})
	e.mustRead(t, svc, dnsswitch.Routing{"primary": 25, "backup": 75})

	batches := e.fake.Batches()
	if len(batches) != 2 {
		t.Fatalf("%d batches, want 2", len(batches))
	}
	var second []string
	for _, c := range batches[1].Changes {
		second = append(second, fmt.Sprintf("%s %s %d", c.Action, c.Set.SetIdentifier, *c.Set.Weight))
	}
	if want := []string{"UPSERT primary 25", "UPSERT backup 75"}; !slices.Equal(second, want) {
		t.Errorf("second batch = %q, want %q (only the changed sets)", second, want)
	}
	if c := batches[1].Comment; c != "failover: service www generation 1" {
		t.Errorf("comment = %q", c)
	}
}

func TestApplyIdempotent(t *testing.T) {
	e := newEnv(t, r53fake.Options{}, nil)
	svc := aService()
	e.mustApply(t, svc, dnsswitch.Routing{"primary": 80, "backup": 20})
	changes, lists := e.fake.Calls(r53fake.OpChange), e.fake.Calls(r53fake.OpList)
	if changes != 1 {
		t.Fatalf("change calls = %d, want 1", changes)
	}
	for _, r := range []dnsswitch.Routing{{"primary": 80, "backup": 20}, {"primary": 80, "backup": 20, "origin": 0}} {
		e.mustApply(t, svc, r)
	}
	if got := e.fake.Calls(r53fake.OpChange); got != changes {
		t.Errorf("re-applying made %d change calls, want none", got-changes)
	}
	if got := e.fake.Calls(r53fake.OpList); got != lists+2 {
		t.Errorf("re-applying made %d list calls, want 2 (one read each)", got-lists)
	}
	// Values in another order and spelling are the same answer.
	svc.Answers[0].Values = []string{"192.0.2.2", "192.0.2.1"}
	svc.Record = "WWW.Example.COM"
	e.mustApply(t, svc, dnsswitch.Routing{"primary": 80, "backup": 20})
	if got := e.fake.Calls(r53fake.OpChange); got != changes {
		t.Errorf("an equivalent service made %d change calls, want none", got-changes)
	}
}

func TestReadPagination(t *testing.T) {
	e := newEnv(t, r53fake.Options{PageSize: 2}, nil)
	svc := aService()
	for i := range 2 {
		svc.Answers = append(svc.Answers, dnsswitch.Answer{Target: fmt.Sprintf("extra-%d", i), Type: "A", Values: []string{fmt.Sprintf("192.0.2.%d", 10+i)}})
	}
	// Neighbours on both sides of the name, and a TXT set at it.
	err := e.fake.Put(zoneID,
		r53fake.RRSet{Name: "api.example.com.", Type: "A", TTL: 60, Values: []string{"192.0.2.99"}},
		r53fake.RRSet{Name: "a.www.example.com.", Type: "A", TTL: 60, Values: []string{"192.0.2.98"}},
		r53fake.RRSet{Name: "zzz.example.com.", Type: "A", TTL: 60, Values: []string{"192.0.2.97"}},
		r53fake.RRSet{Name: "www.example.com.", Type: "TXT", TTL: 60, Values: []string{`"site-verification=1"`}},
	)
	if err != nil {
		t.Fatal(err)
	}
	want := dnsswitch.Routing{"primary": 40, "backup": 10, "origin": 10, "extra-0": 20, "extra-1": 20}
	e.mustApply(t, svc, want)

	before := e.fake.Calls(r53fake.OpList)
	e.mustRead(t, svc, want)
	// Sets at the name: A backup, extra-0, extra-1, origin, primary, TXT;
	// pages of 2 make three, and the third's next name (a.www) ends it.
	if got := e.fake.Calls(r53fake.OpList) - before; got != 3 {
		t.Errorf("Read made %d list calls, want 3", got)
	}
}

func TestTypeChange(t *testing.T) {
	e := newEnv(t, r53fake.Options{}, nil)
	a := aService()
	// An operator's health check on a set: the DELETE must carry it to
	// match exactly, and the values come back in their own order.
	if err := e.fake.Put(zoneID, r53fake.RRSet{Name: "www.example.com.", Type: "A", SetIdentifier: "primary",
		Weight: weight(100), TTL: 60, Values: []string{"192.0.2.2", "192.0.2.1"}, HealthCheckID: "hc-1"}); err != nil {
		t.Fatal(err)
	}
	e.mustApply(t, a, dnsswitch.Routing{"primary": 100})
	e.mustApply(t, a, dnsswitch.Routing{"primary": 50, "backup": 50})

	c := cnameService()
	e.mustApply(t, c, dnsswitch.Routing{"primary": 50, "backup": 50})
	e.mustRead(t, c, dnsswitch.Routing{"primary": 50, "backup": 50})

	batches := e.fake.Batches()
	last := batches[len(batches)-1]
	var got []string
	for _, ch := range last.Changes {
		got = append(got, ch.Action+" "+ch.Set.Type+" "+ch.Set.SetIdentifier)
	}
	want := []string{"DELETE A primary", "DELETE A backup", "DELETE A origin",
		"CREATE CNAME primary", "CREATE CNAME backup", "CREATE CNAME origin"}
	if !slices.Equal(got, want) {
		t.Errorf("type change batch = %q, want %q", got, want)
	}
	if got := e.summary("www.example.com."); len(got) != 3 || !strings.HasPrefix(got[0], "CNAME") {
		t.Errorf("sets after the type change = %q", got)
	}
}

func TestHealthCheckKept(t *testing.T) {
	e := newEnv(t, r53fake.Options{}, nil)
	svc := aService()
	e.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	sets := e.fake.RRSets(zoneID)
	for _, s := range sets {
		if s.SetIdentifier == "backup" {
			s.HealthCheckID = "hc-backup"
			if err := e.fake.Put(zoneID, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.mustApply(t, svc, dnsswitch.Routing{"backup": 100})
	for _, s := range e.fake.RRSets(zoneID) {
		if s.SetIdentifier == "backup" && (s.HealthCheckID != "hc-backup" || *s.Weight != 100) {
			t.Errorf("backup set = %+v, want weight 100 and its health check kept", s)
		}
	}
}

func TestStaleSetRewritten(t *testing.T) {
	e := newEnv(t, r53fake.Options{}, nil)
	svc := cnameService()
	// primary still points at an old CNAME; backup has an old TTL.
	if err := e.fake.Put(zoneID,
		r53fake.RRSet{Name: "www.example.com.", Type: "CNAME", SetIdentifier: "primary", Weight: weight(100), TTL: 60, Values: []string{"old.cdn.example.net."}},
		r53fake.RRSet{Name: "www.example.com.", Type: "CNAME", SetIdentifier: "backup", Weight: weight(0), TTL: 300, Values: []string{"www.example.com.global.prod.fastly.net."}},
	); err != nil {
		t.Fatal(err)
	}
	e.mustRead(t, svc, dnsswitch.Routing{}) // primary's set does not publish its answer
	e.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	want := []string{
		"CNAME backup 0 60 [www.example.com.global.prod.fastly.net.]",
		"CNAME origin 0 60 [origin-lb.example.com.]",
		"CNAME primary 100 60 [www.example.com.cdn.cloudflare.net.]",
	}
	if got := e.summary("www.example.com."); !slices.Equal(got, want) {
		t.Errorf("sets\n got %q\nwant %q", got, want)
	}
}

func TestWildcardRecord(t *testing.T) {
	e := newEnv(t, r53fake.Options{}, nil)
	svc := cnameService()
	svc.Record = "*.example.com."
	e.mustApply(t, svc, dnsswitch.Routing{"backup": 100})
	e.mustRead(t, svc, dnsswitch.Routing{"backup": 100}) // listed back as \052.example.com.
	e.mustApply(t, svc, dnsswitch.Routing{"backup": 100})
	if got := e.fake.Calls(r53fake.OpChange); got != 1 {
		t.Errorf("change calls = %d, want 1", got)
	}
}

func TestForeign(t *testing.T) {
	tests := []struct {
		name    string
		set     r53fake.RRSet
		foreign bool
	}{
		{"simple set at the name", r53fake.RRSet{Name: "www.example.com.", Type: "A", TTL: 60, Values: []string{"192.0.2.50"}}, true},
		{"unknown set identifier", r53fake.RRSet{Name: "www.example.com.", Type: "A", SetIdentifier: "someone-else", Weight: weight(10), TTL: 60, Values: []string{"192.0.2.50"}}, true},
		{"weighted alias", r53fake.RRSet{Name: "www.example.com.", Type: "A", SetIdentifier: "primary", Weight: weight(10),
			Alias: &r53fake.Alias{HostedZoneID: "Z2", DNSName: "lb.example.net."}}, true},
		{"an AAAA beside", r53fake.RRSet{Name: "www.example.com.", Type: "AAAA", TTL: 60, Values: []string{"2001:db8::1"}}, true},
		{"a TXT set at the name", r53fake.RRSet{Name: "www.example.com.", Type: "TXT", TTL: 60, Values: []string{`"v=1"`}}, false},
		{"a set at a child name", r53fake.RRSet{Name: "a.www.example.com.", Type: "A", TTL: 60, Values: []string{"192.0.2.50"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, r53fake.Options{}, nil)
			if err := e.fake.Put(zoneID, tt.set); err != nil {
				t.Fatal(err)
			}
			svc := aService()
			_, err := e.p.Read(ctx(t), svc)
			if got := errors.Is(err, dnsswitch.ErrForeign); got != tt.foreign {
				t.Fatalf("Read: err = %v, foreign %v, want %v", err, got, tt.foreign)
			}
			err = e.p.Apply(ctx(t), svc, dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{})
			if got := errors.Is(err, dnsswitch.ErrForeign); got != tt.foreign {
				t.Fatalf("Apply: err = %v, foreign %v, want %v", err, got, tt.foreign)
			}
			if wantCalls := map[bool]int{true: 0, false: 1}[tt.foreign]; e.fake.Calls(r53fake.OpChange) != wantCalls {
				t.Errorf("change calls = %d, want %d", e.fake.Calls(r53fake.OpChange), wantCalls)
			}
		})
	}
}

func TestInvalidRequests(t *testing.T) {
	mixed := aService()
	mixed.Answers[2] = dnsswitch.Answer{Target: "origin", Type: "CNAME", Values: []string{"origin.example.net."}}
	twoCNAMEs := cnameService()
	twoCNAMEs.Answers[0].Values = []string{"a.example.net.", "b.example.net."}
	badIP := aService()
	badIP.Answers[1].Values = []string{"2001:db8::1"}
	mx := aService()
	mx.Answers[1].Type = "MX"
	noRecord := aService()
	noRecord.Record = ""
	dup := aService()
	dup.Answers[1].Target = "primary"

	tests := []struct {
		name string
		svc  dnsswitch.Service
		r    dnsswitch.Routing
		want string
	}{
		{"unknown target", aService(), dnsswitch.Routing{"primary": 50, "nope": 50}, `unknown target "nope"`},
		{"weight above 100", aService(), dnsswitch.Routing{"primary": 101, "backup": -1}, "weight 101 out of range"},
		{"negative weight", aService(), dnsswitch.Routing{"primary": 120, "backup": -20}, "weight -20 out of range"},
		{"sum below 100", aService(), dnsswitch.Routing{"primary": 50, "backup": 40}, "weights sum to 90"},
		{"empty", aService(), dnsswitch.Routing{}, "weights sum to 0"},
		{"mixed types", mixed, dnsswitch.Routing{"primary": 100}, "type CNAME differs from A"},
		{"CNAME with two values", twoCNAMEs, dnsswitch.Routing{"primary": 100}, "a CNAME has one value"},
		{"AAAA value in an A answer", badIP, dnsswitch.Routing{"primary": 100}, `"2001:db8::1" is not an A value`},
		{"unsupported type", mx, dnsswitch.Routing{"primary": 100}, `type "MX"`},
		{"no record", noRecord, dnsswitch.Routing{"primary": 100}, "no record name"},
		{"duplicate target", dup, dnsswitch.Routing{"primary": 100}, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, r53fake.Options{}, nil)
			err := e.p.Apply(ctx(t), tt.svc, tt.r, dnsswitch.ApplyOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if errors.Is(err, dnsswitch.ErrRetryable) {
				t.Errorf("err = %v is retryable", err)
			}
			if n := e.fake.Calls(r53fake.OpAny); n != 0 {
				t.Errorf("%d calls reached the API, want none", n)
			}
		})
	}
}

func TestTooManyChanges(t *testing.T) {
	e := newEnv(t, r53fake.Options{MaxChanges: 1000}, nil)
	svc := dnsswitch.Service{Name: "big", Record: "big.example.com.", TTL: 60}
	for i := range maxChanges + 1 {
		svc.Answers = append(svc.Answers, dnsswitch.Answer{Target: fmt.Sprintf("t%d", i), Type: "A",
			Values: []string{fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)}})
	}
	err := e.p.Apply(ctx(t), svc, dnsswitch.Routing{"t0": 100}, dnsswitch.ApplyOptions{})
	if !errors.Is(err, errTooManyChanges) || errors.Is(err, dnsswitch.ErrRetryable) {
		t.Fatalf("err = %v, want errTooManyChanges, not retryable", err)
	}
	if n := e.fake.Calls(r53fake.OpChange); n != 0 {
		t.Errorf("change calls = %d, want 0", n)
	}
	svc.Answers = svc.Answers[:maxChanges]
	e.mustApply(t, svc, dnsswitch.Routing{"t0": 100}) // exactly the limit: one batch
	if n := e.fake.Calls(r53fake.OpChange); n != 1 {
		t.Errorf("change calls = %d, want 1", n)
	}
}

func TestThrottlingRetried(t *testing.T) {
	e := newEnv(t, r53fake.Options{}, func(o *Options) { o.MaxRetries = 3 })
	svc := aService()
	e.fake.Fail(r53fake.OpList, "Throttling", 2)
	e.mustRead(t, svc, dnsswitch.Routing{})
	if n := e.fake.Calls(r53fake.OpList); n != 3 {
		t.Errorf("list calls = %d, want 3", n)
	}
	e.fake.Fail(r53fake.OpChange, "Throttling", 3)
	e.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	if n := e.fake.Calls(r53fake.OpChange); n != 4 {
		t.Errorf("change calls = %d, want 4", n)
	}
	e.fake.FailWith(r53fake.OpChange, r53fake.Failure{Status: 429}, 1)
	e.fake.FailWith(r53fake.OpChange, r53fake.Failure{Status: 400, Code: "ThrottlingException", Message: "Rate exceeded"}, 1)
	e.mustApply(t, svc, dnsswitch.Routing{"backup": 100})
	if n := e.fake.Calls(r53fake.OpChange); n != 7 {
		t.Errorf("change calls = %d, want 7", n)
	}
	e.mustRead(t, svc, dnsswitch.Routing{"backup": 100})
	// Every attempt, retries included, waited on the limiter.
	if got, want := e.p.limiter.(*countingLimiter).count(), e.fake.Calls(r53fake.OpAny); got != want {
		t.Errorf("%d limiter waits for %d requests", got, want)
	}
}

func TestThrottlingExhausted(t *testing.T) {
	var backoffs []int
	e := newEnv(t, r53fake.Options{}, func(o *Options) {
		o.MaxRetries = 2
		o.Backoff = func(n int) time.Duration { backoffs = append(backoffs, n); return 0 }
	})
	svc := aService()
	e.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	e.fake.Fail(r53fake.OpChange, "Throttling", 10)
	err := e.p.Apply(ctx(t), svc, dnsswitch.Routing{"backup": 100}, dnsswitch.ApplyOptions{})
	if !errors.Is(err, dnsswitch.ErrRetryable) {
		t.Fatalf("err = %v, want ErrRetryable", err)
	}
	var re *Error
	if !errors.As(err, &re) || re.Code != "Throttling" || re.Attempts != 3 || re.Op != "change batch" {
		t.Errorf("err = %#v, want a Throttling *Error after 3 attempts of the change batch", re)
	}
	if want := "route53: change batch: Throttling: Rate exceeded (after 3 attempts)"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		t.Error("the SDK's error is not wrapped")
	}
	if n := e.fake.Calls(r53fake.OpChange); n != 1+3 {
		t.Errorf("change calls = %d, want 4", n)
	}
	if !slices.Equal(backoffs, []int{1, 2}) {
		t.Errorf("backoff asked for retries %v, want [1 2]", backoffs)
	}
	e.fake.ClearFailures()
	e.mustRead(t, svc, dnsswitch.Routing{"primary": 100})
}

func TestPriorRequestNotComplete(t *testing.T) {
	// Without waiting for INSYNC, the next change meets the pending one:
	// the fake refuses it until two more of its polls have passed.
	e := newEnv(t, r53fake.Options{PendingPolls: 2}, func(o *Options) { o.MaxRetries = 3 })
	svc := cnameService()
	e.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	e.mustApply(t, svc, dnsswitch.Routing{"backup": 100})
	if n := e.fake.Calls(r53fake.OpChange); n != 1+3 {
		t.Errorf("change calls = %d, want 4 (one, then two refusals and a success)", n)
	}
	e.mustRead(t, svc, dnsswitch.Routing{"backup": 100})

	// Beyond the budget it is retryable.
	e2 := newEnv(t, r53fake.Options{PendingPolls: 10}, func(o *Options) { o.MaxRetries = 1 })
	e2.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	err := e2.p.Apply(ctx(t), svc, dnsswitch.Routing{"backup": 100}, dnsswitch.ApplyOptions{})
	var re *Error
	if !errors.Is(err, dnsswitch.ErrRetryable) || !errors.As(err, &re) || re.Code != "PriorRequestNotComplete" {
		t.Errorf("err = %v, want a retryable PriorRequestNotComplete", err)
	}
}

func TestInvalidChangeBatchIsHard(t *testing.T) {
	t.Run("injected", func(t *testing.T) {
		e := newEnv(t, r53fake.Options{}, func(o *Options) { o.MaxRetries = 3 })
		e.fake.Fail(r53fake.OpChange, "InvalidChangeBatch", 1)
		err := e.p.Apply(ctx(t), aService(), dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{})
		if err == nil || errors.Is(err, dnsswitch.ErrRetryable) || errors.Is(err, dnsswitch.ErrAuth) {
			t.Fatalf("err = %v, want a hard error", err)
		}
		if want := "route53: change batch: InvalidChangeBatch: [Injected failure: the change batch is invalid]"; err.Error() != want {
			t.Errorf("err = %q, want %q", err, want)
		}
		if n := e.fake.Calls(r53fake.OpChange); n != 1 {
			t.Errorf("change calls = %d, want 1", n)
		}
	})
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("outside the zone, legacy body %v", legacy), func(t *testing.T) {
			e := newEnv(t, r53fake.Options{LegacyInvalidChangeBatch: legacy}, nil)
			svc := aService()
			svc.Record = "www.example.org."
			err := e.p.Apply(ctx(t), svc, dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{})
			var re *Error
			if !errors.As(err, &re) || re.Code != "InvalidChangeBatch" || errors.Is(err, dnsswitch.ErrRetryable) {
				t.Fatalf("err = %v, want a hard InvalidChangeBatch", err)
			}
			if !strings.Contains(err.Error(), "RRSet with DNS name www.example.org. is not permitted in zone example.com.") {
				t.Errorf("err = %q does not carry the API's message", err)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name      string
		opts      r53fake.Options
		mod       func(*Options)
		inject    func(*r53fake.Server)
		op        string // "read" or "apply"
		retryable bool
		auth      bool
		code      string
		calls     map[r53fake.Op]int
	}{
		{name: "no such hosted zone", mod: func(o *Options) { o.HostedZoneID = "ZNOPE" }, op: "read",
			code: "NoSuchHostedZone", calls: map[r53fake.Op]int{r53fake.OpList: 1}},
		{name: "invalid input", inject: func(s *r53fake.Server) { s.Fail(r53fake.OpChange, "InvalidInput", 1) }, op: "apply",
			code: "InvalidInput", calls: map[r53fake.Op]int{r53fake.OpChange: 1}},
		{name: "access denied", inject: func(s *r53fake.Server) { s.Fail(r53fake.OpChange, "AccessDenied", 1) }, op: "apply",
			auth: true, code: "AccessDenied", calls: map[r53fake.Op]int{r53fake.OpChange: 1}},
		{name: "wrong access key", opts: r53fake.Options{AccessKeyID: "AKIDOTHER"}, op: "read",
			auth: true, code: "InvalidClientTokenId", calls: map[r53fake.Op]int{r53fake.OpList: 1}},
		{name: "signature does not match", inject: func(s *r53fake.Server) { s.Fail(r53fake.OpList, "SignatureDoesNotMatch", 1) }, op: "read",
			auth: true, code: "SignatureDoesNotMatch", calls: map[r53fake.Op]int{r53fake.OpList: 1}},
		{name: "no credentials", mod: func(o *Options) {
			o.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{}, errors.New("no EC2 IMDS role found")
			})
		}, op: "read", auth: true, calls: map[r53fake.Op]int{r53fake.OpList: 0}},
		{name: "a 5xx on a read is sent again", inject: func(s *r53fake.Server) { s.Fail(r53fake.OpList, "InternalError", 1) }, op: "read",
			calls: map[r53fake.Op]int{r53fake.OpList: 2}},
		{name: "a 5xx on a change is not sent again", inject: func(s *r53fake.Server) { s.Fail(r53fake.OpChange, "ServiceUnavailable", 1) }, op: "apply",
			retryable: true, code: "ServiceUnavailable", calls: map[r53fake.Op]int{r53fake.OpChange: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts, func(o *Options) {
				o.MaxRetries = 3
				if tt.mod != nil {
					tt.mod(o)
				}
			})
			if tt.inject != nil {
				tt.inject(e.fake)
			}
			var err error
			if tt.op == "read" {
				_, err = e.p.Read(ctx(t), aService())
			} else {
				err = e.p.Apply(ctx(t), aService(), dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{})
			}
			if tt.code == "" && !tt.auth && !tt.retryable {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
			} else if err == nil {
				t.Fatal("err = nil")
			}
			if got := errors.Is(err, dnsswitch.ErrRetryable); got != tt.retryable {
				t.Errorf("err = %v: retryable %v, want %v", err, got, tt.retryable)
			}
			if got := errors.Is(err, dnsswitch.ErrAuth); got != tt.auth {
				t.Errorf("err = %v: auth %v, want %v", err, got, tt.auth)
			}
			var re *Error
			if tt.code != "" && (!errors.As(err, &re) || re.Code != tt.code || re.Message == "" || !strings.Contains(err.Error(), re.Message)) {
				t.Errorf("err = %v, want code %s with the API's message", err, tt.code)
			}
			for op, n := range tt.calls {
				if got := e.fake.Calls(op); got != n {
					t.Errorf("%s calls = %d, want %d", op, got, n)
				}
			}
		})
	}
}

func TestWaitInsync(t *testing.T) {
	e := newEnv(t, r53fake.Options{PendingPolls: 3}, func(o *Options) { o.WaitInsync = true })
	svc := cnameService()
	e.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	if n := e.fake.Calls(r53fake.OpGetChange); n != 4 {
		t.Errorf("get change calls = %d, want 4 (three PENDING, one INSYNC)", n)
	}
	id := e.fake.Batches()[0].ID
	if st := e.fake.ChangeStatus(id); st != "INSYNC" {
		t.Errorf("status of %s = %s", id, st)
	}
	// The next change goes straight through: nothing is pending.
	e.mustApply(t, svc, dnsswitch.Routing{"backup": 100})
	if n := e.fake.Calls(r53fake.OpChange); n != 2 {
		t.Errorf("change calls = %d, want 2", n)
	}

	noWait := newEnv(t, r53fake.Options{PendingPolls: 3}, nil)
	noWait.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	if n := noWait.fake.Calls(r53fake.OpGetChange); n != 0 {
		t.Errorf("without WaitInsync: %d get change calls", n)
	}
}

func TestWaitInsyncBounded(t *testing.T) {
	e := newEnv(t, r53fake.Options{PendingPolls: 1 << 30}, func(o *Options) {
		o.WaitInsync = true
		o.PollInterval = time.Millisecond
		o.Timeout = 100 * time.Millisecond
	})
	err := e.p.Apply(ctx(t), cnameService(), dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{})
	if !errors.Is(err, dnsswitch.ErrRetryable) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "INSYNC") {
		t.Fatalf("err = %v, want a retryable deadline while waiting for INSYNC", err)
	}
	// The change itself was made: the next pass finds nothing to do.
	e.p.timeout = DefaultTimeout
	e.p.waitInsync = false
	e.mustRead(t, cnameService(), dnsswitch.Routing{"primary": 100})
}

func TestVerifyMismatch(t *testing.T) {
	e := newEnv(t, r53fake.Options{}, nil)
	svc := aService()
	e.mustApply(t, svc, dnsswitch.Routing{"primary": 100})
	// Someone else writes between our change and our read-back.
	e.fake.AfterChange(func() {
		if err := e.fake.Put(zoneID, r53fake.RRSet{Name: "www.example.com.", Type: "A", SetIdentifier: "origin",
			Weight: weight(100), TTL: 60, Values: []string{"203.0.113.1"}}); err != nil {
			t.Error(err)
		}
	})
	err := e.p.Apply(ctx(t), svc, dnsswitch.Routing{"backup": 100}, dnsswitch.ApplyOptions{})
	if !errors.Is(err, dnsswitch.ErrVerify) {
		t.Fatalf("err = %v, want ErrVerify", err)
	}
	if !strings.Contains(err.Error(), "wrote backup=100, read backup=100 origin=100") {
		t.Errorf("err = %q", err)
	}
}

func TestCancelled(t *testing.T) {
	e := newEnv(t, r53fake.Options{}, nil)
	c, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := e.p.Read(c, aService())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Read: %v", err)
	}
	err = e.p.Apply(c, aService(), dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Apply: %v", err)
	}
	if n := e.fake.Calls(r53fake.OpAny); n != 0 {
		t.Errorf("%d calls with a cancelled context", n)
	}
}

func TestNew(t *testing.T) {
	for _, o := range []Options{
		{HostedZoneID: "Z1"},
		{Name: "r53"},
		{Name: "r53", HostedZoneID: "/hostedzone/"},
		{Name: "r53", HostedZoneID: "Z1", RateLimit: -1},
	} {
		if _, err := New(context.Background(), o); err == nil {
			t.Errorf("New(%+v) = nil error", o)
		}
	}
	p, err := New(context.Background(), Options{Name: "r53", HostedZoneID: "/hostedzone/Z9",
		AWSConfig: &aws.Config{Region: "us-east-1"}, Account: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "r53" || p.zone != "Z9" || !p.Capabilities().Weighted || p.maxRetries != DefaultMaxRetries ||
		p.timeout != DefaultTimeout || p.poll != DefaultPollInterval {
		t.Errorf("provider = %+v", p)
	}
	if l, ok := p.limiter.(*RateLimiter); !ok || l.Interval() != 200*time.Millisecond {
		t.Errorf("limiter = %#v, want the shared 5/s one", p.limiter)
	}
	p, err = New(context.Background(), Options{Name: "r53", HostedZoneID: "Z9", MaxRetries: -1,
		AWSConfig: &aws.Config{Region: "us-east-1"}, Account: t.Name()})
	if err != nil || p.maxRetries != 0 {
		t.Errorf("MaxRetries -1: %v, %d", err, p.maxRetries)
	}
}
