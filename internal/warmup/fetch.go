package warmup

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// MaxObjectBytes is how much of an object's body a fetch reads. Reading the
// body is what makes the edge fetch and store the whole object, so it is
// read to the end, discarded as it comes, but no further than this.
const MaxObjectBytes = 8 << 20

// maxHeaderBytes bounds a response's header block.
const maxHeaderBytes = 64 << 10

// userAgent is sent with every warm-up request.
const userAgent = "failover-warmup/1"

// acceptEncoding is what browsers send, so the edge warms the variant that
// browsers will ask for. The bodies are discarded, so their encoding does
// not matter here.
const acceptEncoding = "gzip, deflate, br, zstd"

// newTransport returns the keep-alive pool of a target. Every connection
// goes to addr whatever the URL's host (when addr is set), while the
// request keeps the URL's host in its Host header and, over TLS, in the SNI
// and the certificate check: the transport takes both from the URL, and
// only the dial is redirected. Unlike a probe, a warm-up reuses its
// connections: it is a load generator, and the pool belongs to one target,
// so connections of targets that share a URL never mix.
func newTransport(addr string, conc int, timeout time.Duration, roots *x509.CertPool) *http.Transport {
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy: nil, // never a proxy from the environment: we dial the target
		DialContext: func(ctx context.Context, network, urlAddr string) (net.Conn, error) {
			if addr != "" {
				urlAddr = addr
			}
			return dialer.DialContext(ctx, network, urlAddr)
		},
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: timeout,
		// HTTP/1.1 only (a custom dialer turns HTTP/2 off): like many
		// clients, each worker has its connection, which spreads the
		// warm-up over the edge's servers.
		MaxIdleConns:           conc,
		MaxIdleConnsPerHost:    conc,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: maxHeaderBytes,
		// We send our own Accept-Encoding and never decode a body.
		DisableCompression: true,
	}
}

// outcome is the result of one fetch.
type outcome struct {
	failure   string // "" when OK
	aborted   bool   // cut short by the end of the run, not a failure
	cache     CacheStatus
	bytes     int64
	truncated bool
}

// fetch gets one URL through the target within the per-request timeout and
// reads its body to the end (at most MaxObjectBytes).
func (w *Warmer) fetch(ctx context.Context, rawURL string) outcome {
	rctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return outcome{failure: "other"}
	}
	req.Header = w.header // read-only: RoundTrip does not modify it
	resp, err := w.transport.RoundTrip(req)
	if err != nil {
		return failed(ctx, err)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, MaxObjectBytes+1))
	// Closing before EOF drops the connection instead of draining it.
	resp.Body.Close()
	if err != nil {
		return failed(ctx, err)
	}
	o := outcome{bytes: min(n, MaxObjectBytes), truncated: n > MaxObjectBytes}
	if resp.StatusCode >= 400 {
		o.failure = "http_" + strconv.Itoa(resp.StatusCode)
		return o
	}
	o.cache = cacheStatus(resp.Header, w.cacheHeaders)
	return o
}

// failed is the outcome of a fetch whose transport failed: aborted when the
// run itself is ending, otherwise a failure with its class.
func failed(run context.Context, err error) outcome {
	if run.Err() != nil {
		return outcome{aborted: true}
	}
	return outcome{failure: errorClass(err)}
}

// errorClass names a transport failure with the probe's class names.
func errorClass(err error) string {
	var (
		dnsErr   *net.DNSError
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		header   tls.RecordHeaderError
		alert    tls.AlertError
		netErr   net.Error
	)
	switch {
	case errors.As(err, &dnsErr):
		return "dns"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &hostname),
		errors.As(err, &invalid), errors.As(err, &header), errors.As(err, &alert):
		return "tls"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "reset"
	}
	return "other"
}
