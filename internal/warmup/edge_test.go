package warmup

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// seen is one request as the edge saw it.
type seen struct {
	host, path, sni string
}

// edgeOptions shape a test edge.
type edgeOptions struct {
	// missDelay is what a MISS costs: the trip to the origin.
	missDelay time.Duration
	// status, if set, answers a path with its status instead of the object.
	status func(path string) int
	// hang makes every request wait until the client gives up.
	hang bool
	// body, if set, serves a path's content (sitemaps); ok reports whether
	// it has one for the path.
	body func(path string) (b []byte, ok bool)
	// objectSize is the size of an object's body; 0 means 512 bytes.
	objectSize int
	// tls serves HTTPS with this certificate.
	tls *tls.Certificate
}

// edge is a tiny caching CDN edge on its own loopback address: the first
// fetch of an object is a MISS that costs missDelay, later ones are HITs,
// as X-Cache says.
type edge struct {
	opts edgeOptions
	srv  *httptest.Server
	addr string // host:port to dial

	mu       sync.Mutex
	cached   map[string]bool
	requests []seen
	conns    atomic.Int64
	release  chan struct{}
}

// startEdge serves an edge on ip (127.0.0.x) with a kernel-chosen port.
func startEdge(t testing.TB, ip string, opts edgeOptions) *edge {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	e := &edge{opts: opts, cached: map[string]bool{}, release: make(chan struct{})}
	e.srv = httptest.NewUnstartedServer(http.HandlerFunc(e.serve))
	e.srv.Listener.Close()
	e.srv.Listener = l
	e.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	e.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			e.conns.Add(1)
		}
	}
	if opts.tls != nil {
		e.srv.TLS = &tls.Config{Certificates: []tls.Certificate{*opts.tls}}
		e.srv.StartTLS()
	} else {
		e.srv.Start()
	}
	e.addr = l.Addr().String()
	// Cleanups run last-in first-out: release hanging handlers, then close.
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() { close(e.release) })
	return e
}

func (e *edge) serve(w http.ResponseWriter, r *http.Request) {
	sni := ""
	if r.TLS != nil {
		sni = r.TLS.ServerName
	}
	e.mu.Lock()
	e.requests = append(e.requests, seen{host: r.Host, path: r.URL.Path, sni: sni})
	e.mu.Unlock()
	if e.opts.hang {
		select {
		case <-r.Context().Done():
		case <-e.release:
		}
		return
	}
	if e.opts.body != nil {
		if b, ok := e.opts.body(r.URL.Path); ok {
			w.Header().Set("Content-Type", "application/xml")
			w.Write(b)
			return
		}
	}
	if e.opts.status != nil {
		if code := e.opts.status(r.URL.Path); code != 0 && code != http.StatusOK {
			http.Error(w, "no", code)
			return
		}
	}
	e.mu.Lock()
	hit := e.cached[r.URL.Path]
	e.cached[r.URL.Path] = true
	e.mu.Unlock()
	if hit {
		w.Header().Set("X-Cache", "HIT")
		w.Header().Set("Age", "3")
	} else {
		if e.opts.missDelay > 0 {
			// The origin's latency, part of what is simulated.
			timer := time.NewTimer(e.opts.missDelay)
			select {
			case <-timer.C:
			case <-r.Context().Done():
				timer.Stop()
				return
			}
		}
		w.Header().Set("X-Cache", "MISS")
		w.Header().Set("Age", "0")
	}
	size := e.opts.objectSize
	if size == 0 {
		size = 512
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(payload(size))
}

var (
	payloadOnce sync.Once
	payloadBuf  []byte
)

// payload is size bytes of object content, shared by every response.
func payload(size int) []byte {
	payloadOnce.Do(func() { payloadBuf = []byte(strings.Repeat("x", 10<<20)) })
	return payloadBuf[:size]
}

// seenRequests returns a copy of the requests seen so far.
func (e *edge) seenRequests() []seen {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]seen(nil), e.requests...)
}

// countPath counts the requests for paths with the prefix.
func (e *edge) countPath(prefix string) int {
	n := 0
	for _, r := range e.seenRequests() {
		if strings.HasPrefix(r.path, prefix) {
			n++
		}
	}
	return n
}

// virtualClock is a Clock whose time moves only when someone sleeps: a
// sleep until t sets the time to t at once (if it is later). Since the
// limiter reserves each request's slot before it sleeps, the clock ends at
// the latest slot, whatever the order the workers ran in.
type virtualClock struct {
	mu  sync.Mutex
	now time.Time
}

func newVirtualClock() *virtualClock {
	return &virtualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) SleepUntil(ctx context.Context, t time.Time) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
	return nil
}

// selfSigned returns a certificate for the names, and a pool that trusts it.
func selfSigned(t *testing.T, names ...string) (*tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: names[0]},
		DNSNames:              names,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
