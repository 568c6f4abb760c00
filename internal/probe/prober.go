package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptrace"
	"sync"
	"time"

	"github.com/failoverhq/failover/internal/config"
)

// Options configure a Prober. The zero value is usable.
type Options struct {
	// SourceAddr is the local IP address that probe connections are bound
	// to, for example 127.0.20.1 for the lab's vantage lab-a. Empty lets
	// the kernel choose.
	SourceAddr string
	// Resolver resolves names that are dialled (the URL's host, or a
	// connect_to host). Nil means Go's own resolver with the system's
	// configuration, set up so that a lookup abandoned by a probe that
	// timed out stops at once (see dialDNS).
	Resolver *net.Resolver
	// Now is the clock for Result.Time, TLS certificate verification and
	// the cert_valid_for check. Nil means time.Now. Latencies are always
	// measured with the real monotonic clock.
	Now func() time.Time
}

// Prober runs probes. It holds no connections between probes: every probe
// dials afresh, resolves afresh and does a full TLS handshake, so a target
// that stopped accepting connections is never hidden by a pooled one, and
// the phase timings describe the whole path every time. There is
// deliberately no pooling option: a pool keyed by the URL's host would mix
// the connections of targets that share a URL but differ in connect_to.
//
// A Prober is safe for concurrent use.
type Prober struct {
	dialer net.Dialer
	now    func() time.Time
}

// New returns a Prober.
func New(opts Options) (*Prober, error) {
	p := &Prober{
		dialer: net.Dialer{Resolver: opts.Resolver, KeepAlive: -1},
		now:    opts.Now,
	}
	if p.dialer.Resolver == nil {
		p.dialer.Resolver = &net.Resolver{PreferGo: true, Dial: dialDNS}
	}
	if p.now == nil {
		p.now = time.Now
	}
	if opts.SourceAddr != "" {
		ip := net.ParseIP(opts.SourceAddr)
		if ip == nil {
			return nil, fmt.Errorf("probe: source address %q is not an IP address", opts.SourceAddr)
		}
		p.dialer.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return p, nil
}

// Probe checks the target described by s, a Spec from Compile, once within
// s.Timeout() (or sooner if ctx ends first), and returns the classified
// result. Service and Target are left empty for the caller to fill in.
//
// A transport failure is dns (the name did not resolve, or the deadline
// struck while it was resolving), refused, connect_timeout (the deadline
// struck before the TCP connection was up), timeout (after it was up: in the
// TLS handshake, waiting for the response or reading the body), reset (an
// RST, or the server closed the connection before a complete response), tls
// (certificate or handshake failures), or other. The full order of the
// checks is on classifyError.
//
// When the transport succeeds, the expectations are checked in this order
// and the first failure wins: status (http_status), then headers and body
// (body_mismatch), then max_latency (slow), then cert_valid_for
// (cert_expiring). So a 503 that is also slow is http_status, and a wrong
// body served slowly is body_mismatch.
func (p *Prober) Probe(ctx context.Context, s *Spec) Result {
	res := Result{Time: p.now()}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tr := new(tracer)
	ctx = httptrace.WithClientTrace(ctx, tr.clientTrace())
	if s.kind == config.ProbeTCP {
		p.probeTCP(ctx, s, &res, tr, start)
	} else {
		p.probeHTTP(ctx, s, &res, tr, start)
	}
	res.OK = res.Class == ClassOK
	return res
}

// dial connects to the spec's address, whatever address the caller asked
// for: this is how connect_to works while the URL keeps Host and SNI.
func (p *Prober) dial(ctx context.Context, s *Spec) (net.Conn, error) {
	return p.dialer.DialContext(ctx, "tcp", s.addr)
}

// dialDNS connects the Go resolver to a DNS server, and closes the
// connection as soon as ctx ends. The resolver only puts ctx's deadline on
// the connection: when the probe waiting for a lookup gives up, the lookup's
// context is cancelled, but without this its goroutine would go on reading
// until the resolver's own timeout (5s by default), outliving the probe.
func dialDNS(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { c.Close() })
	return c, nil
}

