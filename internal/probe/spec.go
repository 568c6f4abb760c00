package probe

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/failoverhq/failover/internal/config"
)

// DefaultTimeout bounds a probe when neither the probe nor the defaults set a
// timeout.
const DefaultTimeout = 2 * time.Second

// MaxBody is how much of a response body a probe reads. Body expectations
// see only this prefix; the rest is never read, so a huge or endless body
// cannot stall a probe.
const MaxBody = 64 << 10

// Defaults are the settings a probe takes when its own config leaves them
// unset (config.Probes).
type Defaults struct {
	Timeout time.Duration
}

// Spec is a probe compiled from its config once: the URL parsed, the address
// to dial resolved from connect_to, regular expressions compiled and the CA
// bundle loaded. A Spec is immutable and safe for concurrent use.
type Spec struct {
	kind    string // config.ProbeHTTP or config.ProbeTCP
	url     *url.URL
	addr    string // host:port that is dialled
	method  string
	header  http.Header
	host    string      // Host header override, from headers["Host"]
	tls     *tls.Config // https only; ServerName is the URL's host
	timeout time.Duration
	expect  expectations
}

type expectations struct {
	status       []int // nil: any 2xx
	bodyContains string
	bodyRegex    *regexp.Regexp
	headers      []headerExpectation // sorted by name
	maxLatency   time.Duration
	certValidFor time.Duration
}

type headerExpectation struct {
	name string // canonical
	re   *regexp.Regexp
}

// Compile checks a probe's config and prepares it for probing. Errors name
// the offending field relative to the probe, for example
// "expect.body_regex: error parsing regexp: ...", so a caller can prefix the
// field path of the probe itself.
func Compile(p config.Probe, defaults Defaults) (*Spec, error) {
	s := &Spec{kind: p.Type}
	if s.kind == "" {
		s.kind = config.ProbeHTTP
	}
	if s.kind != config.ProbeHTTP && s.kind != config.ProbeTCP {
		return nil, fmt.Errorf("type: must be %q or %q, got %q", config.ProbeHTTP, config.ProbeTCP, p.Type)
	}

	switch {
	case p.Timeout > 0:
		s.timeout = p.Timeout
	case p.Timeout < 0:
		return nil, fmt.Errorf("timeout: must be positive, got %s", p.Timeout)
	case defaults.Timeout > 0:
		s.timeout = defaults.Timeout
	default:
		s.timeout = DefaultTimeout
	}

	if err := s.compileTarget(p); err != nil {
		return nil, err
	}
	if s.kind == config.ProbeHTTP {
		if err := s.compileHTTP(p); err != nil {
			return nil, err
		}
	} else if p.Method != "" || len(p.Headers) > 0 || p.CAFile != "" {
		return nil, errors.New("type: method, headers and ca_file only apply to http probes")
	}
	if err := s.compileExpect(p.Expect); err != nil {
		return nil, err
	}
	return s, nil
}

// compileTarget parses the URL and works out the address to dial.
func (s *Spec) compileTarget(p config.Probe) error {
	if p.URL == "" && (s.kind == config.ProbeHTTP || p.ConnectTo == "") {
		return errors.New("url: required")
	}
	if p.URL != "" {
		u, err := url.Parse(p.URL)
		if err != nil {
			return fmt.Errorf("url: %w", err)
		}
		if u.Hostname() == "" {
			return fmt.Errorf("url: %q has no host", p.URL)
		}
		switch {
		case s.kind == config.ProbeHTTP && u.Scheme != "http" && u.Scheme != "https":
			return fmt.Errorf("url: scheme must be http or https, got %q", u.Scheme)
		case s.kind == config.ProbeTCP && u.Scheme != "tcp" && u.Scheme != "http" && u.Scheme != "https":
			return fmt.Errorf("url: scheme must be tcp, http or https, got %q", u.Scheme)
		}
		s.url = u
		port := u.Port()
		if port == "" {
			switch u.Scheme {
			case "http":
				port = "80"
			case "https":
				port = "443"
			default:
				if p.ConnectTo == "" {
					return fmt.Errorf("url: %q has no port", p.URL)
				}
			}
		}
		s.addr = net.JoinHostPort(u.Hostname(), port)
	}
	if p.ConnectTo != "" {
		host, port, err := net.SplitHostPort(p.ConnectTo)
		if err != nil {
			return fmt.Errorf("connect_to: %w", err)
		}
		if host == "" {
			return fmt.Errorf("connect_to: %q has no host", p.ConnectTo)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("connect_to: bad port %q", port)
		}
		s.addr = p.ConnectTo
	}
	return nil
}

