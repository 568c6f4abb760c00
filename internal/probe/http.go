package probe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// probeHTTP runs one HTTP(S) probe over a connection of its own. It speaks
// HTTP/1.1 and does not follow redirects: a 301 is a status like any other.
func (p *Prober) probeHTTP(ctx context.Context, s *Spec, res *Result, tr *tracer, start time.Time) {
	req, err := http.NewRequestWithContext(ctx, s.method, s.url.String(), nil)
	if err != nil {
		res.Class, res.Error = ClassOther, fmt.Sprintf("request: %v", err)
		return
	}
	req.Header = s.header.Clone()
	if s.host != "" {
		req.Host = s.host
	}
	t := &http.Transport{
		Proxy: nil, // never a proxy from the environment: we dial connect_to
		// Dial with the probe's own context rather than the transport's,
		// which outlives the request so a pool could use the connection:
		// this transport has no pool, and the dial must end with the probe.
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			return p.dial(ctx, s)
		},
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: MaxBody,
	}
	if s.tls != nil {
		t.TLSClientConfig = p.tlsConfig(s)
	}
	defer t.CloseIdleConnections()

	resp, err := t.RoundTrip(req)
	if err != nil {
		fail(ctx, res, err, tr, s, start)
		return
	}
	tr.gotHeaders()
	res.Status = resp.StatusCode
	body, err := readBody(resp.Body, s.expect.needsBody())
	// Closing before EOF drops the connection, leaving the rest unread.
	resp.Body.Close()
	if err != nil {
		fail(ctx, res, err, tr, s, start)
		return
	}
	latency := time.Since(start)
	res.LatencyMs = ms(latency)
	res.Phases = tr.phases()
	res.Class, res.Error = s.expect.check(resp, body, latency, p.now())
}

// readBody reads at most MaxBody bytes of the body, and keeps them only if
// keep is set.
func readBody(r io.Reader, keep bool) ([]byte, error) {
	lr := io.LimitReader(r, MaxBody)
	if !keep {
		_, err := io.Copy(io.Discard, lr)
		return nil, err
	}
	var buf bytes.Buffer
	_, err := buf.ReadFrom(lr)
	return buf.Bytes(), err
}

func (e *expectations) needsBody() bool {
	return e.bodyContains != "" || e.bodyRegex != nil
}

// check applies the expectations to a response whose transport succeeded,
// in the order documented on Prober.Probe.
func (e *expectations) check(resp *http.Response, body []byte, latency time.Duration, now time.Time) (Class, string) {
	if !e.statusOK(resp.StatusCode) {
		return ClassHTTPStatus, fmt.Sprintf("status %d, want %s", resp.StatusCode, e.wantStatus())
	}
	for _, h := range e.headers {
		values := resp.Header.Values(h.name)
		if len(values) == 0 {
			return ClassBodyMismatch, fmt.Sprintf("header %s missing, want %q", h.name, h.re)
		}
		if !anyMatch(h.re, values) {
			return ClassBodyMismatch, fmt.Sprintf("header %s: %q does not match %q", h.name, strings.Join(values, ", "), h.re)
		}
	}
	if e.bodyContains != "" && !bytes.Contains(body, []byte(e.bodyContains)) {
		return ClassBodyMismatch, fmt.Sprintf("body does not contain %q", e.bodyContains)
	}
	if e.bodyRegex != nil && !e.bodyRegex.Match(body) {
		return ClassBodyMismatch, fmt.Sprintf("body does not match %q", e.bodyRegex)
	}
	if e.maxLatency > 0 && latency > e.maxLatency {
		return ClassSlow, fmt.Sprintf("latency %s over max_latency %s", latency.Round(time.Millisecond), e.maxLatency)
	}
	if e.certValidFor > 0 && resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		leaf := resp.TLS.PeerCertificates[0]
		if left := leaf.NotAfter.Sub(now); left < e.certValidFor {
			return ClassCertExpiring, fmt.Sprintf("certificate expires in %s (%s), want at least %s",
				left.Truncate(time.Second), leaf.NotAfter.UTC().Format(time.RFC3339), e.certValidFor)
		}
	}
	return ClassOK, ""
}

func (e *expectations) statusOK(code int) bool {
	if e.status == nil {
		return code >= 200 && code <= 299
	}
	return slices.Contains(e.status, code)
}

func (e *expectations) wantStatus() string {
	switch len(e.status) {
	case 0:
		return "2xx"
	case 1:
		return strconv.Itoa(e.status[0])
	}
	codes := make([]string, len(e.status))
	for i, c := range e.status {
		codes[i] = strconv.Itoa(c)
	}
	return "one of " + strings.Join(codes, ", ")
}

func anyMatch(re *regexp.Regexp, values []string) bool {
	for _, v := range values {
		if re.MatchString(v) {
			return true
		}
	}
	return false
}
