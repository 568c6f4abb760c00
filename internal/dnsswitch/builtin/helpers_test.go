package builtin

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/failoverhq/failover/internal/dnsswitch"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testZone = "example.test."

// wwwService is the service most tests use: two A targets and a CNAME.
func wwwService() dnsswitch.Service {
	return dnsswitch.Service{
		Name:   "www",
		Record: "www.example.test.",
		TTL:    30,
		Answers: []dnsswitch.Answer{
			{Target: "primary", Type: "A", Values: []string{"192.0.2.1"}},
			{Target: "backup", Type: "A", Values: []string{"192.0.2.2", "192.0.2.3"}},
			{Target: "origin", Type: "CNAME", Values: []string{"origin.example.net."}},
		},
	}
}

func testOptions(t *testing.T) Options {
	return Options{
		Name:      "edge",
		Listen:    "127.0.0.1:0",
		Zone:      testZone,
		NS:        []string{"ns1.example.test.", "ns2.example.test."},
		StateFile: filepath.Join(t.TempDir(), "state.json"),
	}
}

func newProvider(t *testing.T, opts Options) *Provider {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// startProvider starts p's server and stops it when the test ends.
func startProvider(t *testing.T, p *Provider) string {
	t.Helper()
	if err := p.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return p.Addr()
}

func mustApply(t *testing.T, p *Provider, svc dnsswitch.Service, r dnsswitch.Routing) {
	t.Helper()
	if err := p.Apply(t.Context(), svc, r, dnsswitch.ApplyOptions{}); err != nil {
		t.Fatalf("Apply(%s, %v): %v", svc.Name, r, err)
	}
}

// exchange sends m over network ("udp" or "tcp") to addr.
func exchange(t *testing.T, network, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: 65535}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("exchange over %s: %v", network, err)
	}
	if resp.Id != m.Id {
		t.Fatalf("response id %d, want %d", resp.Id, m.Id)
	}
	return resp
}

func query(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	return m
}

// recorder is a dns.ResponseWriter that keeps the last packet written.
type recorder struct {
	tcp bool
	out []byte
}

var (
	udpPeer = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5300}
	tcpPeer = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5300}
)

func (r *recorder) LocalAddr() net.Addr { return r.RemoteAddr() }
func (r *recorder) RemoteAddr() net.Addr {
	if r.tcp {
		return tcpPeer
	}
	return udpPeer
}
func (r *recorder) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = r.Write(b)
	return err
}
func (r *recorder) Write(b []byte) (int, error) {
	r.out = append(r.out[:0], b...)
	return len(b), nil
}
func (r *recorder) Close() error        { return nil }
func (r *recorder) TsigStatus() error   { return nil }
func (r *recorder) TsigTimersOnly(bool) {}
func (r *recorder) Hijack()             {}

// serve runs the handler on m and returns the unpacked answer.
func serve(t testing.TB, p *Provider, m *dns.Msg, tcp bool) *dns.Msg {
	t.Helper()
	w := &recorder{tcp: tcp}
	p.ServeDNS(w, m)
	resp := new(dns.Msg)
	if err := resp.Unpack(w.out); err != nil {
		t.Fatalf("unpack answer: %v", err)
	}
	return resp
}
