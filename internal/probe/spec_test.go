package probe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failoverhq/failover/internal/config"
)

func TestCompile(t *testing.T) {
	tests := []struct {
		name     string
		probe    config.Probe
		defaults Defaults
		kind     string
		addr     string
		timeout  time.Duration
	}{
		{name: "https default port", probe: config.Probe{URL: "https://www.example.com/healthz"}, kind: "http", addr: "www.example.com:443", timeout: DefaultTimeout},
		{name: "http default port", probe: config.Probe{URL: "http://www.example.com/"}, kind: "http", addr: "www.example.com:80", timeout: DefaultTimeout},
		{name: "connect_to", probe: config.Probe{URL: "https://www.example.com/", ConnectTo: "edge.cdn.example:8443"}, kind: "http", addr: "edge.cdn.example:8443", timeout: DefaultTimeout},
		{name: "ipv6 url", probe: config.Probe{URL: "http://[::1]:8080/"}, kind: "http", addr: "[::1]:8080", timeout: DefaultTimeout},
		{name: "defaults timeout", probe: config.Probe{URL: "http://a.example/"}, defaults: Defaults{Timeout: 500 * time.Millisecond}, kind: "http", addr: "a.example:80", timeout: 500 * time.Millisecond},
		{name: "own timeout wins", probe: config.Probe{URL: "http://a.example/", Timeout: time.Second}, defaults: Defaults{Timeout: 500 * time.Millisecond}, kind: "http", addr: "a.example:80", timeout: time.Second},
		{name: "tcp url", probe: config.Probe{Type: "tcp", URL: "tcp://db.example:5432"}, kind: "tcp", addr: "db.example:5432", timeout: DefaultTimeout},
		{name: "tcp connect_to only", probe: config.Probe{Type: "tcp", ConnectTo: "127.0.10.1:18080"}, kind: "tcp", addr: "127.0.10.1:18080", timeout: DefaultTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Compile(tt.probe, tt.defaults)
			if err != nil {
				t.Fatal(err)
			}
			if s.Kind() != tt.kind || s.Addr() != tt.addr || s.Timeout() != tt.timeout {
				t.Errorf("kind %q addr %q timeout %s, want %q %q %s", s.Kind(), s.Addr(), s.Timeout(), tt.kind, tt.addr, tt.timeout)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		probe config.Probe
		want  string // the start of the error
	}{
		{name: "unknown type", probe: config.Probe{Type: "icmp", URL: "http://a/"}, want: `type: must be "http" or "tcp", got "icmp"`},
		{name: "no url", probe: config.Probe{}, want: "url: required"},
		{name: "http needs a url", probe: config.Probe{ConnectTo: "a:80"}, want: "url: required"},
		{name: "bad url", probe: config.Probe{URL: "http://a b/"}, want: "url: "},
		{name: "no host", probe: config.Probe{URL: "http:///healthz"}, want: "url: \"http:///healthz\" has no host"},
		{name: "bad scheme", probe: config.Probe{URL: "ftp://a/"}, want: `url: scheme must be http or https, got "ftp"`},
		{name: "tcp without port", probe: config.Probe{Type: "tcp", URL: "tcp://db.example"}, want: "url: \"tcp://db.example\" has no port"},
		{name: "connect_to without port", probe: config.Probe{URL: "http://a/", ConnectTo: "edge.example"}, want: "connect_to: "},
		{name: "connect_to bad port", probe: config.Probe{URL: "http://a/", ConnectTo: "edge.example:http"}, want: `connect_to: bad port "http"`},
		{name: "negative timeout", probe: config.Probe{URL: "http://a/", Timeout: -time.Second}, want: "timeout: must be positive"},
		{name: "bad method", probe: config.Probe{URL: "http://a/", Method: "GE T"}, want: `method: invalid "GE T"`},
		{name: "bad header name", probe: config.Probe{URL: "http://a/", Headers: map[string]string{"X Y": "1"}}, want: `headers: invalid name "X Y"`},
		{name: "header injection", probe: config.Probe{URL: "http://a/", Headers: map[string]string{"X-A": "1\r\nX-B: 2"}}, want: "headers.X-A: value has a control character"},
		{name: "ca_file missing", probe: config.Probe{URL: "https://a/", CAFile: filepath.Join(dir, "nope.pem")}, want: "ca_file: open "},
		{name: "ca_file not PEM", probe: config.Probe{URL: "https://a/", CAFile: notPEM}, want: "ca_file: no PEM certificates in "},
		{name: "ca_file on http", probe: config.Probe{URL: "http://a/", CAFile: notPEM}, want: "ca_file: only applies to https urls"},
		{name: "bad status", probe: config.Probe{URL: "http://a/", Expect: config.Expect{Status: []int{200, 42}}}, want: "expect.status: 42 is not an HTTP status"},
		{name: "bad body regex", probe: config.Probe{URL: "http://a/", Expect: config.Expect{BodyRegex: "ok("}}, want: "expect.body_regex: error parsing regexp"},
		{name: "bad header regex", probe: config.Probe{URL: "http://a/", Expect: config.Expect{Headers: map[string]string{"X-Cache": "["}}}, want: "expect.headers.X-Cache: error parsing regexp"},
		{name: "negative max_latency", probe: config.Probe{URL: "http://a/", Expect: config.Expect{MaxLatency: -1}}, want: "expect.max_latency: must not be negative"},
		{name: "cert_valid_for on http", probe: config.Probe{URL: "http://a/", Expect: config.Expect{CertValidFor: time.Hour}}, want: "expect.cert_valid_for: only applies to https urls"},
		{name: "tcp with status", probe: config.Probe{Type: "tcp", URL: "tcp://a:1", Expect: config.Expect{Status: []int{200}}}, want: "expect: only max_latency applies to a tcp probe"},
		{name: "tcp with headers", probe: config.Probe{Type: "tcp", URL: "tcp://a:1", Headers: map[string]string{"X": "1"}}, want: "type: method, headers and ca_file only apply to http probes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.probe, Defaults{})
			if err == nil {
				t.Fatalf("Compile(%+v) succeeded, want %q", tt.probe, tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to start with %q", err, tt.want)
			}
		})
	}
}
