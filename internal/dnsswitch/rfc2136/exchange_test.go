package rfc2136

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

// fake is an in-process DNS server over TCP that answers queries and
// updates as a test tells it, and records what it was sent.
type fake struct {
	addr string

	mu      sync.Mutex
	queries int
	updates int
	// query and update build the answer to a request; nil answers an
	// empty authoritative NOERROR.
	query, update func(req *dns.Msg) *dns.Msg
}

func newFake(t *testing.T, tsigSecret map[string]string) *fake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{addr: ln.Addr().String()}
	started := make(chan struct{})
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(f.serve), TsigSecret: tsigSecret,
		NotifyStartedFunc: func() { close(started) },
		// miekg/dns rejects UPDATE by default.
		MsgAcceptFunc: func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept }}
	served := make(chan error, 1)
	go func() { served <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-served:
		t.Fatalf("fake server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Errorf("fake server shutdown: %v", err)
		}
		<-served
	})
	return f
}

func (f *fake) serve(w dns.ResponseWriter, req *dns.Msg) {
	f.mu.Lock()
	build := f.query
	if req.Opcode == dns.OpcodeUpdate {
		f.updates++
		build = f.update
	} else {
		f.queries++
	}
	f.mu.Unlock()
	var r *dns.Msg
	if build != nil {
		r = build(req)
	} else {
		r = new(dns.Msg)
		r.SetReply(req)
		r.Authoritative = true
	}
	_ = w.WriteMsg(r)
}

func (f *fake) set(query, update func(*dns.Msg) *dns.Msg) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.query, f.update = query, update
}

func (f *fake) counts() (queries, updates int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries, f.updates
}

