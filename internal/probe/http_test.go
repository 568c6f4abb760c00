package probe

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/config"
)

func TestHTTPOK(t *testing.T) {
	srv := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Cache", "HIT")
		fmt.Fprint(w, "ok\n")
	}))
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p := newProber(t, Options{Now: func() time.Time { return now }})
	s := compile(t, config.Probe{
		URL: srv.URL + "/healthz",
		Expect: config.Expect{
			Status:       []int{200},
			BodyContains: "ok",
			BodyRegex:    `^ok\s*$`,
			Headers:      map[string]string{"x-cache": "^HIT$"},
			MaxLatency:   5 * time.Second,
		},
	})
	r := probe(t, p, s)
	wantClass(t, r, ClassOK)
	if r.Status != 200 {
		t.Errorf("status = %d, want 200", r.Status)
	}
	if !r.Time.Equal(now) {
		t.Errorf("time = %v, want the injected %v", r.Time, now)
	}
	if r.LatencyMs <= 0 || r.Phases.ConnectMs <= 0 || r.Phases.TTFBMs <= 0 {
		t.Errorf("latency %v, phases %+v: want positive latency, connect and ttfb", r.LatencyMs, r.Phases)
	}
	if r.Phases.DNSMs != 0 || r.Phases.TLSMs != 0 {
		t.Errorf("phases %+v: an IP over plain HTTP has no dns or tls phase", r.Phases)
	}
	if sum := r.Phases.ConnectMs + r.Phases.TTFBMs; sum > r.LatencyMs {
		t.Errorf("phases %+v add up to more than the latency %v", r.Phases, r.LatencyMs)
	}
}

// TestHTTPExpectations provokes the classes that come from checking a
// response: http_status, body_mismatch (body and headers) and slow, and their
// precedence.
func TestHTTPExpectations(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Cache", "MISS")
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/unavailable", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/wrong", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "maintenance page")
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusMovedPermanently)
	})
	// The slow handlers sleep well past max_latency and well inside the
	// timeout, so scheduling noise on a loaded machine cannot flip them.
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/slow-unavailable", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/slow-wrong", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		fmt.Fprint(w, "maintenance page")
	})
	srv := newHTTPServer(t, mux)
	p := newProber(t, Options{})

	tests := []struct {
		name   string
		path   string
		expect config.Expect
		class  Class
		status int
		error  string // a substring of Result.Error
	}{
		{name: "default status is any 2xx", path: "/ok", class: ClassOK, status: 200},
		{name: "listed status", path: "/unavailable", expect: config.Expect{Status: []int{200, 503}}, class: ClassOK, status: 503},
		{name: "503", path: "/unavailable", expect: config.Expect{Status: []int{200}}, class: ClassHTTPStatus, status: 503, error: "status 503, want 200"},
		{name: "503 by default", path: "/unavailable", class: ClassHTTPStatus, status: 503, error: "want 2xx"},
		{name: "redirects are not followed", path: "/redirect", class: ClassHTTPStatus, status: 301},
		{name: "body missing text", path: "/wrong", expect: config.Expect{BodyContains: "ok"}, class: ClassBodyMismatch, status: 200, error: `body does not contain "ok"`},
		{name: "body not matching", path: "/wrong", expect: config.Expect{BodyRegex: `^ok$`}, class: ClassBodyMismatch, status: 200, error: "body does not match"},
		{name: "header not matching", path: "/ok", expect: config.Expect{Headers: map[string]string{"X-Cache": "^HIT$"}}, class: ClassBodyMismatch, status: 200, error: `header X-Cache: "MISS" does not match "^HIT$"`},
		{name: "header missing", path: "/ok", expect: config.Expect{Headers: map[string]string{"X-Served-By": "."}}, class: ClassBodyMismatch, status: 200, error: "header X-Served-By missing"},
		{name: "slow", path: "/slow", expect: config.Expect{MaxLatency: 100 * time.Millisecond}, class: ClassSlow, status: 200, error: "over max_latency 100ms"},
		{name: "slow within max_latency", path: "/slow", expect: config.Expect{MaxLatency: 5 * time.Second}, class: ClassOK, status: 200},
		{name: "503 and slow is http_status", path: "/slow-unavailable", expect: config.Expect{Status: []int{200}, MaxLatency: 100 * time.Millisecond}, class: ClassHTTPStatus, status: 503},
		{name: "wrong body and slow is body_mismatch", path: "/slow-wrong", expect: config.Expect{BodyContains: "ok", MaxLatency: 100 * time.Millisecond}, class: ClassBodyMismatch, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := probe(t, p, compile(t, config.Probe{URL: srv.URL + tt.path, Expect: tt.expect}))
			wantClass(t, r, tt.class)
			if r.Status != tt.status {
				t.Errorf("status = %d, want %d", r.Status, tt.status)
			}
			if !strings.Contains(r.Error, tt.error) {
				t.Errorf("error = %q, want it to contain %q", r.Error, tt.error)
			}
		})
	}
}

