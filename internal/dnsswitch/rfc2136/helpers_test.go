package rfc2136

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/failoverhq/failover/internal/dnsswitch"
	"github.com/failoverhq/failover/internal/dnsswitch/rfc2136/dnstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testZone = "example.test."

// testService has one target of each answer type.
func testService(record string) dnsswitch.Service {
	return dnsswitch.Service{
		Name:   "www",
		Record: record,
		TTL:    60,
		Answers: []dnsswitch.Answer{
			{Target: "primary", Type: "A", Values: []string{"192.0.2.1", "192.0.2.2"}},
			{Target: "backup", Type: "AAAA", Values: []string{"2001:db8::2"}},
			{Target: "origin", Type: "CNAME", Values: []string{"origin-lb.example.net."}},
		},
	}
}

// want is what testService publishes per target, as published() shows it.
var want = map[string][]string{
	"primary": {"A 192.0.2.1 60", "A 192.0.2.2 60"},
	"backup":  {"AAAA 2001:db8::2 60"},
	"origin":  {"CNAME origin-lb.example.net. 60"},
}

// backend is a real server the tests run against.
type backend struct {
	name  string
	start func(testing.TB, dnstest.Config) *dnstest.Server
	// denied is how the server answers an update its policy does not
	// allow the (known) key: BIND says REFUSED, Knot NOTAUTH with BADKEY.
	denied string
}

var backends = []backend{
	{"bind", dnstest.StartBIND, "REFUSED"},
	{"knot", dnstest.StartKnot, "BADKEY"},
}

// env is one freshly started server with the zone example.test., which key
// may update; other may update only its TXT records.
type env struct {
	srv   *dnstest.Server
	key   dnstest.Key
	other dnstest.Key
	proxy *dnstest.Proxy // in front of srv; counts UPDATEs
	logs  *syncBuffer
}

func newEnv(t *testing.T, b backend) *env {
	t.Helper()
	key := dnstest.NewKey(t, "failover-key.")
	other := dnstest.NewKey(t, "other-key.")
	srv := b.start(t, dnstest.Config{
		Keys: []dnstest.Key{key, other},
		Zones: []dnstest.Zone{{Name: testZone, Grants: []dnstest.Grant{
			{Key: key.Name},
			{Key: other.Name, Types: []string{"TXT"}},
		}}},
	})
	return &env{srv: srv, key: key, other: other, proxy: dnstest.NewProxy(t, srv.Addr), logs: &syncBuffer{}}
}

// options are the provider options for e, through the proxy.
func (e *env) options() Options {
	return Options{
		Name:      "dns",
		Server:    e.proxy.Addr,
		Zone:      testZone,
		KeyName:   e.key.Name,
		Algorithm: e.key.Algorithm,
		Secret:    e.key.Secret,
		Timeout:   3 * time.Second,
		Logger:    slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func (e *env) provider(t *testing.T, edit ...func(*Options)) *Provider {
	t.Helper()
	o := e.options()
	for _, f := range edit {
		f(&o)
	}
	p, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func (e *env) serial(t *testing.T) uint32 {
	t.Helper()
	return e.srv.Serial(t, testZone)
}

// published queries addr directly, unsigned and independently of the
// provider, for the A, AAAA and CNAME records at name, as sorted
// "TYPE value TTL" strings.
func published(t *testing.T, addr, name string) []string {
	t.Helper()
	var out []string
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCNAME} {
		m := new(dns.Msg)
		m.SetQuestion(name, qt)
		c := &dns.Client{Net: "tcp", Timeout: 3 * time.Second}
		r, _, err := c.Exchange(m, addr)
		if err != nil {
			t.Fatalf("query %s %s: %v", name, dns.TypeToString[qt], err)
		}
		if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
			t.Fatalf("query %s %s: %s", name, dns.TypeToString[qt], dns.RcodeToString[r.Rcode])
		}
		for _, rr := range r.Answer {
			h := rr.Header()
			if h.Rrtype != qt || !strings.EqualFold(h.Name, name) {
				continue
			}
			f := strings.Fields(rr.String()) // name ttl class type rdata
			out = append(out, strings.Join([]string{f[3], strings.Join(f[4:], " "), f[1]}, " "))
		}
	}
	slices.Sort(out)
	return out
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// syncBuffer collects log output written from any goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