func (f *fake) provider(t *testing.T, timeout time.Duration) *Provider {
	t.Helper()
	p, err := New(Options{Name: "fake", Server: f.addr, Zone: testZone, KeyName: "failover-key.", Secret: testSecret, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// reply answers req with rcode, authoritatively.
func reply(rcode int) func(*dns.Msg) *dns.Msg {
	return func(req *dns.Msg) *dns.Msg {
		r := new(dns.Msg)
		r.SetRcode(req, rcode)
		r.Authoritative = true
		return r
	}
}

// tsigError answers req as a server that rejects its TSIG does: NOTAUTH and
// an unsigned TSIG record carrying the error.
func tsigError(code uint16) func(*dns.Msg) *dns.Msg {
	return func(req *dns.Msg) *dns.Msg {
		r := new(dns.Msg)
		r.SetRcode(req, dns.RcodeNotAuth)
		t := req.IsTsig()
		r.Extra = append(r.Extra, &dns.TSIG{
			Hdr:       dns.RR_Header{Name: t.Hdr.Name, Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
			Algorithm: t.Algorithm, TimeSigned: t.TimeSigned, Fudge: t.Fudge, OrigId: req.Id, Error: code,
		})
		return r
	}
}

// TestErrorClasses: every way a server can refuse comes back as the right
// class of error with a message that says what to do.
func TestErrorClasses(t *testing.T) {
	svc := testService("www." + testZone)
	cases := []struct {
		name          string
		query, update func(*dns.Msg) *dns.Msg
		apply         bool  // Apply (else Read)
		kind          error // ErrRetryable, ErrAuth, ErrVerify, or nil for a hard error
		contains      []string
	}{
		{"update SERVFAIL", nil, reply(dns.RcodeServerFailure), true, dnsswitch.ErrRetryable,
			[]string{"rfc2136: update www.example.test.: server 127.0.0.1:", "answered SERVFAIL"}},
		{"query SERVFAIL", reply(dns.RcodeServerFailure), nil, false, dnsswitch.ErrRetryable,
			[]string{"rfc2136: query www.example.test. A:", "SERVFAIL"}},
		{"update REFUSED", nil, reply(dns.RcodeRefused), true, nil,
			[]string{`server refused the update of zone example.test. (REFUSED): check that the key "failover-key." may update it`}},
		{"query REFUSED", reply(dns.RcodeRefused), nil, false, nil,
			[]string{"server refused the query (REFUSED)", "serves zone example.test."}},
		{"update NOTZONE", nil, reply(dns.RcodeNotZone), true, nil,
			[]string{"server says the record is not in zone example.test. (NOTZONE)"}},
		{"update FORMERR", nil, reply(dns.RcodeFormatError), true, nil, []string{"server answered FORMERR"}},
		{"update NXDOMAIN", nil, reply(dns.RcodeNameError), true, nil, []string{"NXDOMAIN"}},
		{"BADSIG", nil, tsigError(dns.RcodeBadSig), true, dnsswitch.ErrAuth,
			[]string{`rfc2136: update www.example.test.: server refused the TSIG key "failover-key." (hmac-sha256, BADSIG): check the key name, algorithm and secret`}},
		{"BADKEY on a query", tsigError(dns.RcodeBadKey), nil, false, dnsswitch.ErrAuth,
			[]string{`server refused the TSIG key "failover-key." (hmac-sha256, BADKEY)`, "lets this key update zone example.test."}},
		{"BADTIME", nil, tsigError(dns.RcodeBadTime), true, dnsswitch.ErrAuth,
			[]string{"(hmac-sha256, BADTIME): the clocks of this host and the server differ by more than 300s"}},
		{"NOTAUTH without TSIG error", nil, reply(dns.RcodeNotAuth), true, dnsswitch.ErrAuth,
			[]string{"(hmac-sha256, NOTAUTH)", "authoritative for example.test."}},
		{"answer not authoritative", func(req *dns.Msg) *dns.Msg { r := new(dns.Msg); r.SetReply(req); return r }, nil, false, nil,
			[]string{"is not authoritative: point the provider at a primary server of zone example.test., not a resolver"}},
		{"update accepted but not published", nil, reply(dns.RcodeSuccess), true, dnsswitch.ErrVerify,
			[]string{"update www.example.test. was accepted, but the server answers {}, want {A 192.0.2.1 ttl 60, A 192.0.2.2 ttl 60}"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t, nil)
			f.set(c.query, c.update)
			p := f.provider(t, 2*time.Second)
			var err error
			if c.apply {
				err = p.Apply(t.Context(), svc, dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{})
			} else {
				_, err = p.Read(t.Context(), svc)
			}
			if err == nil {
				t.Fatal("err = nil, want an error")
			}
			for _, k := range []error{dnsswitch.ErrRetryable, dnsswitch.ErrAuth, dnsswitch.ErrVerify, dnsswitch.ErrForeign} {
				if got, want := errors.Is(err, k), k == c.kind; got != want {
					t.Errorf("errors.Is(%q, %v) = %v, want %v", err, k, got, want)
				}
			}
			for _, s := range c.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err = %q, want it to contain %q", err, s)
				}
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("err = %q holds the secret", err)
			}
		})
	}
}

// TestBadAnswerSignature: a NOERROR whose signature does not verify (the
// server holds another secret) is an auth failure, not a success.
func TestBadAnswerSignature(t *testing.T) {
	other := "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC1vdGhlcg=="
	f := newFake(t, map[string]string{"failover-key.": other})
	signed := func(req *dns.Msg) *dns.Msg {
		r := new(dns.Msg)
		r.SetReply(req)
		r.Authoritative = true
		r.SetTsig("failover-key.", dns.HmacSHA256, 300, time.Now().Unix())
		return r
	}
	f.set(signed, signed)
	_, err := f.provider(t, 2*time.Second).Read(t.Context(), testService("www."+testZone))
	if !errors.Is(err, dnsswitch.ErrAuth) || !strings.Contains(err.Error(), `failed TSIG verification with the key "failover-key." (hmac-sha256)`) {
		t.Fatalf("Read = %v, want an ErrAuth saying the answer failed verification", err)
	}
	for _, s := range []string{testSecret, other} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("err = %q holds a secret", err)
		}
	}
}