func TestHTTPRefused(t *testing.T) {
	p := newProber(t, Options{})
	r := probe(t, p, compile(t, config.Probe{URL: "http://" + closedPort(t) + "/"}))
	wantClass(t, r, ClassRefused)
	if !strings.Contains(r.Error, "connection refused") {
		t.Errorf("error = %q", r.Error)
	}
}

func TestHTTPConnectTimeout(t *testing.T) {
	a := fullBacklog(t)
	p := newProber(t, Options{})
	start := time.Now()
	r := probe(t, p, compile(t, config.Probe{URL: "http://" + a + "/", Timeout: 300 * time.Millisecond}))
	wantClass(t, r, ClassConnectTimeout)
	if !strings.Contains(r.Error, "connect to "+a) {
		t.Errorf("error = %q, want the address dialled", r.Error)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("the probe took %s despite a 300ms timeout", elapsed)
	}
}

// TestHTTPTimeout: the connection is up, but the answer never comes.
func TestHTTPTimeout(t *testing.T) {
	silent := rawServer(t, func(c net.Conn) {
		_ = readRequestHead(c)
		_, _ = io.Copy(io.Discard, c) // until the client or the cleanup closes c
	})
	p := newProber(t, Options{})
	// The timeout leaves the loopback connect ample time, so the deadline
	// surely strikes after it.
	r := probe(t, p, compile(t, config.Probe{URL: "http://" + silent + "/", Timeout: time.Second}))
	wantClass(t, r, ClassTimeout)
	if !strings.Contains(r.Error, "waiting for the response") {
		t.Errorf("error = %q", r.Error)
	}
	if r.Phases.ConnectMs <= 0 {
		t.Errorf("phases = %+v, want the connect time of the connection that was made", r.Phases)
	}

	// A server that accepts and never starts the TLS handshake.
	r = probe(t, p, compile(t, config.Probe{URL: "https://" + silent + "/", Timeout: time.Second}))
	wantClass(t, r, ClassTimeout)
	if !strings.Contains(r.Error, "in the TLS handshake") {
		t.Errorf("error = %q", r.Error)
	}
}

// TestHTTPReset: the server reads the request and aborts the connection with
// an RST (SO_LINGER 0).
func TestHTTPReset(t *testing.T) {
	rst := rawServer(t, func(c net.Conn) {
		if err := readRequestHead(c); err != nil {
			return
		}
		if err := c.(*net.TCPConn).SetLinger(0); err != nil {
			panic(err)
		}
		c.Close()
	})
	p := newProber(t, Options{})
	r := probe(t, p, compile(t, config.Probe{URL: "http://" + rst + "/"}))
	wantClass(t, r, ClassReset)
	if !strings.Contains(r.Error, "connection reset") {
		t.Errorf("error = %q", r.Error)
	}
}