// tlsConfig is the spec's TLS config on the prober's clock.
func (p *Prober) tlsConfig(s *Spec) *tls.Config {
	c := s.tls.Clone()
	c.Time = p.now
	return c
}

// fail fills res for a probe that failed in transport.
func fail(ctx context.Context, res *Result, err error, tr *tracer, s *Spec, start time.Time) {
	elapsed := time.Since(start)
	prog := tr.progress()
	res.LatencyMs = ms(elapsed)
	res.Phases = tr.phases()
	res.Class = classifyError(err, prog)
	if res.Class == ClassOther && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// The probe's own deadline passed, but the error that surfaced
		// does not say so; trust the deadline.
		res.Class = classifyError(context.DeadlineExceeded, prog)
	}
	res.Error = errorText(err, res.Class, prog, elapsed, s.addr)
}

// errorText is the short, human-readable Result.Error of a failure.
func errorText(err error, c Class, p progress, elapsed time.Duration, addr string) string {
	elapsed = elapsed.Round(time.Millisecond)
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, context.Canceled):
		return "probe canceled " + p.stage()
	case c == ClassConnectTimeout:
		return fmt.Sprintf("connect to %s: no connection after %s", addr, elapsed)
	case c == ClassTimeout:
		return fmt.Sprintf("timeout after %s %s", elapsed, p.stage())
	case c == ClassDNS && !errors.As(err, &dnsErr):
		return fmt.Sprintf("lookup for %s: no answer after %s", addr, elapsed)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "server closed the connection " + p.stage()
	default:
		return err.Error()
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// tracer records the phase timings and the progress of one probe. Its hooks
// may run on the transport's goroutines, even after the probe gave up, so it
// locks.
type tracer struct {
	mu                  sync.Mutex
	prog                progress
	dnsStart, dnsDone   time.Time
	connStart, connDone time.Time
	tlsStart, tlsDone   time.Time
	wrote, firstByte    time.Time
}

func (t *tracer) clientTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		DNSStart: func(httptrace.DNSStartInfo) {
			t.mu.Lock()
			defer t.mu.Unlock()
			t.prog.dnsStarted = true
			t.dnsStart = time.Now()
		},
		DNSDone: func(info httptrace.DNSDoneInfo) {
			t.mu.Lock()
			defer t.mu.Unlock()
			t.prog.dnsOK = info.Err == nil
			t.dnsDone = time.Now()
		},
		ConnectStart: func(string, string) {
			t.mu.Lock()
			defer t.mu.Unlock()
			if t.connStart.IsZero() {
				t.connStart = time.Now()
			}
		},
		ConnectDone: func(_, _ string, err error) {
			t.mu.Lock()
			defer t.mu.Unlock()
			if err == nil && !t.prog.connected {
				t.prog.connected = true
				t.connDone = time.Now()
			}
		},
		TLSHandshakeStart: func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			t.prog.tlsStarted = true
			t.tlsStart = time.Now()
		},
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			t.mu.Lock()
			defer t.mu.Unlock()
			t.prog.tlsOK = err == nil
			t.tlsDone = time.Now()
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			t.mu.Lock()
			defer t.mu.Unlock()
			t.prog.wrote = info.Err == nil
			t.wrote = time.Now()
		},
		GotFirstResponseByte: func() {
			t.mu.Lock()
			defer t.mu.Unlock()
			t.firstByte = time.Now()
		},
	}
}

// gotHeaders marks that the response headers arrived.
func (t *tracer) gotHeaders() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.prog.gotHeaders = true
}

func (t *tracer) progress() progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.prog
}

// phases are the durations of the phases that completed. They do not
// overlap: dns, then connect, then tls, then ttfb from the request written
// to the first response byte.
func (t *tracer) phases() Phases {
	t.mu.Lock()
	defer t.mu.Unlock()
	span := func(from, to time.Time) float64 {
		if from.IsZero() || to.IsZero() || to.Before(from) {
			return 0
		}
		return ms(to.Sub(from))
	}
	return Phases{
		DNSMs:     span(t.dnsStart, t.dnsDone),
		ConnectMs: span(t.connStart, t.connDone),
		TLSMs:     span(t.tlsStart, t.tlsDone),
		TTFBMs:    span(t.wrote, t.firstByte),
	}
}