// TestChecksBeforeSending: an invalid routing or service sends nothing at
// all, not even a query; Read checks the service the same way.
func TestChecksBeforeSending(t *testing.T) {
	f := newFake(t, nil)
	p := f.provider(t, 2*time.Second)
	svc := func(edit func(*dnsswitch.Service)) dnsswitch.Service {
		s := testService("www." + testZone)
		edit(&s)
		return s
	}
	good := svc(func(*dnsswitch.Service) {})
	cases := []struct {
		name    string
		svc     dnsswitch.Service
		routing dnsswitch.Routing
		wantErr string
		invalid bool // a routing problem: ErrInvalid, and Read is fine
	}{
		{"weights sum to 90", good, dnsswitch.Routing{"primary": 90}, "weights sum to 90", true},
		{"unknown target", good, dnsswitch.Routing{"primary": 100, "elsewhere": 0}, `has no target "elsewhere"`, true},
		{"record outside the zone", svc(func(s *dnsswitch.Service) { s.Record = "www.example.com." }),
			dnsswitch.Routing{"primary": 100}, "record www.example.com. is not in zone example.test.", false},
		{"record not fully qualified", svc(func(s *dnsswitch.Service) { s.Record = "www.example.test" }),
			dnsswitch.Routing{"primary": 100}, `record "www.example.test" must be fully qualified`, false},
		{"negative TTL", svc(func(s *dnsswitch.Service) { s.TTL = -1 }),
			dnsswitch.Routing{"primary": 100}, "ttl -1 is out of range", false},
		{"duplicate target", svc(func(s *dnsswitch.Service) { s.Answers = append(s.Answers, s.Answers[0]) }),
			dnsswitch.Routing{"primary": 100}, `target "primary" appears twice`, false},
		{"bad answer", svc(func(s *dnsswitch.Service) { s.Answers[1].Values = []string{"nope"} }),
			dnsswitch.Routing{"primary": 100}, `service www: target backup: value "nope" of the AAAA answer is not an IP address`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := []error{p.Apply(t.Context(), c.svc, c.routing, dnsswitch.ApplyOptions{})}
			if !c.invalid {
				_, err := p.Read(t.Context(), c.svc)
				errs = append(errs, err)
			}
			for _, err := range errs {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want an error containing %q", err, c.wantErr)
				}
				if got := errors.Is(err, dnsswitch.ErrInvalid); got != c.invalid {
					t.Errorf("errors.Is(%q, ErrInvalid) = %v, want %v", err, got, c.invalid)
				}
				if errors.Is(err, dnsswitch.ErrRetryable) {
					t.Errorf("err = %q is retryable", err)
				}
			}
		})
	}
	if q, u := f.counts(); q != 0 || u != 0 {
		t.Errorf("%d queries and %d updates reached the server, want none", q, u)
	}
}

// hang accepts TCP connections and never answers. Each accepted connection
// is announced on accepted.
func hang(t *testing.T) (addr string, accepted <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 16)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), ch
}

func TestTimeoutIsRetryable(t *testing.T) {
	addr, _ := hang(t)
	p, err := New(Options{Name: "t", Server: addr, Zone: testZone, KeyName: "k.", Secret: testSecret, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = p.Read(t.Context(), testService("www."+testZone))
	if !errors.Is(err, dnsswitch.ErrRetryable) || !strings.Contains(err.Error(), "no answer from "+addr+" within 200ms") {
		t.Fatalf("Read = %v, want a retryable timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Read took %v with a 200ms timeout", d)
	}
}

func TestConnectionRefusedIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p, err := New(Options{Name: "t", Server: addr, Zone: testZone, KeyName: "k.", Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Apply(t.Context(), testService("www."+testZone), dnsswitch.Routing{"primary": 100}, dnsswitch.ApplyOptions{})
	if !errors.Is(err, dnsswitch.ErrRetryable) || !strings.Contains(err.Error(), "cannot reach "+addr) {
		t.Fatalf("Apply = %v, want a retryable error naming %s", err, addr)
	}
}

// TestCancelInFlight: cancelling the context of a call that waits for an
// answer returns at once with context.Canceled, not after the timeout.
func TestCancelInFlight(t *testing.T) {
	addr, accepted := hang(t)
	p, err := New(Options{Name: "t", Server: addr, Zone: testZone, KeyName: "k.", Secret: testSecret, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := p.Read(ctx, testService("www."+testZone))
		done <- err
	}()
	<-accepted
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || errors.Is(err, dnsswitch.ErrRetryable) {
			t.Fatalf("Read = %v, want context.Canceled and not retryable", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return within 10s of the cancel")
	}
}