// TestHTTPClosed: the server closes the connection cleanly without an answer.
func TestHTTPClosed(t *testing.T) {
	closer := rawServer(t, func(c net.Conn) {
		_ = readRequestHead(c)
		c.Close()
	})
	p := newProber(t, Options{})
	r := probe(t, p, compile(t, config.Probe{URL: "http://" + closer + "/"}))
	wantClass(t, r, ClassReset)
	if !strings.Contains(r.Error, "server closed the connection") {
		t.Errorf("error = %q", r.Error)
	}
}

func TestHTTPTLSErrors(t *testing.T) {
	const host = "www.example.test"
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	now := time.Now()
	good := validCert(t, 90*24*time.Hour, host)
	wrongHost := validCert(t, 90*24*time.Hour, "other.example.test")
	expired := newCert(t, []string{host}, now.Add(-48*time.Hour), now.Add(-time.Hour))
	notYet := newCert(t, []string{host}, now.Add(time.Hour), now.Add(48*time.Hour))
	plain := newHTTPServer(t, ok)
	p := newProber(t, Options{})

	tests := []struct {
		name   string
		server string // host:port
		caFile string
		error  string
	}{
		{name: "wrong host", server: addr(newTLSServer(t, wrongHost, ok).Server), caFile: wrongHost.caFile, error: "not " + host},
		{name: "expired", server: addr(newTLSServer(t, expired, ok).Server), caFile: expired.caFile, error: "expired"},
		{name: "not yet valid", server: addr(newTLSServer(t, notYet, ok).Server), caFile: notYet.caFile, error: "not yet valid"},
		{name: "unknown authority", server: addr(newTLSServer(t, good, ok).Server), error: "unknown authority"},
		{name: "plain HTTP server", server: addr(plain), caFile: good.caFile, error: "does not look like a TLS handshake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := compile(t, config.Probe{URL: "https://" + host + "/", ConnectTo: tt.server, CAFile: tt.caFile})
			r := probe(t, p, s)
			wantClass(t, r, ClassTLS)
			if !strings.Contains(r.Error, tt.error) {
				t.Errorf("error = %q, want it to contain %q", r.Error, tt.error)
			}
		})
	}

	// The same server with the right CA is fine: the failures above are
	// the certificates', not the setup's.
	s := compile(t, config.Probe{URL: "https://" + host + "/", ConnectTo: addr(newTLSServer(t, good, ok).Server), CAFile: good.caFile})
	r := probe(t, p, s)
	wantClass(t, r, ClassOK)
	if r.Phases.TLSMs <= 0 {
		t.Errorf("phases = %+v, want a tls phase", r.Phases)
	}
}

func TestHTTPCertExpiring(t *testing.T) {
	const host = "www.example.test"
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })

	t.Run("valid for an hour, 72h wanted", func(t *testing.T) {
		c := validCert(t, time.Hour, host)
		srv := newTLSServer(t, c, ok)
		s := compile(t, config.Probe{
			URL: "https://" + host + "/", ConnectTo: addr(srv.Server), CAFile: c.caFile,
			Expect: config.Expect{CertValidFor: 72 * time.Hour},
		})
		r := probe(t, newProber(t, Options{}), s)
		wantClass(t, r, ClassCertExpiring)
		if !strings.Contains(r.Error, "want at least 72h0m0s") {
			t.Errorf("error = %q", r.Error)
		}
	})

	t.Run("the injected clock decides", func(t *testing.T) {
		c := validCert(t, 30*24*time.Hour, host)
		srv := newTLSServer(t, c, ok)
		s := compile(t, config.Probe{
			URL: "https://" + host + "/", ConnectTo: addr(srv.Server), CAFile: c.caFile,
			Expect: config.Expect{CertValidFor: 72 * time.Hour},
		})
		wantClass(t, probe(t, newProber(t, Options{}), s), ClassOK)
		// 29 days on, one day is left: still valid, but expiring.
		later := time.Now().Add(29 * 24 * time.Hour)
		r := probe(t, newProber(t, Options{Now: func() time.Time { return later }}), s)
		wantClass(t, r, ClassCertExpiring)
		if !strings.Contains(r.Error, "expires in 2") { // 23h59m..., or 24h0m0s
			t.Errorf("error = %q, want about a day left", r.Error)
		}
		// 31 days on, it has expired: the clock also drives verification.
		past := time.Now().Add(31 * 24 * time.Hour)
		wantClass(t, probe(t, newProber(t, Options{Now: func() time.Time { return past }}), s), ClassTLS)
	})
}