func (s *Spec) compileHTTP(p config.Probe) error {
	s.method = strings.ToUpper(p.Method)
	if s.method == "" {
		s.method = http.MethodGet
	}
	if !validToken(s.method) {
		return fmt.Errorf("method: invalid %q", p.Method)
	}
	s.header = make(http.Header, len(p.Headers)+1)
	for _, name := range slices.Sorted(maps.Keys(p.Headers)) {
		value := p.Headers[name]
		if !validToken(name) {
			return fmt.Errorf("headers: invalid name %q", name)
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return fmt.Errorf("headers.%s: value has a control character", name)
		}
		if http.CanonicalHeaderKey(name) == "Host" {
			s.host = value
			continue
		}
		s.header.Set(name, value)
	}
	if s.header.Get("User-Agent") == "" {
		s.header.Set("User-Agent", "failover-probe/1")
	}

	if s.url.Scheme != "https" {
		if p.CAFile != "" {
			return errors.New("ca_file: only applies to https urls")
		}
		return nil
	}
	s.tls = &tls.Config{ServerName: s.url.Hostname(), MinVersion: tls.VersionTLS12}
	if p.CAFile != "" {
		pem, err := os.ReadFile(p.CAFile)
		if err != nil {
			return fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("ca_file: no PEM certificates in %s", p.CAFile)
		}
		s.tls.RootCAs = pool
	}
	return nil
}

func (s *Spec) compileExpect(e config.Expect) error {
	for _, code := range e.Status {
		if code < 100 || code > 599 {
			return fmt.Errorf("expect.status: %d is not an HTTP status", code)
		}
	}
	if len(e.Status) > 0 {
		s.expect.status = slices.Clone(e.Status)
	}
	s.expect.bodyContains = e.BodyContains
	if e.BodyRegex != "" {
		re, err := regexp.Compile(e.BodyRegex)
		if err != nil {
			return fmt.Errorf("expect.body_regex: %w", err)
		}
		s.expect.bodyRegex = re
	}
	for _, name := range slices.Sorted(maps.Keys(e.Headers)) {
		expr := e.Headers[name]
		if !validToken(name) {
			return fmt.Errorf("expect.headers: invalid name %q", name)
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return fmt.Errorf("expect.headers.%s: %w", name, err)
		}
		s.expect.headers = append(s.expect.headers, headerExpectation{name: http.CanonicalHeaderKey(name), re: re})
	}
	if e.MaxLatency < 0 {
		return fmt.Errorf("expect.max_latency: must not be negative, got %s", e.MaxLatency)
	}
	if e.CertValidFor < 0 {
		return fmt.Errorf("expect.cert_valid_for: must not be negative, got %s", e.CertValidFor)
	}
	s.expect.maxLatency = e.MaxLatency
	s.expect.certValidFor = e.CertValidFor
	if s.kind == config.ProbeTCP {
		if len(e.Status) > 0 || e.BodyContains != "" || e.BodyRegex != "" || len(e.Headers) > 0 || e.CertValidFor > 0 {
			return errors.New("expect: only max_latency applies to a tcp probe")
		}
	} else if e.CertValidFor > 0 && s.url.Scheme != "https" {
		return errors.New("expect.cert_valid_for: only applies to https urls")
	}
	return nil
}

// Kind is config.ProbeHTTP or config.ProbeTCP.
func (s *Spec) Kind() string { return s.kind }

// Addr is the host:port the probe dials: connect_to, or the URL's host.
func (s *Spec) Addr() string { return s.addr }

// Timeout bounds one probe of this spec.
func (s *Spec) Timeout() time.Duration { return s.timeout }

// validToken reports whether v is an RFC 9110 token, as header names and
// methods must be.
func validToken(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