func TestHTTPDNS(t *testing.T) {
	t.Run("nxdomain", func(t *testing.T) {
		var queries atomic.Int32
		res := dnsServer(t, func(q []byte) []byte {
			queries.Add(1)
			return nxdomain(q)
		})
		p := newProber(t, Options{Resolver: res})
		start := time.Now()
		r := probe(t, p, compile(t, config.Probe{URL: "http://cdn.example.invalid/healthz", Timeout: 5 * time.Second}))
		wantClass(t, r, ClassDNS)
		if !strings.Contains(r.Error, "no such host") {
			t.Errorf("error = %q", r.Error)
		}
		if queries.Load() == 0 {
			t.Error("the local DNS server saw no query")
		}
		if elapsed := time.Since(start); elapsed > 3*time.Second {
			t.Errorf("resolution took %s; an NXDOMAIN should fail fast", elapsed)
		}
	})
	t.Run("connect_to name", func(t *testing.T) {
		p := newProber(t, Options{Resolver: dnsServer(t, nxdomain)})
		r := probe(t, p, compile(t, config.Probe{URL: "http://127.0.0.1/", ConnectTo: "edge.example.invalid:80"}))
		wantClass(t, r, ClassDNS)
	})
	t.Run("no answer before the deadline", func(t *testing.T) {
		p := newProber(t, Options{Resolver: dnsServer(t, func([]byte) []byte { return nil })})
		r := probe(t, p, compile(t, config.Probe{URL: "http://cdn.example.invalid/", Timeout: 300 * time.Millisecond}))
		wantClass(t, r, ClassDNS)
	})
}

// TestHTTPConnectTo: the probe dials connect_to but keeps the URL's host in
// the Host header and the TLS SNI, and sends the method and headers of the
// spec.
func TestHTTPConnectTo(t *testing.T) {
	const host = "www.example.test"
	c := validCert(t, 90*24*time.Hour, host)
	var (
		mu      sync.Mutex
		hosts   []string
		methods []string
		probes  []string
		agents  []string
	)
	srv := newTLSServer(t, c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		hosts = append(hosts, r.Host)
		methods = append(methods, r.Method)
		probes = append(probes, r.Header.Get("X-Probe"))
		agents = append(agents, r.Header.Get("User-Agent"))
	}))
	p := newProber(t, Options{})
	s := compile(t, config.Probe{
		URL: "https://" + host + "/healthz", ConnectTo: addr(srv.Server), CAFile: c.caFile,
		Method: "post", Headers: map[string]string{"X-Probe": "lab-a"},
	})
	wantClass(t, probe(t, p, s), ClassOK)
	// An explicit Host header overrides the Host, not the SNI.
	s = compile(t, config.Probe{
		URL: "https://" + host + "/healthz", ConnectTo: addr(srv.Server), CAFile: c.caFile,
		Headers: map[string]string{"Host": "origin.example.test"},
	})
	wantClass(t, probe(t, p, s), ClassOK)

	mu.Lock()
	defer mu.Unlock()
	want := []string{host, "origin.example.test"}
	if fmt.Sprint(hosts) != fmt.Sprint(want) {
		t.Errorf("Host headers = %q, want %q", hosts, want)
	}
	if got := srv.serverNames(); fmt.Sprint(got) != fmt.Sprint([]string{host, host}) {
		t.Errorf("SNI = %q, want %q twice", got, host)
	}
	if fmt.Sprint(methods) != "[POST GET]" || probes[0] != "lab-a" {
		t.Errorf("methods = %q, X-Probe = %q", methods, probes)
	}
	if agents[1] != "failover-probe/1" {
		t.Errorf("User-Agent = %q", agents[1])
	}
}

// TestHTTPFreshConnections: every probe opens a connection of its own.
func TestHTTPFreshConnections(t *testing.T) {
	var opened atomic.Int32
	srv := newHTTPServerConnState(t, func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			opened.Add(1)
		}
	})
	p := newProber(t, Options{})
	s := compile(t, config.Probe{URL: srv.URL + "/"})
	const n = 5
	for range n {
		wantClass(t, probe(t, p, s), ClassOK)
	}
	if got := opened.Load(); got != n {
		t.Errorf("%d probes opened %d connections, want one each", n, got)
	}
}

func newHTTPServerConnState(t *testing.T, cs func(net.Conn, http.ConnState)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	quietServer(srv)
	srv.Config.ConnState = cs
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// TestHTTPBodyBound: a body without end does not stall the probe, which reads
// only MaxBody bytes of it.
func TestHTTPBodyBound(t *testing.T) {
	var written atomic.Int64
	srv := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 32<<10))
		if _, err := w.Write([]byte("ok\n")); err != nil {
			return
		}
		for r.Context().Err() == nil {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	p := newProber(t, Options{})
	for _, expect := range []config.Expect{{}, {BodyContains: "ok"}} {
		r := probe(t, p, compile(t, config.Probe{URL: srv.URL + "/", Timeout: 5 * time.Second, Expect: expect}))
		wantClass(t, r, ClassOK)
	}
	if written.Load() < MaxBody {
		t.Errorf("the server wrote only %d bytes; the test does not exercise the bound", written.Load())
	}
}

// TestHTTPSourceAddr: connections come from the source address, as the lab's
// vantages need (Linux routes all of 127/8 to lo, so binding needs no setup).
func TestHTTPSourceAddr(t *testing.T) {
	var (
		mu      sync.Mutex
		remotes []string
	)
	srv := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		remotes = append(remotes, r.RemoteAddr)
	}))
	for _, src := range []string{"127.0.20.1", "127.0.20.3"} {
		p := newProber(t, Options{SourceAddr: src})
		wantClass(t, probe(t, p, compile(t, config.Probe{URL: srv.URL + "/"})), ClassOK)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(remotes) != 2 {
		t.Fatalf("remotes = %q", remotes)
	}
	for i, want := range []string{"127.0.20.1", "127.0.20.3"} {
		host, _, err := net.SplitHostPort(remotes[i])
		if err != nil || host != want {
			t.Errorf("remote address = %q, want host %s", remotes[i], want)
		}
	}
}

func TestNewBadSourceAddr(t *testing.T) {
	if _, err := New(Options{SourceAddr: "lab-a"}); err == nil {
		t.Error("New accepted a source address that is not an IP")
	}
}

// TestHTTPDefaultResolver: the default resolver, Go's own with dialDNS,
// resolves names from the system's configuration (here /etc/hosts).
func TestHTTPDefaultResolver(t *testing.T) {
	srv := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	_, port, err := net.SplitHostPort(addr(srv))
	if err != nil {
		t.Fatal(err)
	}
	r := probe(t, newProber(t, Options{}), compile(t, config.Probe{URL: "http://localhost:" + port + "/"}))
	wantClass(t, r, ClassOK)
	if r.Phases.DNSMs <= 0 {
		t.Errorf("phases = %+v, want a dns phase", r.Phases)
	}
}
